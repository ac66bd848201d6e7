//! Assembles the running bot from its parts — listener, store, normaliser, clock, reactor,
//! executor — all passed in, and starts every loop: the HTTP intake, the worker pool, the
//! outbox worker, the digest scheduler, the settings refresher, the retrainer, the grid
//! refresher and the measured-energy loop. `canopy serve`, the demo and the tests start the
//! very same thing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use canopy_core::shutdown::{self, Signal, Trigger};
use canopy_core::{Clock, Normalize};
use canopy_service::carbon::IntensityCache;
use canopy_service::config::DigestChannelsConfig;
use canopy_service::measurement::Sources;
use canopy_service::react::{NoReactions, React};
use canopy_service::repo_config::RepoConfigs;
use canopy_store::Store;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::activity::Activity;
use crate::budget::Budget;
use crate::committer::Committer;
use crate::http::{self, AppState, Limits};
use crate::loops::{self, ConfigRefresher, GridRefresher, Periodic, Retrainer};
use crate::measure_loop::EnergyMeasurer;
use crate::metrics::Metrics;
use crate::outbox_worker::{Execute, OutboxWorker};
use crate::pool::{Pool, WorkerHealth};
use crate::scheduler::Scheduler;
use crate::secrets::Secrets;

/// What the digest scheduler needs besides the store and the clock.
pub struct Digests {
    /// Per-repository settings (schedules among them).
    pub configs: Arc<RepoConfigs>,
    /// The server's digest channels and organisation schedules.
    pub channels: DigestChannelsConfig,
    /// Whether a chat webhook is configured.
    pub webhook: bool,
    /// Grid data for the CI footprint.
    pub grid: Arc<IntensityCache>,
    /// Time between looks at the schedules.
    pub poll: Duration,
}

/// What the server needs besides its dependencies.
pub struct AppConfig {
    /// Request limits.
    pub limits: Limits,
    /// Worker count (0: intake only, no worker pool; deliveries stay pending).
    pub workers: usize,
    /// Accepted GitHub webhook secrets.
    pub github_secrets: Secrets,
    /// Accepted Gerrit webhook secrets.
    pub gerrit_secrets: Secrets,
    /// What to do about new events.
    pub reactor: Arc<dyn React>,
    /// What performs outbox actions; `None` runs no outbox worker (actions stay queued).
    pub executor: Option<Arc<dyn Execute>>,
    /// Attempts before an action goes to the dead-letter list.
    pub max_attempts: u32,
    /// Longest real-time sleep of the outbox worker between looks at its queue.
    pub outbox_poll: Duration,
    /// First retry delay of a failed action (doubled at each attempt).
    pub backoff_base: Duration,
    /// The digest scheduler, if digests are sent.
    pub digests: Option<Digests>,
    /// The repository settings refresher, if a GitHub client is configured.
    pub config_refresher: Option<ConfigRefresher>,
    /// The time-to-merge retrainer, if retraining is on.
    pub retrainer: Option<Retrainer>,
    /// The grid intensity refresher, if regions are configured.
    pub grid_refresher: Option<GridRefresher>,
    /// Prometheus sources of measured CI energy, if any runner has one.
    pub measured_energy: Option<Sources>,
    /// Name of this process's claims on shared work (unique per replica).
    pub instance: String,
    /// How long a claimed delivery or action stays this process's before another replica may
    /// take it over (presuming this one dead).
    pub claim_lease: Duration,
}

impl AppConfig {
    /// Intake only: default limits, no reactions, no outbox worker, no loops.
    pub fn intake(github_secrets: Secrets, gerrit_secrets: Secrets) -> AppConfig {
        AppConfig {
            limits: Limits::default(),
            workers: 2,
            github_secrets,
            gerrit_secrets,
            reactor: Arc::new(NoReactions),
            executor: None,
            max_attempts: 8,
            outbox_poll: Duration::from_secs(1),
            backoff_base: Duration::from_secs(1),
            digests: None,
            config_refresher: None,
            retrainer: None,
            grid_refresher: None,
            measured_energy: None,
            instance: "canopy".into(),
            claim_lease: Duration::from_secs(60),
        }
    }
}

/// A started server.
pub struct Running {
    /// Address it listens on.
    pub addr: SocketAddr,
    /// Its store.
    pub store: Arc<dyn Store>,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// The request byte budget (for tests and metrics).
    pub budget: Arc<Budget>,
    /// What each loop is doing.
    pub activity: Activity,
    /// Wakes the outbox worker.
    pub outbox_notify: Arc<Notify>,
    /// The store's writer.
    pub committer: Committer,
    trigger: Trigger,
    server: JoinHandle<std::io::Result<()>>,
    tasks: Vec<JoinHandle<()>>,
    health: Arc<WorkerHealth>,
    writer_alive: Arc<AtomicBool>,
}

/// Starts the writer, the worker pool, the outbox worker, every configured loop and the HTTP
/// server.
pub fn start(
    listener: TcpListener,
    store: Arc<dyn Store>,
    normalizer: Arc<dyn Normalize>,
    clock: Arc<dyn Clock>,
    cfg: AppConfig,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let (trigger, signal) = shutdown::channel();
    let committer = Committer::spawn(store.clone());
    let notify = Arc::new(Notify::new());
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(WorkerHealth::default());
    let outbox_notify = Arc::new(Notify::new());
    let activity = Activity::default();
    let budget = Arc::new(Budget::new(cfg.limits.inflight_bytes));
    let parts = Parts {
        store: &store,
        committer: &committer,
        clock: &clock,
        activity: &activity,
        outbox_notify: &outbox_notify,
        notify: &notify,
        signal: &signal,
    };
    let mut tasks = parts.loops(&cfg);
    health
        .intake_only
        .store(cfg.workers == 0, std::sync::atomic::Ordering::SeqCst);
    tasks.extend((cfg.workers > 0).then(|| {
        Pool {
            store: store.clone(),
            committer: committer.clone(),
            normalizer,
            reactor: cfg.reactor.clone(),
            outbox_notify: outbox_notify.clone(),
            notify: notify.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            health: health.clone(),
            owner: format!("{}:pool", cfg.instance),
            lease: lease(cfg.claim_lease),
        }
        .start(cfg.workers, signal.clone())
    }));
    let state = Arc::new(AppState {
        committer: committer.clone(),
        store: store.clone(),
        github_secrets: cfg.github_secrets,
        gerrit_secrets: cfg.gerrit_secrets,
        metrics: metrics.clone(),
        notify,
        clock,
        health: health.clone(),
        limits: cfg.limits,
        budget: budget.clone(),
    });
    let app = http::router(state);
    let server = tokio::spawn(http::serve(listener, app, cfg.limits, signal));
    Ok(Running {
        addr,
        writer_alive: committer.alive_flag(),
        store,
        metrics,
        budget,
        activity,
        outbox_notify,
        committer,
        trigger,
        server,
        tasks,
        health,
    })
}

/// A claim lease as the store takes it.
fn lease(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d.max(Duration::from_secs(1)))
        .unwrap_or(chrono::Duration::minutes(10))
}

/// What every loop is started with.
struct Parts<'a> {
    store: &'a Arc<dyn Store>,
    committer: &'a Committer,
    clock: &'a Arc<dyn Clock>,
    activity: &'a Activity,
    outbox_notify: &'a Arc<Notify>,
    notify: &'a Arc<Notify>,
    signal: &'a Signal,
}

impl Parts<'_> {
    /// Starts the outbox worker and every configured periodic loop.
    fn loops(&self, cfg: &AppConfig) -> Vec<JoinHandle<()>> {
        let (store, clock, signal) = (self.store, self.clock, self.signal);
        let mut tasks = Vec::new();
        if let Some(executor) = cfg.executor.clone() {
            let worker = OutboxWorker {
                store: store.clone(),
                committer: self.committer.clone(),
                executor,
                clock: clock.clone(),
                notify: self.outbox_notify.clone(),
                max_attempts: cfg.max_attempts,
                poll: cfg.outbox_poll,
                backoff_base: cfg.backoff_base,
                owner: format!("{}:outbox", cfg.instance),
                lease: lease(cfg.claim_lease),
                state: self.activity.register("outbox"),
            };
            tasks.push(worker.start(signal.clone()));
        }
        let loops = Loops {
            store,
            clock,
            owner: &cfg.instance,
            activity: self.activity,
            signal,
        };
        if let Some(d) = &cfg.digests {
            let scheduler = Scheduler {
                store: store.clone(),
                committer: self.committer.clone(),
                configs: d.configs.clone(),
                channels: d.channels.clone(),
                webhook: d.webhook,
                grid: d.grid.clone(),
                clock: clock.clone(),
                outbox: self.outbox_notify.clone(),
                poll: d.poll,
                owner: cfg.instance.clone(),
            };
            tasks.push(loops.start("digests", scheduler));
        }
        if let Some(r) = &cfg.config_refresher {
            tasks.push(loops.start("settings", r.clone()));
        }
        if let Some(r) = &cfg.retrainer {
            tasks.push(loops.start("retrainer", r.clone().looped()));
        }
        if let Some(r) = &cfg.grid_refresher {
            tasks.push(loops.start("grid", r.clone()));
        }
        if let Some(sources) = cfg.measured_energy.clone().filter(|s| !s.is_empty()) {
            let m = EnergyMeasurer::new(sources, self.committer.clone(), self.notify.clone());
            tasks.push(loops.start("energy", m));
        }
        tasks
    }
}

/// What the periodic loops are started with.
struct Loops<'a> {
    store: &'a Arc<dyn Store>,
    clock: &'a Arc<dyn Clock>,
    owner: &'a str,
    activity: &'a Activity,
    signal: &'a Signal,
}

impl Loops<'_> {
    fn start(&self, name: &'static str, job: impl Periodic) -> JoinHandle<()> {
        let state = self.activity.register(name);
        let (store, clock, signal) = (self.store.clone(), self.clock.clone(), self.signal.clone());
        loops::start(job, store, clock, self.owner.to_string(), state, signal)
    }
}

impl Running {
    /// Stops accepting, lets workers finish the delivery in hand, stops every loop, and waits
    /// for them and for the store writer to let go of the store (at most `grace` for the
    /// workers and the writer). Deliveries not yet processed stay pending for the next start.
    pub async fn shutdown(self, grace: Duration) {
        self.trigger.fire();
        let _ = self.server.await;
        for t in self.tasks {
            let _ = t.await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        let running = || {
            self.health
                .running
                .load(std::sync::atomic::Ordering::SeqCst)
        };
        while running() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(self.committer);
        drop(self.store);
        while self.writer_alive.load(std::sync::atomic::Ordering::SeqCst)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until no delivery is pending (for tests and the demo), at most `timeout`.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let store = self.store.clone();
            let depth =
                tokio::task::spawn_blocking(move || store.queue_depth().unwrap_or(u64::MAX))
                    .await
                    .unwrap_or(u64::MAX);
            if depth == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
