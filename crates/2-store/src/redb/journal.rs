//! The intake journal of a redb store: new deliveries are appended to a file, a group per
//! commit with one `fdatasync`, and acknowledged once it returns; they reach the redb tables
//! later, many groups in one transaction (see [`super::intake`]). There are two files: while
//! the deliveries of one are folded into redb, new groups go to the other. Once a durable redb
//! commit holds every delivery a file names, writing starts again at its beginning under the
//! next generation number, so its blocks are reused and an append changes no metadata. After
//! a crash, opening the store replays the groups of each file's current generation that are
//! whole (their checksum holds): a torn tail is a group whose writer never acknowledged it.
//!
//! A group on disk: magic `CIJ1`, generation (u32), payload length (u32), CRC-32 of
//! generation, length and payload (u32), then the payload: records of platform (u8), queue
//! sequence (u64), receipt time (i64 seconds, u32 nanoseconds), id (u16 length + bytes), event
//! (u16 length + bytes), body (u32 length + bytes), all little-endian.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use canopy_core::{Delivery, Platform};
use chrono::{DateTime, Utc};

use crate::StoreError;

/// File names of the journal's two files inside the store directory: deliveries are appended
/// to one while the other's are folded into redb.
pub const JOURNAL_FILES: [&str; 2] = ["intake.0.journal", "intake.1.journal"];
/// Bytes in the file being appended to after which its deliveries are folded into redb (by
/// the store's folding thread) and appends move to the other file. Small enough that a fold's
/// bodies (held in memory until then) and its dirty pages fit redb's 32 MiB cache: with
/// 128 MiB a fold evicted and re-read pages, and intake cost about 6% more CPU per delivery
/// (docs/benchmarks.md, session 8).
pub(super) const FOLD_BYTES: u64 = 32 * 1024 * 1024;
const MAGIC: &[u8; 4] = b"CIJ1";
const HEADER: usize = 16;

/// A delivery with the queue position the journal gave it.
pub(super) type Journaled = (u64, Delivery);

/// One of the two files.
struct Segment {
    file: File,
    /// Where the next group goes.
    offset: u64,
    generation: u32,
    /// Deliveries appended here that redb does not have yet, in queue order.
    pending: Vec<Journaled>,
    /// Deliveries appended here are in redb, not all durably yet.
    light: bool,
}

impl Segment {
    /// Whether its groups may be overwritten: nothing in it is missing from redb durably.
    fn is_free(&self) -> bool {
        self.offset == 0
    }

    /// Writing starts again at the beginning, under the next generation number.
    fn reuse(&mut self) {
        if self.offset > 0 {
            self.offset = 0;
            self.generation = self.generation.wrapping_add(1);
        }
        self.light = false;
    }
}

/// The deliveries a fold writes to redb, taken from the journal until it is done.
pub(super) struct Taken {
    /// In queue order.
    pub(super) deliveries: Vec<Journaled>,
    from: [usize; 2],
}

/// The journal's files and the deliveries they hold that redb does not have yet.
pub(super) struct Journal {
    segments: [Segment; 2],
    active: usize,
    /// (platform, id) of every delivery not yet in redb (pending or being folded): the
    /// duplicate check before redb has them.
    ids: HashSet<(Platform, String)>,
    /// The last queue position given out.
    pub(super) last_seq: u64,
    /// When the last group was appended.
    pub(super) last_append: std::time::Instant,
    buf: Vec<u8>,
}

fn io_err(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Db(format!("intake journal: {what}: {e}"))
}

fn open_segment(dir: &Path, name: &str) -> Result<(Segment, Vec<Journaled>), StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(name))
        .map_err(|e| io_err("opening", e))?;
    let (generation, found) = read_groups(&file)?;
    let segment = Segment {
        file,
        offset: 0,
        // Whatever it holds is replayed now; new groups belong to the next generation.
        generation: generation.wrapping_add(1),
        pending: Vec::new(),
        light: false,
    };
    Ok((segment, found))
}

impl Journal {
    /// Opens (or creates) the journal's files in `dir` and reads the whole groups of their
    /// current generations: the deliveries to replay into redb, in queue order.
    pub(super) fn open(dir: &Path) -> Result<(Journal, Vec<Journaled>), StoreError> {
        let (a, mut found) = open_segment(dir, JOURNAL_FILES[0])?;
        let (b, more) = open_segment(dir, JOURNAL_FILES[1])?;
        found.extend(more);
        found.sort_by_key(|(seq, _)| *seq);
        let journal = Journal {
            segments: [a, b],
            active: 0,
            ids: HashSet::new(),
            last_seq: 0,
            last_append: std::time::Instant::now(),
            buf: Vec::new(),
        };
        Ok((journal, found))
    }

    /// Empties both files once what they held is durably in redb (after a replay): no group
    /// of an earlier life of a file can then be mistaken for one of the next generation.
    pub(super) fn clear_files(&mut self) -> Result<(), StoreError> {
        for s in &mut self.segments {
            s.file.set_len(0).map_err(|e| io_err("emptying", e))?;
            s.file.sync_all().map_err(|e| io_err("syncing", e))?;
            s.offset = 0;
        }
        Ok(())
    }

    /// Whether a delivery waits in the journal (not yet in redb).
    pub(super) fn holds(&self, platform: Platform, id: &str) -> bool {
        self.ids.contains(&(platform, id.to_string()))
    }

    /// Appends deliveries as one group to the active file and makes it durable; they wait
    /// to be folded.
    pub(super) fn append(&mut self, deliveries: Vec<Journaled>) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let segment = &mut self.segments[self.active];
        let written = write_group(
            &segment.file,
            segment.offset,
            segment.generation,
            &deliveries,
            &mut self.buf,
        )?;
        segment.file.sync_data().map_err(|e| io_err("syncing", e))?;
        segment.offset += written;
        for (seq, d) in deliveries {
            self.ids.insert((d.platform, d.id.clone()));
            self.last_seq = self.last_seq.max(seq);
            segment.pending.push((seq, d));
        }
        self.last_append = std::time::Instant::now();
        Ok(())
    }

    /// Bytes in the active file.
    pub(super) fn active_bytes(&self) -> u64 {
        self.segments[self.active].offset
    }

    /// Whether deliveries wait to be folded.
    pub(super) fn has_pending(&self) -> bool {
        self.segments.iter().any(|s| !s.pending.is_empty())
    }

    /// Whether deliveries were folded without a durable commit since their file was reused.
    pub(super) fn has_light(&self) -> bool {
        self.segments.iter().any(|s| s.light)
    }

    /// Takes the waiting deliveries for a fold. Before a durable one, appends move to the
    /// other file if it is free, so they go on while the fold runs.
    pub(super) fn take(&mut self, durable: bool) -> Taken {
        let mut from = [0; 2];
        let mut deliveries = Vec::new();
        for (i, s) in self.segments.iter_mut().enumerate() {
            from[i] = s.pending.len();
            deliveries.append(&mut s.pending);
        }
        deliveries.sort_by_key(|(seq, _)| *seq);
        let other = 1 - self.active;
        if durable && self.segments[self.active].offset > 0 && self.segments[other].is_free() {
            self.active = other;
        }
        Taken { deliveries, from }
    }

    /// Records the end of a fold: on success its deliveries are in redb (durably or not) and
    /// every file all of whose deliveries are now durably in redb is reused; on failure they
    /// wait again.
    pub(super) fn done(&mut self, taken: Taken, written: bool, durable: bool) {
        if !written {
            // They wait again, before what was appended meanwhile (listed under the active
            // file: the next fold takes them whichever file holds them, and no file is reused
            // before a durable fold has written everything taken).
            let s = &mut self.segments[self.active];
            let mut back = taken.deliveries;
            back.append(&mut s.pending);
            s.pending = back;
            return;
        }
        for (_, d) in &taken.deliveries {
            self.ids.remove(&(d.platform, d.id.clone()));
        }
        for (i, n) in taken.from.iter().enumerate() {
            if *n > 0 {
                self.segments[i].light = true;
            }
        }
        if durable {
            for s in &mut self.segments {
                if s.pending.is_empty() {
                    s.reuse();
                }
            }
        }
    }
}

/// Writes a group at `offset` of `file` and returns its size. The records' fixed fields are
/// encoded into `buf`; the header and the bodies are written from where they are (one vectored
/// write, no copy into a group buffer).
fn write_group(
    file: &File,
    offset: u64,
    generation: u32,
    deliveries: &[Journaled],
    buf: &mut Vec<u8>,
) -> Result<u64, StoreError> {
    buf.clear();
    // Where each record's fixed fields end in `buf` (its body follows them on disk).
    let mut ends = Vec::with_capacity(deliveries.len());
    let mut bodies = 0usize;
    for (seq, d) in deliveries {
        encode_fields(buf, *seq, d)?;
        ends.push(buf.len());
        bodies += d.body.len();
    }
    let len = u32::try_from(buf.len() + bodies)
        .map_err(|_| StoreError::Db("intake journal: a group over 4 GiB".into()))?;
    let mut header = [0u8; HEADER];
    header[..4].copy_from_slice(MAGIC);
    header[4..8].copy_from_slice(&generation.to_le_bytes());
    header[8..12].copy_from_slice(&len.to_le_bytes());
    // The slices in the order they are written, the header's first (filled in once the
    // checksum of generation, length and payload is known).
    let mut slices = Vec::with_capacity(1 + 2 * deliveries.len());
    slices.push(IoSlice::new(&[]));
    let mut from = 0;
    for ((_, d), end) in deliveries.iter().zip(&ends) {
        slices.push(IoSlice::new(&buf[from..*end]));
        slices.push(IoSlice::new(&d.body));
        from = *end;
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header[4..12]);
    for slice in &slices[1..] {
        crc.update(slice);
    }
    header[12..16].copy_from_slice(&crc.finalize().to_le_bytes());
    slices[0] = IoSlice::new(&header);
    write_all_vectored_at(file, offset, &mut slices)?;
    Ok(HEADER as u64 + u64::from(len))
}

/// Writes every slice, in order, from `offset` of `file`.
fn write_all_vectored_at(
    file: &File,
    offset: u64,
    slices: &mut [IoSlice<'_>],
) -> Result<(), StoreError> {
    let mut out = file;
    out.seek(SeekFrom::Start(offset))
        .map_err(|e| io_err("writing", e))?;
    let mut rest = slices;
    while rest.iter().any(|s| !s.is_empty()) {
        match out.write_vectored(rest) {
            Ok(0) => return Err(io_err("writing", std::io::ErrorKind::WriteZero.into())),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("writing", e)),
        }
    }
    Ok(())
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(payload);
    h.finalize()
}

fn put_str16(buf: &mut Vec<u8>, s: &str, what: &str) -> Result<(), StoreError> {
    let n = u16::try_from(s.len())
        .map_err(|_| StoreError::Db(format!("intake journal: {what} over 64 KiB")))?;
    buf.extend_from_slice(&n.to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
    Ok(())
}

/// A record's fields before its body, ending with the body's length.
fn encode_fields(buf: &mut Vec<u8>, seq: u64, d: &Delivery) -> Result<(), StoreError> {
    buf.push(platform_code(d.platform));
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&d.received_at.timestamp().to_le_bytes());
    buf.extend_from_slice(&d.received_at.timestamp_subsec_nanos().to_le_bytes());
    put_str16(buf, &d.id, "a delivery id")?;
    put_str16(buf, &d.event, "an event name")?;
    let n = u32::try_from(d.body.len())
        .map_err(|_| StoreError::Db("intake journal: a body over 4 GiB".into()))?;
    buf.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn platform_code(p: Platform) -> u8 {
    match p {
        Platform::Github => 0,
        Platform::Gerrit => 1,
        Platform::Git => 2,
    }
}

fn platform_of(code: u8) -> Option<Platform> {
    [Platform::Github, Platform::Gerrit, Platform::Git]
        .into_iter()
        .find(|p| platform_code(*p) == code)
}

/// Reads little-endian fields off a record; None past the end.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn text(&mut self, n: usize) -> Option<String> {
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

fn decode_record(c: &mut Cursor<'_>) -> Option<Journaled> {
    let platform = platform_of(c.take(1)?[0])?;
    let seq = c.u64()?;
    let secs = c.u64()? as i64;
    let nanos = c.u32()?;
    let received_at = DateTime::<Utc>::from_timestamp(secs, nanos)?;
    let id_len = c.u16()? as usize;
    let id = c.text(id_len)?;
    let event_len = c.u16()? as usize;
    let event = c.text(event_len)?;
    let body_len = c.u32()? as usize;
    let body = c.take(body_len)?.to_vec();
    let d = Delivery {
        platform,
        id,
        event,
        received_at,
        body,
    };
    Some((seq, d))
}

/// The generation of the group at the start of the file and the deliveries of every whole
/// group of that generation that follows it, up to the first that is not (the torn tail, or
/// an older generation's group).
fn read_groups(file: &File) -> Result<(u32, Vec<Journaled>), StoreError> {
    let len = file.metadata().map_err(|e| io_err("reading", e))?.len();
    let mut out = Vec::new();
    let (mut offset, mut generation) = (0u64, None);
    let mut header = [0u8; HEADER];
    while offset + HEADER as u64 <= len {
        file.read_exact_at(&mut header, offset)
            .map_err(|e| io_err("reading", e))?;
        let gen_here = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let size = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as u64;
        let crc = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        let whole = &header[..4] == MAGIC && offset + HEADER as u64 + size <= len;
        if !whole || generation.is_some_and(|g| g != gen_here) {
            break;
        }
        let mut payload = vec![0u8; size as usize];
        file.read_exact_at(&mut payload, offset + HEADER as u64)
            .map_err(|e| io_err("reading", e))?;
        if checksum(&header[4..12], &payload) != crc {
            break;
        }
        let mut c = Cursor(&payload);
        while !c.0.is_empty() {
            let Some(rec) = decode_record(&mut c) else {
                return Err(StoreError::Corrupt(format!(
                    "intake journal: a group at byte {offset} has a valid checksum but an unreadable record"
                )));
            };
            out.push(rec);
        }
        generation = Some(gen_here);
        offset += HEADER as u64 + size;
    }
    Ok((generation.unwrap_or(0), out))
}

#[cfg(test)]
mod tests;
