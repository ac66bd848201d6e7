#!/usr/bin/env bash
# Reproduces docs/carbon.md: Let's Wait Awhile's scenarios on its 2020 data (Germany, Great
# Britain, France) and the same figures for the 2022 US regions, plus CI reruns with 4-, 8- and
# 24-hour deadlines. Needs a release build, python3 with numpy (for the paper's seeded job set)
# and the shared data beside the project.
# usage: bench/carbon/run.sh [DATA_DIR]   (default ../shared/data)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
data="${1:-$root/../shared/data}"
bin="$root/target/release/canopy"
[ -d "$data/carbon" ] || { echo "no carbon data at $data/carbon" >&2; exit 1; }
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
py="${PYTHON:-python3}"
"$py" -c 'import numpy' 2>/dev/null || { echo "$py has no numpy (pip install numpy, or set PYTHON)" >&2; exit 1; }
jobs="$(mktemp -d)"
trap 'rm -rf "$jobs"' EXIT
gen="$root/bench/carbon/jobs.py"
for y in 2020 2022; do
  "$py" "$gen" adhoc "$y" "$jobs/adhoc$y.csv"
  for h in 2 4 6 8; do "$py" "$gen" nightly "$y" "$h" "$jobs/nightly${y}_${h}h.csv"; done
  for d in 4 8 24; do "$py" "$gen" reruns "$y" "$d" "$data/ci/lf_releng_jenkins_builds_2017-2018.csv" "$jobs/reruns${y}_${d}h.csv"; done
done
sim() { # series jobs -> "perfect | 5% | 10%" savings
  "$bin" carbon simulate --series "$1" --jobs "$2" --resample 30m --format json \
    | "$py" -c 'import json,sys; r=json.load(sys.stdin)["results"]; print(" | ".join("%.2f%%" % x["savings_pct"] for x in r[1:]))'
}
echo "| region | scenario | perfect forecast | 5% error | 10% error |"
echo "|---|---|---:|---:|---:|"
for region in ger gb fr; do
  s="$data/carbon/lwa2020_${region}_ci.csv"
  echo "| $region 2020 | II ad hoc, next workday | $(sim "$s" "$jobs/adhoc2020.csv") |"
  for h in 2 4 6 8; do echo "| $region 2020 | I nightly ±${h} h | $(sim "$s" "$jobs/nightly2020_${h}h.csv") |"; done
  for d in 4 8 24; do echo "| $region 2020 | CI reruns, ${d} h deadline | $(sim "$s" "$jobs/reruns2020_${d}h.csv") |"; done
done
for ba in CISO ERCO NYIS PJM BPAT; do
  s="$data/carbon/eia2022_${ba}_hourly.csv"
  echo "| $ba 2022 | II ad hoc, next workday | $(sim "$s" "$jobs/adhoc2022.csv") |"
  echo "| $ba 2022 | I nightly ±8 h | $(sim "$s" "$jobs/nightly2022_8h.csv") |"
  for d in 4 8 24; do echo "| $ba 2022 | CI reruns, ${d} h deadline | $(sim "$s" "$jobs/reruns2022_${d}h.csv") |"; done
done
