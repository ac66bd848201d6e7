//! One conformance suite for every store backend: each check below runs against the embedded
//! redb store and against PostgreSQL (a throw-away cluster started once for this test binary,
//! a fresh database per test). "Replicas" are a second handle on the same store: for redb the
//! same process-local store (it is single-process), for PostgreSQL a second connection pool,
//! as a second `canopy serve` would have.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use canopy_analyzer::event::{
    ChangeAction, ChangeEvent, CiJobEvent, CiResult, CommentEvent, EventKind, ReviewEvent,
    ReviewVerdict,
};
use canopy_analyzer::{Actor, Event, Platform};
use canopy_core::{
    Action, Consent, Delivery, DeliveryState, Enqueue, EnqueueMode, OutboxState, WriteOp,
    WriteOutcome,
};
use canopy_store::{
    AuditEntry, CachedScore, Claim, PgStore, RedbStore, ReportStatus, Store, StoreError,
    StoredReport, TimeRange, by_scan, repo_events,
};
use chrono::{DateTime, Duration, Utc};

/// A store under test and a way to get a second handle on it.
struct Fixture {
    store: Arc<dyn Store>,
    replica: Box<dyn Fn() -> Arc<dyn Store>>,
    _dir: Option<tempfile::TempDir>,
}

fn redb() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let same = store.clone();
    Fixture {
        store,
        replica: Box::new(move || same.clone()),
        _dir: Some(dir),
    }
}

fn postgres() -> Fixture {
    let db = canopy_e2e::pg::fresh_database();
    let (store, applied) = PgStore::open_and_migrate(&db.options()).unwrap();
    let every: Vec<u32> = (1..=canopy_store::postgres::SCHEMA_VERSION).collect();
    assert_eq!(applied, every);
    Fixture {
        store: Arc::new(store),
        replica: Box::new(move || Arc::new(PgStore::open(&db.options()).unwrap())),
        _dir: None,
    }
}

/// Runs each named check against both backends.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod on_redb {
            $( #[test] fn $check() { super::$check(&super::redb()) } )*
        }
        mod on_postgres {
            $( #[test] fn $check() { super::$check(&super::postgres()) } )*
        }
    };
}

conformance!(
    events_are_idempotent_and_scanned_in_time_order,
    events_are_found_by_change_commit_and_actor,
    indexes_answer_what_a_scan_computes,
    text_with_nul_characters_round_trips,
    named_values_and_leases,
    a_scheduled_run_is_recorded_once,
    deliveries_are_stored_once_and_processed_once,
    a_batch_mixes_new_deliveries_with_results,
    a_claim_is_exclusive_until_it_lapses,
    a_repository_is_processed_in_arrival_order_across_claimants,
    quarantine_and_retry,
    replicas_receiving_the_same_delivery_store_it_once,
    concurrent_claimants_never_share_a_delivery,
    outbox_modes_claims_and_results,
    outbox_failures_retries_and_dead_letters,
    consent_keeps_the_latest_record,
    reports_audit_logs_and_budgets,
    a_measurement_delivery_stores_its_events_beside_the_job,
    sentiment_scores_are_cached_per_model_and_comment,
);

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn comment(repo: &str, id: &str, at: &str, who: &str, number: u64) -> Event {
    Event::new(
        id,
        Platform::Github,
        repo,
        DateTime::parse_from_rfc3339(at).unwrap(),
        EventKind::Comment(CommentEvent {
            number,
            on_change: true,
            comment_id: id.into(),
            author: Actor::github(who),
            addressee: None,
            body: "looks good".into(),
            inline: false,
            edited: false,
            author_role: None,
        }),
    )
}

fn delivery(id: &str, repo: &str, received: &str) -> Delivery {
    Delivery {
        platform: Platform::Github,
        id: id.into(),
        event: "issue_comment".into(),
        received_at: t(received),
        body: format!(r#"{{"action":"created","repository":{{"full_name":"{repo}"}},"n":"{id}"}}"#)
            .into_bytes(),
    }
}

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

fn apply(s: &dyn Store, op: WriteOp) -> WriteOutcome {
    s.apply_writes(vec![op]).unwrap().remove(0)
}

fn complete(id: &str, events: Vec<Event>, actions: Vec<Enqueue>, at: &str) -> WriteOp {
    WriteOp::Complete {
        platform: Platform::Github,
        id: id.into(),
        events,
        ignored: None,
        at: t(at),
        actions,
        consents: Vec::new(),
        meta: vec![(format!("state:{id}"), id.as_bytes().to_vec())],
    }
}

fn claim(owner: &str, now: &str) -> Claim {
    Claim::new(owner, t(now), Duration::minutes(5))
}

fn pending_ids(p: &[canopy_core::Pending]) -> Vec<String> {
    p.iter().map(|p| p.delivery.id.clone()).collect()
}

fn events_are_idempotent_and_scanned_in_time_order(f: &Fixture) {
    let s = f.store.as_ref();
    let a = comment("o/r", "c2", "2024-01-02T00:00:00Z", "ada", 1);
    let b = comment("o/r", "c1", "2024-01-01T00:00:00Z", "bob", 1);
    let c = comment("o/other", "c1", "2024-01-03T00:00:00Z", "ada", 2);
    assert_eq!(s.put_events(&[a.clone(), b.clone(), a.clone()]).unwrap(), 2);
    assert_eq!(s.put_events(&[a.clone(), c.clone()]).unwrap(), 1);
    assert_eq!(s.put_events(&[]).unwrap(), 0);
    assert_eq!(
        repo_events(s, "o/r", TimeRange::ALL).unwrap(),
        vec![b.clone(), a.clone()]
    );
    let from = TimeRange {
        from: Some(t("2024-01-02T00:00:00Z")),
        to: None,
    };
    assert_eq!(repo_events(s, "o/r", from).unwrap(), vec![a.clone()]);
    let until = TimeRange {
        from: None,
        to: Some(t("2024-01-02T00:00:00Z")),
    };
    assert_eq!(repo_events(s, "o/r", until).unwrap(), vec![b.clone()]);
    assert_eq!(s.repos().unwrap(), ["o/other", "o/r"]);
    assert!(s.has_event("o/r", "c1").unwrap());
    assert!(!s.has_event("o/r", "c9").unwrap());
    assert_eq!(s.event_ids("o/r", "c").unwrap(), ["c1", "c2"]);
    assert!(s.event_ids("o/r", "x").unwrap().is_empty());
    // A scan stops when told to.
    let mut seen = 0;
    s.scan_repo("o/r", TimeRange::ALL, &mut |_| {
        seen += 1;
        ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!(seen, 1);
    // Many events: scans stream them all, in order.
    let many: Vec<Event> = (0..1500)
        .map(|i| {
            let at = t("2024-02-01T00:00:00Z") + Duration::seconds(i);
            comment("o/big", &format!("m{i:05}"), &at.to_rfc3339(), "ada", 9)
        })
        .collect();
    assert_eq!(s.put_events(&many).unwrap(), 1500);
    assert_eq!(
        ids(&repo_events(s, "o/big", TimeRange::ALL).unwrap()),
        ids(&many)
    );
}

fn events_are_found_by_change_commit_and_actor(f: &Fixture) {
    let s = f.store.as_ref();
    let at = DateTime::parse_from_rfc3339("2024-03-01T10:00:00+02:00").unwrap();
    let opened = Event::new(
        "pr:7:opened",
        Platform::Github,
        "o/r",
        at,
        EventKind::Change(ChangeEvent::new(
            7,
            ChangeAction::Opened,
            Actor::github("ada"),
            at,
        )),
    );
    let job = CiJobEvent {
        name: "test".into(),
        system: "github-actions".into(),
        pipeline: None,
        duration_secs: 60,
        runner: None,
        host: None,
        result: CiResult::Success,
        voting: true,
        change: Some(7),
        patchset: None,
        head_sha: Some("abc123".into()),
        run_id: None,
        attempt: 1,
        started_at: None,
        url: None,
    };
    let ci = Event::new(
        "ci:1",
        Platform::Github,
        "o/r",
        at + Duration::hours(1),
        EventKind::CiJobFinished(job),
    );
    let other = comment("o/r", "c1", "2024-03-01T12:00:00Z", "bob", 8);
    s.put_events(&[ci.clone(), opened.clone(), other.clone()])
        .unwrap();
    let collect = |scan: &dyn Fn(canopy_store::Visit<'_>)| {
        let mut v = Vec::new();
        scan(&mut |e| {
            v.push(e.id);
            ControlFlow::Continue(())
        });
        v
    };
    assert_eq!(
        collect(&|v| s.scan_change("o/r", 7, v).unwrap()),
        ["pr:7:opened", "ci:1"]
    );
    assert_eq!(
        collect(&|v| s.scan_sha("o/r", "abc123", v).unwrap()),
        ["ci:1"]
    );
    assert_eq!(
        collect(&|v| s.scan_actor("github:bob", TimeRange::ALL, v).unwrap()),
        ["c1"]
    );
    let before_noon = TimeRange {
        from: None,
        to: Some(t("2024-03-01T11:00:00Z")),
    };
    assert_eq!(
        collect(&|v| s.scan_actor("github:ada", before_noon, v).unwrap()),
        ["pr:7:opened"]
    );
    // The source's UTC offset is kept.
    let got = repo_events(s, "o/r", TimeRange::ALL).unwrap();
    assert_eq!(got[0], opened);
}

/// A change event of `number` with head `sha`, `hours` after a fixed instant.
fn change_at(id: &str, number: u64, action: ChangeAction, sha: &str, hours: i64) -> Event {
    let at = DateTime::parse_from_rfc3339("2024-03-01T10:00:00Z").unwrap() + Duration::hours(hours);
    let mut c = ChangeEvent::new(number, action, Actor::github("ada"), at);
    c.head_sha = Some(sha.into());
    c.reviewers_requested = vec![Actor::github("bob")];
    c.actor = Some(Actor::github("cy"));
    Event::new(id, Platform::Github, "o/r", at, EventKind::Change(c))
}

/// A finished CI job `name (pipeline)` on `sha`, for `change` if known, `hours` after it.
fn job_at(
    id: &str,
    name: &str,
    pipeline: Option<&str>,
    change: Option<u64>,
    sha: &str,
    hours: i64,
) -> Event {
    let at = DateTime::parse_from_rfc3339("2024-03-01T10:00:00Z").unwrap() + Duration::hours(hours);
    let job = CiJobEvent {
        name: name.into(),
        system: "zuul".into(),
        pipeline: pipeline.map(str::to_string),
        duration_secs: 600,
        runner: None,
        host: None,
        result: CiResult::Failure,
        voting: true,
        change,
        patchset: None,
        head_sha: Some(sha.into()),
        run_id: None,
        attempt: 1,
        started_at: None,
        url: None,
    };
    Event::new(
        id,
        Platform::Github,
        "o/r",
        at,
        EventKind::CiJobFinished(job),
    )
}

/// The events for the index checks: two changes sharing a commit (the earlier one is the
/// commit's change), jobs by change and by commit only, with and without a pipeline, a
/// review, a merge, a comment.
fn indexed_events() -> Vec<Event> {
    let review = Event::new(
        "rv:7",
        Platform::Github,
        "o/r",
        DateTime::parse_from_rfc3339("2024-03-01T13:30:00Z").unwrap(),
        EventKind::Review(ReviewEvent {
            change: 7,
            patchset: None,
            reviewer: Actor::github("bob"),
            change_author: None,
            verdict: ReviewVerdict::Approved,
            votes: vec![],
            body: None,
        }),
    );
    vec![
        change_at("pr:7:opened", 7, ChangeAction::Opened, "aaa", 0),
        change_at("pr:8:opened", 8, ChangeAction::Opened, "aaa", 1),
        change_at("pr:7:sync", 7, ChangeAction::Updated, "bbb", 2),
        job_at("ci:1", "tempest", Some("check"), Some(7), "aaa", 1),
        job_at("ci:2", "tempest", Some("check"), None, "bbb", 3),
        job_at("ci:3", "tempest", None, None, "bbb", 3),
        job_at("ci:4", "lint", Some("gate"), Some(8), "aaa", 4),
        review,
        change_at("pr:7:merged", 7, ChangeAction::Merged, "bbb", 5),
        comment("o/r", "c1", "2024-03-01T12:00:00Z", "bob", 7),
    ]
}

fn indexes_answer_what_a_scan_computes(f: &Fixture) {
    let s = f.store.as_ref();
    let events = indexed_events();
    // In two batches, the second with a redelivery of the first's events.
    s.put_events(&events[5..]).unwrap();
    s.put_events(&events).unwrap();
    let ids = |scan: &dyn Fn(canopy_store::Visit<'_>)| {
        let mut v = Vec::new();
        scan(&mut |e| {
            v.push(e.id);
            ControlFlow::Continue(())
        });
        v
    };
    assert_eq!(s.change_of_sha("o/r", "aaa").unwrap(), Some(7));
    assert_eq!(s.change_of_sha("o/r", "bbb").unwrap(), Some(7));
    assert_eq!(s.change_of_sha("o/r", "zzz").unwrap(), None);
    assert_eq!(s.change_of_sha("o/other", "aaa").unwrap(), None);
    assert_eq!(
        ids(&|v| s.scan_sha_jobs("o/r", "bbb", v).unwrap()),
        ["ci:2", "ci:3"]
    );
    assert_eq!(
        ids(&|v| s.scan_job("o/r", "tempest (check)", v).unwrap()),
        ["ci:1", "ci:2"]
    );
    assert_eq!(ids(&|v| s.scan_job("o/r", "tempest", v).unwrap()), ["ci:3"]);
    for sha in ["aaa", "bbb", "zzz"] {
        assert_eq!(
            s.change_of_sha("o/r", sha).unwrap(),
            by_scan::change_of_sha(s, "o/r", sha).unwrap()
        );
        assert_eq!(
            ids(&|v| s.scan_sha_jobs("o/r", sha, v).unwrap()),
            ids(&|v| by_scan::scan_sha_jobs(s, "o/r", sha, v).unwrap())
        );
    }
    for job in ["tempest (check)", "tempest", "lint (gate)", "none"] {
        assert_eq!(
            ids(&|v| s.scan_job("o/r", job, v).unwrap()),
            ids(&|v| by_scan::scan_job(s, "o/r", job, v).unwrap())
        );
    }
    let mut summaries = Vec::new();
    s.scan_change_summaries("o/r", &mut |n, sum| {
        summaries.push((n, sum));
        ControlFlow::Continue(())
    })
    .unwrap();
    let want: Vec<_> = by_scan::change_summaries(s, "o/r")
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(summaries, want);
    assert_eq!(
        summaries.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [7, 8]
    );
    let seven = &summaries[0].1;
    assert_eq!(seven.ids.len(), 4, "three change events and a review");
    assert_eq!(seven.merged_by(), Some("github:cy"));
    assert_eq!(seven.waiting_on(t("2024-03-01T13:00:00Z")), ["github:bob"]);
    // A walk stops when asked.
    let mut first = Vec::new();
    s.scan_change_summaries("o/r", &mut |n, _| {
        first.push(n);
        ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!(first, [7]);
}

/// Measured CI energy enters as an inbox delivery whose events (`ci_energy_measured`) are
/// stored beside the job's and found by its commit and change, values intact.
fn a_measurement_delivery_stores_its_events_beside_the_job(f: &Fixture) {
    let s = f.store.as_ref();
    let at = DateTime::parse_from_rfc3339("2026-11-03T16:33:40Z").unwrap();
    let job = Event::new(
        "gh:job:9:1",
        Platform::Github,
        "o/r",
        at,
        EventKind::CiJobFinished(CiJobEvent {
            head_sha: Some("def456".into()),
            host: Some("runner-7".into()),
            runner: Some("kepler".into()),
            ..CiJobEvent::new("build", "github-actions", 760, CiResult::Success)
        }),
    );
    s.put_events(std::slice::from_ref(&job)).unwrap();
    let tries = measurement_tries(at);
    let now = "2026-11-03T16:55:00Z";
    let d = canopy_forge::measured::delivery(Platform::Github, "o/r", tries.clone(), t(now));
    assert!(matches!(
        apply(s, WriteOp::Receive(d.clone())),
        WriteOutcome::Received { .. }
    ));
    assert_eq!(
        apply(s, WriteOp::Receive(d.clone())),
        WriteOutcome::Duplicate
    );
    let read = canopy_forge::measured::read_delivery(Platform::Github, &d.body).unwrap();
    let mut op = complete(&d.id, read, Vec::new(), now);
    if let WriteOp::Complete { meta, .. } = &mut op {
        meta.clear();
    }
    assert_eq!(apply(s, op), WriteOutcome::Completed { new_events: 2 });
    let mut found = Vec::new();
    s.scan_sha("o/r", "def456", &mut |e| {
        found.push(e);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(
        ids(&found),
        ["gh:job:9:1", "energy:gh:job:9:1:1", "energy:gh:job:9:1:2"]
    );
    assert_eq!(found[0], job);
    // The index of a commit's CI events answers the same (the sticky comment reads it).
    let mut jobs = Vec::new();
    s.scan_sha_jobs("o/r", "def456", &mut |e| {
        jobs.push(e);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(ids(&jobs), ids(&found));
    for (stored, sent) in found[1..].iter().zip(&tries) {
        assert_eq!(
            Event {
                delivery_id: None,
                ..stored.clone()
            },
            *sent
        );
    }
}

/// Two measurements of job `gh:job:9:1`: the first failed (Prometheus answered 503), the second
/// measured it.
fn measurement_tries(at: DateTime<chrono::FixedOffset>) -> Vec<Event> {
    use canopy_analyzer::event::{EnergyMeasuredEvent, MeasureOutcome};
    let measured = |attempt: u32, outcome: MeasureOutcome| {
        Event::new(
            format!("energy:gh:job:9:1:{attempt}"),
            Platform::Github,
            "o/r",
            at + Duration::minutes(i64::from(attempt) * 10),
            EventKind::CiEnergyMeasured(EnergyMeasuredEvent {
                job_id: "gh:job:9:1".into(),
                name: "build".into(),
                source: "kepler".into(),
                change: None,
                patchset: None,
                head_sha: Some("def456".into()),
                attempt,
                outcome,
            }),
        )
    };
    vec![
        measured(
            1,
            MeasureOutcome::Unmeasured {
                reason: "Prometheus answered HTTP 503".into(),
                retry_at: Some(t("2026-11-03T16:54:40Z")),
            },
        ),
        measured(
            2,
            MeasureOutcome::Measured {
                joules: 30_400.000_000_001,
                series: 1,
                coverage: 0.987,
            },
        ),
    ]
}

fn text_with_nul_characters_round_trips(f: &Fixture) {
    let s = f.store.as_ref();
    let mut e = comment("o/r", "c\0nul", "2024-01-01T00:00:00Z", "a\0b", 1);
    if let EventKind::Comment(c) = &mut e.kind {
        c.body = "before\0after".into();
    }
    assert_eq!(s.put_events(&[e.clone()]).unwrap(), 1);
    assert_eq!(s.put_events(&[e.clone()]).unwrap(), 0);
    assert!(s.has_event("o/r", "c\0nul").unwrap());
    assert_eq!(repo_events(s, "o/r", TimeRange::ALL).unwrap(), vec![e]);
    let mut d = delivery("d\0x", "o/r", "2024-01-01T00:00:00Z");
    d.body = vec![0, 159, 146, 150, 255];
    assert_eq!(
        any_seq(apply(s, WriteOp::Receive(d.clone()))),
        WriteOutcome::Received { seq: 0 }
    );
    assert_eq!(
        s.delivery_body(Platform::Github, "d\0x").unwrap(),
        Some(d.body)
    );
}

/// An outcome without its queue position (positions differ between backends).
fn any_seq(o: WriteOutcome) -> WriteOutcome {
    match o {
        WriteOutcome::Received { .. } => WriteOutcome::Received { seq: 0 },
        other => other,
    }
}

fn named_values_and_leases(f: &Fixture) {
    let s = f.store.as_ref();
    assert_eq!(s.get_meta("cursor").unwrap(), None);
    s.put_meta("cursor", b"abc").unwrap();
    s.put_meta("b-key", b"").unwrap();
    s.put_meta("cursor", b"def").unwrap();
    assert_eq!(s.get_meta("cursor").unwrap().as_deref(), Some(&b"def"[..]));
    let mut keys = Vec::new();
    s.scan_meta(&mut |k, _| {
        keys.push(k.to_string());
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(keys, ["b-key", "cursor"]);
    // Leases: exclusive, renewable by their holder, taken over once lapsed, released.
    let other = (f.replica)();
    assert!(
        s.try_lease("digests", &claim("a", "2026-01-01T10:00:00Z"))
            .unwrap()
    );
    assert!(
        !other
            .try_lease("digests", &claim("b", "2026-01-01T10:01:00Z"))
            .unwrap()
    );
    assert!(
        s.try_lease("digests", &claim("a", "2026-01-01T10:02:00Z"))
            .unwrap(),
        "renewed"
    );
    assert!(
        !other
            .try_lease("digests", &claim("b", "2026-01-01T10:06:00Z"))
            .unwrap()
    );
    assert!(
        other
            .try_lease("digests", &claim("b", "2026-01-01T10:07:00Z"))
            .unwrap(),
        "lapsed"
    );
    assert!(
        !s.try_lease("digests", &claim("a", "2026-01-01T10:08:00Z"))
            .unwrap()
    );
    s.release_lease("digests", "a").unwrap(); // not a's: no effect
    assert!(
        !s.try_lease("digests", &claim("a", "2026-01-01T10:08:00Z"))
            .unwrap()
    );
    other.release_lease("digests", "b").unwrap();
    assert!(
        s.try_lease("digests", &claim("a", "2026-01-01T10:08:00Z"))
            .unwrap()
    );
    assert!(
        other
            .try_lease("retrain", &claim("b", "2026-01-01T10:08:00Z"))
            .unwrap(),
        "leases are independent"
    );
}

fn a_scheduled_run_is_recorded_once(f: &Fixture) {
    let s = f.store.as_ref();
    let other = (f.replica)();
    let action = |n: u64| Enqueue {
        id: format!("digest:o/r:{n}"),
        action: Action::PostComment {
            repo: "o/r".into(),
            number: n,
            body: "digest".into(),
            marker: format!("m{n}"),
        },
        due_at: t("2026-01-05T09:00:00Z"),
        mode: EnqueueMode::Once,
    };
    let run = |previous: Option<&str>, at: &str, n: u64| WriteOp::ScheduledRun {
        key: "digest-last-run:o/r".into(),
        previous: previous.map(t),
        at: t(at),
        actions: vec![action(n)],
        now: t(at),
    };
    assert_eq!(s.last_run("digest-last-run:o/r").unwrap(), None);
    // Two replicas found the first run due: one records it.
    assert_eq!(
        apply(s, run(None, "2026-01-05T09:00:00Z", 1)),
        WriteOutcome::Enqueued
    );
    assert_eq!(
        apply(other.as_ref(), run(None, "2026-01-05T09:00:00Z", 1)),
        WriteOutcome::Unchanged
    );
    assert_eq!(
        s.last_run("digest-last-run:o/r").unwrap(),
        Some(t("2026-01-05T09:00:00Z"))
    );
    // The next run, decided on the recorded one; a stale decision does nothing.
    let next = run(Some("2026-01-05T09:00:00Z"), "2026-01-12T09:00:00Z", 2);
    assert_eq!(apply(other.as_ref(), next.clone()), WriteOutcome::Enqueued);
    assert_eq!(apply(s, next), WriteOutcome::Unchanged);
    let mut digests = Vec::new();
    s.scan_outbox(false, &mut |i| {
        digests.push(i.id);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(digests, ["digest:o/r:1", "digest:o/r:2"]);
}

fn sticky(repo: &str, n: u64, body: &str) -> Enqueue {
    Enqueue {
        id: format!("sticky:github:{repo}#{n}"),
        action: Action::UpsertComment {
            repo: repo.into(),
            number: n,
            body: body.into(),
        },
        due_at: t("2026-01-01T10:00:00Z"),
        mode: EnqueueMode::Replace,
    }
}

fn deliveries_are_stored_once_and_processed_once(f: &Fixture) {
    let s = f.store.as_ref();
    let d1 = two_received_once(s);
    the_first_completed_once(s, &d1);
    the_second_ignored(s);
}

/// Two deliveries received (one of them twice): queued once each, in arrival order.
fn two_received_once(s: &dyn Store) -> Delivery {
    let d1 = delivery("d1", "o/r", "2026-01-01T10:00:00Z");
    let d2 = delivery("d2", "o/r", "2026-01-01T10:00:01Z");
    let got = s
        .apply_writes(vec![
            WriteOp::Receive(d1.clone()),
            WriteOp::Receive(d2.clone()),
            WriteOp::Receive(d1.clone()),
        ])
        .unwrap();
    let seqs: Vec<u64> = got
        .iter()
        .filter_map(|o| match o {
            WriteOutcome::Received { seq } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs.len(), 2, "{got:?}");
    assert!(
        seqs[0] < seqs[1],
        "queue positions follow arrival: {seqs:?}"
    );
    assert_eq!(got[2], WriteOutcome::Duplicate);
    assert_eq!(
        apply(s, WriteOp::Receive(d1.clone())),
        WriteOutcome::Duplicate
    );
    assert_eq!(s.queue_depth().unwrap(), 2);
    // The backlog's age is that of its oldest delivery (the /readyz back-pressure).
    assert_eq!(s.oldest_pending().unwrap(), Some(d1.received_at));
    let rec = s.delivery(Platform::Github, "d1").unwrap().unwrap();
    assert_eq!(rec.state, DeliveryState::Pending);
    assert_eq!((rec.body_len, rec.attempts), (d1.body.len() as u64, 0));
    assert_eq!(rec.delivery.received_at, d1.received_at);
    assert_eq!(
        s.delivery_body(Platform::Github, "d1").unwrap(),
        Some(d1.body.clone())
    );
    assert_eq!(s.delivery(Platform::Gerrit, "d1").unwrap(), None);

    d1
}

/// The first claimed and completed with its events, actions and meta; completing it again,
/// or a delivery never received, is rejected and writes nothing.
fn the_first_completed_once(s: &dyn Store, d1: &Delivery) {
    let claimed = s
        .claim_pending(&claim("w", "2026-01-01T10:01:00Z"), 10)
        .unwrap();
    assert_eq!(pending_ids(&claimed), ["d1", "d2"]);
    assert_eq!(claimed[0].delivery.body, d1.body);
    let ev = comment("o/r", "c1", "2026-01-01T09:59:00Z", "ada", 1);
    let done = complete(
        "d1",
        vec![ev.clone()],
        vec![sticky("o/r", 1, "v1")],
        "2026-01-01T10:01:01Z",
    );
    assert_eq!(
        apply(s, done.clone()),
        WriteOutcome::Completed { new_events: 1 }
    );
    // Named values decided from the events are written in the same transaction.
    assert_eq!(s.get_meta("state:d1").unwrap(), Some(b"d1".to_vec()));
    // Completing again (a replica whose claim lapsed) writes nothing.
    assert!(matches!(apply(s, done), WriteOutcome::Rejected(m) if m.contains("not pending")));
    assert!(matches!(
        apply(s, complete("nope", vec![], vec![], "2026-01-01T10:01:01Z")),
        WriteOutcome::Rejected(m) if m.contains("no delivery")
    ));
    assert_eq!(
        s.get_meta("state:nope").unwrap(),
        None,
        "a rejected completion writes no meta"
    );
    let rec = s.delivery(Platform::Github, "d1").unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.attempts),
        (
            DeliveryState::Processed {
                events: 1,
                at: t("2026-01-01T10:01:01Z")
            },
            1
        )
    );
    assert_eq!(repo_events(s, "o/r", TimeRange::ALL).unwrap(), vec![ev]);
    assert!(s.outbox_item("sticky:github:o/r#1").unwrap().is_some());
    assert_eq!(s.queue_depth().unwrap(), 1);
}

/// The second completed as ignored: stored, not processed; the queue is then empty.
fn the_second_ignored(s: &dyn Store) {
    let ignore = WriteOp::Complete {
        platform: Platform::Github,
        id: "d2".into(),
        events: Vec::new(),
        ignored: Some("ping".into()),
        at: t("2026-01-01T10:01:02Z"),
        actions: Vec::new(),
        consents: Vec::new(),
        meta: Vec::new(),
    };
    assert_eq!(apply(s, ignore), WriteOutcome::Completed { new_events: 0 });
    let mut all = Vec::new();
    s.scan_deliveries(&mut |r| {
        all.push((r.delivery.id, canopy_core::state_name(&r.state)));
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(
        all,
        [
            ("d1".to_string(), "processed"),
            ("d2".to_string(), "ignored")
        ]
    );
    assert_eq!(s.queue_depth().unwrap(), 0);
    assert_eq!(s.oldest_pending().unwrap(), None, "no backlog, no age");
    assert!(
        s.claim_pending(&claim("w", "2026-01-01T10:30:00Z"), 10)
            .unwrap()
            .is_empty()
    );
}

/// A group-commit batch holds new deliveries beside other callers' results (the PostgreSQL
/// store commits those two parts on two connections at once): each outcome is its own
/// operation's, in order; a result for a delivery of the same batch is applied after it.
fn a_batch_mixes_new_deliveries_with_results(f: &Fixture) {
    let s = f.store.as_ref();
    let d = |id: &str, sec: u32| delivery(id, "o/r", &format!("2026-01-01T10:00:{sec:02}Z"));
    assert!(matches!(
        apply(s, WriteOp::Receive(d("d1", 0))),
        WriteOutcome::Received { .. }
    ));
    s.claim_pending(&claim("w", "2026-01-01T10:01:00Z"), 10)
        .unwrap();
    let ev = comment("o/r", "c1", "2026-01-01T09:59:00Z", "ada", 1);
    let got = s
        .apply_writes(vec![
            WriteOp::Receive(d("d2", 2)),
            complete(
                "d1",
                vec![ev.clone()],
                vec![sticky("o/r", 1, "v1")],
                "2026-01-01T10:01:01Z",
            ),
            WriteOp::Receive(d("d3", 3)),
            WriteOp::Receive(d("d2", 2)),
            complete("gone", vec![], vec![], "2026-01-01T10:01:01Z"),
        ])
        .unwrap();
    assert!(matches!(got[0], WriteOutcome::Received { .. }), "{got:?}");
    assert_eq!(got[1], WriteOutcome::Completed { new_events: 1 });
    assert!(matches!(got[2], WriteOutcome::Received { .. }), "{got:?}");
    assert_eq!(got[3], WriteOutcome::Duplicate);
    assert!(matches!(&got[4], WriteOutcome::Rejected(m) if m.contains("no delivery")));
    assert!(s.outbox_item("sticky:github:o/r#1").unwrap().is_some());
    assert_eq!(s.get_meta("state:d1").unwrap(), Some(b"d1".to_vec()));
    // Received and completed in one batch: in that order.
    let got = s
        .apply_writes(vec![
            WriteOp::Receive(d("d4", 4)),
            complete("d4", vec![], vec![], "2026-01-01T10:01:02Z"),
        ])
        .unwrap();
    assert!(matches!(got[0], WriteOutcome::Received { .. }), "{got:?}");
    assert_eq!(got[1], WriteOutcome::Completed { new_events: 0 });
    let mut all = Vec::new();
    s.scan_deliveries(&mut |r| {
        all.push((r.delivery.id, canopy_core::state_name(&r.state)));
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(
        all,
        [
            ("d1".to_string(), "processed"),
            ("d2".to_string(), "pending"),
            ("d3".to_string(), "pending"),
            ("d4".to_string(), "processed"),
        ]
    );
    assert_eq!(
        s.delivery_body(Platform::Github, "d3").unwrap(),
        Some(d("d3", 3).body)
    );
    assert_eq!(s.queue_depth().unwrap(), 2);
}

fn a_claim_is_exclusive_until_it_lapses(f: &Fixture) {
    let s = f.store.as_ref();
    let other = (f.replica)();
    for (i, repo) in ["o/a", "o/b", "o/c"].iter().enumerate() {
        apply(
            s,
            WriteOp::Receive(delivery(&format!("d{i}"), repo, "2026-01-01T10:00:00Z")),
        );
    }
    let a = s
        .claim_pending(&claim("a", "2026-01-01T10:00:00Z"), 2)
        .unwrap();
    assert_eq!(pending_ids(&a), ["d0", "d1"]);
    assert!(
        s.claim_pending(&claim("a", "2026-01-01T10:00:01Z"), 2)
            .unwrap()
            .iter()
            .all(|p| p.delivery.id == "d2")
    );
    assert!(
        other
            .claim_pending(&claim("b", "2026-01-01T10:01:00Z"), 10)
            .unwrap()
            .is_empty()
    );
    // a died: after its lease, b takes its deliveries over.
    let b = other
        .claim_pending(&claim("b", "2026-01-01T10:05:01Z"), 10)
        .unwrap();
    assert_eq!(pending_ids(&b), ["d0", "d1", "d2"]);
    // Completing releases the claim: nothing is claimable twice.
    apply(
        other.as_ref(),
        complete("d0", vec![], vec![], "2026-01-01T10:05:02Z"),
    );
    assert!(
        s.claim_pending(&claim("a", "2026-01-01T10:05:03Z"), 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.queue_depth().unwrap(), 2);
}

fn a_repository_is_processed_in_arrival_order_across_claimants(f: &Fixture) {
    let s = f.store.as_ref();
    let other = (f.replica)();
    apply(
        s,
        WriteOp::Receive(delivery("r1", "o/r", "2026-01-01T10:00:00Z")),
    );
    apply(
        s,
        WriteOp::Receive(delivery("x1", "o/x", "2026-01-01T10:00:01Z")),
    );
    apply(
        s,
        WriteOp::Receive(delivery("r2", "o/r", "2026-01-01T10:00:02Z")),
    );
    let a = s
        .claim_pending(&claim("a", "2026-01-01T10:00:03Z"), 1)
        .unwrap();
    assert_eq!(pending_ids(&a), ["r1"]);
    // The claim carries each delivery's ordering key, read once by the store.
    assert_eq!(a[0].key, "o/r");
    // b may not take r2 while a holds the earlier r1 of the same repository.
    let b = other
        .claim_pending(&claim("b", "2026-01-01T10:00:04Z"), 10)
        .unwrap();
    assert_eq!(pending_ids(&b), ["x1"]);
    assert_eq!(b[0].key, "o/x");
    // a itself may: it processes them in order.
    let a2 = s
        .claim_pending(&claim("a", "2026-01-01T10:00:05Z"), 10)
        .unwrap();
    assert_eq!(pending_ids(&a2), ["r2"]);
}

fn quarantine_and_retry(f: &Fixture) {
    let s = f.store.as_ref();
    apply(
        s,
        WriteOp::Receive(delivery("q1", "o/r", "2026-01-01T10:00:00Z")),
    );
    let q = WriteOp::Quarantine {
        platform: Platform::Github,
        id: "q1".into(),
        error: "missing field `number`".into(),
        at: t("2026-01-01T10:00:01Z"),
    };
    assert_eq!(apply(s, q.clone()), WriteOutcome::Quarantined);
    assert!(matches!(apply(s, q), WriteOutcome::Rejected(_)));
    let quarantined = s.quarantined().unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(
        quarantined[0].state,
        DeliveryState::Quarantined {
            error: "missing field `number`".into(),
            at: t("2026-01-01T10:00:01Z")
        }
    );
    assert_eq!(s.queue_depth().unwrap(), 0);
    let retry = WriteOp::Retry {
        platform: Platform::Github,
        id: "q1".into(),
    };
    assert_eq!(apply(s, retry.clone()), WriteOutcome::Requeued);
    assert!(s.quarantined().unwrap().is_empty());
    assert!(matches!(apply(s, retry), WriteOutcome::Rejected(m) if m.contains("pending")));
    let again = s
        .claim_pending(&claim("w", "2026-01-01T10:00:02Z"), 10)
        .unwrap();
    assert_eq!(pending_ids(&again), ["q1"]);
    apply(s, complete("q1", vec![], vec![], "2026-01-01T10:00:03Z"));
    assert_eq!(
        s.delivery(Platform::Github, "q1")
            .unwrap()
            .unwrap()
            .attempts,
        2
    );
}

fn replicas_receiving_the_same_delivery_store_it_once(f: &Fixture) {
    let replicas: Vec<Arc<dyn Store>> = (0..4).map(|_| (f.replica)()).collect();
    let outcomes: Vec<WriteOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = replicas
            .iter()
            .map(|r| {
                scope.spawn(move || {
                    let mut ops = Vec::new();
                    for i in 0..50 {
                        ops.push(WriteOp::Receive(delivery(
                            &format!("same-{i}"),
                            "o/r",
                            "2026-01-01T10:00:00Z",
                        )));
                    }
                    r.apply_writes(ops).unwrap()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let received = outcomes
        .iter()
        .filter(|o| matches!(o, WriteOutcome::Received { .. }))
        .count();
    assert_eq!(received, 50, "each delivery stored by exactly one replica");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == WriteOutcome::Duplicate)
            .count(),
        150
    );
    assert_eq!(f.store.queue_depth().unwrap(), 50);
}

fn concurrent_claimants_never_share_a_delivery(f: &Fixture) {
    let s = f.store.as_ref();
    let ops: Vec<WriteOp> = (0..200)
        .map(|i| {
            WriteOp::Receive(delivery(
                &format!("c{i:03}"),
                &format!("o/r{}", i % 10),
                "2026-01-01T10:00:00Z",
            ))
        })
        .collect();
    s.apply_writes(ops).unwrap();
    let replicas: Vec<Arc<dyn Store>> = (0..3).map(|_| (f.replica)()).collect();
    let taken: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = replicas
            .iter()
            .enumerate()
            .map(|(n, r)| {
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let batch = r
                            .claim_pending(
                                &claim(&format!("replica-{n}"), "2026-01-01T10:00:01Z"),
                                7,
                            )
                            .unwrap();
                        if batch.is_empty() {
                            return mine;
                        }
                        for p in batch {
                            let done =
                                complete(&p.delivery.id, vec![], vec![], "2026-01-01T10:00:02Z");
                            assert_eq!(
                                r.apply_writes(vec![done]).unwrap()[0],
                                WriteOutcome::Completed { new_events: 0 }
                            );
                            mine.push(p.delivery.id);
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let unique: HashSet<&String> = taken.iter().collect();
    assert_eq!(
        (taken.len(), unique.len()),
        (200, 200),
        "every delivery processed exactly once"
    );
    assert_eq!(s.queue_depth().unwrap(), 0);
}

fn outbox_modes_claims_and_results(f: &Fixture) {
    let s = f.store.as_ref();
    let other = (f.replica)();
    let now = t("2026-01-01T10:00:00Z");
    enqueue_once_replace_and_later(s, now);
    a_claim_is_exclusive_and_a_result_records_what_was_sent(s, other.as_ref(), now);
    lapsed_claims_are_taken_over_and_later_items_wait(s, other.as_ref(), now);
}

/// A reply enqueued once (again: unchanged), a sticky comment, and one due an hour later.
fn enqueue_once_replace_and_later(s: &dyn Store, now: DateTime<Utc>) {
    let reply = Enqueue {
        id: "reply:1".into(),
        action: Action::PostComment {
            repo: "o/r".into(),
            number: 1,
            body: "hi".into(),
            marker: "m1".into(),
        },
        due_at: now,
        mode: EnqueueMode::Once,
    };
    assert_eq!(
        apply(s, WriteOp::Enqueue(reply.clone(), now)),
        WriteOutcome::Enqueued
    );
    assert_eq!(
        apply(s, WriteOp::Enqueue(reply, now)),
        WriteOutcome::Unchanged
    );
    assert_eq!(
        apply(s, WriteOp::Enqueue(sticky("o/r", 1, "v1"), now)),
        WriteOutcome::Enqueued
    );
    let mut later = sticky("o/r", 2, "v1");
    later.due_at = now + Duration::hours(1);
    apply(s, WriteOp::Enqueue(later, now));
    assert_eq!(s.next_due().unwrap(), Some(now));
}

/// Claimed by one worker, another sees nothing due until the lease lapses; a result records
/// the content that was sent, and newer content stays pending.
fn a_claim_is_exclusive_and_a_result_records_what_was_sent(
    s: &dyn Store,
    other: &dyn Store,
    now: DateTime<Utc>,
) {
    // Claimed by one worker; another sees nothing due until the lease lapses.
    let a = s
        .claim_due(&claim("a", "2026-01-01T10:00:00Z"), 10)
        .unwrap();
    let a_ids: Vec<&str> = a.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(a_ids, ["reply:1", "sticky:github:o/r#1"]);
    assert!(
        other
            .claim_due(&claim("b", "2026-01-01T10:01:00Z"), 10)
            .unwrap()
            .is_empty()
    );
    // The sticky comment changed while a was posting v1: v1 is recorded, v2 stays pending.
    assert_eq!(
        apply(s, WriteOp::Enqueue(sticky("o/r", 1, "v2"), now)),
        WriteOutcome::Enqueued
    );
    let done_v1 = WriteOp::OutboxDone {
        id: "sticky:github:o/r#1".into(),
        executed: sticky("o/r", 1, "v1").action,
        at: now,
    };
    assert_eq!(apply(s, done_v1), WriteOutcome::Unchanged);
    let b = other
        .claim_due(&claim("b", "2026-01-01T10:01:00Z"), 10)
        .unwrap();
    assert_eq!(b.len(), 1, "the claim was released: {b:?}");
    assert_eq!(b[0].action, sticky("o/r", 1, "v2").action);
    let done_v2 = WriteOp::OutboxDone {
        id: "sticky:github:o/r#1".into(),
        executed: sticky("o/r", 1, "v2").action,
        at: now,
    };
    assert_eq!(
        apply(other, done_v2),
        WriteOutcome::Completed { new_events: 0 }
    );
    let item = s.outbox_item("sticky:github:o/r#1").unwrap().unwrap();
    assert_eq!((item.state, item.done_at), (OutboxState::Done, Some(now)));
    // The same content again: nothing to do; new content revives it.
    assert_eq!(
        apply(s, WriteOp::Enqueue(sticky("o/r", 1, "v2"), now)),
        WriteOutcome::Unchanged
    );
    assert_eq!(
        apply(s, WriteOp::Enqueue(sticky("o/r", 1, "v3"), now)),
        WriteOutcome::Enqueued
    );
    assert_eq!(
        s.outbox_item("sticky:github:o/r#1").unwrap().unwrap().state,
        OutboxState::Pending
    );
}

/// The reply's claim lapses (its worker died between sending and recording): taken over; items
/// due later are not claimed before their time; a result for an unknown item is rejected.
fn lapsed_claims_are_taken_over_and_later_items_wait(
    s: &dyn Store,
    other: &dyn Store,
    now: DateTime<Utc>,
) {
    let c = other
        .claim_due(&claim("b", "2026-01-01T10:05:01Z"), 10)
        .unwrap();
    assert!(c.iter().any(|i| i.id == "reply:1"), "{c:?}");
    // Items due later are not claimed before their time.
    assert!(c.iter().all(|i| i.id != "sticky:github:o/r#2"));
    let due_later = other
        .claim_due(&claim("b", "2026-01-01T11:00:00Z"), 10)
        .unwrap();
    assert!(due_later.iter().any(|i| i.id == "sticky:github:o/r#2"));
    assert!(matches!(
        apply(
            s,
            WriteOp::OutboxDone {
                id: "nope".into(),
                executed: sticky("o/r", 9, "x").action,
                at: now
            }
        ),
        WriteOutcome::Rejected(_)
    ));
}

fn outbox_failures_retries_and_dead_letters(f: &Fixture) {
    let s = f.store.as_ref();
    let now = t("2026-01-01T10:00:00Z");
    apply(s, WriteOp::Enqueue(sticky("o/r", 1, "v1"), now));
    let fail = |retry_at: Option<DateTime<Utc>>| WriteOp::OutboxFailed {
        id: "sticky:github:o/r#1".into(),
        error: "502 from GitHub".into(),
        retry_at,
        max_attempts: 3,
    };
    assert_eq!(
        apply(s, fail(Some(now + Duration::minutes(1)))),
        WriteOutcome::Requeued
    );
    assert_eq!(s.next_due().unwrap(), Some(now + Duration::minutes(1)));
    assert!(
        s.claim_due(&claim("w", "2026-01-01T10:00:30Z"), 10)
            .unwrap()
            .is_empty(),
        "backing off"
    );
    assert_eq!(
        apply(s, fail(Some(now + Duration::minutes(2)))),
        WriteOutcome::Requeued
    );
    assert_eq!(
        apply(s, fail(Some(now + Duration::minutes(4)))),
        WriteOutcome::Quarantined
    );
    let mut dead = Vec::new();
    s.scan_outbox(true, &mut |i| {
        dead.push(i);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].attempts, dead[0].last_error.as_deref()),
        (3, Some("502 from GitHub"))
    );
    assert_eq!(s.next_due().unwrap(), None);
    let retry = WriteOp::OutboxRetry {
        id: "sticky:github:o/r#1".into(),
        now,
    };
    assert_eq!(apply(s, retry.clone()), WriteOutcome::Requeued);
    assert!(
        matches!(apply(s, retry), WriteOutcome::Rejected(_)),
        "only dead items"
    );
    let item = s.outbox_item("sticky:github:o/r#1").unwrap().unwrap();
    assert_eq!((item.state, item.attempts), (OutboxState::Pending, 0));
    // A permanent failure is dead at once.
    assert_eq!(apply(s, fail(None)), WriteOutcome::Quarantined);
}

fn consent_keeps_the_latest_record(f: &Fixture) {
    let s = f.store.as_ref();
    let consent = |opted_in, at: &str| Consent {
        actor_key: "github:ada".into(),
        opted_in,
        at: t(at),
        via: "comment".into(),
    };
    for (i, c) in [
        consent(true, "2026-01-02T00:00:00Z"),
        consent(false, "2026-01-01T00:00:00Z"), // older: ignored
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("cd{i}");
        apply(
            s,
            WriteOp::Receive(delivery(&id, "o/r", "2026-01-01T00:00:00Z")),
        );
        let op = WriteOp::Complete {
            platform: Platform::Github,
            id: id.clone(),
            events: Vec::new(),
            ignored: None,
            at: t("2026-01-03T00:00:00Z"),
            actions: Vec::new(),
            consents: vec![c],
            meta: Vec::new(),
        };
        apply(s, op);
    }
    assert_eq!(
        s.consents().unwrap(),
        vec![consent(true, "2026-01-02T00:00:00Z")]
    );
}

fn reports_audit_logs_and_budgets(f: &Fixture) {
    let s = f.store.as_ref();
    let report = |status| StoredReport {
        id: "r-2026Q1".into(),
        status,
        document: serde_json::json!({"period": "2026-Q1", "cells": [1, 2, 3]}),
        raw: Vec::new(),
    };
    let entry = |action: &str| AuditEntry {
        at: t("2026-04-01T00:00:00Z"),
        action: action.into(),
        actor: "canopy".into(),
        detail: String::new(),
    };
    let budget = canopy_policies::privacy::Budget {
        allowed: 1.0,
        spent: 0.25,
    };
    s.save_report(
        &report(ReportStatus::Draft),
        &entry("created"),
        Some(("dp-budget:2026-Q1", &budget)),
    )
    .unwrap();
    s.audit_append("r-2026Q1", &entry("approval_refused"))
        .unwrap();
    s.save_report(&report(ReportStatus::Approved), &entry("approved"), None)
        .unwrap();
    assert_eq!(
        s.report("r-2026Q1").unwrap(),
        Some(report(ReportStatus::Approved))
    );
    assert_eq!(s.report("nope").unwrap(), None);
    assert_eq!(s.reports().unwrap().len(), 1);
    let log: Vec<String> = s
        .audit("r-2026Q1")
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(log, ["created", "approval_refused", "approved"]);
    assert_eq!(s.budget("dp-budget:2026-Q1").unwrap(), Some(budget));
    assert_eq!(s.budget("dp-budget:2026-Q2").unwrap(), None);
}

fn sentiment_scores_are_cached_per_model_and_comment(f: &Fixture) {
    let s = f.store.as_ref();
    let score = |negative, uncivil| CachedScore { negative, uncivil };
    let keys = [
        ("acme/widgets", "c1"),
        ("acme/widgets", "c2"),
        ("acme/gears", "c1"),
        ("acme/widgets", "nul\0id"),
    ];
    assert_eq!(s.cached_scores("m1", &keys).unwrap(), vec![None; 4]);
    s.put_scores(
        "m1",
        &[
            (keys[0], score(0.25, false)),
            (keys[2], score(0.9, true)),
            (keys[3], score(0.5, false)),
            // The last score of a comment given twice wins.
            (keys[0], score(0.125, false)),
        ],
    )
    .unwrap();
    let want = vec![
        Some(score(0.125, false)),
        None,
        Some(score(0.9, true)),
        Some(score(0.5, false)),
    ];
    assert_eq!(s.cached_scores("m1", &keys).unwrap(), want);
    // Exact values (the digest must read back what it computed), in the order asked.
    let reversed: Vec<_> = keys.iter().rev().copied().collect();
    let back = s.cached_scores("m1", &reversed).unwrap();
    assert_eq!(back, want.iter().rev().copied().collect::<Vec<_>>());
    // Another model sees nothing; a replica sees what was committed; a new score replaces.
    assert_eq!(s.cached_scores("m2", &keys).unwrap(), vec![None; 4]);
    s.put_scores("m2", &[(keys[1], score(0.3333333333333333, true))])
        .unwrap();
    s.put_scores("m1", &[(keys[2], score(0.1, false))]).unwrap();
    let r = (f.replica)();
    assert_eq!(
        r.cached_scores("m1", &keys[2..3]).unwrap(),
        vec![Some(score(0.1, false))]
    );
    assert_eq!(s.drop_scores_except("m2").unwrap(), 3);
    assert_eq!(s.cached_scores("m1", &keys).unwrap(), vec![None; 4]);
    assert_eq!(
        s.cached_scores("m2", &keys).unwrap(),
        vec![None, Some(score(0.3333333333333333, true)), None, None]
    );
    assert_eq!(s.drop_scores_except("m2").unwrap(), 0);
    // Many comments at once (several statements on PostgreSQL).
    let ids: Vec<String> = (0..12_000).map(|i| format!("e{i}")).collect();
    let many: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                ("big/repo", id.as_str()),
                score(i as f64 / 12_000.0, i % 7 == 0),
            )
        })
        .collect();
    s.put_scores("m2", &many).unwrap();
    let asked: Vec<_> = many.iter().map(|(k, _)| *k).collect();
    let got = s.cached_scores("m2", &asked).unwrap();
    assert!(
        got.iter()
            .zip(&many)
            .all(|(g, (_, w))| g.as_ref() == Some(w))
    );
}

// PostgreSQL only: the schema's life.

#[test]
fn postgres_migrations_apply_once_even_when_run_concurrently() {
    let db = canopy_e2e::pg::fresh_database();
    let err = PgStore::open(&db.options())
        .err()
        .expect("an unmigrated store is refused");
    assert!(
        matches!(err, StoreError::NotMigrated { found: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("canopy migrate"), "{err}");
    let applied: Vec<Vec<u32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| PgStore::open_and_migrate(&db.options()).unwrap().1))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        applied.iter().filter(|a| !a.is_empty()).count(),
        1,
        "{applied:?}"
    );
    let store = PgStore::open(&db.options()).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        Some(canopy_store::postgres::SCHEMA_VERSION)
    );
    assert!(store.migrate().unwrap().is_empty());
}

#[test]
fn postgres_stores_delivery_bodies_lz4_compressed() {
    let db = canopy_e2e::pg::fresh_database();
    let (store, _) = PgStore::open_and_migrate(&db.options()).unwrap();
    let mut d = delivery("big", "o/r", "2026-01-01T10:00:00Z");
    // A webhook-sized body: compressible JSON well over the 2 KB at which PostgreSQL compresses.
    d.body = format!(
        r#"{{"repository":{{"full_name":"o/r"}},"pad":"{}"}}"#,
        "abc".repeat(10_000)
    )
    .into_bytes();
    assert!(matches!(
        apply(&store, WriteOp::Receive(d.clone())),
        WriteOutcome::Received { .. }
    ));
    assert_eq!(
        db.psql("SELECT pg_column_compression(body) FROM deliveries WHERE id = 'big'"),
        "lz4"
    );
    assert_eq!(
        canopy_store::InboxStore::delivery_body(&store, Platform::Github, "big").unwrap(),
        Some(d.body)
    );
}

#[test]
fn postgres_wrong_password_and_newer_schema_are_clear_errors() {
    let db = canopy_e2e::pg::fresh_database();
    let mut wrong = db.options();
    wrong.password = Some("not-it".into());
    let err = PgStore::open(&wrong).err().expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Connect { .. }), "{msg}");
    assert!(
        msg.contains("password authentication failed") && !msg.contains("not-it"),
        "{msg}"
    );
    let (store, _) = PgStore::open_and_migrate(&db.options()).unwrap();
    use canopy_store::MetaStore;
    store.put_meta("x", b"y").unwrap();
    drop(store);
    // A newer canopy migrated it further: this one refuses it.
    db.psql("INSERT INTO canopy_migrations (version, name) VALUES (99, 'future')");
    let err = PgStore::open(&db.options()).err().expect("refused");
    assert!(
        matches!(err, StoreError::Incompatible { found: 99, .. }),
        "{err}"
    );
    let err = PgStore::open_and_migrate(&db.options())
        .err()
        .expect("refused");
    assert!(
        matches!(err, StoreError::Incompatible { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn postgres_schema_1_events_get_their_kinds_and_job_keys_when_migrated() {
    use std::io::Write;
    let db = canopy_e2e::pg::fresh_database();
    // A database as schema version 1 left it, with events in its JSON form.
    let sql = schema_1_with_events();
    let mut psql = std::process::Command::new("psql")
        .args([&db.url, "-v", "ON_ERROR_STOP=1", "-q", "-f", "-"])
        .env("PGPASSWORD", canopy_e2e::pg::PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql");
    psql.stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = psql.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = PgStore::open(&db.options())
        .err()
        .expect("schema 1 is refused");
    assert!(
        matches!(err, StoreError::NotMigrated { found: 1, .. }),
        "{err}"
    );
    let (store, applied) = PgStore::open_and_migrate(&db.options()).unwrap();
    assert_eq!(applied, vec![2, 3, 4]);
    let s: &dyn Store = &store;
    assert_eq!(s.change_of_sha("o/r", "aaa").unwrap(), Some(7));
    let ids = |scan: &dyn Fn(canopy_store::Visit<'_>)| {
        let mut v = Vec::new();
        scan(&mut |e| {
            v.push(e.id);
            ControlFlow::Continue(())
        });
        v
    };
    assert_eq!(
        ids(&|v| s.scan_sha_jobs("o/r", "bbb", v).unwrap()),
        ["ci:2", "ci:3", "ci:5"]
    );
    assert_eq!(
        ids(&|v| s.scan_job("o/r", "tempest (check)", v).unwrap()),
        ["ci:1", "ci:2"]
    );
    assert_eq!(
        ids(&|v| s.scan_job("o/r", "odd\0name", v).unwrap()),
        ["ci:5"]
    );
    let mut summaries = Vec::new();
    s.scan_change_summaries("o/r", &mut |n, sum| {
        summaries.push((n, sum));
        ControlFlow::Continue(())
    })
    .unwrap();
    let want: Vec<_> = by_scan::change_summaries(s, "o/r")
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(summaries, want);
}

/// The SQL that makes a database as schema version 1 left it, holding the indexed events and a
/// job whose name has a NUL (as an old store may hold), in their JSON form.
fn schema_1_with_events() -> String {
    let (_, _, initial) = canopy_store::postgres::MIGRATIONS[0];
    let mut sql = String::from(initial);
    sql.push_str("CREATE TABLE canopy_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());\n");
    sql.push_str("INSERT INTO canopy_migrations (version, name) VALUES (1, 'initial');\n");
    let mut events = indexed_events();
    // A job whose name has a NUL, as an old store may hold.
    events.push(job_at("ci:5", "odd\0name", None, None, "bbb", 6));
    for e in &events {
        let json = serde_json::to_string(e).unwrap().replace('\'', "''");
        sql.push_str(&format!(
            "INSERT INTO events (repo, id, at_ms, change_number, head_sha, data) VALUES ('{}', '{}', {}, {}, {}, convert_to('{}', 'UTF8'));\n",
            e.repo,
            e.id,
            e.at_millis(),
            e.change_number().map_or("NULL".to_string(), |n| n.to_string()),
            e.head_sha().map_or("NULL".to_string(), |h| format!("'{h}'")),
            json,
        ));
    }
    sql
}
