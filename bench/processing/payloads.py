#!/usr/bin/env python3
"""Writes N signed `pull_request.opened` deliveries for distinct PRs, real-sized (the 25.9 KB
GitHub fixture with its number, ids, head commit and title changed per PR), and a manifest of
"path signature" lines for bench/webhooks/deliveries.lua (MANIFEST).

    payloads.py FIXTURE OUTDIR N SECRET [FIRST_NUMBER]

Each PR gets its own size (additions, deletions, changed files; drawn from a generator seeded
with SIZE_SEED, default 7), so that PRs do not share one time-to-merge feature vector and the
explanation memo answers only what a real repository would let it (a refresh of a change whose
features did not move). SAME_SIZE=1 keeps the fixture's size for every PR (the benchmark before
session 7: every PR's explanation is then the memo's after the first).
"""
import hashlib
import hmac
import json
import os
import random
import sys


def main() -> int:
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    fixture, out, n, secret = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
    first = int(sys.argv[5]) if len(sys.argv) > 5 else 1_000_000
    with open(fixture, "rb") as f:
        base = json.load(f)
    os.makedirs(out, exist_ok=True)
    same_size = os.environ.get("SAME_SIZE") == "1"
    rng = random.Random(int(os.environ.get("SIZE_SEED", "7")))
    lines = []
    for i in range(n):
        number = first + i
        d = json.loads(json.dumps(base))
        pr = d["pull_request"]
        d["number"] = number
        pr["number"] = number
        pr["id"] = 50_000_000 + number
        pr["node_id"] = f"PR_bench{number}"
        pr["title"] = f"Bench change {number}: {pr['title']}"
        if not same_size:
            # Skewed like real PRs: mostly small, a few large.
            pr["additions"] = int(rng.lognormvariate(4.0, 1.3))
            pr["deletions"] = int(rng.lognormvariate(2.5, 1.4))
            pr["changed_files"] = 1 + int(rng.lognormvariate(1.0, 1.0))
        pr["head"]["sha"] = hashlib.sha1(f"head-{number}".encode()).hexdigest()
        for key in ("url", "html_url", "diff_url", "patch_url", "issue_url", "commits_url",
                    "review_comments_url", "comments_url", "statuses_url"):
            if isinstance(pr.get(key), str):
                pr[key] = pr[key].replace("/7", f"/{number}")
        body = json.dumps(d, separators=(",", ":")).encode()
        path = os.path.join(out, f"pr-{number}.json")
        with open(path, "wb") as f:
            f.write(body)
        sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        lines.append(f"{path} {sig}\n")
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.writelines(lines)
    size = sum(os.path.getsize(l.split()[0]) for l in lines[:50]) // max(1, min(50, n))
    print(f"{n} payloads of about {size} bytes in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
