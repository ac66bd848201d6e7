//! The group-commit writer: one thread applies every [`WriteOp`] of the running bot through
//! [`Store::apply_writes`], taking as many queued operations as are waiting into one
//! transaction, so many deliveries share one fsync. A caller's `submit` returns once its
//! operation is durable; `submit_group` hands over several operations that are written in the
//! same transaction (a worker's batch of processed deliveries).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use canopy_core::{WriteOp, WriteOutcome};
use canopy_store::Store;
use tokio::sync::{mpsc, oneshot};

/// Operations waiting for the writer thread.
const COMMIT_QUEUE: usize = 8192;
/// Most operations written in one transaction.
const MAX_BATCH: usize = 1024;
/// Most body bytes written in one transaction.
const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;
/// How long the writer waits for more operations when fewer wait than went into the last
/// transaction (under load): one fsync then carries them too. At rest nothing waits: a lone
/// operation after a lone one goes straight to disk.
const GATHER: Duration = Duration::from_micros(500);

type Reply = oneshot::Sender<Result<Vec<WriteOutcome>, String>>;

/// Handle to the group-commit writer thread.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<(Vec<WriteOp>, Reply)>,
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
    /// Starts the writer thread on a store. The thread (and its reference to the store) ends
    /// when every `Committer` handle is dropped.
    pub fn spawn(store: Arc<dyn Store>) -> Committer {
        let (tx, mut rx) = mpsc::channel::<(Vec<WriteOp>, Reply)>(COMMIT_QUEUE);
        let alive = Arc::new(AtomicBool::new(true));
        let flag = alive.clone();
        let spawned = std::thread::Builder::new()
            .name("canopy-store-writer".into())
            .spawn(move || {
                let mut last = 0;
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = Batch::of(first);
                    batch.take_waiting(&mut rx);
                    // Under load (the last group was bigger than what waits now), more are on
                    // their way: a short wait lets one fsync carry them too.
                    if batch.count < last && !batch.is_full() {
                        std::thread::sleep(GATHER);
                        batch.take_waiting(&mut rx);
                    }
                    last = batch.count;
                    write_batch(store.as_ref(), batch.groups);
                }
                drop(store);
                flag.store(false, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the store writer thread");
            alive.store(false, Ordering::SeqCst);
        }
        Committer { tx, alive }
    }

    /// Makes one operation durable; returns once it is on disk.
    pub async fn submit(&self, op: WriteOp) -> Result<WriteOutcome, CommitError> {
        let mut outcomes = self.submit_group(vec![op]).await?;
        outcomes
            .pop()
            .ok_or_else(|| CommitError::Store("the store answered no outcome".into()))
    }

    /// Makes several operations durable in one transaction (all or none); returns their
    /// outcomes, in order, once they are on disk.
    pub async fn submit_group(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteOutcome>, CommitError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((ops, reply))
            .await
            .map_err(|_| CommitError::Stopped)?;
        match rx.await {
            Ok(Ok(outcomes)) => Ok(outcomes),
            Ok(Err(e)) => Err(CommitError::Store(e)),
            Err(_) => Err(CommitError::Stopped),
        }
    }

    /// Whether the writer thread is running.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst) && !self.tx.is_closed()
    }

    /// A flag that turns false once the writer thread has let go of the store.
    pub fn alive_flag(&self) -> Arc<AtomicBool> {
        self.alive.clone()
    }
}

/// The groups of one transaction being gathered.
struct Batch {
    groups: Vec<(Vec<WriteOp>, Reply)>,
    count: usize,
    bytes: usize,
}

impl Batch {
    fn of(first: (Vec<WriteOp>, Reply)) -> Batch {
        let (count, bytes) = (first.0.len(), group_bytes(&first.0));
        Batch {
            groups: vec![first],
            count,
            bytes,
        }
    }

    /// Whether the transaction has reached its size limits.
    fn is_full(&self) -> bool {
        self.count >= MAX_BATCH || self.bytes >= MAX_BATCH_BYTES
    }

    /// Adds the groups waiting now, up to the limits.
    fn take_waiting(&mut self, rx: &mut mpsc::Receiver<(Vec<WriteOp>, Reply)>) {
        while !self.is_full() {
            match rx.try_recv() {
                Ok(group) => {
                    self.count += group.0.len();
                    self.bytes += group_bytes(&group.0);
                    self.groups.push(group);
                }
                Err(_) => break,
            }
        }
    }
}

/// Applies one batch (the groups of every waiting caller) and answers each caller.
fn write_batch(store: &dyn Store, groups: Vec<(Vec<WriteOp>, Reply)>) {
    let mut sizes = Vec::with_capacity(groups.len());
    let mut replies = Vec::with_capacity(groups.len());
    let mut ops = Vec::new();
    for (group, reply) in groups {
        sizes.push(group.len());
        replies.push(reply);
        ops.extend(group);
    }
    // Counting receipts is a pass over the batch: only when the timing below is logged.
    let receipts = if tracing::enabled!(tracing::Level::DEBUG) {
        ops.iter()
            .filter(|op| matches!(op, WriteOp::Receive(_)))
            .count()
    } else {
        0
    };
    let count = ops.len();
    let t = std::time::Instant::now();
    let applied = store.apply_writes(ops);
    tracing::debug!(
        ops = count,
        receipts,
        groups = sizes.len(),
        took_us = t.elapsed().as_micros() as u64,
        "store write"
    );
    match applied {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for (reply, n) in replies.into_iter().zip(sizes) {
                let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
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

fn group_bytes(ops: &[WriteOp]) -> usize {
    ops.iter().map(op_bytes).sum()
}

fn op_bytes(op: &WriteOp) -> usize {
    match op {
        WriteOp::Receive(d) => d.body.len(),
        _ => 256,
    }
}
