//! `/canopy` commands in comments: parsed, permission-checked and answered with one reply per
//! command line; `defer` and `now` schedule the change's latest rerun, `opt-in` and `opt-out`
//! record consent, `explain` details the time-to-merge prediction.

use canopy_analyzer::event::CommentEvent;
use canopy_analyzer::{Event, EventKind, Platform};
use canopy_core::{Action, Consent, Enqueue, EnqueueMode};
use canopy_store::{Store, StoreError};
use chrono::{DateTime, Utc};

use super::{ChangeKey, Reaction, Reactor, change_history, deadline_span, rerun};
use crate::bot_command::{BotCommand, CommandKind, PREFIX, parse_comment};
use crate::messages;
use crate::repo_config::RepoConfig;
use crate::ttm;

/// One command's context: the comment, who wrote it, and the marker of its reply.
struct Asked<'a> {
    e: &'a Event,
    c: &'a CommentEvent,
    cfg: &'a RepoConfig,
    marker: &'a str,
    user: &'a str,
    now: DateTime<Utc>,
}

impl Reactor {
    fn is_self(&self, c: &CommentEvent) -> bool {
        let name = c.author.name.as_deref().unwrap_or("").to_ascii_lowercase();
        self.bot_logins
            .iter()
            .any(|b| b.eq_ignore_ascii_case(&name))
            || c.author.is_bot()
    }

    /// Answers every `/canopy` command of a comment (edits and Canopy's own comments are not
    /// read as commands).
    pub(super) fn commands(
        &self,
        store: &dyn Store,
        e: &Event,
        c: &CommentEvent,
        now: DateTime<Utc>,
        out: &mut Reaction,
    ) -> Result<(), StoreError> {
        if c.edited || self.is_self(c) || !c.body.contains(PREFIX) {
            return Ok(());
        }
        let cfg = self.configs.get(&e.repo);
        let user = c
            .author
            .name
            .clone()
            .unwrap_or_else(|| c.author.key.clone());
        for (i, parsed) in parse_comment(&c.body, now).into_iter().enumerate() {
            let marker = messages::reply_marker(&format!("{}-{i}", c.comment_id));
            let asked = Asked {
                e,
                c,
                cfg: &cfg,
                marker: &marker,
                user: &user,
                now,
            };
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
                    messages::command_error(&marker, &line, &err)
                }
                Ok(cmd) if !self.may_run(store, e, c, &cmd, &cfg)? => {
                    messages::permission_denied(&marker, &user, cmd.kind())
                }
                Ok(cmd) => self.answer(store, &asked, cmd, out)?,
            };
            out.actions.push(reply(e, c, i, marker, body, now));
        }
        Ok(())
    }

    /// The reply to a permitted command, and what it decides.
    fn answer(
        &self,
        store: &dyn Store,
        a: &Asked<'_>,
        cmd: BotCommand,
        out: &mut Reaction,
    ) -> Result<String, StoreError> {
        Ok(match cmd {
            BotCommand::Help => messages::help(a.marker),
            BotCommand::OptIn | BotCommand::OptOut => {
                let opted_in = cmd == BotCommand::OptIn;
                out.consents.push(Consent {
                    actor_key: a.c.author.key.clone(),
                    opted_in,
                    at: a.e.at_utc(),
                    via: format!("{} comment {}#{}", a.e.platform, a.e.repo, a.c.number),
                });
                messages::consent(a.marker, a.user, opted_in, a.cfg.privacy.k())
            }
            BotCommand::Explain => self.explain_reply(store, a.e, a.c.number, a.marker)?,
            BotCommand::Defer { .. } | BotCommand::Now => {
                self.defer_command(store, a, &cmd, out)?
            }
        })
    }

    /// `/canopy defer` and `/canopy now`: schedule the change's latest rerun.
    fn defer_command(
        &self,
        store: &dyn Store,
        a: &Asked<'_>,
        cmd: &BotCommand,
        out: &mut Reaction,
    ) -> Result<String, StoreError> {
        let (e, c, now) = (a.e, a.c, a.now);
        let key: ChangeKey = (e.platform, e.repo.clone(), c.number);
        let h = change_history(store, &key, &[])?;
        let command = if *cmd == BotCommand::Now {
            "run now"
        } else {
            "defer"
        };
        let nothing =
            |reason: &str| messages::defer_reply(a.marker, a.user, command, "", None, None, reason);
        let Some(t) = rerun::latest_target(e.platform, &h) else {
            return Ok(nothing("this change has no failed CI run to rerun"));
        };
        let jobs = rerun::job_words(&t);
        if e.platform == Platform::Github && t.run_id.is_none() {
            return Ok(nothing(
                "the rerun request names no workflow run Canopy can re-run",
            ));
        }
        let id = rerun::rerun_id(e.platform, &e.repo, c.number, &t);
        if let Some(done) = store.outbox_item(&id)?.and_then(|item| item.done_at) {
            return Ok(nothing(&format!(
                "that rerun already started at {}",
                rerun::clock_words(done, now)
            )));
        }
        let (when, savings) = match cmd {
            BotCommand::Defer { by } => {
                let deadline = by
                    .as_ref()
                    .map_or(now + deadline_span(a.cfg), |d| d.resolve(now));
                match self.greenest(&h, &t, a.cfg, now, deadline) {
                    Ok(found) => found,
                    Err(reason) => return Ok(nothing(&reason)),
                }
            }
            _ => (now, None),
        };
        out.actions.extend(rerun::schedule(
            e.platform, &e.repo, c.number, &t, when, now,
        ));
        if e.platform == Platform::Github {
            self.refresh_change(store, &key, &[], now, Some(when), out)?;
        }
        let when_words = rerun::clock_words(when, now);
        Ok(messages::defer_reply(
            a.marker,
            a.user,
            command,
            &jobs,
            Some(&when_words),
            savings.as_deref(),
            "",
        ))
    }

    /// The greenest start of a rerun asked for now, before `deadline`, and the saving in
    /// percent; or why there is none.
    fn greenest(
        &self,
        h: &super::ChangeHistory,
        t: &rerun::Target,
        cfg: &RepoConfig,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, Option<String>), String> {
        let Some(grid) = self.grid_for(cfg) else {
            return Err(match &cfg.carbon.region {
                Some(r) => format!("there is no intensity forecast for region {r} yet"),
                None => "this repository has no carbon.region, so there is no forecast to choose a window from".into(),
            });
        };
        let from_now = rerun::Target {
            at: now,
            ..t.clone()
        };
        let advice = rerun::advise(h, &from_now, cfg, Some(&grid), deadline);
        if advice.criticality.critical {
            return Err(format!(
                "the rerun is critical ({})",
                advice.criticality.reason
            ));
        }
        let Some(choice) = advice.choice else {
            return Err("the forecast does not cover a full run before the deadline".into());
        };
        Ok((
            rerun::from_epoch(choice.best.start).max(now),
            Some(format!("{:.0}", choice.savings_pct)),
        ))
    }

    /// The answer to `/canopy explain` on a change.
    fn explain_reply(
        &self,
        store: &dyn Store,
        e: &Event,
        number: u64,
        marker: &str,
    ) -> Result<String, StoreError> {
        let key = (e.platform, e.repo.clone(), number);
        let h = change_history(store, &key, std::slice::from_ref(e))?;
        let Some(model) = self.ttm.model(store, &e.repo)? else {
            return Ok(messages::explain_unavailable(
                marker,
                "no time-to-merge model has been trained for this repository yet",
            ));
        };
        let t = e.at_utc();
        if h.latest().is_none() {
            return Ok(messages::explain_unavailable(
                marker,
                "Canopy has not seen this change open",
            ));
        }
        let state = match crate::ttm_online::load_online(store, &e.repo)? {
            Some(s) => s,
            None => canopy_models::ttm::online::OnlineState::for_model(
                &model,
                canopy_models::ttm::aci::DEFAULT_GAMMA,
            ),
        };
        let choice = state.choice();
        if !choice.is_model() {
            return Ok(messages::explain_fallback(
                marker,
                &crate::ttm_online::Why::of(&choice).words(),
            ));
        }
        let (f, _) =
            self.ttm
                .features_and_spread(store, &e.repo, std::slice::from_ref(e), number, t)?;
        let p = model.predict_with(&f, state.widths(&model));
        let x = model.explain(&f);
        let view = ttm::view(&model, &f, &p, &x);
        Ok(messages::explain(
            marker,
            &view.headline,
            &ttm::explanation_lines(&f, &x),
        ))
    }

    /// Who may run what: anyone for help and explain, anyone for their own consent, and the
    /// change's author, maintainers or the rerun's requester for defer and now.
    fn may_run(
        &self,
        store: &dyn Store,
        e: &Event,
        c: &CommentEvent,
        cmd: &BotCommand,
        cfg: &RepoConfig,
    ) -> Result<bool, StoreError> {
        match cmd.kind() {
            CommandKind::Help | CommandKind::Explain | CommandKind::OptIn | CommandKind::OptOut => {
                Ok(true)
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
                    return Ok(true);
                }
                let h = change_history(store, &(e.platform, e.repo.clone(), c.number), &[])?;
                let author = h.latest().is_some_and(|ch| ch.author.key == c.author.key);
                let requester = h.events.iter().any(|ev| matches!(&ev.kind, EventKind::RerunRequested(r) if r.requested_by.key == c.author.key));
                Ok(author || requester)
            }
        }
    }
}

/// The outbox item of a reply to a command: once per comment and command line.
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
