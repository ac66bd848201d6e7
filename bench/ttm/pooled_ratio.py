#!/usr/bin/env python3
"""Pooled log-MAE of a set of walks against the running median, with a paired bootstrap.

Reads the rows a walk dumps (`ttm_walk FILE --report --headline-only --dump DIR`, one JSON line
per test change) for every repository in DIR and prints, over all merged test changes, the
model's log-MAE, what the comment showed (model or running median), the running median's, and
the ratios to the running median with 95% intervals: 2,000 resamples, each drawing every
repository's merged test changes with replacement (stratified, so each repository keeps its
weight), seed 17. Also the mean over repositories of the per-repository ratio, same resamples.

With a second directory BASE (the same repositories walked by other settings), it also prints
the difference of the pooled model log-MAE, DIR minus BASE, over the same test changes (paired
by repository and change number), with its 95% interval from the same kind of resamples.

Usage: python3 bench/ttm/pooled_ratio.py DIR [BASE]
"""
import glob
import json
import math
import random
import sys


def rows(d, keyed=False):
    by_repo = {}
    for fn in sorted(glob.glob(d + "/*.jsonl")):
        for line in open(fn):
            r = json.loads(line)
            if r.get("hours") is None or r.get("median") is None:
                continue
            t = math.log1p(r["hours"])
            m = abs(math.log1p(r["model"]["p50_hours"]) - t)
            b = abs(math.log1p(r["median"]["p50_hours"]) - t)
            s = m if r["shown_model"] else b
            v = ((r["number"], m) if keyed else (m, s, b))
            by_repo.setdefault(r["repo"], []).append(v)
    return by_repo


def paired_difference(d, base):
    """DIR minus BASE pooled model log-MAE over the changes both walked, with its interval."""
    a, b = rows(d, keyed=True), rows(base, keyed=True)
    groups = []
    for repo in sorted(set(a) & set(b)):
        mb = dict(b[repo])
        groups.append([(m, mb[k]) for k, m in a[repo] if k in mb])
    groups = [g for g in groups if g]
    if not groups:
        sys.exit(f"no test change is in both {d} and {base}")

    def diff(gs):
        n = sum(len(g) for g in gs)
        return sum(x - y for g in gs for x, y in g) / n

    rng = random.Random(17)
    boots = sorted(diff([[g[rng.randrange(len(g))] for _ in g] for g in groups])
                   for _ in range(2000))
    n = sum(len(g) for g in groups)
    print(f"model log-MAE, {d} minus {base}, over {n} changes in {len(groups)} repositories: "
          f"{diff(groups):+.3f} [{boots[50]:+.3f}, {boots[1949]:+.3f}]")


def figures(groups):
    n = sum(len(g) for g in groups)
    m = sum(x[0] for g in groups for x in g) / n
    s = sum(x[1] for g in groups for x in g) / n
    b = sum(x[2] for g in groups for x in g) / n
    per = [sum(x[0] for x in g) / max(sum(x[2] for x in g), 1e-12) for g in groups]
    return m, s, b, m / b, s / b, sum(per) / len(per)


def main(d):
    by_repo = rows(d)
    if not by_repo:
        sys.exit(f"no rows with a merge and a running median in {d}/*.jsonl")
    groups = list(by_repo.values())
    point = figures(groups)
    rng = random.Random(17)
    boots = []
    for _ in range(2000):
        boots.append(figures([[g[rng.randrange(len(g))] for _ in g] for g in groups]))

    def ci(k):
        v = sorted(b[k] for b in boots)
        return v[int(0.025 * len(v))], v[int(0.975 * len(v)) - 1]

    n = sum(len(g) for g in groups)
    print(f"{len(groups)} repositories, {n} merged test changes")
    print(f"log-MAE: model {point[0]:.3f}, shown {point[1]:.3f}, running median {point[2]:.3f}")
    for k, name in ((3, "model / running median (pooled)"), (4, "shown / running median (pooled)"),
                    (5, "model / running median (mean of repositories)")):
        lo, hi = ci(k)
        print(f"{name}: {point[k]:.3f} [{lo:.3f}, {hi:.3f}]")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
    if len(sys.argv) > 2:
        paired_difference(sys.argv[1], sys.argv[2])
