//! The outbox: enqueue modes, claims, results, retries and dead letters.

use super::*;

pub(super) fn outbox_modes_claims_and_results(f: &Fixture) {
    let s = f.store.as_ref();
    let other = (f.replica)();
    let now = t("2026-01-01T10:00:00Z");
    enqueue_once_replace_and_later(s, now);
    a_claim_is_exclusive_and_a_result_records_what_was_sent(s, other.as_ref(), now);
    lapsed_claims_are_taken_over_and_later_items_wait(s, other.as_ref(), now);
}

/// A reply enqueued once (again: unchanged), a sticky comment, and one due an hour later.
pub(super) fn enqueue_once_replace_and_later(s: &dyn Store, now: DateTime<Utc>) {
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
pub(super) fn a_claim_is_exclusive_and_a_result_records_what_was_sent(
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
pub(super) fn lapsed_claims_are_taken_over_and_later_items_wait(
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

pub(super) fn outbox_failures_retries_and_dead_letters(f: &Fixture) {
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
