//! Back-pressure that tells the truth: `/readyz` and `/metrics` report the backlog (deliveries
//! waiting to be processed) and the age of its oldest delivery, and a backlog older than the
//! configured limit makes `/readyz` answer 503 until it has drained. The normaliser here holds
//! its worker until the test lets it go, so a delivery stays waiting while a manual clock ages
//! it.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use canopy_core::{Delivery, ManualClock, Normalize, Normalized};
use canopy_server::app::{self, AppConfig, Running};
use canopy_server::auth::github_signature;
use canopy_server::http::Limits;
use canopy_server::secrets::Secrets;
use canopy_service::react::{React, Reaction};
use canopy_store::RedbStore;
use chrono::{TimeZone, Utc};
use serde_json::Value;

const SECRET: &str = "test-secret";

/// Ignores every delivery, but only once the gate is open.
struct GatedNormalizer {
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl Normalize for GatedNormalizer {
    fn normalize(&self, _d: &Delivery) -> Result<Normalized, String> {
        let (lock, cv) = &*self.open;
        let mut open = lock.lock().map_err(|e| e.to_string())?;
        while !*open {
            open = cv.wait(open).map_err(|e| e.to_string())?;
        }
        Ok(Normalized {
            events: vec![],
            ignored: Some("test".into()),
        })
    }
}

async fn get(r: &Running, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("http://{}{}", r.addr, path))
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn readyz(r: &Running) -> (u16, Value) {
    let (status, body) = get(r, "/readyz").await;
    (status, serde_json::from_str(&body).unwrap())
}

/// The value of an unlabelled metric.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

/// A bot on a fresh store and a manual clock at 2026-03-02 09:00 UTC, whose normaliser waits
/// for `gate`, with `config` (built on the intake configuration with the test's secret).
struct Bot {
    _dir: tempfile::TempDir,
    store: Arc<RedbStore>,
    clock: Arc<ManualClock>,
    running: Running,
}

async fn start(
    gate: &Arc<(Mutex<bool>, Condvar)>,
    config: impl FnOnce(AppConfig) -> AppConfig,
) -> Bot {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = app::start(
        listener,
        store.clone(),
        Arc::new(GatedNormalizer { open: gate.clone() }),
        clock.clone(),
        config(AppConfig::intake(
            Secrets::new([SECRET.to_string()]),
            Secrets::new([]),
        )),
    )
    .unwrap();
    Bot {
        _dir: dir,
        store,
        clock,
        running,
    }
}

#[tokio::test]
async fn an_old_backlog_makes_the_server_unready_until_it_drains() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let Bot {
        _dir,
        clock,
        running: r,
        ..
    } = start(&gate, |c| AppConfig {
        limits: Limits {
            max_backlog_age: Duration::from_secs(30),
            ..Limits::default()
        },
        ..c
    })
    .await;

    ready_when_nothing_waits(&r).await;

    // Two deliveries wait (the first holds a worker at the gate).
    for id in ["d-1", "d-2"] {
        assert_eq!(post_tiny_comment(&r, id).await, 202);
        clock.advance(chrono::Duration::seconds(10));
    }
    // The oldest arrived 20 s ago by the clock: still within the limit.
    let (status, body) = readyz(&r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["backlog"], 2);
    assert_eq!(body["backlog_age_seconds"], 20.0);
    let (_, text) = get(&r, "/metrics").await;
    assert_eq!(metric(&text, "canopy_inbox_queue_depth"), 2.0);
    assert_eq!(metric(&text, "canopy_inbox_backlog_age_seconds"), 20.0);
    assert_eq!(
        metric(&text, "canopy_inbox_backlog_age_limit_seconds"),
        30.0
    );

    // Beyond the limit: not ready, and it says why.
    clock.advance(chrono::Duration::seconds(15));
    let (status, body) = readyz(&r).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    assert_eq!(body["store_writer"], true);
    assert_eq!(body["workers_running"], body["workers_expected"]);
    assert_eq!(body["backlog_age_seconds"], 35.0);
    let (_, text) = get(&r, "/metrics").await;
    assert_eq!(metric(&text, "canopy_inbox_backlog_age_seconds"), 35.0);

    // Drained: ready again.
    {
        let (lock, cv) = &*gate;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
    assert!(r.wait_idle(Duration::from_secs(10)).await);
    let (status, body) = readyz(&r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["backlog"], 0);
    assert_eq!(body["backlog_age_seconds"], 0.0);
    r.shutdown(Duration::from_secs(1)).await;
}

/// Ready with nothing waiting (once the workers run), with the backlog's figures at zero.
async fn ready_when_nothing_waits(r: &Running) {
    let mut ready = (0, Value::Null);
    for _ in 0..100 {
        ready = readyz(r).await;
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ready.0, 200, "{}", ready.1);
    assert_eq!(ready.1["backlog"], 0);
    assert_eq!(ready.1["backlog_age_seconds"], 0.0);
    assert_eq!(ready.1["backlog_age_limit_seconds"], 30.0);
}

/// Posts a signed `issue_comment` delivery `id` with a tiny body; the status.
async fn post_tiny_comment(r: &Running, id: &str) -> u16 {
    let body = br#"{"n":1}"#;
    let resp = reqwest::Client::new()
        .post(format!("http://{}/webhooks/github", r.addr))
        .header("X-GitHub-Event", "issue_comment")
        .header("X-GitHub-Delivery", id)
        .header("X-Hub-Signature-256", github_signature(SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn an_intake_only_server_stores_deliveries_and_processes_none() {
    // An open gate: a worker, were there one, would process (ignore) the delivery at once.
    let gate = Arc::new((Mutex::new(true), Condvar::new()));
    let Bot {
        _dir,
        store,
        running: r,
        ..
    } = start(&gate, |c| AppConfig { workers: 0, ..c }).await;
    assert_eq!(post_tiny_comment(&r, "only-1").await, 202);
    // Ready (no workers are expected), and the delivery stays pending: nothing processes it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = readyz(&r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["workers_expected"], 0);
    assert_eq!(body["backlog"], 1);
    use canopy_store::InboxStore;
    assert_eq!(store.queue_depth().unwrap(), 1);
    r.shutdown(Duration::from_secs(1)).await;
}

/// Reacts to nothing, but loads its state ([`React::warm`]) only once the gate is open.
struct GatedWarm {
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl React for GatedWarm {
    fn react(
        &self,
        _: &dyn canopy_store::Store,
        _: &[canopy_analyzer::Event],
        _: chrono::DateTime<Utc>,
    ) -> Result<Reaction, canopy_store::StoreError> {
        Ok(Reaction::default())
    }

    fn warm(&self, _: &dyn canopy_store::Store) -> Result<(), canopy_store::StoreError> {
        let (lock, cv) = &*self.open;
        let mut open = lock
            .lock()
            .map_err(|e| canopy_store::StoreError::Db(e.to_string()))?;
        while !*open {
            open = cv
                .wait(open)
                .map_err(|e| canopy_store::StoreError::Db(e.to_string()))?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_server_whose_reactor_is_still_loading_is_not_ready() {
    let open = Arc::new((Mutex::new(true), Condvar::new()));
    let warm_gate = Arc::new((Mutex::new(false), Condvar::new()));
    let reactor = Arc::new(GatedWarm {
        open: warm_gate.clone(),
    });
    let Bot {
        _dir, running: r, ..
    } = start(&open, |c| AppConfig { reactor, ..c }).await;
    // The workers run, but the reactor has not loaded its state: nothing is processed yet,
    // so the server says it is not ready (while it accepts deliveries, to process later).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = readyz(&r).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["workers_running"], body["workers_expected"]);
    assert_eq!(body["reactor_warmed"], false);
    assert_eq!(post_tiny_comment(&r, "w-1").await, 202);
    {
        let (lock, cv) = &*warm_gate;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
    assert!(r.wait_idle(Duration::from_secs(10)).await);
    let (status, body) = readyz(&r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reactor_warmed"], true);
    assert_eq!(body["backlog"], 0);
    r.shutdown(Duration::from_secs(1)).await;
}
