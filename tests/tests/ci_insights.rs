//! Stopping points end to end through the real server: a store holding a Zuul job's history,
//! then a Zuul report on a Gerrit change where that job failed long after its stopping point.
//! The patchset message says so (snapshot), and the week's digest counts the time and energy
//! spent past stopping points.

use std::time::Duration;

use canopy_analyzer::event::{CiJobEvent, CiResult};
use canopy_analyzer::{Event, EventKind, Platform};
use canopy_e2e::Webhooks as _;
use canopy_e2e::gerrit_bot;
use canopy_e2e::server::ServerProcess;
use canopy_e2e::{run_canopy, stdout_ok};
use canopy_store::{EventStore, RedbStore};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");
/// `eventCreatedOn` of the fixture report (2025-11-04, ISO week 2025-W45).
const REPORT_AT: i64 = 1_762_251_900;

fn fixture(name: &str) -> Vec<u8> {
    canopy_e2e::fixture_bytes("gerrit", name)
}

/// 90 earlier runs of `widgets-integration-arm64` in the check pipeline, one every 4 hours
/// before the report: passing runs take 20–30 minutes, failing ones hang for 25–60 minutes.
fn history() -> Vec<Event> {
    (0..90i64)
        .map(|i| {
            let (secs, result) = if i % 3 == 2 {
                (1500 + (i * 370) % 2100, CiResult::Failure)
            } else {
                (1200 + (i * 530) % 600, CiResult::Success)
            };
            let end = REPORT_AT - 3 * 86_400 - 4 * 3600 * (90 - i);
            let at = chrono::DateTime::from_timestamp(end, 0)
                .unwrap()
                .fixed_offset();
            Event::new(
                format!("hist-{i}"),
                Platform::Gerrit,
                "widgets/core",
                at,
                EventKind::CiJobFinished(CiJobEvent {
                    pipeline: Some("check".into()),
                    voting: false,
                    change: Some(4000 + i as u64),
                    patchset: Some(1),
                    run_id: Some(format!("hist{i}")),
                    ..CiJobEvent::new("widgets-integration-arm64", "zuul", secs as u64, result)
                }),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_zuul_job_past_its_stopping_point_is_named_in_the_message_and_the_digest() {
    let fake = gerrit_bot::fake_with_change(1).await;
    let cfg = gerrit_bot::gerrit_config(&fake, gerrit_bot::QUICK_RETRIES);
    let mut s = ServerProcess::start(BIN, &cfg, &gerrit_bot::ENV, &[]).await;
    // The job's history goes into the store while the server is down.
    s.kill();
    RedbStore::open(s.store())
        .unwrap()
        .put_events(&history())
        .unwrap();
    s.restart().await;
    for f in [
        "01-patchset-created.json",
        "03-comment-added-zuul-check-failed.json",
    ] {
        assert_eq!(s.gerrit(&fixture(f)).await, 202, "{f}");
    }
    assert!(
        fake.wait_for(Duration::from_secs(10), |m| !m.messages.is_empty())
            .await
    );
    let msgs = fake.messages("widgets/core", 4711);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    // widgets-integration-arm64 failed after 41 minutes; widgets-tox-py311 has no history.
    insta::assert_snapshot!(msgs[0].message);
    s.kill();
    let out = run_canopy(
        BIN,
        &[
            "digest",
            "--store",
            s.store().to_str().unwrap(),
            "--repo",
            "widgets/core",
            "--week",
            "2025-W45",
        ],
    );
    stdout_ok(&out);
    let md = String::from_utf8_lossy(&out.stdout);
    let line = md
        .lines()
        .find(|l| l.starts_with("**Past stopping points.**"))
        .unwrap_or_else(|| panic!("{md}"));
    insta::assert_snapshot!("digest_past_stopping_points", line);
}
