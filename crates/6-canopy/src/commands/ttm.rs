//! `canopy ttm eval|train`: evaluate the time-to-merge model on PR history files, and train it
//! from the store's history (or a history file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use canopy_models::ttm::eval::{EvalReport, evaluate};
use canopy_models::ttm::gousios::{GousiosRow, records};
use canopy_models::ttm::{PrRecord, TrainConfig};

use super::analyze::ReportFormat;
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
    /// Evaluate on PR history files (the columns of the Gousios pullreqs dataset) with a
    /// time-ordered split: train on the past, test on the future.
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
    /// Share of the latest changes held out for testing.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Output format (json: one object per file, one per line).
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// Trees per model.
    #[arg(long, default_value_t = 150)]
    pub trees: usize,
    /// Depth of each tree.
    #[arg(long, default_value_t = 4)]
    pub max_depth: usize,
    /// Shrinkage of each tree.
    #[arg(long, default_value_t = 0.08)]
    pub learning_rate: f64,
    /// Share of the latest training changes used to calibrate the interval.
    #[arg(long, default_value_t = 0.35)]
    pub calibration: f64,
    /// Refit the interval models on all training changes after calibrating (sharper
    /// intervals, weaker coverage guarantee than strict split conformal).
    #[arg(long)]
    pub refit: bool,
}

/// Arguments of `canopy ttm train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Store directory.
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
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
    let mut out = std::io::stdout().lock();
    for path in &a.data {
        let recs = read_history(path)?;
        let mut cfg = TrainConfig::default();
        cfg.params.trees = a.trees;
        cfg.params.max_depth = a.max_depth;
        cfg.params.learning_rate = a.learning_rate;
        cfg.calibration_fraction = a.calibration;
        cfg.refit = a.refit;
        let report = evaluate(&recs, a.test_fraction, &cfg)
            .with_context(|| format!("evaluating {}", path.display()))?;
        match a.format {
            ReportFormat::Json => writeln!(out, "{}", serde_json::to_string(&report)?)?,
            ReportFormat::Md => write!(out, "{}", markdown(path, &report))?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn markdown(path: &Path, r: &EvalReport) -> String {
    let mut s = format!(
        "## {}\n\n{} merged changes trained on, {} tested on (time-ordered split).\n\n| predictor | log-MAE | median abs. error (h) | 10–90% coverage | bucket accuracy | bucket macro-F1 |\n|---|---:|---:|---:|---:|---:|\n",
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        r.n_train,
        r.n_test
    );
    s.push_str(&format!(
        "| Canopy (quantile GBT) | {:.3} | {:.1} | {:.1}% | {:.3} | {:.3} |\n",
        r.log_mae,
        r.median_abs_error_hours,
        r.coverage_10_90 * 100.0,
        r.bucket_accuracy,
        r.bucket_macro_f1
    ));
    for (name, m) in &r.baselines {
        s.push_str(&format!(
            "| {name} | {:.3} | {:.1} | {} | {:.3} | {:.3} |\n",
            m.log_mae,
            m.median_abs_error_hours,
            m.coverage_10_90
                .map_or("–".into(), |c| format!("{:.1}%", c * 100.0)),
            m.bucket_accuracy,
            m.bucket_macro_f1
        ));
    }
    if let Some(auc) = r.merge_30d_auc {
        s.push_str(&format!("\nMerged within 30 days: ROC AUC {auc:.3}.\n"));
    }
    s.push('\n');
    s
}

fn train(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let store = crate::wiring::open_store(&a.store)?;
    let trained = ttm::train_all(store.as_ref(), a.min_repo, chrono::Utc::now())?;
    anyhow::ensure!(
        !trained.is_empty(),
        "the store at {} has no pull requests or changes to learn from",
        a.store.display()
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
