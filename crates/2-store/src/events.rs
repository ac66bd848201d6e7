//! Events: durable, idempotent writes and time-ordered scans per repository, actor, change and
//! commit.

use canopy_analyzer::Event;
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
