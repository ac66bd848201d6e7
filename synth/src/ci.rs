//! CI of the two repositories: GitHub Actions workflow jobs with realistic durations, failures
//! (some flaky, fixed by a rerun; some real, fixed by a push), reruns of failed jobs, an
//! external check (Buildkite end-to-end tests) and a nightly benchmark.

use chrono::{DateTime, Duration, Utc};
use rand::RngExt;

use crate::model::IdKind;
use crate::story::Planner;

/// A finished CI job (a GitHub Actions workflow job, or an external app's check run).
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Workflow name (`CI`, `Nightly`); the app's name for external checks.
    pub workflow: &'static str,
    /// Job name.
    pub name: &'static str,
    /// Workflow run id (the check suite's id for external checks).
    pub run_id: u64,
    /// Run number shown by GitHub.
    pub run_number: u64,
    /// Job id (check run id).
    pub id: u64,
    /// Attempt (2 for a rerun).
    pub attempt: u32,
    /// Started.
    pub started: DateTime<Utc>,
    /// Completed.
    pub completed: DateTime<Utc>,
    /// `success` or `failure`.
    pub conclusion: &'static str,
    /// Runner label.
    pub runner: &'static str,
    /// External app slug, for checks not run by GitHub Actions.
    pub app: Option<&'static str>,
}

/// A rerun request.
#[derive(Debug, Clone, PartialEq)]
pub struct Rerun {
    /// When it was requested.
    pub at: DateTime<Utc>,
    /// Who asked.
    pub by: usize,
    /// The workflow run (Actions) or check run (external app) rerun.
    pub target: RerunTarget,
}

/// What was asked to run again.
#[derive(Debug, Clone, PartialEq)]
pub enum RerunTarget {
    /// Re-run of the failed jobs of a workflow run (a `workflow_run` `requested` with attempt 2).
    WorkflowRun {
        /// Run id.
        run_id: u64,
        /// Run number.
        run_number: u64,
        /// Workflow name.
        workflow: &'static str,
        /// First start of the run.
        created: DateTime<Utc>,
    },
    /// Re-request of an external check run (`check_run` `rerequested`).
    CheckRun(Job),
}

/// One job's shape: (name, runner, min/max seconds, failure probability, share of failures
/// that are flaky).
type Spec = (&'static str, &'static str, i64, i64, f64, f64);

/// Jobs of the `CI` workflow of repository 0 (a library) and 1 (a service).
const CI_JOBS: [&[Spec]; 2] = [
    &[
        ("lint", "ubuntu-latest", 60, 150, 0.04, 0.0),
        ("test (ubuntu-latest)", "ubuntu-latest", 420, 900, 0.10, 0.6),
        ("docs", "ubuntu-latest", 120, 300, 0.06, 0.7),
    ],
    &[
        ("lint", "ubuntu-latest", 60, 150, 0.04, 0.0),
        (
            "test (ubuntu-latest)",
            "ubuntu-latest",
            600,
            1200,
            0.10,
            0.6,
        ),
        (
            "build (windows-latest)",
            "windows-latest",
            700,
            1300,
            0.05,
            1.0,
        ),
    ],
];

/// Repository 1's end-to-end tests run on Buildkite and report a check run.
const E2E: Spec = ("e2e (buildkite)", "buildkite", 900, 1800, 0.12, 0.8);

/// The first failure of a run.
#[derive(Debug, Clone, Copy)]
pub struct Failed {
    /// When the failed job finished.
    pub at: DateTime<Utc>,
    /// Whether a rerun will pass.
    pub flaky: bool,
}

/// The jobs of one CI run and when it was done.
#[derive(Debug, Clone)]
pub struct Run {
    /// Jobs.
    pub jobs: Vec<Job>,
    /// When the last job finished.
    pub done: DateTime<Utc>,
    /// The first failure, if any (all failures of a run share its flakiness).
    pub failed: Option<Failed>,
}

fn run_jobs(
    p: &mut Planner<'_>,
    repo: usize,
    at: DateTime<Utc>,
    on_pr: bool,
    failures: bool,
) -> Run {
    let run_id = p.ids.next(IdKind::Run);
    let run_number = p.ids.next(IdKind::RunNumber);
    let mut specs: Vec<(Spec, Option<&'static str>)> =
        CI_JOBS[repo].iter().map(|s| (*s, None)).collect();
    if repo == 1 {
        specs.push((E2E, Some("buildkite")));
    }
    let mut jobs = Vec::new();
    let mut failed: Option<Failed> = None;
    let mut flaky_roll = None;
    for ((name, runner, lo, hi, p_fail, p_flaky), app) in specs {
        let started = at + Duration::seconds(p.rng.random_range(8..120));
        let fail = failures && on_pr && p.rng.random_bool(p_fail);
        let secs = if fail {
            p.rng.random_range(lo / 2..hi)
        } else {
            p.rng.random_range(lo..hi)
        };
        let completed = started + Duration::seconds(secs);
        if fail {
            let flaky = *flaky_roll.get_or_insert_with(|| p.rng.random_bool(p_flaky));
            if failed.is_none_or(|f| completed < f.at) {
                failed = Some(Failed {
                    at: completed,
                    flaky,
                });
            }
        }
        jobs.push(Job {
            workflow: app.map_or("CI", |_| "Buildkite"),
            name,
            run_id: if app.is_some() {
                p.ids.next(IdKind::Run)
            } else {
                run_id
            },
            run_number,
            id: p.ids.next(IdKind::Job),
            attempt: 1,
            started,
            completed,
            conclusion: if fail { "failure" } else { "success" },
            runner,
            app,
        });
    }
    let done = jobs.iter().map(|j| j.completed).max().unwrap_or(at);
    Run { jobs, done, failed }
}

/// CI on a push to a pull request.
pub fn pull_request_run(p: &mut Planner<'_>, repo: usize, at: DateTime<Utc>) -> Run {
    run_jobs(p, repo, at, true, true)
}

/// CI on a push to `main` (it passes: what reached `main` was tested).
pub fn main_run(p: &mut Planner<'_>, repo: usize, at: DateTime<Utc>) -> Vec<Job> {
    run_jobs(p, repo, at, false, false).jobs
}

/// A rerun of the failed jobs of `jobs` requested by `by` at `at`: the request, the new
/// attempts (which pass), and when they are done. An external check is re-requested on its
/// own; Actions jobs are rerun through their workflow run.
pub fn rerun(
    p: &mut Planner<'_>,
    _repo: usize,
    jobs: &[Job],
    by: usize,
    at: DateTime<Utc>,
) -> (Rerun, Vec<Job>, DateTime<Utc>) {
    let failed: Vec<&Job> = jobs.iter().filter(|j| j.conclusion == "failure").collect();
    let external = failed.iter().find(|j| j.app.is_some()).copied();
    let target = match external {
        Some(j) => RerunTarget::CheckRun(j.clone()),
        None => {
            let j = failed.first().copied().or(jobs.first());
            RerunTarget::WorkflowRun {
                run_id: j.map_or(0, |j| j.run_id),
                run_number: j.map_or(0, |j| j.run_number),
                workflow: "CI",
                created: j.map_or(at, |j| j.started),
            }
        }
    };
    let again: Vec<&Job> = match &target {
        RerunTarget::CheckRun(j) => failed.iter().copied().filter(|f| f.id == j.id).collect(),
        RerunTarget::WorkflowRun { .. } => {
            failed.iter().copied().filter(|f| f.app.is_none()).collect()
        }
    };
    let mut new = Vec::new();
    for j in again {
        let started = at + Duration::seconds(p.rng.random_range(10..90));
        let secs = (j.completed - j.started).num_seconds().max(60) + p.rng.random_range(-30..60);
        new.push(Job {
            id: p.ids.next(IdKind::Job),
            attempt: if j.app.is_some() { 1 } else { j.attempt + 1 },
            started,
            completed: started + Duration::seconds(secs.max(30)),
            conclusion: "success",
            ..j.clone()
        });
    }
    let done = new.iter().map(|j| j.completed).max().unwrap_or(at);
    (Rerun { at, by, target }, new, done)
}

/// The nightly benchmark of repository 0 at 02:00 UTC on `day` (on weekdays).
pub fn nightly(p: &mut Planner<'_>, at: DateTime<Utc>) -> Job {
    let started = at + Duration::seconds(p.rng.random_range(30..300));
    let secs = p.rng.random_range(1500..2700);
    let run_id = p.ids.next(IdKind::Run);
    Job {
        workflow: "Nightly",
        name: "bench",
        run_id,
        run_number: p.ids.next(IdKind::RunNumber),
        id: p.ids.next(IdKind::Job),
        attempt: 1,
        started,
        completed: started + Duration::seconds(secs),
        conclusion: if p.rng.random_bool(0.03) {
            "failure"
        } else {
            "success"
        },
        runner: "ubuntu-latest",
        app: None,
    }
}
