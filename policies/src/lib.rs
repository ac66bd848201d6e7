//! Decisions Canopy takes from analysed data. Pure: no I/O, no clock, no network.
#![forbid(unsafe_code)]

pub mod identity_search;
pub mod privacy;
pub mod report;
pub mod rerun;
pub mod visibility;
pub mod window;
