#!/usr/bin/env bash
# Times `canopy analyze --git` against `git log --numstat` on the same repository and prints a
# Markdown table (wall time, CPU time, ratio, peak memory). Usage:
#   cargo build --release && bench/git_history.sh /path/to/repo [runs]
# One-core figures pin every process to CPU 0 with taskset. Each canopy run uses a fresh
# temporary store, so it reads the whole history. Both sides detect renames the same way
# (git's default -M50%, Canopy's default --find-renames 50). Set CANOPY_BEFORE_BIN to a second
# canopy binary (an older build) to time it too, for before/after figures.
set -euo pipefail
repo=${1:?usage: bench/git_history.sh REPO [RUNS]}
runs=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
bin=${CANOPY_BIN:-$here/../target/release/canopy}
[[ -x $bin ]] || { echo "build first: cargo build --release (looked for $bin)" >&2; exit 1; }
commits=$(git -C "$repo" rev-list --count HEAD)

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
labels=() cmds=()
add() { labels+=("$1"); cmds+=("$2"); }
add "git log --numstat (1 core)" "taskset -c 0 git -C $repo log --numstat --format=%H HEAD"
add "git log --numstat --no-renames (1 core)" "taskset -c 0 git -C $repo log --numstat --no-renames --format=%H HEAD"
add "canopy analyze --jobs 1 (1 core)" "taskset -c 0 $bin analyze --git $repo --format json --jobs 1"
add "canopy analyze --jobs 2 (2 cores)" "$bin analyze --git $repo --format json --jobs 2"
if [[ -n ${CANOPY_BEFORE_BIN:-} ]]; then
  add "before: canopy analyze --jobs 1 (1 core)" "taskset -c 0 $CANOPY_BEFORE_BIN analyze --git $repo --format json --jobs 1"
  add "before: canopy analyze --jobs 2 (2 cores)" "$CANOPY_BEFORE_BIN analyze --git $repo --format json --jobs 2"
fi
# Runs alternate between the commands (round after round), so that load from elsewhere on a
# shared machine falls on all of them alike; the best wall time of each is kept.
best=()
for _ in $(seq "$runs"); do
  for i in "${!cmds[@]}"; do
    # shellcheck disable=SC2086 # the command line is split on purpose (paths without spaces)
    line=$("$here/peak_mem.sh" ${cmds[$i]})
    wall=$(sed -E 's/.*wall_s=([0-9.]+).*/\1/' <<<"$line")
    prev=$(sed -E 's/.*wall_s=([0-9.]+).*/\1/' <<<"${best[$i]:-wall_s=999999}")
    if (( $(echo "$wall < $prev" | bc) )); then best[$i]=$line; fi
  done
done
results=()
for i in "${!cmds[@]}"; do results+=("${labels[$i]}|${best[$i]}"); done

base=$(sed -E 's/.*wall_s=([0-9.]+).*/\1/' <<<"${results[0]#*|}")
echo "Repository: $repo ($commits commits on HEAD), best of $runs runs"
echo
echo "| command | wall (s) | vs git log --numstat | CPU (s) | peak RSS (MB) | of which heap (MB) | of which mapped files (MB) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for r in "${results[@]}"; do
  label=${r%%|*}; line=${r#*|}
  wall=$(sed -E 's/.*wall_s=([0-9.]+).*/\1/' <<<"$line")
  cpu=$(sed -E 's/.*cpu_s=([0-9.]+).*/\1/' <<<"$line")
  rss=$(sed -E 's/.*peak_rss_mb=([0-9]+).*/\1/' <<<"$line")
  anon=$(sed -E 's/.*peak_anon_mb=([0-9]+).*/\1/' <<<"$line")
  file=$(sed -E 's/.*peak_file_mb=([0-9]+).*/\1/' <<<"$line")
  ratio=$(echo "scale=2; $wall / $base" | bc)
  echo "| \`$label\` | $wall | ${ratio}x | $cpu | $rss | $anon | $file |"
done
