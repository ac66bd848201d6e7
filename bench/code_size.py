#!/usr/bin/env python3
"""The project's size rules, checked by reading the Rust sources (issue 14).

- Files of logic: no file over --max-file (500) lines of logic, counting the lines that hold
  code (not blank, not only a comment) outside `#[cfg(test)]` items and outside files that are
  test modules themselves (declared `#[cfg(test)] mod x;`) or test, bench and example targets.
  Those are listed separately (`test files`), for information.
- Functions: no function over --max-fn (80) lines, counted from its `fn` line to its closing
  brace, unless a comment gives the reason: a `//` comment in the doc comment above the
  function or in its first lines that says why it is long (it must contain one of REASON_WORDS;
  the script prints the comment so that a reader can judge it).

Usage: python3 bench/code_size.py [ROOT] [--max-file N] [--max-fn N] [--all]
Exit status 1 when a rule is broken (a logic file over the limit, or a long function of logic
without a reason), else 0. `--all` also lists test functions and test files over the limits.
"""

import argparse
import os
import re
import sys

SKIP_DIRS = {"target", ".git", "node_modules", "fuzz"}
# Directories whose files are tests, benchmarks or examples, not logic.
TEST_DIRS = {"tests", "benches", "examples"}
# A comment giving the reason a function is long says so with one of these words.
REASON_WORDS = re.compile(
    r"(?i)\b(long|length|lines|kept (whole|together|in one)|one (place|piece|pass)|"
    r"step by step|in order|reads? (top to bottom|as)|not split|splitting)\b"
)


def sanitize(text):
    """The text with comments and string/char literal contents replaced by spaces (newlines
    kept), and per line whether it holds code."""
    out = []
    code_line = []
    has_code = False
    i, n = 0, len(text)
    depth = 0  # block comment nesting

    def put(ch, code):
        nonlocal has_code
        if ch == "\n":
            out.append("\n")
            code_line.append(has_code)
            has_code = False
        else:
            out.append(ch if code else " ")
            if code and not ch.isspace():
                has_code = True

    while i < n:
        c = text[i]
        if depth:
            if text.startswith("/*", i):
                depth += 1
                put(" ", False), put(" ", False)
                i += 2
            elif text.startswith("*/", i):
                depth -= 1
                put(" ", False), put(" ", False)
                i += 2
            else:
                put(c, False)
                i += 1
            continue
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                put(text[i], False)
                i += 1
            continue
        if text.startswith("/*", i):
            depth = 1
            put(" ", False), put(" ", False)
            i += 2
            continue
        m = re.match(r'b?r(#*)"', text[i:i + 80]) if c in "rb" else None
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            close = '"' + m.group(1)
            put('"', True)
            for _ in range(len(m.group(0)) - 1):
                put(" ", True)
            i += len(m.group(0))
            end = text.find(close, i)
            end = n if end < 0 else end
            while i < end:
                put(text[i] if text[i] == "\n" else " ", text[i] != "\n" or True)
                i += 1
            for ch in close:
                put(ch, True)
            i += len(close)
            continue
        if c == '"':
            put('"', True)
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    put(" ", True)
                    put(text[i + 1] if text[i + 1] == "\n" else " ", True)
                    i += 2
                    continue
                put(text[i] if text[i] == "\n" else " ", True)
                i += 1
            put('"', True)
            i += 1
            continue
        if c == "'":
            # A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if i + 1 < n and text[i + 1] == "\\":
                end = text.find("'", i + 2)
                end = n - 1 if end < 0 else end
                for _ in range(i, end + 1):
                    put(" ", True)
                i = end + 1
                continue
            if i + 2 < n and text[i + 2] == "'":
                for _ in range(3):
                    put(" ", True)
                i += 3
                continue
        put(c, True)
        i += 1
    code_line.append(has_code)
    return "".join(out), code_line


def match_brace(s, open_at):
    """Index of the brace closing the one at `open_at` in sanitised text."""
    depth = 0
    for j in range(open_at, len(s)):
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(s) - 1


def line_of(starts, pos):
    """0-based line of a character position (binary search over line starts)."""
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= pos:
            lo = mid
        else:
            hi = mid - 1
    return lo


CFG_TEST = re.compile(r"#\[cfg\(test\)\]")
ITEM_END = re.compile(r"[{;]")
FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def analyse(path, text):
    s, code = sanitize(text)
    starts = [0] + [m.end() for m in re.finditer("\n", s)]
    test_lines = set()
    test_mods = []  # names of `#[cfg(test)] mod x;`
    for m in CFG_TEST.finditer(s):
        e = ITEM_END.search(s, m.end())
        if not e:
            continue
        if s[e.start()] == ";":
            mm = re.search(r"\bmod\s+(\w+)\s*;", s[m.end():e.end()])
            if mm:
                test_mods.append(mm.group(1))
            continue
        close = match_brace(s, e.start())
        test_lines.update(range(line_of(starts, m.start()), line_of(starts, close) + 1))
    logic = sum(1 for i, c in enumerate(code) if c and i not in test_lines)
    lines = text.split("\n")
    fns = []
    for m in FN.finditer(s):
        # The body's opening brace, unless a `;` ends the declaration first (a trait method).
        j, paren = m.end(), 0
        while j < len(s):
            ch = s[j]
            if ch in "([":
                paren += 1
            elif ch in ")]":
                paren -= 1
            elif ch == ";" and paren == 0:
                j = -1
                break
            elif ch == "{" and paren == 0:
                break
            j += 1
        if j < 0 or j >= len(s):
            continue
        close = match_brace(s, j)
        first, last = line_of(starts, m.start()), line_of(starts, close)
        length = last - first + 1
        is_test = first in test_lines
        fns.append((m.group(1), first + 1, length, is_test, reason(lines, first, last)))
    return logic, test_mods, fns


def reason(lines, first, last):
    """The comment that says why the function is long: in the comment block above it (doc
    comments, attributes between) or in its first ten lines."""
    cands = []
    k = first - 1
    while k >= 0 and (lines[k].strip().startswith(("//", "#[")) or not lines[k].strip()):
        if not lines[k].strip() and k < first - 1 and not lines[k + 1].strip().startswith("//"):
            break
        cands.append(lines[k])
        k -= 1
    cands.extend(lines[first:min(last, first + 10)])
    for line in cands:
        t = line.strip()
        if t.startswith("//") and REASON_WORDS.search(t):
            return t
    return None


def rust_files(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith("."))
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(d, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default=".")
    ap.add_argument("--max-file", type=int, default=500)
    ap.add_argument("--max-fn", type=int, default=80)
    ap.add_argument("--all", action="store_true")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    results = {}
    declared_test = set()
    for p in rust_files(root):
        with open(p, encoding="utf-8") as fh:
            logic, mods, fns = analyse(p, fh.read())
        results[p] = (logic, fns)
        base = p[:-3] if not p.endswith(("mod.rs", "lib.rs", "main.rs")) else os.path.dirname(p)
        for m in mods:
            declared_test.add(os.path.join(base, m + ".rs"))
            declared_test.add(os.path.join(base, m, "mod.rs"))

    def is_test_file(p):
        rel = os.path.relpath(p, root).split(os.sep)
        return p in declared_test or any(part in TEST_DIRS for part in rel[:-1])

    big_logic, big_test, long_bad, long_ok, long_test = [], [], [], [], []
    total_logic = 0
    for p, (logic, fns) in sorted(results.items()):
        rel = os.path.relpath(p, root)
        test_file = is_test_file(p)
        if not test_file:
            total_logic += logic
        if logic > a.max_file:
            (big_test if test_file else big_logic).append((logic, rel))
        for name, line, length, is_test, why in fns:
            if length <= a.max_fn:
                continue
            entry = (length, f"{rel}:{line}", name, why)
            if test_file or is_test:
                long_test.append(entry)
            elif why:
                long_ok.append(entry)
            else:
                long_bad.append(entry)

    files = sum(1 for p in results if not is_test_file(p))
    print(f"{files} files of logic, {total_logic} lines of logic; limits: "
          f"{a.max_file} lines per file, {a.max_fn} lines per function")
    print(f"\nfiles of logic over {a.max_file} lines: {len(big_logic)}")
    for n, rel in sorted(big_logic, reverse=True):
        print(f"  {n:5d}  {rel}")
    print(f"\nfunctions of logic over {a.max_fn} lines without a reason: {len(long_bad)}")
    for n, where, name, _ in sorted(long_bad, reverse=True):
        print(f"  {n:5d}  {where}  {name}")
    print(f"\nfunctions of logic over {a.max_fn} lines with a reason: {len(long_ok)}")
    for n, where, name, why in sorted(long_ok, reverse=True):
        print(f"  {n:5d}  {where}  {name}\n         {why}")
    print(f"\ntest files over {a.max_file} lines: {len(big_test)}; "
          f"test functions over {a.max_fn} lines: {len(long_test)}")
    if a.all:
        for n, rel in sorted(big_test, reverse=True):
            print(f"  {n:5d}  {rel}")
        for n, where, name, _ in sorted(long_test, reverse=True):
            print(f"  {n:5d}  {where}  {name}")
    return 1 if big_logic or long_bad else 0


if __name__ == "__main__":
    sys.exit(main())
