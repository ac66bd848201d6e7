//! `canopy burnout`: validate the score against disengagement on real repositories (`eval`), a
//! person's own score (`me`, opted-in people only) and the team's k-anonymous distribution
//! (`team`). Every output goes through the visibility rules of `canopy_policies::visibility`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use canopy_analyzer::identity::{Identities, Mailmap};
use canopy_analyzer::indicators::{IndicatorBuilder, N, NAMES, PersonWeek, idx};
use canopy_analyzer::week::IsoWeek;
use canopy_analyzer::{Event, EventKind};
use canopy_models::burnout::{self, ScoreModel, Standardised};
use canopy_models::sentiment::Model as Sentiment;
use canopy_policies::visibility::{Decision, Item, Rules, Viewer};
use serde::Serialize;

use crate::format::ReportFormat;
use canopy_forge::git::{self, IngestOptions};
use canopy_store::{EventStore, Location, Store, TimeRange};

/// Arguments of `canopy burnout`.
#[derive(Debug, clap::Args)]
pub struct BurnoutArgs {
    #[command(subcommand)]
    command: BurnoutCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BurnoutCommand {
    /// Validate against disengagement (active 8 of 12 weeks, then 12 weeks without activity).
    Eval(EvalArgs),
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
pub struct EvalArgs {
    /// Git repositories (repeatable).
    #[arg(long = "git", value_name = "PATH", required = true)]
    pub git: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
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

/// Runs `canopy burnout`, opening stores with `open`.
pub fn run(args: BurnoutArgs, open: OpenStore<'_>) -> anyhow::Result<ExitCode> {
    match args.command {
        BurnoutCommand::Eval(a) => eval(a),
        BurnoutCommand::Me(a) => me(a, open),
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

/// Person-weeks from every event in a store, with sentiment from the shipped model.
pub fn person_weeks(
    store: &dyn Store,
    ids: &Identities,
    meetings: Option<&Path>,
) -> anyhow::Result<Vec<PersonWeek>> {
    let sentiment = Sentiment::shipped().context("loading the sentiment model")?;
    let negative = |t: &str| sentiment.probabilities(t)[0];
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

/// Standardised person-weeks of the people the rules allow to be analysed (opted in); nobody
/// else's data is scored at all.
pub fn analysable_rows(
    store: &dyn Store,
    ids: &Identities,
    rules: &Rules,
    meetings: Option<&Path>,
) -> anyhow::Result<Vec<Standardised>> {
    let weeks: Vec<PersonWeek> = person_weeks(store, ids, meetings)?
        .into_iter()
        .filter(|w| rules.analysable(&w.person))
        .collect();
    Ok(burnout::standardise(&weeks))
}

#[allow(clippy::needless_range_loop)] // indicator i indexes several parallel arrays
fn me(a: MeArgs, open: OpenStore<'_>) -> anyhow::Result<ExitCode> {
    let store = open(a.store.as_ref())?;
    let store = store.as_ref();
    let ids = identities(&a.ids)?;
    let person = resolve_self(&ids, &a.identity);
    let rules = Rules::new(5, opted_in(store, &ids, &a.opted_in)?);
    let rows = if rules.analysable(&person) {
        analysable_rows(store, &ids, &rules, a.ids.meetings.as_deref())?
    } else {
        Vec::new()
    };
    let week = match a.week.as_deref() {
        None if rows.is_empty() => IsoWeek::of_utc(&chrono::Utc::now()),
        w => pick_week(&rows, w)?,
    };
    let text = personal_section(&rows, &rules, &person, week)
        .map_err(|why| anyhow::anyhow!("no score for {}: {why}", a.identity))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The person id an identity given on the command line stands for.
pub fn person_of(ids: &Identities, identity: &str) -> String {
    resolve_self(ids, identity)
}

/// A person's own section (score, reasons, indicators) for `week`, only if they opted in; it
/// goes to that person alone.
#[allow(clippy::needless_range_loop)] // indexes several parallel arrays
pub fn personal_section(
    rows: &[Standardised],
    rules: &Rules,
    person: &str,
    week: IsoWeek,
) -> Result<String, String> {
    if let Decision::Deny(why) = rules.may_see(
        &Viewer::Person(person.to_string()),
        &Item::PersonLevel { person },
    ) {
        return Err(format!(
            "{why} (comment `/canopy opt-in` on a PR or change)"
        ));
    }
    let refs = burnout::team_reference(rows);
    let Some(row) = rows.iter().find(|r| r.person == person && r.week == week) else {
        return Err(format!("no activity in {week}"));
    };
    let m = ScoreModel::default();
    let s = m.explain(&row.x, refs.get(&week).unwrap_or(&[0.0; N]));
    let mut out = format!(
        "Your burnout-risk score for {week}: {:.0}/100 (team reference {:.0}).\n",
        s.score, s.baseline
    );
    for r in burnout::reasons(&s, row, 3) {
        out.push_str(&format!("- {r}\n"));
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

/// The team's burnout-risk distribution of one week: k-anonymous buckets (with complementary
/// suppression, so a hidden bucket cannot be recovered from the total) and the indicators
/// raising scores most on average.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TeamBurnout {
    /// Week.
    pub week: String,
    /// People who opted in and were analysed that week.
    pub people: usize,
    /// Risk bucket label and its count, `None` when hidden.
    pub buckets: Vec<(String, Option<usize>)>,
    /// The smallest group shown.
    pub k: usize,
    /// Indicators raising scores most, with mean points ("late night share (+4.1 points)").
    pub drivers: Vec<String>,
}

impl TeamBurnout {
    /// As Markdown (a table and a sentence).
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Team burnout-risk distribution, {} ({} people who opted in):\n\n| risk | people |\n|---|---:|\n",
            self.week, self.people
        );
        for (label, n) in &self.buckets {
            let shown = n.map_or_else(
                || format!("hidden (fewer than {} or complementary)", self.k),
                |n| n.to_string(),
            );
            out.push_str(&format!("| {label} | {shown} |\n"));
        }
        out.push_str("\nIndicators raising scores most, on average: ");
        out.push_str(&self.drivers.join(", "));
        out.push('\n');
        out
    }
}

/// The team's burnout section for `week`, or why it may not be shown (fewer than k people).
#[allow(clippy::needless_range_loop)] // indexes several parallel arrays
pub fn team_burnout(
    rows: &[Standardised],
    week: IsoWeek,
    rules: &Rules,
) -> Result<TeamBurnout, String> {
    let refs = burnout::team_reference(rows);
    let m = ScoreModel::default();
    let members: Vec<&Standardised> = rows
        .iter()
        .filter(|r| r.week == week && rules.analysable(&r.person))
        .collect();
    if let Decision::Deny(why) = rules.may_see(
        &Viewer::Maintainer,
        &Item::Aggregate {
            group_size: members.len(),
        },
    ) {
        return Err(why);
    }
    let mut counts = [0u64; 4];
    let mut drive = [0.0; N];
    for r in &members {
        let s = m.explain(&r.x, refs.get(&week).unwrap_or(&[0.0; N]));
        counts[((s.score / 25.0) as usize).min(3)] += 1;
        for i in 0..N {
            drive[i] += s.contributions[i].max(0.0) / members.len() as f64;
        }
    }
    let published = canopy_policies::privacy::suppress(&counts, rules.k as u64);
    let buckets = ["0–24", "25–49", "50–74", "75–100"]
        .iter()
        .zip(&published.cells)
        .map(|(label, c)| {
            let n = match c {
                canopy_policies::privacy::Cell::Shown(v) => Some(*v as usize),
                _ => None,
            };
            (label.to_string(), n)
        })
        .collect();
    let mut order: Vec<usize> = (0..N).collect();
    order.sort_by(|&a, &b| drive[b].total_cmp(&drive[a]));
    let drivers = order
        .iter()
        .take(3)
        .filter(|&&i| drive[i] > 0.05)
        .map(|&i| format!("{} (+{:.1} points)", NAMES[i].replace('_', " "), drive[i]))
        .collect();
    Ok(TeamBurnout {
        week: week.to_string(),
        people: members.len(),
        buckets,
        k: rules.k,
        drivers,
    })
}

fn team(a: TeamArgs, open: OpenStore<'_>) -> anyhow::Result<ExitCode> {
    let store = open(a.store.as_ref())?;
    let store = store.as_ref();
    let ids = identities(&a.ids)?;
    let rules = Rules::new(a.k, opted_in(store, &ids, &a.opted_in)?);
    let rows = analysable_rows(store, &ids, &rules, a.ids.meetings.as_deref())?;
    let week = pick_week(&rows, a.week.as_deref())?;
    match team_burnout(&rows, week, &rules) {
        Ok(t) => print!("{}", t.markdown()),
        Err(why) => println!("Nothing to show for {week}: {why}."),
    }
    Ok(ExitCode::SUCCESS)
}

/// The JSON of `canopy burnout eval`.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    /// People with at least one evaluated week.
    pub people: usize,
    /// Person-weeks in the test part.
    pub test_samples: usize,
    /// Person-weeks in the training part.
    pub train_samples: usize,
    /// Disengagements in the test part.
    pub positives: usize,
    /// ROC AUC of the score (weights fitted on the training part).
    pub auc: f64,
    /// ROC AUC of the volume-only baseline (fitted the same way).
    pub baseline_auc: f64,
    /// ROC AUC of the score with Canopy's prior weights (no fitting).
    pub prior_auc: f64,
    /// Share of disengagements among the top 10% of scores.
    pub precision_at_top_decile: f64,
    /// Same for the baseline.
    pub baseline_precision_at_top_decile: f64,
    /// Base rate of disengagement in the test part.
    pub base_rate: f64,
    /// Fitted weights by indicator.
    pub weights: BTreeMap<String, f64>,
}

/// One evaluated person-week: score inputs, volume inputs, outcome, week.
struct Sample {
    x: [f64; N],
    volume: [f64; N],
    y: bool,
    week: IsoWeek,
}

fn samples(weeks: &[PersonWeek], rows: &[Standardised]) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < weeks.len() {
        let mut end = start;
        while end < weeks.len() && weeks[end].person == weeks[start].person {
            end += 1;
        }
        let active: Vec<bool> = weeks[start..end]
            .iter()
            .map(|w| {
                w.values[idx::COMMITS].unwrap_or(0.0)
                    + w.values[idx::REVIEWS].unwrap_or(0.0)
                    + w.values[idx::COMMENTS].unwrap_or(0.0)
                    > 0.0
            })
            .collect();
        // The person's weeks stop at their last activity; weeks after it are inactive until the
        // end of the data, which the caller bounds with `horizon`.
        let len = active.len();
        for k in 11..len {
            let recent = active[k - 11..=k].iter().filter(|&&a| a).count();
            if recent < 8 || !active[k] {
                continue;
            }
            let future_active = active[k + 1..(k + 13).min(len)].iter().any(|&a| a);
            let known_future = k + 12 < len || !future_active;
            if !known_future {
                continue;
            }
            let r = &rows[start + k];
            let mut volume = [0.0; N];
            let sum = |i: usize| {
                weeks[start + k - 11..=start + k]
                    .iter()
                    .map(|w| w.values[i].unwrap_or(0.0))
                    .sum::<f64>()
            };
            volume[0] = sum(idx::COMMITS).ln_1p();
            volume[1] = sum(idx::CHURN).ln_1p();
            out.push(Sample {
                x: r.x,
                volume,
                y: !future_active,
                week: r.week,
            });
        }
        start = end;
    }
    out
}

fn standardise_columns(train: &mut [[f64; N]], test: &mut [[f64; N]]) {
    for i in 0..N {
        let n = train.len().max(1) as f64;
        let mean = train.iter().map(|x| x[i]).sum::<f64>() / n;
        let sd = (train.iter().map(|x| (x[i] - mean).powi(2)).sum::<f64>() / n)
            .sqrt()
            .max(1e-9);
        for x in train.iter_mut().chain(test.iter_mut()) {
            x[i] = (x[i] - mean) / sd;
        }
    }
}

fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let mut all: Vec<Sample> = Vec::new();
    let mut people = std::collections::BTreeSet::new();
    for path in &a.git {
        let dir = tempfile::tempdir()?;
        let store = canopy_store::RedbStore::open(dir.path())?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo".into());
        eprintln!("reading {} …", path.display());
        git::ingest(
            path,
            &IngestOptions {
                repo_name: name.clone(),
                rev: "HEAD".into(),
                jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
                renames: git::Renames::default(),
            },
            &store,
            &|_| {},
        )
        .with_context(|| format!("reading the history of {}", path.display()))?;
        let mailmap = std::fs::read_to_string(path.join(".mailmap"))
            .map(|t| Mailmap::parse(&t))
            .unwrap_or_default();
        let ids = Identities::new(mailmap, &[]);
        let mut b = IndicatorBuilder::new(&ids, HashMap::new(), None);
        let mut max_week: Option<IsoWeek> = None;
        store.scan_repo(&name, TimeRange::ALL, &mut |e: Event| {
            if let EventKind::Commit(c) = &e.kind {
                let w = IsoWeek::of_local(&c.author_time);
                max_week = Some(max_week.map_or(w, |m| m.max(w)));
            }
            b.add(e);
            ControlFlow::Continue(())
        })?;
        let mut weeks = b.finish();
        // Pad every person to the repository's last week, so that silence is observed.
        if let Some(end) = max_week {
            let mut padded = Vec::with_capacity(weeks.len());
            let mut i = 0;
            while i < weeks.len() {
                let p = weeks[i].person.clone();
                while i < weeks.len() && weeks[i].person == p {
                    padded.push(weeks[i].clone());
                    i += 1;
                }
                let mut w = padded.last().map(|x: &PersonWeek| x.week).unwrap_or(end);
                while w < end {
                    w = w.next();
                    let mut values = [Some(0.0); N];
                    for (j, v) in values.iter_mut().enumerate() {
                        if padded.last().is_some_and(|l| l.values[j].is_none()) {
                            *v = None;
                        }
                    }
                    padded.push(PersonWeek {
                        person: p.clone(),
                        week: w,
                        values,
                    });
                }
            }
            weeks = padded;
        }
        let rows = burnout::standardise(&weeks);
        all.extend(samples(&weeks, &rows));
        people.extend(weeks.iter().map(|w| format!("{name}:{}", w.person)));
    }
    anyhow::ensure!(
        !all.is_empty(),
        "not enough history: nobody was active 8 of 12 weeks with 12 weeks of data after"
    );
    // Time split: the earliest 70% of weeks train, the rest test.
    let mut ws: Vec<IsoWeek> = all.iter().map(|s| s.week).collect();
    ws.sort();
    let cut = ws[(ws.len() as f64 * 0.7) as usize];
    let (train, test): (Vec<&Sample>, Vec<&Sample>) = all.iter().partition(|s| s.week < cut);
    anyhow::ensure!(
        !train.is_empty() && !test.is_empty(),
        "too little history for a time split"
    );
    let ytr: Vec<bool> = train.iter().map(|s| s.y).collect();
    let yte: Vec<bool> = test.iter().map(|s| s.y).collect();
    let mut xtr: Vec<[f64; N]> = train.iter().map(|s| s.x).collect();
    let mut xte: Vec<[f64; N]> = test.iter().map(|s| s.x).collect();
    let prior = ScoreModel::default();
    let prior_scores: Vec<f64> = xte.iter().map(|x| prior.score(x)).collect();
    standardise_columns(&mut xtr, &mut xte);
    let fitted = ScoreModel::fit(&xtr, &ytr, 1e-3, 300);
    let scores: Vec<f64> = xte.iter().map(|x| fitted.score(x)).collect();
    let mut vtr: Vec<[f64; N]> = train.iter().map(|s| s.volume).collect();
    let mut vte: Vec<[f64; N]> = test.iter().map(|s| s.volume).collect();
    standardise_columns(&mut vtr, &mut vte);
    let base = ScoreModel::fit(&vtr, &ytr, 1e-3, 300);
    let base_scores: Vec<f64> = vte.iter().map(|x| base.score(x)).collect();
    let report = EvalReport {
        people: people.len(),
        test_samples: test.len(),
        train_samples: train.len(),
        positives: yte.iter().filter(|&&y| y).count(),
        auc: burnout::auc(&scores, &yte),
        baseline_auc: burnout::auc(&base_scores, &yte),
        prior_auc: burnout::auc(&prior_scores, &yte),
        precision_at_top_decile: burnout::precision_at_top_decile(&scores, &yte),
        baseline_precision_at_top_decile: burnout::precision_at_top_decile(&base_scores, &yte),
        base_rate: yte.iter().filter(|&&y| y).count() as f64 / yte.len() as f64,
        weights: NAMES
            .iter()
            .zip(fitted.weights)
            .map(|(n, w)| (n.to_string(), w))
            .collect(),
    };
    let mut out = std::io::stdout().lock();
    match a.format {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string(&report)?)?,
        ReportFormat::Md => writeln!(
            out,
            "{} people; {} training and {} test person-weeks (split at {cut}); {} disengagements in the test part (base rate {:.1}%).\n\n| predictor | ROC AUC | precision at top decile |\n|---|---:|---:|\n| Canopy score (fitted weights) | {:.3} | {:.3} |\n| Canopy score (prior weights) | {:.3} | – |\n| activity volume only | {:.3} | {:.3} |",
            report.people,
            report.train_samples,
            report.test_samples,
            report.positives,
            report.base_rate * 100.0,
            report.auc,
            report.precision_at_top_decile,
            report.prior_auc,
            report.baseline_auc,
            report.baseline_precision_at_top_decile
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
