//! What Canopy does on GitHub and Gerrit: every outgoing effect is one of these actions, stored
//! in the outbox before it is performed.

use canopy_analyzer::Platform;
use serde::{Deserialize, Serialize};

/// Hidden marker that identifies Canopy's sticky comment on a PR.
pub const STICKY_MARKER: &str = "<!-- canopy:sticky -->";

/// One outgoing effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create or edit the single sticky comment on a GitHub PR (found by [`STICKY_MARKER`]).
    UpsertComment {
        /// `owner/name`.
        repo: String,
        /// PR number.
        number: u64,
        /// Full body, marker included.
        body: String,
    },
    /// Post a one-off comment (a reply to a command), once: `marker` identifies it so a retry
    /// after a lost response does not post it twice.
    PostComment {
        /// `owner/name`.
        repo: String,
        /// PR or issue number.
        number: u64,
        /// Body, marker included.
        body: String,
        /// Hidden marker unique to this comment.
        marker: String,
    },
    /// Post a review message on a Gerrit change's patchset, once (by `tag` and text).
    PostReviewMessage {
        /// Gerrit project.
        project: String,
        /// Change number.
        change: u64,
        /// Patchset (revision) to post on; 0 means the current revision.
        patchset: u32,
        /// Message text.
        body: String,
    },
    /// Re-run the failed jobs of a GitHub Actions workflow run.
    RerunFailedJobs {
        /// `owner/name`.
        repo: String,
        /// Workflow run id.
        run_id: u64,
    },
    /// Cancel a GitHub Actions workflow run (a rerun that was deferred to a greener window).
    CancelRun {
        /// `owner/name`.
        repo: String,
        /// Workflow run id.
        run_id: u64,
    },
    /// Ask Zuul to run the checks again with a `recheck` review message.
    GerritRecheck {
        /// Gerrit project.
        project: String,
        /// Change number.
        change: u64,
        /// Patchset.
        patchset: u32,
    },
    /// Open a labelled GitHub issue (the weekly digest), once: `marker` identifies it.
    CreateIssue {
        /// `owner/name`.
        repo: String,
        /// Title.
        title: String,
        /// Body, marker included.
        body: String,
        /// Labels.
        labels: Vec<String>,
        /// Hidden marker unique to this issue.
        marker: String,
    },
    /// Post a message to a Slack- or Matrix-compatible incoming webhook (`{"text": ...}`); the
    /// URL comes from the server's environment, never from the store.
    PostWebhook {
        /// What the message is about (`owner/name 2026-W47`), for logs.
        subject: String,
        /// Message text (Markdown).
        text: String,
    },
    /// Write a file (the HTML digest) into the configured directory, atomically.
    WriteFile {
        /// File name inside the directory (no path separators).
        name: String,
        /// Contents.
        contents: String,
    },
    /// Send an email through the configured SMTP server.
    SendEmail {
        /// Recipients.
        to: Vec<String>,
        /// Subject.
        subject: String,
        /// Plain-text body.
        text: String,
        /// HTML body.
        html: String,
    },
}

impl Action {
    /// Where it acts: `github`, `gerrit`, or the digest channel (`webhook`, `file`, `email`).
    pub fn channel(&self) -> &'static str {
        match self {
            Action::PostWebhook { .. } => "webhook",
            Action::WriteFile { .. } => "file",
            Action::SendEmail { .. } => "email",
            other => other.platform().as_str(),
        }
    }

    /// The code platform it acts on (channels outside GitHub and Gerrit count as `git`).
    pub fn platform(&self) -> Platform {
        match self {
            Action::UpsertComment { .. }
            | Action::PostComment { .. }
            | Action::RerunFailedJobs { .. }
            | Action::CancelRun { .. } => Platform::Github,
            Action::PostReviewMessage { .. } | Action::GerritRecheck { .. } => Platform::Gerrit,
            Action::CreateIssue { .. } => Platform::Github,
            // Channels outside the code platforms.
            Action::PostWebhook { .. } | Action::WriteFile { .. } | Action::SendEmail { .. } => {
                Platform::Git
            }
        }
    }

    /// The short name used in JSON and logs (`upsert_comment`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::UpsertComment { .. } => "upsert_comment",
            Action::PostComment { .. } => "post_comment",
            Action::PostReviewMessage { .. } => "post_review_message",
            Action::RerunFailedJobs { .. } => "rerun_failed_jobs",
            Action::CancelRun { .. } => "cancel_run",
            Action::GerritRecheck { .. } => "gerrit_recheck",
            Action::CreateIssue { .. } => "create_issue",
            Action::PostWebhook { .. } => "post_webhook",
            Action::WriteFile { .. } => "write_file",
            Action::SendEmail { .. } => "send_email",
        }
    }

    /// What it acts on: `owner/name#7` or `project~4711/3`.
    pub fn target(&self) -> String {
        match self {
            Action::UpsertComment { repo, number, .. }
            | Action::PostComment { repo, number, .. } => {
                format!("{repo}#{number}")
            }
            Action::RerunFailedJobs { repo, run_id } | Action::CancelRun { repo, run_id } => {
                format!("{repo}/actions/runs/{run_id}")
            }
            Action::PostReviewMessage {
                project,
                change,
                patchset,
                ..
            }
            | Action::GerritRecheck {
                project,
                change,
                patchset,
                ..
            } => format!("{project}~{change}/{patchset}"),
            Action::CreateIssue { repo, .. } => format!("{repo}/issues"),
            Action::PostWebhook { subject, .. } => format!("webhook: {subject}"),
            Action::WriteFile { name, .. } => format!("file: {name}"),
            Action::SendEmail { to, .. } => format!("email to {} recipients", to.len()),
        }
    }

    /// The text it posts, if any.
    pub fn body(&self) -> Option<&str> {
        match self {
            Action::UpsertComment { body, .. }
            | Action::PostComment { body, .. }
            | Action::PostReviewMessage { body, .. }
            | Action::CreateIssue { body, .. } => Some(body),
            Action::PostWebhook { text, .. } | Action::SendEmail { text, .. } => Some(text),
            Action::WriteFile { .. } => None,
            Action::GerritRecheck { .. } => Some("recheck"),
            Action::RerunFailedJobs { .. } | Action::CancelRun { .. } => None,
        }
    }

    /// The JSON line printed in dry-run mode: `action`, `platform`, `target`, `body`.
    pub fn dry_run_line(&self, id: &str, due: Option<chrono::DateTime<chrono::Utc>>) -> String {
        let mut v = serde_json::json!({
            "action": self.name(),
            "platform": self.channel(),
            "target": self.target(),
            "id": id,
        });
        if let Some(b) = self.body() {
            v["body"] = serde_json::Value::String(b.to_string());
        }
        if let Some(t) = due {
            v["due"] = serde_json::Value::String(t.to_rfc3339());
        }
        v.to_string()
    }
}
