//! `canopy ci stopping` as a real process: CSV in both formats of `../shared/data/ci/` (written
//! here, small), a store's CI events, and clear errors for bad input.

use std::fmt::Write as _;

use canopy_analyzer::event::{CiJobEvent, CiResult};
use canopy_analyzer::{Event, EventKind, Platform};
use canopy_e2e::{run_canopy, stdout_json};
use canopy_store::{EventStore, RedbStore};

const BIN: &str = env!("CARGO_BIN_EXE_canopy-e2e-bin");

/// A job whose passing runs take 100–200 s and whose failing runs hang (150–600 s), one run an
/// hour: (start, duration, result).
fn hanging_runs() -> Vec<(i64, u64, &'static str)> {
    let mut v = Vec::new();
    for i in 0..90u64 {
        let start = 1_600_000_000 + 3600 * i as i64;
        if i % 3 == 2 {
            v.push((start, 150 + (i * 37) % 450, "FAILURE"));
        } else {
            v.push((start, 100 + (i * 53) % 100, "SUCCESS"));
        }
    }
    v
}

fn json_of(args: &[&str]) -> serde_json::Value {
    stdout_json(&run_canopy(BIN, args))
}

#[test]
fn openshift_format_csv_gets_a_stopping_point_scored_on_later_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.csv");
    let mut csv =
        String::from("build_id,job,result,log_size_bytes,start_epoch_s,end_epoch_s,duration_s\n");
    for (i, (start, d, r)) in hanging_runs().iter().enumerate() {
        writeln!(csv, "{i},e2e,{r},100,{start},{},{d}", start + *d as i64).unwrap();
    }
    std::fs::write(&path, csv).unwrap();
    let p = path.to_str().unwrap();
    let out = json_of(&["ci", "stopping", "--data", p, "--format", "json"]);
    let job = &out["jobs"][0];
    assert_eq!(job["job"], "e2e");
    assert_eq!(
        (job["runs"].as_u64(), job["test_runs"].as_u64()),
        (Some(90), Some(27))
    );
    let t = job["chosen"]["stopping_point_s"]
        .as_f64()
        .expect("a stopping point");
    assert!((150.0..=250.0).contains(&t), "{t}");
    // Learned on the earlier runs, scored on the later: failures past t* recovered hours.
    assert!(job["chosen"]["saved_hours"].as_f64().unwrap() > 0.1);
    // The guard keeps t* at or above the 95th percentile of earlier passing runs (190 s): 3 of
    // the 18 later passing runs (192, 193, 198 s) are longer.
    assert!(t >= 190.0, "{t}");
    assert!(job["chosen"]["passing_past"].as_u64().unwrap() <= 3);
    assert!(job["failure_share"].as_f64().unwrap() > 0.2);
    assert_eq!(out["settings"]["threshold"], 0.5);
    // Too little history for a stricter minimum: no t*, and the reason says why.
    let out = json_of(&[
        "ci",
        "stopping",
        "--data",
        p,
        "--format",
        "json",
        "--min-runs",
        "500",
    ]);
    assert_eq!(
        out["jobs"][0]["chosen"]["no_stop"]["reason"],
        "too_few_runs"
    );
    assert!(out["jobs"][0]["chosen"]["stopping_point_s"].is_null());
    // The Markdown table states the figures.
    let md = run_canopy(BIN, &["ci", "stopping", "--data", p]);
    let text = String::from_utf8_lossy(&md.stdout);
    assert!(text.contains("| e2e | 90 (27) |"), "{text}");
}

#[test]
fn jenkins_format_csv_excludes_aborted_runs_and_filters_by_job() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lf.csv");
    let mut csv = String::from(
        "project,change,patchset,job,build,result,started_ms,finished_ms,duration_s,host\n",
    );
    for (i, (start, d, r)) in hanging_runs().iter().enumerate() {
        let ms = start * 1000;
        writeln!(
            csv,
            "p,{i},1,verify,{i},{r},{ms},{},{d},jenkins",
            ms + *d as i64 * 1000
        )
        .unwrap();
        writeln!(csv, "p,{i},1,other,{i},SUCCESS,{ms},{ms},5,jenkins").unwrap();
    }
    csv.push_str("p,1,1,verify,99,ABORTED,1600000000000,1600000001000,1,jenkins\n");
    std::fs::write(&path, csv).unwrap();
    let p = path.to_str().unwrap();
    let out = json_of(&[
        "ci", "stopping", "--data", p, "--job", "verify", "--format", "json",
    ]);
    let jobs = out["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0]["excluded"].as_u64(), jobs[0]["runs"].as_u64()),
        (Some(1), Some(90))
    );
    // Every passing run of `other`: not enough failures to state anything.
    let out = json_of(&[
        "ci", "stopping", "--data", p, "--job", "other", "--format", "json",
    ]);
    assert_eq!(
        out["jobs"][0]["chosen"]["no_stop"]["reason"],
        "too_few_runs"
    );
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, "job,result,duration\nx,SUCCESS,3\n").unwrap();
    let p = path.to_str().unwrap();
    let out = run_canopy(BIN, &["ci", "stopping", "--data", p]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `duration_s` column"));
    std::fs::write(&path, "job,result,duration_s,start_epoch_s\nx,MAYBE,3,1\n").unwrap();
    let out = run_canopy(BIN, &["ci", "stopping", "--data", p]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("MAYBE"), "{err}");
    let out = run_canopy(BIN, &["ci", "stopping", "--data", p, "--store", p]);
    assert!(!out.status.success());
    let out = run_canopy(BIN, &["ci", "stopping", "--data", p, "--job", "nope"]);
    assert!(!out.status.success());
}

#[test]
fn a_stores_ci_events_are_read_per_job_and_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        let events: Vec<Event> = hanging_runs()
            .into_iter()
            .enumerate()
            .map(|(i, (start, d, r))| {
                let end = chrono::DateTime::from_timestamp(start + d as i64, 0)
                    .unwrap()
                    .fixed_offset();
                let result = match r {
                    "SUCCESS" => CiResult::Success,
                    _ => CiResult::Failure,
                };
                Event::new(
                    format!("zuul-{i}"),
                    Platform::Gerrit,
                    "acme/widgets",
                    end,
                    EventKind::CiJobFinished(CiJobEvent {
                        pipeline: Some("check".into()),
                        change: Some(i as u64),
                        patchset: Some(1),
                        run_id: Some(format!("b{i}")),
                        ..CiJobEvent::new("tempest", "zuul", d, result)
                    }),
                )
            })
            .collect();
        store.put_events(&events).unwrap();
    }
    let s = dir.path().to_str().unwrap();
    let out = json_of(&[
        "ci",
        "stopping",
        "--store",
        s,
        "--job",
        "tempest (check)",
        "--format",
        "json",
    ]);
    let job = &out["jobs"][0];
    assert_eq!(job["runs"], 90);
    assert!(job["stopping_point_all_runs_s"].as_f64().is_some(), "{job}");
}
