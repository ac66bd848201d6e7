//! Runs of each job from stored CI events: one key per job name and pipeline, cancelled and
//! skipped runs left out (their outcome is unknown), the start taken from the event or, when
//! the platform did not give it, its end less its duration.

use std::collections::BTreeMap;

use canopy_analyzer::event::{CiJobEvent, CiResult};

use super::{Outcome, Run};

/// The key a job's history is kept under: `name`, or `name (pipeline)` when it has one.
pub fn job_key(j: &CiJobEvent) -> String {
    match &j.pipeline {
        Some(p) if !p.is_empty() => format!("{} ({p})", j.name),
        _ => j.name.clone(),
    }
}

/// The outcome of a result: `None` for cancelled and skipped runs.
pub fn outcome(r: CiResult) -> Option<Outcome> {
    match r {
        CiResult::Success => Some(Outcome::Success),
        CiResult::Failure | CiResult::TimedOut | CiResult::Error => Some(Outcome::Failure),
        CiResult::Cancelled | CiResult::Skipped => None,
    }
}

/// The run of a finished job reported at `ended_at` (epoch seconds); `None` when its outcome
/// is unknown or it has no duration.
pub fn run_of(ended_at: i64, j: &CiJobEvent) -> Option<Run> {
    let outcome = outcome(j.result)?;
    if j.duration_secs == 0 {
        return None;
    }
    let started_at = j
        .started_at
        .map(|s| s.timestamp())
        .unwrap_or(ended_at - j.duration_secs as i64);
    Some(Run {
        started_at,
        duration_secs: j.duration_secs as f64,
        outcome,
    })
}

/// Runs by job key from `(ended_at, job)` pairs.
pub fn by_job<'a>(
    jobs: impl IntoIterator<Item = (i64, &'a CiJobEvent)>,
) -> BTreeMap<String, Vec<Run>> {
    let mut out: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    for (at, j) in jobs {
        if let Some(r) = run_of(at, j) {
            out.entry(job_key(j)).or_default().push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, pipeline: Option<&str>, result: CiResult, secs: u64) -> CiJobEvent {
        CiJobEvent {
            pipeline: pipeline.map(str::to_string),
            ..CiJobEvent::new(name, "zuul", secs, result)
        }
    }

    #[test]
    fn runs_are_keyed_by_job_and_pipeline_and_unknown_outcomes_dropped() {
        let jobs = [
            job("tox-py311", Some("check"), CiResult::Success, 600),
            job("tox-py311", Some("gate"), CiResult::Failure, 900),
            job("tox-py311", Some("check"), CiResult::TimedOut, 3600),
            job("tox-py311", Some("check"), CiResult::Cancelled, 100),
            job("docs", None, CiResult::Skipped, 0),
            job("docs", None, CiResult::Success, 0),
        ];
        let m = by_job(jobs.iter().map(|j| (10_000, j)));
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["tox-py311 (check)", "tox-py311 (gate)"]
        );
        let check = &m["tox-py311 (check)"];
        assert_eq!(check.len(), 2);
        assert_eq!(check[0].started_at, 10_000 - 600);
        assert_eq!(check[1].outcome, Outcome::Failure);
    }
}
