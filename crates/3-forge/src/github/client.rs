//! The GitHub API client, on octocrab: authenticated as a GitHub App (JWT → installation token,
//! cached and refreshed by octocrab before expiry) or with a token. Every call reports failures
//! as [`ExecError`], classified by status and rate-limit headers, so the outbox can back off.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use canopy_core::{Clock, ExecError};

use crate::percent_encode;

/// How Canopy authenticates to GitHub.
#[derive(Clone)]
pub enum GitHubAuth {
    /// A personal or fine-grained token for the repositories it serves.
    Token(String),
    /// A GitHub App: its id and private key (PEM).
    App {
        /// App id.
        app_id: u64,
        /// Private key, PEM.
        private_key_pem: String,
    },
}

impl std::fmt::Debug for GitHubAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitHubAuth::Token(_) => f.write_str("GitHubAuth::Token(..)"),
            GitHubAuth::App { app_id, .. } => write!(f, "GitHubAuth::App({app_id})"),
        }
    }
}

/// A comment as listed by the API.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiComment {
    /// Comment id.
    pub id: u64,
    /// Text.
    #[serde(default)]
    pub body: Option<String>,
}

/// The GitHub API client.
pub struct GitHubClient {
    base: String,
    timeout: Duration,
    token: Option<Octocrab>,
    app: Option<Octocrab>,
    installations: Mutex<HashMap<String, Octocrab>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for GitHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitHubClient({})", self.base)
    }
}

impl GitHubClient {
    /// The clock this client measures rate-limit waits on (backfill waits on it too).
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// A client for the API at `base` (`https://api.github.com`, or a fake in tests); a request
    /// that takes longer than `timeout` is abandoned as a transient failure. Rate-limit waits
    /// are computed against `clock`.
    pub fn new(
        base: &str,
        auth: GitHubAuth,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<GitHubClient> {
        let builder = || -> anyhow::Result<octocrab::OctocrabBuilder<_, _, _, _>> {
            Ok(Octocrab::builder()
                .base_uri(base)?
                .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
                .set_connect_timeout(Some(timeout))
                .set_read_timeout(Some(timeout)))
        };
        let (token, app) = match auth {
            GitHubAuth::Token(t) => (Some(builder()?.personal_token(t).build()?), None),
            GitHubAuth::App {
                app_id,
                private_key_pem,
            } => {
                let key = octocrab::EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(
                    |e| {
                        anyhow::anyhow!(
                            "the GitHub App private key is not a valid RSA PEM key: {e}"
                        )
                    },
                )?;
                (None, Some(builder()?.app(app_id.into(), key).build()?))
            }
        };
        Ok(GitHubClient {
            base: base.trim_end_matches('/').to_string(),
            timeout,
            token,
            app,
            installations: Mutex::new(HashMap::new()),
            clock,
        })
    }

    /// The client that acts on `repo`: the token client, or the App's installation on the
    /// repository's owner (looked up once, then cached; octocrab refreshes its token).
    async fn for_repo(&self, repo: &str) -> Result<Octocrab, ExecError> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let Some(app) = &self.app else {
            return Err(ExecError::permanent("no GitHub credentials configured"));
        };
        let owner = repo.split('/').next().unwrap_or(repo).to_string();
        let mut cache = self.installations.lock().await;
        if let Some(c) = cache.get(&owner) {
            return Ok(c.clone());
        }
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let inst: Installation = self
            .send_json(
                app,
                "GET",
                &format!("/repos/{repo}/installation"),
                None,
                "find the App installation",
            )
            .await?;
        let crab = app
            .installation(inst.id.into())
            .map_err(|e| ExecError::permanent(format!("using installation {}: {e}", inst.id)))?;
        cache.insert(owner, crab.clone());
        Ok(crab)
    }

    /// All comments of an issue or PR (every page).
    pub async fn comments(&self, repo: &str, number: u64) -> Result<Vec<ApiComment>, ExecError> {
        let crab = self.for_repo(repo).await?;
        let mut out = Vec::new();
        for page in 1..=50u32 {
            let path = format!("/repos/{repo}/issues/{number}/comments?per_page=100&page={page}");
            let batch: Vec<ApiComment> = self
                .send_json(&crab, "GET", &path, None, "list comments")
                .await?;
            let n = batch.len();
            out.extend(batch);
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// Creates the comment with `marker`, or edits it when its text differs; never creates a
    /// second one (a retry after a lost response finds the first), and removes any duplicate.
    pub async fn upsert_marked_comment(
        &self,
        repo: &str,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<(), ExecError> {
        let crab = self.for_repo(repo).await?;
        let mut marked = self.marked_comments(repo, number, marker).await?;
        // Two marked comments mean a create that GitHub applied after Canopy gave up on it:
        // keep the first, delete the rest.
        for extra in marked.iter().skip(1) {
            let path = format!("/repos/{repo}/issues/comments/{}", extra.id);
            self.send(&crab, "DELETE", &path, None, "delete a duplicate comment")
                .await?;
        }
        marked.truncate(1);
        match marked.pop() {
            Some(c) if c.body.as_deref() == Some(body) => Ok(()),
            Some(c) => {
                let path = format!("/repos/{repo}/issues/comments/{}", c.id);
                self.send_text(&crab, "PATCH", &path, body, "edit the comment")
                    .await
            }
            None => {
                self.create_comment(&crab, repo, number, body, "create the comment")
                    .await
            }
        }
    }

    /// Posts a comment unless one with `marker` is already there.
    pub async fn post_once(
        &self,
        repo: &str,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<(), ExecError> {
        let crab = self.for_repo(repo).await?;
        if !self.marked_comments(repo, number, marker).await?.is_empty() {
            return Ok(());
        }
        self.create_comment(&crab, repo, number, body, "post a reply")
            .await
    }

    /// The comments of an issue or PR whose text contains `marker` (every page).
    async fn marked_comments(
        &self,
        repo: &str,
        number: u64,
        marker: &str,
    ) -> Result<Vec<ApiComment>, ExecError> {
        let mut all = self.comments(repo, number).await?;
        all.retain(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)));
        Ok(all)
    }

    /// Adds a comment with `body` to an issue or PR (`what` names the step in errors).
    async fn create_comment(
        &self,
        crab: &Octocrab,
        repo: &str,
        number: u64,
        body: &str,
        what: &str,
    ) -> Result<(), ExecError> {
        let path = format!("/repos/{repo}/issues/{number}/comments");
        self.send_text(crab, "POST", &path, body, what).await
    }

    /// Opens an issue unless one with its first label has `marker` in its body; returns the number.
    pub async fn create_issue_once(
        &self,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[String],
        marker: &str,
    ) -> Result<u64, ExecError> {
        let crab = self.for_repo(repo).await?;
        #[derive(Deserialize)]
        struct ApiIssue {
            number: u64,
            #[serde(default)]
            body: Option<String>,
        }
        let path = match labels.first() {
            Some(label) => format!(
                "/repos/{repo}/issues?state=all&labels={}&per_page=100",
                percent_encode(label)
            ),
            None => format!("/repos/{repo}/issues?state=all&per_page=100"),
        };
        let existing: Vec<ApiIssue> = self
            .send_json(&crab, "GET", &path, None, "list issues")
            .await?;
        if let Some(found) = existing
            .iter()
            .find(|i| i.body.as_deref().is_some_and(|b| b.contains(marker)))
        {
            return Ok(found.number);
        }
        #[derive(Deserialize)]
        struct Created {
            number: u64,
        }
        let created: Created = self
            .send_json(
                &crab,
                "POST",
                &format!("/repos/{repo}/issues"),
                Some(serde_json::json!({ "title": title, "body": body, "labels": labels })),
                "create an issue",
            )
            .await?;
        Ok(created.number)
    }

    /// Re-runs the failed jobs of a workflow run, unless it is already running again.
    pub async fn rerun_failed_jobs(&self, repo: &str, run_id: u64) -> Result<(), ExecError> {
        let crab = self.for_repo(repo).await?;
        #[derive(Deserialize)]
        struct Run {
            status: Option<String>,
        }
        let run: Run = self
            .send_json(
                &crab,
                "GET",
                &format!("/repos/{repo}/actions/runs/{run_id}"),
                None,
                "read the workflow run",
            )
            .await?;
        if matches!(
            run.status.as_deref(),
            Some("queued" | "in_progress" | "waiting" | "requested" | "pending")
        ) {
            // Already running again (an earlier attempt's request went through).
            return Ok(());
        }
        let path = format!("/repos/{repo}/actions/runs/{run_id}/rerun-failed-jobs");
        self.send(
            &crab,
            "POST",
            &path,
            Some(serde_json::json!({})),
            "re-run failed jobs",
        )
        .await?;
        Ok(())
    }

    /// Cancels a workflow run (to run it later instead).
    pub async fn cancel_run(&self, repo: &str, run_id: u64) -> Result<(), ExecError> {
        let crab = self.for_repo(repo).await?;
        let path = format!("/repos/{repo}/actions/runs/{run_id}/cancel");
        match self
            .send(
                &crab,
                "POST",
                &path,
                Some(serde_json::json!({})),
                "cancel the workflow run",
            )
            .await
        {
            // 409: the run already finished; nothing to cancel.
            Err(e) if e.message.contains("HTTP 409") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// A file's text at the default branch, `None` when it does not exist.
    pub async fn file(&self, repo: &str, path: &str) -> Result<Option<String>, ExecError> {
        let crab = self.for_repo(repo).await?;
        #[derive(Deserialize)]
        struct Content {
            content: Option<String>,
            encoding: Option<String>,
        }
        match self
            .send_json::<Content>(
                &crab,
                "GET",
                &format!("/repos/{repo}/contents/{path}"),
                None,
                "read a file",
            )
            .await
        {
            Ok(c) => {
                let raw = c.content.unwrap_or_default().replace(['\n', '\r'], "");
                if c.encoding.as_deref() != Some("base64") {
                    return Ok(Some(raw));
                }
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .map_err(|e| {
                        ExecError::permanent(format!("{repo}/{path}: bad base64 content: {e}"))
                    })?;
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(e) if e.message.contains("HTTP 404") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GETs a JSON resource for backfill (relative path with its query).
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        repo: &str,
        path: &str,
    ) -> Result<T, ExecError> {
        let crab = self.for_repo(repo).await?;
        self.send_json(&crab, "GET", path, None, "backfill").await
    }
}

impl GitHubClient {
    /// Sends a request and returns the body of a 2xx response, or a classified error.
    async fn send(
        &self,
        crab: &Octocrab,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<bytes::Bytes, ExecError> {
        let result = tokio::time::timeout(self.timeout, async {
            match method {
                "GET" => crab._get(path).await,
                "POST" => crab._post(path, body.as_ref()).await,
                "PATCH" => crab._patch(path, body.as_ref()).await,
                _ => crab._delete(path, body.as_ref()).await,
            }
        })
        .await;
        let resp = match result {
            Err(_) => return Err(ExecError::transient(format!("{what}: timed out"))),
            Ok(Err(e)) => {
                return Err(ExecError::transient(format!(
                    "{what}: {}",
                    transport_message(&e)
                )));
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ExecError::transient(format!("{what}: reading the response: {e}")))?
            .to_bytes();
        crate::check_status(what, status, &headers, &bytes, self.clock.now())?;
        Ok(bytes)
    }

    /// Sends `{"body": text}` (a comment's text) and ignores the response body.
    async fn send_text(
        &self,
        crab: &Octocrab,
        method: &str,
        path: &str,
        text: &str,
        what: &str,
    ) -> Result<(), ExecError> {
        let body = Some(serde_json::json!({ "body": text }));
        self.send(crab, method, path, body, what).await.map(|_| ())
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        crab: &Octocrab,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<T, ExecError> {
        let bytes = self.send(crab, method, path, body, what).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ExecError::permanent(format!("{what}: unexpected response: {e}")))
    }
}

fn transport_message(e: &octocrab::Error) -> String {
    // Octocrab errors can carry request details; keep the kind only.
    let text = e.to_string();
    text.chars().take(200).collect()
}

/// Shared handle.
pub type SharedGitHub = Arc<GitHubClient>;
