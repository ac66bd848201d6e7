//! Every change to the inbox, the outbox, consent and schedules is one of these operations,
//! applied with others in a single durable transaction by the store; each gets an outcome.

use canopy_analyzer::{Event, Platform};
use chrono::{DateTime, Utc};

use crate::action::Action;
use crate::consent::Consent;
use crate::delivery::Delivery;
use crate::outbox::Enqueue;

/// One change to the inbox or outbox, applied with others in a single durable transaction.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Store a new delivery (a duplicate id is reported, not stored again).
    Receive(Delivery),
    /// Record the events a pending delivery produced and mark it processed (or ignored).
    Complete {
        /// Platform of the delivery.
        platform: Platform,
        /// Delivery id.
        id: String,
        /// Events to store (idempotent by event id).
        events: Vec<Event>,
        /// Set when the delivery was deliberately ignored.
        ignored: Option<String>,
        /// Processing time.
        at: DateTime<Utc>,
        /// Actions decided from these events, enqueued in the same transaction.
        actions: Vec<Enqueue>,
        /// Consent changes decided from these events (opt-in/out commands).
        consents: Vec<Consent>,
        /// Small named values decided from these events (a repository's time-to-merge online
        /// state), written in the same transaction so that a crash neither loses nor repeats
        /// what the events taught.
        meta: Vec<(String, Vec<u8>)>,
    },
    /// Move a pending delivery to quarantine with its error.
    Quarantine {
        /// Platform of the delivery.
        platform: Platform,
        /// Delivery id.
        id: String,
        /// Why it could not be processed.
        error: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Put a quarantined (or ignored) delivery back in the queue.
    Retry {
        /// Platform of the delivery.
        platform: Platform,
        /// Delivery id.
        id: String,
    },
    /// Add an action to the outbox (at `now`).
    Enqueue(Enqueue, DateTime<Utc>),
    /// An outbox action was performed.
    OutboxDone {
        /// Item id.
        id: String,
        /// The action as performed (a newer one may have replaced it meanwhile).
        executed: Action,
        /// When.
        at: DateTime<Utc>,
    },
    /// An outbox action failed.
    OutboxFailed {
        /// Item id.
        id: String,
        /// The error.
        error: String,
        /// When to try again; `None` for a permanent failure.
        retry_at: Option<DateTime<Utc>>,
        /// Attempts after which the item is dead.
        max_attempts: u32,
    },
    /// Put a dead outbox item back in the queue.
    OutboxRetry {
        /// Item id.
        id: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// A scheduled run: its actions and the record of its time, in one transaction, so a run
    /// is never lost nor sent twice across a crash. It applies only if the schedule's recorded
    /// last run is still `previous` (compare-and-set), so of several replicas that found the
    /// same run due, one records it and the others get [`WriteOutcome::Unchanged`].
    ScheduledRun {
        /// Key of the schedule's last run.
        key: String,
        /// The last run the decision was based on.
        previous: Option<DateTime<Utc>>,
        /// The run's scheduled time (written as RFC 3339).
        at: DateTime<Utc>,
        /// Actions to enqueue.
        actions: Vec<Enqueue>,
        /// Now.
        now: DateTime<Utc>,
    },
}

/// What an [`WriteOp`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A new delivery was stored, with its queue position.
    Received {
        /// Queue position.
        seq: u64,
    },
    /// The delivery id was already stored: nothing written.
    Duplicate,
    /// Completed; this many events were new.
    Completed {
        /// Events newly stored.
        new_events: usize,
    },
    /// Quarantined.
    Quarantined,
    /// Queued again.
    Requeued,
    /// An action was added to the outbox (or replaced a pending one).
    Enqueued,
    /// Nothing to do: the same action is already there.
    Unchanged,
    /// The op did not apply (unknown delivery, wrong state); nothing written for it.
    Rejected(String),
}
