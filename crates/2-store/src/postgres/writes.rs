//! The one write transaction of [`crate::Store::apply_writes`] on PostgreSQL: every operation
//! of a batch in one transaction, in order (runs of new deliveries in one statement), retried
//! from the start when it conflicts with a concurrent replica's transaction.

use std::collections::HashSet;
use std::sync::Arc;

use canopy_core::{Consent, Delivery, DeliveryState, Platform, WriteOp, WriteOutcome};
use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;

use super::inbox;
use super::pool::{Pool, Pooled};
use super::{events, outbox, pg_err, pg_text};
use crate::{StoreError, encode, transitions};

/// Times a conflicting transaction is tried again before the error is returned.
const CONFLICT_RETRIES: u32 = 8;

/// Writes a meta value (inside the caller's transaction, if any).
pub(super) async fn put_meta(c: &mut Pooled, key: &str, value: &[u8]) -> Result<(), StoreError> {
    let st = c
        .statement("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
        .await?;
    c.client()
        .execute(&st, &[&key, &value])
        .await
        .map_err(pg_err)?;
    Ok(())
}

/// Applies a batch of the group-commit writer with as few round trips as it allows: new
/// deliveries alone are one self-committing statement; new deliveries beside other operations
/// (a worker's results, outbox records) are committed on two connections at once, unless an
/// operation of the batch concerns one of its new deliveries (then one transaction, in order).
/// Operations of one batch come from different callers, each waiting for its own, so neither
/// part depends on the other. On `Err`, the new deliveries of the batch may have been stored
/// (a redelivery is then a duplicate); nothing else was written.
pub(super) async fn apply_batch(
    pool: Arc<Pool>,
    ops: Vec<WriteOp>,
) -> Result<Vec<WriteOutcome>, StoreError> {
    let (received, others): (Vec<usize>, Vec<usize>) =
        (0..ops.len()).partition(|&i| matches!(ops[i], WriteOp::Receive(_)));
    let deliveries: Vec<&Delivery> = received
        .iter()
        .filter_map(|&i| match &ops[i] {
            WriteOp::Receive(d) => Some(d),
            _ => None,
        })
        .collect();
    if others.is_empty() {
        let mut c = pool.get().await?;
        return receive_with_retries(&mut c, &deliveries).await;
    }
    if deliveries.is_empty() || concerns_any(&ops, &deliveries) {
        let mut c = pool.get().await?;
        return apply_with_retries(&mut c, &ops).await;
    }
    let rest: Vec<WriteOp> = others.iter().map(|&i| ops[i].clone()).collect();
    let (got_received, got_others) = tokio::join!(
        async {
            let mut c = pool.get().await?;
            receive_with_retries(&mut c, &deliveries).await
        },
        async {
            let mut c = pool.get().await?;
            apply_with_retries(&mut c, &rest).await
        }
    );
    let mut outcomes = vec![WriteOutcome::Unchanged; ops.len()];
    for (i, o) in received.into_iter().zip(got_received?) {
        outcomes[i] = o;
    }
    for (i, o) in others.into_iter().zip(got_others?) {
        outcomes[i] = o;
    }
    Ok(outcomes)
}

/// Whether an operation changes the state of one of `deliveries` (same platform and id).
fn concerns_any(ops: &[WriteOp], deliveries: &[&Delivery]) -> bool {
    let keys: HashSet<(Platform, &str)> = deliveries
        .iter()
        .map(|d| (d.platform, d.id.as_str()))
        .collect();
    ops.iter().any(|op| match op {
        WriteOp::Complete { platform, id, .. }
        | WriteOp::Quarantine { platform, id, .. }
        | WriteOp::Retry { platform, id } => keys.contains(&(*platform, id.as_str())),
        _ => false,
    })
}

/// Stores new deliveries in one statement that commits by itself (one round trip; it returns
/// once the commit is durable), retried on a conflict with a concurrent replica's.
async fn receive_with_retries(
    c: &mut Pooled,
    deliveries: &[&Delivery],
) -> Result<Vec<WriteOutcome>, StoreError> {
    let mut tries = 0;
    loop {
        match inbox::receive(c, deliveries).await {
            Err(e) if matches!(e, StoreError::Conflict(_)) && tries < CONFLICT_RETRIES => {
                tries += 1;
                tracing::debug!(tries, error = %e, "storing deliveries conflicted; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(5 << tries.min(6))).await;
            }
            other => return other,
        }
    }
}

/// Applies `ops` in one transaction, retrying it from the start on a conflict.
pub(super) async fn apply_with_retries(
    c: &mut Pooled,
    ops: &[WriteOp],
) -> Result<Vec<WriteOutcome>, StoreError> {
    let mut tries = 0;
    loop {
        c.begin().await?;
        let result = match apply(c, ops).await {
            Ok(outcomes) => c.commit().await.map(|()| outcomes),
            Err(e) => Err(e),
        };
        match result {
            Ok(outcomes) => return Ok(outcomes),
            Err(e) => {
                c.rollback().await;
                if matches!(e, StoreError::Conflict(_)) && tries < CONFLICT_RETRIES {
                    tries += 1;
                    tracing::debug!(tries, error = %e, "store transaction conflicted; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(5 << tries.min(6))).await;
                    continue;
                }
                return Err(e);
            }
        }
    }
}

async fn apply(c: &mut Pooled, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut i = 0;
    while i < ops.len() {
        // A run of new deliveries is one statement.
        let run: Vec<_> = ops[i..]
            .iter()
            .map_while(|op| match op {
                WriteOp::Receive(d) => Some(d),
                _ => None,
            })
            .collect();
        if !run.is_empty() {
            i += run.len();
            outcomes.extend(inbox::receive(c, &run).await?);
            continue;
        }
        outcomes.push(apply_one(c, &ops[i]).await?);
        i += 1;
    }
    Ok(outcomes)
}

async fn apply_one(c: &mut Pooled, op: &WriteOp) -> Result<WriteOutcome, StoreError> {
    match op {
        WriteOp::Receive(d) => Ok(inbox::receive(c, &[d]).await?.remove(0)),
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
            let state = DeliveryState::completed(ignored.clone(), events.len(), *at);
            if let Err(rejected) = inbox::finish(c, *platform, id, &state).await? {
                return Ok(rejected);
            }
            let new_events = events::insert(c, events).await?;
            for a in actions {
                outbox::enqueue(c, a, *at).await?;
            }
            record_consents(c, consents).await?;
            for (key, value) in meta {
                put_meta(c, key, value).await?;
            }
            Ok(WriteOutcome::Completed { new_events })
        }
        WriteOp::Quarantine {
            platform,
            id,
            error,
            at,
        } => {
            let state = DeliveryState::Quarantined {
                error: error.clone(),
                at: *at,
            };
            Ok(match inbox::finish(c, *platform, id, &state).await? {
                Ok(()) => WriteOutcome::Quarantined,
                Err(rejected) => rejected,
            })
        }
        WriteOp::Retry { platform, id } => inbox::retry(c, *platform, id).await,
        WriteOp::Enqueue(e, now) => outbox::enqueue(c, e, *now).await,
        WriteOp::OutboxDone { id, executed, at } => outbox::done(c, id, executed, *at).await,
        WriteOp::OutboxFailed {
            id,
            error,
            retry_at,
            max_attempts,
        } => outbox::failed(c, id, error, *retry_at, *max_attempts).await,
        WriteOp::OutboxRetry { id, now } => outbox::retry(c, id, *now).await,
        WriteOp::ScheduledRun {
            key,
            previous,
            at,
            actions,
            now,
        } => scheduled_run(c, key, *previous, *at, actions, *now).await,
    }
}

/// Records a schedule's run with its actions if its last run is still `previous`
/// (compare-and-set: of several replicas, one records it, the others get `Unchanged`).
async fn scheduled_run(
    c: &mut Pooled,
    key: &str,
    previous: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
    actions: &[canopy_core::Enqueue],
    now: DateTime<Utc>,
) -> Result<WriteOutcome, StoreError> {
    let key = pg_text(key);
    let value = at.to_rfc3339();
    let st = c
        .statement("SELECT value FROM meta WHERE key = $1 FOR UPDATE")
        .await?;
    let stored = c.client().query_opt(&st, &[&key]).await.map_err(pg_err)?;
    let recorded = match &stored {
        Some(row) => Some(crate::parse_run(
            &key,
            &row.try_get::<_, Vec<u8>>(0).map_err(pg_err)?,
        )?),
        None => None,
    };
    if recorded != previous {
        return Ok(WriteOutcome::Unchanged);
    }
    if stored.is_some() {
        put_meta(c, &key, value.as_bytes()).await?;
    } else {
        let st = c
            .statement("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .await?;
        let params: [&(dyn ToSql + Sync); 2] = [&key, &value.as_bytes()];
        if c.client().execute(&st, &params).await.map_err(pg_err)? == 0 {
            // Another replica recorded a first run meanwhile.
            return Ok(WriteOutcome::Unchanged);
        }
    }
    for e in actions {
        outbox::enqueue(c, e, now).await?;
    }
    Ok(WriteOutcome::Enqueued)
}

/// Records consents; a record older than the stored one is ignored.
pub(super) async fn record_consents(
    c: &mut Pooled,
    consents: &[Consent],
) -> Result<(), StoreError> {
    for new in consents {
        let key = pg_text(&new.actor_key);
        let st = c
            .statement("SELECT record FROM consent WHERE actor_key = $1 FOR UPDATE")
            .await?;
        let old = match c.client().query_opt(&st, &[&key]).await.map_err(pg_err)? {
            Some(row) => {
                serde_json::from_slice::<Consent>(&row.try_get::<_, Vec<u8>>(0).map_err(pg_err)?)
                    .ok()
            }
            None => None,
        };
        if !transitions::consent_replaces(old.as_ref(), new) {
            continue;
        }
        let st = c
            .statement(
                "INSERT INTO consent (actor_key, at_us, record) VALUES ($1, $2, $3) \
                 ON CONFLICT (actor_key) DO UPDATE SET at_us = EXCLUDED.at_us, record = EXCLUDED.record",
            )
            .await?;
        let at_us = new.at.timestamp_micros();
        let record = encode(new)?;
        let params: [&(dyn ToSql + Sync); 3] = [&key, &at_us, &record];
        c.client().execute(&st, &params).await.map_err(pg_err)?;
    }
    Ok(())
}
