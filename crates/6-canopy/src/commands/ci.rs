//! `canopy ci stopping`: each CI job's optimal stopping point, learned on its earlier runs and
//! scored on its later runs, from a CSV of runs (the formats of `../shared/data/ci/`) or from
//! the CI events of a store.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use canopy_analyzer::EventKind;
use canopy_models::stopping::eval::{Evaluation, evaluate};
use canopy_models::stopping::{self, Method, Outcome, Run, Settings, history};
use serde::Serialize;

use super::analyze::ReportFormat;
use canopy_store::{TimeRange, scan_all};

/// Arguments of `canopy ci`.
#[derive(Debug, clap::Args)]
pub struct CiArgs {
    #[command(subcommand)]
    command: CiCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CiCommand {
    /// Per job: the duration after which a still-running job is more likely to fail than to
    /// pass, and what stopping there would have saved and cost on later runs.
    #[command(after_help = STOPPING_HELP)]
    Stopping(StoppingArgs),
}

const STOPPING_HELP: &str = "Runs are sorted by start; t* is learned on the first --train-share of \
them and scored on the rest: `saved_hours` is the time failed later runs ran past t*, \
`false_stop_share` the share of passing later runs that ran past it (they would have been stopped). \
CSV input needs columns `job`, `result` and `duration_s`, and a start: `start_epoch_s` (seconds) or \
`started_ms` (milliseconds). Results SUCCESS pass; FAILURE, UNSTABLE, TIMED_OUT, ERROR, \
POST_FAILURE and NODE_FAILURE fail; ABORTED, CANCELLED and SKIPPED are left out (their outcome is \
unknown). See docs/ci.md.";

/// Arguments of `canopy ci stopping`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["data", "store"])))]
pub struct StoppingArgs {
    /// CSV of job runs.
    #[arg(long, value_name = "CSV")]
    pub data: Option<PathBuf>,
    /// Store: a directory or a postgres:// URL (CANOPY_STORE_FILE for a URL with its password).
    #[arg(long, value_name = "DIR|URL")]
    pub store: Option<canopy_store::Location>,
    /// Only this job (its name, or `name (pipeline)` for store jobs with a pipeline).
    #[arg(long)]
    pub job: Option<String>,
    /// t* is where P(success | still running) first falls below this.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Largest share of earlier passing runs allowed to run past t* (0 to 1); `off` disables
    /// the guard.
    #[arg(long, default_value = "0.05", value_parser = parse_guard)]
    pub max_false_stop: Guard,
    /// Fewest runs with a known outcome before a t* is stated.
    #[arg(long, default_value_t = 30)]
    pub min_runs: usize,
    /// Fewest runs of each outcome among them.
    #[arg(long, default_value_t = 5)]
    pub min_per_outcome: usize,
    /// Estimate: `smoothed` (non-parametric, default) or `parametric` (AI4CI-style fits).
    #[arg(long, value_enum, default_value_t = MethodArg::Smoothed)]
    pub method: MethodArg,
    /// Share of each job's runs (earliest first) learned from; the rest are scored.
    #[arg(long, default_value_t = 0.7)]
    pub train_share: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

/// The false-stop guard as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guard(pub Option<f64>);

fn parse_guard(s: &str) -> Result<Guard, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Guard(None));
    }
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(Guard(Some(v))),
        _ => Err(format!("{s:?} is not a share between 0 and 1, or `off`")),
    }
}

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Kernel-smoothed empirical survivals.
    Smoothed,
    /// Log-normal or Weibull fits per outcome.
    Parametric,
}

/// Runs `canopy ci`.
pub fn run(args: CiArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CiCommand::Stopping(a) => stopping(a),
    }
}

/// One job's line of the report.
#[derive(Debug, Serialize)]
pub struct JobReport {
    /// Job key.
    pub job: String,
    /// Runs left out because their outcome is unknown (aborted, cancelled, skipped).
    pub excluded: usize,
    /// t* learned on all the job's runs: what Canopy states for new runs.
    pub stopping_point_all_runs_s: Option<f64>,
    /// The time-split evaluation.
    #[serde(flatten)]
    pub eval: Evaluation,
}

/// The JSON of `canopy ci stopping`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Settings used.
    pub settings: Settings,
    /// Share of runs learned from.
    pub train_share: f64,
    /// One entry per job, by name.
    pub jobs: Vec<JobReport>,
}

fn stopping(a: StoppingArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.threshold),
        "--threshold must be between 0 and 1, got {}",
        a.threshold
    );
    anyhow::ensure!(
        a.train_share > 0.0 && a.train_share < 1.0,
        "--train-share must be strictly between 0 and 1, got {}",
        a.train_share
    );
    let (mut jobs, mut excluded) = match (&a.data, &a.store) {
        (Some(csv), _) => read_csv(csv)?,
        (None, Some(loc)) => read_store(loc)?,
        (None, None) => anyhow::bail!("give --data CSV or --store DIR"),
    };
    if let Some(name) = &a.job {
        anyhow::ensure!(
            jobs.contains_key(name),
            "no runs of job {name:?}; jobs: {}",
            jobs.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        jobs.retain(|k, _| k == name);
    }
    let settings = Settings {
        threshold: a.threshold,
        min_runs: a.min_runs,
        min_per_outcome: a.min_per_outcome,
        max_false_stop: a.max_false_stop.0,
        min_at_risk: Settings::default().min_at_risk,
        method: match a.method {
            MethodArg::Smoothed => Method::Smoothed,
            MethodArg::Parametric => Method::Parametric,
        },
    };
    let report = Report {
        settings,
        train_share: a.train_share,
        jobs: jobs
            .into_iter()
            .map(|(job, runs)| JobReport {
                excluded: excluded.remove(&job).unwrap_or(0),
                stopping_point_all_runs_s: stopping::learn(&runs, &settings)
                    .stop
                    .ok()
                    .map(|p| p.secs),
                eval: evaluate(&runs, &settings, a.train_share),
                job,
            })
            .collect(),
    };
    let mut out = std::io::stdout().lock();
    match a.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        ReportFormat::Md => write!(out, "{}", markdown(&report))?,
    }
    Ok(ExitCode::SUCCESS)
}

type Jobs = (BTreeMap<String, Vec<Run>>, BTreeMap<String, usize>);

/// The outcome of a CSV result word: `Ok(None)` for runs whose outcome is unknown.
fn csv_outcome(word: &str) -> Result<Option<Outcome>, String> {
    match word.trim().to_ascii_uppercase().as_str() {
        "SUCCESS" | "PASSED" | "PASS" => Ok(Some(Outcome::Success)),
        "FAILURE" | "FAILED" | "UNSTABLE" | "TIMED_OUT" | "ERROR" | "POST_FAILURE"
        | "NODE_FAILURE" => Ok(Some(Outcome::Failure)),
        "ABORTED" | "CANCELLED" | "CANCELED" | "SKIPPED" => Ok(None),
        other => Err(format!("unknown result {other:?}")),
    }
}

fn read_csv(path: &Path) -> anyhow::Result<Jobs> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let need = |name: &str| {
        col(name).with_context(|| {
            format!(
                "{} has no `{name}` column (columns: {})",
                path.display(),
                headers.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let (job, result, duration) = (need("job")?, need("result")?, need("duration_s")?);
    let (start, scale) = match (col("start_epoch_s"), col("started_ms")) {
        (Some(c), _) => (c, 1),
        (None, Some(c)) => (c, 1000),
        (None, None) => anyhow::bail!(
            "{} has no start column: `start_epoch_s` (seconds) or `started_ms` (milliseconds)",
            path.display()
        ),
    };
    let (mut jobs, mut excluded): Jobs = Default::default();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("{} line {line}", path.display()))?;
        let field = |c: usize| rec.get(c).unwrap_or("").trim();
        let bad =
            |what: &str, v: &str| anyhow::anyhow!("{} line {line}: {what} {v:?}", path.display());
        let outcome = csv_outcome(field(result)).map_err(|e| bad(&e, ""))?;
        let name = field(job).to_string();
        let Some(outcome) = outcome else {
            *excluded.entry(name).or_default() += 1;
            continue;
        };
        let duration_secs: f64 = field(duration)
            .parse()
            .ok()
            .filter(|d: &f64| d.is_finite() && *d >= 0.0)
            .ok_or_else(|| bad("duration_s is not a number of seconds:", field(duration)))?;
        let started: i64 = field(start)
            .parse()
            .map_err(|_| bad("start is not an integer:", field(start)))?;
        jobs.entry(name).or_default().push(Run {
            started_at: started / scale,
            duration_secs,
            outcome,
        });
    }
    anyhow::ensure!(
        !jobs.is_empty(),
        "{} has no runs with a known outcome",
        path.display()
    );
    Ok((jobs, excluded))
}

fn read_store(loc: &canopy_store::Location) -> anyhow::Result<Jobs> {
    let (_, store) = crate::store_location::open(Some(loc), crate::store_location::Migrate::No)?;
    let mut finished = Vec::new();
    scan_all(store.as_ref(), TimeRange::ALL, &mut |e| {
        let at = e.at_utc().timestamp();
        if let EventKind::CiJobFinished(j) = e.kind {
            finished.push((at, j));
        }
        ControlFlow::Continue(())
    })?;
    let mut excluded: BTreeMap<String, usize> = BTreeMap::new();
    for (_, j) in &finished {
        if history::outcome(j.result).is_none() {
            *excluded.entry(history::job_key(j)).or_default() += 1;
        }
    }
    let jobs = history::by_job(finished.iter().map(|(at, j)| (*at, j)));
    anyhow::ensure!(
        !jobs.is_empty(),
        "the store {loc} has no finished CI jobs with a known outcome"
    );
    Ok((jobs, excluded))
}

fn hours(s: Option<f64>) -> String {
    s.map_or("never".into(), |s| {
        format!("{:.0} s ({:.1} h)", s, s / 3600.0)
    })
}

fn markdown(r: &Report) -> String {
    let mut s = format!(
        "Stopping points (threshold {}, false-stop guard {}, learned on the first {:.0}% of each job's runs, scored on the rest)\n\n",
        r.settings.threshold,
        r.settings
            .max_false_stop
            .map_or("off".into(), |g| format!("{:.0}%", g * 100.0)),
        r.train_share * 100.0
    );
    s.push_str("| job | runs (later) | later failures | t* | saved hours (share) | false stops (95% CI) | Brier vs base rate |\n|---|---:|---:|---|---:|---:|---|\n");
    for j in &r.jobs {
        let e = &j.eval;
        let c = &e.chosen;
        let brier = match (c.brier, e.brier_base_rate) {
            (Some(b), Some(base)) => format!("{b:.3} vs {base:.3}"),
            _ => "–".into(),
        };
        let t = match (&c.no_stop, c.scored.stopping_point_s) {
            (Some(why), _) => format!("none: {why}"),
            (None, t) => hours(t),
        };
        s.push_str(&format!(
            "| {} | {} ({}) | {} ({:.0}%) | {} | {:.1} ({:.0}%) | {}/{} = {:.1}% ({:.1}–{:.1}%) | {} |\n",
            j.job,
            e.runs,
            e.test_runs,
            e.test_failures,
            e.failure_share * 100.0,
            t,
            c.scored.saved_hours,
            c.scored.recovered_share * 100.0,
            c.scored.passing_past,
            e.test_successes,
            c.scored.false_stop_share * 100.0,
            c.scored.false_stop_interval.0 * 100.0,
            c.scored.false_stop_interval.1 * 100.0,
            brier
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_results_and_guards_parse() {
        assert_eq!(csv_outcome("SUCCESS"), Ok(Some(Outcome::Success)));
        assert_eq!(csv_outcome("unstable"), Ok(Some(Outcome::Failure)));
        assert_eq!(csv_outcome("ABORTED"), Ok(None));
        assert!(csv_outcome("MAYBE").unwrap_err().contains("MAYBE"));
        assert_eq!(parse_guard("off"), Ok(Guard(None)));
        assert_eq!(parse_guard("0.1"), Ok(Guard(Some(0.1))));
        assert!(parse_guard("5%").is_err());
    }
}
