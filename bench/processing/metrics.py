#!/usr/bin/env python3
"""Reads Canopy's /metrics and prints one figure.

    metrics.py URL depth        queue depth (canopy_inbox_queue_depth)
    metrics.py URL processed    deliveries processed (sum of canopy_processed_total)
    metrics.py URL quantiles    processing p50 and p99 in ms from canopy_processing_seconds,
                                interpolated linearly inside the histogram bucket holding the
                                quantile (as Prometheus' histogram_quantile does); the buckets
                                are 1.25-1.5x apart, so the figure is within that of the truth
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
            lower, below = 0.0, 0
            value = float("inf")
            for b in bounds:
                if buckets[b] >= need:
                    if b != float("inf"):
                        inside = buckets[b] - below
                        share = (need - below) / inside if inside else 1.0
                        value = lower + (b - lower) * share
                    break
                lower, below = b, buckets[b]
            out.append("inf" if value == float("inf") else f"{value * 1000:.1f}")
        print(" ".join(out))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
