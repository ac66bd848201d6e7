//! The weekly maintainer digest: gathered from the store (team figures, CI footprint and the
//! savings of deferred reruns, the k-anonymous burnout section), rendered as Markdown with
//! Mermaid charts for GitHub and as HTML with SVG charts for files and email, and turned into
//! outbox actions for each configured channel.

pub mod charts;
mod delivery;
mod footprint;

pub use delivery::actions;

use std::ops::ControlFlow;
use std::path::Path;

use anyhow::Context;
use canopy_analyzer::Event;
use canopy_analyzer::digest::Digest;
use canopy_analyzer::identity::Identities;
use canopy_analyzer::week::IsoWeek;
use canopy_models::sentiment::Model as Sentiment;
use canopy_policies::visibility::Rules;
use canopy_store::{EventStore, Store, TimeRange};

use crate::burnout::{TeamBurnout, analysable_rows, personal_section, team_burnout};
use crate::carbon::RegionData;
use crate::comment_scores::CommentScores;
use crate::messages;
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
    // Only the comments the figures read (the week and its trend weeks): a run over a long
    // history neither scores nor caches the rest (docs/benchmarks.md, comment scores).
    let (from, to) = canopy_analyzer::digest::sentiment_span(week);
    let read = events.iter().filter(|e| (from..to).contains(&e.at_utc()));
    let scores = CommentScores::for_events(store, sentiment, read)?;
    let negative = |t: &str| scores.negative(t);
    let uncivil = |t: &str| scores.uncivil(t);
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
    footprint::add_ci(&mut d, &events, week, cfg, grid);
    for repo in &repos {
        footprint::add_deferred(&mut d, store, repo, &events, week, cfg, grid)?;
    }
    let rules = crate::burnout::rules(store, ids, cfg.privacy.k(), extra_opted_in)?;
    let (burnout, private) = people(store, &events, week, ids, &rules, meetings)?;
    Ok(Built {
        digest: d,
        burnout,
        private,
    })
}

/// The burnout section and the private sections of the people active in the scope during
/// `week`. Their indicators cover all their work in the store (load elsewhere counts), but
/// only they are in this digest.
fn people(
    store: &dyn Store,
    events: &[Event],
    week: IsoWeek,
    ids: &Identities,
    rules: &Rules,
    meetings: Option<&Path>,
) -> anyhow::Result<(Option<TeamBurnout>, Vec<PrivateSection>)> {
    let (start, end) = (week.start_utc(), week.next().start_utc());
    let members: std::collections::HashSet<String> = events
        .iter()
        .filter(|e| e.at_utc() >= start && e.at_utc() < end)
        .flat_map(|e| e.actors())
        .filter_map(|a| ids.person(a))
        .collect();
    let rows: Vec<_> = analysable_rows(store, ids, rules, meetings)?
        .into_iter()
        .filter(|r| members.contains(&r.person))
        .collect();
    let burnout = team_burnout(&rows, week, rules).ok();
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
            let text = personal_section(&rows, rules, p, week).ok()?;
            Some(PrivateSection {
                email: email.to_string(),
                text,
            })
        })
        .collect();
    Ok((burnout, private))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DigestChannelsConfig;
    use canopy_analyzer::event::{CommitEvent, EventKind};
    use canopy_analyzer::{Actor, Platform};
    use canopy_core::Action;
    use chrono::Utc;

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
