//! The inbox: deliveries stored once, claimed exclusively, processed once and in order.

use super::*;

pub(super) fn deliveries_are_stored_once_and_processed_once(f: &Fixture) {
    let s = f.store.as_ref();
    let d1 = two_received_once(s);
    the_first_completed_once(s, &d1);
    the_second_ignored(s);
}

/// Two deliveries received (one of them twice): queued once each, in arrival order.
pub(super) fn two_received_once(s: &dyn Store) -> Delivery {
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
pub(super) fn the_first_completed_once(s: &dyn Store, d1: &Delivery) {
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
pub(super) fn the_second_ignored(s: &dyn Store) {
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
    assert_eq!(
        delivery_states(s),
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
pub(super) fn a_batch_mixes_new_deliveries_with_results(f: &Fixture) {
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
    assert_eq!(
        delivery_states(s),
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

pub(super) fn a_claim_is_exclusive_until_it_lapses(f: &Fixture) {
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

pub(super) fn a_repository_is_processed_in_arrival_order_across_claimants(f: &Fixture) {
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

pub(super) fn quarantine_and_retry(f: &Fixture) {
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

pub(super) fn replicas_receiving_the_same_delivery_store_it_once(f: &Fixture) {
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

pub(super) fn concurrent_claimants_never_share_a_delivery(f: &Fixture) {
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
