//! The inbox at run time: a worker pool that turns pending deliveries into events after the
//! response. The dispatcher claims pending deliveries oldest first (on restart, those left
//! pending are picked up again) and hands each to the worker of its repository. A worker takes
//! every delivery waiting in its queue (up to [`WORKER_BATCH`]) as one batch: it normalises
//! each and asks the reactor what to do, in order, each decision reading the store through an
//! overlay of the results decided before it in the batch, and commits the whole batch in
//! one transaction ([`crate::batch`]). Deciding and committing overlap: while a batch is
//! being committed (by the worker's recorder, batches in order) the worker decides the next,
//! reading through an overlay that also holds the batches decided but not committed yet.
//! Sticky-comment refreshes of one change superseded later in the same batch are dropped:
//! every event is stored and every delivery processed, only the redundant comment updates
//! are skipped. A crash before the commit leaves the whole batch
//! pending, to be redone. A normaliser error, a reactor error (a store error while deciding)
//! or a panic quarantines the delivery with its error, to be retried with `canopy inbox
//! retry`: accepted data is never dropped.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use canopy_core::shutdown::Signal;
use canopy_core::{Clock, Delivery, Enqueue, Normalize, Normalized, Pending, WriteOp};
use canopy_service::react::{Carried, React};
use canopy_service::ttm_online;
use canopy_store::{Claim, Store, StoreError};

use crate::batch::{coalesce, decide_batch_after};
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};

use crate::committer::{CommitError, Committer};
use crate::metrics::Metrics;

/// How long a delivery claimed by a synchronous drain is its own.
const LEASE_MINUTES: i64 = 10;
/// Deliveries claimed per look at the queue.
const BATCH: usize = 512;
/// Most deliveries a worker decides and commits as one batch.
pub const WORKER_BATCH: usize = crate::batch::WORKER_BATCH;

/// A worker's batches decided but not committed yet, oldest first.
type InFlight = Arc<std::sync::Mutex<VecDeque<Arc<Vec<WriteOp>>>>>;

/// A batch decided by a worker, on its way to the store.
struct Decided {
    batch: Arc<Vec<Delivery>>,
    ops: Arc<Vec<WriteOp>>,
    took: Vec<Duration>,
    started: std::time::Instant,
    decided_at: Duration,
}

/// Shared state of the processing side, for readiness and metrics.
#[derive(Default)]
pub struct WorkerHealth {
    /// Workers currently running their loop.
    pub running: AtomicUsize,
    /// Workers the pool was started with.
    pub expected: AtomicUsize,
    /// The server runs no pool at all (intake only: `workers` 0).
    pub intake_only: std::sync::atomic::AtomicBool,
    /// The reactor has loaded what it keeps in memory ([`React::warm`]): until then no
    /// delivery is processed, so the server is not ready.
    pub warmed: std::sync::atomic::AtomicBool,
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
            // The dispatcher hands over each claim's deliveries of the worker as one message;
            // the worker takes every message waiting, up to WORKER_BATCH deliveries at a time.
            let (tx, rx) = mpsc::channel::<Vec<Pending>>(4);
            senders.push(tx);
            tokio::spawn(pool.clone().work(n, rx));
        }
        let pool2 = pool.clone();
        tokio::spawn(async move { pool2.dispatch(senders, shutdown).await })
    }

    async fn dispatch(
        self: Arc<Self>,
        senders: Vec<mpsc::Sender<Vec<Pending>>>,
        mut shutdown: Signal,
    ) {
        self.warm().await;
        self.health.warmed.store(true, Ordering::SeqCst);
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
            let mut groups: Vec<Vec<Pending>> = senders.iter().map(|_| Vec::new()).collect();
            for p in batch {
                groups[partition(&p.key, senders.len())].push(p);
            }
            for (worker, group) in groups.into_iter().enumerate() {
                if group.is_empty() {
                    continue;
                }
                tokio::select! {
                    sent = senders[worker].send(group) => if sent.is_err() { return },
                    _ = shutdown.wait() => return,
                }
            }
        }
    }

    /// Lets the reactor load what it keeps in memory before the first delivery is claimed, so
    /// that no delivery's decision waits for it (a failure is logged: the reactor then loads
    /// it when a delivery first needs it).
    async fn warm(&self) {
        let (store, reactor) = (self.store.clone(), self.reactor.clone());
        match tokio::task::spawn_blocking(move || reactor.warm(store.as_ref())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "loading the reactor's state failed"),
            Err(e) => tracing::warn!(error = %e, "loading the reactor's state panicked"),
        }
    }

    /// A worker: takes every delivery waiting in its queue (up to [`WORKER_BATCH`] at a time),
    /// decides about them as one batch and hands the decisions to its recorder, which commits
    /// the batches in order while the worker already decides the next one, on top of the
    /// batches decided but not committed yet.
    async fn work(self: Arc<Self>, n: usize, mut rx: mpsc::Receiver<Vec<Pending>>) {
        self.health.running.fetch_add(1, Ordering::SeqCst);
        let in_flight: InFlight = Default::default();
        // One decided batch may wait while another is being committed.
        let (decided_tx, mut decided_rx) = mpsc::channel::<Decided>(1);
        let (pool, flying) = (self.clone(), in_flight.clone());
        let recorder = tokio::spawn(async move {
            while let Some(d) = decided_rx.recv().await {
                pool.finish(d).await;
                // Committed (or the writer stopped, and nothing later commits either).
                if let Ok(mut f) = flying.lock() {
                    f.pop_front();
                }
            }
        });
        let mut waiting: VecDeque<Delivery> = VecDeque::new();
        'recv: while let Some(group) = rx.recv().await {
            waiting.extend(group.into_iter().map(|p| p.delivery));
            while let Ok(more) = rx.try_recv() {
                waiting.extend(more.into_iter().map(|p| p.delivery));
            }
            while !waiting.is_empty() {
                let take = waiting.len().min(WORKER_BATCH);
                let ahead: Vec<Arc<Vec<WriteOp>>> = match in_flight.lock() {
                    Ok(f) => f.iter().cloned().collect(),
                    Err(_) => break 'recv,
                };
                let d = self.decide(waiting.drain(..take).collect(), ahead).await;
                if let Ok(mut f) = in_flight.lock() {
                    f.push_back(d.ops.clone());
                }
                if decided_tx.send(d).await.is_err() {
                    break 'recv;
                }
            }
        }
        drop(decided_tx);
        let _ = recorder.await;
        self.health.running.fetch_sub(1, Ordering::SeqCst);
        tracing::debug!(worker = n, "worker stopped");
    }

    /// Decides about a batch of deliveries (in order), reading the store as if the batches
    /// `ahead` (decided, not committed yet) were committed.
    async fn decide(&self, batch: Vec<Delivery>, ahead: Vec<Arc<Vec<WriteOp>>>) -> Decided {
        let started = std::time::Instant::now();
        let now = self.clock.now();
        let batch = Arc::new(batch);
        let (store, normalizer, reactor, b2) = (
            self.store.clone(),
            self.normalizer.clone(),
            self.reactor.clone(),
            batch.clone(),
        );
        let decided = tokio::task::spawn_blocking(move || {
            decide_batch_after(
                normalizer.as_ref(),
                reactor.as_ref(),
                store.as_ref(),
                &ahead,
                &b2,
                now,
            )
        })
        .await;
        let (mut ops, took) = match decided {
            Ok(d) => d,
            // decide_batch catches each delivery's panic; this is the worker thread itself.
            Err(e) => {
                let why = e.to_string();
                let ops = batch
                    .iter()
                    .map(|d| quarantine(d, format!("deciding actions failed: {why}"), now))
                    .collect();
                (ops, vec![started.elapsed(); batch.len()])
            }
        };
        coalesce(&mut ops);
        Decided {
            batch,
            ops: Arc::new(ops),
            took,
            started,
            decided_at: started.elapsed(),
        }
    }

    /// Records a decided batch durably in one transaction (store failures are retried), then
    /// wakes the outbox and counts the deliveries.
    async fn finish(&self, d: Decided) {
        let Decided {
            batch,
            ops,
            took,
            started,
            decided_at,
        } = d;
        let outcomes: Vec<&'static str> = ops.iter().map(outcome_name).collect();
        let enqueued = ops
            .iter()
            .any(|op| matches!(op, WriteOp::Complete { actions, .. } if !actions.is_empty()));
        if !self.record(&batch, &ops).await {
            return;
        }
        if enqueued {
            self.outbox_notify.notify_one();
        }
        // Each delivery's time: its own decision plus the wait for the batch's commit.
        let commit = started.elapsed().saturating_sub(decided_at);
        tracing::debug!(
            deliveries = batch.len(),
            decide_us = decided_at.as_micros() as u64,
            commit_wait_us = commit.as_micros() as u64,
            "batch committed"
        );
        for ((d, outcome), took) in batch.iter().zip(outcomes).zip(took) {
            if outcome == "quarantined" {
                tracing::warn!(platform = %d.platform, delivery = %d.id, event = %d.event, "delivery quarantined");
            }
            self.metrics.observe_processing(
                d.platform.as_str(),
                outcome,
                (took + commit).as_secs_f64(),
            );
            tracing::debug!(platform = %d.platform, delivery = %d.id, outcome, "delivery processed");
        }
    }

    /// Commits a batch's decisions in one transaction, retrying store failures with backoff;
    /// false if the writer stopped (the deliveries stay pending for the next start).
    async fn record(&self, batch: &[Delivery], ops: &[WriteOp]) -> bool {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.committer.submit_group(ops.to_vec()).await {
                Ok(_) => return true,
                Err(CommitError::Stopped) => return false,
                Err(e) => {
                    let first = batch.first().map(|d| d.id.as_str()).unwrap_or_default();
                    tracing::error!(delivery = %first, deliveries = batch.len(), error = %e, "recording processed deliveries failed; retrying");
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
    let mut carried = Carried::new();
    let (mut op, completed) = decide_normalized(
        normalizer.normalize(d),
        reactor,
        store,
        d,
        now,
        &mut carried,
    );
    if let (WriteOp::Complete { meta, .. }, true) = (&mut op, completed) {
        meta.extend(carried_meta(&carried));
    }
    op
}

/// The time-to-merge states carried through a batch as the `meta` entries that store them.
pub fn carried_meta(c: &Carried) -> impl Iterator<Item = (String, Vec<u8>)> + '_ {
    c.iter()
        .map(|(repo, s)| (ttm_online::online_key(repo), ttm_online::encode_online(s)))
}

/// [`decide`] for one delivery of a batch, already normalised (`normalized` is what the
/// normaliser made of `d`; the batch's pipeline normalises deliveries ahead, on another
/// thread): the reaction starts from the time-to-merge states `carried` from the batch's
/// earlier deliveries and changes them there. Returns the decision without those states (its
/// `meta` is empty) and whether it completed (when it did not, `carried` may hold partial
/// changes: see [`React::react_carried`]).
pub fn decide_normalized(
    normalized: Result<Normalized, String>,
    reactor: &dyn React,
    store: &dyn Store,
    d: &Delivery,
    now: DateTime<Utc>,
    carried: &mut Carried,
) -> (WriteOp, bool) {
    let n = match normalized {
        Ok(n) => n,
        Err(error) => return (quarantine(d, error, now), false),
    };
    let mut events = n.events;
    for e in &mut events {
        e.delivery_id.get_or_insert_with(|| d.id.clone());
    }
    match reactor.react_carried(store, &events, now, carried) {
        Ok(reaction) => (
            WriteOp::Complete {
                platform: d.platform,
                id: d.id.clone(),
                events,
                ignored: n.ignored,
                at: now,
                meta: Vec::new(),
                actions: reaction.actions,
                consents: reaction.consents,
            },
            true,
        ),
        Err(e) => {
            tracing::error!(delivery = %d.id, error = %e, "deciding actions failed");
            (
                quarantine(d, format!("deciding actions failed: {e}"), now),
                false,
            )
        }
    }
}

pub(crate) fn quarantine(d: &Delivery, error: String, now: DateTime<Utc>) -> WriteOp {
    WriteOp::Quarantine {
        platform: d.platform,
        id: d.id.clone(),
        error,
        at: now,
    }
}

/// The processing outcome a decision stands for, as counted in metrics.
pub(crate) fn outcome_name(op: &WriteOp) -> &'static str {
    match op {
        WriteOp::Complete {
            ignored: Some(_), ..
        } => "ignored",
        WriteOp::Complete { .. } => "processed",
        _ => "quarantined",
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The worker a delivery goes to, by its ordering key (its repository, as claimed in
/// [`Pending::key`]), so that a repository's deliveries are processed in arrival order (a
/// reaction then sees every earlier event of its change).
pub fn partition(key: &str, workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
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
