//! The server's periodic loops besides the digest scheduler: the repository settings
//! refresher, the time-to-merge retrainer and the grid intensity refresher (the measured CI
//! energy loop is in [`crate::measure_loop`]). Each does its work through the service layer,
//! then sleeps on the clock until its next turn, so a test with a manual clock runs them by
//! moving the clock. Of several replicas, the one holding a loop's lease does its work; the
//! others load what it saved in the store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use canopy_core::Clock;
use canopy_core::shutdown::Signal;
use canopy_forge::github::client::GitHubClient;
use canopy_service::carbon::{IntensityCache, Provider, refresh_region};
use canopy_service::repo_config::{RepoConfig, RepoConfigs};
use canopy_service::repo_config_refresh::{load_saved, refresh_all};
use canopy_service::ttm::{TtmCache, last_trained, train_all};
use canopy_store::{Claim, Store, StoreError};
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::activity::LoopState;

/// What a loop's turn works with.
pub struct Turn<'a> {
    /// The store.
    pub store: &'a Arc<dyn Store>,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// This replica's name on leases.
    pub owner: &'a str,
}

/// One periodic loop: a turn's work, which says when the next turn is due.
pub trait Periodic: Send + 'static {
    /// Does one turn's work; returns when the next turn is due (on the clock).
    fn turn(&mut self, t: &Turn<'_>) -> impl Future<Output = DateTime<Utc>> + Send;
}

/// Runs a loop until `shutdown`: a turn, then a sleep on the clock until the next one (reported
/// through `state`, so a test harness knows when the loop is quiet).
pub fn start(
    mut job: impl Periodic,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    owner: String,
    state: LoopState,
    mut shutdown: Signal,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            state.busy();
            let turn = Turn {
                store: &store,
                clock: clock.as_ref(),
                owner: &owner,
            };
            let next = job.turn(&turn).await;
            if next <= clock.now() {
                continue;
            }
            state.asleep(Some(next));
            tokio::select! {
                _ = clock.sleep_until(next) => {}
                _ = shutdown.wait() => break,
            }
        }
        state.stopped();
    })
}

fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}

/// Takes or renews the named lease for `owner` until `now + length`; a store error counts as
/// "not held" (the work waits for the next turn rather than risk running twice).
pub(crate) async fn hold_lease(t: &Turn<'_>, name: &'static str, length: chrono::Duration) -> bool {
    let (s, claim) = (t.store.clone(), Claim::new(t.owner, t.clock.now(), length));
    match tokio::task::spawn_blocking(move || s.try_lease(name, &claim)).await {
        Ok(Ok(held)) => held,
        Ok(Err(e)) => {
            tracing::warn!(lease = name, error = %e, "cannot take a lease; skipping this turn");
            false
        }
        Err(e) => {
            tracing::warn!(lease = name, error = %e, "taking a lease panicked; skipping this turn");
            false
        }
    }
}

/// The lease of a loop that runs every `interval`: long enough to be renewed at each turn,
/// short enough that a dead holder's work is taken over soon.
fn loop_lease(interval: Duration) -> chrono::Duration {
    span(interval) * 2 + chrono::Duration::minutes(1)
}

/// Repository settings: read now and then every `interval` by the replica holding the
/// `settings-refresh` lease; the others load the settings it saved in the store.
#[derive(Clone)]
pub struct ConfigRefresher {
    /// GitHub client.
    pub client: Arc<GitHubClient>,
    /// The settings the reactor and the scheduler read.
    pub configs: Arc<RepoConfigs>,
    /// The server's defaults.
    pub defaults: RepoConfig,
    /// Time between refreshes.
    pub interval: Duration,
}

impl Periodic for ConfigRefresher {
    async fn turn(&mut self, t: &Turn<'_>) -> DateTime<Utc> {
        if hold_lease(t, "settings-refresh", loop_lease(self.interval)).await {
            let refreshed = refresh_all(&self.client, t.store, &self.configs, &self.defaults).await;
            if let Err(e) = refreshed {
                tracing::error!(error = %e, "refreshing repository settings failed; keeping the current ones");
            }
        } else {
            let (s, configs) = (t.store.clone(), self.configs.clone());
            match tokio::task::spawn_blocking(move || load_saved(s.as_ref(), &configs)).await {
                Ok(Ok(())) => tracing::debug!("repository settings loaded from the store"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "loading repository settings failed; keeping the current ones")
                }
                Err(e) => tracing::warn!(error = %e, "loading repository settings panicked"),
            }
        }
        t.clock.now() + span(self.interval)
    }
}

/// Time-to-merge models: retrained every `interval` (and at once if the last training is
/// older), in a blocking thread so that webhooks and reactions never wait for it; new models
/// go live in the cache as soon as they are saved. One replica trains at a time (the
/// `ttm-retrain` lease); the others reload the models it saved once it has.
#[derive(Clone)]
pub struct Retrainer {
    /// The models the reactor reads.
    pub cache: Arc<TtmCache>,
    /// Time between trainings.
    pub interval: Duration,
    /// Fewest merged changes for a repository's own model.
    pub min_repo: usize,
}

/// The retrainer as a loop: remembers when the models it uses were trained.
pub struct Retraining {
    job: Retrainer,
    seen: Option<DateTime<Utc>>,
}

impl Retrainer {
    /// The loop that runs this retrainer.
    pub fn looped(self) -> Retraining {
        Retraining {
            job: self,
            seen: None,
        }
    }
}

impl Periodic for Retraining {
    async fn turn(&mut self, t: &Turn<'_>) -> DateTime<Utc> {
        let interval = self.job.interval;
        let (due, last) = match self.job.due(t.store).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read when models were trained; trying again later");
                (t.clock.now() + span(interval), self.seen)
            }
        };
        if last != self.seen {
            // Another replica (or an earlier run) trained: use the models it saved.
            self.job.cache.forget_models();
            self.seen = last;
        }
        if due > t.clock.now() {
            return due;
        }
        if !hold_lease(t, "ttm-retrain", chrono::Duration::hours(6)).await {
            // Another replica is training: look again in a while.
            return t.clock.now() + span(interval.min(Duration::from_secs(300)));
        }
        self.job.train(t.store, t.clock.now()).await;
        self.seen = self.job.due(t.store).await.ok().and_then(|(_, last)| last);
        let (s, o) = (t.store.clone(), t.owner.to_string());
        let _ = tokio::task::spawn_blocking(move || s.release_lease("ttm-retrain", &o)).await;
        // Look again at once: the next due time follows from the training just saved.
        t.clock.now()
    }
}

impl Retrainer {
    /// When the next training is due, and when the last one was.
    async fn due(
        &self,
        store: &Arc<dyn Store>,
    ) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>), StoreError> {
        let s = store.clone();
        let last = tokio::task::spawn_blocking(move || last_trained(s.as_ref()))
            .await
            .map_err(|e| StoreError::Db(e.to_string()))??;
        let due = last.map_or(DateTime::<Utc>::MIN_UTC, |t| t + span(self.interval));
        Ok((due, last))
    }

    async fn train(&self, store: &Arc<dyn Store>, now: DateTime<Utc>) {
        let (s, c, min_repo) = (store.clone(), self.cache.clone(), self.min_repo);
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let trained = train_all(s.as_ref(), min_repo, now)?;
            for t in &trained {
                if let Ok(m) = &t.outcome {
                    c.set_model(&t.repo, m.clone());
                }
            }
            Ok::<_, StoreError>(trained)
        })
        .await;
        match result {
            Ok(Ok(trained)) => {
                let ok = trained.iter().filter(|t| t.outcome.is_ok()).count();
                tracing::info!(
                    repos = trained.len(),
                    trained = ok,
                    ms = started.elapsed().as_millis() as u64,
                    "time-to-merge models retrained"
                );
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "time-to-merge retraining failed; keeping the current models")
            }
            Err(e) => {
                tracing::warn!(error = %e, "time-to-merge retraining panicked; keeping the current models")
            }
        }
    }
}

/// Grid intensity: every region refreshed every `interval` by the replica holding the
/// `grid-refresh` lease; the others load the data it saved in the store.
#[derive(Clone)]
pub struct GridRefresher {
    /// The data the reactor and digests read.
    pub cache: Arc<IntensityCache>,
    /// Each region's provider.
    pub regions: Vec<(String, Provider)>,
    /// Time between refreshes.
    pub interval: Duration,
    /// The HTTP client of the providers' APIs.
    pub http: reqwest::Client,
}

impl Periodic for GridRefresher {
    async fn turn(&mut self, t: &Turn<'_>) -> DateTime<Utc> {
        if !hold_lease(t, "grid-refresh", loop_lease(self.interval)).await {
            let names: Vec<String> = self.regions.iter().map(|(n, _)| n.clone()).collect();
            let (s, cache) = (t.store.clone(), self.cache.clone());
            if let Ok(Err(e)) =
                tokio::task::spawn_blocking(move || cache.load(s.as_ref(), &names)).await
            {
                tracing::warn!(error = %e, "loading grid intensity from the store failed");
            }
            return t.clock.now() + span(self.interval);
        }
        for (region, provider) in &self.regions {
            let (http, cache, now) = (&self.http, &self.cache, t.clock.now());
            match refresh_region(http, t.store, cache, region, provider, now).await {
                Ok(()) => tracing::debug!(region = %region, "grid intensity refreshed"),
                Err(e) => {
                    tracing::warn!(region = %region, error = %e, "grid intensity provider failed; keeping the last good data")
                }
            }
        }
        t.clock.now() + span(self.interval)
    }
}
