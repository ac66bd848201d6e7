#!/usr/bin/env python3
"""The `uncivil` flag Canopy shipped before issue 18, as a baseline: an insult/profanity word
or shouting (three or more all-capital words of 3+ letters) in a text whose P(negative) is at
least 0.5. Re-implemented from commit 00003dd (models/src/sentiment/mod.rs, `uncivil_marker`);
P(negative) comes from today's model (`canopy sentiment score --format json`), not the 2026-11
model, so this is the old rule on today's negativity.

Usage: lexicon_flag.py CSV SCORES_JSONL   (CSV with `text` and `uncivil`; the JSON lines of
`canopy sentiment score --file CSV --format json`, same rows in the same order)
Prints precision, recall, F1 with a 95% bootstrap interval.
"""

import json
import re
import sys

import numpy as np
import pandas as pd

from baseline_sklearn import prf_ci

WORDS = [
    "stupid", "idiot", "idiotic", "dumb", "moron", "shut up", "wtf", "crap", "garbage", "trash",
    "nonsense", "ridiculous", "pathetic", "useless", "incompetent", "lazy", "sucks", "damn",
    "hell", "fuck", "shit", "bullshit", "clueless", "insane",
]


def marker(text: str) -> bool:
    joined = " " + " ".join(re.findall(r"[a-z0-9']+", text.lower())) + " "
    lex = any(f" {w} " in joined for w in WORDS)
    shouting = sum(1 for w in text.split() if len(w) >= 3 and w.isascii() and w.isalpha() and w.isupper()) >= 3
    return lex or shouting


def main(csv: str, scores: str) -> None:
    d = pd.read_csv(csv)
    neg = np.array([json.loads(line)["negative"] for line in open(scores)])
    assert len(neg) == len(d), f"{len(neg)} scores for {len(d)} rows"
    flag = (neg >= 0.5) & d.text.map(marker).to_numpy()
    p, r, f, ci = prf_ci(d.uncivil.astype(int), flag)
    print(f"n {len(d)} ({int(d.uncivil.sum())} uncivil): precision {p:.3f}, recall {r:.3f}, F1 {f:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
