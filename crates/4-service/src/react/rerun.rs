//! Rerun advice: whether a CI rerun is critical, and if not, the greenest window before a
//! deadline under the region's intensity forecast; `/canopy defer` schedules the rerun there as
//! a durable outbox item, `/canopy now` moves it to now.
//!
//! The trigger differs by platform. On GitHub a rerun request (re-run of a workflow or check)
//! is the trigger: the rerun has already started, so deferring cancels it and re-runs the
//! failed jobs at the window. On Gerrit a `recheck` starts Zuul at once and Canopy cannot
//! dequeue it, so the trigger is a Zuul report whose only failures are non-critical: the advice
//! offers `/canopy defer` instead of `recheck`, and Canopy posts the `recheck` at the window.

use canopy_analyzer::event::{CiJobEvent, CiResult, RerunEvent};
use canopy_analyzer::{EventKind, Platform};
use canopy_policies::rerun::{Criticality, RerunFacts, RerunRules, classify};
use canopy_policies::window::{Choice, Query};
use chrono::{DateTime, TimeZone, Utc};

use super::sticky::ChangeHistory;
use crate::carbon::RegionData;
use crate::repo_config::RepoConfig;
use canopy_core::Action;
use canopy_core::{Enqueue, EnqueueMode};

/// What is to be rerun.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Id of the event that asked (GitHub rerun request) or reported (Zuul report); the outbox
    /// item of a deferral is keyed on it, so one request is rerun at most once.
    pub event_id: String,
    /// When it was asked or reported.
    pub at: DateTime<Utc>,
    /// GitHub workflow run.
    pub run_id: Option<u64>,
    /// Gerrit patchset.
    pub patchset: Option<u32>,
    /// Failed jobs to rerun.
    pub jobs: Vec<CiJobEvent>,
}

/// The advice for a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    /// Critical or not, and why.
    pub criticality: Criticality,
    /// Expected duration, seconds (median of the jobs' successful runs, else their failed runs).
    pub duration_secs: i64,
    /// The best window and the comparison with now, when there is data.
    pub choice: Option<Choice>,
}

/// The latest rerun target of a change, if any.
pub fn latest_target(platform: Platform, h: &ChangeHistory) -> Option<Target> {
    match platform {
        Platform::Github => {
            let (e, r) = h.events.iter().rev().find_map(|e| match &e.kind {
                EventKind::RerunRequested(r) => Some((e, r)),
                _ => None,
            })?;
            Some(Target {
                event_id: e.id.clone(),
                at: e.at_utc(),
                run_id: r.run_id.as_deref().and_then(|s| s.parse().ok()),
                patchset: None,
                jobs: failed_jobs_for(h, r),
            })
        }
        Platform::Gerrit => {
            // The latest Zuul report: every job of the latest patchset reported at that time.
            let (at, last) = h.jobs.last()?;
            let ps = last.patchset?;
            let jobs: Vec<CiJobEvent> = h
                .jobs
                .iter()
                .filter(|(t, j)| t == at && j.patchset == Some(ps))
                .map(|(_, j)| j.clone())
                .collect();
            if jobs.iter().all(|j| j.result == CiResult::Success) {
                return None;
            }
            let report = h.events.iter().rev().find(|e| {
                e.at_utc() == *at
                    && matches!(&e.kind, EventKind::CiJobFinished(j) if j.patchset == Some(ps))
            })?;
            Some(Target {
                event_id: report
                    .delivery_id
                    .clone()
                    .unwrap_or_else(|| report.id.clone()),
                at: *at,
                run_id: None,
                patchset: Some(ps),
                jobs: jobs
                    .into_iter()
                    .filter(|j| j.result != CiResult::Success)
                    .collect(),
            })
        }
        Platform::Git => None,
    }
}

fn failed_jobs_for(h: &ChangeHistory, r: &RerunEvent) -> Vec<CiJobEvent> {
    let mine = |j: &CiJobEvent| match (&r.run_id, &j.run_id, &r.head_sha, &j.head_sha) {
        (Some(a), Some(b), _, _) => a == b,
        (_, _, Some(a), Some(b)) => a == b,
        _ => false,
    };
    let mut jobs: Vec<CiJobEvent> = h
        .jobs
        .iter()
        .filter(|(_, j)| mine(j) && j.result != CiResult::Success)
        .map(|(_, j)| j.clone())
        .collect();
    // A check run's rerun names its check; a workflow run's names the workflow, not a job.
    if let Some(name) = &r.job {
        let named: Vec<CiJobEvent> = jobs.iter().filter(|j| &j.name == name).cloned().collect();
        if !named.is_empty() {
            jobs = named;
        }
    }
    jobs
}

/// Decides whether the target may wait and where the greenest window is.
pub fn advise(
    h: &ChangeHistory,
    t: &Target,
    cfg: &RepoConfig,
    grid: Option<&RegionData>,
    deadline: DateTime<Utc>,
) -> Advice {
    let latest = h.latest();
    let names: Vec<String> = t.jobs.iter().map(|j| j.name.clone()).collect();
    let passed_on_same_commit = !t.jobs.is_empty()
        && t.jobs.iter().all(|j| {
            h.jobs.iter().any(|(_, o)| {
                o.name == j.name
                    && o.result == CiResult::Success
                    && o.head_sha.is_some()
                    && o.head_sha == j.head_sha
            })
        });
    let facts = RerunFacts {
        jobs: names.clone(),
        pipeline: t.jobs.iter().find_map(|j| j.pipeline.clone()),
        all_non_voting: !t.jobs.is_empty() && t.jobs.iter().all(|j| !j.voting),
        required: false,
        branch: latest.map(|c| c.base_ref.clone()),
        labels: latest.map(|c| c.labels.clone()).unwrap_or_default(),
        draft: latest.is_some_and(|c| c.draft),
        in_merge_queue: false,
        docs_only: !t.jobs.is_empty() && t.jobs.iter().all(|j| is_docs_job(&j.name)),
        passed_on_same_commit,
    };
    let rules = RerunRules {
        critical_jobs: cfg.reruns.critical_jobs.clone(),
        critical_pipelines: cfg.reruns.critical_pipelines.clone(),
        critical_branches: cfg.reruns.critical_branches.clone(),
        critical_labels: cfg.reruns.critical_labels.clone(),
    };
    let criticality = classify(&facts, &rules);
    let duration_secs = expected_duration(h, &t.jobs);
    let choice = grid.and_then(|g| {
        g.series
            .best_window(Query {
                data_start: t.at.timestamp(),
                data_end: deadline.timestamp(),
                duration: duration_secs,
            })
            .ok()
    });
    Advice {
        criticality,
        duration_secs,
        choice,
    }
}

fn is_docs_job(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("docs")
        || n.contains("doc-")
        || n.ends_with("-doc")
        || n.contains("api-ref")
        || n.contains("releasenotes")
}

/// Median duration of successful runs of the jobs' names; else of the jobs themselves; at
/// least one minute. Jobs run in parallel, so the longest job's median counts.
fn expected_duration(h: &ChangeHistory, jobs: &[CiJobEvent]) -> i64 {
    let mut longest = 0i64;
    for j in jobs {
        let mut ok: Vec<u64> = h
            .jobs
            .iter()
            .filter(|(_, o)| {
                o.name == j.name && o.result == CiResult::Success && o.duration_secs > 0
            })
            .map(|(_, o)| o.duration_secs)
            .collect();
        if ok.is_empty() {
            ok.push(j.duration_secs);
        }
        ok.sort_unstable();
        longest = longest.max(ok[ok.len() / 2] as i64);
    }
    longest.max(60)
}

/// Whether the advice is worth a comment: non-critical, with data, and a big enough saving.
pub fn worth_deferring(a: &Advice, cfg: &RepoConfig) -> bool {
    !a.criticality.critical
        && a.choice.is_some_and(|c| {
            c.now.is_some()
                && c.savings_pct >= cfg.reruns.min_savings_pct
                && c.best.start > c.now.map_or(0, |n| n.start)
        })
}

/// The outbox id of a deferred rerun.
pub fn rerun_id(platform: Platform, repo: &str, number: u64, t: &Target) -> String {
    format!("rerun:{platform}:{repo}#{number}:{}", t.event_id)
}

/// The outbox items that perform a rerun at `when` (GitHub: cancel the running rerun now and
/// re-run the failed jobs then; Gerrit: `recheck` then).
pub fn schedule(
    platform: Platform,
    repo: &str,
    number: u64,
    t: &Target,
    when: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Enqueue> {
    let id = rerun_id(platform, repo, number, t);
    match platform {
        Platform::Github => {
            let Some(run_id) = t.run_id else {
                return vec![];
            };
            let mut out = Vec::new();
            if when > now {
                out.push(Enqueue {
                    id: format!("cancel:{id}"),
                    action: Action::CancelRun {
                        repo: repo.to_string(),
                        run_id,
                    },
                    due_at: now,
                    mode: EnqueueMode::Once,
                });
            }
            out.push(Enqueue {
                id,
                action: Action::RerunFailedJobs {
                    repo: repo.to_string(),
                    run_id,
                },
                due_at: when,
                mode: EnqueueMode::Replace,
            });
            out
        }
        Platform::Gerrit => vec![Enqueue {
            id,
            action: Action::GerritRecheck {
                project: repo.to_string(),
                change: number,
                patchset: t.patchset.unwrap_or(0),
            },
            due_at: when,
            mode: EnqueueMode::Replace,
        }],
        Platform::Git => vec![],
    }
}

/// "25 minutes", "1 minute", "2 hours".
pub fn duration_words(secs: i64) -> String {
    let m = (secs + 59) / 60;
    if m < 60 {
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else {
        crate::ttm::duration_words(secs as f64 / 3600.0)
    }
}

/// "03:30 UTC" (with the date when not today).
pub fn clock_words(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M UTC").to_string()
    } else {
        t.format("%a %d %b %H:%M UTC").to_string()
    }
}

/// Epoch seconds as a time.
pub fn from_epoch(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0).single().unwrap_or_default()
}

/// The jobs in words: "`docs-build`, `lint`".
pub fn job_words(t: &Target) -> String {
    let mut names: Vec<String> = t.jobs.iter().map(|j| format!("`{}`", j.name)).collect();
    names.dedup();
    if names.is_empty() {
        "the failed jobs".into()
    } else {
        names.join(", ")
    }
}
