//! The inbox at run time: a worker pool that turns pending deliveries into events after the
//! response. The dispatcher claims pending deliveries oldest first (on restart, those left
//! pending are picked up again) and hands each to the worker of its repository; the worker
//! normalises it, asks the reactor what to do, and stores events and decisions in one
//! transaction. A normaliser error, a reactor error (a store error while deciding) or a panic
//! quarantines the delivery with its error, to be retried with `canopy inbox retry`: accepted
//! data is never dropped.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use canopy_core::shutdown::Signal;
use canopy_core::{Clock, Delivery, Enqueue, Normalize, Pending, WriteOp};
use canopy_service::react::React;
use canopy_store::{Claim, Store, StoreError};
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};

use crate::committer::{CommitError, Committer};
use crate::metrics::Metrics;

/// How long a delivery claimed by a synchronous drain is its own.
const LEASE_MINUTES: i64 = 10;
/// Deliveries claimed per look at the queue.
const BATCH: usize = 256;

/// Shared state of the processing side, for readiness and metrics.
#[derive(Default)]
pub struct WorkerHealth {
    /// Workers currently running their loop.
    pub running: AtomicUsize,
    /// Workers the pool was started with.
    pub expected: AtomicUsize,
}

/// Everything the worker pool needs, passed in.
pub struct Pool {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The writer.
    pub committer: Committer,
    /// The normaliser.
    pub normalizer: Arc<dyn Normalize>,
    /// What to do about new events.
    pub reactor: Arc<dyn React>,
    /// Woken when actions were enqueued.
    pub outbox_notify: Arc<Notify>,
    /// Woken when a new delivery is stored.
    pub notify: Arc<Notify>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Metrics sink.
    pub metrics: Arc<Metrics>,
    /// Readiness state.
    pub health: Arc<WorkerHealth>,
    /// Name of this pool's claims (unique per process when several share a store).
    pub owner: String,
    /// How long a claimed delivery is the pool's before another process may take it over.
    pub lease: chrono::Duration,
}

impl Pool {
    /// Starts `workers` workers and the dispatcher that feeds them pending deliveries, oldest
    /// first (including those left pending by a previous run).
    pub fn start(self, workers: usize, shutdown: Signal) -> tokio::task::JoinHandle<()> {
        let workers = workers.max(1);
        let pool = Arc::new(self);
        pool.health.expected.store(workers, Ordering::SeqCst);
        let mut senders = Vec::with_capacity(workers);
        for n in 0..workers {
            // One queue per worker: deliveries of a repository always go to the same worker,
            // so each is processed after every earlier delivery of that repository.
            let (tx, mut rx) = mpsc::channel::<Pending>(64);
            senders.push(tx);
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.health.running.fetch_add(1, Ordering::SeqCst);
                while let Some(p) = rx.recv().await {
                    pool.process(p).await;
                }
                pool.health.running.fetch_sub(1, Ordering::SeqCst);
                tracing::debug!(worker = n, "worker stopped");
            });
        }
        let pool2 = pool.clone();
        tokio::spawn(async move { pool2.dispatch(senders, shutdown).await })
    }

    async fn dispatch(self: Arc<Self>, senders: Vec<mpsc::Sender<Pending>>, mut shutdown: Signal) {
        loop {
            let store = self.store.clone();
            let claim = Claim::new(self.owner.clone(), self.clock.now(), self.lease);
            let batch =
                match tokio::task::spawn_blocking(move || store.claim_pending(&claim, BATCH)).await
                {
                    Ok(Ok(b)) => b,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "reading pending deliveries failed");
                        Vec::new()
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "pending reader panicked");
                        Vec::new()
                    }
                };
            if batch.is_empty() {
                // A real-time safety net only: new deliveries wake the dispatcher at once.
                tokio::select! {
                    _ = self.notify.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait() => return,
                }
                continue;
            }
            for p in batch {
                let worker = partition(&p.delivery, senders.len());
                tokio::select! {
                    sent = senders[worker].send(p) => if sent.is_err() { return },
                    _ = shutdown.wait() => return,
                }
            }
        }
    }

    /// Decides about one delivery and records the result durably; store failures are retried.
    async fn process(&self, p: Pending) {
        let started = std::time::Instant::now();
        let now = self.clock.now();
        let d = Arc::new(p.delivery);
        let (store, normalizer, reactor, d2) = (
            self.store.clone(),
            self.normalizer.clone(),
            self.reactor.clone(),
            d.clone(),
        );
        let op = tokio::task::spawn_blocking(move || {
            decide(
                normalizer.as_ref(),
                reactor.as_ref(),
                store.as_ref(),
                &d2,
                now,
            )
        })
        .await
        .unwrap_or_else(|e| {
            let why = match e.try_into_panic() {
                Ok(p) => panic_message(p.as_ref()),
                Err(e) => e.to_string(),
            };
            quarantine(&d, format!("deciding actions panicked: {why}"), now)
        });
        let outcome = outcome_name(&op);
        if outcome == "quarantined" {
            tracing::warn!(platform = %d.platform, delivery = %d.id, event = %d.event, "delivery quarantined");
        }
        let enqueued = matches!(&op, WriteOp::Complete { actions, .. } if !actions.is_empty());
        if !self.record(&d, op).await {
            return;
        }
        if enqueued {
            self.outbox_notify.notify_one();
        }
        self.metrics.observe_processing(
            d.platform.as_str(),
            outcome,
            started.elapsed().as_secs_f64(),
        );
        tracing::debug!(platform = %d.platform, delivery = %d.id, outcome, "delivery processed");
    }

    /// Commits a decision, retrying store failures with backoff; false if the writer stopped
    /// (the delivery stays pending for the next start).
    async fn record(&self, d: &Delivery, op: WriteOp) -> bool {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.committer.submit(op.clone()).await {
                Ok(_) => return true,
                Err(CommitError::Stopped) => return false,
                Err(e) => {
                    tracing::error!(delivery = %d.id, error = %e, "recording a processed delivery failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

/// What to do with a delivery: complete it with its events and the reactor's decisions, or
/// quarantine it with the normaliser's or the store's error.
pub fn decide(
    normalizer: &dyn Normalize,
    reactor: &dyn React,
    store: &dyn Store,
    d: &Delivery,
    now: DateTime<Utc>,
) -> WriteOp {
    let n = match normalizer.normalize(d) {
        Ok(n) => n,
        Err(error) => return quarantine(d, error, now),
    };
    let mut events = n.events;
    for e in &mut events {
        e.delivery_id.get_or_insert_with(|| d.id.clone());
    }
    match reactor.react(store, &events, now) {
        Ok(reaction) => WriteOp::Complete {
            platform: d.platform,
            id: d.id.clone(),
            events,
            ignored: n.ignored,
            at: now,
            meta: reaction.meta(),
            actions: reaction.actions,
            consents: reaction.consents,
        },
        Err(e) => {
            tracing::error!(delivery = %d.id, error = %e, "deciding actions failed");
            quarantine(d, format!("deciding actions failed: {e}"), now)
        }
    }
}

fn quarantine(d: &Delivery, error: String, now: DateTime<Utc>) -> WriteOp {
    WriteOp::Quarantine {
        platform: d.platform,
        id: d.id.clone(),
        error,
        at: now,
    }
}

/// The processing outcome a decision stands for, as counted in metrics.
fn outcome_name(op: &WriteOp) -> &'static str {
    match op {
        WriteOp::Complete {
            ignored: Some(_), ..
        } => "ignored",
        WriteOp::Complete { .. } => "processed",
        _ => "quarantined",
    }
}

/// The text of a panic's payload.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The worker a delivery goes to: by its repository, so that a repository's deliveries are
/// processed in arrival order (a reaction then sees every earlier event of its change).
pub fn partition(d: &Delivery, workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    let key = d.ordering_key();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % workers as u64) as usize
}

/// Counts of a synchronous drain.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Deliveries turned into events.
    pub processed: u64,
    /// Deliveries deliberately not processed.
    pub ignored: u64,
    /// Deliveries quarantined (normaliser or reactor error, or a panic).
    pub quarantined: u64,
}

/// Processes every pending delivery synchronously (for `canopy replay`, `canopy inbox drain`
/// and tests), one at a time so each reaction sees the events before it. Actions go to `sink`
/// instead of the outbox when one is given (dry run).
pub fn drain_blocking(
    store: &dyn Store,
    normalizer: &dyn Normalize,
    reactor: &dyn React,
    clock: &dyn Clock,
    mut sink: Option<&mut dyn FnMut(&Enqueue)>,
) -> Result<Drained, StoreError> {
    let mut counts = Drained::default();
    loop {
        let now = clock.now();
        let claim = Claim::new("drain", now, chrono::Duration::minutes(LEASE_MINUTES));
        let batch = store.claim_pending(&claim, BATCH)?;
        if batch.is_empty() {
            return Ok(counts);
        }
        for p in batch {
            let d = p.delivery;
            let now = clock.now();
            let mut op = std::panic::catch_unwind(AssertUnwindSafe(|| {
                decide(normalizer, reactor, store, &d, now)
            }))
            .unwrap_or_else(|p| {
                let why = panic_message(p.as_ref());
                quarantine(&d, format!("deciding actions panicked: {why}"), now)
            });
            match outcome_name(&op) {
                "processed" => counts.processed += 1,
                "ignored" => counts.ignored += 1,
                _ => counts.quarantined += 1,
            }
            if let (Some(sink), WriteOp::Complete { actions, .. }) = (sink.as_mut(), &mut op) {
                actions.iter().for_each(&mut *sink);
                actions.clear();
            }
            store.apply_writes(vec![op])?;
        }
    }
}
