#!/usr/bin/env python3
"""Normalise the public sentiment and incivility corpora used by `canopy sentiment` into CSVs.

Input: the raw files copied out of the fetched repositories into RAW (see the README written
next to the output). Output (OUT, outside the Canopy repository):

  sentiment (columns id, polarity, text[, split]):
    jira_lin2018.csv, so_lin2018.csv                      training
    premo_pr_discussions.csv                              HELD OUT (pull-request discussions)
  negative vs not (columns id, negative, text):
    senticr_code_review.csv                               HELD OUT (code-review comments)
  incivility (columns id, uncivil, text, source, split):
    incivility_github.csv                                 training (split train/valid)
    toxicr_code_review.csv                                HELD OUT (code-review toxicity)

Held-out texts are removed from every training file (exact match after whitespace and case
folding), so no held-out text is trained on even where corpora overlap.

Usage: prepare_corpora.py RAW OUT
"""

import hashlib
import json
import random
import re
import sys
from pathlib import Path

import pandas as pd


def norm(t: str) -> str:
    return re.sub(r"\s+", " ", str(t)).strip().lower()


def sid(prefix: str, text: str) -> str:
    return prefix + hashlib.sha1(text.encode()).hexdigest()[:12]


def write(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False)
    print(f"{path.name}: {len(df)} rows", file=sys.stderr)


def main(raw: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)

    # --- held-out sentiment: PRemo (pull-request discussions), SentiCR (code review) -------
    premo = json.loads((raw / "premo_dataset.json").read_text())
    rows = []
    for i, r in enumerate(premo):
        pol = r.get("discussion_polarity") or r["part2_aggregate"]["polarity"]
        if pol not in ("positive", "neutral", "negative"):
            continue  # 'undefined': the three raters never agreed
        rows.append((f"premo{i}", pol, r["raw_message"], r["project"]))
    premo_df = pd.DataFrame(rows, columns=["id", "polarity", "text", "project"])
    write(premo_df, out / "premo_pr_discussions.csv")

    senticr = pd.read_excel(raw / "senticr_oracle.xlsx", header=None, names=["text", "label"])
    senticr_df = pd.DataFrame(
        {
            "id": [f"senticr{i}" for i in range(len(senticr))],
            "negative": (senticr["label"] == -1).astype(int),
            "text": senticr["text"].astype(str),
        }
    )
    write(senticr_df, out / "senticr_code_review.csv")

    toxicr = pd.read_excel(raw / "toxicr_code_review.xlsx")
    toxicr_df = pd.DataFrame(
        {
            "id": [f"toxicr{i}" for i in range(len(toxicr))],
            "uncivil": toxicr["is_toxic"].astype(int),
            "text": toxicr["message"].astype(str),
        }
    )
    write(toxicr_df, out / "toxicr_code_review.csv")

    held = set(map(norm, premo_df.text)) | set(map(norm, senticr_df.text))
    held |= set(map(norm, toxicr_df.text))

    # --- extra sentiment training corpora (Lin et al. 2018, via soarsmu/LLM4SA4SE) ---------
    jira = pd.read_csv(raw / "jira_lin2018_raw.csv")
    jira_df = pd.DataFrame(
        {
            "id": [f"jira{i}" for i in range(len(jira))],
            "polarity": jira["label"].map({0: "negative", 1: "positive"}),
            "text": jira["sentence"].astype(str),
        }
    )
    so = pd.read_csv(raw / "so_lin2018_raw.csv")
    so_df = pd.DataFrame(
        {
            "id": [f"so{i}" for i in range(len(so))],
            "polarity": so["label"].map({0: "neutral", 1: "positive", 2: "negative"}),
            "text": so["sentence"].astype(str),
        }
    )
    for name, df in (("jira_lin2018.csv", jira_df), ("so_lin2018.csv", so_df)):
        df = df[~df.text.map(norm).isin(held)]
        write(df, out / name)

    # --- incivility training: GitHub issues (and LKML) from three studies ---------------
    # `uncivil` = a personal attack or offensive language (insult, name calling, mocking,
    # vulgarity, threat, identity attack; STRUDEL's "toxic"); frustration, impatience,
    # entitlement and irony alone count as civil here (their studies call them uncivil; the
    # `any_incivility` column keeps that broader label).
    attack = {"insulting", "ia (name calling)", "name_calling", "mocking", "vulgarity", "threat", "identity_attack"}
    parts = []
    ufc = pd.read_csv(raw / "ufc_incivility_final_df_cleaned.csv")
    # Uncivil rows without a category (the `dwhp` part) cannot be sorted into attack or not.
    ufc = ufc[~((ufc.actual == 1) & ufc.tbdf.isna())]
    parts.append(
        pd.DataFrame(
            {"text": ufc.message, "uncivil": ufc.tbdf.isin(attack).astype(int), "any_incivility": ufc.actual, "source": "ufc-" + ufc.source}
        )
    )
    strudel = pd.read_excel(raw / "strudel_issue_comments.xlsx")
    parts.append(pd.DataFrame({"text": strudel.text, "uncivil": strudel.is_toxic, "any_incivility": strudel.is_toxic, "source": "strudel"}))
    for forum in ("gh", "lkml"):
        for label, flag in (("civil", 0), ("uncivil", 1)):
            f = pd.read_csv(raw / f"ferreira_{forum}_{label}.csv")
            tox = f.quotation_tbdf.isin(attack).astype(int) if flag else 0
            parts.append(
                pd.DataFrame({"text": f.quotation, "uncivil": tox, "any_incivility": flag, "source": f"ferreira-{forum}"})
            )
    inc = pd.concat(parts, ignore_index=True)
    inc = inc[inc.text.notna()]
    inc["text"] = inc.text.astype(str)
    inc = inc[inc.text.str.strip().str.len() > 0]
    inc["key"] = inc.text.map(norm)
    inc = inc[~inc.key.isin(held)]
    # A text labelled both ways by different studies counts as uncivil (any study saw it so).
    inc = inc.sort_values(["uncivil", "any_incivility"], ascending=False).drop_duplicates("key")
    inc = inc.sample(frac=1.0, random_state=42).reset_index(drop=True)
    rng = random.Random(42)
    inc["split"] = ["valid" if rng.random() < 0.2 else "train" for _ in range(len(inc))]
    inc["id"] = [sid("inc", t) for t in inc.text]
    write(inc[["id", "uncivil", "any_incivility", "text", "source", "split"]], out / "incivility_github.csv")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
