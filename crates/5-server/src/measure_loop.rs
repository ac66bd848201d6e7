//! The measured-energy loop: looks at the last hours of CI jobs, measures each finished job on
//! a runner with a Prometheus source once its last scrape is in, retries once later what may
//! pass (Prometheus down, samples not in yet), and files the results as an inbox delivery per
//! repository — so they are durable before anything reads them, and the reactor refreshes the
//! change's comment with "measured" beside the estimate. A failure never holds a comment back:
//! the estimate was posted when the job's report came. One replica measures at a time (the
//! `energy-measure` lease); time comes only from the clock, so a test moves it to trigger the
//! first try and the retry.

use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use canopy_analyzer::{Event, EventKind, Platform};
use canopy_core::{WriteOp, WriteOutcome};
use canopy_service::measurement::{self, HORIZON, Plan, Sources};
use canopy_store::{Store, StoreError, TimeRange, scan_all};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::committer::Committer;
use crate::loops::{Periodic, Turn, hold_lease};

/// Longest sleep between looks, whatever is due: jobs keep arriving.
const MAX_SLEEP: chrono::Duration = chrono::Duration::seconds(60);

/// Measures finished jobs' energy on the clock (a [`Periodic`] loop).
pub struct EnergyMeasurer {
    /// Sources by runner label or CI system.
    pub sources: Arc<Sources>,
    /// HTTP client for Prometheus.
    pub http: reqwest::Client,
    /// The writer (results go in as deliveries).
    pub committer: Committer,
    /// Wakes the worker pool for a new delivery.
    pub notify: Arc<Notify>,
    /// Tries filed but perhaps not processed into events yet: not tried again meanwhile.
    pub filed: HashSet<String>,
}

impl Periodic for EnergyMeasurer {
    async fn turn(&mut self, t: &Turn<'_>) -> DateTime<Utc> {
        let now = t.clock.now();
        let next = now + MAX_SLEEP;
        if !hold_lease(t, "energy-measure", MAX_SLEEP * 3).await {
            return next;
        }
        match self.measure_due(t.store, now).await {
            Ok(Some(due)) => next.min(due.max(now + chrono::Duration::seconds(1))),
            Ok(None) => next,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read recent CI jobs to measure; trying again later");
                next
            }
        }
    }
}

impl EnergyMeasurer {
    /// A measurer with nothing filed yet.
    pub fn new(sources: Sources, committer: Committer, notify: Arc<Notify>) -> EnergyMeasurer {
        EnergyMeasurer {
            sources: Arc::new(sources),
            http: reqwest::Client::new(),
            committer,
            notify,
            filed: HashSet::new(),
        }
    }

    /// One look: measures what is due and files the results; returns when the next job falls
    /// due.
    async fn measure_due(
        &mut self,
        store: &Arc<dyn Store>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let plan = self.plan(store, now).await?;
        let mut by_repo: BTreeMap<(Platform, String), Vec<Event>> = BTreeMap::new();
        for due in &plan.due {
            let key = format!("{}:{}:{}", due.repo, due.job_id, due.attempt);
            if self.filed.contains(&key) {
                continue;
            }
            if let Some(ev) = measurement::measure(&self.http, &self.sources, due, now).await {
                self.filed.insert(key);
                by_repo
                    .entry((due.platform, due.repo.clone()))
                    .or_default()
                    .push(ev);
            }
        }
        for ((platform, repo), events) in by_repo {
            let d = measurement::delivery(platform, &repo, events, now);
            match self.committer.submit(WriteOp::Receive(d)).await {
                Ok(WriteOutcome::Received { .. }) => self.notify.notify_one(),
                Ok(_) => {}
                Err(e) => {
                    // Not stored: the jobs are tried again at the next turn.
                    let prefix = format!("{repo}:");
                    self.filed.retain(|k| !k.starts_with(&prefix));
                    tracing::warn!(repo = %repo, error = %e, "cannot store measured energy; trying again later");
                }
            }
        }
        if self.filed.len() > 100_000 {
            self.filed.clear();
        }
        Ok(plan.next)
    }

    /// Reads the last [`HORIZON`] of CI events and plans the tries.
    async fn plan(&self, store: &Arc<dyn Store>, now: DateTime<Utc>) -> Result<Plan, StoreError> {
        let (s, sources) = (store.clone(), self.sources.clone());
        tokio::task::spawn_blocking(move || {
            let range = TimeRange {
                from: Some(now - HORIZON),
                to: Some(now + chrono::Duration::seconds(1)),
            };
            let mut events = Vec::new();
            scan_all(s.as_ref(), range, &mut |e| {
                if matches!(
                    e.kind,
                    EventKind::CiJobFinished(_) | EventKind::CiEnergyMeasured(_)
                ) {
                    events.push(e);
                }
                ControlFlow::Continue(())
            })?;
            Ok(measurement::plan(&events, &sources, now))
        })
        .await
        .map_err(|e| StoreError::Db(format!("planning measurements panicked: {e}")))?
    }
}
