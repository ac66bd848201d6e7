//! The honest fallback: per repository, the errors of the model and of the running median on
//! the same recent merges. The model is shown once its recent error is clearly lower (at most
//! [`MARGIN`] × the running median's, over at least [`MIN_PAIRS`] merges), and withdrawn as soon
//! as it is no longer lower at all; otherwise users see the running median's range, labelled as
//! such. (The gap between the two thresholds keeps the comment from flipping back and forth on
//! noise; on the development repositories it served as well as a single threshold.)

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Recent merges compared.
pub const WINDOW: usize = 200;

/// The model must reach at most this share of the running median's error.
pub const MARGIN: f64 = 0.95;

/// Fewest compared merges before the model may be shown.
pub const MIN_PAIRS: usize = 30;

/// Absolute errors of ln(1 + hours) of the model and of the running median on the same merges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RollingError {
    /// (model, running median), oldest first, at most [`WINDOW`].
    pairs: VecDeque<(f64, f64)>,
    /// Whether the model is shown (decided after each merge).
    #[serde(default)]
    shown: bool,
}

/// What the recent merges say.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evidence {
    /// Model's mean absolute error of ln(1 + hours).
    pub model_mae: f64,
    /// Running median's, on the same merges.
    pub median_mae: f64,
    /// Merges compared.
    pub n: usize,
}

/// What to show.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "shown", rename_all = "snake_case")]
pub enum Choice {
    /// The model: it clearly beat the running median on recent merges.
    Model(Evidence),
    /// The running median: the model did not clearly beat it, or too few merges say so yet.
    RunningMedian(Evidence),
}

impl Choice {
    /// Whether the model is shown.
    pub fn is_model(&self) -> bool {
        matches!(self, Choice::Model(_))
    }

    /// The evidence either way.
    pub fn evidence(&self) -> Evidence {
        match self {
            Choice::Model(e) | Choice::RunningMedian(e) => *e,
        }
    }
}

impl RollingError {
    /// Starts from earlier pairs (for instance the model's calibration changes), keeping the
    /// latest [`WINDOW`].
    pub fn seeded(pairs: &[(f64, f64)]) -> RollingError {
        let mut r = RollingError::default();
        for (m, b) in pairs {
            r.push(*m, *b);
        }
        r
    }

    /// Adds the errors on one merge.
    pub fn push(&mut self, model: f64, median: f64) {
        if model.is_nan() || median.is_nan() {
            return;
        }
        self.pairs.push_back((model, median));
        while self.pairs.len() > WINDOW {
            self.pairs.pop_front();
        }
        let e = self.evidence();
        let bar = if self.shown { 1.0 } else { MARGIN };
        self.shown = e.n >= MIN_PAIRS && e.model_mae <= bar * e.median_mae;
    }

    /// The evidence so far.
    pub fn evidence(&self) -> Evidence {
        let n = self.pairs.len();
        let mean = |f: fn(&(f64, f64)) -> f64| {
            if n == 0 {
                f64::NAN
            } else {
                self.pairs.iter().map(f).sum::<f64>() / n as f64
            }
        };
        Evidence {
            model_mae: mean(|p| p.0),
            median_mae: mean(|p| p.1),
            n,
        }
    }

    /// Model or running median.
    pub fn choice(&self) -> Choice {
        let e = self.evidence();
        if self.shown {
            Choice::Model(e)
        } else {
            Choice::RunningMedian(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_shown_once_it_clearly_wins_and_withdrawn_when_it_stops_winning() {
        assert!(!RollingError::default().choice().is_model());
        // 29 clear wins are not enough evidence yet; the 30th is.
        let mut r = RollingError::seeded(&[(0.5, 1.0); 29]);
        assert!(!r.choice().is_model());
        r.push(0.5, 1.0);
        assert!(r.choice().is_model());
        // 4% better is not clearly better: never shown on that alone.
        let close = RollingError::seeded(&[(0.96, 1.0); 50]);
        assert!(matches!(close.choice(), Choice::RunningMedian(e) if e.n == 50));
        // Once shown, it stays while it is better at all, and goes when it is not.
        let mut h = RollingError::seeded(&[(0.9, 1.0); 100]);
        assert!(h.choice().is_model());
        for _ in 0..60 {
            h.push(1.04, 1.0);
        }
        assert!(h.choice().is_model(), "{:?}", h.evidence());
        for _ in 0..100 {
            h.push(1.2, 1.0);
        }
        assert!(!h.choice().is_model(), "{:?}", h.evidence());
        // The window forgets: after a window of losses the early wins are gone.
        let mut w = RollingError::seeded(&[(0.1, 1.0); WINDOW]);
        for _ in 0..WINDOW {
            w.push(2.0, 1.0);
        }
        let e = w.choice().evidence();
        assert_eq!((e.n, e.model_mae, e.median_mae), (WINDOW, 2.0, 1.0));
        w.push(f64::NAN, 1.0);
        assert_eq!(w.evidence().n, WINDOW);
    }
}
