#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 180) with a seed corpus made from the test fixtures.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain, RUSTC_BOOTSTRAP=1 lets it
# use the sanitizer flags it needs.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-180}
export RUSTC_BOOTSTRAP=1
mkdir -p corpus/github_normalize corpus/gerrit_normalize corpus/zuul_report
i=0
for f in ../tests/fixtures/github/*.json; do
  # First byte selects the event; use the index of the fixture's event in the target's list.
  case "$(basename "$f" | cut -d. -f1)" in
    pull_request) b=0;; pull_request_review) b=1;; pull_request_review_comment) b=2;; issue_comment) b=3;;
    push) b=4;; check_run) b=5;; check_suite) b=6;; workflow_run) b=7;; workflow_job) b=8;; status) b=9;;
    ping) b=10;; installation) b=11;; *) b=12;;
  esac
  { printf "\\x$(printf %02x $b)"; cat "$f"; } > "corpus/github_normalize/seed-$i"; i=$((i+1))
done
cp ../tests/fixtures/gerrit/*.json corpus/gerrit_normalize/
for f in ../tests/fixtures/gerrit/*zuul*.json; do
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["comment"])' "$f" > "corpus/zuul_report/$(basename "$f" .json).txt"
done
for t in github_normalize gerrit_normalize zuul_report; do
  echo "== $t ($secs s)"
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | tail -n 5
done
