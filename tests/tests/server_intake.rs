//! The webhook server's intake over real TCP: authentication, limits, bad input, durability
//! before acknowledgement, deduplication, quarantine, restart pickup, health and metrics.
//! A small normaliser stands in for the platform ones (those have their own tests).

use std::sync::Arc;
use std::time::Duration;

use canopy_analyzer::event::{CommentEvent, EventKind};
use canopy_analyzer::{Actor, Event, Platform};
use canopy_core::SystemClock;
use canopy_core::{Delivery, DeliveryState, Normalize, Normalized, WriteOp};
use canopy_server::app::{self, AppConfig, Running};
use canopy_server::auth::github_signature;
use canopy_server::http::Limits;
use canopy_server::secrets::Secrets;
use canopy_store::{RedbStore, Store, TimeRange, repo_events};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "test-secret";
const GERRIT_SECRET: &str = "gerrit-secret";

/// JSON objects become one comment event; `ping` is ignored; anything else is quarantined.
struct ToyNormalizer;

impl Normalize for ToyNormalizer {
    fn normalize(&self, d: &Delivery) -> Result<Normalized, String> {
        if d.event == "ping" {
            return Ok(Normalized {
                events: vec![],
                ignored: Some("ping".into()),
            });
        }
        if d.event == "mystery_event" {
            return Ok(Normalized {
                events: vec![],
                ignored: Some("unsupported event".into()),
            });
        }
        let v: serde_json::Value =
            serde_json::from_slice(&d.body).map_err(|e| format!("malformed JSON: {e}"))?;
        let n = v["n"].as_u64().ok_or("missing field n")?;
        Ok(Normalized {
            events: vec![Event::new(
                format!("c{n}"),
                d.platform,
                "o/r",
                d.received_at.fixed_offset(),
                EventKind::Comment(CommentEvent::on_change(
                    n,
                    format!("{n}"),
                    Actor::github("ada"),
                    String::new(),
                )),
            )],
            ignored: None,
        })
    }
}

async fn start_with(store: Arc<dyn Store>, limits: Limits) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    app::start(
        listener,
        store,
        Arc::new(ToyNormalizer),
        Arc::new(SystemClock),
        AppConfig {
            limits,
            ..AppConfig::intake(
                Secrets::new([SECRET.to_string(), "older-secret".to_string()]),
                Secrets::new([GERRIT_SECRET.to_string()]),
            )
        },
    )
    .unwrap()
}

async fn start() -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let limits = Limits {
        max_body_bytes: 64 * 1024,
        header_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    (start_with(store, limits).await, dir)
}

fn url(r: &Running, path: &str) -> String {
    format!("http://{}{}", r.addr, path)
}

async fn post_github(
    r: &Running,
    event: &str,
    delivery: &str,
    body: &[u8],
    secret: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(url(r, "/webhooks/github"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", github_signature(secret, body))
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// Posts a signed GitHub delivery, which must be accepted, and waits until the server is idle.
async fn accepted_then_idle(r: &Running, event: &str, id: &str, body: &[u8]) {
    let resp = post_github(r, event, id, body, SECRET).await;
    assert_eq!(resp.status(), 202);
    assert!(r.wait_idle(Duration::from_secs(5)).await);
}

fn state(r: &Running, platform: Platform, id: &str) -> Option<DeliveryState> {
    r.store.delivery(platform, id).unwrap().map(|d| d.state)
}

#[tokio::test]
async fn a_signed_delivery_is_stored_before_the_answer_and_processed_after() {
    let (r, _dir) = start().await;
    let resp = post_github(&r, "issue_comment", "d-1", br#"{"n":1}"#, SECRET).await;
    assert_eq!(resp.status(), 202);
    // Durable at the moment of the answer.
    assert!(r.store.delivery(Platform::Github, "d-1").unwrap().is_some());
    assert!(r.wait_idle(Duration::from_secs(5)).await);
    assert!(matches!(
        state(&r, Platform::Github, "d-1"),
        Some(DeliveryState::Processed { events: 1, .. })
    ));
    let events = repo_events(&*r.store, "o/r", TimeRange::ALL).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].delivery_id.as_deref(), Some("d-1"));
    // The raw body is kept byte for byte.
    assert_eq!(
        r.store
            .delivery_body(Platform::Github, "d-1")
            .unwrap()
            .unwrap(),
        br#"{"n":1}"#
    );
    // An older secret still accepted during rotation.
    let resp = post_github(&r, "issue_comment", "d-2", br#"{"n":2}"#, "older-secret").await;
    assert_eq!(resp.status(), 202);
}

#[tokio::test]
async fn bad_or_missing_signatures_get_401_and_nothing_is_stored() {
    let (r, _dir) = start().await;
    let resp = post_github(&r, "issue_comment", "d-bad", br#"{"n":1}"#, "wrong-secret").await;
    assert_eq!(resp.status(), 401);
    let resp = reqwest::Client::new()
        .post(url(&r, "/webhooks/github"))
        .header("X-GitHub-Event", "issue_comment")
        .header("X-GitHub-Delivery", "d-nosig")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(state(&r, Platform::Github, "d-bad").is_none());
    assert!(state(&r, Platform::Github, "d-nosig").is_none());
}

#[tokio::test]
async fn missing_event_header_is_400() {
    let (r, _dir) = start().await;
    let body = b"{}";
    let resp = reqwest::Client::new()
        .post(url(&r, "/webhooks/github"))
        .header("X-GitHub-Delivery", "d-x")
        .header("X-Hub-Signature-256", github_signature(SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("X-GitHub-Event"), "{text}");
}

#[tokio::test]
async fn oversized_bodies_get_413_declared_or_streamed() {
    let (r, _dir) = start().await;
    let big = vec![b'x'; 65 * 1024];
    let resp = post_github(&r, "issue_comment", "d-big", &big, SECRET).await;
    assert_eq!(resp.status(), 413);
    // The answer names the configured limit, not the default.
    let text = resp.text().await.unwrap();
    assert!(text.contains("larger than 65536 bytes"), "{text}");
    // A declared length over the limit is refused before any body byte is sent.
    let mut s = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: d-huge\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: {}\r\n\r\n",
        30u64 * 1024 * 1024
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"));
    // A chunked body without a declared length is cut off at the limit.
    let mut s = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    s.write_all(b"POST /webhooks/gerrit?token=gerrit-secret HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = vec![b'{'; 1024];
    let mut answered = String::new();
    for _ in 0..80 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if s.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = vec![0u8; 512];
    if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
        answered = String::from_utf8_lossy(&buf[..n]).into_owned();
    }
    assert!(answered.starts_with("HTTP/1.1 413"), "{answered}");
    assert!(state(&r, Platform::Github, "d-big").is_none());
}

#[tokio::test]
async fn malformed_json_with_a_valid_signature_is_accepted_and_quarantined() {
    let (r, _dir) = start().await;
    accepted_then_idle(&r, "issue_comment", "d-mal", b"{not json").await;
    match state(&r, Platform::Github, "d-mal") {
        Some(DeliveryState::Quarantined { error, .. }) => {
            assert!(error.contains("malformed JSON"), "{error}")
        }
        other => panic!("expected quarantine, got {other:?}"),
    }
    assert_eq!(r.store.quarantined().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_event_types_are_stored_and_ignored() {
    let (r, _dir) = start().await;
    accepted_then_idle(&r, "mystery_event", "d-myst", b"{}").await;
    assert!(matches!(
        state(&r, Platform::Github, "d-myst"),
        Some(DeliveryState::Ignored { .. })
    ));
}

#[tokio::test]
async fn the_same_delivery_twice_is_stored_and_processed_once() {
    let (r, _dir) = start().await;
    let a = post_github(&r, "issue_comment", "d-dup", br#"{"n":9}"#, SECRET).await;
    let b = post_github(&r, "issue_comment", "d-dup", br#"{"n":9}"#, SECRET).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (202, 200));
    assert!(b.text().await.unwrap().contains("duplicate"));
    assert!(r.wait_idle(Duration::from_secs(5)).await);
    let rec = r
        .store
        .delivery(Platform::Github, "d-dup")
        .unwrap()
        .unwrap();
    assert_eq!(rec.attempts, 1);
    assert_eq!(
        repo_events(&*r.store, "o/r", TimeRange::ALL).unwrap().len(),
        1
    );
}

#[tokio::test]
async fn gerrit_authenticates_with_basic_auth_or_a_token() {
    let (r, _dir) = start().await;
    let body = br#"{"type":"comment-added","n":5}"#;
    let ok = reqwest::Client::new()
        .post(url(&r, "/webhooks/gerrit"))
        .basic_auth("gerrit", Some(GERRIT_SECRET))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    let id: serde_json::Value = ok.json().await.unwrap();
    let id = id["delivery"].as_str().unwrap().to_string();
    let rec = r.store.delivery(Platform::Gerrit, &id).unwrap().unwrap();
    assert_eq!(rec.delivery.event, "comment-added");
    // The same event posted again (the plugin retrying) is the same delivery.
    let again = reqwest::Client::new()
        .post(url(&r, "/webhooks/gerrit?token=gerrit-secret"))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    for bad in ["/webhooks/gerrit", "/webhooks/gerrit?token=nope"] {
        let resp = reqwest::Client::new()
            .post(url(&r, bad))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{bad}");
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let (r, _dir) = start().await;
    let mut s = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    s.write_all(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    // The header timeout is 500 ms: the server closes the connection.
    let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "the connection must be closed, not left hanging"
    );
    // The server still answers others.
    assert_eq!(
        reqwest::get(url(&r, "/healthz")).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let (r, _dir) = start().await;
    assert_eq!(
        reqwest::get(url(&r, "/healthz")).await.unwrap().status(),
        200
    );
    let mut ready = false;
    for _ in 0..50 {
        if reqwest::get(url(&r, "/readyz")).await.unwrap().status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready);
    post_github(&r, "issue_comment", "d-m", br#"{"n":3}"#, SECRET).await;
    post_github(&r, "issue_comment", "d-m2", br#"{"n":4}"#, "nope").await;
    assert!(r.wait_idle(Duration::from_secs(5)).await);
    // The pool counts a delivery after its batch commits, so the queue can be empty a moment
    // before the counter moves: wait for the counter rather than read it once.
    let processed = r#"canopy_processed_total{platform="github",outcome="processed"} 1"#;
    let mut text = String::new();
    for _ in 0..250 {
        text = reqwest::get(url(&r, "/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(processed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(text.contains(r#"canopy_deliveries_total{platform="github",event="issue_comment",outcome="accepted"} 1"#), "{text}");
    assert!(text.contains(r#"outcome="unauthorized"} 1"#));
    assert!(text.contains("canopy_inbox_queue_depth 0"));
    assert!(text.contains(processed), "{text}");
}

#[tokio::test]
async fn deliveries_left_pending_by_a_crash_are_processed_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A previous run stored two deliveries and died before processing them.
        let store = RedbStore::open(dir.path()).unwrap();
        let ops = (1..=2)
            .map(|n| {
                WriteOp::Receive(Delivery {
                    platform: Platform::Github,
                    id: format!("left-{n}"),
                    event: "issue_comment".into(),
                    received_at: chrono::Utc::now(),
                    body: format!("{{\"n\":{n}}}").into_bytes(),
                })
            })
            .collect();
        store.apply_writes(ops).unwrap();
    }
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let r = start_with(store, Limits::default()).await;
    assert!(r.wait_idle(Duration::from_secs(5)).await);
    for n in 1..=2 {
        assert!(matches!(
            state(&r, Platform::Github, &format!("left-{n}")),
            Some(DeliveryState::Processed { .. })
        ));
    }
    r.shutdown(Duration::from_secs(1)).await;
}
