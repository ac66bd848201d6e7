//! What a repository's served predictions learn as its changes merge: the adaptive interval's
//! levels and recent conformity scores, the rolling errors of the model and of the running
//! median, and the first prediction issued for each open change (the one scored when it merges). The bot stores it next to the
//! repository's model so that a restarted bot continues where it was; the walk-forward
//! evaluation drives the very same state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::aci::{Aci, ScoreWindow};
use super::fallback::{Choice, RollingError};
use super::features::{TtmFeatures, to_log};
use super::model::{Prediction, RawQuantiles, TtmModel};

/// Issued predictions older than this (seconds) are dropped unscored: a change open for two
/// years says nothing about the current interval.
pub const PENDING_MAX_AGE: i64 = 2 * 365 * 86_400;

/// A prediction as issued when a change opened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Issued {
    /// When it was issued (epoch seconds).
    pub at: i64,
    /// Model's 10th percentile, hours (with the adaptive interval then in force).
    pub p10_hours: f64,
    /// Model's median, hours.
    pub p50_hours: f64,
    /// Model's 90th percentile, hours.
    pub p90_hours: f64,
    /// The running median then, hours, if there was one.
    pub median_hours: Option<f64>,
    /// The model's quantiles before widening (ln(1 + hours)), for its conformity scores.
    pub raw: RawQuantiles,
    /// `trained_through` of the model that issued it.
    pub model: i64,
}

/// How an issued prediction fared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outcome {
    /// The merge came before the interval.
    pub below: bool,
    /// The merge came after the interval.
    pub above: bool,
    /// Absolute error of the model's median, ln(1 + hours).
    pub model_error: f64,
    /// Absolute error of the running median, ln(1 + hours).
    pub median_error: Option<f64>,
}

/// A repository's online state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OnlineState {
    /// Adaptive interval levels.
    pub aci: Aci,
    /// Recent conformity scores of the model in force.
    pub scores: ScoreWindow,
    /// `trained_through` of the model in force.
    pub model: i64,
    /// Model vs running median on recent merges.
    pub errors: RollingError,
    /// First prediction of each open change, by number.
    pub pending: BTreeMap<u64, Issued>,
}

impl OnlineState {
    /// A fresh state for a repository's first model: the levels at their target with step
    /// `gamma`, scores and rolling errors from the model's calibration changes.
    pub fn for_model(model: &TtmModel, gamma: f64) -> OnlineState {
        OnlineState {
            aci: Aci::new(super::aci::TARGET, gamma),
            scores: ScoreWindow::seeded(&model.recent_scores),
            model: model.trained_through,
            errors: RollingError::seeded(&model.evidence),
            pending: BTreeMap::new(),
        }
    }

    /// Takes on a retrained model: its calibration scores replace the window (they measure
    /// this model); the levels and the rolling errors of what was shown continue.
    pub fn adopt(&mut self, model: &TtmModel) {
        if model.trained_through != self.model {
            self.scores = ScoreWindow::seeded(&model.recent_scores);
            self.model = model.trained_through;
        }
    }

    /// The adaptive interval's (lower, upper) widths for `model` (its calibration scores if
    /// it is newer than the window, its static widths while the window is short).
    pub fn widths(&self, model: &TtmModel) -> (f64, f64) {
        let fresh;
        let scores = if model.trained_through == self.model {
            &self.scores
        } else {
            fresh = ScoreWindow::seeded(&model.recent_scores);
            &fresh
        };
        scores
            .widths(&self.aci)
            .unwrap_or_else(|| model.static_widths())
    }

    /// The prediction for change `number` at `at` with the adaptive interval (adopting `model`
    /// if it is new), recorded if it is the change's first; `median_hours` is the running
    /// median then.
    pub fn predict(
        &mut self,
        model: &TtmModel,
        number: u64,
        f: &TtmFeatures,
        at: i64,
        median_hours: Option<f64>,
    ) -> Prediction {
        self.adopt(model);
        let p = model.predict_with(f, self.widths(model));
        self.issue(
            number,
            Issued {
                at,
                p10_hours: p.p10_hours,
                p50_hours: p.p50_hours,
                p90_hours: p.p90_hours,
                median_hours,
                raw: model.raw(f),
                model: model.trained_through,
            },
        );
        p
    }

    /// What to show now.
    pub fn choice(&self) -> Choice {
        self.errors.choice()
    }

    /// Records the first prediction of change `number` (later ones, and predictions that are
    /// not finite numbers, are ignored), and drops issued predictions older than
    /// [`PENDING_MAX_AGE`].
    pub fn issue(&mut self, number: u64, issued: Issued) {
        self.pending
            .retain(|_, p| p.at + PENDING_MAX_AGE >= issued.at);
        self.pending.entry(number).or_insert(issued);
    }

    /// Change `number` merged after `hours`: scores its issued prediction, moves the levels
    /// and the rolling errors. `None` when nothing was issued for it (or it was scored already).
    pub fn merged(&mut self, number: u64, hours: f64) -> Option<Outcome> {
        let p = self.pending.remove(&number)?;
        let y = to_log(hours);
        let outcome = Outcome {
            below: hours < p.p10_hours,
            above: hours > p.p90_hours,
            model_error: (to_log(p.p50_hours) - y).abs(),
            median_error: p.median_hours.map(|m| (to_log(m) - y).abs()),
        };
        self.aci.update(outcome.below, outcome.above);
        if p.model == self.model {
            self.scores.push(p.raw.lo - y, y - p.raw.hi);
        }
        if let Some(m) = outcome.median_error {
            self.errors.push(outcome.model_error, m);
        }
        Some(outcome)
    }

    /// Change `number` closed without merging: its prediction is never scored.
    pub fn closed(&mut self, number: u64) {
        self.pending.remove(&number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(at: i64, lo: f64, mid: f64, hi: f64, median: f64) -> Issued {
        Issued {
            at,
            p10_hours: lo,
            p50_hours: mid,
            p90_hours: hi,
            median_hours: Some(median),
            raw: RawQuantiles {
                lo: to_log(lo),
                mid: to_log(mid),
                hi: to_log(hi),
            },
            model: 0,
        }
    }

    #[test]
    fn merges_score_the_first_prediction_once() {
        let mut s = OnlineState::default();
        s.issue(7, issued(0, 1.0, 5.0, 10.0, 20.0));
        // A later prediction of the same change does not replace the first.
        s.issue(7, issued(10, 100.0, 200.0, 300.0, 20.0));
        let o = s.merged(7, 30.0).unwrap();
        assert!(o.above && !o.below);
        assert!((o.model_error - (to_log(30.0) - to_log(5.0))).abs() < 1e-12);
        assert!((o.median_error.unwrap() - (to_log(30.0) - to_log(20.0))).abs() < 1e-12);
        assert_eq!(s.aci.observed, 1);
        assert!(s.aci.alpha_hi < s.aci.target && s.aci.alpha_lo > s.aci.target);
        assert_eq!(s.errors.evidence().n, 1);
        assert_eq!(s.scores.len(), 1);
        // Scored once; a change closed unmerged is never scored.
        assert!(s.merged(7, 30.0).is_none());
        s.issue(8, issued(20, 1.0, 2.0, 3.0, 2.0));
        s.closed(8);
        assert!(s.merged(8, 2.0).is_none());
        // Very old issued predictions are dropped.
        s.issue(9, issued(30, 1.0, 2.0, 3.0, 2.0));
        s.issue(10, issued(30 + PENDING_MAX_AGE + 1, 1.0, 2.0, 3.0, 2.0));
        assert_eq!(s.pending.keys().copied().collect::<Vec<_>>(), vec![10]);
        // Stored and read back, it continues where it was (JSON may round the last digit).
        let back: OnlineState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(
            (&back.aci, &back.pending, back.model),
            (&s.aci, &s.pending, s.model)
        );
        assert_eq!(back.scores.len(), 1);
        let (a, b) = (back.errors.evidence(), s.errors.evidence());
        assert!(a.n == b.n && (a.model_mae - b.model_mae).abs() < 1e-12);
    }
}
