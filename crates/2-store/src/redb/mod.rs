//! The embedded store on redb (pure Rust, ACID, copy-on-write B-trees). One file per store
//! directory, opened by one process at a time; every write transaction is committed with
//! immediate durability (fsync). Claims on deliveries and actions are kept in memory: only
//! this process can hold the file, so they need not survive it.

mod claims;
mod consent;
mod inbox;
mod outbox;
mod reports;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use canopy_analyzer::Event;
use canopy_core::{WriteOp, WriteOutcome};
use chrono::{DateTime, Utc};
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};

use crate::{
    Claim, EventStore, MetaStore, STORE_FORMAT_VERSION, ScheduleStore, Store, StoreError,
    TimeRange, Visit, decode_event,
};
use claims::Claims;

/// Small named values: the format version, cursors, schedule state.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Events by (repository, time in ms, id): time-range scans per repository.
const EVENTS: TableDefinition<(&str, i64, &str), &[u8]> = TableDefinition::new("events");
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

const FORMAT_KEY: &str = "format_version";
/// Page cache of the database (redb's default of 1 GiB is far more than Canopy needs).
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// File name of the database inside the store directory.
pub const DB_FILE: &str = "canopy.redb";

/// The embedded, single-file store.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    claims: Mutex<Claims>,
}

fn db_err<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into().to_string())
}

impl RedbStore {
    /// Opens the store in `dir`, creating the directory and an empty store if needed.
    /// Refuses a store written with another on-disk format version.
    pub fn open(dir: &Path) -> Result<RedbStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let file = dir.join(DB_FILE);
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&file)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(dir.to_path_buf()),
                other => StoreError::Open {
                    path: dir.to_path_buf(),
                    message: other.to_string(),
                },
            })?;
        let store = RedbStore {
            db,
            path: dir.to_path_buf(),
            claims: Mutex::default(),
        };
        store.check_or_init_format()?;
        Ok(store)
    }

    /// Directory of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_or_init_format(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let found = meta
                .get(FORMAT_KEY)
                .map_err(db_err)?
                .map(|v| decode_u32(v.value()));
            match found {
                Some(Some(v)) if v == STORE_FORMAT_VERSION => {}
                Some(v) => {
                    return Err(StoreError::Incompatible {
                        path: self.path.clone(),
                        found: v.unwrap_or(0),
                        supported: STORE_FORMAT_VERSION,
                    });
                }
                None => {
                    // A new store, unless it already holds data written without a version.
                    let events = txn.open_table(EVENTS).map_err(db_err)?;
                    if !events.is_empty().map_err(db_err)? {
                        return Err(StoreError::Incompatible {
                            path: self.path.clone(),
                            found: 0,
                            supported: STORE_FORMAT_VERSION,
                        });
                    }
                    drop(events);
                    meta.insert(FORMAT_KEY, STORE_FORMAT_VERSION.to_le_bytes().as_slice())
                        .map_err(db_err)?;
                }
            }
            // Create every table so read transactions never meet a missing one.
            txn.open_table(EVENT_IDS).map_err(db_err)?;
            txn.open_table(BY_ACTOR).map_err(db_err)?;
            txn.open_table(REPOS).map_err(db_err)?;
            txn.open_table(BY_CHANGE).map_err(db_err)?;
            txn.open_table(BY_SHA).map_err(db_err)?;
            inbox::init_tables(&txn)?;
            outbox::init_tables(&txn)?;
            consent::init_tables(&txn)?;
            reports::init_tables(&txn)?;
        }
        txn.commit().map_err(db_err)
    }

    /// Overwrites the recorded format version (tests of the incompatibility check only).
    #[doc(hidden)]
    pub fn force_format_version_for_test(&self, version: u32) -> Result<(), StoreError> {
        self.put_meta(FORMAT_KEY, &version.to_le_bytes())
    }
}

/// Inserts the events not stored yet inside an open write transaction; returns how many were new.
fn insert_events(txn: &WriteTransaction, events: &[Event]) -> Result<usize, StoreError> {
    let mut new = 0;
    let mut ev_t = txn.open_table(EVENTS).map_err(db_err)?;
    let mut ids = txn.open_table(EVENT_IDS).map_err(db_err)?;
    let mut by_actor = txn.open_table(BY_ACTOR).map_err(db_err)?;
    let mut repos = txn.open_table(REPOS).map_err(db_err)?;
    let mut by_change = txn.open_table(BY_CHANGE).map_err(db_err)?;
    let mut by_sha = txn.open_table(BY_SHA).map_err(db_err)?;
    let mut buf = Vec::with_capacity(1024);
    for ev in events {
        let key = (ev.repo.as_str(), ev.id.as_str());
        if ids.get(key).map_err(db_err)?.is_some() {
            continue;
        }
        let at = ev.at_millis();
        buf.clear();
        serde_json::to_writer(&mut buf, ev).map_err(|e| StoreError::Corrupt(e.to_string()))?;
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
        let count = repos
            .get(ev.repo.as_str())
            .map_err(db_err)?
            .map_or(0, |v| v.value());
        repos.insert(ev.repo.as_str(), count + 1).map_err(db_err)?;
        new += 1;
    }
    Ok(new)
}

/// Visits, in index order, the events an index of (repository, key, time ms, id) names
/// between two keys. (A macro: the indexes' key types differ.)
macro_rules! scan_index {
    ($store:expr, $table:expr, $lo:expr, $hi:expr, $repo:expr, $visit:expr) => {{
        let txn = $store.db.begin_read().map_err(db_err)?;
        let idx = txn.open_table($table).map_err(db_err)?;
        let events = txn.open_table(EVENTS).map_err(db_err)?;
        for entry in idx.range($lo..=$hi).map_err(db_err)? {
            let (k, _) = entry.map_err(db_err)?;
            let (_, _, at, id) = k.value();
            if let Some(v) = events.get(($repo, at, id)).map_err(db_err)?
                && $visit(decode_event(v.value())?).is_break()
            {
                break;
            }
        }
        Ok(())
    }};
}

fn decode_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

impl EventStore for RedbStore {
    fn put_events(&self, events: &[Event]) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin_write().map_err(db_err)?;
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
        let ids = txn.open_table(EVENT_IDS).map_err(db_err)?;
        let events = txn.open_table(EVENTS).map_err(db_err)?;
        let (lo, hi) = (range.from_millis(), range.to_millis());
        for entry in idx
            .range((actor_key, lo, "", "")..(actor_key, hi, "", ""))
            .map_err(db_err)?
        {
            let (k, _) = entry.map_err(db_err)?;
            let (_, at, repo, id) = k.value();
            debug_assert!(ids.get((repo, id)).ok().flatten().is_some());
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
        let lo = (repo, number, i64::MIN, "");
        let hi = (repo, number, i64::MAX, "\u{10ffff}");
        scan_index!(self, BY_CHANGE, lo, hi, repo, visit)
    }

    fn scan_sha(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        let lo = (repo, sha, i64::MIN, "");
        let hi = (repo, sha, i64::MAX, "\u{10ffff}");
        scan_index!(self, BY_SHA, lo, hi, repo, visit)
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
}

impl MetaStore for RedbStore {
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(META).map_err(db_err)?;
        Ok(t.get(key).map_err(db_err)?.map(|v| v.value().to_vec()))
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        put_meta_in(&txn, key, value)?;
        txn.commit().map_err(db_err)
    }

    fn scan_meta(
        &self,
        visit: &mut dyn FnMut(&str, &[u8]) -> std::ops::ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(META).map_err(db_err)?;
        for entry in t.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            if k.value() == FORMAT_KEY {
                continue; // the embedded store's own format marker
            }
            if visit(k.value(), v.value()).is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl ScheduleStore for RedbStore {
    fn last_run(&self, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(META).map_err(db_err)?;
        let value = t.get(key).map_err(db_err)?;
        value.map(|v| crate::parse_run(key, v.value())).transpose()
    }

    fn try_lease(&self, name: &str, claim: &Claim) -> Result<bool, StoreError> {
        let mut claims = self
            .claims
            .lock()
            .map_err(|_| StoreError::Db("the claim table is poisoned".into()))?;
        Ok(claims.take_lease(name, claim))
    }

    fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        if let Ok(mut claims) = self.claims.lock() {
            claims.release_lease(name, owner);
        }
        Ok(())
    }
}

/// Reads a schedule's last run inside a write transaction.
fn last_run_in(txn: &WriteTransaction, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let t = txn.open_table(META).map_err(db_err)?;
    let value = t.get(key).map_err(db_err)?;
    value.map(|v| crate::parse_run(key, v.value())).transpose()
}

impl Store for RedbStore {
    fn apply_writes(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteOutcome>, StoreError> {
        let released = claims::Released::of(&ops);
        let outcomes = inbox::apply_writes(&self.db, ops)?;
        if let Ok(mut c) = self.claims.lock() {
            c.release(&released);
        }
        Ok(outcomes)
    }
}

/// Writes a meta value inside a larger transaction.
fn put_meta_in(txn: &redb::WriteTransaction, key: &str, value: &[u8]) -> Result<(), StoreError> {
    let mut t = txn.open_table(META).map_err(db_err)?;
    t.insert(key, value).map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo_events;
    use canopy_analyzer::event::{CommentEvent, EventKind};
    use canopy_analyzer::{Actor, Platform};
    use chrono::DateTime;
    use std::ops::ControlFlow;

    fn comment(repo: &str, id: &str, at: &str, who: &str) -> Event {
        Event::new(
            id,
            Platform::Github,
            repo,
            DateTime::parse_from_rfc3339(at).unwrap(),
            EventKind::Comment(CommentEvent {
                number: 1,
                on_change: true,
                comment_id: id.into(),
                author: Actor::github(who),
                addressee: None,
                body: "looks good".into(),
                inline: false,
                edited: false,
                author_role: None,
            }),
        )
    }

    #[test]
    fn writes_are_idempotent_and_scans_are_time_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbStore::open(dir.path()).unwrap();
        let a = comment("o/r", "c2", "2024-01-02T00:00:00Z", "ada");
        let b = comment("o/r", "c1", "2024-01-01T00:00:00Z", "bob");
        let c = comment("o/other", "c1", "2024-01-03T00:00:00Z", "ada");
        assert_eq!(s.put_events(&[a.clone(), b.clone(), a.clone()]).unwrap(), 2);
        assert_eq!(s.put_events(&[a.clone(), c.clone()]).unwrap(), 1);
        let got = repo_events(&s, "o/r", TimeRange::ALL).unwrap();
        assert_eq!(got, vec![b.clone(), a.clone()]);
        let range = TimeRange {
            from: Some("2024-01-02T00:00:00Z".parse().unwrap()),
            to: None,
        };
        assert_eq!(repo_events(&s, "o/r", range).unwrap(), vec![a.clone()]);
        let mut ada = Vec::new();
        s.scan_actor("github:ada", TimeRange::ALL, &mut |e| {
            ada.push(e.id.clone() + "@" + &e.repo);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(ada, ["c2@o/r", "c1@o/other"]);
        assert_eq!(s.repos().unwrap(), ["o/other", "o/r"]);
        assert!(s.has_event("o/r", "c1").unwrap());
        assert!(!s.has_event("o/r", "c9").unwrap());
        assert_eq!(s.event_ids("o/r", "c").unwrap().len(), 2);
    }

    #[test]
    fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = RedbStore::open(dir.path()).unwrap();
            s.put_events(&[comment("o/r", "c1", "2024-01-01T00:00:00Z", "ada")])
                .unwrap();
            s.put_meta("cursor", b"abc").unwrap();
        }
        let s = RedbStore::open(dir.path()).unwrap();
        assert_eq!(repo_events(&s, "o/r", TimeRange::ALL).unwrap().len(), 1);
        assert_eq!(s.get_meta("cursor").unwrap().as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn a_store_of_another_format_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = RedbStore::open(dir.path()).unwrap();
            s.force_format_version_for_test(99).unwrap();
        }
        let err = RedbStore::open(dir.path()).err().expect("must refuse");
        assert!(matches!(err, StoreError::Incompatible { found: 99, .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("format 99") && msg.contains("reads format 1"),
            "{msg}"
        );
    }

    #[test]
    fn a_second_open_in_the_same_process_reports_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _s = RedbStore::open(dir.path()).unwrap();
        match RedbStore::open(dir.path()) {
            Err(StoreError::InUse(_)) => {}
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("second open must fail"),
        }
    }
}
