//! The generated history is deterministic, has the shapes of GitHub's real payloads (the
//! repository's real-format fixtures), and is realistic in the ways the demo relies on: counts,
//! time zones, tones, CI failures and reruns, two people drifting into late nights and
//! weekends before going quiet, newcomers and a bot.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::OnceLock;

use canopy_synth::cast::Role;
use canopy_synth::model::Outcome;
use canopy_synth::{Config, Delivery, Org, generate};
use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use serde_json::Value;

/// The default history, its deliveries, and their bodies parsed once.
fn org() -> &'static (Org, Vec<Delivery>) {
    &all().0
}

/// The history with its deliveries, and the deliveries' parsed bodies.
type Parsed = ((Org, Vec<Delivery>), Vec<Value>);

fn all() -> &'static Parsed {
    static ORG: OnceLock<Parsed> = OnceLock::new();
    ORG.get_or_init(|| {
        let org = generate(&Config::default());
        let d = org.deliveries();
        let parsed = d
            .iter()
            .map(|d| serde_json::from_slice(&d.body).expect("every body is JSON"))
            .collect();
        ((org, d), parsed)
    })
}

/// The parsed body of a delivery of the default history.
fn json(d: &Delivery) -> &'static Value {
    let ((_, deliveries), parsed) = all();
    let i = deliveries.partition_point(|x| x.at < d.at);
    let j = (i..deliveries.len())
        .find(|&j| deliveries[j].id == d.id)
        .expect("a delivery of the default history");
    &parsed[j]
}

fn action(v: &Value) -> &str {
    v["action"].as_str().unwrap_or("")
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_another_history() {
    let small = Config {
        weeks: 6,
        ..Config::default()
    };
    let a = generate(&small);
    let b = generate(&small);
    assert_eq!(a.deliveries(), b.deliveries());
    // The first six weeks of the default history are not those of a six-week history (the
    // drifts and joins scale to the length), but each is reproducible.
    assert_eq!(a.fast_import(0), b.fast_import(0));
    assert_eq!(a.fast_import(1), b.fast_import(1));
    let c = generate(&Config { seed: 7, ..small });
    assert_ne!(a.deliveries(), c.deliveries());
    assert_ne!(a.fast_import(0), c.fast_import(0));
}

/// Every object key of `fixture` (recursively; arrays by their first element) is in `ours`.
fn missing_keys(fixture: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    match (fixture, ours) {
        (Value::Object(f), Value::Object(o)) => {
            for (k, v) in f {
                match o.get(k) {
                    None => out.push(format!("{path}.{k}")),
                    Some(ov) => missing_keys(v, ov, &format!("{path}.{k}"), out),
                }
            }
        }
        (Value::Array(f), Value::Array(o)) => {
            if let (Some(f0), Some(o0)) = (f.first(), o.first()) {
                missing_keys(f0, o0, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn payloads_have_the_shapes_of_the_real_format_fixtures() {
    let (_, deliveries) = org();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/github");
    // (event, action, fixture) pairs; a delivery with a non-null field the fixture lacks is fine.
    let pairs = [
        ("pull_request", "opened", "pull_request.opened.json"),
        (
            "pull_request",
            "synchronize",
            "pull_request.synchronize.json",
        ),
        (
            "pull_request",
            "review_requested",
            "pull_request.review_requested.json",
        ),
        (
            "pull_request",
            "ready_for_review",
            "pull_request.ready_for_review.json",
        ),
        ("pull_request", "closed", "pull_request.closed.merged.json"),
        (
            "pull_request_review",
            "submitted",
            "pull_request_review.submitted.json",
        ),
        (
            "pull_request_review_comment",
            "created",
            "pull_request_review_comment.created.json",
        ),
        ("issue_comment", "created", "issue_comment.created.json"),
        ("push", "", "push.json"),
        ("workflow_job", "completed", "workflow_job.completed.json"),
        (
            "workflow_run",
            "requested",
            "workflow_run.requested.rerun.json",
        ),
        (
            "check_run",
            "rerequested",
            "check_run.completed.external.json",
        ),
        (
            "check_run",
            "completed",
            "check_run.completed.external.json",
        ),
    ];
    for (event, act, file) in pairs {
        let fixture: Value =
            serde_json::from_slice(&std::fs::read(dir.join(file)).expect(file)).expect(file);
        let ours = deliveries
            .iter()
            .filter(|d| d.event == event)
            .map(json)
            .find(|v| action(v) == act)
            .unwrap_or_else(|| panic!("no {event} {act} delivery"));
        let mut missing = Vec::new();
        missing_keys(&fixture, ours, event, &mut missing);
        assert!(missing.is_empty(), "{file}: missing {missing:?}");
    }
}

#[test]
fn counts_are_those_of_a_busy_small_organisation() {
    let (org, deliveries) = org();
    assert_eq!(org.humans().count(), 15);
    assert_eq!(org.repos.len(), 2);
    let n = org.changes.len();
    assert!((350..900).contains(&n), "{n} pull requests");
    for r in 0..2 {
        assert!(org.changes.iter().filter(|c| c.repo == r).count() > 100);
    }
    let count = |event: &str, act: &str| {
        deliveries
            .iter()
            .filter(|d| d.event == event)
            .map(json)
            .filter(|v| action(v) == act)
            .count()
    };
    let opened = count("pull_request", "opened");
    assert_eq!(opened, n);
    let merged = deliveries
        .iter()
        .filter(|d| d.event == "pull_request")
        .map(json)
        .filter(|v| v["pull_request"]["merged"] == true && action(v) == "closed")
        .count();
    let closed = count("pull_request", "closed") - merged;
    let open = org
        .changes
        .iter()
        .filter(|c| c.outcome == Outcome::Open)
        .count();
    assert!(
        merged as f64 > 0.75 * n as f64 && merged < n,
        "{merged} merged of {n}"
    );
    assert!(closed >= 5 && open >= 3, "{closed} closed, {open} open");
    let reviews = count("pull_request_review", "submitted");
    assert!(reviews as f64 > 0.9 * merged as f64, "{reviews} reviews");
    assert!(count("pull_request_review_comment", "created") > 150);
    assert!(count("issue_comment", "created") > 100);
    assert!(count("pull_request", "review_requested") >= n);
    assert!(count("pull_request", "synchronize") > 150);
    assert!(deliveries.iter().filter(|d| d.event == "push").count() > n);
    // Time order, unique delivery ids.
    assert!(deliveries.windows(2).all(|w| w[0].at <= w[1].at));
    let ids: HashSet<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), deliveries.len());
    assert!(deliveries.iter().all(|d| d.at <= org.now));
}

#[test]
fn ci_jobs_have_durations_failures_and_reruns() {
    let (_, deliveries) = org();
    let jobs: Vec<&Value> = deliveries
        .iter()
        .filter(|d| d.event == "workflow_job")
        .map(json)
        .collect();
    assert!(jobs.len() > 1000);
    let failed = jobs
        .iter()
        .filter(|j| j["workflow_job"]["conclusion"] == "failure")
        .count();
    let share = failed as f64 / jobs.len() as f64;
    assert!((0.02..0.2).contains(&share), "failure share {share}");
    let retried = jobs
        .iter()
        .filter(|j| j["workflow_job"]["run_attempt"] == 2)
        .count();
    assert!(retried >= 10, "{retried} second attempts");
    let mut names = BTreeSet::new();
    for j in &jobs {
        let start: DateTime<FixedOffset> = j["workflow_job"]["started_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let end: DateTime<FixedOffset> = j["workflow_job"]["completed_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let secs = (end - start).num_seconds();
        assert!((20..3000).contains(&secs), "{secs} s");
        names.insert(j["workflow_job"]["name"].as_str().unwrap().to_string());
    }
    for n in [
        "lint",
        "test (ubuntu-latest)",
        "docs",
        "build (windows-latest)",
        "bench",
    ] {
        assert!(names.contains(n), "{names:?}");
    }
    let reruns = deliveries
        .iter()
        .filter(|d| d.event == "workflow_run")
        .count();
    let rechecks = deliveries
        .iter()
        .filter(|d| d.event == "check_run")
        .map(json)
        .filter(|v| action(v) == "rerequested")
        .count();
    assert!(
        reruns >= 10 && rechecks >= 5,
        "{reruns} workflow reruns, {rechecks} check re-requests"
    );
}

/// (late-night or weekend, total) of the commits each login authored per week, from pushes.
fn commit_hours(deliveries: &[Delivery], start: i64) -> BTreeMap<(String, i64), (u32, u32)> {
    let mut seen = HashSet::new();
    let mut out: BTreeMap<(String, i64), (u32, u32)> = BTreeMap::new();
    for v in deliveries.iter().filter(|d| d.event == "push").map(json) {
        for c in v["commits"].as_array().into_iter().flatten() {
            let Some(login) = c["author"]["username"].as_str() else {
                continue;
            };
            if !seen.insert(c["id"].as_str().unwrap_or("").to_string())
                || c["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("Merge pull request")
            {
                continue;
            }
            let t: DateTime<FixedOffset> = c["timestamp"].as_str().unwrap().parse().unwrap();
            let odd = t.hour() >= 22 || t.hour() < 6 || t.weekday().num_days_from_monday() >= 5;
            let week = (t.timestamp() - start) / (7 * 86_400);
            let e = out.entry((login.to_string(), week)).or_default();
            e.0 += u32::from(odd);
            e.1 += 1;
        }
    }
    out
}

#[test]
fn people_work_from_many_time_zones() {
    let (_, deliveries) = org();
    let mut offsets = BTreeSet::new();
    for v in deliveries.iter().filter(|d| d.event == "push").map(json) {
        for c in v["commits"].as_array().into_iter().flatten() {
            let t: DateTime<FixedOffset> = c["timestamp"].as_str().unwrap().parse().unwrap();
            if c["committer"]["name"] != "GitHub" {
                offsets.insert(t.offset().local_minus_utc());
            }
        }
    }
    assert!(offsets.len() >= 8, "{offsets:?}");
    let span = offsets.last().unwrap() - offsets.first().unwrap();
    assert!(span >= 14 * 3600, "{span}");
}

#[test]
fn two_people_drift_into_late_nights_and_weekends_then_go_quiet() {
    let (org, deliveries) = org();
    let start = org
        .config
        .start
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    let hours = commit_hours(deliveries, start);
    let drifting: Vec<_> = org.people.iter().filter(|p| p.drift.is_some()).collect();
    assert_eq!(drifting.len(), 2);
    let share = |login: &str, weeks: std::ops::Range<i64>| {
        let (odd, all) = hours
            .iter()
            .filter(|((l, w), _)| l == login && weeks.contains(w))
            .fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1));
        (f64::from(odd) / f64::from(all.max(1)), all)
    };
    for p in &drifting {
        let d = p.drift.unwrap();
        let (before, n_before) = share(&p.login, 0..i64::from(d.start_week));
        let (late, n_late) = share(
            &p.login,
            i64::from(d.quiet_week) - 4..i64::from(d.quiet_week),
        );
        assert!(
            n_before >= 10 && n_late >= 5,
            "{}: {n_before} and {n_late} commits",
            p.login
        );
        assert!(
            late > 0.3 && late > 3.0 * before,
            "{}: {before:.2} before, {late:.2} at the end of the drift",
            p.login
        );
        // Quiet afterwards: nothing sent by them, no commits by them.
        let quiet_from = org.config.start + chrono::Duration::days(7 * i64::from(d.quiet_week));
        let after = deliveries
            .iter()
            .filter(|x| x.at.date_naive() >= quiet_from)
            .map(json)
            .filter(|v| v["sender"]["login"] == p.login.as_str())
            .count();
        assert_eq!(after, 0, "{} is active after going quiet", p.login);
    }
    // Everyone else keeps mostly to the working week.
    for p in org.humans().filter(|p| p.drift.is_none()) {
        let (odd, n) = share(&p.login, 0..60);
        assert!(
            n < 5 || odd < 0.2,
            "{}: {odd:.2} of {n} commits at night or on weekends",
            p.login
        );
    }
}

#[test]
fn comments_range_from_warm_to_uncivil() {
    let (_, deliveries) = org();
    let bodies: Vec<String> = deliveries
        .iter()
        .filter(|d| d.event == "issue_comment" || d.event == "pull_request_review_comment")
        .map(json)
        .map(|v| v["comment"]["body"].as_str().unwrap_or("").to_string())
        .collect();
    let has = |words: &[&str]| {
        bodies
            .iter()
            .filter(|b| words.iter().any(|w| b.contains(w)))
            .count()
    };
    assert!(has(&["thank", "Thanks", "Welcome"]) >= 30);
    assert!(has(&["sloppy", "garbage", "mess", "embarrassing", "wasting"]) >= 5);
    assert!(
        bodies
            .iter()
            .filter(|b| b.len() <= 12 && !b.starts_with('/'))
            .count()
            >= 15,
        "terse remarks"
    );
    let opt_ins = bodies.iter().filter(|b| *b == "/canopy opt-in").count();
    assert_eq!(opt_ins, 8);
}

#[test]
fn newcomers_join_late_from_forks_and_are_welcomed_and_the_bot_bumps_dependencies() {
    let (org, _) = org();
    for (i, p) in org
        .people
        .iter()
        .enumerate()
        .filter(|(_, p)| p.role == Role::Newcomer)
    {
        let first = org
            .changes
            .iter()
            .filter(|c| c.author == i)
            .min_by_key(|c| c.opened_at)
            .expect("newcomers open PRs");
        assert!(org.week_of(first.opened_at) >= p.join_week && p.join_week > 8);
        assert!(first.from_fork);
        assert!(
            first
                .comments
                .iter()
                .any(|n| n.body.to_lowercase().contains("welcome")),
            "{:?}",
            first.comments
        );
    }
    let bot = org.people.iter().position(|p| p.role == Role::Bot).unwrap();
    let bumps: Vec<_> = org.changes.iter().filter(|c| c.author == bot).collect();
    assert!(bumps.len() > 30 && bumps.iter().all(|c| c.title.starts_with("Bump ")));
    let merged = bumps
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Merged { .. }))
        .count();
    assert!(merged as f64 > 0.8 * bumps.len() as f64);
}

#[test]
fn payload_commit_ids_are_the_git_history_s_ids() {
    let (org, deliveries) = org();
    let ids: HashSet<&str> = org
        .repos
        .iter()
        .flat_map(|r| r.git.commits.iter().map(|c| c.sha.as_str()))
        .collect();
    for v in deliveries.iter().map(json) {
        for sha in [
            &v["pull_request"]["head"]["sha"],
            &v["workflow_job"]["head_sha"],
            &v["check_run"]["head_sha"],
            &v["after"],
        ] {
            if let Some(s) = sha.as_str() {
                assert!(ids.contains(s), "{s} is not a generated commit");
            }
        }
    }
}

#[test]
fn the_showcase_is_open_with_only_its_docs_job_failed_and_a_rerun_requested_last() {
    let (org, deliveries) = org();
    let s = &org.showcase;
    let last = deliveries.last().unwrap();
    assert_eq!(last.event, "workflow_run");
    assert_eq!(last.at, s.rerun_at);
    let v = json(last);
    assert_eq!(v["workflow_run"]["pull_requests"][0]["number"], s.number);
    assert_eq!(v["workflow_run"]["run_attempt"], 2);
    let c = org
        .changes
        .iter()
        .find(|c| c.number == s.number && org.repos[c.repo].full_name == s.repo)
        .unwrap();
    assert_eq!(c.outcome, Outcome::Open);
    let failed: Vec<&str> = c.pushes[0]
        .jobs
        .iter()
        .filter(|j| j.conclusion == "failure")
        .map(|j| j.name)
        .collect();
    assert_eq!(failed, ["docs"]);
    assert_eq!(
        (
            s.rerun_at.weekday().num_days_from_monday(),
            s.rerun_at.hour()
        ),
        (4, 17)
    );
}
