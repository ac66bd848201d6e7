//! How a durable redb store takes new deliveries through its intake journal
//! ([`super::journal`]): a group of receipts only is deduplicated, appended to the journal and
//! made durable with one `fdatasync`, no redb transaction. The journal's deliveries are folded
//! into redb's tables off that path: by the store's folding thread (durably, when the file in
//! use is full or intake has paused), before anything reads the inbox (a light commit: the
//! journal still holds them), and with the next batch that writes anything else (one durable
//! commit for both). Opening the store replays what the journal holds that redb does not.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use canopy_core::{Delivery, Platform, WriteOp, WriteOutcome};
use redb::{Database, Durability};

use super::journal::{FOLD_BYTES, Journal, Journaled};
use super::{RedbStore, db_err, inbox};
use crate::StoreError;

/// How long intake must pause before the folding thread folds what waits.
const IDLE: Duration = Duration::from_millis(200);
/// How often the folding thread looks.
const TICK: Duration = Duration::from_millis(20);

/// The journal of a durable store, shared with its folding thread.
pub(super) struct Intake {
    journal: Mutex<Journal>,
    /// Held by a fold from taking the journal's deliveries to recording them written.
    folding: Mutex<()>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, StoreError> {
    m.lock()
        .map_err(|_| StoreError::Db("the intake journal is poisoned".into()))
}

/// One redb transaction: the journal's waiting deliveries, then `ops`. With `ops`, the
/// journal stays locked throughout (no receipt is given a queue position meanwhile).
fn fold(
    db: &Database,
    intake: &Intake,
    ops: Vec<WriteOp>,
    durability: Durability,
) -> Result<Vec<WriteOutcome>, StoreError> {
    let _folding = lock(&intake.folding)?;
    fold_holding(db, intake, ops, durability)
}

/// [`fold`], the folding lock already held.
fn fold_holding(
    db: &Database,
    intake: &Intake,
    ops: Vec<WriteOp>,
    durability: Durability,
) -> Result<Vec<WriteOutcome>, StoreError> {
    let durable = matches!(durability, Durability::Immediate);
    let t = std::time::Instant::now();
    let mut journal = lock(&intake.journal)?;
    let (taken, after) = (journal.take(durable), journal.last_seq);
    let n_ops = ops.len();
    let guard = if ops.is_empty() {
        drop(journal);
        None
    } else {
        Some(journal)
    };
    let written = db.begin_write().map_err(db_err).and_then(|mut txn| {
        txn.set_durability(durability)
            .map_err(|e| StoreError::Db(e.to_string()))?;
        inbox::apply_writes(txn, ops, &taken.deliveries, after)
    });
    let mut journal = match guard {
        Some(j) => j,
        None => lock(&intake.journal)?,
    };
    tracing::debug!(
        folded = taken.deliveries.len(),
        ops = n_ops,
        durable,
        took_us = t.elapsed().as_micros() as u64,
        "fold"
    );
    match written {
        Ok((outcomes, last)) => {
            journal.last_seq = journal.last_seq.max(last);
            journal.done(taken, true, durable);
            Ok(outcomes)
        }
        Err(e) => {
            journal.done(taken, false, durable);
            Err(e)
        }
    }
}

/// The folding thread: folds durably when the file in use is full or intake has paused.
fn run_folder(db: Arc<Database>, intake: Arc<Intake>) {
    while !intake.stop.load(Ordering::SeqCst) {
        std::thread::park_timeout(TICK);
        let due = match intake.journal.lock() {
            Ok(j) => {
                j.active_bytes() >= FOLD_BYTES
                    || (j.has_pending() || j.has_light()) && j.last_append.elapsed() >= IDLE
            }
            Err(_) => return,
        };
        if due && let Err(e) = fold(&db, &intake, Vec::new(), Durability::Immediate) {
            tracing::warn!(error = %e, "folding the intake journal into the store failed");
            std::thread::sleep(IDLE);
        }
    }
}

impl RedbStore {
    /// Applies a batch: receipts alone go to the journal, anything else to one redb
    /// transaction (with whatever the journal holds, folded first).
    pub(super) fn apply_batch(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteOutcome>, StoreError> {
        let Some(intake) = &self.intake else {
            let txn = self.begin_write()?;
            return Ok(inbox::apply_writes(txn, ops, &[], 0)?.0);
        };
        if !ops.is_empty() && ops.iter().all(|op| matches!(op, WriteOp::Receive(_))) {
            return self.journal_receipts(intake, ops);
        }
        fold(&self.db, intake, ops, self.durability)
    }

    /// Folds the journal's waiting deliveries into redb (not durably: the journal keeps them
    /// until a durable commit), so a read of the inbox sees every acknowledged delivery.
    pub(super) fn settle(&self) -> Result<(), StoreError> {
        let Some(intake) = &self.intake else {
            return Ok(());
        };
        // A fold under way has taken deliveries it has not committed yet: wait for it.
        let _folding = lock(&intake.folding)?;
        if lock(&intake.journal)?.has_pending() {
            fold_holding(&self.db, intake, Vec::new(), Durability::None)?;
        }
        Ok(())
    }

    /// Deduplicates receipts (against redb, the journal and each other) and appends the new
    /// ones to the journal as one durable group.
    fn journal_receipts(
        &self,
        intake: &Intake,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let deliveries: Vec<Delivery> = ops
            .into_iter()
            .filter_map(|op| match op {
                WriteOp::Receive(d) => Some(d),
                _ => None,
            })
            .collect();
        let keys: Vec<(&str, &str)> = deliveries
            .iter()
            .map(|d| (d.platform.as_str(), d.id.as_str()))
            .collect();
        // Locked before redb is read: a fold records its deliveries as in redb only after
        // committing them, so each is either still in the journal or already readable.
        let mut journal = lock(&intake.journal)?;
        let known = inbox::known(&self.db, &keys)?;
        let mut outcomes = Vec::with_capacity(deliveries.len());
        let mut fresh: Vec<Journaled> = Vec::with_capacity(deliveries.len());
        let mut seen: HashSet<(Platform, String)> = HashSet::new();
        let mut seq = journal.last_seq;
        for (d, known) in deliveries.into_iter().zip(known) {
            if known || journal.holds(d.platform, &d.id) || !seen.insert((d.platform, d.id.clone()))
            {
                outcomes.push(WriteOutcome::Duplicate);
                continue;
            }
            seq += 1;
            outcomes.push(WriteOutcome::Received { seq });
            fresh.push((seq, d));
        }
        journal.append(fresh)?;
        Ok(outcomes)
    }

    /// Opens the journal of a durable store, replays into redb, durably, what it holds that
    /// redb does not (the files then start empty), and starts the folding thread.
    pub(super) fn open_journal(&mut self) -> Result<(), StoreError> {
        let (mut journal, found) = Journal::open(&self.path)?;
        let mut txn = self.db.begin_write().map_err(db_err)?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| StoreError::Db(e.to_string()))?;
        let (_, last) = inbox::apply_writes(txn, Vec::new(), &found, 0)?;
        if !found.is_empty() {
            tracing::info!(
                deliveries = found.len(),
                "replayed the intake journal into the store"
            );
        }
        journal.last_seq = last;
        journal.clear_files()?;
        let intake = Arc::new(Intake {
            journal: Mutex::new(journal),
            folding: Mutex::new(()),
            stop: AtomicBool::new(false),
        });
        let (db, shared) = (self.db.clone(), intake.clone());
        let folder = std::thread::Builder::new()
            .name("canopy-intake-fold".into())
            .spawn(move || run_folder(db, shared))
            .map_err(|e| StoreError::Db(format!("cannot start the intake folding thread: {e}")))?;
        self.intake = Some(intake);
        self.folder = Some(folder);
        Ok(())
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        let Some(intake) = self.intake.take() else {
            return;
        };
        intake.stop.store(true, Ordering::SeqCst);
        if let Some(folder) = self.folder.take() {
            folder.thread().unpark();
            let _ = folder.join();
        }
        let waiting = intake
            .journal
            .lock()
            .map(|j| j.has_pending() || j.has_light())
            .unwrap_or(false);
        if waiting && let Err(e) = fold(&self.db, &intake, Vec::new(), Durability::Immediate) {
            tracing::warn!(error = %e, "folding the intake journal when closing the store failed");
        }
    }
}
