//! `canopy ttm eval|train`: evaluate the time-to-merge model on PR history files, and train it
//! from the store's history (or a history file).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use canopy_models::ttm::gousios::{GousiosRow, records};
use canopy_models::ttm::walk::{
    EvalReport, Figures, Interval, SERVE_RETRAIN_HOURS, SizeFeatures, Verdict, WalkConfig,
    WalkProgress, evaluate_with_progress,
};
use canopy_models::ttm::{PrRecord, TrainConfig};
use canopy_store::Location;

use super::analyze::ReportFormat;
use canopy_core::{Clock, SystemClock};
use canopy_service::ttm;

/// Arguments of `canopy ttm`.
#[derive(Debug, clap::Args)]
pub struct TtmArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TtmCommand,
}

/// Subcommands of `canopy ttm`.
#[derive(Debug, clap::Subcommand)]
pub enum TtmCommand {
    /// Evaluate on PR history files (the columns of the Gousios pullreqs dataset) walk-forward,
    /// as `canopy serve` runs: the last 20% of changes are predicted when they open, by models
    /// retrained on a schedule on what was known then, with adaptive intervals and the fallback
    /// to the running median updated at each merge. Figures are leak-free (with the size at
    /// opening from the `*_at_open` columns when the file has them, never with the size columns,
    /// which the dataset holds only as final totals) and, beside them, without any size and with
    /// the final sizes.
    Eval(EvalArgs),
    /// Train the models the bot uses, from the store's history, and save them in the store.
    Train(TrainArgs),
}

/// Arguments of `canopy ttm eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// PR history CSV (repeat for several; each is evaluated on its own).
    #[arg(long = "data", value_name = "FILE", required = true)]
    pub data: Vec<PathBuf>,
    /// Share of the latest changes (by opening time) tested.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Weeks between retrainings inside the test window (default: `canopy serve`'s schedule,
    /// `ttm.retrain_hours`); fractions allowed (1/7 = daily).
    #[arg(long, value_name = "WEEKS", default_value_t = SERVE_RETRAIN_HOURS as f64 / 168.0)]
    pub retrain_every: f64,
    /// Output format (json: one object per file, one per line).
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// Trees per model (the AI4CI-style classifier gets as many).
    #[arg(long, default_value_t = TrainConfig::default().params.trees)]
    pub trees: usize,
    /// Depth of each tree.
    #[arg(long, default_value_t = TrainConfig::default().params.max_depth)]
    pub max_depth: usize,
    /// Shrinkage of each tree.
    #[arg(long, default_value_t = TrainConfig::default().params.learning_rate)]
    pub learning_rate: f64,
    /// Share of the latest training changes used to calibrate the interval.
    #[arg(long, default_value_t = TrainConfig::default().calibration_fraction)]
    pub calibration: f64,
    /// Step of the adaptive interval levels (0: static split-conformal intervals).
    #[arg(long, default_value_t = WalkConfig::default().gamma)]
    pub gamma: f64,
    /// Other repositories' PR history CSVs (repeat for several) whose changes the median model
    /// also learns from at each retraining, as known then; everything else stays on `--data`.
    #[arg(long = "pool", value_name = "FILE")]
    pub pool: Vec<PathBuf>,
    /// A file listing more pool CSVs, one path per line (blank lines and `#` comments skipped).
    #[arg(long, value_name = "LISTFILE")]
    pub pool_list: Option<PathBuf>,
    /// Weight of each pool change in the median model against the target's 1 (1: unweighted).
    #[arg(long, value_name = "W", default_value_t = TrainConfig::default().pool_weight)]
    pub pool_weight: f64,
    /// Walk the headline only: no walk without size nor with the final sizes (their keys are
    /// null in the JSON report).
    #[arg(long)]
    pub headline_only: bool,
    /// Blend the median with the shipped cross-repository model (an evaluation option: the bot
    /// predicts with the repository's own model alone; the blend was withdrawn after it lost
    /// on a hold-out, docs/models.md). Its training histories (`models/src/ttm/GLOBAL.md`)
    /// give in-sample figures with it.
    #[arg(long)]
    pub global: bool,
    /// Weight of the model's own median in the estimate; the rest goes to the repository's
    /// running median (1: the model alone, as before session 12).
    #[arg(long, value_name = "W", default_value_t = TrainConfig::default().model_weight)]
    pub model_weight: f64,
}

/// Arguments of `canopy ttm train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Fewest merged changes for a repository's own model (else a pooled one).
    #[arg(long, default_value_t = 200)]
    pub min_repo: usize,
}

/// Runs `canopy ttm`.
pub fn run(args: TtmArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        TtmCommand::Eval(a) => eval(a),
        TtmCommand::Train(a) => train(a),
    }
}

/// Reads a PR history CSV.
pub fn read_history(path: &Path) -> anyhow::Result<Vec<PrRecord>> {
    anyhow::ensure!(
        path.exists(),
        "no such file: {} (PR histories are in ../shared/data/prs/)",
        path.display()
    );
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let mut rows: Vec<GousiosRow> = Vec::new();
    for (i, r) in rdr.deserialize::<GousiosRow>().enumerate() {
        rows.push(r.with_context(|| {
            format!(
                "{}: row {} is not in the expected columns",
                path.display(),
                i + 2
            )
        })?);
    }
    anyhow::ensure!(!rows.is_empty(), "{} has no rows", path.display());
    Ok(records(&rows))
}

fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.retrain_every > 0.0 && a.retrain_every.is_finite(),
        "--retrain-every must be a positive number of weeks, not {}",
        a.retrain_every
    );
    anyhow::ensure!(
        (0.0..1.0).contains(&a.test_fraction) && a.test_fraction > 0.0,
        "--test-fraction must be between 0 and 1, not {}",
        a.test_fraction
    );
    let mut cfg = WalkConfig {
        test_fraction: a.test_fraction,
        retrain_every: (a.retrain_every * 7.0 * 86_400.0).round() as i64,
        gamma: a.gamma,
        ..WalkConfig::default()
    };
    cfg.train.params.trees = a.trees;
    cfg.train.params.max_depth = a.max_depth;
    cfg.train.params.learning_rate = a.learning_rate;
    cfg.train.calibration_fraction = a.calibration;
    cfg.headline_only = a.headline_only;
    anyhow::ensure!(
        a.pool_weight > 0.0 && a.pool_weight.is_finite(),
        "--pool-weight must be a positive number, not {}",
        a.pool_weight
    );
    cfg.train.pool_weight = a.pool_weight;
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.model_weight),
        "--model-weight must be between 0 and 1, not {}",
        a.model_weight
    );
    cfg.train.model_weight = a.model_weight;
    if a.global {
        cfg.train.global = Some(canopy_models::ttm::global::shipped().clone());
    }
    let pool = read_pool(&a.pool, a.pool_list.as_deref())?;
    let mut out = std::io::stdout().lock();
    let tty = std::io::stderr().is_terminal();
    for (k, path) in a.data.iter().enumerate() {
        let recs = read_history(path)?;
        tracing::info!(file = %path.display(), changes = recs.len(), pool = pool.len(), "evaluating walk-forward");
        let name = match a.data.len() {
            1 => path.display().to_string(),
            n => format!("[{}/{n}] {}", k + 1, path.display()),
        };
        let mut progress = |p: WalkProgress| {
            if tty {
                eprint!(
                    "\r{name}: {} walk, {}/{} test changes   ",
                    p.walk.name(),
                    p.done,
                    p.total
                );
            }
        };
        let evaluated = evaluate_with_progress(&recs, &pool, &cfg, &mut progress);
        if tty {
            eprintln!();
        }
        let (report, _) = evaluated.with_context(|| format!("evaluating {}", path.display()))?;
        if report.global.as_ref().is_some_and(|g| g.in_sample) {
            tracing::warn!(file = %path.display(), "this history is one the shipped cross-repository model learned from: its figures are in-sample (leave out --global)");
        }
        match a.format {
            ReportFormat::Json => writeln!(out, "{}", serde_json::to_string(&report)?)?,
            ReportFormat::Md => write!(out, "{}", markdown(path, &report))?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The records of every pool file (`--pool` and those listed in `--pool-list`), each file with
/// its own history features.
fn read_pool(files: &[PathBuf], list: Option<&Path>) -> anyhow::Result<Vec<PrRecord>> {
    let mut paths = files.to_vec();
    if let Some(list) = list {
        let text = std::fs::read_to_string(list)
            .with_context(|| format!("reading the pool list {}", list.display()))?;
        paths.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(PathBuf::from),
        );
    }
    let mut out = Vec::new();
    for p in &paths {
        out.extend(read_history(p).with_context(|| format!("reading pool file {}", p.display()))?);
    }
    Ok(out)
}

/// One table row per predictor of a walk.
fn rows(label: &str, f: &Figures) -> String {
    let mut s = format!(
        "| Canopy{label} | {:.3} | {:.1} | {:.1}% (static {:.1}%) | {:.3} | {:.3} (bucket of the median {:.3}) |\n",
        f.log_mae,
        f.median_abs_error_hours,
        f.coverage_10_90 * 100.0,
        f.static_coverage_10_90 * 100.0,
        f.bucket_accuracy,
        f.bucket_macro_f1,
        f.bucket_macro_f1_of_median
    );
    for (name, m) in &f.baselines {
        s.push_str(&format!(
            "| {name}{label} | {:.3} | {:.1} | {} | {:.3} | {:.3} |\n",
            m.log_mae,
            m.median_abs_error_hours,
            m.coverage_10_90
                .map_or("–".into(), |c| format!("{:.1}%", c * 100.0)),
            m.bucket_accuracy,
            m.bucket_macro_f1
        ));
    }
    s.push_str(&format!(
        "| shown (model {:.0}% of the time, else running median){label} | {:.3} | | {:.1}% | | |\n",
        f.served.model_share * 100.0,
        f.served.log_mae,
        f.served.coverage_10_90 * 100.0
    ));
    s
}

/// A verdict in words.
fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Missed => "missed",
        Verdict::Undecided => "undecided (the interval reaches both sides)",
    }
}

/// A figure with its interval, each through `show`.
fn with_ci(i: &Interval, show: impl Fn(f64) -> String) -> String {
    format!("{} [{}, {}]", show(i.value), show(i.ci[0]), show(i.ci[1]))
}

/// The goals of issue 17 for the headline, with 95% intervals and verdicts.
fn goals(f: &Figures) -> String {
    let i = &f.intervals;
    let ratio = |x: f64| format!("{x:.3}");
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    let mut s = format!(
        "\nGoals of the headline (the first row), with 95% paired bootstrap intervals over its {} merged test changes:\n\n| goal | figure | verdict |\n|---|---:|---|\n| log-MAE ≤ 0.95 × the running median's | {} | {} |\n| coverage of the 10–90% interval in 75–85% | {} | {} |\n",
        f.n_test,
        with_ci(&i.log_mae_ratio, ratio),
        verdict(i.verdicts.log_mae),
        with_ci(&i.coverage_10_90, pct),
        verdict(i.verdicts.coverage),
    );
    if let (Some(d), Some(v)) = (&i.bucket_macro_f1_diff, i.verdicts.bucket) {
        s.push_str(&format!(
            "| bucket macro-F1 ≥ the AI4CI-style classifier's (difference) | {} | {} |\n",
            with_ci(d, |x| format!("{x:+.3}")),
            verdict(v)
        ));
    }
    s.push_str(&format!(
        "\nWhat the comment showed (the model where it had clearly beaten the running median, else the running median): log-MAE {} × the running median's.\n",
        with_ci(&i.served_log_mae_ratio, ratio)
    ));
    s
}

fn markdown(path: &Path, r: &EvalReport) -> String {
    let f = &r.leak_free;
    let sizes = match r.size_features {
        SizeFeatures::AtOpen => "with the size at opening, not the final-size columns",
        SizeFeatures::Absent => "without the final-size columns",
    };
    let mut s = format!(
        "## {}\n\n{} merged changes known when the test window opened, {} tested on; models retrained every {:.2} weeks ({} times). Leak-free: {sizes}.\n\n| predictor | log-MAE | median abs. error (h) | 10–90% coverage | bucket accuracy | bucket macro-F1 |\n|---|---:|---:|---:|---:|---:|\n",
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        r.n_train,
        f.n_test,
        r.retrain_every_weeks,
        f.retrains
    );
    s.push_str(&rows("", f));
    if let Some(w) = &r.without_size {
        s.push_str(&rows(" (without size)", w));
    }
    if let Some(w) = &r.with_final_size {
        s.push_str(&rows(" (with final size)", w));
    }
    s.push_str(&goals(f));
    if r.model_weight < 1.0 {
        s.push_str(&format!(
            "\nThe estimate is {:.0}% the model's median and {:.0}% the repository's running median (ln(1 + hours)), as the bot shows it; `--model-weight 1` evaluates the model alone.\n",
            r.model_weight * 100.0,
            (1.0 - r.model_weight) * 100.0
        ));
    }
    if let Some(g) = &r.global {
        s.push_str(&format!(
            "\nThe median is blended ({:.0}%) with Canopy's cross-repository model, learned from {} changes in {} public histories{}.\n",
            g.weight * 100.0,
            g.changes,
            g.histories,
            if g.in_sample {
                 " — **this history is one of them, so these figures are in-sample**"
            } else {
                ""
            }
        ));
    }
    if let Some(p) = &r.pool {
        s.push_str(&format!(
            "\nThe median model also learned from {} other repositories ({} of their changes merged when the test window opened).\n",
            p.files, p.merged_at_split
        ));
    }
    if let Some(auc) = f.merge_30d_auc {
        s.push_str(&format!("\nMerged within 30 days: ROC AUC {auc:.3}.\n"));
    }
    s.push_str(
        "\n| month | merged | coverage | static | running median |\n|---|---:|---:|---:|---:|\n",
    );
    for m in &f.coverage_by_month {
        s.push_str(&format!(
            "| {} | {} | {:.0}% | {:.0}% | {:.0}% |\n",
            m.month,
            m.n,
            m.coverage * 100.0,
            m.static_coverage * 100.0,
            m.running_median_coverage * 100.0
        ));
    }
    s.push('\n');
    s
}

fn train(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let (loc, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::No)?;
    let trained = ttm::train_all(store.as_ref(), a.min_repo, SystemClock.now())?;
    anyhow::ensure!(
        !trained.is_empty(),
        "the store at {} has no pull requests or changes to learn from",
        loc
    );
    for t in trained {
        match t.outcome {
            Ok(model) => println!(
                "{}: trained on {} merged changes ({})",
                t.repo,
                model.n_merged,
                match &model.scope {
                    canopy_models::ttm::Scope::Repository { .. } => "its own history".to_string(),
                    canopy_models::ttm::Scope::Pooled { reason, .. } => reason.clone(),
                }
            ),
            Err(e) => println!("{}: not trained: {e}", t.repo),
        }
    }
    Ok(ExitCode::SUCCESS)
}
