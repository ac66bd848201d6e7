//! `canopy burnout eval` and `canopy burnout train` run as the real binary on a synthetic git
//! history written here (40 people over 100 weeks, 25 of whom stop): the JSON interface, the
//! refusal of an AUC with too few disengagements, the same figures from a store as from git,
//! and a trained artifact whose ARTIFACT.md names the commit it was trained on.

use std::path::Path;

use canopy_e2e::{fast_import, git, run_canopy, stdout_json_lines, stdout_ok};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

/// Writes the history with `git fast-import` (thousands of commits in well under a second).
fn history(dir: &Path) -> String {
    git(dir, &["init", "-q", "-b", "main"]);
    let mut rng = canopy_models::uniform::Uniform::new(0x9e37_79b9_7f4a_7c15_u64);
    let mut next = move || rng.next_f64();
    let start = 1_672_653_600_i64; // Monday 2023-01-02 10:00 UTC
    let mut commits: Vec<(i64, usize)> = Vec::new();
    for p in 0..40 {
        let first = p % 20;
        // 25 people stop somewhere between week 30 and 85; a few come back much later.
        let stop = if p < 25 { 30 + (p * 11) % 56 } else { 100 };
        let back = (p % 6 == 0 && p < 25).then_some(stop + 20);
        let rate = 0.55 + 0.4 * next();
        for w in first..100 {
            let active = w < stop || back.is_some_and(|b| w >= b);
            if active && next() < rate {
                for c in 0..1 + (next() * 3.0) as i64 {
                    let t = start + w as i64 * 7 * 86_400 + (next() * 4.0 * 86_400.0) as i64 + c;
                    commits.push((t, p));
                }
            }
        }
    }
    commits.sort_unstable();
    let mut stream = String::new();
    for (i, (t, p)) in commits.iter().enumerate() {
        let who = format!("Dev {p} <dev{p}@example.org> {t} +0000");
        let msg = format!("change {i}");
        let body = format!("{i}\n");
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{}\nauthor {who}\ncommitter {who}\ndata {}\n{msg}\n",
            i + 1,
            msg.len()
        ));
        if i > 0 {
            stream.push_str(&format!("from :{i}\n"));
        }
        stream.push_str(&format!(
            "M 100644 inline area{}/dev{p}.txt\ndata {}\n{body}\n",
            p % 4,
            body.len()
        ));
    }
    fast_import(dir, stream.as_bytes());
    let head = git(dir, &["rev-parse", "HEAD"]);
    String::from_utf8_lossy(&head.stdout).trim().to_string()
}

fn eval_json(args: &[&str]) -> Value {
    // Few trees and resamples: this checks the interface, not the model (debug builds are slow).
    let mut all = vec![
        "burnout",
        "eval",
        "--format",
        "json",
        "--bootstrap",
        "50",
        "--trees",
        "30",
    ];
    all.extend_from_slice(args);
    stdout_json_lines(&run_canopy(BIN, &all)).remove(0)
}

#[test]
fn eval_and_train_on_a_real_git_history() {
    let repo = tempfile::tempdir().unwrap();
    let head = history(repo.path());
    let path = repo.path().to_str().unwrap();

    let e = eval_json(&["--git", path]);
    every_figure_and_baseline(&e);
    // A 24-week horizon labels fewer weeks (more are censored at the end).
    let long = eval_json(&["--git", path, "--horizon", "24"]);
    assert_eq!(long["horizon_weeks"], 24);

    // So strict an eligibility that few disengagements remain: no AUC, and why.
    let strict = eval_json(&["--git", path, "--min-active", "12"]);
    assert!(strict["positives"].as_u64().unwrap() < 30, "{strict}");
    assert!(strict["auc"].is_null() && strict["prior_auc"].is_null());
    assert!(
        strict["auc_withheld"]
            .as_str()
            .unwrap()
            .contains("at least 30"),
        "{strict}"
    );

    // The same history read from a store gives the same labels.
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let analyzed = run_canopy(
        BIN,
        &["analyze", "--git", path, "--store", s, "--format", "json"],
    );
    assert!(analyzed.status.success());
    let from_store = eval_json(&["--store", s]);
    assert_eq!(from_store["positives"], e["positives"]);
    assert_eq!(from_store["test_samples"], e["test_samples"]);

    train_validate_and_record(path, &head);
    // Bad input: a clear error naming what is wrong.
    let none = run_canopy(BIN, &["burnout", "eval"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("--git PATH or --store DIR"));
    let bad = run_canopy(
        BIN,
        &["burnout", "eval", "--git", path, "--min-active", "13"],
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("min_active"));
}

#[test]
fn a_history_the_shipped_model_learned_from_is_flagged_in_sample() {
    // A clone named like one of the shipped model's training histories (BurntSushi/ripgrep).
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("ripgrep");
    std::fs::create_dir(&repo).unwrap();
    history(&repo);
    let args = [
        "burnout",
        "eval",
        "--bootstrap",
        "50",
        "--trees",
        "30",
        "--git",
        repo.to_str().unwrap(),
    ];
    let md = String::from_utf8_lossy(&run_canopy(BIN, &args).stdout).into_owned();
    assert!(
        md.starts_with(
            "**Note.** The model evaluated learned from a history of the same name as ripgrep \
             (as BurntSushi/ripgrep)"
        ),
        "{md}"
    );
    // JSON keeps its keys and says it on stderr; another name is not flagged.
    let json = run_canopy(BIN, &[&args[..], &["--format", "json"]].concat());
    assert!(String::from_utf8_lossy(&json.stderr).contains("may be in-sample here"));
    let other = root.path().join("widgets");
    std::fs::rename(&repo, &other).unwrap();
    let args = [&args[..7], &[other.to_str().unwrap()]].concat();
    let md = String::from_utf8_lossy(&run_canopy(BIN, &args).stdout).into_owned();
    assert!(!md.contains("Note"), "{md}");
}

/// The interface: every figure in [0, 1], the interval around the AUC, each baseline,
/// and `baseline_auc` the best of them.
fn every_figure_and_baseline(e: &Value) {
    assert_eq!(e["horizon_weeks"], 12);
    let positives = e["positives"].as_u64().unwrap();
    assert!(positives >= 30, "{e}");
    assert!(e["people"].as_u64().unwrap() >= 25, "{e}");
    for k in [
        "auc",
        "prior_auc",
        "baseline_auc",
        "precision_at_top_decile",
        "brier",
    ] {
        assert!(
            e[k].as_f64().is_some_and(|v| (0.0..=1.0).contains(&v)),
            "{k} in {e}"
        );
    }
    let ci = e["auc_ci"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() <= e["auc"].as_f64().unwrap());
    assert!(ci[1].as_f64().unwrap() >= e["auc"].as_f64().unwrap());
    let baselines = e["baselines"].as_object().unwrap();
    for name in [
        "activity_volume",
        "recency",
        "trend",
        "recency_and_trend",
        "tenure",
    ] {
        assert!(baselines.contains_key(name), "{name}: {e}");
    }
    let best = baselines
        .values()
        .map(|b| b["auc"].as_f64().unwrap())
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(
        e["baseline_auc"].as_f64().unwrap(),
        best,
        "the best baseline"
    );
    assert!(e["auc_withheld"].is_null());
    assert_eq!(e["reliability"].as_array().unwrap().len(), 10);
}

/// Train, then validate and record: ARTIFACT.md names the commit read.
fn train_validate_and_record(path: &str, head: &str) {
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.json");
    let m = model.to_str().unwrap();
    let trained = run_canopy(
        BIN,
        &[
            "burnout", "train", "--git", path, "--out", m, "--trees", "30",
        ],
    );
    stdout_ok(&trained);
    let notes = std::fs::read_to_string(out.path().join("ARTIFACT.md")).unwrap();
    assert!(notes.contains(head), "{notes}");
    assert!(notes.contains("Not validated yet"), "{notes}");
    let v = eval_json(&["--git", path, "--model", m, "--record-validation"]);
    assert!(v["prior_auc"].is_number());
    let notes = std::fs::read_to_string(out.path().join("ARTIFACT.md")).unwrap();
    assert!(notes.contains("ROC AUC"), "{notes}");
    let artifact: Value = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(artifact["validation"]["positives"], v["positives"]);
}
