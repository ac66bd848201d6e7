//! The reactor: after a delivery is normalised, decide what Canopy does — refresh the sticky
//! comment of every change the events touch, answer `/canopy` commands, record consent. It reads
//! the store and returns decisions; the inbox stores them in the same transaction as the events.

pub mod rerun;
pub mod sticky;

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::{Arc, RwLock};

use canopy_analyzer::event::{ChangeAction, CommentEvent};
use canopy_analyzer::{Event, EventKind, Platform};
use chrono::{DateTime, Utc};

use crate::bot_command::{BotCommand, CommandKind, PREFIX, parse_comment};
use crate::carbon::{IntensityCache, RegionData};
use crate::inbox::{React, Reaction};
use crate::messages::{self, StickyView};
use crate::outbox::Action;
use crate::repo_config::{RepoConfig, parse_quiet_hours};
use crate::store::{Consent, Enqueue, EnqueueMode, EventStore, RedbStore};
use crate::ttm_service::{self, TtmCache};
use sticky::ChangeHistory;

/// Settings of every repository, refreshed in the background; the reactor only reads them.
#[derive(Debug, Default)]
pub struct RepoConfigs {
    defaults: RwLock<RepoConfig>,
    per_repo: RwLock<std::collections::HashMap<String, RepoConfig>>,
}

impl RepoConfigs {
    /// Settings with the server's defaults only.
    pub fn with_defaults(defaults: RepoConfig) -> RepoConfigs {
        RepoConfigs {
            defaults: RwLock::new(defaults),
            per_repo: RwLock::default(),
        }
    }

    /// The settings in force for a repository.
    pub fn get(&self, repo: &str) -> RepoConfig {
        if let Ok(m) = self.per_repo.read()
            && let Some(c) = m.get(repo)
        {
            return c.clone();
        }
        self.defaults.read().map(|d| d.clone()).unwrap_or_default()
    }

    /// Replaces a repository's settings (after a successful refresh).
    pub fn set(&self, repo: &str, cfg: RepoConfig) {
        if let Ok(mut m) = self.per_repo.write() {
            m.insert(repo.to_string(), cfg);
        }
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
}

impl Reactor {
    /// A reactor with the given settings.
    pub fn new(configs: Arc<RepoConfigs>) -> Reactor {
        Reactor {
            configs,
            bot_logins: vec!["canopy[bot]".into(), "canopy".into()],
            ttm: Arc::new(TtmCache::default()),
            grid: Arc::new(IntensityCache::default()),
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
        store: &RedbStore,
        key: &ChangeKey,
        h: &ChangeHistory,
        cfg: &RepoConfig,
        now: DateTime<Utc>,
        scheduled: Option<DateTime<Utc>>,
        out: &mut Reaction,
    ) -> Option<messages::RerunView> {
        let (platform, repo, number) = key;
        let t = rerun::latest_target(*platform, h)?;
        let window = deadline_span(cfg);
        let deadline = t.at + window;
        let grid = self.grid_for(cfg);
        let advice = rerun::advise(h, &t, cfg, grid.as_ref(), deadline);
        let item = store
            .outbox_item(&rerun::rerun_id(*platform, repo, *number, &t))
            .ok()
            .flatten();
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
                .filter(|i| i.state == crate::store::OutboxState::Pending)
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
                return None;
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
        Some(messages::rerun_advice(&view))
    }

    /// `/canopy defer` and `/canopy now`: schedule the change's latest rerun.
    #[allow(clippy::too_many_arguments)]
    fn defer_command(
        &self,
        store: &RedbStore,
        e: &Event,
        c: &CommentEvent,
        cmd: &BotCommand,
        now: DateTime<Utc>,
        cfg: &RepoConfig,
        marker: &str,
        user: &str,
        out: &mut Reaction,
    ) -> String {
        let key: ChangeKey = (e.platform, e.repo.clone(), c.number);
        let h = change_history(store, &key, &[]);
        let command = if *cmd == BotCommand::Now {
            "run now"
        } else {
            "defer"
        };
        let nothing =
            |reason: &str| messages::defer_reply(marker, user, command, "", None, None, reason);
        let Some(t) = rerun::latest_target(e.platform, &h) else {
            return nothing("this change has no failed CI run to rerun");
        };
        let jobs = rerun::job_words(&t);
        if e.platform == Platform::Github && t.run_id.is_none() {
            return nothing("the rerun request names no workflow run Canopy can re-run");
        }
        let id = rerun::rerun_id(e.platform, &e.repo, c.number, &t);
        if let Ok(Some(item)) = store.outbox_item(&id)
            && let Some(done) = item.done_at
        {
            return nothing(&format!(
                "that rerun already started at {}",
                rerun::clock_words(done, now)
            ));
        }
        let (when, savings) = match cmd {
            BotCommand::Defer { by } => {
                let deadline = by
                    .as_ref()
                    .map_or(now + deadline_span(cfg), |d| d.resolve(now));
                let Some(grid) = self.grid_for(cfg) else {
                    return nothing(&match &cfg.carbon.region {
                        Some(r) => format!("there is no intensity forecast for region {r} yet"),
                        None => "this repository has no carbon.region, so there is no forecast to choose a window from".into(),
                    });
                };
                let from_now = rerun::Target {
                    at: now,
                    ..t.clone()
                };
                let advice = rerun::advise(&h, &from_now, cfg, Some(&grid), deadline);
                if advice.criticality.critical {
                    return nothing(&format!(
                        "the rerun is critical ({})",
                        advice.criticality.reason
                    ));
                }
                let Some(choice) = advice.choice else {
                    return nothing("the forecast does not cover a full run before the deadline");
                };
                (
                    rerun::from_epoch(choice.best.start).max(now),
                    Some(format!("{:.0}", choice.savings_pct)),
                )
            }
            _ => (now, None),
        };
        out.actions.extend(rerun::schedule(
            e.platform, &e.repo, c.number, &t, when, now,
        ));
        if e.platform == Platform::Github {
            self.refresh_change_with(store, &key, &[], now, Some(when), out);
        }
        let when_words = rerun::clock_words(when, now);
        messages::defer_reply(
            marker,
            user,
            command,
            &jobs,
            Some(&when_words),
            savings.as_deref(),
            "",
        )
    }

    /// The time-to-merge section of an open change, when a model exists.
    fn ttm_view(
        &self,
        store: &RedbStore,
        key: &ChangeKey,
        h: &ChangeHistory,
        new: &[Event],
    ) -> Option<crate::messages::TtmView> {
        let (_, repo, number) = key;
        let latest = h.latest()?;
        if matches!(latest.action, ChangeAction::Merged | ChangeAction::Closed) {
            return None;
        }
        let model = self.ttm.model(store, repo)?;
        let t = h.events.last().map(|e| e.at_utc())?;
        let f = self.ttm.features(store, repo, new, *number, t);
        let p = model.predict(&f);
        let e = model.explain(&f);
        Some(ttm_service::view(&model, &f, &p, &e))
    }

    /// The answer to `/canopy explain` on a change.
    fn explain_reply(&self, store: &RedbStore, e: &Event, number: u64, marker: &str) -> String {
        let key = (e.platform, e.repo.clone(), number);
        let h = change_history(store, &key, std::slice::from_ref(e));
        let Some(model) = self.ttm.model(store, &e.repo) else {
            return messages::explain_unavailable(
                marker,
                "no time-to-merge model has been trained for this repository yet",
            );
        };
        let t = e.at_utc();
        if h.latest().is_none() {
            return messages::explain_unavailable(marker, "Canopy has not seen this change open");
        }
        let f = self
            .ttm
            .features(store, &e.repo, std::slice::from_ref(e), number, t);
        let p = model.predict(&f);
        let x = model.explain(&f);
        let view = ttm_service::view(&model, &f, &p, &x);
        messages::explain(
            marker,
            &view.headline,
            &ttm_service::explanation_lines(&f, &x),
        )
    }
}

/// (platform, repo, change number)
type ChangeKey = (Platform, String, u64);

impl React for Reactor {
    fn react(&self, store: &RedbStore, events: &[Event], now: DateTime<Utc>) -> Reaction {
        let mut reaction = Reaction::default();
        let mut touched: BTreeSet<ChangeKey> = BTreeSet::new();
        for e in events {
            if e.platform == Platform::Git {
                continue;
            }
            if let EventKind::Comment(c) = &e.kind {
                // Comments change nothing the sticky comment shows; only their commands matter.
                self.commands(store, e, c, now, &mut reaction);
                continue;
            }
            match e.change_number() {
                Some(n) => {
                    touched.insert((e.platform, e.repo.clone(), n));
                }
                None => {
                    if let Some(n) = e
                        .head_sha()
                        .and_then(|sha| change_of_sha(store, &e.repo, sha))
                    {
                        touched.insert((e.platform, e.repo.clone(), n));
                    }
                }
            }
        }
        for key in touched {
            self.refresh_change(store, &key, events, now, &mut reaction);
        }
        reaction
    }
}

/// The PR whose head a commit is, if known.
fn change_of_sha(store: &RedbStore, repo: &str, sha: &str) -> Option<u64> {
    let mut found = None;
    let _ = store.scan_sha(repo, sha, &mut |e| {
        if let EventKind::Change(c) = &e.kind {
            found = Some(c.number);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// A change's history from the store plus the events being processed (not stored yet).
pub fn change_history(store: &RedbStore, key: &ChangeKey, new: &[Event]) -> ChangeHistory {
    let (platform, repo, number) = key;
    let mut events: Vec<Event> = Vec::new();
    let _ = store.scan_change(repo, *number, &mut |e| {
        if e.platform == *platform {
            events.push(e);
        }
        ControlFlow::Continue(())
    });
    events.extend(
        new.iter()
            .filter(|e| {
                e.platform == *platform && &e.repo == repo && e.change_number() == Some(*number)
            })
            .cloned(),
    );
    // Jobs recorded by commit only (GitHub Actions): attach those of the change's heads.
    let heads = ChangeHistory::from_events(events.clone()).heads();
    for sha in &heads {
        let _ = store.scan_sha(repo, sha, &mut |e| {
            if matches!(e.kind, EventKind::CiJobFinished(_)) {
                events.push(e);
            }
            ControlFlow::Continue(())
        });
        events.extend(
            new.iter()
                .filter(|e| {
                    &e.repo == repo
                        && e.head_sha() == Some(sha)
                        && matches!(e.kind, EventKind::CiJobFinished(_))
                })
                .cloned(),
        );
    }
    ChangeHistory::from_events(events)
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
    fn refresh_change(
        &self,
        store: &RedbStore,
        key: &ChangeKey,
        new: &[Event],
        now: DateTime<Utc>,
        out: &mut Reaction,
    ) {
        self.refresh_change_with(store, key, new, now, None, out);
    }

    fn refresh_change_with(
        &self,
        store: &RedbStore,
        key: &ChangeKey,
        new: &[Event],
        now: DateTime<Utc>,
        scheduled: Option<DateTime<Utc>>,
        out: &mut Reaction,
    ) {
        let (platform, repo, number) = key;
        let cfg = self.configs.get(repo);
        let h = change_history(store, key, new);
        if h.changes.is_empty() {
            // Jobs or comments of a change Canopy has not seen open: nothing to anchor a comment to.
            return;
        }
        let view = StickyView {
            ttm: cfg
                .section_on("ttm")
                .then(|| self.ttm_view(store, key, &h, new))
                .flatten(),
            energy: cfg
                .section_on("energy")
                .then(|| sticky::energy_view(&h, &cfg, self.grid_for(&cfg).as_ref()))
                .flatten(),
            rerun: cfg
                .section_on("rerun")
                .then(|| self.rerun_section(store, key, &h, &cfg, now, scheduled, out))
                .flatten(),
            status: cfg
                .section_on("status")
                .then(|| sticky::status_line(&h))
                .flatten(),
        };
        match platform {
            Platform::Github => {
                if view.is_empty() {
                    return;
                }
                out.actions.push(Enqueue {
                    id: format!("sticky:github:{repo}#{number}"),
                    action: Action::UpsertComment {
                        repo: repo.clone(),
                        number: *number,
                        body: messages::sticky(&view),
                    },
                    due_at: post_time(&cfg, now),
                    mode: EnqueueMode::Replace,
                });
            }
            Platform::Gerrit => {
                // One message per patchset, once its CI has reported.
                let Some(ps) = h.latest().and_then(|c| c.patchset) else {
                    return;
                };
                let reported = new.iter().any(|e| {
                    matches!(&e.kind, EventKind::CiJobFinished(j) if j.patchset == Some(ps) && j.change == Some(*number))
                });
                if !reported {
                    return;
                }
                // Rerun advice is its own message, once per Zuul report it is about.
                if let (Some(advice), Some(t)) = (&view.rerun, rerun::latest_target(*platform, &h))
                {
                    out.actions.push(Enqueue {
                        id: format!("rerun-advice:gerrit:{repo}~{number}:{}", t.event_id),
                        action: Action::PostReviewMessage {
                            project: repo.clone(),
                            change: *number,
                            patchset: ps,
                            body: messages::gerrit_rerun(advice),
                        },
                        due_at: now,
                        mode: EnqueueMode::Once,
                    });
                }
                if view.energy.is_none() {
                    return;
                }
                let view = StickyView {
                    rerun: None,
                    ..view
                };
                out.actions.push(Enqueue {
                    id: format!("patchset:gerrit:{repo}~{number}/{ps}"),
                    action: Action::PostReviewMessage {
                        project: repo.clone(),
                        change: *number,
                        patchset: ps,
                        body: messages::gerrit_patchset(ps, &view),
                    },
                    due_at: post_time(&cfg, now),
                    mode: EnqueueMode::Once,
                });
            }
            Platform::Git => {}
        }
    }

    fn is_self(&self, c: &CommentEvent) -> bool {
        let name = c.author.name.as_deref().unwrap_or("").to_ascii_lowercase();
        self.bot_logins
            .iter()
            .any(|b| b.eq_ignore_ascii_case(&name))
            || c.author.is_bot()
    }

    fn commands(
        &self,
        store: &RedbStore,
        e: &Event,
        c: &CommentEvent,
        now: DateTime<Utc>,
        out: &mut Reaction,
    ) {
        if c.edited || self.is_self(c) || !c.body.contains(PREFIX) {
            return;
        }
        let cfg = self.configs.get(&e.repo);
        let user = c
            .author
            .name
            .clone()
            .unwrap_or_else(|| c.author.key.clone());
        for (i, parsed) in parse_comment(&c.body, now).into_iter().enumerate() {
            let marker = messages::reply_marker(&format!("{}-{i}", c.comment_id));
            let body = match parsed {
                Err(err) => {
                    let line = c
                        .body
                        .lines()
                        .map(str::trim)
                        .filter(|l| l.starts_with(PREFIX))
                        .nth(i)
                        .unwrap_or(PREFIX)
                        .to_string();
                    Some(messages::command_error(&marker, &line, &err))
                }
                Ok(cmd) => {
                    if !self.may_run(store, e, c, &cmd, &cfg) {
                        Some(messages::permission_denied(&marker, &user, cmd.kind()))
                    } else {
                        match cmd {
                            BotCommand::Help => Some(messages::help(&marker)),
                            BotCommand::OptIn | BotCommand::OptOut => {
                                let opted_in = cmd == BotCommand::OptIn;
                                out.consents.push(Consent {
                                    actor_key: c.author.key.clone(),
                                    opted_in,
                                    at: e.at_utc(),
                                    via: format!("{} comment {}#{}", e.platform, e.repo, c.number),
                                });
                                Some(messages::consent(&marker, &user, opted_in, cfg.privacy.k))
                            }
                            BotCommand::Explain => {
                                Some(self.explain_reply(store, e, c.number, &marker))
                            }
                            BotCommand::Defer { .. } | BotCommand::Now => {
                                Some(self.defer_command(
                                    store, e, c, &cmd, now, &cfg, &marker, &user, out,
                                ))
                            }
                        }
                    }
                }
            };
            if let Some(body) = body {
                out.actions.push(reply(e, c, i, marker, body, now));
            }
        }
    }

    /// Who may run what: anyone for help and explain, anyone for their own consent, and the
    /// change's author, maintainers or the rerun's requester for defer and now.
    fn may_run(
        &self,
        store: &RedbStore,
        e: &Event,
        c: &CommentEvent,
        cmd: &BotCommand,
        cfg: &RepoConfig,
    ) -> bool {
        match cmd.kind() {
            CommandKind::Help | CommandKind::Explain | CommandKind::OptIn | CommandKind::OptOut => {
                true
            }
            CommandKind::Defer | CommandKind::Now => {
                let maintainer = c.author_role.as_deref().is_some_and(|r| {
                    cfg.maintainers
                        .associations
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(r))
                }) || c.author.name.as_deref().is_some_and(|n| {
                    cfg.maintainers
                        .users
                        .iter()
                        .any(|u| u.eq_ignore_ascii_case(n))
                });
                if maintainer {
                    return true;
                }
                let h = change_history(store, &(e.platform, e.repo.clone(), c.number), &[]);
                let author = h.latest().is_some_and(|ch| ch.author.key == c.author.key);
                let requester = h.events.iter().any(|ev| matches!(&ev.kind, EventKind::RerunRequested(r) if r.requested_by.key == c.author.key));
                author || requester
            }
        }
    }
}

fn reply(
    e: &Event,
    c: &CommentEvent,
    i: usize,
    marker: String,
    body: String,
    now: DateTime<Utc>,
) -> Enqueue {
    let action = match e.platform {
        Platform::Gerrit => Action::PostReviewMessage {
            project: e.repo.clone(),
            change: c.number,
            patchset: 0,
            body,
        },
        _ => Action::PostComment {
            repo: e.repo.clone(),
            number: c.number,
            body,
            marker,
        },
    };
    Enqueue {
        id: format!(
            "reply:{}:{}#{}:{}:{i}",
            e.platform, e.repo, c.number, c.comment_id
        ),
        action,
        due_at: now,
        mode: EnqueueMode::Once,
    }
}

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
}
