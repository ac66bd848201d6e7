//! `canopy analyze` and `canopy demo` run as a real process on repositories built here.

use std::path::Path;
use std::process::Output;

use canopy_e2e::{TestRepo, run_canopy, stdout_json, stdout_ok};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

/// Runs `canopy analyze --git REPO --format FORMAT` followed by `extra` arguments.
fn analyze(repo: &Path, format: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "analyze",
        "--git",
        repo.to_str().unwrap(),
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    run_canopy(BIN, &args)
}

fn history() -> TestRepo {
    let r = TestRepo::new();
    // Week 2024-W10 (4–10 March): one late-night commit, one weekend commit.
    r.write("src/a.rs", b"1\n2\n");
    r.commit(
        "Ada Lovelace",
        "ada@example.org",
        "2024-03-04T23:15:00+02:00",
        "one",
    );
    r.write("src/a.rs", b"1\n2\n3\n").write("docs/x.md", b"x\n");
    r.commit(
        "Bob Builder",
        "bob@example.org",
        "2024-03-09T11:00:00-07:00",
        "two",
    );
    // Week 2024-W12.
    r.write("src/a.rs", b"1\n3\n");
    r.commit(
        "Ada Lovelace",
        "ada@example.org",
        "2024-03-19T10:00:00+02:00",
        "three",
    );
    r
}

#[test]
fn json_output_has_the_stable_fields() {
    let r = history();
    let out = analyze(r.path(), "json", &[]);
    stdout_ok(&out);
    let v = stdout_json(&out);
    assert_eq!(v["commits"], 3);
    assert_eq!(v["unreadable_objects"], 0);
    assert!(v["warnings"].as_array().unwrap().is_empty());
    let weeks = v["weeks"].as_array().unwrap();
    let names: Vec<&str> = weeks.iter().map(|w| w["week"].as_str().unwrap()).collect();
    assert_eq!(names, ["2024-W10", "2024-W11", "2024-W12"]);
    let w10 = &weeks[0];
    assert_eq!(w10["commits"], 2);
    assert_eq!(w10["authors"], 2);
    assert_eq!(w10["lines_added"], 4);
    assert_eq!(w10["lines_deleted"], 0);
    assert_eq!(w10["late_night_share"], 0.5);
    assert_eq!(w10["weekend_share"], 0.5);
    assert_eq!(weeks[1]["commits"], 0);
    assert_eq!(weeks[2]["lines_deleted"], 1);
}

#[test]
fn no_person_is_named_in_either_format() {
    let r = history();
    for format in ["json", "md"] {
        let out = analyze(r.path(), format, &[]);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        for needle in [
            "ada lovelace",
            "lovelace",
            "bob builder",
            "builder",
            "ada@",
            "bob@",
            "example.org",
        ] {
            assert!(
                !text.contains(needle),
                "{format} output names a person ({needle}):\n{text}"
            );
        }
    }
}

#[test]
fn since_and_until_select_weeks() {
    let r = history();
    let out = analyze(
        r.path(),
        "json",
        &["--since", "2024-03-10", "--until", "2024-03-31"],
    );
    let v = stdout_json(&out);
    assert_eq!(v["commits"], 1);
    assert_eq!(v["weeks"].as_array().unwrap().len(), 1);
    let bad = run_canopy(BIN, &["analyze", "--git", ".", "--since", "last tuesday"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a date"));
}

#[test]
fn a_store_makes_the_second_run_incremental() {
    let r = history();
    let store = tempfile::tempdir().unwrap();
    let args = |_: ()| {
        vec![
            "analyze".to_string(),
            "--git".into(),
            r.path().to_str().unwrap().into(),
            "--format".into(),
            "json".into(),
            "--store".into(),
            store.path().to_str().unwrap().into(),
            "--repo".into(),
            "widgets".into(),
        ]
    };
    let run = || {
        let a = args(());
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        stdout_json(&run_canopy(BIN, &refs))
    };
    let first = run();
    assert_eq!(first["repo"], "widgets");
    assert_eq!(first["ingest"]["commits_new"], 3);
    let second = run();
    assert_eq!(second["ingest"]["commits_new"], 0);
    assert_eq!(second["weeks"], first["weeks"]);
    assert_eq!(second["commits"], 3);
}

#[test]
fn missing_objects_are_reported_with_exit_zero() {
    let r = history();
    let blob = r.rev_parse("HEAD~1:docs/x.md");
    r.delete_loose_object(&blob);
    let out = analyze(r.path(), "json", &[]);
    assert!(out.status.success());
    let v = stdout_json(&out);
    assert_eq!(v["commits"], 3);
    assert_eq!(v["unreadable_objects"], 1);
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("could not be read")
    );
}

#[test]
fn not_a_repository_exits_non_zero_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_canopy(BIN, &["analyze", "--git", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a git repository"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn markdown_is_a_readable_report() {
    let r = history();
    let out = run_canopy(BIN, &["analyze", "--git", r.path().to_str().unwrap()]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("# Team activity"));
    assert!(md.contains("| 2024-W10 | 2 | 2 | 4 | 0 |"), "{md}");
    assert!(md.contains("## Trends"));
}

#[test]
fn demo_json_of_a_clone_is_refused_with_what_to_use_instead() {
    let r = history();
    let out = run_canopy(
        BIN,
        &["demo", "--format", "json", r.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--format json is for the bundled team history only")
            && err.contains("canopy analyze --git PATH --format json"),
        "{err}"
    );
}

#[test]
fn demo_prints_a_weekly_report_and_exits_zero() {
    let r = history();
    let out = run_canopy(BIN, &["demo", r.path().to_str().unwrap()]);
    stdout_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("# Team activity"), "{text}");
    assert!(text.contains("2024-W12"));
    // The webhook part went through the real server: accepted, deduplicated, forged rejected.
    assert!(text.contains("14 answered HTTP 202"), "{text}");
    assert!(text.contains("answered HTTP 200 (stored once)"), "{text}");
    assert!(
        text.contains("answered HTTP 401 (nothing stored)"),
        "{text}"
    );
    assert!(
        text.contains("zuul `widgets-tox-py311` on change 4711: Failure, 724 s, check pipeline"),
        "{text}"
    );
    // What the bot would post, decided by the real reactor and kept in the outbox.
    assert!(
        text.contains("upsert_comment on canopy-demo/widgets#7"),
        "{text}"
    );
    assert!(text.contains("> **CI energy.** 1 CI job so far"), "{text}");
    assert!(text.contains("> Canopy, patch set 1:"), "{text}");
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["analyze", "--help"],
        vec!["demo", "--help"],
        vec!["serve", "--help"],
        vec!["replay", "--help"],
        vec!["backfill", "--help"],
        vec!["outbox", "--help"],
        vec!["ttm", "eval", "--help"],
        vec!["ttm", "train", "--help"],
        vec!["carbon", "window", "--help"],
        vec!["carbon", "simulate", "--help"],
        vec!["sentiment", "eval", "--help"],
        vec!["sentiment", "score", "--help"],
        vec!["burnout", "eval", "--help"],
        vec!["burnout", "train", "--help"],
        vec!["burnout", "me", "--help"],
        vec!["burnout", "team", "--help"],
    ] {
        let out = run_canopy(BIN, &args);
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
    }
}

#[test]
fn a_bare_clone_is_named_after_its_origin_or_its_path_without_git() {
    let r = history();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = r.path().to_str().unwrap();
    // A bare clone in a directory called `repo`, whose origin is a GitHub repository.
    canopy_e2e::git(dir.path(), &["clone", "-q", "--bare", src, "repo"]);
    let bare = dir.path().join("repo");
    let url = "https://github.com/acme/widgets.git";
    canopy_e2e::git(&bare, &["remote", "set-url", "origin", url]);
    let name = |path: &std::path::Path| {
        let out = analyze(path, "json", &[]);
        stdout_json(&out)["repo"].as_str().unwrap_or("").to_string()
    };
    assert_eq!(name(&bare), "acme/widgets");
    // Without an origin, the directory name without `.git`.
    canopy_e2e::git(dir.path(), &["clone", "-q", "--bare", src, "widgets.git"]);
    let plain = dir.path().join("widgets.git");
    canopy_e2e::git(&plain, &["remote", "remove", "origin"]);
    assert_eq!(name(&plain), "widgets");
}

#[test]
fn find_renames_sets_how_moved_files_count() {
    // A 20-line file moved with 2 lines edited: 2 added and 2 deleted with git's default
    // rename detection, 20 and 20 with exact renames only.
    let r = TestRepo::new();
    let text: String = (0..20).map(|i| format!("line {i}\n")).collect();
    r.write("old/f.txt", text.as_bytes());
    r.commit("Ada", "ada@example.org", "2024-03-04T10:00:00+00:00", "one");
    r.remove("old/f.txt").write(
        "new/f.txt",
        text.replace("line 3\n", "three\n")
            .replace("line 9\n", "nine\n")
            .as_bytes(),
    );
    r.commit(
        "Ada",
        "ada@example.org",
        "2024-03-11T10:00:00+00:00",
        "move",
    );
    let run = |extra: &[&str]| analyze(r.path(), "json", extra);
    let moved = |v: &serde_json::Value| {
        let w = &v["weeks"][1];
        (w["lines_added"].clone(), w["lines_deleted"].clone())
    };
    let v = stdout_json(&run(&[]));
    assert_eq!(moved(&v), (2.into(), 2.into()));
    assert_eq!(v["renames"], "--find-renames=50%");
    assert!(v["weeks"][1]["context_switching"].is_number());
    assert!(v["areas"]["areas"].is_array());
    let v = stdout_json(&run(&["--find-renames", "100"]));
    assert_eq!(moved(&v), (20.into(), 20.into()));
    let bad = run(&["--find-renames", "150"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--find-renames"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
