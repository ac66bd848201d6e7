//! The platform-neutral `Event`: what every adapter (git, GitHub, Gerrit/Zuul) produces and
//! every analysis consumes. Serialised as JSON with a schema version so stored events can be
//! read back by later releases.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;

mod platform;
pub use platform::Platform;

/// Schema version written into every event; bump it when a change is not backward compatible.
pub const EVENT_SCHEMA_VERSION: u16 = 1;

/// One thing that happened in a repository, with when and where it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Schema version of this record ([`EVENT_SCHEMA_VERSION`] when written by this release).
    pub v: u16,
    /// Identifier unique within `repo` and derived from the source object, so that the same
    /// object seen twice (webhook redelivery, backfill, second git run) is stored once.
    pub id: String,
    /// Source platform.
    pub platform: Platform,
    /// Repository (GitHub `owner/name`, Gerrit project, or the name given to a git clone).
    pub repo: String,
    /// When it happened, with the UTC offset of the source where it is known.
    pub at: DateTime<FixedOffset>,
    /// Webhook delivery that carried it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// Builds an event with the current schema version.
    pub fn new(
        id: impl Into<String>,
        platform: Platform,
        repo: impl Into<String>,
        at: DateTime<FixedOffset>,
        kind: EventKind,
    ) -> Self {
        Event {
            v: EVENT_SCHEMA_VERSION,
            id: id.into(),
            platform,
            repo: repo.into(),
            at,
            delivery_id: None,
            kind,
        }
    }

    /// The instant in UTC, used for ordering and range scans.
    pub fn at_utc(&self) -> DateTime<Utc> {
        self.at.with_timezone(&Utc)
    }

    /// Milliseconds since the Unix epoch, the store's sort key.
    pub fn at_millis(&self) -> i64 {
        self.at.timestamp_millis()
    }

    /// Every person this event is about (author, reviewer, commenter...), for per-actor indexes.
    pub fn actors(&self) -> Vec<&Actor> {
        match &self.kind {
            EventKind::Change(c) => {
                let mut v = vec![&c.author];
                v.extend(c.actor.iter());
                v.extend(c.reviewers_requested.iter());
                v
            }
            EventKind::Commit(c) => {
                let mut v = vec![&c.author];
                if c.committer.key != c.author.key {
                    v.push(&c.committer);
                }
                v.extend(c.co_authors.iter());
                v
            }
            EventKind::Review(r) => vec![&r.reviewer],
            EventKind::Comment(c) => vec![&c.author],
            EventKind::CiJobFinished(_) | EventKind::CiEnergyMeasured(_) => vec![],
            EventKind::RerunRequested(r) => vec![&r.requested_by],
            EventKind::Push(p) => vec![&p.pusher],
        }
    }

    /// The short name of the event kind, as serialised in the `kind` field.
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// The PR or change this event belongs to, when the payload says so.
    pub fn change_number(&self) -> Option<u64> {
        match &self.kind {
            EventKind::Change(c) => Some(c.number),
            EventKind::Review(r) => Some(r.change),
            EventKind::Comment(c) if c.on_change => Some(c.number),
            EventKind::CiJobFinished(j) => j.change,
            EventKind::CiEnergyMeasured(m) => m.change,
            EventKind::RerunRequested(r) => r.change,
            _ => None,
        }
    }

    /// The commit a CI job or rerun ran on (to attribute jobs to a PR by its head).
    pub fn head_sha(&self) -> Option<&str> {
        match &self.kind {
            EventKind::CiJobFinished(j) => j.head_sha.as_deref(),
            EventKind::CiEnergyMeasured(m) => m.head_sha.as_deref(),
            EventKind::RerunRequested(r) => r.head_sha.as_deref(),
            EventKind::Change(c) => c.head_sha.as_deref(),
            _ => None,
        }
    }
}

/// The payload of an event, tagged by `kind` in JSON with its fields under `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum EventKind {
    /// A pull request or Gerrit change changed state.
    Change(ChangeEvent),
    /// A commit (from git history or a push).
    Commit(CommitEvent),
    /// A review verdict or Gerrit vote.
    Review(ReviewEvent),
    /// A comment with its text.
    Comment(CommentEvent),
    /// A CI job finished.
    CiJobFinished(CiJobEvent),
    /// A finished CI job's energy was measured (or a measurement was tried and failed).
    CiEnergyMeasured(EnergyMeasuredEvent),
    /// Somebody asked for a CI job to run again.
    RerunRequested(RerunEvent),
    /// Commits were pushed to a branch.
    Push(PushEvent),
}

impl EventKind {
    /// The short name of the kind, as serialised in the `kind` field.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Change(_) => "change",
            EventKind::Commit(_) => "commit",
            EventKind::Review(_) => "review",
            EventKind::Comment(_) => "comment",
            EventKind::CiJobFinished(_) => "ci_job_finished",
            EventKind::CiEnergyMeasured(_) => "ci_energy_measured",
            EventKind::RerunRequested(_) => "rerun_requested",
            EventKind::Push(_) => "push",
        }
    }
}

/// What happened to a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// Opened (GitHub) or first patchset uploaded (Gerrit).
    Opened,
    /// New commits pushed (GitHub `synchronize`) or a new patchset (Gerrit).
    Updated,
    /// Title, description or base edited.
    Edited,
    /// Merged.
    Merged,
    /// Closed without merging (GitHub) or abandoned (Gerrit).
    Closed,
    /// Reopened (GitHub) or restored (Gerrit).
    Reopened,
    /// Draft marked ready for review (GitHub) or WIP cleared (Gerrit).
    ReadyForReview,
    /// Marked as draft (GitHub) or WIP set (Gerrit).
    ConvertedToDraft,
    /// A reviewer was requested (GitHub) or added (Gerrit).
    ReviewRequested,
}

/// Size of a change at the time of the event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSize {
    /// Lines added.
    pub additions: u64,
    /// Lines deleted.
    pub deletions: u64,
    /// Files changed.
    pub files_changed: u64,
    /// Commits (GitHub) or patchsets so far (Gerrit).
    pub commits: u32,
}

/// A pull request or Gerrit change event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// PR number (GitHub) or change number (Gerrit).
    pub number: u64,
    /// What happened.
    pub action: ChangeAction,
    /// Who opened the change.
    pub author: Actor,
    /// Who did this action, when it is not the author (merger, closer, restorer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// Title (first line of the commit message on Gerrit).
    #[serde(default)]
    pub title: String,
    /// Description body; free text, used only for model features, never shown in reports.
    #[serde(default)]
    pub description: String,
    /// Draft (GitHub) or work in progress (Gerrit).
    #[serde(default)]
    pub draft: bool,
    /// When the change was created.
    pub created_at: DateTime<FixedOffset>,
    /// Size at this moment.
    #[serde(default)]
    pub size: ChangeSize,
    /// Labels (GitHub) or hashtags (Gerrit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Target branch.
    #[serde(default)]
    pub base_ref: String,
    /// Head commit of the change at this moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// Gerrit patchset number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patchset: Option<u32>,
    /// Gerrit Change-Id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// Reviewers requested or added by this event (or all currently requested, where known).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviewers_requested: Vec<Actor>,
    /// Web address of the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl ChangeEvent {
    /// A change event with its number, action, author and opening time and nothing else
    /// (synthetic histories, tests and benchmarks fill in the rest with struct update syntax).
    pub fn new(
        number: u64,
        action: ChangeAction,
        author: Actor,
        created_at: DateTime<FixedOffset>,
    ) -> ChangeEvent {
        ChangeEvent {
            number,
            action,
            author,
            actor: None,
            title: String::new(),
            description: String::new(),
            draft: false,
            created_at,
            size: ChangeSize::default(),
            labels: vec![],
            base_ref: "main".into(),
            head_sha: None,
            patchset: None,
            change_id: None,
            reviewers_requested: vec![],
            url: None,
        }
    }
}

/// How one file changed in a commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Path in the new tree (the old one for deletions).
    pub path: String,
    /// Lines added (0 for binary or unreadable content).
    pub added: u32,
    /// Lines deleted (0 for binary or unreadable content).
    pub deleted: u32,
    /// Whether the line counts are real.
    #[serde(default, skip_serializing_if = "FileStatus::is_text")]
    pub status: FileStatus,
    /// The file's previous path when it was renamed (its lines are those edited in the move).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// The file it was copied from, when copy detection is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
}

/// Whether the line counts of a [`FileChange`] could be computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// A text file; counts are exact.
    #[default]
    Text,
    /// Binary content (as `git log --numstat` prints `-`).
    Binary,
    /// A blob could not be read (missing from a partial clone, corrupt): counts unknown.
    Unreadable,
}

impl FileStatus {
    /// True for the default, so it is omitted from JSON.
    pub fn is_text(&self) -> bool {
        matches!(self, FileStatus::Text)
    }
}

/// A `Key: value` line from the end of a commit message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// Trailer key as written (e.g. `Change-Id`, `Co-authored-by`).
    pub key: String,
    /// Trailer value.
    pub value: String,
}

/// A commit with its identities, times and line statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitEvent {
    /// Full hexadecimal object id.
    pub sha: String,
    /// Parent ids; more than one for a merge.
    #[serde(default)]
    pub parents: Vec<String>,
    /// Author identity.
    pub author: Actor,
    /// Committer identity.
    pub committer: Actor,
    /// Author time with the author's UTC offset (also `Event::at`).
    pub author_time: DateTime<FixedOffset>,
    /// Committer time with the committer's UTC offset.
    pub commit_time: DateTime<FixedOffset>,
    /// First line of the message.
    #[serde(default)]
    pub subject: String,
    /// Per-file line counts against the first parent (empty for merges, as `git log --numstat`).
    #[serde(default)]
    pub files: Vec<FileChange>,
    /// Trailers of the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trailers: Vec<Trailer>,
    /// People named in `Co-authored-by` trailers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_authors: Vec<Actor>,
    /// Gerrit `Change-Id` trailer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// PR number from a `Merge pull request #N` subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_pr: Option<u64>,
    /// Objects of this commit that could not be read; its statistics are incomplete if non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unreadable_objects: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl CommitEvent {
    /// A commit by `author` at `at` with no parents, files or trailers (synthetic histories,
    /// tests and benchmarks fill in the rest with struct update syntax).
    pub fn new(sha: impl Into<String>, author: Actor, at: DateTime<FixedOffset>) -> CommitEvent {
        CommitEvent {
            sha: sha.into(),
            parents: vec![],
            committer: author.clone(),
            author,
            author_time: at,
            commit_time: at,
            subject: String::new(),
            files: vec![],
            trailers: vec![],
            co_authors: vec![],
            change_id: None,
            merged_pr: None,
            unreadable_objects: 0,
        }
    }

    /// True when the commit has more than one parent.
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }

    /// Lines added over all files.
    pub fn lines_added(&self) -> u64 {
        self.files.iter().map(|f| u64::from(f.added)).sum()
    }

    /// Lines deleted over all files.
    pub fn lines_deleted(&self) -> u64 {
        self.files.iter().map(|f| u64::from(f.deleted)).sum()
    }
}

/// A review verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewVerdict {
    /// Approved (GitHub) or a positive Code-Review vote (Gerrit).
    Approved,
    /// Changes requested (GitHub) or a negative Code-Review vote (Gerrit).
    ChangesRequested,
    /// A review without a verdict.
    Commented,
    /// A review was dismissed.
    Dismissed,
}

/// A Gerrit label vote such as `Code-Review +2` or `Verified -1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Label name.
    pub label: String,
    /// Vote value.
    pub value: i32,
}

/// A review of a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewEvent {
    /// PR or change number.
    pub change: u64,
    /// Gerrit patchset reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patchset: Option<u32>,
    /// Who reviewed.
    pub reviewer: Actor,
    /// The change's author, when the payload names it (for "review received" indicators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_author: Option<Actor>,
    /// Verdict.
    pub verdict: ReviewVerdict,
    /// Gerrit votes cast with this review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub votes: Vec<Vote>,
    /// Review body, if any (free text; personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A comment with its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentEvent {
    /// PR, change or issue number.
    pub number: u64,
    /// True when `number` is a PR or change, false for a plain issue.
    pub on_change: bool,
    /// Platform comment id.
    pub comment_id: String,
    /// Who wrote it.
    pub author: Actor,
    /// Author of the PR/change/issue it was written on (who receives it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressee: Option<Actor>,
    /// The text (personal data: never logged, never in reports).
    pub body: String,
    /// An inline review comment on a line of code.
    #[serde(default)]
    pub inline: bool,
    /// Edited rather than newly created.
    #[serde(default)]
    pub edited: bool,
    /// The author's relation to the repository as the platform reports it (GitHub's
    /// `author_association`: `OWNER`, `MEMBER`, `COLLABORATOR`, `CONTRIBUTOR`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_role: Option<String>,
}

impl ReviewEvent {
    /// A review of `change` by `reviewer` with its verdict, and nothing else known (no
    /// patchset, author, votes or body; set them with struct update syntax).
    pub fn new(change: u64, reviewer: Actor, verdict: ReviewVerdict) -> ReviewEvent {
        ReviewEvent {
            change,
            patchset: None,
            reviewer,
            change_author: None,
            verdict,
            votes: vec![],
            body: None,
        }
    }
}

impl CommentEvent {
    /// A new conversation comment on change `number`, with its id, author and text, and
    /// nothing else known (no addressee, not inline, not edited, no role).
    pub fn on_change(
        number: u64,
        comment_id: impl Into<String>,
        author: Actor,
        body: impl Into<String>,
    ) -> CommentEvent {
        CommentEvent {
            number,
            on_change: true,
            comment_id: comment_id.into(),
            author,
            addressee: None,
            body: body.into(),
            inline: false,
            edited: false,
            author_role: None,
        }
    }
}

/// Result of a CI job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiResult {
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// Cancelled or aborted.
    Cancelled,
    /// Skipped.
    Skipped,
    /// Timed out.
    TimedOut,
    /// Infrastructure error, unstable, or any other non-pass outcome.
    Error,
}

/// A finished CI job (GitHub Actions job/check run, Zuul job, Jenkins build).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiJobEvent {
    /// Job name.
    pub name: String,
    /// CI system (`github-actions`, `zuul`, `jenkins`, or a status context's app).
    pub system: String,
    /// Pipeline (Zuul `check`/`gate`, or the GitHub workflow name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// How long it ran, in seconds.
    pub duration_secs: u64,
    /// Runner label (GitHub) or node label (Zuul).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// The machine or pod it ran on (GitHub's runner name), where the platform says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Outcome.
    pub result: CiResult,
    /// Whether the job votes (false for Zuul's "(non-voting)" jobs).
    pub voting: bool,
    /// PR or change number it ran for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<u64>,
    /// Gerrit patchset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patchset: Option<u32>,
    /// Commit it ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// Run identifier (GitHub workflow run id, Zuul build uuid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Attempt number (1 for the first run).
    #[serde(default = "one")]
    pub attempt: u32,
    /// When the job started, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<FixedOffset>>,
    /// Link to the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl CiJobEvent {
    /// A voting first attempt with its name, CI system, duration and result, and nothing else
    /// known (set the other fields with struct update syntax).
    pub fn new(
        name: impl Into<String>,
        system: impl Into<String>,
        duration_secs: u64,
        result: CiResult,
    ) -> CiJobEvent {
        CiJobEvent {
            name: name.into(),
            system: system.into(),
            pipeline: None,
            duration_secs,
            runner: None,
            host: None,
            result,
            voting: true,
            change: None,
            patchset: None,
            head_sha: None,
            run_id: None,
            attempt: 1,
            started_at: None,
            url: None,
        }
    }

    /// The job's name with its pipeline (`tempest (check)`): runs of the same key are runs of
    /// the same job, for stopping points and per-job indexes.
    pub fn job_key(&self) -> String {
        match &self.pipeline {
            Some(p) if !p.is_empty() => format!("{} ({p})", self.name),
            _ => self.name.clone(),
        }
    }
}

fn one() -> u32 {
    1
}

/// The measured energy of a finished CI job, from the exporter of the runner it ran on (Kepler,
/// Scaphandre, RAPL via Prometheus), or why there is none; recorded beside the job, whose
/// estimate stays what is shown when the measurement failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyMeasuredEvent {
    /// Id of the job's `ci_job_finished` event (same repository).
    pub job_id: String,
    /// Job name.
    pub name: String,
    /// The runner profile (configuration key) whose source was queried.
    pub source: String,
    /// PR or change number of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<u64>,
    /// Gerrit patchset of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patchset: Option<u32>,
    /// Commit the job ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// 1 for the first try, 2 for the retry.
    pub attempt: u32,
    /// What came of it.
    pub outcome: MeasureOutcome,
}

/// The result of measuring a job's energy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MeasureOutcome {
    /// Measured.
    Measured {
        /// Energy, joules.
        joules: f64,
        /// Series summed.
        series: usize,
        /// Share of the job's window the samples cover.
        coverage: f64,
    },
    /// No usable measurement: the estimate stands.
    Unmeasured {
        /// Why, in words.
        reason: String,
        /// When the one retry is due, if one will be made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at: Option<DateTime<Utc>>,
    },
}

impl MeasureOutcome {
    /// Energy in kWh when measured.
    pub fn kwh(&self) -> Option<f64> {
        match self {
            MeasureOutcome::Measured { joules, .. } => Some(joules / 3.6e6),
            MeasureOutcome::Unmeasured { .. } => None,
        }
    }
}

/// A request to run CI again (GitHub re-run, Gerrit `recheck`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerunEvent {
    /// PR or change number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<u64>,
    /// Gerrit patchset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patchset: Option<u32>,
    /// Job or check name, when a single job is rerun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Run identifier to rerun (GitHub workflow run id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Commit the rerun is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// Who asked.
    pub requested_by: Actor,
}

/// Commits pushed to a ref.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushEvent {
    /// Full ref name.
    pub ref_name: String,
    /// Old tip.
    pub before: String,
    /// New tip.
    pub after: String,
    /// Who pushed.
    pub pusher: Actor,
    /// Number of commits in the push.
    pub commits: u32,
    /// Force push.
    #[serde(default)]
    pub forced: bool,
}
