//! An old store opens after migration: a store written by format 1 (checked in under
//! `tests/fixtures/store-v1`, see its README) is migrated when opened, keeps every event,
//! delivery and action, and answers every new index as a scan of its events does.

use std::ops::ControlFlow;
use std::path::Path;

use canopy_core::{DeliveryState, OutboxState, Platform};
use canopy_store::{
    EventStore, InboxStore, MetaStore, OutboxStore, RedbStore, STORE_FORMAT_VERSION, TimeRange,
    by_scan, repo_events,
};

const REPO: &str = "canopy-demo/widgets";
/// The head of PR #7 when it was merged; the failed workflow job ran on it.
const MERGED_HEAD: &str = "2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d";
/// The head of PR #7 when it was opened.
const OPENED_HEAD: &str = "1f2e3d4c5b6a79880716253443526170819a0b1c";

fn copy_fixture(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1/canopy.redb");
    std::fs::copy(from, to.join(canopy_store::DB_FILE)).unwrap();
}

fn ids(f: impl FnOnce(&mut dyn FnMut(canopy_analyzer::Event) -> ControlFlow<()>)) -> Vec<String> {
    let mut out = Vec::new();
    f(&mut |e| {
        out.push(e.id);
        ControlFlow::Continue(())
    });
    out
}

#[test]
fn a_format_1_store_opens_after_migration_with_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let store = RedbStore::open(dir.path()).unwrap();
    let format = store.get_meta("format_version").unwrap().unwrap();
    assert_eq!(format, STORE_FORMAT_VERSION.to_le_bytes());
    assert_eq!(store.get_meta("migration_cursor").unwrap(), None);

    // Every event is still there and readable, in time order.
    let events = repo_events(&store, REPO, TimeRange::ALL).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "change",
            "change",
            "comment",
            "ci_job_finished",
            "review",
            "change"
        ]
    );
    assert_eq!(store.repos().unwrap(), [REPO]);

    indexes_agree_with_scans(&store, &events);
    deliveries_and_actions_are_untouched(&store);
    drop(store);

    // Opening again finds the current format and changes nothing.
    let again = RedbStore::open(dir.path()).unwrap();
    assert_eq!(repo_events(&again, REPO, TimeRange::ALL).unwrap(), events);
}

/// The new indexes were built from the old events, and agree with scans.
fn indexes_agree_with_scans(store: &RedbStore, events: &[canopy_analyzer::Event]) {
    assert_eq!(store.change_of_sha(REPO, OPENED_HEAD).unwrap(), Some(7));
    assert_eq!(store.change_of_sha(REPO, MERGED_HEAD).unwrap(), Some(7));
    for sha in [OPENED_HEAD, MERGED_HEAD, "0000"] {
        assert_eq!(
            store.change_of_sha(REPO, sha).unwrap(),
            by_scan::change_of_sha(store, REPO, sha).unwrap()
        );
        assert_eq!(
            ids(|v| store.scan_sha_jobs(REPO, sha, v).unwrap()),
            ids(|v| by_scan::scan_sha_jobs(store, REPO, sha, v).unwrap())
        );
    }
    let jobs = ids(|v| store.scan_sha_jobs(REPO, MERGED_HEAD, v).unwrap());
    assert_eq!(jobs.len(), 1);
    let job = events
        .iter()
        .find_map(|e| match &e.kind {
            canopy_analyzer::EventKind::CiJobFinished(j) => Some(j.job_key()),
            _ => None,
        })
        .unwrap();
    assert_eq!(ids(|v| store.scan_job(REPO, &job, v).unwrap()), jobs);
    let mut summaries = Vec::new();
    store
        .scan_change_summaries(REPO, &mut |n, s| {
            summaries.push((n, s));
            ControlFlow::Continue(())
        })
        .unwrap();
    let want: Vec<_> = by_scan::change_summaries(store, REPO)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(summaries, want);
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].1.merged_by(), Some("github:cy-maint"));
}

/// Deliveries and actions are untouched by the migration.
fn deliveries_and_actions_are_untouched(store: &RedbStore) {
    let mut deliveries = Vec::new();
    store
        .scan_deliveries(&mut |d| {
            deliveries.push(d);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(deliveries.len(), 7);
    assert!(
        deliveries
            .iter()
            .all(|d| !matches!(d.state, DeliveryState::Pending))
    );
    let first = &deliveries[0].delivery;
    let body = store.delivery_body(Platform::Github, &first.id).unwrap();
    assert!(body.is_some_and(|b| b.len() as u64 == deliveries[0].body_len));
    let sticky = store
        .outbox_item("sticky:github:canopy-demo/widgets#7")
        .unwrap()
        .unwrap();
    assert_eq!(sticky.state, OutboxState::Pending);
}

#[test]
fn new_events_after_the_migration_extend_the_migrated_indexes() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let store = RedbStore::open(dir.path()).unwrap();
    let mut events = repo_events(&store, REPO, TimeRange::ALL).unwrap();
    // A second job on the merged head, a minute after the first.
    let mut job = events
        .iter()
        .find(|e| e.kind_name() == "ci_job_finished")
        .unwrap()
        .clone();
    job.id = format!("{}-again", job.id);
    job.at += chrono::Duration::minutes(1);
    assert_eq!(store.put_events(&[job.clone()]).unwrap(), 1);
    events.push(job);
    assert_eq!(
        ids(|v| store.scan_sha_jobs(REPO, MERGED_HEAD, v).unwrap()).len(),
        2
    );
    assert_eq!(
        ids(|v| store.scan_sha_jobs(REPO, MERGED_HEAD, v).unwrap()),
        ids(|v| by_scan::scan_sha_jobs(&store, REPO, MERGED_HEAD, v).unwrap())
    );
}
