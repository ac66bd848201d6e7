//! A store that fails on demand, for tests of what the layers above do with store errors: it
//! passes every call to a real store unless the call's method name was switched to failing.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use canopy_analyzer::Event;
use canopy_core::{Consent, DeliveryRecord, OutboxItem, Pending, Platform, WriteOp, WriteOutcome};
use canopy_policies::privacy::Budget;
use chrono::{DateTime, Utc};

use crate::scores::{CachedScore, CommentKey};
use crate::{
    AuditEntry, Claim, ConsentStore, EventStore, InboxStore, MetaStore, OutboxStore, ReportStore,
    ScheduleStore, ScoreStore, Store, StoreError, StoredReport, TimeRange, Visit, VisitSummary,
};

/// Wraps a store; methods named with [`FailingStore::fail`] return [`StoreError::Db`].
pub struct FailingStore {
    inner: Arc<dyn Store>,
    failing: Mutex<HashSet<&'static str>>,
}

impl FailingStore {
    /// A store that behaves like `inner` until told otherwise.
    pub fn new(inner: Arc<dyn Store>) -> FailingStore {
        FailingStore {
            inner,
            failing: Mutex::default(),
        }
    }

    /// Makes the method `name` (`scan_sha`, `apply_writes`, `last_run`...) fail from now on.
    pub fn fail(&self, name: &'static str) {
        if let Ok(mut f) = self.failing.lock() {
            f.insert(name);
        }
    }

    /// Makes every method work again.
    pub fn heal(&self) {
        if let Ok(mut f) = self.failing.lock() {
            f.clear();
        }
    }

    fn check(&self, name: &'static str) -> Result<(), StoreError> {
        let failing = self.failing.lock().map(|f| f.contains(name));
        if failing.unwrap_or(true) {
            return Err(StoreError::Db(format!("injected failure in {name}")));
        }
        Ok(())
    }
}

impl EventStore for FailingStore {
    fn put_events(&self, events: &[Event]) -> Result<usize, StoreError> {
        self.check("put_events")?;
        self.inner.put_events(events)
    }
    fn has_event(&self, repo: &str, id: &str) -> Result<bool, StoreError> {
        self.check("has_event")?;
        self.inner.has_event(repo, id)
    }
    fn event_ids(&self, repo: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.check("event_ids")?;
        self.inner.event_ids(repo, prefix)
    }
    fn scan_repo(&self, repo: &str, range: TimeRange, visit: Visit<'_>) -> Result<(), StoreError> {
        self.check("scan_repo")?;
        self.inner.scan_repo(repo, range, visit)
    }
    fn scan_actor(&self, key: &str, range: TimeRange, visit: Visit<'_>) -> Result<(), StoreError> {
        self.check("scan_actor")?;
        self.inner.scan_actor(key, range, visit)
    }
    fn scan_change(&self, repo: &str, number: u64, visit: Visit<'_>) -> Result<(), StoreError> {
        self.check("scan_change")?;
        self.inner.scan_change(repo, number, visit)
    }
    fn scan_sha(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        self.check("scan_sha")?;
        self.inner.scan_sha(repo, sha, visit)
    }
    fn repos(&self) -> Result<Vec<String>, StoreError> {
        self.check("repos")?;
        self.inner.repos()
    }
    fn change_of_sha(&self, repo: &str, sha: &str) -> Result<Option<u64>, StoreError> {
        self.check("change_of_sha")?;
        self.inner.change_of_sha(repo, sha)
    }
    fn scan_sha_jobs(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        self.check("scan_sha_jobs")?;
        self.inner.scan_sha_jobs(repo, sha, visit)
    }
    fn scan_job(&self, repo: &str, job: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        self.check("scan_job")?;
        self.inner.scan_job(repo, job, visit)
    }
    fn scan_change_summaries(&self, repo: &str, visit: VisitSummary<'_>) -> Result<(), StoreError> {
        self.check("scan_change_summaries")?;
        self.inner.scan_change_summaries(repo, visit)
    }
}

impl MetaStore for FailingStore {
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check("get_meta")?;
        self.inner.get_meta(key)
    }
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.check("put_meta")?;
        self.inner.put_meta(key, value)
    }
    fn scan_meta(
        &self,
        visit: &mut dyn FnMut(&str, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.check("scan_meta")?;
        self.inner.scan_meta(visit)
    }
}

impl ScheduleStore for FailingStore {
    fn last_run(&self, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.check("last_run")?;
        self.inner.last_run(key)
    }
    fn try_lease(&self, name: &str, claim: &Claim) -> Result<bool, StoreError> {
        self.check("try_lease")?;
        self.inner.try_lease(name, claim)
    }
    fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.check("release_lease")?;
        self.inner.release_lease(name, owner)
    }
}

impl InboxStore for FailingStore {
    fn claim_pending(&self, claim: &Claim, limit: usize) -> Result<Vec<Pending>, StoreError> {
        self.check("claim_pending")?;
        self.inner.claim_pending(claim, limit)
    }
    fn queue_depth(&self) -> Result<u64, StoreError> {
        self.check("queue_depth")?;
        self.inner.queue_depth()
    }
    fn oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.check("oldest_pending")?;
        self.inner.oldest_pending()
    }
    fn scan_deliveries(
        &self,
        visit: &mut dyn FnMut(DeliveryRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.check("scan_deliveries")?;
        self.inner.scan_deliveries(visit)
    }
    fn quarantined(&self) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.check("quarantined")?;
        self.inner.quarantined()
    }
    fn delivery(&self, p: Platform, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        self.check("delivery")?;
        self.inner.delivery(p, id)
    }
    fn delivery_body(&self, p: Platform, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check("delivery_body")?;
        self.inner.delivery_body(p, id)
    }
}

impl OutboxStore for FailingStore {
    fn scan_outbox(
        &self,
        dead_only: bool,
        visit: &mut dyn FnMut(OutboxItem) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.check("scan_outbox")?;
        self.inner.scan_outbox(dead_only, visit)
    }
    fn claim_due(&self, claim: &Claim, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.check("claim_due")?;
        self.inner.claim_due(claim, limit)
    }
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.check("next_due")?;
        self.inner.next_due()
    }
    fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        self.check("outbox_item")?;
        self.inner.outbox_item(id)
    }
}

impl ConsentStore for FailingStore {
    fn consents(&self) -> Result<Vec<Consent>, StoreError> {
        self.check("consents")?;
        self.inner.consents()
    }
}

impl ReportStore for FailingStore {
    fn save_report(
        &self,
        r: &StoredReport,
        entry: &AuditEntry,
        budget: Option<(&str, &Budget)>,
    ) -> Result<(), StoreError> {
        self.check("save_report")?;
        self.inner.save_report(r, entry, budget)
    }
    fn audit_append(&self, id: &str, entry: &AuditEntry) -> Result<(), StoreError> {
        self.check("audit_append")?;
        self.inner.audit_append(id, entry)
    }
    fn report(&self, id: &str) -> Result<Option<StoredReport>, StoreError> {
        self.check("report")?;
        self.inner.report(id)
    }
    fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        self.check("reports")?;
        self.inner.reports()
    }
    fn audit(&self, id: &str) -> Result<Vec<AuditEntry>, StoreError> {
        self.check("audit")?;
        self.inner.audit(id)
    }
    fn budget(&self, key: &str) -> Result<Option<Budget>, StoreError> {
        self.check("budget")?;
        self.inner.budget(key)
    }
}

impl ScoreStore for FailingStore {
    fn cached_scores(
        &self,
        model: &str,
        comments: &[CommentKey<'_>],
    ) -> Result<Vec<Option<CachedScore>>, StoreError> {
        self.check("cached_scores")?;
        self.inner.cached_scores(model, comments)
    }
    fn put_scores(
        &self,
        model: &str,
        scores: &[(CommentKey<'_>, CachedScore)],
    ) -> Result<(), StoreError> {
        self.check("put_scores")?;
        self.inner.put_scores(model, scores)
    }
    fn drop_scores_except(&self, model: &str) -> Result<u64, StoreError> {
        self.check("drop_scores_except")?;
        self.inner.drop_scores_except(model)
    }
}

impl Store for FailingStore {
    fn apply_writes(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteOutcome>, StoreError> {
        self.check("apply_writes")?;
        self.inner.apply_writes(ops)
    }
}
