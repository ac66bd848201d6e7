//! `canopy sentiment`: evaluate, train and apply the SE-specific sentiment classifier.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use canopy_models::sentiment::{self, Label, Model, TrainConfig};

use super::analyze::ReportFormat;

/// Arguments of `canopy sentiment`.
#[derive(Debug, clap::Args)]
pub struct SentimentArgs {
    #[command(subcommand)]
    command: SentimentCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SentimentCommand {
    /// Per-class and macro F1 on a labelled CSV (`text` and `polarity` columns).
    Eval(EvalArgs),
    /// Train a model on a labelled CSV and write the artifact.
    Train(TrainArgs),
    /// Label one text, or every row of a CSV.
    Score(ScoreArgs),
}

/// Arguments of `canopy sentiment eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Labelled CSV, as in ../shared/data/sentiment/.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Only rows whose `split_zhang2023` (or `split`) column has this value, e.g. `test`.
    #[arg(long)]
    pub split: Option<String>,
    /// Model artifact [default: the one shipped with Canopy].
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

/// Arguments of `canopy sentiment train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Labelled CSV (repeatable).
    #[arg(long, value_name = "FILE", required = true)]
    pub data: Vec<PathBuf>,
    /// Only rows of this split, e.g. `train`.
    #[arg(long)]
    pub split: Option<String>,
    /// Where to write the artifact.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Passes over the data.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    pub epochs: usize,
    /// AdaGrad learning rate.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    pub learning_rate: f32,
    /// L2 penalty.
    #[arg(long, default_value_t = TrainConfig::default().l2)]
    pub l2: f32,
    /// Fewest texts a feature must appear in.
    #[arg(long, default_value_t = TrainConfig::default().min_df)]
    pub min_df: usize,
}

/// Arguments of `canopy sentiment score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// The text to label.
    #[arg(conflicts_with = "file")]
    pub text: Option<String>,
    /// A CSV whose rows to label (one JSON line each with --format json).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Column holding the text.
    #[arg(long, default_value = "text")]
    pub column: String,
    /// Model artifact [default: the one shipped with Canopy].
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

/// Runs `canopy sentiment`.
pub fn run(args: SentimentArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SentimentCommand::Eval(a) => eval(a),
        SentimentCommand::Train(a) => train(a),
        SentimentCommand::Score(a) => score(a),
    }
}

fn load(model: Option<&Path>) -> anyhow::Result<Model> {
    match model {
        Some(p) => {
            let b = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            Model::from_bytes(&b)
                .with_context(|| format!("{} is not a sentiment model", p.display()))
        }
        None => Model::shipped().context("the shipped sentiment model is damaged"),
    }
}

/// Reads (text, label) rows of a labelled CSV, optionally one split only.
pub fn read_labelled(path: &Path, split: Option<&str>) -> anyhow::Result<Vec<(String, Label)>> {
    anyhow::ensure!(
        path.exists(),
        "no such file: {} (labelled corpora are in ../shared/data/sentiment/)",
        path.display()
    );
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let h = rdr.headers()?.clone();
    let col = |n: &str| h.iter().position(|x| x == n);
    let (Some(t), Some(p)) = (col("text"), col("polarity")) else {
        anyhow::bail!(
            "{}: needs `text` and `polarity` columns; found {}",
            path.display(),
            h.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let s = col("split_zhang2023").or_else(|| col("split"));
    if split.is_some() && s.is_none() {
        anyhow::bail!(
            "{}: --split given but the file has no split column",
            path.display()
        );
    }
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        if let (Some(want), Some(s)) = (split, s)
            && rec.get(s) != Some(want)
        {
            continue;
        }
        let label = sentiment::label(rec.get(p).unwrap_or(""))
            .with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        out.push((rec.get(t).unwrap_or("").to_string(), label));
    }
    anyhow::ensure!(
        !out.is_empty(),
        "{}: no rows{}",
        path.display(),
        split
            .map(|s| format!(" in split {s:?}"))
            .unwrap_or_default()
    );
    Ok(out)
}

fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let model = load(a.model.as_deref())?;
    let rows = read_labelled(&a.data, a.split.as_deref())?;
    let gold: Vec<Label> = rows.iter().map(|r| r.1).collect();
    let pred: Vec<Label> = rows
        .iter()
        .map(|(t, _)| {
            let s = model.score(t);
            sentiment::label(s.label).unwrap_or(1)
        })
        .collect();
    let e = sentiment::evaluate(&gold, &pred);
    let mut out = std::io::stdout().lock();
    match a.format {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string(&e)?)?,
        ReportFormat::Md => {
            writeln!(
                out,
                "{} texts: accuracy {:.3}, macro-F1 {:.3}\n",
                e.n, e.accuracy, e.macro_f1
            )?;
            writeln!(
                out,
                "| label | precision | recall | F1 |\n|---|---:|---:|---:|"
            )?;
            for l in sentiment::LABELS {
                writeln!(
                    out,
                    "| {l} | {:.3} | {:.3} | {:.3} |",
                    e.precision[l], e.recall[l], e.per_class[l]
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn train(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for d in &a.data {
        rows.extend(read_labelled(d, a.split.as_deref())?);
    }
    let cfg = TrainConfig {
        epochs: a.epochs,
        learning_rate: a.learning_rate,
        l2: a.l2,
        min_df: a.min_df,
        ..TrainConfig::default()
    };
    eprintln!("training on {} texts, {} passes", rows.len(), cfg.epochs);
    let m = Model::train(&rows, &cfg)?;
    let bytes = m.to_bytes();
    std::fs::write(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
    println!("wrote {} ({} KB)", a.out.display(), bytes.len() / 1024);
    Ok(ExitCode::SUCCESS)
}

fn score(a: ScoreArgs) -> anyhow::Result<ExitCode> {
    let model = load(a.model.as_deref())?;
    let mut out = std::io::stdout().lock();
    match (&a.text, &a.file) {
        (Some(t), _) => {
            let s = model.score(t);
            match a.format {
                ReportFormat::Json => writeln!(out, "{}", serde_json::to_string(&s)?)?,
                ReportFormat::Md => writeln!(
                    out,
                    "{} ({:.0}%){}",
                    s.label,
                    s.confidence * 100.0,
                    if s.uncivil { ", uncivil" } else { "" }
                )?,
            }
        }
        (None, Some(f)) => {
            let mut rdr =
                csv::Reader::from_path(f).with_context(|| format!("opening {}", f.display()))?;
            let h = rdr.headers()?.clone();
            let c = h
                .iter()
                .position(|x| x == a.column)
                .with_context(|| format!("{}: no column {:?}", f.display(), a.column))?;
            for (i, rec) in rdr.records().enumerate() {
                let rec = rec.with_context(|| format!("{}: row {}", f.display(), i + 2))?;
                let s = model.score(rec.get(c).unwrap_or(""));
                match a.format {
                    ReportFormat::Json => writeln!(out, "{}", serde_json::to_string(&s)?)?,
                    ReportFormat::Md => writeln!(out, "{}\t{:.3}", s.label, s.confidence)?,
                }
            }
        }
        (None, None) => anyhow::bail!("give a TEXT to score, or --file CSV"),
    }
    Ok(ExitCode::SUCCESS)
}
