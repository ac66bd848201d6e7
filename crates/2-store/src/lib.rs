//! Layer 2, durable state behind traits. Each concept has its own trait — [`EventStore`]
//! (events and their indexes), [`InboxStore`] (raw deliveries and their queue),
//! [`OutboxStore`] (actions waiting to be performed), [`ConsentStore`], [`ReportStore`],
//! [`MetaStore`] (small named values: settings, cursors, models), [`ScheduleStore`] (the
//! last run of each schedule) and [`ScoreStore`] (sentiment scores cached by comment) — and [`Store`] is all of them plus [`Store::apply_writes`], the
//! one way the running bot changes the inbox, the outbox, consent and schedules, atomically.
//! Everything above this layer holds an `Arc<dyn Store>` (or a narrower trait object), never a
//! concrete backend. The traits are shaped for a networked, multi-process backend as well as
//! for the embedded one: pending deliveries and due actions are *claimed* for a while by an
//! owner rather than read by a cursor, outbox ids are idempotency keys, and a scheduled run is
//! recorded with a compare-and-set on the previous one, and scheduled work runs under a named
//! lease. [`redb`] is the embedded backend (one file, one process); [`postgres`] is the
//! networked one (several replicas on one database). Both pass the same conformance suite
//! (`tests/tests/store_conformance.rs`). [`faults`] wraps any store to inject failures in tests.
#![forbid(unsafe_code)]

pub mod codec;
pub mod consent;
pub mod copy;
pub mod events;
pub mod faults;
pub mod inbox;
pub mod location;
pub mod meta;
pub mod outbox;
pub mod overlay;
pub mod postgres;
pub mod redb;
pub mod reports;
pub mod scores;
mod transitions;

use std::path::PathBuf;

use canopy_core::{WriteOp, WriteOutcome};
use chrono::{DateTime, Utc};

pub use consent::ConsentStore;
pub use events::{EventStore, TimeRange, Visit, VisitSummary, by_scan, repo_events, scan_all};
pub use inbox::InboxStore;
pub use location::Location;
pub use meta::{MetaStore, ScheduleStore};
pub use outbox::OutboxStore;
pub use overlay::Overlay;
pub use postgres::{PgOptions, PgStore};
pub use redb::{DB_FILE, RedbStore};
pub use reports::{AuditEntry, ReportStatus, ReportStore, StoredReport};
pub use scores::{CachedScore, CommentKey, ScoreStore};

/// Version of the on-disk layout; a store written with another version is refused.
pub const STORE_FORMAT_VERSION: u32 = 2;

/// Serialises a record for the store (JSON).
pub(crate) fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Reads a record the store wrote with `encode`; `what` names it if it is corrupt.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: impl std::fmt::Display,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) use codec::decode_event;

/// A schedule's last run as stored (RFC 3339 text).
pub(crate) fn parse_run(key: &str, bytes: &[u8]) -> Result<DateTime<Utc>, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| StoreError::Corrupt(format!("the last run of schedule {key} is not a time")))
}

/// Why the store could not do what was asked. Callers branch on `Incompatible`, `InUse`,
/// `NotMigrated` and `Conflict`.
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
    /// The database engine failed (I/O error, full disk, lost connection...).
    #[error("store error: {0}")]
    Db(String),
    /// The database server could not be reached or refused the login.
    #[error("cannot reach the store at {target}: {message}")]
    Connect {
        /// `postgres://user@host:port/db` (never the password).
        target: String,
        /// What went wrong.
        message: String,
    },
    /// The database's schema is older than this canopy's (or was never created).
    #[error(
        "the store at {target} has schema version {found}, this canopy needs {supported}: \
         run `canopy migrate --store URL` (canopy serve also migrates when it starts)"
    )]
    NotMigrated {
        /// `postgres://user@host:port/db`.
        target: String,
        /// Version found (0: never migrated).
        found: u32,
        /// Version this build needs.
        supported: u32,
    },
    /// A concurrent transaction (another replica) conflicted with this one; nothing was
    /// written, and trying again may succeed.
    #[error("conflict with a concurrent writer: {0}")]
    Conflict(String),
}

/// A claim on work (pending deliveries, due actions): what is claimed belongs to `owner` until
/// it is completed or `until` passes, so several workers — or several processes sharing a
/// networked store — never pick the same item at once, and a claimant does not pick again
/// what it already holds. An expired claim is taken over (its holder is presumed dead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Who claims (a process and worker name, unique among live claimants).
    pub owner: String,
    /// The claimant's time now.
    pub now: DateTime<Utc>,
    /// When the claim lapses if the work is not completed.
    pub until: DateTime<Utc>,
}

impl Claim {
    /// A claim by `owner` at `now` for `lease`.
    pub fn new(owner: impl Into<String>, now: DateTime<Utc>, lease: chrono::Duration) -> Claim {
        Claim {
            owner: owner.into(),
            now,
            until: now + lease,
        }
    }
}

/// All of the store, and the atomic write the running bot changes it with.
pub trait Store:
    EventStore
    + MetaStore
    + ScheduleStore
    + InboxStore
    + OutboxStore
    + ConsentStore
    + ReportStore
    + ScoreStore
{
    /// Applies operations in one transaction, durable when this returns `Ok` (a scratch store,
    /// `RedbStore::open_scratch`, only when it is closed); one outcome per operation. Completing or quarantining a delivery, and recording an action's result,
    /// also release the claim on it.
    fn apply_writes(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteOutcome>, StoreError>;
}
