#!/usr/bin/env python3
"""Offline replays over the walk's dumped rows (`ttm_walk FILE --report --dump DIR` writes one
JSON line per test change: the model's raw quantiles, the bucket head's probabilities, …). They
change only a decision taken from what was dumped (the trees are not retrained), and every rule
sees only merges observed before the change opened. docs/models.md reports their figures.

    python3 bench/ttm/replay.py buckets ROWS_DIR CSV_LIST     # bucket decision rules
    python3 bench/ttm/replay.py intervals ROWS_DIR REPORT_DIR # adaptive-interval variants
    python3 bench/ttm/replay.py significance ROWS_DIR         # head vs AI4CI-style, coverage CIs
    python3 bench/ttm/replay.py weighted ROWS_DIR CSV_LIST    # class-weighted head, averaging
    python3 bench/ttm/replay.py fallback ROWS_DIR             # the honest fallback's rule
    python3 bench/ttm/replay.py select ROWS_DIR POOLED_ROWS_DIR  # own, pooled or running median

ROWS_DIR: the dumped rows (NAME.jsonl); CSV_LIST: the Gousios files walked, one path a line;
REPORT_DIR: the walk's reports (NAME.json, for the built figures).
"""
import bisect
import csv
import glob
import heapq
import json
import math
import os
import random
import statistics as st
import sys
from collections import deque

EDGES = [3, 6, 15, 24, 36, 60, 112, 190, 462]


def bucket(h):
    return sum(h > e for e in EDGES)


def f1(actual, pred):
    """Macro-F1 over the buckets present in the truth or the predictions."""
    f = []
    for c in range(10):
        tp = sum(a == c and p == c for a, p in zip(actual, pred))
        fp = sum(a != c and p == c for a, p in zip(actual, pred))
        fn = sum(a == c and p != c for a, p in zip(actual, pred))
        if tp + fp + fn:
            f.append(0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f) / max(1, len(f))


def load(rows_dir):
    out = {}
    for fn in sorted(glob.glob(rows_dir + "/*.jsonl")):
        rows = [json.loads(l) for l in open(fn)]
        out[os.path.basename(fn)[:-6]] = rows
    return out


def merged(rows):
    return [r for r in rows if r["hours"] is not None and r.get("clf_probs")]


def argmax(scores):
    return max(range(10), key=lambda b: scores[b])


# ---- bucket decision rules -------------------------------------------------------------------

GRID = [x / 4 for x in range(-8, 9)]


def fit_weights(logp, actual, w0):
    """Per-bucket log-weights by coordinate ascent (2 sweeps) maximising macro-F1."""
    w = list(w0)
    pred = lambda w: [argmax([lp[b] + w[b] for b in range(10)]) for lp in logp]
    best = f1(actual, pred(w))
    for _ in range(2):
        for c in range(10):
            for g in GRID:
                v = list(w)
                v[c] = w0[c] + g
                s = f1(actual, pred(v))
                if s > best + 1e-9:
                    best, w = s, v
    return w


def recent_rules(m, window=300):
    """Prior from the last `window` test merges; thresholds fitted on them (refit weekly and every
    25 merges). Until 50 merges are known, the built decision."""
    done = sorted(m, key=lambda r: r["merged_at"])
    times = [r["merged_at"] for r in done]
    prior_pred, thr_pred, cache = [], [], {}
    for r in m:
        k = bisect.bisect_left(times, r["created"])
        past = done[max(0, k - window):k]
        if len(past) < 50:
            prior_pred.append(r["head_bucket"])
            thr_pred.append(r["head_bucket"])
            continue
        key = (r["created"] // (7 * 86400), k // 25)
        if key not in cache:
            cnt = [1] * 10
            for q in past:
                cnt[bucket(q["hours"])] += 1
            w0 = [-0.75 * math.log(c / sum(cnt)) for c in cnt]
            logp = [[math.log(max(p, 1e-12)) for p in q["clf_probs"]] for q in past]
            cache[key] = (w0, fit_weights(logp, [bucket(q["hours"]) for q in past], w0))
        lp = [math.log(max(p, 1e-12)) for p in r["clf_probs"]]
        w0, w = cache[key]
        prior_pred.append(argmax([lp[b] + w0[b] for b in range(10)]))
        thr_pred.append(argmax([lp[b] + w[b] for b in range(10)]))
    return prior_pred, thr_pred


RARE = [(0.75, 0), (0.75, 5), (0.75, 10), (0.75, 20), (0.75, 40), (1.0, 10), (1.0, 20), (0.5, 10)]


def rare_rules(m, csv_path):
    """Prior = share among the (latest 20,000) merges before the change, exponent β; buckets
    with fewer than M of them never predicted."""
    hist = []
    for r in csv.DictReader(open(csv_path)):
        if r["merged_at"]:
            h = (int(r["merged_at"]) - int(r["created_at"])) / 3600
            hist.append((int(r["merged_at"]), bucket(h)))
    hist.sort()
    times = [h[0] for h in hist]
    preds = {v: [] for v in RARE}
    for r in m:
        k = bisect.bisect_left(times, r["created"])
        past = hist[max(0, k - 20000):k]
        cnt = [0] * 10
        for _, b in past:
            cnt[b] += 1
        p = r["clf_probs"]
        for beta, least in RARE:
            sc = [p[b] / ((cnt[b] + 1) / (len(past) + 10)) ** beta if cnt[b] >= least else -1
                  for b in range(10)]
            preds[(beta, least)].append(argmax(sc))
    return preds


def buckets(rows_dir, csv_list):
    csvs = {os.path.basename(l.strip())[:-4].replace("gousios2014_", ""): l.strip()
            for l in open(csv_list) if l.strip()}
    res = {}
    for name, rows in load(rows_dir).items():
        m = merged(rows)
        a = [bucket(r["hours"]) for r in m]
        out = {"ai4ci": f1(a, [r["clf"][0] for r in m]), "built": f1(a, [r["head_bucket"] for r in m])}
        prior_pred, thr_pred = recent_rules(m)
        out["prior last 300"] = f1(a, prior_pred)
        out["thresholds last 300"] = f1(a, thr_pred)
        for (beta, least), p in rare_rules(m, csvs[name]).items():
            out[f"beta {beta} least {least}"] = f1(a, p)
        res[name] = out
        print(name, {k: round(v, 3) for k, v in out.items()}, file=sys.stderr, flush=True)
    print("rule | mean macro-F1 | >= AI4CI-style")
    for key in next(iter(res.values())):
        print(f"{key} | {st.mean(r[key] for r in res.values()):.4f} | "
              f"{sum(r[key] >= r['ai4ci'] for r in res.values())}")


# ---- adaptive-interval variants --------------------------------------------------------------

L = lambda h: math.log1p(max(h, 0))


def width(scores, alpha):
    v = sorted(scores)
    n = len(v)
    return v[min(max(math.ceil((n + 1) * (1 - alpha)), 1), n) - 1]


def sim(rows, gamma, window=200, scale=False, clip=None, least=30):
    """Levels moved as soon as a side is known; a window of the latest merges' scores that is
    NOT replaced at retraining (the walk replaces it with the new model's calibration scores);
    the static interval until `least` merges. Returns (coverage, worst month n ≥ 20, months
    below 0.65)."""
    m = [r for r in rows if r["hours"] is not None]
    alo = ahi = 0.1
    slo, shi = deque(maxlen=window), deque(maxlen=window)
    pend, issued = [], {}

    def spread(raw):
        return max(raw["hi"] - raw["lo"], 0.05) if scale else 1.0

    for i, r in sorted(enumerate(m), key=lambda x: x[1]["created"]):
        while pend and pend[0][0] <= r["created"]:
            _, kind, j, miss = heapq.heappop(pend)
            if kind == 0:
                alo += gamma * (0.1 - miss)
            elif kind == 1:
                ahi += gamma * (0.1 - miss)
            else:
                q = m[j]
                y, raw = L(q["hours"]), q["raw"]
                slo.append((raw["lo"] - y) / spread(raw))
                shi.append((y - raw["hi"]) / spread(raw))
            if clip:
                alo, ahi = (min(max(x, clip[0]), clip[1]) for x in (alo, ahi))
        raw = r["raw"]
        if len(slo) >= least:
            wl, wh = width(slo, alo) * spread(raw), width(shi, ahi) * spread(raw)
        else:
            wl = raw["lo"] - L(r["static_interval"][0])
            wh = L(r["static_interval"][1]) - raw["hi"]
        lo, hi = min(raw["lo"] - wl, raw["mid"]), max(raw["hi"] + wh, raw["mid"])
        issued[i] = (lo, hi)
        y, t = L(r["hours"]), r["merged_at"]
        t_lo = min(t, r["created"] + int(math.expm1(lo) * 3600)) if lo > 0 else r["created"]
        t_hi = min(t, r["created"] + int(math.expm1(hi) * 3600))
        heapq.heappush(pend, (t_lo, 0, i, y < lo))
        heapq.heappush(pend, (t_hi, 1, i, y > hi))
        heapq.heappush(pend, (t, 2, i, 0))
    months, hits = {}, 0
    for i, (lo, hi) in issued.items():
        c = lo <= L(m[i]["hours"]) <= hi
        d = months.setdefault(m[i]["month"], [0, 0])
        d[0] += 1
        d[1] += c
        hits += c
    ms = [h / n for n, h in months.values() if n >= 20]
    return hits / len(issued), min(ms or [1]), sum(x < 0.65 for x in ms)


VARIANTS = [("γ 0.02, window 200", {"gamma": 0.02}), ("γ 0.01", {"gamma": 0.01}),
            ("γ 0.03", {"gamma": 0.03}), ("γ 0.05", {"gamma": 0.05}),
            ("γ 0.02, window 100", {"gamma": 0.02, "window": 100}),
            ("γ 0.02, window 400", {"gamma": 0.02, "window": 400}),
            ("γ 0.02, scale-aware", {"gamma": 0.02, "scale": True}),
            ("γ 0.03, scale-aware", {"gamma": 0.03, "scale": True}),
            ("γ 0.02, α in [0.02, 0.3]", {"gamma": 0.02, "clip": (0.02, 0.3)}),
            ("γ 0.05, α in [0.02, 0.3]", {"gamma": 0.05, "clip": (0.02, 0.3)})]


def line(name, res):
    out = [k.split("@")[-1] for k, v in res.items() if not 0.75 <= v[0] <= 0.85]
    bad = [k.split("@")[-1] for k, v in res.items() if v[2]]
    print(f"{name} | {st.mean(v[0] for v in res.values()):.3f} | "
          f"{sum(0.75 <= v[0] <= 0.85 for v in res.values())} | {sum(v[2] == 0 for v in res.values())} | "
          f"{st.mean(v[1] for v in res.values()):.3f} | {', '.join(out)} | {', '.join(bad)}")


def intervals(rows_dir, report_dir):
    data = load(rows_dir)
    built = {}
    for name in data:
        fn = (glob.glob(f"{report_dir}/{name}.json") + glob.glob(f"{report_dir}/*_{name}.json"))[0]
        f = json.loads(open(fn).read().strip().splitlines()[-1])
        ms = [x["coverage"] for x in f["coverage_by_month"] if x["n"] >= 20]
        built[name] = (f["coverage_10_90"], min(ms or [1]), sum(x < 0.65 for x in ms))
    print("variant | mean coverage | in 0.75–0.85 | no month < 0.65 | mean worst month | out | months below")
    line("the walk (built)", built)
    for name, kw in VARIANTS:
        line(name, {n: sim(rows, **kw) for n, rows in data.items()})


# ---- significance ----------------------------------------------------------------------------

def wilson(k, n, z=1.645):
    p, d = k / n, 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def significance(rows_dir):
    """Head minus AI4CI-style macro-F1 with a paired bootstrap 90% interval (300 resamples of the
    test merges, seed 7); coverage with a 90% Wilson interval."""
    rng = random.Random(7)
    print("repository | n | head − AI4CI-style [90%] | coverage [90%]")
    for name, rows in load(rows_dir).items():
        m = merged(rows)
        a = [bucket(r["hours"]) for r in m]
        h = [r["head_bucket"] for r in m]
        c = [r["clf"][0] for r in m]
        n = len(m)
        bs = []
        for _ in range(300):
            ix = [rng.randrange(n) for _ in range(n)]
            aa = [a[i] for i in ix]
            bs.append(f1(aa, [h[i] for i in ix]) - f1(aa, [c[i] for i in ix]))
        bs.sort()
        k = sum(r["model"]["p10_hours"] <= r["hours"] <= r["model"]["p90_hours"] for r in m)
        lo, hi = wilson(k, n)
        print(f"{name} | {n} | {f1(a, h) - f1(a, c):+.3f} [{bs[15]:+.3f}, {bs[284]:+.3f}] | "
              f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]")


# ---- class-weighted head and averaged probabilities ------------------------------------------

def priors(m, csv_path, latest=20000):
    """Per test merge: add-one smoothed bucket shares among the latest `latest` merges before it
    opened (a stand-in for the training share the head uses)."""
    hist = []
    for r in csv.DictReader(open(csv_path)):
        if r["merged_at"]:
            hist.append((int(r["merged_at"]),
                         bucket((int(r["merged_at"]) - int(r["created_at"])) / 3600)))
    hist.sort()
    times = [h[0] for h in hist]
    out = []
    for r in m:
        k = bisect.bisect_left(times, r["created"])
        past = hist[max(0, k - latest):k]
        cnt = [1] * 10
        for _, b in past:
            cnt[b] += 1
        out.append([c / (len(past) + 10) for c in cnt])
    return out


def corrected(probs, prior, beta):
    return [argmax([p[b] / q[b] ** beta for b in range(10)]) for p, q in zip(probs, prior)]


def weighted(rows_dir, csv_list):
    """Needs a walk with `--head-weight X`: `head_probs` are the weighted head's, `clf_probs`
    the unweighted trees' (the AI4CI-style baseline, highest score)."""
    csvs = {os.path.basename(l.strip())[:-4].replace("gousios2014_", ""): l.strip()
            for l in open(csv_list) if l.strip()}
    res = {}
    for name, rows in load(rows_dir).items():
        m = [r for r in merged(rows) if r.get("head_probs")]
        a = [bucket(r["hours"]) for r in m]
        pri = priors(m, csvs[name])
        un = [r["clf_probs"] for r in m]
        wt = [r["head_probs"] for r in m]
        avg = [[(x + y) / 2 for x, y in zip(p, q)] for p, q in zip(un, wt)]
        out = {"ai4ci": f1(a, [r["clf"][0] for r in m]),
               "unweighted, beta 0.75 (before)": f1(a, corrected(un, pri, 0.75)),
               "weighted, beta 0.75, training share (walk)": f1(a, [r["head_bucket"] for r in m])}
        for beta in (0, 0.25, 0.5, 0.75):
            out[f"weighted, beta {beta}"] = f1(a, corrected(wt, pri, beta))
        for beta in (0.25, 0.5, 0.75):
            out[f"average, beta {beta}"] = f1(a, corrected(avg, pri, beta))
        res[name] = out
        print(name, len(m), {k: round(v, 3) for k, v in out.items()}, file=sys.stderr, flush=True)
    print(f"rule ({len(res)} repositories) | mean macro-F1 | >= AI4CI-style")
    for key in next(iter(res.values())):
        print(f"{key} | {st.mean(r[key] for r in res.values()):.4f} | "
              f"{sum(r[key] >= r['ai4ci'] for r in res.values())}")


# ---- the honest fallback's rule ---------------------------------------------------------------

def fallback_rules(r):
    """Whether each rule shows the model for this change, from the rolling errors dumped when it
    opened (exact for the single-threshold rules; the built hysteresis is the walk's own)."""
    e = r["rolling"]
    ok = e["n"] >= 30
    return {"built: shown at 0.95x, withdrawn at 1.0x (walk)": r["shown_model"],
            "goal: shown only while <= 0.95x": ok and e["model_mae"] <= 0.95 * e["median_mae"],
            "shown only while <= 0.90x": ok and e["model_mae"] <= 0.90 * e["median_mae"],
            "never (running median only)": False}


def fallback(rows_dir):
    """Per rule: repositories where what was shown has log-MAE <= 0.95x / <= 1.0x the running
    median's; where the model misses the bar over the window, how many mostly showed the median;
    mean log-MAE shown."""
    per = {}
    for name, rows in load(rows_dir).items():
        m = [r for r in rows if r["hours"] is not None]
        y = [L(r["hours"]) for r in m]
        em = [abs(L(r["model"]["p50_hours"]) - t) for r, t in zip(m, y)]
        eb = [abs(L(r["median"]["p50_hours"] if r["median"] else 24.0) - t) for r, t in zip(m, y)]
        ratio = st.mean(em) / st.mean(eb)
        for rule in fallback_rules(m[0]):
            shown = [fallback_rules(r)[rule] for r in m]
            served = st.mean(x if s else z for x, z, s in zip(em, eb, shown))
            per.setdefault(rule, {})[name] = (ratio, served / st.mean(eb), served,
                                               sum(shown) / len(m))
    print("rule | shown <= 0.95x RM | shown <= 1.0x RM | model misses bar: RM shown mostly | "
          "mean shown log-MAE | mean shown/RM | repositories where the model misses but is shown mostly")
    for rule, res in per.items():
        miss = {k: v for k, v in res.items() if v[0] > 0.95}
        shown_anyway = [k.split("@")[-1] for k, v in miss.items() if v[3] >= 0.5]
        print(f"{rule} | {sum(v[1] <= 0.95 for v in res.values())} | "
              f"{sum(v[1] <= 1.0 for v in res.values())} | {len(miss) - len(shown_anyway)} of {len(miss)} | "
              f"{st.mean(v[2] for v in res.values()):.4f} | {st.mean(v[1] for v in res.values()):.4f} | "
              f"{', '.join(shown_anyway)}")
    print("\nrepository | ratio | " + " | ".join(per))
    for name in sorted(next(iter(per.values()))):
        print(name + " | " + f"{per[next(iter(per))][name][0]:.3f} | " + " | ".join(
            f"{res[name][2]:.3f} ({res[name][3]:.0%})" for res in per.values()))


def select(own_dir, pool_dir, window=200, least=30):
    """Which median the comment shows when the fallback may choose between the repository's own
    model, the pooled one (`ttm_walk --report --pool-list`) and the running median: rolling
    log-errors over the latest `window` merges before each opening; from `least` merges on, the
    better model if it is <= 0.95x the running median's, else the running median (before: the
    built rule). Rows of the two walks are joined by change number."""
    rules = ("built", "three-way", "pooled in place of own", "pooled vs running median")
    res, pooled_rows = {}, load(pool_dir)
    for name, own in load(own_dir).items():
        pooled = {r["number"]: r for r in pooled_rows[name]}
        by = {r["number"]: r for r in own}
        med = lambda r: r["median"]["p50_hours"] if r["median"] else 24.0
        ev = sorted([(r["created"], 1, r["number"]) for r in own] +
                    [(r["merged_at"], 0, r["number"]) for r in own if r["merged_at"] is not None])
        errs, shown = [], {}
        for _, kind, n in ev:
            r, q = by[n], pooled[n]
            if kind == 0:
                y = L(r["hours"])
                errs.append((abs(L(r["model"]["p50_hours"]) - y),
                             abs(L(q["model"]["p50_hours"]) - y), abs(L(med(r)) - y)))
                continue
            built = "own" if r["shown_model"] else "median"
            swap = "pool" if built == "own" else "median"
            w = errs[-window:]
            if len(w) >= least:
                mo, mp, mm = (st.mean(e[i] for e in w) for i in range(3))
                best, mb = ("own", mo) if mo <= mp else ("pool", mp)
                three = best if mb <= 0.95 * mm else "median"
                pool_only = "pool" if mp <= 0.95 * mm else "median"
            else:
                three, pool_only = built, swap
            shown[n] = dict(zip(rules, (built, three, swap, pool_only)))
        m = [r for r in own if r["hours"] is not None]
        pred = lambda r, s: {"own": r["model"]["p50_hours"], "median": med(r),
                             "pool": pooled[r["number"]]["model"]["p50_hours"]}[s]
        rm = st.mean(abs(L(med(r)) - L(r["hours"])) for r in m)
        res[name] = {rule: st.mean(abs(L(pred(r, shown[r["number"]][rule])) - L(r["hours"]))
                                   for r in m) / rm for rule in rules}
    print("rule | shown <= 0.95x running median | shown <= 1.0x | mean shown / running median")
    for rule in rules:
        v = [x[rule] for x in res.values()]
        print(f"{rule} | {sum(x <= 0.95 for x in v)} | {sum(x <= 1.0 for x in v)} | {st.mean(v):.3f}")


if __name__ == "__main__":
    cmd, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 2 else (None, [])
    if cmd == "buckets" and len(args) == 2:
        buckets(*args)
    elif cmd == "intervals" and len(args) == 2:
        intervals(*args)
    elif cmd == "significance" and len(args) == 1:
        significance(*args)
    elif cmd == "weighted" and len(args) == 2:
        weighted(*args)
    elif cmd == "fallback" and len(args) == 1:
        fallback(*args)
    elif cmd == "select" and len(args) == 2:
        select(*args)
    else:
        sys.exit(__doc__)
