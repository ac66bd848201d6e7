#!/usr/bin/env python3
"""Normalise the public sentiment and incivility corpora used by `canopy sentiment` into CSVs.

Input: the raw files copied out of the fetched repositories into RAW (see the README written
next to the output). Output (OUT, outside the Canopy repository):

  sentiment (columns id, polarity, text[, split]):
    jira_lin2018.csv, so_lin2018.csv                      training
    premo_pr_discussions.csv                              HELD OUT (pull-request discussions)
  negative vs not (columns id, negative, text):
    senticr_code_review.csv                               HELD OUT (code-review comments)
  incivility (columns id, uncivil, attack, text, ...):
    incivility_train.csv    training: ToxiCR (split train/valid/test 70/15/15) + GitHub issues
    lkml_code_review.csv    HELD OUT (LKML patch review e-mails, Ferreira et al.)
    toxicr_code_review.csv  ToxiCR alone (its rows are also in incivility_train.csv)

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

    # Held out from sentiment training: PRemo, SentiCR and (since the first model) ToxiCR.
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
    # ToxiCR is training data for incivility (not for sentiment): only PRemo, SentiCR and
    # the LKML e-mails are held out from it.
    held = set(map(norm, premo_df.text)) | set(map(norm, senticr_df.text))

    # --- incivility (design: docs/burnout.md, "Incivility: evaluation design") -------------
    # One label for every corpus: `uncivil` = an unnecessarily disrespectful or rude tone
    # towards people or their work: ToxiCR's "toxic" (Sarker et al.: rude, disrespectful or
    # unreasonable, incl. swearing and insults), STRUDEL's "toxic", and "uncivil" of the TBDF
    # codebook (Ferreira et al.; also used by reset-ufc): bitter frustration, impatience, irony,
    # mocking, name calling, threat, vulgarity, entitlement, insulting. `attack` keeps the
    # narrower personal-attack/offence subset (insult, name calling, mocking, vulgarity,
    # threat, identity attack) where a corpus says which category a text is.
    attack = {"insulting", "ia (name calling)", "name_calling", "mocking", "vulgarity", "threat", "identity_attack"}

    # HELD OUT: Ferreira et al.'s LKML code review (patch review e-mails of the Linux kernel
    # mailing list), one row per e-mail: uncivil = the e-mail holds a quotation coded uncivil.
    lk_t = pd.read_csv(raw / "ferreira_lkml_technical.csv")
    lk_n = pd.read_csv(raw / "ferreira_lkml_non_technical.csv")
    lk_u = pd.read_csv(raw / "ferreira_lkml_uncivil.csv")
    emails = pd.concat([lk_t, lk_n], ignore_index=True)
    emails = emails[emails.original_text.notna()]
    cats = lk_u.groupby("email_id").quotation_tbdf.agg(lambda c: ";".join(sorted(set(c))))
    lkml_df = pd.DataFrame(
        {
            "id": ["lkml" + str(e) for e in emails.email_id],
            "uncivil": emails.email_id.isin(cats.index).astype(int),
            "attack": emails.email_id.map(lambda e: int(bool(set(cats.get(e, "").split(";")) & attack))),
            "categories": emails.email_id.map(lambda e: cats.get(e, "")),
            "text": emails.original_text.astype(str),
        }
    )
    write(lkml_df, out / "lkml_code_review.csv")
    held |= set(map(norm, lkml_df.text))
    held_quotes = set(map(norm, lk_u.quotation.dropna())) | set(
        map(norm, pd.read_csv(raw / "ferreira_lkml_civil.csv").quotation.dropna())
    )

    parts = []
    # ToxiCR (Gerrit code review): split train / valid / test 70/15/15, seeded.
    parts.append(pd.DataFrame({"text": toxicr_df.text, "uncivil": toxicr_df.uncivil, "attack": -1, "source": "toxicr"}))
    # GitHub issues from three studies (always `train`).
    ufc = pd.read_csv(raw / "ufc_incivility_final_df_cleaned.csv")
    parts.append(
        pd.DataFrame(
            {
                "text": ufc.message,
                "uncivil": ufc.actual,
                "attack": ufc.tbdf.isin(attack).astype(int).where(ufc.tbdf.notna() | (ufc.actual == 0), -1),
                "source": "ufc-" + ufc.source,
            }
        )
    )
    strudel = pd.read_excel(raw / "strudel_issue_comments.xlsx")
    parts.append(pd.DataFrame({"text": strudel.text, "uncivil": strudel.is_toxic, "attack": -1, "source": "strudel"}))
    for label, flag in (("civil", 0), ("uncivil", 1)):
        f = pd.read_csv(raw / f"ferreira_gh_{label}.csv")
        tox_gh = f.quotation_tbdf.isin(attack).astype(int) if flag else 0
        parts.append(pd.DataFrame({"text": f.quotation, "uncivil": flag, "attack": tox_gh, "source": "ferreira-gh"}))
    inc = pd.concat(parts, ignore_index=True)
    inc = inc[inc.text.notna()]
    inc["text"] = inc.text.astype(str)
    inc = inc[inc.text.str.strip().str.len() > 0]
    inc["key"] = inc.text.map(norm)
    inc = inc[~inc.key.isin(held) & ~inc.key.isin(held_quotes)]
    # A text labelled both ways counts as uncivil (some study saw it so).
    inc = inc.sort_values(["uncivil", "attack"], ascending=False).drop_duplicates("key")
    inc = inc.sample(frac=1.0, random_state=42).reset_index(drop=True)
    rng = random.Random(42)
    draws = [rng.random() for _ in range(len(inc))]
    inc["split"] = [
        ("valid" if d < 0.15 else "test" if d < 0.30 else "train") if s == "toxicr" else "train"
        for d, s in zip(draws, inc.source)
    ]
    inc["id"] = [sid("inc", t) for t in inc.text]
    write(inc[["id", "uncivil", "attack", "text", "source", "split"]], out / "incivility_train.csv")

if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
