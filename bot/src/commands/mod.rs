//! One module per subcommand: its `clap` arguments and its `run` function.

pub mod analyze;
pub mod backfill;
pub mod burnout;
pub mod carbon;
pub mod ci;
pub mod demo;
mod demo_webhooks;
pub mod digest;
pub mod events;
pub mod inbox;
pub mod outbox;
pub mod replay;
pub mod report;
pub mod sentiment;
pub mod serve;
pub mod ttm;
