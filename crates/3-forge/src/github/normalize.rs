//! GitHub webhook deliveries → Canopy events.
//!
//! Event ids derive from the GitHub object, not the delivery, so a redelivery or an API
//! backfill of the same object is stored once:
//! - PR state: `gh:pr:<n>:opened`, `gh:pr:<n>:merged`, else `gh:pr:<n>:<action>:<head sha | timestamp>`
//! - review: `gh:review:<review id>[:<action>]`, comment: `gh:comment:<id>` (`:edited:<time>`)
//! - CI: `gh:job:<job id>:<attempt>`, `gh:check:<check run id>`, `gh:status:<status id>`
//! - reruns are requests, not objects: `gh:rerun:<kind>:<id>:<delivery id>`
//! - pushes: `gh:push:<ref>:<after>`

mod ci;

use canopy_analyzer::event::{
    ChangeAction, ChangeEvent, ChangeSize, CommentEvent, PushEvent, ReviewEvent, ReviewVerdict,
};
use canopy_analyzer::{Actor, Event, EventKind, Platform};
use chrono::{DateTime, Utc};
pub use ci::ci_result;
use ci::{check_run, check_suite, status, workflow_job, workflow_run};

use super::event::{Delivered, GithubEvent, Handling, Payload};
use super::payload as p;
use crate::normalize::NormalizeError;
use canopy_core::Normalized;

/// Normalises one delivery given its `X-GitHub-Event` name, delivery id, raw body and the time
/// it was received (used where the payload carries no time of its own). The name is parsed
/// into a [`GithubEvent`] and the body into its [`Payload`], once.
pub fn normalize(
    event: &str,
    delivery_id: &str,
    body: &[u8],
    received: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    let Some(event) = GithubEvent::from_name(event) else {
        return Ok(ignored("event type not used by Canopy"));
    };
    normalize_event(event, delivery_id, body, received)
}

/// Normalises one delivery of a known event.
pub fn normalize_event(
    event: GithubEvent,
    delivery_id: &str,
    body: &[u8],
    received: DateTime<Utc>,
) -> Result<Normalized, NormalizeError> {
    if let Handling::Ignored(reason) = event.handling() {
        return Ok(ignored(reason));
    }
    let Some(payload) = Payload::parse(event, body)? else {
        return Ok(ignored("event type not used by Canopy"));
    };
    macro_rules! dispatch {
        ($($variant:ident => $handler:ident),* $(,)?) => {
            match payload {
                $(Payload::$variant(d) => match Ctx::of(&d, delivery_id, received) {
                    Some(ctx) => $handler(&ctx, d.event),
                    None => Ok(ignored("no repository in the payload")),
                },)*
            }
        };
    }
    dispatch!(
        PullRequest => pull_request,
        Review => review,
        ReviewComment => review_comment,
        IssueComment => issue_comment,
        Push => push,
        CheckRun => check_run,
        CheckSuite => check_suite,
        WorkflowRun => workflow_run,
        WorkflowJob => workflow_job,
        Status => status,
    )
}

struct Ctx<'a> {
    repo: String,
    action: String,
    sender: Option<Actor>,
    delivery_id: &'a str,
    received: DateTime<Utc>,
}

impl<'a> Ctx<'a> {
    /// The context of a delivery, if it names its repository.
    fn of<T>(d: &Delivered<T>, delivery_id: &'a str, received: DateTime<Utc>) -> Option<Ctx<'a>> {
        Some(Ctx {
            repo: d.repository.as_ref()?.full_name.clone(),
            action: d.action.clone().unwrap_or_default(),
            sender: d.sender.as_ref().map(|u| Actor::github(&u.login)),
            delivery_id,
            received,
        })
    }
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
