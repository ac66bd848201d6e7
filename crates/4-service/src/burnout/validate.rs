//! `canopy burnout eval` and `train`: the histories they read (git repositories, stores),
//! labelled into a dataset, and what they write (the evaluation, the artifact and its notes).

use std::collections::HashMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use canopy_analyzer::identity::{Identities, Mailmap};
use canopy_analyzer::indicators::{IndicatorBuilder, PersonWeek};
use canopy_analyzer::week::IsoWeek;
use canopy_analyzer::{Event, EventKind};
use canopy_forge::git::{self, IngestOptions};
use canopy_models::burnout::eval::{Settings, evaluate};
use canopy_models::burnout::features;
use canopy_models::burnout::labels::LabelRule;
use canopy_models::burnout::model::{self, Artifact, Recipe, TrainingSource, Validation};
use canopy_models::burnout::report::Summary;
use canopy_models::burnout::walk::Dataset;
use canopy_models::sentiment::Model as Sentiment;
use canopy_store::{EventStore, MetaStore, RedbStore, TimeRange};

use super::{EvalArgs, IdentityArgs, LOCAL_VALIDATION, TrainArgs, identities};
use crate::format::ReportFormat;

/// One history read for evaluation or training: its person-weeks and the data's span.
struct History {
    name: String,
    /// Commits of the tips read (git), for ARTIFACT.md.
    commits: Vec<String>,
    weeks: Vec<PersonWeek>,
    first: IsoWeek,
    last: IsoWeek,
}

/// The name of a repository path: its directory, or the parent's for `.../repo` and `.git`.
fn history_name(path: &Path) -> String {
    let base = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = base(path).unwrap_or_else(|| "repo".into());
    if (name == "repo" || name == ".git")
        && let Some(parent) = path.parent().and_then(base)
    {
        return parent;
    }
    name.trim_end_matches(".git").to_string()
}

/// The commit HEAD points at and the `.mailmap` of that commit, if any.
fn head_and_mailmap(path: &Path) -> anyhow::Result<(String, Mailmap)> {
    let repo = git::open(path)?;
    let head = repo
        .head_commit()
        .with_context(|| format!("{}: no HEAD commit", path.display()))?;
    let id = head.id().to_string();
    let tree = head
        .tree()
        .with_context(|| format!("{}: reading the tree of {id}", path.display()))?;
    let entry = tree
        .lookup_entry_by_path(".mailmap")
        .with_context(|| format!("{}: looking up .mailmap at {id}", path.display()))?;
    let mailmap = match entry {
        None => Mailmap::default(),
        Some(e) => {
            let o = e
                .object()
                .with_context(|| format!("{}: reading .mailmap at {id}", path.display()))?;
            Mailmap::parse(&String::from_utf8_lossy(&o.data))
        }
    };
    Ok((id, mailmap))
}

/// Person-weeks of a store and the span of its data (first person-week, latest event's week).
type StoreHistory = (Vec<PersonWeek>, Option<(IsoWeek, IsoWeek)>);

/// Person-weeks of every event a store holds (sentiment scored when `sentiment`), with the
/// data's span: from the first person-week to the latest event (commits count at their commit
/// time, so a mis-set author clock cannot extend the data).
fn history_of_store(
    store: &dyn EventStore,
    ids: &Identities,
    sentiment: bool,
) -> anyhow::Result<StoreHistory> {
    let model = if sentiment {
        Some(Sentiment::shipped().context("loading the sentiment model")?)
    } else {
        None
    };
    let negative = |t: &str| model.as_ref().map_or(0.0, |m| m.probabilities(t)[0]);
    let scorer: &dyn Fn(&str) -> f64 = &negative;
    let mut b = IndicatorBuilder::new(ids, HashMap::new(), model.is_some().then_some(scorer));
    let mut end: Option<chrono::DateTime<chrono::Utc>> = None;
    for repo in store.repos()? {
        store.scan_repo(&repo, TimeRange::ALL, &mut |e: Event| {
            let t = match &e.kind {
                EventKind::Commit(c) => c.commit_time.with_timezone(&chrono::Utc),
                _ => e.at_utc(),
            };
            end = Some(end.map_or(t, |m| m.max(t)));
            b.add(e);
            ControlFlow::Continue(())
        })?;
    }
    let weeks = b.finish();
    let first = weeks.iter().map(|w| w.week).min();
    Ok((weeks, first.zip(end.map(|t| IsoWeek::of_utc(&t)))))
}

fn read_git(path: &Path) -> anyhow::Result<History> {
    let name = history_name(path);
    let (head, mailmap) = head_and_mailmap(path)?;
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(dir.path())?;
    eprintln!(
        "reading {} ({name} at {}) …",
        path.display(),
        &head[..12.min(head.len())]
    );
    git::ingest(
        path,
        &IngestOptions {
            repo_name: name.clone(),
            rev: head.clone(),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            renames: git::Renames::default(),
        },
        &store,
        &|_| {},
    )
    .with_context(|| format!("reading the history of {}", path.display()))?;
    let ids = Identities::new(mailmap, &[]);
    let (weeks, span) = history_of_store(&store, &ids, false)?;
    let (first, last) = span.with_context(|| format!("{}: no commits", path.display()))?;
    Ok(History {
        name,
        commits: vec![head],
        weeks,
        first,
        last,
    })
}

fn read_store(dir: &Path, ids: &Identities) -> anyhow::Result<History> {
    let store = RedbStore::open(dir)?;
    eprintln!("reading the store {} …", dir.display());
    let mut commits = Vec::new();
    for repo in store.repos()? {
        if let Some(tips) = store.get_meta(&format!("git_tips:{repo}"))? {
            let tips: Vec<String> = serde_json::from_slice(&tips).with_context(|| {
                format!(
                    "{}: the recorded git tips of {repo} are not a JSON list",
                    dir.display()
                )
            })?;
            commits.extend(tips);
        }
    }
    let (weeks, span) = history_of_store(&store, ids, true)?;
    let (first, last) =
        span.with_context(|| format!("{}: the store has no events", dir.display()))?;
    let repos = store.repos()?;
    let name = if repos.len() == 1 {
        repos[0].clone()
    } else {
        history_name(dir)
    };
    Ok(History {
        name,
        commits,
        weeks,
        first,
        last,
    })
}

/// Reads every history named and labels it; `on_history` sees each before it is dropped.
fn dataset(
    h: &HistoryArgs,
    rule: &LabelRule,
    mut on_history: impl FnMut(&History, &Dataset),
) -> anyhow::Result<Dataset> {
    let ids = identities(&h.ids)?;
    let mut d = Dataset::default();
    let sources = h
        .git
        .iter()
        .map(|p| (p, true))
        .chain(h.store.iter().map(|p| (p, false)));
    for (path, is_git) in sources {
        let hist = if is_git {
            read_git(path)?
        } else {
            read_store(path, &ids)?
        };
        d.add(&hist.name, &hist.weeks, hist.first, hist.last, rule);
        on_history(&hist, &d);
    }
    anyhow::ensure!(
        d.positives() > 0 && d.positives() < d.samples.len(),
        "not enough history: no person-week had {} active weeks in {} followed by {} observed weeks of both outcomes",
        rule.min_active,
        rule.window,
        rule.horizon
    );
    Ok(d)
}

/// Histories read by `eval` and `train`.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Git repositories, each one history (repeatable; work tree or bare).
    #[arg(long = "git", value_name = "PATH")]
    pub git: Vec<PathBuf>,
    /// Stores (webhook events, imported histories), each one history with its reviews,
    /// comments and their sentiment (repeatable).
    #[arg(long = "store", value_name = "DIR")]
    pub store: Vec<PathBuf>,
    /// Weeks looked back for eligibility.
    #[arg(long, default_value_t = 12)]
    pub window: usize,
    /// Active weeks within the window that make a person-week eligible.
    #[arg(long, default_value_t = 4)]
    pub min_active: usize,
    /// Weeks without activity that make a disengagement (also try 24).
    #[arg(long, default_value_t = 12)]
    pub horizon: usize,
    #[command(flatten)]
    pub ids: IdentityArgs,
}

/// How the model is trained (`train`, and the walk-forward model of `eval`).
#[derive(Debug, Clone, clap::Args)]
pub struct RecipeArgs {
    /// Trees.
    #[arg(long, default_value_t = Recipe::default().params.trees)]
    pub trees: usize,
    /// Shrinkage of each tree.
    #[arg(long, default_value_t = Recipe::default().params.learning_rate)]
    pub learning_rate: f64,
    /// Depth of each tree.
    #[arg(long, default_value_t = Recipe::default().params.max_depth)]
    pub depth: usize,
    /// Fewest training person-weeks in a leaf.
    #[arg(long, default_value_t = Recipe::default().params.min_leaf)]
    pub min_leaf: usize,
    /// Most non-disengaged person-weeks trained on (sampled, seeded).
    #[arg(long, default_value_t = Recipe::default().max_negatives)]
    pub max_negatives: usize,
}

impl RecipeArgs {
    fn recipe(&self) -> anyhow::Result<Recipe> {
        anyhow::ensure!(self.trees > 0, "--trees must be at least 1");
        anyhow::ensure!(
            self.learning_rate > 0.0 && self.learning_rate <= 1.0,
            "--learning-rate must be in (0, 1]"
        );
        anyhow::ensure!(self.depth > 0, "--depth must be at least 1");
        let mut r = Recipe::default();
        r.params.trees = self.trees;
        r.params.learning_rate = self.learning_rate;
        r.params.max_depth = self.depth;
        r.params.min_leaf = self.min_leaf.max(1);
        r.max_negatives = self.max_negatives.max(1);
        Ok(r)
    }
}

impl HistoryArgs {
    fn rule(&self) -> anyhow::Result<LabelRule> {
        anyhow::ensure!(
            !self.git.is_empty() || !self.store.is_empty(),
            "name at least one history: --git PATH or --store DIR"
        );
        LabelRule::new(self.window, self.min_active, self.horizon)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// The model `eval` compares and `me`/`team` use: a file, or the shipped artifact.
fn load_model(path: Option<&Path>) -> anyhow::Result<Artifact> {
    match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Artifact::from_json(&text).with_context(|| format!("{}", p.display()))
        }
        None => Artifact::shipped().context("the shipped burnout model"),
    }
}

pub(super) fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let rule = a.history.rule()?;
    let recipe = a.recipe.recipe()?;
    let model = load_model(a.model.as_deref())?;
    let mut names = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let data = dataset(&a.history, &rule, |h, d| {
        if let Some(t) = model.trained_on_like(&h.name) {
            seen.push(format!("{} (as {})", h.name, t.name));
        }
        names.push(match h.commits.first() {
            Some(c) => format!("{}@{}", h.name, &c[..12.min(c.len())]),
            None => h.name.clone(),
        });
        eprintln!(
            "{}: {} people, {} labelled person-weeks so far ({} disengaged)",
            h.name,
            d.people.last().copied().unwrap_or(0),
            d.samples.len(),
            d.positives()
        )
    })?;
    let mut settings = Settings {
        recipe,
        bootstrap: a.bootstrap,
        ..Settings::default()
    };
    settings.plan.horizon = rule.horizon as i64;
    settings.plan.block_weeks = a.block_weeks;
    eprintln!(
        "walking forward over {} labelled person-weeks …",
        data.samples.len()
    );
    let e = evaluate(&data, Some(&model), &settings, &|m: &str| {
        eprintln!("{m} …")
    });
    let summary = Summary::new(&e, rule.horizon);
    let validation = validation_of(&summary, &names);
    if a.record_validation
        && let Some(path) = &a.model
    {
        let v = validation
            .clone()
            .context("no validation to record: the AUC was withheld (too few disengagements)")?;
        let mut m = model.clone();
        m.validation = Some(v);
        write_artifact(&m, path, None)?;
        eprintln!("recorded the validation in {}", path.display());
    }
    if a.history.git.is_empty()
        && let [dir] = a.history.store.as_slice()
    {
        match &validation {
            Some(v) => {
                RedbStore::open(dir)?.put_meta(LOCAL_VALIDATION, &serde_json::to_vec(v)?)?;
                eprintln!("recorded for the visibility gate of this installation");
            }
            None => {
                eprintln!("not recorded for the visibility gate: too few disengagements for an AUC")
            }
        }
    }
    print_summary(&summary, a.format, &seen)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the evaluation, with a note first when a history may be one the model learned from
/// (`seen`: "name (as owner/repo)"); in JSON the note goes to stderr and the keys stay as they are.
fn print_summary(summary: &Summary, format: ReportFormat, seen: &[String]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let note = (!seen.is_empty()).then(|| {
        format!(
            "The model evaluated learned from a history of the same name as {}: its rows \
             (\"shipped model\") may be in-sample here; the baselines and the model trained \
             walk-forward here are not affected.",
            seen.join(", ")
        )
    });
    match format {
        ReportFormat::Json => {
            if let Some(n) = &note {
                tracing::warn!("{n}");
            }
            writeln!(out, "{}", serde_json::to_string(&summary)?)?
        }
        ReportFormat::Md => {
            if let Some(n) = &note {
                writeln!(out, "**Note.** {n}\n")?;
            }
            write!(out, "{}", summary.markdown())?
        }
    }
    Ok(())
}

/// The shipped model's pooled figures as a validation, when an AUC was given.
fn validation_of(s: &Summary, histories: &[String]) -> Option<Validation> {
    Some(Validation {
        histories: histories.to_vec(),
        auc: s.prior_auc.filter(|a| a.is_finite())?,
        auc_ci: s.prior_auc_ci?,
        positives: s.positives,
        departures: s.departures,
        brier: s.prior_brier?,
        precision_at_top_decile: s.prior_precision_at_top_decile?,
        base_rate: s.base_rate,
        best_baseline: s.baseline.clone(),
        best_baseline_auc: s.baseline_auc?,
    })
}

pub(super) fn train_cmd(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let rule = a.history.rule()?;
    let recipe = a.recipe.recipe()?;
    let mut sources: Vec<TrainingSource> = Vec::new();
    let data = dataset(&a.history, &rule, |h, d| {
        let i = d.histories.len() - 1;
        let samples: Vec<&canopy_models::burnout::walk::Sample> = d
            .samples
            .iter()
            .filter(|s| usize::from(s.history) == i)
            .collect();
        let source = TrainingSource {
            name: h.name.clone(),
            commit: h.commits.first().cloned(),
            people: d.people[i],
            samples: samples.len(),
            positives: samples.iter().filter(|s| s.y).count(),
        };
        eprintln!(
            "{}: {} people, {} labelled person-weeks, {} disengaged",
            source.name, source.people, source.samples, source.positives
        );
        sources.push(source);
    })?;
    eprintln!(
        "training on {} labelled person-weeks ({} disengaged) from {} histories …",
        data.samples.len(),
        data.positives(),
        data.histories.len()
    );
    let rows: Vec<&canopy_models::burnout::walk::Sample> = data.samples.iter().collect();
    let artifact = Artifact {
        format: model::FORMAT,
        predictors: features::NAMES.iter().map(|s| s.to_string()).collect(),
        rule,
        recipe,
        model: model::train(&rows, &recipe),
        reference: model::mean_row(&rows),
        trained_on: sources,
        validation: None,
    };
    write_artifact(&artifact, &a.out, a.notes.as_deref())?;
    eprintln!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes an artifact and its notes (ARTIFACT.md beside it unless given).
fn write_artifact(a: &Artifact, out: &Path, notes: Option<&Path>) -> anyhow::Result<()> {
    std::fs::write(out, a.to_json()? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    let notes = notes.map_or_else(|| out.with_file_name("ARTIFACT.md"), Path::to_path_buf);
    std::fs::write(&notes, a.notes()).with_context(|| format!("writing {}", notes.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::Platform;
    use canopy_analyzer::event::{CiJobEvent, CiResult};

    #[test]
    fn unreadable_git_tips_are_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = RedbStore::open(dir.path()).unwrap();
            let at = chrono::DateTime::from_timestamp(1_600_000_000, 0)
                .unwrap()
                .fixed_offset();
            let job = CiJobEvent::new("tempest", "zuul", 100, CiResult::Success);
            let e = Event::new(
                "e1",
                Platform::Git,
                "acme/widgets",
                at,
                EventKind::CiJobFinished(job),
            );
            store.put_events(&[e]).unwrap();
            store
                .put_meta("git_tips:acme/widgets", b"not json")
                .unwrap();
        }
        let ids = Identities::new(Mailmap::default(), &[]);
        let err = read_store(dir.path(), &ids).err().expect("a decode error");
        assert!(
            format!("{err:#}").contains("recorded git tips of acme/widgets"),
            "{err:#}"
        );
    }
}
