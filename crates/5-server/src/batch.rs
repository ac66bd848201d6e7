//! A worker's batch of deliveries (issue 15): decided one after the other, each reading the
//! store through an [`Overlay`] of the results decided before it, so that it sees exactly what
//! it would have seen had every earlier delivery been committed on its own; then committed in
//! one transaction. Two things are done once per batch instead of once per delivery: the
//! time-to-merge online state of a repository is decoded once, carried from delivery to
//! delivery in memory and encoded once, with the batch's last completed delivery; and a
//! change's sticky comment is refreshed once, with its latest content ([`coalesce`]).

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use canopy_core::{Delivery, EnqueueMode, Normalize, Normalized, WriteOp};
use canopy_service::react::{Carried, React};
use canopy_store::{Overlay, Store};
use chrono::{DateTime, Utc};

use crate::pool::{carried_meta, decide_normalized, panic_message, quarantine};

/// Most deliveries a worker decides and commits as one batch.
pub const WORKER_BATCH: usize = 256;

/// Decides about deliveries in order, each seeing the results decided before it; a panic
/// quarantines only the delivery that caused it. Returns the decisions (the repositories'
/// time-to-merge states as the batch leaves them written with its last completed delivery)
/// and the time each decision took.
pub fn decide_batch(
    normalizer: &dyn Normalize,
    reactor: &dyn React,
    store: &dyn Store,
    batch: &[Delivery],
    now: DateTime<Utc>,
) -> (Vec<WriteOp>, Vec<Duration>) {
    decide_batch_after(normalizer, reactor, store, &[], batch, now)
}

/// [`decide_batch`] on top of batches decided before it but perhaps not committed yet
/// (`ahead`, oldest first): the batch reads the store as if they were. A batch of `ahead`
/// that commits meanwhile is still read once: each event once (by id), its named values as
/// decided, its enqueues folded again onto the items it wrote (which leaves them as they are,
/// unless the outbox finished one with another result in that moment).
///
/// A batch of [`PIPELINE_MIN`] deliveries or more is decided as a pipeline on two threads: a
/// normalising thread turns the deliveries into events, in order, ahead of the deciding
/// thread (normalising reads nothing but the delivery, so its result does not depend on when
/// it runs), while the deciding thread takes them in order and decides each as before. The
/// decisions are those of normalising and deciding one delivery after the other.
pub fn decide_batch_after(
    normalizer: &dyn Normalize,
    reactor: &dyn React,
    store: &dyn Store,
    ahead: &[std::sync::Arc<Vec<WriteOp>>],
    batch: &[Delivery],
    now: DateTime<Utc>,
) -> (Vec<WriteOp>, Vec<Duration>) {
    let decider = Decider {
        reactor,
        store,
        ahead,
        now,
    };
    if batch.len() < PIPELINE_MIN {
        return decider.decide(batch, &mut |d| normalize_caught(normalizer, d));
    }
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel(NORMALIZED_AHEAD);
        let stage_a = std::thread::Builder::new()
            .name("canopy-normalize".into())
            .spawn_scoped(s, move || {
                for d in batch {
                    if tx.send(normalize_caught(normalizer, d)).is_err() {
                        return;
                    }
                }
            });
        match stage_a {
            Ok(_) => decider.decide(batch, &mut |_| {
                rx.recv()
                    .unwrap_or_else(|_| Err("the normalising thread stopped".into()))
            }),
            // No second thread to be had: normalise on this one.
            Err(_) => decider.decide(batch, &mut |d| normalize_caught(normalizer, d)),
        }
    })
}

/// Batches at least this long are normalised on a second thread, ahead of their decisions.
pub const PIPELINE_MIN: usize = 2;
/// Deliveries the normalising thread may be ahead of the decisions.
const NORMALIZED_AHEAD: usize = 64;

/// What the normaliser made of a delivery, or the message of its panic.
type Normalizing = Result<Result<Normalized, String>, String>;

/// Normalises a delivery, a panic caught as its message.
fn normalize_caught(normalizer: &dyn Normalize, d: &Delivery) -> Normalizing {
    std::panic::catch_unwind(AssertUnwindSafe(|| normalizer.normalize(d)))
        .map_err(|p| panic_message(p.as_ref()))
}

/// The sequential stage of a batch: decisions in delivery order, each reading the store
/// through an overlay of the results decided before it.
struct Decider<'a> {
    reactor: &'a dyn React,
    store: &'a dyn Store,
    ahead: &'a [std::sync::Arc<Vec<WriteOp>>],
    now: DateTime<Utc>,
}

impl Decider<'_> {
    /// Decides the deliveries in order, `normalized` giving each one's normalisation.
    fn decide(
        &self,
        batch: &[Delivery],
        normalized: &mut dyn FnMut(&Delivery) -> Normalizing,
    ) -> (Vec<WriteOp>, Vec<Duration>) {
        let now = self.now;
        let mut overlay = Overlay::new(self.store);
        for op in self.ahead.iter().flat_map(|ops| ops.iter()) {
            overlay.add(op);
        }
        let mut ops = Vec::with_capacity(batch.len());
        let mut took = Vec::with_capacity(batch.len());
        let mut carried = Carried::new();
        let mut last_completed = None;
        for d in batch {
            let t = Instant::now();
            let n = normalized(d);
            // A failed decision must not leave its partial changes in the carried states: each
            // decision's changes are journalled and undone if it fails (copying the states
            // would cost every open change's prediction, per delivery).
            let before: Vec<String> = carried.keys().cloned().collect();
            carried.values_mut().for_each(|s| s.begin());
            let decided = n.and_then(|n| {
                std::panic::catch_unwind(AssertUnwindSafe(|| {
                    decide_normalized(n, self.reactor, &overlay, d, now, &mut carried)
                }))
                .map_err(|p| panic_message(p.as_ref()))
            });
            // A panic while normalising or deciding quarantines the delivery with its message.
            let (op, completed) = decided.unwrap_or_else(|why| {
                let op = quarantine(d, format!("deciding actions panicked: {why}"), now);
                (op, false)
            });
            if completed {
                carried.values_mut().for_each(|s| s.commit());
                last_completed = Some(ops.len());
            } else {
                // States first read by the failed decision are dropped, the others put back.
                carried.retain(|repo, _| before.contains(repo));
                carried.values_mut().for_each(|s| s.rollback());
            }
            overlay.add(&op);
            ops.push(op);
            took.push(t.elapsed());
        }
        if let Some(WriteOp::Complete { meta, .. }) = last_completed.and_then(|i| ops.get_mut(i)) {
            meta.extend(carried_meta(&carried));
        }
        (ops, took)
    }
}

/// Drops the sticky-comment updates (actions enqueued with [`EnqueueMode::Replace`]) that a
/// later decision of the same batch replaces: only the latest content of each is enqueued, due
/// at the earliest time any of them was (as replacing a pending item would have left it).
/// Every other action is kept.
pub fn coalesce(ops: &mut [WriteOp]) {
    use std::collections::HashMap;
    // id -> (index of the op holding the latest, earliest due time)
    let mut latest: HashMap<String, (usize, DateTime<Utc>)> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let WriteOp::Complete { actions, .. } = op else {
            continue;
        };
        for a in actions.iter().filter(|a| a.mode == EnqueueMode::Replace) {
            let e = latest.entry(a.id.clone()).or_insert((i, a.due_at));
            *e = (i, e.1.min(a.due_at));
        }
    }
    for (i, op) in ops.iter_mut().enumerate() {
        let WriteOp::Complete { actions, .. } = op else {
            continue;
        };
        actions.retain_mut(|a| match (a.mode, latest.get(&a.id)) {
            (EnqueueMode::Replace, Some((last, due))) if *last == i => {
                a.due_at = *due;
                true
            }
            (EnqueueMode::Replace, Some(_)) => false,
            _ => true,
        });
    }
}
