//! The durable outbox: every outgoing action is stored before it is performed, performed by a
//! worker with retries, and either marked done or moved to a dead-letter list with its last
//! error. Items due in the future are durable timers (deferred reruns).

use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::redb_store::{RedbStore, db_err};
use super::{StoreError, WriteOutcome, decode, encode};
use crate::outbox::Action;

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

/// Where an item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be performed at `due_at`.
    Pending,
    /// Performed.
    Done,
    /// Gave up after repeated or permanent failures; see `last_error`.
    Dead,
}

/// One stored action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Deterministic id: the same intention always gets the same id, which makes enqueueing
    /// idempotent (`sticky:github:o/r#7`, `reply:github:o/r:comment:123`, ...).
    pub id: String,
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// Current state.
    pub state: OutboxState,
    /// When it was first enqueued.
    pub created_at: DateTime<Utc>,
    /// When it may next be performed.
    pub due_at: DateTime<Utc>,
    /// Failed attempts since it was last (re)queued.
    pub attempts: u32,
    /// The last error, for the dead-letter list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was performed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
}

/// How a new action relates to an existing item with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnqueueMode {
    /// The latest content wins (the sticky comment): replaces a pending item, revives a done one
    /// whose content differs, and does nothing when the content is what was already done.
    Replace,
    /// Only the first one counts (a reply to a command, a rerun): an existing item is kept.
    Once,
}

/// A request to add an action to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueue {
    /// Item id.
    pub id: String,
    /// The action.
    pub action: Action,
    /// When it may be performed.
    pub due_at: DateTime<Utc>,
    /// How it combines with an existing item.
    pub mode: EnqueueMode,
}

impl RedbStore {
    /// Visits outbox items (all, or only dead ones) in id order.
    pub fn scan_outbox(
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

    /// Pending items due at or before `now`, earliest first, at most `limit`.
    pub fn due_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let due = txn.open_table(DUE).map_err(db_err)?;
        let items = txn.open_table(OUTBOX).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in due
            .range((i64::MIN, "")..(now.timestamp_millis() + 1, ""))
            .map_err(db_err)?
        {
            if out.len() >= limit {
                break;
            }
            let (k, _) = entry.map_err(db_err)?;
            let (_, id) = k.value();
            if let Some(v) = items.get(id).map_err(db_err)? {
                out.push(decode(v.value(), "outbox item")?);
            }
        }
        Ok(out)
    }

    /// When the next pending item is due, if any.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let due = txn.open_table(DUE).map_err(db_err)?;
        let first = due.first().map_err(db_err)?;
        Ok(first.and_then(|(k, _)| DateTime::from_timestamp_millis(k.value().0)))
    }

    /// One item.
    pub fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let items = txn.open_table(OUTBOX).map_err(db_err)?;
        items
            .get(id)
            .map_err(db_err)?
            .map(|v| decode(v.value(), "outbox item"))
            .transpose()
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

fn get(txn: &WriteTransaction, id: &str) -> Result<Option<OutboxItem>, StoreError> {
    let items = txn.open_table(OUTBOX).map_err(db_err)?;
    items
        .get(id)
        .map_err(db_err)?
        .map(|v| decode(v.value(), "outbox item"))
        .transpose()
}

/// Adds an action according to its mode.
pub(super) fn enqueue(
    txn: &WriteTransaction,
    e: Enqueue,
    now: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    let old = get(txn, &e.id)?;
    let fresh = |created_at| OutboxItem {
        id: e.id.clone(),
        action: e.action.clone(),
        state: OutboxState::Pending,
        created_at,
        due_at: e.due_at,
        attempts: 0,
        last_error: None,
        done_at: None,
    };
    let item = match (&old, e.mode) {
        (None, _) => fresh(now),
        (Some(_), EnqueueMode::Once) => return Ok(WriteOutcome::Unchanged),
        (Some(o), EnqueueMode::Replace) if o.state == OutboxState::Done && o.action == e.action => {
            return Ok(WriteOutcome::Unchanged);
        }
        (Some(o), EnqueueMode::Replace) if o.state == OutboxState::Pending => OutboxItem {
            action: e.action.clone(),
            due_at: e.due_at.min(o.due_at),
            ..o.clone()
        },
        (Some(o), EnqueueMode::Replace) => fresh(o.created_at),
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
        return Ok(WriteOutcome::Rejected(format!("no outbox item {id}")));
    };
    if old.action != *executed {
        return Ok(WriteOutcome::Unchanged);
    }
    let item = OutboxItem {
        state: OutboxState::Done,
        done_at: Some(at),
        last_error: None,
        ..old.clone()
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
        return Ok(WriteOutcome::Rejected(format!("no outbox item {id}")));
    };
    let attempts = old.attempts + 1;
    let (state, due_at) = match retry_at {
        Some(t) if attempts < max_attempts => (OutboxState::Pending, t),
        _ => (OutboxState::Dead, old.due_at),
    };
    let item = OutboxItem {
        state,
        due_at,
        attempts,
        last_error: Some(error),
        ..old.clone()
    };
    put(txn, &item, Some(&old))?;
    Ok(if state == OutboxState::Dead {
        WriteOutcome::Quarantined
    } else {
        WriteOutcome::Requeued
    })
}

/// Puts a dead item back in the queue, due now.
pub(super) fn retry(
    txn: &WriteTransaction,
    id: &str,
    now: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    let Some(old) = get(txn, id)? else {
        return Ok(WriteOutcome::Rejected(format!("no outbox item {id}")));
    };
    if old.state != OutboxState::Dead {
        return Ok(WriteOutcome::Rejected(format!(
            "outbox item {id} is {:?}; only dead items can be retried",
            old.state
        )));
    }
    let item = OutboxItem {
        state: OutboxState::Pending,
        due_at: now,
        attempts: 0,
        ..old.clone()
    };
    put(txn, &item, Some(&old))?;
    Ok(WriteOutcome::Requeued)
}
