//! What the sticky comment of a change says, computed from the change's stored events: CI
//! energy and emissions of its builds, and its status. (Time to merge and rerun advice are
//! filled in by their own modules.)

use std::collections::{BTreeMap, HashSet};

use canopy_analyzer::event::{
    ChangeAction, ChangeEvent, CiJobEvent, EnergyMeasuredEvent, MeasureOutcome,
};
use canopy_analyzer::{Event, EventKind};
use canopy_models::energy::{Footprint, Range, RunnerProfile, Utilisation, job_energy_kwh};
use chrono::{DateTime, Duration, Utc};

use crate::carbon::RegionData;
use crate::messages::{self, EnergyView, JobEnergyLine};
use crate::repo_config::RepoConfig;

/// A change's events, gathered from the store and the delivery being processed.
#[derive(Debug, Default, Clone)]
pub struct ChangeHistory {
    /// State changes in time order.
    pub changes: Vec<ChangeEvent>,
    /// CI jobs of the change (by number or by one of its head commits), deduplicated.
    pub jobs: Vec<(DateTime<Utc>, CiJobEvent)>,
    /// Every event, in time order.
    pub events: Vec<Event>,
}

impl ChangeHistory {
    /// Builds the history from events (any order, duplicates allowed).
    pub fn from_events(mut events: Vec<Event>) -> ChangeHistory {
        events.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        let mut seen = HashSet::new();
        events.retain(|e| seen.insert(e.id.clone()));
        let mut h = ChangeHistory::default();
        for e in &events {
            match &e.kind {
                EventKind::Change(c) => h.changes.push(c.clone()),
                EventKind::CiJobFinished(j) => h.jobs.push((e.at_utc(), j.clone())),
                _ => {}
            }
        }
        h.events = events;
        h
    }

    /// The latest state event.
    pub fn latest(&self) -> Option<&ChangeEvent> {
        self.changes.last()
    }

    /// Head commits the change has had: `ChangeHistory::from_events(events).heads()` without
    /// copying the events.
    pub fn heads_of(events: &[Event]) -> Vec<String> {
        let mut sorted: Vec<&Event> = events.iter().collect();
        sorted.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        let mut seen = HashSet::new();
        sorted.retain(|e| seen.insert(e.id.as_str()));
        let mut v: Vec<String> = sorted
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Change(c) => c.head_sha.clone(),
                _ => None,
            })
            .collect();
        v.dedup();
        v
    }

    /// Head commits the change has had.
    pub fn heads(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .changes
            .iter()
            .filter_map(|c| c.head_sha.clone())
            .collect();
        v.dedup();
        v
    }
}

/// The runner profile of a job: configured by label, GitHub-hosted by label, or the generic
/// Green Algorithms fallback.
pub fn profile_for(job: &CiJobEvent, cfg: &RepoConfig) -> RunnerProfile {
    let label = job.runner.as_deref().unwrap_or("");
    if let Some(r) = cfg
        .runners
        .get(label)
        .or_else(|| cfg.runners.get("default"))
    {
        let mut p = RunnerProfile::generic(r.vcpus, r.memory_gb);
        p.name = format!(
            "{} ({} vCPU, {} GB, configured)",
            if label.is_empty() {
                "default runner"
            } else {
                label
            },
            r.vcpus,
            r.memory_gb
        );
        p.power = canopy_models::energy::PowerModel::GreenAlgorithms {
            watts_per_core: r.watts_per_core,
        };
        p.pue = r.pue;
        p.source = format!(
            "configured runner profile; Green Algorithms formula, {} W/core, PUE {}",
            r.watts_per_core, r.pue
        );
        return p;
    }
    let l = label.to_ascii_lowercase();
    if job.system == "github-actions" && (l.starts_with("ubuntu") || l.starts_with("windows")) {
        return RunnerProfile::github_hosted(label);
    }
    if job.system == "github-actions" && l.starts_with("macos") {
        return RunnerProfile::generic(3, 7.0);
    }
    if job.system == "zuul" {
        let mut p = RunnerProfile::generic(8, 8.0);
        p.name = "Zuul node (8 vCPU, 8 GB assumed; configure [runners.default])".into();
        return p;
    }
    RunnerProfile::generic(2, 7.0)
}

/// The energy section for a change's jobs, or `None` when no job with a duration ran. A job
/// whose runner reported its energy counts with the measurement; the others with the estimate.
/// Once any job of the change was measured (or a measurement was tried), each job is listed as
/// "measured" (with the estimate beside it) or "estimated".
pub fn energy_view(
    h: &ChangeHistory,
    cfg: &RepoConfig,
    grid: Option<&RegionData>,
) -> Option<EnergyView> {
    let jobs: Vec<(&str, DateTime<Utc>, &CiJobEvent)> = h
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CiJobFinished(j) if j.duration_secs > 0 => {
                Some((e.id.as_str(), e.at_utc(), j))
            }
            _ => None,
        })
        .collect();
    if jobs.is_empty() {
        return None;
    }
    let measurements = crate::measurement::latest_by_job(&h.events);
    let u = Utilisation::around(cfg.carbon.utilisation);
    let fixed = cfg.carbon.intensity_g_per_kwh;
    // The grid's intensity in the middle of each job when the region's data covers it.
    let mut from_grid = 0usize;
    let mut intensity_at = |at: &DateTime<Utc>, j: &CiJobEvent| {
        let mid = at.timestamp() - j.duration_secs as i64 / 2;
        match grid.and_then(|g| g.series.at(mid)) {
            Some(v) => {
                from_grid += 1;
                v
            }
            None => fixed,
        }
    };
    let (mut total, mut latest) = (Footprint::default(), Footprint::default());
    let latest_run = jobs
        .iter()
        .filter_map(|(_, _, j)| j.run_id.clone().or(j.head_sha.clone()))
        .next_back();
    let mut profiles: BTreeMap<String, String> = BTreeMap::new();
    let mut lines = Vec::new();
    for (id, at, j) in &jobs {
        let p = profile_for(j, cfg);
        let intensity = intensity_at(at, j);
        let secs = j.duration_secs as f64;
        let m = measurements.get(*id);
        let measured = m.and_then(|m| m.outcome.kwh());
        let key = j.run_id.clone().or(j.head_sha.clone());
        let in_latest = key.is_some() && key == latest_run;
        for (f, on) in [(&mut total, true), (&mut latest, in_latest)] {
            match (on, measured) {
                (false, _) => {}
                (true, Some(kwh)) => f.add_measured_job(kwh, secs, &p, intensity),
                (true, None) => f.add_job(secs, &p, u, intensity),
            }
        }
        if measured.is_none() {
            profiles.insert(p.name.clone(), p.source.clone());
        }
        lines.push(job_line(j, job_energy_kwh(secs, &p, u), m));
    }
    let measured = lines.iter().filter(|l| l.measured).count();
    let grid_words = grid_words(cfg, grid, from_grid, jobs.len());
    Some(EnergyView {
        summary: energy_summary(&total, &latest, fixed, &grid_words, measured),
        method: energy_method(&profiles, u, measured),
        jobs: if measurements.is_empty() {
            Vec::new()
        } else {
            lines
        },
    })
}

/// A job's line: measured (with its estimate), or estimated (with why a tried measurement
/// failed).
fn job_line(j: &CiJobEvent, estimate: Range, m: Option<&EnergyMeasuredEvent>) -> JobEnergyLine {
    let Some(m) = m else {
        return messages::job_energy(&j.name, estimate, None, "", None);
    };
    match &m.outcome {
        MeasureOutcome::Measured { .. } => {
            messages::job_energy(&j.name, estimate, m.outcome.kwh(), &m.source, None)
        }
        MeasureOutcome::Unmeasured { reason, retry_at } => messages::job_energy(
            &j.name,
            estimate,
            None,
            &m.source,
            Some((reason, retry_at.is_some())),
        ),
    }
}

/// Where the intensity came from, in words.
fn grid_words(
    cfg: &RepoConfig,
    grid: Option<&RegionData>,
    from_grid: usize,
    jobs: usize,
) -> String {
    match (&cfg.carbon.region, grid) {
        (Some(r), Some(g)) if from_grid == jobs => format!(
            "average while the jobs ran, region {r}, {}{}",
            g.source,
            g.stale
                .as_ref()
                .map(|e| format!("; stale data: {e}"))
                .unwrap_or_default()
        ),
        (Some(r), Some(g)) => format!(
            "region {r}, {} for {from_grid} of {jobs} jobs, {} gCO2e/kWh assumed for the rest",
            g.source,
            num(cfg.carbon.intensity_g_per_kwh)
        ),
        (Some(r), None) => format!("no data for region {r} yet; configured value"),
        (None, _) => "world average, IEA 2019; set carbon.region for your grid".into(),
    }
}

/// The energy and emissions of the change's builds (and of the latest run, if others ran
/// before it), with ranges.
fn energy_summary(
    total: &Footprint,
    latest: &Footprint,
    fixed: f64,
    grid: &str,
    measured: usize,
) -> String {
    let t = total.total_g();
    let latest_run = if latest.jobs > 0 && latest.jobs < total.jobs {
        format!(
            " Latest run: {}, {} kWh.",
            plural(latest.jobs, "job"),
            num(latest.energy_kwh.value)
        )
    } else {
        String::new()
    };
    let intensity = if total.energy_kwh.value > 0.0 {
        total.operational_g.value / total.energy_kwh.value
    } else {
        fixed
    };
    let split = if measured > 0 {
        format!(
            " ({measured} measured, {} estimated)",
            (total.jobs as usize).saturating_sub(measured)
        )
    } else {
        String::new()
    };
    format!(
        "{}{split} so far: {} kWh ({}–{}), {} gCO2e ({}–{}), of which {} g embodied.{latest_run} Grid: {} gCO2e/kWh ({grid}).",
        plural(total.jobs, "CI job"),
        num(total.energy_kwh.value),
        num(total.energy_kwh.low),
        num(total.energy_kwh.high),
        num(t.value),
        num(t.low),
        num(t.high),
        num(total.embodied_g),
        num(intensity),
    )
}

/// How the energy was known: measured by the runners' exporters, and for the other jobs how
/// the estimate was made (the runner profiles and the utilisation assumed).
fn energy_method(profiles: &BTreeMap<String, String>, u: Utilisation, measured: usize) -> String {
    let sci = "embodied share per the Green Software Foundation's SCI.";
    let by_exporter = "Measured: energy reported by the runner's exporter (Kepler, Scaphandre or RAPL via Prometheus) over the job's run";
    if measured > 0 && profiles.is_empty() {
        return format!("{by_exporter}; {sci}");
    }
    format!(
        "{}: {}; {:.0}% CPU utilisation assumed (range {:.0}–{:.0}%); {sci}",
        if measured > 0 {
            format!("{by_exporter}. Estimated, for the other jobs")
        } else {
            "Estimates, not measurements".to_string()
        },
        profiles
            .iter()
            .map(|(n, s)| format!("{n}: {s}"))
            .collect::<Vec<_>>()
            .join("; "),
        u.assumed * 100.0,
        u.low * 100.0,
        u.high * 100.0
    )
}

/// The status line of a closed change.
pub fn status_line(h: &ChangeHistory) -> Option<String> {
    let last = h.latest()?;
    let opened = last.created_at.with_timezone(&Utc);
    let at = h
        .events
        .iter()
        .rev()
        .find(|e| matches!(&e.kind, EventKind::Change(c) if c.action == last.action))
        .map(|e| e.at_utc())?;
    match last.action {
        ChangeAction::Merged => Some(format!(
            "Merged {} after opening.",
            duration_words(at - opened)
        )),
        ChangeAction::Closed => Some(format!(
            "Closed without merging {} after opening.",
            duration_words(at - opened)
        )),
        _ => None,
    }
}

/// "2 days 3 hours", "45 minutes".
pub fn duration_words(d: Duration) -> String {
    let mins = d.num_minutes().max(0);
    let (days, hours, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    match (days, hours) {
        (0, 0) => plural(m as u32, "minute"),
        (0, h) => plural(h as u32, "hour"),
        (d, 0) => plural(d as u32, "day"),
        (d, h) => format!("{} {}", plural(d as u32, "day"), plural(h as u32, "hour")),
    }
}

fn plural(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A number with three significant digits, plain notation.
pub fn num(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (2 - mag).clamp(0, 6) as usize;
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations_read_well() {
        assert_eq!(num(0.0061146), "0.00611");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(4321.0), "4321");
        assert_eq!(duration_words(Duration::minutes(45)), "45 minutes");
        assert_eq!(duration_words(Duration::hours(26)), "1 day 2 hours");
        assert_eq!(duration_words(Duration::hours(48)), "2 days");
    }

    #[test]
    fn heads_without_copying_the_history_are_the_historys_heads() {
        use canopy_analyzer::event::{ChangeAction, ChangeEvent};
        use canopy_analyzer::{Actor, Platform};
        let t0: chrono::DateTime<chrono::FixedOffset> = "2026-11-05T12:00:00Z".parse().unwrap();
        let change = |id: &str, minutes: i64, sha: Option<&str>| {
            let at = t0 + Duration::minutes(minutes);
            let c = ChangeEvent {
                head_sha: sha.map(str::to_string),
                ..ChangeEvent::new(7, ChangeAction::Updated, Actor::github("a"), at)
            };
            Event::new(id, Platform::Github, "o/r", at, EventKind::Change(c))
        };
        // Out of order, a redelivered id, a head again after another, ties broken by id.
        let events = vec![
            change("d", 30, Some("c3")),
            change("a", 0, Some("c1")),
            change("b", 10, Some("c2")),
            change("b", 10, Some("c2")),
            change("c", 20, None),
            change("e", 30, Some("c1")),
            change("f", 40, Some("c1")),
        ];
        let heads = ChangeHistory::heads_of(&events);
        assert_eq!(heads, ["c1", "c2", "c3", "c1"]);
        assert_eq!(heads, ChangeHistory::from_events(events).heads());
    }
}
