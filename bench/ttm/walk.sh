#!/bin/bash
# Walk-forward reports for the tables of docs/models.md, one JSON per repository.
# Usage: bench/ttm/walk.sh LIST OUTDIR   (LIST: one Gousios-format CSV path per line)
# Then:  python3 bench/ttm/walk_table.py OUTDIR "title"
set -euo pipefail
list=$1; out=$2
mkdir -p "$out"
cargo build --release -p canopy --bin canopy
for f in $(cat "$list"); do
  n=$(basename "$f" .csv)
  [ -s "$out/$n.json" ] && continue   # resumable
  nice -n 10 target/release/canopy ttm eval --data "$f" --format json > "$out/$n.json"
done
