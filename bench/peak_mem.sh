#!/usr/bin/env bash
# Runs a command and prints its wall time, its CPU time (user + system, sampled every 50 ms, so
# up to 50 ms short; on a shared machine it shows the work done when wall time is inflated by
# other load) and peak memory, split into anonymous memory (heap: what the program allocates)
# and file-backed memory (pages of memory-mapped pack files, which the kernel can drop at any
# time). Usage: bench/peak_mem.sh CMD [ARGS...]
set -euo pipefail
"$@" > /dev/null &
pid=$!
peak_anon=0; peak_file=0; peak_rss=0; ticks=0
hz=$(getconf CLK_TCK)
start=$(date +%s.%N)
while kill -0 "$pid" 2>/dev/null; do
  if [[ -r /proc/$pid/status ]]; then
    read -r anon file rss < <(awk '/^RssAnon:/{a=$2} /^RssFile:/{f=$2} /^VmRSS:/{r=$2} END{print a+0, f+0, r+0}' /proc/$pid/status 2>/dev/null || echo "0 0 0")
    (( anon > peak_anon )) && peak_anon=$anon
    (( file > peak_file )) && peak_file=$file
    (( rss > peak_rss )) && peak_rss=$rss
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    (( t > ticks )) && ticks=$t
  fi
  sleep 0.05
done
wait "$pid"
end=$(date +%s.%N)
printf 'wall_s=%.2f cpu_s=%.2f peak_rss_mb=%d peak_anon_mb=%d peak_file_mb=%d\n' \
  "$(echo "$end - $start" | bc)" "$(echo "scale=2; $ticks / $hz" | bc)" \
  $((peak_rss / 1024)) $((peak_anon / 1024)) $((peak_file / 1024))
