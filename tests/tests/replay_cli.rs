//! `canopy replay` and `canopy events list` as a real process on the bundled fixtures.

use canopy_e2e::{list_json, run_canopy, run_replay, stdout_ok, workspace_root};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

/// Replays the bundled `platform` fixtures into a fresh store (the replay must succeed): the
/// store's directory and what the replay printed.
fn replayed_fixtures(platform: &str) -> (tempfile::TempDir, String) {
    let store = tempfile::tempdir().unwrap();
    let fixtures = workspace_root().join("tests/fixtures").join(platform);
    let out = run_replay(
        BIN,
        fixtures.to_str().unwrap(),
        platform,
        store.path().to_str().unwrap(),
        &[],
    );
    (store, stdout_ok(&out))
}

#[test]
fn replayed_zuul_reports_list_every_job_field() {
    let (store, printed) = replayed_fixtures("gerrit");
    let s = store.path().to_str().unwrap();
    assert!(printed.contains("16 new deliveries"));
    let events = list_json(BIN, &["events", "list"], s, &["--kind", "ci_job_finished"]);
    assert_eq!(events.len(), 8, "3 + 3 check jobs and 2 gate jobs");
    for e in &events {
        for key in ["platform", "kind", "repo", "delivery_id", "at"] {
            assert!(
                e.get(key).is_some_and(|v| !v.is_null()),
                "{key} missing in {e}"
            );
        }
        let d = &e["data"];
        assert!(d["name"].is_string() && d["result"].is_string() && d["duration_secs"].is_u64());
        assert!(d["pipeline"].is_string() && d["voting"].is_boolean());
    }
    let non_voting: Vec<_> = events
        .iter()
        .filter(|e| e["data"]["voting"] == false)
        .collect();
    assert_eq!(non_voting.len(), 2);
    // Replaying again stores nothing twice.
    let fixtures = workspace_root().join("tests/fixtures/gerrit");
    let again = run_replay(BIN, fixtures.to_str().unwrap(), "gerrit", s, &[]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 new deliveries, 16 already stored"));
}

#[test]
fn replayed_github_payloads_take_the_event_from_file_names_or_sidecars() {
    let (store, _) = replayed_fixtures("github");
    let s = store.path().to_str().unwrap();
    let all = list_json(BIN, &["events", "list"], s, &[]);
    assert!(
        all.iter()
            .all(|e| e["platform"] == "github" && e["repo"] == "canopy-demo/widgets")
    );
    assert!(all.iter().any(|e| e["kind"] == "review"));
    // A payload saved under another name, with its headers beside it.
    let fixtures = workspace_root().join("tests/fixtures/github");
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("saved-delivery.json");
    std::fs::copy(fixtures.join("issue_comment.on_issue.json"), &payload).unwrap();
    std::fs::write(
        dir.path().join("saved-delivery.json.headers"),
        "X-GitHub-Event: issue_comment\nX-GitHub-Delivery: 1234-abcd\n",
    )
    .unwrap();
    let store2 = tempfile::tempdir().unwrap();
    let s2 = store2.path().to_str().unwrap();
    let out = run_replay(BIN, payload.to_str().unwrap(), "github", s2, &[]);
    stdout_ok(&out);
    let one = list_json(BIN, &["events", "list"], s2, &[]);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["delivery_id"], "1234-abcd");
    // Without any way to know the event, a clear error.
    let bare = dir.path().join("mystery.json");
    std::fs::write(&bare, "{}").unwrap();
    let out = run_replay(BIN, bare.to_str().unwrap(), "github", s2, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no event name"));
}

#[test]
fn malformed_payloads_are_quarantined_and_can_be_retried() {
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("issue_comment.broken.json");
    std::fs::write(
        &bad,
        "{\"action\": \"created\", \"repository\": {\"full_name\": \"o/r\"}, \"comment\": 5}",
    )
    .unwrap();
    let out = run_replay(BIN, bad.to_str().unwrap(), "github", s, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("quarantined 1"));
    let q = list_json(BIN, &["inbox", "list"], s, &["--quarantined"]);
    assert_eq!(q.len(), 1);
    assert!(
        q[0]["error"]
            .as_str()
            .unwrap()
            .contains("malformed payload"),
        "{}",
        q[0]
    );
    let id = q[0]["id"].as_str().unwrap().to_string();
    // Retrying a payload that is still broken puts it back in quarantine, with the reason.
    let out = run_canopy(BIN, &["inbox", "retry", "--store", s, &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("quarantined again: malformed payload"));
    let rec = list_json(BIN, &["inbox", "list"], s, &[]);
    assert_eq!(
        (rec[0]["state"].as_str(), rec[0]["attempts"].as_u64()),
        (Some("quarantined"), Some(2))
    );
    // An ignored delivery can be processed again too, and a processed one cannot.
    let ping = workspace_root().join("tests/fixtures/github/ping.json");
    run_replay(BIN, ping.to_str().unwrap(), "github", s, &[]);
    let all = list_json(BIN, &["inbox", "list"], s, &[]);
    let ping_id = all.iter().find(|r| r["event"] == "ping").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run_canopy(BIN, &["inbox", "retry", "--store", s, &ping_id]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ignored: ping"));
}
