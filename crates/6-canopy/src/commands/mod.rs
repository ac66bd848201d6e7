//! One module per subcommand: its `clap` arguments and its `run` function.

pub mod analyze;
pub mod backfill;
/// `canopy burnout` lives with the burnout logic in the service layer (see canopy_service::burnout).
pub use canopy_service::burnout;
pub mod carbon;
pub mod ci;
pub mod demo;
mod demo_digest;
pub mod demo_facts;
pub mod demo_history;
mod demo_lanes;
pub mod demo_progress;
mod demo_webhooks;
pub mod digest;
pub mod events;
pub mod healthcheck;
pub mod inbox;
pub mod migrate;
pub mod outbox;
pub mod replay;
pub mod report;
pub mod sentiment;
mod sentiment_suite;
pub mod serve;
pub mod store;
pub mod ttm;
