//! The durable outbox: every outgoing action is stored before it is performed, performed by a
//! worker with retries, and either marked done or moved to a dead-letter list with its last
//! error. Items due in the future are durable timers (deferred reruns).

use std::ops::ControlFlow;

use canopy_core::{Action, Enqueue, OutboxItem, OutboxState, WriteOutcome};
use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{RedbStore, db_err};
use crate::{Claim, OutboxStore, StoreError, decode, encode, transitions};

/// Items by id.
const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox");
/// Pending items by (due time in ms, id).
const DUE: TableDefinition<(i64, &str), ()> = TableDefinition::new("outbox_due");
/// Dead-letter items: id → ().
const DEAD: TableDefinition<&str, ()> = TableDefinition::new("outbox_dead");

/// Creates the outbox tables in a new store.
pub(super) fn init_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(OUTBOX).map_err(db_err)?;
    txn.open_table(DUE).map_err(db_err)?;
    txn.open_table(DEAD).map_err(db_err)?;
    Ok(())
}

impl OutboxStore for RedbStore {
    fn scan_outbox(
        &self,
        dead_only: bool,
        visit: &mut dyn FnMut(OutboxItem) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let items = txn.open_table(OUTBOX).map_err(db_err)?;
        if dead_only {
            let dead = txn.open_table(DEAD).map_err(db_err)?;
            for entry in dead.iter().map_err(db_err)? {
                let (k, _) = entry.map_err(db_err)?;
                if let Some(v) = items.get(k.value()).map_err(db_err)?
                    && visit(decode(v.value(), "outbox item")?).is_break()
                {
                    break;
                }
            }
        } else {
            for entry in items.iter().map_err(db_err)? {
                let (_, v) = entry.map_err(db_err)?;
                if visit(decode(v.value(), "outbox item")?).is_break() {
                    break;
                }
            }
        }
        Ok(())
    }

    fn claim_due(&self, claim: &Claim, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let due = txn.open_table(DUE).map_err(db_err)?;
        let items = txn.open_table(OUTBOX).map_err(db_err)?;
        let mut claims = self
            .claims
            .lock()
            .map_err(|_| StoreError::Db("the claim table is poisoned".into()))?;
        let mut out = Vec::new();
        for entry in due
            .range((i64::MIN, "")..(claim.now.timestamp_millis() + 1, ""))
            .map_err(db_err)?
        {
            if out.len() >= limit {
                break;
            }
            let (k, _) = entry.map_err(db_err)?;
            let (_, id) = k.value();
            if let Some(v) = items.get(id).map_err(db_err)?
                && claims.take_action(id, claim)
            {
                out.push(decode(v.value(), "outbox item")?);
            }
        }
        Ok(out)
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let due = txn.open_table(DUE).map_err(db_err)?;
        let first = due.first().map_err(db_err)?;
        Ok(first.and_then(|(k, _)| DateTime::from_timestamp_millis(k.value().0)))
    }

    fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        read_item(&txn.open_table(OUTBOX).map_err(db_err)?, id)
    }
}

fn put(
    txn: &WriteTransaction,
    item: &OutboxItem,
    old: Option<&OutboxItem>,
) -> Result<(), StoreError> {
    let mut items = txn.open_table(OUTBOX).map_err(db_err)?;
    let mut due = txn.open_table(DUE).map_err(db_err)?;
    let mut dead = txn.open_table(DEAD).map_err(db_err)?;
    if let Some(o) = old {
        if o.state == OutboxState::Pending {
            due.remove((o.due_at.timestamp_millis(), o.id.as_str()))
                .map_err(db_err)?;
        }
        if o.state == OutboxState::Dead {
            dead.remove(o.id.as_str()).map_err(db_err)?;
        }
    }
    match item.state {
        OutboxState::Pending => {
            due.insert((item.due_at.timestamp_millis(), item.id.as_str()), ())
                .map_err(db_err)?;
        }
        OutboxState::Dead => {
            dead.insert(item.id.as_str(), ()).map_err(db_err)?;
        }
        OutboxState::Done => {}
    }
    items
        .insert(item.id.as_str(), encode(item)?.as_slice())
        .map_err(db_err)?;
    Ok(())
}

/// One item from the items table (read or write transaction).
fn read_item(
    items: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<OutboxItem>, StoreError> {
    items
        .get(id)
        .map_err(db_err)?
        .map(|v| decode(v.value(), "outbox item"))
        .transpose()
}

fn get(txn: &WriteTransaction, id: &str) -> Result<Option<OutboxItem>, StoreError> {
    read_item(&txn.open_table(OUTBOX).map_err(db_err)?, id)
}

/// Adds an action according to its mode.
pub(super) fn enqueue(
    txn: &WriteTransaction,
    e: Enqueue,
    now: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    let old = get(txn, &e.id)?;
    let Some(item) = transitions::enqueued(old.as_ref(), &e, now) else {
        return Ok(WriteOutcome::Unchanged);
    };
    put(txn, &item, old.as_ref())?;
    Ok(WriteOutcome::Enqueued)
}

/// Records that the action `executed` of item `id` was performed. If the item was replaced by
/// newer content meanwhile, it stays pending for that content.
pub(super) fn done(
    txn: &WriteTransaction,
    id: &str,
    executed: &Action,
    at: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    let Some(old) = get(txn, id)? else {
        return Ok(transitions::no_item(id));
    };
    let Some(item) = transitions::performed(&old, executed, at) else {
        return Ok(WriteOutcome::Unchanged);
    };
    put(txn, &item, Some(&old))?;
    Ok(WriteOutcome::Completed { new_events: 0 })
}

/// Records a failed attempt: retried at `retry_at`, or dead when `retry_at` is `None` or the
/// attempts reach `max_attempts`.
pub(super) fn failed(
    txn: &WriteTransaction,
    id: &str,
    error: String,
    retry_at: Option<DateTime<Utc>>,
    max_attempts: u32,
) -> Result<WriteOutcome, StoreError> {
    let Some(old) = get(txn, id)? else {
        return Ok(transitions::no_item(id));
    };
    let (item, outcome) = transitions::failed(&old, error, retry_at, max_attempts);
    put(txn, &item, Some(&old))?;
    Ok(outcome)
}

/// Puts a dead item back in the queue, due now.
pub(super) fn retry(
    txn: &WriteTransaction,
    id: &str,
    now: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    let Some(old) = get(txn, id)? else {
        return Ok(transitions::no_item(id));
    };
    let item = match transitions::revived(&old, now) {
        Ok(item) => item,
        Err(rejected) => return Ok(rejected),
    };
    put(txn, &item, Some(&old))?;
    Ok(WriteOutcome::Requeued)
}
