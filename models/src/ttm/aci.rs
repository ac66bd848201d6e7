//! Adaptive conformal inference (Gibbs & Candès, NeurIPS 2021) for the 10–90% interval, one
//! side at a time. Each side widens the model's quantile by a quantile of recent conformity
//! scores (a rolling window, first filled from the model's calibration changes), at a
//! miscoverage level α that moves after every observed merge, α ← α + γ(α* − miss): a miss
//! lowers α and so widens that side, a hit raises it a little. Over any stretch of merges the
//! share of misses on a side stays within (max α − min α + γ)/(γ·merges) of α*, whatever the
//! drift, which is what keeps coverage month by month and not only on average.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Target miscoverage of each side: 10% below the interval, 10% above.
pub const TARGET: f64 = 0.1;

/// Default step γ (chosen on the development repositories, docs/models.md).
pub const DEFAULT_GAMMA: f64 = 0.02;

/// Recent conformity scores kept per side.
pub const WINDOW: usize = 200;

/// Fewest recent scores before the window replaces the model's calibration scores.
pub const MIN_WINDOW: usize = 30;

/// Most scores kept per side: larger calibration sets are summarised by this many quantiles.
const MAX_POINTS: usize = 201;

/// Conformity scores of one side, as an empirical quantile function.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Sorted scores, or evenly spaced quantiles of them when there were many.
    points: Vec<f64>,
    /// Number of calibration changes they summarise.
    n: usize,
}

impl Scores {
    /// From raw scores (NaN are dropped).
    pub fn new(mut v: Vec<f64>) -> Scores {
        v.retain(|x| !x.is_nan());
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let points = if n <= MAX_POINTS {
            v
        } else {
            (0..MAX_POINTS)
                .map(|i| level_of(&v, i as f64 / (MAX_POINTS - 1) as f64))
                .collect()
        };
        Scores { points, n }
    }

    /// Calibration changes behind the scores.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no scores.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// How far to move this side outwards for miscoverage `alpha`: the ⌈(n+1)(1−α)⌉-th smallest
    /// score (split-conformal's finite-sample level). At or below 0 it is the largest score, at
    /// or above 1 the smallest (the narrowest the scores allow). 0 without scores.
    pub fn width(&self, alpha: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let n = self.n as f64;
        let rank = ((n + 1.0) * (1.0 - alpha)).ceil().clamp(1.0, n);
        level_of(&self.points, (rank - 1.0) / (n - 1.0).max(1.0))
    }
}

/// The `a`-quantile of sorted values (linear interpolation).
fn level_of(sorted: &[f64], a: f64) -> f64 {
    let pos = a.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The miscoverage levels of both sides and how they move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aci {
    /// Target miscoverage per side (α*).
    pub target: f64,
    /// Step (γ).
    pub gamma: f64,
    /// Current α of the lower side.
    pub alpha_lo: f64,
    /// Current α of the upper side.
    pub alpha_hi: f64,
    /// Merges observed.
    pub observed: u64,
}

impl Default for Aci {
    fn default() -> Self {
        Aci::new(TARGET, DEFAULT_GAMMA)
    }
}

impl Aci {
    /// Starts both sides at the target.
    pub fn new(target: f64, gamma: f64) -> Aci {
        Aci {
            target,
            gamma,
            alpha_lo: target,
            alpha_hi: target,
            observed: 0,
        }
    }

    /// After a merge: whether it fell below the interval and whether above it.
    pub fn update(&mut self, below: bool, above: bool) {
        self.step_lo(below);
        self.step_hi(above);
        self.observed += 1;
    }

    /// One step of the lower side's level, as soon as it is known whether the merge fell
    /// below the interval (a change still open at the lower end is known not to).
    pub fn step_lo(&mut self, miss: bool) {
        self.alpha_lo += self.step(miss);
    }

    /// One step of the upper side's level, as soon as it is known whether the merge falls
    /// above the interval (a change still open past the upper end is known to).
    pub fn step_hi(&mut self, miss: bool) {
        self.alpha_hi += self.step(miss);
    }

    /// Takes back a step of the lower side (its change closed without merging: never scored).
    pub fn unstep_lo(&mut self, miss: bool) {
        self.alpha_lo -= self.step(miss);
    }

    /// Takes back a step of the upper side (its change closed without merging: never scored).
    pub fn unstep_hi(&mut self, miss: bool) {
        self.alpha_hi -= self.step(miss);
    }

    /// γ(α* − miss).
    fn step(&self, miss: bool) -> f64 {
        self.gamma * (self.target - f64::from(u8::from(miss)))
    }

    /// The levels a static (split-conformal) interval uses.
    pub fn fixed(target: f64) -> Aci {
        Aci::new(target, 0.0)
    }
}

/// The latest conformity scores of both sides, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreWindow {
    lo: VecDeque<f64>,
    hi: VecDeque<f64>,
}

impl ScoreWindow {
    /// From (lower, upper) scores, oldest first; keeps the latest [`WINDOW`].
    pub fn seeded(pairs: &[(f64, f64)]) -> ScoreWindow {
        let mut w = ScoreWindow::default();
        for (l, h) in pairs {
            w.push(*l, *h);
        }
        w
    }

    /// Adds the scores of one merge.
    pub fn push(&mut self, lo: f64, hi: f64) {
        if lo.is_nan() || hi.is_nan() {
            return;
        }
        self.lo.push_back(lo);
        self.hi.push_back(hi);
        while self.lo.len() > WINDOW {
            self.lo.pop_front();
            self.hi.pop_front();
        }
    }

    /// Scores held.
    pub fn len(&self) -> usize {
        self.lo.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.lo.is_empty()
    }

    /// (lower, upper) widths at the levels of `aci`; `None` with fewer than [`MIN_WINDOW`].
    pub fn widths(&self, aci: &Aci) -> Option<(f64, f64)> {
        if self.len() < MIN_WINDOW {
            return None;
        }
        let lo = Scores::new(self.lo.iter().copied().collect());
        let hi = Scores::new(self.hi.iter().copied().collect());
        Some((lo.width(aci.alpha_lo), hi.width(aci.alpha_hi)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_conformal_rank() {
        let s = Scores::new((1..=9).map(f64::from).collect());
        // n = 9, α = 0.1: rank ⌈10·0.9⌉ = 9 → the largest.
        assert_eq!(s.width(0.1), 9.0);
        // α = 0.5: rank 5.
        assert_eq!(s.width(0.5), 5.0);
        assert_eq!(s.width(-0.3), 9.0);
        assert_eq!(s.width(1.2), 1.0);
        assert_eq!(Scores::new(vec![]).width(0.1), 0.0);
        // Many scores are summarised without moving the quantiles much.
        let big = Scores::new((0..10_000).map(|i| i as f64).collect());
        assert_eq!(big.len(), 10_000);
        assert!((big.width(0.1) - 9000.0).abs() < 30.0, "{}", big.width(0.1));
        assert!(big.width(0.05) > big.width(0.1) && big.width(0.1) > big.width(0.2));
    }

    #[test]
    fn misses_widen_and_hits_narrow() {
        let mut a = Aci::new(0.1, 0.05);
        a.update(true, false);
        assert!((a.alpha_lo - (0.1 - 0.05 * 0.9)).abs() < 1e-12);
        assert!((a.alpha_hi - (0.1 + 0.05 * 0.1)).abs() < 1e-12);
        // Misses at exactly the target rate leave α where it started.
        let mut b = Aci::new(0.1, 0.05);
        for i in 0..100 {
            b.update(i % 10 == 0, false);
        }
        assert!((b.alpha_lo - 0.1).abs() < 1e-9, "{}", b.alpha_lo);
        assert_eq!(b.observed, 100);
        // The window forgets old scores and answers once it holds enough.
        let mut w = ScoreWindow::seeded(&[(1.0, 1.0); 10]);
        assert!(w.widths(&Aci::default()).is_none());
        for i in 0..WINDOW {
            w.push(-(i as f64), i as f64);
        }
        assert_eq!(w.len(), WINDOW);
        let (lo, hi) = w.widths(&Aci::new(0.1, 0.0)).unwrap();
        assert_eq!(hi, 180.0);
        assert_eq!(lo, 0.0 - 19.0);
        let f = Aci::fixed(0.1);
        let mut g = f.clone();
        g.update(true, true);
        assert_eq!((g.alpha_lo, g.alpha_hi), (f.alpha_lo, f.alpha_hi));
    }
}
