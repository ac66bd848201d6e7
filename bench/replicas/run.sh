#!/usr/bin/env bash
# Replicas benchmark: acknowledged and processed deliveries/s of `canopy serve` on the embedded
# store (one process) and on PostgreSQL with 1 and 3 replicas, same machine, same run.
#
#   cargo build --release && bench/replicas/run.sh [SECONDS] [CONNECTIONS]
#
# RUNS="redb pg1 pg3" (the default) picks the runs; CANOPY_BIN another binary (A/B comparisons).
#
# wrk (Debian: apt-get install wrk) POSTs the signed 25.9 KB pull_request.opened fixture, as if
# from 16 repositories, with a fresh delivery id per request; with 3 replicas, three wrk processes split the connections
# between them (a load balancer's round robin). "acked/s" counts 2xx answers during the run;
# "processed/s" counts deliveries turned into events (the server's canopy_processed_total),
# from the first request until the queue is empty again. PostgreSQL runs in a throw-away
# cluster in a temporary directory with its default, durable settings (fsync on,
# synchronous_commit on), as the postgres user when run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-15}
conns=${2:-48}
bin=${CANOPY_BIN:-$root/target/release/canopy}
body=${BODY_FILE:-$root/tests/fixtures/github/pull_request.opened.json}
secret=bench-secret
pgbin=${CANOPY_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
work=$(mktemp -d /tmp/canopy-bench.XXXXXX)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -d "$work/pg" ] && as_pg "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# One payload per repository (16): a repository's deliveries are processed in order, by one
# worker of one replica at a time; different repositories in parallel.
files=() sigs=()
for r in $(seq 1 16); do
  f="$work/body-$r.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["repository"]["full_name"]="bench-org/repo-"+sys.argv[2]; d["repository"]["name"]="repo-"+sys.argv[2]; sys.stdout.write(json.dumps(d))' "$body" "$r" > "$f"
  files+=("$f"); sigs+=("sha256=$(openssl dgst -sha256 -hmac "$secret" -r < "$f" | cut -d' ' -f1)")
done
export BODY_FILES="${files[*]}" SIGNATURES="${sigs[*]}" EVENT=pull_request

wait_ready() { for _ in $(seq 400); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.05; done; echo "port $1 never ready" >&2; return 1; }
metric() { curl -fs "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 ~ "^"m {s+=$2} END {printf "%d", s}'; }

# PostgreSQL
pgport=15432
[ "$(id -u)" -eq 0 ] && chown postgres: "$work"
echo "bench" > "$work/pw"; [ "$(id -u)" -eq 0 ] && chown postgres: "$work/pw"
as_pg "$pgbin/initdb" -D "$work/pg" -U canopy --pwfile="$work/pw" -A scram-sha-256 --auth-local=trust >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -o "-c listen_addresses=127.0.0.1 -p $pgport -k $work -c max_connections=200" start >/dev/null
export PGPASSWORD=bench
url="postgres://canopy@127.0.0.1:$pgport"

# run NAME STORE-PER-REPLICA... : starts one replica per store argument, loads them, reports.
run() {
  local name=$1; shift
  local ports=() n=0
  for store in "$@"; do
    local port=$((18180 + n))
    CANOPY_GITHUB_WEBHOOK_SECRET=$secret RUST_LOG=error HOSTNAME="r$n" "$bin" serve --listen "127.0.0.1:$port" --store "$store" --workers 2 >/dev/null 2>&1 &
    pids+=($!); ports+=("$port"); n=$((n + 1))
  done
  for p in "${ports[@]}"; do wait_ready "$p"; done
  local per=$((conns / n)) start end acked=0 errors=0 out
  start=$(date +%s.%N)
  local outs=() loaders=()
  for i in "${!ports[@]}"; do
    out="$work/wrk-$name-$i"; outs+=("$out")
    ID_PREFIX="$name-$i-" wrk -t1 -c"$per" -d"${secs}s" --latency -s "$root/bench/webhooks/deliveries.lua" "http://127.0.0.1:${ports[$i]}/webhooks/github" > "$out" &
    loaders+=($!)
  done
  wait "${loaders[@]}"
  for o in "${outs[@]}"; do
    acked=$((acked + $(grep -o 'requests=[0-9]*' "$o" | cut -d= -f2) - $(grep -o 'errors_status=[0-9]*' "$o" | cut -d= -f2)))
  done
  # Processed: wait until the queue (shared on PostgreSQL) is empty.
  for _ in $(seq 3000); do
    [ "$(metric "${ports[0]}" canopy_inbox_queue_depth)" = 0 ] && break
    sleep 0.1
  done
  end=$(date +%s.%N)
  local processed=0
  for p in "${ports[@]}"; do processed=$((processed + $(metric "$p" canopy_processed_total))); done
  printf "%-22s replicas=%d acked=%d acked/s=%.0f processed=%d processed/s=%.0f p50/p99(ms)=%s\n" \
    "$name" "$n" "$acked" "$(echo "$acked / $secs" | bc -l)" "$processed" "$(echo "$processed / ($end - $start)" | bc -l)" \
    "$(grep -h -o 'p50_ms=[0-9.]* p99_ms=[0-9.]*' "${outs[@]}" | tr '\n' ' ')"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}

echo "payload $(basename "$body") ($(wc -c < "$body") bytes, 16 repositories), ${secs}s, $conns connections, wrk on the same machine; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
runs=" ${RUNS:-redb pg1 pg3} "
[[ $runs == *" redb "* ]] && run redb "$work/redb"
for db in pg1 pg3; do as_pg "$pgbin/createdb" -h 127.0.0.1 -p $pgport -U canopy "$db"; "$bin" migrate --store "$url/$db" >/dev/null; done
[[ $runs == *" pg1 "* ]] && run postgres-1-replica "$url/pg1"
[[ $runs == *" pg3 "* ]] && run postgres-3-replicas "$url/pg3" "$url/pg3" "$url/pg3"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
