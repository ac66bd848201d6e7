#!/usr/bin/env bash
# Hold-out #2 of the shipped burnout model (docs/burnout.md, "Hold-out #2"): turns each bare git
# directory into a store and evaluates the shipped artifact once over all of them, unchanged and
# without refitting or --record-validation; then the H = 24 run (baselines and the walk's refit
# at 24 weeks; the shipped model predicts H = 12).
# usage (from the repository, after `cargo build --release --locked -p canopy`):
#   bench/burnout/holdout2.sh OUT_DIR owner/name=BARE_GIT_DIR [owner/name=BARE_GIT_DIR ...]
# writes OUT_DIR/stores/<owner+name>/, OUT_DIR/analyze-<owner+name>.json, OUT_DIR/eval-h12.json
# and OUT_DIR/eval-h24.json (stderr of each step beside it as .log).
set -euo pipefail
out=$1; shift
bin=${CANOPY:-target/release/canopy}
model=models/src/burnout/model.json
mkdir -p "$out/stores"
stores=()
for arg in "$@"; do
  name=${arg%%=*} dir=${arg#*=}
  slug=${name//\//+}
  store="$out/stores/$slug"
  if [[ -e $store ]]; then
    echo "$store exists: remove it first" >&2
    exit 1
  fi
  echo "analyze $name ($(git --git-dir="$dir" rev-parse HEAD)) …" >&2
  /usr/bin/time -f "%e s wall, %M KB peak" nice -n 5 "$bin" analyze --git "$dir" --store "$store" \
    --repo "$name" --format json >"$out/analyze-$slug.json" 2>"$out/analyze-$slug.log"
  tail -n 1 "$out/analyze-$slug.log" >&2
  stores+=(--store "$store")
done
sha256sum "$model" >&2
for h in 12 24; do
  echo "eval H = $h …" >&2
  /usr/bin/time -f "%e s wall, %M KB peak" nice -n 5 "$bin" burnout eval "${stores[@]}" \
    --model "$model" --horizon "$h" --format json >"$out/eval-h$h.json" 2>"$out/eval-h$h.log"
  tail -n 1 "$out/eval-h$h.log" >&2
done
sha256sum "$model" >&2
