//! The durable inbox: raw webhook deliveries, stored before they are acknowledged, deduplicated
//! by delivery id, queued for processing, and completed atomically with the events they produce.

use std::ops::ControlFlow;

use canopy_analyzer::{Event, Platform};
use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::consent::{self, Consent};
use super::outbox::{self, Enqueue};
use super::redb_store::{RedbStore, db_err, insert_events};
use super::{StoreError, decode, encode};
use crate::outbox::Action;

/// Delivery records (without body), by (platform, delivery id).
const DELIVERIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("deliveries");
/// Raw bodies, by (platform, delivery id).
const BODIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("delivery_bodies");
/// Pending deliveries in arrival order: sequence → (platform, delivery id).
const QUEUE: TableDefinition<u64, (&str, &str)> = TableDefinition::new("inbox_queue");
/// Quarantined deliveries: (platform, delivery id) → ().
const QUARANTINE: TableDefinition<(&str, &str), ()> = TableDefinition::new("inbox_quarantine");
/// Counters: name → value.
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

const SEQ: &str = "inbox_seq";

/// Creates the inbox tables in a new store.
pub(super) fn init_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(DELIVERIES).map_err(db_err)?;
    txn.open_table(BODIES).map_err(db_err)?;
    txn.open_table(QUEUE).map_err(db_err)?;
    txn.open_table(QUARANTINE).map_err(db_err)?;
    txn.open_table(COUNTERS).map_err(db_err)?;
    Ok(())
}

/// A webhook delivery as received: the raw body and the little the handler knew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Platform that sent it.
    pub platform: Platform,
    /// Delivery id (GitHub's `X-GitHub-Delivery`; for Gerrit, a digest of the body).
    pub id: String,
    /// Event name (`X-GitHub-Event`, or Gerrit's `type`).
    pub event: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The raw body, byte for byte.
    #[serde(skip)]
    pub body: Vec<u8>,
}

/// Where a delivery is in its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    /// Stored, waiting to be turned into events.
    Pending,
    /// Turned into events.
    Processed {
        /// Events it produced (new and already known).
        events: u32,
        /// When it was processed.
        at: DateTime<Utc>,
    },
    /// Stored but deliberately not processed (unknown event type, ping...).
    Ignored {
        /// Why.
        reason: String,
        /// When it was decided.
        at: DateTime<Utc>,
    },
    /// Could not be turned into events; kept with the error until retried.
    Quarantined {
        /// The normalisation error.
        error: String,
        /// When it was quarantined.
        at: DateTime<Utc>,
    },
}

/// A delivery's stored record, without its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// The delivery (its `body` is empty here; see [`RedbStore::delivery_body`]).
    #[serde(flatten)]
    pub delivery: Delivery,
    /// Size of the raw body in bytes.
    pub body_len: u64,
    /// Position in the processing queue.
    pub seq: u64,
    /// Times it has been processed (1 after a normal life; more only after `inbox retry`).
    #[serde(default)]
    pub attempts: u32,
    /// Current state.
    #[serde(flatten)]
    pub state: DeliveryState,
}

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
    /// is never lost nor sent twice across a crash.
    ScheduledRun {
        /// Meta key of the schedule's last run.
        key: String,
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

/// A pending delivery handed to a worker.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Queue position.
    pub seq: u64,
    /// The delivery with its body.
    pub delivery: Delivery,
}

impl RedbStore {
    /// Applies inbox operations in one transaction committed durably; one outcome per op.
    pub fn apply_writes(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteOutcome>, StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let mut outcomes = Vec::with_capacity(ops.len());
        {
            let mut counters = txn.open_table(COUNTERS).map_err(db_err)?;
            let mut seq = counters.get(SEQ).map_err(db_err)?.map_or(0, |v| v.value());
            for op in ops {
                let outcome = apply_one(&txn, op, &mut seq)?;
                outcomes.push(outcome);
            }
            counters.insert(SEQ, seq).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(outcomes)
    }

    /// Pending deliveries with a queue position above `after`, oldest first, at most `limit`.
    pub fn pending(&self, after: u64, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let queue = txn.open_table(QUEUE).map_err(db_err)?;
        let deliveries = txn.open_table(DELIVERIES).map_err(db_err)?;
        let bodies = txn.open_table(BODIES).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in queue.range(after.saturating_add(1)..).map_err(db_err)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry.map_err(db_err)?;
            let (platform, id) = v.value();
            let rec = deliveries
                .get((platform, id))
                .map_err(db_err)?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("queued delivery {platform}/{id} has no record"))
                })?;
            let mut rec: DeliveryRecord = decode(rec.value(), "delivery record")?;
            rec.delivery.body = bodies
                .get((platform, id))
                .map_err(db_err)?
                .map(|b| b.value().to_vec())
                .unwrap_or_default();
            out.push(Pending {
                seq: k.value(),
                delivery: rec.delivery,
            });
        }
        Ok(out)
    }

    /// Number of deliveries waiting to be processed.
    pub fn queue_depth(&self) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        let txn = self.db.begin_read().map_err(db_err)?;
        let queue = txn.open_table(QUEUE).map_err(db_err)?;
        queue.len().map_err(db_err)
    }

    /// Visits every delivery record (without bodies) in (platform, id) order.
    pub fn scan_deliveries(
        &self,
        visit: &mut dyn FnMut(DeliveryRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(DELIVERIES).map_err(db_err)?;
        for entry in t.iter().map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            if visit(decode(v.value(), "delivery record")?).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Quarantined deliveries.
    pub fn quarantined(&self) -> Result<Vec<DeliveryRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let q = txn.open_table(QUARANTINE).map_err(db_err)?;
        let deliveries = txn.open_table(DELIVERIES).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in q.iter().map_err(db_err)? {
            let (k, _) = entry.map_err(db_err)?;
            let (platform, id) = k.value();
            if let Some(v) = deliveries.get((platform, id)).map_err(db_err)? {
                out.push(decode(v.value(), "delivery record")?);
            }
        }
        Ok(out)
    }

    /// One delivery's record.
    pub fn delivery(
        &self,
        platform: Platform,
        id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(DELIVERIES).map_err(db_err)?;
        t.get((platform.as_str(), id))
            .map_err(db_err)?
            .map(|v| decode(v.value(), "delivery record"))
            .transpose()
    }

    /// One delivery's raw body.
    pub fn delivery_body(
        &self,
        platform: Platform,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(BODIES).map_err(db_err)?;
        Ok(t.get((platform.as_str(), id))
            .map_err(db_err)?
            .map(|v| v.value().to_vec()))
    }
}

fn apply_one(
    txn: &WriteTransaction,
    op: WriteOp,
    seq: &mut u64,
) -> Result<WriteOutcome, StoreError> {
    let mut deliveries = txn.open_table(DELIVERIES).map_err(db_err)?;
    let mut queue = txn.open_table(QUEUE).map_err(db_err)?;
    let mut quarantine = txn.open_table(QUARANTINE).map_err(db_err)?;
    match op {
        WriteOp::Receive(mut d) => {
            let key = (d.platform.as_str(), d.id.as_str());
            if deliveries.get(key).map_err(db_err)?.is_some() {
                return Ok(WriteOutcome::Duplicate);
            }
            *seq += 1;
            let body = std::mem::take(&mut d.body);
            let rec = DeliveryRecord {
                body_len: body.len() as u64,
                seq: *seq,
                attempts: 0,
                state: DeliveryState::Pending,
                delivery: d,
            };
            let key = (rec.delivery.platform.as_str(), rec.delivery.id.as_str());
            deliveries
                .insert(key, encode(&rec)?.as_slice())
                .map_err(db_err)?;
            txn.open_table(BODIES)
                .map_err(db_err)?
                .insert(key, body.as_slice())
                .map_err(db_err)?;
            queue.insert(*seq, key).map_err(db_err)?;
            Ok(WriteOutcome::Received { seq: *seq })
        }
        WriteOp::Complete {
            platform,
            id,
            events,
            ignored,
            at,
            actions,
            consents,
        } => {
            let key = (platform.as_str(), id.as_str());
            let Some(mut rec) = read_record(&deliveries, key)? else {
                return Ok(WriteOutcome::Rejected(format!(
                    "no delivery {platform}/{id}"
                )));
            };
            if rec.state != DeliveryState::Pending {
                // Already completed (a worker raced a restart): keep the first result.
                return Ok(WriteOutcome::Rejected(format!(
                    "delivery {platform}/{id} is not pending"
                )));
            }
            let new_events = insert_events(txn, &events)?;
            for a in actions {
                outbox::enqueue(txn, a, at)?;
            }
            consent::record(txn, &consents)?;
            queue.remove(rec.seq).map_err(db_err)?;
            rec.attempts += 1;
            rec.state = match ignored {
                Some(reason) => DeliveryState::Ignored { reason, at },
                None => DeliveryState::Processed {
                    events: events.len() as u32,
                    at,
                },
            };
            deliveries
                .insert(key, encode(&rec)?.as_slice())
                .map_err(db_err)?;
            Ok(WriteOutcome::Completed { new_events })
        }
        WriteOp::Quarantine {
            platform,
            id,
            error,
            at,
        } => {
            let key = (platform.as_str(), id.as_str());
            let Some(mut rec) = read_record(&deliveries, key)? else {
                return Ok(WriteOutcome::Rejected(format!(
                    "no delivery {platform}/{id}"
                )));
            };
            if rec.state != DeliveryState::Pending {
                return Ok(WriteOutcome::Rejected(format!(
                    "delivery {platform}/{id} is not pending"
                )));
            }
            queue.remove(rec.seq).map_err(db_err)?;
            rec.attempts += 1;
            rec.state = DeliveryState::Quarantined { error, at };
            deliveries
                .insert(key, encode(&rec)?.as_slice())
                .map_err(db_err)?;
            quarantine.insert(key, ()).map_err(db_err)?;
            Ok(WriteOutcome::Quarantined)
        }
        WriteOp::Retry { platform, id } => {
            let key = (platform.as_str(), id.as_str());
            let Some(mut rec) = read_record(&deliveries, key)? else {
                return Ok(WriteOutcome::Rejected(format!(
                    "no delivery {platform}/{id}"
                )));
            };
            if matches!(
                rec.state,
                DeliveryState::Pending | DeliveryState::Processed { .. }
            ) {
                return Ok(WriteOutcome::Rejected(format!(
                    "delivery {platform}/{id} is {}, only quarantined or ignored deliveries can be retried",
                    state_name(&rec.state)
                )));
            }
            *seq += 1;
            rec.seq = *seq;
            rec.state = DeliveryState::Pending;
            deliveries
                .insert(key, encode(&rec)?.as_slice())
                .map_err(db_err)?;
            quarantine.remove(key).map_err(db_err)?;
            queue.insert(*seq, key).map_err(db_err)?;
            Ok(WriteOutcome::Requeued)
        }
        WriteOp::Enqueue(e, now) => outbox::enqueue(txn, e, now),
        WriteOp::OutboxDone { id, executed, at } => outbox::done(txn, &id, &executed, at),
        WriteOp::OutboxFailed {
            id,
            error,
            retry_at,
            max_attempts,
        } => outbox::failed(txn, &id, error, retry_at, max_attempts),
        WriteOp::OutboxRetry { id, now } => outbox::retry(txn, &id, now),
        WriteOp::ScheduledRun {
            key,
            at,
            actions,
            now,
        } => {
            for e in actions {
                outbox::enqueue(txn, e, now)?;
            }
            super::redb_store::put_meta_in(txn, &key, at.to_rfc3339().as_bytes())?;
            Ok(WriteOutcome::Enqueued)
        }
    }
}

fn read_record(
    t: &redb::Table<(&str, &str), &[u8]>,
    key: (&str, &str),
) -> Result<Option<DeliveryRecord>, StoreError> {
    t.get(key)
        .map_err(db_err)?
        .map(|v| decode(v.value(), "delivery record"))
        .transpose()
}

/// Short name of a state, as printed by `canopy inbox list`.
pub fn state_name(s: &DeliveryState) -> &'static str {
    match s {
        DeliveryState::Pending => "pending",
        DeliveryState::Processed { .. } => "processed",
        DeliveryState::Ignored { .. } => "ignored",
        DeliveryState::Quarantined { .. } => "quarantined",
    }
}
