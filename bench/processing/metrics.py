#!/usr/bin/env python3
"""Reads Canopy's /metrics and prints one figure.

    metrics.py URL depth        queue depth (canopy_inbox_queue_depth)
    metrics.py URL processed    deliveries processed (sum of canopy_processed_total)
    metrics.py URL quantiles    processing p50 and p99 in ms from canopy_processing_seconds
                                (the upper bound of the histogram bucket holding the quantile)
"""
import re
import sys
import urllib.request


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def main() -> int:
    url, what = sys.argv[1], sys.argv[2]
    text = fetch(url)
    if what == "depth":
        m = re.search(r"^canopy_inbox_queue_depth (\S+)$", text, re.M)
        print(int(float(m.group(1))) if m else -1)
    elif what == "processed":
        print(sum(int(float(v)) for v in re.findall(r"^canopy_processed_total\{[^}]*\} (\S+)$", text, re.M)))
    elif what == "quantiles":
        buckets = {}
        for le, n in re.findall(r'^canopy_processing_seconds_bucket\{[^}]*le="([^"]+)"\} (\S+)$', text, re.M):
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0) + int(float(n))
        bounds = sorted(buckets)
        total = buckets.get(float("inf"), 0)
        out = []
        for q in (0.5, 0.99):
            need = q * total
            hit = next((b for b in bounds if buckets[b] >= need), float("inf"))
            out.append("inf" if hit == float("inf") else f"{hit * 1000:g}")
        print(" ".join(out))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
