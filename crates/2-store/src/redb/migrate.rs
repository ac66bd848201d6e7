//! Migrating a store written by an older Canopy to the current format, when it is opened.
//!
//! Format 1 (up to e89c70d) stored events as JSON with indexes by repository, actor, change
//! and commit. Format 2 adds the indexes the reactor reads by key — the change a commit is the
//! head of, the CI jobs by commit and by job, each change's summary — and stores events in
//! the compact form of [`crate::codec`]. The migration walks the events once, in chunks of
//! [`CHUNK`] per transaction, recording how far it got: an interrupted migration (a crash, a
//! full disk) resumes where it stopped at the next open, and the store says it is format 2
//! only once every event is done.

use redb::{Database, ReadableTable};

use super::events::{EVENTS, Indexes};
use super::{FORMAT_KEY, META, db_err};
use crate::codec::{decode_event, encode_event};
use crate::{STORE_FORMAT_VERSION, StoreError};

/// Formats this build migrates from.
pub(super) const FROM: [u32; 1] = [1];
/// Events per migration transaction.
const CHUNK: usize = 20_000;
/// Meta key of the last event migrated: (repository, time in ms, id) as JSON.
const CURSOR_KEY: &str = "migration_cursor";

type Key = (String, i64, String);

/// Migrates the store from format `from` to the current one.
pub(super) fn run(db: &Database, from: u32) -> Result<(), StoreError> {
    debug_assert!(FROM.contains(&from));
    loop {
        let txn = db.begin_write().map_err(db_err)?;
        let done = {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let cursor: Option<Key> = match meta.get(CURSOR_KEY).map_err(db_err)? {
                Some(v) => Some(crate::decode(v.value(), "migration cursor")?),
                None => None,
            };
            let last = migrate_chunk(&txn, cursor)?;
            match last {
                Some(k) => {
                    meta.insert(CURSOR_KEY, crate::encode(&k)?.as_slice())
                        .map_err(db_err)?;
                    false
                }
                None => {
                    meta.remove(CURSOR_KEY).map_err(db_err)?;
                    meta.insert(FORMAT_KEY, STORE_FORMAT_VERSION.to_le_bytes().as_slice())
                        .map_err(db_err)?;
                    true
                }
            }
        };
        txn.commit().map_err(db_err)?;
        if done {
            return Ok(());
        }
    }
}

/// Migrates up to [`CHUNK`] events after `cursor`; returns the last one migrated, or `None`
/// when there were none left.
fn migrate_chunk(
    txn: &redb::WriteTransaction,
    cursor: Option<Key>,
) -> Result<Option<Key>, StoreError> {
    let mut events = txn.open_table(EVENTS).map_err(db_err)?;
    let mut batch: Vec<(Key, Vec<u8>)> = Vec::with_capacity(CHUNK);
    {
        let range = match &cursor {
            Some((r, t, i)) => events
                .range::<(&str, i64, &str)>((r.as_str(), *t, i.as_str())..)
                .map_err(db_err)?,
            None => events.iter().map_err(db_err)?,
        };
        for entry in range {
            let (k, v) = entry.map_err(db_err)?;
            let (r, t, i) = k.value();
            if cursor
                .as_ref()
                .is_some_and(|(cr, ct, ci)| (cr.as_str(), *ct, ci.as_str()) == (r, t, i))
            {
                continue;
            }
            batch.push(((r.to_string(), t, i.to_string()), v.value().to_vec()));
            if batch.len() >= CHUNK {
                break;
            }
        }
    }
    let Some(last) = batch.last().map(|(k, _)| k.clone()) else {
        return Ok(None);
    };
    let mut indexes = Indexes::open(txn)?;
    let mut buf = Vec::with_capacity(4096);
    for ((r, t, i), bytes) in batch {
        let ev = decode_event(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("migrating event {i} of {r}: {e}")))?;
        indexes.add(&ev)?;
        buf.clear();
        encode_event(&ev, &mut buf)?;
        if buf != bytes {
            events
                .insert((r.as_str(), t, i.as_str()), buf.as_slice())
                .map_err(db_err)?;
        }
    }
    Ok(Some(last))
}
