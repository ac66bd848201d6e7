//! The server's periodic loops besides the digest scheduler: the repository settings
//! refresher, the time-to-merge retrainer and the grid intensity refresher. Each does its
//! work through the service layer, then sleeps on the clock until its next turn, so a test
//! with a manual clock runs them by moving the clock.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use canopy_core::Clock;
use canopy_core::shutdown::Signal;
use canopy_forge::github::client::GitHubClient;
use canopy_service::carbon::{IntensityCache, Provider, refresh_region};
use canopy_service::repo_config::{RepoConfig, RepoConfigs};
use canopy_service::repo_config_refresh::refresh_all;
use canopy_service::ttm::{TtmCache, last_trained, train_all};
use canopy_store::{Store, StoreError};
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::activity::LoopState;

/// One periodic loop: a turn's work, which says when the next turn is due.
pub trait Periodic: Send + Sync + 'static {
    /// Does one turn's work; returns when the next turn is due (on the clock).
    fn turn(
        &self,
        store: &Arc<dyn Store>,
        clock: &dyn Clock,
    ) -> impl Future<Output = DateTime<Utc>> + Send;
}

/// Runs a loop until `shutdown`: a turn, then a sleep on the clock until the next one (reported
/// through `state`, so a test harness knows when the loop is quiet).
pub fn start(
    job: impl Periodic,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    state: LoopState,
    mut shutdown: Signal,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            state.busy();
            let next = job.turn(&store, clock.as_ref()).await;
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

/// Repository settings: read now and then every `interval`.
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
    async fn turn(&self, store: &Arc<dyn Store>, clock: &dyn Clock) -> DateTime<Utc> {
        let refreshed = refresh_all(&self.client, store, &self.configs, &self.defaults).await;
        if let Err(e) = refreshed {
            tracing::error!(error = %e, "refreshing repository settings failed; keeping the current ones");
        }
        clock.now() + span(self.interval)
    }
}

/// Time-to-merge models: retrained every `interval` (and at once if the last training is
/// older), in a blocking thread so that webhooks and reactions never wait for it; new models
/// go live in the cache as soon as they are saved.
#[derive(Clone)]
pub struct Retrainer {
    /// The models the reactor reads.
    pub cache: Arc<TtmCache>,
    /// Time between trainings.
    pub interval: Duration,
    /// Fewest merged changes for a repository's own model.
    pub min_repo: usize,
}

impl Periodic for Retrainer {
    async fn turn(&self, store: &Arc<dyn Store>, clock: &dyn Clock) -> DateTime<Utc> {
        let now = clock.now();
        match self.due(store).await {
            Ok(due) if due > now => due,
            Ok(_) => {
                self.train(store, now).await;
                now + span(self.interval)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read when models were trained; trying again later");
                now + span(self.interval)
            }
        }
    }
}

impl Retrainer {
    async fn due(&self, store: &Arc<dyn Store>) -> Result<DateTime<Utc>, StoreError> {
        let s = store.clone();
        let last = tokio::task::spawn_blocking(move || last_trained(s.as_ref()))
            .await
            .map_err(|e| StoreError::Db(e.to_string()))??;
        Ok(last.map_or(DateTime::<Utc>::MIN_UTC, |t| t + span(self.interval)))
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

/// Grid intensity: every region refreshed every `interval`.
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
    async fn turn(&self, store: &Arc<dyn Store>, clock: &dyn Clock) -> DateTime<Utc> {
        for (region, provider) in &self.regions {
            let (http, cache, now) = (&self.http, &self.cache, clock.now());
            match refresh_region(http, store, cache, region, provider, now).await {
                Ok(()) => tracing::debug!(region = %region, "grid intensity refreshed"),
                Err(e) => {
                    tracing::warn!(region = %region, error = %e, "grid intensity provider failed; keeping the last good data")
                }
            }
        }
        clock.now() + span(self.interval)
    }
}
