//! Time-split evaluation of a stopping point: learned on a job's earlier runs, scored on its
//! later runs. What stopping there would have recovered (hours past `t*` in failed runs) and
//! what it would have cost (passing runs that ran past `t*`), with Wilson intervals, and how
//! well `P(success | still running)` predicted the later outcomes (Brier score).

use serde::{Deserialize, Serialize};

use super::{Curve, Learned, Method, NoStop, Outcome, Run, Settings, learn, pass_quantile};

/// What a stopping point would have done on a set of runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// The stopping point, seconds (`None`: never stop).
    pub stopping_point_s: Option<f64>,
    /// Hours failed runs ran past it.
    pub saved_hours: f64,
    /// Share of all failed-run hours that is.
    pub recovered_share: f64,
    /// Failed runs that ran past it.
    pub failed_past: usize,
    /// Passing runs that ran past it (would have been stopped).
    pub passing_past: usize,
    /// `passing_past` over passing runs.
    pub false_stop_share: f64,
    /// 95% Wilson interval of `false_stop_share`.
    pub false_stop_interval: (f64, f64),
}

/// Scores a stopping point on runs.
pub fn score(stop: Option<f64>, runs: &[Run]) -> Scored {
    let failed_hours = hours(runs, Outcome::Failure);
    let passing = durations(runs, Outcome::Success).count();
    let Some(t) = stop else {
        return Scored {
            false_stop_interval: wilson(0, passing),
            ..Scored::default()
        };
    };
    let past = |o: Outcome| {
        runs.iter()
            .filter(move |r| r.outcome == o && r.duration_secs > t)
    };
    // `+ 0.0`: an empty sum of f64 is −0.0.
    let saved_hours: f64 = past(Outcome::Failure)
        .map(|r| (r.duration_secs - t) / 3600.0)
        .sum::<f64>()
        + 0.0;
    let passing_past = past(Outcome::Success).count();
    Scored {
        stopping_point_s: Some(t),
        saved_hours,
        recovered_share: if failed_hours > 0.0 {
            saved_hours / failed_hours
        } else {
            0.0
        },
        failed_past: past(Outcome::Failure).count(),
        passing_past,
        false_stop_share: ratio(passing_past, passing),
        false_stop_interval: wilson(passing_past, passing),
    }
}

/// Durations of the runs that ended with `outcome`, seconds.
fn durations(runs: &[Run], outcome: Outcome) -> impl Iterator<Item = f64> + '_ {
    runs.iter()
        .filter(move |r| r.outcome == outcome)
        .map(|r| r.duration_secs)
}

/// Machine-hours of the runs that ended with `outcome`.
fn hours(runs: &[Run], outcome: Outcome) -> f64 {
    durations(runs, outcome).map(|d| d / 3600.0).sum()
}

/// The passing runs' quantile at the false-stop guard (none without a guard or a passing run).
fn guard_quantile(runs: &[Run], max_false_stop: Option<f64>) -> Option<f64> {
    let passing: Vec<f64> = durations(runs, Outcome::Success).collect();
    max_false_stop
        .filter(|_| !passing.is_empty())
        .map(|a| pass_quantile(&passing, a))
}

fn ratio(k: usize, n: usize) -> f64 {
    if n == 0 { 0.0 } else { k as f64 / n as f64 }
}

/// 95% Wilson score interval of k successes in n trials.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (z, nf) = (1.959_964f64, n as f64);
    let p = k as f64 / nf;
    let centre = (p + z * z / (2.0 * nf)) / (1.0 + z * z / nf);
    let half = z / (1.0 + z * z / nf) * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// One estimate's figures on the later runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodFigures {
    /// The estimate.
    pub method: Method,
    /// Its stopping point scored on the later runs.
    #[serde(flatten)]
    pub scored: Scored,
    /// Where its curve fell below the threshold, before the false-stop guard.
    pub below_threshold_s: Option<f64>,
    /// The same point scored without the guard.
    pub unguarded: Scored,
    /// Why no stopping point, when none.
    pub no_stop: Option<NoStop>,
    /// Brier score of `P(success | still running)` at the checkpoints of the later runs.
    pub brier: Option<f64>,
}

/// A job's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Runs with a known outcome.
    pub runs: usize,
    /// Earlier runs learned from.
    pub train_runs: usize,
    /// Later runs scored on.
    pub test_runs: usize,
    /// Start of the first later run (epoch seconds): every earlier run started before it.
    pub split_at: Option<i64>,
    /// Share of the later runs that failed.
    pub failure_share: f64,
    /// Failed later runs (the positives the saving rests on).
    pub test_failures: usize,
    /// Passing later runs (what the false-stop share rests on).
    pub test_successes: usize,
    /// Hours of all failed later runs.
    pub failed_hours: f64,
    /// The chosen estimate's figures.
    pub chosen: MethodFigures,
    /// The other estimate's figures.
    pub other: MethodFigures,
    /// Baseline: stop at the guard's passing quantile whatever the curve says.
    pub pass_quantile_baseline: Scored,
    /// Upper bound, not a method: the earliest point that keeps the later runs' own false-stop
    /// share within the guard (chosen with hindsight on the later runs).
    pub hindsight_at_guard: Scored,
    /// Brier score of the training base rate (ignores how long the run has gone).
    pub brier_base_rate: Option<f64>,
    /// AI4CI's rule on the same earlier runs: the last crossing of the fitted densities.
    pub ai4ci_density_crossing_s: Option<f64>,
    /// AI4CI's rule scored on the later runs.
    pub ai4ci_density_crossing: Scored,
}

/// Evaluates a job: runs sorted by start, the first `train_share` learned from, the rest scored.
pub fn evaluate(runs: &[Run], s: &Settings, train_share: f64) -> Evaluation {
    let mut sorted = runs.to_vec();
    sorted.sort_by_key(|r| r.started_at);
    let cut = ((sorted.len() as f64) * train_share.clamp(0.0, 1.0)).round() as usize;
    let (train, test) = sorted.split_at(cut.min(sorted.len()));
    let other_method = match s.method {
        Method::Smoothed => Method::Parametric,
        Method::Parametric => Method::Smoothed,
    };
    let checkpoints = checkpoints(train);
    let figures = |method: Method| {
        let learned = learn(train, &Settings { method, ..*s });
        method_figures(method, &learned, test, &checkpoints)
    };
    let baseline = guard_quantile(train, s.max_false_stop);
    let base_rate = ratio(durations(train, Outcome::Success).count(), train.len());
    let hindsight = guard_quantile(test, s.max_false_stop);
    let crossing = Curve::parametric(train).and_then(|c| {
        let mut d: Vec<f64> = train.iter().map(|r| r.duration_secs.max(1.0)).collect();
        d.sort_by(f64::total_cmp);
        c.density_crossing(&super::duration_grid(&d))
    });
    let test_failures = durations(test, Outcome::Failure).count();
    Evaluation {
        runs: sorted.len(),
        train_runs: train.len(),
        test_runs: test.len(),
        split_at: test.first().map(|r| r.started_at),
        failure_share: ratio(test_failures, test.len()),
        test_failures,
        test_successes: test.len() - test_failures,
        failed_hours: hours(test, Outcome::Failure),
        chosen: figures(s.method),
        other: figures(other_method),
        pass_quantile_baseline: score(baseline, test),
        hindsight_at_guard: score(hindsight, test),
        brier_base_rate: brier(|_| base_rate, test, &checkpoints),
        ai4ci_density_crossing_s: crossing,
        ai4ci_density_crossing: score(crossing, test),
    }
}

fn method_figures(
    method: Method,
    learned: &Learned,
    test: &[Run],
    checkpoints: &[f64],
) -> MethodFigures {
    let stop = learned.stop.as_ref().ok();
    MethodFigures {
        method,
        scored: score(stop.map(|p| p.secs), test),
        below_threshold_s: stop.map(|p| p.below_threshold_secs),
        unguarded: score(stop.map(|p| p.below_threshold_secs), test),
        no_stop: learned.stop.as_ref().err().cloned(),
        brier: learned
            .curve
            .as_ref()
            .and_then(|c| brier(|t| c.p_success(t), test, checkpoints)),
    }
}

/// Checkpoints for the Brier score: the 5th, 10th, … 95th percentiles of earlier durations.
fn checkpoints(train: &[Run]) -> Vec<f64> {
    let mut d: Vec<f64> = train.iter().map(|r| r.duration_secs).collect();
    d.sort_by(f64::total_cmp);
    if d.is_empty() {
        return Vec::new();
    }
    (1..20)
        .map(|i| d[((d.len() - 1) as f64 * i as f64 / 20.0).round() as usize])
        .collect()
}

/// Mean squared error of `p(t)` against the outcome, over every (later run, checkpoint) where
/// the run was still going at the checkpoint.
fn brier(p: impl Fn(f64) -> f64, test: &[Run], checkpoints: &[f64]) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for r in test {
        let y = if r.outcome == Outcome::Success {
            1.0
        } else {
            0.0
        };
        for t in checkpoints.iter().filter(|t| r.duration_secs > **t) {
            sum += (p(*t) - y).powi(2);
            n += 1;
        }
    }
    (n > 0).then(|| sum / n as f64)
}
