//! The inbox at run time: a group-commit writer that makes deliveries durable before they are
//! acknowledged (many deliveries share one fsync), and a worker pool that turns pending
//! deliveries into events after the response. On restart, pending deliveries are picked up again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use canopy_analyzer::Event;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock::Clock;
use crate::server::metrics::Metrics;
use crate::store::{
    Consent, Delivery, Enqueue, Pending, RedbStore, StoreError, WriteOp, WriteOutcome,
};

/// Operations waiting for the writer thread.
const COMMIT_QUEUE: usize = 8192;
/// Most operations written in one transaction.
const MAX_BATCH: usize = 1024;
/// Most body bytes written in one transaction.
const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// What a normaliser made of a delivery.
#[derive(Debug, Default)]
pub struct Normalized {
    /// Events to store.
    pub events: Vec<Event>,
    /// Set when the delivery is deliberately not processed (ping, unsupported event...).
    pub ignored: Option<String>,
}

/// Turns a raw delivery into events. Passed in, so the server can be tested with any normaliser.
pub trait Normalize: Send + Sync + 'static {
    /// Normalises one delivery; an error sends it to quarantine with the message.
    fn normalize(&self, delivery: &Delivery) -> Result<Normalized, String>;
}

/// What a reactor decided about a delivery's events.
#[derive(Debug, Default, Clone)]
pub struct Reaction {
    /// Actions to enqueue.
    pub actions: Vec<Enqueue>,
    /// Consent changes to record.
    pub consents: Vec<Consent>,
}

/// Decides what to do about new events (comments to update, commands to answer). It reads the
/// store but never writes: its decisions are stored in the same transaction as the events.
pub trait React: Send + Sync + 'static {
    /// The reaction to the events of one delivery, given the time.
    fn react(
        &self,
        store: &RedbStore,
        events: &[Event],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Reaction;
}

/// A reactor that never acts (ingest only).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReactions;

impl React for NoReactions {
    fn react(&self, _: &RedbStore, _: &[Event], _: chrono::DateTime<chrono::Utc>) -> Reaction {
        Reaction::default()
    }
}

type Reply = oneshot::Sender<Result<WriteOutcome, String>>;

/// Handle to the group-commit writer thread.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<(WriteOp, Reply)>,
    alive: Arc<AtomicBool>,
}

/// Why an operation was not made durable.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The writer thread has stopped.
    #[error("the store writer has stopped")]
    Stopped,
    /// The store failed (I/O error, full disk...).
    #[error("store error: {0}")]
    Store(String),
}

impl Committer {
    /// Starts the writer thread on a store.
    pub fn spawn(store: Arc<RedbStore>) -> Committer {
        let (tx, mut rx) = mpsc::channel::<(WriteOp, Reply)>(COMMIT_QUEUE);
        let alive = Arc::new(AtomicBool::new(true));
        let flag = alive.clone();
        std::thread::Builder::new()
            .name("canopy-store-writer".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut ops = vec![first];
                    let mut bytes = op_bytes(&ops[0].0);
                    while ops.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                        match rx.try_recv() {
                            Ok(op) => {
                                bytes += op_bytes(&op.0);
                                ops.push(op);
                            }
                            Err(_) => break,
                        }
                    }
                    let (ops, replies): (Vec<WriteOp>, Vec<Reply>) = ops.into_iter().unzip();
                    match store.apply_writes(ops) {
                        Ok(outcomes) => {
                            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                                let _ = reply.send(Ok(outcome));
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "store write failed");
                            for reply in replies {
                                let _ = reply.send(Err(e.to_string()));
                            }
                        }
                    }
                }
                flag.store(false, Ordering::SeqCst);
            })
            .ok();
        Committer { tx, alive }
    }

    /// Makes one operation durable; returns once it is on disk.
    pub async fn submit(&self, op: WriteOp) -> Result<WriteOutcome, CommitError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((op, reply))
            .await
            .map_err(|_| CommitError::Stopped)?;
        match rx.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(CommitError::Store(e)),
            Err(_) => Err(CommitError::Stopped),
        }
    }

    /// Whether the writer thread is running.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst) && !self.tx.is_closed()
    }
}

fn op_bytes(op: &WriteOp) -> usize {
    match op {
        WriteOp::Receive(d) => d.body.len(),
        _ => 256,
    }
}

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
    pub store: Arc<RedbStore>,
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
}

impl Pool {
    /// Starts `workers` workers and the dispatcher that feeds them pending deliveries, oldest
    /// first (including those left pending by a previous run).
    pub fn start(
        self,
        workers: usize,
        shutdown: tokio_shutdown::Signal,
    ) -> tokio::task::JoinHandle<()> {
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

    async fn dispatch(
        self: Arc<Self>,
        senders: Vec<mpsc::Sender<Pending>>,
        mut shutdown: tokio_shutdown::Signal,
    ) {
        let mut cursor = 0u64;
        loop {
            let store = self.store.clone();
            let after = cursor;
            let batch = tokio::task::spawn_blocking(move || store.pending(after, 256)).await;
            let batch = match batch {
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
                tokio::select! {
                    _ = self.notify.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait() => return,
                }
                continue;
            }
            for p in batch {
                cursor = p.seq;
                let worker = partition(&p.delivery, senders.len());
                tokio::select! {
                    sent = senders[worker].send(p) => if sent.is_err() { return },
                    _ = shutdown.wait() => return,
                }
            }
        }
    }

    /// Normalises one delivery and records the result durably; store failures are retried.
    async fn process(&self, p: Pending) {
        let d = p.delivery;
        let started = std::time::Instant::now();
        let result = self.normalizer.normalize(&d);
        let now = self.clock.now();
        let (op, outcome) = match result {
            Ok(n) => {
                let outcome = if n.ignored.is_some() {
                    "ignored"
                } else {
                    "processed"
                };
                let mut events = n.events;
                for e in &mut events {
                    e.delivery_id.get_or_insert_with(|| d.id.clone());
                }
                let (store, reactor) = (self.store.clone(), self.reactor.clone());
                let did = d.id.clone();
                let (events, reaction) = tokio::task::spawn_blocking(move || {
                    let reaction = reactor.react(&store, &events, now);
                    (events, reaction)
                })
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(delivery = %did, error = %e, "deciding actions panicked");
                    (Vec::new(), Reaction::default())
                });
                (
                    WriteOp::Complete {
                        platform: d.platform,
                        id: d.id.clone(),
                        events,
                        ignored: n.ignored,
                        at: now,
                        actions: reaction.actions,
                        consents: reaction.consents,
                    },
                    outcome,
                )
            }
            Err(error) => {
                tracing::warn!(platform = %d.platform, delivery = %d.id, event = %d.event, %error, "delivery quarantined");
                (
                    WriteOp::Quarantine {
                        platform: d.platform,
                        id: d.id.clone(),
                        error,
                        at: now,
                    },
                    "quarantined",
                )
            }
        };
        let enqueued = matches!(&op, WriteOp::Complete { actions, .. } if !actions.is_empty());
        let mut op = Some(op);
        let mut backoff = Duration::from_millis(100);
        while let Some(o) = op.take() {
            let retry = o.clone();
            match self.committer.submit(o).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(delivery = %d.id, error = %e, "recording a processed delivery failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    op = Some(retry);
                    if matches!(e, CommitError::Stopped) {
                        return;
                    }
                }
            }
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
}

/// The worker a delivery goes to: by its repository, so that a repository's deliveries are
/// processed in arrival order (a reaction then sees every earlier event of its change).
pub fn partition(d: &Delivery, workers: usize) -> usize {
    #[derive(serde::Deserialize)]
    struct Full {
        full_name: Option<String>,
        project: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        repository: Option<Full>,
        change: Option<Full>,
        #[serde(rename = "refUpdate")]
        ref_update: Option<Full>,
        project: Option<String>,
    }
    if workers <= 1 {
        return 0;
    }
    let repo = serde_json::from_slice::<Probe>(&d.body).ok().and_then(|p| {
        p.repository
            .and_then(|r| r.full_name)
            .or(p.change.and_then(|c| c.project))
            .or(p.ref_update.and_then(|r| r.project))
            .or(p.project)
    });
    let key = repo.unwrap_or_default();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % workers as u64) as usize
}

/// Processes every pending delivery synchronously (for `canopy replay` and tests), returning
/// (processed, ignored, quarantined) counts. Actions go to `sink` instead of the outbox when one
/// is given (dry run).
pub fn drain_blocking(
    store: &RedbStore,
    normalizer: &dyn Normalize,
    reactor: &dyn React,
    clock: &dyn Clock,
    mut sink: Option<&mut dyn FnMut(&Enqueue)>,
) -> Result<(u64, u64, u64), StoreError> {
    let mut counts = (0, 0, 0);
    let mut cursor = 0;
    loop {
        let batch = store.pending(cursor, 256)?;
        if batch.is_empty() {
            return Ok(counts);
        }
        for p in batch {
            cursor = p.seq;
            let d = p.delivery;
            let now = clock.now();
            match normalizer.normalize(&d) {
                Ok(n) => {
                    if n.ignored.is_some() {
                        counts.1 += 1;
                    } else {
                        counts.0 += 1;
                    }
                    let mut events = n.events;
                    for e in &mut events {
                        e.delivery_id.get_or_insert_with(|| d.id.clone());
                    }
                    let mut reaction = reactor.react(store, &events, now);
                    if let Some(sink) = sink.as_mut() {
                        reaction.actions.iter().for_each(&mut *sink);
                        reaction.actions.clear();
                    }
                    // One delivery at a time, so the next one's reactions see these events.
                    store.apply_writes(vec![WriteOp::Complete {
                        platform: d.platform,
                        id: d.id,
                        events,
                        ignored: n.ignored,
                        at: now,
                        actions: reaction.actions,
                        consents: reaction.consents,
                    }])?;
                }
                Err(error) => {
                    counts.2 += 1;
                    store.apply_writes(vec![WriteOp::Quarantine {
                        platform: d.platform,
                        id: d.id,
                        error,
                        at: now,
                    }])?;
                }
            }
        }
    }
}

/// A small shutdown signal that any number of tasks can wait on.
pub mod tokio_shutdown {
    use tokio::sync::watch;

    /// Sends the shutdown signal.
    #[derive(Clone)]
    pub struct Trigger(watch::Sender<bool>);

    /// Waits for the shutdown signal.
    #[derive(Clone)]
    pub struct Signal(watch::Receiver<bool>);

    /// A connected trigger and signal.
    pub fn channel() -> (Trigger, Signal) {
        let (tx, rx) = watch::channel(false);
        (Trigger(tx), Signal(rx))
    }

    impl Trigger {
        /// Tells every waiter to stop.
        pub fn fire(&self) {
            let _ = self.0.send(true);
        }
    }

    impl Signal {
        /// Resolves once the trigger fired (or was dropped).
        pub async fn wait(&mut self) {
            while !*self.0.borrow() {
                if self.0.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}
