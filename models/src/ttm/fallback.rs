//! The honest fallback: per repository, the errors of the model and of the running median on
//! the same recent merges. The model is shown only while its recent error is clearly lower
//! (at most [`MARGIN`] × the running median's, over at least [`MIN_PAIRS`] merges); otherwise
//! users see the running median's range, labelled as such.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Recent merges compared.
pub const WINDOW: usize = 100;

/// The model must reach at most this share of the running median's error.
pub const MARGIN: f64 = 0.95;

/// Fewest compared merges before the model may be shown.
pub const MIN_PAIRS: usize = 30;

/// Absolute errors of ln(1 + hours) of the model and of the running median on the same merges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RollingError {
    /// (model, running median), oldest first, at most [`WINDOW`].
    pairs: VecDeque<(f64, f64)>,
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
        if e.n >= MIN_PAIRS && e.model_mae <= MARGIN * e.median_mae {
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
    fn the_model_is_shown_only_while_it_clearly_wins() {
        assert!(!RollingError::default().choice().is_model());
        // 29 clear wins are not enough evidence yet; the 30th is.
        let mut r = RollingError::seeded(&[(0.5, 1.0); 29]);
        assert!(!r.choice().is_model());
        r.push(0.5, 1.0);
        assert!(r.choice().is_model());
        // 4% better is not clearly better.
        let close = RollingError::seeded(&[(0.96, 1.0); 50]);
        assert!(matches!(close.choice(), Choice::RunningMedian(e) if e.n == 50));
        // The window forgets: after 100 losses the early wins are gone.
        let mut w = RollingError::seeded(&[(0.1, 1.0); 100]);
        for _ in 0..100 {
            w.push(2.0, 1.0);
        }
        let e = w.choice().evidence();
        assert_eq!((e.n, e.model_mae, e.median_mae), (WINDOW, 2.0, 1.0));
        w.push(f64::NAN, 1.0);
        assert_eq!(w.evidence().n, WINDOW);
    }
}
