#!/usr/bin/env python3
"""What a perfect interval could show on a hold-out: for each walk report in DIR, the chance
that an interval which covers exactly 80% of merges, independently, lands its test window's
coverage in the goal's band (0.75-0.85), and that every calendar month with at least 20 merges
stays at or above 0.65 (binomial, from the report's test merges and its per-month counts).
Summed over the repositories it is the count a perfect static interval would be expected to
reach, beside the count the walk reached.

Usage: python3 bench/ttm/ceiling.py DIR [DIR ...]   (one `canopy ttm eval --format json`
report per repository, as bench/ttm/walk.sh or the ttm_walk example write them)
"""
import glob
import json
import sys
from math import comb

TARGET, BAND, MONTH_FLOOR, MONTH_MIN = 0.8, (0.75, 0.85), 0.65, 20


def chance(n, lo, hi, p=TARGET):
    """P(lo <= Binomial(n, p) / n <= hi)."""
    return sum(comb(n, k) * p**k * (1 - p) ** (n - k)
               for k in range(n + 1) if lo - 1e-12 <= k / n <= hi + 1e-12)


def main(dirs):
    for d in dirs:
        band = months = 0.0
        got_band = got_months = count = 0
        for fn in sorted(glob.glob(d + "/*.json")):
            with open(fn) as fh:
                r = json.loads(fh.read().strip().splitlines()[-1])
            full = [m for m in r["coverage_by_month"] if m["n"] >= MONTH_MIN]
            band += chance(r["n_test"], *BAND)
            p = 1.0
            for m in full:
                p *= chance(m["n"], MONTH_FLOOR, 1.0)
            months += p
            got_band += BAND[0] <= r["coverage_10_90"] <= BAND[1]
            got_months += all(m["coverage"] >= MONTH_FLOOR for m in full)
            count += 1
        if count == 0:
            sys.exit(f"{d}: no reports (*.json) in it")
        print(f"{d}: {count} repositories; coverage in {BAND[0]}-{BAND[1]}: a perfect 80% "
              f"interval {band:.1f} expected, the walk {got_band}; no month below "
              f"{MONTH_FLOOR}: {months:.1f} expected, the walk {got_months}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
