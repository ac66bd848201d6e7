//! Git objects of the generated repositories: blobs with unique lines, trees and commits named
//! exactly as git names them (SHA-1 of the object), and the `git fast-import` stream that
//! rebuilds the same repository, so webhook payloads and the git history agree on every id.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::sha1;

/// Length past which a file's edits delete at least as many lines as they add.
const MAX_LINES: usize = 240;

/// A file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Git object id.
    pub id: String,
    /// Lines (without newline characters).
    pub lines: Vec<String>,
}

impl Blob {
    /// A blob of `lines`, each ended by a newline.
    pub fn new(lines: Vec<String>) -> Blob {
        let data = Blob::bytes_of(&lines);
        let mut obj = format!("blob {}\0", data.len()).into_bytes();
        obj.extend_from_slice(&data);
        Blob {
            id: sha1::hex(&sha1::digest(&obj)),
            lines,
        }
    }

    fn bytes_of(lines: &[String]) -> Vec<u8> {
        let mut data = Vec::new();
        for l in lines {
            data.extend_from_slice(l.as_bytes());
            data.push(b'\n');
        }
        data
    }

    /// The file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        Blob::bytes_of(&self.lines)
    }
}

/// A whole tree: path → blob.
pub type Tree = BTreeMap<String, Arc<Blob>>;

enum Node<'a> {
    File(&'a Blob),
    Dir(Vec<(&'a str, &'a Blob)>),
}

/// The git object id of a tree (recursively, with git's entry order: a directory sorts as if
/// its name ended with `/`).
pub fn tree_id(tree: &Tree) -> String {
    let entries: Vec<(&str, &Blob)> = tree.iter().map(|(p, b)| (p.as_str(), b.as_ref())).collect();
    sha1::hex(&subtree_digest(&entries))
}

fn subtree_digest(entries: &[(&str, &Blob)]) -> [u8; 20] {
    let mut nodes: BTreeMap<&str, Node<'_>> = BTreeMap::new();
    for (path, blob) in entries {
        match path.split_once('/') {
            None => {
                nodes.insert(path, Node::File(blob));
            }
            Some((dir, rest)) => {
                if let Node::Dir(v) = nodes.entry(dir).or_insert_with(|| Node::Dir(Vec::new())) {
                    v.push((rest, blob));
                }
            }
        }
    }
    let mut sorted: Vec<(String, &str, [u8; 20])> = nodes
        .iter()
        .map(|(name, node)| match node {
            Node::File(b) => (name.to_string(), "100644", raw_id(&b.id)),
            Node::Dir(v) => (format!("{name}/"), "40000", subtree_digest(v)),
        })
        .collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut body = Vec::new();
    for (key, mode, id) in &sorted {
        body.extend_from_slice(mode.as_bytes());
        body.push(b' ');
        body.extend_from_slice(key.trim_end_matches('/').as_bytes());
        body.push(0);
        body.extend_from_slice(id);
    }
    let mut obj = format!("tree {}\0", body.len()).into_bytes();
    obj.extend_from_slice(&body);
    sha1::digest(&obj)
}

fn raw_id(hex: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(i * 2..i * 2 + 2).unwrap_or("00"), 16).unwrap_or(0);
    }
    out
}

/// An author or committer line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Time with the person's UTC offset.
    pub at: DateTime<FixedOffset>,
}

impl Ident {
    /// `Name <email> <seconds> <+hhmm>`, as in commit objects and fast-import.
    pub fn raw(&self) -> String {
        let off = self.at.offset().local_minus_utc();
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.abs() / 60;
        format!(
            "{} <{}> {} {sign}{:02}{:02}",
            self.name,
            self.email,
            self.at.timestamp(),
            a / 60,
            a % 60
        )
    }
}

/// Lines added and deleted in one file by a commit (against its first parent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// Path.
    pub path: String,
    /// Lines added.
    pub added: u32,
    /// Lines deleted.
    pub deleted: u32,
}

/// One commit of a generated repository.
#[derive(Debug, Clone)]
pub struct Commit {
    /// Object id.
    pub sha: String,
    /// Tree id.
    pub tree_id: String,
    /// Parent commits (indices into the repository's commits).
    pub parents: Vec<usize>,
    /// Author.
    pub author: Ident,
    /// Committer.
    pub committer: Ident,
    /// Full message, ending with a newline.
    pub message: String,
    /// Line statistics against the first parent (empty for merges).
    pub stats: Vec<FileStat>,
    /// The ref fast-import puts it on.
    pub refname: String,
    /// The whole tree.
    pub tree: Tree,
}

/// The commits of one repository, parents before children.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Commits in creation order.
    pub commits: Vec<Commit>,
    /// Counter that makes every generated line unique.
    pub lines_made: u64,
}

/// A change to one file: delete `del` lines at a random place, insert `add` new ones there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Path.
    pub path: String,
    /// Lines to add.
    pub add: u32,
    /// Lines to delete (fewer when the file is shorter).
    pub del: u32,
}

impl History {
    /// Adds a commit by `(author, committer)` and returns its index.
    pub fn commit(
        &mut self,
        parents: Vec<usize>,
        tree: Tree,
        (author, committer): (Ident, Ident),
        message: String,
        stats: Vec<FileStat>,
        refname: &str,
    ) -> usize {
        let tid = tree_id(&tree);
        let mut obj = format!("tree {tid}\n");
        for p in &parents {
            obj.push_str(&format!("parent {}\n", self.commits[*p].sha));
        }
        obj.push_str(&format!(
            "author {}\ncommitter {}\n\n{message}",
            author.raw(),
            committer.raw()
        ));
        let mut bytes = format!("commit {}\0", obj.len()).into_bytes();
        bytes.extend_from_slice(obj.as_bytes());
        self.commits.push(Commit {
            sha: sha1::hex(&sha1::digest(&bytes)),
            tree_id: tid,
            parents,
            author,
            committer,
            message,
            stats,
            refname: refname.to_string(),
            tree,
        });
        self.commits.len() - 1
    }

    /// `tree` with `edits` applied, and the line statistics of the change.
    pub fn apply(
        &mut self,
        tree: &Tree,
        edits: &[Edit],
        rng: &mut ChaCha8Rng,
    ) -> (Tree, Vec<FileStat>) {
        let mut out = tree.clone();
        let mut stats = Vec::new();
        for e in edits {
            let mut lines = out
                .get(&e.path)
                .map(|b| b.lines.clone())
                .unwrap_or_default();
            // Files stay a few hundred lines long: past that, changes rewrite as much as they add.
            let want = if lines.len() > MAX_LINES {
                e.del.max(e.add)
            } else {
                e.del
            };
            let del = (want as usize).min(lines.len());
            let at = if lines.len() > del {
                rng.random_range(0..=lines.len() - del)
            } else {
                0
            };
            lines.drain(at..at + del);
            let new: Vec<String> = (0..e.add)
                .map(|_| {
                    self.lines_made += 1;
                    crate::text::code_line(&e.path, self.lines_made, rng)
                })
                .collect();
            lines.splice(at..at, new);
            if del == 0 && e.add == 0 {
                continue;
            }
            out.insert(e.path.clone(), Arc::new(Blob::new(lines)));
            stats.push(FileStat {
                path: e.path.clone(),
                added: e.add,
                deleted: del as u32,
            });
        }
        (out, stats)
    }

    /// The `git fast-import` stream that recreates every commit (with the same ids) and its ref.
    pub fn fast_import(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, c) in self.commits.iter().enumerate() {
            out.extend_from_slice(format!("commit {}\nmark :{}\n", c.refname, i + 1).as_bytes());
            out.extend_from_slice(
                format!(
                    "author {}\ncommitter {}\n",
                    c.author.raw(),
                    c.committer.raw()
                )
                .as_bytes(),
            );
            data(&mut out, c.message.as_bytes());
            let base = c.parents.first().map(|p| &self.commits[*p].tree);
            if let Some(p) = c.parents.first() {
                out.extend_from_slice(format!("from :{}\n", p + 1).as_bytes());
            }
            for p in c.parents.iter().skip(1) {
                out.extend_from_slice(format!("merge :{}\n", p + 1).as_bytes());
            }
            for (path, blob) in &c.tree {
                if base
                    .and_then(|b| b.get(path))
                    .is_some_and(|old| old.id == blob.id)
                {
                    continue;
                }
                out.extend_from_slice(format!("M 100644 inline {path}\n").as_bytes());
                data(&mut out, &blob.bytes());
            }
            for path in base.into_iter().flat_map(|b| b.keys()) {
                if !c.tree.contains_key(path) {
                    out.extend_from_slice(format!("D {path}\n").as_bytes());
                }
            }
            out.push(b'\n');
        }
        out
    }
}

fn data(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ident(t: &str) -> Ident {
        Ident {
            name: "A U Thor".into(),
            email: "author@example.com".into(),
            at: DateTime::parse_from_rfc3339(t).unwrap(),
        }
    }

    #[test]
    fn ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            Blob::new(vec!["hello".into()]).id,
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        // A tree with one file, as `git mktree` makes it.
        let mut t = Tree::new();
        t.insert(
            "hello.txt".into(),
            Arc::new(Blob::new(vec!["hello".into()])),
        );
        assert_eq!(tree_id(&t), "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7");
        // A subdirectory sorts as `a/` after `a.txt` ('.' < '/').
        let mut t2 = Tree::new();
        t2.insert("a/b.txt".into(), Arc::new(Blob::new(vec!["hello".into()])));
        t2.insert("a.txt".into(), Arc::new(Blob::new(vec!["hello".into()])));
        let mut h = History::default();
        let c = h.commit(
            vec![],
            t,
            (
                ident("2005-04-07T22:13:13+02:00"),
                ident("2005-04-07T22:13:13+02:00"),
            ),
            "x\n".into(),
            vec![],
            "refs/heads/main",
        );
        assert_eq!(
            h.commits[c].author.raw(),
            "A U Thor <author@example.com> 1112904793 +0200"
        );
        assert_eq!(h.commits[c].sha.len(), 40);
        assert_eq!(tree_id(&t2), "e9d00327ba627626531609529f87f79a0b097ba5");
    }

    #[test]
    fn edits_change_exactly_the_lines_they_say() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut h = History::default();
        let (t1, s1) = h.apply(
            &Tree::new(),
            &[Edit {
                path: "src/a.rs".into(),
                add: 10,
                del: 0,
            }],
            &mut rng,
        );
        assert_eq!(s1[0].added, 10);
        let (t2, s2) = h.apply(
            &t1,
            &[Edit {
                path: "src/a.rs".into(),
                add: 3,
                del: 4,
            }],
            &mut rng,
        );
        assert_eq!((s2[0].added, s2[0].deleted), (3, 4));
        assert_eq!(t2["src/a.rs"].lines.len(), 9);
        let (_, s3) = h.apply(
            &t2,
            &[Edit {
                path: "src/a.rs".into(),
                add: 0,
                del: 100,
            }],
            &mut rng,
        );
        assert_eq!(s3[0].deleted, 9);
    }
}
