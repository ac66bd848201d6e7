//! Line counts of a diff exactly as git computes them (its xdiff library, default Myers
//! algorithm, without `--minimal`). Git first trims the common prefix and suffix, then discards
//! lines that cannot or should not be matched — lines absent from the other file, and very
//! frequent lines inside runs of such lines — and runs Myers' divide-and-conquer search on what
//! remains. That search is exact for small edits; past an edit cost of about the square root of
//! the file length it cuts the search short with two heuristics and accepts a longer edit. The
//! counts `git diff --numstat` prints depend on those cuts, so [`git_counts`] follows them
//! step for step: the same thresholds, the same diagonal scans, the same choice of split point.

use imara_diff::Token;

/// Git's cap on the "too many matches" threshold (`XDL_MAX_EQLIMIT`).
const MAX_EQ_LIMIT: usize = 1024;
/// Lines scanned on each side of a frequent line (`XDL_SIMSCAN_WINDOW`).
const SIMSCAN_WINDOW: usize = 100;
/// Ratio deciding whether a frequent line sits in a run of discards (`XDL_KPDIS_RUN`).
const KPDIS_RUN: usize = 4;
/// Lower bound of the edit cost at which the search gives up on minimality (`XDL_MAX_COST_MIN`).
const MAX_COST_MIN: isize = 256;
/// Edit cost from which the "good snake" heuristic is tried (`XDL_HEUR_MIN_COST`).
const HEUR_MIN_COST: isize = 256;
/// Length of a run of equal lines that counts as a good snake (`XDL_SNAKE_CNT`).
const SNAKE_CNT: isize = 20;
/// Weight of the edit cost in the good-snake test (`XDL_K_HEUR`).
const K_HEUR: isize = 4;
/// "No position yet" in the backward diagonal vector (git's `XDL_LINE_MAX`).
const LINE_MAX: isize = isize::MAX;

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

/// The unmatched lines (0) and one more than the frequent lines (2) at `positions`, nearest
/// first, up to the first line with some match.
fn run_from(dis: &[u8], positions: impl Iterator<Item = usize>) -> (usize, usize) {
    let (mut unmatched, mut frequent) = (0usize, 1usize);
    for j in positions {
        match dis[j] {
            0 => unmatched += 1,
            2 => frequent += 1,
            _ => break,
        }
    }
    (unmatched, frequent)
}

/// Whether a very frequent line at `i` sits in a run of unmatched/frequent lines and should be
/// discarded (git's `xdl_clean_mmatch`).
fn discard_frequent(dis: &[u8], i: usize) -> bool {
    let s = i.saturating_sub(SIMSCAN_WINDOW);
    let e = (i + SIMSCAN_WINDOW).min(dis.len() - 1);
    let (rdis0, rpdis0) = run_from(dis, (s..i).rev());
    if rdis0 == 0 {
        return false;
    }
    let (rdis1, rpdis1) = run_from(dis, i + 1..=e);
    if rdis1 == 0 {
        return false;
    }
    let rdis = rdis0 + rdis1;
    let rpdis = rpdis0 + rpdis1;
    rpdis * KPDIS_RUN < rpdis + rdis
}

/// Lines (added, deleted) between `a` and `b` as `git diff --numstat` counts them.
pub fn git_counts(a: &[Token], b: &[Token], num_tokens: u32) -> (usize, usize) {
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
        return (b.len(), a.len());
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
    let (changed_a, changed_b) = Myers::new(&ka, &kb).changed(false);
    (
        b.len() - kb.len() + changed_b,
        a.len() - ka.len() + changed_a,
    )
}

/// Where a box is split, and whether each half must then be searched exactly.
struct Split {
    i1: isize,
    i2: isize,
    min_lo: bool,
    min_hi: bool,
}

impl Split {
    /// Where the forward and backward searches met: both halves are searched exactly.
    fn met(i1: isize, i2: isize) -> Split {
        Split {
            i1,
            i2,
            min_lo: true,
            min_hi: true,
        }
    }
}

/// Git's divide-and-conquer Myers search (`xdl_recs_cmp` and `xdl_split`) over two sequences of
/// line classes, counting the lines it marks as changed on each side.
struct Myers<'a> {
    a: &'a [u32],
    b: &'a [u32],
    /// Forward furthest-reaching x per diagonal, offset by `off`.
    kvdf: Vec<isize>,
    /// Backward furthest-reaching x per diagonal, offset by `off`.
    kvdb: Vec<isize>,
    off: isize,
    mxcost: isize,
}

impl<'a> Myers<'a> {
    fn new(a: &'a [u32], b: &'a [u32]) -> Myers<'a> {
        let ndiags = a.len() + b.len() + 3;
        Myers {
            a,
            b,
            kvdf: vec![0; ndiags],
            kvdb: vec![0; ndiags],
            off: b.len() as isize + 1,
            mxcost: (bogosqrt(ndiags) as isize).max(MAX_COST_MIN),
        }
    }

    /// Lines of `a` and of `b` marked as changed; `need_min` forbids the heuristics at the top.
    fn changed(&mut self, need_min: bool) -> (usize, usize) {
        let (mut ca, mut cb) = (0usize, 0usize);
        // Boxes still to compare: (off1, lim1, off2, lim2, need_min). A stack instead of git's
        // recursion; the order of the boxes does not change what each one marks.
        let mut boxes = vec![(0, self.a.len() as isize, 0, self.b.len() as isize, need_min)];
        while let Some((mut off1, mut lim1, mut off2, mut lim2, need_min)) = boxes.pop() {
            while off1 < lim1 && off2 < lim2 && self.a[off1 as usize] == self.b[off2 as usize] {
                off1 += 1;
                off2 += 1;
            }
            while off1 < lim1
                && off2 < lim2
                && self.a[lim1 as usize - 1] == self.b[lim2 as usize - 1]
            {
                lim1 -= 1;
                lim2 -= 1;
            }
            if off1 == lim1 {
                cb += (lim2 - off2) as usize;
            } else if off2 == lim2 {
                ca += (lim1 - off1) as usize;
            } else {
                let s = self.split(off1, lim1, off2, lim2, need_min);
                boxes.push((s.i1, lim1, s.i2, lim2, s.min_hi));
                boxes.push((off1, s.i1, off2, s.i2, s.min_lo));
            }
        }
        (ca, cb)
    }

    fn f(&self, d: isize) -> isize {
        self.kvdf[(d + self.off) as usize]
    }

    fn set_f(&mut self, d: isize, v: isize) {
        self.kvdf[(d + self.off) as usize] = v;
    }

    fn bk(&self, d: isize) -> isize {
        self.kvdb[(d + self.off) as usize]
    }

    fn set_b(&mut self, d: isize, v: isize) {
        self.kvdb[(d + self.off) as usize] = v;
    }

    fn eq(&self, i1: isize, i2: isize) -> bool {
        self.a[i1 as usize] == self.b[i2 as usize]
    }

    /// Finds where to split the box (git's `xdl_split`): the middle snake of the shortest edit,
    /// or, past the cost bounds, a good snake or the furthest-reaching point.
    // Long: it follows git's `xdl_split` step for step (forward and backward sweeps, then the
    // cost-bound heuristics), so that it can be checked against git's source side by side.
    fn split(
        &mut self,
        off1: isize,
        lim1: isize,
        off2: isize,
        lim2: isize,
        need_min: bool,
    ) -> Split {
        let (dmin, dmax) = (off1 - lim2, lim1 - off2);
        let (fmid, bmid) = (off1 - off2, lim1 - lim2);
        let odd = (fmid - bmid) & 1 != 0;
        let (mut fmin, mut fmax, mut bmin, mut bmax) = (fmid, fmid, bmid, bmid);
        self.set_f(fmid, off1);
        self.set_b(bmid, lim1);
        let mut ec: isize = 1;
        loop {
            let mut got_snake = false;
            if fmin > dmin {
                fmin -= 1;
                self.set_f(fmin - 1, -1);
            } else {
                fmin += 1;
            }
            if fmax < dmax {
                fmax += 1;
                self.set_f(fmax + 1, -1);
            } else {
                fmax -= 1;
            }
            let mut d = fmax;
            while d >= fmin {
                let mut i1 = if self.f(d - 1) >= self.f(d + 1) {
                    self.f(d - 1) + 1
                } else {
                    self.f(d + 1)
                };
                let prev1 = i1;
                let mut i2 = i1 - d;
                while i1 < lim1 && i2 < lim2 && self.eq(i1, i2) {
                    i1 += 1;
                    i2 += 1;
                }
                if i1 - prev1 > SNAKE_CNT {
                    got_snake = true;
                }
                self.set_f(d, i1);
                if odd && bmin <= d && d <= bmax && self.bk(d) <= i1 {
                    return Split::met(i1, i2);
                }
                d -= 2;
            }
            if bmin > dmin {
                bmin -= 1;
                self.set_b(bmin - 1, LINE_MAX);
            } else {
                bmin += 1;
            }
            if bmax < dmax {
                bmax += 1;
                self.set_b(bmax + 1, LINE_MAX);
            } else {
                bmax -= 1;
            }
            let mut d = bmax;
            while d >= bmin {
                let mut i1 = if self.bk(d - 1) < self.bk(d + 1) {
                    self.bk(d - 1)
                } else {
                    self.bk(d + 1) - 1
                };
                let prev1 = i1;
                let mut i2 = i1 - d;
                while i1 > off1 && i2 > off2 && self.eq(i1 - 1, i2 - 1) {
                    i1 -= 1;
                    i2 -= 1;
                }
                if prev1 - i1 > SNAKE_CNT {
                    got_snake = true;
                }
                self.set_b(d, i1);
                if !odd && fmin <= d && d <= fmax && i1 <= self.f(d) {
                    return Split::met(i1, i2);
                }
                d -= 2;
            }
            if !need_min {
                let bounds = Bounds {
                    off1,
                    lim1,
                    off2,
                    lim2,
                    fmid,
                    bmid,
                    fmin,
                    fmax,
                    bmin,
                    bmax,
                };
                if got_snake
                    && ec > HEUR_MIN_COST
                    && let Some(s) = self.good_snake(&bounds, ec)
                {
                    return s;
                }
                if ec >= self.mxcost {
                    return self.furthest(&bounds);
                }
            }
            ec += 1;
        }
    }

    /// Git's "interesting path" heuristic: a diagonal far from both corners that ends in a run of
    /// at least [`SNAKE_CNT`] equal lines, forward first, then backward.
    fn good_snake(&self, b: &Bounds, ec: isize) -> Option<Split> {
        let mut best = 0;
        let mut spl = None;
        let mut d = b.fmax;
        while d >= b.fmin {
            let dd = (d - b.fmid).abs();
            let i1 = self.f(d);
            let i2 = i1 - d;
            let v = (i1 - b.off1) + (i2 - b.off2) - dd;
            if v > K_HEUR * ec
                && v > best
                && b.off1 + SNAKE_CNT <= i1
                && i1 < b.lim1
                && b.off2 + SNAKE_CNT <= i2
                && i2 < b.lim2
                && (1..=SNAKE_CNT).all(|k| self.eq(i1 - k, i2 - k))
            {
                best = v;
                spl = Some((i1, i2));
            }
            d -= 2;
        }
        if let Some((i1, i2)) = spl {
            return Some(Split {
                i1,
                i2,
                min_lo: true,
                min_hi: false,
            });
        }
        let mut best = 0;
        let mut d = b.bmax;
        while d >= b.bmin {
            let dd = (d - b.bmid).abs();
            let i1 = self.bk(d);
            let i2 = i1 - d;
            let v = (b.lim1 - i1) + (b.lim2 - i2) - dd;
            if v > K_HEUR * ec
                && v > best
                && b.off1 < i1
                && i1 <= b.lim1 - SNAKE_CNT
                && b.off2 < i2
                && i2 <= b.lim2 - SNAKE_CNT
                && (0..SNAKE_CNT).all(|k| self.eq(i1 + k, i2 + k))
            {
                best = v;
                spl = Some((i1, i2));
            }
            d -= 2;
        }
        spl.map(|(i1, i2)| Split {
            i1,
            i2,
            min_lo: false,
            min_hi: true,
        })
    }

    /// "Enough is enough": split at the furthest-reaching point of either search.
    fn furthest(&self, b: &Bounds) -> Split {
        let (mut fbest, mut fbest1) = (-1, -1);
        let mut d = b.fmax;
        while d >= b.fmin {
            let mut i1 = self.f(d).min(b.lim1);
            let mut i2 = i1 - d;
            if b.lim2 < i2 {
                i1 = b.lim2 + d;
                i2 = b.lim2;
            }
            if fbest < i1 + i2 {
                fbest = i1 + i2;
                fbest1 = i1;
            }
            d -= 2;
        }
        let (mut bbest, mut bbest1) = (LINE_MAX, LINE_MAX);
        let mut d = b.bmax;
        while d >= b.bmin {
            let mut i1 = b.off1.max(self.bk(d));
            let mut i2 = i1 - d;
            if i2 < b.off2 {
                i1 = b.off2 + d;
                i2 = b.off2;
            }
            if i1 + i2 < bbest {
                bbest = i1 + i2;
                bbest1 = i1;
            }
            d -= 2;
        }
        if (b.lim1 + b.lim2) - bbest < fbest - (b.off1 + b.off2) {
            Split {
                i1: fbest1,
                i2: fbest - fbest1,
                min_lo: true,
                min_hi: false,
            }
        } else {
            Split {
                i1: bbest1,
                i2: bbest - bbest1,
                min_lo: false,
                min_hi: true,
            }
        }
    }
}

/// The box being split and the diagonal ranges searched so far.
struct Bounds {
    off1: isize,
    lim1: isize,
    off2: isize,
    lim2: isize,
    fmid: isize,
    bmid: isize,
    fmin: isize,
    fmax: isize,
    bmin: isize,
    bmax: isize,
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
        assert_eq!(git_counts(&toks(&[0, 1, 2]), &toks(&[0, 3, 2]), 4), (1, 1));
        assert_eq!(git_counts(&toks(&[0, 1]), &toks(&[0, 1, 2]), 3), (1, 0));
        assert_eq!(bogosqrt(0), 1);
        assert_eq!(bogosqrt(16), 8);
    }

    proptest! {
        #[test]
        fn git_counts_are_never_below_the_minimal_diff(a in prop::collection::vec(0u32..6, 0..40), b in prop::collection::vec(0u32..6, 0..40)) {
            let (added, deleted) = git_counts(&toks(&a), &toks(&b), 6);
            let l = lcs_dp(&a, &b);
            prop_assert!(added >= b.len() - l && deleted >= a.len() - l);
            prop_assert_eq!(added as isize - deleted as isize, b.len() as isize - a.len() as isize);
        }
    }

    proptest! {
        #[test]
        fn small_edits_are_minimal(a in prop::collection::vec(0u32..6, 0..60), b in prop::collection::vec(0u32..6, 0..60)) {
            // Below the heuristics' cost bounds the search is exact.
            let (ca, cb) = Myers::new(&a, &b).changed(false);
            let l = lcs_dp(&a, &b);
            prop_assert_eq!((ca, cb), (a.len() - l, b.len() - l));
        }
    }
}
