//! The inbox on redb, and the one write transaction of [`crate::Store::apply_writes`]:
//! deliveries stored before they are acknowledged, deduplicated by delivery id, queued in
//! arrival order, and completed atomically with the events and decisions they produce.

use std::collections::HashSet;
use std::ops::ControlFlow;

use canopy_core::{
    DeliveryRecord, DeliveryState, Enqueue, Pending, Platform, WriteOp, WriteOutcome,
};
use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::journal::Journaled;
use super::{RedbStore, bodies, consent, db_err, insert_events, last_run_in, outbox, put_meta_in};
use crate::{Claim, InboxStore, StoreError, decode, encode, transitions};

/// Delivery records (without body), by (platform, delivery id).
const DELIVERIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("deliveries");
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
    bodies::init_tables(txn)?;
    txn.open_table(QUEUE).map_err(db_err)?;
    txn.open_table(QUARANTINE).map_err(db_err)?;
    txn.open_table(COUNTERS).map_err(db_err)?;
    Ok(())
}

/// Applies operations in `txn` and commits it (with the transaction's durability); one
/// outcome per op. First stores the deliveries of the intake journal not yet in the tables
/// (`folded`, with the queue positions the journal gave them; a known id is skipped, as after
/// a replay); queue positions handed out here follow `after` and every folded one. Returns the
/// outcomes and the last queue position. The inbox's tables are opened once for the batch.
pub(super) fn apply_writes(
    txn: WriteTransaction,
    ops: Vec<WriteOp>,
    folded: &[Journaled],
    after: u64,
) -> Result<(Vec<WriteOutcome>, u64), StoreError> {
    let t0 = std::time::Instant::now();
    let n_ops = ops.len();
    let mut outcomes = Vec::with_capacity(ops.len());
    let last;
    {
        let mut counters = txn.open_table(COUNTERS).map_err(db_err)?;
        let stored = counters.get(SEQ).map_err(db_err)?.map_or(0, |v| v.value());
        let mut seq = stored.max(after);
        let mut inbox = Tables {
            deliveries: txn.open_table(DELIVERIES).map_err(db_err)?,
            bodies: bodies::writer(&txn)?,
            packer: bodies::Packer::default(),
            queue: txn.open_table(QUEUE).map_err(db_err)?,
            quarantine: txn.open_table(QUARANTINE).map_err(db_err)?,
        };
        for (at, d) in folded {
            inbox.fold(*at, d)?;
            seq = seq.max(*at);
        }
        for op in ops {
            let outcome = apply_one(&txn, &mut inbox, op, &mut seq)?;
            outcomes.push(outcome);
        }
        counters.insert(SEQ, seq).map_err(db_err)?;
        last = seq;
    }
    let t = std::time::Instant::now();
    txn.commit().map_err(db_err)?;
    tracing::debug!(
        folded = folded.len(),
        ops = n_ops,
        apply_us = t.duration_since(t0).as_micros() as u64,
        commit_us = t.elapsed().as_micros() as u64,
        "redb commit"
    );
    Ok((outcomes, last))
}

/// Which of `keys` (platform, delivery id) the store already holds.
pub(super) fn known(db: &redb::Database, keys: &[(&str, &str)]) -> Result<Vec<bool>, StoreError> {
    let txn = db.begin_read().map_err(db_err)?;
    let deliveries = txn.open_table(DELIVERIES).map_err(db_err)?;
    keys.iter()
        .map(|k| Ok(deliveries.get(*k).map_err(db_err)?.is_some()))
        .collect()
}

/// The platform a stored key names.
fn platform_named(name: &str) -> Option<Platform> {
    [Platform::Github, Platform::Gerrit, Platform::Git]
        .into_iter()
        .find(|p| p.as_str() == name)
}

/// The record of a queued delivery; a queue entry without one is a corrupt store.
fn queued_record(
    deliveries: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    platform: &str,
    id: &str,
) -> Result<DeliveryRecord, StoreError> {
    let rec = deliveries
        .get((platform, id))
        .map_err(db_err)?
        .ok_or_else(|| {
            StoreError::Corrupt(format!("queued delivery {platform}/{id} has no record"))
        })?;
    decode(rec.value(), "delivery record")
}

impl InboxStore for RedbStore {
    fn claim_pending(&self, claim: &Claim, limit: usize) -> Result<Vec<Pending>, StoreError> {
        self.settle()?;
        // The claim table is locked before the snapshot is taken: a completion commits first and
        // releases its claim after, so a claim seen released here is already in the snapshot
        // (taken the other way round, a delivery completed in between looked queued and free).
        let mut claims = self
            .claims
            .lock()
            .map_err(|_| StoreError::Db("the claim table is poisoned".into()))?;
        let txn = self.db.begin_read().map_err(db_err)?;
        let queue = txn.open_table(QUEUE).map_err(db_err)?;
        let deliveries = txn.open_table(DELIVERIES).map_err(db_err)?;
        let bodies = bodies::Reader::open(&txn)?;
        let mut out = Vec::new();
        // Repositories with an earlier delivery held by another claimant: their later
        // deliveries wait, so each repository's deliveries are processed in arrival order.
        let mut blocked: HashSet<String> = HashSet::new();
        for entry in queue.iter().map_err(db_err)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry.map_err(db_err)?;
            let (platform, id) = v.value();
            // Held already (by this claimant, handed to a worker, or another): skipped before
            // its record is read and decoded, as the check below would skip it.
            if let Some(p) = platform_named(platform)
                && let Some(by_other) = claims.held(p, id, claim)
            {
                if let Some(key) = by_other.filter(|k| !k.is_empty()) {
                    blocked.insert(key.to_string());
                }
                continue;
            }
            let mut rec = queued_record(&deliveries, platform, id)?;
            let (p, i) = (rec.delivery.platform, rec.delivery.id.clone());
            if let Some(by_other) = claims.held(p, &i, claim) {
                if let Some(key) = by_other.filter(|k| !k.is_empty()) {
                    blocked.insert(key.to_string());
                }
                continue;
            }
            rec.delivery.body = bodies.get(platform, id)?.unwrap_or_default();
            let key = rec.delivery.ordering_key();
            if blocked.contains(&key) || !claims.take_delivery(p, &i, &key, claim) {
                continue;
            }
            out.push(Pending {
                seq: k.value(),
                delivery: rec.delivery,
                key,
            });
        }
        Ok(out)
    }

    fn queue_depth(&self) -> Result<u64, StoreError> {
        self.settle()?;
        use redb::ReadableTableMetadata;
        let txn = self.db.begin_read().map_err(db_err)?;
        let queue = txn.open_table(QUEUE).map_err(db_err)?;
        queue.len().map_err(db_err)
    }

    fn oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.settle()?;
        let txn = self.db.begin_read().map_err(db_err)?;
        let queue = txn.open_table(QUEUE).map_err(db_err)?;
        let Some((_, v)) = queue.first().map_err(db_err)? else {
            return Ok(None);
        };
        let (platform, id) = v.value();
        let deliveries = txn.open_table(DELIVERIES).map_err(db_err)?;
        let rec = queued_record(&deliveries, platform, id)?;
        Ok(Some(rec.delivery.received_at))
    }

    fn scan_deliveries(
        &self,
        visit: &mut dyn FnMut(DeliveryRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.settle()?;
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

    fn quarantined(&self) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.settle()?;
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

    fn delivery(&self, platform: Platform, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        self.settle()?;
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(DELIVERIES).map_err(db_err)?;
        t.get((platform.as_str(), id))
            .map_err(db_err)?
            .map(|v| decode(v.value(), "delivery record"))
            .transpose()
    }

    fn delivery_body(&self, platform: Platform, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.settle()?;
        let txn = self.db.begin_read().map_err(db_err)?;
        bodies::Reader::open(&txn)?.get(platform.as_str(), id)
    }
}

fn apply_one(
    txn: &WriteTransaction,
    inbox: &mut Tables<'_>,
    op: WriteOp,
    seq: &mut u64,
) -> Result<WriteOutcome, StoreError> {
    match op {
        WriteOp::Receive(d) => inbox.receive(d, seq),
        WriteOp::Complete {
            platform,
            id,
            events,
            ignored,
            at,
            actions,
            consents,
            meta,
        } => {
            let mut rec = match inbox.pending_record(platform, &id)? {
                Ok(rec) => rec,
                Err(rejected) => return Ok(rejected),
            };
            let new_events = insert_events(txn, &events)?;
            for a in actions {
                outbox::enqueue(txn, a, at)?;
            }
            consent::record(txn, &consents)?;
            for (key, value) in &meta {
                put_meta_in(txn, key, value)?;
            }
            rec.state = DeliveryState::completed(ignored, events.len(), at);
            inbox.finish(rec)?;
            Ok(WriteOutcome::Completed { new_events })
        }
        WriteOp::Quarantine {
            platform,
            id,
            error,
            at,
        } => {
            let mut rec = match inbox.pending_record(platform, &id)? {
                Ok(rec) => rec,
                Err(rejected) => return Ok(rejected),
            };
            rec.state = DeliveryState::Quarantined { error, at };
            inbox.finish(rec)?;
            Ok(WriteOutcome::Quarantined)
        }
        WriteOp::Retry { platform, id } => inbox.retry(platform, &id, seq),
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
            previous,
            at,
            actions,
            now,
        } => scheduled_run(txn, &key, previous, at, actions, now),
    }
}

/// Records a schedule's run with its actions, if its last run is still `previous`.
fn scheduled_run(
    txn: &WriteTransaction,
    key: &str,
    previous: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
    actions: Vec<Enqueue>,
    now: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    if last_run_in(txn, key)? != previous {
        // Another run (another replica) recorded it first.
        return Ok(WriteOutcome::Unchanged);
    }
    for e in actions {
        outbox::enqueue(txn, e, now)?;
    }
    put_meta_in(txn, key, at.to_rfc3339().as_bytes())?;
    Ok(WriteOutcome::Enqueued)
}

/// The inbox's tables inside one write transaction.
struct Tables<'t> {
    deliveries: redb::Table<'t, (&'static str, &'static str), &'static [u8]>,
    bodies: bodies::Writer<'t>,
    packer: bodies::Packer,
    queue: redb::Table<'t, u64, (&'static str, &'static str)>,
    quarantine: redb::Table<'t, (&'static str, &'static str), ()>,
}

impl Tables<'_> {
    fn record(&self, platform: Platform, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        self.deliveries
            .get((platform.as_str(), id))
            .map_err(db_err)?
            .map(|v| decode(v.value(), "delivery record"))
            .transpose()
    }

    fn put(&mut self, rec: &DeliveryRecord) -> Result<(), StoreError> {
        let key = (rec.delivery.platform.as_str(), rec.delivery.id.as_str());
        self.deliveries
            .insert(key, encode(rec)?.as_slice())
            .map_err(db_err)?;
        Ok(())
    }

    /// Stores a new delivery at the end of the queue (a known id is a duplicate).
    fn receive(
        &mut self,
        mut d: canopy_core::Delivery,
        seq: &mut u64,
    ) -> Result<WriteOutcome, StoreError> {
        if self.holds(&d)? {
            return Ok(WriteOutcome::Duplicate);
        }
        *seq += 1;
        let body = std::mem::take(&mut d.body);
        self.insert_pending(*seq, d, &body)?;
        Ok(WriteOutcome::Received { seq: *seq })
    }

    /// Stores a delivery of the intake journal at the queue position it was given, unless the
    /// store has it already (it was folded before a crash, and the journal replayed).
    fn fold(&mut self, seq: u64, d: &canopy_core::Delivery) -> Result<(), StoreError> {
        if self.holds(d)? {
            return Ok(());
        }
        let head = canopy_core::Delivery {
            platform: d.platform,
            id: d.id.clone(),
            event: d.event.clone(),
            received_at: d.received_at,
            body: Vec::new(),
        };
        self.insert_pending(seq, head, &d.body)
    }

    fn holds(&self, d: &canopy_core::Delivery) -> Result<bool, StoreError> {
        let known = self.deliveries.get((d.platform.as_str(), d.id.as_str()));
        Ok(known.map_err(db_err)?.is_some())
    }

    /// Writes a pending delivery's record, body and queue entry.
    fn insert_pending(
        &mut self,
        seq: u64,
        d: canopy_core::Delivery,
        body: &[u8],
    ) -> Result<(), StoreError> {
        let rec = DeliveryRecord {
            body_len: body.len() as u64,
            seq,
            attempts: 0,
            state: DeliveryState::Pending,
            delivery: d,
        };
        self.put(&rec)?;
        let key = (rec.delivery.platform.as_str(), rec.delivery.id.as_str());
        self.packer.put(&mut self.bodies, key, body)?;
        self.queue.insert(seq, key).map_err(db_err)?;
        Ok(())
    }

    /// The record of a pending delivery, or why it cannot be completed.
    fn pending_record(
        &self,
        platform: Platform,
        id: &str,
    ) -> Result<Result<DeliveryRecord, WriteOutcome>, StoreError> {
        let Some(rec) = self.record(platform, id)? else {
            return Ok(Err(transitions::no_delivery(platform, id)));
        };
        if rec.state != DeliveryState::Pending {
            // Already completed (a worker raced a restart): keep the first result.
            return Ok(Err(transitions::not_pending(platform, id)));
        }
        Ok(Ok(rec))
    }

    /// Takes a delivery out of the queue in its new state (quarantined ones are listed).
    fn finish(&mut self, mut rec: DeliveryRecord) -> Result<(), StoreError> {
        self.queue.remove(rec.seq).map_err(db_err)?;
        rec.attempts += 1;
        self.put(&rec)?;
        if matches!(rec.state, DeliveryState::Quarantined { .. }) {
            let key = (rec.delivery.platform.as_str(), rec.delivery.id.as_str());
            self.quarantine.insert(key, ()).map_err(db_err)?;
        }
        Ok(())
    }

    /// Puts a quarantined or ignored delivery back at the end of the queue.
    fn retry(
        &mut self,
        platform: Platform,
        id: &str,
        seq: &mut u64,
    ) -> Result<WriteOutcome, StoreError> {
        let Some(mut rec) = self.record(platform, id)? else {
            return Ok(transitions::no_delivery(platform, id));
        };
        if let Some(refused) = transitions::retry_refused(platform, id, &rec.state) {
            return Ok(refused);
        }
        *seq += 1;
        rec.seq = *seq;
        rec.state = DeliveryState::Pending;
        self.put(&rec)?;
        let key = (platform.as_str(), id);
        self.quarantine.remove(key).map_err(db_err)?;
        self.queue.insert(*seq, key).map_err(db_err)?;
        Ok(WriteOutcome::Requeued)
    }
}
