//! Delivery bodies on redb, stored once and compressed (LZ4 block format, the uncompressed
//! length first): a webhook payload is JSON full of repeated URLs and keys and shrinks about
//! five-fold, so a group commit writes and flushes a fifth of the bytes. Bodies written before
//! compression stay in their own table and are read from there.

use redb::{Table, TableDefinition, WriteTransaction};

use super::db_err;
use crate::StoreError;

/// Bodies written before they were compressed, by (platform, delivery id): read, never written.
const PLAIN: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("delivery_bodies");
/// Compressed bodies, by (platform, delivery id).
const PACKED: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("delivery_bodies_lz4");

/// Creates both body tables.
pub(super) fn init_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(PLAIN).map_err(db_err)?;
    txn.open_table(PACKED).map_err(db_err)?;
    Ok(())
}

/// The compressed body table, open for writing.
pub(super) type Writer<'t> = Table<'t, (&'static str, &'static str), &'static [u8]>;

/// The compressed body table, open for writing in `txn`.
pub(super) fn writer(txn: &WriteTransaction) -> Result<Writer<'_>, StoreError> {
    txn.open_table(PACKED).map_err(db_err)
}

/// Compresses bodies, reusing its hash table and output buffer from one body to the next (a
/// group commit stores many).
#[derive(Default)]
pub(super) struct Packer {
    table: lz4_flex::block::CompressTable,
    out: Vec<u8>,
}

impl Packer {
    /// Stores a body under its key, compressed: its length (4 bytes, little-endian), then the
    /// LZ4 block.
    pub(super) fn put(
        &mut self,
        table: &mut Writer<'_>,
        key: (&str, &str),
        body: &[u8],
    ) -> Result<(), StoreError> {
        let len = u32::try_from(body.len())
            .map_err(|_| StoreError::Db(format!("body of delivery {key:?} is over 4 GiB")))?;
        let need = 4 + lz4_flex::block::get_maximum_output_size(body.len());
        if self.out.len() < need {
            self.out.resize(need, 0);
        }
        self.out[..4].copy_from_slice(&len.to_le_bytes());
        let n =
            lz4_flex::block::compress_into_with_table(body, &mut self.out[4..], &mut self.table)
                .map_err(|e| StoreError::Db(format!("compressing the body of {key:?}: {e}")))?;
        table.insert(key, &self.out[..4 + n]).map_err(db_err)?;
        Ok(())
    }
}

/// The body tables of a read transaction.
pub(super) struct Reader {
    packed: redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    plain: redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
}

impl Reader {
    /// Opens both tables in `txn`.
    pub(super) fn open(txn: &redb::ReadTransaction) -> Result<Reader, StoreError> {
        Ok(Reader {
            packed: txn.open_table(PACKED).map_err(db_err)?,
            plain: txn.open_table(PLAIN).map_err(db_err)?,
        })
    }

    /// The body stored under (platform, id), decompressed; None if there is none.
    pub(super) fn get(&self, platform: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.packed.get((platform, id)).map_err(db_err)? {
            return unpack(v.value()).map(Some).map_err(|e| {
                StoreError::Corrupt(format!("body of delivery {platform}/{id}: {e}"))
            });
        }
        Ok(self
            .plain
            .get((platform, id))
            .map_err(db_err)?
            .map(|v| v.value().to_vec()))
    }
}

/// Largest body a stored length may claim (bodies are refused beyond 25 MiB at intake), so a
/// damaged length cannot make a read allocate gigabytes.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A stored compressed body, decompressed (an error if it is not a valid one).
fn unpack(packed: &[u8]) -> Result<Vec<u8>, String> {
    let (len, data) = lz4_flex::block::uncompressed_size(packed).map_err(|e| e.to_string())?;
    if len > MAX_BODY {
        return Err(format!("claims {len} bytes"));
    }
    lz4_flex::block::decompress(data, len).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableDatabase;

    #[test]
    fn a_packed_body_comes_back_as_it_went_in_and_a_damaged_one_is_an_error() {
        let body = br#"{"url":"https://api.github.com/repos/o/r/pulls/1","html_url":"https://github.com/o/r/pull/1"}"#.repeat(20);
        let packed = lz4_flex::block::compress_prepend_size(&body);
        assert!(
            packed.len() * 4 < body.len(),
            "{} of {}",
            packed.len(),
            body.len()
        );
        assert_eq!(unpack(&packed).unwrap(), body);
        assert_eq!(
            unpack(&lz4_flex::block::compress_prepend_size(b"")).unwrap(),
            b""
        );
        // Claims a bigger body than the data holds.
        let mut damaged = packed.clone();
        damaged.truncate(packed.len() / 2);
        assert!(unpack(&damaged).is_err());
        let mut huge = packed;
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(unpack(&huge).is_err());
    }

    #[test]
    fn bodies_written_before_compression_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("b.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        init_tables(&txn).unwrap();
        txn.open_table(PLAIN)
            .unwrap()
            .insert(("github", "old"), b"old body".as_slice())
            .unwrap();
        let mut packer = Packer::default();
        let mut w = writer(&txn).unwrap();
        packer.put(&mut w, ("github", "new"), b"new body").unwrap();
        let big = b"0123456789abcdef".repeat(5000);
        packer.put(&mut w, ("github", "big"), &big).unwrap();
        packer.put(&mut w, ("github", "small"), b"x").unwrap();
        drop(w);
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        let bodies = Reader::open(&read).unwrap();
        assert_eq!(bodies.get("github", "old").unwrap().unwrap(), b"old body");
        assert_eq!(bodies.get("github", "new").unwrap().unwrap(), b"new body");
        assert_eq!(bodies.get("github", "big").unwrap().unwrap(), big);
        assert_eq!(bodies.get("github", "small").unwrap().unwrap(), b"x");
        assert_eq!(bodies.get("github", "none").unwrap(), None);
    }
}
