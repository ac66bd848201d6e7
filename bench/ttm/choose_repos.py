#!/usr/bin/env python3
"""Chooses the time-to-merge hold-out and extra development repositories from the Gousios
pullreqs data/ folder, by a fixed rule written down before any tuning (docs/models.md).

Candidates: project files with a known language and at least 250 merged PRs, other than the
seven shared development files. Strata: language (java, python, ruby, scala) x size band by
merged PRs (small 250-599, medium 600-1499, large 1500+). In each stratum the candidates are
ordered by sha256("canopy-ttm-holdout:" + file name); the first is HOLD-OUT, the second is
EXTRA DEVELOPMENT (may be used for tuning). Nothing about the outcome is looked at.

Usage: python3 bench/ttm/choose_repos.py DATA_DIR   (the pullreqs data/ folder)
"""
import csv
import hashlib
import os
import sys

DEV = {"rails@rails.csv", "scala@scala.csv", "sympy@sympy.csv", "ipython@ipython.csv",
       "django@django.csv", "pydata@pandas.csv", "matplotlib@matplotlib.csv"}
BANDS = [("small", 250, 600), ("medium", 600, 1500), ("large", 1500, 10**9)]


def summary(path):
    n = merged = 0
    lang = None
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            n += 1
            lang = r["lang"] or lang
            merged += bool(r["merged_at"])
    return n, merged, lang


def main(data):
    strata = {}
    for name in sorted(os.listdir(data)):
        if not name.endswith(".csv") or name in DEV:
            continue
        n, merged, lang = summary(os.path.join(data, name))
        band = next((b for b, lo, hi in BANDS if lo <= merged < hi), None)
        if lang is None or band is None:
            continue
        key = hashlib.sha256(("canopy-ttm-holdout:" + name).encode()).hexdigest()
        strata.setdefault((lang, band), []).append((key, name, n, merged))
    print("role\tlanguage\tband\tfile\tPRs\tmerged")
    for (lang, band) in sorted(strata):
        ranked = sorted(strata[(lang, band)])
        for role, row in zip(["holdout", "extra_dev"], ranked):
            print(f"{role}\t{lang}\t{band}\t{row[1]}\t{row[2]}\t{row[3]}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data")
