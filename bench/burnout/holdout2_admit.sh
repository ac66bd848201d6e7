#!/usr/bin/env bash
# Admission check of a hold-out #2 candidate (docs/burnout.md, "Hold-out #2"): git only, before any
# store is made; no labels, no model. Prints the HEAD commit, the span, the non-merge commit count
# and the number of non-bot author e-mails with at least 50 non-merge commits, then ADMIT or SKIP.
# usage: bench/burnout/holdout2_admit.sh BARE_GIT_DIR STRATUM   (STRATUM: G, L or M)
set -euo pipefail
dir=$1 stratum=$2
head=$(git --git-dir="$dir" rev-parse HEAD)
commits=$(git --git-dir="$dir" rev-list --no-merges --count HEAD)
first=$(git --git-dir="$dir" log --no-merges --format=%as HEAD | tail -n 1)
last=$(git --git-dir="$dir" log --no-merges -1 --format=%as HEAD)
regulars=$(git --git-dir="$dir" shortlog -se --no-merges HEAD \
  | grep -viE 'bot|jenkins|zuul|proposal' | awk '$1 >= 50' | wc -l)
case $stratum in
  G) lo=4000 hi=1000000000 ;;
  L) lo=15000 hi=50000 ;;
  M) lo=5000 hi=14999 ;;
  *) echo "stratum must be G, L or M" >&2; exit 2 ;;
esac
verdict=ADMIT
if (( commits < lo || commits > hi )); then verdict="SKIP (non-merge commits outside $lo-$hi)"; fi
if (( regulars < 20 )); then verdict="SKIP (fewer than 20 regular authors)"; fi
echo "$dir head=$head span=$first..$last non_merge_commits=$commits regular_authors=$regulars $verdict"
