//! `canopy sentiment`: evaluate, train and apply the SE-specific sentiment and incivility
//! classifiers. The substance is in `canopy_models::sentiment` (and `canopy_encoder` for the
//! optional fine-tuned encoder); this module reads files and prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use canopy_models::sentiment::corpus::{self, Corpus};
use canopy_models::sentiment::suite::Scorer;
use canopy_models::sentiment::{self, GoldFigures, Label, Model, Scored, TrainConfig, TrainData};

use super::analyze::ReportFormat;
use super::sentiment_suite::eval_suite;

/// Arguments of `canopy sentiment`.
#[derive(Debug, clap::Args)]
pub struct SentimentArgs {
    #[command(subcommand)]
    command: SentimentCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SentimentCommand {
    /// Figures on a labelled CSV (`text` and `polarity`, `negative` or `uncivil` columns), or
    /// the within- and cross-corpus tables of the whole evaluation suite (--suite).
    Eval(EvalArgs),
    /// Train a model on labelled CSVs and write the artifact (or fine-tune an encoder).
    Train(TrainArgs),
    /// Label one text, or every row of a CSV.
    Score(ScoreArgs),
}

/// Arguments of `canopy sentiment eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Labelled CSV, as in ../shared/data/sentiment/.
    #[arg(long, value_name = "FILE", required_unless_present = "suite")]
    pub data: Option<PathBuf>,
    /// Only rows whose `split_zhang2023` (or `split`) column has this value, e.g. `test`.
    #[arg(long)]
    pub split: Option<String>,
    /// Model artifact [default: the one shipped with Canopy].
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Score sentiment with this fine-tuned encoder directory (incivility stays with the
    /// TF-IDF model's head).
    #[arg(long, value_name = "DIR")]
    pub encoder: Option<PathBuf>,
    /// Train the TF-IDF model on each training corpus and print within- and cross-corpus
    /// tables for it, the shipped model and --encoder (takes a few minutes).
    #[arg(long, conflicts_with = "data")]
    pub suite: bool,
    /// Folder of the training corpora (GitHub gold, Senti4SD).
    #[arg(long, value_name = "DIR", default_value = "../shared/data/sentiment")]
    pub shared: PathBuf,
    /// Folder of the fetched corpora (Jira, Stack Overflow, incivility, held-out corpora), as
    /// written by bench/sentiment/prepare_corpora.py.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "../shared/data/sentiment-extra"
    )]
    pub extra: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

/// Arguments of `canopy sentiment train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Main labelled CSV (`text`, `polarity`).
    #[arg(long, value_name = "FILE", required_unless_present = "base")]
    pub data: Option<PathBuf>,
    /// Keep this model's vocabulary and sentiment head and train only its incivility head
    /// on --incivility (the sentiment figures stay exactly those of this model).
    #[arg(long, value_name = "MODEL", requires = "incivility", conflicts_with_all = ["data", "encoder", "extra"])]
    pub base: Option<PathBuf>,
    /// Rows of --data to train on.
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Rows of --data to choose settings on (never trained on).
    #[arg(long, default_value = "valid")]
    pub valid_split: String,
    /// More labelled CSVs to train on, as FILE or FILE:SPLIT (repeatable); their weight
    /// relative to --data is chosen on the validation rows.
    #[arg(long, value_name = "FILE[:SPLIT]")]
    pub extra: Vec<String>,
    /// Incivility CSV (`text`, `uncivil`, `split` = train/valid): adds the incivility head,
    /// its threshold chosen on the `valid` rows.
    #[arg(long, value_name = "FILE")]
    pub incivility: Option<PathBuf>,
    /// Where to write the artifact (with --encoder: the fine-tuned encoder's directory).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Fine-tune this all-MiniLM-L6-v2 directory (config.json, vocab.txt, model.safetensors)
    /// instead of training the TF-IDF model.
    #[arg(long, value_name = "DIR")]
    pub encoder: Option<PathBuf>,
    /// Candidate penalties C, comma-separated (chosen on validation).
    #[arg(long, value_delimiter = ',', default_values_t = TrainConfig::default().c_grid)]
    pub c: Vec<f64>,
    /// Candidate weights of --extra corpora, comma-separated (chosen on validation).
    #[arg(long, value_delimiter = ',', default_values_t = TrainConfig::default().extra_weights)]
    pub extra_weight: Vec<f64>,
    /// Fewest training texts an n-gram must appear in.
    #[arg(long, default_value_t = TrainConfig::default().min_df)]
    pub min_df: usize,
    /// Encoder fine-tuning passes over the training texts (the epoch with the best validation
    /// macro-F1 is kept).
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Encoder: longest input in tokens (longer texts are truncated, in training and scoring).
    #[arg(long, default_value_t = 64)]
    pub max_len: usize,
    /// Encoder: texts per training step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Encoder: peak learning rate (linear warm-up over 6% of the steps, then linear decay).
    #[arg(long, default_value_t = 8e-5)]
    pub lr: f64,
    /// Encoder: weight of the --extra corpora's texts relative to --data's.
    #[arg(long, default_value_t = 0.5)]
    pub encoder_extra_weight: f64,
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
    /// Score sentiment with this fine-tuned encoder directory.
    #[arg(long, value_name = "DIR")]
    pub encoder: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

/// Runs `canopy sentiment`.
pub fn run(args: SentimentArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SentimentCommand::Eval(a) if a.suite => eval_suite(a),
        SentimentCommand::Eval(a) => eval(a),
        SentimentCommand::Train(a) => train(a),
        SentimentCommand::Score(a) => score(a),
    }
}

/// Loads a model artifact, or the shipped one.
pub fn load(model: Option<&Path>) -> anyhow::Result<Model> {
    match model {
        Some(p) => {
            let b = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            Model::from_bytes(&b)
                .with_context(|| format!("{} is not a sentiment model", p.display()))
        }
        None => Model::shipped().context("the shipped sentiment model is damaged"),
    }
}

/// The scorer for `--encoder DIR` (sentiment from the encoder, incivility from `tfidf`), or
/// `tfidf` itself.
pub fn scorer(tfidf: Model, encoder: Option<&Path>) -> anyhow::Result<Box<dyn Scorer>> {
    match encoder {
        None => Ok(Box::new(tfidf)),
        Some(dir) => load_encoder(dir, tfidf),
    }
}

#[cfg(feature = "encoder")]
fn load_encoder(dir: &Path, tfidf: Model) -> anyhow::Result<Box<dyn Scorer>> {
    let e = canopy_encoder::Encoder::load(dir)
        .with_context(|| format!("loading the encoder in {}", dir.display()))?;
    Ok(Box::new(canopy_encoder::WithIncivility::new(e, tfidf)))
}

#[cfg(not(feature = "encoder"))]
fn load_encoder(dir: &Path, _: Model) -> anyhow::Result<Box<dyn Scorer>> {
    anyhow::bail!(
        "--encoder {}: this canopy was built without the `encoder` feature; rebuild with \
         `cargo build --release --features encoder`",
        dir.display()
    )
}

/// Reads a labelled CSV, optionally one split only.
pub fn read_corpus(path: &Path, split: Option<&str>) -> anyhow::Result<Corpus> {
    anyhow::ensure!(
        path.exists(),
        "no such file: {} (labelled corpora are in ../shared/data/sentiment/)",
        path.display()
    );
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    corpus::parse(&name, &bytes, split).with_context(|| path.display().to_string())
}

/// Reads (text, label) rows of a polarity CSV, optionally one split only.
pub fn read_labelled(path: &Path, split: Option<&str>) -> anyhow::Result<Vec<(String, Label)>> {
    read_corpus(path, split)?
        .polarity_pairs()
        .with_context(|| format!("{}: needs a `polarity` column", path.display()))
}

fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let data = a.data.as_deref().context("--data FILE or --suite")?;
    let s = scorer(load(a.model.as_deref())?, a.encoder.as_deref())?;
    let c = read_corpus(data, a.split.as_deref())?;
    let scored = s.score_batch(&c.texts)?;
    let mut out = std::io::stdout().lock();
    let in_sample = in_sample_note(&c, a.split.as_deref());
    match (&in_sample, a.format) {
        (Some(note), ReportFormat::Md) => writeln!(out, "**Note.** {note}\n")?,
        (Some(note), ReportFormat::Json) => {
            tracing::warn!(file = %data.display(), rows = c.training_rows(), "{note}")
        }
        (None, _) => {}
    }
    let figures = sentiment::against_gold(&c.gold, &scored)
        .context("this model has no incivility head (train it with --incivility)")?;
    match figures {
        GoldFigures::Polarity(e) => match a.format {
            ReportFormat::Json => writeln!(out, "{}", serde_json::to_string(&e)?)?,
            ReportFormat::Md => write_polarity_md(&mut out, &e)?,
        },
        GoldFigures::Negative(b) => print_binary(&mut out, a.format, "negative", &b, b.auc)?,
        GoldFigures::Uncivil {
            flag: mut b,
            ranked,
        } => {
            // Precision, recall, F1 of the flag; AUC and its interval of the probability.
            (b.auc, b.auc_ci) = (ranked.auc, ranked.auc_ci);
            print_binary(&mut out, a.format, "uncivil", &b, b.auc)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What to tell a reader whose figures include rows a model learns or is tuned on: the whole of
/// a file with `train` or `valid` rows, read without `--split`.
fn in_sample_note(c: &Corpus, split: Option<&str>) -> Option<String> {
    let n = c.training_rows();
    (split.is_none() && n > 0).then(|| {
        format!(
            "{n} of these {} texts are in the file's train or validation split. A model \
             trained on that split scores them in-sample (the shipped model learned from the \
             train splits of the GitHub gold standard and Senti4SD and was tuned on their \
             validation splits); `--split test` gives the held-out figure.",
            c.len()
        )
    })
}

fn write_polarity_md(out: &mut impl Write, e: &sentiment::Evaluation) -> std::io::Result<()> {
    writeln!(
        out,
        "{} {}: accuracy {:.3}, macro-F1 {:.3} (95% CI {:.3}–{:.3})\n",
        e.n,
        if e.n == 1 { "text" } else { "texts" },
        e.accuracy,
        e.macro_f1,
        e.macro_f1_ci[0],
        e.macro_f1_ci[1]
    )?;
    writeln!(
        out,
        "| label | n | precision | recall | F1 |\n|---|---:|---:|---:|---:|"
    )?;
    for l in sentiment::LABELS {
        writeln!(
            out,
            "| {l} | {} | {:.3} | {:.3} | {:.3} |",
            e.support[l], e.precision[l], e.recall[l], e.per_class[l]
        )?;
    }
    Ok(())
}

fn print_binary(
    out: &mut impl Write,
    format: ReportFormat,
    what: &str,
    b: &sentiment::Binary,
    auc: f64,
) -> anyhow::Result<()> {
    match format {
        ReportFormat::Json => {
            let mut v = serde_json::to_value(b)?;
            v["auc"] = serde_json::json!(auc);
            v["label"] = serde_json::json!(what);
            writeln!(out, "{v}")?;
        }
        ReportFormat::Md => writeln!(
            out,
            "{} texts, {} {what}: precision {:.3}, recall {:.3}, F1 {:.3} (95% CI {:.3}–{:.3}); ROC AUC {:.3}",
            b.n, b.positives, b.precision, b.recall, b.f1, b.f1_ci[0], b.f1_ci[1], auc
        )?,
    }
    Ok(())
}

fn train(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let mut data = TrainData::default();
    if let Some(d) = &a.data {
        data.main = read_labelled(d, Some(&a.split))?;
        data.valid = read_labelled(d, Some(&a.valid_split))?;
    }
    for spec in &a.extra {
        let (path, split) = match spec.rsplit_once(':') {
            Some((p, s)) if !Path::new(spec).exists() && !s.contains('/') => (p, Some(s)),
            _ => (spec.as_str(), None),
        };
        data.extra.extend(read_labelled(Path::new(path), split)?);
    }
    if let Some(p) = &a.incivility {
        let pairs = |s| {
            read_corpus(p, Some(s))?
                .uncivil_pairs()
                .with_context(|| format!("{}: needs an `uncivil` column", p.display()))
        };
        data.incivility = pairs("train")?;
        data.incivility_valid = pairs("valid")?;
    }
    if let Some(dir) = &a.encoder {
        return fine_tune(dir, &data, &a);
    }
    let cfg = TrainConfig {
        c_grid: a.c.clone(),
        extra_weights: a.extra_weight.clone(),
        min_df: a.min_df,
        ..TrainConfig::default()
    };
    if let Some(base) = &a.base {
        return train_incivility(&load(Some(base))?, &data, &cfg, &a.out);
    }
    eprintln!(
        "training on {} + {} texts (validation {}), incivility on {} (validation {})",
        data.main.len(),
        data.extra.len(),
        data.valid.len(),
        data.incivility.len(),
        data.incivility_valid.len()
    );
    let (m, report) = sentiment::train::train(&data, &cfg, &mut |msg| eprintln!("{msg}"))?;
    let bytes = m.to_bytes();
    std::fs::write(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("{}", serde_json::to_string(&report)?);
    println!(
        "wrote {} ({} KB, {} features; C {} and extra weight {} chosen on validation, macro-F1 {:.3}{})",
        a.out.display(),
        bytes.len() / 1024,
        m.features(),
        report.sentiment_chosen.c,
        report.sentiment_chosen.extra_weight,
        report.sentiment_chosen.valid,
        report.incivility_chosen.map_or(String::new(), |t| format!(
            "; incivility C {} threshold {:.3}, validation F1 {:.3}",
            t.c,
            t.threshold.unwrap_or(0.5),
            t.valid
        ))
    );
    Ok(ExitCode::SUCCESS)
}

/// `train --base MODEL --incivility FILE`: a new incivility head on `base`'s vocabulary.
fn train_incivility(
    base: &Model,
    data: &TrainData,
    cfg: &TrainConfig,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    eprintln!(
        "incivility on {} texts (validation {}); vocabulary and sentiment head kept",
        data.incivility.len(),
        data.incivility_valid.len()
    );
    let (m, trials, best) =
        sentiment::train::retrain_incivility(base, data, cfg, &mut |msg| eprintln!("{msg}"))?;
    let bytes = m.to_bytes();
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("{}", serde_json::to_string(&trials)?);
    println!(
        "wrote {} ({} KB, {} features); incivility C {} threshold {:.3}, validation F1 {:.3}",
        out.display(),
        bytes.len() / 1024,
        m.features(),
        best.c,
        best.threshold.unwrap_or(0.5),
        best.valid
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "encoder")]
fn fine_tune(base: &Path, data: &TrainData, a: &TrainArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.epochs > 0 && a.batch > 0 && a.max_len > 2 && a.lr > 0.0,
        "--epochs and --batch must be at least 1, --max-len at least 3, --lr positive"
    );
    let cfg = canopy_encoder::FineTune {
        epochs: a.epochs,
        max_len: a.max_len,
        batch: a.batch,
        lr: a.lr,
        extra_weight: a.encoder_extra_weight,
        ..canopy_encoder::FineTune::default()
    };
    eprintln!(
        "fine-tuning {} on {} + {} texts (validation {}): {cfg:?}",
        base.display(),
        data.main.len(),
        data.extra.len(),
        data.valid.len()
    );
    let report = canopy_encoder::fine_tune(base, data, &cfg, &a.out, &mut |m| eprintln!("{m}"))?;
    println!("wrote {} ({report})", a.out.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "encoder"))]
fn fine_tune(base: &Path, _: &TrainData, _: &TrainArgs) -> anyhow::Result<ExitCode> {
    load_encoder(base, Model::shipped()?).map(|_| ExitCode::FAILURE)
}

fn print_scored(
    out: &mut impl Write,
    format: ReportFormat,
    s: &Scored,
    one: bool,
) -> anyhow::Result<()> {
    match (format, one) {
        (ReportFormat::Json, _) => writeln!(out, "{}", serde_json::to_string(s)?)?,
        (ReportFormat::Md, true) => writeln!(
            out,
            "{} ({:.0}%){}",
            s.label,
            s.confidence * 100.0,
            if s.uncivil { ", uncivil" } else { "" }
        )?,
        (ReportFormat::Md, false) => writeln!(out, "{}\t{:.3}", s.label, s.confidence)?,
    }
    Ok(())
}

fn score(a: ScoreArgs) -> anyhow::Result<ExitCode> {
    let s = scorer(load(a.model.as_deref())?, a.encoder.as_deref())?;
    let mut out = std::io::stdout().lock();
    match (&a.text, &a.file) {
        (Some(t), _) => {
            let scored = s.score_batch(std::slice::from_ref(t))?;
            print_scored(&mut out, a.format, &scored[0], true)?;
        }
        (None, Some(f)) => {
            let mut rdr =
                csv::Reader::from_path(f).with_context(|| format!("opening {}", f.display()))?;
            let h = rdr.headers()?.clone();
            let c = h
                .iter()
                .position(|x| x == a.column)
                .with_context(|| format!("{}: no column {:?}", f.display(), a.column))?;
            let mut texts = Vec::new();
            for (i, rec) in rdr.records().enumerate() {
                let rec = rec.with_context(|| format!("{}: row {}", f.display(), i + 2))?;
                texts.push(rec.get(c).unwrap_or("").to_string());
                if texts.len() == 256 {
                    for sc in s.score_batch(&std::mem::take(&mut texts))? {
                        print_scored(&mut out, a.format, &sc, false)?;
                    }
                }
            }
            for sc in s.score_batch(&texts)? {
                print_scored(&mut out, a.format, &sc, false)?;
            }
        }
        (None, None) => anyhow::bail!("give a TEXT to score, or --file CSV"),
    }
    Ok(ExitCode::SUCCESS)
}
