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

mod events;
mod inbox;
mod outbox;
mod postgres_only;
mod records;

use events::*;
use inbox::*;
use outbox::*;
use records::*;

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
        EventKind::Comment(CommentEvent::on_change(
            number,
            id,
            Actor::github(who),
            "looks good",
        )),
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

/// The ids of the events a scan visits, in its order.
fn scanned_ids(scan: &dyn Fn(canopy_store::Visit<'_>)) -> Vec<String> {
    let mut v = Vec::new();
    scan(&mut |e| {
        v.push(e.id);
        ControlFlow::Continue(())
    });
    v
}

/// Every stored delivery's id and state name, in the store's order.
fn delivery_states(s: &dyn Store) -> Vec<(String, &'static str)> {
    let mut all = Vec::new();
    s.scan_deliveries(&mut |r| {
        all.push((r.delivery.id, canopy_core::state_name(&r.state)));
        ControlFlow::Continue(())
    })
    .unwrap();
    all
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

/// The change summaries the store's index holds for `repo`, checked against a scan.
fn summaries_agree_with_a_scan(
    s: &dyn Store,
    repo: &str,
) -> Vec<(u64, canopy_analyzer::change_summary::ChangeSummary)> {
    let mut summaries = Vec::new();
    s.scan_change_summaries(repo, &mut |n, sum| {
        summaries.push((n, sum));
        ControlFlow::Continue(())
    })
    .unwrap();
    let want: Vec<_> = by_scan::change_summaries(s, repo)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(summaries, want);
    summaries
}
