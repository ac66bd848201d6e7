//! GitHub's CI events → CI job events and rerun requests: check runs and suites from any CI
//! app, workflow runs and jobs of GitHub Actions (which carry the runner labels), commit
//! statuses.

use canopy_analyzer::event::{CiJobEvent, CiResult, RerunEvent};
use canopy_analyzer::{Actor, EventKind};
use canopy_core::Normalized;
use chrono::{DateTime, Utc};

use super::{Ctx, ev, ignored, one};
use crate::github::payload as p;
use crate::normalize::NormalizeError;

/// Maps a GitHub conclusion to a CI result.
pub fn ci_result(conclusion: &str) -> CiResult {
    match conclusion {
        "success" | "neutral" => CiResult::Success,
        "failure" => CiResult::Failure,
        "cancelled" => CiResult::Cancelled,
        "skipped" => CiResult::Skipped,
        "timed_out" => CiResult::TimedOut,
        _ => CiResult::Error,
    }
}

fn duration(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> u64 {
    match (start, end) {
        (Some(s), Some(e)) if e > s => (e - s).num_seconds().max(0) as u64,
        _ => 0,
    }
}

/// Who sent the delivery (`ghost`, GitHub's deleted user, when the payload does not say).
fn sender(ctx: &Ctx<'_>) -> Actor {
    ctx.sender.clone().unwrap_or_else(|| Actor::github("ghost"))
}

fn rerun(
    ctx: &Ctx<'_>,
    kind: &str,
    id: u64,
    r: RerunEvent,
    at: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    let eid = format!("gh:rerun:{kind}:{id}:{}", ctx.delivery_id);
    one(ev(ctx, eid, at, EventKind::RerunRequested(r)))
}

pub(super) fn check_run(ctx: &Ctx<'_>, e: p::CheckRunEvent) -> Result<Normalized, NormalizeError> {
    let c = e.check_run;
    let change = c.pull_requests.first().map(|p| p.number);
    let by_actions = c.app.as_ref().and_then(|a| a.slug.as_deref()) == Some("github-actions");
    match ctx.action.as_str() {
        // A GitHub Actions job is also a check run with the same id; its `workflow_job`
        // event carries it with the runner labels, so it is counted once, from there.
        "completed" if by_actions => Ok(ignored(
            "GitHub Actions check run (counted from workflow_job)",
        )),
        "completed" => {
            let at = c.completed_at.or(c.started_at).unwrap_or(ctx.received);
            let system = c.app.and_then(|a| a.slug);
            let job = CiJobEvent {
                change,
                head_sha: Some(c.head_sha),
                run_id: Some(c.id.to_string()),
                started_at: c.started_at.map(|t| t.fixed_offset()),
                url: c.html_url,
                ..CiJobEvent::new(
                    c.name,
                    system.unwrap_or_else(|| "github-checks".into()),
                    duration(c.started_at, c.completed_at),
                    ci_result(c.conclusion.as_deref().unwrap_or("")),
                )
            };
            one(ev(
                ctx,
                format!("gh:check:{}", c.id),
                at,
                EventKind::CiJobFinished(job),
            ))
        }
        "rerequested" => {
            let r = RerunEvent {
                change,
                patchset: None,
                job: Some(c.name),
                run_id: Some(c.id.to_string()),
                head_sha: Some(c.head_sha),
                requested_by: sender(ctx),
            };
            rerun(
                ctx,
                "check_run",
                c.id,
                r,
                c.completed_at.unwrap_or(ctx.received),
            )
        }
        _ => Ok(ignored("check_run action not used by Canopy")),
    }
}

pub(super) fn check_suite(
    ctx: &Ctx<'_>,
    e: p::CheckSuiteEvent,
) -> Result<Normalized, NormalizeError> {
    let s = e.check_suite;
    match ctx.action.as_str() {
        "rerequested" => {
            let r = RerunEvent {
                change: s.pull_requests.first().map(|p| p.number),
                patchset: None,
                job: None,
                run_id: Some(s.id.to_string()),
                head_sha: Some(s.head_sha),
                requested_by: sender(ctx),
            };
            rerun(
                ctx,
                "check_suite",
                s.id,
                r,
                s.updated_at.unwrap_or(ctx.received),
            )
        }
        "completed" => Ok(ignored(
            "check suite completed (its check runs carry the jobs)",
        )),
        _ => Ok(ignored("check_suite action not used by Canopy")),
    }
}

pub(super) fn workflow_run(
    ctx: &Ctx<'_>,
    e: p::WorkflowRunEvent,
) -> Result<Normalized, NormalizeError> {
    let w = e.workflow_run;
    if ctx.action == "requested" && w.run_attempt > 1 {
        let r = RerunEvent {
            change: w.pull_requests.first().map(|p| p.number),
            patchset: None,
            job: w.name,
            run_id: Some(w.id.to_string()),
            head_sha: Some(w.head_sha),
            requested_by: w
                .triggering_actor
                .as_ref()
                .map(|u| Actor::github(&u.login))
                .unwrap_or_else(|| sender(ctx)),
        };
        let at = w.run_started_at.or(w.updated_at).unwrap_or(ctx.received);
        return rerun(ctx, "workflow_run", w.id, r, at);
    }
    Ok(ignored("workflow run state (its jobs carry the durations)"))
}

pub(super) fn workflow_job(
    ctx: &Ctx<'_>,
    e: p::WorkflowJobEvent,
) -> Result<Normalized, NormalizeError> {
    let j = e.workflow_job;
    if ctx.action != "completed" {
        return Ok(ignored("workflow job not finished"));
    }
    let at = j.completed_at.or(j.started_at).unwrap_or(ctx.received);
    let job = CiJobEvent {
        pipeline: j.workflow_name,
        runner: j.labels.first().cloned(),
        host: j.runner_name.clone(),
        head_sha: Some(j.head_sha),
        run_id: Some(j.run_id.to_string()),
        attempt: j.run_attempt,
        started_at: j.started_at.map(|t| t.fixed_offset()),
        url: j.html_url,
        ..CiJobEvent::new(
            j.name,
            "github-actions",
            duration(j.started_at, j.completed_at),
            ci_result(j.conclusion.as_deref().unwrap_or("")),
        )
    };
    let id = format!("gh:job:{}:{}", j.id, j.run_attempt);
    one(ev(ctx, id, at, EventKind::CiJobFinished(job)))
}

pub(super) fn status(ctx: &Ctx<'_>, e: p::StatusEvent) -> Result<Normalized, NormalizeError> {
    if e.state == "pending" {
        return Ok(ignored("pending commit status"));
    }
    let at = e.updated_at.unwrap_or(e.created_at);
    let result = match e.state.as_str() {
        "success" => CiResult::Success,
        "failure" => CiResult::Failure,
        _ => CiResult::Error,
    };
    // A commit status says how a job ended, not how long it ran: its duration is unknown (0).
    let job = CiJobEvent {
        head_sha: Some(e.sha),
        url: e.target_url,
        ..CiJobEvent::new(e.context, "commit-status", 0, result)
    };
    one(ev(
        ctx,
        format!("gh:status:{}", e.id),
        at,
        EventKind::CiJobFinished(job),
    ))
}
