//! The outbox: actions on GitHub and Gerrit, stored before they are performed and performed by
//! a worker with retries, so nothing is lost or done twice when a platform misbehaves.

mod action;
mod error;

pub use action::{Action, STICKY_MARKER};
pub use error::{ExecError, backoff};
mod worker;

pub use worker::{BoxFuture, DryRunExecutor, Execute, OutboxWorker, PlatformExecutor};
