//! `canopy carbon window` (the greenest start for one job) and `canopy carbon simulate` (a set of
//! jobs replayed against a year of intensity data: run now, Canopy with perfect forecasts, and
//! with noisy forecasts as in Let's Wait Awhile).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use canopy_policies::window::{Query, Series};
use chrono::{DateTime, Utc};
use rand::RngExt;
use rand::SeedableRng;
use serde::Serialize;

use super::analyze::ReportFormat;
use canopy_service::carbon::csv_series::{parse_time, read_series};

/// Arguments of `canopy carbon`.
#[derive(Debug, clap::Args)]
pub struct CarbonArgs {
    #[command(subcommand)]
    command: CarbonCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CarbonCommand {
    /// The start within a deadline with the lowest emissions for one job, against running now.
    Window(WindowArgs),
    /// Replay jobs with deadlines against an intensity series: run now vs Canopy's choice.
    #[command(
        after_help = "The jobs file is CSV with columns `arrival` (when the job is submitted), \
`duration_minutes`, `deadline` (latest end) and optionally `earliest` (earliest start, default the \
arrival; earlier than the arrival for scheduled jobs that may move both ways). Times are RFC 3339 or \
`YYYY-MM-DD HH:MM:SS` (UTC). Emissions are per kW of load: gCO2e = average intensity × hours."
    )]
    Simulate(SimulateArgs),
}

/// Arguments of `canopy carbon window`.
#[derive(Debug, clap::Args)]
pub struct WindowArgs {
    /// Intensity series (CSV, the formats of ../shared/data/carbon/), read as a perfect forecast.
    #[arg(long, value_name = "FILE")]
    pub series: PathBuf,
    /// Intensity column, when not guessed (`Carbon Intensity`, `avg_CI`).
    #[arg(long)]
    pub column: Option<String>,
    /// Expected duration of the job: `90m`, `2h`, `1d`.
    #[arg(long, value_parser = parse_span)]
    pub duration: chrono::Duration,
    /// How long after `--at` the job must have finished: `12h`, `1d`.
    #[arg(long, value_parser = parse_span)]
    pub deadline: chrono::Duration,
    /// "Now" (RFC 3339); default the current time.
    #[arg(long, value_parser = parse_at)]
    pub at: Option<DateTime<Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

/// Arguments of `canopy carbon simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Intensity series (CSV).
    #[arg(long, value_name = "FILE")]
    pub series: PathBuf,
    /// Intensity column, when not guessed.
    #[arg(long)]
    pub column: Option<String>,
    /// Jobs (CSV; see below).
    #[arg(long, value_name = "FILE")]
    pub jobs: PathBuf,
    /// Forecast errors to simulate: Gaussian noise with σ = this share of the series mean.
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.1")]
    pub noise: Vec<f64>,
    /// Noisy forecasts drawn per noise level (results are averaged).
    #[arg(long, default_value_t = 10)]
    pub repetitions: u64,
    /// Seed of the first noisy forecast.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep only points on this grid (e.g. `30m`, as Let's Wait Awhile does).
    #[arg(long, value_parser = parse_span)]
    pub resample: Option<chrono::Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

fn parse_span(s: &str) -> Result<chrono::Duration, String> {
    match canopy_service::bot_command::parse_deadline(s, DateTime::UNIX_EPOCH) {
        Ok(canopy_service::bot_command::Deadline::Within(d)) if d > chrono::Duration::zero() => {
            Ok(d)
        }
        _ => Err(format!("{s:?} is not a duration like 90m, 2h or 1d")),
    }
}

fn parse_at(s: &str) -> Result<DateTime<Utc>, String> {
    parse_time(s)
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .ok_or_else(|| format!("{s:?} is not a time (RFC 3339, e.g. 2020-06-01T12:00:00Z)"))
}

/// Runs `canopy carbon`.
pub fn run(args: CarbonArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CarbonCommand::Window(a) => window(a),
        CarbonCommand::Simulate(a) => simulate(a),
    }
}

/// The JSON of `canopy carbon window`.
#[derive(Debug, Serialize)]
pub struct WindowReport {
    /// Best start (RFC 3339).
    pub start: String,
    /// Its end.
    pub end: String,
    /// Average intensity over the best window, gCO2e/kWh.
    pub avg_intensity: f64,
    /// Average intensity over the window starting at `--at`.
    pub now_avg_intensity: Option<f64>,
    /// Saving of the best window against now, percent.
    pub savings_pct: f64,
}

fn rfc(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn window(a: WindowArgs) -> anyhow::Result<ExitCode> {
    let series = read_series(&a.series, a.column.as_deref())?;
    let at =
        a.at.unwrap_or_else(|| canopy_core::Clock::now(&canopy_core::SystemClock));
    let (first, last) = series.span();
    let q = Query {
        data_start: at.timestamp(),
        data_end: (at + a.deadline).timestamp(),
        duration: a.duration.num_seconds(),
    };
    let choice = series.best_window(q).map_err(|e| {
        anyhow::anyhow!(
            "{e} (the series covers {} to {}; --at is {})",
            rfc(first),
            rfc(last),
            rfc(q.data_start)
        )
    })?;
    let r = WindowReport {
        start: rfc(choice.best.start),
        end: rfc(choice.best.end),
        avg_intensity: choice.best.avg_intensity,
        now_avg_intensity: choice.now.map(|n| n.avg_intensity),
        savings_pct: choice.savings_pct,
    };
    let mut out = std::io::stdout().lock();
    match a.format {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string(&r)?)?,
        ReportFormat::Md => writeln!(
            out,
            "Best start {} (until {}): {:.1} gCO2e/kWh on average; now: {}; saving {:.1}%.",
            r.start,
            r.end,
            r.avg_intensity,
            r.now_avg_intensity
                .map_or("no data".into(), |v| format!("{v:.1} gCO2e/kWh")),
            r.savings_pct
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A job to place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Job {
    /// Submitted (run-now start), epoch seconds.
    pub arrival: i64,
    /// Earliest allowed start.
    pub earliest: i64,
    /// Duration, seconds.
    pub duration: i64,
    /// Latest end.
    pub deadline: i64,
}

/// Reads a jobs CSV.
pub fn read_jobs(path: &Path) -> anyhow::Result<Vec<Job>> {
    anyhow::ensure!(path.exists(), "no such file: {}", path.display());
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers = rdr.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(a), Some(d), Some(dl)) = (col("arrival"), col("duration_minutes"), col("deadline"))
    else {
        anyhow::bail!(
            "{}: needs columns arrival, duration_minutes, deadline (and optionally earliest); found {}",
            path.display(),
            headers.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let e = col("earliest");
    let mut jobs = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let bad = |what: &str| anyhow::anyhow!("{}: row {}: bad {what}", path.display(), i + 2);
        let arrival = parse_time(rec.get(a).unwrap_or("")).ok_or_else(|| bad("arrival"))?;
        let minutes: f64 = rec
            .get(d)
            .unwrap_or("")
            .trim()
            .parse()
            .map_err(|_| bad("duration_minutes"))?;
        let deadline = parse_time(rec.get(dl).unwrap_or("")).ok_or_else(|| bad("deadline"))?;
        let earliest = match e.and_then(|e| rec.get(e)).filter(|s| !s.trim().is_empty()) {
            Some(s) => parse_time(s).ok_or_else(|| bad("earliest"))?,
            None => arrival,
        };
        let duration = (minutes * 60.0).round() as i64;
        anyhow::ensure!(
            duration > 0,
            "{}: row {}: duration must be positive",
            path.display(),
            i + 2
        );
        jobs.push(Job {
            arrival,
            earliest,
            duration,
            deadline,
        });
    }
    Ok(jobs)
}

/// Figures of one strategy.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyResult {
    /// Name.
    pub strategy: String,
    /// Forecast noise (σ as a share of the mean), 0 for perfect.
    pub noise: f64,
    /// Emissions per kW of load, gCO2e.
    pub emissions_g_per_kw: f64,
    /// Saving against running at arrival, percent.
    pub savings_pct: f64,
}

/// The JSON of `canopy carbon simulate`.
#[derive(Debug, Serialize)]
pub struct SimulateReport {
    /// Jobs placed.
    pub jobs: usize,
    /// Jobs skipped because the data does not cover their run-now window.
    pub skipped: usize,
    /// Run now, Canopy with a perfect forecast, Canopy with noisy forecasts.
    pub results: Vec<StrategyResult>,
}

/// Emissions (g per kW) of every job run at arrival and at the start chosen on `forecast`,
/// both measured on `actual`.
fn place(actual: &Series, forecast: &Series, jobs: &[Job]) -> (f64, f64) {
    let (mut now_g, mut chosen_g) = (0.0, 0.0);
    for j in jobs {
        let hours = j.duration as f64 / 3600.0;
        let Some(now) = actual.average(j.arrival, j.duration) else {
            continue;
        };
        now_g += now * hours;
        let start = forecast
            .best_window(Query {
                data_start: j.earliest,
                data_end: j.deadline,
                duration: j.duration,
            })
            .map(|c| c.best.start)
            .unwrap_or(j.arrival);
        chosen_g += actual.average(start, j.duration).unwrap_or(now) * hours;
    }
    (now_g, chosen_g)
}

/// Standard normal draw (Box–Muller).
fn normal(rng: &mut rand_chacha::ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Runs the simulation.
pub fn simulate_jobs(
    actual: &Series,
    jobs: &[Job],
    noise: &[f64],
    repetitions: u64,
    seed: u64,
) -> anyhow::Result<SimulateReport> {
    let covered: Vec<Job> = jobs
        .iter()
        .copied()
        .filter(|j| actual.average(j.arrival, j.duration).is_some())
        .collect();
    let (now_g, perfect_g) = place(actual, actual, &covered);
    anyhow::ensure!(now_g > 0.0, "no job falls inside the series");
    let saving = |g: f64| (1.0 - g / now_g) * 100.0;
    let mut results = vec![
        StrategyResult {
            strategy: "run at arrival".into(),
            noise: 0.0,
            emissions_g_per_kw: now_g,
            savings_pct: 0.0,
        },
        StrategyResult {
            strategy: "Canopy, perfect forecast".into(),
            noise: 0.0,
            emissions_g_per_kw: perfect_g,
            savings_pct: saving(perfect_g),
        },
    ];
    let values: Vec<f64> = actual.points().map(|p| p.1).collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    for &sigma in noise {
        let mut total = 0.0;
        for r in 0..repetitions.max(1) {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + r);
            let noisy: Vec<f64> = values
                .iter()
                .map(|v| (v + normal(&mut rng) * sigma * mean).max(0.0))
                .collect();
            let forecast = actual.with_values(noisy)?;
            total += place(actual, &forecast, &covered).1;
        }
        let g = total / repetitions.max(1) as f64;
        results.push(StrategyResult {
            strategy: format!("Canopy, forecast error {:.0}% of mean", sigma * 100.0),
            noise: sigma,
            emissions_g_per_kw: g,
            savings_pct: saving(g),
        });
    }
    Ok(SimulateReport {
        jobs: covered.len(),
        skipped: jobs.len() - covered.len(),
        results,
    })
}

fn simulate(a: SimulateArgs) -> anyhow::Result<ExitCode> {
    let mut series = read_series(&a.series, a.column.as_deref())?;
    if let Some(step) = a.resample {
        let s = step.num_seconds();
        let kept: Vec<(i64, f64)> = series
            .points()
            .filter(|(t, _)| t.rem_euclid(s) == 0)
            .collect();
        series = Series::new(kept).context("resampling left too few points")?;
    }
    let jobs = read_jobs(&a.jobs)?;
    anyhow::ensure!(!jobs.is_empty(), "{} has no jobs", a.jobs.display());
    let report = simulate_jobs(&series, &jobs, &a.noise, a.repetitions, a.seed)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string(&report)?)?,
        ReportFormat::Md => {
            writeln!(
                out,
                "{} jobs ({} skipped: outside the series)\n\n| strategy | gCO2e per kW of load | saving |\n|---|---:|---:|",
                report.jobs, report.skipped
            )?;
            for r in &report.results {
                writeln!(
                    out,
                    "| {} | {:.0} | {:.2}% |",
                    r.strategy, r.emissions_g_per_kw, r.savings_pct
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_forecasts_save_and_noise_saves_less_but_never_goes_negative_on_average() {
        // A daily cycle: high by day, low at night; hourly points over 20 days.
        let pts: Vec<(i64, f64)> = (0..24 * 20)
            .map(|h| (h * 3600, if (h % 24) < 6 { 100.0 } else { 400.0 }))
            .collect();
        let s = Series::new(pts).unwrap();
        let jobs: Vec<Job> = (1..18)
            .map(|d| {
                let arrival = d * 86_400 + 12 * 3600;
                Job {
                    arrival,
                    earliest: arrival,
                    duration: 3600,
                    deadline: arrival + 24 * 3600,
                }
            })
            .collect();
        let r = simulate_jobs(&s, &jobs, &[0.05], 3, 0).unwrap();
        assert_eq!(r.jobs, 17);
        assert!(
            (r.results[1].savings_pct - 75.0).abs() < 1e-9,
            "{:?}",
            r.results
        );
        assert!(r.results[2].savings_pct > 50.0 && r.results[2].savings_pct <= 75.0);
    }

    #[test]
    fn jobs_file_errors_name_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("jobs.csv");
        std::fs::write(&p, "arrival,duration_minutes,deadline\n2020-01-01 09:00:00,30,2020-01-02 09:00:00\n2020-01-01 10:00:00,x,2020-01-02 09:00:00\n").unwrap();
        let err = format!("{:#}", read_jobs(&p).unwrap_err());
        assert!(err.contains("row 3: bad duration_minutes"), "{err}");
        std::fs::write(&p, "when,duration\n").unwrap();
        assert!(format!("{:#}", read_jobs(&p).unwrap_err()).contains("needs columns"));
    }
}
