//! Nothing acknowledged is lost: a burst of signed deliveries while the real server process is
//! killed with SIGKILL several times and restarted. Every delivery that got a 2xx must be in the
//! store exactly once and processed exactly once.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use canopy_e2e::{
    assert_stored_and_processed_once, events_per_delivery, free_port, list_json, post_github,
    workspace_root,
};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");
const SECRET: &str = "crash-test-secret";
const DELIVERIES: usize = 3000;
const CONCURRENCY: usize = 32;
const KILLS: usize = 4;

fn start(port: u16, store: &std::path::Path) -> Child {
    start_with(port, store, "2")
}

fn start_with(port: u16, store: &std::path::Path, workers: &str) -> Child {
    Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--store",
            store.to_str().unwrap(),
            "--workers",
            workers,
        ])
        .env("CANOPY_GITHUB_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server")
}

async fn wait_healthy(client: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server did not become healthy");
}

/// Waits until the server's queue is empty (`canopy_inbox_queue_depth 0`).
async fn wait_drained(client: &reqwest::Client, port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let text = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("canopy_inbox_queue_depth 0\n") {
            return;
        }
        assert!(Instant::now() < deadline, "queue did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The issue comment fixture the bodies are made from.
fn comment_template() -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(workspace_root().join("tests/fixtures/github/issue_comment.created.json"))
            .unwrap(),
    )
    .unwrap()
}

fn body_for(template: &serde_json::Value, n: usize) -> Vec<u8> {
    let mut v = template.clone();
    v["comment"]["id"] = serde_json::json!(10_000_000 + n);
    v["comment"]["body"] = serde_json::json!(format!("comment number {n}"));
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_deliveries_survive_sigkill_exactly_once() {
    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let template = comment_template();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let server = Arc::new(Mutex::new(start(port, store.path())));
    wait_healthy(&client, port).await;

    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let senders = redelivering_burst(&client, port, &template, &acked);
    // Kill the server several times while the burst is in flight, restarting it each time.
    for k in 0..KILLS {
        // Kill at evenly spaced points of the burst, so every kill lands mid-flight.
        let threshold = (k + 1) * DELIVERIES / (KILLS + 1);
        while acked.lock().unwrap().len() < threshold {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        {
            let mut s = server.lock().unwrap();
            let so_far = acked.lock().unwrap().len();
            assert!(so_far < DELIVERIES, "kill {k} came after the burst");
            s.kill().expect("SIGKILL");
            s.wait().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        *server.lock().unwrap() = start(port, store.path());
        wait_healthy(&client, port).await;
    }
    for s in senders {
        s.await.unwrap();
    }
    // Let the last incarnation drain the queue, then stop it.
    wait_drained(&client, port, Duration::from_secs(60)).await;
    {
        let mut s = server.lock().unwrap();
        s.kill().unwrap();
        s.wait().unwrap();
    }

    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= DELIVERIES * 9 / 10,
        "only {} of {DELIVERIES} acknowledged",
        acked.len()
    );
    // Every acknowledged delivery is stored once, processed once.
    let s = store.path().to_str().unwrap();
    assert_stored_and_processed_once(&list_json(BIN, &["inbox", "list"], s, &[]), &acked);
    // And produced exactly one event each.
    let per_delivery = events_per_delivery(&list_json(BIN, &["events", "list"], s, &[]));
    for id in &acked {
        assert_eq!(
            per_delivery.get(id),
            Some(&1),
            "delivery {id} produced {:?} events",
            per_delivery.get(id)
        );
    }
}

/// `CONCURRENCY` senders posting `DELIVERIES` signed comments to the server on `port`, each
/// retried like GitHub's "redeliver" until the server answers 2xx; the acknowledged ids go to
/// `acked`.
fn redelivering_burst(
    client: &reqwest::Client,
    port: u16,
    template: &serde_json::Value,
    acked: &Arc<Mutex<HashSet<String>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut senders = Vec::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..CONCURRENCY {
        let (client, acked, next, template) = (
            client.clone(),
            acked.clone(),
            next.clone(),
            template.clone(),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= DELIVERIES {
                    return;
                }
                let body = body_for(&template, n);
                let id = format!("crash-{n}");
                // Like GitHub's "redeliver": try again until the server answers.
                let base = format!("http://127.0.0.1:{port}");
                for _ in 0..400 {
                    let status =
                        post_github(&client, &base, SECRET, "issue_comment", &id, &body).await;
                    if (200..300).contains(&status) {
                        acked.lock().unwrap().insert(id.clone());
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        }));
    }
    senders
}

/// The intake journal after a SIGKILL: deliveries acknowledged by an intake-only server are in
/// its journal, not yet in the database; a torn group at its end (a write the crash cut short,
/// never acknowledged) is dropped; the store replays the rest exactly once, and a redelivery
/// of a replayed id is still a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_journal_is_replayed_after_sigkill_and_its_torn_tail_dropped() {
    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let template = comment_template();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_with(port, store.path(), "0");
    wait_healthy(&client, port).await;
    let mut acked = HashSet::new();
    for n in 0..60 {
        let id = format!("journal-{n}");
        let status = post_github(
            &client,
            &base,
            SECRET,
            "issue_comment",
            &id,
            &body_for(&template, n),
        )
        .await;
        assert_eq!(status, 202, "{id}");
        acked.insert(id);
    }
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    // A group whose write the crash cut short: a header naming more bytes than follow.
    let journal = store.path().join("intake.0.journal");
    assert!(
        std::fs::metadata(&journal).unwrap().len() > 0,
        "nothing journaled"
    );
    // Same magic and generation as the groups before it, 16 KiB announced, 500 bytes there.
    let mut torn = std::fs::read(&journal).unwrap()[..8].to_vec();
    assert_eq!(&torn[..4], b"CIJ1");
    torn.extend_from_slice(&[0, 0x40, 0, 0, 0, 0, 0, 0]);
    torn.extend_from_slice(&body_for(&template, 999)[..500]);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(&mut f, &torn).unwrap();
    drop(f);

    let s = store.path().to_str().unwrap();
    let listed = list_json(BIN, &["inbox", "list"], s, &[]);
    let ids: Vec<&str> = listed.iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids.len(), acked.len(), "{ids:?}");
    assert!(ids.iter().all(|id| acked.contains(*id)));
    assert!(listed.iter().all(|d| d["state"] == "pending"));

    let mut server = start(port, store.path());
    wait_healthy(&client, port).await;
    let again = post_github(
        &client,
        &base,
        SECRET,
        "issue_comment",
        "journal-7",
        &body_for(&template, 7),
    )
    .await;
    assert_eq!(again, 200, "a replayed delivery is a duplicate");
    wait_drained(&client, port, Duration::from_secs(30)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_stored_and_processed_once(&list_json(BIN, &["inbox", "list"], s, &[]), &acked);
}
