//! Consent records (written by [`canopy_core::WriteOp::Complete`] with the events that
//! carried the opt-in or opt-out).

use canopy_core::Consent;

use crate::StoreError;

/// Reads consent; the latest record per identity is kept.
pub trait ConsentStore: Send + Sync {
    /// Every identity's latest consent record.
    fn consents(&self) -> Result<Vec<Consent>, StoreError>;
}
