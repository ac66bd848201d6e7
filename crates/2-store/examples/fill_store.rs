//! Fills an embedded store with a synthetic repository history, fast, for benchmarks at a
//! given store size (bench/processing/run.sh): changes opened with a head commit, review
//! requests, reviews, comments, CI jobs on the head and merges, about nine events per change,
//! spread over the two years before `--until`, written in large transactions.
//!
//!     cargo run --release -p canopy-store --example fill_store -- DIR EVENTS [REPO] [UNTIL]
//!
//! REPO defaults to `canopy-demo/widgets` (the repository of the GitHub fixtures), UNTIL (RFC
//! 3339) to 2026-01-01. Change numbers start at 1; keep the benchmark's own PRs above the
//! number of changes written (EVENTS / 9 + 1).
//!
//!     fill_store --queue DIR MANIFEST N
//!
//! queues N `pull_request` deliveries (the bodies named by the first field of MANIFEST's
//! lines, round robin, as `payloads.py` writes them) as pending, the way intake leaves them
//! before they are processed: the backlog of the SIGKILL drain test.

use std::process::ExitCode;
use std::time::Instant;

use canopy_analyzer::event::{
    ChangeAction, ChangeEvent, ChangeSize, CiJobEvent, CiResult, CommentEvent, ReviewEvent,
    ReviewVerdict,
};
use canopy_analyzer::{Actor, Event, EventKind, Platform};
use canopy_core::{Delivery, WriteOp};
use canopy_store::{EventStore, RedbStore, Store};
use chrono::{DateTime, Duration, FixedOffset};

const PEOPLE: usize = 60;
const JOBS: [(&str, &str); 3] = [("build", "ci"), ("test", "ci"), ("lint", "ci")];
const BATCH: usize = 20_000;

fn person(i: usize) -> Actor {
    Actor::github(&format!("dev{}", i % PEOPLE))
}

/// One synthetic change: who wrote and reviews it, when it opened, its head commit.
struct Fill<'a> {
    repo: &'a str,
    n: u64,
    at: DateTime<FixedOffset>,
    author: Actor,
    reviewer: Actor,
    head: String,
}

impl Fill<'_> {
    fn ev(&self, what: &str, t: DateTime<FixedOffset>, kind: EventKind) -> Event {
        let id = format!("fill:{}:{what}", self.n);
        Event::new(id, Platform::Github, self.repo, t, kind)
    }

    fn change(&self, action: ChangeAction, by: &Actor) -> EventKind {
        let n = self.n;
        EventKind::Change(ChangeEvent {
            title: format!("Change {n}: tidy the widget code"),
            description: "A change written by the benchmark's loader.".into(),
            size: ChangeSize {
                additions: 10 + n % 400,
                deletions: n % 70,
                files_changed: 1 + n % 12,
                ..ChangeSize::default()
            },
            head_sha: Some(self.head.clone()),
            actor: Some(by.clone()),
            reviewers_requested: if action == ChangeAction::ReviewRequested {
                vec![self.reviewer.clone()]
            } else {
                vec![]
            },
            ..ChangeEvent::new(n, action, self.author.clone(), self.at)
        })
    }

    /// The three CI jobs on the head; one in nine fails.
    fn jobs(&self, out: &mut Vec<Event>) {
        let i = self.n as usize;
        for (k, (name, pipeline)) in JOBS.iter().enumerate() {
            let t = self.at + Duration::minutes(20 + k as i64);
            let result = if (i + k).is_multiple_of(9) {
                CiResult::Failure
            } else {
                CiResult::Success
            };
            let job = CiJobEvent {
                pipeline: Some((*pipeline).into()),
                change: Some(self.n),
                head_sha: Some(self.head.clone()),
                ..CiJobEvent::new(*name, "github-actions", 300 + (i % 600) as u64, result)
            };
            out.push(self.ev(&format!("job:{name}"), t, EventKind::CiJobFinished(job)));
        }
    }

    /// An inline comment by the reviewer, then the author's answer.
    fn comments(&self, out: &mut Vec<Event>) {
        for c in 0..2 {
            let t = self.at + Duration::hours(1 + c);
            let author = if c == 0 { &self.reviewer } else { &self.author };
            let comment = CommentEvent {
                inline: c == 0,
                ..CommentEvent::on_change(
                    self.n,
                    format!("{}-{c}", self.n),
                    author.clone(),
                    "Looks reasonable; one question about the error path.",
                )
            };
            out.push(self.ev(&format!("comment:{c}"), t, EventKind::Comment(comment)));
        }
    }

    /// The approval, and the merge for nine changes in ten.
    fn review_and_merge(&self, out: &mut Vec<Event>) {
        let i = self.n as usize;
        let reviewed = self.at + Duration::hours(3 + (i % 40) as i64);
        let review = ReviewEvent {
            change_author: Some(self.author.clone()),
            ..ReviewEvent::new(self.n, self.reviewer.clone(), ReviewVerdict::Approved)
        };
        out.push(self.ev("review", reviewed, EventKind::Review(review)));
        if !i.is_multiple_of(10) {
            let merged = self.change(ChangeAction::Merged, &self.reviewer);
            out.push(self.ev("merged", reviewed + Duration::hours(1), merged));
        }
    }
}

/// The events of change `n`, opened at `at` (deterministic in `n`).
fn change_events(repo: &str, n: u64, at: DateTime<FixedOffset>) -> Vec<Event> {
    let i = n as usize;
    let f = Fill {
        repo,
        n,
        at,
        author: person(i * 7),
        reviewer: person(i * 7 + 3),
        head: format!("{:040x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    };
    let mut out = vec![
        f.ev("opened", at, f.change(ChangeAction::Opened, &f.author)),
        f.ev(
            "requested",
            at + Duration::minutes(5),
            f.change(ChangeAction::ReviewRequested, &f.author),
        ),
    ];
    f.jobs(&mut out);
    f.comments(&mut out);
    f.review_and_merge(&mut out);
    out
}

/// `--queue DIR MANIFEST N`: N pending deliveries of the manifest's bodies.
fn queue(args: &[String]) -> ExitCode {
    let (Some(dir), Some(manifest), Some(n)) = (
        args.first(),
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: fill_store --queue DIR MANIFEST N");
        return ExitCode::from(2);
    };
    let bodies: Vec<Vec<u8>> = match std::fs::read_to_string(manifest) {
        Ok(text) => text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter_map(|path| std::fs::read(path).ok())
            .collect(),
        Err(e) => {
            eprintln!("cannot read {manifest}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if bodies.is_empty() {
        eprintln!("{manifest} names no readable body");
        return ExitCode::FAILURE;
    }
    let store = match RedbStore::open(std::path::Path::new(dir)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot open the store at {dir}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let now = chrono::Utc::now();
    let ops: Vec<WriteOp> = (0..n)
        .map(|i| {
            WriteOp::Receive(Delivery {
                platform: canopy_core::Platform::Github,
                id: format!("queued-{i}"),
                event: "pull_request".into(),
                received_at: now,
                body: bodies[i % bodies.len()].clone(),
            })
        })
        .collect();
    for chunk in ops.chunks(1000) {
        if let Err(e) = store.apply_writes(chunk.to_vec()) {
            eprintln!("queueing failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!("{n} deliveries queued");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--queue") {
        return queue(&args[1..]);
    }
    let (Some(dir), Some(total)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: fill_store DIR EVENTS [REPO] [UNTIL]");
        return ExitCode::from(2);
    };
    let repo = args.get(2).map_or("canopy-demo/widgets", String::as_str);
    let until = match args.get(3).map_or(
        Ok(DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap_or_default()),
        |s| DateTime::parse_from_rfc3339(s),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("UNTIL must be an RFC 3339 time: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match RedbStore::open(std::path::Path::new(dir)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot open the store at {dir}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let changes = (total / 9 + 1) as u64;
    let span = Duration::days(730).num_minutes() / changes as i64;
    let started = Instant::now();
    let (mut written, mut batch) = (0usize, Vec::with_capacity(BATCH + 16));
    for n in 1..=changes {
        let at = until - Duration::days(730) + Duration::minutes(span * n as i64);
        batch.extend(change_events(repo, n, at));
        if batch.len() >= BATCH || n == changes {
            batch.truncate(total - written);
            match store.put_events(&batch) {
                Ok(k) => written += k,
                Err(e) => {
                    eprintln!("writing events failed after {written}: {e}");
                    return ExitCode::FAILURE;
                }
            }
            batch.clear();
            eprint!("\r{written} events");
            if written >= total {
                break;
            }
        }
    }
    eprintln!(
        "\r{written} events for {changes} changes of {repo} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
