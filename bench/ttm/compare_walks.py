#!/usr/bin/env python3
"""Two directories of walk-forward reports side by side (same file names): per repository the
headline log-MAE of each, the running median's, and their ratios; how many are <= 0.95x.
Usage: python3 bench/ttm/compare_walks.py BASE_DIR NEW_DIR [BASE_LABEL NEW_LABEL]"""
import json
import pathlib
import statistics as st
import sys

base, new = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
lb, ln = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ("base", "new")
rows = []
for f in sorted(new.glob("*.json"), key=lambda p: p.stem.lower()):
    b = base / f.name
    if not b.exists():
        continue
    rn, rb = json.loads(f.read_text()), json.loads(b.read_text())
    rm = rn["baselines"]["running_median"]["log_mae"]
    assert abs(rm - rb["baselines"]["running_median"]["log_mae"]) < 1e-12, f.name
    pool = rn.get("pool") or {}
    rows.append((f.stem.replace("@", "/"), rn["n_train"], rn["n_test"], pool.get("merged_at_split"),
                 rm, rb["log_mae"], rn["log_mae"]))
print(f"| repository | train / test | pool merged at split | running median | {lb}: log-MAE (ratio) | {ln}: log-MAE (ratio) | change |")
print("|---|---|---:|---:|---:|---:|---:|")
for name, tr, te, p, rm, b, n in rows:
    mark = lambda x: "✓" if x / rm <= 0.95 else "✗"
    print(f"| {name} | {tr:,} / {te:,} | {p if p is not None else '–'} | {rm:.3f} | {b:.3f} ({b / rm:.3f} {mark(b)}) "
          f"| {n:.3f} ({n / rm:.3f} {mark(n)}) | {n - b:+.3f} |")
mb, mn = st.mean(r[5] / r[4] for r in rows), st.mean(r[6] / r[4] for r in rows)
cb = sum(r[5] / r[4] <= 0.95 for r in rows)
cn = sum(r[6] / r[4] <= 0.95 for r in rows)
print(f"| **mean** | | | {st.mean(r[4] for r in rows):.3f} | {st.mean(r[5] for r in rows):.3f} ({mb:.3f}) "
      f"| {st.mean(r[6] for r in rows):.3f} ({mn:.3f}) | {st.mean(r[6] - r[5] for r in rows):+.3f} |")
print(f"\n<= 0.95x the running median: {lb} {cb} of {len(rows)}, {ln} {cn} of {len(rows)}; "
      f"{ln} lower in {sum(r[6] < r[5] for r in rows)} of {len(rows)}.")
