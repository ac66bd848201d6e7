//! The outbox worker: claims due actions and performs them one at a time through an executor,
//! records each result durably (handed to the writer at once; the claimed batch's results are
//! waited for before the next claim, so results performed in a row share a transaction), backs off with jitter (or as long as the platform asks), and
//! moves an action that keeps failing to the dead-letter list with its last error. It sleeps
//! on the clock until the next action is due, and is woken when new ones are enqueued.

use std::sync::Arc;
use std::time::Duration;

use canopy_core::shutdown::Signal;
use canopy_core::{BoxFuture, Clock, ExecError, OutboxItem, WriteOp, WriteOutcome, backoff};
use canopy_store::{Claim, Store};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::activity::LoopState;
use crate::committer::Committer;
pub use crate::executor::PlatformExecutor;

/// Actions claimed per look at the queue.
const BATCH: usize = 16;

/// Performs actions. Implementations must be idempotent: the same item may be performed again
/// after a crash between "sent" and "recorded as sent".
pub trait Execute: Send + Sync + 'static {
    /// Performs one item's action.
    fn execute<'a>(&'a self, item: &'a OutboxItem) -> BoxFuture<'a, Result<(), ExecError>>;
}

/// Prints each action as one JSON line on stdout instead of performing it (`--dry-run`).
#[derive(Debug, Default)]
pub struct DryRunExecutor;

impl Execute for DryRunExecutor {
    fn execute<'a>(&'a self, item: &'a OutboxItem) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            println!("{}", item.action.dry_run_line(&item.id, None));
            Ok(())
        })
    }
}

/// The worker's dependencies and settings.
pub struct OutboxWorker {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The writer.
    pub committer: Committer,
    /// What performs actions.
    pub executor: Arc<dyn Execute>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Woken when actions are enqueued.
    pub notify: Arc<Notify>,
    /// Attempts before an action is dead.
    pub max_attempts: u32,
    /// Longest real-time sleep between looks at the queue (a safety net: new actions wake the
    /// worker, and the next due one is awaited on the clock).
    pub poll: Duration,
    /// First retry delay (doubled at each attempt).
    pub backoff_base: Duration,
    /// Name of this worker's claims.
    pub owner: String,
    /// How long a claimed action is this worker's before another process may take it over.
    pub lease: chrono::Duration,
    /// Where the worker reports whether it is busy.
    pub state: LoopState,
}

/// A reproducible jitter in [0, 1) from an item's id and attempt.
fn jitter(id: &str, attempt: u32) -> f64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in id.bytes().chain(attempt.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl OutboxWorker {
    /// Runs until `shutdown`.
    pub fn start(self, mut shutdown: Signal) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                self.state.busy();
                let due = self.claim_due().await;
                if due.is_empty() {
                    let next = self.next_due().await;
                    self.state.asleep(next);
                    let at_due = async {
                        match next {
                            Some(t) => self.clock.sleep_until(t).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = self.notify.notified() => {}
                        _ = at_due => {}
                        _ = tokio::time::sleep(self.poll) => {}
                        _ = shutdown.wait() => break,
                    }
                    continue;
                }
                // Each result is handed to the writer at once but not waited for before the
                // next action is performed: results waiting together share one transaction.
                let mut recording = Vec::with_capacity(due.len());
                for item in due {
                    // An action never outlives its claim: cut off at half the lease, it is
                    // retried later rather than performed by two replicas at once.
                    let limit = self.lease.to_std().unwrap_or_default() / 2;
                    let result = tokio::select! {
                        r = tokio::time::timeout(limit, self.executor.execute(&item)) => r.unwrap_or_else(|_| {
                            Err(ExecError::transient(format!(
                                "took longer than half the claim lease ({} s); will retry",
                                limit.as_secs()
                            )))
                        }),
                        _ = shutdown.wait() => {
                            recorded(recording).await;
                            self.state.stopped();
                            return;
                        },
                    };
                    let (op, committer) = (self.result_op(&item, result), self.committer.clone());
                    recording.push(tokio::spawn(async move {
                        (item.id, committer.submit(op).await)
                    }));
                }
                recorded(recording).await;
            }
            self.state.stopped();
        })
    }

    /// Claims the actions due now; a store error is logged and the worker tries again later.
    async fn claim_due(&self) -> Vec<OutboxItem> {
        let claim = Claim::new(self.owner.clone(), self.clock.now(), self.lease);
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.claim_due(&claim, BATCH)).await {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading due actions failed");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "reading due actions panicked");
                Vec::new()
            }
        }
    }

    /// When the next action is due; after a store error, a look again after `poll`.
    async fn next_due(&self) -> Option<DateTime<Utc>> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.next_due()).await {
            Ok(Ok(next)) => next,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading the next due action failed");
                chrono::Duration::from_std(self.poll)
                    .ok()
                    .map(|d| self.clock.now() + d)
            }
            Err(_) => None,
        }
    }

    /// The write that records an action's result.
    fn result_op(&self, item: &OutboxItem, result: Result<(), ExecError>) -> WriteOp {
        let now = self.clock.now();
        match result {
            Ok(()) => {
                tracing::info!(item = %item.id, action = item.action.name(), target = %item.action.target(), "action done");
                WriteOp::OutboxDone {
                    id: item.id.clone(),
                    executed: item.action.clone(),
                    at: now,
                }
            }
            Err(e) => {
                let attempt = item.attempts + 1;
                let retry_at = e.transient.then(|| {
                    let b = chrono::Duration::from_std(backoff(
                        attempt,
                        jitter(&item.id, attempt),
                        self.backoff_base,
                    ))
                    .unwrap_or_default();
                    e.retry_at.map_or(now + b, |t| t.max(now + b))
                });
                tracing::warn!(item = %item.id, action = item.action.name(), attempt, transient = e.transient, error = %e.message, "action failed");
                WriteOp::OutboxFailed {
                    id: item.id.clone(),
                    error: e.message,
                    retry_at,
                    max_attempts: self.max_attempts,
                }
            }
        }
    }
}

/// Waits until the results handed to the writer are durable (or failed to be).
async fn recorded(
    recording: Vec<JoinHandle<(String, Result<WriteOutcome, crate::committer::CommitError>)>>,
) {
    for handle in recording {
        if let Ok((item, Err(e))) = handle.await {
            // The item stays as it was and is tried again: actions are idempotent.
            tracing::error!(item = %item, error = %e, "recording an action's result failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_reproducible_and_in_range() {
        let a = jitter("sticky:github:o/r#1", 3);
        assert_eq!(a, jitter("sticky:github:o/r#1", 3));
        assert!((0.0..1.0).contains(&a));
        assert_ne!(a, jitter("sticky:github:o/r#1", 4));
    }
}
