//! Several `canopy serve` processes on one PostgreSQL store, as behind a load balancer:
//! - chaos: three replicas take a burst of signed deliveries round-robin while one of them is
//!   SIGKILLed and restarted; every acknowledged delivery is processed exactly once and the
//!   fake GitHub sees exactly one sticky comment per pull request;
//! - rolling restart: two replicas restarted one after the other (SIGTERM, as a deploy does)
//!   under load lose no acknowledged delivery.
//!
//! The command-line interface is checked on the same store while the servers run:
//! `canopy migrate`, `canopy inbox list` and `canopy events list` with `--store URL`; and
//! `canopy store copy` moves an embedded store into PostgreSQL with everything in it.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use canopy_e2e::fake_github::FakeGitHub;
use canopy_e2e::pg::{self, Database};
use canopy_e2e::{
    assert_stored_and_processed_once, events_per_delivery, free_port, post_github,
    stdout_json_lines, stdout_ok, workspace_root,
};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");
const SECRET: &str = "replica-test-secret";
const TOKEN: &str = "replica-test-token";
const MARKER: &str = "<!-- canopy:sticky -->";
const PRS: u64 = 12;

/// One replica process.
struct Replica {
    port: u16,
    child: Option<Child>,
}

struct Cluster {
    db: Database,
    config: std::path::PathBuf,
    replicas: Vec<Replica>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(n: usize, fake: &FakeGitHub) -> Cluster {
        let db = pg::fresh_database();
        // The schema comes from `canopy migrate` (servers would apply it too).
        let out = canopy(&db, &["migrate", "--store", &db.url]);
        assert!(out.contains("applied migration(s) 1"), "{out}");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("canopy.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nclaim_lease_secs = 4\n[github]\napi_url = \"{}\"\ntimeout_secs = 1\n[outbox]\nbackoff_base_ms = 20\nmax_attempts = 20\n[ttm]\nretrain_hours = 0\n",
                fake.url()
            ),
        )
        .unwrap();
        let mut c = Cluster {
            db,
            config,
            replicas: (0..n)
                .map(|_| Replica {
                    port: free_port(),
                    child: None,
                })
                .collect(),
            _dir: dir,
        };
        for i in 0..n {
            c.spawn(i).await;
        }
        c
    }

    async fn spawn(&mut self, i: usize) {
        let r = &mut self.replicas[i];
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{}", r.port)])
            .args(["--store", &self.db.url, "--workers", "2"])
            .arg("--config")
            .arg(&self.config)
            .env("PGPASSWORD", pg::PASSWORD)
            .env("CANOPY_GITHUB_WEBHOOK_SECRET", SECRET)
            .env("CANOPY_GITHUB_TOKEN", TOKEN)
            .env("HOSTNAME", format!("replica-{i}"))
            .env(
                "RUST_LOG",
                std::env::var("E2E_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdout(Stdio::null())
            .stderr(if std::env::var("E2E_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start canopy serve");
        let url = format!("http://127.0.0.1:{}/readyz", r.port);
        let child = r.child.insert(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "replica {i} exited with {status} before it was ready (E2E_LOG=info shows why)"
                );
            }
            if let Ok(resp) = client.get(&url).send().await
                && resp.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("replica {i} did not become ready");
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.replicas[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, as a deploy stops a pod; waits for the clean exit.
    fn terminate(&mut self, i: usize) {
        if let Some(mut c) = self.replicas[i].child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let status = c.wait().expect("wait");
            assert!(status.success(), "replica {i} exited with {status}");
        }
    }

    fn ports(&self) -> Vec<u16> {
        self.replicas.iter().map(|r| r.port).collect()
    }

    /// Deliveries processed per live replica (from its /metrics).
    async fn processed(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for r in &self.replicas {
            let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", r.port))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let n: f64 = text
                .lines()
                .filter(|l| l.starts_with("canopy_processed_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            out.push(n as u64);
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.replicas.len() {
            self.kill(i);
        }
    }
}

/// Runs canopy with the store's password; returns stdout (it must succeed).
fn canopy(db: &Database, args: &[&str]) -> String {
    let out = run_with_password(db, args);
    assert!(
        out.status.success(),
        "canopy {args:?} on {}: {}",
        db.url,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fixture(name: &str) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(workspace_root().join("tests/fixtures/github").join(name)).unwrap(),
    )
    .unwrap()
}

/// The repositories of the test: deliveries of one repository are processed in order, those
/// of different repositories in parallel (on any replica).
const REPOS: [&str; 3] = [
    "canopy-demo/widgets",
    "canopy-demo/gadgets",
    "canopy-demo/gizmos",
];

/// PR `k` (0-based) is PR number `k / 3 + 1` of repository `k % 3`.
fn pr_of(k: u64) -> (&'static str, u64) {
    (REPOS[(k % 3) as usize], k / 3 + 1)
}

/// Delivery `n`: PR openings first, then a finished CI job on each PR (the sticky comment
/// appears with the CI energy), then comments and more CI jobs (each job edits the comment).
fn delivery(n: usize, t: &Templates) -> (String, &'static str, Vec<u8>) {
    let n64 = n as u64;
    let (event, k) = if n64 < PRS {
        ("pull_request", n64)
    } else if n64 < 2 * PRS || n % 2 == 1 {
        ("workflow_job", n64 % PRS)
    } else {
        ("issue_comment", n64 % PRS)
    };
    let (repo, pr) = pr_of(k);
    let sha = format!("{:040x}", 0x00c0_ffee_0000_u64 + k);
    let mut v = match event {
        "pull_request" => {
            let mut v = t.opened.clone();
            v["number"] = serde_json::json!(pr);
            v["pull_request"]["number"] = serde_json::json!(pr);
            v["pull_request"]["id"] = serde_json::json!(50_000 + k);
            v["pull_request"]["head"]["sha"] = serde_json::json!(sha);
            v
        }
        "workflow_job" => {
            let mut v = t.job.clone();
            v["workflow_job"]["id"] = serde_json::json!(70_000_000 + n64);
            v["workflow_job"]["run_id"] = serde_json::json!(80_000_000 + n64);
            v["workflow_job"]["head_sha"] = serde_json::json!(sha);
            v["workflow_job"]["conclusion"] = serde_json::json!("success");
            v
        }
        _ => {
            let mut v = t.comment.clone();
            v["issue"]["number"] = serde_json::json!(pr);
            v["comment"]["id"] = serde_json::json!(20_000_000 + n64);
            v["comment"]["body"] = serde_json::json!(format!("comment number {n}"));
            v
        }
    };
    v["repository"]["full_name"] = serde_json::json!(repo);
    v["repository"]["name"] = serde_json::json!(repo.split('/').nth(1));
    (
        format!("replica-{n}"),
        event,
        serde_json::to_vec(&v).unwrap(),
    )
}

/// The fixture payloads deliveries are made from.
#[derive(Clone)]
struct Templates {
    opened: serde_json::Value,
    job: serde_json::Value,
    comment: serde_json::Value,
}

/// Sends `total` deliveries with `concurrency` senders, delivery n to replica n mod R first and
/// to the next one when a replica does not answer (as a load balancer does); returns the ids
/// acknowledged with a 2xx into `acked`.
async fn burst(
    ports: Vec<u16>,
    total: usize,
    concurrency: usize,
    acked: Arc<Mutex<HashSet<String>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let t = Templates {
        opened: fixture("pull_request.opened.json"),
        job: fixture("workflow_job.completed.json"),
        comment: fixture("issue_comment.created.json"),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    // The PRs are opened first, so every later job and comment has its PR.
    for n in 0..PRS as usize {
        send(&client, &ports, n, &delivery(n, &t), &acked).await;
    }
    next.store(PRS as usize, Ordering::SeqCst);
    (0..concurrency)
        .map(|_| {
            let (client, ports, acked, next) =
                (client.clone(), ports.clone(), acked.clone(), next.clone());
            let t = t.clone();
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= total {
                        return;
                    }
                    send(&client, &ports, n, &delivery(n, &t), &acked).await;
                }
            })
        })
        .collect()
}

async fn send(
    client: &reqwest::Client,
    ports: &[u16],
    n: usize,
    (id, event, body): &(String, &'static str, Vec<u8>),
    acked: &Mutex<HashSet<String>>,
) {
    for attempt in 0..600 {
        let base = format!("http://127.0.0.1:{}", ports[(n + attempt) % ports.len()]);
        let status = post_github(client, &base, SECRET, event, id, body).await;
        if (200..300).contains(&status) {
            acked.lock().unwrap().insert(id.clone());
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("delivery {id} was never acknowledged");
}

async fn wait_acked(acked: &Mutex<HashSet<String>>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "the burst stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until no delivery is pending and every PR has its sticky comment, then a little
/// longer for any late (duplicate) comment to show.
async fn settle(c: &Cluster, fake: &FakeGitHub) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = stdout_json_lines(&run_with_password(
            &c.db,
            &["inbox", "list", "--store", &c.db.url, "--format", "json"],
        ))
        .iter()
        .filter(|d| d["state"] == "pending")
        .count();
        let outbox_pending = canopy(
            &c.db,
            &["outbox", "list", "--store", &c.db.url, "--format", "json"],
        )
        .lines()
        .filter(|l| l.contains("\"state\":\"pending\""))
        .count();
        let commented = (0..PRS).all(|k| {
            let (repo, pr) = pr_of(k);
            !fake.comments(repo, pr).is_empty()
        });
        if pending == 0 && outbox_pending == 0 && commented {
            break;
        }
        if Instant::now() >= deadline {
            let missing: Vec<(&str, u64)> = (0..PRS)
                .map(pr_of)
                .filter(|(repo, pr)| fake.comments(repo, *pr).is_empty())
                .collect();
            let outbox = canopy(&c.db, &["outbox", "list", "--store", &c.db.url]);
            panic!(
                "not settled: {pending} deliveries and {outbox_pending} actions pending, no comment on PRs {missing:?}; outbox:\n{}",
                outbox.chars().take(4000).collect::<String>()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Runs canopy with the store's password in PGPASSWORD.
fn run_with_password(db: &Database, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("PGPASSWORD", pg::PASSWORD)
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("run canopy on {}: {e}", db.url))
}

/// Every acknowledged delivery stored once, processed once, with one event each (a PR's
/// opening may carry more); one sticky comment per PR.
fn assert_exactly_once(c: &Cluster, fake: &FakeGitHub, acked: &HashSet<String>) {
    let list = |what: &str| {
        stdout_json_lines(&run_with_password(
            &c.db,
            &[what, "list", "--store", &c.db.url, "--format", "json"],
        ))
    };
    assert_stored_and_processed_once(&list("inbox"), acked);
    let per_delivery = events_per_delivery(&list("events"));
    for id in acked {
        let n: u64 = id.trim_start_matches("replica-").parse().unwrap();
        let events = per_delivery.get(id).copied().unwrap_or(0);
        let ok = if n < PRS { events >= 1 } else { events == 1 };
        assert!(ok, "delivery {id} produced {events} events");
    }
    for (repo, pr) in (0..PRS).map(pr_of) {
        let sticky = fake
            .comments(repo, pr)
            .iter()
            .filter(|c| c.body.contains(MARKER))
            .count();
        assert_eq!(sticky, 1, "{repo}#{pr} has {sticky} sticky comments");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_one_killed_mid_burst_process_everything_exactly_once() {
    const TOTAL: usize = 900;
    let fake = FakeGitHub::start(TOKEN).await;
    let mut c = Cluster::start(3, &fake).await;
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let senders = burst(c.ports(), TOTAL, 24, acked.clone()).await;
    wait_acked(&acked, TOTAL / 3).await;
    // While the burst goes on, the CLI reads the same store.
    let listed = stdout_json_lines(&run_with_password(
        &c.db,
        &["inbox", "list", "--store", &c.db.url, "--format", "json"],
    ));
    assert!(listed.len() >= TOTAL / 3, "{} listed", listed.len());
    // Kill the replica that has done the most so far: on a loaded machine one replica can claim
    // every batch, and the others must then show that they take the work over.
    let so_far = c.processed().await;
    let busiest = (0..so_far.len()).max_by_key(|&i| so_far[i]).unwrap_or(1);
    c.kill(busiest);
    wait_acked(&acked, TOTAL / 2).await;
    c.spawn(busiest).await;
    for s in senders {
        s.await.unwrap();
    }
    settle(&c, &fake).await;
    let processed = c.processed().await;
    // The live counters miss what the killed incarnation committed before the kill; every
    // delivery is processed exactly once (checked below), so that is the rest.
    let by_killed = (TOTAL as u64).saturating_sub(processed.iter().sum());
    let workers = processed.iter().filter(|&&n| n > 0).count() + usize::from(by_killed > 0);
    assert!(
        workers >= 2,
        "work was shared: {processed:?} live, {by_killed} by the killed replica"
    );
    for i in 0..3 {
        c.terminate(i);
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), TOTAL);
    assert_exactly_once(&c, &fake, &acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_of_two_replicas_under_load_loses_nothing() {
    const TOTAL: usize = 600;
    let fake = FakeGitHub::start(TOKEN).await;
    let mut c = Cluster::start(2, &fake).await;
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let senders = burst(c.ports(), TOTAL, 16, acked.clone()).await;
    // One replica at a time: stop (SIGTERM), start the new one, wait until it is ready.
    for (i, at) in [(0, TOTAL / 4), (1, TOTAL / 2)] {
        wait_acked(&acked, at).await;
        c.terminate(i);
        c.spawn(i).await;
    }
    for s in senders {
        s.await.unwrap();
    }
    settle(&c, &fake).await;
    for i in 0..2 {
        c.terminate(i);
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), TOTAL);
    assert_exactly_once(&c, &fake, &acked);
}

fn canopy_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("PGPASSWORD")
        .env_remove("CANOPY_STORE")
        .env_remove("CANOPY_STORE_FILE")
        .envs(env.iter().copied())
        .output()
        .expect("run canopy")
}

fn lines_ok(out: &std::process::Output) -> Vec<String> {
    stdout_ok(out).lines().map(str::to_string).collect()
}

#[test]
fn an_embedded_store_is_copied_into_postgres_with_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let fixtures = workspace_root().join("tests/fixtures/github");
    canopy_e2e::replay_github(BIN, &fixtures, &store);
    let db = pg::fresh_database();
    let home = tempfile::tempdir().unwrap();
    // Before migrating, read commands refuse the database and say what to do.
    let out = canopy_env(
        &["events", "list", "--store", &db.url],
        &[("PGPASSWORD", pg::PASSWORD)],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("canopy migrate") && err.contains(&db.url),
        "{err}"
    );
    // The password from ~/.pgpass (only when it is private).
    let pgpass = home.path().join(".pgpass");
    std::fs::write(&pgpass, format!("127.0.0.1:*:*:canopy:{}\n", pg::PASSWORD)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let home_env = [("HOME", home.path().to_str().unwrap())];
    let from = store.to_str().unwrap();
    let copied = lines_ok(&canopy_env(
        &["store", "copy", "--from", from, "--to", &db.url],
        &home_env,
    ));
    let counts: serde_json::Value = serde_json::from_str(&copied[0]).unwrap();
    assert!(counts["events"].as_u64().unwrap() > 20, "{counts}");
    assert!(counts["deliveries"].as_u64().unwrap() > 20, "{counts}");
    // Run again (an interrupted copy is finished this way): nothing is copied twice.
    let again = lines_ok(&canopy_env(
        &["store", "copy", "--from", from, "--to", &db.url],
        &home_env,
    ));
    let again: serde_json::Value = serde_json::from_str(&again[0]).unwrap();
    assert_eq!(
        (again["events"].as_u64(), again["deliveries"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    // Both stores list the same events, deliveries and actions; the URL also comes from a file.
    let file_env = url_in_a_file(home.path(), &db.name);
    let file_env = [("CANOPY_STORE_FILE", file_env.as_str())];
    for what in [["events", "list"], ["inbox", "list"], ["outbox", "list"]] {
        let embedded = lines_ok(&canopy_env(
            &[what[0], what[1], "--store", from, "--format", "json"],
            &[],
        ));
        let postgres = lines_ok(&canopy_env(
            &[what[0], what[1], "--format", "json"],
            &file_env,
        ));
        assert!(!embedded.is_empty(), "{what:?}");
        assert_eq!(embedded, postgres, "{what:?} differ");
    }
    bad_password_and_missing_key_file_are_named(&db.name, &file_env);
}

/// The store's URL written to a file under `home` (read through `CANOPY_STORE_FILE`); its path.
fn url_in_a_file(home: &std::path::Path, db: &str) -> String {
    let url_file = home.join("store-url");
    std::fs::write(
        &url_file,
        format!(
            "postgres://canopy:{}@127.0.0.1:{}/{db}\n",
            pg::PASSWORD,
            pg::cluster().port,
        ),
    )
    .unwrap();
    url_file.to_str().unwrap().to_string()
}

/// A wrong password is a clear error that never shows the password; reports need a key file
/// outside the database.
fn bad_password_and_missing_key_file_are_named(db: &str, file_env: &[(&str, &str)]) {
    let out = canopy_env(
        &[
            "events",
            "list",
            "--store",
            &format!(
                "postgres://canopy:wrong-pw@127.0.0.1:{}/{db}",
                pg::cluster().port,
            ),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("password authentication failed"),
        "{err}"
    );
    assert!(!err.contains("wrong-pw"), "{err}");
    // Reports need a key file outside the database.
    let out = canopy_env(
        &["report", "create", "--period", "2026", "--format", "json"],
        file_env,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key_file"), "{err}");
}
