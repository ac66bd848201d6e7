//! Measured energy of a CI job from a Prometheus query over the job's window: energy counters
//! (Kepler `kepler_container_joules_total`, `kepler_node_*_joules_total`, node-exporter's RAPL
//! `node_rapl_package_joules_total`) by a counter-reset-aware increase, power gauges
//! (Scaphandre `scaph_host_power_microwatts`) by integrating over time, or a query that already
//! returns `increase(...[window])` in joules. Every way a measurement can be unusable has a
//! named reason; the caller then keeps the estimate. Pure: responses in, joules out.

pub mod response;

use serde::{Deserialize, Serialize};

use crate::energy::Range;
use response::{QueryResult, Series};

/// What the query's samples are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A cumulative energy counter in joules (range query; increase per series, summed).
    CounterJoules,
    /// Power in watts (range query; integrated over time, summed over series).
    PowerWatts,
    /// Power in microwatts (Scaphandre).
    PowerMicrowatts,
    /// Joules already computed by the query, e.g. `sum(increase(...[window]))` (instant query).
    Joules,
}

/// Why a job has no measured energy (its estimate is used instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Unmeasured {
    /// The query matched no series in the window.
    #[error("no series for the job's window")]
    NoSeries,
    /// Too few samples to measure anything.
    #[error("{samples} sample(s) in the window; at least 2 per series are needed")]
    TooFewSamples {
        /// Samples found.
        samples: usize,
    },
    /// The samples cover too little of the job.
    #[error("the samples cover only {covered_pct:.0}% of the job's {secs:.0} s")]
    PartialCoverage {
        /// Percentage covered.
        covered_pct: f64,
        /// The job's duration.
        secs: f64,
    },
    /// A counter went down during the job: the exporter restarted and energy is missing.
    #[error("counter reset during the job ({resets} reset(s) in {series} series)")]
    CounterReset {
        /// Resets seen.
        resets: usize,
        /// Series affected.
        series: usize,
    },
    /// NaN, infinite or negative values.
    #[error("implausible value: {0}")]
    Implausible(String),
}

/// A measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Energy, joules.
    pub joules: f64,
    /// Series summed.
    pub series: usize,
    /// Share of the job's window the samples cover (1 for an instant result).
    pub coverage: f64,
}

impl Measured {
    /// Energy in kWh.
    pub fn kwh(&self) -> f64 {
        self.joules / 3.6e6
    }
}

/// Least share of the job's window the samples must span; the increase is extrapolated to the
/// whole window as Prometheus' own `increase()` does.
pub const MIN_COVERAGE: f64 = 0.5;

/// The increase of a counter over its samples: the sum of positive steps, where a drop is read
/// as a reset to zero (Prometheus' semantics: the new value is what accrued since the restart).
/// Returns (increase, resets).
pub fn counter_increase(points: &[(f64, f64)]) -> (f64, usize) {
    let mut total = 0.0;
    let mut resets = 0;
    for w in points.windows(2) {
        let (a, b) = (w[0].1, w[1].1);
        if b >= a {
            total += b - a;
        } else {
            resets += 1;
            total += b;
        }
    }
    (total, resets)
}

/// Energy of a power series in joules: trapezoids between samples (watts × seconds).
pub fn integrate_power(points: &[(f64, f64)], scale_to_watts: f64) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0 * scale_to_watts)
        .sum()
}

/// The job's energy from a query result over `[start, end]` (epoch seconds).
pub fn measure(
    result: &QueryResult,
    kind: MetricKind,
    start: f64,
    end: f64,
) -> Result<Measured, Unmeasured> {
    let series: Vec<Series> = result
        .series()
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return Err(Unmeasured::NoSeries);
    }
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    if let Some(bad) = values.clone().find(|v| !v.is_finite() || *v < 0.0) {
        return Err(Unmeasured::Implausible(format!("sample {bad}")));
    }
    if kind == MetricKind::Joules {
        let joules = series
            .iter()
            .filter_map(|s| s.points.last())
            .map(|p| p.1)
            .sum();
        return Ok(Measured {
            joules,
            series: series.len(),
            coverage: 1.0,
        });
    }
    let samples: usize = series.iter().map(|s| s.points.len()).sum();
    if series.iter().any(|s| s.points.len() < 2) {
        return Err(Unmeasured::TooFewSamples { samples });
    }
    let secs = (end - start).max(1.0);
    let (mut joules, mut covered, mut resets, mut reset_series) = (0.0, 0.0f64, 0, 0);
    for s in &series {
        let span = s.points[s.points.len() - 1].0 - s.points[0].0;
        let cov = (span / secs).min(1.0);
        covered = covered.max(cov);
        let j = match kind {
            MetricKind::CounterJoules => {
                let (inc, r) = counter_increase(&s.points);
                resets += r;
                reset_series += usize::from(r > 0);
                inc
            }
            MetricKind::PowerWatts => integrate_power(&s.points, 1.0),
            MetricKind::PowerMicrowatts => integrate_power(&s.points, 1e-6),
            MetricKind::Joules => 0.0,
        };
        // Extrapolated to the whole window, as Prometheus' increase() does.
        joules += if cov > 0.0 { j / cov } else { j };
    }
    if resets > 0 {
        return Err(Unmeasured::CounterReset {
            resets,
            series: reset_series,
        });
    }
    if covered < MIN_COVERAGE {
        return Err(Unmeasured::PartialCoverage {
            covered_pct: covered * 100.0,
            secs,
        });
    }
    Ok(Measured {
        joules,
        series: series.len(),
        coverage: covered,
    })
}

/// A job's measured energy beside its estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Measured, kWh.
    pub measured_kwh: f64,
    /// Estimated, kWh, with its range.
    pub estimated_kwh: Range,
    /// (estimate − measured) / measured, e.g. 0.25 = the estimate is 25% high.
    pub relative_error: Option<f64>,
    /// Whether the measurement falls in the estimate's range.
    pub within_range: bool,
}

/// Compares a measurement with the estimate.
pub fn compare(measured_kwh: f64, estimated_kwh: Range) -> Comparison {
    Comparison {
        measured_kwh,
        estimated_kwh,
        relative_error: (measured_kwh > 0.0)
            .then(|| (estimated_kwh.value - measured_kwh) / measured_kwh),
        within_range: estimated_kwh.low <= measured_kwh && measured_kwh <= estimated_kwh.high,
    }
}

/// A job's energy as shown: measured (with the estimate beside it) or estimated (with why no
/// measurement, when one was attempted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum JobEnergy {
    /// Measured by the runner's exporter.
    Measured {
        /// Measured, kWh.
        kwh: f64,
        /// The estimate for the same job.
        estimate: Range,
    },
    /// Estimated from a power model.
    Estimated {
        /// The estimate, kWh.
        estimate: Range,
        /// Why a configured measurement is missing, if one was attempted.
        unmeasured: Option<String>,
    },
}

impl JobEnergy {
    /// The energy used in totals: the measurement when there is one.
    pub fn kwh(&self) -> f64 {
        match self {
            JobEnergy::Measured { kwh, .. } => *kwh,
            JobEnergy::Estimated { estimate, .. } => estimate.value,
        }
    }

    /// `measured` or `estimated`.
    pub fn label(&self) -> &'static str {
        match self {
            JobEnergy::Measured { .. } => "measured",
            JobEnergy::Estimated { .. } => "estimated",
        }
    }

    /// The comparison with the estimate, for measured jobs.
    pub fn comparison(&self) -> Option<Comparison> {
        match self {
            JobEnergy::Measured { kwh, estimate } => Some(compare(*kwh, *estimate)),
            JobEnergy::Estimated { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;
