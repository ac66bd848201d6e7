//! Learned and physical models used by Canopy. Pure: no I/O, no clock, no network.
#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod burnout;
pub mod energy;
pub mod forest;
pub mod gbt;
pub mod measured;
pub mod sentiment;
pub mod shapley;
pub mod stopping;
pub mod ttm;
pub mod uniform;
