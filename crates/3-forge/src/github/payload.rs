//! The parts of GitHub's webhook payloads that Canopy reads. Serde ignores every other field, so
//! a payload of tens of kilobytes costs only what is used, and fields GitHub omits in some
//! versions (or older GitHub Enterprise Server releases) do not make a delivery unreadable.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A user (or bot) object.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// Login.
    pub login: String,
}

/// The repository every repository-scoped payload carries.
#[derive(Debug, Clone, Deserialize)]
pub struct Repository {
    /// `owner/name`.
    pub full_name: String,
}

/// A label.
#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    /// Label name.
    pub name: String,
}

/// A branch reference of a pull request.
#[derive(Debug, Clone, Deserialize)]
pub struct Branch {
    /// Branch name.
    #[serde(rename = "ref")]
    pub ref_name: String,
    /// Commit id.
    pub sha: String,
}

/// A pull request object.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    /// PR number.
    pub number: u64,
    /// Author.
    pub user: User,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Description.
    #[serde(default)]
    pub body: Option<String>,
    /// Draft flag.
    #[serde(default)]
    pub draft: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last updated.
    pub updated_at: Option<DateTime<Utc>>,
    /// Closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Merged.
    pub merged_at: Option<DateTime<Utc>>,
    /// Merged flag (in `closed` events).
    #[serde(default)]
    pub merged: bool,
    /// Lines added.
    #[serde(default)]
    pub additions: u64,
    /// Lines deleted.
    #[serde(default)]
    pub deletions: u64,
    /// Files changed.
    #[serde(default)]
    pub changed_files: u64,
    /// Commits.
    #[serde(default)]
    pub commits: u32,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Target branch.
    pub base: Branch,
    /// Source branch.
    pub head: Branch,
    /// Reviewers currently requested.
    #[serde(default)]
    pub requested_reviewers: Vec<User>,
    /// Web address.
    pub html_url: Option<String>,
}

/// `pull_request` event.
#[derive(Debug, Deserialize)]
pub struct PullRequestEvent {
    /// The PR.
    pub pull_request: PullRequest,
    /// Reviewer added by `review_requested` (absent when a team was requested).
    pub requested_reviewer: Option<User>,
}

/// A review.
#[derive(Debug, Deserialize)]
pub struct Review {
    /// Review id.
    pub id: u64,
    /// Reviewer (null for deleted users).
    pub user: Option<User>,
    /// Review text.
    pub body: Option<String>,
    /// `approved`, `changes_requested`, `commented`, `dismissed`.
    pub state: String,
    /// Submission time.
    pub submitted_at: Option<DateTime<Utc>>,
}

/// The PR part of review and review-comment payloads.
#[derive(Debug, Deserialize)]
pub struct PullRequestRef {
    /// PR number.
    pub number: u64,
    /// Author.
    pub user: Option<User>,
}

/// `pull_request_review` event.
#[derive(Debug, Deserialize)]
pub struct ReviewEvent {
    /// The review.
    pub review: Review,
    /// Its PR.
    pub pull_request: PullRequestRef,
}

/// A comment (issue comment or review comment).
#[derive(Debug, Deserialize)]
pub struct Comment {
    /// Comment id.
    pub id: u64,
    /// Author (null for deleted users).
    pub user: Option<User>,
    /// Text.
    #[serde(default)]
    pub body: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last edited.
    pub updated_at: Option<DateTime<Utc>>,
    /// The author's association with the repository.
    pub author_association: Option<String>,
}

/// `pull_request_review_comment` event.
#[derive(Debug, Deserialize)]
pub struct ReviewCommentEvent {
    /// The comment.
    pub comment: Comment,
    /// Its PR.
    pub pull_request: PullRequestRef,
}

/// The issue of an `issue_comment` event.
#[derive(Debug, Deserialize)]
pub struct Issue {
    /// Issue or PR number.
    pub number: u64,
    /// Author.
    pub user: Option<User>,
    /// Present when the issue is a pull request.
    pub pull_request: Option<serde_json::Value>,
}

/// `issue_comment` event.
#[derive(Debug, Deserialize)]
pub struct IssueCommentEvent {
    /// The comment.
    pub comment: Comment,
    /// Its issue or PR.
    pub issue: Issue,
}

/// `push` event.
#[derive(Debug, Deserialize)]
pub struct PushEvent {
    /// Full ref name.
    #[serde(rename = "ref")]
    pub ref_name: String,
    /// Old tip.
    pub before: String,
    /// New tip.
    pub after: String,
    /// Force push.
    #[serde(default)]
    pub forced: bool,
    /// Commits pushed (GitHub lists at most 20).
    #[serde(default)]
    pub commits: Vec<serde_json::Value>,
    /// The head commit's timestamp, when there is one.
    pub head_commit: Option<HeadCommit>,
}

/// The head commit of a push.
#[derive(Debug, Deserialize)]
pub struct HeadCommit {
    /// Author timestamp with the author's offset.
    pub timestamp: DateTime<chrono::FixedOffset>,
}

/// A PR a check run or workflow run belongs to.
#[derive(Debug, Deserialize)]
pub struct PrNumber {
    /// PR number.
    pub number: u64,
}

/// The app that created a check run.
#[derive(Debug, Deserialize)]
pub struct App {
    /// Slug (`github-actions`...).
    pub slug: Option<String>,
}

/// A check run.
#[derive(Debug, Deserialize)]
pub struct CheckRun {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Commit.
    pub head_sha: String,
    /// `queued`, `in_progress`, `completed`.
    pub status: Option<String>,
    /// Outcome when completed.
    pub conclusion: Option<String>,
    /// Started.
    pub started_at: Option<DateTime<Utc>>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Web address.
    pub html_url: Option<String>,
    /// Creating app.
    pub app: Option<App>,
    /// PRs of this commit.
    #[serde(default)]
    pub pull_requests: Vec<PrNumber>,
}

/// `check_run` event.
#[derive(Debug, Deserialize)]
pub struct CheckRunEvent {
    /// The check run.
    pub check_run: CheckRun,
}

/// A check suite.
#[derive(Debug, Deserialize)]
pub struct CheckSuite {
    /// Id.
    pub id: u64,
    /// Commit.
    pub head_sha: String,
    /// PRs of this commit.
    #[serde(default)]
    pub pull_requests: Vec<PrNumber>,
    /// Last update.
    pub updated_at: Option<DateTime<Utc>>,
}

/// `check_suite` event.
#[derive(Debug, Deserialize)]
pub struct CheckSuiteEvent {
    /// The suite.
    pub check_suite: CheckSuite,
}

/// A workflow run.
#[derive(Debug, Deserialize)]
pub struct WorkflowRun {
    /// Id.
    pub id: u64,
    /// Workflow name.
    pub name: Option<String>,
    /// Commit.
    pub head_sha: String,
    /// Attempt (1 for the first run).
    #[serde(default = "one")]
    pub run_attempt: u32,
    /// Start of this attempt.
    pub run_started_at: Option<DateTime<Utc>>,
    /// Last update.
    pub updated_at: Option<DateTime<Utc>>,
    /// PRs.
    #[serde(default)]
    pub pull_requests: Vec<PrNumber>,
    /// Who triggered this attempt.
    pub triggering_actor: Option<User>,
}

fn one() -> u32 {
    1
}

/// `workflow_run` event.
#[derive(Debug, Deserialize)]
pub struct WorkflowRunEvent {
    /// The run.
    pub workflow_run: WorkflowRun,
}

/// A workflow job.
#[derive(Debug, Deserialize)]
pub struct WorkflowJob {
    /// Id.
    pub id: u64,
    /// Run id.
    pub run_id: u64,
    /// Attempt.
    #[serde(default = "one")]
    pub run_attempt: u32,
    /// Job name.
    pub name: String,
    /// Workflow name.
    pub workflow_name: Option<String>,
    /// Commit.
    pub head_sha: String,
    /// Outcome when completed.
    pub conclusion: Option<String>,
    /// Started.
    pub started_at: Option<DateTime<Utc>>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Runner labels (`ubuntu-latest`...).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Web address.
    pub html_url: Option<String>,
}

/// `workflow_job` event.
#[derive(Debug, Deserialize)]
pub struct WorkflowJobEvent {
    /// The job.
    pub workflow_job: WorkflowJob,
}

/// `status` event (commit status from an external CI).
#[derive(Debug, Deserialize)]
pub struct StatusEvent {
    /// Status id.
    pub id: u64,
    /// Commit.
    pub sha: String,
    /// `pending`, `success`, `failure`, `error`.
    pub state: String,
    /// Status context (the job's name).
    pub context: String,
    /// Link.
    pub target_url: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: Option<DateTime<Utc>>,
}
