//! How sure a repository's goals are: 95% paired bootstrap intervals of the model's log-MAE
//! ratio to the running median (and of what was shown), of its coverage and of its bucket
//! macro-F1 difference to the AI4CI-style classifier, and a verdict per goal — met or missed
//! only when the whole interval is on that side of the bar, else undecided.

use serde::Serialize;

use crate::bootstrap::bootstrap;
use crate::ttm::eval::accuracy_and_macro_f1;

/// The log-MAE goal: the model's log-MAE at most this share of the running median's.
pub const LOG_MAE_BAR: f64 = 0.95;

/// The coverage goal: the adaptive 10–90% interval's coverage inside this band.
pub const COVERAGE_BAND: (f64, f64) = (0.75, 0.85);

/// A figure and its 95% bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// The figure on all the merged test changes.
    pub value: f64,
    /// 2.5th and 97.5th percentiles over 1,000 resamples of those changes (seed 18).
    pub ci: [f64; 2],
}

/// Whether a goal was met, counting the noise of a small test window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The figure meets the goal and so does its whole interval.
    Met,
    /// The figure misses the goal and so does its whole interval.
    Missed,
    /// The interval reaches both sides of the bar: the window cannot tell.
    Undecided,
}

/// A verdict per goal of issue 17.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Verdicts {
    /// Log-MAE at most 0.95 × the running median's.
    pub log_mae: Verdict,
    /// Coverage of the adaptive interval in [0.75, 0.85].
    pub coverage: Verdict,
    /// Bucket macro-F1 at least the AI4CI-style classifier's (`None` when it was not trained).
    pub bucket: Option<Verdict>,
}

/// The goals' figures with their intervals (in `Figures`, so in the JSON report).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Intervals {
    /// The model's log-MAE over the running median's.
    pub log_mae_ratio: Interval,
    /// The log-MAE of what was shown (the fallback's choice) over the running median's.
    pub served_log_mae_ratio: Interval,
    /// Share inside the adaptive 10–90% interval.
    pub coverage_10_90: Interval,
    /// The model's bucket macro-F1 minus the AI4CI-style classifier's (`None`: not trained).
    pub bucket_macro_f1_diff: Option<Interval>,
    /// A verdict per goal.
    pub verdicts: Verdicts,
}

/// What the intervals resample, one entry per merged test change (all the same length).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GoalRows {
    /// |ln(1 + hours) − ln(1 + the model's median)|.
    pub model_error: Vec<f64>,
    /// The same for the running median.
    pub median_error: Vec<f64>,
    /// The same for what was shown.
    pub served_error: Vec<f64>,
    /// Inside the adaptive 10–90% interval.
    pub covered: Vec<bool>,
    /// AI4CI bucket of the time to merge.
    pub actual_bucket: Vec<usize>,
    /// The model's bucket.
    pub model_bucket: Vec<usize>,
    /// The AI4CI-style classifier's bucket, when it was trained.
    pub clf_bucket: Option<Vec<usize>>,
}

/// Mean of `x` over the items `ix`, summed in their order (as `eval::metrics` sums).
fn mean_of(x: &[f64], ix: impl Iterator<Item = usize>, n: usize) -> f64 {
    ix.map(|i| x[i]).sum::<f64>() / n.max(1) as f64
}

/// Mean-error ratio `num / den` over the items `ix` (the same items for both: paired).
fn ratio(num: &[f64], den: &[f64], ix: &[usize]) -> f64 {
    let n = ix.len();
    mean_of(num, ix.iter().copied(), n) / mean_of(den, ix.iter().copied(), n)
}

/// The figure and its interval of `stat` over `n` items.
fn interval(n: usize, stat: impl Fn(&[usize]) -> f64) -> Interval {
    let all: Vec<usize> = (0..n).collect();
    Interval {
        value: stat(&all),
        ci: bootstrap(n, stat),
    }
}

/// At most `bar` (or, `lower_is_better` false, at least): met, missed or undecided.
fn against_bar(i: &Interval, bar: f64, lower_is_better: bool) -> Verdict {
    let [lo, hi] = i.ci;
    let (meets, all_meet, all_miss) = if lower_is_better {
        (i.value <= bar, hi <= bar, lo > bar)
    } else {
        (i.value >= bar, lo >= bar, hi < bar)
    };
    match (meets, all_meet, all_miss) {
        (true, true, _) => Verdict::Met,
        (false, _, true) if !i.value.is_nan() => Verdict::Missed,
        _ => Verdict::Undecided,
    }
}

/// Inside the band `(lo, hi)`: met, missed or undecided.
fn against_band(i: &Interval, (band_lo, band_hi): (f64, f64)) -> Verdict {
    let [lo, hi] = i.ci;
    let meets = band_lo <= i.value && i.value <= band_hi;
    if meets && band_lo <= lo && hi <= band_hi {
        Verdict::Met
    } else if !meets && !i.value.is_nan() && (hi < band_lo || lo > band_hi) {
        Verdict::Missed
    } else {
        Verdict::Undecided
    }
}

/// The intervals and verdicts of a walk's merged test changes, by a paired bootstrap: each
/// resample draws changes once and scores both the model and its baseline on them.
pub fn intervals(rows: &GoalRows) -> Intervals {
    let n = rows.model_error.len();
    let log_mae_ratio = interval(n, |ix| ratio(&rows.model_error, &rows.median_error, ix));
    let served_log_mae_ratio = interval(n, |ix| ratio(&rows.served_error, &rows.median_error, ix));
    let coverage_10_90 = interval(n, |ix| {
        ix.iter().filter(|&&i| rows.covered[i]).count() as f64 / ix.len().max(1) as f64
    });
    let bucket_macro_f1_diff = rows.clf_bucket.as_ref().map(|clf| {
        interval(n, |ix| {
            let actual: Vec<usize> = ix.iter().map(|&i| rows.actual_bucket[i]).collect();
            let model: Vec<usize> = ix.iter().map(|&i| rows.model_bucket[i]).collect();
            let other: Vec<usize> = ix.iter().map(|&i| clf[i]).collect();
            accuracy_and_macro_f1(&actual, &model, 10).1
                - accuracy_and_macro_f1(&actual, &other, 10).1
        })
    });
    Intervals {
        verdicts: Verdicts {
            log_mae: against_bar(&log_mae_ratio, LOG_MAE_BAR, true),
            coverage: against_band(&coverage_10_90, COVERAGE_BAND),
            bucket: bucket_macro_f1_diff
                .as_ref()
                .map(|d| against_bar(d, 0.0, false)),
        },
        log_mae_ratio,
        served_log_mae_ratio,
        coverage_10_90,
        bucket_macro_f1_diff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `n` changes whose running-median errors are exponential(1) and whose model errors are
    /// `scale` × independent draws of the same; all covered but every `miss_every`-th.
    fn rows(n: usize, scale: f64, seed: u64) -> GoalRows {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut exp = || -(1.0 - rng.random::<f64>()).ln();
        let median_error: Vec<f64> = (0..n).map(|_| exp()).collect();
        let model_error: Vec<f64> = (0..n).map(|_| scale * exp()).collect();
        GoalRows {
            served_error: model_error.clone(),
            model_error,
            median_error,
            covered: vec![true; n],
            actual_bucket: (0..n).map(|i| i % 10).collect(),
            model_bucket: (0..n).map(|i| i % 10).collect(),
            clf_bucket: None,
        }
    }

    /// `k` of `n` covered, spread through the window.
    fn covered(n: usize, k: usize) -> Vec<bool> {
        (0..n).map(|i| (i * k) % n < k).collect()
    }

    #[test]
    fn half_the_errors_meets_the_log_mae_goal_with_the_bar_outside_the_interval() {
        let i = intervals(&rows(150, 0.5, 1));
        let r = i.log_mae_ratio;
        assert!(r.value < 0.75, "{r:?}");
        assert!(r.ci[0] <= r.value && r.value <= r.ci[1], "{r:?}");
        assert!(r.ci[1] < LOG_MAE_BAR, "{r:?}");
        assert_eq!(i.verdicts.log_mae, Verdict::Met);
        assert_eq!(i.served_log_mae_ratio, r);
    }

    #[test]
    fn equal_errors_leave_the_log_mae_goal_undecided() {
        // Same distribution of errors, 80 changes: the ratio is near 1, the interval wide.
        let i = intervals(&rows(80, 1.0, 2));
        let r = i.log_mae_ratio;
        assert!(r.ci[0] < LOG_MAE_BAR && LOG_MAE_BAR < r.ci[1], "{r:?}");
        assert_eq!(i.verdicts.log_mae, Verdict::Undecided);
        // Twice the errors on 400 changes is a clear miss.
        assert_eq!(
            intervals(&rows(400, 2.0, 3)).verdicts.log_mae,
            Verdict::Missed
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_intervals() {
        let mut r = rows(120, 0.9, 4);
        r.covered = covered(120, 97);
        r.clf_bucket = Some((0..120).map(|i| (i / 3) % 10).collect());
        let a = intervals(&r);
        assert_eq!(a, intervals(&r));
        assert!(a.bucket_macro_f1_diff.is_some() && a.verdicts.bucket.is_some());
        // Another window of the same size draws the same resamples, not the same figures.
        assert_ne!(a, intervals(&rows(120, 0.9, 5)));
    }

    #[test]
    fn coverage_of_087_on_a_small_window_is_undecided_and_on_a_large_one_missed() {
        let mut r = rows(100, 0.5, 6);
        r.covered = covered(100, 87);
        let i = intervals(&r);
        assert!((i.coverage_10_90.value - 0.87).abs() < 1e-12);
        let [lo, hi] = i.coverage_10_90.ci;
        assert!(lo < COVERAGE_BAND.1 && 0.87 < hi, "{lo} {hi}");
        assert_eq!(i.verdicts.coverage, Verdict::Undecided);
        let mut r = rows(3000, 0.5, 7);
        r.covered = covered(3000, 2610);
        assert_eq!(intervals(&r).verdicts.coverage, Verdict::Missed);
        r.covered = covered(3000, 2400);
        assert_eq!(intervals(&r).verdicts.coverage, Verdict::Met);
    }

    #[test]
    fn the_bucket_difference_is_paired_and_absent_without_the_classifier() {
        let mut r = rows(200, 1.0, 8);
        assert_eq!(intervals(&r).bucket_macro_f1_diff, None);
        assert_eq!(intervals(&r).verdicts.bucket, None);
        // The model gets every bucket right; the classifier every other one.
        r.clf_bucket = Some(
            (0..200)
                .map(|i| if i % 2 == 0 { i % 10 } else { 0 })
                .collect(),
        );
        let i = intervals(&r);
        let d = i.bucket_macro_f1_diff.expect("the classifier was trained");
        assert!(d.value > 0.2 && d.ci[0] > 0.0, "{d:?}");
        assert_eq!(i.verdicts.bucket, Some(Verdict::Met));
        // Identical buckets: a difference of exactly 0 in every resample meets the bar.
        r.clf_bucket = Some(r.model_bucket.clone());
        assert_eq!(intervals(&r).verdicts.bucket, Some(Verdict::Met));
    }

    #[test]
    fn verdicts_follow_the_interval_not_the_figure_alone() {
        use Verdict::{Met, Missed, Undecided};
        let at = |(value, lo, hi): (f64, f64, f64)| Interval {
            value,
            ci: [lo, hi],
        };
        let nan = f64::NAN;
        // (figure, interval) against the log-MAE bar 0.95, lower is better.
        for (i, want) in [
            ((0.97, 0.90, 1.04), Undecided),
            ((0.90, 0.85, 0.94), Met),
            ((1.10, 0.96, 1.20), Missed),
            ((nan, nan, nan), Undecided),
        ] {
            assert_eq!(against_bar(&at(i), 0.95, true), want, "{i:?}");
        }
        // Against the coverage band 0.75-0.85.
        for (i, want) in [
            ((0.87, 0.80, 0.93), Undecided),
            ((0.80, 0.76, 0.84), Met),
            ((0.70, 0.66, 0.74), Missed),
            ((0.90, 0.86, 0.94), Missed),
        ] {
            assert_eq!(against_band(&at(i), COVERAGE_BAND), want, "{i:?}");
        }
    }
}
