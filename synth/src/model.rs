//! The planned history: pull requests with their pushes, reviews, comments and outcome,
//! pushes to `main` and nightly jobs. [`crate::story`] plans it, [`crate::repos`] gives its
//! commits their ids, [`crate::github`] renders it as webhook deliveries.

use chrono::{DateTime, FixedOffset, Utc};

use crate::ci::{Job, Rerun};
use crate::git::Edit;
use crate::text::Kind;

/// A commit as planned (its id comes from the git pass).
#[derive(Debug, Clone)]
pub struct PlannedCommit {
    /// Author (index into the cast).
    pub author: usize,
    /// Author time in the author's time zone.
    pub at: DateTime<FixedOffset>,
    /// Subject line.
    pub subject: String,
    /// File edits.
    pub edits: Vec<Edit>,
    /// Whether the commit carries the author's work email instead of the noreply address.
    pub work_email: bool,
    /// Index in the repository's git history, once made.
    pub index: Option<usize>,
}

/// A push of commits to a pull request's branch, and the CI it triggered.
#[derive(Debug, Clone)]
pub struct Push {
    /// When it was pushed.
    pub at: DateTime<Utc>,
    /// The commits pushed.
    pub commits: Vec<PlannedCommit>,
    /// CI jobs run on the pushed head (first attempts and reruns).
    pub jobs: Vec<Job>,
    /// Rerun requests.
    pub reruns: Vec<Rerun>,
}

/// A comment (on the conversation, or inline on a file when `path` is set).
#[derive(Debug, Clone)]
pub struct Note {
    /// When.
    pub at: DateTime<Utc>,
    /// Comment id.
    pub id: u64,
    /// Who wrote it.
    pub author: usize,
    /// Text.
    pub body: String,
    /// File of an inline comment.
    pub path: Option<String>,
}

/// A submitted review.
#[derive(Debug, Clone)]
pub struct Review {
    /// When.
    pub at: DateTime<Utc>,
    /// Review id.
    pub id: u64,
    /// Reviewer.
    pub reviewer: usize,
    /// `approved`, `changes_requested` or `commented`.
    pub state: &'static str,
    /// Review text.
    pub body: String,
    /// Inline comments submitted with it.
    pub inline: Vec<Note>,
}

/// How a pull request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Merged by someone.
    Merged {
        /// When.
        at: DateTime<Utc>,
        /// Who merged.
        by: usize,
    },
    /// Closed without merging.
    Closed {
        /// When.
        at: DateTime<Utc>,
        /// Who closed it.
        by: usize,
    },
    /// Still open at the end of the history.
    Open,
}

/// One pull request's life.
#[derive(Debug, Clone)]
pub struct Change {
    /// Repository index.
    pub repo: usize,
    /// PR number.
    pub number: u64,
    /// PR object id.
    pub id: u64,
    /// Author.
    pub author: usize,
    /// Kind.
    pub kind: Kind,
    /// Title.
    pub title: String,
    /// Description.
    pub body: String,
    /// Head branch name.
    pub branch: String,
    /// Labels.
    pub labels: Vec<&'static str>,
    /// Opened from a fork (no push events reach the repository).
    pub from_fork: bool,
    /// Opened as a draft, marked ready at this time.
    pub ready_at: Option<DateTime<Utc>>,
    /// Opened.
    pub opened_at: DateTime<Utc>,
    /// Pushes; the first one comes before the opening.
    pub pushes: Vec<Push>,
    /// Review requests: (when, reviewer, requested by).
    pub requests: Vec<(DateTime<Utc>, usize, usize)>,
    /// Reviews.
    pub reviews: Vec<Review>,
    /// Conversation comments.
    pub comments: Vec<Note>,
    /// End.
    pub outcome: Outcome,
}

impl Change {
    /// Every path this change edits.
    pub fn paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .pushes
            .iter()
            .flat_map(|p| {
                p.commits
                    .iter()
                    .flat_map(|c| c.edits.iter().map(|e| e.path.clone()))
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// A push straight to `main`: a merge (by index into the changes) or a maintainer's commit.
#[derive(Debug, Clone)]
pub struct MainPush {
    /// When.
    pub at: DateTime<Utc>,
    /// Who pushed (or merged).
    pub pusher: usize,
    /// Repository.
    pub repo: usize,
    /// The merged change, or the direct commit.
    pub what: MainWhat,
    /// CI jobs on the new tip.
    pub jobs: Vec<Job>,
    /// Index of the new tip in the repository's git history, once made.
    pub tip: Option<usize>,
}

/// What a push to `main` carries.
#[derive(Debug, Clone)]
pub enum MainWhat {
    /// The merge of change `n` (index into the changes).
    Merge(usize),
    /// A direct commit.
    Direct(PlannedCommit),
}

/// A scheduled job on `main` (the nightly benchmark).
#[derive(Debug, Clone)]
pub struct Nightly {
    /// Repository.
    pub repo: usize,
    /// The job.
    pub job: Job,
}

/// Counters for GitHub object ids.
#[derive(Debug, Clone)]
pub struct Ids {
    next: [u64; 6],
}

/// Kinds of GitHub ids.
#[derive(Debug, Clone, Copy)]
pub enum IdKind {
    /// Pull request object ids.
    Pr = 0,
    /// Review ids.
    Review = 1,
    /// Comment ids.
    Comment = 2,
    /// Workflow run ids.
    Run = 3,
    /// Job and check run ids.
    Job = 4,
    /// Workflow run numbers.
    RunNumber = 5,
}

impl Default for Ids {
    fn default() -> Ids {
        Ids {
            next: [
                2_100_000_000,
                2_400_000_000,
                2_300_000_000,
                11_900_000_000,
                33_400_000_000,
                100,
            ],
        }
    }
}

impl Ids {
    /// The next id of `kind`.
    pub fn next(&mut self, kind: IdKind) -> u64 {
        let i = kind as usize;
        self.next[i] += 1;
        self.next[i]
    }
}
