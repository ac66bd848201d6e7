//! `canopy events list`: what the store holds, as JSON lines or a table. Reads the store
//! directly, so the server must be stopped (the store is single-process).

use canopy_store::Location;
use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;

use canopy_analyzer::Event;
use chrono::{DateTime, Utc};

use super::analyze::parse_date;
use canopy_store::TimeRange;

/// Arguments of `canopy events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EventsCommand,
}

/// Subcommands of `canopy events`.
#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// List stored events in time order (one JSON object per line with --format json).
    List(ListArgs),
}

/// Output format of listings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// One line per item, aligned columns.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl ListFormat {
    /// Prints `items` to stdout, one a line: as JSON, or as `text` makes it. A closed pipe
    /// (`| head`) ends the listing without an error.
    pub fn print<T: serde::Serialize>(
        self,
        items: &[T],
        text: impl Fn(&T) -> String,
    ) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        for item in items {
            let line = match self {
                ListFormat::Json => serde_json::to_string(item)?,
                ListFormat::Text => text(item),
            };
            if let Err(e) = writeln!(out, "{line}") {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    break;
                }
                return Err(e.into());
            }
        }
        Ok(())
    }
}

/// Arguments of `canopy events list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Only this repository (`owner/name`, Gerrit project, or the name given to a git clone).
    #[arg(long)]
    pub repo: Option<String>,
    /// Only events at or after this date (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_parser = parse_date)]
    pub since: Option<DateTime<Utc>>,
    /// Only events before this date.
    #[arg(long, value_parser = parse_date)]
    pub until: Option<DateTime<Utc>>,
    /// Only events of this kind (change, commit, review, comment, ci_job_finished, rerun_requested, push).
    #[arg(long)]
    pub kind: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    /// Stop after this many events.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Runs `canopy events`.
pub fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        EventsCommand::List(a) => list(a),
    }
}

fn summary(e: &Event) -> String {
    use canopy_analyzer::EventKind as K;
    match &e.kind {
        K::Change(c) => format!("#{} {:?}", c.number, c.action),
        K::Commit(c) => format!(
            "{} +{} -{}",
            &c.sha[..c.sha.len().min(12)],
            c.lines_added(),
            c.lines_deleted()
        ),
        K::Review(r) => format!("#{} {:?}", r.change, r.verdict),
        K::Comment(c) => format!("#{} comment {}", c.number, c.comment_id),
        K::CiJobFinished(j) => format!(
            "{} {:?} {}s{}{}",
            j.name,
            j.result,
            j.duration_secs,
            j.pipeline
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default(),
            if j.voting { "" } else { " non-voting" }
        ),
        K::CiEnergyMeasured(m) => match &m.outcome {
            canopy_analyzer::event::MeasureOutcome::Measured { joules, .. } => format!(
                "{} energy measured {:.4} kWh (try {})",
                m.name,
                joules / 3.6e6,
                m.attempt
            ),
            canopy_analyzer::event::MeasureOutcome::Unmeasured { reason, .. } => {
                format!(
                    "{} energy not measured (try {}): {reason}",
                    m.name, m.attempt
                )
            }
        },
        K::RerunRequested(r) => format!(
            "rerun {}",
            r.job.as_deref().or(r.run_id.as_deref()).unwrap_or("")
        ),
        K::Push(p) => format!("{} {} commits", p.ref_name, p.commits),
    }
}

/// One event as a JSON object that always has `delivery_id` (null for git history).
fn json_line(e: &Event) -> String {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.entry("delivery_id").or_insert(serde_json::Value::Null);
    }
    v.to_string()
}

fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    let (_, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::No)?;
    let range = TimeRange {
        from: a.since,
        to: a.until,
    };
    let repos = match &a.repo {
        Some(r) => vec![r.clone()],
        None => store.repos()?,
    };
    let mut out = std::io::stdout().lock();
    let mut n = 0usize;
    let limit = a.limit.unwrap_or(usize::MAX);
    let mut io_err = None;
    for repo in repos {
        store.scan_repo(&repo, range, &mut |e| {
            if a.kind.as_deref().is_some_and(|k| k != e.kind_name()) {
                return ControlFlow::Continue(());
            }
            let line = match a.format {
                ListFormat::Json => json_line(&e),
                ListFormat::Text => format!(
                    "{}  {:<7} {:<16} {:<24} {}",
                    e.at.to_rfc3339(),
                    e.platform.as_str(),
                    e.kind_name(),
                    e.repo,
                    summary(&e)
                ),
            };
            if let Err(err) = writeln!(out, "{line}") {
                io_err = Some(err);
                return ControlFlow::Break(());
            }
            n += 1;
            if n >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        if n >= limit || io_err.is_some() {
            break;
        }
    }
    match io_err {
        // A closed pipe (`| head`) is not an error.
        Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
