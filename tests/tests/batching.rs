//! Processed deliveries committed in batches (issue 15): a burst of deliveries for one PR is
//! decided as one batch, every event stored and every delivery processed, with one sticky
//! comment refresh carrying the final state; a crash before a batch is committed leaves all of
//! it pending, and the restarted bot redoes it without duplicating anything.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use canopy_analyzer::Event;
use canopy_core::{Delivery, DeliveryState, Normalize, Normalized, Platform, WriteOp};
use canopy_e2e::Webhooks as _;
use canopy_e2e::fake_github::FakeGitHub;
use canopy_e2e::github_bot::{MARKER, REPO, TOKEN, github_config, github_server};
use canopy_e2e::harness::Harness;
use canopy_e2e::workspace_root;
use canopy_server::batch::{coalesce, decide_batch, decide_batch_after};
use canopy_service::config::Config;
use canopy_service::react::{Carried, React, Reaction};
use canopy_store::{Claim, EventStore, Store, StoreError, TimeRange};
use chrono::{DateTime, Utc};

/// PR #7's story: opened, a new head, two CI jobs on it, merged.
const STORY: [(&str, &str, &str); 5] = [
    ("pull_request", "b-open", "pull_request.opened.json"),
    ("pull_request", "b-sync", "pull_request.synchronize.json"),
    ("workflow_job", "b-job1", "workflow_job.completed.json"),
    ("workflow_job", "b-job2", "workflow_job.completed.lint.json"),
    ("pull_request", "b-merge", "pull_request.closed.merged.json"),
];

fn story(at: chrono::DateTime<chrono::Utc>) -> Vec<Delivery> {
    STORY
        .iter()
        .map(|(event, id, file)| Delivery {
            platform: Platform::Github,
            id: id.to_string(),
            event: event.to_string(),
            received_at: at,
            body: std::fs::read(workspace_root().join("tests/fixtures/github").join(file))
                .expect("fixture"),
        })
        .collect()
}

/// Queues deliveries in a stopped bot's store, as intake would have before a crash.
fn queue(store: &dyn Store, deliveries: &[Delivery]) {
    let ops = deliveries.iter().cloned().map(WriteOp::Receive).collect();
    store.apply_writes(ops).expect("queued");
}

/// Each stored event id of the repository, with how many times it is stored.
fn event_ids(store: &dyn EventStore) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    store
        .scan_repo(REPO, TimeRange::ALL, &mut |e| {
            *ids.entry(e.id).or_insert(0) += 1;
            ControlFlow::Continue(())
        })
        .expect("scan");
    ids
}

/// The states of the story's deliveries.
fn states(store: &dyn Store) -> Vec<DeliveryState> {
    STORY
        .iter()
        .map(|(_, id, _)| {
            store
                .delivery(Platform::Github, id)
                .expect("read")
                .expect("stored")
                .state
        })
        .collect()
}

/// Once the bot has settled and commented on the PR, its one comment there.
async fn settled_comment(s: &Harness, fake: &FakeGitHub) -> String {
    s.settle().await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| !m.comments.is_empty())
            .await
    );
    s.settle().await;
    fake.sole_comment(REPO, 7).body
}

/// The story posted one delivery at a time, each processed before the next: the reference.
async fn one_at_a_time() -> (BTreeMap<String, usize>, String) {
    let fake = FakeGitHub::start(TOKEN).await;
    let mut s = github_server(&fake, "").await;
    for d in story(s.clock.now()) {
        assert_eq!(s.github(&d.event, &d.id, &d.body).await, 202);
        s.settle().await;
    }
    let body = fake.sole_comment(REPO, 7).body;
    s.stop().await;
    let store = canopy::wiring::open_store(s.store()).expect("store");
    (event_ids(store.as_ref()), body)
}

/// A fake GitHub and the bot configured for it, started and stopped at once (its store then
/// takes deliveries by hand).
async fn stopped_bot() -> (FakeGitHub, Harness) {
    let fake = FakeGitHub::start(TOKEN).await;
    let mut s = github_server(&fake, "").await;
    s.stop().await;
    (fake, s)
}

/// Stops the bot and checks every delivery of the story was processed; its store.
async fn stop_with_all_processed(s: &mut Harness) -> std::sync::Arc<dyn Store> {
    s.stop().await;
    let store = canopy::wiring::open_store(s.store()).expect("store");
    for st in states(store.as_ref()) {
        assert!(matches!(st, DeliveryState::Processed { .. }), "{st:?}");
    }
    store
}

#[tokio::test]
async fn a_burst_for_one_pr_is_one_sticky_refresh_with_the_final_state() {
    let (reference_events, reference_body) = one_at_a_time().await;
    let (fake, mut s) = stopped_bot().await;
    {
        let store = canopy::wiring::open_store(s.store()).expect("store");
        queue(store.as_ref(), &story(s.clock.now()));
    }
    // The restarted bot finds the five deliveries pending and takes them as one batch.
    s.restart().await;
    let body = &settled_comment(&s, &fake).await;
    assert!(body.starts_with(MARKER));
    assert!(body.contains("2 CI jobs so far"), "{body}");
    assert!(
        body.contains("Merged 1 day 23 hours after opening."),
        "{body}"
    );
    assert_eq!(
        body, &reference_body,
        "the same final comment as one at a time"
    );
    // One refresh: the comment was created with the final state and never edited.
    let mutations = fake.mutations();
    assert_eq!(
        mutations.iter().filter(|r| r.method == "POST").count(),
        1,
        "{mutations:?}"
    );
    assert_eq!(
        mutations.iter().filter(|r| r.method == "PATCH").count(),
        0,
        "{mutations:?}"
    );
    let store = stop_with_all_processed(&mut s).await;
    assert_eq!(event_ids(store.as_ref()), reference_events);
}

#[tokio::test]
async fn a_crash_mid_batch_loses_nothing_and_the_batch_is_redone() {
    let (reference_events, reference_body) = one_at_a_time().await;
    let (fake, mut s) = stopped_bot().await;
    let now = s.clock.now();
    {
        let store = canopy::wiring::open_store(s.store()).expect("store");
        queue(store.as_ref(), &story(now));
        let cfg = Config::parse(&github_config(&fake, "")).expect("config");
        let normalizer = canopy::wiring::normalizer(&cfg);
        let (reactor, _) = canopy::wiring::reactor(&cfg);
        let claim = Claim::new("crashing", now, chrono::Duration::minutes(1));
        let pending: Vec<Delivery> = store
            .claim_pending(&claim, 256)
            .expect("claim")
            .into_iter()
            .map(|p| p.delivery)
            .collect();
        assert_eq!(pending.len(), 5);
        // A first batch (two deliveries) is committed...
        let (mut first, _) =
            decide_batch(&normalizer, &reactor, store.as_ref(), &pending[..2], now);
        coalesce(&mut first);
        store.apply_writes(first).expect("first batch committed");
        // ...the second (three) is decided, and the process dies before its commit.
        let (second, _) = decide_batch(&normalizer, &reactor, store.as_ref(), &pending[2..], now);
        assert_eq!(second.len(), 3);
        assert!(
            second
                .iter()
                .all(|op| matches!(op, WriteOp::Complete { events, .. } if !events.is_empty()))
        );
        drop(second);
    }
    {
        let store = canopy::wiring::open_store(s.store()).expect("store");
        let st = states(store.as_ref());
        assert!(matches!(st[0], DeliveryState::Processed { .. }), "{st:?}");
        assert!(matches!(st[1], DeliveryState::Processed { .. }), "{st:?}");
        assert!(
            st[2..].iter().all(|s| *s == DeliveryState::Pending),
            "{st:?}"
        );
        assert_eq!(store.queue_depth().expect("depth"), 3);
    }
    // Restarted, the bot redoes the unfinished batch: every event once, one comment, final state.
    s.restart().await;
    assert_eq!(settled_comment(&s, &fake).await, reference_body);
    let store = stop_with_all_processed(&mut s).await;
    assert_eq!(event_ids(store.as_ref()), reference_events);
    assert!(event_ids(store.as_ref()).values().all(|n| *n == 1));
}

/// A batch decided while the batch before it is still being committed reads the store through
/// that batch: it decides exactly what it decides once the batch before is committed, and
/// also if that batch commits in the meantime (then in the store and in the overlay alike).
#[tokio::test]
async fn a_batch_decided_on_top_of_an_uncommitted_one_decides_as_after_its_commit() {
    let fake = FakeGitHub::start(TOKEN).await;
    let cfg = Config::parse(&github_config(&fake, "")).expect("config");
    let normalizer = canopy::wiring::normalizer(&cfg);
    let (reactor, _) = canopy::wiring::reactor(&cfg);
    let now: chrono::DateTime<chrono::Utc> = "2026-11-05T12:00:00Z".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = canopy_store::RedbStore::open(dir.path()).expect("store");
    let deliveries = story(now);
    queue(&store, &deliveries);
    let (mut first, _) = decide_batch(&normalizer, &reactor, &store, &deliveries[..2], now);
    coalesce(&mut first);
    let first = std::sync::Arc::new(first);
    let ahead = [first.clone()];
    let decide = |ahead: &[std::sync::Arc<Vec<WriteOp>>]| {
        let (mut ops, _) =
            decide_batch_after(&normalizer, &reactor, &store, ahead, &deliveries[2..], now);
        coalesce(&mut ops);
        format!("{ops:?}")
    };
    let on_top = decide(&ahead);
    store
        .apply_writes(first.as_ref().clone())
        .expect("first batch committed");
    let after = decide(&[]);
    let both = decide(&ahead);
    assert!(after.contains("UpsertComment"), "{after}");
    assert_eq!(on_top, after);
    assert_eq!(both, after);
}

/// Normalises every delivery to no events.
struct NoEvents;

impl Normalize for NoEvents {
    fn normalize(&self, _: &Delivery) -> Result<Normalized, String> {
        Ok(Normalized {
            events: Vec::new(),
            ignored: None,
        })
    }
}

/// The n-th reaction scores change n - 1 and issues a prediction for change n in the
/// repository's time-to-merge state; the third then panics, the fourth fails.
struct Scribbler(AtomicU64);

impl React for Scribbler {
    fn react(&self, _: &dyn Store, _: &[Event], _: DateTime<Utc>) -> Result<Reaction, StoreError> {
        Ok(Reaction::default())
    }

    fn react_carried(
        &self,
        _: &dyn Store,
        _: &[Event],
        _: DateTime<Utc>,
        carried: &mut Carried,
    ) -> Result<Reaction, StoreError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        let s = carried.entry("o/r".into()).or_default();
        if n > 0 {
            s.merged(n - 1, 5.0);
        }
        let issued = serde_json::json!({"at": 0, "p10_hours": 1.0, "p50_hours": 2.0,
            "p90_hours": 3.0, "median_hours": 2.0, "raw": {"lo": 0.1, "mid": 0.2, "hi": 0.3},
            "model": 0});
        s.issue(n, serde_json::from_value(issued).expect("issued"));
        match n {
            2 => panic!("scribbled"),
            3 => Err(StoreError::Db("failed".into())),
            _ => Ok(Reaction::default()),
        }
    }
}

/// A decision that panics or fails leaves no trace in the time-to-merge state carried through
/// its batch: the state written with the batch is what the completed decisions made of it.
#[test]
fn a_failed_decision_leaves_the_carried_state_as_it_found_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = canopy_store::RedbStore::open(dir.path()).expect("store");
    let now: DateTime<Utc> = "2026-11-05T12:00:00Z".parse().unwrap();
    let batch: Vec<Delivery> = (0..5)
        .map(|i| Delivery {
            platform: Platform::Github,
            id: format!("s-{i}"),
            event: "issue_comment".into(),
            received_at: now,
            body: b"{}".to_vec(),
        })
        .collect();
    let (ops, _) = decide_batch(
        &NoEvents,
        &Scribbler(AtomicU64::new(0)),
        &store,
        &batch,
        now,
    );
    let kinds: Vec<&str> = ops
        .iter()
        .map(|op| match op {
            WriteOp::Complete { .. } => "complete",
            _ => "quarantine",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "complete",
            "complete",
            "quarantine",
            "quarantine",
            "complete"
        ]
    );
    let WriteOp::Complete { meta, .. } = &ops[4] else {
        unreachable!()
    };
    let (key, value) = meta
        .first()
        .expect("the state, with the last completed decision");
    assert_eq!(key, &canopy_service::ttm_online::online_key("o/r"));
    let state: serde_json::Value = serde_json::from_slice(value).expect("json");
    // Change 0 scored by the second decision; 2 and 3, issued by the failed ones, are gone, and
    // 1 (scored by the failed third) is back.
    let pending: Vec<&String> = state["pending"]
        .as_object()
        .expect("pending")
        .keys()
        .collect();
    assert_eq!(pending, ["1", "4"]);
    assert_eq!(state["aci"]["observed"], 1);
}

/// Deliveries for several PRs: PR #7's story interleaved with the opening of other PRs (the
/// opened fixture renumbered) and one body that is not JSON.
fn mixed(at: DateTime<Utc>) -> Vec<Delivery> {
    let opened =
        std::fs::read(workspace_root().join("tests/fixtures/github/pull_request.opened.json"))
            .expect("fixture");
    let other = |n: u64| {
        let mut v: serde_json::Value = serde_json::from_slice(&opened).expect("json");
        v["number"] = n.into();
        v["pull_request"]["number"] = n.into();
        v["pull_request"]["id"] = (50_000_000 + n).into();
        v["pull_request"]["head"]["sha"] = format!("{n:040x}").into();
        Delivery {
            platform: Platform::Github,
            id: format!("other-{n}"),
            event: "pull_request".into(),
            received_at: at,
            body: serde_json::to_vec(&v).expect("body"),
        }
    };
    let mut all = Vec::new();
    for (i, d) in story(at).into_iter().enumerate() {
        all.push(d);
        all.push(other(100 + i as u64));
    }
    all.insert(
        3,
        Delivery {
            platform: Platform::Github,
            id: "not-json".into(),
            event: "pull_request".into(),
            received_at: at,
            body: b"{ not json".to_vec(),
        },
    );
    all.push(other(100));
    all
}

/// What a store holds after processing: every event, every outbox item, every named value
/// and each delivery's state.
fn contents(store: &dyn Store, deliveries: &[Delivery]) -> String {
    let mut items = Vec::new();
    store
        .scan_outbox(false, &mut |i| {
            items.push(format!("{i:?}"));
            ControlFlow::Continue(())
        })
        .expect("outbox");
    let mut meta = Vec::new();
    store
        .scan_meta(&mut |k, v| {
            meta.push((k.to_string(), v.to_vec()));
            ControlFlow::Continue(())
        })
        .expect("meta");
    let states: Vec<String> = deliveries
        .iter()
        .map(|d| {
            let r = store
                .delivery(d.platform, &d.id)
                .expect("read")
                .expect("stored");
            format!("{} {:?}", d.id, r.state)
        })
        .collect();
    format!("{:?}\n{items:#?}\n{meta:?}\n{states:#?}", event_ids(store))
}

/// A batch decided as a pipeline (normalised on a second thread ahead of the decisions)
/// leaves the store exactly as the same deliveries decided and committed one at a time.
#[test]
fn a_pipelined_batch_leaves_the_store_as_one_delivery_at_a_time() {
    let cfg = Config::parse("[github]\napi_url = \"http://127.0.0.1:9\"\n").expect("config");
    let normalizer = canopy::wiring::normalizer(&cfg);
    let now: DateTime<Utc> = "2026-11-05T12:00:00Z".parse().unwrap();
    let deliveries = mixed(now);
    assert!(deliveries.len() >= 2 * canopy_server::batch::PIPELINE_MIN);
    let run = |one_at_a_time: bool| {
        let dir = tempfile::tempdir().unwrap();
        let store = canopy_store::RedbStore::open(dir.path()).expect("store");
        let (reactor, _) = canopy::wiring::reactor(&cfg);
        queue(&store, &deliveries);
        let chunk = if one_at_a_time { 1 } else { deliveries.len() };
        for batch in deliveries.chunks(chunk) {
            let (mut ops, _) = decide_batch(&normalizer, &reactor, &store, batch, now);
            coalesce(&mut ops);
            store.apply_writes(ops).expect("committed");
        }
        contents(&store, &deliveries)
    };
    let reference = run(true);
    assert!(reference.contains("UpsertComment"), "{reference}");
    assert!(reference.contains("not-json Quarantined"), "{reference}");
    assert_eq!(run(false), reference);
}
