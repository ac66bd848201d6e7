//! Scheduled digests: each repository's cron expression (croner, 5 fields, in its time zone) is
//! checked by a small loop. The last run handled is recorded in the store together with the
//! run's outbox actions, so a run missed while the bot was down is caught up once at the next
//! start, and none is sent twice.

use std::sync::Arc;
use std::time::Duration;

use canopy_analyzer::identity::Identities;
use canopy_analyzer::week::IsoWeek;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::Scope;
use crate::carbon::IntensityCache;
use crate::clock::Clock;
use crate::config::DigestChannelsConfig;
use crate::inbox::Committer;
use crate::inbox::tokio_shutdown::Signal;
use crate::react::RepoConfigs;
use crate::store::{EventStore, RedbStore, WriteOp};

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

/// The last scheduled run recorded for a repository.
pub fn last_run(store: &RedbStore, repo: &str) -> Option<DateTime<Utc>> {
    let bytes = store.get_meta(&last_run_key(repo)).ok()??;
    DateTime::parse_from_rfc3339(std::str::from_utf8(&bytes).ok()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The scheduler's dependencies.
pub struct Scheduler {
    /// The store.
    pub store: Arc<RedbStore>,
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
    /// Time between looks at the schedules.
    pub poll: Duration,
}

impl Scheduler {
    /// Looks at every repository's schedule once; returns how many digests were queued.
    pub async fn tick(&self) -> usize {
        let now = self.clock.now();
        let store = self.store.clone();
        let repos = tokio::task::spawn_blocking(move || store.repos().unwrap_or_default())
            .await
            .unwrap_or_default();
        let mut queued = 0;
        // Every repository with a schedule, then every organisation.
        let mut jobs: Vec<(Scope, crate::repo_config::RepoConfig)> = repos
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
        for (scope, cfg) in jobs {
            let Ok(Some((cron, tz))) = cfg.digest.parsed() else {
                continue;
            };
            let repo = scope.key();
            let last = last_run(&self.store, &repo);
            let (at, actions) = match due(&cron, tz, last, now) {
                Due::Nothing => continue,
                Due::Start(t) => (t, Vec::new()),
                Due::Run { at, week } => {
                    let store = self.store.clone();
                    let region = cfg.carbon.region.clone();
                    let grid = region.and_then(|r| self.grid.get(&r));
                    let channels = self.channels.clone();
                    let webhook = self.webhook;
                    let sc = scope.clone();
                    let made = tokio::task::spawn_blocking(move || {
                        let built = super::build(
                            &store,
                            &sc,
                            week,
                            &cfg,
                            grid.as_ref(),
                            &Identities::default(),
                            &[],
                            None,
                        )?;
                        let platform = sc.platform(&store);
                        super::actions(&built, &sc, platform, &cfg, &channels, webhook, now)
                    })
                    .await;
                    match made {
                        Ok(Ok(a)) => {
                            tracing::info!(repo = %repo, week = %week, actions = a.len(), "digest queued");
                            queued += 1;
                            (at, a)
                        }
                        Ok(Err(e)) => {
                            // Recorded as run anyway: a digest that cannot be built now would
                            // fail the same way at every tick.
                            tracing::error!(repo = %repo, week = %week, error = %format!("{e:#}"), "digest failed");
                            (at, Vec::new())
                        }
                        Err(e) => {
                            tracing::error!(repo = %repo, error = %e, "digest task failed");
                            continue;
                        }
                    }
                }
            };
            let op = WriteOp::ScheduledRun {
                key: last_run_key(&repo),
                at,
                actions,
                now,
            };
            if let Err(e) = self.committer.submit(op).await {
                tracing::error!(repo = %repo, error = %e, "recording a scheduled digest failed");
            }
        }
        if queued > 0 {
            self.outbox.notify_one();
        }
        queued
    }

    /// Runs until `shutdown`, looking at the schedules every `poll`.
    pub fn start(self, mut shutdown: Signal) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                self.tick().await;
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = shutdown.wait() => return,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::repo_config::RepoConfig;
    use crate::store::OutboxItem;
    use canopy_analyzer::Platform;
    use canopy_analyzer::event::{ChangeAction, ChangeEvent, EventKind};
    use canopy_analyzer::{Actor, Event};
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

    fn digests(store: &RedbStore) -> Vec<OutboxItem> {
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
        let mut cfg = RepoConfig::default();
        cfg.digest.schedule = "0 9 * * MON".into();
        let clock = Arc::new(ManualClock::new(t("2026-11-20T10:00:00Z")));
        let run = |clock: Arc<ManualClock>| {
            // The previous run's writer thread lets go of the store shortly after it is dropped.
            let mut tries = 0;
            let store = loop {
                match RedbStore::open(dir.path()) {
                    Ok(s) => break Arc::new(s),
                    Err(e) if tries < 200 => {
                        tries += 1;
                        let _ = e;
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            Scheduler {
                store: store.clone(),
                committer: Committer::spawn(store),
                configs: Arc::new(RepoConfigs::with_defaults(cfg.clone())),
                channels: DigestChannelsConfig::default(),
                webhook: false,
                grid: Arc::new(IntensityCache::default()),
                clock,
                outbox: Arc::new(Notify::new()),
                poll: Duration::from_millis(10),
            }
        };
        {
            let s = run(clock.clone());
            s.store
                .put_events(&[event(1, "2026-11-17T10:00:00Z")])
                .unwrap();
            // First sight of the schedule: remembered, nothing sent.
            assert_eq!(s.tick().await, 0);
            assert!(digests(&s.store).is_empty());
        }
        // "Down" from Friday to Wednesday, over Monday 09:00.
        clock.set(t("2026-11-25T12:00:00Z"));
        let s = run(clock.clone());
        assert_eq!(s.tick().await, 1);
        assert_eq!(s.tick().await, 0, "the same run is not made twice");
        let items = digests(&s.store);
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].id, "digest:o/r:2026-W47:issue");
        drop(s);
        // Another restart the same day: still one.
        let s = run(clock.clone());
        assert_eq!(s.tick().await, 0);
        assert_eq!(digests(&s.store).len(), 1);
        // The next Monday: one more.
        clock.set(t("2026-11-30T09:30:00Z"));
        assert_eq!(s.tick().await, 1);
        assert_eq!(digests(&s.store).len(), 2);
    }
}
