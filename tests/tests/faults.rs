//! Faults that must not lose data or exhaust the server: a panic and a store error while
//! deciding actions quarantine the delivery with its error (and `canopy inbox retry` processes
//! it once the cause is gone); a flood of large unsigned uploads is held to the request byte
//! budget and does not keep a valid delivery out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use canopy_core::{DeliveryState, Event, Platform, SystemClock, WriteOp};
use canopy_e2e::{run_canopy, stdout_ok};
use canopy_forge::normalize::PlatformNormalizer;
use canopy_server::app::{self, AppConfig, Running};
use canopy_server::http::Limits;
use canopy_server::pool::drain_blocking;
use canopy_server::secrets::Secrets;
use canopy_service::react::{React, Reaction, Reactor};
use canopy_service::repo_config::RepoConfigs;
use canopy_store::faults::FailingStore;
use canopy_store::{RedbStore, Store, StoreError, TimeRange, repo_events};
use chrono::{DateTime, Utc};
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");
const SECRET: &str = "fault-secret";
const REPO: &str = "canopy-demo/widgets";

fn fixture(name: &str) -> Vec<u8> {
    canopy_e2e::fixture_bytes("github", name)
}

/// The production reactor, which panics while `panics` is set.
struct Panicky {
    inner: Reactor,
    panics: AtomicBool,
}

impl React for Panicky {
    fn react(
        &self,
        store: &dyn Store,
        events: &[Event],
        now: DateTime<Utc>,
    ) -> Result<Reaction, StoreError> {
        assert!(!self.panics.load(Ordering::SeqCst), "the reactor broke");
        self.inner.react(store, events, now)
    }
}

async fn start(store: Arc<dyn Store>, reactor: Arc<dyn React>, limits: Limits) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let secrets = Secrets::new([SECRET.to_string()]);
    let cfg = AppConfig {
        reactor,
        limits,
        ..AppConfig::intake(secrets.clone(), secrets)
    };
    app::start(
        listener,
        store,
        Arc::new(PlatformNormalizer::default()),
        Arc::new(SystemClock),
        cfg,
    )
    .unwrap()
}

async fn post(r: &Running, event: &str, delivery: &str, body: &[u8]) -> u16 {
    let base = format!("http://{}", r.addr);
    canopy_e2e::post_github(
        &reqwest::Client::new(),
        &base,
        SECRET,
        event,
        delivery,
        body,
    )
    .await
}

/// The state of GitHub delivery `id`, if it is stored.
fn state(store: &dyn Store, id: &str) -> Option<DeliveryState> {
    store
        .delivery(Platform::Github, id)
        .unwrap()
        .map(|d| d.state)
}

fn quarantine_error(store: &dyn Store, id: &str) -> String {
    match state(store, id) {
        Some(DeliveryState::Quarantined { error, .. }) => error,
        other => panic!("{id} is not quarantined: {other:?}"),
    }
}

#[tokio::test]
async fn a_panic_while_deciding_quarantines_the_delivery_and_inbox_retry_processes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let reactor = Arc::new(Panicky {
        inner: Reactor::new(Arc::new(RepoConfigs::default())),
        panics: AtomicBool::new(true),
    });
    let r = start(store.clone(), reactor, Limits::default()).await;
    let opened = fixture("pull_request.opened.json");
    assert_eq!(post(&r, "pull_request", "d-panic", &opened).await, 202);
    assert!(r.wait_idle(Duration::from_secs(10)).await);
    let error = quarantine_error(store.as_ref(), "d-panic");
    assert!(
        error.contains("deciding actions panicked: the reactor broke"),
        "{error}"
    );
    assert!(
        repo_events(store.as_ref(), REPO, TimeRange::ALL)
            .unwrap()
            .is_empty(),
        "nothing half-stored"
    );
    r.shutdown(Duration::from_secs(5)).await;
    drop(store);
    // Once the bug is fixed, the delivery is processed with its events.
    let out = stdout_ok(&run_canopy(
        BIN,
        &[
            "inbox",
            "retry",
            "--store",
            dir.path().to_str().unwrap(),
            "d-panic",
        ],
    ));
    assert!(
        out.contains("delivery d-panic processed: 1 events"),
        "{out}"
    );
}

#[tokio::test]
async fn a_store_error_while_deciding_quarantines_the_delivery_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let redb: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let store = Arc::new(FailingStore::new(redb));
    let reactor = Arc::new(Reactor::new(Arc::new(RepoConfigs::default())));
    let r = start(store.clone(), reactor.clone(), Limits::default()).await;
    let opened = fixture("pull_request.opened.json");
    assert_eq!(post(&r, "pull_request", "d-open", &opened).await, 202);
    assert!(r.wait_idle(Duration::from_secs(10)).await);
    store.fail("scan_change");
    let sync = fixture("pull_request.synchronize.json");
    assert_eq!(post(&r, "pull_request", "d-sync", &sync).await, 202);
    assert!(r.wait_idle(Duration::from_secs(10)).await);
    let error = quarantine_error(store.as_ref(), "d-sync");
    assert!(
        error.contains("deciding actions failed") && error.contains("scan_change"),
        "{error}"
    );
    r.shutdown(Duration::from_secs(5)).await;
    // After the store recovers, a retry processes it and queues the sticky comment.
    store.heal();
    let retry = WriteOp::Retry {
        platform: Platform::Github,
        id: "d-sync".into(),
    };
    store.apply_writes(vec![retry]).unwrap();
    let normalizer = PlatformNormalizer::default();
    let drained = drain_blocking(
        store.as_ref(),
        &normalizer,
        reactor.as_ref(),
        &SystemClock,
        None,
    )
    .unwrap();
    assert_eq!((drained.processed, drained.quarantined), (1, 0));
    assert!(matches!(
        state(store.as_ref(), "d-sync"),
        Some(DeliveryState::Processed { .. })
    ));
}

/// An unsigned upload of `len` bytes on a raw connection: the headers and a first chunk, then
/// (once every upload of the flood has started) the rest; returns the response's status line.
async fn unsigned_upload(
    addr: std::net::SocketAddr,
    len: usize,
    n: usize,
    all_started: Arc<tokio::sync::Barrier>,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let connected = tokio::net::TcpStream::connect(addr).await;
    let Ok(s) = connected else {
        all_started.wait().await;
        return None;
    };
    let (mut rd, mut wr) = s.into_split();
    // The answer is read while the body is still being sent: a refusal comes before the end.
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(20), rd.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .map(str::to_string)
    });
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: flood-{n}\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: {len}\r\n\r\n"
    );
    let chunk = vec![b'x'; 64 * 1024];
    let mut open =
        wr.write_all(head.as_bytes()).await.is_ok() && wr.write_all(&chunk).await.is_ok();
    all_started.wait().await;
    let mut sent = chunk.len();
    while open && sent < len {
        let k = chunk.len().min(len - sent);
        open = wr.write_all(&chunk[..k]).await.is_ok();
        sent += k;
    }
    reader.await.ok().flatten()
}

#[tokio::test]
async fn a_flood_of_unsigned_uploads_stays_within_the_budget_and_a_valid_delivery_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let budget = 8 * 1024 * 1024;
    let limits = Limits {
        max_body_bytes: 4 * 1024 * 1024,
        inflight_bytes: budget,
        connections_per_peer: 24,
        ..Limits::default()
    };
    let reactor = Arc::new(Reactor::new(Arc::new(RepoConfigs::default())));
    let r = start(store.clone(), reactor, limits).await;
    // 40 concurrent unsigned 3 MiB uploads from one peer, all in progress at once: 120 MiB
    // offered to an 8 MiB budget and a cap of 24 connections.
    let all_started = Arc::new(tokio::sync::Barrier::new(40));
    let uploads: Vec<_> = (0..40)
        .map(|n| {
            tokio::spawn(unsigned_upload(
                r.addr,
                3 * 1024 * 1024,
                n,
                all_started.clone(),
            ))
        })
        .collect();
    let mut statuses = Vec::new();
    for u in uploads {
        statuses.push(u.await.unwrap().unwrap_or_default());
    }
    let count = |code: &str| statuses.iter().filter(|s| s.contains(code)).count();
    // Two fit in the budget: read whole, then refused for their signature; the others were
    // answered 503 (over the per-peer cap, or over the budget) before their bodies were read.
    assert!(count(" 401 ") >= 2, "{statuses:?}");
    assert!(count(" 503 ") >= 16, "{statuses:?}");
    assert!(count(" 401 ") + count(" 503 ") >= 36, "{statuses:?}");
    assert!(
        r.budget.peak() <= budget,
        "peak {} over the budget {budget}",
        r.budget.peak()
    );
    assert!(
        r.budget.peak() >= 6 * 1024 * 1024,
        "two uploads were held at once"
    );
    assert!(r.budget.refused() >= 1, "some were shed for the budget");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while r.budget.in_use() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(r.budget.in_use(), 0, "every reservation was given back");
    // The server still accepts and processes a valid delivery.
    let opened = fixture("pull_request.opened.json");
    assert_eq!(post(&r, "pull_request", "d-valid", &opened).await, 202);
    assert!(r.wait_idle(Duration::from_secs(10)).await);
    assert!(matches!(
        state(store.as_ref(), "d-valid"),
        Some(DeliveryState::Processed { .. })
    ));
    r.shutdown(Duration::from_secs(5)).await;
}
