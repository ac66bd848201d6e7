//! The repository's running median of time to merge: the 10th, 50th and 90th percentiles of its
//! latest merges before a moment. It is the bar the model must clear, and what users see (labelled
//! as such) when the model does not clear it.
//!
//! The window is the last [`WINDOW`] merges: on the development repositories it was the strongest
//! of the simple variants tried (all history, 90 days, last 25/50/100/200 merges; see
//! docs/models.md).

use std::collections::HashMap;

use serde::Serialize;

use super::features::{N, idx};
use super::record::PrRecord;
use crate::gbt::quantile;

/// Merges the running median looks back over.
pub const WINDOW: usize = 100;

/// Fewest earlier merges for a running median at all.
pub const MIN_MERGES: usize = 1;

/// Merges the short-window median looks back over ([`Pace::short_median_log`]).
pub const SHORT_WINDOW: usize = 20;

/// Fewest earlier merges for a short-window median.
pub const SHORT_MIN_MERGES: usize = 5;

/// The repository's recent pace at a moment, from its merges before it: the pace features.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// ln(1 + hours) of the median of the last [`SHORT_WINDOW`] merges (NaN with fewer than
    /// [`SHORT_MIN_MERGES`]).
    pub short_median_log: f64,
    /// ln(1 + hours) since the latest merge (NaN without one).
    pub since_last_merge_log: f64,
    /// Merges in the 7 days before the moment.
    pub merges_last_week: f64,
}

impl Pace {
    /// Writes the pace into its features' places of a feature vector.
    pub fn fill(&self, f: &mut [f64; N]) {
        f[idx::SHORT_MEDIAN] = self.short_median_log;
        f[idx::SINCE_LAST_MERGE] = self.since_last_merge_log;
        f[idx::MERGES_WEEK] = self.merges_last_week;
    }
}

/// The running median's distribution at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// 10th percentile, hours.
    pub p10_hours: f64,
    /// Median, hours.
    pub p50_hours: f64,
    /// 90th percentile, hours.
    pub p90_hours: f64,
    /// Merges it rests on.
    pub n: usize,
}

/// A repository's merges in merge-time order, for the running median at any moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunningMedian {
    /// (merged at, hours to merge), by merge time.
    merges: Vec<(i64, f64)>,
}

impl RunningMedian {
    /// From (merged at epoch seconds, hours to merge) pairs in any order.
    pub fn new(mut merges: Vec<(i64, f64)>) -> RunningMedian {
        merges.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        RunningMedian { merges }
    }

    /// Each repository's running median over the merges among `records` (at a moment it reads
    /// only the merges before it).
    pub fn by_repo(records: &[PrRecord]) -> HashMap<&str, RunningMedian> {
        let mut merges: HashMap<&str, Vec<(i64, f64)>> = HashMap::new();
        for r in records {
            if let (Some(m), Some(h)) = (r.merged_at, r.hours_to_merge()) {
                merges.entry(r.repo.as_str()).or_default().push((m, h));
            }
        }
        merges
            .into_iter()
            .map(|(k, v)| (k, RunningMedian::new(v)))
            .collect()
    }

    /// Adds one merge (in the order [`RunningMedian::new`] gives).
    pub fn push(&mut self, merged_at: i64, hours: f64) {
        let pos = self
            .merges
            .partition_point(|(m, h)| m.cmp(&merged_at).then(h.total_cmp(&hours)).is_le());
        self.merges.insert(pos, (merged_at, hours));
    }

    /// Takes out one merge added before (when a change's merge turns out otherwise).
    pub fn remove(&mut self, merged_at: i64, hours: f64) {
        if let Some(pos) = self
            .merges
            .iter()
            .position(|(m, h)| *m == merged_at && h.total_cmp(&hours).is_eq())
        {
            self.merges.remove(pos);
        }
    }

    /// Merges known.
    pub fn len(&self) -> usize {
        self.merges.len()
    }

    /// Whether no merge is known.
    pub fn is_empty(&self) -> bool {
        self.merges.is_empty()
    }

    /// The last [`WINDOW`] merges completed strictly before `t` (epoch seconds), as hours.
    fn window_before(&self, t: i64) -> Vec<f64> {
        let end = self.merges.partition_point(|(m, _)| *m < t);
        let start = end.saturating_sub(WINDOW);
        self.merges[start..end].iter().map(|(_, h)| *h).collect()
    }

    /// The repository's recent pace from its merges strictly before `t`.
    pub fn pace_at(&self, t: i64) -> Pace {
        let end = self.merges.partition_point(|(m, _)| *m < t);
        let before = &self.merges[..end];
        let mut short: Vec<f64> = before[end.saturating_sub(SHORT_WINDOW)..]
            .iter()
            .map(|(_, h)| *h)
            .collect();
        let week = before.partition_point(|(m, _)| *m < t - 7 * 86_400);
        Pace {
            short_median_log: if short.len() >= SHORT_MIN_MERGES {
                quantile(&mut short, 0.5).max(0.0).ln_1p()
            } else {
                f64::NAN
            },
            since_last_merge_log: before
                .last()
                .map_or(f64::NAN, |(m, _)| ((t - m).max(0) as f64 / 3600.0).ln_1p()),
            merges_last_week: (end - week) as f64,
        }
    }

    /// The spread of the last [`WINDOW`] merges before `t`; `None` with fewer than
    /// [`MIN_MERGES`].
    pub fn at(&self, t: i64) -> Option<Spread> {
        let mut w = self.window_before(t);
        if w.len() < MIN_MERGES {
            return None;
        }
        Some(Spread {
            p10_hours: quantile(&mut w, 0.1),
            p50_hours: quantile(&mut w, 0.5),
            p90_hours: quantile(&mut w, 0.9),
            n: w.len(),
        })
    }

    /// The median alone, hours (see [`RunningMedian::at`]).
    pub fn median_at(&self, t: i64) -> Option<f64> {
        self.at(t).map(|s| s.p50_hours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_reads_only_the_merges_before_the_moment() {
        let h = 3600;
        // 30 merges an hour apart: the first ten took 100 hours, the rest 2 hours.
        let merges: Vec<(i64, f64)> = (0..30)
            .map(|i| (i * h, if i < 10 { 100.0 } else { 2.0 }))
            .collect();
        let rm = RunningMedian::new(merges);
        let p = rm.pace_at(30 * h);
        assert!((p.short_median_log - 2f64.ln_1p()).abs() < 1e-12);
        assert!((p.since_last_merge_log - 1f64.ln_1p()).abs() < 1e-12);
        assert_eq!(p.merges_last_week, 30.0);
        // At the moment of the 5th merge only four are known: too few for a short median.
        let early = rm.pace_at(4 * h);
        assert!(early.short_median_log.is_nan());
        assert_eq!(early.merges_last_week, 4.0);
        // Nothing before the first merge; a week later the week is empty.
        assert!(rm.pace_at(0).since_last_merge_log.is_nan());
        assert_eq!(rm.pace_at(29 * h + 8 * 24 * h).merges_last_week, 0.0);
        let mut f = [f64::NAN; N];
        p.fill(&mut f);
        assert_eq!(f[idx::MERGES_WEEK], 30.0);
    }

    #[test]
    fn looks_at_the_last_hundred_merges_strictly_before_the_moment() {
        // 150 merges at t = 0..150 taking 0..150 hours, given out of order.
        let mut merges: Vec<(i64, f64)> = (0..150).map(|i| (i, i as f64)).collect();
        merges.reverse();
        let rm = RunningMedian::new(merges);
        assert_eq!(rm.len(), 150);
        assert!(rm.at(0).is_none(), "nothing merged before the first merge");
        let s = rm.at(5).unwrap();
        assert_eq!((s.n, s.p50_hours), (5, 2.0));
        // Before t = 150: merges 50..149, median 99.5.
        let s = rm.at(150).unwrap();
        assert_eq!(s.n, WINDOW);
        assert_eq!(s.p50_hours, 99.5);
        assert!((s.p10_hours - 59.9).abs() < 1e-9 && (s.p90_hours - 139.1).abs() < 1e-9);
        // A merge at exactly t is not known at t.
        let mut rm2 = rm.clone();
        rm2.push(150, 1e6);
        assert_eq!(rm2.at(150), rm.at(150));
        assert_eq!(rm2.median_at(151), Some(100.5));
    }
}
