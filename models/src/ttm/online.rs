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
    /// The lower side's level has moved for it already: the change was still open at the
    /// interval's lower end, so it cannot fall below it ([`OnlineState::tick`]).
    #[serde(default)]
    pub settled_lo: bool,
    /// The upper side's level has moved for it already: the change was still open past the
    /// interval's upper end, so it falls above it ([`OnlineState::tick`]).
    #[serde(default)]
    pub settled_hi: bool,
}

impl Issued {
    /// A lower bound of the first time [`OnlineState::tick`] may settle one of its sides
    /// (`i64::MAX` when both are settled).
    fn next_due(&self) -> i64 {
        let at = |hours: f64| self.at.saturating_add((hours * 3600.0).floor() as i64);
        let lo = if self.settled_lo {
            i64::MAX
        } else {
            at(self.p10_hours)
        };
        let hi = if self.settled_hi {
            i64::MAX
        } else {
            at(self.p90_hours)
        };
        lo.min(hi)
    }

    /// Whether the change, still open at `now`, is known not to fall below the interval:
    /// `now` is at least the lower end after the prediction (hours to merge count from the
    /// opening, at or before the prediction, so this never says so too early).
    fn past_lo(&self, now: i64) -> bool {
        (now - self.at) as f64 >= self.p10_hours * 3600.0
    }

    /// Whether the change, still open at `now`, is known to fall above the interval.
    fn past_hi(&self, now: i64) -> bool {
        (now - self.at) as f64 > self.p90_hours * 3600.0
    }
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
    /// Conformity scores of the latest merges, whichever model predicted them; once it holds
    /// [`MIN_WINDOW`](super::aci::MIN_WINDOW) they set the widths, across retrainings.
    #[serde(default)]
    pub merged_scores: ScoreWindow,
    /// `trained_through` of the model in force.
    pub model: i64,
    /// Model vs running median on recent merges.
    pub errors: RollingError,
    /// First prediction of each open change, by number.
    pub pending: BTreeMap<u64, Issued>,
    /// What [`OnlineState::rollback`] restores (not stored, not compared).
    #[serde(skip)]
    journal: Journal,
    /// A lower bound of the `at` of every `pending` entry (not stored, not compared).
    #[serde(skip)]
    floor: Floor,
    /// A lower bound of the time at which [`OnlineState::tick`] has a side to settle (not
    /// stored, not compared).
    #[serde(skip)]
    due: Floor,
}

/// A lower bound of the issue times of a state's pending predictions, so that issuing one
/// looks for expired ones only when some may be (the look costs every open change); `None`
/// when not known (a state just read, or rolled back), `i64::MAX` when none is pending.
#[derive(Debug, Clone, Copy, Default)]
struct Floor(Option<i64>);

/// A floor says nothing about the state: two states are equal whatever their floors.
impl PartialEq for Floor {
    fn eq(&self, _: &Floor) -> bool {
        true
    }
}

/// The changes to a state since [`OnlineState::begin`]: its small parts as they were, and the
/// previous value of every `pending` entry changed since, oldest first.
#[derive(Debug, Clone, Default)]
struct Journal(Option<Box<Undo>>);

#[derive(Debug, Clone)]
struct Undo {
    aci: Aci,
    scores: ScoreWindow,
    merged_scores: ScoreWindow,
    model: i64,
    errors: RollingError,
    pending: Vec<(u64, Option<Issued>)>,
}

/// A journal says nothing about the state: two states are equal whatever their journals.
impl PartialEq for Journal {
    fn eq(&self, _: &Journal) -> bool {
        true
    }
}

impl OnlineState {
    /// A fresh state for a repository's first model: the levels at their target with step
    /// `gamma`, scores and rolling errors from the model's calibration changes.
    pub fn for_model(model: &TtmModel, gamma: f64) -> OnlineState {
        OnlineState {
            aci: Aci::new(super::aci::TARGET, gamma),
            scores: ScoreWindow::seeded(&model.recent_scores),
            merged_scores: ScoreWindow::default(),
            model: model.trained_through,
            errors: RollingError::seeded(&model.evidence),
            pending: BTreeMap::new(),
            journal: Journal::default(),
            floor: Floor::default(),
            due: Floor::default(),
        }
    }

    /// Starts recording changes, so that [`OnlineState::rollback`] can undo them at the cost
    /// of what changed (a copy of the state costs every open change's prediction).
    pub fn begin(&mut self) {
        self.journal = Journal(Some(Box::new(Undo {
            aci: self.aci.clone(),
            scores: self.scores.clone(),
            merged_scores: self.merged_scores.clone(),
            model: self.model,
            errors: self.errors.clone(),
            pending: Vec::new(),
        })));
    }

    /// Keeps the changes since [`OnlineState::begin`] and stops recording.
    pub fn commit(&mut self) {
        self.journal = Journal::default();
    }

    /// Puts the state back as it was at [`OnlineState::begin`] (nothing happens when it was
    /// not begun) and stops recording.
    pub fn rollback(&mut self) {
        let Some(undo) = self.journal.0.take() else {
            return;
        };
        let Undo {
            aci,
            scores,
            merged_scores,
            model,
            errors,
            pending,
        } = *undo;
        (self.aci, self.scores, self.model, self.errors) = (aci, scores, model, errors);
        self.merged_scores = merged_scores;
        // Entries put back may be older than the floor, or have sides to settle again.
        self.floor = Floor(None);
        self.due = Floor(None);
        for (number, old) in pending.into_iter().rev() {
            match old {
                Some(p) => self.pending.insert(number, p),
                None => self.pending.remove(&number),
            };
        }
    }

    /// Notes the value of `pending[number]` before a change, when recording.
    fn note(&mut self, number: u64) {
        if let Some(undo) = self.journal.0.as_mut() {
            undo.pending
                .push((number, self.pending.get(&number).copied()));
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

    /// The adaptive interval's (lower, upper) widths for `model`: from the latest merges'
    /// scores once there are [`MIN_WINDOW`](super::aci::MIN_WINDOW) of them; before, from the model's calibration
    /// scores and the merges it predicted (its calibration scores alone if it is newer than the
    /// window; its static widths while the window is short).
    pub fn widths(&self, model: &TtmModel) -> (f64, f64) {
        if let Some(w) = self.merge_widths() {
            return w;
        }
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

    /// The widths from the latest merges' scores, once there are enough of them.
    fn merge_widths(&self) -> Option<(f64, f64)> {
        self.merged_scores.widths(&self.aci)
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
        let raw = model.raw(f);
        let p = model.predict_from(f, &raw, self.widths(model));
        self.issue(
            number,
            Issued {
                at,
                p10_hours: p.p10_hours,
                p50_hours: p.p50_hours,
                p90_hours: p.p90_hours,
                median_hours,
                raw,
                model: model.trained_through,
                settled_lo: false,
                settled_hi: false,
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
        let may_expire = self
            .floor
            .0
            .is_none_or(|f| f.saturating_add(PENDING_MAX_AGE) < issued.at);
        if may_expire {
            let expired: Vec<u64> = self
                .pending
                .iter()
                .filter(|(_, p)| p.at + PENDING_MAX_AGE < issued.at)
                .map(|(n, _)| *n)
                .collect();
            for n in expired {
                self.forget(n);
            }
            let oldest = self.pending.values().map(|p| p.at).min();
            self.floor = Floor(Some(oldest.unwrap_or(i64::MAX)));
        }
        if !self.pending.contains_key(&number) {
            self.note(number);
            self.pending.insert(number, issued);
            self.floor = Floor(self.floor.0.map(|f| f.min(issued.at)));
            self.due = Floor(self.due.0.map(|d| d.min(issued.next_due())));
        }
    }

    /// Time has reached `now` (epoch seconds) with the open changes still open: each side's
    /// level moves as soon as the outcome on that side is known — a change still open at the
    /// interval's lower end will not fall below it (a hit), one still open past its upper end
    /// will fall above it (a miss). Without this the upper side learns of a burst of slow
    /// merges only when they finally merge, weeks after the intervals that missed them were
    /// issued. Call it before [`OnlineState::predict`] and [`OnlineState::merged`] with the
    /// time of the event; the level's total movement is the same, only sooner.
    pub fn tick(&mut self, now: i64) {
        if self.due.0.is_some_and(|d| now < d) {
            return;
        }
        let due: Vec<(u64, bool, bool)> = self
            .pending
            .iter()
            .filter_map(|(n, p)| {
                let lo = !p.settled_lo && p.past_lo(now);
                let hi = !p.settled_hi && p.past_hi(now);
                (lo || hi).then_some((*n, lo, hi))
            })
            .collect();
        for (n, lo, hi) in due {
            self.note(n);
            let Some(p) = self.pending.get_mut(&n) else {
                continue;
            };
            if lo {
                p.settled_lo = true;
                self.aci.step_lo(false);
            }
            if hi {
                p.settled_hi = true;
                self.aci.step_hi(true);
            }
        }
        let next = self.pending.values().map(Issued::next_due).min();
        self.due = Floor(Some(next.unwrap_or(i64::MAX)));
    }

    /// Drops an issued prediction unscored, taking back the steps [`OnlineState::tick`] made
    /// for it.
    fn forget(&mut self, number: u64) {
        self.note(number);
        if let Some(p) = self.pending.remove(&number) {
            if p.settled_lo {
                self.aci.unstep_lo(false);
            }
            if p.settled_hi {
                self.aci.unstep_hi(true);
            }
        }
    }

    /// Change `number` merged after `hours`: scores its issued prediction, moves the levels
    /// (the sides [`OnlineState::tick`] has not moved yet) and the rolling errors. `None` when
    /// nothing was issued for it (or it was scored already).
    pub fn merged(&mut self, number: u64, hours: f64) -> Option<Outcome> {
        self.note(number);
        let p = self.pending.remove(&number)?;
        let y = to_log(hours);
        let outcome = Outcome {
            below: hours < p.p10_hours,
            above: hours > p.p90_hours,
            model_error: (to_log(p.p50_hours) - y).abs(),
            median_error: p.median_hours.map(|m| (to_log(m) - y).abs()),
        };
        if !p.settled_lo {
            self.aci.step_lo(outcome.below);
        }
        if !p.settled_hi {
            self.aci.step_hi(outcome.above);
        }
        self.aci.observed += 1;
        if p.model == self.model {
            self.scores.push(p.raw.lo - y, y - p.raw.hi);
        }
        self.merged_scores.push(p.raw.lo - y, y - p.raw.hi);
        if let Some(m) = outcome.median_error {
            self.errors.push(outcome.model_error, m);
        }
        Some(outcome)
    }

    /// Change `number` closed without merging: its prediction is never scored (steps already
    /// made for it by [`OnlineState::tick`] are taken back).
    pub fn closed(&mut self, number: u64) {
        self.forget(number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ttm::features::from_log;

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
            settled_lo: false,
            settled_hi: false,
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
        assert_eq!((&back.pending, back.model), (&s.pending, s.model));
        assert_eq!(
            (back.aci.observed, back.aci.gamma),
            (s.aci.observed, s.aci.gamma)
        );
        assert!((back.aci.alpha_lo - s.aci.alpha_lo).abs() < 1e-12);
        assert!((back.aci.alpha_hi - s.aci.alpha_hi).abs() < 1e-12);
        assert_eq!(back.scores.len(), 1);
        let (a, b) = (back.errors.evidence(), s.errors.evidence());
        assert!(a.n == b.n && (a.model_mae - b.model_mae).abs() < 1e-12);
    }

    #[test]
    fn merges_set_the_widths_across_retrainings_once_there_are_enough() {
        let mut s = OnlineState::default();
        for i in 0..40u64 {
            let mut p = issued(i as i64, 1.0, 5.0, 10.0, 5.0);
            p.model = i as i64;
            s.model = p.model;
            s.issue(i, p);
            if i == 9 {
                assert!(s.merge_widths().is_none(), "fewer than MIN_WINDOW merges");
            }
            // Every other change merges after a retraining.
            if i % 2 == 0 {
                s.model += 1;
            }
            // Each merges at ln(1 + hours) 2 above its upper end.
            s.merged(i, from_log(to_log(10.0) + 2.0));
        }
        // Scores of the model in force only: half of them. Of every merge: all forty.
        assert_eq!(s.scores.len(), 20);
        assert_eq!(s.merged_scores.len(), 40);
        let (lo, hi) = s.merge_widths().unwrap();
        assert!((hi - 2.0).abs() < 1e-9 && lo < 0.0, "({lo}, {hi})");
        let back: OnlineState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back.merged_scores.len(), 40);
        // A state stored before the field existed reads back with an empty window.
        let mut old = serde_json::to_value(&s).unwrap();
        old.as_object_mut().unwrap().remove("merged_scores");
        let old: OnlineState = serde_json::from_value(old).unwrap();
        assert!(old.merged_scores.is_empty());
    }

    #[test]
    fn levels_move_as_soon_as_a_side_is_known_and_end_where_merges_alone_would() {
        let h = 3600;
        let mut s = OnlineState::default();
        let mut late = OnlineState::default();
        for st in [&mut s, &mut late] {
            st.issue(1, issued(0, 1.0, 5.0, 10.0, 5.0));
            st.issue(2, issued(0, 1.0, 5.0, 10.0, 5.0));
            st.issue(3, issued(0, 1.0, 5.0, 10.0, 5.0));
        }
        let (lo0, hi0) = (s.aci.alpha_lo, s.aci.alpha_hi);
        // Half an hour in: nothing is known yet.
        s.tick(h / 2);
        assert_eq!((s.aci.alpha_lo, s.aci.alpha_hi), (lo0, hi0));
        // Two hours in, all three are past the lower end: three hits below.
        s.tick(2 * h);
        assert!(s.aci.alpha_lo > lo0 && s.aci.alpha_hi == hi0);
        // Eleven hours in, past the upper end: three misses above, before any merge.
        s.tick(11 * h);
        assert!(s.aci.alpha_hi < hi0);
        assert_eq!(s.aci.observed, 0);
        // Ticking again changes nothing; the merges only count once each.
        let after = s.aci.clone();
        s.tick(12 * h);
        assert_eq!(s.aci, after);
        for st in [&mut s, &mut late] {
            st.merged(1, 30.0).unwrap();
            st.merged(2, 40.0).unwrap();
        }
        // Change 3 closes unmerged: its early steps are taken back, as if never issued.
        s.closed(3);
        late.closed(3);
        assert!((s.aci.alpha_lo - late.aci.alpha_lo).abs() < 1e-12);
        assert!((s.aci.alpha_hi - late.aci.alpha_hi).abs() < 1e-12);
        assert_eq!(s.aci.observed, 2);
        // A rollback restores the settled marks with the levels.
        let mut r = OnlineState::default();
        r.issue(4, issued(0, 1.0, 5.0, 10.0, 5.0));
        let before = r.clone();
        r.begin();
        r.tick(11 * h);
        assert_ne!(r, before);
        r.rollback();
        assert_eq!(r, before);
    }

    #[test]
    fn a_rollback_undoes_every_change_since_begin_and_a_commit_keeps_them() {
        let mut s = OnlineState::default();
        s.issue(1, issued(0, 1.0, 5.0, 10.0, 20.0));
        s.issue(2, issued(10, 1.0, 2.0, 3.0, 2.0));
        s.issue(3, issued(20, 1.0, 2.0, 3.0, 2.0));
        let before = s.clone();
        s.begin();
        s.merged(1, 30.0).unwrap();
        s.closed(2);
        s.issue(4, issued(30 + PENDING_MAX_AGE, 1.0, 2.0, 3.0, 2.0)); // drops 3 as too old
        s.issue(1, issued(40 + PENDING_MAX_AGE, 1.0, 2.0, 3.0, 2.0)); // 1 again, after its merge
        assert_eq!(s.pending.keys().copied().collect::<Vec<_>>(), vec![1, 4]);
        assert_ne!(s, before);
        s.rollback();
        assert_eq!(s, before);
        assert_eq!(s.pending, before.pending);
        assert_eq!(s.aci, before.aci);
        // Committed changes stay; a rollback without a begin changes nothing.
        s.begin();
        s.closed(3);
        s.commit();
        s.rollback();
        assert_eq!(s.pending.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn expired_predictions_are_dropped_whatever_the_state_went_through() {
        // The floor that spares the look for expired predictions must never hide one: after
        // issues, merges, a rollback that puts old entries back, and a state read back.
        let day = 86_400;
        let mut s = OnlineState::default();
        s.issue(1, issued(100 * day, 1.0, 2.0, 3.0, 2.0));
        s.issue(2, issued(200 * day, 1.0, 2.0, 3.0, 2.0));
        s.begin();
        s.merged(2, 5.0);
        s.issue(3, issued(300 * day, 1.0, 2.0, 3.0, 2.0));
        s.closed(1);
        s.rollback();
        assert_eq!(s.pending.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        s.issue(
            4,
            issued(100 * day + PENDING_MAX_AGE + 1, 1.0, 2.0, 3.0, 2.0),
        );
        assert_eq!(s.pending.keys().copied().collect::<Vec<_>>(), vec![2, 4]);
        let mut back: OnlineState =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        back.issue(
            5,
            issued(200 * day + PENDING_MAX_AGE + 1, 1.0, 2.0, 3.0, 2.0),
        );
        assert_eq!(back.pending.keys().copied().collect::<Vec<_>>(), vec![4, 5]);
        // Later issues within the age keep everything.
        back.issue(6, issued(210 * day + PENDING_MAX_AGE, 1.0, 2.0, 3.0, 2.0));
        assert_eq!(back.pending.len(), 3);
    }

    #[test]
    fn ticks_spared_by_the_due_bound_settle_exactly_what_a_full_look_settles() {
        // Seeded random sequences of issues, ticks, merges, closes, rollbacks and states read
        // back: a state using its bound and one that always looks at every open change must
        // stay equal (levels, pending sides, scores).
        let mut x: u64 = 0x5eed_2026;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..200 {
            let (mut fast, mut full) = (OnlineState::default(), OnlineState::default());
            let mut now: i64 = 1_000_000;
            for _ in 0..60 {
                now += (next(40) * 1800) as i64;
                let n = next(12);
                match next(7) {
                    0 | 1 => {
                        let lo = 0.5 + next(20) as f64;
                        let hi = lo + 1.0 + next(60) as f64;
                        let p = issued(now, lo, (lo + hi) / 2.0, hi, lo + 1.0);
                        fast.issue(n, p);
                        full.issue(n, p);
                    }
                    2 | 3 => {
                        full.due = Floor(None);
                        fast.tick(now);
                        full.tick(now);
                    }
                    4 => {
                        let h = next(80) as f64;
                        assert_eq!(fast.merged(n, h), full.merged(n, h));
                    }
                    5 => {
                        fast.closed(n);
                        full.closed(n);
                    }
                    _ => {
                        if next(2) == 0 {
                            fast.begin();
                            full.begin();
                        } else if next(2) == 0 {
                            fast.rollback();
                            full.rollback();
                        } else {
                            // Both read back (JSON keeps floats to the last digit only).
                            let back = |s: &OnlineState| -> OnlineState {
                                serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap()
                            };
                            (fast, full) = (back(&fast), back(&full));
                        }
                    }
                }
                assert_eq!(fast, full);
            }
        }
    }
}
