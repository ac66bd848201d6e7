//! CI payloads: `workflow_job` (GitHub Actions jobs), `check_run` (an external app's checks
//! and their re-requests) and `workflow_run` (re-runs of failed jobs).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::objects::{self as o, ts};
use super::{ZERO, body};
use crate::Org;
use crate::ci::Job;
use crate::repos::{ORG, Repo};

pub(super) fn workflow_job(repo: &Repo, j: &Job, sha: &str, branch: &str, _trigger: &str) -> Value {
    let api = format!("https://api.github.com/repos/{}", repo.full_name);
    let html = format!(
        "https://github.com/{}/actions/runs/{}/job/{}",
        repo.full_name, j.run_id, j.id
    );
    let step_end = j.started + Duration::seconds(15);
    let b = body(vec![
        ("action", json!("completed")),
        (
            "workflow_job",
            json!({
                "id": j.id, "run_id": j.run_id, "workflow_name": j.workflow, "head_branch": branch,
                "run_url": format!("{api}/actions/runs/{}", j.run_id), "run_attempt": j.attempt,
                "node_id": format!("CR_kwDO{}", j.id), "head_sha": sha, "url": format!("{api}/actions/jobs/{}", j.id),
                "html_url": html, "status": "completed", "conclusion": j.conclusion,
                "created_at": ts(j.started - Duration::seconds(5)), "started_at": ts(j.started), "completed_at": ts(j.completed),
                "name": j.name,
                "steps": [
                    {"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1, "started_at": ts(j.started), "completed_at": ts(step_end)},
                    {"name": format!("Run {}", j.name), "status": "completed", "conclusion": j.conclusion, "number": 2, "started_at": ts(step_end), "completed_at": ts(j.completed)}
                ],
                "check_run_url": format!("{api}/check-runs/{}", j.id), "labels": [j.runner],
                "runner_id": 20 + j.id % 40, "runner_name": format!("GitHub Actions {}", 20 + j.id % 40),
                "runner_group_id": 2, "runner_group_name": "GitHub Actions"
            }),
        ),
    ]);
    o::envelope(b, repo, o::actions_bot(), j.completed)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn check_run(
    org: &Org,
    repo: &Repo,
    j: &Job,
    sha: &str,
    branch: &str,
    action: &str,
    pr: Option<&Value>,
    sender: Option<usize>,
) -> Value {
    let api = format!("https://api.github.com/repos/{}", repo.full_name);
    let app = if j.app == Some("buildkite") {
        o::buildkite_app()
    } else {
        o::actions_app()
    };
    let prs: Vec<Value> = pr.cloned().into_iter().collect();
    let details = format!(
        "https://buildkite.com/{ORG}/{}/builds/{}",
        repo.full_name.split('/').nth(1).unwrap_or(""),
        j.run_number
    );
    let b = body(vec![
        ("action", json!(action)),
        (
            "check_run",
            json!({
                "id": j.id, "name": j.name, "node_id": format!("CR_kwDO{}", j.id), "head_sha": sha, "external_id": format!("bk-{}", j.run_id),
                "url": format!("{api}/check-runs/{}", j.id), "html_url": details.clone(), "details_url": details,
                "status": "completed", "conclusion": j.conclusion, "started_at": ts(j.started), "completed_at": ts(j.completed),
                "output": {"title": null, "summary": null, "text": null, "annotations_count": 0, "annotations_url": format!("{api}/check-runs/{}/annotations", j.id)},
                "check_suite": {
                    "id": j.run_id, "node_id": format!("CS_kwDO{}", j.run_id), "head_branch": branch, "head_sha": sha,
                    "status": "completed", "conclusion": j.conclusion, "url": format!("{api}/check-suites/{}", j.run_id),
                    "before": ZERO, "after": sha, "pull_requests": prs.clone(), "app": app.clone(),
                    "created_at": ts(j.started), "updated_at": ts(j.completed)
                },
                "app": app, "pull_requests": prs
            }),
        ),
    ]);
    let sender = sender.map_or_else(
        || o::user_obj("buildkite[bot]", 1_230_002, "Bot"),
        |s| o::user(&org.people[s]),
    );
    o::envelope(b, repo, sender, j.completed)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn workflow_run(
    org: &Org,
    repo: &Repo,
    run: (u64, u64, &str, DateTime<Utc>),
    head: (&str, &str),
    pr: &Value,
    by: usize,
    at: DateTime<Utc>,
    title: &str,
) -> Value {
    let (id, number, name, created) = run;
    let api = format!("https://api.github.com/repos/{}", repo.full_name);
    let p = &org.people[by];
    let tip = repo.git.commits.iter().find(|c| c.sha == head.0);
    let head_commit = tip.map(|c| json!({
        "id": c.sha, "tree_id": c.tree_id, "message": c.message.trim_end(), "timestamp": c.author.at.to_rfc3339(),
        "author": {"name": c.author.name, "email": c.author.email}, "committer": {"name": c.committer.name, "email": c.committer.email}
    }));
    let short = json!({"id": repo.id, "name": repo.full_name.split('/').nth(1), "full_name": repo.full_name});
    let b = body(vec![
        ("action", json!("requested")),
        ("workflow", Value::Null),
        (
            "workflow_run",
            json!({
                "id": id, "name": name, "node_id": format!("WFR_kwDO{id}"), "head_branch": head.1, "head_sha": head.0,
                "path": ".github/workflows/ci.yml", "display_title": title, "run_number": number, "event": "pull_request",
                "status": "queued", "conclusion": null, "workflow_id": 41_200_001, "check_suite_id": id + 1, "check_suite_node_id": format!("CS_kwDO{}", id + 1),
                "url": format!("{api}/actions/runs/{id}"), "html_url": format!("https://github.com/{}/actions/runs/{id}", repo.full_name),
                "pull_requests": [pr], "created_at": ts(created), "updated_at": ts(at), "actor": o::user(p), "run_attempt": 2,
                "referenced_workflows": [], "run_started_at": ts(at), "triggering_actor": o::user(p),
                "jobs_url": format!("{api}/actions/runs/{id}/jobs"), "logs_url": format!("{api}/actions/runs/{id}/logs"),
                "check_suite_url": format!("{api}/check-suites/{}", id + 1), "artifacts_url": format!("{api}/actions/runs/{id}/artifacts"),
                "cancel_url": format!("{api}/actions/runs/{id}/cancel"), "rerun_url": format!("{api}/actions/runs/{id}/rerun"),
                "previous_attempt_url": format!("{api}/actions/runs/{id}/attempts/1"), "workflow_url": format!("{api}/actions/workflows/41200001"),
                "head_commit": head_commit, "repository": short.clone(), "head_repository": short
            }),
        ),
    ]);
    o::envelope(b, repo, o::user(p), at)
}
