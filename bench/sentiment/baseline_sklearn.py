#!/usr/bin/env python3
"""The baseline Canopy's sentiment and incivility models must beat: scikit-learn TF-IDF
(word 1-2-grams + character 2-5-grams within word boundaries, sublinear TF) and a logistic
regression with balanced class weights, C chosen on the GitHub gold `valid` split (sentiment)
or the ToxiCR `valid` split of the incivility training file (incivility).

Usage: baseline_sklearn.py SHARED EXTRA [incivility]
  (e.g. ../shared/data/sentiment ../shared/data/sentiment-extra; `incivility`: that part only)
Prints the same tables as `canopy sentiment eval --suite`.
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

_read_csv = pd.read_csv
pd.read_csv = lambda *a, **k: _read_csv(*a, keep_default_na=False, **k)
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_fscore_support, roc_auc_score

LABELS = ["negative", "neutral", "positive"]


class Tfidf:
    def __init__(self):
        self.w = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        self.c = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)

    def fit(self, t):
        self.w.fit(t)
        self.c.fit(t)
        return self

    def __call__(self, t):
        return hstack([self.w.transform(t), self.c.transform(t)]).tocsr()


def fit(texts, y, c):
    v = Tfidf().fit(texts)
    m = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
    m.fit(v(texts), y)
    return v, m


def choose_c(tr, va, ycol, score):
    best = None
    for c in (1, 2, 4, 8, 16, 32):
        v, m = fit(tr.text, tr[ycol], c)
        s = score(m, v(va.text), va[ycol])
        print(f"  C={c}: validation {s:.3f}", file=sys.stderr)
        if best is None or s > best[0]:
            best = (s, c)
    return best[1]


def macro(m, x, y):
    return f1_score(y, m.predict(x), average="macro", labels=LABELS)


def sentiment(shared: Path, extra: Path):
    gold = pd.read_csv(shared / "github_gold_novielli2020.csv")
    s4sd = pd.read_csv(shared / "senti4sd_stackoverflow.csv")
    tr, va, te = (gold[gold.split_zhang2023 == s] for s in ("train", "valid", "test"))
    more = pd.concat(
        [
            s4sd[s4sd.split == "train"],
            pd.read_csv(extra / "jira_lin2018.csv"),
            pd.read_csv(extra / "so_lin2018.csv"),
        ]
    )[["text", "polarity"]]
    premo = pd.read_csv(extra / "premo_pr_discussions.csv")
    senticr = pd.read_csv(extra / "senticr_code_review.csv")
    s4sd_te = s4sd[s4sd.split == "test"]
    print("| trained on | C | GitHub test macro-F1 | Senti4SD test | PRemo PR (held out) | SentiCR AUC (held out) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, train in (("GitHub gold train", tr), ("GitHub train + Senti4SD train + Jira + SO", pd.concat([tr, more]))):
        c = choose_c(train, va, "polarity", macro)
        v, m = fit(train.text, train.polarity, c)
        neg = list(m.classes_).index("negative")
        auc = roc_auc_score(senticr.negative, m.predict_proba(v(senticr.text))[:, neg])
        figs = [macro(m, v(d.text), d.polarity) for d in (te, s4sd_te, premo)]
        print(f"| {name} | {c} | {figs[0]:.3f} | {figs[1]:.3f} | {figs[2]:.3f} | {auc:.3f} |")
        t0 = time.perf_counter()
        for _ in range(3):
            m.predict_proba(v(premo.text))
        rate = 3 * len(premo) / (time.perf_counter() - t0)
        print(f"  scoring speed (transform + predict, 1 process): {rate:,.0f} texts/s", file=sys.stderr)


def prf_ci(gold, flag, seed=18, rounds=1000):
    """Precision, recall, F1 and the F1's 95% bootstrap interval."""
    gold, flag = np.asarray(gold, bool), np.asarray(flag, bool)
    p, r, f, _ = precision_recall_fscore_support(gold, flag, average="binary", zero_division=0)
    rng = np.random.default_rng(seed)
    fs = []
    for _ in range(rounds):
        i = rng.integers(0, len(gold), len(gold))
        fs.append(f1_score(gold[i], flag[i], zero_division=0))
    return p, r, f, np.percentile(fs, [2.5, 97.5])


def incivility(extra: Path):
    """Design: docs/burnout.md, "Incivility: evaluation design" (train ToxiCR train + GitHub
    issues, C and threshold on ToxiCR valid, within-corpus ToxiCR test, held-out LKML)."""
    inc = pd.read_csv(extra / "incivility_train.csv")
    lkml = pd.read_csv(extra / "lkml_code_review.csv")
    tr, va, te = (inc[inc.split == s] for s in ("train", "valid", "test"))
    auc = lambda m, x, y: roc_auc_score(y, m.predict_proba(x)[:, 1])
    c = choose_c(tr, va, "uncivil", auc)
    v, m = fit(tr.text, tr.uncivil, c)
    pv = m.predict_proba(v(va.text))[:, 1]
    best = max((f1_score(va.uncivil, pv >= t), t) for t in np.arange(0.05, 0.96, 0.01))
    t = best[1]
    print(f"\nincivility: C {c}, threshold {t:.2f} (ToxiCR valid F1 {best[0]:.3f})")
    print("| tested on | n (uncivil) | precision | recall | F1 [95% CI] | AUC |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, d in (("ToxiCR test (within corpus)", te), ("LKML code review (held out)", lkml)):
        pt = m.predict_proba(v(d.text))[:, 1]
        p, r, f, ci = prf_ci(d.uncivil, pt >= t)
        a = roc_auc_score(d.uncivil, pt)
        print(f"| {name} | {len(d)} ({d.uncivil.sum()}) | {p:.3f} | {r:.3f} | {f:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | {a:.3f} |")


if __name__ == "__main__":
    shared, extra = Path(sys.argv[1]), Path(sys.argv[2])
    if sys.argv[3:] != ["incivility"]:
        sentiment(shared, extra)
    incivility(extra)
