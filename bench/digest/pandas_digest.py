#!/usr/bin/env python3
"""The weekly digest's team figures computed with pandas, the way a maintainer would script them
in a notebook, on a synthetic history of the same shape as `crates/4-service/benches/digest.rs`:
100,000 events over 12 weeks (12,000 changes opened and merged, 30,000 reviews, 30,000 comments,
16,000 CI jobs) by 300 people. No sentiment model (compare with Canopy's
`figures_markdown_without_sentiment`). Prints the best of 5 runs.

Usage: python3 bench/digest/pandas_digest.py   (needs numpy and pandas)
"""
import time

import numpy as np
import pandas as pd


def history():
    rng = np.random.default_rng(42)
    start = pd.Timestamp("2026-09-07T08:00:00Z")
    n = 12_000
    opened = start + pd.to_timedelta(np.arange(n) * 10, unit="m")
    merged = opened + pd.to_timedelta(rng.integers(0, 200, n), unit="h")
    author = rng.integers(0, 300, n)
    changes = pd.DataFrame({"number": np.arange(n), "opened": opened, "merged": merged, "author": author})
    # Five follow-ups per change: reviews (2.5 on average) and comments.
    rep = np.repeat(np.arange(n), 5)
    r = np.tile(np.arange(5), n)
    at = opened[rep] + pd.to_timedelta(rng.integers(0, 3000, n * 5), unit="m")
    is_review = (r < 2) | ((r == 2) & (rep % 2 == 0))
    acts = pd.DataFrame({"number": rep, "at": at, "who": rng.integers(0, 300, n * 5), "review": is_review})
    ci_rows = np.repeat(np.arange(n)[np.arange(n) % 3 != 0], 2)
    ci = pd.DataFrame({
        "number": ci_rows,
        "at": opened[ci_rows] + pd.Timedelta(minutes=20),
        "secs": rng.integers(300, 1200, len(ci_rows)),
        "failed": rng.integers(0, 10, len(ci_rows)) == 0,
    })
    return changes, acts, ci


def gini(v):
    v = np.sort(np.asarray(v, dtype=float))
    n, total = len(v), v.sum()
    if n < 2 or total <= 0:
        return None
    return 2 * np.sum((np.arange(1, n + 1)) * v) / (n * total) - (n + 1) / n


def digest(changes, acts, ci, week_start):
    ws, we = week_start, week_start + pd.Timedelta(days=7)
    before = ws - pd.Timedelta(weeks=4)
    d = {}
    d["opened"] = int(((changes.opened >= ws) & (changes.opened < we)).sum())
    m = changes[(changes.merged >= ws) & (changes.merged < we)]
    ttm = (m.merged - m.opened).dt.total_seconds() / 3600
    d["merged"] = len(m)
    d["ttm_median"], d["ttm_p90"] = ttm.median(), ttm.quantile(0.9)
    mb = changes[(changes.merged >= before) & (changes.merged < ws)]
    d["ttm_before"] = ((mb.merged - mb.opened).dt.total_seconds() / 3600).median()
    rev = acts[acts.review].merge(changes[["number", "opened", "author"]], on="number")
    rev = rev[rev.who != rev.author]
    first = rev.groupby("number")["at"].min()
    first = first[(first >= ws) & (first < we)]
    d["first_review_median"] = ((first - changes.set_index("number").opened.loc[first.index]).dt.total_seconds() / 3600).median()
    wk = acts[acts.review & (acts["at"] >= ws) & (acts["at"] < we)]
    loads = wk.groupby("who").size().sort_values(ascending=False)
    d["reviews"], d["reviewers"] = int(loads.sum()), len(loads)
    top = -(-len(loads) // 5)
    d["busiest_fifth"] = loads.iloc[:top].sum() / loads.sum()
    d["gini"] = gini(loads.values)
    waiting = changes[(changes.opened < we) & (changes.merged >= we)]
    firsts_all = rev.groupby("number")["at"].min()
    waiting = waiting[~waiting.number.isin(firsts_all[firsts_all < we].index)]
    d["waiting"] = ((we - waiting.opened).dt.total_seconds() / 86400).sort_values(ascending=False).head(3).tolist()
    stamped = acts[(acts["at"] >= ws) & (acts["at"] < we)]
    h = stamped["at"].dt.hour
    d["after_hours"] = ((h >= 22) | (h < 6)).mean()
    d["weekend"] = (stamped["at"].dt.day_of_week >= 5).mean()
    c = ci[(ci["at"] >= ws) & (ci["at"] < we)]
    d["ci_jobs"], d["ci_hours"], d["ci_failed"] = len(c), c.secs.sum() / 3600, int(c.failed.sum())
    days = pd.date_range(ws, periods=7, freq="D")
    d["daily_merged"] = m.groupby(m.merged.dt.floor("D")).size().reindex(days, fill_value=0).tolist()
    d["daily_reviews"] = wk.groupby(wk["at"].dt.floor("D")).size().reindex(days, fill_value=0).tolist()
    return d


def main():
    changes, acts, ci = history()
    print(f"events: {len(changes) * 2 + len(acts) + len(ci):,}")
    week = pd.Timestamp("2026-11-16T00:00:00Z")
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        d = digest(changes, acts, ci, week)
        best = min(best, time.perf_counter() - t)
    print(f"merged {d['merged']}, reviews {d['reviews']}, gini {d['gini']:.2f}")
    print(f"pandas digest figures: {best * 1000:.1f} ms (best of 5)")


if __name__ == "__main__":
    main()
