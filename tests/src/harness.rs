//! The bot in-process, as `canopy serve` assembles it (the real router, pool, outbox worker,
//! scheduler and loops, from a configuration file's text and an environment), on a fresh
//! store, driven by a manual clock: a test moves time forward instead of waiting for it, and
//! [`Harness::settle`] runs the bot until it has nothing left to do at the current moment.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use canopy::assemble::{self, ServeOptions};
use canopy_core::{Clock, ManualClock, SystemClock};
use canopy_server::app::{self, Running};
use canopy_server::secrets::Secrets;
use canopy_service::config::Config;
use canopy_store::Store;
use chrono::{DateTime, Utc};

pub use crate::SECRET;

/// How far [`Harness::settle`] follows retries of failed actions into the future.
const RETRY_HORIZON: chrono::Duration = chrono::Duration::seconds(5);

/// The harness's time: a manual clock, or the system's for tests of real waiting.
#[derive(Clone)]
pub enum TestClock {
    /// Moved by the test.
    Manual(Arc<ManualClock>),
    /// The wall clock.
    System,
}

impl TestClock {
    /// A manual clock at the current second of the wall clock.
    pub fn manual_now() -> TestClock {
        let now = Utc::now();
        let whole = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        TestClock::Manual(Arc::new(ManualClock::new(whole)))
    }

    fn as_clock(&self) -> Arc<dyn Clock> {
        match self {
            TestClock::Manual(c) => c.clone(),
            TestClock::System => Arc::new(SystemClock),
        }
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.as_clock().now()
    }
}

/// A running (or stopped) bot and its surroundings.
pub struct Harness {
    running: Option<Running>,
    /// Its clock.
    pub clock: TestClock,
    config: Config,
    env: Vec<(String, String)>,
    store: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts the bot with the configuration `config` (TOML) and environment `env`, on a manual
    /// clock set to now.
    pub async fn start(config: &str, env: &[(&str, &str)]) -> Harness {
        Harness::start_with(config, env, TestClock::manual_now()).await
    }

    /// Starts the bot on a given clock.
    pub async fn start_with(config: &str, env: &[(&str, &str)], clock: TestClock) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut h = Harness {
            running: None,
            clock,
            config: Config::parse(config).expect("a valid configuration"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            store: dir.path().join("store"),
            _dir: dir,
        };
        h.boot().await;
        h
    }

    async fn boot(&mut self) {
        let env = self.env.clone();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let store = open_store(&self.store).await;
        let secrets = || Secrets::new([SECRET.to_string()]);
        let opts = ServeOptions {
            workers: self.config.server.workers,
            github_secrets: secrets(),
            gerrit_secrets: secrets(),
            dry_run: false,
        };
        let clock = self.clock.as_clock();
        let (normalizer, cfg) =
            assemble::bot(&self.config, &lookup, store.as_ref(), clock.clone(), opts)
                .expect("the bot assembles");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let running = app::start(listener, store, normalizer, clock, cfg).expect("started");
        self.running = Some(running);
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("the bot is running")
    }

    /// The store directory (for `canopy` commands once stopped).
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// Stops the bot the way SIGTERM does; the store is released.
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown(Duration::from_secs(5)).await;
        }
    }

    /// Stops the bot if it runs, and starts it again on the same store, configuration and
    /// clock.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }

    /// Runs the bot until it has nothing to do at the current moment (no pending delivery, no
    /// due action, every loop asleep), then follows retries of failed actions: the clock moves
    /// (or, on the system clock, the test waits) to each next due action within 5 seconds
    /// (backoff of the tests' configurations; a deferral to a later window is not followed).
    pub async fn settle(&self) {
        loop {
            self.quiet().await;
            let now = self.clock.now();
            match self.next_due().await {
                Some(t) if t <= now + RETRY_HORIZON => self.move_to(t).await,
                _ => return,
            }
        }
    }

    /// Moves the clock forward by `d`, stopping at every moment something is due on the way
    /// (an action, a loop's turn) and letting the bot finish it.
    pub async fn advance(&self, d: chrono::Duration) {
        let TestClock::Manual(clock) = &self.clock else {
            panic!("advance needs a manual clock");
        };
        let target = clock.now() + d;
        loop {
            self.quiet().await;
            let next = [self.next_due().await, self.running().activity.next_wake()]
                .into_iter()
                .flatten()
                .filter(|t| *t > clock.now())
                .min();
            match next {
                Some(t) if t <= target => clock.set(t),
                _ => {
                    clock.set(target);
                    self.quiet().await;
                    return;
                }
            }
        }
    }

    /// Moves a manual clock up to the wall clock (time passed while the bot was stopped and
    /// `canopy` commands stamped their records with the wall clock).
    pub fn catch_up_with_wall_clock(&self) {
        if let TestClock::Manual(c) = &self.clock {
            c.set(c.now().max(Utc::now()));
        }
    }

    async fn move_to(&self, t: DateTime<Utc>) {
        match &self.clock {
            TestClock::Manual(c) => c.set(t.max(c.now())),
            TestClock::System => {
                let wait = (t - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait + Duration::from_millis(5)).await;
            }
        }
    }

    async fn next_due(&self) -> Option<DateTime<Utc>> {
        let store = self.running().store.clone();
        tokio::task::spawn_blocking(move || store.next_due().expect("the store reads"))
            .await
            .expect("next due")
    }

    /// Waits (in real time, at most 30 s) until no delivery is pending, no action is due and
    /// every loop sleeps past the current moment.
    async fn quiet(&self) {
        let r = self.running();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.clock.now();
            let store = r.store.clone();
            let (depth, next) = tokio::task::spawn_blocking(move || {
                (
                    store.queue_depth().expect("depth"),
                    store.next_due().expect("due"),
                )
            })
            .await
            .expect("store check");
            let quiet = depth == 0 && next.is_none_or(|t| t > now) && r.activity.quiet_at(now);
            if quiet {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot did not settle: {depth} deliveries pending, next action due {next:?}, busy loops {:?}",
                r.activity.busy()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Opens the store, waiting for a previous run's writer to let go of it.
async fn open_store(dir: &Path) -> Arc<dyn Store> {
    for _ in 0..200 {
        match canopy::wiring::open_store(dir) {
            Ok(s) => return s,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    canopy::wiring::open_store(dir).expect("the store opens")
}

impl crate::Webhooks for Harness {
    fn url(&self) -> String {
        format!("http://{}", self.running().addr)
    }
}
