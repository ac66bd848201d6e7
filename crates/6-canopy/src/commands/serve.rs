//! `canopy serve`: the webhook server. Secrets come from the environment (or files named
//! there), never from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::app::{self, AppConfig};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::outbox::{DryRunExecutor, Execute};
use crate::secrets::Secrets;
use crate::server::Limits;
use crate::store::RedbStore;
use crate::wiring;

/// Environment variable holding the GitHub webhook secret(s).
pub const GITHUB_SECRET_VAR: &str = "CANOPY_GITHUB_WEBHOOK_SECRET";
/// Environment variable holding the Gerrit webhook secret(s).
pub const GERRIT_SECRET_VAR: &str = "CANOPY_GERRIT_WEBHOOK_SECRET";

/// Arguments of `canopy serve`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Secrets: set CANOPY_GITHUB_WEBHOOK_SECRET and/or CANOPY_GERRIT_WEBHOOK_SECRET \
(or *_FILE naming a file with one secret per line). Several secrets are accepted at once while rotating. \
Endpoints: POST /webhooks/github, POST /webhooks/gerrit (basic-auth password or ?token=), GET /healthz, \
GET /readyz, GET /metrics."
)]
pub struct ServeArgs {
    /// Address to listen on [default: from the config file, else 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Store directory [default: server.store from the config file].
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Configuration file (see deploy/canopy.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Worker count [default: server.workers from the config file, else 2].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Compute every action but print it as a JSON line on stdout instead of performing it.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `canopy serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let github_secrets = Secrets::from_env(GITHUB_SECRET_VAR, env)?;
    let gerrit_secrets = Secrets::from_env(GERRIT_SECRET_VAR, env)?;
    anyhow::ensure!(
        !github_secrets.is_empty() || !gerrit_secrets.is_empty(),
        "no webhook secret configured: set {GITHUB_SECRET_VAR} (or {GITHUB_SECRET_VAR}_FILE) and/or \
         {GERRIT_SECRET_VAR} (or {GERRIT_SECRET_VAR}_FILE)"
    );
    let store_dir = args
        .store
        .clone()
        .or_else(|| cfg.server.store.clone())
        .context("no store directory: pass --store DIR or set server.store in the configuration")?;
    let listen = args.listen.unwrap_or(cfg.server.listen);
    let workers = args.workers.unwrap_or(cfg.server.workers).max(1);
    let limits = Limits {
        max_body_bytes: cfg.server.max_body_mib * 1024 * 1024,
        header_timeout: Duration::from_secs(cfg.server.header_timeout_secs),
        request_timeout: Duration::from_secs(cfg.server.request_timeout_secs),
    };
    let store = Arc::new(RedbStore::open(&store_dir)?);
    let normalizer = Arc::new(wiring::normalizer(&cfg));
    let (reactor, configs) = wiring::reactor(&cfg);
    let ttm_cache = reactor.ttm.clone();
    let grid_cache = reactor.grid.clone();
    let digest_grid = reactor.grid.clone();
    let digest_configs = configs.clone();
    let digest_webhook = wiring::digest_webhook_configured(&env);
    let grid_regions = wiring::grid_providers(&cfg, &env)?;
    grid_cache.load(
        &store,
        &grid_regions
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>(),
    );
    crate::repo_config_refresh::load_saved(&store, &configs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("canopy")
        .build()
        .context("starting the async runtime")?;
    // The GitHub client (octocrab) needs the runtime while it is built.
    let _guard = runtime.enter();
    let platform = wiring::executor(&cfg, &env)?;
    let github_client = platform.github.clone();
    let executor: Arc<dyn Execute> = if args.dry_run {
        Arc::new(DryRunExecutor)
    } else {
        Arc::new(platform)
    };

    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let running = app::start(
            listener,
            store,
            normalizer,
            Arc::new(SystemClock),
            AppConfig {
                limits,
                workers,
                github_secrets: github_secrets.clone(),
                gerrit_secrets: gerrit_secrets.clone(),
                reactor: Arc::new(reactor),
                executor: Some(executor),
                max_attempts: cfg.outbox.max_attempts,
                outbox_poll: Duration::from_secs(1),
                backoff_base: Duration::from_millis(cfg.outbox.backoff_base_ms),
            },
        )?;
        tracing::info!(
            addr = %running.addr,
            store = %store_dir.display(),
            workers,
            github = !github_secrets.is_empty(),
            gerrit = !gerrit_secrets.is_empty(),
            "canopy is listening"
        );
        eprintln!("canopy: listening on http://{}", running.addr);
        let refresher = github_client.map(|client| {
            let (trigger, signal) = crate::inbox::tokio_shutdown::channel();
            let task = crate::repo_config_refresh::start(
                client,
                running.store.clone(),
                configs,
                cfg.defaults.clone(),
                Duration::from_secs(cfg.github.settings_refresh_secs.max(1)),
                signal,
            );
            (trigger, task)
        });
        let retrainer = (cfg.ttm.retrain_hours > 0).then(|| {
            let (trigger, signal) = crate::inbox::tokio_shutdown::channel();
            let task = crate::ttm_service::start_retrainer(
                running.store.clone(),
                ttm_cache,
                Arc::new(SystemClock),
                Duration::from_secs(cfg.ttm.retrain_hours * 3600),
                cfg.ttm.min_repo_changes,
                signal,
            );
            (trigger, task)
        });
        let grid = (!grid_regions.is_empty()).then(|| {
            let (trigger, signal) = crate::inbox::tokio_shutdown::channel();
            let task = crate::carbon::start_refresher(
                running.store.clone(),
                grid_cache,
                grid_regions,
                Arc::new(SystemClock),
                Duration::from_secs(cfg.grid.refresh_minutes * 60),
                signal,
            );
            (trigger, task)
        });
        let scheduler = {
            let (trigger, signal) = crate::inbox::tokio_shutdown::channel();
            let task = crate::digest::schedule::Scheduler {
                store: running.store.clone(),
                committer: running.committer.clone(),
                configs: digest_configs,
                channels: cfg.digest.clone(),
                webhook: digest_webhook,
                grid: digest_grid,
                clock: Arc::new(SystemClock),
                outbox: running.outbox_notify.clone(),
                poll: Duration::from_secs(cfg.digest.poll_secs.max(1)),
            }
            .start(signal);
            (trigger, task)
        };
        shutdown_signal().await;
        tracing::info!("shutting down; unprocessed deliveries stay queued in the store");
        for (trigger, task) in refresher
            .into_iter()
            .chain(retrainer)
            .chain(grid)
            .chain(Some(scheduler))
        {
            trigger.fire();
            let _ = task.await;
        }
        running.shutdown(Duration::from_secs(10)).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
