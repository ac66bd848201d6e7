//! The git adapter: reads a local repository (bare or not, shallow or partial) with gitoxide and
//! turns every commit on a ref into a commit `Event` in the store. Diffs of different commits
//! are computed on several threads. Missing objects are counted, never fatal; a second run
//! reads only commits it has not stored yet.

pub mod commit;
mod lcs;
pub mod numstat;
pub mod renames;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use canopy_analyzer::event::{CommitEvent, Event, EventKind, Platform};
use crossbeam_channel::{Receiver, Sender, bounded};
use gix::ObjectId;
use gix::objs::Find;
use serde::{Deserialize, Serialize};

use canopy_store::{Store, StoreError};
use commit::{RawCommit, co_author, merged_pr, parse_commit, subject, trailers};
use numstat::Numstat;
pub use renames::Renames;

/// Commits sent to a worker at a time.
const CHUNK: usize = 256;
/// Events written to the store per transaction (one fsync each).
const WRITE_BATCH: usize = 1024;
/// Delta-base cache per worker thread (gitoxide's default is 96 MiB per handle).
const PACK_CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Decoded-object cache per worker thread: trees of neighbouring commits are shared.
const OBJECT_CACHE_BYTES: usize = 0;

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

    let jobs = opts.jobs.max(1);
    let sync_repo = repo.clone().into_sync();
    let walked = AtomicU64::new(0);
    let written = AtomicU64::new(0);
    let (chunk_tx, chunk_rx) = bounded::<Vec<(ObjectId, Vec<u8>)>>(jobs * 2);
    let (ev_tx, ev_rx) = bounded::<WorkerOutput>(jobs * 2);

    let result: Result<(WalkStats, WriterStats), GitError> = std::thread::scope(|s| {
        for _ in 0..jobs {
            let rx = chunk_rx.clone();
            let tx = ev_tx.clone();
            let mut local = sync_repo.to_thread_local();
            set_caches(&mut local, PACK_CACHE_BYTES, OBJECT_CACHE_BYTES);
            let shallow = &shallow;
            let repo_name = opts.repo_name.as_str();
            let ns = Numstat::new(
                opts.renames,
                opts.renames
                    .enabled()
                    .then(|| numstat::similarity_cache(&local))
                    .flatten(),
            );
            s.spawn(move || worker(&local, repo_name, shallow, ns, rx, tx));
        }
        drop(chunk_rx);
        drop(ev_tx);
        let writer = s.spawn(|| writer(store, ev_rx, &written, &walked, progress));
        // The walk reads only commit objects, which are rarely deltified: no caches needed.
        let mut walk_repo = repo.clone();
        set_caches(&mut walk_repo, 0, 0);
        let walk = walk(
            &walk_repo,
            tip,
            &known,
            &completed_ids,
            &shallow,
            &chunk_tx,
            &walked,
        );
        drop(chunk_tx);
        let writer_stats = writer
            .join()
            .map_err(|_| StoreError::Db("writer thread panicked".into()))??;
        Ok((walk, writer_stats))
    });
    let (walk, ws) = result?;
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

/// Bounds gitoxide's per-handle caches so memory stays flat on large histories.
fn set_caches(repo: &mut gix::Repository, pack_bytes: usize, object_bytes: usize) {
    if pack_bytes == 0 {
        repo.objects.unset_pack_cache();
    } else {
        repo.objects.set_pack_cache(move || {
            Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
                pack_bytes,
            ))
        });
    }
    repo.object_cache_size(object_bytes);
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

#[derive(Default)]
struct WalkStats {
    walked: u64,
    known: u64,
    missing: u64,
}

/// Depth-first walk from the tip over all parents. Stops at completed tips of earlier runs,
/// at shallow boundaries and at missing commits. Sends new commits' raw data to the workers.
fn walk(
    repo: &gix::Repository,
    tip: ObjectId,
    known: &HashSet<String>,
    completed: &HashSet<ObjectId>,
    shallow: &HashSet<ObjectId>,
    tx: &Sender<Vec<(ObjectId, Vec<u8>)>>,
    walked: &AtomicU64,
) -> WalkStats {
    let mut stats = WalkStats::default();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut stack = vec![tip];
    seen.insert(tip);
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut buf = Vec::new();
    while let Some(id) = stack.pop() {
        if completed.contains(&id) {
            continue;
        }
        let data = match repo.objects.try_find(&id, &mut buf) {
            Ok(Some(d)) if d.kind == gix::object::Kind::Commit => d.data.to_vec(),
            _ => {
                stats.missing += 1;
                continue;
            }
        };
        stats.walked += 1;
        walked.fetch_add(1, Ordering::Relaxed);
        if !shallow.contains(&id) {
            for p in parent_ids(&data) {
                if seen.insert(p) {
                    stack.push(p);
                }
            }
        }
        if known.contains(&id.to_string()) {
            stats.known += 1;
            continue;
        }
        chunk.push((id, data));
        if chunk.len() == CHUNK && tx.send(std::mem::take(&mut chunk)).is_err() {
            return stats;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(chunk);
    }
    stats
}

fn parent_ids(data: &[u8]) -> Vec<ObjectId> {
    let mut out = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        if line.is_empty() {
            break;
        }
        if let Some(hex) = line.strip_prefix(b"parent ")
            && let Ok(id) = ObjectId::from_hex(hex.trim_ascii())
        {
            out.push(id);
        }
    }
    out
}

struct WorkerOutput {
    events: Vec<Event>,
    unreadable: u64,
    commits_unreadable: u64,
    shallow_boundary: u64,
    repaired: u64,
    undated: u64,
}

fn worker(
    repo: &gix::Repository,
    repo_name: &str,
    shallow: &HashSet<ObjectId>,
    mut ns: Numstat,
    rx: Receiver<Vec<(ObjectId, Vec<u8>)>>,
    tx: Sender<WorkerOutput>,
) {
    let mut buf = Vec::new();
    for chunk in rx {
        let mut out = WorkerOutput {
            events: Vec::with_capacity(chunk.len()),
            unreadable: 0,
            commits_unreadable: 0,
            shallow_boundary: 0,
            repaired: 0,
            undated: 0,
        };
        for (id, data) in chunk {
            let raw = parse_commit(&data);
            if raw.author.repaired || raw.committer.repaired {
                out.repaired += 1;
            }
            let boundary = shallow.contains(&id) && !raw.parents.is_empty();
            let stat = if boundary {
                out.shallow_boundary += 1;
                numstat::CommitStat::default()
            } else {
                commit_stat(repo, &mut ns, &mut buf, &raw)
            };
            if stat.unreadable > 0 {
                out.unreadable += u64::from(stat.unreadable);
                out.commits_unreadable += 1;
            }
            match to_event(repo_name, id, raw, stat) {
                Some(ev) => out.events.push(ev),
                None => out.undated += 1,
            }
        }
        if tx.send(out).is_err() {
            return;
        }
    }
}

/// Line statistics against the first parent; merges get none, as with `git log --numstat`.
fn commit_stat(
    repo: &gix::Repository,
    ns: &mut Numstat,
    buf: &mut Vec<u8>,
    raw: &RawCommit,
) -> numstat::CommitStat {
    let Some(tree) = raw
        .tree
        .as_deref()
        .and_then(|t| ObjectId::from_hex(t.as_bytes()).ok())
    else {
        return numstat::CommitStat {
            files: vec![],
            unreadable: 1,
        };
    };
    if raw.parents.len() > 1 {
        return numstat::CommitStat::default();
    }
    let parent_tree = match raw.parents.first() {
        None => None,
        Some(p) => {
            let parent = ObjectId::from_hex(p.as_bytes()).ok();
            let found = parent.and_then(|p| match repo.objects.try_find(&p, buf) {
                Ok(Some(d)) => Some(parse_commit(d.data)),
                _ => None,
            });
            match found
                .and_then(|c| c.tree)
                .and_then(|t| ObjectId::from_hex(t.as_bytes()).ok())
            {
                Some(t) => Some(t),
                None => {
                    return numstat::CommitStat {
                        files: vec![],
                        unreadable: 1,
                    };
                }
            }
        }
    };
    ns.diff_trees(&repo.objects, parent_tree, tree)
}

fn to_event(
    repo_name: &str,
    id: ObjectId,
    raw: RawCommit,
    stat: numstat::CommitStat,
) -> Option<Event> {
    let author_time = raw.author.time.or(raw.committer.time)?;
    let commit_time = raw.committer.time.unwrap_or(author_time);
    let sha = id.to_string();
    let subj = subject(&raw.message).to_string();
    let trailers = trailers(&raw.message);
    let co_authors = trailers
        .iter()
        .filter(|t| t.key.eq_ignore_ascii_case("co-authored-by"))
        .map(|t| co_author(&t.value))
        .collect();
    let change_id = trailers
        .iter()
        .find(|t| t.key.eq_ignore_ascii_case("change-id"))
        .map(|t| t.value.clone());
    let c = CommitEvent {
        sha: sha.clone(),
        parents: raw.parents,
        author: raw.author.actor,
        committer: raw.committer.actor,
        author_time,
        commit_time,
        merged_pr: merged_pr(&subj),
        subject: subj,
        files: stat.files,
        trailers,
        co_authors,
        change_id,
        unreadable_objects: stat.unreadable,
    };
    Some(Event::new(
        commit_event_id(&sha),
        Platform::Git,
        repo_name,
        author_time,
        EventKind::Commit(c),
    ))
}

#[derive(Default)]
struct WriterStats {
    stored: u64,
    unreadable: u64,
    commits_unreadable: u64,
    shallow_boundary: u64,
    repaired: u64,
    undated: u64,
}

fn writer(
    store: &dyn Store,
    rx: Receiver<WorkerOutput>,
    written: &AtomicU64,
    walked: &AtomicU64,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<WriterStats, StoreError> {
    let mut stats = WriterStats::default();
    let mut pending: Vec<Event> = Vec::with_capacity(WRITE_BATCH);
    let mut last_progress = Instant::now();
    let flush = |pending: &mut Vec<Event>, stats: &mut WriterStats| -> Result<(), StoreError> {
        stats.stored += store.put_events(pending)? as u64;
        written.store(stats.stored, Ordering::Relaxed);
        pending.clear();
        Ok(())
    };
    for out in rx {
        stats.unreadable += out.unreadable;
        stats.commits_unreadable += out.commits_unreadable;
        stats.shallow_boundary += out.shallow_boundary;
        stats.repaired += out.repaired;
        stats.undated += out.undated;
        pending.extend(out.events);
        if pending.len() >= WRITE_BATCH {
            flush(&mut pending, &mut stats)?;
        }
        if last_progress.elapsed() >= Duration::from_secs(2) {
            last_progress = Instant::now();
            progress(Progress {
                walked: walked.load(Ordering::Relaxed),
                written: stats.stored + pending.len() as u64,
            });
        }
    }
    flush(&mut pending, &mut stats)?;
    Ok(stats)
}
