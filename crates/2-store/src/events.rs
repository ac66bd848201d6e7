//! Events: durable, idempotent writes and time-ordered scans per repository, actor, change and
//! commit, and what is kept beside them so that the reactor reads by key, never by scanning a
//! repository: the change a commit is the head of, the CI jobs of a commit and of a job name,
//! and each change's [`ChangeSummary`]. A backend keeps these in the same transaction as the
//! events; [`by_scan`] defines each by a scan (the trait's default methods use it, and the
//! property tests compare a backend's indexes with it).

use std::ops::ControlFlow;

use canopy_analyzer::change_summary::ChangeSummary;
use canopy_analyzer::{Event, EventKind};
use chrono::{DateTime, Utc};

use crate::StoreError;

/// A half-open time range `[from, to)` over event times; `None` means unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// Every time.
    pub const ALL: TimeRange = TimeRange {
        from: None,
        to: None,
    };

    /// Lower bound in epoch milliseconds.
    pub fn from_millis(&self) -> i64 {
        self.from.map_or(i64::MIN, |t| t.timestamp_millis())
    }

    /// Upper bound in epoch milliseconds.
    pub fn to_millis(&self) -> i64 {
        self.to.map_or(i64::MAX, |t| t.timestamp_millis())
    }
}

/// Whether a scan should go on after the event just visited.
pub type Visit<'a> = &'a mut dyn FnMut(Event) -> std::ops::ControlFlow<()>;

/// Whether a walk over change summaries should go on after the one just visited.
pub type VisitSummary<'a> = &'a mut dyn FnMut(u64, ChangeSummary) -> ControlFlow<()>;

/// What the analysis side needs from persistence: durable, idempotent event writes and time
/// range scans per repository and per actor.
pub trait EventStore: Send + Sync {
    /// Stores the events whose `(repo, id)` is not stored yet; returns how many were new.
    /// When this returns `Ok`, the events are durable.
    fn put_events(&self, events: &[Event]) -> Result<usize, StoreError>;

    /// Whether an event with this id is stored for this repository.
    fn has_event(&self, repo: &str, id: &str) -> Result<bool, StoreError>;

    /// Ids of the stored events of a repository that start with `prefix`.
    fn event_ids(&self, repo: &str, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Visits a repository's events in time order.
    fn scan_repo(&self, repo: &str, range: TimeRange, visit: Visit<'_>) -> Result<(), StoreError>;

    /// Visits the events naming an actor (by `Actor::key`), in time order, across repositories.
    fn scan_actor(
        &self,
        actor_key: &str,
        range: TimeRange,
        visit: Visit<'_>,
    ) -> Result<(), StoreError>;

    /// Visits the events of one PR or change (by number), in time order.
    fn scan_change(&self, repo: &str, number: u64, visit: Visit<'_>) -> Result<(), StoreError>;

    /// Visits the events about one commit (CI jobs, reruns, PR heads), in time order.
    fn scan_sha(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError>;

    /// Repositories with at least one stored event.
    fn repos(&self) -> Result<Vec<String>, StoreError>;

    /// The PR or change whose head `sha` is: the number of the first change event (in time,
    /// then id order) naming it as head. Backends answer from a `(repo, sha) → change` index;
    /// the default scans the commit's events.
    fn change_of_sha(&self, repo: &str, sha: &str) -> Result<Option<u64>, StoreError> {
        by_scan::change_of_sha(self, repo, sha)
    }

    /// Visits the CI events of one commit (finished jobs and their energy measurements), in time
    /// order. Backends answer from
    /// an index of jobs by commit; the default scans all the commit's events.
    fn scan_sha_jobs(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        by_scan::scan_sha_jobs(self, repo, sha, visit)
    }

    /// Visits the finished runs of one CI job of a repository (by `CiJobEvent::job_key`:
    /// name and pipeline), in time order. Backends answer from an index by job; the default
    /// scans the repository.
    fn scan_job(&self, repo: &str, job: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        by_scan::scan_job(self, repo, job, visit)
    }

    /// Visits the summary of every change of a repository with one, by number. Backends keep
    /// the summaries beside the events (updated in the same transaction); the default folds
    /// them from a scan of the repository.
    fn scan_change_summaries(&self, repo: &str, visit: VisitSummary<'_>) -> Result<(), StoreError> {
        by_scan::scan_change_summaries(self, repo, visit)
    }
}

/// Each index and summary defined by a scan: the reference a backend's indexes must agree
/// with, and the trait's default for a backend without them.
pub mod by_scan {
    use std::collections::BTreeMap;

    use super::*;

    /// [`EventStore::change_of_sha`] by scanning the commit's events.
    pub fn change_of_sha<S: EventStore + ?Sized>(
        store: &S,
        repo: &str,
        sha: &str,
    ) -> Result<Option<u64>, StoreError> {
        let mut found = None;
        store.scan_sha(repo, sha, &mut |e| {
            if let EventKind::Change(c) = &e.kind {
                found = Some(c.number);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })?;
        Ok(found)
    }

    /// [`EventStore::scan_sha_jobs`] by scanning the commit's events.
    pub fn scan_sha_jobs<S: EventStore + ?Sized>(
        store: &S,
        repo: &str,
        sha: &str,
        visit: Visit<'_>,
    ) -> Result<(), StoreError> {
        store.scan_sha(repo, sha, &mut |e| match e.kind {
            EventKind::CiJobFinished(_) | EventKind::CiEnergyMeasured(_) => visit(e),
            _ => ControlFlow::Continue(()),
        })
    }

    /// [`EventStore::scan_job`] by scanning the repository.
    pub fn scan_job<S: EventStore + ?Sized>(
        store: &S,
        repo: &str,
        job: &str,
        visit: Visit<'_>,
    ) -> Result<(), StoreError> {
        store.scan_repo(repo, TimeRange::ALL, &mut |e| match &e.kind {
            EventKind::CiJobFinished(j) if j.job_key() == job => visit(e),
            _ => ControlFlow::Continue(()),
        })
    }

    /// Every change summary of a repository, folded from a scan of it.
    pub fn change_summaries<S: EventStore + ?Sized>(
        store: &S,
        repo: &str,
    ) -> Result<BTreeMap<u64, ChangeSummary>, StoreError> {
        let mut out: BTreeMap<u64, ChangeSummary> = BTreeMap::new();
        store.scan_repo(repo, TimeRange::ALL, &mut |e| {
            if canopy_analyzer::change_summary::summarised(&e)
                && let Some(n) = e.change_number()
            {
                out.entry(n).or_default().add(&e);
            }
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// [`EventStore::scan_change_summaries`] by folding a scan of the repository.
    pub fn scan_change_summaries<S: EventStore + ?Sized>(
        store: &S,
        repo: &str,
        visit: VisitSummary<'_>,
    ) -> Result<(), StoreError> {
        for (n, s) in change_summaries(store, repo)? {
            if visit(n, s).is_break() {
                break;
            }
        }
        Ok(())
    }
}

/// Collects a repository's events into a vector (for tests and small reports).
pub fn repo_events(
    store: &dyn EventStore,
    repo: &str,
    range: TimeRange,
) -> Result<Vec<Event>, StoreError> {
    let mut out = Vec::new();
    store.scan_repo(repo, range, &mut |e| {
        out.push(e);
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// Reads every event of every repository in a time range, repository by repository.
pub fn scan_all(
    store: &dyn EventStore,
    range: TimeRange,
    visit: Visit<'_>,
) -> Result<(), StoreError> {
    for repo in store.repos()? {
        let mut stop = false;
        store.scan_repo(&repo, range, &mut |e| {
            let flow = visit(e);
            stop = flow.is_break();
            flow
        })?;
        if stop {
            break;
        }
    }
    Ok(())
}
