//! Line counts of a diff as git computes them. Git's diff (xdiff) first trims the common prefix
//! and suffix, then discards lines that cannot or should not be matched — lines absent from the
//! other file, and very frequent lines inside runs of such lines — and runs Myers' algorithm on
//! what remains. [`git_counts`] follows the same preparation and then finds the exact shortest
//! edit on the remaining lines (Myers' greedy O((N+M)·D) search in linear space); git gives up
//! on exactness only for very large edits.

use imara_diff::Token;

/// Work bound (cells of the edit graph explored) past which the exact search gives up.
const MAX_COST: usize = 200_000_000;
/// Git's cap on the "too many matches" threshold (`XDL_MAX_EQLIMIT`).
const MAX_EQ_LIMIT: usize = 1024;
/// Lines scanned on each side of a frequent line (`XDL_SIMSCAN_WINDOW`).
const SIMSCAN_WINDOW: usize = 100;
/// Ratio deciding whether a frequent line sits in a run of discards (`XDL_KPDIS_RUN`).
const KPDIS_RUN: usize = 4;

/// Git's cheap square root: the smallest power of two at least sqrt(n), roughly.
fn bogosqrt(mut n: usize) -> usize {
    let mut i = 1;
    while n > 0 {
        i <<= 1;
        n >>= 2;
    }
    i
}

/// How a line relates to the other file: 0 = no match there, 1 = some, 2 = very many.
fn classify(lines: &[Token], other_count: &[u32], total_lines: usize) -> Vec<u8> {
    let mlim = bogosqrt(total_lines).min(MAX_EQ_LIMIT);
    lines
        .iter()
        .map(|t| match other_count[t.0 as usize] as usize {
            0 => 0,
            n if n >= mlim => 2,
            _ => 1,
        })
        .collect()
}

/// Whether a very frequent line at `i` sits in a run of unmatched/frequent lines and should be
/// discarded (git's `xdl_clean_mmatch`).
fn discard_frequent(dis: &[u8], i: usize) -> bool {
    let s = i.saturating_sub(SIMSCAN_WINDOW);
    let e = (i + SIMSCAN_WINDOW).min(dis.len() - 1);
    let (mut rdis0, mut rpdis0) = (0usize, 1usize);
    let mut r = 1;
    while i >= s + r {
        match dis[i - r] {
            0 => rdis0 += 1,
            2 => rpdis0 += 1,
            _ => break,
        }
        r += 1;
    }
    if rdis0 == 0 {
        return false;
    }
    let (mut rdis1, mut rpdis1) = (0usize, 1usize);
    let mut r = 1;
    while i + r <= e {
        match dis[i + r] {
            0 => rdis1 += 1,
            2 => rpdis1 += 1,
            _ => break,
        }
        r += 1;
    }
    if rdis1 == 0 {
        return false;
    }
    let rdis = rdis0 + rdis1;
    let rpdis = rpdis0 + rpdis1;
    rpdis * KPDIS_RUN < rpdis + rdis
}

/// Lines (added, deleted) between `a` and `b` as `git diff --numstat` counts them, or `None`
/// when the edit is too large for the exact search (the caller falls back).
pub fn git_counts(a: &[Token], b: &[Token], num_tokens: u32) -> Option<(usize, usize)> {
    let mut count_a = vec![0u32; num_tokens as usize];
    let mut count_b = vec![0u32; num_tokens as usize];
    for t in a {
        count_a[t.0 as usize] += 1;
    }
    for t in b {
        count_b[t.0 as usize] += 1;
    }
    let (total_a, total_b) = (a.len(), b.len());
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    if a.is_empty() || b.is_empty() {
        return Some((b.len(), a.len()));
    }
    let dis_a = classify(a, &count_b, total_a);
    let dis_b = classify(b, &count_a, total_b);
    let keep = |dis: &[u8], i: usize| dis[i] == 1 || (dis[i] == 2 && !discard_frequent(dis, i));
    let ka: Vec<u32> = (0..a.len())
        .filter(|&i| keep(&dis_a, i))
        .map(|i| a[i].0)
        .collect();
    let kb: Vec<u32> = (0..b.len())
        .filter(|&i| keep(&dis_b, i))
        .map(|i| b[i].0)
        .collect();
    let l = myers_lcs(&ka, &kb)?;
    Some((b.len() - l, a.len() - l))
}

/// Myers' greedy forward search for the shortest edit script; returns (N + M − D) / 2.
/// The diagonal array covers only the diagonals reached so far and grows as D does, so a small
/// edit in a large file costs O(N + M), not O(N + M) of zeroed memory per call.
fn myers_lcs(a: &[u32], b: &[u32]) -> Option<usize> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    if n == 0 || m == 0 {
        return Some(0);
    }
    let max = n + m;
    let mut limit: isize = 64.min(max);
    let mut v = vec![0isize; (2 * limit + 3) as usize];
    let mut cost = 0usize;
    for d in 0..=max {
        if d >= limit {
            // Grow the window of diagonals, keeping the values computed so far.
            let new_limit = (limit * 2).min(max).max(d + 1);
            let mut nv = vec![0isize; (2 * new_limit + 3) as usize];
            for k in -limit - 1..=limit + 1 {
                nv[(k + new_limit + 1) as usize] = v[(k + limit + 1) as usize];
            }
            v = nv;
            limit = new_limit;
        }
        let offset = limit + 1;
        let mut k = -d;
        while k <= d {
            let idx = (k + offset) as usize;
            let mut x = if k == -d || (k != d && v[idx - 1] < v[idx + 1]) {
                v[idx + 1]
            } else {
                v[idx - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[idx] = x;
            if x >= n && y >= m {
                return Some(((n + m - d) / 2) as usize);
            }
            k += 2;
        }
        cost += (2 * d + 1) as usize;
        if cost > MAX_COST {
            return None;
        }
    }
    Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn toks(v: &[u32]) -> Vec<Token> {
        v.iter().map(|&t| Token(t)).collect()
    }

    fn lcs_dp(a: &[u32], b: &[u32]) -> usize {
        let mut dp = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                dp[i][j] = if a[i - 1] == b[j - 1] {
                    dp[i - 1][j - 1] + 1
                } else {
                    dp[i - 1][j].max(dp[i][j - 1])
                };
            }
        }
        dp[a.len()][b.len()]
    }

    #[test]
    fn git_counts_discard_unmatched_lines_like_git() {
        // Identical prefix/suffix trimmed; unmatched lines are changes.
        assert_eq!(
            git_counts(&toks(&[0, 1, 2]), &toks(&[0, 3, 2]), 4),
            Some((1, 1))
        );
        assert_eq!(
            git_counts(&toks(&[0, 1]), &toks(&[0, 1, 2]), 3),
            Some((1, 0))
        );
        assert_eq!(bogosqrt(0), 1);
        assert_eq!(bogosqrt(16), 8);
    }

    proptest! {
        #[test]
        fn git_counts_are_never_below_the_minimal_diff(a in prop::collection::vec(0u32..6, 0..40), b in prop::collection::vec(0u32..6, 0..40)) {
            let (added, deleted) = git_counts(&toks(&a), &toks(&b), 6).unwrap();
            let l = lcs_dp(&a, &b);
            prop_assert!(added >= b.len() - l && deleted >= a.len() - l);
            prop_assert_eq!(added as isize - deleted as isize, b.len() as isize - a.len() as isize);
        }
    }

    proptest! {
        #[test]
        fn myers_finds_the_exact_lcs(a in prop::collection::vec(0u32..6, 0..40), b in prop::collection::vec(0u32..6, 0..40)) {
            prop_assert_eq!(myers_lcs(&a, &b), Some(lcs_dp(&a, &b)));
        }
    }
}
