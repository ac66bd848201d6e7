//! The reactor: after a delivery is normalised, decide what Canopy does — refresh the sticky
//! comment of every change the events touch, answer `/canopy` commands, record consent. It reads
//! the store and returns decisions; the inbox stores them in the same transaction as the events.
//! A store error is returned, never read as "nothing there": the delivery is then quarantined
//! with it and can be retried.

mod commands;
mod post;
pub mod rerun;
pub mod sticky;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use canopy_analyzer::event::ChangeAction;
use canopy_analyzer::{Event, EventKind, Platform};
use canopy_core::{Consent, Enqueue, OutboxState};
use canopy_models::ttm::online::OnlineState;
use canopy_store::{EventStore, Store, StoreError};
use chrono::{DateTime, Utc};

use crate::carbon::{IntensityCache, RegionData};
use crate::messages::{self, StickyView};
use crate::repo_config::{RepoConfig, RepoConfigs, parse_quiet_hours};
use crate::ttm::{self, TtmCache};
use crate::ttm_online::{self, Why};
use post::{gerrit_messages, github_sticky};
use sticky::ChangeHistory;

/// Time-to-merge online states by repository, carried from one delivery of a batch to the next.
pub type Carried = BTreeMap<String, OnlineState>;

/// What a reactor decided about a delivery's events.
#[derive(Debug, Default, Clone)]
pub struct Reaction {
    /// Actions to enqueue.
    pub actions: Vec<Enqueue>,
    /// Consent changes to record.
    pub consents: Vec<Consent>,
    /// Time-to-merge online states these events changed (or read), by repository.
    pub ttm: BTreeMap<String, OnlineState>,
}

impl Reaction {
    /// The small named values to store with the events (see [`canopy_core::WriteOp`]).
    pub fn meta(&self) -> Vec<(String, Vec<u8>)> {
        self.ttm
            .iter()
            .map(|(repo, s)| (ttm_online::online_key(repo), ttm_online::encode_online(s)))
            .collect()
    }
}

/// Decides what to do about new events (comments to update, commands to answer). It reads the
/// store but never writes: its decisions are stored in the same transaction as the events.
pub trait React: Send + Sync + 'static {
    /// The reaction to the events of one delivery, given the time; a store error is returned
    /// (the delivery is then quarantined with it, to be retried).
    fn react(
        &self,
        store: &dyn Store,
        events: &[Event],
        now: DateTime<Utc>,
    ) -> Result<Reaction, StoreError>;

    /// The reaction to one delivery of a batch, starting from the time-to-merge states the
    /// batch's earlier deliveries left (`carried`, by repository; one not in it is read from
    /// the store and added): the states are changed in `carried` (the reaction's `ttm` stays
    /// empty), so a batch decodes and encodes each state once instead of once per delivery.
    /// On an error or a panic, `carried` may hold partial changes: a caller that goes on
    /// uses [`canopy_models::ttm::online::OnlineState::begin`] and `rollback`. The default
    /// ignores `carried` (for reactors that keep no such state).
    fn react_carried(
        &self,
        store: &dyn Store,
        events: &[Event],
        now: DateTime<Utc>,
        carried: &mut Carried,
    ) -> Result<Reaction, StoreError> {
        let _ = carried;
        self.react(store, events, now)
    }

    /// Loads what the reactor keeps in memory (the repositories' time-to-merge histories)
    /// before the first delivery needs it; the worker pool calls it when it starts. Nothing
    /// by default.
    fn warm(&self, store: &dyn Store) -> Result<(), StoreError> {
        let _ = store;
        Ok(())
    }
}

/// A reactor that never acts (ingest only).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReactions;

impl React for NoReactions {
    fn react(&self, _: &dyn Store, _: &[Event], _: DateTime<Utc>) -> Result<Reaction, StoreError> {
        Ok(Reaction::default())
    }
}

/// The production reactor.
pub struct Reactor {
    /// Per-repository settings.
    pub configs: Arc<RepoConfigs>,
    /// Logins of Canopy itself (its own comments are never read as commands).
    pub bot_logins: Vec<String>,
    /// Time-to-merge models and histories.
    pub ttm: Arc<TtmCache>,
    /// Grid intensity per region, refreshed in the background.
    pub grid: Arc<IntensityCache>,
    /// CI jobs' stopping points already learned (sticky refreshes of failed jobs).
    pub stopping: Arc<crate::ci_insights::StoppingMemo>,
}

/// (platform, repo, change number)
type ChangeKey = (Platform, String, u64);

impl Reactor {
    /// A reactor with the given settings.
    pub fn new(configs: Arc<RepoConfigs>) -> Reactor {
        Reactor {
            configs,
            bot_logins: vec!["canopy[bot]".into(), "canopy".into()],
            ttm: Arc::new(TtmCache::default()),
            grid: Arc::new(IntensityCache::default()),
            stopping: Arc::default(),
        }
    }

    /// The intensity data of a repository's region, if it has one and data was fetched.
    fn grid_for(&self, cfg: &RepoConfig) -> Option<RegionData> {
        cfg.carbon.region.as_deref().and_then(|r| self.grid.get(r))
    }

    /// The rerun advice of a change, scheduling it when `auto_defer` is on. `scheduled` is a
    /// deferral decided in this same reaction (not in the store yet).
    #[allow(clippy::too_many_arguments)]
    fn rerun_section(
        &self,
        store: &dyn Store,
        key: &ChangeKey,
        h: &ChangeHistory,
        cfg: &RepoConfig,
        now: DateTime<Utc>,
        scheduled: Option<DateTime<Utc>>,
        out: &mut Reaction,
    ) -> Result<Option<messages::RerunView>, StoreError> {
        let (platform, repo, number) = key;
        let Some(t) = rerun::latest_target(*platform, h) else {
            return Ok(None);
        };
        let window = deadline_span(cfg);
        let deadline = t.at + window;
        let grid = self.grid_for(cfg);
        let advice = rerun::advise(h, &t, cfg, grid.as_ref(), deadline);
        let item = store.outbox_item(&rerun::rerun_id(*platform, repo, *number, &t))?;
        let mut view = messages::RerunAdvice {
            platform: platform.as_str().to_string(),
            jobs: rerun::job_words(&t),
            reason: advice.criticality.reason.clone(),
            region: format!(
                "{}{}",
                cfg.carbon.region.clone().unwrap_or_default(),
                grid.as_ref()
                    .map(|g| format!(", {}", g.source))
                    .unwrap_or_default()
            ),
            duration: rerun::duration_words(advice.duration_secs),
            deadline: cfg.reruns.default_deadline.clone(),
            stale: grid.as_ref().and_then(|g| g.stale.clone()),
            ..messages::RerunAdvice::default()
        };
        if let Some(c) = advice.choice {
            view.now_g = format!("{:.0}", c.now.map_or(0.0, |n| n.avg_intensity));
            view.best_g = format!("{:.0}", c.best.avg_intensity);
            view.savings = format!("{:.0}", c.savings_pct);
            view.start = rerun::clock_words(rerun::from_epoch(c.best.start), now);
        }
        let due = scheduled.or_else(|| {
            item.as_ref()
                .filter(|i| i.state == OutboxState::Pending)
                .map(|i| i.due_at)
        });
        if let Some(done) = item.as_ref().and_then(|i| i.done_at) {
            view.ran = true;
            view.start = rerun::clock_words(done, now);
        } else if let Some(due) = due {
            view.deferred = true;
            view.start = rerun::clock_words(due, now);
        } else {
            if now > deadline || !rerun::worth_deferring(&advice, cfg) {
                return Ok(None);
            }
            if cfg.reruns.auto_defer
                && let Some(c) = advice.choice
            {
                let when = rerun::from_epoch(c.best.start).max(now);
                out.actions
                    .extend(rerun::schedule(*platform, repo, *number, &t, when, now));
                view.deferred = true;
                view.start = rerun::clock_words(when, now);
            }
        }
        Ok(Some(messages::rerun_advice(&view)))
    }

    /// A repository's online state: as this reaction left it, else as stored, else fresh for
    /// `model` (`None` when there is none and no model).
    fn online<'a>(
        &self,
        store: &dyn Store,
        out: &'a mut Reaction,
        repo: &str,
        model: Option<&canopy_models::ttm::TtmModel>,
    ) -> Result<Option<&'a mut OnlineState>, StoreError> {
        if !out.ttm.contains_key(repo) {
            let state = match ttm_online::load_online(store, repo)? {
                Some(s) => s,
                None => match model {
                    Some(m) => OnlineState::for_model(m, canopy_models::ttm::aci::DEFAULT_GAMMA),
                    None => return Ok(None),
                },
            };
            out.ttm.insert(repo.to_string(), state);
        }
        Ok(out.ttm.get_mut(repo))
    }

    /// A change merged or closed: its first prediction is scored (the adaptive interval and
    /// the rolling errors move) or forgotten.
    fn ttm_outcome(
        &self,
        store: &dyn Store,
        e: &Event,
        out: &mut Reaction,
    ) -> Result<(), StoreError> {
        let EventKind::Change(c) = &e.kind else {
            return Ok(());
        };
        if !matches!(c.action, ChangeAction::Merged | ChangeAction::Closed) {
            return Ok(());
        }
        let Some(state) = self.online(store, out, &e.repo, None)? else {
            return Ok(());
        };
        state.tick(e.at_utc().timestamp());
        if c.action == ChangeAction::Closed {
            state.closed(c.number);
            return Ok(());
        }
        let hours = (e.at_utc() - c.created_at.with_timezone(&Utc))
            .num_seconds()
            .max(0) as f64
            / 3600.0;
        if let Some(o) = state.merged(c.number, hours) {
            tracing::debug!(repo = %e.repo, change = c.number, below = o.below, above = o.above, model_error = o.model_error, "time-to-merge prediction scored");
        }
        Ok(())
    }

    /// The time-to-merge section of an open change: the model's prediction when it has clearly
    /// beaten the running median on recent merges, else the running median, labelled as such.
    /// The model's prediction is recorded either way, to be scored when the change merges.
    fn ttm_view(
        &self,
        store: &dyn Store,
        key: &ChangeKey,
        h: &ChangeHistory,
        new: &[Event],
        out: &mut Reaction,
    ) -> Result<Option<messages::TtmView>, StoreError> {
        let (_, repo, number) = key;
        let Some(latest) = h.latest() else {
            return Ok(None);
        };
        if matches!(latest.action, ChangeAction::Merged | ChangeAction::Closed) {
            return Ok(None);
        }
        let Some(t) = h.events.last().map(|e| e.at_utc()) else {
            return Ok(None);
        };
        let (f, spread) = self.ttm.features_and_spread(store, repo, new, *number, t)?;
        let Some(model) = self.ttm.model(store, repo)? else {
            return Ok(spread.map(|s| ttm_online::median_view(&s, Why::NoModel)));
        };
        let Some(state) = self.online(store, out, repo, Some(&model))? else {
            return Ok(None);
        };
        state.tick(t.timestamp());
        let choice = state.choice();
        let p = state.predict(
            &model,
            *number,
            &f,
            t.timestamp(),
            spread.map(|s| s.p50_hours),
        );
        if let (false, Some(s)) = (choice.is_model(), spread) {
            return Ok(Some(ttm_online::median_view(&s, Why::of(&choice))));
        }
        // The model: shown on its record, or for want of a running median to fall back on.
        let mut view = ttm::view(&model, &f, &p, &self.ttm.explain(&model, &f));
        if choice.is_model() {
            view.note = ttm_online::with_record(view.note, &choice);
        }
        Ok(Some(view))
    }
}

impl React for Reactor {
    fn warm(&self, store: &dyn Store) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let loaded = self.ttm.warm(store)?;
        tracing::info!(
            repositories = loaded,
            ms = started.elapsed().as_millis() as u64,
            "time-to-merge histories loaded"
        );
        Ok(())
    }

    fn react(
        &self,
        store: &dyn Store,
        events: &[Event],
        now: DateTime<Utc>,
    ) -> Result<Reaction, StoreError> {
        let mut carried = Carried::new();
        let mut reaction = self.react_carried(store, events, now, &mut carried)?;
        reaction.ttm = carried;
        Ok(reaction)
    }

    fn react_carried(
        &self,
        store: &dyn Store,
        events: &[Event],
        now: DateTime<Utc>,
        carried: &mut Carried,
    ) -> Result<Reaction, StoreError> {
        // The states live in the reaction while it is decided and go back to `carried` however
        // it ends (an error or a panic included).
        let mut back = GiveBack {
            to: carried,
            reaction: Reaction::default(),
        };
        back.reaction.ttm = std::mem::take(back.to);
        self.react_into(store, events, now, &mut back.reaction)?;
        Ok(Reaction {
            actions: std::mem::take(&mut back.reaction.actions),
            consents: std::mem::take(&mut back.reaction.consents),
            ttm: BTreeMap::new(),
        })
    }
}

/// Hands a reaction's time-to-merge states back to the carried ones when dropped.
struct GiveBack<'a> {
    to: &'a mut Carried,
    reaction: Reaction,
}

impl Drop for GiveBack<'_> {
    fn drop(&mut self) {
        *self.to = std::mem::take(&mut self.reaction.ttm);
    }
}

impl Reactor {
    /// The reaction to a delivery's events, its time-to-merge states in `reaction.ttm`.
    fn react_into(
        &self,
        store: &dyn Store,
        events: &[Event],
        now: DateTime<Utc>,
        reaction: &mut Reaction,
    ) -> Result<(), StoreError> {
        let mut touched: BTreeSet<ChangeKey> = BTreeSet::new();
        for e in events {
            if e.platform == Platform::Git {
                continue;
            }
            if let EventKind::Comment(c) = &e.kind {
                // Comments change nothing the sticky comment shows; only their commands matter.
                self.commands(store, e, c, now, reaction)?;
                continue;
            }
            self.ttm_outcome(store, e, reaction)?;
            let number = match (e.change_number(), e.head_sha()) {
                (Some(n), _) => Some(n),
                (None, Some(sha)) => change_of_sha(store, &e.repo, sha)?,
                (None, None) => None,
            };
            if let Some(n) = number {
                touched.insert((e.platform, e.repo.clone(), n));
            }
        }
        for key in touched {
            self.refresh_change(store, &key, events, now, None, reaction)?;
        }
        Ok(())
    }
}

/// The PR whose head a commit is, if known (read by key).
fn change_of_sha(store: &dyn EventStore, repo: &str, sha: &str) -> Result<Option<u64>, StoreError> {
    store.change_of_sha(repo, sha)
}

/// A change's history from the store plus the events being processed (not stored yet).
pub fn change_history(
    store: &dyn EventStore,
    key: &ChangeKey,
    new: &[Event],
) -> Result<ChangeHistory, StoreError> {
    let (platform, repo, number) = key;
    let mut events: Vec<Event> = Vec::new();
    store.scan_change(repo, *number, &mut |e| {
        if e.platform == *platform {
            events.push(e);
        }
        ControlFlow::Continue(())
    })?;
    let new_where = |pred: &dyn Fn(&Event) -> bool| -> Vec<Event> {
        new.iter().filter(|e| pred(e)).cloned().collect()
    };
    events.extend(new_where(&|e| {
        e.platform == *platform && &e.repo == repo && e.change_number() == Some(*number)
    }));
    // Jobs recorded by commit only (GitHub Actions): attach those of the change's heads.
    let heads = ChangeHistory::heads_of(&events);
    for sha in &heads {
        store.scan_sha_jobs(repo, sha, &mut |e| {
            events.push(e);
            ControlFlow::Continue(())
        })?;
        events.extend(new_where(&|e| {
            &e.repo == repo && e.head_sha() == Some(sha) && is_ci(e)
        }));
    }
    Ok(ChangeHistory::from_events(events))
}

/// A CI job, or its measured energy.
fn is_ci(e: &Event) -> bool {
    matches!(
        e.kind,
        EventKind::CiJobFinished(_) | EventKind::CiEnergyMeasured(_)
    )
}

/// When an update may be posted: now, or the end of the repository's quiet hours.
pub fn post_time(cfg: &RepoConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    let Some((start, end)) = cfg
        .comment
        .quiet_hours
        .as_deref()
        .and_then(parse_quiet_hours)
    else {
        return now;
    };
    let t = now.time();
    let quiet = if start <= end {
        t >= start && t < end
    } else {
        t >= start || t < end
    };
    if !quiet {
        return now;
    }
    let mut day = now.date_naive();
    if start > end && t >= start {
        day = day.succ_opt().unwrap_or(day);
    }
    day.and_time(end).and_utc().max(now)
}

/// The default deadline of a deferral.
fn deadline_span(cfg: &RepoConfig) -> chrono::Duration {
    match crate::bot_command::parse_deadline(&cfg.reruns.default_deadline, DateTime::UNIX_EPOCH) {
        Ok(d) => d.resolve(DateTime::UNIX_EPOCH) - DateTime::UNIX_EPOCH,
        Err(_) => chrono::Duration::hours(12),
    }
}

impl Reactor {
    /// Recomputes what a change's sticky comment (GitHub) or patchset message (Gerrit) says
    /// and queues it. `scheduled` is a rerun deferral decided in this same reaction.
    fn refresh_change(
        &self,
        store: &dyn Store,
        key: &ChangeKey,
        new: &[Event],
        now: DateTime<Utc>,
        scheduled: Option<DateTime<Utc>>,
        out: &mut Reaction,
    ) -> Result<(), StoreError> {
        let (platform, repo, _) = key;
        let cfg = self.configs.get(repo);
        let h = change_history(store, key, new)?;
        if h.changes.is_empty() {
            // Jobs or comments of a change Canopy has not seen open: nothing to anchor a comment to.
            return Ok(());
        }
        let ttm = match cfg.section_on("ttm") {
            true => self.ttm_view(store, key, &h, new, out)?,
            false => None,
        };
        let rerun = match cfg.section_on("rerun") {
            true => self.rerun_section(store, key, &h, &cfg, now, scheduled, out)?,
            false => None,
        };
        let stopping = match cfg.section_on("energy") {
            true => crate::ci_insights::change_notes(
                store,
                repo,
                &h,
                &canopy_models::stopping::Settings::default(),
                &self.stopping,
            )?,
            false => Vec::new(),
        };
        let view = StickyView {
            stopping,
            ttm,
            energy: cfg
                .section_on("energy")
                .then(|| sticky::energy_view(&h, &cfg, self.grid_for(&cfg).as_ref()))
                .flatten(),
            rerun,
            status: cfg
                .section_on("status")
                .then(|| sticky::status_line(&h))
                .flatten(),
        };
        match platform {
            Platform::Github => github_sticky(key, view, &cfg, now, out),
            Platform::Gerrit => gerrit_messages(key, &h, view, new, &cfg, now, out),
            Platform::Git => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod ttm_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    fn at_time(day: DateTime<Utc>, h: u32, m: u32) -> DateTime<Utc> {
        day.date_naive()
            .and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap())
            .and_utc()
    }

    #[test]
    fn quiet_hours_postpone_updates_to_their_end() {
        let cfg = RepoConfig::parse("[comment]\nquiet_hours = \"22:00-07:00\"\n").unwrap();
        let day: DateTime<Utc> = "2026-11-23T00:00:00Z".parse().unwrap();
        assert_eq!(post_time(&cfg, at_time(day, 12, 0)), at_time(day, 12, 0));
        assert_eq!(post_time(&cfg, at_time(day, 3, 0)), at_time(day, 7, 0));
        let next = day + chrono::Duration::days(1);
        assert_eq!(post_time(&cfg, at_time(day, 23, 0)), at_time(next, 7, 0));
        let day_cfg = RepoConfig::parse("[comment]\nquiet_hours = \"12:00-13:00\"\n").unwrap();
        assert_eq!(
            post_time(&day_cfg, at_time(day, 12, 30)),
            at_time(day, 13, 0)
        );
    }

    /// A fixture delivery's events, through the GitHub normaliser.
    fn fixture(event: &str, name: &str) -> Vec<Event> {
        let path = format!(
            "{}/../../tests/fixtures/github/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read(&path).unwrap();
        let now = "2026-11-05T12:00:00Z".parse().unwrap();
        canopy_forge::github::normalize::normalize(event, name, &body, now)
            .unwrap()
            .events
    }

    #[test]
    fn a_store_error_while_deciding_is_returned_never_read_as_absent() {
        use canopy_store::faults::FailingStore;
        let dir = tempfile::tempdir().unwrap();
        let redb: Arc<dyn Store> = Arc::new(canopy_store::RedbStore::open(dir.path()).unwrap());
        let store = FailingStore::new(redb);
        for (event, name) in [
            ("pull_request", "pull_request.opened.json"),
            ("pull_request", "pull_request.synchronize.json"),
            ("workflow_job", "workflow_job.completed.json"),
        ] {
            store.put_events(&fixture(event, name)).unwrap();
        }
        let reactor = Reactor::new(Arc::new(RepoConfigs::default()));
        let now: DateTime<Utc> = "2026-11-05T12:00:00Z".parse().unwrap();
        let job = fixture("workflow_job", "workflow_job.completed.lint.json");
        let rerun = fixture("workflow_run", "workflow_run.requested.rerun.json");
        let command = fixture("issue_comment", "issue_comment.command.json");
        // Each lookup the reactor makes: the commit's change (a job names only its commit),
        // the change's history, the outbox item of a deferral, the history behind a command.
        for (method, events) in [
            ("change_of_sha", &job),
            ("scan_change", &job),
            ("outbox_item", &rerun),
            ("scan_change", &command),
        ] {
            assert!(
                reactor.react(&store, events, now).is_ok(),
                "{method} healthy"
            );
            store.fail(method);
            let err = reactor.react(&store, events, now).unwrap_err();
            assert!(err.to_string().contains(method), "{method}: {err}");
            store.heal();
        }
    }
}
