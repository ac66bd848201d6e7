//! Assembles the running bot from its parts — listener, store, normaliser, clock — all passed
//! in, so the `serve` command, the demo and the tests start the very same thing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::inbox::tokio_shutdown::{self, Trigger};
use crate::inbox::{Committer, Normalize, Pool, React, WorkerHealth};
use crate::outbox::{Execute, OutboxWorker};
use crate::secrets::Secrets;
use crate::server::metrics::Metrics;
use crate::server::{self, AppState, Limits};
use crate::store::RedbStore;

/// What the server needs besides its dependencies.
#[derive(Clone)]
pub struct AppConfig {
    /// Request limits.
    pub limits: Limits,
    /// Worker count.
    pub workers: usize,
    /// Accepted GitHub webhook secrets.
    pub github_secrets: Secrets,
    /// Accepted Gerrit webhook secrets.
    pub gerrit_secrets: Secrets,
    /// What to do about new events.
    pub reactor: Arc<dyn React>,
    /// What performs outbox actions; `None` runs no outbox worker (actions stay queued).
    pub executor: Option<Arc<dyn Execute>>,
    /// Attempts before an action goes to the dead-letter list.
    pub max_attempts: u32,
    /// Longest sleep of the outbox worker between looks at its queue.
    pub outbox_poll: Duration,
    /// First retry delay of a failed action (doubled at each attempt).
    pub backoff_base: Duration,
}

impl AppConfig {
    /// Intake only: default limits, no reactions, no outbox worker.
    pub fn intake(github_secrets: Secrets, gerrit_secrets: Secrets) -> AppConfig {
        AppConfig {
            limits: Limits::default(),
            workers: 2,
            github_secrets,
            gerrit_secrets,
            reactor: Arc::new(crate::inbox::NoReactions),
            executor: None,
            max_attempts: 8,
            outbox_poll: Duration::from_secs(1),
            backoff_base: Duration::from_secs(1),
        }
    }
}

/// A started server.
pub struct Running {
    /// Address it listens on.
    pub addr: SocketAddr,
    /// Its store.
    pub store: Arc<RedbStore>,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    trigger: Trigger,
    server: JoinHandle<std::io::Result<()>>,
    dispatcher: JoinHandle<()>,
    outbox: Option<JoinHandle<()>>,
    health: Arc<WorkerHealth>,
    /// Wakes the outbox worker (tests that move a manual clock use it).
    pub outbox_notify: Arc<Notify>,
    /// The store's writer, for background tasks that write (the digest scheduler).
    pub committer: Committer,
}

/// Starts the writer, the worker pool and the HTTP server.
pub fn start(
    listener: TcpListener,
    store: Arc<RedbStore>,
    normalizer: Arc<dyn Normalize>,
    clock: Arc<dyn Clock>,
    cfg: AppConfig,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let (trigger, signal) = tokio_shutdown::channel();
    let committer = Committer::spawn(store.clone());
    let notify = Arc::new(Notify::new());
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(WorkerHealth::default());
    let outbox_notify = Arc::new(Notify::new());
    let outbox = cfg.executor.clone().map(|executor| {
        OutboxWorker {
            store: store.clone(),
            committer: committer.clone(),
            executor,
            clock: clock.clone(),
            notify: outbox_notify.clone(),
            max_attempts: cfg.max_attempts,
            poll: cfg.outbox_poll,
            backoff_base: cfg.backoff_base,
        }
        .start(signal.clone())
    });
    let dispatcher = Pool {
        store: store.clone(),
        committer: committer.clone(),
        normalizer,
        reactor: cfg.reactor.clone(),
        outbox_notify: outbox_notify.clone(),
        notify: notify.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        health: health.clone(),
    }
    .start(cfg.workers, signal.clone());
    let state = Arc::new(AppState {
        committer: committer.clone(),
        store: store.clone(),
        github_secrets: cfg.github_secrets,
        gerrit_secrets: cfg.gerrit_secrets,
        metrics: metrics.clone(),
        notify,
        clock,
        health: health.clone(),
        limits: cfg.limits,
    });
    let app = server::router(state);
    let server = tokio::spawn(server::serve(listener, app, cfg.limits, signal));
    Ok(Running {
        addr,
        store,
        metrics,
        trigger,
        server,
        dispatcher,
        outbox,
        health,
        outbox_notify,
        committer,
    })
}

impl Running {
    /// Stops accepting, lets workers finish the delivery in hand, and waits for them (at most
    /// `grace`). Deliveries not yet processed stay pending in the store for the next start.
    pub async fn shutdown(self, grace: Duration) {
        self.trigger.fire();
        let _ = self.server.await;
        let _ = self.dispatcher.await;
        if let Some(o) = self.outbox {
            let _ = o.await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self
            .health
            .running
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until no delivery is pending (for tests and the demo), at most `timeout`.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let store = self.store.clone();
            let depth =
                tokio::task::spawn_blocking(move || store.queue_depth().unwrap_or(u64::MAX))
                    .await
                    .unwrap_or(u64::MAX);
            if depth == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
