#!/usr/bin/env bash
# Times `canopy demo` (release build) on the bundled team history: the whole run, from
# generating the history to the report, with the machine's load average beside it (the goal,
# issue 19: under 15 s on 2 cores). The text and JSON forms are timed alternately.
# usage: bench/demo/time.sh [RUNS]   (default 3; builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-3}"
cargo build --release --locked -p canopy >&2
bin=target/release/canopy
echo "cores: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$runs"); do
  for fmt in md json; do
    /usr/bin/time -f "demo --format $fmt: %e s wall, %U s user, %S s sys, %M KB max RSS" \
      "$bin" demo --format "$fmt" >/tmp/canopy-demo-bench.out 2>/tmp/canopy-demo-bench.err ||
      { cat /tmp/canopy-demo-bench.err >&2; exit 1; }
    tail -1 /tmp/canopy-demo-bench.err
    # The demo leaves its HTML digest behind on purpose; the benchmark does not.
    grep -ho '/[^" ]*canopy-demo-[0-9]*/digest.html' /tmp/canopy-demo-bench.out |
      xargs -r -n1 dirname | xargs -r rm -rf
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f /tmp/canopy-demo-bench.out /tmp/canopy-demo-bench.err
