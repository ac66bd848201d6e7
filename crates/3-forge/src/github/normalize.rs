//! GitHub webhook deliveries → Canopy events.
//!
//! Event ids derive from the GitHub object, not the delivery, so a redelivery or an API
//! backfill of the same object is stored once:
//! - PR state: `gh:pr:<n>:opened`, `gh:pr:<n>:merged`, else `gh:pr:<n>:<action>:<head sha | timestamp>`
//! - review: `gh:review:<review id>[:<action>]`, comment: `gh:comment:<id>` (`:edited:<time>`)
//! - CI: `gh:job:<job id>:<attempt>`, `gh:check:<check run id>`, `gh:status:<status id>`
//! - reruns are requests, not objects: `gh:rerun:<kind>:<id>:<delivery id>`
//! - pushes: `gh:push:<ref>:<after>`

use canopy_analyzer::event::{
    ChangeAction, ChangeEvent, ChangeSize, CiJobEvent, CiResult, CommentEvent, PushEvent,
    RerunEvent, ReviewEvent, ReviewVerdict,
};
use canopy_analyzer::{Actor, Event, EventKind, Platform};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::payload as p;
use crate::normalize::NormalizeError;
use canopy_core::Normalized;

/// Normalises one delivery given its `X-GitHub-Event` name, delivery id, raw body and the time
/// it was received (used where the payload carries no time of its own).
pub fn normalize(
    event: &str,
    delivery_id: &str,
    body: &[u8],
    received: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    match event {
        "ping" => return Ok(ignored("ping")),
        "installation" | "installation_repositories" | "github_app_authorization" => {
            return Ok(ignored("installation change (no activity event)"));
        }
        _ => {}
    }
    let env: p::Envelope = parse(body)?;
    let Some(repo) = env.repository.as_ref().map(|r| r.full_name.clone()) else {
        return Ok(ignored("no repository in the payload"));
    };
    let action = env.action.clone().unwrap_or_default();
    let sender = env.sender.as_ref().map(|u| Actor::github(&u.login));
    let ctx = Ctx {
        repo,
        action,
        sender,
        delivery_id,
        received,
    };
    match event {
        "pull_request" => pull_request(&ctx, parse(body)?),
        "pull_request_review" => review(&ctx, parse(body)?),
        "pull_request_review_comment" => review_comment(&ctx, parse(body)?),
        "issue_comment" => issue_comment(&ctx, parse(body)?),
        "push" => push(&ctx, parse(body)?),
        "check_run" => check_run(&ctx, parse(body)?),
        "check_suite" => check_suite(&ctx, parse(body)?),
        "workflow_run" => workflow_run(&ctx, parse(body)?),
        "workflow_job" => workflow_job(&ctx, parse(body)?),
        "status" => status(&ctx, parse(body)?),
        _ => Ok(ignored("event type not used by Canopy")),
    }
}

struct Ctx<'a> {
    repo: String,
    action: String,
    sender: Option<Actor>,
    delivery_id: &'a str,
    received: DateTime<Utc>,
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, NormalizeError> {
    serde_json::from_slice(body).map_err(NormalizeError::from)
}

fn ignored(reason: &str) -> Normalized {
    Normalized {
        events: Vec::new(),
        ignored: Some(reason.to_string()),
    }
}

fn one(event: Event) -> Result<Normalized, NormalizeError> {
    Ok(Normalized {
        events: vec![event],
        ignored: None,
    })
}

fn ev(ctx: &Ctx<'_>, id: String, at: DateTime<Utc>, kind: EventKind) -> Event {
    Event::new(
        id,
        Platform::Github,
        ctx.repo.clone(),
        at.fixed_offset(),
        kind,
    )
}

fn actor(u: &Option<p::User>) -> Actor {
    match u {
        Some(u) => Actor::github(&u.login),
        None => Actor::github("ghost"),
    }
}

fn pull_request(ctx: &Ctx<'_>, e: p::PullRequestEvent) -> Result<Normalized, NormalizeError> {
    let pr = e.pull_request;
    let updated = pr.updated_at.unwrap_or(pr.created_at);
    let (action, at, disc) = match ctx.action.as_str() {
        "opened" => (ChangeAction::Opened, pr.created_at, pr.head.sha.clone()),
        "synchronize" => (ChangeAction::Updated, updated, pr.head.sha.clone()),
        "edited" => (ChangeAction::Edited, updated, updated.to_rfc3339()),
        "closed" if pr.merged || pr.merged_at.is_some() => {
            let t = pr.merged_at.or(pr.closed_at).unwrap_or(updated);
            (ChangeAction::Merged, t, t.to_rfc3339())
        }
        "closed" => {
            let t = pr.closed_at.unwrap_or(updated);
            (ChangeAction::Closed, t, t.to_rfc3339())
        }
        "reopened" => (ChangeAction::Reopened, updated, updated.to_rfc3339()),
        "ready_for_review" => (ChangeAction::ReadyForReview, updated, updated.to_rfc3339()),
        "converted_to_draft" => (
            ChangeAction::ConvertedToDraft,
            updated,
            updated.to_rfc3339(),
        ),
        "review_requested" => {
            let who = e
                .requested_reviewer
                .as_ref()
                .map_or("team", |u| u.login.as_str());
            (
                ChangeAction::ReviewRequested,
                updated,
                format!("{who}:{}", updated.to_rfc3339()),
            )
        }
        _ => return Ok(ignored("pull_request action not used by Canopy")),
    };
    let author = Actor::github(&pr.user.login);
    let reviewers = match (&action, e.requested_reviewer) {
        (ChangeAction::ReviewRequested, Some(u)) => vec![Actor::github(&u.login)],
        _ => pr
            .requested_reviewers
            .iter()
            .map(|u| Actor::github(&u.login))
            .collect(),
    };
    let change = ChangeEvent {
        number: pr.number,
        action,
        actor: ctx.sender.clone().filter(|s| s.key != author.key),
        author,
        title: pr.title,
        description: pr.body.unwrap_or_default(),
        draft: pr.draft,
        created_at: pr.created_at.fixed_offset(),
        size: ChangeSize {
            additions: pr.additions,
            deletions: pr.deletions,
            files_changed: pr.changed_files,
            commits: pr.commits,
        },
        labels: pr.labels.into_iter().map(|l| l.name).collect(),
        base_ref: pr.base.ref_name,
        head_sha: Some(pr.head.sha),
        patchset: None,
        change_id: None,
        reviewers_requested: reviewers,
        url: pr.html_url,
    };
    // A PR opens and merges once: those ids need no discriminator, so an API backfill (which
    // does not know the head at opening time) produces the same ids as the webhooks.
    let id = match change.action {
        ChangeAction::Opened => format!("gh:pr:{}:opened", change.number),
        ChangeAction::Merged => format!("gh:pr:{}:merged", change.number),
        _ => format!("gh:pr:{}:{}:{disc}", change.number, ctx.action),
    };
    one(ev(ctx, id, at, EventKind::Change(change)))
}

fn review(ctx: &Ctx<'_>, e: p::ReviewEvent) -> Result<Normalized, NormalizeError> {
    let r = e.review;
    let verdict = match (ctx.action.as_str(), r.state.to_ascii_lowercase().as_str()) {
        ("dismissed", _) | (_, "dismissed") => ReviewVerdict::Dismissed,
        (_, "approved") => ReviewVerdict::Approved,
        (_, "changes_requested") => ReviewVerdict::ChangesRequested,
        (_, "commented") => ReviewVerdict::Commented,
        (_, "pending") => return Ok(ignored("pending review (not submitted)")),
        (_, other) => {
            return Err(NormalizeError::Invalid {
                field: "review.state",
                message: format!("unknown review state {other:?}"),
            });
        }
    };
    let at = r.submitted_at.unwrap_or(ctx.received);
    let id = match ctx.action.as_str() {
        "submitted" => format!("gh:review:{}", r.id),
        other => format!("gh:review:{}:{other}:{}", r.id, ctx.delivery_id),
    };
    let review = ReviewEvent {
        change: e.pull_request.number,
        patchset: None,
        reviewer: actor(&r.user),
        change_author: e
            .pull_request
            .user
            .as_ref()
            .map(|u| Actor::github(&u.login)),
        verdict,
        votes: vec![],
        body: r.body.filter(|b| !b.trim().is_empty()),
    };
    one(ev(ctx, id, at, EventKind::Review(review)))
}

fn comment_event(
    ctx: &Ctx<'_>,
    c: p::Comment,
    number: u64,
    on_change: bool,
    addressee: Option<Actor>,
    inline: bool,
) -> Result<Normalized, NormalizeError> {
    let (edited, at, id) = match ctx.action.as_str() {
        "created" => (false, c.created_at, format!("gh:comment:{}", c.id)),
        "edited" => {
            let t = c.updated_at.unwrap_or(c.created_at);
            (
                true,
                t,
                format!("gh:comment:{}:edited:{}", c.id, t.to_rfc3339()),
            )
        }
        _ => return Ok(ignored("comment deleted")),
    };
    let comment = CommentEvent {
        number,
        on_change,
        comment_id: c.id.to_string(),
        author: actor(&c.user),
        addressee,
        body: c.body,
        inline,
        edited,
        author_role: c.author_association,
    };
    one(ev(ctx, id, at, EventKind::Comment(comment)))
}

fn review_comment(ctx: &Ctx<'_>, e: p::ReviewCommentEvent) -> Result<Normalized, NormalizeError> {
    let addressee = e
        .pull_request
        .user
        .as_ref()
        .map(|u| Actor::github(&u.login));
    comment_event(ctx, e.comment, e.pull_request.number, true, addressee, true)
}

fn issue_comment(ctx: &Ctx<'_>, e: p::IssueCommentEvent) -> Result<Normalized, NormalizeError> {
    let addressee = e.issue.user.as_ref().map(|u| Actor::github(&u.login));
    let on_change = e.issue.pull_request.is_some();
    comment_event(ctx, e.comment, e.issue.number, on_change, addressee, false)
}

fn push(ctx: &Ctx<'_>, e: p::PushEvent) -> Result<Normalized, NormalizeError> {
    let at = e
        .head_commit
        .as_ref()
        .map(|h| h.timestamp.with_timezone(&Utc))
        .unwrap_or(ctx.received);
    let push = PushEvent {
        ref_name: e.ref_name.clone(),
        before: e.before,
        after: e.after.clone(),
        pusher: ctx.sender.clone().unwrap_or_else(|| Actor::github("ghost")),
        commits: e.commits.len() as u32,
        forced: e.forced,
    };
    one(ev(
        ctx,
        format!("gh:push:{}:{}", e.ref_name, e.after),
        at,
        EventKind::Push(push),
    ))
}

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

fn check_run(ctx: &Ctx<'_>, e: p::CheckRunEvent) -> Result<Normalized, NormalizeError> {
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
            let job = CiJobEvent {
                name: c.name,
                system: c
                    .app
                    .and_then(|a| a.slug)
                    .unwrap_or_else(|| "github-checks".into()),
                pipeline: None,
                duration_secs: duration(c.started_at, c.completed_at),
                runner: None,
                result: ci_result(c.conclusion.as_deref().unwrap_or("")),
                voting: true,
                change,
                patchset: None,
                head_sha: Some(c.head_sha),
                run_id: Some(c.id.to_string()),
                attempt: 1,
                started_at: c.started_at.map(|t| t.fixed_offset()),
                url: c.html_url,
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
                requested_by: ctx.sender.clone().unwrap_or_else(|| Actor::github("ghost")),
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

fn check_suite(ctx: &Ctx<'_>, e: p::CheckSuiteEvent) -> Result<Normalized, NormalizeError> {
    let s = e.check_suite;
    match ctx.action.as_str() {
        "rerequested" => {
            let r = RerunEvent {
                change: s.pull_requests.first().map(|p| p.number),
                patchset: None,
                job: None,
                run_id: Some(s.id.to_string()),
                head_sha: Some(s.head_sha),
                requested_by: ctx.sender.clone().unwrap_or_else(|| Actor::github("ghost")),
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

fn workflow_run(ctx: &Ctx<'_>, e: p::WorkflowRunEvent) -> Result<Normalized, NormalizeError> {
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
                .or_else(|| ctx.sender.clone())
                .unwrap_or_else(|| Actor::github("ghost")),
        };
        let at = w.run_started_at.or(w.updated_at).unwrap_or(ctx.received);
        return rerun(ctx, "workflow_run", w.id, r, at);
    }
    Ok(ignored("workflow run state (its jobs carry the durations)"))
}

fn workflow_job(ctx: &Ctx<'_>, e: p::WorkflowJobEvent) -> Result<Normalized, NormalizeError> {
    let j = e.workflow_job;
    if ctx.action != "completed" {
        return Ok(ignored("workflow job not finished"));
    }
    let at = j.completed_at.or(j.started_at).unwrap_or(ctx.received);
    let job = CiJobEvent {
        name: j.name,
        system: "github-actions".into(),
        pipeline: j.workflow_name,
        duration_secs: duration(j.started_at, j.completed_at),
        runner: j.labels.first().cloned(),
        result: ci_result(j.conclusion.as_deref().unwrap_or("")),
        voting: true,
        change: None,
        patchset: None,
        head_sha: Some(j.head_sha),
        run_id: Some(j.run_id.to_string()),
        attempt: j.run_attempt,
        started_at: j.started_at.map(|t| t.fixed_offset()),
        url: j.html_url,
    };
    let id = format!("gh:job:{}:{}", j.id, j.run_attempt);
    one(ev(ctx, id, at, EventKind::CiJobFinished(job)))
}

fn status(ctx: &Ctx<'_>, e: p::StatusEvent) -> Result<Normalized, NormalizeError> {
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
        name: e.context,
        system: "commit-status".into(),
        pipeline: None,
        duration_secs: 0,
        runner: None,
        result,
        voting: true,
        change: None,
        patchset: None,
        head_sha: Some(e.sha),
        run_id: None,
        attempt: 1,
        started_at: None,
        url: e.target_url,
    };
    one(ev(
        ctx,
        format!("gh:status:{}", e.id),
        at,
        EventKind::CiJobFinished(job),
    ))
}
