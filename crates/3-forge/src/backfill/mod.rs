//! Importing history through the platforms' APIs, so a new installation has time-to-merge and
//! indicator history on its first day. Paginated, rate-limit aware (it waits as long as the
//! platform asks), resumable after an interruption, and idempotent with webhook deliveries.

pub mod gerrit;
pub mod github;

use std::future::Future;
use std::time::Duration;

use canopy_core::{Clock, ExecError, backoff};

/// Progress of a backfill, for a progress line.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The object just read (`owner/name#12`, `project~4711`).
    pub what: String,
    /// Changes read so far.
    pub done: u64,
    /// Events newly stored so far.
    pub new_events: u64,
}

/// Attempts per request before a backfill gives up.
pub const MAX_ATTEMPTS: u32 = 8;

/// Runs `call` until it succeeds, waiting after transient failures as long as the platform
/// asks (`Retry-After`, rate-limit reset) or with exponential backoff; permanent failures and
/// exhausted retries are returned. Waits are measured on `clock`.
pub async fn with_retries<T, F, Fut>(clock: &dyn Clock, mut call: F) -> Result<T, ExecError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ExecError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if !e.transient || attempt >= MAX_ATTEMPTS => return Err(e),
            Err(e) => {
                let now = clock.now();
                let wait = e
                    .retry_at
                    .and_then(|t| (t - now).to_std().ok())
                    .unwrap_or_else(|| backoff(attempt, 0.5, Duration::from_millis(500)));
                tracing::info!(attempt, wait_ms = wait.as_millis() as u64, error = %e, "backfill request failed; waiting");
                let until = now + chrono::Duration::from_std(wait).unwrap_or_default();
                clock.sleep_until(until).await;
            }
        }
    }
}
