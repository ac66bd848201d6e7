#!/usr/bin/env bash
# Compares Canopy's weekly commits, lines added and lines deleted with `git log --no-merges
# --numstat` on any clone, and prints the share of identical weeks and the total difference.
# Usage:
#   cargo build --release && bench/git_agreement.sh /path/to/repo [--find-renames N] [--find-copies N] [--rename-limit N] [--rev REV] [--commits]
# --commits also lists, for the weeks that differ, the commits whose counts differ.
# Both sides use the same week: the ISO week of the author date in the author's own UTC offset
# (git: --date=format:%G-W%V). Canopy's weekly rows leave bots out of `commits`/`lines_*` and
# report them separately; the script adds them back, since git counts every non-merge commit.
# Rename detection: N% similarity (default 50, git's default; 100 = exact only; 0 = off);
# rename limit 1000 (git's default diff.renameLimit). git runs without user or system config.
set -euo pipefail
repo=${1:?usage: bench/git_agreement.sh REPO [--find-renames N] [--find-copies N] [--rename-limit N] [--rev REV]}
shift
renames=50 copies=0 limit=1000 rev=HEAD commits=0
while (($#)); do
  case $1 in
    --find-renames) renames=$2; shift 2 ;;
    --find-copies) copies=$2; shift 2 ;;
    --rename-limit) limit=$2; shift 2 ;;
    --rev) rev=$2; shift 2 ;;
    --commits) commits=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
bin=${CANOPY_BIN:-$here/../target/release/canopy}
[[ -x $bin ]] || { echo "build first: cargo build --release (looked for $bin)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ((renames == 0)); then git_renames=(--no-renames); else git_renames=("--find-renames=$renames%"); fi
git_copies=()
((copies > 0)) && git_copies=("--find-copies=$copies%")

"$bin" analyze --git "$repo" --rev "$rev" --format json --find-renames "$renames" \
  --find-copies "$copies" --rename-limit "$limit" --repo r --store "$tmp/store" >"$tmp/canopy.json"
GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -C "$repo" -c diff.renameLimit="$limit" \
  log --no-merges --numstat "${git_renames[@]}" "${git_copies[@]}" \
  --format='@%ad %H' --date='format:%G-W%V' "$rev" >"$tmp/git.txt"
: >"$tmp/events.jsonl"
((commits)) && "$bin" events list --store "$tmp/store" --repo r --kind commit --format json >"$tmp/events.jsonl"

python3 - "$tmp/canopy.json" "$tmp/git.txt" "$repo" "$tmp/events.jsonl" <<'PY'
import json, sys
from collections import defaultdict

canopy_path, git_path, repo, events_path = sys.argv[1:5]
doc = json.load(open(canopy_path))
ours = {}
for w in doc["weeks"]:
    ours[w["week"]] = (
        w["commits"] + w["bot_commits"],
        w["lines_added"] + w["bot_lines_added"],
        w["lines_deleted"] + w["bot_lines_deleted"],
    )
theirs = defaultdict(lambda: [0, 0, 0])
git_commits = {}  # sha -> [week, added, deleted]
week = sha = None
for line in open(git_path, encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    if line.startswith("@"):
        week, sha = line[1:].split(" ")
        theirs[week][0] += 1
        git_commits[sha] = [week, 0, 0]
    elif line and week is not None:
        parts = line.split("\t")
        if len(parts) >= 3:
            a, d = parts[0], parts[1]
            a = int(a) if a.isdigit() else 0
            d = int(d) if d.isdigit() else 0
            theirs[week][1] += a
            theirs[week][2] += d
            git_commits[sha][1] += a
            git_commits[sha][2] += d

weeks = sorted(w for w in set(ours) | set(theirs) if any(ours.get(w, (0, 0, 0))) or any(theirs.get(w, (0, 0, 0))))
zero = (0, 0, 0)
same = [0, 0, 0]
all_same = 0
diffs = []
for w in weeks:
    o, t = ours.get(w, zero), tuple(theirs.get(w, zero))
    for i in range(3):
        same[i] += o[i] == t[i]
    if o == t:
        all_same += 1
    else:
        diffs.append((abs(o[1] - t[1]) + abs(o[2] - t[2]) + abs(o[0] - t[0]), w, o, t))
n = len(weeks)
tot_o = [sum(ours.get(w, zero)[i] for w in weeks) for i in range(3)]
tot_t = [sum(theirs.get(w, zero)[i] for w in weeks) for i in range(3)]
pct = lambda a, b: 100.0 * a / b if b else 0.0
print(f"Repository: {repo} ({doc['rev']}), rename detection: git log {doc.get('renames', '?')}")
print(f"Active weeks compared: {n}")
print()
print("| measure | identical weeks | share | Canopy total | git total | difference |")
print("|---|---:|---:|---:|---:|---:|")
for i, name in enumerate(["commits", "lines added", "lines deleted"]):
    d = tot_o[i] - tot_t[i]
    print(f"| {name} | {same[i]} of {n} | {pct(same[i], n):.2f}% | {tot_o[i]:,} | {tot_t[i]:,} | {d:+,} ({pct(d, tot_t[i]):+.3f}%) |")
print(f"| all three | {all_same} of {n} | {pct(all_same, n):.2f}% | | | |")
if diffs:
    print()
    print("Weeks that differ most (week: Canopy commits/+/- vs git commits/+/-):")
    for _, w, o, t in sorted(diffs, reverse=True)[:10]:
        print(f"  {w}: {o[0]}/+{o[1]}/-{o[2]} vs {t[0]}/+{t[1]}/-{t[2]}")
    differing = {w for _, w, _, _ in diffs}
    rows = []
    for line in open(events_path, encoding="utf-8"):
        e = json.loads(line)
        c = e.get("data") or {}
        sha = c.get("sha")
        g = git_commits.get(sha)
        if not g or g[0] not in differing:
            continue
        files = c.get("files", [])
        a = sum(f.get("added", 0) for f in files)
        d = sum(f.get("deleted", 0) for f in files)
        if (a, d) != (g[1], g[2]):
            rows.append(f"  {g[0]} {sha}: +{a}/-{d} vs +{g[1]}/-{g[2]}")
    if rows:
        print()
        print("Commits that differ (Canopy vs git):")
        print("\n".join(rows))
PY
