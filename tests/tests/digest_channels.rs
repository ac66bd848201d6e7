//! Digests through the bot in-process on a manual clock: a replayed history's digest queued with
//! `canopy digest --send` and a scheduled digest are delivered as a labelled issue on the fake
//! GitHub, an HTML file with SVG charts, an email to a local SMTP server and a chat webhook
//! message; a restart sends nothing twice.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canopy_e2e::fake_github::FakeGitHub;
use canopy_e2e::harness::Harness;
use canopy_e2e::{replay_github, stdout_ok, workspace_root};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");
const TOKEN: &str = "test-token";
const REPO: &str = "canopy-demo/widgets";

/// What a fake channel received, one text per message.
type Received = Arc<Mutex<Vec<String>>>;

/// A chat webhook receiver: every POST body.
async fn fake_chat() -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, got)
}

/// A minimal SMTP server that accepts every message: (port, messages).
async fn fake_smtp() -> (u16, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let g = g.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 fake ESMTP\r\n").await;
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            g.lock().unwrap().push(std::mem::take(d));
                            data = None;
                            let _ = w.write_all(b"250 queued\r\n").await;
                        } else {
                            d.push_str(&line);
                            d.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 fake\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = w.write_all(reply).await;
                }
            });
        }
    });
    (port, got)
}

/// A month of a repository's activity as GitHub webhook payloads (built from the bundled
/// fixtures): four weeks from Monday 2026-10-05, five PRs a week by six people, each reviewed
/// and commented on by someone else, four of five merged. Written as `<event>.<n>.json`.
fn write_month(dir: &Path) {
    let fx = |name: &str| canopy_e2e::fixture_json("github", name);
    let people = ["ada-l", "bob-b", "cy-maint", "dee-d", "eli-e", "fay-f"];
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-10-05T09:00:00Z").unwrap();
    let ts = |t: chrono::DateTime<chrono::FixedOffset>| {
        t.to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let mut n = 0;
    let mut write = |event: &str, v: &serde_json::Value| {
        n += 1;
        std::fs::write(
            dir.join(format!("{event}.{n:03}.json")),
            serde_json::to_vec(v).unwrap(),
        )
        .unwrap();
    };
    for w in 0..4i64 {
        for j in 0..5i64 {
            let i = (w * 5 + j) as usize;
            let number = 100 + i as u64;
            let author = people[i % 6];
            let other = people[(i + 1) % 6];
            let created = t0 + chrono::Duration::hours(w * 168 + j * 25);
            let pr = |v: &mut serde_json::Value, key: &str| {
                v[key]["number"] = json!(number);
                v[key]["id"] = json!(1_900_000 + number);
                v[key]["created_at"] = json!(ts(created));
                v[key]["user"]["login"] = json!(author);
            };
            let mut opened = fx("pull_request.opened.json");
            opened["number"] = json!(number);
            pr(&mut opened, "pull_request");
            opened["pull_request"]["updated_at"] = json!(ts(created));
            opened["sender"]["login"] = json!(author);
            write("pull_request", &opened);
            let mut review = fx("pull_request_review.approved.json");
            pr(&mut review, "pull_request");
            review["review"]["id"] = json!(900_000 + number);
            review["review"]["submitted_at"] = json!(ts(created + chrono::Duration::hours(3)));
            review["review"]["user"]["login"] = json!(other);
            review["sender"]["login"] = json!(other);
            write("pull_request_review", &review);
            let mut comment = fx("issue_comment.created.json");
            comment["issue"]["number"] = json!(number);
            comment["issue"]["id"] = json!(2_900_000 + number);
            comment["issue"]["user"]["login"] = json!(author);
            comment["issue"]["created_at"] = json!(ts(created));
            comment["comment"]["id"] = json!(800_000 + number);
            comment["comment"]["created_at"] = json!(ts(created + chrono::Duration::hours(2)));
            comment["comment"]["updated_at"] = json!(ts(created + chrono::Duration::hours(2)));
            comment["comment"]["user"]["login"] = json!(other);
            comment["comment"]["body"] = json!("Looks good, one small question about the test.");
            comment["sender"]["login"] = json!(other);
            write("issue_comment", &comment);
            if j != 4 {
                let merged_at = ts(created + chrono::Duration::hours(10 * (j + 1)));
                let mut merged = fx("pull_request.closed.merged.json");
                merged["number"] = json!(number);
                pr(&mut merged, "pull_request");
                for k in ["updated_at", "closed_at", "merged_at"] {
                    merged["pull_request"][k] = json!(merged_at);
                }
                merged["sender"]["login"] = json!(author);
                write("pull_request", &merged);
            }
        }
    }
}

async fn eventually(what: &str, timeout: Duration, cond: impl Fn() -> bool) {
    let end = tokio::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_replayed_history_and_a_scheduled_digest_reach_every_channel_once() {
    let fake = FakeGitHub::start(TOKEN).await;
    let (chat_url, chat) = fake_chat().await;
    let (smtp_port, mails) = fake_smtp().await;
    let dir = tempfile::tempdir().unwrap();
    let html_dir = dir.path().join("digests");
    let cfg = config(&fake.url(), smtp_port, &html_dir);
    let cfg_path = dir.path().join("canopy.toml");
    std::fs::write(&cfg_path, &cfg).unwrap();
    let env = [
        ("CANOPY_GITHUB_TOKEN", TOKEN),
        ("CANOPY_DIGEST_WEBHOOK_URL", chat_url.as_str()),
    ];
    let mut s = Harness::start(&cfg, &env).await;
    s.stop().await;
    queue_by_hand(dir.path(), s.store(), &cfg_path, &chat_url);
    s.restart().await;
    // `digest --send` queued its actions at the wall clock's now; the schedule (every two
    // seconds) is seen on the first tick and runs at the next.
    s.catch_up_with_wall_clock();
    s.settle().await;
    s.advance(chrono::Duration::seconds(3)).await;

    digests_are_issues(&fake, &html_dir).await;
    files_mail_and_chat(&html_dir, &mails, &chat).await;

    // A restart (and schedule ticks every 2 seconds) send nothing twice.
    let counts = |fake: &FakeGitHub| {
        (
            fake.issues(REPO).len(),
            mails.lock().unwrap().len(),
            chat.lock().unwrap().len(),
        )
    };
    let before = counts(&fake);
    s.restart().await;
    s.advance(chrono::Duration::seconds(5)).await;
    let after = counts(&fake);
    // Only a new week could add one (if the test runs across a Monday midnight).
    assert!(
        after.0 <= before.0 + 1 && after.1 <= before.1 + 1,
        "{before:?} → {after:?}"
    );
    let titles: Vec<String> = fake.issues(REPO).into_iter().map(|i| i.title).collect();
    let mut unique = titles.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        titles.len(),
        "an issue was opened twice: {titles:?}"
    );
}

/// The server's configuration: the fake GitHub, the fake SMTP server, an HTML directory and a
/// digest schedule every two seconds.
fn config(github_url: &str, smtp_port: u16, html_dir: &Path) -> String {
    format!(
        "[github]\napi_url = \"{}\"\ntimeout_secs = 2\n\
         [outbox]\nbackoff_base_ms = 50\n\
         [digest]\ndir = \"{}\"\nemail_to = [\"maintainers@example.org\"]\npoll_secs = 1\n\
         [digest.smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\nfrom = \"Canopy <canopy@example.org>\"\n\
         [defaults.digest]\nschedule = \"*/2 * * * * *\"\nlabels = [\"canopy-digest\", \"weekly\"]\n",
        github_url,
        html_dir.display()
    )
}

/// The bundled history of PR #7 and a month of activity, replayed into the server's store;
/// PR #7's week and a week of the month are queued for every channel by hand.
fn queue_by_hand(dir: &Path, store_path: &Path, cfg_path: &Path, chat_url: &str) {
    let store = store_path.to_str().unwrap().to_string();
    let fixtures = workspace_root().join("tests/fixtures/github");
    let month = dir.join("month");
    std::fs::create_dir_all(&month).unwrap();
    write_month(&month);
    for d in [&fixtures, &month] {
        replay_github(BIN, d, store_path);
    }
    let digest = |week: &str, extra: &[&str]| {
        std::process::Command::new(BIN)
            .args(["digest", "--store", &store, "--repo", REPO, "--week", week])
            .args(extra)
            .args(["--config", cfg_path.to_str().unwrap()])
            .env("CANOPY_DIGEST_WEBHOOK_URL", chat_url)
            .output()
            .unwrap()
    };
    let month_week = digest("2026-W43", &["--send"]);
    stdout_ok(&month_week);
    let dry = digest("2026-W45", &["--send", "--dry-run"]);
    let lines = stdout_ok(&dry);
    let channels: Vec<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["platform"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(channels, ["github", "file", "email", "webhook"], "{lines}");
    let sent = digest("2026-W45", &["--send"]);
    stdout_ok(&sent);
}

/// The W45 and W43 digests and the scheduled one are issues with their figures, naming nobody.
async fn digests_are_issues(fake: &FakeGitHub, html_dir: &Path) {
    let w45_title = format!("Canopy weekly digest: {REPO} 2026-W45");
    let issues = || fake.issues(REPO);
    eventually(
        "the W45 issue and the scheduled one",
        Duration::from_secs(30),
        || {
            let i = issues();
            i.iter().any(|x| x.title == w45_title) && i.len() >= 3
        },
    )
    .await;
    let w43_title = format!("Canopy weekly digest: {REPO} 2026-W43");
    eventually("the month's W43 issue", Duration::from_secs(20), || {
        issues().iter().any(|x| x.title == w43_title)
    })
    .await;
    let w43 = issues().into_iter().find(|x| x.title == w43_title).unwrap();
    assert!(w43.body.contains("5 opened, 4 merged"), "{}", w43.body);
    assert!(
        w43.body.contains("5 reviews by 5 reviewers"),
        "{}",
        w43.body
    );
    assert!(
        html_dir.join("canopy-demo_widgets-2026-W43.html").exists(),
        "the month's HTML digest"
    );
    let w45 = issues().into_iter().find(|x| x.title == w45_title).unwrap();
    assert_eq!(w45.labels, ["canopy-digest", "weekly"]);
    assert!(w45.body.contains("1 opened, 1 merged"), "{}", w45.body);
    assert!(
        w45.body.contains("```mermaid\nxychart-beta"),
        "{}",
        w45.body
    );
    assert!(w45.body.contains("docs/metrics.md#digest"), "{}", w45.body);
    for login in ["ada-l", "bob-b", "carol-c"] {
        assert!(!w45.body.contains(login), "{login} named in the digest");
    }
}

/// The HTML file with its charts, the email and the chat message.
async fn files_mail_and_chat(html_dir: &Path, mails: &Received, chat: &Received) {
    eventually(
        "HTML files, emails and chat messages",
        Duration::from_secs(20),
        || {
            std::fs::read_dir(html_dir).map(|d| d.count()).unwrap_or(0) >= 3
                && mails.lock().unwrap().len() >= 3
                && chat.lock().unwrap().len() >= 3
        },
    )
    .await;
    let html = std::fs::read_to_string(html_dir.join("canopy-demo_widgets-2026-W45.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 3, "three charts");
    assert!(html.contains("#2E7D32") && html.contains("#1565C0") && html.contains("#EF6C00"));
    let mail = mails.lock().unwrap()[0].clone();
    assert!(mail.contains("maintainers@example.org"), "{mail}");
    assert!(mail.contains("text/html"), "{mail}");
    let chat_msg: serde_json::Value = serde_json::from_str(&chat.lock().unwrap()[0]).unwrap();
    assert!(
        chat_msg["text"]
            .as_str()
            .unwrap()
            .contains("Canopy weekly digest")
    );
}
