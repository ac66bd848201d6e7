//! The CI footprint of a digest's week — energy and emissions of the jobs that ran — and what
//! reruns deferred to a greener window avoided.

use canopy_analyzer::Event;
use canopy_analyzer::digest::Digest;
use canopy_analyzer::event::{CiJobEvent, CiResult, EventKind};
use canopy_analyzer::week::IsoWeek;
use canopy_core::{Action, OutboxState};
use canopy_models::energy::{Footprint, Utilisation};
use canopy_store::Store;
use chrono::{DateTime, Duration, Utc};
use std::ops::ControlFlow;

use crate::carbon::RegionData;
use crate::react::sticky::profile_for;
use crate::repo_config::RepoConfig;

/// Where a job's grid intensity comes from: the region's series at the job's middle, else the
/// configured fixed value.
fn intensity(cfg: &RepoConfig, grid: Option<&RegionData>, at: DateTime<Utc>) -> f64 {
    grid.and_then(|g| g.series.at(at.timestamp()))
        .unwrap_or(cfg.carbon.intensity_g_per_kwh)
}

fn job_footprint(
    f: &mut Footprint,
    j: &CiJobEvent,
    at: DateTime<Utc>,
    cfg: &RepoConfig,
    grid: Option<&RegionData>,
) {
    let mid = at - Duration::seconds(j.duration_secs as i64 / 2);
    f.add_job(
        j.duration_secs as f64,
        &profile_for(j, cfg),
        Utilisation::around(cfg.carbon.utilisation),
        intensity(cfg, grid, mid),
    );
}

/// Adds the energy and emissions of the week's CI jobs to the digest.
pub(super) fn add_ci(
    d: &mut Digest,
    events: &[Event],
    week: IsoWeek,
    cfg: &RepoConfig,
    grid: Option<&RegionData>,
) {
    let (start, end) = (week.start_utc(), week.next().start_utc());
    let mut f = Footprint::default();
    for e in events {
        if let EventKind::CiJobFinished(j) = &e.kind
            && e.at_utc() >= start
            && e.at_utc() < end
        {
            job_footprint(&mut f, j, e.at_utc(), cfg, grid);
        }
    }
    if f.jobs > 0 {
        d.ci_kwh = Some(f.energy_kwh.value);
        d.ci_co2e_g = Some(f.total_g().value);
    }
    d.past_stop = past_stop_figures(events, start, end, cfg);
}

/// The week's runs against their jobs' stopping points (learned on the runs before the week),
/// with each run's estimated energy; `None` when no job has a stopping point.
fn past_stop_figures(
    events: &[Event],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cfg: &RepoConfig,
) -> Option<canopy_analyzer::digest::PastStopFigures> {
    let mut hist = crate::ci_insights::JobHistory::default();
    for e in events {
        if let EventKind::CiJobFinished(j) = &e.kind {
            let mut f = Footprint::default();
            job_footprint(&mut f, j, e.at_utc(), cfg, None);
            hist.add_with_energy(e.at_utc().timestamp(), j, f.energy_kwh.value);
        }
    }
    let settings = canopy_models::stopping::Settings::default();
    let p = crate::ci_insights::past_stop(&hist, start.timestamp(), end.timestamp(), &settings);
    (!p.is_empty()).then_some(canopy_analyzer::digest::PastStopFigures {
        failed_runs: p.failed_runs_past,
        failed_hours: p.failed_hours_past,
        failed_kwh: p.failed_kwh_past,
        passing_runs_past: p.passing_runs_past,
        passing_runs: p.passing_runs,
    })
}

/// A rerun that was deferred and ran.
struct Deferred {
    /// The change.
    number: u64,
    /// The GitHub workflow run it repeated (GitHub jobs name their run, not always their PR).
    run: Option<String>,
    /// When it was asked for.
    asked: DateTime<Utc>,
    /// When it ran.
    ran: DateTime<Utc>,
}

/// Adds the reruns of `repo` deferred to a greener window that ran during the week, and the
/// gCO2e they avoided: the energy of the rerun times the drop in intensity between the
/// request and the run (needs the region's series).
pub(super) fn add_deferred(
    d: &mut Digest,
    store: &dyn Store,
    repo: &str,
    events: &[Event],
    week: IsoWeek,
    cfg: &RepoConfig,
    grid: Option<&RegionData>,
) -> anyhow::Result<()> {
    let runs = deferred_runs(store, repo, week)?;
    d.deferred_reruns += runs.len();
    let Some(g) = grid else {
        return Ok(());
    };
    let mut saved = 0.0;
    for r in &runs {
        let drop = match (
            g.series.at(r.asked.timestamp()),
            g.series.at(r.ran.timestamp()),
        ) {
            (Some(a), Some(b)) => a - b,
            _ => 0.0,
        };
        saved += rerun_energy(events, repo, r, cfg).energy_kwh.value * drop;
    }
    *d.deferred_saved_g.get_or_insert(0.0) += saved;
    Ok(())
}

/// The outbox's reruns of `repo`, deferred (due later than asked) and done during the week.
fn deferred_runs(store: &dyn Store, repo: &str, week: IsoWeek) -> anyhow::Result<Vec<Deferred>> {
    let (start, end) = (week.start_utc(), week.next().start_utc());
    let mut runs = Vec::new();
    store.scan_outbox(false, &mut |item| {
        let ours = item
            .id
            .strip_prefix("rerun:")
            .and_then(|rest| rest.split_once(':'))
            .and_then(|(_, rest)| rest.strip_prefix(repo))
            .and_then(|rest| rest.strip_prefix('#'))
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse::<u64>().ok());
        if let (Some(number), Some(done)) = (ours, item.done_at)
            && item.state == OutboxState::Done
            && done >= start
            && done < end
            && item.due_at - item.created_at > Duration::seconds(1)
        {
            let run = match &item.action {
                Action::RerunFailedJobs { run_id, .. } => Some(run_id.to_string()),
                _ => None,
            };
            runs.push(Deferred {
                number,
                run,
                asked: item.created_at,
                ran: done,
            });
        }
        ControlFlow::Continue(())
    })?;
    Ok(runs)
}

/// The energy of a deferred rerun: the change's CI jobs in the 12 hours after it ran, else
/// (none reported yet) the failed jobs of the run it repeated.
fn rerun_energy(events: &[Event], repo: &str, r: &Deferred, cfg: &RepoConfig) -> Footprint {
    let jobs = || {
        events.iter().filter_map(|e| match &e.kind {
            EventKind::CiJobFinished(j)
                if e.repo == repo
                    && (j.change == Some(r.number) || (r.run.is_some() && j.run_id == r.run)) =>
            {
                Some((e.at_utc(), j))
            }
            _ => None,
        })
    };
    let mut f = Footprint::default();
    for (at, j) in jobs().filter(|(at, _)| *at >= r.ran && *at < r.ran + Duration::hours(12)) {
        job_footprint(&mut f, j, at, cfg, None);
    }
    if f.jobs > 0 {
        return f;
    }
    let failed = |j: &CiJobEvent| !matches!(j.result, CiResult::Success | CiResult::Skipped);
    let last_run = jobs()
        .filter(|(at, j)| *at <= r.asked && failed(j))
        .max_by_key(|(at, _)| *at)
        .map(|(_, j)| j.run_id.clone());
    if let Some(run) = last_run {
        for (at, j) in jobs().filter(|(at, j)| *at <= r.asked && failed(j) && j.run_id == run) {
            job_footprint(&mut f, j, at, cfg, None);
        }
    }
    f
}
