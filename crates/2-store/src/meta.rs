//! Small named values (settings, cursors, trained models, grid data) and the record of each
//! schedule's last run.

use chrono::{DateTime, Utc};

use crate::{Claim, StoreError};

/// Small named values, read and written whole.
pub trait MetaStore: Send + Sync {
    /// Reads a value.
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes a value durably.
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Visits every value in key order (`canopy store copy`).
    fn scan_meta(
        &self,
        visit: &mut dyn FnMut(&str, &[u8]) -> std::ops::ControlFlow<()>,
    ) -> Result<(), StoreError>;
}

/// When each schedule last ran — recorded by [`canopy_core::WriteOp::ScheduledRun`] with the
/// run's actions, compare-and-set on the previous value — and the leases that keep scheduled
/// work on one replica at a time.
pub trait ScheduleStore: Send + Sync {
    /// The last recorded run of the schedule `key`; a record that cannot be read is an error,
    /// never "never ran".
    fn last_run(&self, key: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Takes or renews the named lease for `claim.owner` until `claim.until`: granted when no
    /// one holds it, when its holder let it lapse (presumed dead), or when the claimant already
    /// holds it. Work that must run on one replica at a time (digest schedules, retraining,
    /// settings refresh) runs only while its lease is held.
    fn try_lease(&self, name: &str, claim: &Claim) -> Result<bool, StoreError>;

    /// Lets go of the named lease if `owner` holds it (others may take it at once).
    fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError>;
}
