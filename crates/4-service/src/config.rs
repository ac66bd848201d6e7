//! The server's configuration file (TOML). Unknown keys are errors that name the key; every key
//! has a documented default (see `deploy/canopy.example.toml`). Secrets never live here: they
//! come from environment variables or files named by them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP server and store.
    #[serde(default)]
    pub server: ServerConfig,
    /// Gerrit instance.
    #[serde(default)]
    pub gerrit: GerritConfig,
    /// GitHub API access.
    #[serde(default)]
    pub github: GitHubConfig,
    /// Outgoing actions.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// Time-to-merge models.
    #[serde(default)]
    pub ttm: TtmConfig,
    /// Grid carbon-intensity data per region.
    #[serde(default)]
    pub grid: GridConfig,
    /// Where digests go besides the platform.
    #[serde(default)]
    pub digest: DigestChannelsConfig,
    /// Privacy-reviewed reports.
    #[serde(default)]
    pub reports: ReportsConfig,
    /// Settings for repositories that have no `.github/canopy.toml` of their own (same keys).
    #[serde(default)]
    pub defaults: crate::repo_config::RepoConfig,
}

/// `[digest]` of the server file: channels for scheduled digests. A Slack/Matrix-compatible
/// webhook is used when `CANOPY_DIGEST_WEBHOOK_URL(_FILE)` is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestChannelsConfig {
    /// Directory each digest is also written to as HTML with charts. Default none.
    pub dir: Option<PathBuf>,
    /// Email recipients of every digest (needs `[digest.smtp]`). Default none.
    pub email_to: Vec<String>,
    /// SMTP server for email.
    pub smtp: Option<SmtpConfig>,
    /// Seconds between looks at the repositories' digest schedules. Default 60.
    pub poll_secs: u64,
    /// Also email each opted-in person with an email identity their own private section
    /// (needs `[digest.smtp]`). Default false.
    pub private_emails: bool,
    /// Organisation digests over every repository `<org>/...`, by organisation (same keys as a
    /// repository's `[digest]`; set `issue_repo` for the issue).
    pub orgs: std::collections::BTreeMap<String, crate::repo_config::DigestSchedule>,
}

impl Default for DigestChannelsConfig {
    fn default() -> Self {
        DigestChannelsConfig {
            dir: None,
            email_to: Vec::new(),
            smtp: None,
            poll_secs: 60,
            private_emails: false,
            orgs: Default::default(),
        }
    }
}

/// `[digest.smtp]`; the password comes from `CANOPY_SMTP_PASSWORD(_FILE)`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host.
    pub host: String,
    /// Port. Default 587.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `none`, `starttls` or `tls`. Default `starttls`.
    #[serde(default = "default_smtp_security")]
    pub security: crate::channels::SmtpSecurity,
    /// Sender, e.g. `Canopy <canopy@example.org>`.
    pub from: String,
    /// Login, if the server needs one.
    pub username: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_security() -> crate::channels::SmtpSecurity {
    crate::channels::SmtpSecurity::Starttls
}

/// `[reports]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Who may approve a report (`canopy report approve --reviewer NAME`). Default none: no
    /// report can be approved until reviewers are named.
    pub reviewers: Vec<String>,
    /// Smallest group a published cell may count; reports made with a smaller k fail review.
    /// Default 5.
    pub min_k: u64,
    /// Differential-privacy epsilon allowed per period over all its reports. Default 3.0.
    pub epsilon_per_period: f64,
    /// File with the pseudonym key (any bytes; replace it to rotate). Default
    /// `<store>/pseudonym.key`, created with 32 random bytes on first use.
    pub key_file: Option<PathBuf>,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            reviewers: Vec::new(),
            min_k: canopy_policies::report::DEFAULT_MIN_K,
            epsilon_per_period: 3.0,
            key_file: None,
        }
    }
}

/// `[github]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitHubConfig {
    /// REST API base URL. Default `https://api.github.com`.
    pub api_url: String,
    /// GitHub App id; its private key comes from `CANOPY_GITHUB_APP_KEY(_FILE)`. Without an app
    /// id, a token from `CANOPY_GITHUB_TOKEN(_FILE)` is used if set.
    pub app_id: Option<u64>,
    /// The bot's own login, whose comments are never read as commands. Default `canopy[bot]`.
    pub bot_login: String,
    /// Seconds before a GitHub request is abandoned (and retried). Default 20.
    pub timeout_secs: u64,
    /// Seconds between refreshes of each repository's `.github/canopy.toml`. Default 600.
    pub settings_refresh_secs: u64,
}

impl Default for GitHubConfig {
    fn default() -> Self {
        GitHubConfig {
            api_url: "https://api.github.com".into(),
            app_id: None,
            bot_login: "canopy[bot]".into(),
            timeout_secs: 20,
            settings_refresh_secs: 600,
        }
    }
}

/// `[outbox]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Attempts before an action goes to the dead-letter list. Default 8 (about 4 minutes of
    /// backoff, longer when rate limited).
    pub max_attempts: u32,
    /// First retry delay in milliseconds, doubled at each attempt (±20% jitter). Default 1000.
    pub backoff_base_ms: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_attempts: 8,
            backoff_base_ms: 1000,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`--listen` overrides). Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Store: a directory (embedded redb) or a `postgres://` URL (`--store` and
    /// `CANOPY_STORE` override). No default: it must be given somewhere.
    pub store: Option<PathBuf>,
    /// Workers turning deliveries into events. Default 2.
    pub workers: usize,
    /// Largest accepted webhook body in MiB. Default 25 (GitHub's own cap).
    pub max_body_mib: usize,
    /// Seconds a client has to send its request headers. Default 10.
    pub header_timeout_secs: u64,
    /// Seconds a whole request may take. Default 30.
    pub request_timeout_secs: u64,
    /// Request body bytes held at once across all connections, in MiB; a request beyond it
    /// is answered 503 with `Retry-After` before its body is read. Default 256.
    pub max_inflight_mib: usize,
    /// Concurrent connections from one peer address; more are answered 503 and closed.
    /// Default 64.
    pub max_connections_per_peer: usize,
    /// Seconds a claimed delivery or outbox action stays one replica's before another may
    /// take it over (the claimant is presumed dead). Default 60.
    pub claim_lease_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: None,
            workers: 2,
            max_body_mib: 25,
            header_timeout_secs: 10,
            request_timeout_secs: 30,
            max_inflight_mib: 256,
            max_connections_per_peer: 64,
            claim_lease_secs: 60,
        }
    }
}

/// `[gerrit]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GerritConfig {
    /// Host name of the Gerrit server, used in account identities. Default `gerrit`.
    pub host: String,
    /// Accounts whose comments are CI reports (Zuul, Jenkins). Default `["zuul"]`.
    pub ci_accounts: Vec<String>,
    /// REST base URL (`https://review.example.org`); set it to let Canopy post on Gerrit.
    pub url: Option<String>,
    /// Username for HTTP basic auth; the HTTP password comes from `CANOPY_GERRIT_PASSWORD(_FILE)`.
    pub username: Option<String>,
    /// Seconds before a Gerrit request is abandoned (and retried). Default 20.
    pub timeout_secs: u64,
}

impl Default for GerritConfig {
    fn default() -> Self {
        GerritConfig {
            host: "gerrit".into(),
            ci_accounts: vec!["zuul".into()],
            url: None,
            username: None,
            timeout_secs: 20,
        }
    }
}

/// `[grid]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GridConfig {
    /// Minutes between refreshes of every region's data. Default 30.
    pub refresh_minutes: u64,
    /// Regions by name (the name a repository gives as `carbon.region`).
    pub regions: std::collections::BTreeMap<String, RegionConfig>,
}

impl Default for GridConfig {
    fn default() -> Self {
        GridConfig {
            refresh_minutes: 30,
            regions: Default::default(),
        }
    }
}

/// Where a region's intensity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// `value` at all times.
    Fixed,
    /// A CSV series at `path` (column `column` when not guessed).
    Csv,
    /// UK National Grid Carbon Intensity API (national, or `region_id` 1–17).
    Uk,
    /// Electricity Maps (`zone`; token from `CANOPY_ELECTRICITYMAPS_TOKEN(_FILE)`).
    Electricitymaps,
}

/// `[grid.regions.<name>]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// The provider.
    pub provider: ProviderKind,
    /// Fixed value, gCO2e/kWh.
    pub value: Option<f64>,
    /// CSV file.
    pub path: Option<PathBuf>,
    /// CSV intensity column.
    pub column: Option<String>,
    /// UK regional id.
    pub region_id: Option<u32>,
    /// Electricity Maps zone.
    pub zone: Option<String>,
    /// API base URL (defaults to the provider's public API).
    pub api_url: Option<String>,
}

/// `[ttm]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtmConfig {
    /// Hours between retrainings of the time-to-merge models; also how old a model may be at
    /// startup before it is retrained at once. 0 turns retraining off. Default 168 (weekly):
    /// between retrainings the adaptive interval and the fallback follow every merge, and
    /// `canopy ttm eval` evaluates this same cadence by default.
    pub retrain_hours: u64,
    /// Fewest merged changes for a repository's own model; smaller repositories get a model
    /// pooled over every repository in the store, and the comment says so. Default 200.
    pub min_repo_changes: usize,
}

impl Default for TtmConfig {
    fn default() -> Self {
        TtmConfig {
            retrain_hours: canopy_models::ttm::walk::SERVE_RETRAIN_HOURS,
            min_repo_changes: 200,
        }
    }
}

impl Config {
    /// Parses a configuration; the error names the offending key and line.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("invalid configuration in {}", path.display()))
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.server.validate()?;
        anyhow::ensure!(
            !self.gerrit.host.trim().is_empty(),
            "gerrit.host must not be empty"
        );
        anyhow::ensure!(
            self.reports.min_k >= 2,
            "reports.min_k must be at least 2, got {}",
            self.reports.min_k
        );
        anyhow::ensure!(
            self.reports.epsilon_per_period > 0.0 && self.reports.epsilon_per_period.is_finite(),
            "reports.epsilon_per_period must be a positive number"
        );
        self.validate_digest()?;
        self.grid.validate()
    }

    fn validate_digest(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.digest.email_to.is_empty() || self.digest.smtp.is_some(),
            "digest.email_to is set but [digest.smtp] is not"
        );
        anyhow::ensure!(
            !self.digest.private_emails || self.digest.smtp.is_some(),
            "digest.private_emails is set but [digest.smtp] is not"
        );
        if let Err(e) = self.defaults.digest.parsed() {
            anyhow::bail!("defaults.{e}");
        }
        for (org, d) in &self.digest.orgs {
            if let Err(e) = d.parsed() {
                anyhow::bail!("digest.orgs.{org}: {e}");
            }
            anyhow::ensure!(
                !org.is_empty() && !org.contains('/'),
                "digest.orgs: {org:?} is not an organisation name"
            );
        }
        Ok(())
    }
}

impl ServerConfig {
    fn validate(&self) -> anyhow::Result<()> {
        let s = self;
        anyhow::ensure!(
            s.workers >= 1 && s.workers <= 256,
            "server.workers must be between 1 and 256, got {}",
            s.workers
        );
        anyhow::ensure!(
            s.max_body_mib >= 1 && s.max_body_mib <= 100,
            "server.max_body_mib must be between 1 and 100, got {}",
            s.max_body_mib
        );
        anyhow::ensure!(
            s.header_timeout_secs >= 1,
            "server.header_timeout_secs must be at least 1"
        );
        anyhow::ensure!(
            s.request_timeout_secs >= 1,
            "server.request_timeout_secs must be at least 1"
        );
        anyhow::ensure!(
            s.max_inflight_mib >= s.max_body_mib,
            "server.max_inflight_mib ({}) must be at least server.max_body_mib ({}), or no large delivery could ever be read",
            s.max_inflight_mib,
            s.max_body_mib
        );
        anyhow::ensure!(
            s.max_connections_per_peer >= 1,
            "server.max_connections_per_peer must be at least 1"
        );
        Ok(())
    }
}

impl GridConfig {
    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.refresh_minutes >= 1,
            "grid.refresh_minutes must be at least 1"
        );
        for (name, r) in &self.regions {
            let missing = |key: &str| {
                anyhow::anyhow!(
                    "grid.regions.{name}: provider {:?} needs `{key}`",
                    r.provider
                )
            };
            match r.provider {
                ProviderKind::Fixed => {
                    let v = r.value.ok_or_else(|| missing("value"))?;
                    anyhow::ensure!(
                        v.is_finite() && v >= 0.0,
                        "grid.regions.{name}.value must be a non-negative number"
                    );
                }
                ProviderKind::Csv => {
                    r.path.as_ref().ok_or_else(|| missing("path"))?;
                }
                ProviderKind::Uk => {
                    if let Some(id) = r.region_id {
                        anyhow::ensure!(
                            (1..=17).contains(&id),
                            "grid.regions.{name}.region_id must be 1–17, got {id}"
                        );
                    }
                }
                ProviderKind::Electricitymaps => {
                    r.zone.as_ref().ok_or_else(|| missing("zone"))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_unknown_keys_are_named() {
        let c = Config::parse("").unwrap();
        assert_eq!(c, Config::default());
        let c = Config::parse("[server]\nworkers = 4\n[gerrit]\nhost = \"review.opendev.org\"\n")
            .unwrap();
        assert_eq!(c.server.workers, 4);
        assert_eq!(c.gerrit.ci_accounts, ["zuul"]);
        let err = format!(
            "{:#}",
            Config::parse("[server]\nworkerz = 4\n").unwrap_err()
        );
        assert!(err.contains("workerz"), "{err}");
        let err = format!(
            "{:#}",
            Config::parse("[server]\nworkers = 0\n").unwrap_err()
        );
        assert!(err.contains("server.workers"), "{err}");
        let err = format!(
            "{:#}",
            Config::parse("[server]\nlisten = \"nowhere\"\n").unwrap_err()
        );
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn the_example_file_parses_and_documents_every_key() {
        let text = include_str!("../../../deploy/canopy.example.toml");
        let parsed = Config::parse(text).unwrap();
        assert_eq!(parsed.server.workers, ServerConfig::default().workers);
        for key in [
            "listen",
            "store",
            "workers",
            "max_body_mib",
            "header_timeout_secs",
            "request_timeout_secs",
            "max_inflight_mib",
            "max_connections_per_peer",
            "host",
            "ci_accounts",
        ] {
            assert!(
                text.contains(&format!("{key} =")),
                "example does not document {key}"
            );
        }
    }
}
