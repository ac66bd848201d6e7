//! Development helper: the walk-forward evaluation of Gousios-format PR histories with settings
//! from the command line, one JSON line of figures per file (tuning runs; the product command is
//! `canopy ttm eval`). Run: `cargo run --release -p canopy-models --example ttm_walk -- FILES…
//! [--trees N] [--depth N] [--lr X] [--min-leaf N] [--cal X] [--relative] [--gamma X] [--global]
//! [--model-weight W] [--weeks X] [--bucket head|mapped|median|likely] [--no-head] [--head-weight X] [--with-size]
//! [--dump DIR] [--report [--pool-list LIST] [--headline-only]]`. Without `--with-size` the walk
//! is the headline's: with the size at opening when the file has the `*_at_open` columns, else
//! without size features; `--dump` writes that walk's rows. `--pool-list` (with `--report`) pools
//! the median model over the listed files, leaving out the file walked (leave-one-out).

use canopy_models::ttm::PrRecord;
use canopy_models::ttm::gousios::{GousiosRow, records};
use canopy_models::ttm::walk::{
    BucketRule, Figures, WalkConfig, WalkRow, evaluate_with_pool, rows as rows_of, score,
};

/// What the command line asks for.
struct Args {
    cfg: WalkConfig,
    files: Vec<String>,
    with_size: bool,
    dump: Option<String>,
    report: bool,
    /// Files pooled by the median model (`--pool-list`; the walked file is left out).
    pool: Vec<String>,
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The bucket rule named on the command line (anything else: the head).
fn bucket_rule(name: &str) -> BucketRule {
    match name {
        "likely" => BucketRule::MostLikely,
        "median" => BucketRule::OfMedian,
        "mapped" => BucketRule::Mapped,
        _ => BucketRule::Head,
    }
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        cfg: WalkConfig::default(),
        files: Vec::new(),
        with_size: false,
        dump: None,
        report: false,
        pool: Vec::new(),
    };
    let cfg = &mut a.cfg;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut val = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--trees" => cfg.train.params.trees = val()?.parse()?,
            "--depth" => cfg.train.params.max_depth = val()?.parse()?,
            "--lr" => cfg.train.params.learning_rate = val()?.parse()?,
            "--min-leaf" => cfg.train.params.min_leaf = val()?.parse()?,
            "--subsample" => cfg.train.params.subsample = val()?.parse()?,
            "--cal" => cfg.train.calibration_fraction = val()?.parse()?,
            "--relative" => cfg.train.relative = true,
            "--censor" => cfg.train.censor_days = val()?.parse()?,
            "--absolute" => cfg.train.relative = false,
            "--refit" => cfg.train.refit = true,
            "--global" => {
                cfg.train.global = Some(canopy_models::ttm::global::shipped().clone());
            }
            "--gamma" => cfg.gamma = val()?.parse()?,
            "--model-weight" => cfg.train.model_weight = val()?.parse()?,
            "--weeks" => cfg.retrain_every = (val()?.parse::<f64>()? * 7.0 * 86_400.0) as i64,
            "--bucket" => cfg.bucket_rule = bucket_rule(&val()?),
            "--with-size" => a.with_size = true,
            "--no-clf" => cfg.classifier = false,
            "--no-head" => cfg.train.bucket_head = false,
            "--beta" => cfg.beta = val()?.parse()?,
            "--head-weight" => cfg.train.head_class_weight = val()?.parse()?,
            "--dump" => a.dump = Some(val()?),
            "--report" => a.report = true,
            "--headline-only" => cfg.headline_only = true,
            "--pool-list" => a.pool = read_list(&val()?)?,
            _ => a.files.push(arg),
        }
    }
    Ok(a)
}

/// Writes the walk's rows as JSON lines to `DIR/NAME.jsonl` when `--dump DIR` was given.
fn write_dump(dump: &Option<String>, name: &str, walk: &[WalkRow]) -> Res<()> {
    if let Some(dir) = dump {
        let mut out = String::new();
        for r in walk {
            out.push_str(&serde_json::to_string(r)?);
            out.push('\n');
        }
        std::fs::write(format!("{dir}/{name}.jsonl"), out)?;
    }
    Ok(())
}

/// One tuning run's line of figures.
fn summary(name: &str, fig: &Figures, secs: f64) -> serde_json::Value {
    let worst = fig
        .coverage_by_month
        .iter()
        .filter(|m| m.n >= 10)
        .map(|m| m.coverage)
        .fold(1.0, f64::min);
    let rm = &fig.baselines["running_median"];
    let clf_f1 = fig
        .baselines
        .get("ai4ci_bucket_classifier")
        .map_or(f64::NAN, |m| m.bucket_macro_f1);
    serde_json::json!({
        "repo": name, "n_test": fig.n_test, "log_mae": fig.log_mae,
        "rm_log_mae": rm.log_mae, "ratio": fig.log_mae / rm.log_mae,
        "coverage": fig.coverage_10_90, "static_coverage": fig.static_coverage_10_90,
        "rm_coverage": rm.coverage_10_90, "worst_month": worst,
        "f1": fig.bucket_macro_f1, "f1_of_median": fig.bucket_macro_f1_of_median, "f1_mapped": fig.bucket_macro_f1_mapped, "clf_f1": clf_f1,
        "auc": fig.merge_30d_auc, "served_log_mae": fig.served.log_mae,
        "model_share": fig.served.model_share, "retrains": fig.retrains,
        "secs": secs,
    })
}

/// The records of one Gousios-format file.
fn read_records(f: &str) -> Res<Vec<PrRecord>> {
    let mut rdr = csv::Reader::from_path(f)?;
    let rows: Vec<GousiosRow> = rdr.deserialize().collect::<Result<_, _>>()?;
    Ok(records(&rows))
}

/// The paths of a list file, one a line (blank lines and `#` comments skipped).
fn read_list(path: &str) -> Res<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// Walks one file and prints its line (or, with `--report`, the full report).
fn run(a: &Args, f: &str) -> Res<()> {
    let recs = read_records(f)?;
    let name = std::path::Path::new(f)
        .file_stem()
        .map(|s| s.to_string_lossy().replace("gousios2014_", ""))
        .unwrap_or_default();
    if a.report {
        // Exactly what `canopy ttm eval --format json` prints (and the headline's rows: with the
        // size at opening when the file has the `*_at_open` columns).
        let mut pool = Vec::new();
        for p in a.pool.iter().filter(|p| p.as_str() != f) {
            pool.extend(read_records(p)?);
        }
        let (report, walk) = evaluate_with_pool(&recs, &pool, &a.cfg)?;
        write_dump(&a.dump, &name, &walk)?;
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let t = std::time::Instant::now();
    let (walk, retrains) = rows_of(&recs, &a.cfg, a.with_size)?;
    let end = recs.iter().map(|r| r.created_at).max().unwrap_or(0);
    let fig = score(&walk, end, a.cfg.bucket_rule, retrains);
    write_dump(&a.dump, &name, &walk)?;
    println!("{}", summary(&name, &fig, t.elapsed().as_secs_f64()));
    Ok(())
}

fn main() -> Res<()> {
    let a = parse_args()?;
    for f in &a.files {
        run(&a, f)?;
    }
    Ok(())
}
