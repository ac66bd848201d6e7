//! GitHub's webhook events as one enum: the names Canopy knows (the `X-GitHub-Event` header),
//! what it does with each, and a delivery's body parsed once into the payload of its event.
//! The normaliser, the server's metrics, `canopy replay` and the fuzz target all use it, so a
//! new event is added in one place.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::payload as p;
use crate::normalize::NormalizeError;

/// A GitHub webhook event by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GithubEvent {
    /// `pull_request`
    PullRequest,
    /// `pull_request_review`
    PullRequestReview,
    /// `pull_request_review_comment`
    PullRequestReviewComment,
    /// `issue_comment`
    IssueComment,
    /// `push`
    Push,
    /// `check_run`
    CheckRun,
    /// `check_suite`
    CheckSuite,
    /// `workflow_run`
    WorkflowRun,
    /// `workflow_job`
    WorkflowJob,
    /// `status`
    Status,
    /// `ping` (sent when a webhook is created)
    Ping,
    /// `installation`
    Installation,
    /// `installation_repositories`
    InstallationRepositories,
    /// `github_app_authorization`
    GithubAppAuthorization,
    /// `issues` (received by App installations; not activity Canopy reads)
    Issues,
}

/// What Canopy does with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Read into events.
    Activity,
    /// Stored, then deliberately not processed, for this reason.
    Ignored(&'static str),
}

impl GithubEvent {
    /// Every event Canopy knows.
    pub const ALL: [GithubEvent; 15] = [
        GithubEvent::PullRequest,
        GithubEvent::PullRequestReview,
        GithubEvent::PullRequestReviewComment,
        GithubEvent::IssueComment,
        GithubEvent::Push,
        GithubEvent::CheckRun,
        GithubEvent::CheckSuite,
        GithubEvent::WorkflowRun,
        GithubEvent::WorkflowJob,
        GithubEvent::Status,
        GithubEvent::Ping,
        GithubEvent::Installation,
        GithubEvent::InstallationRepositories,
        GithubEvent::GithubAppAuthorization,
        GithubEvent::Issues,
    ];

    /// The name in the `X-GitHub-Event` header.
    pub fn as_str(self) -> &'static str {
        match self {
            GithubEvent::PullRequest => "pull_request",
            GithubEvent::PullRequestReview => "pull_request_review",
            GithubEvent::PullRequestReviewComment => "pull_request_review_comment",
            GithubEvent::IssueComment => "issue_comment",
            GithubEvent::Push => "push",
            GithubEvent::CheckRun => "check_run",
            GithubEvent::CheckSuite => "check_suite",
            GithubEvent::WorkflowRun => "workflow_run",
            GithubEvent::WorkflowJob => "workflow_job",
            GithubEvent::Status => "status",
            GithubEvent::Ping => "ping",
            GithubEvent::Installation => "installation",
            GithubEvent::InstallationRepositories => "installation_repositories",
            GithubEvent::GithubAppAuthorization => "github_app_authorization",
            GithubEvent::Issues => "issues",
        }
    }

    /// The event of a header value, if Canopy knows it.
    pub fn from_name(name: &str) -> Option<GithubEvent> {
        GithubEvent::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// What Canopy does with it.
    pub fn handling(self) -> Handling {
        match self {
            GithubEvent::Ping => Handling::Ignored("ping"),
            GithubEvent::Installation
            | GithubEvent::InstallationRepositories
            | GithubEvent::GithubAppAuthorization => {
                Handling::Ignored("installation change (no activity event)")
            }
            GithubEvent::Issues => Handling::Ignored("event type not used by Canopy"),
            _ => Handling::Activity,
        }
    }
}

impl fmt::Display for GithubEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a GitHub event Canopy knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown GitHub event {0:?}")]
pub struct UnknownEvent(pub String);

impl FromStr for GithubEvent {
    type Err = UnknownEvent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GithubEvent::from_name(s).ok_or_else(|| UnknownEvent(s.to_string()))
    }
}

/// A delivery's body: the fields every repository event carries, and its event's own.
#[derive(Debug)]
pub struct Delivered<T> {
    /// The action, for events that have one.
    pub action: Option<String>,
    /// Repository.
    pub repository: Option<p::Repository>,
    /// Who triggered the event.
    pub sender: Option<p::User>,
    /// The event's own fields.
    pub event: T,
}

/// The fields every repository event carries.
#[derive(Debug, Deserialize)]
struct Common {
    #[serde(default)]
    action: Option<String>,
    repository: Option<p::Repository>,
    sender: Option<p::User>,
}

/// The payload of an activity event, parsed once.
#[derive(Debug)]
pub enum Payload {
    /// `pull_request`
    PullRequest(Delivered<p::PullRequestEvent>),
    /// `pull_request_review`
    Review(Delivered<p::ReviewEvent>),
    /// `pull_request_review_comment`
    ReviewComment(Delivered<p::ReviewCommentEvent>),
    /// `issue_comment`
    IssueComment(Delivered<p::IssueCommentEvent>),
    /// `push`
    Push(Delivered<p::PushEvent>),
    /// `check_run`
    CheckRun(Delivered<p::CheckRunEvent>),
    /// `check_suite`
    CheckSuite(Delivered<p::CheckSuiteEvent>),
    /// `workflow_run`
    WorkflowRun(Delivered<p::WorkflowRunEvent>),
    /// `workflow_job`
    WorkflowJob(Delivered<p::WorkflowJobEvent>),
    /// `status`
    Status(Delivered<p::StatusEvent>),
}

/// The common fields and the event's own, each read straight from the body (two passes that
/// skip what they do not need are much cheaper than one that buffers every other field of a
/// large payload, as `#[serde(flatten)]` does).
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<Delivered<T>, NormalizeError> {
    let common: Common = serde_json::from_slice(body)?;
    let event: T = serde_json::from_slice(body)?;
    Ok(Delivered {
        action: common.action,
        repository: common.repository,
        sender: common.sender,
        event,
    })
}

impl Payload {
    /// Parses the body of an activity event; `None` for events Canopy does not read.
    pub fn parse(event: GithubEvent, body: &[u8]) -> Result<Option<Payload>, NormalizeError> {
        Ok(Some(match event {
            GithubEvent::PullRequest => Payload::PullRequest(parse(body)?),
            GithubEvent::PullRequestReview => Payload::Review(parse(body)?),
            GithubEvent::PullRequestReviewComment => Payload::ReviewComment(parse(body)?),
            GithubEvent::IssueComment => Payload::IssueComment(parse(body)?),
            GithubEvent::Push => Payload::Push(parse(body)?),
            GithubEvent::CheckRun => Payload::CheckRun(parse(body)?),
            GithubEvent::CheckSuite => Payload::CheckSuite(parse(body)?),
            GithubEvent::WorkflowRun => Payload::WorkflowRun(parse(body)?),
            GithubEvent::WorkflowJob => Payload::WorkflowJob(parse(body)?),
            GithubEvent::Status => Payload::Status(parse(body)?),
            GithubEvent::Ping
            | GithubEvent::Installation
            | GithubEvent::InstallationRepositories
            | GithubEvent::GithubAppAuthorization
            | GithubEvent::Issues => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_unknown_names_are_refused() {
        for e in GithubEvent::ALL {
            assert_eq!(e.as_str().parse::<GithubEvent>(), Ok(e));
            let activity = e.handling() == Handling::Activity;
            assert_eq!(
                Payload::parse(e, b"{}").is_ok_and(|p| p.is_none()),
                !activity
            );
        }
        assert!("pull_requests".parse::<GithubEvent>().is_err());
    }
}
