//! The inbox on PostgreSQL. Any replica may store a delivery: the primary key (platform,
//! delivery id) stores it once. Pending deliveries are claimed for a lease: claims are taken
//! one claimant at a time (a transaction-scoped advisory lock, then `FOR UPDATE SKIP LOCKED`
//! on the rows), and a delivery is not claimed while an earlier pending delivery of the same
//! repository is held by another claimant, so each repository's deliveries are processed in
//! arrival order even across replicas. A claim that lapses (its replica died) is taken over.

use std::collections::HashMap;
use std::ops::ControlFlow;

use canopy_core::{Delivery, DeliveryRecord, DeliveryState, Pending, Platform, WriteOutcome};
use chrono::{DateTime, SecondsFormat, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::pool::Pooled;
use super::{Param, PgStore, pg_err, pg_text};
use crate::{Claim, InboxStore, StoreError, transitions};

/// Key of the advisory lock that serialises inbox claims.
const CLAIM_LOCK: i64 = 0x63_616e_6f70_7902;

const RECEIVE: &str = "INSERT INTO deliveries (platform, id, seq, event, received_at, body, ordering_key, state) \
     SELECT p, i, nextval('inbox_seq'), e, r, b, k, 'pending' \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[]) AS u(p, i, e, r, b, k) \
     ON CONFLICT (platform, id) DO NOTHING RETURNING platform, id, seq";

const CLAIM: &str = "WITH c AS ( \
       SELECT d.platform, d.id FROM deliveries d \
       WHERE d.state = 'pending' AND (d.claim_until_ms IS NULL OR d.claim_until_ms <= $2) \
         AND NOT EXISTS ( \
           SELECT 1 FROM deliveries e \
           WHERE e.state = 'pending' AND d.ordering_key <> '' AND e.ordering_key = d.ordering_key \
             AND e.seq < d.seq AND e.claim_owner IS DISTINCT FROM $1 AND e.claim_until_ms > $2) \
       ORDER BY d.seq LIMIT $4 FOR UPDATE SKIP LOCKED) \
     UPDATE deliveries d SET claim_owner = $1, claim_until_ms = $3 FROM c \
     WHERE d.platform = c.platform AND d.id = c.id \
     RETURNING d.seq, d.platform, d.id, d.event, d.received_at, d.body, d.ordering_key";

const FINISH: &str = "UPDATE deliveries SET state = $3, state_at = $4, reason = $5, events = $6, \
       attempts = attempts + 1, claim_owner = NULL, claim_until_ms = NULL \
     WHERE platform = $1 AND id = $2 AND state = 'pending' RETURNING seq";

/// RFC 3339 as serde writes a `DateTime<Utc>` (round-trips exactly).
pub(super) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_time(s: &str, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{what} {s:?} is not a time: {e}")))
}

fn parse_platform(s: &str) -> Result<Platform, StoreError> {
    match s {
        "github" => Ok(Platform::Github),
        "gerrit" => Ok(Platform::Gerrit),
        "git" => Ok(Platform::Git),
        other => Err(StoreError::Corrupt(format!("unknown platform {other:?}"))),
    }
}

/// A delivery record from a row of (platform, id, event, received_at, body length, seq,
/// attempts, state, state_at, reason, events).
fn record(row: &Row) -> Result<DeliveryRecord, StoreError> {
    let get_s = |i: usize| row.try_get::<_, String>(i).map_err(pg_err);
    let get_o = |i: usize| row.try_get::<_, Option<String>>(i).map_err(pg_err);
    let platform = parse_platform(&get_s(0)?)?;
    let id = get_s(1)?;
    let at = |what| match get_o(8)? {
        Some(s) => parse_time(&s, what),
        None => Err(StoreError::Corrupt(format!(
            "delivery {platform}/{id} has no {what}"
        ))),
    };
    let reason = || get_o(9).map(Option::unwrap_or_default);
    let state = match get_s(7)?.as_str() {
        "pending" => DeliveryState::Pending,
        "processed" => DeliveryState::Processed {
            events: row.try_get::<_, i32>(10).map_err(pg_err)?.max(0) as u32,
            at: at("processing time")?,
        },
        "ignored" => DeliveryState::Ignored {
            reason: reason()?,
            at: at("time ignored")?,
        },
        "quarantined" => DeliveryState::Quarantined {
            error: reason()?,
            at: at("time quarantined")?,
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown delivery state {other:?}"
            )));
        }
    };
    Ok(DeliveryRecord {
        delivery: Delivery {
            platform,
            id: id.clone(),
            event: get_s(2)?,
            received_at: parse_time(&get_s(3)?, "receipt time")?,
            body: Vec::new(),
        },
        body_len: row.try_get::<_, i64>(4).map_err(pg_err)?.max(0) as u64,
        seq: row.try_get::<_, i64>(5).map_err(pg_err)?.max(0) as u64,
        attempts: row.try_get::<_, i32>(6).map_err(pg_err)?.max(0) as u32,
        state,
    })
}

/// Stores new deliveries in one statement; a known id (or a second copy in the batch) is a
/// duplicate. One outcome per delivery, in order.
pub(super) async fn receive(
    c: &mut Pooled,
    deliveries: &[&Delivery],
) -> Result<Vec<WriteOutcome>, StoreError> {
    let n = deliveries.len();
    let (mut ps, mut ids, mut evs) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut ats, mut bodies, mut keys) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for d in deliveries {
        ps.push(d.platform.as_str());
        ids.push(pg_text(&d.id));
        evs.push(pg_text(&d.event));
        ats.push(time_text(d.received_at));
        bodies.push(d.body.as_slice());
        keys.push(pg_text(&d.ordering_key()));
    }
    let st = c.statement(RECEIVE).await?;
    let params: [&(dyn ToSql + Sync); 6] = [&ps, &ids, &evs, &ats, &bodies, &keys];
    let rows = c.client().query(&st, &params).await.map_err(pg_err)?;
    let mut stored: HashMap<(String, String), i64> = HashMap::with_capacity(rows.len());
    for r in rows {
        let p: String = r.try_get(0).map_err(pg_err)?;
        stored.insert(
            (p, r.try_get(1).map_err(pg_err)?),
            r.try_get(2).map_err(pg_err)?,
        );
    }
    Ok((0..n)
        .map(
            |i| match stored.remove(&(ps[i].to_string(), ids[i].clone())) {
                Some(seq) => WriteOutcome::Received {
                    seq: seq.max(0) as u64,
                },
                None => WriteOutcome::Duplicate,
            },
        )
        .collect())
}

/// Why a delivery cannot be completed: unknown, or no longer pending.
async fn not_finishable(
    c: &mut Pooled,
    platform: Platform,
    id: &str,
) -> Result<WriteOutcome, StoreError> {
    let st = c
        .statement("SELECT 1 FROM deliveries WHERE platform = $1 AND id = $2")
        .await?;
    let found = c
        .client()
        .query_opt(&st, &[&platform.as_str(), &pg_text(id)])
        .await
        .map_err(pg_err)?;
    Ok(match found {
        Some(_) => transitions::not_pending(platform, id),
        None => transitions::no_delivery(platform, id),
    })
}

/// Takes a pending delivery out of the queue in its new state and releases its claim; `Err`
/// carries the rejection when it is unknown or not pending (nothing written).
pub(super) async fn finish(
    c: &mut Pooled,
    platform: Platform,
    id: &str,
    state: &DeliveryState,
) -> Result<Result<(), WriteOutcome>, StoreError> {
    let (name, at, reason, events) = match state {
        DeliveryState::Pending => return Ok(Err(transitions::not_pending(platform, id))),
        DeliveryState::Processed { events, at } => ("processed", at, None, *events),
        DeliveryState::Ignored { reason, at } => ("ignored", at, Some(pg_text(reason)), 0),
        DeliveryState::Quarantined { error, at } => ("quarantined", at, Some(pg_text(error)), 0),
    };
    let st = c.statement(FINISH).await?;
    let events = i32::try_from(events).unwrap_or(i32::MAX);
    let params: [&(dyn ToSql + Sync); 6] = [
        &platform.as_str(),
        &pg_text(id),
        &name,
        &time_text(*at),
        &reason,
        &events,
    ];
    if c.client()
        .query_opt(&st, &params)
        .await
        .map_err(pg_err)?
        .is_some()
    {
        return Ok(Ok(()));
    }
    Ok(Err(not_finishable(c, platform, id).await?))
}

/// Puts a quarantined or ignored delivery back at the end of the queue.
pub(super) async fn retry(
    c: &mut Pooled,
    platform: Platform,
    id: &str,
) -> Result<WriteOutcome, StoreError> {
    let sql = "SELECT platform, id, event, received_at, octet_length(body)::int8, seq, attempts, state, state_at, reason, events \
               FROM deliveries WHERE platform = $1 AND id = $2 FOR UPDATE";
    let st = c.statement(sql).await?;
    let Some(row) = c
        .client()
        .query_opt(&st, &[&platform.as_str(), &pg_text(id)])
        .await
        .map_err(pg_err)?
    else {
        return Ok(transitions::no_delivery(platform, id));
    };
    let rec = record(&row)?;
    if let Some(refused) = transitions::retry_refused(platform, id, &rec.state) {
        return Ok(refused);
    }
    let st = c
        .statement(
            "UPDATE deliveries SET state = 'pending', seq = nextval('inbox_seq'), state_at = NULL, \
             reason = NULL, events = 0, claim_owner = NULL, claim_until_ms = NULL \
             WHERE platform = $1 AND id = $2",
        )
        .await?;
    c.client()
        .execute(&st, &[&platform.as_str(), &pg_text(id)])
        .await
        .map_err(pg_err)?;
    Ok(WriteOutcome::Requeued)
}

impl PgStore {
    fn records(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.query(sql, params)?.iter().map(record).collect()
    }
}

impl InboxStore for PgStore {
    fn claim_pending(&self, claim: &Claim, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let (pool, claim) = (self.pool.clone(), claim.clone());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(async move {
            let mut c = pool.get().await?;
            c.begin().await?;
            match claim_in_transaction(&mut c, &claim, limit).await {
                Ok(p) => {
                    c.commit().await?;
                    Ok(p)
                }
                Err(e) => {
                    c.rollback().await;
                    Err(e)
                }
            }
        })
    }

    fn queue_depth(&self) -> Result<u64, StoreError> {
        let rows = self.query(
            "SELECT count(*) FROM deliveries WHERE state = 'pending'",
            Vec::new(),
        )?;
        let n: i64 = rows
            .first()
            .map(|r| r.try_get(0).map_err(pg_err))
            .transpose()?
            .unwrap_or(0);
        Ok(n.max(0) as u64)
    }

    fn oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let rows = self.query(
            "SELECT received_at FROM deliveries WHERE state = 'pending' ORDER BY seq LIMIT 1",
            Vec::new(),
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let at: String = row.try_get(0).map_err(pg_err)?;
        parse_time(&at, "receipt time").map(Some)
    }

    fn scan_deliveries(
        &self,
        visit: &mut dyn FnMut(DeliveryRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        // Keyset pages, so a large inbox is never held in memory at once.
        let mut after: (String, String) = (String::new(), String::new());
        loop {
            let page = self.records(
                "SELECT platform, id, event, received_at, octet_length(body)::int8, seq, attempts, state, state_at, reason, events \
                 FROM deliveries WHERE (platform, id) > ($1, $2) ORDER BY platform, id LIMIT 1000",
                vec![Param::Text(after.0.clone()), Param::Text(after.1.clone())],
            )?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = (
                last.delivery.platform.as_str().to_string(),
                last.delivery.id.clone(),
            );
            for rec in page {
                if visit(rec).is_break() {
                    return Ok(());
                }
            }
        }
    }

    fn quarantined(&self) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.records(
            "SELECT platform, id, event, received_at, octet_length(body)::int8, seq, attempts, state, state_at, reason, events \
             FROM deliveries WHERE state = 'quarantined' ORDER BY platform, id",
            Vec::new(),
        )
    }

    fn delivery(&self, platform: Platform, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        Ok(self
            .records(
                "SELECT platform, id, event, received_at, octet_length(body)::int8, seq, attempts, state, state_at, reason, events \
                 FROM deliveries WHERE platform = $1 AND id = $2",
                vec![Param::Text(platform.as_str().into()), Param::Text(pg_text(id))],
            )?
            .pop())
    }

    fn delivery_body(&self, platform: Platform, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.first_bytes(
            "SELECT body FROM deliveries WHERE platform = $1 AND id = $2",
            vec![
                Param::Text(platform.as_str().into()),
                Param::Text(pg_text(id)),
            ],
        )
    }
}

async fn claim_in_transaction(
    c: &mut Pooled,
    claim: &Claim,
    limit: i64,
) -> Result<Vec<Pending>, StoreError> {
    let lock = c.statement("SELECT pg_advisory_xact_lock($1)").await?;
    c.client()
        .execute(&lock, &[&CLAIM_LOCK])
        .await
        .map_err(pg_err)?;
    let st = c.statement(CLAIM).await?;
    let owner = pg_text(&claim.owner);
    let (now, until) = (claim.now.timestamp_millis(), claim.until.timestamp_millis());
    let params: [&(dyn ToSql + Sync); 4] = [&owner, &now, &until, &limit];
    let rows = c.client().query(&st, &params).await.map_err(pg_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let seq: i64 = r.try_get(0).map_err(pg_err)?;
        let platform = parse_platform(&r.try_get::<_, String>(1).map_err(pg_err)?)?;
        out.push(Pending {
            seq: seq.max(0) as u64,
            delivery: Delivery {
                platform,
                id: r.try_get(2).map_err(pg_err)?,
                event: r.try_get(3).map_err(pg_err)?,
                received_at: parse_time(
                    &r.try_get::<_, String>(4).map_err(pg_err)?,
                    "receipt time",
                )?,
                body: r.try_get(5).map_err(pg_err)?,
            },
            key: r.try_get(6).map_err(pg_err)?,
        });
    }
    out.sort_by_key(|p| p.seq);
    Ok(out)
}
