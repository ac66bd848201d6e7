//! `canopy backfill` as a real process against fake GitHub and Gerrit APIs with multi-page
//! answers: everything imported, rate limits waited out, an interrupted run resumed, and
//! objects also seen by webhook stored once.

use std::ops::ControlFlow;
use std::time::Duration;

use axum::http::Method;
use canopy_e2e::fake_gerrit::FakeGerrit;
use canopy_e2e::fake_github::{FakeGitHub, Fault};
use canopy_e2e::{run_replay, stdout_ok, workspace_root};
use canopy_store::{EventStore, RedbStore, TimeRange};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");
const REPO: &str = "canopy-demo/widgets";

fn fixture(dir: &str, name: &str) -> Value {
    serde_json::from_slice(
        &std::fs::read(workspace_root().join("tests/fixtures").join(dir).join(name)).unwrap(),
    )
    .unwrap()
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    run_owned(
        args.iter().map(|a| a.to_string()).collect(),
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn run_owned(args: Vec<String>, env: Vec<(String, String)>) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(&args)
        .envs(env)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn ids(store: &std::path::Path, repo: &str) -> Vec<String> {
    let s = RedbStore::open(store).unwrap();
    let mut out = Vec::new();
    s.scan_repo(repo, TimeRange::ALL, &mut |e| {
        out.push(e.id);
        ControlFlow::Continue(())
    })
    .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn github_backfill_is_complete_resumable_rate_limit_aware_and_idempotent_with_webhooks() {
    let fake = FakeGitHub::start("bf-token").await;
    seed_230_merged_prs(&fake);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    // Webhooks delivered PR #7's merge and its CI job before the backfill.
    let hooks = webhook_dir(&[
        "pull_request.closed.merged.json",
        "workflow_job.completed.json",
    ]);
    let out = run_replay(BIN, hooks.path().to_str().unwrap(), "github", s, &[]);
    assert!(out.status.success());
    let (args, env) = backfill_command(dir.path(), s, &fake.url());

    // A secondary rate limit on page 1 is waited out; a permanent failure on page 2 stops the run.
    fake.fault(
        Some(Method::GET),
        "/pulls/3",
        Fault::StatusHeaders(
            403,
            vec![("retry-after", "1".into())],
            "secondary rate limit",
        ),
    );
    fake.fault(
        Some(Method::GET),
        "page=2",
        Fault::Status(404, "{\"message\":\"Not Found\"}"),
    );
    let (a1, e1) = (args.clone(), env.clone());
    let first = tokio::task::spawn_blocking(move || run_owned(a1, e1))
        .await
        .unwrap();
    assert!(!first.status.success());
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(err.contains("HTTP 404"), "{err}");
    let after_first = ids(&store, REPO);
    let opened = |ids: &[String]| ids.iter().filter(|i| i.ends_with(":opened")).count();
    assert_eq!(
        opened(&after_first),
        100,
        "page 1 was stored before the failure"
    );

    // The second run resumes at page 2 and never asks for page 1 again.
    let before = fake.model.lock().unwrap().requests.len();
    let second = tokio::task::spawn_blocking(move || run_owned(args, env))
        .await
        .unwrap();
    stdout_ok(&second);
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        text.contains("130 PRs read") && text.contains("resumed at page 2"),
        "{text}"
    );
    let lists: Vec<String> = fake.model.lock().unwrap().requests[before..]
        .iter()
        .filter(|r| r.path.contains("/pulls?state=all"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(lists.len(), 2, "pages 2 and 3 only: {lists:?}");
    assert!(
        lists[0].ends_with("page=2") && lists[1].ends_with("page=3"),
        "{lists:?}"
    );
    every_pr_once(&store, &fake);
}

/// The `canopy backfill github` arguments and environment for the fake GitHub at `url`.
fn backfill_command(
    dir: &std::path::Path,
    s: &str,
    url: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let cfg = dir.join("canopy.toml");
    std::fs::write(
        &cfg,
        format!("[github]\napi_url = \"{}\"\ntimeout_secs = 2\n", url),
    )
    .unwrap();
    let env = vec![("CANOPY_GITHUB_TOKEN".to_string(), "bf-token".to_string())];
    let args: Vec<String> = [
        "backfill",
        "github",
        REPO,
        "--store",
        s,
        "--config",
        cfg.to_str().unwrap(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    (args, env)
}

/// 230 merged PRs with one review each; PR #7 (the fixture's) with its workflow run and job.
fn seed_230_merged_prs(fake: &FakeGitHub) {
    let merged = fixture("github", "pull_request.closed.merged.json")["pull_request"].clone();
    let job = fixture("github", "workflow_job.completed.json")["workflow_job"].clone();
    {
        let mut m = fake.model.lock().unwrap();
        let mut pulls = Vec::new();
        for n in 1..=230u64 {
            let mut pr = merged.clone();
            pr["number"] = json!(n);
            pr["created_at"] = json!(format!("2026-0{}-{:02}T10:00:00Z", 1 + n / 100, 1 + n % 28));
            if n != 7 {
                pr["head"]["sha"] = json!(format!("{n:040x}"));
            }
            pulls.push(pr);
            m.reviews.insert(
                (REPO.into(), n),
                vec![json!({"id": 880_000 + n, "user": {"login": "bob-b"}, "body": "ok", "state": "APPROVED", "submitted_at": "2026-03-01T10:00:00Z"})],
            );
        }
        m.pulls.insert(REPO.into(), pulls);
        let head = merged["head"]["sha"].as_str().unwrap().to_string();
        m.runs_by_sha.insert(head, vec![json!({"id": 31000001})]);
        m.jobs.insert(31000001, vec![job]);
    }
}

/// A directory holding copies of the named GitHub webhook fixtures.
fn webhook_dir(files: &[&str]) -> tempfile::TempDir {
    let hooks = tempfile::tempdir().unwrap();
    for f in files {
        std::fs::copy(
            workspace_root().join("tests/fixtures/github").join(f),
            hooks.path().join(f),
        )
        .unwrap();
    }
    hooks
}

/// Every PR, merge and review stored once, also those seen by webhook; the rate limit waited out.
fn every_pr_once(store: &std::path::Path, fake: &FakeGitHub) {
    let opened = |ids: &[String]| ids.iter().filter(|i| i.ends_with(":opened")).count();
    let all = ids(store, REPO);
    assert_eq!(opened(&all), 230);
    assert_eq!(all.iter().filter(|i| i.ends_with(":merged")).count(), 230);
    assert_eq!(
        all.iter().filter(|i| i.starts_with("gh:review:")).count(),
        230
    );
    // Seen by webhook and by backfill: stored once.
    assert_eq!(all.iter().filter(|i| *i == "gh:pr:7:merged").count(), 1);
    assert_eq!(all.iter().filter(|i| *i == "gh:job:61000001:1").count(), 1);
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len());
    let waits: Vec<_> = fake
        .model
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.path.ends_with("/pulls/3"))
        .map(|r| r.at)
        .collect();
    assert!(
        waits.len() == 2 && waits[1] - waits[0] >= Duration::from_millis(950),
        "the rate limit was waited out"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gerrit_backfill_reads_every_page_with_zuul_reports_and_is_idempotent() {
    let fake = FakeGerrit::start("canopy", "pw").await;
    seed_150_changes(&fake);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let cfg = dir.path().join("canopy.toml");
    std::fs::write(
        &cfg,
        format!("[gerrit]\nhost = \"review.example.org\"\nurl = \"{}\"\nusername = \"canopy\"\ntimeout_secs = 2\n", fake.url()),
    )
    .unwrap();
    let (s, c) = (
        store.to_str().unwrap().to_string(),
        cfg.to_str().unwrap().to_string(),
    );
    let run = move || {
        run_env(
            &[
                "backfill",
                "gerrit",
                "widgets/core",
                "--store",
                &s,
                "--config",
                &c,
            ],
            &[("CANOPY_GERRIT_PASSWORD", "pw")],
        )
    };
    let out = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    stdout_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("150 changes read"));
    let all = ids(&store, "widgets/core");
    assert_eq!(
        all.iter().filter(|i| i.ends_with(":ps1:created")).count(),
        150,
        "{}",
        String::from_utf8_lossy(&out.stderr)
            .chars()
            .take(2000)
            .collect::<String>()
    );
    assert_eq!(all.iter().filter(|i| i.ends_with(":merged")).count(), 50);
    assert_eq!(
        all.iter().filter(|i| i.starts_with("gerrit:zuul:")).count(),
        3,
        "the Zuul report's three jobs"
    );
    // Two pages were asked for.
    let queries = fake
        .model
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/a/changes/?"))
        .count();
    assert_eq!(queries, 2);
    // A second run stores nothing new.
    let again = tokio::task::spawn_blocking(run).await.unwrap();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 new events"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

/// 150 changes in one project, a third merged, one with a Zuul report of three jobs.
fn seed_150_changes(fake: &FakeGerrit) {
    let zuul_report =
        fixture("gerrit", "03-comment-added-zuul-check-failed.json")["comment"].clone();
    {
        let mut m = fake.model.lock().unwrap();
        for n in 1..=150u64 {
            let mut messages = vec![json!({
                "message": "Patch Set 1: Code-Review+1\n\nLooks fine.",
                "author": {"_account_id": 2, "username": "bob", "name": "Bob Builder"},
                "date": "2025-11-04 11:00:00.000000000", "_revision_number": 1
            })];
            if n == 4711 % 150 {
                messages.push(json!({"message": zuul_report, "author": {"_account_id": 3, "username": "zuul", "name": "Zuul"}, "date": "2025-11-04 10:25:00.000000000", "_revision_number": 1}));
            }
            m.changes.push(json!({
                "project": "widgets/core", "branch": "master", "change_id": format!("I{n:040}"), "_number": n,
                "subject": format!("Change {n}"), "owner": {"_account_id": 1, "username": "ada", "name": "Ada Lovelace"},
                "status": if n % 3 == 0 { "MERGED" } else { "NEW" },
                "created": "2025-11-04 10:00:00.000000000", "updated": "2025-11-05 12:00:00.000000000",
                "submitted": "2025-11-05 12:00:00.000000000", "submitter": {"_account_id": 3, "username": "zuul"},
                "revisions": { format!("{n:040x}"): {"_number": 1, "created": "2025-11-04 10:00:00.000000000", "uploader": {"_account_id": 1, "username": "ada"}} },
                "messages": messages,
            }));
        }
    }
}
