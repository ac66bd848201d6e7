//! An index never disagrees with a scan: over random event sequences (changes with heads, CI
//! jobs by change and by commit only, reviews, comments, reruns across two repositories, with
//! shared instants and shared commits), stored in random batches with redeliveries, every index
//! of the redb store — the change of a commit, the jobs of a commit, the runs of a job, a
//! change's events and summaries — answers what `by_scan` computes from a full scan.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use canopy_analyzer::change_summary::ChangeSummary;
use canopy_analyzer::event::{
    ChangeAction, ChangeEvent, CiJobEvent, CiResult, CommentEvent, RerunEvent, ReviewEvent,
    ReviewVerdict,
};
use canopy_analyzer::{Actor, Event, EventKind, Platform};
use canopy_store::{EventStore, RedbStore, TimeRange, by_scan, repo_events};
use chrono::{DateTime, Duration, FixedOffset};
use proptest::prelude::*;

const REPOS: [&str; 2] = ["o/r", "o/other"];
const SHAS: [&str; 4] = ["aaa1", "bbb2", "ccc3", "ddd4"];
const JOBS: [(&str, Option<&str>); 3] = [
    ("test", Some("CI")),
    ("test", None),
    ("lint", Some("check")),
];

#[derive(Debug, Clone)]
enum Spec {
    Change {
        number: u64,
        merged: bool,
        sha: Option<usize>,
    },
    Job {
        change: Option<u64>,
        sha: Option<usize>,
        job: usize,
        failed: bool,
        secs: u64,
    },
    Review {
        number: u64,
    },
    Comment {
        number: u64,
    },
    Rerun {
        sha: usize,
    },
}

fn spec() -> impl Strategy<Value = (usize, Spec, i64)> {
    let change = (1..5u64, any::<bool>(), proptest::option::of(0..SHAS.len())).prop_map(
        |(number, merged, sha)| Spec::Change {
            number,
            merged,
            sha,
        },
    );
    let job = (
        proptest::option::of(1..5u64),
        proptest::option::of(0..SHAS.len()),
        0..JOBS.len(),
        any::<bool>(),
        0..900u64,
    )
        .prop_map(|(change, sha, job, failed, secs)| Spec::Job {
            change,
            sha,
            job,
            failed,
            secs,
        });
    let review = (1..5u64).prop_map(|number| Spec::Review { number });
    let comment = (1..5u64).prop_map(|number| Spec::Comment { number });
    let rerun = (0..SHAS.len()).prop_map(|sha| Spec::Rerun { sha });
    (
        0..REPOS.len(),
        prop_oneof![4 => change, 4 => job, 2 => review, 1 => comment, 1 => rerun],
        0..60i64,
    )
}

fn at(minute: i64) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-03-02T08:00:00+02:00").unwrap() + Duration::minutes(minute)
}

fn build(i: usize, repo: usize, spec: &Spec, minute: i64) -> Event {
    let kind = match spec {
        Spec::Change {
            number,
            merged,
            sha,
        } => EventKind::Change(ChangeEvent {
            head_sha: sha.map(|s| SHAS[s].to_string()),
            actor: merged.then(|| Actor::github("cy")),
            reviewers_requested: vec![Actor::github("bob")],
            ..ChangeEvent::new(
                *number,
                if *merged {
                    ChangeAction::Merged
                } else {
                    ChangeAction::Opened
                },
                Actor::github("ada"),
                at(0),
            )
        }),
        Spec::Job {
            change,
            sha,
            job,
            failed,
            secs,
        } => EventKind::CiJobFinished(CiJobEvent {
            pipeline: JOBS[*job].1.map(str::to_string),
            change: *change,
            head_sha: sha.map(|s| SHAS[s].to_string()),
            ..CiJobEvent::new(
                JOBS[*job].0,
                "github-actions",
                *secs,
                if *failed {
                    CiResult::Failure
                } else {
                    CiResult::Success
                },
            )
        }),
        Spec::Review { number } => EventKind::Review(ReviewEvent::new(
            *number,
            Actor::github("bob"),
            ReviewVerdict::Approved,
        )),
        Spec::Comment { number } => EventKind::Comment(CommentEvent::on_change(
            *number,
            format!("c{i}"),
            Actor::github("bob"),
            "looks good",
        )),
        Spec::Rerun { sha } => EventKind::RerunRequested(RerunEvent {
            change: None,
            patchset: None,
            job: None,
            run_id: None,
            head_sha: Some(SHAS[*sha].to_string()),
            requested_by: Actor::github("ada"),
        }),
    };
    Event::new(
        format!("ev-{i:03}"),
        Platform::Github,
        REPOS[repo],
        at(minute),
        kind,
    )
}

fn collect(f: impl FnOnce(&mut dyn FnMut(Event) -> ControlFlow<()>)) -> Vec<String> {
    let mut out = Vec::new();
    f(&mut |e| {
        out.push(e.id);
        ControlFlow::Continue(())
    });
    out
}

fn summaries(store: &dyn EventStore, repo: &str) -> Vec<(u64, ChangeSummary)> {
    let mut out = Vec::new();
    store
        .scan_change_summaries(repo, &mut |n, s| {
            out.push((n, s));
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_index_answers_what_a_scan_computes(
        specs in proptest::collection::vec(spec(), 1..60),
        cuts in proptest::collection::vec(1..8usize, 8),
        shuffle in proptest::collection::vec(any::<u32>(), 60),
    ) {
        let events: Vec<Event> =
            specs.iter().enumerate().map(|(i, (r, s, m))| build(i, *r, s, *m)).collect();
        let mut arrival = events.clone();
        for (i, k) in shuffle.iter().enumerate().take(arrival.len()) {
            let j = *k as usize % arrival.len();
            arrival.swap(i, j);
        }
        // Redeliveries: every fourth event comes again later.
        let again: Vec<Event> = arrival.iter().step_by(4).cloned().collect();
        arrival.extend(again);
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let mut rest = arrival.as_slice();
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*cut).min(rest.len());
            store.put_events(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        for repo in REPOS {
            prop_assert_eq!(
                repo_events(&store, repo, TimeRange::ALL).unwrap().len(),
                events.iter().filter(|e| e.repo == repo).count()
            );
            for sha in SHAS {
                prop_assert_eq!(
                    store.change_of_sha(repo, sha).unwrap(),
                    by_scan::change_of_sha(&store, repo, sha).unwrap(),
                    "change of {} in {}", sha, repo
                );
                prop_assert_eq!(
                    collect(|v| store.scan_sha_jobs(repo, sha, v).unwrap()),
                    collect(|v| by_scan::scan_sha_jobs(&store, repo, sha, v).unwrap())
                );
            }
            let keys: BTreeSet<String> = JOBS
                .iter()
                .map(|(n, p)| CiJobEvent { pipeline: p.map(str::to_string), ..CiJobEvent::new(*n, "x", 1, CiResult::Success) }.job_key())
                .collect();
            for job in &keys {
                prop_assert_eq!(
                    collect(|v| store.scan_job(repo, job, v).unwrap()),
                    collect(|v| by_scan::scan_job(&store, repo, job, v).unwrap())
                );
            }
            for n in 1..5u64 {
                let by_index = collect(|v| store.scan_change(repo, n, v).unwrap());
                let by_scan = collect(|v| {
                    store.scan_repo(repo, TimeRange::ALL, &mut |e| match e.change_number() {
                        Some(x) if x == n => v(e),
                        _ => ControlFlow::Continue(()),
                    }).unwrap()
                });
                prop_assert_eq!(by_index, by_scan);
            }
            let want: Vec<(u64, ChangeSummary)> =
                by_scan::change_summaries(&store, repo).unwrap().into_iter().collect();
            prop_assert_eq!(summaries(&store, repo), want);
        }
    }
}

/// Every read a decision makes, through any event store, as comparable values.
fn reads(store: &dyn EventStore, repo: &str) -> Vec<String> {
    let mut out = vec![format!(
        "{:?}",
        collect(|v| store.scan_repo(repo, TimeRange::ALL, v).unwrap())
    )];
    for sha in SHAS {
        out.push(format!(
            "{sha}: {:?}",
            store.change_of_sha(repo, sha).unwrap()
        ));
        out.push(format!(
            "{:?}",
            collect(|v| store.scan_sha_jobs(repo, sha, v).unwrap())
        ));
        out.push(format!(
            "{:?}",
            collect(|v| store.scan_sha(repo, sha, v).unwrap())
        ));
    }
    for (n, p) in JOBS {
        let key = CiJobEvent {
            pipeline: p.map(str::to_string),
            ..CiJobEvent::new(n, "x", 1, CiResult::Success)
        }
        .job_key();
        out.push(format!(
            "{:?}",
            collect(|v| store.scan_job(repo, &key, v).unwrap())
        ));
    }
    for n in 1..5u64 {
        out.push(format!(
            "{:?}",
            collect(|v| store.scan_change(repo, n, v).unwrap())
        ));
    }
    out.push(format!("{:?}", summaries(store, repo)));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A store seen through an overlay of pending completions reads exactly like the store in
    /// which those completions were committed (the batch's decisions see what they would have
    /// seen one delivery at a time).
    #[test]
    fn an_overlay_reads_like_the_store_with_its_writes_committed(
        specs in proptest::collection::vec(spec(), 1..50),
        committed in 0..50usize,
    ) {
        let events: Vec<Event> =
            specs.iter().enumerate().map(|(i, (r, s, m))| build(i, *r, s, *m)).collect();
        let k = committed.min(events.len());
        let (dir_all, dir_part) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let all = RedbStore::open(dir_all.path()).unwrap();
        let part = RedbStore::open(dir_part.path()).unwrap();
        all.put_events(&events).unwrap();
        part.put_events(&events[..k]).unwrap();
        let mut overlay = canopy_store::Overlay::new(&part);
        // The pending events in deliveries of three, one of them a redelivery of a stored one.
        let mut pending: Vec<Event> = events[k..].to_vec();
        if k > 0 {
            pending.push(events[0].clone());
        }
        for (i, chunk) in pending.chunks(3).enumerate() {
            overlay.add(&canopy_core::WriteOp::Complete {
                platform: Platform::Github,
                id: format!("d{i}"),
                events: chunk.to_vec(),
                ignored: None,
                at: chrono::Utc::now(),
                actions: vec![],
                consents: vec![],
                meta: vec![],
            });
        }
        for repo in REPOS {
            prop_assert_eq!(reads(&overlay, repo), reads(&all, repo));
        }
    }
}
