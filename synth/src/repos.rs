//! The two repositories: their files at the start, and the git pass that turns the planned
//! commits, merges and direct pushes into real git objects in time order (branches start from
//! `main` as it was when their first commit was written; merges land on `main` as it is then).

use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::cast::Person;
use crate::git::{Blob, Edit, FileStat, History, Ident, Tree};
use crate::model::{Change, MainPush, MainWhat, PlannedCommit};

/// A repository: its GitHub identity and its git history.
#[derive(Debug, Clone)]
pub struct Repo {
    /// `owner/name`.
    pub full_name: String,
    /// Repository id.
    pub id: u64,
    /// Description.
    pub description: &'static str,
    /// Git history.
    pub git: History,
    /// `(time, commit index)` of every value `main` had, in time order.
    pub main: Vec<(DateTime<Utc>, usize)>,
}

impl Repo {
    /// The tip of `main` at `t`.
    pub fn main_at(&self, t: DateTime<Utc>) -> usize {
        let i = self.main.partition_point(|(at, _)| *at <= t);
        self.main[i.saturating_sub(1)].1
    }
}

/// The organisation that owns both repositories.
pub const ORG: &str = "fernhill";
/// The organisation's id.
pub const ORG_ID: u64 = 91_200_001;

/// Files each repository starts with (besides README.md, Cargo.toml, the workflows and .mailmap).
const FILES: [&[&str]; 2] = [
    &[
        "src/lib.rs",
        "src/lexer.rs",
        "src/parser.rs",
        "src/ast.rs",
        "src/eval.rs",
        "src/error.rs",
        "src/span.rs",
        "tests/parser.rs",
        "tests/eval.rs",
        "tests/lexer.rs",
        "docs/guide.md",
        "docs/syntax.md",
        "benches/eval.rs",
    ],
    &[
        "src/main.rs",
        "src/server.rs",
        "src/routes.rs",
        "src/auth.rs",
        "src/db.rs",
        "src/config.rs",
        "src/metrics.rs",
        "src/handlers/users.rs",
        "src/handlers/orders.rs",
        "tests/api.rs",
        "tests/auth.rs",
        "docs/deploy.md",
        "docs/api.md",
        "migrations/0001_init.sql",
    ],
];

/// The two repositories, named, with no history yet.
pub fn specs() -> Vec<Repo> {
    [
        (
            "loom",
            71_200_001,
            "An expression language for configuration",
        ),
        ("quay", 71_200_002, "The order service"),
    ]
    .into_iter()
    .map(|(name, id, description)| Repo {
        full_name: format!("{ORG}/{name}"),
        id,
        description,
        git: History::default(),
        main: Vec::new(),
    })
    .collect()
}

/// Every path of repository `repo` that planned edits may touch.
pub fn paths(repo: usize) -> Vec<String> {
    let mut v: Vec<String> = FILES[repo].iter().map(|s| s.to_string()).collect();
    v.push("README.md".into());
    v
}

/// The identity a planned commit carries.
pub fn ident(p: &Person, at: DateTime<FixedOffset>, work_email: bool) -> Ident {
    Ident {
        name: p.name.clone(),
        email: match (&p.work_email, work_email) {
            (Some(e), true) => e.clone(),
            _ => p.email.clone(),
        },
        at,
    }
}

fn github_committer(at: DateTime<Utc>) -> Ident {
    Ident {
        name: "GitHub".into(),
        email: "noreply@github.com".into(),
        at: at.fixed_offset(),
    }
}

/// The repositories' `.mailmap`: work addresses mapped to the GitHub noreply address.
pub fn mailmap(people: &[Person]) -> Vec<String> {
    people
        .iter()
        .filter_map(|p| {
            p.work_email
                .as_ref()
                .map(|w| format!("{} <{}> <{w}>", p.name, p.email))
        })
        .collect()
}

/// The first commit of `repo`: every file, a month before the history starts.
pub fn initial(
    repo: &mut Repo,
    index: usize,
    people: &[Person],
    at: DateTime<Utc>,
    rng: &mut ChaCha8Rng,
) {
    let mut edits: Vec<Edit> = paths(index)
        .into_iter()
        .map(|path| Edit {
            add: rng.random_range(30..120),
            del: 0,
            path,
        })
        .collect();
    edits.push(Edit {
        path: "Cargo.toml".into(),
        add: 12,
        del: 0,
    });
    let (mut tree, mut stats) = repo.git.apply(&Tree::new(), &edits, rng);
    let workflow = vec![
        "name: CI".to_string(),
        "on: [push, pull_request]".to_string(),
    ];
    for (path, lines) in [
        (".mailmap", mailmap(people)),
        (".github/workflows/ci.yml", workflow),
    ] {
        stats.push(FileStat {
            path: path.into(),
            added: lines.len() as u32,
            deleted: 0,
        });
        tree.insert(path.into(), Arc::new(Blob::new(lines)));
    }
    let who = &people[0];
    let id = ident(who, at.with_timezone(&who.offset()), false);
    let c = repo.git.commit(
        vec![],
        tree,
        (id.clone(), id),
        "Initial import\n".into(),
        stats,
        "refs/heads/main",
    );
    repo.main.push((at, c));
}

/// An operation on the git histories, in time order.
enum Op {
    /// Change `c` branches off `main`.
    Branch(usize),
    /// Push `k` of change `c`.
    Push(usize, usize),
    /// Push to `main` number `m`.
    Main(usize),
}

/// Makes every planned commit, merge and direct push, in time order, and records the ids.
pub fn build(
    repos: &mut [Repo],
    people: &[Person],
    changes: &mut [Change],
    mains: &mut [MainPush],
    now: DateTime<Utc>,
    rng: &mut ChaCha8Rng,
) {
    let mut ops: Vec<(DateTime<Utc>, u8, usize, Op)> = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        if let Some(first) = c.pushes.first().and_then(|p| p.commits.first()) {
            ops.push((first.at.with_timezone(&Utc), 0, i, Op::Branch(i)));
        }
        for (k, p) in c.pushes.iter().enumerate() {
            if p.at <= now {
                ops.push((p.at, 1, i, Op::Push(i, k)));
            }
        }
    }
    for (m, mp) in mains.iter().enumerate() {
        if mp.at <= now {
            ops.push((mp.at, 2, m, Op::Main(m)));
        }
    }
    ops.sort_by_key(|a| (a.0, a.1, a.2));
    let mut base = vec![0usize; changes.len()];
    let mut head: Vec<Option<usize>> = vec![None; changes.len()];
    for (at, _, _, op) in ops {
        match op {
            Op::Branch(i) => base[i] = repos[changes[i].repo].main_at(at),
            Op::Push(i, k) => {
                let repo = &mut repos[changes[i].repo];
                let refname = format!("refs/pull/{}/head", changes[i].number);
                for pc in &mut changes[i].pushes[k].commits {
                    let parent = head[i].unwrap_or(base[i]);
                    let idx = commit_planned(repo, people, parent, pc, &refname, rng);
                    pc.index = Some(idx);
                    head[i] = Some(idx);
                }
            }
            Op::Main(m) => {
                let repo_i = mains[m].repo;
                let repo = &mut repos[repo_i];
                let tip = repo.main_at(at);
                let idx = match &mut mains[m].what {
                    MainWhat::Direct(pc) => {
                        let idx = commit_planned(repo, people, tip, pc, "refs/heads/main", rng);
                        pc.index = Some(idx);
                        idx
                    }
                    MainWhat::Merge(ci) => {
                        let Some(h) = head[*ci] else { continue };
                        let merger = &people[mains[m].pusher];
                        merge(repo, &changes[*ci], people, merger, (tip, h), at)
                    }
                };
                repo.main.push((at, idx));
                mains[m].tip = Some(idx);
            }
        }
    }
}

fn commit_planned(
    repo: &mut Repo,
    people: &[Person],
    parent: usize,
    pc: &PlannedCommit,
    refname: &str,
    rng: &mut ChaCha8Rng,
) -> usize {
    let p = &people[pc.author];
    let (tree, stats) = {
        let parent_tree = repo.git.commits[parent].tree.clone();
        repo.git.apply(&parent_tree, &pc.edits, rng)
    };
    // Commits carry their author's clock; a commit written "before" its parent (a branch
    // started before a merge it was rebased on) keeps its own time, as in real histories.
    let id = ident(p, pc.at, pc.work_email);
    let committer = Ident {
        at: pc.at + Duration::seconds(rng.random_range(0..120)),
        ..id.clone()
    };
    repo.git.commit(
        vec![parent],
        tree,
        (id, committer),
        format!("{}\n", pc.subject),
        stats,
        refname,
    )
}

/// GitHub's merge commit of change `c` on `main`: `main`'s tree with the files the change
/// touched as they are on its head (a conflict-free merge of the two sides).
fn merge(
    repo: &mut Repo,
    c: &Change,
    people: &[Person],
    merger: &Person,
    (tip, head): (usize, usize),
    at: DateTime<Utc>,
) -> usize {
    let mut tree = repo.git.commits[tip].tree.clone();
    for path in c.paths() {
        if let Some(b) = repo.git.commits[head].tree.get(&path) {
            tree.insert(path, b.clone());
        }
    }
    let author = Ident {
        name: merger.name.clone(),
        email: merger.email.clone(),
        at: at.with_timezone(&merger.offset()),
    };
    let owner = if c.from_fork {
        people[c.author].login.as_str()
    } else {
        ORG
    };
    let msg = format!(
        "Merge pull request #{} from {owner}/{}\n\n{}\n",
        c.number, c.branch, c.title
    );
    repo.git.commit(
        vec![tip, head],
        tree,
        (author, github_committer(at)),
        msg,
        vec![],
        "refs/heads/main",
    )
}
