//! The server's periodic loops besides the digest scheduler: the repository settings
//! refresher, the time-to-merge retrainer and the grid intensity refresher. Each does its
//! work through the service layer, then sleeps on the clock until its next turn, so a test
//! with a manual clock runs them by moving the clock.

use std::sync::Arc;
use std::time::Duration;

use canopy_core::Clock;
use canopy_core::shutdown::Signal;
use canopy_forge::github::client::GitHubClient;
use canopy_service::carbon::{IntensityCache, Provider, refresh_region};
use canopy_service::repo_config::{RepoConfig, RepoConfigs};
use canopy_service::repo_config_refresh::load_saved;
use canopy_service::repo_config_refresh::refresh_all;
use canopy_service::ttm::{TtmCache, last_trained, train_all};
use canopy_store::{Claim, Store, StoreError};
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::activity::LoopState;

/// Sleeps on the clock until `t` (reported as the loop's next wake-up); false on shutdown.
async fn sleep_until(
    clock: &dyn Clock,
    state: &LoopState,
    t: DateTime<Utc>,
    shutdown: &mut Signal,
) -> bool {
    state.asleep(Some(t));
    tokio::select! {
        _ = clock.sleep_until(t) => { state.busy(); true }
        _ = shutdown.wait() => { state.stopped(); false }
    }
}

fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}

/// Takes or renews the named lease for `owner` until `now + length`; a store error counts as
/// "not held" (the work waits for the next turn rather than risk running twice).
async fn hold_lease(
    store: &Arc<dyn Store>,
    name: &'static str,
    owner: &str,
    now: DateTime<Utc>,
    length: chrono::Duration,
) -> bool {
    let (s, claim) = (store.clone(), Claim::new(owner, now, length));
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

impl ConfigRefresher {
    /// Runs until `shutdown`.
    pub fn start(
        self,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        state: LoopState,
        owner: String,
        mut shutdown: Signal,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                state.busy();
                let lease = loop_lease(self.interval);
                if hold_lease(&store, "settings-refresh", &owner, clock.now(), lease).await {
                    if let Err(e) =
                        refresh_all(&self.client, &store, &self.configs, &self.defaults).await
                    {
                        tracing::error!(error = %e, "refreshing repository settings failed; keeping the current ones");
                    }
                } else {
                    let (s, configs) = (store.clone(), self.configs.clone());
                    match tokio::task::spawn_blocking(move || load_saved(s.as_ref(), &configs))
                        .await
                    {
                        Ok(Ok(())) => tracing::debug!("repository settings loaded from the store"),
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "loading repository settings failed; keeping the current ones")
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "loading repository settings panicked")
                        }
                    }
                }
                let next = clock.now() + span(self.interval);
                if !sleep_until(clock.as_ref(), &state, next, &mut shutdown).await {
                    return;
                }
            }
        })
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

impl Retrainer {
    /// Runs until `shutdown`.
    pub fn start(
        self,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        state: LoopState,
        owner: String,
        mut shutdown: Signal,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut seen = None;
            loop {
                state.busy();
                let (due, last) = match self.due(&store).await {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read when models were trained; trying again later");
                        (clock.now() + span(self.interval), seen)
                    }
                };
                if last != seen {
                    // Another replica (or an earlier run) trained: use the models it saved.
                    self.cache.forget_models();
                    seen = last;
                }
                let mut due = due;
                if due <= clock.now() {
                    let lease = chrono::Duration::hours(6);
                    if hold_lease(&store, "ttm-retrain", &owner, clock.now(), lease).await {
                        self.train(&store, clock.now()).await;
                        seen = self.due(&store).await.ok().and_then(|(_, last)| last);
                        let (s, o) = (store.clone(), owner.clone());
                        let _ =
                            tokio::task::spawn_blocking(move || s.release_lease("ttm-retrain", &o))
                                .await;
                        continue;
                    }
                    // Another replica is training: look again in a while.
                    due = clock.now() + span(self.interval.min(Duration::from_secs(300)));
                }
                if !sleep_until(clock.as_ref(), &state, due, &mut shutdown).await {
                    return;
                }
            }
        })
    }

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
}

impl GridRefresher {
    /// Runs until `shutdown`.
    pub fn start(
        self,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        state: LoopState,
        owner: String,
        mut shutdown: Signal,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let http = match reqwest::Client::builder().build() {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the HTTP client for grid intensity");
                    state.stopped();
                    return;
                }
            };
            let names: Vec<String> = self.regions.iter().map(|(n, _)| n.clone()).collect();
            loop {
                state.busy();
                let lease = loop_lease(self.interval);
                if !hold_lease(&store, "grid-refresh", &owner, clock.now(), lease).await {
                    let (s, cache, names) = (store.clone(), self.cache.clone(), names.clone());
                    if let Ok(Err(e)) =
                        tokio::task::spawn_blocking(move || cache.load(s.as_ref(), &names)).await
                    {
                        tracing::warn!(error = %e, "loading grid intensity from the store failed");
                    }
                    let next = clock.now() + span(self.interval);
                    if !sleep_until(clock.as_ref(), &state, next, &mut shutdown).await {
                        return;
                    }
                    continue;
                }
                for (region, provider) in &self.regions {
                    let r =
                        refresh_region(&http, &store, &self.cache, region, provider, clock.now())
                            .await;
                    match r {
                        Ok(()) => tracing::debug!(region = %region, "grid intensity refreshed"),
                        Err(e) => {
                            tracing::warn!(region = %region, error = %e, "grid intensity provider failed; keeping the last good data")
                        }
                    }
                }
                let next = clock.now() + span(self.interval);
                if !sleep_until(clock.as_ref(), &state, next, &mut shutdown).await {
                    return;
                }
            }
        })
    }
}
