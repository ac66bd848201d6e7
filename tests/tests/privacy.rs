//! Privacy of the burnout analysis through every output path of the real binary: a realistic
//! history (seven people commenting and reviewing for 16 weeks, six of them opted in, one not)
//! goes through the intake; then the public comments, the team view and the personal view are
//! checked for the opted-out identity and for individual scores.

use canopy_e2e::{fixture_json, run_canopy, run_replay, stdout_ok};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");
const PEOPLE: [&str; 7] = [
    "ada-l",
    "bob-b",
    "cy-c",
    "dee-d",
    "eve-e",
    "fay-f",
    "mallory-x",
];

fn comment(id: u64, login: &str, body: &str, at: chrono::DateTime<chrono::Utc>) -> Value {
    let mut v = fixture_json("github", "issue_comment.created.json");
    v["comment"]["id"] = json!(id);
    v["comment"]["body"] = json!(body);
    v["comment"]["user"]["login"] = json!(login);
    v["comment"]["author_association"] = json!("CONTRIBUTOR");
    v["comment"]["created_at"] = json!(at.to_rfc3339());
    v["comment"]["updated_at"] = json!(at.to_rfc3339());
    v["sender"]["login"] = json!(login);
    v
}

#[test]
fn no_opted_out_identity_and_no_individual_score_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let hist = write_history(dir.path());
    // Every reaction of the intake, as the actions it would take (replies, sticky comment).
    let actions = stdout_ok(&run_replay(
        BIN,
        hist.to_str().unwrap(),
        "github",
        s,
        &["--event", "issue_comment", "--dry-run"],
    ));
    // The PR payload needs its own event name.
    stdout_ok(&run_replay(
        BIN,
        hist.join("a0.pull_request.json").to_str().unwrap(),
        "github",
        s,
        &["--event", "pull_request"],
    ));
    for line in actions.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).unwrap();
        let body = v["body"].as_str().unwrap_or("");
        assert!(
            !body.contains("mallory-x"),
            "public action names the opted-out person: {line}"
        );
        assert!(
            !body.to_lowercase().contains("burnout-risk score"),
            "{line}"
        );
    }

    team_view_shows_buckets_only(s);
    own_view_only(s);
}

/// Sixteen weeks of comments by the seven people (all but mallory-x opt in; eve-e works late
/// and at weekends in the last weeks), and the PR they comment on, one file per delivery.
fn write_history(dir: &std::path::Path) -> std::path::PathBuf {
    let hist = dir.join("history");
    std::fs::create_dir(&hist).unwrap();
    std::fs::write(
        hist.join("a0.pull_request.json"),
        serde_json::to_vec(&fixture_json("github", "pull_request.opened.json")).unwrap(),
    )
    .unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
        .unwrap()
        .to_utc();
    let mut id = 9_000_000u64;
    for week in 0..16i64 {
        for (p, login) in PEOPLE.iter().enumerate() {
            for k in 0..3i64 {
                id += 1;
                // eve-e works late and at weekends in the last weeks.
                let hour = if *login == "eve-e" && week >= 12 {
                    23
                } else {
                    10 + k
                };
                let day = if *login == "eve-e" && week >= 12 {
                    5
                } else {
                    k
                };
                let at = start
                    + chrono::Duration::days(7 * week + day)
                    + chrono::Duration::hours(hour - 9 + p as i64);
                let body = if week == 0 && k == 0 && *login != "mallory-x" {
                    "/canopy opt-in".to_string()
                } else {
                    format!("Looks reasonable, one question about item {id}.")
                };
                std::fs::write(
                    hist.join(format!("b{id}.issue_comment.json")),
                    serde_json::to_vec(&comment(id, login, &body, at)).unwrap(),
                )
                .unwrap();
            }
        }
    }
    hist
}

/// The team view (maintainers): buckets over the six who opted in, no names, no scores.
fn team_view_shows_buckets_only(s: &str) {
    let team = stdout_ok(&run_canopy(
        BIN,
        &["burnout", "team", "--store", s, "--k", "5"],
    ));
    assert!(team.contains("(6 people who opted in)"), "{team}");
    for login in PEOPLE {
        assert!(!team.contains(login), "team view names {login}: {team}");
    }
    assert!(
        !team.contains("/100"),
        "no individual score in the team view: {team}"
    );
    // With a larger k than the group, nothing is shown.
    let small = stdout_ok(&run_canopy(
        BIN,
        &["burnout", "team", "--store", s, "--k", "7"],
    ));
    assert!(small.contains("fewer than the minimum of 7"), "{small}");
}

/// A person sees their own view, and nobody else's; the opted-out person has nothing.
fn own_view_only(s: &str) {
    // A person sees their own view, and nobody else's; a score only if the shipped model is
    // validated (both sides of that gate are unit-tested in policies and commands::burnout).
    let me = stdout_ok(&run_canopy(
        BIN,
        &["burnout", "me", "--store", s, "--identity", "github:eve-e"],
    ));
    let validated = canopy_service::burnout::shipped_model_validated();
    if validated {
        assert!(me.contains("Your burnout-risk score for 2026-W17"), "{me}");
    } else {
        assert!(
            me.contains("Your indicators for 2026-W17. No risk score:"),
            "{me}"
        );
        assert!(!me.contains("/100"), "{me}");
    }
    assert!(me.contains("| late_night_share |"), "{me}");
    assert!(me.contains("Only you see this."));
    for login in PEOPLE.iter().filter(|l| **l != "eve-e") {
        assert!(!me.contains(login), "{me}");
    }
    // The opted-out person has no score at all, even for herself.
    let out = run_canopy(
        BIN,
        &[
            "burnout",
            "me",
            "--store",
            s,
            "--identity",
            "github:mallory-x",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has not opted in"), "{err}");
}
