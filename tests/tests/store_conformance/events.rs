//! Events and their indexes, named values, leases and scheduled runs.

use super::*;

pub(super) fn events_are_idempotent_and_scanned_in_time_order(f: &Fixture) {
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

pub(super) fn events_are_found_by_change_commit_and_actor(f: &Fixture) {
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
    assert_eq!(
        scanned_ids(&|v| s.scan_change("o/r", 7, v).unwrap()),
        ["pr:7:opened", "ci:1"]
    );
    assert_eq!(
        scanned_ids(&|v| s.scan_sha("o/r", "abc123", v).unwrap()),
        ["ci:1"]
    );
    assert_eq!(
        scanned_ids(&|v| s.scan_actor("github:bob", TimeRange::ALL, v).unwrap()),
        ["c1"]
    );
    let before_noon = TimeRange {
        from: None,
        to: Some(t("2024-03-01T11:00:00Z")),
    };
    assert_eq!(
        scanned_ids(&|v| s.scan_actor("github:ada", before_noon, v).unwrap()),
        ["pr:7:opened"]
    );
    // The source's UTC offset is kept.
    let got = repo_events(s, "o/r", TimeRange::ALL).unwrap();
    assert_eq!(got[0], opened);
}

/// A change event of `number` with head `sha`, `hours` after a fixed instant.
pub(super) fn change_at(
    id: &str,
    number: u64,
    action: ChangeAction,
    sha: &str,
    hours: i64,
) -> Event {
    let at = DateTime::parse_from_rfc3339("2024-03-01T10:00:00Z").unwrap() + Duration::hours(hours);
    let mut c = ChangeEvent::new(number, action, Actor::github("ada"), at);
    c.head_sha = Some(sha.into());
    c.reviewers_requested = vec![Actor::github("bob")];
    c.actor = Some(Actor::github("cy"));
    Event::new(id, Platform::Github, "o/r", at, EventKind::Change(c))
}

/// A finished CI job `name (pipeline)` on `sha`, for `change` if known, `hours` after it.
pub(super) fn job_at(
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
pub(super) fn indexed_events() -> Vec<Event> {
    let review = Event::new(
        "rv:7",
        Platform::Github,
        "o/r",
        DateTime::parse_from_rfc3339("2024-03-01T13:30:00Z").unwrap(),
        EventKind::Review(ReviewEvent::new(
            7,
            Actor::github("bob"),
            ReviewVerdict::Approved,
        )),
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

pub(super) fn indexes_answer_what_a_scan_computes(f: &Fixture) {
    let s = f.store.as_ref();
    let events = indexed_events();
    // In two batches, the second with a redelivery of the first's events.
    s.put_events(&events[5..]).unwrap();
    s.put_events(&events).unwrap();
    assert_eq!(s.change_of_sha("o/r", "aaa").unwrap(), Some(7));
    assert_eq!(s.change_of_sha("o/r", "bbb").unwrap(), Some(7));
    assert_eq!(s.change_of_sha("o/r", "zzz").unwrap(), None);
    assert_eq!(s.change_of_sha("o/other", "aaa").unwrap(), None);
    assert_eq!(
        scanned_ids(&|v| s.scan_sha_jobs("o/r", "bbb", v).unwrap()),
        ["ci:2", "ci:3"]
    );
    assert_eq!(
        scanned_ids(&|v| s.scan_job("o/r", "tempest (check)", v).unwrap()),
        ["ci:1", "ci:2"]
    );
    assert_eq!(
        scanned_ids(&|v| s.scan_job("o/r", "tempest", v).unwrap()),
        ["ci:3"]
    );
    for sha in ["aaa", "bbb", "zzz"] {
        assert_eq!(
            s.change_of_sha("o/r", sha).unwrap(),
            by_scan::change_of_sha(s, "o/r", sha).unwrap()
        );
        assert_eq!(
            scanned_ids(&|v| s.scan_sha_jobs("o/r", sha, v).unwrap()),
            scanned_ids(&|v| by_scan::scan_sha_jobs(s, "o/r", sha, v).unwrap())
        );
    }
    for job in ["tempest (check)", "tempest", "lint (gate)", "none"] {
        assert_eq!(
            scanned_ids(&|v| s.scan_job("o/r", job, v).unwrap()),
            scanned_ids(&|v| by_scan::scan_job(s, "o/r", job, v).unwrap())
        );
    }
    let summaries = summaries_agree_with_a_scan(s, "o/r");
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
pub(super) fn a_measurement_delivery_stores_its_events_beside_the_job(f: &Fixture) {
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
pub(super) fn measurement_tries(at: DateTime<chrono::FixedOffset>) -> Vec<Event> {
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

pub(super) fn text_with_nul_characters_round_trips(f: &Fixture) {
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
pub(super) fn any_seq(o: WriteOutcome) -> WriteOutcome {
    match o {
        WriteOutcome::Received { .. } => WriteOutcome::Received { seq: 0 },
        other => other,
    }
}

pub(super) fn named_values_and_leases(f: &Fixture) {
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

pub(super) fn a_scheduled_run_is_recorded_once(f: &Fixture) {
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
