//! Optimal stopping point of a CI job. From the durations and outcomes of a job's past runs:
//! the probability that a run still going after `t` seconds ends in success,
//! `P(success | T > t) = n_s·S_s(t) / (n_s·S_s(t) + n_f·S_f(t))`, and the first duration `t*`
//! where it is below a threshold (default 0.5: more likely to fail than to pass), no earlier
//! than the duration only a small share of passing runs exceed (default 5%). Two estimates of
//! the survivals: a smoothed non-parametric one (the default, see `docs/ci.md` for why) and a
//! parametric one that fits a distribution per outcome as AI4CI does. Pure: runs in, numbers out.

pub mod dist;
pub mod eval;
pub mod history;
pub mod impact;

use serde::{Deserialize, Serialize};

use dist::{Dist, Family};

/// How a run ended, for the stopping model (cancelled and skipped runs are left out: their
/// outcome is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Passed.
    Success,
    /// Failed, timed out or errored.
    Failure,
}

/// One finished run of a job.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// When it started (epoch seconds); orders the time split.
    pub started_at: i64,
    /// How long it ran, seconds.
    pub duration_secs: f64,
    /// How it ended.
    pub outcome: Outcome,
}

/// Which estimate of the survivals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Kernel-smoothed empirical survivals on log duration, shrunk to the base rate where few
    /// runs remain.
    #[default]
    Smoothed,
    /// A log-normal or Weibull fit per outcome (the family with the higher likelihood), on the
    /// 1st–99th percentiles as AI4CI does.
    Parametric,
}

/// Settings of the stopping model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `t*` is where `P(success | still running)` first falls below this. Default 0.5.
    pub threshold: f64,
    /// Fewest runs before any `t*` is stated. Default 30.
    pub min_runs: usize,
    /// Fewest runs of each outcome among them. Default 5.
    pub min_per_outcome: usize,
    /// Largest share of (earlier) passing runs that may run past `t*`; `t*` moves up to the
    /// matching quantile of passing durations. `None` turns the guard off. Default 5%.
    pub max_false_stop: Option<f64>,
    /// The curve is judged only where at least this many runs were still going. Default 10.
    pub min_at_risk: usize,
    /// The estimate used.
    pub method: Method,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threshold: 0.5,
            min_runs: 30,
            min_per_outcome: 5,
            max_false_stop: Some(0.05),
            min_at_risk: 10,
            method: Method::Smoothed,
        }
    }
}

/// Why no stopping point is stated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NoStop {
    /// Not enough history.
    #[error(
        "too little history: {successes} passing and {failures} failing runs; at least {min_runs} runs with {min_per_outcome} of each outcome are needed"
    )]
    TooFewRuns {
        /// Passing runs.
        successes: usize,
        /// Failing runs.
        failures: usize,
        /// Required runs.
        min_runs: usize,
        /// Required of each outcome.
        min_per_outcome: usize,
    },
    /// Long runs are not more likely to fail.
    #[error(
        "long runs are not more likely to fail: P(success | still running) is at least {lowest_p:.2} wherever {threshold} could be judged"
    )]
    NeverBelow {
        /// The threshold.
        threshold: f64,
        /// The lowest probability where at least `min_at_risk` runs were still going.
        lowest_p: f64,
    },
}

/// A learned estimate of `P(success | T > t)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Curve {
    /// Smoothed empirical survivals.
    Smoothed {
        /// ln duration and outcome of each run.
        runs: Vec<(f64, bool)>,
        /// Kernel bandwidth on ln duration.
        bandwidth: f64,
        /// Pseudo-runs at the base rate.
        prior_weight: f64,
        /// Share of passing runs.
        base_rate: f64,
    },
    /// A distribution per outcome.
    Parametric {
        /// Passing durations.
        success: Dist,
        /// Failing durations.
        failure: Dist,
        /// ln(n_failure / n_success).
        ln_odds_prior: f64,
    },
}

/// Pseudo-runs at the base rate added to the smoothed estimate (a Beta prior): with 2, a tail
/// where 3 runs remain moves at most 40% of the way back to the base rate.
pub const PRIOR_WEIGHT: f64 = 2.0;

impl Curve {
    /// The smoothed estimate from runs (at least two).
    pub fn smoothed(runs: &[Run]) -> Curve {
        let pts: Vec<(f64, bool)> = runs
            .iter()
            .map(|r| (r.duration_secs.max(1.0).ln(), r.outcome == Outcome::Success))
            .collect();
        let logs: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let base_rate = pts.iter().filter(|p| p.1).count() as f64 / pts.len().max(1) as f64;
        Curve::Smoothed {
            bandwidth: silverman(&logs),
            runs: pts,
            prior_weight: PRIOR_WEIGHT,
            base_rate,
        }
    }

    /// The parametric estimate: the family with the higher likelihood over both outcomes.
    pub fn parametric(runs: &[Run]) -> Option<Curve> {
        let (s, f) = split(runs);
        let (ts, tf) = (dist::trimmed(&s), dist::trimmed(&f));
        let best = Family::ALL
            .iter()
            .filter_map(|fam| {
                let (ds, df) = (fam.fit(&ts)?, fam.fit(&tf)?);
                Some((ds, df, ds.log_likelihood(&ts) + df.log_likelihood(&tf)))
            })
            .max_by(|a, b| a.2.total_cmp(&b.2))?;
        Some(Curve::Parametric {
            success: best.0,
            failure: best.1,
            ln_odds_prior: (f.len() as f64 / s.len() as f64).ln(),
        })
    }

    /// `P(success | still running after t seconds)`.
    pub fn p_success(&self, t: f64) -> f64 {
        match self {
            Curve::Smoothed {
                runs,
                bandwidth,
                prior_weight,
                base_rate,
            } => {
                let lt = t.max(1.0).ln();
                let (mut pass, mut all) = (0.0, 0.0);
                for (l, ok) in runs {
                    // A smoothed indicator of "still running at t".
                    let w = dist::normal_cdf((l - lt) / bandwidth);
                    all += w;
                    if *ok {
                        pass += w;
                    }
                }
                (pass + prior_weight * base_rate) / (all + prior_weight)
            }
            Curve::Parametric {
                success,
                failure,
                ln_odds_prior,
            } => {
                let ln_odds = ln_odds_prior + failure.ln_sf(t) - success.ln_sf(t);
                1.0 / (1.0 + ln_odds.exp())
            }
        }
    }

    /// The last duration where the failing density overtakes the passing one, the rule AI4CI
    /// used (intersection of the two fitted densities); parametric curves only.
    pub fn density_crossing(&self, grid: &[f64]) -> Option<f64> {
        let Curve::Parametric {
            success, failure, ..
        } = self
        else {
            return None;
        };
        let diff = |t: f64| failure.ln_pdf(t) - success.ln_pdf(t);
        grid.windows(2)
            .filter(|w| diff(w[0]) <= 0.0 && diff(w[1]) > 0.0)
            .map(|w| w[1])
            .next_back()
    }
}

/// Silverman's rule of thumb on ln durations: 0.9 · min(sd, IQR/1.34) · n^(−1/5), at least 0.01.
fn silverman(logs: &[f64]) -> f64 {
    let n = logs.len().max(1) as f64;
    let mean = logs.iter().sum::<f64>() / n;
    let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n).sqrt();
    let mut v = logs.to_vec();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        v.get(((v.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    let iqr = match (q(0.25), q(0.75)) {
        (Some(a), Some(b)) => (b - a) / 1.34,
        _ => sd,
    };
    let spread = if iqr > 0.0 { sd.min(iqr) } else { sd };
    (0.9 * spread * n.powf(-0.2)).max(0.01)
}

/// Passing and failing durations.
fn split(runs: &[Run]) -> (Vec<f64>, Vec<f64>) {
    let pick = |o: Outcome| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.outcome == o)
            .map(|r| r.duration_secs)
            .collect()
    };
    (pick(Outcome::Success), pick(Outcome::Failure))
}

/// A stated stopping point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StoppingPoint {
    /// `t*`, seconds: the later of where the curve first falls below the threshold and the guard.
    pub secs: f64,
    /// Where the curve first falls below the threshold, seconds.
    pub below_threshold_secs: f64,
    /// The passing-duration quantile of the false-stop guard, seconds.
    pub guard_secs: Option<f64>,
    /// `P(success | still running)` at `t*`.
    pub p_success: f64,
}

/// A job's learned stopping model.
#[derive(Debug, Clone, PartialEq)]
pub struct Learned {
    /// Passing runs learned from.
    pub successes: usize,
    /// Failing runs learned from.
    pub failures: usize,
    /// The estimate (`None` when the parametric fit failed).
    pub curve: Option<Curve>,
    /// The points the curve was judged at: (t, P(success | T > t), runs still going).
    pub grid: Vec<(f64, f64, usize)>,
    /// The stopping point, or why there is none.
    pub stop: Result<StoppingPoint, NoStop>,
}

/// Points the curve is judged at: log-spaced between the shortest and longest durations.
const GRID_POINTS: usize = 240;

/// A job's stopping point learned from its runs (any order): the same as
/// `learn(runs, s).stop`, without tabulating the whole curve (the curve is evaluated at the
/// judged grid points only until it falls below the threshold).
pub fn stopping_point_of(runs: &[Run], s: &Settings) -> Result<StoppingPoint, NoStop> {
    let learned = learn_with(runs, s, false);
    let Some(curve) = &learned.curve else {
        return learned.stop;
    };
    let (succ, _) = split(runs);
    let mut durations: Vec<f64> = runs.iter().map(|r| r.duration_secs.max(1.0)).collect();
    durations.sort_by(f64::total_cmp);
    let mut lowest_p = 1.0f64;
    for t in duration_grid(&durations) {
        let at_risk = durations.len() - durations.partition_point(|d| *d <= t);
        if at_risk < s.min_at_risk {
            continue;
        }
        let p = curve.p_success(t);
        if p < s.threshold {
            return Ok(stated(t, &succ, s, curve));
        }
        lowest_p = lowest_p.min(p);
    }
    Err(NoStop::NeverBelow {
        threshold: s.threshold,
        lowest_p,
    })
}

/// Learns a job's stopping point from its runs (any order).
pub fn learn(runs: &[Run], s: &Settings) -> Learned {
    learn_with(runs, s, true)
}

/// `learn`, tabulating the curve and stating the point only when `tabulate` (otherwise only
/// the counts and the curve are filled in).
fn learn_with(runs: &[Run], s: &Settings, tabulate: bool) -> Learned {
    let (succ, fail) = split(runs);
    let too_few = NoStop::TooFewRuns {
        successes: succ.len(),
        failures: fail.len(),
        min_runs: s.min_runs,
        min_per_outcome: s.min_per_outcome,
    };
    let mut out = Learned {
        successes: succ.len(),
        failures: fail.len(),
        curve: None,
        grid: Vec::new(),
        stop: Err(too_few.clone()),
    };
    if runs.len() < s.min_runs.max(2)
        || succ.len() < s.min_per_outcome.max(1)
        || fail.len() < s.min_per_outcome.max(1)
    {
        return out;
    }
    out.curve = match s.method {
        Method::Smoothed => Some(Curve::smoothed(runs)),
        Method::Parametric => Curve::parametric(runs),
    };
    let Some(curve) = &out.curve else {
        return out;
    };
    if !tabulate {
        return out;
    }
    let mut durations: Vec<f64> = runs.iter().map(|r| r.duration_secs.max(1.0)).collect();
    durations.sort_by(f64::total_cmp);
    out.grid = duration_grid(&durations)
        .into_iter()
        .map(|t| {
            let at_risk = durations.len() - durations.partition_point(|d| *d <= t);
            (t, curve.p_success(t), at_risk)
        })
        .collect();
    out.stop = stopping_point(&out.grid, &succ, s, curve);
    out
}

/// Log-spaced grid over the observed durations (sorted).
pub fn duration_grid(sorted: &[f64]) -> Vec<f64> {
    let (Some(lo), Some(hi)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    let (a, b) = (lo.max(1.0).ln(), hi.max(1.0).ln());
    (0..GRID_POINTS)
        .map(|i| (a + (b - a) * i as f64 / (GRID_POINTS - 1) as f64).exp())
        .collect()
}

fn stopping_point(
    grid: &[(f64, f64, usize)],
    successes: &[f64],
    s: &Settings,
    curve: &Curve,
) -> Result<StoppingPoint, NoStop> {
    let judged = || grid.iter().filter(|g| g.2 >= s.min_at_risk);
    let Some(first) = judged().find(|g| g.1 < s.threshold) else {
        return Err(NoStop::NeverBelow {
            threshold: s.threshold,
            lowest_p: judged().map(|g| g.1).fold(1.0, f64::min),
        });
    };
    Ok(stated(first.0, successes, s, curve))
}

/// The point stated when the curve first falls below the threshold at `below`: the later of it
/// and the false-stop guard.
fn stated(below: f64, successes: &[f64], s: &Settings, curve: &Curve) -> StoppingPoint {
    let guard = s.max_false_stop.map(|a| pass_quantile(successes, a));
    let secs = guard.map_or(below, |g| g.max(below));
    StoppingPoint {
        secs,
        below_threshold_secs: below,
        guard_secs: guard,
        p_success: curve.p_success(secs),
    }
}

/// The smallest duration that at most `share` of the passing runs exceed.
pub fn pass_quantile(successes: &[f64], share: f64) -> f64 {
    let mut v = successes.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let allowed = (share.clamp(0.0, 1.0) * v.len() as f64).floor() as usize;
    v[v.len() - 1 - allowed.min(v.len() - 1)]
}

#[cfg(test)]
mod tests;
