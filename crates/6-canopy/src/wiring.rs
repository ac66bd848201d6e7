//! Builds the bot's parts from the configuration file and the environment: the store, the
//! normaliser, the reactor with per-repository settings, and the platform clients. The only
//! place that reads API credentials from the environment (the commands pass the lookup in),
//! and the only one that names a store backend.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use canopy_core::Clock;
use canopy_forge::gerrit::client::{GerritAuth, GerritClient};
use canopy_forge::gerrit::normalize::GerritNormalizeConfig;
use canopy_forge::github::client::{GitHubAuth, GitHubClient};
use canopy_forge::normalize::PlatformNormalizer;
use canopy_server::outbox_worker::PlatformExecutor;
use canopy_server::secrets::Secrets;
use canopy_service::config::Config;
use canopy_service::react::Reactor;
use canopy_service::repo_config::RepoConfigs;
use canopy_store::{RedbStore, Store};

/// Opens (or creates) the store in `dir`: the embedded redb store.
pub fn open_store(dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    Ok(Arc::new(RedbStore::open(dir)?))
}

/// Opens a scratch embedded store in `dir` (a temporary one, such as the demo's): commits are
/// not flushed to disk one by one (see `RedbStore::open_scratch`).
pub fn open_scratch_store(dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    Ok(Arc::new(RedbStore::open_scratch(dir)?))
}

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
    let configs = Arc::new(RepoConfigs::new(cfg.defaults.clone(), cfg.privacy.min_k));
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
    clock: Arc<dyn Clock>,
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
            clock.clone(),
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
                clock.clone(),
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
            clock.clone(),
        )?),
        (Some(url), None, Some(token)) => Some(GerritClient::new(
            url,
            GerritAuth::Bearer(token.trim().to_string()),
            Duration::from_secs(cfg.gerrit.timeout_secs),
            clock.clone(),
        )?),
        (Some(_), _, None) => anyhow::bail!(
            "gerrit.url is set but {GERRIT_PASSWORD_VAR} (or {GERRIT_PASSWORD_VAR}_FILE) is not"
        ),
        (None, _, _) => None,
    };
    Ok(PlatformExecutor {
        github: github.map(Arc::new),
        gerrit: gerrit.map(Arc::new),
        channels: Some(Arc::new(channels(cfg, env)?)),
    })
}

/// Environment variable with the digest chat webhook URL (Slack or Matrix; or `_FILE`).
pub const DIGEST_WEBHOOK_VAR: &str = "CANOPY_DIGEST_WEBHOOK_URL";
/// Environment variable with the SMTP password (or `_FILE`).
pub const SMTP_PASSWORD_VAR: &str = "CANOPY_SMTP_PASSWORD";

/// Whether a digest chat webhook is configured in the environment.
pub fn digest_webhook_configured(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env(DIGEST_WEBHOOK_VAR).is_some() || env(&format!("{DIGEST_WEBHOOK_VAR}_FILE")).is_some()
}

/// The digest channels the configuration and environment allow.
pub fn channels(
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<canopy_service::channels::Channels> {
    let webhook_url = secret_text(DIGEST_WEBHOOK_VAR, env)?.map(|u| u.trim().to_string());
    if let Some(u) = &webhook_url {
        anyhow::ensure!(
            u.starts_with("https://") || u.starts_with("http://"),
            "{DIGEST_WEBHOOK_VAR} must be an http(s) URL"
        );
    }
    let smtp = match &cfg.digest.smtp {
        Some(s) => {
            let credentials = match &s.username {
                Some(u) => {
                    let p = secret_text(SMTP_PASSWORD_VAR, env)?.with_context(|| {
                        format!("digest.smtp.username is set but {SMTP_PASSWORD_VAR} (or {SMTP_PASSWORD_VAR}_FILE) is not")
                    })?;
                    Some((u.clone(), p.trim().to_string()))
                }
                None => None,
            };
            Some(canopy_service::channels::Smtp {
                host: s.host.clone(),
                port: s.port,
                security: s.security,
                from: s.from.clone(),
                credentials,
            })
        }
        None => None,
    };
    Ok(canopy_service::channels::Channels {
        http: reqwest::Client::builder()
            .build()
            .context("building the HTTP client")?,
        webhook_url,
        dir: cfg.digest.dir.clone(),
        smtp,
    })
}

/// Environment variable holding the Electricity Maps token.
pub const ELECTRICITY_MAPS_TOKEN_VAR: &str = "CANOPY_ELECTRICITYMAPS_TOKEN";

/// The grid-intensity provider of every configured region.
pub fn grid_providers(
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<(String, canopy_service::carbon::Provider)>> {
    use canopy_service::carbon::Provider;
    use canopy_service::carbon::provider::{ELECTRICITY_MAPS_API, UK_API};
    use canopy_service::config::ProviderKind;
    let mut out = Vec::new();
    for (name, r) in &cfg.grid.regions {
        let p = match r.provider {
            ProviderKind::Fixed => Provider::Fixed(r.value.unwrap_or_default()),
            ProviderKind::Csv => Provider::Csv {
                path: r.path.clone().unwrap_or_default(),
                column: r.column.clone(),
            },
            ProviderKind::Uk => Provider::UkGrid {
                api_url: r.api_url.clone().unwrap_or_else(|| UK_API.into()),
                region_id: r.region_id,
            },
            ProviderKind::Electricitymaps => Provider::ElectricityMaps {
                api_url: r.api_url.clone().unwrap_or_else(|| ELECTRICITY_MAPS_API.into()),
                zone: r.zone.clone().unwrap_or_default(),
                token: secret_text(ELECTRICITY_MAPS_TOKEN_VAR, env)?
                    .map(|t| t.trim().to_string())
                    .with_context(|| {
                        format!("grid.regions.{name} uses Electricity Maps: set {ELECTRICITY_MAPS_TOKEN_VAR} (or {ELECTRICITY_MAPS_TOKEN_VAR}_FILE)")
                    })?,
            },
        };
        out.push((name.clone(), p));
    }
    Ok(out)
}
