//! The outbox worker: performs due actions one at a time through an executor, records the
//! result durably, backs off with jitter (or as long as the platform asks), and moves an action
//! that keeps failing to the dead-letter list with its last error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Action, ExecError, backoff};
use crate::channels::Channels;
use crate::clock::Clock;
use crate::gerrit::client::GerritClient;
use crate::github::client::GitHubClient;
use crate::inbox::Committer;
use crate::inbox::tokio_shutdown::Signal;
use crate::outbox::STICKY_MARKER;
use crate::store::{OutboxItem, RedbStore, WriteOp};

/// A boxed future, for object-safe async executors.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Performs actions. Implementations must be idempotent: the same item may be performed again
/// after a crash between "sent" and "recorded as sent".
pub trait Execute: Send + Sync + 'static {
    /// Performs one item's action.
    fn execute<'a>(&'a self, item: &'a OutboxItem) -> BoxFuture<'a, Result<(), ExecError>>;
}

/// Performs actions on the real platforms.
pub struct PlatformExecutor {
    /// GitHub client, when credentials are configured.
    pub github: Option<Arc<GitHubClient>>,
    /// Gerrit client, when credentials are configured.
    pub gerrit: Option<Arc<GerritClient>>,
    /// Digest channels (webhook, files, email).
    pub channels: Option<Arc<Channels>>,
}

impl Execute for PlatformExecutor {
    fn execute<'a>(&'a self, item: &'a OutboxItem) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let no_github = || {
                ExecError::permanent(
                    "no GitHub API credentials configured (CANOPY_GITHUB_TOKEN or a GitHub App)",
                )
            };
            let no_gerrit = || {
                ExecError::permanent(
                    "no Gerrit API credentials configured ([gerrit] url and CANOPY_GERRIT_PASSWORD)",
                )
            };
            let no_channels = || ExecError::permanent("no digest channels configured ([digest])");
            match &item.action {
                Action::CreateIssue {
                    repo,
                    title,
                    body,
                    labels,
                    marker,
                } => {
                    let gh = self.github.as_ref().ok_or_else(no_github)?;
                    gh.create_issue_once(repo, title, body, labels, marker)
                        .await
                        .map(|_| ())
                }
                Action::PostWebhook { text, .. } => {
                    let c = self.channels.as_ref().ok_or_else(no_channels)?;
                    c.post_webhook(text).await
                }
                Action::WriteFile { name, contents } => {
                    let c = self.channels.as_ref().ok_or_else(no_channels)?;
                    c.write_file(name, contents)
                }
                Action::SendEmail {
                    to,
                    subject,
                    text,
                    html,
                } => {
                    let c = self.channels.as_ref().ok_or_else(no_channels)?;
                    c.send_email(to, subject, text, html).await
                }
                Action::UpsertComment { repo, number, body } => {
                    let gh = self.github.as_ref().ok_or_else(no_github)?;
                    gh.upsert_marked_comment(repo, *number, STICKY_MARKER, body)
                        .await
                }
                Action::PostComment {
                    repo,
                    number,
                    body,
                    marker,
                } => {
                    let gh = self.github.as_ref().ok_or_else(no_github)?;
                    gh.post_once(repo, *number, marker, body).await
                }
                Action::RerunFailedJobs { repo, run_id } => {
                    let gh = self.github.as_ref().ok_or_else(no_github)?;
                    gh.rerun_failed_jobs(repo, *run_id).await
                }
                Action::CancelRun { repo, run_id } => {
                    let gh = self.github.as_ref().ok_or_else(no_github)?;
                    gh.cancel_run(repo, *run_id).await
                }
                Action::PostReviewMessage {
                    project,
                    change,
                    patchset,
                    body,
                } => {
                    let g = self.gerrit.as_ref().ok_or_else(no_gerrit)?;
                    g.post_message_once(project, *change, *patchset, body).await
                }
                Action::GerritRecheck {
                    project,
                    change,
                    patchset,
                } => {
                    let g = self.gerrit.as_ref().ok_or_else(no_gerrit)?;
                    g.recheck_once(project, *change, *patchset, item.created_at)
                        .await
                }
            }
        })
    }
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
    pub store: Arc<RedbStore>,
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
    /// Longest sleep between looks at the queue.
    pub poll: Duration,
    /// First retry delay (doubled at each attempt).
    pub backoff_base: Duration,
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
                let now = self.clock.now();
                let store = self.store.clone();
                let due = tokio::task::spawn_blocking(move || store.due_outbox(now, 16))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                if due.is_empty() {
                    let store = self.store.clone();
                    let next = tokio::task::spawn_blocking(move || store.next_due().ok().flatten())
                        .await
                        .ok()
                        .flatten();
                    let wait = next
                        .and_then(|t| (t - now).to_std().ok())
                        .map_or(self.poll, |d| d.min(self.poll));
                    tokio::select! {
                        _ = self.notify.notified() => {}
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.wait() => return,
                    }
                    continue;
                }
                for item in due {
                    let result = tokio::select! {
                        r = self.executor.execute(&item) => r,
                        _ = shutdown.wait() => return,
                    };
                    self.record(&item, result).await;
                }
            }
        })
    }

    async fn record(&self, item: &OutboxItem, result: Result<(), ExecError>) {
        let now = self.clock.now();
        let op = match result {
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
        };
        if let Err(e) = self.committer.submit(op).await {
            // The item stays as it was and is tried again: actions are idempotent.
            tracing::error!(item = %item.id, error = %e, "recording an action's result failed");
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
