//! `canopy digest` on a store filled by replaying the bundled GitHub story of PR #7.

use canopy_e2e::{replay_github, run_canopy, stdout_ok, workspace_root};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

#[test]
fn a_replayed_week_gives_a_team_level_digest() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("store");
    replay_github(BIN, &workspace_root().join("tests/fixtures/github"), &s);
    let out = run_canopy(
        BIN,
        &[
            "digest",
            "--store",
            s.to_str().unwrap(),
            "--repo",
            "canopy-demo/widgets",
            "--week",
            "2026-W45",
        ],
    );
    stdout_ok(&out);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("## Canopy weekly digest: canopy-demo/widgets, 2026-W45"),
        "{md}"
    );
    assert!(md.contains("1 opened, 1 merged"), "{md}");
    assert!(
        md.contains("Time to merge: median 1 day") || md.contains("Time to merge: median 2 days"),
        "{md}"
    );
    assert!(md.contains("reviews by"), "{md}");
    assert!(
        md.contains("(https://github.com/canopy-bot/canopy/blob/main/docs/metrics.md#digest)"),
        "{md}"
    );
    // Team level only: no login of the story's people, and no burnout section (nobody opted in).
    for login in ["ada-l", "bob-b", "carol-c"] {
        assert!(!md.contains(login), "{login} named in {md}");
    }
    assert!(!md.contains("Burnout risk"), "{md}");
    // A repository the store does not know is named in the error.
    let bad = run_canopy(
        BIN,
        &[
            "digest",
            "--store",
            s.to_str().unwrap(),
            "--repo",
            "no/such",
            "--week",
            "2026-W45",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no events of no/such"));
}

#[test]
fn an_organisation_digest_covers_its_repositories_and_goes_to_its_issue_repository() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("store");
    replay_github(BIN, &workspace_root().join("tests/fixtures/github"), &s);
    let cfg = dir.path().join("canopy.toml");
    std::fs::write(
        &cfg,
        "[digest.orgs.canopy-demo]\nschedule = \"0 9 * * MON\"\ntimezone = \"Europe/Berlin\"\nissue_repo = \"canopy-demo/.github\"\n",
    )
    .unwrap();
    let org_digest = |org: &str, extra: &[&str]| {
        let mut args = vec!["digest", "--store", s.to_str().unwrap(), "--org", org];
        args.extend_from_slice(&["--week", "2026-W45"]);
        args.extend_from_slice(extra);
        run_canopy(BIN, &args)
    };
    let md = stdout_ok(&org_digest("canopy-demo", &[]));
    assert!(
        md.contains("## Canopy weekly digest: canopy-demo, 2026-W45"),
        "{md}"
    );
    assert!(md.contains("1 opened, 1 merged"), "{md}");
    let lines = canopy_e2e::stdout_json_lines(&org_digest(
        "canopy-demo",
        &["--send", "--dry-run", "--config", cfg.to_str().unwrap()],
    ));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["target"], "canopy-demo/.github/issues");
    assert_eq!(lines[0]["id"], "digest:org:canopy-demo:2026-W45:issue");
    // An organisation the store does not know is named.
    let bad = org_digest("nobody", &[]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no events of nobody"));
}
