//! A store seen as if operations decided but not committed yet were applied. The worker pool
//! decides a batch of deliveries one after the other and commits their results in one
//! transaction; each decision reads through an [`Overlay`] holding the results decided before
//! it in the batch (events, outbox actions, consent, named values), so it sees exactly what it
//! would have seen had every earlier delivery been committed on its own. Reads merge the
//! pending values with the store's by the same definitions the store's indexes have
//! ([`crate::by_scan`]); writes and the inbox, schedules and reports go to the store unchanged.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;

use canopy_analyzer::change_summary::{self, ChangeSummary};
use canopy_analyzer::{Event, EventKind};
use canopy_core::WriteOutcome;
use canopy_core::{Consent, DeliveryRecord, Enqueue, OutboxItem, Pending, Platform, WriteOp};
use canopy_policies::privacy::Budget;
use chrono::{DateTime, Utc};

use crate::scores::{CachedScore, CommentKey};
use crate::{
    AuditEntry, Claim, ConsentStore, EventStore, InboxStore, MetaStore, OutboxStore, ReportStore,
    ScheduleStore, ScoreStore, Store, StoreError, StoredReport, TimeRange, Visit, VisitSummary,
    by_scan,
};

/// A store plus results decided but not committed yet; see the module documentation.
pub struct Overlay<'a> {
    inner: &'a dyn Store,
    events: Vec<Event>,
    ids: HashSet<(String, String)>,
    /// Positions in `events` by (repository, change number) and by (repository, head
    /// commit): the pending events a per-change or per-commit read may need, found without
    /// looking at every pending event.
    by_change: HashMap<(String, u64), Vec<usize>>,
    by_sha: HashMap<(String, String), Vec<usize>>,
    meta: HashMap<String, Vec<u8>>,
    outbox: Vec<(Enqueue, DateTime<Utc>)>,
    consents: Vec<Consent>,
}

impl<'a> Overlay<'a> {
    /// The store as it is (nothing pending yet).
    pub fn new(inner: &'a dyn Store) -> Overlay<'a> {
        Overlay {
            inner,
            events: Vec::new(),
            ids: HashSet::new(),
            by_change: HashMap::new(),
            by_sha: HashMap::new(),
            meta: HashMap::new(),
            outbox: Vec::new(),
            consents: Vec::new(),
        }
    }

    /// Adds what an operation will write once committed (a completed delivery's events,
    /// actions, consent and named values; other operations change nothing a decision reads).
    pub fn add(&mut self, op: &WriteOp) {
        let WriteOp::Complete {
            events,
            at,
            actions,
            consents,
            meta,
            ..
        } = op
        else {
            return;
        };
        for e in events {
            if self.ids.insert((e.repo.clone(), e.id.clone())) {
                let at = self.events.len();
                if let Some(n) = e.change_number() {
                    let key = (e.repo.clone(), n);
                    self.by_change.entry(key).or_default().push(at);
                }
                if let Some(sha) = e.head_sha() {
                    let key = (e.repo.clone(), sha.to_string());
                    self.by_sha.entry(key).or_default().push(at);
                }
                self.events.push(e.clone());
            }
        }
        for (k, v) in meta {
            self.meta.insert(k.clone(), v.clone());
        }
        self.outbox.extend(actions.iter().map(|a| (a.clone(), *at)));
        self.consents.extend(consents.iter().cloned());
    }

    /// Whether an event of the store's would be one of the pending ones (same repo and id).
    fn pending_has(&self, repo: &str, id: &str) -> bool {
        !self.ids.is_empty() && self.ids.contains(&(repo.to_string(), id.to_string()))
    }

    /// Visits the store's events of a scan and the pending events matching `pred`, in (time,
    /// id) order, each id once (the store's copy first); a scan without a pending match goes
    /// straight to the store.
    fn merged(
        &self,
        pred: &dyn Fn(&Event) -> bool,
        scan: &dyn Fn(Visit<'_>) -> Result<(), StoreError>,
        visit: Visit<'_>,
    ) -> Result<(), StoreError> {
        let extra: Vec<&Event> = self.events.iter().filter(|e| pred(e)).collect();
        self.merge(extra, scan, visit)
    }

    /// The pending events of a change (of a head commit with `sha`), in the order they were
    /// added.
    fn of_change(&self, repo: &str, number: Option<u64>, sha: Option<&str>) -> Vec<&Event> {
        let at = match (number, sha) {
            (Some(n), _) => self.by_change.get(&(repo.to_string(), n)),
            (None, Some(sha)) => self.by_sha.get(&(repo.to_string(), sha.to_string())),
            (None, None) => None,
        };
        at.map_or_else(Vec::new, |at| {
            at.iter().filter_map(|i| self.events.get(*i)).collect()
        })
    }

    /// [`Overlay::merged`] for the pending events `extra` (already chosen, in added order).
    fn merge(
        &self,
        extra: Vec<&Event>,
        scan: &dyn Fn(Visit<'_>) -> Result<(), StoreError>,
        visit: Visit<'_>,
    ) -> Result<(), StoreError> {
        if extra.is_empty() {
            return scan(visit);
        }
        let mut all: Vec<Event> = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        scan(&mut |e| {
            seen.insert((e.repo.clone(), e.id.clone()));
            all.push(e);
            ControlFlow::Continue(())
        })?;
        all.extend(
            extra
                .into_iter()
                .filter(|e| !seen.contains(&(e.repo.clone(), e.id.clone())))
                .cloned(),
        );
        all.sort_by(|a, b| (a.at_millis(), &a.id).cmp(&(b.at_millis(), &b.id)));
        for e in all {
            if visit(e).is_break() {
                break;
            }
        }
        Ok(())
    }
}

/// Whether an event falls in a time range.
fn in_range(e: &Event, range: TimeRange) -> bool {
    let t = e.at_millis();
    t >= range.from_millis() && t < range.to_millis()
}

impl EventStore for Overlay<'_> {
    fn put_events(&self, events: &[Event]) -> Result<usize, StoreError> {
        self.inner.put_events(events)
    }
    fn has_event(&self, repo: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self.pending_has(repo, id) || self.inner.has_event(repo, id)?)
    }
    fn event_ids(&self, repo: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut ids = self.inner.event_ids(repo, prefix)?;
        let extra = self
            .events
            .iter()
            .filter(|e| e.repo == repo && e.id.starts_with(prefix))
            .map(|e| e.id.clone());
        let before = ids.len();
        ids.extend(extra);
        if ids.len() > before {
            ids.sort();
            ids.dedup();
        }
        Ok(ids)
    }
    fn scan_repo(&self, repo: &str, range: TimeRange, visit: Visit<'_>) -> Result<(), StoreError> {
        self.merged(
            &|e| e.repo == repo && in_range(e, range),
            &|v| self.inner.scan_repo(repo, range, v),
            visit,
        )
    }
    fn scan_actor(&self, key: &str, range: TimeRange, visit: Visit<'_>) -> Result<(), StoreError> {
        self.merged(
            &|e| in_range(e, range) && e.actors().iter().any(|a| a.key == key),
            &|v| self.inner.scan_actor(key, range, v),
            visit,
        )
    }
    fn scan_change(&self, repo: &str, number: u64, visit: Visit<'_>) -> Result<(), StoreError> {
        self.merge(
            self.of_change(repo, Some(number), None),
            &|v| self.inner.scan_change(repo, number, v),
            visit,
        )
    }
    fn scan_sha(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        self.merge(
            self.of_change(repo, None, Some(sha)),
            &|v| self.inner.scan_sha(repo, sha, v),
            visit,
        )
    }
    fn repos(&self) -> Result<Vec<String>, StoreError> {
        let mut repos = self.inner.repos()?;
        let before = repos.len();
        for e in &self.events {
            if !repos.contains(&e.repo) {
                repos.push(e.repo.clone());
            }
        }
        if repos.len() > before {
            repos.sort();
        }
        Ok(repos)
    }
    fn change_of_sha(&self, repo: &str, sha: &str) -> Result<Option<u64>, StoreError> {
        let pending = self.of_change(repo, None, Some(sha)).iter().any(|e| {
            e.repo == repo
                && matches!(&e.kind, EventKind::Change(c) if c.head_sha.as_deref() == Some(sha))
        });
        match pending {
            // The first change naming it may be a pending one: the definition, over both.
            true => by_scan::change_of_sha(self, repo, sha),
            false => self.inner.change_of_sha(repo, sha),
        }
    }
    fn scan_sha_jobs(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        let mut extra = self.of_change(repo, None, Some(sha));
        extra.retain(|e| {
            matches!(
                e.kind,
                EventKind::CiJobFinished(_) | EventKind::CiEnergyMeasured(_)
            )
        });
        self.merge(extra, &|v| self.inner.scan_sha_jobs(repo, sha, v), visit)
    }
    fn scan_job(&self, repo: &str, job: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        self.merged(
            &|e| {
                e.repo == repo
                    && matches!(&e.kind, EventKind::CiJobFinished(j) if j.job_key() == job)
            },
            &|v| self.inner.scan_job(repo, job, v),
            visit,
        )
    }
    fn scan_change_summaries(&self, repo: &str, visit: VisitSummary<'_>) -> Result<(), StoreError> {
        let touched: HashSet<u64> = self
            .events
            .iter()
            .filter(|e| e.repo == repo && change_summary::summarised(e))
            .filter_map(|e| e.change_number())
            .collect();
        if touched.is_empty() {
            return self.inner.scan_change_summaries(repo, visit);
        }
        let mut all: BTreeMap<u64, ChangeSummary> = BTreeMap::new();
        self.inner.scan_change_summaries(repo, &mut |n, s| {
            all.insert(n, s);
            ControlFlow::Continue(())
        })?;
        // A touched change's summary folded again from its events, the stored and the pending.
        for n in touched {
            let mut s = ChangeSummary::default();
            self.scan_change(repo, n, &mut |e| {
                if change_summary::summarised(&e) {
                    s.add(&e);
                }
                ControlFlow::Continue(())
            })?;
            all.insert(n, s);
        }
        for (n, s) in all {
            if visit(n, s).is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl MetaStore for Overlay<'_> {
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.meta.get(key) {
            Some(v) => Ok(Some(v.clone())),
            None => self.inner.get_meta(key),
        }
    }
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.put_meta(key, value)
    }
    fn scan_meta(
        &self,
        visit: &mut dyn FnMut(&str, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        if self.meta.is_empty() {
            return self.inner.scan_meta(visit);
        }
        let mut all: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        self.inner.scan_meta(&mut |k, v| {
            all.insert(k.to_string(), v.to_vec());
            ControlFlow::Continue(())
        })?;
        all.extend(self.meta.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (k, v) in &all {
            if visit(k, v).is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl ScheduleStore for Overlay<'_> {
    fn last_run(&self, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.last_run(key)
    }
    fn try_lease(&self, name: &str, claim: &Claim) -> Result<bool, StoreError> {
        self.inner.try_lease(name, claim)
    }
    fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, owner)
    }
}

impl InboxStore for Overlay<'_> {
    fn claim_pending(&self, claim: &Claim, limit: usize) -> Result<Vec<Pending>, StoreError> {
        self.inner.claim_pending(claim, limit)
    }
    fn queue_depth(&self) -> Result<u64, StoreError> {
        self.inner.queue_depth()
    }
    fn oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.oldest_pending()
    }
    fn scan_deliveries(
        &self,
        visit: &mut dyn FnMut(DeliveryRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.inner.scan_deliveries(visit)
    }
    fn quarantined(&self) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.inner.quarantined()
    }
    fn delivery(&self, p: Platform, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        self.inner.delivery(p, id)
    }
    fn delivery_body(&self, p: Platform, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.delivery_body(p, id)
    }
}

impl OutboxStore for Overlay<'_> {
    fn scan_outbox(
        &self,
        dead_only: bool,
        visit: &mut dyn FnMut(OutboxItem) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.inner.scan_outbox(dead_only, visit)
    }
    fn claim_due(&self, claim: &Claim, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.inner.claim_due(claim, limit)
    }
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.next_due()
    }
    fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        let mut item = self.inner.outbox_item(id)?;
        for (e, at) in self.outbox.iter().filter(|(e, _)| e.id == id) {
            if let Some(next) = crate::transitions::enqueued(item.as_ref(), e, *at) {
                item = Some(next);
            }
        }
        Ok(item)
    }
}

impl ConsentStore for Overlay<'_> {
    fn consents(&self) -> Result<Vec<Consent>, StoreError> {
        let mut all = self.inner.consents()?;
        for c in &self.consents {
            match all.iter_mut().find(|o| o.actor_key == c.actor_key) {
                Some(o) if crate::transitions::consent_replaces(Some(o), c) => *o = c.clone(),
                Some(_) => {}
                None => all.push(c.clone()),
            }
        }
        Ok(all)
    }
}

impl ReportStore for Overlay<'_> {
    fn save_report(
        &self,
        r: &StoredReport,
        entry: &AuditEntry,
        budget: Option<(&str, &Budget)>,
    ) -> Result<(), StoreError> {
        self.inner.save_report(r, entry, budget)
    }
    fn audit_append(&self, id: &str, entry: &AuditEntry) -> Result<(), StoreError> {
        self.inner.audit_append(id, entry)
    }
    fn report(&self, id: &str) -> Result<Option<StoredReport>, StoreError> {
        self.inner.report(id)
    }
    fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        self.inner.reports()
    }
    fn audit(&self, id: &str) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit(id)
    }
    fn budget(&self, key: &str) -> Result<Option<Budget>, StoreError> {
        self.inner.budget(key)
    }
}

impl ScoreStore for Overlay<'_> {
    fn cached_scores(
        &self,
        model: &str,
        comments: &[CommentKey<'_>],
    ) -> Result<Vec<Option<CachedScore>>, StoreError> {
        self.inner.cached_scores(model, comments)
    }
    fn put_scores(
        &self,
        model: &str,
        scores: &[(CommentKey<'_>, CachedScore)],
    ) -> Result<(), StoreError> {
        self.inner.put_scores(model, scores)
    }
    fn drop_scores_except(&self, model: &str) -> Result<u64, StoreError> {
        self.inner.drop_scores_except(model)
    }
}

impl Store for Overlay<'_> {
    /// Writes go to the store as they are (the pending results are the caller's to commit).
    fn apply_writes(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteOutcome>, StoreError> {
        self.inner.apply_writes(ops)
    }
}
