#!/usr/bin/env bash
# Times `canopy analyze --git` against `git log --numstat` on the same repository and prints a
# Markdown table (wall time, ratio, peak memory). Usage:
#   cargo build --release && bench/git_history.sh /path/to/repo [runs]
# One-core figures pin every process to CPU 0 with taskset. Each canopy run uses a fresh
# temporary store, so it reads the whole history.
set -euo pipefail
repo=${1:?usage: bench/git_history.sh REPO [RUNS]}
runs=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
bin=${CANOPY_BIN:-$here/../target/release/canopy}
[[ -x $bin ]] || { echo "build first: cargo build --release (looked for $bin)" >&2; exit 1; }
commits=$(git -C "$repo" rev-list --count HEAD)

measure() { # label, command...
  local label=$1; shift
  local best_wall=999999 best_line=""
  for _ in $(seq "$runs"); do
    line=$("$here/peak_mem.sh" "$@")
    wall=$(sed -E 's/.*wall_s=([0-9.]+).*/\1/' <<<"$line")
    if (( $(echo "$wall < $best_wall" | bc) )); then best_wall=$wall; best_line=$line; fi
  done
  echo "$label|$best_line"
}

results=()
results+=("$(measure "git log --numstat (1 core)" taskset -c 0 git -C "$repo" log --numstat --format=%H HEAD)")
results+=("$(measure "git log --numstat --no-renames (1 core)" taskset -c 0 git -C "$repo" log --numstat --no-renames --format=%H HEAD)")
results+=("$(measure "canopy analyze --jobs 1 (1 core)" taskset -c 0 "$bin" analyze --git "$repo" --format json --jobs 1)")
results+=("$(measure "canopy analyze --jobs 2 (2 cores)" "$bin" analyze --git "$repo" --format json --jobs 2)")

base=$(sed -E 's/.*wall_s=([0-9.]+).*/\1/' <<<"${results[0]#*|}")
echo "Repository: $repo ($commits commits on HEAD), best of $runs runs"
echo
echo "| command | wall (s) | vs git log --numstat | peak RSS (MB) | of which heap (MB) | of which mapped files (MB) |"
echo "|---|---:|---:|---:|---:|---:|"
for r in "${results[@]}"; do
  label=${r%%|*}; line=${r#*|}
  wall=$(sed -E 's/.*wall_s=([0-9.]+).*/\1/' <<<"$line")
  rss=$(sed -E 's/.*peak_rss_mb=([0-9]+).*/\1/' <<<"$line")
  anon=$(sed -E 's/.*peak_anon_mb=([0-9]+).*/\1/' <<<"$line")
  file=$(sed -E 's/.*peak_file_mb=([0-9]+).*/\1/' <<<"$line")
  ratio=$(echo "scale=2; $wall / $base" | bc)
  echo "| \`$label\` | $wall | ${ratio}x | $rss | $anon | $file |"
done
