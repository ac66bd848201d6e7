//! `canopy burnout`: validate the disengagement model on real histories (`eval`), train the
//! artifact Canopy ships (`train`), a person's own view (`me`, opted-in people only) and the
//! team's k-anonymous view (`team`). Every output goes through the visibility rules of
//! `canopy_policies::visibility`, which show a risk score only when the model is validated.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use canopy_analyzer::identity::{Identities, Mailmap};
use canopy_analyzer::indicators::{IndicatorBuilder, N, NAMES, PersonWeek};
use canopy_analyzer::week::IsoWeek;
use canopy_models::burnout::explain::reasons;
use canopy_models::burnout::features::Team;
use canopy_models::burnout::model::{Artifact, Validation};
use canopy_models::burnout::score::attach_predictors;
use canopy_models::burnout::{self, Standardised};
use canopy_models::sentiment::Model as Sentiment;
use canopy_policies::visibility::{Decision, Evidence, Item, Rules, Viewer};

use crate::format::ReportFormat;
use canopy_store::{Location, MetaStore, Store, TimeRange};

mod team;
mod validate;
pub use team::{TeamBurnout, team_burnout};
pub use validate::{HistoryArgs, RecipeArgs};
use validate::{eval, train_cmd};

/// Arguments of `canopy burnout`.
#[derive(Debug, clap::Args)]
pub struct BurnoutArgs {
    #[command(subcommand)]
    command: BurnoutCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BurnoutCommand {
    /// Evaluate walk-forward against disengagement (active 4 of 12 weeks, then 12 weeks
    /// without activity): the model, the shipped artifact and simple baselines.
    Eval(EvalArgs),
    /// Train the disengagement model on histories and write the artifact with its ARTIFACT.md.
    Train(TrainArgs),
    /// Your own score and its reasons (only if you opted in).
    Me(MeArgs),
    /// The team's risk distribution in k-anonymous buckets (maintainers).
    Team(TeamArgs),
}

/// Identity sources shared by the subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct IdentityArgs {
    /// A `.mailmap` file.
    #[arg(long, value_name = "FILE")]
    pub mailmap: Option<PathBuf>,
    /// Explicit identities: TOML with `[people]` mapping a person id to actor keys, e.g.
    /// `ada = ["email:ada@example.org", "github:ada-l", "gerrit:review.example.org/1000042"]`.
    #[arg(long, value_name = "FILE")]
    pub identities: Option<PathBuf>,
    /// Meeting hours exported from calendars: CSV with `person`, `week` (`2026-W47`) and
    /// `hours` columns. Without it the meeting indicator is absent.
    #[arg(long, value_name = "FILE")]
    pub meetings: Option<PathBuf>,
}

/// Reads a meeting-hours CSV.
pub fn read_meetings(path: &Path) -> anyhow::Result<HashMap<(String, IsoWeek), f64>> {
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let h = rdr.headers()?.clone();
    let col = |n: &str| h.iter().position(|x| x == n);
    let (Some(p), Some(w), Some(hr)) = (col("person"), col("week"), col("hours")) else {
        anyhow::bail!("{}: needs columns person, week, hours", path.display());
    };
    let mut out = HashMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let bad = |what: &str| anyhow::anyhow!("{}: row {}: bad {what}", path.display(), i + 2);
        let week: IsoWeek = rec.get(w).unwrap_or("").parse().map_err(|_| bad("week"))?;
        let hours: f64 = rec
            .get(hr)
            .unwrap_or("")
            .trim()
            .parse()
            .map_err(|_| bad("hours"))?;
        anyhow::ensure!(
            hours.is_finite() && hours >= 0.0,
            "{}: row {}: hours must be at least 0",
            path.display(),
            i + 2
        );
        out.insert((rec.get(p).unwrap_or("").to_string(), week), hours);
    }
    Ok(out)
}

/// Arguments of `canopy burnout eval`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "A person-week is eligible when the person was active in at least --min-active of the last --window weeks; it is a disengagement when no activity follows for --horizon weeks. Weeks whose horizon reaches past the data's end are not labelled. The walk trains on outcomes known before each cut and scores the next --block-weeks; histories are pooled on the calendar.\n\nExamples:\n  canopy burnout eval --git ~/src/nova --git ~/src/neutron --format json\n  canopy burnout eval --store /var/lib/canopy   # this installation's own history (recorded for the visibility gate)\n  canopy burnout eval --git ../repo.git --model my-model.json --horizon 24"
)]
pub struct EvalArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Model to evaluate as shipped (no refit) [default: the artifact built into Canopy].
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Weeks scored after each cut of the walk.
    #[arg(long, default_value_t = 26)]
    pub block_weeks: i64,
    /// Bootstrap resamples (by person) of the 95% intervals.
    #[arg(long, default_value_t = 500)]
    pub bootstrap: usize,
    /// Record the --model file's figures here as its validation (run only on histories it was
    /// neither trained nor tuned on).
    #[arg(long, requires = "model")]
    pub record_validation: bool,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

/// Arguments of `canopy burnout train`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every labelled person-week of every history is used. ARTIFACT.md (beside --out unless --notes) lists each history and the commit read.\n\nExample:\n  canopy burnout train --git ~/src/nova --git ~/src/git --out models/src/burnout/model.json"
)]
pub struct TrainArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Where the artifact (JSON) is written.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Where its notes are written [default: ARTIFACT.md beside --out].
    #[arg(long, value_name = "FILE")]
    pub notes: Option<PathBuf>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
}

/// Arguments of `canopy burnout me`.
#[derive(Debug, clap::Args)]
pub struct MeArgs {
    /// Store: a directory or a postgres:// URL [env: CANOPY_STORE, or CANOPY_STORE_FILE].
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE")]
    pub store: Option<Location>,
    /// Your person id or one of your actor keys (`github:ada-l`, `email:ada@example.org`).
    #[arg(long)]
    pub identity: String,
    /// Week (`2026-W47`) [default: the latest week with data].
    #[arg(long)]
    pub week: Option<String>,
    #[command(flatten)]
    pub ids: IdentityArgs,
    /// People opted in by configuration (in addition to `/canopy opt-in` records).
    #[arg(long = "opted-in", value_name = "ID")]
    pub opted_in: Vec<String>,
}

/// Arguments of `canopy burnout team`.
#[derive(Debug, clap::Args)]
pub struct TeamArgs {
    /// Store: a directory or a postgres:// URL [env: CANOPY_STORE, or CANOPY_STORE_FILE].
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE")]
    pub store: Option<Location>,
    /// Week [default: the latest week with data].
    #[arg(long)]
    pub week: Option<String>,
    /// Smallest group shown.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    #[command(flatten)]
    pub ids: IdentityArgs,
    /// People opted in by configuration.
    #[arg(long = "opted-in", value_name = "ID")]
    pub opted_in: Vec<String>,
}

/// Opens the store a command names (the binary's wiring: a directory or PostgreSQL).
pub type OpenStore<'a> = &'a dyn Fn(Option<&Location>) -> anyhow::Result<Arc<dyn Store>>;

/// Runs `canopy burnout`, opening stores with `open`; `clock` gives the current week where
/// none is named.
pub fn run(
    args: BurnoutArgs,
    open: OpenStore<'_>,
    clock: &dyn canopy_core::Clock,
) -> anyhow::Result<ExitCode> {
    match args.command {
        BurnoutCommand::Eval(a) => eval(a),
        BurnoutCommand::Train(a) => train_cmd(a),
        BurnoutCommand::Me(a) => me(a, open, clock),
        BurnoutCommand::Team(a) => team(a, open),
    }
}

/// Reads the identity sources.
pub fn identities(a: &IdentityArgs) -> anyhow::Result<Identities> {
    let mailmap = match &a.mailmap {
        Some(p) => Mailmap::parse(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        ),
        None => Mailmap::default(),
    };
    let mut mapping = Vec::new();
    if let Some(p) = &a.identities {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            people: BTreeMap<String, Vec<String>>,
        }
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let f: File = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        mapping = f.people.into_iter().collect();
    }
    Ok(Identities::new(mailmap, &mapping))
}

/// Person-weeks from every event in a store, with sentiment from the shipped model (comment
/// scores cached in the store).
pub fn person_weeks(
    store: &dyn Store,
    ids: &Identities,
    meetings: Option<&Path>,
) -> anyhow::Result<Vec<PersonWeek>> {
    let sentiment = Sentiment::shipped().context("loading the sentiment model")?;
    let scores = crate::comment_scores::CommentScores::for_store(store, sentiment)?;
    let negative = |t: &str| scores.negative(t);
    let mut b = IndicatorBuilder::new(ids, HashMap::new(), Some(&negative));
    if let Some(m) = meetings {
        b.set_meetings(read_meetings(m)?);
    }
    for repo in store.repos()? {
        store.scan_repo(&repo, TimeRange::ALL, &mut |e| {
            b.add(e);
            ControlFlow::Continue(())
        })?;
    }
    Ok(b.finish())
}

/// Who opted in: the latest consent record of each actor, resolved to people, plus `extra`.
pub fn opted_in(
    store: &dyn Store,
    ids: &Identities,
    extra: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut latest: BTreeMap<String, (chrono::DateTime<chrono::Utc>, bool)> = BTreeMap::new();
    for c in store.consents()? {
        let e = latest
            .entry(c.actor_key.clone())
            .or_insert((c.at, c.opted_in));
        if c.at >= e.0 {
            *e = (c.at, c.opted_in);
        }
    }
    let mut people: Vec<String> = extra.to_vec();
    for (key, (_, yes)) in latest {
        if !yes {
            continue;
        }
        if let Some(p) = ids.person(&actor_of_key(&key)) {
            people.push(p);
        }
    }
    people.sort();
    people.dedup();
    Ok(people)
}

fn pick_week(rows: &[Standardised], week: Option<&str>) -> anyhow::Result<IsoWeek> {
    match week {
        Some(w) => w
            .parse::<IsoWeek>()
            .map_err(|e| anyhow::anyhow!("--week: {e}")),
        None => rows
            .iter()
            .map(|r| r.week)
            .max()
            .context("the store has no activity to score"),
    }
}

/// An actor from its key (`github:login`, `email:address`, or any other key as is).
fn actor_of_key(key: &str) -> canopy_analyzer::Actor {
    match key.split_once(':') {
        Some(("github", login)) => canopy_analyzer::Actor::github(login),
        Some(("email", email)) => canopy_analyzer::Actor::git("", email),
        _ => canopy_analyzer::Actor {
            key: key.to_string(),
            name: None,
            email: None,
        },
    }
}

/// The person an `--identity` names: a person id, or an actor key resolved to its person.
fn resolve_self(ids: &Identities, identity: &str) -> String {
    match identity.split_once(':') {
        Some(("github" | "email", _)) => ids
            .person(&actor_of_key(identity))
            .unwrap_or_else(|| identity.to_string()),
        _ => identity.to_string(),
    }
}

/// Standardised person-weeks of the people the rules allow to be analysed (opted in), with
/// their predictors of disengagement; nobody else's data is scored at all (the team's
/// predictors count everyone's activity, as the team-level digest does).
pub fn analysable_rows(
    store: &dyn Store,
    ids: &Identities,
    rules: &Rules,
    meetings: Option<&Path>,
) -> anyhow::Result<Vec<Standardised>> {
    let all = person_weeks(store, ids, meetings)?;
    let (Some(first), Some(last)) = (
        all.iter().map(|w| w.week).min(),
        all.iter().map(|w| w.week).max(),
    ) else {
        return Ok(Vec::new());
    };
    let team = Team::new(&all, first, last);
    let own: Vec<PersonWeek> = all
        .into_iter()
        .filter(|w| rules.analysable(&w.person))
        .collect();
    let mut rows = burnout::standardise(&own);
    attach_predictors(&mut rows, &own, &team, last);
    Ok(rows)
}

/// The rules in force for a store: k, who opted in (with `extra`), and the shipped model's
/// validation (or this installation's own) for the score gate.
pub fn rules(
    store: &dyn Store,
    ids: &Identities,
    k: usize,
    extra: &[String],
) -> anyhow::Result<Rules> {
    let model = Artifact::shipped().context("the shipped burnout model")?;
    Ok(Rules::new(k, opted_in(store, ids, extra)?).with_evidence(evidence(store, &model)?))
}

/// The validation the visibility gate reads: this installation's own last evaluation
/// (`burnout eval --store`) when it rests on enough disengagements, else the artifact's.
pub fn evidence(store: &dyn MetaStore, model: &Artifact) -> anyhow::Result<Option<Evidence>> {
    if let Some(b) = store.get_meta(LOCAL_VALIDATION)? {
        let v: Validation = serde_json::from_slice(&b).context("reading the stored evaluation")?;
        if v.positives >= canopy_policies::visibility::MIN_VALIDATED_POSITIVES {
            return Ok(Some(Evidence {
                auc: v.auc,
                positives: v.positives,
                source: "this installation's own history".into(),
                baseline: Some((v.best_baseline.clone(), v.best_baseline_auc)),
            }));
        }
    }
    Ok(artifact_evidence(model))
}

/// The artifact's own validation, as evidence for the gate.
fn artifact_evidence(model: &Artifact) -> Option<Evidence> {
    model.validation.as_ref().map(|v| Evidence {
        auc: v.auc,
        positives: v.positives,
        source: format!("hold-out of {} histories it never saw", v.histories.len()),
        baseline: Some((v.best_baseline.clone(), v.best_baseline_auc)),
    })
}

/// Whether the shipped model's own validation lets scores be shown (no local evaluation).
pub fn shipped_model_validated() -> bool {
    let evidence = Artifact::shipped().ok().and_then(|m| artifact_evidence(&m));
    Rules::new(5, []).with_evidence(evidence).scores_shown() == Decision::Allow
}

/// Store meta key of the last `burnout eval --store` figures of the shipped model.
const LOCAL_VALIDATION: &str = "burnout_validation";

fn me(a: MeArgs, open: OpenStore<'_>, clock: &dyn canopy_core::Clock) -> anyhow::Result<ExitCode> {
    let store = open(a.store.as_ref())?;
    let store = store.as_ref();
    let ids = identities(&a.ids)?;
    let person = resolve_self(&ids, &a.identity);
    let rules = rules(
        store,
        &ids,
        canopy_policies::privacy::DEFAULT_MIN_K,
        &a.opted_in,
    )?;
    let rows = if rules.analysable(&person) {
        analysable_rows(store, &ids, &rules, a.ids.meetings.as_deref())?
    } else {
        Vec::new()
    };
    let week = match a.week.as_deref() {
        None if rows.is_empty() => IsoWeek::of_utc(&clock.now()),
        w => pick_week(&rows, w)?,
    };
    let text = personal_section(&rows, &rules, &person, week)
        .map_err(|why| anyhow::anyhow!("nothing to show for {}: {why}", a.identity))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The person id an identity given on the command line stands for.
pub fn person_of(ids: &Identities, identity: &str) -> String {
    resolve_self(ids, identity)
}

/// A person's own section for `week`, only if they opted in; it goes to that person alone.
/// The risk score and its reasons appear only when the rules' evidence validates the model;
/// otherwise the indicators and their trends, and one sentence why.
#[allow(clippy::needless_range_loop)] // indexes several parallel arrays
pub fn personal_section(
    rows: &[Standardised],
    rules: &Rules,
    person: &str,
    week: IsoWeek,
) -> Result<String, String> {
    let me = Viewer::Person(person.to_string());
    if let Decision::Deny(why) = rules.may_see(&me, &Item::PersonLevel { person }) {
        return Err(format!(
            "{why} (comment `/canopy opt-in` on a PR or change)"
        ));
    }
    let Some(row) = rows.iter().find(|r| r.person == person && r.week == week) else {
        return Err(format!("no activity in {week}"));
    };
    let mut out = String::new();
    match rules.may_see(&me, &Item::PersonScore { person }) {
        Decision::Allow => {
            let m = Artifact::shipped().map_err(|e| e.to_string())?;
            let e = m.explain(&row.predictors(), &m.reference_row());
            out.push_str(&format!(
                "Your burnout-risk score for {week}: {:.0}/100 — the chance, as the validated model sees it, that you step away for {} weeks or more (a typical contributor's week: {:.0}).\n",
                e.score, m.rule.horizon, e.reference
            ));
            for r in reasons(&e, &row.predictors(), 3) {
                out.push_str(&format!("- {r}\n"));
            }
        }
        Decision::Deny(why) => {
            out.push_str(&format!("Your indicators for {week}. {why}\n"));
        }
    }
    out.push_str(
        "\n| indicator | this week | vs your usual (sd) | team percentile |\n|---|---:|---:|---:|\n",
    );
    for i in 0..N {
        out.push_str(&format!(
            "| {} | {} | {:+.1} | {} |\n",
            NAMES[i],
            row.raw[i].map_or("absent".into(), |v| format!("{v:.2}")),
            row.z[i],
            row.team_percentile[i].map_or("–".into(), |p| format!("{p:.0}"))
        ));
    }
    out.push_str(
        "\nOnly you see this. Meeting hours are not observable from these sources and are not part of the score.\n",
    );
    Ok(out)
}

fn team(a: TeamArgs, open: OpenStore<'_>) -> anyhow::Result<ExitCode> {
    let store = open(a.store.as_ref())?;
    let store = store.as_ref();
    let ids = identities(&a.ids)?;
    let rules = rules(store, &ids, a.k, &a.opted_in)?;
    let rows = analysable_rows(store, &ids, &rules, a.ids.meetings.as_deref())?;
    let week = pick_week(&rows, a.week.as_deref())?;
    match team_burnout(&rows, week, &rules) {
        Ok(t) => print!("{}", t.markdown()),
        Err(why) => println!("Nothing to show for {week}: {why}."),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::indicators::idx;

    /// Eight people's weeks: committing steadily, one of them ("p0") stopping at week 30.
    fn rows() -> (Vec<Standardised>, IsoWeek) {
        let mut weeks = Vec::new();
        for p in 0..8 {
            for w in 0..40 {
                let mut values = [Some(0.0); N];
                values[idx::REVIEWS] = None;
                let active = !(p == 0 && w >= 30) && (w + p) % 3 != 0;
                if active {
                    values[idx::COMMITS] = Some(3.0);
                    values[idx::CHURN] = Some(40.0);
                    values[idx::ACTIVE_DAYS] = Some(2.0);
                    values[idx::AREAS] = Some(1.0);
                    values[idx::LATE_NIGHT] = Some(0.1 * p as f64);
                    values[idx::HOUR_SPREAD] = Some(2.0);
                }
                weeks.push(PersonWeek {
                    person: format!("p{p}"),
                    week: IsoWeek::from_index(2900 + w),
                    values,
                });
            }
        }
        let (first, last) = (IsoWeek::from_index(2900), IsoWeek::from_index(2939));
        let team = Team::new(&weeks, first, last);
        let mut rows = burnout::standardise(&weeks);
        attach_predictors(&mut rows, &weeks, &team, last);
        (rows, last)
    }

    fn rules(evidence: Option<(f64, usize)>) -> Rules {
        Rules::new(5, (0..8).map(|p| format!("p{p}"))).with_evidence(evidence.map(
            |(auc, positives)| Evidence {
                auc,
                positives,
                source: "test".into(),
                baseline: Some(("recency".into(), 0.6)),
            },
        ))
    }

    #[test]
    fn a_personal_score_only_with_a_validated_model() {
        let (rows, week) = rows();
        assert!(
            rows.iter()
                .all(|r| r.predictors().iter().any(|v| !v.is_nan()))
        );
        let shown = personal_section(&rows, &rules(Some((0.8, 100))), "p0", week).unwrap();
        assert!(shown.contains("Your burnout-risk score for"), "{shown}");
        assert!(shown.contains("points"), "reasons in words: {shown}");
        assert!(shown.contains("| commits |"));
        for hidden in [None, Some((0.65, 100)), Some((0.9, 12))] {
            let text = personal_section(&rows, &rules(hidden), "p0", week).unwrap();
            assert!(!text.contains("/100"), "{text}");
            assert!(text.contains("No risk score:"), "{text}");
            assert!(text.contains("| commits |"), "indicators stay: {text}");
        }
    }

    #[test]
    fn team_buckets_only_with_a_validated_model() {
        let (rows, week) = rows();
        let t = team_burnout(&rows, week, &rules(Some((0.8, 100)))).unwrap();
        assert_eq!(t.buckets.len(), 4);
        assert!(t.note.is_none());
        let md = t.markdown();
        assert!(md.contains("| risk | people |"), "{md}");
        let t = team_burnout(&rows, week, &rules(None)).unwrap();
        assert!(t.buckets.is_empty() && t.drivers.is_empty());
        let md = t.markdown();
        assert!(
            md.contains("No risk score:") && !md.contains("| risk |"),
            "{md}"
        );
        assert!(
            md.contains("Indicators furthest from people's own usual"),
            "{md}"
        );
        let few = Rules::new(9, (0..8).map(|p| format!("p{p}")));
        assert!(
            team_burnout(&rows, week, &few)
                .unwrap_err()
                .contains("fewer than")
        );
    }
}
