//! The reading pipeline: a depth-first walk sends new commits in chunks to worker threads
//! that compute their diffs (with rename and copy pairing), and a writer thread stores the
//! events in batches.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use canopy_analyzer::event::{CommitEvent, Event, EventKind, Platform};
use canopy_store::{Store, StoreError};
use crossbeam_channel::{Receiver, Sender, bounded};
use gix::ObjectId;
use gix::objs::Find;

use super::commit::{RawCommit, co_author, merged_pr, parse_commit, subject, trailers};
use super::numstat::{self, Numstat};
use super::{GitError, IngestOptions, Progress, commit_event_id};

/// Commits sent to a worker at a time.
const CHUNK: usize = 256;
/// Events written to the store per transaction (one fsync each).
const WRITE_BATCH: usize = 1024;
/// Delta-base cache per worker thread (gitoxide's default is 96 MiB per handle).
const PACK_CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Decoded-object cache per worker thread: trees of neighbouring commits are shared.
const OBJECT_CACHE_BYTES: usize = 0;

/// What earlier runs already read.
pub(super) struct Seen {
    /// Commit ids stored.
    pub known: HashSet<String>,
    /// Tips whose whole history was read.
    pub completed: HashSet<ObjectId>,
    /// Boundary commits of a shallow clone.
    pub shallow: HashSet<ObjectId>,
}

/// Walks from `tip`, diffs new commits on `opts.jobs` threads and stores their events.
pub(super) fn run(
    repo: &gix::Repository,
    tip: ObjectId,
    opts: &IngestOptions,
    seen: &Seen,
    store: &dyn Store,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(WalkStats, WriterStats), GitError> {
    let jobs = opts.jobs.max(1);
    let sync_repo = repo.clone().into_sync();
    let walked = AtomicU64::new(0);
    let written = AtomicU64::new(0);
    let (chunk_tx, chunk_rx) = bounded::<Vec<(ObjectId, Vec<u8>)>>(jobs * 2);
    let (ev_tx, ev_rx) = bounded::<WorkerOutput>(jobs * 2);

    std::thread::scope(|s| {
        for _ in 0..jobs {
            let rx = chunk_rx.clone();
            let tx = ev_tx.clone();
            let mut local = sync_repo.to_thread_local();
            set_caches(&mut local, PACK_CACHE_BYTES, OBJECT_CACHE_BYTES);
            let shallow = &seen.shallow;
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
            &seen.known,
            &seen.completed,
            &seen.shallow,
            &chunk_tx,
            &walked,
        );
        drop(chunk_tx);
        let writer_stats = writer
            .join()
            .map_err(|_| StoreError::Db("writer thread panicked".into()))??;
        Ok((walk, writer_stats))
    })
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

#[derive(Default)]
pub(super) struct WalkStats {
    pub walked: u64,
    pub known: u64,
    pub missing: u64,
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
pub(super) struct WriterStats {
    pub stored: u64,
    pub unreadable: u64,
    pub commits_unreadable: u64,
    pub shallow_boundary: u64,
    pub repaired: u64,
    pub undated: u64,
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
