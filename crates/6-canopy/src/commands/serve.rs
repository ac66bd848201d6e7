//! `canopy serve`: the webhook server. Secrets come from the environment (or files named
//! there), never from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use canopy_core::SystemClock;
use canopy_server::app;
use canopy_server::secrets::Secrets;
use canopy_service::config::Config;
use canopy_store::Location;

use crate::assemble::{self, ServeOptions};
use crate::store_location;

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
    /// Store: a directory (embedded, one process) or a postgres://USER@HOST:PORT/DB URL
    /// (several replicas; the password from PGPASSWORD, ~/.pgpass or CANOPY_STORE_FILE)
    /// [default: CANOPY_STORE, CANOPY_STORE_FILE, else server.store from the config file].
    /// A PostgreSQL store is migrated when the server starts.
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE")]
    pub store: Option<Location>,
    /// Configuration file (see deploy/canopy.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Worker count [default: server.workers from the config file, else 2]. 0 runs an
    /// intake-only server: it acknowledges and stores deliveries but processes none (they stay
    /// pending for a replica that processes, or for the next start with workers).
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
    let location = match (
        &args.store,
        env(store_location::STORE_FILE_VAR),
        &cfg.server.store,
    ) {
        (Some(l), _, _) => l.clone(),
        (None, Some(_), _) => store_location::resolve(None, &env)?,
        (None, None, Some(from_file)) => Location::from(from_file.clone()),
        (None, None, None) => anyhow::bail!(
            "no store: pass --store DIR|URL, set CANOPY_STORE (or CANOPY_STORE_FILE), or set server.store in the configuration"
        ),
    };
    let listen = args.listen.unwrap_or(cfg.server.listen);
    let opts = ServeOptions {
        workers: args.workers.unwrap_or(cfg.server.workers),
        github_secrets,
        gerrit_secrets,
        dry_run: args.dry_run,
    };
    let store = store_location::open_location(&location, store_location::Migrate::Yes, &env)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("canopy")
        .build()
        .context("starting the async runtime")?;
    // The GitHub client (octocrab) needs the runtime while it is built.
    let _guard = runtime.enter();
    let clock = Arc::new(SystemClock);
    let (normalizer, app_cfg) =
        assemble::bot(&cfg, &env, store.as_ref(), clock.clone(), opts.clone())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let running = app::start(listener, store, normalizer, clock, app_cfg)?;
        tracing::info!(
            addr = %running.addr,
            store = %location,
            workers = opts.workers,
            github = !opts.github_secrets.is_empty(),
            gerrit = !opts.gerrit_secrets.is_empty(),
            "canopy is listening"
        );
        eprintln!("canopy: listening on http://{}", running.addr);
        shutdown_signal().await;
        tracing::info!("shutting down; unprocessed deliveries stay queued in the store");
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
