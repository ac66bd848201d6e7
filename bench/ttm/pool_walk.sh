#!/bin/bash
# Leave-one-out pooling over a list: for each file F of LIST, a walk-forward report of F whose
# median model also learns from every other file of LIST (as known at each retraining), headline
# only. One JSON per repository; resumable.
# Usage: bench/ttm/pool_walk.sh LIST OUTDIR [EVAL ARGS...]   (LIST: one Gousios-format CSV path
# per line; EVAL ARGS go to every `canopy ttm eval`, e.g. --pool-weight 0.2)
# Then:  python3 bench/ttm/walk_table.py OUTDIR "title"
set -euo pipefail
list=$1; out=$2; shift 2
mkdir -p "$out"
cargo build --release -p canopy --bin canopy
mapfile -t files < <(grep -v '^\s*\(#\|$\)' "$list")
for f in "${files[@]}"; do
  n=$(basename "$f" .csv)
  [ -s "$out/$n.json" ] && continue   # resumable
  pool=()
  for g in "${files[@]}"; do
    [ "$g" = "$f" ] || pool+=(--pool "$g")
  done
  start=$(date +%s)
  nice -n 10 target/release/canopy ttm eval --data "$f" "${pool[@]}" --headline-only "$@" \
    --format json > "$out/$n.json.part"
  mv "$out/$n.json.part" "$out/$n.json"
  echo "$n: $(( $(date +%s) - start )) s" >&2
done
