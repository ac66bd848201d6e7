#!/usr/bin/env python3
"""Rebuilds a pull request's size AT OPENING from the repository's git history and writes a copy
of a Gousios et al. CSV with five extra columns that `canopy ttm eval` reads as leak-free size
features (docs/models.md, "Features"):

    src_churn_at_open, test_churn_at_open, files_changed_at_open, doc_files_at_open,
    commits_on_files_touched_at_open

The dataset's own size columns are the PR's final totals (rework pushed during review
included). The bot measures size at the head when it predicts; this script reconstructs what
that head held when the PR was opened:

1. The PR's commits: those reachable from `refs/pull/N/head` (GitHub keeps the last head of
   every PR, merged or not) and not from any branch as it was when the PR was opened (each
   branch's first-parent chain's last commit committed at or before `created_at`; a PR may
   target a maintenance branch), nor from the base side of GitHub's `refs/pull/N/merge` when
   it exists (the base as GitHub last merged it; it keeps a base alive whose history was
   rewritten since). If that leaves nothing (the merge ref was computed after the PR merged),
   the branches alone delimit it.
2. The commits present at opening: those *authored* at or before `created_at`. The author date
   survives rebases and amends, so a PR rebased during review keeps its original commits'
   dates; a commit authored later is rework. If none qualifies, the earliest-authored commit
   stands for the opening head.
3. Lines added + deleted per file over those commits (`git log --numstat`), split like the
   dataset: test files (a `test`/`tests`/`spec` directory, or `test_*`, `*_test.*`, `*Test.*`,
   `*Spec.*`, `*_spec.*` names), documentation files (`doc`/`docs` directories or .md, .rst,
   .txt, .textile, .rdoc, .adoc), and source files of the project's language (the rest with a
   source extension); files changed counts every file.
4. Commits on the files touched: commits of the default branch in the 90 days up to opening
   that touched any of those files.

A PR whose head ref is missing, or whose commit set is empty or larger than MAX_COMMITS (a PR
against another long-lived branch), gets empty cells (unknown). Nothing about the outcome
(merge time, merged or not, later commits) is used.

Usage: python3 bench/ttm/size_at_open.py CSV GIT_DIR OUT_CSV
Prints a summary: PRs, heads found, unknown, and for merged PRs whose final size it can check
the rank correlation between the rebuilt final size (all the PR's commits) and the dataset's.
"""
import bisect
import csv
import os
import subprocess
import sys

MAX_COMMITS = 100
NINETY_DAYS = 90 * 86_400
SOURCE = {
    "java": {".java"},
    "python": {".py"},
    "ruby": {".rb", ".rake", ".erb", ".haml"},
    "scala": {".scala", ".java"},
}
DOC_EXT = {".md", ".markdown", ".rst", ".txt", ".textile", ".rdoc", ".adoc", ".asciidoc"}
COLUMNS = ["src_churn_at_open", "test_churn_at_open", "files_changed_at_open",
           "doc_files_at_open", "commits_on_files_touched_at_open"]


def git(gitdir, *args, stdin=None):
    """Output of a git command (text)."""
    out = subprocess.run(["git", "--git-dir", gitdir, *args], input=stdin, capture_output=True,
                         text=True, errors="replace", check=True)
    return out.stdout


def is_test(path):
    low = path.lower()
    parts = low.split("/")
    if any(p in ("test", "tests", "spec", "specs") for p in parts[:-1]):
        return True
    base = parts[-1]
    stem = base.rsplit(".", 1)[0]
    return (stem.startswith("test_") or stem.endswith("_test") or stem.endswith("_spec")
            or path.rsplit("/", 1)[-1].rsplit(".", 1)[0].endswith(("Test", "Tests", "Spec")))


def is_doc(path):
    low = path.lower()
    parts = low.split("/")
    ext = os.path.splitext(low)[1]
    return ext in DOC_EXT or any(p in ("doc", "docs") for p in parts[:-1])


def branch_chains(gitdir):
    """For every branch: ([commit times], [shas]) of its first-parent chain, oldest first."""
    chains = []
    for ref in git(gitdir, "for-each-ref", "--format=%(refname)", "refs/heads").split():
        rows = first_parent_chain(gitdir, ref)
        chains.append(([t for t, _ in rows], [sha for _, sha in rows]))
    return chains


def timed(line):
    """(time, sha) from a "TIME SHA" line, or None when git printed no time (a commit with a
    malformed date, e.g. the time zone "--700": it cannot be placed in time, so it is left
    out)."""
    parts = line.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1]


def first_parent_chain(gitdir, branch):
    """[(commit time, sha)] of the default branch's first-parent chain, oldest first."""
    rows = []
    for line in git(gitdir, "log", "--first-parent", "--format=%ct %H", branch).splitlines():
        parsed = timed(line)
        if parsed:
            rows.append(parsed)
    rows.reverse()
    return rows


def file_history(gitdir, branch):
    """path -> sorted commit times, and path -> commit shas in the same order, for the default
    branch's history."""
    times, shas = {}, {}
    t = sha = None
    for line in git(gitdir, "log", "--no-renames", "--format=@%ct %H", "--name-only",
                    branch).splitlines():
        if line.startswith("@"):
            t, sha = timed(line[1:]) or (None, None)
        elif line and t is not None:
            times.setdefault(line, []).append(t)
            shas.setdefault(line, []).append(sha)
    for path in times:
        order = sorted(range(len(times[path])), key=lambda i: times[path][i])
        times[path] = [times[path][i] for i in order]
        shas[path] = [shas[path][i] for i in order]
    return times, shas


def numstats(gitdir, commits):
    """sha -> [(added + deleted, path)] for the given commits (binary files count 0 lines).
    Snapshots may lack their largest blobs: a batch that cannot be read is split, and a commit
    that still cannot be read lists its paths from `--raw` (no blob needed) with 0 lines."""
    out, sha = {}, None
    if not commits:
        return out
    try:
        text = git(gitdir, "log", "--no-walk=unsorted", "--stdin", "--no-renames", "--numstat",
                   "--format=@%H", stdin="\n".join(commits) + "\n")
    except subprocess.CalledProcessError:
        if len(commits) > 1:
            half = len(commits) // 2
            return {**numstats(gitdir, commits[:half]), **numstats(gitdir, commits[half:])}
        raw = git(gitdir, "diff-tree", "-r", "--root", "--no-renames", "--raw", "--no-commit-id",
                  commits[0])
        return {commits[0]: [(0, ln.split("\t", 1)[1]) for ln in raw.splitlines() if "\t" in ln]}
    for line in text.splitlines():
        if line.startswith("@"):
            sha = line[1:]
            out[sha] = []
        elif line and sha:
            a, d, path = line.split("\t", 2)
            n = (int(a) if a.isdigit() else 0) + (int(d) if d.isdigit() else 0)
            out[sha].append((n, path))
    return out


def size_of(commits, stats, lang):
    """(src churn, test churn, files, doc files, paths) over the commits' numstat."""
    per_file = {}
    for c in commits:
        for n, path in stats.get(c, []):
            per_file[path] = per_file.get(path, 0) + n
    src = test = docs = 0
    exts = SOURCE.get(lang, set())
    for path, n in per_file.items():
        if is_doc(path):
            docs += 1
        elif os.path.splitext(path)[1].lower() in exts:
            if is_test(path):
                test += n
            else:
                src += n
    return src, test, len(per_file), docs, list(per_file)


def spearman(xs, ys):
    """Spearman's rank correlation (average ranks for ties)."""
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r
    rx, ry = ranks(xs), ranks(ys)
    n = len(xs)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx) ** 2 for a in rx) ** 0.5
    vy = sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (vx * vy) if vx and vy else float("nan")


def main(csv_path, gitdir, out_path):
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames
        rows = list(reader)
    lang = next((r["lang"] for r in rows if r.get("lang")), "")
    branch = git(gitdir, "symbolic-ref", "HEAD").strip()
    heads, merge_bases = {}, {}
    for line in git(gitdir, "for-each-ref", "--format=%(objectname) %(refname) %(parent)",
                    "refs/pull").splitlines():
        sha, ref, *parents = line.split()
        parts = ref.split("/")
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        if parts[3] == "head":
            heads[int(parts[2])] = sha
        elif parts[3] == "merge" and len(parents) == 2:
            merge_bases[int(parts[2])] = parents[0]
    chains = branch_chains(gitdir)
    f_times, f_shas = file_history(gitdir, branch)

    pr_commits = {}  # row index -> [(author time, sha)]
    for i, r in enumerate(rows):
        number = int(r["github_id"])
        head = heads.get(number)
        if head is None:
            continue
        t = int(r["created_at"])
        bases = []
        for times, shas in chains:
            k = bisect.bisect_right(times, t)
            if k > 0:
                bases.append(shas[k - 1])
        commits = []
        for extra in ([merge_bases[number]] if number in merge_bases else []), []:
            try:
                text = git(gitdir, "rev-list", "--format=%at %H", "--no-commit-header", head,
                           "--not", *bases, *extra)
            except subprocess.CalledProcessError:
                continue
            commits = [c for c in map(timed, text.splitlines()) if c]
            if commits:
                break
        if 0 < len(commits) <= MAX_COMMITS:
            pr_commits[i] = commits
    wanted = sorted({sha for cs in pr_commits.values() for _, sha in cs})
    stats = {}
    for s in range(0, len(wanted), 2000):
        stats.update(numstats(gitdir, wanted[s:s + 2000]))

    check_rebuilt, check_final = [], []
    known = 0
    for i, r in enumerate(rows):
        for c in COLUMNS:
            r[c] = ""
        commits = pr_commits.get(i)
        if not commits:
            continue
        t = int(r["created_at"])
        at_open = [sha for at, sha in commits if at <= t]
        if not at_open:
            at_open = [min(commits)[1]]
        src, test, files, docs, paths = size_of(at_open, stats, lang)
        touched = set()
        for p in paths:
            ts = f_times.get(p)
            if not ts:
                continue
            lo, hi = bisect.bisect_left(ts, t - NINETY_DAYS), bisect.bisect_right(ts, t)
            touched.update(f_shas[p][lo:hi])
        r.update(zip(COLUMNS, map(str, (src, test, files, docs, len(touched)))))
        known += 1
        if r.get("merged_at") and r.get("src_churn") not in (None, ""):
            fs, ft, _, _, _ = size_of([sha for _, sha in commits], stats, lang)
            check_rebuilt.append(fs + ft)
            check_final.append(float(r["src_churn"]) + float(r["test_churn"] or 0))
    with open(out_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields + COLUMNS)
        w.writeheader()
        w.writerows(rows)
    rho = spearman(check_rebuilt, check_final) if len(check_rebuilt) > 2 else float("nan")
    print(f"{os.path.basename(csv_path)}\tPRs {len(rows)}\theads {sum(1 for r in rows if int(r['github_id']) in heads)}"
          f"\tsize known {known}\tunknown {len(rows) - known}"
          f"\trank corr. rebuilt final vs dataset final (merged, n={len(check_rebuilt)}) {rho:.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
