//! CI insights for comments and digests: each job's stopping point, learned on the runs of the
//! job that ended before the moment in question (so a run is never judged by a point it helped
//! set), the failed jobs of a change that ran past theirs, and a period's time and energy spent
//! past stopping points.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::ControlFlow;
use std::sync::Mutex;

use canopy_analyzer::event::CiJobEvent;

use canopy_analyzer::{Event, EventKind};
use canopy_models::stopping::history::{job_key, run_of};
use canopy_models::stopping::impact::PastStop;
use canopy_models::stopping::{Outcome, Run, Settings, StoppingPoint, stopping_point_of};
use canopy_store::{EventStore, StoreError};
use chrono::Duration;
use serde::Serialize;

use crate::react::sticky::{ChangeHistory, duration_words};

/// A repository's (or organisation's) finished runs by job key: end time, run, energy (kWh).
#[derive(Debug, Clone, Default)]
pub struct JobHistory {
    runs: BTreeMap<String, Vec<(i64, Run, f64)>>,
}

impl JobHistory {
    /// The runs of the finished CI jobs among `events`.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> JobHistory {
        let mut h = JobHistory::default();
        for e in events {
            if let EventKind::CiJobFinished(j) = &e.kind {
                h.add(e.at_utc().timestamp(), j);
            }
        }
        h
    }

    /// Adds a finished job reported at `ended_at`.
    pub fn add(&mut self, ended_at: i64, j: &CiJobEvent) {
        self.add_with_energy(ended_at, j, 0.0);
    }

    /// Adds a finished job with its energy in kWh.
    pub fn add_with_energy(&mut self, ended_at: i64, j: &CiJobEvent, kwh: f64) {
        if let Some(r) = run_of(ended_at, j) {
            self.runs
                .entry(job_key(j))
                .or_default()
                .push((ended_at, r, kwh));
        }
    }

    /// The job's stopping point learned on its runs that ended before `before`, with the
    /// number of runs it rests on.
    pub fn stopping_point_before(
        &self,
        job: &str,
        before: i64,
        s: &Settings,
    ) -> Option<(StoppingPoint, usize)> {
        self.stopping_point_memo(job, before, s, None)
    }

    /// [`JobHistory::stopping_point_before`], looked up in (and added to) `memo` when given.
    fn stopping_point_memo(
        &self,
        job: &str,
        before: i64,
        s: &Settings,
        memo: Option<&StoppingMemo>,
    ) -> Option<(StoppingPoint, usize)> {
        let runs: Vec<Run> = self
            .runs
            .get(job)?
            .iter()
            .filter(|(end, _, _)| *end < before)
            .map(|(_, r, _)| *r)
            .collect();
        let learn = || stopping_point_of(&runs, s).ok();
        let point = match memo {
            Some(m) => m.get_or_learn(&runs, s, learn),
            None => learn(),
        };
        point.map(|p| (p, runs.len()))
    }
}

/// Stopping points already learned, by a digest of the runs and settings they rest on: a sticky
/// refresh re-reads a failed job's runs but does not re-learn a point from the same runs.
#[derive(Debug, Default)]
pub struct StoppingMemo {
    points: Mutex<HashMap<u64, Option<StoppingPoint>>>,
}

impl StoppingMemo {
    /// Points kept before the memo starts over (each entry is a few dozen bytes).
    const CAPACITY: usize = 16_384;

    /// The point learned from exactly these runs under `s`, computing it with `learn` once.
    fn get_or_learn(
        &self,
        runs: &[Run],
        s: &Settings,
        learn: impl FnOnce() -> Option<StoppingPoint>,
    ) -> Option<StoppingPoint> {
        let mut h = DefaultHasher::new();
        format!("{s:?}").hash(&mut h);
        for r in runs {
            r.started_at.hash(&mut h);
            r.duration_secs.to_bits().hash(&mut h);
            (r.outcome == Outcome::Success).hash(&mut h);
        }
        let key = h.finish();
        let known = self
            .points
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key)
            .copied();
        if let Some(p) = known {
            return p;
        }
        let p = learn();
        let mut points = self
            .points
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if points.len() >= Self::CAPACITY {
            points.clear();
        }
        points.insert(key, p);
        p
    }
}

/// A failed job of a change that ran past its stopping point, in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoppingNote {
    /// Job key (`tempest (check)`).
    pub job: String,
    /// How long it ran ("2 hours").
    pub ran: String,
    /// How long past the stopping point ("35 minutes").
    pub past: String,
    /// The stopping point ("1 hour").
    pub stopping_point: String,
    /// Share of the job's earlier runs still going at the stopping point that failed.
    pub fail_share: f64,
    /// Earlier runs the point rests on.
    pub runs: usize,
    /// Seconds past (for sorting and totals).
    pub past_s: f64,
}

/// The failed jobs of a change that ran past their stopping points, longest overrun first.
pub fn stopping_notes(h: &ChangeHistory, hist: &JobHistory, s: &Settings) -> Vec<StoppingNote> {
    stopping_notes_memo(h, hist, s, None)
}

/// [`stopping_notes`] with points looked up in `memo` when given.
fn stopping_notes_memo(
    h: &ChangeHistory,
    hist: &JobHistory,
    s: &Settings,
    memo: Option<&StoppingMemo>,
) -> Vec<StoppingNote> {
    let mut out: Vec<StoppingNote> = h
        .jobs
        .iter()
        .filter_map(|(at, j)| {
            let run = run_of(at.timestamp(), j).filter(|r| r.outcome == Outcome::Failure)?;
            let job = job_key(j);
            let (p, runs) = hist.stopping_point_memo(&job, run.started_at, s, memo)?;
            let past_s = run.duration_secs - p.secs;
            (past_s > 0.0).then(|| StoppingNote {
                ran: words(run.duration_secs),
                past: words(past_s),
                stopping_point: words(p.secs),
                fail_share: 1.0 - p.p_success,
                runs,
                past_s,
                job,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.past_s
            .total_cmp(&a.past_s)
            .then_with(|| a.job.cmp(&b.job))
    });
    out
}

/// The stopping notes of a change, reading the history of each of its failed jobs from the
/// store (by job, only when one failed); points already learned from the same runs come from
/// `memo`.
pub fn change_notes(
    store: &dyn EventStore,
    repo: &str,
    h: &ChangeHistory,
    s: &Settings,
    memo: &StoppingMemo,
) -> Result<Vec<StoppingNote>, StoreError> {
    let failed = h
        .jobs
        .iter()
        .any(|(at, j)| run_of(at.timestamp(), j).is_some_and(|r| r.outcome == Outcome::Failure));
    if !failed {
        return Ok(Vec::new());
    }
    // Only the failed jobs' own histories matter: read them by job, not the repository.
    let keys: std::collections::BTreeSet<String> = h
        .jobs
        .iter()
        .filter(|(at, j)| run_of(at.timestamp(), j).is_some_and(|r| r.outcome == Outcome::Failure))
        .map(|(_, j)| job_key(j))
        .collect();
    let mut hist = JobHistory::default();
    for key in &keys {
        store.scan_job(repo, key, &mut |e| {
            if let EventKind::CiJobFinished(j) = &e.kind {
                hist.add(e.at_utc().timestamp(), j);
            }
            ControlFlow::Continue(())
        })?;
    }
    Ok(stopping_notes_memo(h, &hist, s, Some(memo)))
}

fn words(secs: f64) -> String {
    duration_words(Duration::seconds(secs.round() as i64))
}

/// Time and energy spent past stopping points by the runs that ended in `[start, end)`, each
/// judged by its job's point learned on runs that ended before `start`.
pub fn past_stop(hist: &JobHistory, start: i64, end: i64, s: &Settings) -> PastStop {
    let mut total = PastStop::default();
    for (job, runs) in &hist.runs {
        let Some((p, _)) = hist.stopping_point_before(job, start, s) else {
            continue;
        };
        for (_, r, kwh) in runs.iter().filter(|(e, _, _)| *e >= start && *e < end) {
            total.add(r, p.secs, *kwh);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::Platform;
    use canopy_analyzer::event::CiResult;

    fn job(i: u64, secs: u64, result: CiResult) -> CiJobEvent {
        CiJobEvent {
            pipeline: Some("check".into()),
            change: Some(i),
            patchset: Some(1),
            run_id: Some(format!("b{i}")),
            ..CiJobEvent::new("tempest", "zuul", secs, result)
        }
    }

    fn event(i: u64, end: i64, j: CiJobEvent) -> Event {
        let at = chrono::DateTime::from_timestamp(end, 0)
            .unwrap()
            .fixed_offset();
        Event::new(
            format!("e{i}"),
            Platform::Gerrit,
            "acme/widgets",
            at,
            EventKind::CiJobFinished(j),
        )
    }

    /// 90 earlier runs an hour apart: passing 100–200 s, failing hangs 150–600 s.
    fn history() -> Vec<Event> {
        (0..90u64)
            .map(|i| {
                let (secs, r) = if i % 3 == 2 {
                    (150 + (i * 37) % 450, CiResult::Failure)
                } else {
                    (100 + (i * 53) % 100, CiResult::Success)
                };
                event(i, 1_600_000_000 + 3600 * i as i64, job(1000 + i, secs, r))
            })
            .collect()
    }

    #[test]
    fn a_failed_job_past_its_stopping_point_is_noted() {
        let hist = JobHistory::from_events(&history());
        let s = Settings::default();
        let later = 1_600_000_000 + 3600 * 100;
        let (p, runs) = hist
            .stopping_point_before("tempest (check)", later, &s)
            .unwrap();
        assert_eq!(runs, 90);
        let mut events = vec![event(500, later, job(7, 900, CiResult::Failure))];
        events.push(event(501, later + 10, job(7, 900, CiResult::Success)));
        events.push(event(502, later + 20, job(7, 100, CiResult::Failure)));
        let h = ChangeHistory::from_events(events);
        let notes = stopping_notes(&h, &hist, &s);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0].job, "tempest (check)");
        assert!((notes[0].past_s - (900.0 - p.secs)).abs() < 1e-9);
        assert_eq!(notes[0].ran, "15 minutes");
        // No history before the first run: nothing to say.
        let early = JobHistory::from_events(&history()[..10]);
        assert!(stopping_notes(&h, &early, &s).is_empty());
    }

    #[test]
    fn a_memo_gives_the_same_notes_and_learns_each_run_set_once() {
        let s = Settings::default();
        let later = 1_600_000_000 + 3600 * 100;
        let h = ChangeHistory::from_events(vec![event(500, later, job(7, 900, CiResult::Failure))]);
        let memo = StoppingMemo::default();
        let entries = || memo.points.lock().unwrap().len();
        let full = JobHistory::from_events(&history());
        let plain = stopping_notes(&h, &full, &s);
        assert_eq!(plain.len(), 1);
        assert_eq!(stopping_notes_memo(&h, &full, &s, Some(&memo)), plain);
        assert_eq!(stopping_notes_memo(&h, &full, &s, Some(&memo)), plain);
        assert_eq!(entries(), 1, "the same runs are learned once");
        // Fewer runs are a different set: learned anew, not read from the first entry.
        let part = JobHistory::from_events(&history()[..60]);
        let want = stopping_notes(&h, &part, &s);
        assert_eq!(stopping_notes_memo(&h, &part, &s, Some(&memo)), want);
        assert_eq!(entries(), 2);
    }

    #[test]
    fn a_weeks_time_and_energy_past_stopping_points() {
        let mut events = history();
        let week = 1_600_000_000 + 3600 * 100;
        events.push(event(600, week + 100, job(8, 900, CiResult::Failure)));
        events.push(event(601, week + 200, job(9, 800, CiResult::Success)));
        events.push(event(602, week + 300, job(10, 120, CiResult::Success)));
        let mut hist = JobHistory::default();
        for e in &events {
            if let EventKind::CiJobFinished(j) = &e.kind {
                let kwh = j.duration_secs as f64 / 3600.0;
                hist.add_with_energy(e.at_utc().timestamp(), j, kwh);
            }
        }
        let s = Settings::default();
        let (p, _) = hist
            .stopping_point_before("tempest (check)", week, &s)
            .unwrap();
        let w = past_stop(&hist, week, week + 7 * 86_400, &s);
        assert_eq!(
            (w.failed_runs_past, w.passing_runs_past, w.passing_runs),
            (1, 1, 2)
        );
        assert!((w.failed_hours_past - (900.0 - p.secs) / 3600.0).abs() < 1e-9);
        // 1 kWh per hour of run: energy past = hours past.
        assert!((w.failed_kwh_past - w.failed_hours_past).abs() < 1e-9);
    }
}
