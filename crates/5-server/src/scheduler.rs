//! Scheduled digests: each repository's cron expression (croner, 5 fields, in its time zone) is
//! checked by a small loop. The last run handled is recorded in the store together with the
//! run's outbox actions, so a run missed while the bot was down is caught up once at the next
//! start, and none is sent twice.

use std::sync::Arc;
use std::time::Duration;

use canopy_analyzer::identity::Identities;
use canopy_analyzer::week::IsoWeek;
use canopy_core::{Clock, Enqueue, WriteOp};
use canopy_service::carbon::IntensityCache;
use canopy_service::config::DigestChannelsConfig;
use canopy_service::digest::{self, Scope};
use canopy_service::repo_config::{RepoConfig, RepoConfigs};
use canopy_store::{Claim, Store, StoreError};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::committer::Committer;
use crate::loops::{Periodic, Turn};

/// What a schedule asks for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing.
    Nothing,
    /// The schedule is new: remember now as its last run, send nothing.
    Start(DateTime<Utc>),
    /// Make the digest of `week` for the run scheduled at `at` (the latest one not yet made;
    /// earlier missed runs are skipped).
    Run {
        /// Scheduled time.
        at: DateTime<Utc>,
        /// The week the digest covers: the last full week before the run.
        week: IsoWeek,
    },
}

/// Decides what a schedule asks for, given its last recorded run and the time.
pub fn due(
    cron: &croner::Cron,
    tz: chrono_tz::Tz,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Due {
    let Some(last) = last else {
        return Due::Start(now);
    };
    match cron.find_previous_occurrence(&now.with_timezone(&tz), true) {
        Ok(prev) if prev.with_timezone(&Utc) > last => {
            let local_date = prev.date_naive();
            Due::Run {
                at: prev.with_timezone(&Utc),
                week: IsoWeek::of_date(local_date).prev(),
            }
        }
        _ => Due::Nothing,
    }
}

/// Meta key of a repository's last scheduled digest.
pub fn last_run_key(repo: &str) -> String {
    format!("digest-last-run:{repo}")
}

/// The scheduler's dependencies.
pub struct Scheduler {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The writer.
    pub committer: Committer,
    /// Per-repository settings.
    pub configs: Arc<RepoConfigs>,
    /// The server's channels.
    pub channels: DigestChannelsConfig,
    /// Whether a chat webhook is configured.
    pub webhook: bool,
    /// Grid data for the CI footprint.
    pub grid: Arc<IntensityCache>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Wakes the outbox worker.
    pub outbox: Arc<Notify>,
    /// Time between looks at the schedules (on the clock).
    pub poll: Duration,
    /// Name of this replica's lease on the schedules (unique per process).
    pub owner: String,
}

/// Name of the lease under which one replica at a time looks at the digest schedules.
pub const LEASE: &str = "digest-scheduler";

impl Scheduler {
    /// Looks at every repository's and organisation's schedule once; returns how many digests
    /// were queued. A store error while reading a schedule's last run skips that schedule this
    /// time (it is never read as "never ran").
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        // One replica at a time looks at the schedules; the others wait for its lease to lapse.
        let length = chrono::Duration::from_std(self.poll * 3)
            .unwrap_or(chrono::Duration::minutes(5))
            + chrono::Duration::minutes(1);
        let (store, claim) = (
            self.store.clone(),
            Claim::new(self.owner.clone(), now, length),
        );
        let held = tokio::task::spawn_blocking(move || store.try_lease(LEASE, &claim))
            .await
            .map_err(|e| StoreError::Db(format!("taking the schedule lease: {e}")))??;
        if !held {
            return Ok(0);
        }
        let store = self.store.clone();
        let repos = tokio::task::spawn_blocking(move || store.repos())
            .await
            .map_err(|e| StoreError::Db(format!("listing repositories: {e}")))??;
        // Every repository with a schedule, then every organisation.
        let mut jobs: Vec<(Scope, RepoConfig)> = repos
            .into_iter()
            .map(|r| {
                let cfg = self.configs.get(&r);
                (Scope::Repo(r), cfg)
            })
            .collect();
        for (org, sched) in &self.channels.orgs {
            let mut cfg = self.configs.get(&format!("{org}/.github"));
            cfg.digest = sched.clone();
            jobs.push((Scope::Org(org.clone()), cfg));
        }
        let mut queued = 0;
        for (scope, cfg) in jobs {
            match self.run_schedule(&scope, cfg, now).await {
                Ok(true) => queued += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(scope = %scope.key(), error = %e, "a digest schedule could not be checked; trying again at the next tick")
                }
            }
        }
        if queued > 0 {
            self.outbox.notify_one();
        }
        Ok(queued)
    }

    /// Checks one schedule and records its run (with the digest's actions) when one is due;
    /// true when a digest was queued.
    async fn run_schedule(
        &self,
        scope: &Scope,
        cfg: RepoConfig,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Ok(Some((cron, tz))) = cfg.digest.parsed() else {
            return Ok(false);
        };
        let key = last_run_key(&scope.key());
        let (store, k) = (self.store.clone(), key.clone());
        let previous = tokio::task::spawn_blocking(move || store.last_run(&k))
            .await
            .map_err(|e| StoreError::Db(format!("reading a schedule: {e}")))??;
        let (at, actions) = match due(&cron, tz, previous, now) {
            Due::Nothing => return Ok(false),
            Due::Start(t) => (t, Vec::new()),
            Due::Run { at, week } => (at, self.digest_actions(scope, cfg, week, now).await?),
        };
        let queued = !actions.is_empty();
        let op = WriteOp::ScheduledRun {
            key,
            previous,
            at,
            actions,
            now,
        };
        match self.committer.submit(op).await {
            Ok(canopy_core::WriteOutcome::Unchanged) => Ok(false),
            Ok(_) => Ok(queued),
            Err(e) => Err(StoreError::Db(format!("recording a scheduled digest: {e}"))),
        }
    }

    /// Builds the digest of `week` and its actions. A digest that cannot be built is logged
    /// and recorded as run anyway (it would fail the same way at every tick); a store error is
    /// returned so the run is tried again.
    async fn digest_actions(
        &self,
        scope: &Scope,
        cfg: RepoConfig,
        week: IsoWeek,
        now: DateTime<Utc>,
    ) -> Result<Vec<Enqueue>, StoreError> {
        let store = self.store.clone();
        let grid = cfg.carbon.region.clone().and_then(|r| self.grid.get(&r));
        let (channels, webhook, sc) = (self.channels.clone(), self.webhook, scope.clone());
        let made = tokio::task::spawn_blocking(move || {
            let built = digest::build(
                store.as_ref(),
                &sc,
                week,
                &cfg,
                grid.as_ref(),
                &Identities::default(),
                &[],
                None,
            )?;
            let platform = sc.platform(store.as_ref())?;
            digest::actions(&built, &sc, platform, &cfg, &channels, webhook, now)
        })
        .await
        .map_err(|e| StoreError::Db(format!("digest task failed: {e}")))?;
        match made {
            Ok(a) => {
                tracing::info!(scope = %scope.key(), week = %week, actions = a.len(), "digest queued");
                Ok(a)
            }
            Err(e) => match e.downcast::<StoreError>() {
                Ok(store_error) => Err(store_error),
                Err(e) => {
                    tracing::error!(scope = %scope.key(), week = %week, error = %format!("{e:#}"), "digest failed");
                    Ok(Vec::new())
                }
            },
        }
    }
}

impl Periodic for Scheduler {
    async fn turn(&mut self, t: &Turn<'_>) -> DateTime<Utc> {
        if let Err(e) = self.tick().await {
            tracing::error!(error = %e, "digest schedules could not be read");
        }
        let poll = chrono::Duration::from_std(self.poll).unwrap_or(chrono::Duration::minutes(1));
        t.clock.now() + poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::Platform;
    use canopy_analyzer::event::{ChangeAction, ChangeEvent, EventKind};
    use canopy_analyzer::{Actor, Event};
    use canopy_core::{ManualClock, OutboxItem};
    use canopy_store::faults::FailingStore;
    use canopy_store::{EventStore, RedbStore, ScheduleStore};
    use std::ops::ControlFlow;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_latest_missed_run_is_due_once() {
        let cron: croner::Cron = "0 9 * * MON".parse().unwrap();
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let now = t("2026-11-25T12:00:00Z");
        assert_eq!(due(&cron, tz, None, now), Due::Start(now));
        // Down since before Monday 2026-11-16 and 2026-11-23: only the 23rd's run is due.
        let d = due(&cron, tz, Some(t("2026-11-10T00:00:00Z")), now);
        assert_eq!(
            d,
            Due::Run {
                at: t("2026-11-23T08:00:00Z"),
                week: "2026-W47".parse().unwrap()
            }
        );
        assert_eq!(
            due(&cron, tz, Some(t("2026-11-23T08:00:00Z")), now),
            Due::Nothing
        );
    }

    fn event(n: u64, at: &str) -> Event {
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        Event::new(
            format!("pr:{n}:opened"),
            Platform::Github,
            "o/r",
            at,
            EventKind::Change(ChangeEvent::new(
                n,
                ChangeAction::Opened,
                Actor::github("ada"),
                at,
            )),
        )
    }

    /// A scheduler over `store` with a weekly digest on Mondays at 09:00 for every repository,
    /// on `clock`, looking every `poll`, as replica `owner`.
    fn weekly(
        store: Arc<dyn Store>,
        clock: Arc<ManualClock>,
        poll: Duration,
        owner: &str,
    ) -> Scheduler {
        let mut cfg = RepoConfig::default();
        cfg.digest.schedule = "0 9 * * MON".into();
        Scheduler {
            store: store.clone(),
            committer: Committer::spawn(store),
            configs: Arc::new(RepoConfigs::with_defaults(cfg)),
            channels: DigestChannelsConfig::default(),
            webhook: false,
            grid: Arc::new(IntensityCache::default()),
            clock,
            outbox: Arc::new(Notify::new()),
            poll,
            owner: owner.into(),
        }
    }

    fn digests(store: &dyn Store) -> Vec<OutboxItem> {
        let mut out = Vec::new();
        store
            .scan_outbox(false, &mut |i| {
                if i.id.starts_with("digest:") {
                    out.push(i);
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        out
    }

    #[tokio::test]
    async fn down_over_the_scheduled_time_then_restarted_sends_exactly_one_digest() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(t("2026-11-20T10:00:00Z")));
        let run = |clock: Arc<ManualClock>| {
            // The previous run's writer thread lets go of the store shortly after it is dropped.
            let mut tries = 0;
            let store = loop {
                match RedbStore::open(dir.path()) {
                    Ok(s) => break Arc::new(s) as Arc<dyn Store>,
                    Err(e) if tries < 200 => {
                        tries += 1;
                        let _ = e;
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            weekly(store, clock, Duration::from_millis(10), "test")
        };
        {
            let s = run(clock.clone());
            s.store
                .put_events(&[event(1, "2026-11-17T10:00:00Z")])
                .unwrap();
            // First sight of the schedule: remembered, nothing sent.
            assert_eq!(s.tick().await.unwrap(), 0);
            assert!(digests(s.store.as_ref()).is_empty());
        }
        // "Down" from Friday to Wednesday, over Monday 09:00.
        clock.set(t("2026-11-25T12:00:00Z"));
        let s = run(clock.clone());
        assert_eq!(s.tick().await.unwrap(), 1);
        assert_eq!(s.tick().await.unwrap(), 0, "the same run is not made twice");
        let items = digests(s.store.as_ref());
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].id, "digest:o/r:2026-W47:issue");
        drop(s);
        // Another restart the same day: still one.
        let s = run(clock.clone());
        assert_eq!(s.tick().await.unwrap(), 0);
        assert_eq!(digests(s.store.as_ref()).len(), 1);
        // The next Monday: one more.
        clock.set(t("2026-11-30T09:30:00Z"));
        assert_eq!(s.tick().await.unwrap(), 1);
        assert_eq!(digests(s.store.as_ref()).len(), 2);
    }

    #[tokio::test]
    async fn a_store_error_on_the_last_run_skips_the_tick_instead_of_losing_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let redb: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
        let store = Arc::new(FailingStore::new(redb));
        let clock = Arc::new(ManualClock::new(t("2026-11-20T10:00:00Z")));
        let s = weekly(
            store.clone(),
            clock.clone(),
            Duration::from_millis(10),
            "test",
        );
        store
            .put_events(&[event(1, "2026-11-17T10:00:00Z")])
            .unwrap();
        assert_eq!(s.tick().await.unwrap(), 0, "first sight: remembered");
        clock.set(t("2026-11-23T09:30:00Z"));
        // The record of the last run cannot be read: nothing is sent and nothing recorded…
        store.fail("last_run");
        assert_eq!(s.tick().await.unwrap(), 0);
        store.heal();
        assert!(digests(store.as_ref()).is_empty());
        assert_eq!(
            store.last_run(&last_run_key("o/r")).unwrap(),
            Some(t("2026-11-20T10:00:00Z")),
            "a failed read is not taken for \"never ran\""
        );
        // …and the due run is made at the next tick, once.
        assert_eq!(s.tick().await.unwrap(), 1);
        assert_eq!(s.tick().await.unwrap(), 0);
        assert_eq!(digests(store.as_ref()).len(), 1);
        // A store that cannot even list repositories reports it.
        store.fail("repos");
        assert!(s.tick().await.is_err());
    }

    #[tokio::test]
    async fn of_two_replicas_only_the_lease_holder_looks_at_the_schedules() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
        let clock = Arc::new(ManualClock::new(t("2026-11-20T10:00:00Z")));
        let replica =
            |owner: &str| weekly(store.clone(), clock.clone(), Duration::from_secs(60), owner);
        let (a, b) = (replica("a"), replica("b"));
        store
            .put_events(&[event(1, "2026-11-17T10:00:00Z")])
            .unwrap();
        assert_eq!(a.tick().await.unwrap(), 0, "first sight: remembered by a");
        clock.set(t("2026-11-23T09:30:00Z"));
        assert_eq!(a.tick().await.unwrap(), 1);
        clock.set(t("2026-11-23T09:31:00Z"));
        assert_eq!(b.tick().await.unwrap(), 0, "b does not hold the lease");
        assert_eq!(digests(store.as_ref()).len(), 1);
        // a dies; once its lease lapsed (3 polls + 1 minute), b takes the schedules over.
        clock.set(t("2026-11-30T09:30:00Z"));
        assert_eq!(b.tick().await.unwrap(), 1);
        assert_eq!(digests(store.as_ref()).len(), 2);
    }
}
