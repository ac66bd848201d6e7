//! Per-file line counts of a commit against its first parent, as `git log --numstat` prints
//! them: git's Myers line diff, `-` for binary content, renamed and copied files (see
//! [`renames`]) counted as the diff between their old and new content. Missing objects (partial
//! clones, corruption) are counted, never fatal.

use canopy_analyzer::event::{FileChange, FileStatus};
use gix::ObjectId;
use gix::diff::tree::recorder::{Change, Location};
use gix::diff::tree::{Recorder, State};
use gix::objs::{FindObjectOrHeader, TreeRefIter};
use imara_diff::InternedInput;

use super::lcs;
use super::renames::{self, Pairing, Renames};

/// Bytes inspected for a NUL to decide that content is binary (git's own heuristic).
const BINARY_PROBE: usize = 8000;

/// Reusable buffers for computing numstats on one thread.
pub struct Numstat {
    renames: Renames,
    /// Blob cache of the rename tracker's similarity search (`None`: no rename detection).
    cache: Option<gix::diff::blob::Platform>,
    state: State,
    buf_a: Vec<u8>,
    buf_b: Vec<u8>,
    tree_a: Vec<u8>,
    tree_b: Vec<u8>,
}

/// The outcome for one commit.
#[derive(Debug, Default)]
pub struct CommitStat {
    /// Files with their counts.
    pub files: Vec<FileChange>,
    /// Objects that could not be read.
    pub unreadable: u32,
}

impl Numstat {
    /// Buffers for one thread; `cache` is the similarity search's blob cache (from
    /// [`similarity_cache`]), required for renames and copies to be detected.
    pub fn new(renames: Renames, cache: Option<gix::diff::blob::Platform>) -> Numstat {
        Numstat {
            renames,
            cache: cache.filter(|_| renames.enabled()),
            state: State::default(),
            buf_a: Vec::new(),
            buf_b: Vec::new(),
            tree_a: Vec::new(),
            tree_b: Vec::new(),
        }
    }

    /// Diffs tree `new` against tree `old` (`None` = the empty tree, for root commits).
    pub fn diff_trees(
        &mut self,
        odb: &impl FindObjectOrHeader,
        old: Option<ObjectId>,
        new: ObjectId,
    ) -> CommitStat {
        let mut out = CommitStat::default();
        let kind = new.kind();
        // Load both root trees; a missing root tree makes the commit unreadable.
        let old_ok = match old {
            Some(id) => matches!(odb.try_find(&id, &mut self.tree_a), Ok(Some(_))),
            None => {
                self.tree_a.clear();
                true
            }
        };
        let new_ok = matches!(odb.try_find(&new, &mut self.tree_b), Ok(Some(_)));
        if !old_ok || !new_ok {
            out.unreadable = u32::from(!old_ok) + u32::from(!new_ok);
            return out;
        }
        let mut rec = Recorder::default().track_location(Some(Location::Path));
        let diff = gix::diff::tree(
            TreeRefIter::from_bytes(&self.tree_a, kind),
            TreeRefIter::from_bytes(&self.tree_b, kind),
            &mut self.state,
            odb,
            &mut rec,
        );
        if diff.is_err() {
            // A subtree is missing (tree-filtered partial clone): keep what was recorded.
            out.unreadable += 1;
        }
        self.count_changes(odb, rec.records, &mut out);
        out
    }

    fn count_changes(
        &mut self,
        odb: &impl FindObjectOrHeader,
        records: Vec<Change>,
        out: &mut CommitStat,
    ) {
        let pairing = match self.cache.as_mut() {
            Some(cache) => renames::pair(&self.renames, &records, cache, odb).0,
            None => vec![Pairing::Alone; records.len()],
        };
        let mut files = Vec::with_capacity(records.len());
        for (i, c) in records.iter().enumerate() {
            let fc = match pairing[i] {
                Pairing::RenamedAway => continue,
                Pairing::RenamedFrom(s) | Pairing::CopiedFrom(s) => {
                    let (from, from_id) = preimage(&records[s]);
                    let Change::Addition { oid, path, .. } = c else {
                        continue;
                    };
                    let mut fc = if from_id == *oid {
                        text(path.to_string(), 0, 0)
                    } else {
                        self.modification(odb, from_id, *oid, path.to_string(), out)
                    };
                    if matches!(pairing[i], Pairing::RenamedFrom(_)) {
                        fc.renamed_from = Some(from);
                    } else {
                        fc.copied_from = Some(from);
                    }
                    fc
                }
                Pairing::Alone => match self.alone(odb, c, out) {
                    Some(fc) => fc,
                    None => continue,
                },
            };
            files.push(fc);
        }
        out.files = files;
    }

    /// Counts a change that is not part of a rename or copy; `None` for trees.
    fn alone(
        &mut self,
        odb: &impl FindObjectOrHeader,
        c: &Change,
        out: &mut CommitStat,
    ) -> Option<FileChange> {
        Some(match c {
            Change::Addition {
                entry_mode,
                oid,
                path,
                ..
            }
            | Change::Deletion {
                entry_mode,
                oid,
                path,
                ..
            } => {
                if entry_mode.is_tree() {
                    return None;
                }
                let added = matches!(c, Change::Addition { .. });
                if entry_mode.is_commit() {
                    // A submodule's commit counts as one changed line, as git log --numstat does.
                    let (plus, minus) = if added { (1, 0) } else { (0, 1) };
                    text(path.to_string(), plus, minus)
                } else {
                    self.one_side(odb, *oid, path.to_string(), added, out)
                }
            }
            Change::Modification {
                previous_entry_mode,
                previous_oid,
                entry_mode,
                oid,
                path,
            } => {
                if entry_mode.is_tree() || previous_entry_mode.is_tree() {
                    return None;
                }
                let path = path.to_string();
                if previous_oid == oid {
                    text(path, 0, 0)
                } else if entry_mode.is_commit() || previous_entry_mode.is_commit() {
                    text(path, 1, 1)
                } else {
                    self.modification(odb, *previous_oid, *oid, path, out)
                }
            }
        })
    }

    fn one_side(
        &mut self,
        odb: &impl FindObjectOrHeader,
        id: ObjectId,
        path: String,
        added: bool,
        out: &mut CommitStat,
    ) -> FileChange {
        match odb.try_find(&id, &mut self.buf_a) {
            Ok(Some(_)) => {
                if is_binary(&self.buf_a) {
                    return status(path, FileStatus::Binary);
                }
                let n = count_lines(&self.buf_a);
                if added {
                    text(path, n, 0)
                } else {
                    text(path, 0, n)
                }
            }
            _ => {
                out.unreadable += 1;
                status(path, FileStatus::Unreadable)
            }
        }
    }

    fn modification(
        &mut self,
        odb: &impl FindObjectOrHeader,
        old: ObjectId,
        new: ObjectId,
        path: String,
        out: &mut CommitStat,
    ) -> FileChange {
        let a = matches!(odb.try_find(&old, &mut self.buf_a), Ok(Some(_)));
        let b = matches!(odb.try_find(&new, &mut self.buf_b), Ok(Some(_)));
        if !a || !b {
            out.unreadable += u32::from(!a) + u32::from(!b);
            return status(path, FileStatus::Unreadable);
        }
        if is_binary(&self.buf_a) || is_binary(&self.buf_b) {
            return status(path, FileStatus::Binary);
        }
        let (added, deleted) = line_diff(&self.buf_a, &self.buf_b);
        text(path, added, deleted)
    }
}

/// Lines added and removed between two texts, as git's diff counts them (see [`lcs`]).
fn line_diff(a: &[u8], b: &[u8]) -> (u32, u32) {
    // Fast paths that git also takes: identical content, or one side empty.
    if a == b {
        return (0, 0);
    }
    if a.is_empty() || b.is_empty() {
        return (count_lines(b), count_lines(a));
    }
    let input = InternedInput::new(
        imara_diff::sources::byte_lines(a),
        imara_diff::sources::byte_lines(b),
    );
    let (added, deleted) =
        lcs::git_counts(&input.before, &input.after, input.interner.num_tokens());
    (added as u32, deleted as u32)
}

/// Lines in a text: newlines, plus one for a last line without a newline.
pub fn count_lines(data: &[u8]) -> u32 {
    let n = memchr_count(data);
    let tail = u32::from(!data.is_empty() && data.last() != Some(&b'\n'));
    n + tail
}

fn memchr_count(data: &[u8]) -> u32 {
    data.iter().filter(|b| **b == b'\n').count() as u32
}

/// Git's heuristic: a NUL byte in the first 8000 bytes means binary.
pub fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(BINARY_PROBE)].contains(&0)
}

/// The blob cache the rename tracker compares contents with: blobs as stored in git, no
/// worktree, no text conversion.
pub fn similarity_cache(repo: &gix::Repository) -> Option<gix::diff::blob::Platform> {
    match repo.diff_resource_cache(
        gix::diff::blob::pipeline::Mode::ToGit,
        gix::diff::blob::pipeline::WorktreeRoots::default(),
    ) {
        Ok(cache) => Some(cache),
        Err(e) => {
            tracing::warn!(error = %e, "no similarity cache: only exact renames are detected");
            None
        }
    }
}

/// Path and blob a rename or copy starts from: a deleted file, or a modified file's old content.
fn preimage(c: &Change) -> (String, ObjectId) {
    match c {
        Change::Deletion { path, oid, .. } | Change::Addition { path, oid, .. } => {
            (path.to_string(), *oid)
        }
        Change::Modification {
            path, previous_oid, ..
        } => (path.to_string(), *previous_oid),
    }
}

fn text(path: String, added: u32, deleted: u32) -> FileChange {
    FileChange {
        path,
        added,
        deleted,
        ..FileChange::default()
    }
}

fn status(path: String, status: FileStatus) -> FileChange {
    FileChange {
        path,
        status,
        ..FileChange::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_like_git() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\n"), 1);
        assert_eq!(count_lines(b"a\nb"), 2);
        assert!(is_binary(b"PNG\0data"));
        assert!(!is_binary(b"plain text"));
    }

    #[test]
    fn line_diff_counts_changed_lines() {
        assert_eq!(line_diff(b"a\nb\nc\n", b"a\nB\nc\nd\n"), (2, 1));
        assert_eq!(line_diff(b"a\n", b"a"), (1, 1));
        assert_eq!(line_diff(b"x\n", b"x\n"), (0, 0));
        assert_eq!(line_diff(b"", b"1\n2\n"), (2, 0));
    }
}
