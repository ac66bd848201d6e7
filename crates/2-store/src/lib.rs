//! The durable store: a small trait over the persistence Canopy needs, so that a second backend
//! (PostgreSQL, for several replicas) can be added next to the embedded redb one.

mod consent;
mod inbox;
mod outbox;
mod redb_store;
mod reports;

use std::path::PathBuf;

use canopy_analyzer::Event;
use chrono::{DateTime, Utc};

pub use consent::Consent;
pub use inbox::{
    Delivery, DeliveryRecord, DeliveryState, Pending, WriteOp, WriteOutcome, state_name,
};
pub use outbox::{Enqueue, EnqueueMode, OutboxItem, OutboxState};
pub use redb_store::{DB_FILE, RedbStore};
pub use reports::{AuditEntry, ReportStatus, StoredReport};

/// Version of the on-disk layout; a store written with another version is refused.
pub const STORE_FORMAT_VERSION: u32 = 1;

/// Serialises a record for the store (JSON).
fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Reads a record the store wrote with `encode`; `what` names it if it is corrupt.
fn decode<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: impl std::fmt::Display,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Why the store could not do what was asked. Callers branch on `Incompatible` and `InUse`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store was written by a Canopy with a different on-disk format.
    #[error(
        "the store at {path} uses on-disk format {found}, but this canopy reads format {supported}; \
         use the canopy release that wrote it, or start a new store with --store"
    )]
    Incompatible {
        /// Store directory.
        path: PathBuf,
        /// Version found on disk.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// Another process holds the store open.
    #[error(
        "the store at {0} is open in another canopy process (a running server?); stop it or use another --store"
    )]
    InUse(PathBuf),
    /// The store directory or file could not be created or opened.
    #[error("cannot open the store at {path}: {message}")]
    Open {
        /// Store directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record in the store: {0}")]
    Corrupt(String),
    /// The database engine failed (I/O error, full disk...).
    #[error("store error: {0}")]
    Db(String),
}

/// A half-open time range `[from, to)` over event times; `None` means unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// Every time.
    pub const ALL: TimeRange = TimeRange {
        from: None,
        to: None,
    };

    /// Lower bound in epoch milliseconds.
    pub fn from_millis(&self) -> i64 {
        self.from.map_or(i64::MIN, |t| t.timestamp_millis())
    }

    /// Upper bound in epoch milliseconds.
    pub fn to_millis(&self) -> i64 {
        self.to.map_or(i64::MAX, |t| t.timestamp_millis())
    }
}

/// Whether a scan should go on after the event just visited.
pub type Visit<'a> = &'a mut dyn FnMut(Event) -> std::ops::ControlFlow<()>;

/// What the analysis side needs from persistence: durable, idempotent event writes and time
/// range scans per repository and per actor.
pub trait EventStore: Send + Sync {
    /// Stores the events whose `(repo, id)` is not stored yet; returns how many were new.
    /// When this returns `Ok`, the events are on disk.
    fn put_events(&self, events: &[Event]) -> Result<usize, StoreError>;

    /// Whether an event with this id is stored for this repository.
    fn has_event(&self, repo: &str, id: &str) -> Result<bool, StoreError>;

    /// Ids of the stored events of a repository that start with `prefix`.
    fn event_ids(&self, repo: &str, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Visits a repository's events in time order.
    fn scan_repo(&self, repo: &str, range: TimeRange, visit: Visit<'_>) -> Result<(), StoreError>;

    /// Visits the events naming an actor (by `Actor::key`), in time order, across repositories.
    fn scan_actor(
        &self,
        actor_key: &str,
        range: TimeRange,
        visit: Visit<'_>,
    ) -> Result<(), StoreError>;

    /// Visits the events of one PR or change (by number), in time order.
    fn scan_change(&self, repo: &str, number: u64, visit: Visit<'_>) -> Result<(), StoreError>;

    /// Visits the events about one commit (CI jobs, reruns, PR heads), in time order.
    fn scan_sha(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError>;

    /// Repositories with at least one stored event.
    fn repos(&self) -> Result<Vec<String>, StoreError>;

    /// Reads a small named value (cursors, schedules' last runs).
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes a small named value durably.
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
}

/// Collects a repository's events into a vector (for tests and small reports).
pub fn repo_events(
    store: &dyn EventStore,
    repo: &str,
    range: TimeRange,
) -> Result<Vec<Event>, StoreError> {
    let mut out = Vec::new();
    store.scan_repo(repo, range, &mut |e| {
        out.push(e);
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// Reads every event of every repository in a time range, repository by repository.
pub fn scan_all(
    store: &dyn EventStore,
    range: TimeRange,
    visit: Visit<'_>,
) -> Result<(), StoreError> {
    for repo in store.repos()? {
        let mut stop = false;
        store.scan_repo(&repo, range, &mut |e| {
            let flow = visit(e);
            stop = flow.is_break();
            flow
        })?;
        if stop {
            break;
        }
    }
    Ok(())
}
