//! The outbox on PostgreSQL: one row per idempotency key. Due items are claimed with
//! `FOR UPDATE SKIP LOCKED` for a lease, so exactly one replica performs an action at a time;
//! recording its result releases the claim, and a lapsed claim (its replica died between
//! sending and recording) is taken over — the action's own marker lookup then keeps the
//! platform from getting it twice.

use std::ops::ControlFlow;

use canopy_core::{Action, Enqueue, OutboxItem, OutboxState, WriteOutcome};
use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;

use super::pool::Pooled;
use super::{Param, PgStore, pg_err, pg_text};
use crate::{Claim, OutboxStore, StoreError, decode, encode, transitions};

const CLAIM: &str = "WITH c AS ( \
       SELECT id FROM outbox \
       WHERE state = 'pending' AND due_ms <= $2 AND (claim_until_ms IS NULL OR claim_until_ms <= $2) \
       ORDER BY due_ms, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
     UPDATE outbox o SET claim_owner = $1, claim_until_ms = $3 FROM c WHERE o.id = c.id \
     RETURNING o.item";

fn state_name(s: OutboxState) -> &'static str {
    match s {
        OutboxState::Pending => "pending",
        OutboxState::Done => "done",
        OutboxState::Dead => "dead",
    }
}

/// The stored item under `id`, locked for the rest of the transaction.
async fn get_locked(c: &mut Pooled, id: &str) -> Result<Option<OutboxItem>, StoreError> {
    let st = c
        .statement("SELECT item FROM outbox WHERE id = $1 FOR UPDATE")
        .await?;
    let row = c
        .client()
        .query_opt(&st, &[&pg_text(id)])
        .await
        .map_err(pg_err)?;
    row.map(|r| {
        let bytes: Vec<u8> = r.try_get(0).map_err(pg_err)?;
        decode(&bytes, "outbox item")
    })
    .transpose()
}

/// Writes an item over the stored one; `release` also lets go of its claim.
async fn update(c: &mut Pooled, item: &OutboxItem, release: bool) -> Result<(), StoreError> {
    let sql = if release {
        "UPDATE outbox SET state = $2, due_ms = $3, item = $4, claim_owner = NULL, claim_until_ms = NULL WHERE id = $1"
    } else {
        "UPDATE outbox SET state = $2, due_ms = $3, item = $4 WHERE id = $1"
    };
    execute_item(c, sql, item).await?;
    Ok(())
}

/// Inserts a new item unless another transaction stored one under its id first (true: inserted).
async fn insert(c: &mut Pooled, item: &OutboxItem) -> Result<bool, StoreError> {
    let sql = "INSERT INTO outbox (id, state, due_ms, item) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING";
    Ok(execute_item(c, sql, item).await? == 1)
}

/// Runs `sql` with the item's id, state, due time and encoded record as `$1` to `$4`; the
/// number of rows it touched.
async fn execute_item(
    c: &mut Pooled,
    sql: &'static str,
    item: &OutboxItem,
) -> Result<u64, StoreError> {
    let st = c.statement(sql).await?;
    let bytes = encode(item)?;
    let params: [&(dyn ToSql + Sync); 4] = [
        &pg_text(&item.id),
        &state_name(item.state),
        &item.due_at.timestamp_millis(),
        &bytes,
    ];
    c.client().execute(&st, &params).await.map_err(pg_err)
}

/// Adds an action according to its mode.
pub(super) async fn enqueue(
    c: &mut Pooled,
    e: &Enqueue,
    now: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    loop {
        let old = get_locked(c, &e.id).await?;
        let Some(item) = transitions::enqueued(old.as_ref(), e, now) else {
            return Ok(WriteOutcome::Unchanged);
        };
        if old.is_some() {
            update(c, &item, false).await?;
            return Ok(WriteOutcome::Enqueued);
        }
        if insert(c, &item).await? {
            return Ok(WriteOutcome::Enqueued);
        }
        // Another replica stored this id meanwhile: decide again against its item.
    }
}

/// Records that `executed` was performed (unless replaced meanwhile); releases the claim.
pub(super) async fn done(
    c: &mut Pooled,
    id: &str,
    executed: &Action,
    at: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    let Some(old) = get_locked(c, id).await? else {
        return Ok(transitions::no_item(id));
    };
    match transitions::performed(&old, executed, at) {
        Some(item) => {
            update(c, &item, true).await?;
            Ok(WriteOutcome::Completed { new_events: 0 })
        }
        None => {
            update(c, &old, true).await?;
            Ok(WriteOutcome::Unchanged)
        }
    }
}

/// Records a failed attempt; releases the claim.
pub(super) async fn failed(
    c: &mut Pooled,
    id: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    max_attempts: u32,
) -> Result<WriteOutcome, StoreError> {
    let Some(old) = get_locked(c, id).await? else {
        return Ok(transitions::no_item(id));
    };
    let (item, outcome) = transitions::failed(&old, error.to_string(), retry_at, max_attempts);
    update(c, &item, true).await?;
    Ok(outcome)
}

/// Puts a dead item back in the queue, due now.
pub(super) async fn retry(
    c: &mut Pooled,
    id: &str,
    now: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    let Some(old) = get_locked(c, id).await? else {
        return Ok(transitions::no_item(id));
    };
    match transitions::revived(&old, now) {
        Ok(item) => {
            update(c, &item, true).await?;
            Ok(WriteOutcome::Requeued)
        }
        Err(rejected) => Ok(rejected),
    }
}

impl OutboxStore for PgStore {
    fn scan_outbox(
        &self,
        dead_only: bool,
        visit: &mut dyn FnMut(OutboxItem) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let sql = if dead_only {
            "SELECT item FROM outbox WHERE state = 'dead' ORDER BY id"
        } else {
            "SELECT item FROM outbox ORDER BY id"
        };
        self.scan_bytes(sql, Vec::new(), &mut |b| {
            Ok(visit(decode(b, "outbox item")?))
        })
    }

    fn claim_due(&self, claim: &Claim, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = self.query(
            CLAIM,
            vec![
                Param::Text(pg_text(&claim.owner)),
                Param::Int(claim.now.timestamp_millis()),
                Param::Int(claim.until.timestamp_millis()),
                Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
            ],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let bytes: Vec<u8> = r.try_get(0).map_err(pg_err)?;
            out.push(decode::<OutboxItem>(&bytes, "outbox item")?);
        }
        out.sort_by(|a, b| {
            (a.due_at.timestamp_millis(), &a.id).cmp(&(b.due_at.timestamp_millis(), &b.id))
        });
        Ok(out)
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let rows = self.query(
            "SELECT due_ms FROM outbox WHERE state = 'pending' ORDER BY due_ms LIMIT 1",
            Vec::new(),
        )?;
        Ok(match rows.first() {
            Some(r) => DateTime::from_timestamp_millis(r.try_get::<_, i64>(0).map_err(pg_err)?),
            None => None,
        })
    }

    fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        self.first_bytes(
            "SELECT item FROM outbox WHERE id = $1",
            vec![Param::Text(pg_text(id))],
        )?
        .map(|b| decode(&b, "outbox item"))
        .transpose()
    }
}
