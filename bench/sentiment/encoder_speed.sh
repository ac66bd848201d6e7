#!/usr/bin/env bash
# Scoring speed of the fine-tuned encoder through the real command (docs/burnout.md, "Fine-tuned
# encoder"): the 713 GitHub gold test texts, then a larger file (every GitHub gold text, 7,122).
# Usage: bench/sentiment/encoder_speed.sh [SHARED_SENTIMENT_DIR] [ROUNDS]
# Needs `cargo build --release --features encoder`. States the load next to each figure.
set -euo pipefail
shared=${1:-../shared/data/sentiment}
rounds=${2:-3}
bin=target/release/canopy
gold="$shared/github_gold_novielli2020.csv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$gold" "$tmp/test.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1], newline="")) if r["split_zhang2023"] == "test"]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["text"])
    w.writerows([r["text"]] for r in rows)
PY
for file in "$tmp/test.csv" "$gold"; do
  n=$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], newline=""))))' "$file")
  for _ in $(seq "$rounds"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f "%e %U" -o "$tmp/t" "$bin" sentiment score --file "$file" --column text \
      --format json --encoder models/encoder > /dev/null
    read -r wall user < "$tmp/t"
    python3 -c "import sys; n,w,u,l=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]),sys.argv[4]; print(f'{n} texts: {w:.2f} s wall = {n/w:.0f} texts/s, {u:.2f} s user CPU = {1000*u/n:.1f} ms a text; load {l}')" "$n" "$wall" "$user" "$load"
  done
done
