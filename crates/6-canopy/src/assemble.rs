//! The whole bot from a configuration, an environment, a store and a clock: every part and
//! loop `app::start` runs. `canopy serve` starts it with the system clock; the end-to-end
//! harness starts the same thing in-process with a manual clock.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use canopy_core::{Clock, Normalize};
use canopy_server::app::{AppConfig, Digests};
use canopy_server::http::Limits;
use canopy_server::loops::{ConfigRefresher, GridRefresher, Retrainer};
use canopy_server::outbox_worker::{DryRunExecutor, Execute};
use canopy_server::secrets::Secrets;
use canopy_service::config::Config;
use canopy_service::repo_config_refresh;
use canopy_store::Store;

use crate::wiring;

/// What `canopy serve` takes from its command line and environment besides the file.
#[derive(Clone)]
pub struct ServeOptions {
    /// Worker count (the file's `server.workers` unless overridden).
    pub workers: usize,
    /// Accepted GitHub webhook secrets.
    pub github_secrets: Secrets,
    /// Accepted Gerrit webhook secrets.
    pub gerrit_secrets: Secrets,
    /// Print actions instead of performing them.
    pub dry_run: bool,
}

/// A name for this process's claims and leases, unique among the replicas sharing a store:
/// the host name (a pod's name on Kubernetes), the process id and a random suffix, so that a
/// restarted replica never mistakes its dead predecessor's claims for its own.
pub fn instance_name(env: &dyn Fn(&str) -> Option<String>) -> String {
    let host = env("HOSTNAME").unwrap_or_else(|| "canopy".into());
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

/// The request limits of the configuration.
pub fn limits(cfg: &Config) -> Limits {
    let s = &cfg.server;
    Limits {
        max_body_bytes: s.max_body_mib * 1024 * 1024,
        header_timeout: Duration::from_secs(s.header_timeout_secs),
        request_timeout: Duration::from_secs(s.request_timeout_secs),
        inflight_bytes: s.max_inflight_mib * 1024 * 1024,
        connections_per_peer: s.max_connections_per_peer,
        max_backlog_age: Duration::from_secs(s.max_backlog_age_secs),
    }
}

/// The normaliser and everything `app::start` runs, with the last good settings and grid
/// data loaded from the store. Must be called inside the async runtime (the GitHub client
/// needs it when built).
pub fn bot(
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    store: &dyn Store,
    clock: Arc<dyn Clock>,
    opts: ServeOptions,
) -> anyhow::Result<(Arc<dyn Normalize>, AppConfig)> {
    let normalizer = Arc::new(wiring::normalizer(cfg));
    let (reactor, configs) = wiring::reactor(cfg);
    let (ttm, grid) = (reactor.ttm.clone(), reactor.grid.clone());
    let regions = wiring::grid_providers(cfg, env)?;
    let names: Vec<String> = regions.iter().map(|(n, _)| n.clone()).collect();
    grid.load(store, &names)?;
    repo_config_refresh::load_saved(store, &configs)?;
    let platform = wiring::executor(cfg, env, clock)?;
    let github = platform.github.clone();
    let executor: Arc<dyn Execute> = if opts.dry_run {
        Arc::new(DryRunExecutor)
    } else {
        Arc::new(platform)
    };
    let app = AppConfig {
        limits: limits(cfg),
        workers: opts.workers,
        github_secrets: opts.github_secrets,
        gerrit_secrets: opts.gerrit_secrets,
        reactor: Arc::new(reactor),
        executor: Some(executor),
        max_attempts: cfg.outbox.max_attempts,
        outbox_poll: Duration::from_secs(1),
        backoff_base: Duration::from_millis(cfg.outbox.backoff_base_ms),
        digests: Some(Digests {
            configs: configs.clone(),
            channels: cfg.digest.clone(),
            webhook: wiring::digest_webhook_configured(env),
            grid: grid.clone(),
            poll: Duration::from_secs(cfg.digest.poll_secs.max(1)),
        }),
        config_refresher: github.map(|client| ConfigRefresher {
            client,
            configs,
            defaults: cfg.defaults.clone(),
            interval: Duration::from_secs(cfg.github.settings_refresh_secs.max(1)),
        }),
        retrainer: (cfg.ttm.retrain_hours > 0).then(|| Retrainer {
            cache: ttm,
            interval: Duration::from_secs(cfg.ttm.retrain_hours * 3600),
            min_repo: cfg.ttm.min_repo_changes,
        }),
        grid_refresher: match regions.is_empty() {
            true => None,
            false => Some(GridRefresher {
                cache: grid,
                regions,
                interval: Duration::from_secs(cfg.grid.refresh_minutes * 60),
                http: reqwest::Client::builder()
                    .build()
                    .context("building the HTTP client for grid intensity")?,
            }),
        },
        measured_energy: (!cfg.prometheus.is_empty())
            .then(|| canopy_service::measurement::Sources(cfg.prometheus.clone())),
        instance: instance_name(env),
        claim_lease: Duration::from_secs(cfg.server.claim_lease_secs.max(1)),
    };
    Ok((normalizer, app))
}
