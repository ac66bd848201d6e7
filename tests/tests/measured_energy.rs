//! Measured CI energy end to end through the bot in-process (the harness: real router, pool,
//! outbox worker and loops on a manual clock) against a fake Prometheus: a GitHub
//! `workflow_job` on a runner with a `[prometheus.<runner>]` source, and a Zuul report with a
//! `[prometheus.zuul]` source. The comment is posted with the estimate at once; the job is
//! measured once its last scrape is in, a failure that may pass is retried once later, and the
//! comment then says "measured" beside the estimate (snapshots of the comment text).

use std::sync::Arc;
use std::time::Duration;

use canopy_core::ManualClock;
use canopy_e2e::Webhooks as _;
use canopy_e2e::fake_github::FakeGitHub;
use canopy_e2e::fake_prometheus::{Answer, FakePrometheus};
use canopy_e2e::gerrit_bot;
use canopy_e2e::harness::{Harness, TestClock};
use chrono::{DateTime, Utc};

const TOKEN: &str = "test-token";
const REPO: &str = "canopy-demo/widgets";

use canopy_e2e::fixture_bytes as fixture;

fn clock_at(t: &str) -> TestClock {
    let t: DateTime<Utc> = t.parse().unwrap();
    TestClock::Manual(Arc::new(ManualClock::new(t)))
}

fn source(name: &str, prom: &FakePrometheus, query: &str) -> String {
    format!(
        "[prometheus.{name}]\nurl = \"{}\"\nquery = '{query}'\nkind = \"counter_joules\"\ntimeout_secs = 2\n",
        prom.url()
    )
}

/// A GitHub runner's pod, by the runner's name.
const BY_POD: &str = r#"sum(kepler_container_joules_total{pod="{host}", job_name="{job}"})"#;
/// A Zuul node's counter, by the build's id (a Zuul report names no node).
const BY_BUILD: &str = r#"sum(kepler_node_package_joules_total{zuul_build="{run_id}"})"#;

/// The energy section of a comment or message (from its heading to the next blank line after
/// the job lines).
fn energy_section(body: &str) -> String {
    let start = body.find("CI energy").expect("an energy section");
    let rest = &body[start..];
    let end = ["\n\n**", "\n* ", "\n\n<sub>One comment"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .unwrap_or(rest.len());
    rest[..end].trim_end().to_string()
}

/// The fixture's job (16:21:00–16:33:40 on 2026-11-03) on a self-hosted runner labelled
/// `kepler`, named `runner-7`.
fn kepler_job() -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("github", "workflow_job.completed.json")).unwrap();
    v["workflow_job"]["labels"] = serde_json::json!(["kepler", "linux"]);
    v["workflow_job"]["runner_name"] = serde_json::json!("runner-7");
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn a_github_job_on_a_measured_runner_is_estimated_then_measured_after_one_retry() {
    let gh = FakeGitHub::start(TOKEN).await;
    let prom = FakePrometheus::start().await;
    // Prometheus is down at the first try; then the runner's counter draws 40 W.
    prom.script([Answer::http(503)]);
    prom.model.lock().unwrap().counter_watts = Some(40.0);
    let cfg = format!(
        "[github]\napi_url = \"{}\"\ntimeout_secs = 1\n[outbox]\nbackoff_base_ms = 20\n{}",
        gh.url(),
        source("kepler", &prom, BY_POD)
    );
    let s = Harness::start_with(
        &cfg,
        &[("CANOPY_GITHUB_TOKEN", TOKEN)],
        clock_at("2026-11-03T16:34:00Z"),
    )
    .await;
    for (event, id, body) in [
        (
            "pull_request",
            "d-open",
            fixture("github", "pull_request.opened.json"),
        ),
        (
            "pull_request",
            "d-sync",
            fixture("github", "pull_request.synchronize.json"),
        ),
        ("workflow_job", "d-job", kepler_job()),
    ] {
        assert_eq!(s.github(event, id, &body).await, 202, "{id}");
    }
    s.settle().await;
    // The comment does not wait for the measurement: the estimate is there at once.
    let first = energy_section(&gh.sole_comment(REPO, 7).body);
    assert!(first.contains("Estimates, not measurements"), "{first}");
    assert!(
        prom.requests().is_empty(),
        "measured before the last scrape"
    );

    // One minute after the job ended: Prometheus answers 503; the estimate stands, with why.
    s.advance(chrono::Duration::minutes(2)).await;
    s.settle().await;
    let reqs = prom.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].path, "/api/v1/query_range");
    assert_eq!(
        reqs[0].params["query"],
        r#"sum(kepler_container_joules_total{pod="runner-7", job_name="test (ubuntu-latest)"})"#
    );
    let start: DateTime<Utc> = "2026-11-03T16:21:00Z".parse().unwrap();
    let end: DateTime<Utc> = "2026-11-03T16:33:40Z".parse().unwrap();
    assert_eq!(reqs[0].params["start"], start.timestamp().to_string());
    assert_eq!(reqs[0].params["end"], end.timestamp().to_string());
    let failed = energy_section(&gh.comments(REPO, 7)[0].body);
    insta::assert_snapshot!("github_not_measured_yet", failed);

    // The one retry, ten minutes later, measures it.
    s.advance(chrono::Duration::minutes(10)).await;
    s.settle().await;
    assert_eq!(prom.requests().len(), 2);
    let measured = energy_section(&gh.sole_comment(REPO, 7).body);
    insta::assert_snapshot!("github_measured", measured);

    // No third try, whatever happens later.
    s.advance(chrono::Duration::hours(1)).await;
    s.settle().await;
    assert_eq!(prom.requests().len(), 2);
}

#[tokio::test]
async fn a_zuul_report_is_measured_and_followed_by_one_message() {
    let fake = gerrit_bot::fake_with_change(1).await;
    let prom = FakePrometheus::start().await;
    prom.model.lock().unwrap().counter_watts = Some(55.0);
    // widgets-tox-pep8's series has a counter reset: it keeps its estimate (no retry).
    prom.script([Answer::matrix(&[(
        &[("pod", "node")],
        &[
            (0.0, 5000.0),
            (60.0, 6000.0),
            (120.0, 100.0),
            (201.0, 900.0),
        ],
    )])]);
    let extra = format!(
        "{}{}",
        gerrit_bot::QUICK_RETRIES,
        source("zuul", &prom, BY_BUILD)
    );
    let cfg = gerrit_bot::gerrit_config(&fake, &extra);
    // The fixture's report was posted at 1762251900 (2025-11-04T10:25:00Z).
    let s = Harness::start_with(&cfg, &gerrit_bot::ENV, clock_at("2025-11-04T10:25:10Z")).await;
    for f in [
        "01-patchset-created.json",
        "03-comment-added-zuul-check-failed.json",
    ] {
        assert_eq!(s.gerrit(&fixture("gerrit", f)).await, 202, "{f}");
    }
    s.settle().await;
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| !m.messages.is_empty())
            .await
    );
    assert_eq!(fake.messages("widgets/core", 4711).len(), 1);
    s.advance(chrono::Duration::minutes(2)).await;
    s.settle().await;
    let msgs = fake.messages("widgets/core", 4711);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    let reqs = prom.requests();
    assert_eq!(reqs.len(), 3, "one query per job of the report: {reqs:?}");
    assert!(
        reqs.iter().any(|r| r.params["query"]
            == r#"sum(kepler_node_package_joules_total{zuul_build="5d1c0a7e"})"#),
        "{reqs:?}"
    );
    insta::assert_snapshot!("zuul_measured_message", msgs[1].message);
    // Nothing more: the reset is not retried, the others are measured.
    s.advance(chrono::Duration::hours(1)).await;
    s.settle().await;
    assert_eq!(prom.requests().len(), 3);
    assert_eq!(fake.messages("widgets/core", 4711).len(), 2);
}
