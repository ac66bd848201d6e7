//! The `canopy` application: CLI commands, adapters for git, GitHub and Gerrit, the durable
//! store, the webhook server and the outbox. The only crate of the workspace that does I/O.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod git;
pub mod logging;
pub mod store;
