//! Layer 5, the running bot. The HTTP server (axum on hyper) bounds what it buffers, checks
//! signatures on the raw bytes and stores each delivery durably before answering; the
//! group-commit [`committer`] makes many deliveries share one fsync; the worker [`pool`]
//! normalises pending deliveries and asks the reactor what to do, storing events and actions
//! in one transaction; the [`outbox_worker`] performs actions with retries; the scheduled
//! [`loops`] refresh repository settings, retrain time-to-merge models, refresh grid intensity,
//! measure finished CI jobs' energy ([`measure_loop`]) and send digests. [`app::start`]
//! starts every one of them from parts passed in (listener, store, clock, normaliser, reactor,
//! executor), so `canopy serve` and the tests run the same thing.
#![forbid(unsafe_code)]

pub mod activity;
pub mod app;
pub mod auth;
pub mod batch;
mod body;
pub mod budget;
pub mod committer;
mod conn;
pub mod executor;
pub mod http;
pub mod loops;
pub mod measure_loop;
pub mod metrics;
pub mod outbox_worker;
pub mod pool;
pub mod scheduler;
pub mod secrets;
