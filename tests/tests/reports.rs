//! `canopy report create / approve / publish` end to end on a store filled by
//! `canopy analyze --git`: the draft carries its privacy review, only a configured reviewer can
//! approve it, a report with a cell below k cannot be approved, publishing needs approval, every
//! step is in the audit log, no raw identity appears, and the privacy budget is enforced.

use canopy_e2e::{TestRepo, run_canopy, stdout_json, stdout_json_lines, stdout_ok};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

const PEOPLE: [(&str, &str, &str); 8] = [
    ("Ada Lovelace", "ada@example.org", "+01:00"),
    ("Bob Builder", "bob@example.org", "+01:00"),
    ("Carol Chen", "carol@example.org", "+08:00"),
    ("Dan Dorn", "dan@example.org", "-05:00"),
    ("Eve Evans", "eve@example.org", "+02:00"),
    ("Fay Fischer", "fay@example.org", "+01:00"),
    ("Gus Gomez", "gus@example.org", "-03:00"),
    ("Hal Hansen", "hal@example.org", "+00:00"),
];

/// July: all eight people commit; August: only Ada, Bob and Carol (a month below k = 5);
/// September: six people.
fn history() -> TestRepo {
    let r = TestRepo::new();
    let mut n = 0;
    let mut commit = |who: usize, day: &str| {
        let (name, email, tz) = PEOPLE[who];
        n += 1;
        r.write("f.txt", format!("{n}\n").as_bytes());
        r.commit(
            name,
            email,
            &format!("{day}T10:00:00{tz}"),
            &format!("change {n}"),
        );
    };
    for who in 0..8 {
        commit(who, "2026-07-06");
        commit(who, "2026-07-20");
    }
    for who in 0..3 {
        commit(who, "2026-08-12");
    }
    for who in 0..6 {
        commit(who, "2026-09-09");
    }
    r
}

fn report(store: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["report"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--store", store]);
    run_canopy(BIN, &args)
}

fn rule<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["privacy_review"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .unwrap_or_else(|| panic!("no rule {name} in {doc}"))
}

fn audit_actions(store: &str, id: &str) -> Vec<String> {
    stdout_json_lines(&report(store, &["audit", id]))
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn create_approve_publish_with_review_audit_and_budget() {
    let repo = history();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    stdout_ok(&run_canopy(
        BIN,
        &[
            "analyze",
            "--git",
            repo.path().to_str().unwrap(),
            "--store",
            store,
            "--repo",
            "acme/widgets",
        ],
    ));
    let cfg = dir.path().join("canopy.toml");
    std::fs::write(&cfg, "[reports]\nreviewers = [\"rita\"]\n").unwrap();
    let cfg = cfg.to_str().unwrap();

    let (id, doc) = draft_passes_review(store);
    approval_gates_publishing(store, cfg, &id, &doc);
    a_small_k_cannot_be_approved(store, cfg);
    noise_spends_the_quarters_budget(store);
    renderings_and_bad_input(store, &id);
}

/// The draft: one JSON object with an id and a passing review, small cells suppressed, no
/// identity anywhere.
fn draft_passes_review(store: &str) -> (String, Value) {
    let out = report(
        store,
        &[
            "create",
            "--period",
            "2026-07-01..2026-09-30",
            "--format",
            "json",
        ],
    );
    let doc = stdout_json(&out);
    let id = doc["id"].as_str().unwrap().to_string();
    assert_eq!(doc["status"], "draft");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(" cells shown. Approve it with"), "{said}");
    assert!(
        doc["privacy_review"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["passed"] == true),
        "{doc}"
    );
    for r in [
        "cells_at_least_k",
        "complementary_suppression",
        "no_raw_identity",
        "pseudonym_key_absent",
        "quasi_identifiers_generalised",
    ] {
        assert_eq!(rule(&doc, r)["passed"], true, "{r}");
    }
    // August (3 people) is suppressed; July's commits (8 people) are shown.
    let t = &doc["tables"][0];
    assert_eq!(t["name"], "monthly_activity");
    let row = |m: &str| {
        t["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["label"] == m)
            .unwrap()
            .clone()
    };
    assert_eq!(row("2026-07")["cells"][1]["value"], 16.0);
    assert_eq!(row("2026-08")["cells"][1]["status"], "suppressed");
    assert_eq!(row("2026-08")["cells"][1]["value"], Value::Null);
    // ... and one more cell of the column goes with it, so August is not total minus the rest.
    assert_eq!(row("2026-09")["cells"][1]["status"], "complementary");
    assert_eq!(t["total"]["cells"][1]["value"], 25.0);
    // No raw identity anywhere.
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).collect();
    for (name, email, _) in PEOPLE {
        assert!(!text.contains(email), "{email} appears in the report");
        for part in name.to_lowercase().split(' ') {
            assert!(!words.contains(&part), "{part} appears in the report");
        }
    }

    (id, doc)
}

/// Only a configured reviewer approves; publishing needs approval; every step is audited.
fn approval_gates_publishing(store: &str, cfg: &str, id: &str, doc: &Value) {
    let refused = report(store, &["publish", id]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("must approve it first"));
    let stranger = report(
        store,
        &["approve", id, "--reviewer", "mallory", "--config", cfg],
    );
    assert_eq!(stranger.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stranger.stderr).contains("not a configured reviewer"));
    stdout_ok(&report(
        store,
        &["approve", id, "--reviewer", "rita", "--config", cfg],
    ));
    let published = stdout_json(&report(store, &["publish", id]));
    assert_eq!(published["status"], "published");
    assert_eq!(published["tables"], doc["tables"]);
    assert_eq!(
        audit_actions(store, id),
        [
            "created",
            "publish_refused",
            "approval_refused",
            "approved",
            "published"
        ]
    );
    let audit = stdout_json_lines(&report(store, &["audit", id]));
    assert_eq!(audit[3]["actor"], "rita");
}

/// A report made with k = 2 shows August and fails review: it cannot be approved.
fn a_small_k_cannot_be_approved(store: &str, cfg: &str) {
    let small = stdout_json(&report(
        store,
        &[
            "create", "--period", "2026-Q3", "--k", "2", "--format", "json",
        ],
    ));
    assert_eq!(rule(&small, "min_group_size")["passed"], false);
    assert_eq!(rule(&small, "cells_at_least_k")["passed"], false);
    let small_id = small["id"].as_str().unwrap();
    let no = report(
        store,
        &["approve", small_id, "--reviewer", "rita", "--config", cfg],
    );
    assert_eq!(no.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no.stderr).contains("cells_at_least_k"));
    assert_eq!(
        audit_actions(store, small_id),
        ["created", "approval_refused"]
    );
}

/// Noise spends the quarter's budget (3.0 by default); more than is left is refused; Gaussian
/// noise spends the last 1 with its delta stated.
fn noise_spends_the_quarters_budget(store: &str) {
    let noised = stdout_json(&report(
        store,
        &[
            "create",
            "--period",
            "2026-Q3",
            "--epsilon",
            "2",
            "--format",
            "json",
        ],
    ));
    assert_eq!(rule(&noised, "differential_privacy")["passed"], true);
    assert!(noised["noise"]["cells"].as_u64().unwrap() > 0);
    assert_eq!(
        noised["tables"][0]["rows"][0]["cells"][1]["status"],
        "noised"
    );
    let over = report(store, &["create", "--period", "2026-Q3", "--epsilon", "2"]);
    assert!(!over.status.success());
    assert!(
        String::from_utf8_lossy(&over.stderr).contains("only 1 is left"),
        "{}",
        String::from_utf8_lossy(&over.stderr)
    );
    let create_q3 =
        |flags: &[&str]| report(store, &[&["create", "--period", "2026-Q3"], flags].concat());
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let gaussian = ["--epsilon", "1", "--noise", "gaussian", "--delta"];
    let bad_delta = create_q3(&[&gaussian[..], &["2"]].concat());
    assert!(stderr(&bad_delta).contains("--delta must be between 0 and 1"));
    let laplace_delta = create_q3(&["--epsilon", "1", "--delta", "1e-6"]);
    assert!(stderr(&laplace_delta).contains("--delta applies only to --noise gaussian"));
    let no_eps = create_q3(&["--noise", "gaussian"]);
    assert!(!no_eps.status.success());
    assert!(stderr(&no_eps).contains("--epsilon"));
    let gauss = stdout_json(&create_q3(
        &[&gaussian[..], &["1e-6", "--format", "json"]].concat(),
    ));
    assert_eq!(gauss["noise"]["mechanism"], "gaussian");
    assert_eq!(gauss["noise"]["delta"], 1e-6);
    let dp = rule(&gauss, "differential_privacy");
    assert_eq!(dp["passed"], true, "{dp}");
    assert!(dp["detail"].as_str().unwrap().starts_with("Gaussian noise"));
    assert!(
        rule(&gauss, "privacy_budget")["detail"]
            .as_str()
            .unwrap()
            .contains("3.00 of 3.00")
    );
    let gauss_id = gauss["id"].as_str().unwrap();
    let gauss_html = stdout_ok(&report(store, &["show", gauss_id, "--format", "html"]));
    assert!(
        gauss_html.contains("Gaussian noise (epsilon 1"),
        "{gauss_html}"
    );
}

/// CSV and HTML renderings of the same draft; bad input is named.
fn renderings_and_bad_input(store: &str, id: &str) {
    let csv = stdout_ok(&report(store, &["show", id, "--format", "csv"]));
    assert!(csv.starts_with("table,row,column,value,status\n"));
    assert!(
        csv.contains("monthly_activity,2026-08,commits,,suppressed"),
        "{csv}"
    );
    assert!(
        csv.contains("privacy_review,cells_at_least_k,passed,true"),
        "{csv}"
    );
    let html = stdout_ok(&report(store, &["show", id, "--format", "html"]));
    assert!(html.contains("<h2>Privacy review</h2>") && html.contains("suppressed"));
    // A period nobody was active in: every cell hidden, and the maintainer is told so.
    let empty = report(
        store,
        &["create", "--period", "2020-01", "--format", "json"],
    );
    let said = String::from_utf8_lossy(&empty.stderr);
    assert!(
        said.contains("cells is hidden") && said.contains("it would publish no figure"),
        "{said}"
    );
    // Bad input is named.
    let bad = report(store, &["create", "--period", "last summer"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid period"));
}

/// A store filled by `canopy analyze --git` from a history where each of `authors` commits
/// once on 6 July 2026 (written with one `git fast-import`, not a process per commit).
fn store_of_authors(dir: &std::path::Path, authors: &[String]) -> String {
    let repo = TestRepo::new();
    let mut stream = String::new();
    for (i, name) in authors.iter().enumerate() {
        let line = format!("{i}\n");
        stream += &format!(
            "commit refs/heads/main\nauthor {name} <dev{i}@example.org> 1783328400 +0100\n\
             committer {name} <dev{i}@example.org> 1783328400 +0100\ndata 6\nchange\n\
             M 644 inline f.txt\ndata {}\n{line}\n",
            line.len()
        );
    }
    canopy_e2e::fast_import(repo.path(), stream.as_bytes());
    let store = dir.join("store").to_str().unwrap().to_string();
    let git = repo.path().to_str().unwrap();
    stdout_ok(&run_canopy(
        BIN,
        &[
            "analyze",
            "--git",
            git,
            "--store",
            &store,
            "--repo",
            "acme/widgets",
        ],
    ));
    store
}

/// Every key of a JSON document, and the words (3 letters or more) of its strings that are not
/// months or numbers: table and column names, statuses, band labels.
fn format_words(v: &Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                format_words(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| format_words(v, out)),
        Value::String(s) => out.extend(
            s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_alphabetic() || c == '_'))
                .map(str::to_string),
        ),
        _ => {}
    }
}

/// Authors whose git names are words of the report's own vocabulary (JSON keys, column and
/// table names, fixed labels) appear nowhere as people: their drafts are approvable. First
/// the names of the issue (`Name`, `week`, `count`, ...); then every word of that draft's
/// format, so a key added to the report without being added to the review's vocabulary fails
/// here.
#[test]
fn authors_named_like_report_fields_pass_review() {
    let approvable = |authors: &[String], flags: &[&str]| -> Value {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of_authors(dir.path(), authors);
        let cfg = dir.path().join("canopy.toml");
        std::fs::write(&cfg, "[reports]\nreviewers = [\"rita\"]\n").unwrap();
        let args = [
            &["create", "--period", "2026-07", "--format", "json"],
            flags,
        ]
        .concat();
        let doc = stdout_json(&report(&store, &args));
        let identity = rule(&doc, "no_raw_identity");
        assert_eq!(identity["passed"], true, "{identity}");
        assert!(
            identity["detail"].as_str().unwrap().ends_with("; 0 found"),
            "{identity}"
        );
        assert_eq!(doc["approvable"], true, "{doc}");
        let id = doc["id"].as_str().unwrap();
        let cfg = cfg.to_str().unwrap();
        stdout_ok(&report(
            &store,
            &["approve", id, "--reviewer", "rita", "--config", cfg],
        ));
        doc
    };
    let fields: Vec<String> = [
        "Name", "week", "count", "Label", "Value", "Status", "Total", "Commits", "People",
        "Unknown",
    ]
    .map(String::from)
    .to_vec();
    let doc = approvable(&fields, &["--epsilon", "1"]);
    // Ten people committed in July: the month is shown (noised), not suppressed.
    assert_eq!(doc["tables"][0]["rows"][0]["cells"][1]["status"], "noised");
    let mut words = std::collections::BTreeSet::new();
    format_words(&doc, &mut words);
    for w in [
        "name",
        "label",
        "monthly_activity",
        "active_people",
        "suppressed",
        "Europe",
    ] {
        assert!(words.contains(w), "{w} not in {words:?}");
    }
    let words: Vec<String> = words.into_iter().collect();
    let doc = approvable(&words, &[]);
    assert_eq!(doc["tables"][0]["rows"][0]["cells"][1]["status"], "shown");
}
