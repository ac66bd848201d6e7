//! A digest's delivery: one outbox item per configured channel (issue or pinned-issue
//! comment, HTML file, email, private emails, chat webhook), each with an id unique per scope,
//! week and channel, so a digest is never sent twice.

use canopy_core::{Action, Enqueue, EnqueueMode};
use chrono::{DateTime, Utc};
use sha2::Digest as _;

use super::{Built, Scope};
use crate::config::DigestChannelsConfig;
use crate::messages;
use crate::repo_config::RepoConfig;

/// File-name-safe form of a repository name.
fn slug(repo: &str) -> String {
    repo.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The outbox items that deliver a digest on every configured channel; each id is unique per
/// repository, week and channel, so a digest is never sent twice.
#[allow(clippy::too_many_arguments)]
pub fn actions(
    built: &Built,
    scope: &Scope,
    platform: canopy_analyzer::Platform,
    cfg: &RepoConfig,
    channels: &DigestChannelsConfig,
    webhook: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Enqueue>> {
    let d = &built.digest;
    let base = format!("digest:{}:{}", scope.key(), d.week);
    let item = |channel: &str, action: Action| Enqueue {
        id: format!("{base}:{channel}"),
        action,
        due_at: now,
        mode: EnqueueMode::Once,
    };
    let title = format!("Canopy weekly digest: {} {}", d.repo, d.week);
    let mut out = Vec::new();
    if let Some((channel, action)) = issue(built, scope, platform, cfg, &title) {
        out.push(item(channel, action));
    }
    if channels.dir.is_some() || !channels.email_to.is_empty() {
        let html = built.html()?;
        if channels.dir.is_some() {
            let name = format!("{}-{}.html", slug(&scope.key()), d.week);
            let contents = html.clone();
            out.push(item("file", Action::WriteFile { name, contents }));
        }
        if !channels.email_to.is_empty() {
            let (to, subject, text) = (channels.email_to.clone(), title.clone(), built.markdown());
            let email = Action::SendEmail {
                to,
                subject,
                text,
                html,
            };
            out.push(item("email", email));
        }
    }
    if channels.private_emails && channels.smtp.is_some() {
        for (who, action) in private_emails(built) {
            out.push(item(&format!("private:{who}"), action));
        }
    }
    if webhook {
        let subject = format!("{} {}", d.repo, d.week);
        let text = built.chat_text();
        out.push(item("webhook", Action::PostWebhook { subject, text }));
    }
    Ok(out)
}

/// The digest on GitHub: a comment on the pinned issue if one is configured, else a new
/// labelled issue — in the configured repository, else in a GitHub repository itself.
fn issue(
    built: &Built,
    scope: &Scope,
    platform: canopy_analyzer::Platform,
    cfg: &RepoConfig,
    title: &str,
) -> Option<(&'static str, Action)> {
    let d = &built.digest;
    let repo = match (&cfg.digest.issue_repo, scope) {
        (Some(r), _) => r.clone(),
        (None, Scope::Repo(r)) if platform == canopy_analyzer::Platform::Github => r.clone(),
        _ => return None,
    };
    let marker = format!("<!-- canopy:digest:{}:{} -->", scope.key(), d.week);
    let body = format!("{marker}\n{}", built.markdown());
    if let Some(number) = cfg.digest.pinned_issue {
        let comment = Action::PostComment {
            repo,
            number,
            body,
            marker,
        };
        return Some(("comment", comment));
    }
    cfg.digest.issue.then(|| {
        let issue = Action::CreateIssue {
            repo,
            title: title.to_string(),
            body,
            labels: cfg.digest.labels.clone(),
            marker,
        };
        ("issue", issue)
    })
}

/// Each private section as an email to its person alone, keyed by a hash of the address (ids
/// appear in logs; addresses must not).
fn private_emails(built: &Built) -> Vec<(String, Action)> {
    let week = &built.digest.week;
    built
        .private
        .iter()
        .map(|p| {
            let who = hex::encode(sha2::Sha256::digest(p.email.as_bytes()))[..12].to_string();
            let email = Action::SendEmail {
                to: vec![p.email.clone()],
                subject: format!("Your Canopy week {week} (private)"),
                html: messages::private_digest_html(week, &p.text),
                text: p.text.clone(),
            };
            (who, email)
        })
        .collect()
}
