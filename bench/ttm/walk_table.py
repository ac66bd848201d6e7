#!/usr/bin/env python3
"""The per-repository tables of docs/models.md from walk-forward reports.

Each DIR holds one `canopy ttm eval --data FILE --format json` output per repository, named
FILE's stem + `.json` (`bench/ttm/walk.sh` writes them). When reports have `without_size` (their
files had the `*_at_open` columns, so the headline used the size at opening), the walk without
any size feature gets two columns beside the headline and a goal-count line. When reports carry
`intervals` (95% paired bootstrap intervals), the goal cells show them and a mark per goal's
verdict: ✓ met, ✗ missed, ~ undecided (the interval reaches both sides of the bar); the goal-count
line adds met / undecided / missed counts. Older reports render as before. Usage:

    python3 bench/ttm/walk_table.py DIR "TITLE" [DIR "TITLE" ...]
"""
import glob
import json
import os
import statistics as st
import sys


def load(d):
    out = []
    for fn in sorted(glob.glob(d + "/*.json")):
        lines = open(fn).read().strip().splitlines()
        if not lines:
            print("EMPTY", fn, file=sys.stderr)
            continue
        r = json.loads(lines[-1])
        r["_name"] = os.path.basename(fn)[:-5].replace("gousios2014_", "").replace("@", "/")
        out.append(r)
    return out


def months(f, nmin=20):
    return [m for m in f["coverage_by_month"] if m["n"] >= nmin]


def below(f):
    ms = months(f)
    return sum(1 for m in ms if m["coverage"] < 0.65), len(ms)


def shown(r, ratio):
    """What the sticky comment showed, in words: the model, or the running median (labelled)."""
    share = r["served"]["model_share"]
    if share >= 0.5:
        who = f"model ({share * 100:.0f}%)"
    else:
        who = f"**running median**, labelled ({(1 - share) * 100:.0f}%)"
    if ratio > 0.95 and share >= 0.5:
        who += " ⚠ model missed the bar"
    return who


MARK = {"met": "✓", "missed": "✗", "undecided": "~"}
VERDICTS = ("met", "undecided", "missed")


def ci(f, key, fmt="{:.3f}", scale=1.0):
    """ " [lo, hi]" of the figure's 95% interval, or "" when the report has none."""
    i = (f.get("intervals") or {}).get(key)
    if not i or any(c is None for c in i["ci"]):
        return ""
    lo, hi = (fmt.format(c * scale) for c in i["ci"])
    return f" [{lo}, {hi}]"


def verdict(f, goal):
    """The goal's verdict in the report's intervals, or None."""
    return ((f.get("intervals") or {}).get("verdicts") or {}).get(goal)


def mark(f, goal, met):
    """The verdict's mark when the report has intervals, else ✓/✗ by the figure (`met`)."""
    v = verdict(f, goal)
    if v is not None:
        return MARK[v]
    return "✓" if met else "✗"


def verdict_counts(fs, goal):
    """ " (met / undecided / missed: a / b / c)" over the reports with intervals, or ""."""
    vs = [verdict(f, goal) for f in fs]
    vs = [v for v in vs if v is not None]
    if not vs:
        return ""
    of = "" if len(vs) == len(fs) else f", of the {len(vs)} with intervals"
    return f" (met / undecided / missed{of}: {' / '.join(str(vs.count(v)) for v in VERDICTS)})"


def without_size_cells(x):
    """log-MAE (ratio to the running median) and coverage of the walk without size, or dashes."""
    if not x:
        return ["–", "–"]
    rm = x["baselines"]["running_median"]["log_mae"]
    if not x.get("intervals"):
        return [f"{x['log_mae']:.3f} ({x['log_mae'] / rm:.3f})", f"{x['coverage_10_90'] * 100:.1f}%"]
    ratio = x["log_mae"] / rm
    cov = x["coverage_10_90"]
    return [
        f"{x['log_mae']:.3f} ({ratio:.3f}{ci(x, 'log_mae_ratio')} {mark(x, 'log_mae', ratio <= 0.95)})",
        f"{cov * 100:.1f}%{ci(x, 'coverage_10_90', '{:.1f}', 100)} {mark(x, 'coverage', 0.75 <= cov <= 0.85)}",
    ]


def row(r, ws_columns=False):
    rm = r["baselines"]["running_median"]
    clf = r["baselines"]["ai4ci_bucket_classifier"]
    ratio = r["log_mae"] / rm["log_mae"]
    ms = months(r)
    wm = min(ms, key=lambda m: m["coverage"]) if ms else None
    wb = below(r)
    cells = [
        r["_name"],
        f"{r['n_train']:,} / {r['n_test']:,}",
        f"{r['log_mae']:.3f} ({rm['log_mae']:.3f})",
        f"{ratio:.3f}{ci(r, 'log_mae_ratio')} {mark(r, 'log_mae', ratio <= 0.95)}",
    ]
    cov = f"{r['coverage_10_90'] * 100:.1f}%"
    if r.get("intervals"):
        cov += f"{ci(r, 'coverage_10_90', '{:.1f}', 100)} {mark(r, 'coverage', 0.75 <= r['coverage_10_90'] <= 0.85)}"
    f1 = f"{r['bucket_macro_f1']:.3f} {mark(r, 'bucket', r['bucket_macro_f1'] >= clf['bucket_macro_f1'])}"
    if ci(r, "bucket_macro_f1_diff"):
        f1 += f" Δ {r['bucket_macro_f1'] - clf['bucket_macro_f1']:+.3f}{ci(r, 'bucket_macro_f1_diff', '{:+.3f}')}"
    if ws_columns:
        cells += without_size_cells(r.get("without_size"))
    cells += [
        f"{r['served']['log_mae']:.3f} ({r['served']['model_share'] * 100:.0f}%)",
        shown(r, ratio),
        f"{cov} ({r['static_coverage_10_90'] * 100:.1f}%, {rm['coverage_10_90'] * 100:.1f}%)",
        f"{wm['coverage'] * 100:.0f}% {wm['month']} (n={wm['n']}); {wb[0]}/{wb[1]}" if wm else "–",
        f"{f1} ({r['bucket_macro_f1_of_median']:.3f}; {clf['bucket_macro_f1']:.3f})",
        f"{r['merge_30d_auc']:.3f}" if r["merge_30d_auc"] is not None else "–",
    ]
    w = r.get("with_final_size")
    if w:
        wrm = w["baselines"]["running_median"]
        wclf = w["baselines"]["ai4ci_bucket_classifier"]
        cells += [
            f"{w['log_mae']:.3f} ({w['log_mae'] / wrm['log_mae']:.3f})",
            f"{w['coverage_10_90'] * 100:.1f}%",
            f"{w['bucket_macro_f1']:.3f} ({wclf['bucket_macro_f1']:.3f})",
        ]
    else:
        cells += ["–", "–", "–"]
    return cells


def table(rows, title):
    print(f"\n#### {title}\n")
    ws = [r["without_size"] for r in rows if r.get("without_size")]
    print(
        "| repository | train / test | log-MAE (running median) | ratio ≤ 0.95 "
        + ("| without size: log-MAE (ratio) | without size: coverage 10–90 " if ws else "")
        + "| shown: log-MAE (model shown) "
        "| the comment showed mostly (share of test changes) "
        "| coverage 10–90 (static, running median) | worst month, n ≥ 20; months < 65% "
        "| bucket macro-F1 ≥ AI4CI-style (bucket of the median; AI4CI-style) | merged-30d AUC "
        "| with final size: log-MAE (ratio) | coverage | macro-F1 (AI4CI-style) |"
    )
    print("|---|---|---:|---:|" + ("---:|---:|" if ws else "") + "---:|---|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| " + " | ".join(row(r, bool(ws))) + " |")
    m = lambda g: st.mean(g(r) for r in rows)
    rmm = lambda r: r["baselines"]["running_median"]
    clf = lambda r: r["baselines"]["ai4ci_bucket_classifier"]
    w = [r["with_final_size"] for r in rows if r.get("with_final_size")]
    aucs = [r["merge_30d_auc"] for r in rows if r["merge_30d_auc"] is not None]
    cells = [
        "**mean**",
        "",
        f"{m(lambda r: r['log_mae']):.3f} ({m(lambda r: rmm(r)['log_mae']):.3f})",
        f"{m(lambda r: r['log_mae'] / rmm(r)['log_mae']):.3f}",
    ]
    if ws:
        cells += [
            f"{st.mean(x['log_mae'] for x in ws):.3f} ({st.mean(x['log_mae'] / x['baselines']['running_median']['log_mae'] for x in ws):.3f})",
            f"{st.mean(x['coverage_10_90'] for x in ws) * 100:.1f}%",
        ]
    cells += [
        f"{m(lambda r: r['served']['log_mae']):.3f}",
        "",
        f"{m(lambda r: r['coverage_10_90']) * 100:.1f}% ({m(lambda r: r['static_coverage_10_90']) * 100:.1f}%, {m(lambda r: rmm(r)['coverage_10_90']) * 100:.1f}%)",
        "",
        f"{m(lambda r: r['bucket_macro_f1']):.3f} ({m(lambda r: r['bucket_macro_f1_of_median']):.3f}; {m(lambda r: clf(r)['bucket_macro_f1']):.3f})",
        f"{st.mean(aucs):.3f}" if aucs else "–",
    ]
    if w:
        cells += [
            f"{st.mean(x['log_mae'] for x in w):.3f} ({st.mean(x['log_mae'] / x['baselines']['running_median']['log_mae'] for x in w):.3f})",
            f"{st.mean(x['coverage_10_90'] for x in w) * 100:.1f}%",
            f"{st.mean(x['bucket_macro_f1'] for x in w):.3f} ({st.mean(x['baselines']['ai4ci_bucket_classifier']['bucket_macro_f1'] for x in w):.3f})",
        ]
    print("| " + " | ".join(cells) + " |")
    g1 = sum(1 for r in rows if r["log_mae"] <= 0.95 * rmm(r)["log_mae"])
    g1s = sum(1 for r in rows if r["log_mae"] > 0.95 * rmm(r)["log_mae"] and r["served"]["model_share"] < 0.5)
    g1w_ = [r["_name"] for r in rows if r["log_mae"] > 0.95 * rmm(r)["log_mae"] and r["served"]["model_share"] >= 0.5]
    g2 = sum(1 for r in rows if 0.75 <= r["coverage_10_90"] <= 0.85)
    g3 = sum(1 for r in rows if below(r)[0] == 0)
    g4 = sum(1 for r in rows if r["bucket_macro_f1"] >= clf(r)["bucket_macro_f1"])
    g4m = sum(1 for r in rows if r["bucket_macro_f1_of_median"] >= clf(r)["bucket_macro_f1"])
    g1w = sum(1 for x in w if x["log_mae"] <= 0.95 * x["baselines"]["running_median"]["log_mae"])
    g4w = sum(1 for x in w if x["bucket_macro_f1"] >= x["baselines"]["ai4ci_bucket_classifier"]["bucket_macro_f1"])
    n = len(rows)
    print(
        f"\nGoals met (of {n}), leak-free: log-MAE ≤ 0.95 × running median {g1} "
        f"(of the other {n - g1}, the fallback showed the running median most of the time in {g1s}"
        f"{'; the model, though it missed the bar, in ' + ', '.join(g1w_) if g1w_ else ''})"
        f"{verdict_counts(rows, 'log_mae')}; "
        f"coverage 0.75–0.85 {g2}{verdict_counts(rows, 'coverage')}; no month (n ≥ 20) below 0.65 {g3}; "
        f"bucket macro-F1 ≥ AI4CI-style {g4} (with the bucket of the median: {g4m})"
        f"{verdict_counts(rows, 'bucket')}. "
        f"With final size: log-MAE ≤ 0.95 × {g1w}; macro-F1 ≥ AI4CI-style {g4w}. "
        f"Test merges: {sum(r['n_test'] for r in rows):,}."
    )
    if ws:
        g1ws = sum(1 for x in ws if x["log_mae"] <= 0.95 * x["baselines"]["running_median"]["log_mae"])
        g2ws = sum(1 for x in ws if 0.75 <= x["coverage_10_90"] <= 0.85)
        print(
            f"\nThe headline used the size at opening in {len(ws)} of {n} reports. Without size "
            f"(those {len(ws)}): log-MAE ≤ 0.95 × running median {g1ws}{verdict_counts(ws, 'log_mae')}; "
            f"coverage 0.75–0.85 {g2ws}{verdict_counts(ws, 'coverage')}."
        )
    if any(r.get("intervals") for r in rows):
        print(
            "\nIn brackets: 95% paired bootstrap intervals (1,000 resamples of the merged test "
            "changes); Δ: the bucket macro-F1 minus the AI4CI-style classifier's. ✓ met, ✗ missed: "
            "the figure and its whole interval on that side of the bar; ~ undecided: the interval "
            "reaches both sides."
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 2 or len(args) % 2:
        sys.exit(__doc__)
    for d, title in zip(args[::2], args[1::2]):
        table(load(d), title)
