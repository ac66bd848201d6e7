//! Performs actions on the real platforms: GitHub and Gerrit through their clients, digests
//! through the configured channels. A platform without credentials fails the action
//! permanently, with what to configure.

use std::sync::Arc;

use canopy_core::{Action, BoxFuture, ExecError, OutboxItem, Platform, STICKY_MARKER};
use canopy_forge::gerrit::client::GerritClient;
use canopy_forge::github::client::GitHubClient;
use canopy_service::channels::Channels;
use chrono::{DateTime, Utc};

use crate::outbox_worker::Execute;

/// Performs actions on the real platforms.
pub struct PlatformExecutor {
    /// GitHub client, when credentials are configured.
    pub github: Option<Arc<GitHubClient>>,
    /// Gerrit client, when credentials are configured.
    pub gerrit: Option<Arc<GerritClient>>,
    /// Digest channels (webhook, files, email).
    pub channels: Option<Arc<Channels>>,
}

impl Execute for PlatformExecutor {
    fn execute<'a>(&'a self, item: &'a OutboxItem) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            match item.action.platform() {
                Platform::Github => self.on_github(&item.action).await,
                Platform::Gerrit => self.on_gerrit(&item.action, item.created_at).await,
                Platform::Git => self.on_channels(&item.action).await,
            }
        })
    }
}

/// An action handed to the wrong platform (a bug, never retried).
fn misrouted(a: &Action, to: &str) -> ExecError {
    ExecError::permanent(format!("{} is not an action on {to}", a.name()))
}

impl PlatformExecutor {
    async fn on_github(&self, a: &Action) -> Result<(), ExecError> {
        let gh = self.github.as_ref().ok_or_else(|| {
            ExecError::permanent(
                "no GitHub API credentials configured (CANOPY_GITHUB_TOKEN or a GitHub App)",
            )
        })?;
        match a {
            Action::CreateIssue {
                repo,
                title,
                body,
                labels,
                marker,
            } => gh
                .create_issue_once(repo, title, body, labels, marker)
                .await
                .map(|_| ()),
            Action::UpsertComment { repo, number, body } => {
                gh.upsert_marked_comment(repo, *number, STICKY_MARKER, body)
                    .await
            }
            Action::PostComment {
                repo,
                number,
                body,
                marker,
            } => gh.post_once(repo, *number, marker, body).await,
            Action::RerunFailedJobs { repo, run_id } => gh.rerun_failed_jobs(repo, *run_id).await,
            Action::CancelRun { repo, run_id } => gh.cancel_run(repo, *run_id).await,
            other => Err(misrouted(other, "GitHub")),
        }
    }

    async fn on_gerrit(&self, a: &Action, created_at: DateTime<Utc>) -> Result<(), ExecError> {
        let g = self.gerrit.as_ref().ok_or_else(|| {
            ExecError::permanent(
                "no Gerrit API credentials configured ([gerrit] url and CANOPY_GERRIT_PASSWORD)",
            )
        })?;
        match a {
            Action::PostReviewMessage {
                project,
                change,
                patchset,
                body,
            } => g.post_message_once(project, *change, *patchset, body).await,
            Action::GerritRecheck {
                project,
                change,
                patchset,
            } => {
                g.recheck_once(project, *change, *patchset, created_at)
                    .await
            }
            other => Err(misrouted(other, "Gerrit")),
        }
    }

    async fn on_channels(&self, a: &Action) -> Result<(), ExecError> {
        let c = self
            .channels
            .as_ref()
            .ok_or_else(|| ExecError::permanent("no digest channels configured ([digest])"))?;
        match a {
            Action::PostWebhook { text, .. } => c.post_webhook(text).await,
            Action::WriteFile { name, contents } => c.write_file(name, contents),
            Action::SendEmail {
                to,
                subject,
                text,
                html,
            } => c.send_email(to, subject, text, html).await,
            other => Err(misrouted(other, "a digest channel")),
        }
    }
}
