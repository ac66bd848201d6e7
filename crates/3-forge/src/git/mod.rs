//! The git adapter: reads a local repository (bare or not, shallow or partial) with gitoxide and
//! turns every commit on a ref into a commit `Event` in the store. Diffs of different commits
//! are computed on several threads. Missing objects are counted, never fatal; a second run
//! reads only commits it has not stored yet.

pub mod commit;
mod lcs;
pub mod numstat;
mod pipeline;
pub mod renames;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use canopy_store::{Store, StoreError};
use gix::ObjectId;
use serde::{Deserialize, Serialize};

pub use renames::Renames;

/// Why a history could not be read at all. (Partial damage is reported, not an error.)
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The path is not a git repository.
    #[error("{path} is not a git repository (or cannot be opened as one): {message}")]
    NotARepository {
        /// Path given.
        path: PathBuf,
        /// What gitoxide said.
        message: String,
    },
    /// The revision does not resolve to a commit.
    #[error("cannot resolve {rev:?} in {path} to a commit: {message}")]
    BadRevision {
        /// Repository path.
        path: PathBuf,
        /// Revision given.
        rev: String,
        /// What gitoxide said.
        message: String,
    },
    /// The store already holds this repository's commits counted with other rename settings.
    #[error(
        "the store holds {repo}'s commits counted with {stored}, not {asked}: use the same \
         settings, or another --store (or none) to read the history again"
    )]
    RenamesChanged {
        /// Repository name.
        repo: String,
        /// Settings of the stored commits, as git options.
        stored: String,
        /// Settings asked for, as git options.
        asked: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to read a history.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Repository name used in the store and reports.
    pub repo_name: String,
    /// Revision whose history is read (`HEAD`, a branch, a commit id).
    pub rev: String,
    /// Worker threads for diffs (at least 1).
    pub jobs: usize,
    /// How renamed and copied files are recognised (git's defaults unless set).
    pub renames: Renames,
}

/// What an ingest run did and what it could not read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Commits reached by the walk in this run (new and already stored).
    pub commits_walked: u64,
    /// Commits stored by this run.
    pub commits_new: u64,
    /// Commits skipped because an earlier run stored them.
    pub commits_already_stored: u64,
    /// Objects that could not be read (missing blobs or trees, missing commits).
    pub unreadable_objects: u64,
    /// Commits whose object is missing entirely (their ancestry beyond them is not walked).
    pub missing_commits: u64,
    /// Commits whose line statistics are incomplete because an object is missing.
    pub commits_with_unreadable_objects: u64,
    /// Commits at a shallow clone's boundary (their parent is absent by design; no statistics).
    pub shallow_boundary_commits: u64,
    /// Commits with a malformed identity or date that was repaired.
    pub repaired_signatures: u64,
    /// Commits with no readable date at all (counted, not placed in any week).
    pub undated_commits: u64,
    /// Whether the repository is a shallow clone.
    pub shallow: bool,
    /// Wall time of the run in seconds.
    pub seconds: f64,
}

impl IngestReport {
    /// Human-readable warnings for everything that could not be read.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.shallow {
            w.push(format!(
                "shallow clone: history stops at {} boundary commit(s), which have no line statistics; \
                 run `git fetch --unshallow` for the full history",
                self.shallow_boundary_commits
            ));
        }
        if self.missing_commits > 0 {
            w.push(format!(
                "{} commit object(s) are missing; history behind them was not read",
                self.missing_commits
            ));
        }
        if self.commits_with_unreadable_objects > 0 {
            w.push(format!(
                "{} commit(s) have incomplete line statistics: {} object(s) (blobs or trees) could not be read, \
                 as in a partial clone (--filter) or a damaged repository",
                self.commits_with_unreadable_objects, self.unreadable_objects - self.missing_commits
            ));
        }
        if self.repaired_signatures > 0 {
            w.push(format!(
                "{} commit(s) have a malformed author or committer (missing email, bad date or time zone); \
                 kept with what could be read",
                self.repaired_signatures
            ));
        }
        if self.undated_commits > 0 {
            w.push(format!(
                "{} commit(s) have no readable date; counted but not placed in any week",
                self.undated_commits
            ));
        }
        w
    }
}

/// Progress of a run, for a progress line on long histories.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Commits walked so far.
    pub walked: u64,
    /// New commits diffed and written so far.
    pub written: u64,
}

/// Meta key under which completed tips of a repository are recorded.
fn tips_key(repo: &str) -> String {
    format!("git_tips:{repo}")
}

/// Meta key under which the rename settings of a repository's stored commits are recorded.
fn renames_key(repo: &str) -> String {
    format!("git_renames:{repo}")
}

/// Checks that stored commits were counted with `asked` and records it for a new repository.
/// Commits stored before rename detection existed were counted with exact renames only.
fn check_renames(
    store: &dyn Store,
    repo: &str,
    asked: &Renames,
    has_commits: bool,
) -> Result<(), GitError> {
    let stored: Option<Renames> = store
        .get_meta(&renames_key(repo))?
        .and_then(|b| serde_json::from_slice(&b).ok());
    let stored = match (stored, has_commits) {
        (Some(s), _) => s,
        (None, true) => Renames::exact(),
        (None, false) => *asked,
    };
    if has_commits && stored != *asked {
        return Err(GitError::RenamesChanged {
            repo: repo.to_string(),
            stored: stored.git_args(),
            asked: asked.git_args(),
        });
    }
    store.put_meta(
        &renames_key(repo),
        &serde_json::to_vec(asked).unwrap_or_default(),
    )?;
    Ok(())
}

/// Event id of a commit.
pub fn commit_event_id(sha: &str) -> String {
    format!("git:{sha}")
}

/// Opens a repository for reading; fails with [`GitError::NotARepository`] otherwise.
pub fn open(path: &Path) -> Result<gix::Repository, GitError> {
    if !path.exists() {
        return Err(GitError::NotARepository {
            path: path.to_path_buf(),
            message: "no such file or directory".into(),
        });
    }
    gix::open(path).map_err(|e| GitError::NotARepository {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads the history of `opts.rev` into the store and reports what was read.
pub fn ingest(
    path: &Path,
    opts: &IngestOptions,
    store: &dyn Store,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<IngestReport, GitError> {
    let started = Instant::now();
    let repo = open(path)?;
    let tip = resolve(&repo, path, &opts.rev)?;
    let mut report = IngestReport {
        shallow: repo.is_shallow().unwrap_or(false),
        ..Default::default()
    };
    let shallow: HashSet<ObjectId> = repo
        .shallow_commits()
        .ok()
        .flatten()
        .map(|c| c.iter().copied().collect())
        .unwrap_or_default();
    let known: HashSet<String> = store
        .event_ids(&opts.repo_name, "git:")?
        .into_iter()
        .filter_map(|id| id.strip_prefix("git:").map(str::to_string))
        .collect();
    check_renames(store, &opts.repo_name, &opts.renames, !known.is_empty())?;
    let completed: Vec<String> = store
        .get_meta(&tips_key(&opts.repo_name))?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let completed_ids: HashSet<ObjectId> = completed
        .iter()
        .filter_map(|h| ObjectId::from_hex(h.as_bytes()).ok())
        .collect();

    let seen = pipeline::Seen {
        known,
        completed: completed_ids,
        shallow,
    };
    let (walk, ws) = pipeline::run(&repo, tip, opts, &seen, store, progress)?;
    report.commits_walked = walk.walked;
    report.commits_already_stored = walk.known;
    report.missing_commits = walk.missing;
    report.commits_new = ws.stored;
    report.unreadable_objects = ws.unreadable + walk.missing;
    report.commits_with_unreadable_objects = ws.commits_unreadable;
    report.shallow_boundary_commits = ws.shallow_boundary;
    report.repaired_signatures = ws.repaired;
    report.undated_commits = ws.undated;
    // The run completed: everything reachable from this tip is now stored or accounted for.
    let mut tips: Vec<String> = completed
        .into_iter()
        .filter(|t| t != &tip.to_string())
        .collect();
    tips.push(tip.to_string());
    if tips.len() > 32 {
        tips.drain(..tips.len() - 32);
    }
    store.put_meta(
        &tips_key(&opts.repo_name),
        &serde_json::to_vec(&tips).unwrap_or_default(),
    )?;
    report.seconds = started.elapsed().as_secs_f64();
    progress(Progress {
        walked: report.commits_walked,
        written: report.commits_new,
    });
    Ok(report)
}

fn resolve(repo: &gix::Repository, path: &Path, rev: &str) -> Result<ObjectId, GitError> {
    let bad = |message: String| GitError::BadRevision {
        path: path.to_path_buf(),
        rev: rev.to_string(),
        message,
    };
    let id = repo.rev_parse_single(rev).map_err(|e| bad(e.to_string()))?;
    let object = id.object().map_err(|e| bad(e.to_string()))?;
    let commit = object.peel_to_commit().map_err(|e| bad(e.to_string()))?;
    Ok(commit.id)
}
