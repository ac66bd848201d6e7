#!/usr/bin/env bash
# Webhook intake benchmark: signed deliveries of a real-sized PR payload on loopback, Canopy
# against a minimal durable Probot app doing the same work (verify the signature, persist the
# delivery to disk with fsync, then answer). Prints deliveries/s and p50/p99 time to answer.
#
#   cargo build --release && (cd bench/webhooks/probot && npm install) && bench/webhooks/run.sh [SECONDS] [CONNECTIONS]
#
# Needs wrk (Debian: apt-get install wrk), node and openssl. Both servers store on the same disk.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-20}
conns=${2:-64}
bin=${CANOPY_BIN:-$root/target/release/canopy}
body=${BODY_FILE:-$root/tests/fixtures/github/pull_request.opened.json}
secret=bench-secret
work=$(mktemp -d "$root/bench/out.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
sig="sha256=$(openssl dgst -sha256 -hmac "$secret" -r < "$body" | cut -d' ' -f1)"
export BODY_FILE=$body SIGNATURE=$sig EVENT=pull_request

wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
load() { # port -> RESULT line
  wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/deliveries.lua" "http://127.0.0.1:$1/webhooks/github" | grep '^RESULT'
}

echo "payload: $(basename "$body") ($(wc -c < "$body") bytes), ${secs}s, $conns connections, wrk -t2 on the same machine"

# Canopy
CANOPY_GITHUB_WEBHOOK_SECRET=$secret RUST_LOG=error "$bin" serve --listen 127.0.0.1:18080 --store "$work/canopy-store" --workers 2 >/dev/null 2>&1 &
canopy_pid=$!
wait_port 18080
canopy=$(load 18080)
sleep 1; kill -TERM $canopy_pid; wait $canopy_pid || true
stored=$("$bin" inbox list --store "$work/canopy-store" --format json | wc -l)
echo "canopy: $canopy stored=$stored"

# Probot
openssl genrsa -out "$work/key.pem" 2048 2>/dev/null
(cd "$here/probot" && PORT=18081 OUT_FILE="$work/probot.jsonl" PRIVATE_KEY_FILE="$work/key.pem" WEBHOOK_SECRET=$secret node app.js) &
wait_port 18081
probot=$(load 18081)
stored_p=$(wc -l < "$work/probot.jsonl")
echo "probot: $probot stored=$stored_p"
