//! Small named values (settings, cursors, trained models, grid data) and the record of each
//! schedule's last run.

use chrono::{DateTime, Utc};

use crate::StoreError;

/// Small named values, read and written whole.
pub trait MetaStore: Send + Sync {
    /// Reads a value.
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes a value durably.
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
}

/// When each schedule last ran; recorded by [`canopy_core::WriteOp::ScheduledRun`] with the
/// run's actions, compare-and-set on the previous value.
pub trait ScheduleStore: Send + Sync {
    /// The last recorded run of the schedule `key`; a record that cannot be read is an error,
    /// never "never ran".
    fn last_run(&self, key: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
}
