//! Layer 4, what Canopy decides and says. The reactor reads a delivery's events and the store
//! and returns decisions (outbox actions, consent records) without writing anything itself;
//! `/canopy` commands are parsed and permission-checked here; every text Canopy posts comes
//! from `messages`; digests, privacy-reviewed reports, time-to-merge predictions, CI carbon
//! and grid intensity, digest channels and per-repository settings live here too. It reads
//! and writes only through the store traits and calls the platforms only through the forge
//! layer; the server layer runs it.
#![forbid(unsafe_code)]

pub mod bot_command;
pub mod burnout;
pub mod carbon;
pub mod channels;
pub mod ci_insights;
pub mod comment_scores;
pub mod config;
pub mod digest;
pub mod format;
pub mod measurement;
pub mod messages;
pub mod prometheus;
pub mod react;
pub mod repo_config;
pub mod repo_config_refresh;
pub mod report;
pub mod ttm;
pub mod ttm_online;
