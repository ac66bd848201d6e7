//! The embedded store on redb (pure Rust, ACID, copy-on-write B-trees). One file per store
//! directory, opened by one process at a time; every write transaction is committed with
//! immediate durability (fsync), except in a scratch store ([`RedbStore::open_scratch`]).
//! New deliveries go first to an append-only intake journal beside the database
//! (`intake.journal`, see [`journal`]) and reach redb's tables in bigger transactions.
//! Claims on deliveries and actions are kept in memory: only this process can hold the file,
//! so they need not survive it.

mod bodies;
mod claims;
mod consent;
mod events;
mod inbox;
mod intake;
mod journal;
mod migrate;
mod outbox;
mod reports;
mod scores;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use canopy_core::{WriteOp, WriteOutcome};
use chrono::{DateTime, Utc};
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};

use crate::{Claim, MetaStore, STORE_FORMAT_VERSION, ScheduleStore, Store, StoreError};
use claims::Claims;
use events::EVENTS;
use events::insert_events;

/// Small named values: the format version, cursors, schedule state.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const FORMAT_KEY: &str = "format_version";
/// Page cache of the database (redb's default of 1 GiB is far more than Canopy needs).
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// File name of the database inside the store directory.
pub const DB_FILE: &str = "canopy.redb";

/// The embedded, single-file store.
pub struct RedbStore {
    db: std::sync::Arc<Database>,
    path: PathBuf,
    claims: Mutex<Claims>,
    durability: redb::Durability,
    /// The intake journal (durable stores only; a scratch store writes receipts to redb).
    intake: Option<std::sync::Arc<intake::Intake>>,
    /// The thread folding the journal into redb.
    folder: Option<std::thread::JoinHandle<()>>,
}

fn db_err<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into().to_string())
}

impl RedbStore {
    /// Opens the store in `dir`, creating the directory and an empty store if needed.
    /// Refuses a store written with another on-disk format version.
    pub fn open(dir: &Path) -> Result<RedbStore, StoreError> {
        Self::open_with(dir, redb::Durability::Immediate)
    }

    /// Opens a scratch store in `dir` (a temporary one, such as the demo's): its commits are
    /// visible at once but not flushed to disk one by one; they reach the disk together when
    /// the store is closed. A crash loses them, so never use it for a store that must keep
    /// what it accepted.
    pub fn open_scratch(dir: &Path) -> Result<RedbStore, StoreError> {
        Self::open_with(dir, redb::Durability::None)
    }

    fn open_with(dir: &Path, durability: redb::Durability) -> Result<RedbStore, StoreError> {
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
        let mut store = RedbStore {
            db: std::sync::Arc::new(db),
            path: dir.to_path_buf(),
            claims: Mutex::default(),
            durability,
            intake: None,
            folder: None,
        };
        store.check_or_init_format()?;
        if matches!(durability, redb::Durability::Immediate) {
            store.open_journal()?;
        }
        Ok(store)
    }

    /// Directory of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Begins a write transaction with the store's durability.
    fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write().map_err(db_err)?;
        txn.set_durability(self.durability)
            .map_err(|e| StoreError::Db(e.to_string()))?;
        Ok(txn)
    }

    fn check_or_init_format(&self) -> Result<(), StoreError> {
        let found = {
            let txn = self.db.begin_write().map_err(db_err)?;
            let found = {
                let meta = txn.open_table(META).map_err(db_err)?;
                let v = meta.get(FORMAT_KEY).map_err(db_err)?;
                v.map(|v| decode_u32(v.value()).unwrap_or(0))
            };
            txn.abort().map_err(db_err)?;
            found
        };
        match found {
            Some(v) if v == STORE_FORMAT_VERSION => {}
            Some(v) if migrate::FROM.contains(&v) => migrate::run(&self.db, v)?,
            Some(v) => {
                return Err(StoreError::Incompatible {
                    path: self.path.clone(),
                    found: v,
                    supported: STORE_FORMAT_VERSION,
                });
            }
            None => self.init_format()?,
        }
        // Create every table so read transactions never meet a missing one.
        let txn = self.begin_write()?;
        events::init_tables(&txn)?;
        inbox::init_tables(&txn)?;
        outbox::init_tables(&txn)?;
        consent::init_tables(&txn)?;
        reports::init_tables(&txn)?;
        scores::init_tables(&txn)?;
        txn.commit().map_err(db_err)
    }

    /// Records the format of a new store, unless it already holds data written without one.
    fn init_format(&self) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let events = txn.open_table(EVENTS).map_err(db_err)?;
            if !events.is_empty().map_err(db_err)? {
                return Err(StoreError::Incompatible {
                    path: self.path.clone(),
                    found: 0,
                    supported: STORE_FORMAT_VERSION,
                });
            }
            let mut meta = txn.open_table(META).map_err(db_err)?;
            meta.insert(FORMAT_KEY, STORE_FORMAT_VERSION.to_le_bytes().as_slice())
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    /// Overwrites the recorded format version (tests of the incompatibility check only).
    #[doc(hidden)]
    pub fn force_format_version_for_test(&self, version: u32) -> Result<(), StoreError> {
        self.put_meta(FORMAT_KEY, &version.to_le_bytes())
    }
}

fn decode_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

impl MetaStore for RedbStore {
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(META).map_err(db_err)?;
        Ok(t.get(key).map_err(db_err)?.map(|v| v.value().to_vec()))
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
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
        let outcomes = self.apply_batch(ops)?;
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
    use crate::{EventStore, InboxStore, TimeRange, repo_events};
    use canopy_analyzer::Event;
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
    fn a_scratch_store_shows_its_writes_at_once_and_keeps_them_when_closed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = RedbStore::open_scratch(dir.path()).unwrap();
            s.put_events(&[comment("o/r", "c1", "2024-01-01T00:00:00Z", "ada")])
                .unwrap();
            s.apply_writes(vec![WriteOp::Receive(canopy_core::Delivery {
                platform: Platform::Github,
                id: "d1".into(),
                event: "issue_comment".into(),
                received_at: "2024-01-01T00:00:00Z".parse().unwrap(),
                body: b"{}".to_vec(),
            })])
            .unwrap();
            s.put_meta("cursor", b"abc").unwrap();
            assert_eq!(repo_events(&s, "o/r", TimeRange::ALL).unwrap().len(), 1);
            assert_eq!(s.get_meta("cursor").unwrap().as_deref(), Some(&b"abc"[..]));
            let claim = Claim::new("t", Utc::now(), chrono::Duration::minutes(1));
            assert_eq!(s.claim_pending(&claim, 10).unwrap().len(), 1);
        }
        let s = RedbStore::open(dir.path()).unwrap();
        assert_eq!(repo_events(&s, "o/r", TimeRange::ALL).unwrap().len(), 1);
        assert_eq!(s.get_meta("cursor").unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(s.queue_depth().unwrap(), 1);
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
            msg.contains("format 99") && msg.contains("reads format 2"),
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
