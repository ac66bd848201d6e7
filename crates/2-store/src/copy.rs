//! `canopy store copy`: moves an installation's whole store — events, deliveries (with their
//! state and raw bodies), outbox, consent, reports with their audit logs, and every named
//! value (settings, cursors, models, schedules' last runs, privacy budgets) — into a
//! PostgreSQL store. Nothing is copied twice, so an interrupted copy is finished by running it
//! again.

use std::ops::ControlFlow;

use canopy_core::DeliveryRecord;

use crate::{PgStore, Store, StoreError, TimeRange};

/// Records per write.
const BATCH: usize = 1000;

/// What a copy stored (records already in the target are not counted).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Copied {
    /// Named values.
    pub meta: usize,
    /// Events.
    pub events: usize,
    /// Webhook deliveries.
    pub deliveries: usize,
    /// Outbox items.
    pub outbox: usize,
    /// Consent records (all, the latest per identity wins).
    pub consents: usize,
    /// Reports.
    pub reports: usize,
}

/// Copies everything in `from` into `to`, reporting progress as it goes.
pub fn copy_to_postgres(
    from: &dyn Store,
    to: &PgStore,
    progress: &mut dyn FnMut(&str),
) -> Result<Copied, StoreError> {
    let mut n = Copied::default();
    let mut meta = Vec::new();
    from.scan_meta(&mut |k, v| {
        meta.push((k.to_string(), v.to_vec()));
        ControlFlow::Continue(())
    })?;
    for (k, v) in &meta {
        crate::MetaStore::put_meta(to, k, v)?;
    }
    n.meta = meta.len();
    progress(&format!("{} named values", n.meta));
    for repo in from.repos()? {
        let mut batch = Vec::with_capacity(BATCH);
        let mut failed = None;
        from.scan_repo(&repo, TimeRange::ALL, &mut |e| {
            batch.push(e);
            if batch.len() == BATCH {
                match crate::EventStore::put_events(to, &batch) {
                    Ok(k) => n.events += k,
                    Err(e) => {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                }
                batch.clear();
            }
            ControlFlow::Continue(())
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        n.events += crate::EventStore::put_events(to, &batch)?;
        progress(&format!("{repo}: events copied ({} new so far)", n.events));
    }
    n.deliveries = copy_deliveries(from, to)?;
    progress(&format!("{} deliveries", n.deliveries));
    let mut items = Vec::new();
    from.scan_outbox(false, &mut |i| {
        items.push(i);
        ControlFlow::Continue(())
    })?;
    for chunk in items.chunks(BATCH) {
        n.outbox += to.import_outbox(chunk.to_vec())?;
    }
    progress(&format!("{} outbox items", n.outbox));
    let consents = from.consents()?;
    n.consents = consents.len();
    to.import_consents(&consents)?;
    for r in from.reports()? {
        let audit = from.audit(&r.id)?;
        n.reports += usize::from(to.import_report(&r, &audit)?);
    }
    progress(&format!(
        "{} consent records, {} reports",
        n.consents, n.reports
    ));
    Ok(n)
}

/// Deliveries in queue order (so pending ones keep their order), bodies read in batches.
fn copy_deliveries(from: &dyn Store, to: &PgStore) -> Result<usize, StoreError> {
    let mut records: Vec<DeliveryRecord> = Vec::new();
    from.scan_deliveries(&mut |r| {
        records.push(r);
        ControlFlow::Continue(())
    })?;
    records.sort_by_key(|r| r.seq);
    let mut new = 0;
    for chunk in records.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for r in chunk {
            let body = from
                .delivery_body(r.delivery.platform, &r.delivery.id)?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "delivery {}/{} has no body",
                        r.delivery.platform, r.delivery.id
                    ))
                })?;
            batch.push((r.clone(), body));
        }
        new += to.import_deliveries(batch)?;
    }
    Ok(new)
}
