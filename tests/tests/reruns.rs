//! Greener reruns through the bot in-process on a manual clock: a non-critical rerun gets
//! advice with the greenest window from the region's intensity series, `/canopy defer`
//! schedules it as a durable timer, a restart does not lose it, and when the clock reaches the
//! window the fake GitHub or Gerrit receives the rerun exactly once.

use std::time::Duration;

use canopy_e2e::Webhooks as _;
use canopy_e2e::fake_gerrit::FakeGerrit;
use canopy_e2e::fake_github::FakeGitHub;
use canopy_e2e::fixture_json;
use canopy_e2e::gerrit_bot;
use canopy_e2e::harness::{Harness, TestClock};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");
const TOKEN: &str = "test-token";
const REPO: &str = "canopy-demo/widgets";

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// An intensity series around `now`: dirty until `low_from` seconds after it, clean for an
/// hour after, one point every 5 seconds; written as the CSV format of the shared data.
fn write_series(dir: &std::path::Path, now: i64, low_from: i64) -> std::path::PathBuf {
    let mut csv = String::from("Time,Carbon Intensity\n");
    let mut t = now - 600;
    while t < now + 3600 {
        let v = if t < now + low_from { 450.0 } else { 90.0 };
        let ts = chrono::DateTime::from_timestamp(t, 0).unwrap();
        csv.push_str(&format!("{},{v}\n", ts.format("%Y-%m-%d %H:%M:%S")));
        t += 5;
    }
    let p = dir.join("grid.csv");
    std::fs::write(&p, csv).unwrap();
    p
}

fn grid_config(series: &std::path::Path) -> String {
    format!(
        "[grid.regions.test]\nprovider = \"csv\"\npath = \"{}\"\n[defaults.carbon]\nregion = \"test\"\n[outbox]\nbackoff_base_ms = 20\n",
        series.display()
    )
}

/// Waits (10 s at most) until a message on change 4711 contains `text`; fails showing them all.
async fn expect_message(fake: &FakeGerrit, text: &str) {
    assert!(
        fake.wait_for_message(Duration::from_secs(10), text).await,
        "{:#?}",
        fake.messages("widgets/core", 4711)
    );
}

fn rfc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn a_deferred_github_rerun_survives_a_restart_and_runs_once_at_the_window() {
    let fake = FakeGitHub::start(TOKEN).await;
    fake.model
        .lock()
        .unwrap()
        .runs
        .insert(31000001, "in_progress".into());
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::manual_now();
    let series = write_series(dir.path(), clock.now().timestamp(), 25);
    let cfg = format!(
        "[github]\napi_url = \"{}\"\ntimeout_secs = 1\n{}",
        fake.url(),
        grid_config(&series)
    );
    let mut s = Harness::start_with(&cfg, &[("CANOPY_GITHUB_TOKEN", TOKEN)], clock).await;
    // The grid refresher's first load must be in before the rerun request: without grid data
    // there is no advice (on a loaded machine the request could otherwise come first).
    s.settle().await;
    rerun_of_a_failed_draft(&mut s).await;
    advice_in_the_sticky(&fake).await;
    defer_by_the_author(&mut s, &fake).await;
    // A stop before the window loses nothing; then the clock reaches the window.
    s.restart().await;
    s.advance(chrono::Duration::seconds(60)).await;
    assert!(
        fake.wait_for(Duration::from_secs(40), |m| !m.reruns.is_empty())
            .await,
        "the rerun never came"
    );
    s.settle().await;
    {
        let m = fake.model.lock().unwrap();
        assert_eq!(m.reruns, vec![(REPO.to_string(), 31000001)], "exactly once");
        assert_eq!(m.cancels, vec![(REPO.to_string(), 31000001)]);
    }
    s.stop().await;
    // This week's digest counts the deferred rerun and what it avoided.
    let cfg_path = dir.path().join("canopy.toml");
    std::fs::write(&cfg_path, &cfg).unwrap();
    let week = canopy_analyzer::IsoWeek::of_utc(&s.clock.now()).to_string();
    let out = canopy_e2e::run_canopy(
        BIN,
        &[
            "digest",
            "--store",
            s.store().to_str().unwrap(),
            "--repo",
            REPO,
            "--week",
            &week,
            "--config",
            cfg_path.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let d = canopy_e2e::stdout_json(&out);
    assert_eq!(d["deferred_reruns"], 1, "{d}");
    assert!(d["deferred_saved_g"].as_f64().unwrap() > 0.0, "{d}");
}

/// A draft PR whose test job failed; then someone re-runs the workflow.
async fn rerun_of_a_failed_draft(s: &mut Harness) {
    for (event, name) in [
        ("pull_request", "pull_request.opened.json"),
        ("pull_request", "pull_request.synchronize.json"),
        ("workflow_job", "workflow_job.completed.json"),
        ("pull_request", "pull_request.converted_to_draft.json"),
    ] {
        let mut v = fixture_json("github", name);
        if event == "workflow_job" {
            // A 20-second job (expected reruns are at least a minute).
            v["workflow_job"]["completed_at"] = json!("2026-11-03T16:21:20Z");
        }
        assert_eq!(s.github(event, name, &bytes(&v)).await, 202);
    }
    let mut rerun = fixture_json("github", "workflow_run.requested.rerun.json");
    rerun["workflow_run"]["run_started_at"] = json!(rfc(s.clock.now()));
    rerun["workflow_run"]["updated_at"] = json!(rfc(s.clock.now()));
    assert_eq!(
        s.github("workflow_run", "d-rerun", &bytes(&rerun)).await,
        202
    );
}

/// The sticky comment advises waiting for the clean window, with the saving.
async fn advice_in_the_sticky(fake: &FakeGitHub) {
    assert!(
        fake.wait_for_comment(Duration::from_secs(10), REPO, 7, "Rerun advice")
            .await,
        "{:#?}",
        fake.comments(REPO, 7)
    );
    let sticky = fake.comments(REPO, 7)[0].body.clone();
    assert!(
        sticky.contains("is not urgent (draft or work-in-progress change)"),
        "{sticky}"
    );
    assert!(
        sticky.contains("over its expected 1 minute now, and 90 from"),
        "{sticky}"
    );
    let pct: f64 = sticky
        .split("% less")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no saving in {sticky}"));
    assert!(pct > 40.0, "{sticky}");
}

/// The author defers it: the run is cancelled, the reply names the start, the sticky says so.
async fn defer_by_the_author(s: &mut Harness, fake: &FakeGitHub) {
    let mut cmd = fixture_json("github", "issue_comment.created.json");
    cmd["comment"]["id"] = json!(7_100_001);
    cmd["comment"]["body"] = json!("/canopy defer");
    cmd["comment"]["user"]["login"] = json!("ada-l");
    cmd["comment"]["author_association"] = json!("CONTRIBUTOR");
    cmd["sender"]["login"] = json!("ada-l");
    cmd["issue"]["user"]["login"] = json!("ada-l");
    assert_eq!(
        s.github("issue_comment", "d-defer", &bytes(&cmd)).await,
        202
    );
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| !m.cancels.is_empty()
            && m.comments.get(&(REPO.to_string(), 7)).is_some_and(|c| c
                .iter()
                .any(|c| c.body.contains("will start at"))
                // The sticky's "Deferred" edit is an outbox action of its own.
                && c.first().is_some_and(|s| s.body.contains("Deferred:"))))
            .await,
        "{:#?}",
        fake.comments(REPO, 7)
    );
    assert!(
        fake.model.lock().unwrap().reruns.is_empty(),
        "not before the window"
    );
    let sticky = fake.comments(REPO, 7)[0].body.clone();
    assert!(
        sticky.contains("Deferred: the rerun of `test (ubuntu-latest)`"),
        "{sticky}"
    );
}

#[tokio::test]
async fn a_gerrit_report_with_only_non_voting_failures_gets_advice_and_a_deferred_recheck() {
    let fake = gerrit_bot::fake_with_change(1).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::manual_now();
    let series = write_series(dir.path(), clock.now().timestamp(), 20);
    let cfg = gerrit_bot::gerrit_config(&fake, &grid_config(&series));
    let mut s = Harness::start_with(&cfg, &gerrit_bot::ENV, clock).await;
    // The grid refresher's first load must be in before the rerun request: without grid data
    // there is no advice (on a loaded machine the request could otherwise come first).
    s.settle().await;
    let created = zuul_report_with_a_non_voting_failure(&mut s, &fake).await;
    // The change owner defers it.
    let mut cmd = fixture_json("gerrit", "07-comment-added-review.json");
    cmd["patchSet"] = created["patchSet"].clone();
    cmd["author"] = json!({"name": "Ada Lovelace", "email": "ada@example.org", "username": "ada"});
    cmd["approvals"] = json!([]);
    cmd["comment"] = json!("Patch Set 1:\n\n/canopy defer");
    // The report came two minutes after the patch set; the command a second after it.
    let now = created["eventCreatedOn"].as_i64().unwrap() + 120;
    cmd["eventCreatedOn"] = json!(now + 1);
    assert_eq!(s.gerrit(&bytes(&cmd)).await, 202);
    expect_message(&fake, "will start at").await;
    let rechecks = |f: &FakeGerrit| {
        f.messages("widgets/core", 4711)
            .iter()
            .filter(|m| m.message.lines().any(|l| l.trim() == "recheck"))
            .count()
    };
    assert_eq!(rechecks(&fake), 0, "not before the window");
    s.restart().await;
    s.advance(chrono::Duration::seconds(60)).await;
    assert!(
        fake.wait_for(Duration::from_secs(40), |m| m
            .messages
            .values()
            .flatten()
            .any(|x| x.message.lines().any(|l| l.trim() == "recheck")))
            .await,
        "the recheck never came"
    );
    s.settle().await;
    assert_eq!(rechecks(&fake), 1, "exactly once");
    s.stop().await;
}

/// A patch set whose Zuul report has only a non-voting failure; the advice is posted.
async fn zuul_report_with_a_non_voting_failure(s: &mut Harness, fake: &FakeGerrit) -> Value {
    let now = s.clock.now().timestamp();
    let mut created = fixture_json("gerrit", "01-patchset-created.json");
    created["eventCreatedOn"] = json!(now - 120);
    assert_eq!(s.gerrit(&bytes(&created)).await, 202);
    let mut report = fixture_json("gerrit", "03-comment-added-zuul-check-failed.json");
    report["comment"] = json!(
        "Patch Set 1: Verified+1\n\nBuild succeeded (check pipeline).\n\n- widgets-tox-pep8 https://zuul.example.org/t/example/build/5d1c0a7e : SUCCESS in 3m 21s\n- widgets-docs-build https://zuul.example.org/t/example/build/77ab00cd : FAILURE in 40s (non-voting)\n"
    );
    report["approvals"] =
        json!([{"type": "Verified", "description": "Verified", "value": "1", "oldValue": "0"}]);
    report["eventCreatedOn"] = json!(now);
    assert_eq!(s.gerrit(&bytes(&report)).await, 202);
    expect_message(fake, "rerun advice").await;
    let advice = fake
        .messages("widgets/core", 4711)
        .into_iter()
        .find(|m| m.message.contains("rerun advice"))
        .unwrap();
    assert!(
        advice
            .message
            .contains("`widgets-docs-build` is not urgent (non-voting job)"),
        "{}",
        advice.message
    );
    assert!(
        advice.message.contains("instead of `recheck` now"),
        "{}",
        advice.message
    );

    created
}
