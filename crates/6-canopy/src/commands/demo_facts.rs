//! The figures of the bundled demo, read back from its store with the same functions the bot
//! uses, as one object: `canopy demo --format json` prints it (the interface of issue 19, kept
//! stable for scripts), and the text demo prints the same figures in words.

use std::ops::ControlFlow;

use anyhow::Context;
use canopy_analyzer::Platform;
use canopy_analyzer::identity::Identities;
use canopy_analyzer::week::IsoWeek;
use canopy_models::burnout::explain::reasons;
use canopy_models::burnout::model::Artifact;
use canopy_models::burnout::{self};
use canopy_models::energy::{Footprint, Utilisation};
use canopy_models::ttm::online::OnlineState;
use canopy_policies::visibility::Decision;
use canopy_service::burnout as service_burnout;
use canopy_service::carbon::RegionData;
use canopy_service::react::sticky::{self, ChangeHistory};
use canopy_service::react::{change_history, rerun};
use canopy_service::repo_config::RepoConfig;
use canopy_store::Store;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Everything `canopy demo --format json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Weekly rows of the team reports (both repositories).
    pub weeks: usize,
    /// Distinct people in the history (never named).
    pub people: usize,
    /// The demo PR's time-to-merge prediction.
    pub ttm: Option<Ttm>,
    /// Energy and emissions of the demo PR's CI builds.
    pub energy: Energy,
    /// The greenest window for the demo PR's rerun request.
    pub rerun_advice: Option<RerunAdvice>,
    /// What `/canopy defer` scheduled for it.
    pub defer: Vec<Scheduled>,
    /// The team's k-anonymous burnout buckets, or why they are withheld.
    pub burnout_team: BurnoutTeam,
    /// One opted-in person's own score, or why it is withheld.
    pub burnout_me: BurnoutMe,
    /// The latest week's digest.
    pub digest: DigestFacts,
    /// The privacy-reviewed report.
    pub report: ReportFacts,
}

/// A time-to-merge prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Ttm {
    /// 10th percentile, hours.
    pub low_hours: f64,
    /// Median, hours.
    pub median_hours: f64,
    /// 90th percentile, hours.
    pub high_hours: f64,
    /// Probability of merging within 30 days (absent when the running median is shown).
    pub p_merge: Option<f64>,
    /// Top reasons in words.
    pub reasons: Vec<String>,
    /// Whether the repository's running median is shown instead of the model's prediction.
    pub running_median: bool,
}

/// A change's CI footprint.
#[derive(Debug, Clone, Serialize)]
pub struct Energy {
    /// Energy, kWh (central estimate).
    pub kwh: f64,
    /// Operational and embodied emissions, gCO2e (central estimate).
    pub gco2e: f64,
    /// CI jobs counted.
    pub jobs: u32,
    /// Where the intensity came from.
    pub grid: String,
}

/// The greenest window before a rerun's deadline.
#[derive(Debug, Clone, Serialize)]
pub struct RerunAdvice {
    /// When the rerun was asked for (RFC 3339).
    pub requested: String,
    /// The greenest start (RFC 3339).
    pub start: String,
    /// The latest end (RFC 3339).
    pub deadline: String,
    /// Share of the rerun's CO2e saved against running it at once (0–1).
    pub saving_share: f64,
    /// Grid intensity if run at once, gCO2e/kWh.
    pub now_gco2e_per_kwh: Option<f64>,
    /// Grid intensity over the greenest window, gCO2e/kWh.
    pub best_gco2e_per_kwh: f64,
    /// The jobs to rerun.
    pub jobs: Vec<String>,
    /// Whether the rerun is critical (then it is never deferred), and why.
    pub critical: bool,
    /// The classification's reason.
    pub why: String,
}

/// One outbox item a deferral created.
#[derive(Debug, Clone, Serialize)]
pub struct Scheduled {
    /// What it does (`rerun_failed_jobs`, `cancel_run`).
    pub action: String,
    /// When it is due (RFC 3339).
    pub due: String,
}

/// The team's buckets, or why they are not shown.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BurnoutTeam {
    /// Shown.
    Shown {
        /// Week.
        week: String,
        /// Opted-in people analysed that week.
        people: usize,
        /// Smallest group shown.
        k: usize,
        /// Risk buckets with their counts (`null` when hidden).
        buckets: Vec<Bucket>,
    },
    /// Withheld.
    Withheld {
        /// Why.
        withheld: String,
    },
}

/// One risk bucket.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Score range ("25–49").
    pub risk: String,
    /// People in it, `None` when hidden (fewer than k, or complementary).
    pub people: Option<usize>,
}

/// One opted-in person's own score, or why it is not shown.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BurnoutMe {
    /// Shown (to that person alone).
    Shown {
        /// Week.
        week: String,
        /// Score, 0–100.
        score: f64,
        /// The team's reference score that week.
        team_reference: f64,
        /// Top reasons in words.
        reasons: Vec<String>,
    },
    /// Withheld.
    Withheld {
        /// Why.
        withheld: String,
    },
}

/// Digest figures.
#[derive(Debug, Clone, Serialize)]
pub struct DigestFacts {
    /// Week.
    pub week: String,
    /// Changes opened.
    pub opened: usize,
    /// Changes merged.
    pub merged: usize,
    /// Reviews given.
    pub reviews: usize,
    /// The HTML page with SVG charts.
    pub html_path: String,
}

/// Report figures.
#[derive(Debug, Clone, Serialize)]
pub struct ReportFacts {
    /// Cells with a value.
    pub cells_shown: usize,
    /// Cells hidden (fewer than k people, or complementary).
    pub cells_suppressed: usize,
    /// Whether every privacy rule passed, so a reviewer may approve it.
    pub approvable: bool,
}

/// Who is who in the bundled history: the repositories' `.mailmap` (which maps the work
/// addresses some people commit with to their GitHub identity), as a maintainer would give
/// `--mailmap`.
pub fn identities(org: &canopy_synth::Org) -> Identities {
    let mailmap = canopy_synth::repos::mailmap(&org.people).join("\n");
    Identities::new(canopy_analyzer::identity::Mailmap::parse(&mailmap), &[])
}

/// RFC 3339, seconds, `Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A GitHub change's history as the reactor reads it.
pub fn history(store: &dyn Store, repo: &str, number: u64) -> anyhow::Result<ChangeHistory> {
    Ok(change_history(
        store,
        &(Platform::Github, repo.to_string(), number),
        &[],
    )?)
}

/// The change's time-to-merge prediction as the reactor made it: the same features at its
/// latest event, the repository's stored model and online state (its adaptive intervals and
/// the choice between the model and the running median).
pub fn ttm(
    store: &dyn Store,
    h: &ChangeHistory,
    repo: &str,
    number: u64,
) -> anyhow::Result<Option<Ttm>> {
    let Some(t) = h.events.last().map(|e| e.at_utc()) else {
        return Ok(None);
    };
    let cache = canopy_service::ttm::TtmCache::default();
    let (f, spread) = cache.features_and_spread(store, repo, &[], number, t)?;
    let median = |s: &canopy_models::ttm::running_median::Spread, why: String| Ttm {
        low_hours: s.p10_hours,
        median_hours: s.p50_hours,
        high_hours: s.p90_hours,
        p_merge: None,
        reasons: vec![why],
        running_median: true,
    };
    let Some(model) = cache.model(store, repo)? else {
        let why = canopy_service::ttm_online::Why::NoModel.words();
        return Ok(spread.map(|s| median(&s, why)));
    };
    let mut state = canopy_service::ttm_online::load_online(store, repo)?
        .unwrap_or_else(|| OnlineState::for_model(&model, canopy_models::ttm::aci::DEFAULT_GAMMA));
    let choice = state.choice();
    let p = state.predict(
        &model,
        number,
        &f,
        t.timestamp(),
        spread.map(|s| s.p50_hours),
    );
    if let (false, Some(s)) = (choice.is_model(), spread) {
        let why = canopy_service::ttm_online::Why::of(&choice).words();
        return Ok(Some(median(&s, why)));
    }
    let view = canopy_service::ttm::view(&model, &f, &p, &model.explain(&f));
    Ok(Some(Ttm {
        low_hours: p.p10_hours,
        median_hours: p.p50_hours,
        high_hours: p.p90_hours,
        p_merge: (!p.p_merge_30d.is_nan()).then_some(p.p_merge_30d),
        reasons: view.reasons,
        running_median: false,
    }))
}

/// The change's CI footprint as the sticky comment estimates it: each job with a duration, on
/// its runner's profile, at the grid's intensity in its middle (else the configured value).
pub fn energy(h: &ChangeHistory, cfg: &RepoConfig, grid: Option<&RegionData>) -> Energy {
    let u = Utilisation::around(cfg.carbon.utilisation);
    let mut f = Footprint::default();
    let mut from_grid = 0;
    for (at, j) in h.jobs.iter().filter(|(_, j)| j.duration_secs > 0) {
        let mid = at.timestamp() - j.duration_secs as i64 / 2;
        let intensity = match grid.and_then(|g| g.series.at(mid)) {
            Some(v) => {
                from_grid += 1;
                v
            }
            None => cfg.carbon.intensity_g_per_kwh,
        };
        f.add_job(
            j.duration_secs as f64,
            &sticky::profile_for(j, cfg),
            u,
            intensity,
        );
    }
    Energy {
        kwh: f.energy_kwh.value,
        gco2e: f.total_g().value,
        jobs: f.jobs,
        grid: match grid {
            Some(g) if from_grid > 0 => g.source.clone(),
            _ => format!("{} gCO2e/kWh assumed", cfg.carbon.intensity_g_per_kwh),
        },
    }
}

/// The advice for the change's latest rerun request: whether it is critical and the greenest
/// window before the repository's default deadline.
pub fn rerun_advice(
    h: &ChangeHistory,
    cfg: &RepoConfig,
    grid: Option<&RegionData>,
) -> Option<RerunAdvice> {
    let t = rerun::latest_target(Platform::Github, h)?;
    let span = canopy_service::bot_command::parse_deadline(
        &cfg.reruns.default_deadline,
        DateTime::UNIX_EPOCH,
    )
    .ok()?
    .resolve(DateTime::UNIX_EPOCH)
        - DateTime::UNIX_EPOCH;
    let deadline = t.at + span;
    let advice = rerun::advise(h, &t, cfg, grid, deadline);
    let choice = advice.choice?;
    let mut jobs: Vec<String> = t.jobs.iter().map(|j| j.name.clone()).collect();
    jobs.dedup();
    Some(RerunAdvice {
        requested: rfc3339(t.at),
        start: rfc3339(rerun::from_epoch(choice.best.start)),
        deadline: rfc3339(deadline),
        saving_share: (choice.savings_pct / 100.0).clamp(0.0, 1.0),
        now_gco2e_per_kwh: choice.now.map(|n| n.avg_intensity),
        best_gco2e_per_kwh: choice.best.avg_intensity,
        jobs,
        critical: advice.criticality.critical,
        why: advice.criticality.reason,
    })
}

/// The rerun items waiting in the outbox for GitHub change `target` (`owner/name#n`): their
/// ids are `rerun:github:<target>:<request>` and `cancel:` that.
pub fn scheduled(store: &dyn Store, target: &str) -> anyhow::Result<Vec<Scheduled>> {
    let prefix = format!("rerun:github:{target}:");
    let mut out = Vec::new();
    store.scan_outbox(false, &mut |i| {
        if i.id.trim_start_matches("cancel:").starts_with(&prefix) {
            out.push(Scheduled {
                action: i.action.name().to_string(),
                due: rfc3339(i.due_at),
            });
        }
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// The burnout view of the latest week, both through the visibility rules (k = 5): the team's
/// buckets and the text `canopy burnout team` prints; one opted-in person's own score and the
/// text `canopy burnout me` prints for them (or why nothing is shown), `me` being their actor
/// key; and how many distinct people the history has.
pub fn burnout(
    store: &dyn Store,
    ids: &Identities,
    me: &str,
) -> anyhow::Result<(BurnoutTeam, BurnoutMe, String, String, usize)> {
    let everyone = service_burnout::person_weeks(store, ids, None)?;
    let people = everyone
        .iter()
        .map(|w| w.person.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    // The same rules, model evidence and rows as `canopy burnout me` / `team`.
    let rules = service_burnout::rules(store, ids, 5, &[])?;
    let rows = service_burnout::analysable_rows(store, ids, &rules, None)?;
    let week = rows
        .iter()
        .map(|r| r.week)
        .max()
        .context("nobody who opted in has any activity")?;
    let (team, team_text) = match service_burnout::team_burnout(&rows, week, &rules) {
        Ok(t) if t.buckets.is_empty() => (
            BurnoutTeam::Withheld {
                withheld: t.note.clone().unwrap_or_else(|| "no risk score".into()),
            },
            t.markdown(),
        ),
        Ok(t) => (
            BurnoutTeam::Shown {
                week: t.week.clone(),
                people: t.people,
                k: t.k,
                buckets: t
                    .buckets
                    .iter()
                    .cloned()
                    .map(|(risk, people)| Bucket { risk, people })
                    .collect(),
            },
            t.markdown(),
        ),
        Err(why) => (
            BurnoutTeam::Withheld {
                withheld: why.clone(),
            },
            format!("Nothing to show for {week}: {why}.\n"),
        ),
    };
    let person = service_burnout::person_of(ids, me);
    let (mine, text) = match service_burnout::personal_section(&rows, &rules, &person, week) {
        Ok(text) => match rules.scores_shown() {
            Decision::Allow => (own_score(&rows, &person, week), text),
            Decision::Deny(why) => (BurnoutMe::Withheld { withheld: why }, text),
        },
        Err(why) => (
            BurnoutMe::Withheld {
                withheld: why.clone(),
            },
            format!("No score is shown: {why}.\n"),
        ),
    };
    Ok((team, mine, team_text, text, people))
}

/// A person's own score and reasons for `week` (the figures of their own section), from the
/// shipped model, as `personal_section` computes them.
fn own_score(rows: &[burnout::Standardised], person: &str, week: IsoWeek) -> BurnoutMe {
    let Some(row) = rows.iter().find(|r| r.person == person && r.week == week) else {
        return BurnoutMe::Withheld {
            withheld: format!("no activity in {week}"),
        };
    };
    let model = match Artifact::shipped() {
        Ok(m) => m,
        Err(e) => {
            return BurnoutMe::Withheld {
                withheld: format!("the shipped burnout model could not be read: {e}"),
            };
        }
    };
    let e = model.explain(&row.predictors(), &model.reference_row());
    BurnoutMe::Shown {
        week: week.to_string(),
        score: e.score,
        team_reference: e.reference,
        reasons: reasons(&e, &row.predictors(), 3),
    }
}
