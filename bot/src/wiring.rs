//! Builds the bot's parts from the configuration file and the environment: the normaliser, the
//! reactor with per-repository settings, and the platform clients. The only place that reads
//! API credentials from the environment (the commands pass the lookup in).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::gerrit::client::{GerritAuth, GerritClient};
use crate::gerrit::normalize::GerritNormalizeConfig;
use crate::github::client::{GitHubAuth, GitHubClient};
use crate::normalize::PlatformNormalizer;
use crate::outbox::PlatformExecutor;
use crate::react::{Reactor, RepoConfigs};
use crate::secrets::Secrets;

/// Environment variable with a GitHub token (or `_FILE`).
pub const GITHUB_TOKEN_VAR: &str = "CANOPY_GITHUB_TOKEN";
/// Environment variable with the GitHub App's private key, PEM (or `_FILE`).
pub const GITHUB_APP_KEY_VAR: &str = "CANOPY_GITHUB_APP_KEY";
/// Environment variable with the Gerrit HTTP password (or `_FILE`).
pub const GERRIT_PASSWORD_VAR: &str = "CANOPY_GERRIT_PASSWORD";

/// The normaliser for the configured Gerrit instance.
pub fn normalizer(cfg: &Config) -> PlatformNormalizer {
    PlatformNormalizer {
        gerrit: GerritNormalizeConfig {
            host: cfg.gerrit.host.clone(),
            ci_accounts: cfg.gerrit.ci_accounts.clone(),
        },
    }
}

/// The reactor with the server's default repository settings.
pub fn reactor(cfg: &Config) -> (Reactor, Arc<RepoConfigs>) {
    let configs = Arc::new(RepoConfigs::with_defaults(cfg.defaults.clone()));
    let mut r = Reactor::new(configs.clone());
    if !r.bot_logins.contains(&cfg.github.bot_login) {
        r.bot_logins.push(cfg.github.bot_login.clone());
    }
    (r, configs)
}

/// One secret value from `VAR` or `VAR_FILE` (the first line of the file for keys is not
/// enough: PEM keys are read whole).
fn secret_text(var: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Option<String>> {
    if let Some(v) = env(var) {
        return Ok(Some(v));
    }
    let file_var = format!("{var}_FILE");
    match env(&file_var) {
        Some(path) => Ok(Some(std::fs::read_to_string(&path).with_context(|| {
            format!("reading the file named by {file_var} ({path})")
        })?)),
        None => Ok(None),
    }
}

/// The platform clients the credentials allow; either may be absent (then Canopy only listens
/// on that platform, and actions for it fail with a clear reason).
pub fn executor(
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<PlatformExecutor> {
    let github = match (
        cfg.github.app_id,
        secret_text(GITHUB_APP_KEY_VAR, env)?,
        secret_text(GITHUB_TOKEN_VAR, env)?,
    ) {
        (Some(app_id), Some(key), _) => Some(GitHubClient::new(
            &cfg.github.api_url,
            GitHubAuth::App {
                app_id,
                private_key_pem: key,
            },
            Duration::from_secs(cfg.github.timeout_secs),
        )?),
        (Some(_), None, _) => anyhow::bail!(
            "github.app_id is set but {GITHUB_APP_KEY_VAR} (or {GITHUB_APP_KEY_VAR}_FILE) is not"
        ),
        (None, _, Some(token)) => {
            let token = Secrets::new([token])
                .iter()
                .next()
                .map(str::to_string)
                .unwrap_or_default();
            Some(GitHubClient::new(
                &cfg.github.api_url,
                GitHubAuth::Token(token),
                Duration::from_secs(cfg.github.timeout_secs),
            )?)
        }
        (None, _, None) => None,
    };
    let gerrit = match (
        &cfg.gerrit.url,
        &cfg.gerrit.username,
        secret_text(GERRIT_PASSWORD_VAR, env)?,
    ) {
        (Some(url), Some(user), Some(password)) => Some(GerritClient::new(
            url,
            GerritAuth::Basic {
                username: user.clone(),
                password: password.trim().to_string(),
            },
            Duration::from_secs(cfg.gerrit.timeout_secs),
        )?),
        (Some(url), None, Some(token)) => Some(GerritClient::new(
            url,
            GerritAuth::Bearer(token.trim().to_string()),
            Duration::from_secs(cfg.gerrit.timeout_secs),
        )?),
        (Some(_), _, None) => anyhow::bail!(
            "gerrit.url is set but {GERRIT_PASSWORD_VAR} (or {GERRIT_PASSWORD_VAR}_FILE) is not"
        ),
        (None, _, _) => None,
    };
    Ok(PlatformExecutor {
        github: github.map(Arc::new),
        gerrit: gerrit.map(Arc::new),
    })
}
