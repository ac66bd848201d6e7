//! What a job's stopping point means for runs that happened: a failed run that went past `t*`
//! (and by how long), and a week's totals — machine-hours and energy spent past `t*` in failed
//! runs, and how many passing runs ran past it (the price of stopping there).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Learned, Outcome, Run, Settings, learn};

/// A run that went past its job's stopping point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overrun {
    /// The job key.
    pub job: String,
    /// The job's `t*`, seconds.
    pub stopping_point_s: f64,
    /// How long the run went, seconds.
    pub duration_s: f64,
    /// How long past `t*`, seconds.
    pub past_s: f64,
    /// Whether it failed.
    pub failed: bool,
}

/// The overrun of a run, `None` when it ended by `t*`.
pub fn overrun(job: &str, run: &Run, stopping_point_s: f64) -> Option<Overrun> {
    (run.duration_secs > stopping_point_s).then(|| Overrun {
        job: job.to_string(),
        stopping_point_s,
        duration_s: run.duration_secs,
        past_s: run.duration_secs - stopping_point_s,
        failed: run.outcome == Outcome::Failure,
    })
}

/// Stopping points of every job with one, learned on the given runs.
pub fn stopping_points(runs: &BTreeMap<String, Vec<Run>>, s: &Settings) -> BTreeMap<String, f64> {
    runs.iter()
        .filter_map(|(job, r)| {
            let l: Learned = learn(r, s);
            l.stop.ok().map(|p| (job.clone(), p.secs))
        })
        .collect()
}

/// A period's totals against the stopping points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PastStop {
    /// Failed runs that went past their job's `t*`.
    pub failed_runs_past: usize,
    /// Machine-hours those runs spent past `t*`.
    pub failed_hours_past: f64,
    /// Energy those runs spent past `t*`, kWh (each run's energy pro rata of the time past).
    pub failed_kwh_past: f64,
    /// Passing runs that went past their job's `t*` (they would have been stopped).
    pub passing_runs_past: usize,
    /// Passing runs of jobs with a `t*`.
    pub passing_runs: usize,
}

impl PastStop {
    /// Adds a run of a job whose stopping point is `t*`, with the run's energy in kWh.
    pub fn add(&mut self, run: &Run, stopping_point_s: f64, kwh: f64) {
        let past = (run.duration_secs - stopping_point_s).max(0.0);
        match run.outcome {
            Outcome::Success => {
                self.passing_runs += 1;
                self.passing_runs_past += usize::from(past > 0.0);
            }
            Outcome::Failure if past > 0.0 => {
                self.failed_runs_past += 1;
                self.failed_hours_past += past / 3600.0;
                if run.duration_secs > 0.0 {
                    self.failed_kwh_past += kwh * past / run.duration_secs;
                }
            }
            Outcome::Failure => {}
        }
    }

    /// Whether any run of a job with a stopping point was seen.
    pub fn is_empty(&self) -> bool {
        self.passing_runs == 0 && self.failed_runs_past == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(d: f64, outcome: Outcome) -> Run {
        Run {
            started_at: 0,
            duration_secs: d,
            outcome,
        }
    }

    #[test]
    fn overruns_and_weekly_totals() {
        assert_eq!(overrun("e2e", &run(100.0, Outcome::Failure), 120.0), None);
        let o = overrun("e2e", &run(5400.0, Outcome::Failure), 3600.0).unwrap();
        assert_eq!((o.past_s, o.failed), (1800.0, true));
        let mut w = PastStop::default();
        w.add(&run(5400.0, Outcome::Failure), 3600.0, 0.3);
        w.add(&run(3000.0, Outcome::Failure), 3600.0, 0.2);
        w.add(&run(4000.0, Outcome::Success), 3600.0, 0.2);
        w.add(&run(2000.0, Outcome::Success), 3600.0, 0.1);
        assert_eq!(
            (w.failed_runs_past, w.passing_runs_past, w.passing_runs),
            (1, 1, 2)
        );
        assert!((w.failed_hours_past - 0.5).abs() < 1e-12);
        assert!((w.failed_kwh_past - 0.1).abs() < 1e-12);
        assert!(!w.is_empty() && PastStop::default().is_empty());
    }
}
