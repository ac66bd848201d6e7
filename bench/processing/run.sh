#!/usr/bin/env bash
# Processing keeps pace with intake (issue 15): drives the real release `canopy serve` with wrk
# (signed, real-sized `pull_request.opened` deliveries for distinct PRs), waits until
# canopy_inbox_queue_depth is 0 and prints acknowledged/s, processed/s (from the first request
# to the empty queue) and processing p50/p99, on stores pre-filled with 10k, 100k and 1M
# events; in the same run the no-op intake ceiling (an axum server that only verifies the
# HMAC and answers) and canopy's intake alone (`serve --workers 0`: stored, not processed);
# then the SIGKILL test (a backlog built under load, the server killed,
# the time the restarted server takes to drain it).
#
#   bench/processing/run.sh [SECONDS] [CONNECTIONS]      (defaults 5 s, 32 connections)
#
# Environment: SIZES (default "10000 100000"; the issue's full set is SIZES="10000 100000
# 1000000", whose 1M pre-fill takes minutes), PRS (distinct PRs, default 2000), BACKLOG (the
# SIGKILL test's queued deliveries, default 10000), KEEP=1 keeps the work directory, NO_BUILD=1
# uses the release binaries already built, SERVE_LOG sets the servers' RUST_LOG (default error;
# e.g. SERVE_LOG=debug with KEEP=1 leaves the per-batch timings in the work directory's serve.log),
# DRAIN=0 skips the backlog-drain row per size (processing capacity with no intake running),
# INTAKE_CONNS sets the connection counts of the side-by-side intake rows (default "32 128"),
# START_AT=port starts wrk as soon as the port opens instead of once /readyz answers 200 (the
# default since session 7, as a load balancer routes: a server still loading the reactor's
# state is not ready, and deliveries sent meanwhile wait as a backlog).
# Needs wrk (apt-get install wrk), python3, curl. Builds what it runs (release).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-5}
conns=${2:-32}
sizes=${SIZES:-"10000 100000"}
prs=${PRS:-2000}
backlog_target=${BACKLOG:-10000}
secret=bench-secret
port=18090
target=${CARGO_TARGET_DIR:-$root/target}

[ "${NO_BUILD:-}" = 1 ] || (cd "$root" && cargo build --release --locked -q -p canopy \
  && cargo build --release --locked -q -p canopy-store --example fill_store \
  && cargo build --release --locked -q -p canopy-server --example noop_intake)
canopy=$target/release/canopy
fill=$target/release/examples/fill_store
noop=$target/release/examples/noop_intake

work=$(mktemp -d "${TMPDIR:-/tmp}/canopy-bench.XXXXXX")
cleanup() { kill $(jobs -p) 2>/dev/null || true; [ "${KEEP:-}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
python3 "$here/payloads.py" "$root/tests/fixtures/github/pull_request.opened.json" "$work/payloads" "$prs" "$secret" >/dev/null
export MANIFEST=$work/payloads/manifest.txt
# wrk is one peer: lift the per-peer connection cap (default 64) so that more connections measure
# the server, not its refusals. wrk's rps counts successful answers only (deliveries.lua).
printf '[server]\nmax_connections_per_peer = 4096\n' > "$work/canopy.toml"
payload_bytes=$(wc -c < "$(head -1 "$MANIFEST" | cut -d' ' -f1)")

wait_ready() { # the port, then (unless START_AT=port) /readyz 200
  wait_port $1
  [ "${START_AT:-ready}" = port ] && return 0
  for _ in $(seq 1200); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && return 0; sleep 0.05; done
  echo "server never ready" >&2; return 1
}
wait_port() { for _ in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
metrics() { python3 "$here/metrics.py" "http://127.0.0.1:$port/metrics" "$1"; }
load() { ID_PREFIX=$1 wrk -t2 -c"${2:-$conns}" -d"${secs}s" --latency -s "$root/bench/webhooks/deliveries.lua" "http://127.0.0.1:$port/webhooks/github" | grep '^RESULT'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
serve() { # store dir [workers] -> pid
  CANOPY_GITHUB_WEBHOOK_SECRET=$secret RUST_LOG=${SERVE_LOG:-error} "$canopy" serve --config "$work/canopy.toml" --listen 127.0.0.1:$port --store "$1" --workers "${2:-2}" >>"$work/serve.log" 2>&1 &
  echo $!
}
wait_drained() { # -> seconds waited until the queue is empty (gives up after 900 s)
  local t0=$(date +%s.%N) depth
  while :; do
    depth=$(metrics depth)
    [ "$depth" = 0 ] && break
    if (( $(echo "$(date +%s.%N) - $t0 > 900" | bc) )); then echo "queue still at $depth after 900 s" >&2; break; fi
    sleep 0.05
  done
  echo "$(date +%s.%N) - $t0" | bc
}

# Processing capacity with no intake competing for the cores: a copy of the pre-filled store with
# BACKLOG deliveries queued (as intake leaves them), served until the queue is empty; the rate
# counts what was processed after the reactor's warm-up (from /readyz 200), p50/p99 are the
# deliveries' processing times (each includes its batch's commit). DRAIN=0 skips it.
drain_capacity() { # store size
  local copy=$work/store-drain-$2 pid t0 t1 n0 n1 p50 p99
  cp -r "$1" "$copy"
  "$fill" --queue "$copy" "$MANIFEST" "$backlog_target" >/dev/null 2>&1
  t0=$(date +%s.%N)
  pid=$(serve "$copy")
  START_AT=ready wait_ready $port
  local ready=$(date +%s.%N)
  n0=$(metrics processed)
  wait_drained >/dev/null
  t1=$(date +%s.%N)
  n1=$(metrics processed)
  read -r p50 p99 < <(metrics quantiles)
  kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  printf '%-22s %12s %12s %10s %10s %14s\n' "drain, ${2} events" "-" \
    "$(echo "scale=1; ($n1 - $n0) / ($t1 - $ready)" | bc)" "$p50" "$p99" "$n1"
  echo "    (backlog of $backlog_target queued; $(echo "$t1 - $t0" | bc) s from start to empty, warm-up $(echo "$ready - $t0" | bc) s; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
  rm -rf "$copy"
}

echo "wrk starts once the server is ${START_AT:-ready}"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; wrk -t2 -c$conns -d${secs}s on the same machine"
echo "payloads: $prs distinct PRs, pull_request.opened, $payload_bytes bytes each"
printf '%-22s %12s %12s %10s %10s %14s\n' "run" "acked/s" "processed/s" "p50_ms" "p99_ms" "delivered"

# The intake ceiling and canopy's intake alone, side by side at each of INTAKE_CONNS connection
# counts (default "32 128"). The no-op verifies the HMAC and answers, nothing else. Canopy runs
# with no worker pool (`--workers 0`: acknowledged once durable, stored, not processed) on a store
# of 10k events, so intake has the 2 cores to itself (with wrk) as the no-op server has. A
# durable acknowledgement waits for its group's fdatasync, so at few connections canopy is bound
# by the disk's flush latency, not by CPU; with more connections in flight a group holds more
# deliveries. The share compares the two at the same connection count. The runs below (per store
# size) use CONNECTIONS and measure intake while processing.
for c in ${INTAKE_CONNS:-32 128}; do
  "$noop" 127.0.0.1:$port "$secret" & noop_pid=$!
  wait_port $port
  r=$(load noop "$c")
  kill $noop_pid; wait $noop_pid 2>/dev/null || true
  noop_rps=$(echo "$r" | field rps)
  printf '%-22s %12s %12s %10s %10s %14s\n' "no-op, $c conns" "$noop_rps" "-" "-" "-" "$(echo "$r" | field requests)"
  store=$work/store-intake
  "$fill" "$store" 10000 >/dev/null 2>&1
  pid=$(serve "$store" 0)
  wait_port $port
  r=$(load intake- "$c")
  kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rps=$(echo "$r" | field rps)
  printf '%-22s %12s %12s %10s %10s %14s\n' "intake only, $c conns" "$rps" "-" "-" "-" "$(echo "$r" | field requests)"
  echo "    (intake share of the no-op at $c connections: $(echo "scale=1; 100 * $rps / $noop_rps" | bc)%)"
  rm -rf "$store"
done

for size in $sizes; do
  store=$work/store-$size
  fill_out=$("$fill" "$store" "$size" 2>&1 | tr '\r' '\n' | tail -1)
  # Train the time-to-merge model on the pre-filled history, as a running installation has one
  # (otherwise the server trains at start, inside the measured window, and predicts nothing).
  "$canopy" ttm train --store "$store" >/dev/null 2>&1 || echo "    (ttm train failed: the run predicts with the running median only)"
  [ "${DRAIN:-1}" = 1 ] && drain_capacity "$store" "$size"
  pid=$(serve "$store")
  wait_ready $port
  t0=$(date +%s.%N)
  r=$(load "s$size-")
  wait_drained >/dev/null
  t1=$(date +%s.%N)
  processed=$(metrics processed)
  read -r p50 p99 < <(metrics quantiles)
  kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rate=$(echo "scale=1; $processed / ($t1 - $t0)" | bc)
  printf '%-22s %12s %12s %10s %10s %14s\n' "canopy, ${size} events" "$(echo "$r" | field rps)" "$rate" "$p50" "$p99" "$processed"
  echo "    (prefill: $fill_out; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
done

# SIGKILL: a backlog of BACKLOG pending deliveries (queued by the loader, as intake leaves them),
# the server started on it and killed with kill -9 while it drains, then restarted: the time the
# restarted server takes to empty the queue.
store=$work/store-kill
"$fill" "$store" 10000 >/dev/null 2>&1
"$canopy" ttm train --store "$store" >/dev/null 2>&1 || true
"$fill" --queue "$store" "$MANIFEST" "$backlog_target" >/dev/null 2>&1
pid=$(serve "$store")
wait_port $port
sleep 0.2
kill -9 "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done # not our child (started in $(...)): poll
pending=$("$canopy" inbox list --store "$store" --format json | grep -c '"state":"pending"' || true)
pid=$(serve "$store")
t0=$(date +%s.%N)
wait_port $port
drain=$(wait_drained)
total=$(echo "$(date +%s.%N) - $t0" | bc)
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
echo "SIGKILL: $pending deliveries pending after kill -9 (of $backlog_target queued); restarted server drained them in ${total} s (${drain} s after its port opened)"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
