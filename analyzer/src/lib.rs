//! Canopy's analysis core: the platform-neutral [`Event`] model and pure analyses over events.
//! Nothing here does I/O or reads a clock: callers pass time and data in.
#![forbid(unsafe_code)]

pub mod actor;
pub mod aggregate;
pub mod areas;
pub mod digest;
pub mod event;
pub mod identity;
pub mod indicators;
pub mod week;
pub mod weekly;

pub use actor::Actor;
pub use event::{Event, EventKind, Platform};
pub use week::IsoWeek;
