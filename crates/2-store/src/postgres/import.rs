//! Imports records as they are, for `canopy store copy`: deliveries with their state,
//! attempts and body (in the order given, which becomes their queue order), outbox items in
//! any state, and reports with their whole audit log. Whatever is already stored under the
//! same key is left as it is, so an interrupted copy can simply be run again.

use canopy_core::{DeliveryRecord, DeliveryState, OutboxItem, OutboxState};
use tokio_postgres::types::ToSql;

use super::inbox::time_text;
use super::{PgStore, pg_err, pg_text};
use crate::reports::{AuditEntry, StoredReport};
use crate::{ReportStore, StoreError, encode};

const INSERT_DELIVERY: &str = "INSERT INTO deliveries \
     (platform, id, seq, event, received_at, body, ordering_key, state, state_at, reason, events, attempts) \
     VALUES ($1, $2, nextval('inbox_seq'), $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (platform, id) DO NOTHING";

impl PgStore {
    /// Stores deliveries (record and raw body) as they are; returns how many were new.
    pub fn import_deliveries(
        &self,
        batch: Vec<(DeliveryRecord, Vec<u8>)>,
    ) -> Result<usize, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let mut c = pool.get().await?;
            c.begin().await?;
            let st = c.statement(INSERT_DELIVERY).await?;
            let mut new = 0;
            for (rec, body) in batch {
                let d = &rec.delivery;
                let key = pg_text(
                    &canopy_core::Delivery {
                        body: body.clone(),
                        ..d.clone()
                    }
                    .ordering_key(),
                );
                let (state, at, reason, events) = match &rec.state {
                    DeliveryState::Pending => ("pending", None, None, 0),
                    DeliveryState::Processed { events, at } => {
                        ("processed", Some(time_text(*at)), None, *events)
                    }
                    DeliveryState::Ignored { reason, at } => {
                        ("ignored", Some(time_text(*at)), Some(pg_text(reason)), 0)
                    }
                    DeliveryState::Quarantined { error, at } => {
                        ("quarantined", Some(time_text(*at)), Some(pg_text(error)), 0)
                    }
                };
                let events = i32::try_from(events).unwrap_or(i32::MAX);
                let attempts = i32::try_from(rec.attempts).unwrap_or(i32::MAX);
                let params: [&(dyn ToSql + Sync); 11] = [
                    &d.platform.as_str(),
                    &pg_text(&d.id),
                    &pg_text(&d.event),
                    &time_text(d.received_at),
                    &body,
                    &key,
                    &state,
                    &at,
                    &reason,
                    &events,
                    &attempts,
                ];
                match c.client().execute(&st, &params).await {
                    Ok(n) => new += n as usize,
                    Err(e) => {
                        c.rollback().await;
                        return Err(pg_err(e));
                    }
                }
            }
            c.commit().await?;
            Ok(new)
        })
    }

    /// Stores outbox items as they are (pending, done or dead); returns how many were new.
    pub fn import_outbox(&self, items: Vec<OutboxItem>) -> Result<usize, StoreError> {
        let pool = self.pool.clone();
        let rows = items
            .iter()
            .map(|i| {
                let state = match i.state {
                    OutboxState::Pending => "pending",
                    OutboxState::Done => "done",
                    OutboxState::Dead => "dead",
                };
                Ok((
                    pg_text(&i.id),
                    state,
                    i.due_at.timestamp_millis(),
                    encode(i)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.run(async move {
            let mut c = pool.get().await?;
            let st = c
                .statement("INSERT INTO outbox (id, state, due_ms, item) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING")
                .await?;
            let mut new = 0;
            for (id, state, due, item) in rows {
                let params: [&(dyn ToSql + Sync); 4] = [&id, &state, &due, &item];
                new += c.client().execute(&st, &params).await.map_err(pg_err)? as usize;
            }
            Ok(new)
        })
    }

    /// Records consents (the latest per identity wins, as when the bot records them).
    pub fn import_consents(&self, consents: &[canopy_core::Consent]) -> Result<(), StoreError> {
        let (pool, consents) = (self.pool.clone(), consents.to_vec());
        self.run(async move {
            let mut c = pool.get().await?;
            c.begin().await?;
            match super::writes::record_consents(&mut c, &consents).await {
                Ok(()) => c.commit().await,
                Err(e) => {
                    c.rollback().await;
                    Err(e)
                }
            }
        })
    }

    /// Stores a report with its audit log, unless a report with its id is stored; true when it
    /// was new.
    pub fn import_report(
        &self,
        report: &StoredReport,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        if self.report(&report.id)?.is_some() {
            return Ok(false);
        }
        let Some((first, rest)) = audit.split_first() else {
            return Err(StoreError::Corrupt(format!(
                "report {} has no audit log",
                report.id
            )));
        };
        self.save_report(report, first, None)?;
        for e in rest {
            self.audit_append(&report.id, e)?;
        }
        Ok(true)
    }
}
