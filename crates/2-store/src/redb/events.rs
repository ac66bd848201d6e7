//! Events on redb: the events table and every index kept beside it, all written in the
//! transaction that stores the events — by repository and time, by actor, by change, by
//! commit, the change a commit is the head of, the CI jobs by commit and by job, and each
//! change's summary — and the [`EventStore`] reads over them.

use std::ops::ControlFlow;

use canopy_analyzer::change_summary::{ChangeSummary, summarised};
use canopy_analyzer::{Event, EventKind};
use redb::{ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{RedbStore, db_err};
use crate::codec::{decode_event, encode_event};
use crate::{EventStore, StoreError, TimeRange, Visit, VisitSummary, decode, encode};

/// Events by (repository, time in ms, id): time-range scans per repository.
pub(super) const EVENTS: TableDefinition<(&str, i64, &str), &[u8]> = TableDefinition::new("events");
/// (repository, id) → time in ms: idempotent inserts and lookups by id.
const EVENT_IDS: TableDefinition<(&str, &str), i64> = TableDefinition::new("event_ids");
/// (actor key, time in ms, repository, id): time-range scans per actor.
const BY_ACTOR: TableDefinition<(&str, i64, &str, &str), ()> =
    TableDefinition::new("events_by_actor");
/// (repository, PR/change number, time in ms, id): a change's events in time order.
const BY_CHANGE: TableDefinition<(&str, u64, i64, &str), ()> =
    TableDefinition::new("events_by_change");
/// (repository, commit, time in ms, id): CI jobs, reruns and PR states by commit.
const BY_SHA: TableDefinition<(&str, &str, i64, &str), ()> = TableDefinition::new("events_by_sha");
/// Repository → number of stored events.
const REPOS: TableDefinition<&str, u64> = TableDefinition::new("repos");
/// (repository, commit) → (time in ms, id, number) of the first change event naming the commit
/// as its head.
const CHANGE_OF_SHA: TableDefinition<(&str, &str), (i64, &str, u64)> =
    TableDefinition::new("change_of_sha");
/// (repository, commit, time in ms, id): the finished CI jobs of a commit.
const JOBS_BY_SHA: TableDefinition<(&str, &str, i64, &str), ()> =
    TableDefinition::new("jobs_by_sha");
/// (repository, job key, time in ms, id): the finished runs of a CI job.
const JOB_RUNS: TableDefinition<(&str, &str, i64, &str), ()> = TableDefinition::new("job_runs");
/// (repository, change number) → the change's summary.
const SUMMARIES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("change_summaries");

/// Creates the event tables in a new store (format 1 tables and those added by format 2).
pub(super) fn init_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(EVENTS).map_err(db_err)?;
    txn.open_table(EVENT_IDS).map_err(db_err)?;
    txn.open_table(BY_ACTOR).map_err(db_err)?;
    txn.open_table(REPOS).map_err(db_err)?;
    txn.open_table(BY_CHANGE).map_err(db_err)?;
    txn.open_table(BY_SHA).map_err(db_err)?;
    txn.open_table(CHANGE_OF_SHA).map_err(db_err)?;
    txn.open_table(JOBS_BY_SHA).map_err(db_err)?;
    txn.open_table(JOB_RUNS).map_err(db_err)?;
    txn.open_table(SUMMARIES).map_err(db_err)?;
    Ok(())
}

/// The format-2 indexes (kept beside the events of format 1), open in one write transaction.
pub(super) struct Indexes<'t> {
    change_of_sha: redb::Table<'t, (&'static str, &'static str), (i64, &'static str, u64)>,
    jobs_by_sha: redb::Table<'t, (&'static str, &'static str, i64, &'static str), ()>,
    job_runs: redb::Table<'t, (&'static str, &'static str, i64, &'static str), ()>,
    summaries: redb::Table<'t, (&'static str, u64), &'static [u8]>,
}

impl<'t> Indexes<'t> {
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Indexes<'t>, StoreError> {
        Ok(Indexes {
            change_of_sha: txn.open_table(CHANGE_OF_SHA).map_err(db_err)?,
            jobs_by_sha: txn.open_table(JOBS_BY_SHA).map_err(db_err)?,
            job_runs: txn.open_table(JOB_RUNS).map_err(db_err)?,
            summaries: txn.open_table(SUMMARIES).map_err(db_err)?,
        })
    }

    /// Adds one newly stored event to the indexes format 2 added.
    pub(super) fn add(&mut self, ev: &Event) -> Result<(), StoreError> {
        let (repo, id, at) = (ev.repo.as_str(), ev.id.as_str(), ev.at_millis());
        match &ev.kind {
            EventKind::Change(c) => {
                if let Some(sha) = c.head_sha.as_deref() {
                    let first = self
                        .change_of_sha
                        .get((repo, sha))
                        .map_err(db_err)?
                        .is_none_or(|v| {
                            let (t, i, _) = v.value();
                            (at, id) < (t, i)
                        });
                    if first {
                        self.change_of_sha
                            .insert((repo, sha), (at, id, c.number))
                            .map_err(db_err)?;
                    }
                }
            }
            EventKind::CiJobFinished(j) => {
                if let Some(sha) = j.head_sha.as_deref() {
                    self.jobs_by_sha
                        .insert((repo, sha, at, id), ())
                        .map_err(db_err)?;
                }
                self.job_runs
                    .insert((repo, j.job_key().as_str(), at, id), ())
                    .map_err(db_err)?;
            }
            EventKind::CiEnergyMeasured(m) => {
                if let Some(sha) = m.head_sha.as_deref() {
                    self.jobs_by_sha
                        .insert((repo, sha, at, id), ())
                        .map_err(db_err)?;
                }
            }
            _ => {}
        }
        if summarised(ev)
            && let Some(n) = ev.change_number()
        {
            let mut s: ChangeSummary = match self.summaries.get((repo, n)).map_err(db_err)? {
                Some(v) => decode(v.value(), format_args!("summary of {repo}#{n}"))?,
                None => ChangeSummary::default(),
            };
            if s.add(ev) {
                self.summaries
                    .insert((repo, n), encode(&s)?.as_slice())
                    .map_err(db_err)?;
            }
        }
        Ok(())
    }
}

/// Inserts the events not stored yet inside an open write transaction; returns how many were new.
pub(super) fn insert_events(txn: &WriteTransaction, events: &[Event]) -> Result<usize, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut new = 0;
    let mut ev_t = txn.open_table(EVENTS).map_err(db_err)?;
    let mut ids = txn.open_table(EVENT_IDS).map_err(db_err)?;
    let mut by_actor = txn.open_table(BY_ACTOR).map_err(db_err)?;
    let mut repos = txn.open_table(REPOS).map_err(db_err)?;
    let mut by_change = txn.open_table(BY_CHANGE).map_err(db_err)?;
    let mut by_sha = txn.open_table(BY_SHA).map_err(db_err)?;
    let mut indexes = Indexes::open(txn)?;
    let mut buf = Vec::with_capacity(1024);
    for ev in events {
        let key = (ev.repo.as_str(), ev.id.as_str());
        if ids.get(key).map_err(db_err)?.is_some() {
            continue;
        }
        let at = ev.at_millis();
        buf.clear();
        encode_event(ev, &mut buf)?;
        ev_t.insert((ev.repo.as_str(), at, ev.id.as_str()), buf.as_slice())
            .map_err(db_err)?;
        ids.insert(key, at).map_err(db_err)?;
        let mut seen: Vec<&str> = Vec::new();
        for a in ev.actors() {
            if !seen.contains(&a.key.as_str()) {
                seen.push(&a.key);
                by_actor
                    .insert((a.key.as_str(), at, ev.repo.as_str(), ev.id.as_str()), ())
                    .map_err(db_err)?;
            }
        }
        if let Some(n) = ev.change_number() {
            by_change
                .insert((ev.repo.as_str(), n, at, ev.id.as_str()), ())
                .map_err(db_err)?;
        }
        if let Some(sha) = ev.head_sha() {
            by_sha
                .insert((ev.repo.as_str(), sha, at, ev.id.as_str()), ())
                .map_err(db_err)?;
        }
        indexes.add(ev)?;
        let count = repos
            .get(ev.repo.as_str())
            .map_err(db_err)?
            .map_or(0, |v| v.value());
        repos.insert(ev.repo.as_str(), count + 1).map_err(db_err)?;
        new += 1;
    }
    Ok(new)
}

/// The (time in ms, id) of every entry of a 4-part index `(repo, b, time, id)` under
/// `(repo, b)`, in order.
macro_rules! index_keys {
    ($table:expr, $repo:expr, $b:expr) => {{
        let mut keys: Vec<(i64, String)> = Vec::new();
        let range = ($repo, $b, i64::MIN, "")..=($repo, $b, i64::MAX, "\u{10ffff}");
        for entry in $table.range(range).map_err(db_err)? {
            let (k, _) = entry.map_err(db_err)?;
            let (_, _, at, id) = k.value();
            keys.push((at, id.to_string()));
        }
        keys
    }};
}

/// Visits the events of `repo` named by (time in ms, id), in that order.
fn visit_keys(
    events: &ReadOnlyTable<(&'static str, i64, &'static str), &'static [u8]>,
    repo: &str,
    keys: Vec<(i64, String)>,
    visit: Visit<'_>,
) -> Result<(), StoreError> {
    for (at, id) in keys {
        let Some(v) = events.get((repo, at, id.as_str())).map_err(db_err)? else {
            return Err(StoreError::Corrupt(format!(
                "an index of {repo} names a missing event {id}"
            )));
        };
        if visit(decode_event(v.value())?).is_break() {
            break;
        }
    }
    Ok(())
}

impl EventStore for RedbStore {
    fn put_events(&self, events: &[Event]) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let txn = self.begin_write()?;
        let new = insert_events(&txn, events)?;
        txn.commit().map_err(db_err)?;
        Ok(new)
    }

    fn has_event(&self, repo: &str, id: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let ids = txn.open_table(EVENT_IDS).map_err(db_err)?;
        Ok(ids.get((repo, id)).map_err(db_err)?.is_some())
    }

    fn event_ids(&self, repo: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let ids = txn.open_table(EVENT_IDS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in ids.range((repo, prefix)..).map_err(db_err)? {
            let (k, _) = entry.map_err(db_err)?;
            let (r, id) = k.value();
            if r != repo || !id.starts_with(prefix) {
                break;
            }
            out.push(id.to_string());
        }
        Ok(out)
    }

    fn scan_repo(&self, repo: &str, range: TimeRange, visit: Visit<'_>) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(EVENTS).map_err(db_err)?;
        let (lo, hi) = (range.from_millis(), range.to_millis());
        for entry in t.range((repo, lo, "")..(repo, hi, "")).map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            if visit(decode_event(v.value())?).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn scan_actor(
        &self,
        actor_key: &str,
        range: TimeRange,
        visit: Visit<'_>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let idx = txn.open_table(BY_ACTOR).map_err(db_err)?;
        let events = txn.open_table(EVENTS).map_err(db_err)?;
        let (lo, hi) = (range.from_millis(), range.to_millis());
        for entry in idx
            .range((actor_key, lo, "", "")..(actor_key, hi, "", ""))
            .map_err(db_err)?
        {
            let (k, _) = entry.map_err(db_err)?;
            let (_, at, repo, id) = k.value();
            let Some(v) = events.get((repo, at, id)).map_err(db_err)? else {
                return Err(StoreError::Corrupt(format!(
                    "actor index points at a missing event {id}"
                )));
            };
            if visit(decode_event(v.value())?).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn scan_change(&self, repo: &str, number: u64, visit: Visit<'_>) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let idx = txn.open_table(BY_CHANGE).map_err(db_err)?;
        let events = txn.open_table(EVENTS).map_err(db_err)?;
        let keys = index_keys!(idx, repo, number);
        visit_keys(&events, repo, keys, visit)
    }

    fn scan_sha(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let idx = txn.open_table(BY_SHA).map_err(db_err)?;
        let events = txn.open_table(EVENTS).map_err(db_err)?;
        let keys = index_keys!(idx, repo, sha);
        visit_keys(&events, repo, keys, visit)
    }

    fn repos(&self) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(REPOS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(db_err)? {
            let (k, _) = entry.map_err(db_err)?;
            out.push(k.value().to_string());
        }
        Ok(out)
    }

    fn change_of_sha(&self, repo: &str, sha: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(CHANGE_OF_SHA).map_err(db_err)?;
        Ok(t.get((repo, sha)).map_err(db_err)?.map(|v| v.value().2))
    }

    fn scan_sha_jobs(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let idx = txn.open_table(JOBS_BY_SHA).map_err(db_err)?;
        let events = txn.open_table(EVENTS).map_err(db_err)?;
        let keys = index_keys!(idx, repo, sha);
        visit_keys(&events, repo, keys, visit)
    }

    fn scan_job(&self, repo: &str, job: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let idx = txn.open_table(JOB_RUNS).map_err(db_err)?;
        let events = txn.open_table(EVENTS).map_err(db_err)?;
        let keys = index_keys!(idx, repo, job);
        visit_keys(&events, repo, keys, visit)
    }

    fn scan_change_summaries(&self, repo: &str, visit: VisitSummary<'_>) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(SUMMARIES).map_err(db_err)?;
        for entry in t.range((repo, 0)..=(repo, u64::MAX)).map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let n = k.value().1;
            let s = decode(v.value(), format_args!("summary of {repo}#{n}"))?;
            if visit(n, s) == ControlFlow::Break(()) {
                break;
            }
        }
        Ok(())
    }
}
