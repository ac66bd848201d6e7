#!/usr/bin/env bash
# Intake side by side (issue 15, session 6): runs wrk against each named server in turn, in the
# same minutes, and prints acknowledged/s with the server's CPU time per request (user + system,
# from /proc), the same split by thread name (canopy: `canopy` = the tokio threads that take the
# requests, `canopy-store-wr` = the writer that appends to the journal, `canopy-intake-f` = the
# thread folding the journal into redb), wrk's own CPU per request and the load average. Servers:
#   noop            the no-op ceiling (examples/noop_intake: HMAC check, 202)
#   probe           examples/journal_probe: HMAC check, append to a file, one fdatasync per
#                   group, 202 (the most an append-only journal could do)
#   canopy[:BIN]    `canopy serve --workers 0` on a fresh store (BIN defaults to the release build)
#
#   bench/processing/intake_side.sh SECONDS CONNECTIONS SERVER...
#   e.g. bench/processing/intake_side.sh 4 32 noop canopy canopy:/tmp/canopy-main noop canopy
#
# Builds nothing: run bench/processing/run.sh once (or cargo build --release -p canopy and the
# two examples) first. Needs wrk and python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=$1; conns=$2; shift 2
rel=${CARGO_TARGET_DIR:-$root/target}/release
port=18190
work=$(mktemp -d "${TMPDIR:-/tmp}/canopy-intake.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 "$here/payloads.py" "$root/tests/fixtures/github/pull_request.opened.json" "$work/payloads" 2000 bench-secret >/dev/null
export MANIFEST=$work/payloads/manifest.txt
# wrk is one peer: lift the per-peer connection cap (default 64) so that more connections measure
# the server, not its refusals (a refused or failed request never counts as acknowledged).
printf '[server]\nmax_connections_per_peer = 4096\n' > "$work/canopy.toml"
wait_port() { for _ in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
threads() { # pid -> "name ticks" per thread name, summed
  for t in /proc/$1/task/*; do echo "$(tr ' ' _ < "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done \
    | awk '{c[$1] += $2} END {for (k in c) print k, c[k]}' | sort
}
for server in "$@"; do
  rm -rf "$work/run"; mkdir -p "$work/run"
  case $server in
    noop) "$rel/examples/noop_intake" 127.0.0.1:$port bench-secret & pid=$! ;;
    probe) "$rel/examples/journal_probe" 127.0.0.1:$port bench-secret "$work/run/journal" 2>/dev/null & pid=$! ;;
    canopy*) bin=${server#canopy:}; [ "$bin" = canopy ] && bin=$rel/canopy
      CANOPY_GITHUB_WEBHOOK_SECRET=bench-secret RUST_LOG=error "$bin" serve --config "$work/canopy.toml" --listen 127.0.0.1:$port \
        --store "$work/run/store" --workers 0 >/dev/null 2>&1 & pid=$! ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
  esac
  wait_port $port; sleep 0.3
  t0=$(cpu $pid); threads $pid > "$work/threads0"
  TIMEFORMAT='%U %S'
  { time (cd "$work" && ID_PREFIX=$RANDOM- wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$root/bench/webhooks/deliveries.lua" "http://127.0.0.1:$port/webhooks/github" | grep '^RESULT' > "$work/result"); } 2> "$work/wrk_cpu"
  r=$(cat "$work/result")
  sleep 1 # the journal folds after 200 ms without intake: its CPU counts too
  t1=$(cpu $pid); threads $pid > "$work/threads1"
  kill -TERM $pid; wait $pid 2>/dev/null || true
  errors=$(echo "$r" | sed -n 's/.* errors=\([0-9]*\).*/\1/p')
  n=$(( $(echo "$r" | sed -n 's/.*requests=\([0-9]*\).*/\1/p') - errors ))
  rps=$(echo "$r" | sed -n 's/.* rps=\([0-9.]*\).*/\1/p')
  per_thread=$(join -a2 -e0 -o 0,1.2,2.2 "$work/threads0" "$work/threads1" \
    | awk -v n="$n" '$3 > $2 {printf "%s %.1f  ", $1, ($3 - $2) * 10000 / (n > 0 ? n : 1)}')
  wrk_us=$(awk -v n="$n" '{printf "%.1f", ($1 + $2) * 1e6 / (n > 0 ? n : 1)}' "$work/wrk_cpu")
  printf '%s load %s  %-28s acked/s %9s  errors %s  acked %7s  server CPU/request %4d us  (by thread, us: %s)  wrk CPU/request %s us\n' \
    "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1 /proc/loadavg)" "$server" "$rps" "$errors" "$n" \
    $(( (t1 - t0) * 10000 / (n > 0 ? n : 1) )) "$per_thread" "$wrk_us"
done
