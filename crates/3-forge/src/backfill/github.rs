//! Backfill from GitHub's REST API: every PR (oldest first) with its reviews, comments and CI
//! jobs. Each object is turned into the webhook payload GitHub would have sent for it and fed
//! through the same normaliser, so backfilled events carry the same ids as webhook ones and a
//! PR seen both ways is stored once. Progress is saved per page: an interrupted run resumes.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Progress, with_retries};
use crate::github::client::GitHubClient;
use crate::github::normalize::normalize;
use canopy_core::ExecError;
use canopy_store::{Store, StoreError};

/// PRs per page of the list.
pub const PAGE: usize = 100;

/// Why a backfill stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The API refused or failed beyond retries.
    #[error("GitHub API: {0}")]
    Api(#[from] ExecError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn state_key(repo: &str) -> String {
    format!("backfill:github:{repo}")
}

/// Counts of what a run stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// PRs read.
    pub prs: u64,
    /// Events newly stored.
    pub new_events: u64,
    /// Pages skipped because an earlier run finished them.
    pub resumed_from_page: u32,
}

async fn get(client: &GitHubClient, repo: &str, path: &str) -> Result<Value, ExecError> {
    with_retries(client.clock(), || client.get_json::<Value>(repo, path)).await
}

/// Every item of a paginated list endpoint (`?per_page=100&page=N`), or of an object's array
/// field (`check_runs`, `jobs`, `workflow_runs`).
async fn all_pages(
    client: &GitHubClient,
    repo: &str,
    path: &str,
    field: Option<&str>,
) -> Result<Vec<Value>, ExecError> {
    let mut out = Vec::new();
    let sep = if path.contains('?') { '&' } else { '?' };
    for page in 1..=100u32 {
        let v = get(
            client,
            repo,
            &format!("{path}{sep}per_page=100&page={page}"),
        )
        .await?;
        let items = match field {
            Some(f) => v
                .get(f)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            None => v.as_array().cloned().unwrap_or_default(),
        };
        let n = items.len();
        out.extend(items);
        if n < 100 {
            break;
        }
    }
    Ok(out)
}

fn envelope(repo: &str, action: &str, sender: &Value, mut body: Value) -> Vec<u8> {
    body["action"] = json!(action);
    body["repository"] = json!({ "full_name": repo });
    body["sender"] = sender.clone();
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Imports a repository's PRs created at or after `since` into the store.
pub async fn run(
    client: &GitHubClient,
    store: &dyn Store,
    repo: &str,
    since: Option<DateTime<Utc>>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Summary, BackfillError> {
    let mut summary = Summary::default();
    let start_page: u32 = store
        .get_meta(&state_key(repo))?
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    summary.resumed_from_page = start_page;
    let now = client.clock().now();
    for page in start_page..=10_000u32 {
        let list = get(
            client,
            repo,
            &format!("/repos/{repo}/pulls?state=all&sort=created&direction=asc&per_page={PAGE}&page={page}"),
        )
        .await?;
        let items = list.as_array().cloned().unwrap_or_default();
        for item in &items {
            let created = item["created_at"]
                .as_str()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok());
            if since.is_some_and(|s| created.is_some_and(|c| c < s)) {
                continue;
            }
            let Some(number) = item["number"].as_u64() else {
                continue;
            };
            let events = pr_events(client, repo, number, now).await?;
            summary.new_events += store.put_events(&events)? as u64;
            summary.prs += 1;
            progress(Progress {
                what: format!("{repo}#{number}"),
                done: summary.prs,
                new_events: summary.new_events,
            });
        }
        // The page is done: a later run starts after it.
        store.put_meta(&state_key(repo), (page + 1).to_string().as_bytes())?;
        if items.len() < PAGE {
            // Finished: the next run starts over at the last page to catch new PRs.
            store.put_meta(&state_key(repo), page.to_string().as_bytes())?;
            break;
        }
    }
    Ok(summary)
}

/// Every event of one PR, from the API, through the webhook normaliser.
async fn pr_events(
    client: &GitHubClient,
    repo: &str,
    number: u64,
    now: DateTime<Utc>,
) -> Result<Vec<canopy_analyzer::Event>, ExecError> {
    let pr = get(client, repo, &format!("/repos/{repo}/pulls/{number}")).await?;
    let mut payloads = conversation(client, repo, number, &pr).await?;
    if let Some(sha) = pr["head"]["sha"].as_str() {
        payloads.extend(ci(client, repo, sha).await?);
    }
    let mut events = Vec::new();
    for (event, body) in payloads {
        match normalize(event, "backfill", &body, now) {
            Ok(n) => events.extend(n.events),
            Err(e) => {
                tracing::warn!(repo, number, event, error = %e, "a backfilled object could not be read; skipped")
            }
        }
    }
    Ok(events)
}

/// A webhook payload: its event name and body.
type Payload = (&'static str, Vec<u8>);

/// The PR's opening (and closing), reviews, conversation comments and review comments, as the
/// payloads their webhooks would have carried.
async fn conversation(
    client: &GitHubClient,
    repo: &str,
    number: u64,
    pr: &Value,
) -> Result<Vec<Payload>, ExecError> {
    let author = pr["user"].clone();
    let whole = json!({ "number": number, "pull_request": pr });
    let mut payloads = vec![(
        "pull_request",
        envelope(repo, "opened", &author, whole.clone()),
    )];
    if pr["state"] == "closed" {
        let closer = pr["merged_by"].clone();
        payloads.push(("pull_request", envelope(repo, "closed", &closer, whole)));
    }
    let pr_ref = json!({ "number": number, "user": author });
    let issue = json!({ "number": number, "user": author, "pull_request": {} });
    let lists = [
        (
            "reviews",
            "pull_request_review",
            "submitted",
            "review",
            &pr_ref,
        ),
        ("comments", "issue_comment", "created", "comment", &issue),
        (
            "comments",
            "pull_request_review_comment",
            "created",
            "comment",
            &pr_ref,
        ),
    ];
    for (i, (list, event, action, field, parent)) in lists.into_iter().enumerate() {
        // Conversation comments live on the issue, the others on the pull.
        let base = if i == 1 { "issues" } else { "pulls" };
        let path = format!("/repos/{repo}/{base}/{number}/{list}");
        let parent_field = if i == 1 { "issue" } else { "pull_request" };
        for item in all_pages(client, repo, &path, None).await? {
            let sender = item["user"].clone();
            let body = json!({ field: item, parent_field: parent });
            payloads.push((event, envelope(repo, action, &sender, body)));
        }
    }
    Ok(payloads)
}

/// The CI of the PR's head: every job of every workflow run, and the check runs.
async fn ci(client: &GitHubClient, repo: &str, sha: &str) -> Result<Vec<Payload>, ExecError> {
    let mut payloads = Vec::new();
    let runs = format!("/repos/{repo}/actions/runs?head_sha={sha}");
    for run in all_pages(client, repo, &runs, Some("workflow_runs")).await? {
        let Some(run_id) = run["id"].as_u64() else {
            continue;
        };
        let jobs = format!("/repos/{repo}/actions/runs/{run_id}/jobs");
        for job in all_pages(client, repo, &jobs, Some("jobs")).await? {
            let body = json!({ "workflow_job": job });
            payloads.push((
                "workflow_job",
                envelope(repo, "completed", &Value::Null, body),
            ));
        }
    }
    let checks = format!("/repos/{repo}/commits/{sha}/check-runs");
    for cr in all_pages(client, repo, &checks, Some("check_runs")).await? {
        let body = json!({ "check_run": cr });
        payloads.push(("check_run", envelope(repo, "completed", &Value::Null, body)));
    }
    Ok(payloads)
}
