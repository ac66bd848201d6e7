//! The durable inbox: raw webhook deliveries stored before they are acknowledged, deduplicated
//! by delivery id, queued in arrival order, and completed (with their events and decisions),
//! ignored or quarantined by [`crate::Store::apply_writes`].

use std::ops::ControlFlow;

use canopy_core::{DeliveryRecord, Pending, Platform};

use crate::{Claim, StoreError};

/// Reads and claims deliveries.
pub trait InboxStore: Send + Sync {
    /// Claims up to `limit` pending deliveries, oldest first, skipping those another owner
    /// holds an unexpired claim on. Completing or quarantining a delivery releases its claim.
    fn claim_pending(&self, claim: &Claim, limit: usize) -> Result<Vec<Pending>, StoreError>;

    /// Number of deliveries waiting to be processed (claimed or not).
    fn queue_depth(&self) -> Result<u64, StoreError>;

    /// Visits every delivery record (without bodies) in (platform, id) order.
    fn scan_deliveries(
        &self,
        visit: &mut dyn FnMut(DeliveryRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// Quarantined deliveries.
    fn quarantined(&self) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// One delivery's record.
    fn delivery(&self, platform: Platform, id: &str) -> Result<Option<DeliveryRecord>, StoreError>;

    /// One delivery's raw body.
    fn delivery_body(&self, platform: Platform, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
}
