//! The weekly maintainer digest: gathered from the store (team figures, CI footprint and the
//! savings of deferred reruns, the k-anonymous burnout section), rendered as Markdown with
//! Mermaid charts for GitHub and as HTML with SVG charts for files and email, and turned into
//! outbox actions for each configured channel.

pub mod charts;

use std::ops::ControlFlow;
use std::path::Path;

use anyhow::Context;
use canopy_analyzer::Event;
use canopy_analyzer::digest::Digest;
use canopy_analyzer::event::{CiJobEvent, EventKind};
use canopy_analyzer::identity::Identities;
use canopy_analyzer::week::IsoWeek;
use canopy_models::energy::{Footprint, Utilisation};
use canopy_models::sentiment::Model as Sentiment;
use chrono::{DateTime, Duration, Utc};
use sha2::Digest as _;

use canopy_core::{Action, Enqueue, EnqueueMode, OutboxState};
use canopy_store::{EventStore, Store, TimeRange};

use crate::burnout::{TeamBurnout, analysable_rows, opted_in, personal_section, team_burnout};
use crate::carbon::RegionData;
use crate::config::DigestChannelsConfig;
use crate::messages;
use crate::react::sticky::profile_for;
use crate::repo_config::RepoConfig;

/// What a digest covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One repository (or Gerrit project).
    Repo(String),
    /// Every repository `<org>/...` in the store.
    Org(String),
}

impl Scope {
    /// The name shown in the digest.
    pub fn label(&self) -> &str {
        match self {
            Scope::Repo(r) | Scope::Org(r) => r,
        }
    }

    /// The key in outbox ids and schedule records (`acme/widgets`, `org:acme`).
    pub fn key(&self) -> String {
        match self {
            Scope::Repo(r) => r.clone(),
            Scope::Org(o) => format!("org:{o}"),
        }
    }

    /// Whether it covers a repository.
    pub fn covers(&self, repo: &str) -> bool {
        match self {
            Scope::Repo(r) => repo == r,
            Scope::Org(o) => repo
                .strip_prefix(o.as_str())
                .is_some_and(|t| t.starts_with('/')),
        }
    }

    /// The platform it is on: a repository's events tell; an organisation's digest has no
    /// platform of its own (`git`).
    pub fn platform(
        &self,
        store: &dyn EventStore,
    ) -> Result<canopy_analyzer::Platform, canopy_store::StoreError> {
        let mut p = canopy_analyzer::Platform::Git;
        if let Scope::Repo(r) = self {
            store.scan_repo(r, TimeRange::ALL, &mut |e| {
                p = e.platform;
                ControlFlow::Break(())
            })?;
        }
        Ok(p)
    }

    /// The store's repositories it covers.
    pub fn repos(&self, store: &dyn EventStore) -> anyhow::Result<Vec<String>> {
        Ok(store
            .repos()?
            .into_iter()
            .filter(|r| self.covers(r))
            .collect())
    }
}

/// A digest with everything its renderings need.
#[derive(Debug, Clone)]
pub struct Built {
    /// Team figures.
    pub digest: Digest,
    /// The burnout section, when at least k opted-in people were active.
    pub burnout: Option<TeamBurnout>,
    /// Private sections of opted-in people with a known email address; each goes only to its
    /// person and never into the team renderings.
    pub private: Vec<PrivateSection>,
}

/// One person's private section of a digest.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateSection {
    /// Their email address (from an `email:` identity).
    pub email: String,
    /// Their own score, reasons and indicators.
    pub text: String,
}

/// Where a job's grid intensity comes from: the region's series at the job's middle, else the
/// configured fixed value.
fn intensity(cfg: &RepoConfig, grid: Option<&RegionData>, at: DateTime<Utc>) -> f64 {
    grid.and_then(|g| g.series.at(at.timestamp()))
        .unwrap_or(cfg.carbon.intensity_g_per_kwh)
}

fn job_footprint(
    f: &mut Footprint,
    j: &CiJobEvent,
    at: DateTime<Utc>,
    cfg: &RepoConfig,
    grid: Option<&RegionData>,
) {
    let mid = at - Duration::seconds(j.duration_secs as i64 / 2);
    f.add_job(
        j.duration_secs as f64,
        &profile_for(j, cfg),
        Utilisation::around(cfg.carbon.utilisation),
        intensity(cfg, grid, mid),
    );
}

/// The week's runs against their jobs' stopping points (learned on the runs before the week),
/// with each run's estimated energy; `None` when no job has a stopping point.
fn past_stop_figures(
    events: &[Event],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cfg: &RepoConfig,
) -> Option<canopy_analyzer::digest::PastStopFigures> {
    let mut hist = crate::ci_insights::JobHistory::default();
    for e in events {
        if let EventKind::CiJobFinished(j) = &e.kind {
            let mut f = Footprint::default();
            job_footprint(&mut f, j, e.at_utc(), cfg, None);
            hist.add_with_energy(e.at_utc().timestamp(), j, f.energy_kwh.value);
        }
    }
    let settings = canopy_models::stopping::Settings::default();
    let p = crate::ci_insights::past_stop(&hist, start.timestamp(), end.timestamp(), &settings);
    (!p.is_empty()).then_some(canopy_analyzer::digest::PastStopFigures {
        failed_runs: p.failed_runs_past,
        failed_hours: p.failed_hours_past,
        failed_kwh: p.failed_kwh_past,
        passing_runs_past: p.passing_runs_past,
        passing_runs: p.passing_runs,
    })
}

/// Reruns of `repo` deferred to a greener window that ran in `[start, end)`, and the gCO2e they
/// avoided: the energy of the rerun (the change's CI jobs in the 12 hours after it, else the
/// failed jobs of the run it repeated) times the drop in intensity between the request and the
/// run (needs the region's series).
fn deferred(
    store: &dyn Store,
    repo: &str,
    events: &[Event],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cfg: &RepoConfig,
    grid: Option<&RegionData>,
) -> anyhow::Result<(usize, Option<f64>)> {
    // (change, workflow run, asked at, ran at)
    type Deferred = (u64, Option<String>, DateTime<Utc>, DateTime<Utc>);
    let mut runs: Vec<Deferred> = Vec::new();
    store.scan_outbox(false, &mut |item| {
        let ours = item
            .id
            .strip_prefix("rerun:")
            .and_then(|rest| rest.split_once(':'))
            .and_then(|(_, rest)| rest.strip_prefix(repo))
            .and_then(|rest| rest.strip_prefix('#'))
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse::<u64>().ok());
        if let (Some(number), Some(done)) = (ours, item.done_at)
            && item.state == OutboxState::Done
            && done >= start
            && done < end
            && item.due_at - item.created_at > Duration::seconds(1)
        {
            // GitHub jobs name their workflow run but not always their PR.
            let run = match &item.action {
                Action::RerunFailedJobs { run_id, .. } => Some(run_id.to_string()),
                _ => None,
            };
            runs.push((number, run, item.created_at, done));
        }
        ControlFlow::Continue(())
    })?;
    let Some(g) = grid else {
        return Ok((runs.len(), None));
    };
    let mut saved = 0.0;
    for (number, run, asked, ran) in &runs {
        let jobs = || {
            events.iter().filter_map(|e| match &e.kind {
                EventKind::CiJobFinished(j)
                    if e.repo == repo
                        && (j.change == Some(*number) || (run.is_some() && j.run_id == *run)) =>
                {
                    Some((e.at_utc(), j))
                }
                _ => None,
            })
        };
        let mut f = Footprint::default();
        for (at, j) in jobs().filter(|(at, _)| at >= ran && *at < *ran + Duration::hours(12)) {
            job_footprint(&mut f, j, at, cfg, None);
        }
        if f.jobs == 0 {
            // No job of the rerun was reported (yet): the failed jobs it repeats.
            let failed = |j: &CiJobEvent| {
                !matches!(
                    j.result,
                    canopy_analyzer::event::CiResult::Success
                        | canopy_analyzer::event::CiResult::Skipped
                )
            };
            let last_run = jobs()
                .filter(|(at, j)| at <= asked && failed(j))
                .max_by_key(|(at, _)| *at)
                .map(|(_, j)| j.run_id.clone());
            if let Some(run) = last_run {
                for (at, j) in jobs().filter(|(at, j)| at <= asked && failed(j) && j.run_id == run)
                {
                    job_footprint(&mut f, j, at, cfg, None);
                }
            }
        }
        let drop = match (g.series.at(asked.timestamp()), g.series.at(ran.timestamp())) {
            (Some(a), Some(b)) => a - b,
            _ => 0.0,
        };
        saved += f.energy_kwh.value * drop;
    }
    Ok((runs.len(), Some(saved)))
}

/// Gathers the digest of a repository or organisation for `week`.
#[allow(clippy::too_many_arguments)]
pub fn build(
    store: &dyn Store,
    scope: &Scope,
    week: IsoWeek,
    cfg: &RepoConfig,
    grid: Option<&RegionData>,
    ids: &Identities,
    extra_opted_in: &[String],
    meetings: Option<&Path>,
) -> anyhow::Result<Built> {
    let repos = scope.repos(store)?;
    anyhow::ensure!(
        !repos.is_empty(),
        "the store has no events of {}; repositories in it: {}",
        scope.label(),
        store.repos()?.join(", ")
    );
    let mut events: Vec<Event> = Vec::new();
    for repo in &repos {
        store.scan_repo(repo, TimeRange::ALL, &mut |e| {
            events.push(e);
            ControlFlow::Continue(())
        })?;
    }
    let sentiment = Sentiment::shipped().context("loading the sentiment model")?;
    let negative = |t: &str| sentiment.probabilities(t)[0];
    let uncivil = |t: &str| sentiment.score(t).uncivil;
    // Counted only once the flag is validated on held-out data (docs/burnout.md, Sentiment).
    let uncivil =
        canopy_models::sentiment::UNCIVIL_VALIDATED.then_some(&uncivil as &dyn Fn(&str) -> bool);
    let mut d = match scope {
        Scope::Repo(r) => {
            canopy_analyzer::digest::build(r, &events, week, Some(&negative), uncivil)
        }
        Scope::Org(o) => {
            canopy_analyzer::digest::build_org(o, &events, week, Some(&negative), uncivil)
        }
    };
    let (start, end) = (week.start_utc(), week.next().start_utc());
    let mut f = Footprint::default();
    for e in &events {
        if let EventKind::CiJobFinished(j) = &e.kind
            && e.at_utc() >= start
            && e.at_utc() < end
        {
            job_footprint(&mut f, j, e.at_utc(), cfg, grid);
        }
    }
    if f.jobs > 0 {
        d.ci_kwh = Some(f.energy_kwh.value);
        d.ci_co2e_g = Some(f.total_g().value);
    }
    d.past_stop = past_stop_figures(&events, start, end, cfg);
    for repo in &repos {
        let (n, g) = deferred(store, repo, &events, start, end, cfg, grid)?;
        d.deferred_reruns += n;
        if let Some(g) = g {
            *d.deferred_saved_g.get_or_insert(0.0) += g;
        }
    }
    let rules = canopy_policies::visibility::Rules::new(
        cfg.privacy.k as usize,
        opted_in(store, ids, extra_opted_in)?,
    );
    // The team: people active in the scope this week. Their indicators cover all their work
    // in the store (load elsewhere counts), but only they are in this digest's section.
    let members: std::collections::HashSet<String> = events
        .iter()
        .filter(|e| e.at_utc() >= start && e.at_utc() < end)
        .flat_map(|e| e.actors())
        .filter_map(|a| ids.person(a))
        .collect();
    let rows: Vec<_> = analysable_rows(store, ids, &rules, meetings)?
        .into_iter()
        .filter(|r| members.contains(&r.person))
        .collect();
    let burnout = team_burnout(&rows, week, &rules).ok();
    let mut people: Vec<&str> = rows
        .iter()
        .filter(|r| r.week == week)
        .map(|r| r.person.as_str())
        .collect();
    people.sort_unstable();
    people.dedup();
    let private = people
        .into_iter()
        .filter_map(|p| {
            let email = p.strip_prefix("email:")?;
            let text = personal_section(&rows, &rules, p, week).ok()?;
            Some(PrivateSection {
                email: email.to_string(),
                text,
            })
        })
        .collect();
    Ok(Built {
        digest: d,
        burnout,
        private,
    })
}

impl Built {
    /// Markdown for GitHub, with Mermaid charts.
    pub fn markdown(&self) -> String {
        messages::digest(
            &self.digest,
            self.burnout.as_ref().map(TeamBurnout::markdown).as_deref(),
            &charts::mermaid(&self.digest),
        )
    }

    /// Self-contained HTML with inline SVG charts.
    pub fn html(&self) -> anyhow::Result<String> {
        let svg =
            |r: Result<String, String>| r.map_err(|e| anyhow::anyhow!("drawing a chart: {e}"));
        Ok(messages::digest_html(
            &self.digest,
            self.burnout.as_ref(),
            &[
                svg(charts::activity_svg(&self.digest))?,
                svg(charts::ttm_svg(&self.digest))?,
                svg(charts::ci_svg(&self.digest))?,
            ],
        ))
    }

    /// A short plain-text version for chat webhooks.
    pub fn chat_text(&self) -> String {
        messages::digest_chat(&self.digest)
    }
}

/// File-name-safe form of a repository name.
fn slug(repo: &str) -> String {
    repo.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The outbox items that deliver a digest on every configured channel; each id is unique per
/// repository, week and channel, so a digest is never sent twice.
#[allow(clippy::too_many_arguments)]
pub fn actions(
    built: &Built,
    scope: &Scope,
    platform: canopy_analyzer::Platform,
    cfg: &RepoConfig,
    channels: &DigestChannelsConfig,
    webhook: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Enqueue>> {
    let d = &built.digest;
    let base = format!("digest:{}:{}", scope.key(), d.week);
    let item = |channel: &str, action: Action| Enqueue {
        id: format!("{base}:{channel}"),
        action,
        due_at: now,
        mode: EnqueueMode::Once,
    };
    let title = format!("Canopy weekly digest: {} {}", d.repo, d.week);
    let mut out = Vec::new();
    // The issue goes to the configured repository, else to a GitHub repository itself.
    let issue_repo = match (&cfg.digest.issue_repo, scope) {
        (Some(r), _) => Some(r.clone()),
        (None, Scope::Repo(r)) if platform == canopy_analyzer::Platform::Github => Some(r.clone()),
        _ => None,
    };
    let marker = format!("<!-- canopy:digest:{}:{} -->", scope.key(), d.week);
    if let (Some(repo), Some(number)) = (&issue_repo, cfg.digest.pinned_issue) {
        out.push(item(
            "comment",
            Action::PostComment {
                repo: repo.clone(),
                number,
                body: format!("{marker}\n{}", built.markdown()),
                marker: marker.clone(),
            },
        ));
    } else if let Some(issue_repo) = issue_repo.filter(|_| cfg.digest.issue) {
        out.push(item(
            "issue",
            Action::CreateIssue {
                repo: issue_repo,
                title: title.clone(),
                body: format!("{marker}\n{}", built.markdown()),
                labels: cfg.digest.labels.clone(),
                marker,
            },
        ));
    }
    if channels.dir.is_some() || !channels.email_to.is_empty() {
        let html = built.html()?;
        if channels.dir.is_some() {
            out.push(item(
                "file",
                Action::WriteFile {
                    name: format!("{}-{}.html", slug(&scope.key()), d.week),
                    contents: html.clone(),
                },
            ));
        }
        if !channels.email_to.is_empty() {
            out.push(item(
                "email",
                Action::SendEmail {
                    to: channels.email_to.clone(),
                    subject: title.clone(),
                    text: built.markdown(),
                    html,
                },
            ));
        }
    }
    if channels.private_emails && channels.smtp.is_some() {
        for p in &built.private {
            // The id names the person by a hash, not by address: ids appear in logs.
            let who = &hex::encode(sha2::Sha256::digest(p.email.as_bytes()))[..12];
            out.push(item(
                &format!("private:{who}"),
                Action::SendEmail {
                    to: vec![p.email.clone()],
                    subject: format!("Your Canopy week {} (private)", d.week),
                    html: messages::private_digest_html(&d.week, &p.text),
                    text: p.text.clone(),
                },
            ));
        }
    }
    if webhook {
        out.push(item(
            "webhook",
            Action::PostWebhook {
                subject: format!("{} {}", d.repo, d.week),
                text: built.chat_text(),
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::event::CommitEvent;
    use canopy_analyzer::{Actor, Platform};

    fn commit(n: usize, who: &str, at: &str) -> Event {
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        let author = Actor::git(who, &format!("{}@example.org", who.to_lowercase()));
        Event::new(
            format!("c{n}"),
            Platform::Git,
            "acme/widgets",
            at,
            EventKind::Commit(CommitEvent {
                subject: "change".into(),
                ..CommitEvent::new(format!("{n:040x}"), author, at)
            }),
        )
    }

    #[test]
    fn a_private_section_goes_only_to_its_opted_in_person() {
        let dir = tempfile::tempdir().unwrap();
        let store = canopy_store::RedbStore::open(dir.path()).unwrap();
        let mut events = Vec::new();
        let monday = chrono::DateTime::parse_from_rfc3339("2026-10-05T09:00:00+01:00").unwrap();
        for week in 0..6i64 {
            for (i, who) in ["Ada", "Bob", "Cy", "Di", "Ed", "Flo"].iter().enumerate() {
                let at = monday
                    + chrono::Duration::days(week * 7 + (i % 3) as i64)
                    + chrono::Duration::hours(i as i64);
                events.push(commit(events.len(), who, &at.to_rfc3339()));
            }
        }
        store.put_events(&events).unwrap();
        let week: IsoWeek = "2026-W46".parse().unwrap();
        let built = build(
            &store,
            &Scope::Repo("acme/widgets".into()),
            week,
            &RepoConfig::default(),
            None,
            &Identities::default(),
            &["email:ada@example.org".to_string()],
            None,
        )
        .unwrap();
        assert_eq!(built.private.len(), 1, "{:?}", built.private);
        assert_eq!(built.private[0].email, "ada@example.org");
        assert!(built.private[0].text.contains("Your burnout-risk score"));
        // Nobody else's section exists, and the team renderings carry no person.
        let md = built.markdown().to_lowercase();
        assert!(
            !md.contains("ada") && !md.contains("your burnout-risk"),
            "{md}"
        );
        let channels = DigestChannelsConfig {
            private_emails: true,
            smtp: Some(crate::config::SmtpConfig {
                host: "localhost".into(),
                port: 25,
                security: crate::channels::SmtpSecurity::None,
                from: "canopy@example.org".into(),
                username: None,
            }),
            ..DigestChannelsConfig::default()
        };
        let actions = actions(
            &built,
            &Scope::Repo("acme/widgets".into()),
            Platform::Git,
            &RepoConfig::default(),
            &channels,
            false,
            Utc::now(),
        )
        .unwrap();
        let emails: Vec<&Vec<String>> = actions
            .iter()
            .filter_map(|e| match &e.action {
                Action::SendEmail { to, .. } => Some(to),
                _ => None,
            })
            .collect();
        assert_eq!(emails, [&vec!["ada@example.org".to_string()]]);
        assert!(!actions[0].id.contains("ada"), "{}", actions[0].id);
    }

    #[test]
    fn a_pinned_issue_gets_a_comment_instead_of_a_new_issue() {
        let built = Built {
            digest: canopy_analyzer::digest::build(
                "acme/widgets",
                &[],
                "2026-W47".parse().unwrap(),
                None,
                None,
            ),
            burnout: None,
            private: vec![],
        };
        let scope = Scope::Repo("acme/widgets".into());
        let mut cfg = RepoConfig::default();
        let ch = DigestChannelsConfig::default();
        let now = Utc::now();
        let a = actions(&built, &scope, Platform::Github, &cfg, &ch, false, now).unwrap();
        assert!(matches!(a[0].action, Action::CreateIssue { .. }));
        cfg.digest.pinned_issue = Some(42);
        let a = actions(&built, &scope, Platform::Github, &cfg, &ch, false, now).unwrap();
        assert_eq!(a.len(), 1);
        match &a[0].action {
            Action::PostComment {
                repo,
                number,
                body,
                marker,
            } => {
                assert_eq!((repo.as_str(), *number), ("acme/widgets", 42));
                assert!(body.starts_with(marker.as_str()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(a[0].id, "digest:acme/widgets:2026-W47:comment");
    }
}
