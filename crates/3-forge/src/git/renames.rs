//! Rename and copy detection as `git log` does it by default (`-M50%`, copies off,
//! `diff.renameLimit` 1000), delegated to gitoxide's rewrite tracker: exact renames first (same
//! blob), then, unless source × destination pairs exceed the limit squared, pairs whose content
//! is at least the threshold similar. A paired file is then counted as the line diff between its
//! old and new content, so a moved-and-edited file counts only its edited lines.

use gix::ObjectId;
use gix::diff::Rewrites;
use gix::diff::rewrites::tracker::{Change as TrackedChange, ChangeKind};
use gix::diff::rewrites::{Copies, CopySource, Tracker};
use gix::diff::tree::recorder::Change;
use gix::diff::tree::visit::Relation;
use gix::objs::tree::EntryMode;
use serde::{Deserialize, Serialize};

/// Git's default similarity threshold for renames, in percent (`-M` without a number).
pub const DEFAULT_RENAME_PERCENT: u8 = 50;
/// Git's default `diff.renameLimit`.
pub const DEFAULT_RENAME_LIMIT: usize = 1000;

/// How renamed and copied files are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renames {
    /// Minimum similarity of a rename in percent: 0 = no rename detection (every move is a
    /// deletion plus an addition), 100 = exact renames only, 50 = git's default.
    pub rename_percent: u8,
    /// Minimum similarity of a copy in percent; 0 = no copy detection (git's default). Copies
    /// are searched among the files the same commit modified, as `git log -C` does.
    pub copy_percent: u8,
    /// Similarity is not searched when sources × destinations exceed this number squared
    /// (git's `diff.renameLimit`); exact renames are still found. 0 = no limit.
    pub limit: usize,
}

impl Default for Renames {
    fn default() -> Self {
        Renames {
            rename_percent: DEFAULT_RENAME_PERCENT,
            copy_percent: 0,
            limit: DEFAULT_RENAME_LIMIT,
        }
    }
}

impl Renames {
    /// Exact renames only (`git log -M100%`), with no copy detection.
    pub fn exact() -> Renames {
        Renames {
            rename_percent: 100,
            ..Renames::default()
        }
    }

    /// No rename or copy detection at all (`git log --no-renames`).
    pub fn off() -> Renames {
        Renames {
            rename_percent: 0,
            copy_percent: 0,
            limit: DEFAULT_RENAME_LIMIT,
        }
    }

    /// Whether anything is detected at all.
    pub fn enabled(&self) -> bool {
        self.rename_percent > 0 || self.copy_percent > 0
    }

    /// The `git log` options that count lines the same way.
    pub fn git_args(&self) -> String {
        let mut args = if self.rename_percent == 0 {
            "--no-renames".to_string()
        } else {
            format!("--find-renames={}%", self.rename_percent)
        };
        if self.copy_percent > 0 {
            args.push_str(&format!(" --find-copies={}%", self.copy_percent));
        }
        args
    }

    /// gitoxide's tracker settings; `exact_only` drops similarity (used when blobs are missing).
    fn rewrites(&self, exact_only: bool) -> Rewrites {
        let fraction = |p: u8| {
            if exact_only || p >= 100 {
                None
            } else {
                Some(f32::from(p) / 100.0)
            }
        };
        Rewrites {
            copies: (self.copy_percent > 0).then(|| Copies {
                source: CopySource::FromSetOfModifiedFiles,
                percentage: fraction(self.copy_percent),
            }),
            percentage: fraction(self.rename_percent),
            limit: self.limit,
            // git log pairs empty files too (its `rename_empty` is on outside merges).
            track_empty: true,
        }
    }
}

/// What the tracker learned about one recorded change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Not part of a rename or copy.
    Alone,
    /// The new side of a rename from the record at this index.
    RenamedFrom(usize),
    /// A new file copied from the (modified) record at this index.
    CopiedFrom(usize),
    /// The old side of a rename: counted with its destination, not on its own.
    RenamedAway,
}

/// A recorded change as the tracker sees it: its blob, mode, kind and index in the records.
#[derive(Debug, Clone)]
struct Tracked {
    id: ObjectId,
    mode: EntryMode,
    kind: ChangeKind,
    record: usize,
}

impl TrackedChange for Tracked {
    fn id(&self) -> &gix::hash::oid {
        &self.id
    }
    fn relation(&self) -> Option<Relation> {
        None
    }
    fn kind(&self) -> ChangeKind {
        self.kind
    }
    fn entry_mode(&self) -> EntryMode {
        self.mode
    }
    fn id_and_entry_mode(&self) -> (&gix::hash::oid, EntryMode) {
        (&self.id, self.mode)
    }
}

/// The tracker's view of a record: file-like additions and deletions (and modifications when
/// copies are searched); trees are never paired, their files are.
fn tracked(i: usize, c: &Change) -> Option<Tracked> {
    let (id, mode, kind) = match c {
        Change::Addition {
            oid, entry_mode, ..
        } => (*oid, *entry_mode, ChangeKind::Addition),
        Change::Deletion {
            oid, entry_mode, ..
        } => (*oid, *entry_mode, ChangeKind::Deletion),
        // A copy starts from the modified file's old content, as in git.
        Change::Modification {
            previous_oid,
            previous_entry_mode,
            ..
        } => (
            *previous_oid,
            *previous_entry_mode,
            ChangeKind::Modification,
        ),
    };
    (!mode.is_tree()).then_some(Tracked {
        id,
        mode,
        kind,
        record: i,
    })
}

/// Pairs the records of one tree diff into renames and copies. Returns one [`Pairing`] per
/// record and whether similarity could be searched (`false` when a blob needed for it could not
/// be read: then only exact renames were paired).
pub fn pair(
    renames: &Renames,
    records: &[Change],
    cache: &mut gix::diff::blob::Platform,
    odb: &impl gix::objs::FindObjectOrHeader,
) -> (Vec<Pairing>, bool) {
    let mut out = vec![Pairing::Alone; records.len()];
    if !renames.enabled() || !worth_tracking(renames, records) {
        return (out, true);
    }
    for exact_only in [false, true] {
        match track(renames.rewrites(exact_only), records, cache, odb, &mut out) {
            Ok(()) => return (out, !exact_only),
            Err(e) => {
                tracing::debug!(error = %e, exact_only, "rename tracking failed");
                out.fill(Pairing::Alone);
            }
        }
    }
    (out, false)
}

/// Whether the tracker could find anything: an added file and a deleted one (or, with copies,
/// an added file and a modified one).
fn worth_tracking(renames: &Renames, records: &[Change]) -> bool {
    let mut added = false;
    let mut source = false;
    for c in records {
        match c {
            Change::Addition { entry_mode, .. } if !entry_mode.is_tree() => added = true,
            Change::Deletion { entry_mode, .. } if !entry_mode.is_tree() => source = true,
            Change::Modification { entry_mode, .. }
                if renames.copy_percent > 0 && !entry_mode.is_tree() =>
            {
                source = true
            }
            _ => {}
        }
        if added && source {
            return true;
        }
    }
    false
}

fn path_of(c: &Change) -> &gix::bstr::BString {
    match c {
        Change::Addition { path, .. }
        | Change::Deletion { path, .. }
        | Change::Modification { path, .. } => path,
    }
}

fn track(
    rewrites: Rewrites,
    records: &[Change],
    cache: &mut gix::diff::blob::Platform,
    odb: &impl gix::objs::FindObjectOrHeader,
    out: &mut [Pairing],
) -> Result<(), String> {
    let mut tracker: Tracker<Tracked> = Tracker::new(rewrites);
    for (i, c) in records.iter().enumerate() {
        if let Some(t) = tracked(i, c) {
            // A refused change (a modification without copy detection) is simply not paired.
            let _ = tracker.try_push_change(t, path_of(c).as_ref());
        }
    }
    let result = tracker.emit(
        |dest, source| {
            if let Some(src) = source {
                let (d, s) = (dest.change.record, src.change.record);
                match src.kind {
                    gix::diff::rewrites::tracker::visit::SourceKind::Rename => {
                        out[d] = Pairing::RenamedFrom(s);
                        out[s] = Pairing::RenamedAway;
                    }
                    gix::diff::rewrites::tracker::visit::SourceKind::Copy => {
                        out[d] = Pairing::CopiedFrom(s);
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        },
        cache,
        odb,
        |_push| Ok::<(), std::io::Error>(()),
    );
    cache.clear_resource_cache_keep_allocation();
    result.map(|_| ()).map_err(|e| e.to_string())
}
