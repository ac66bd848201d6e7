//! What each write does to a stored record, as pure functions shared by every backend, so that
//! redb and PostgreSQL give the same outcome for the same operation: the outbox's enqueue
//! modes, results and revivals, and which consent record is the latest.

use canopy_core::{
    Action, Consent, DeliveryState, Enqueue, EnqueueMode, OutboxItem, OutboxState, WriteOutcome,
    state_name,
};
use chrono::{DateTime, Utc};

/// The item to store when `e` is enqueued over `old` (the item under the same id, if any), or
/// `None` when nothing changes ([`WriteOutcome::Unchanged`]).
pub(crate) fn enqueued(
    old: Option<&OutboxItem>,
    e: &Enqueue,
    now: DateTime<Utc>,
) -> Option<OutboxItem> {
    let fresh = |created_at| OutboxItem {
        id: e.id.clone(),
        action: e.action.clone(),
        state: OutboxState::Pending,
        created_at,
        due_at: e.due_at,
        attempts: 0,
        last_error: None,
        done_at: None,
    };
    match (old, e.mode) {
        (None, _) => Some(fresh(now)),
        (Some(_), EnqueueMode::Once) => None,
        (Some(o), EnqueueMode::Replace) if o.state == OutboxState::Done && o.action == e.action => {
            None
        }
        (Some(o), EnqueueMode::Replace) if o.state == OutboxState::Pending => Some(OutboxItem {
            action: e.action.clone(),
            due_at: e.due_at.min(o.due_at),
            ..o.clone()
        }),
        (Some(o), EnqueueMode::Replace) => Some(fresh(o.created_at)),
    }
}

/// The item once `executed` was performed, or `None` when the item was replaced by newer
/// content meanwhile (it stays pending for that content).
pub(crate) fn performed(
    old: &OutboxItem,
    executed: &Action,
    at: DateTime<Utc>,
) -> Option<OutboxItem> {
    (old.action == *executed).then(|| OutboxItem {
        state: OutboxState::Done,
        done_at: Some(at),
        last_error: None,
        ..old.clone()
    })
}

/// The item after a failed attempt — retried at `retry_at`, or dead when `retry_at` is `None`
/// or the attempts reach `max_attempts` — and the outcome to report.
pub(crate) fn failed(
    old: &OutboxItem,
    error: String,
    retry_at: Option<DateTime<Utc>>,
    max_attempts: u32,
) -> (OutboxItem, WriteOutcome) {
    let attempts = old.attempts + 1;
    let (state, due_at) = match retry_at {
        Some(t) if attempts < max_attempts => (OutboxState::Pending, t),
        _ => (OutboxState::Dead, old.due_at),
    };
    let item = OutboxItem {
        state,
        due_at,
        attempts,
        last_error: Some(error),
        ..old.clone()
    };
    let outcome = if state == OutboxState::Dead {
        WriteOutcome::Quarantined
    } else {
        WriteOutcome::Requeued
    };
    (item, outcome)
}

/// A dead item put back in the queue, due `now`; only dead items can be.
pub(crate) fn revived(old: &OutboxItem, now: DateTime<Utc>) -> Result<OutboxItem, WriteOutcome> {
    if old.state != OutboxState::Dead {
        return Err(WriteOutcome::Rejected(format!(
            "outbox item {} is {:?}; only dead items can be retried",
            old.id, old.state
        )));
    }
    Ok(OutboxItem {
        state: OutboxState::Pending,
        due_at: now,
        attempts: 0,
        ..old.clone()
    })
}

/// Rejection of an outbox result or retry for an id that is not stored.
pub(crate) fn no_item(id: &str) -> WriteOutcome {
    WriteOutcome::Rejected(format!("no outbox item {id}"))
}

/// Whether `new` replaces the stored consent `old` (the latest record wins; a tie goes to the
/// newer write).
pub(crate) fn consent_replaces(old: Option<&Consent>, new: &Consent) -> bool {
    old.is_none_or(|o| o.at <= new.at)
}

/// Rejection of a completion, quarantine or retry for a delivery that is not stored.
pub(crate) fn no_delivery(platform: canopy_core::Platform, id: &str) -> WriteOutcome {
    WriteOutcome::Rejected(format!("no delivery {platform}/{id}"))
}

/// Rejection of a completion or quarantine for a delivery already completed (a worker raced a
/// restart, or another replica took over its lapsed claim): the first result is kept.
pub(crate) fn not_pending(platform: canopy_core::Platform, id: &str) -> WriteOutcome {
    WriteOutcome::Rejected(format!("delivery {platform}/{id} is not pending"))
}

/// Why a delivery in `state` cannot be retried, if it cannot: only quarantined or ignored ones
/// can.
pub(crate) fn retry_refused(
    platform: canopy_core::Platform,
    id: &str,
    state: &DeliveryState,
) -> Option<WriteOutcome> {
    matches!(
        state,
        DeliveryState::Pending | DeliveryState::Processed { .. }
    )
    .then(|| {
        WriteOutcome::Rejected(format!(
            "delivery {platform}/{id} is {}, only quarantined or ignored deliveries can be retried",
            state_name(state)
        ))
    })
}
