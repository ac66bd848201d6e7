//! The durable outbox: every outgoing action stored under its idempotency key before it is
//! performed; items due in the future are durable timers (deferred reruns).

use std::ops::ControlFlow;

use canopy_core::OutboxItem;
use chrono::{DateTime, Utc};

use crate::{Claim, StoreError};

/// Reads and claims outbox items.
pub trait OutboxStore: Send + Sync {
    /// Visits outbox items (all, or only dead ones) in id order.
    fn scan_outbox(
        &self,
        dead_only: bool,
        visit: &mut dyn FnMut(OutboxItem) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// Claims up to `limit` pending items due at or before `claim.now`, earliest first,
    /// skipping those another owner holds an unexpired claim on. Recording the result
    /// (`OutboxDone`, `OutboxFailed`) releases the claim.
    fn claim_due(&self, claim: &Claim, limit: usize) -> Result<Vec<OutboxItem>, StoreError>;

    /// When the earliest pending item is due (claimed or not), if any.
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// One item by id.
    fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError>;
}
