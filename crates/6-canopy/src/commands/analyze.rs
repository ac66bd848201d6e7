//! `canopy analyze --git PATH`: read a clone's history into the store and print a weekly,
//! team-level report (Markdown or JSON). No person is named in the output.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use canopy_analyzer::weekly::{AreaSummary, TeamReport, TeamWeek, WeeklyBuilder, plural};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

use canopy_forge::git::{self, IngestOptions, IngestReport, Progress, Renames};
pub use canopy_service::format::ReportFormat;
use canopy_store::{EventStore, Store, TimeRange};

/// Arguments of `canopy analyze`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  canopy analyze --git ~/src/nova\n  canopy analyze --git . --since 2024-01-01 --format json\n  canopy analyze --git ../repo.git --store ~/.canopy/store   # second run reads only new commits"
)]
pub struct AnalyzeArgs {
    /// Path of a git repository (work tree or bare; shallow and partial clones are fine).
    #[arg(long = "git", value_name = "PATH")]
    pub git: PathBuf,
    /// Keep only commits authored on or after this date (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_parser = parse_date)]
    pub since: Option<DateTime<Utc>>,
    /// Keep only commits authored before this date (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_parser = parse_date)]
    pub until: Option<DateTime<Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// Name of the repository in the store and reports [default: the directory's name].
    #[arg(long)]
    pub repo: Option<String>,
    /// Keep events in this store: a directory or a postgres:// URL (a second run reads only
    /// new commits). Without it, a temporary store is used and removed afterwards.
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE")]
    pub store: Option<canopy_store::Location>,
    /// Revision whose history is read.
    #[arg(long, default_value = "HEAD")]
    pub rev: String,
    /// Threads computing diffs [default: the number of CPUs].
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Weeks shown in the Markdown table (most recent first); 0 shows all.
    #[arg(long, default_value_t = 26)]
    pub weeks: usize,
    /// Similarity (percent) from which a deleted and an added file are one renamed file, whose
    /// lines are only those edited in the move, as `git log --find-renames=N%`. 50 is git's
    /// default; 100 finds exact renames only; 0 turns rename detection off.
    #[arg(long, value_name = "N", default_value_t = git::renames::DEFAULT_RENAME_PERCENT,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub find_renames: u8,
    /// Similarity (percent) from which an added file is a copy of a file modified in the same
    /// commit, as `git log --find-copies=N%`; 0 (the default, as in git) turns it off.
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub find_copies: u8,
    /// Similarity is not searched in a commit whose deleted × added files exceed N² (git's
    /// `diff.renameLimit`); exact renames are still found. 0 = no limit.
    #[arg(long, value_name = "N", default_value_t = git::renames::DEFAULT_RENAME_LIMIT)]
    pub rename_limit: usize,
}

/// Parses `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
pub fn parse_date(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!("{s:?} is not a date: use YYYY-MM-DD or RFC 3339 (2024-05-01T12:00:00Z)")
        })
}

/// The stable JSON document printed by `--format json`.
#[derive(Debug, Serialize)]
pub struct AnalyzeOutput {
    /// Repository name.
    pub repo: String,
    /// Revision read.
    pub rev: String,
    /// Lower bound applied, if any.
    pub since: Option<DateTime<Utc>>,
    /// Upper bound applied, if any.
    pub until: Option<DateTime<Utc>>,
    /// Commits covered by the report (all commits in range, merges and bots included).
    pub commits: u64,
    /// Objects that could not be read in this run.
    pub unreadable_objects: u64,
    /// Weekly rows.
    pub weeks: Vec<TeamWeek>,
    /// Plain-language trends.
    pub trends: Vec<String>,
    /// The areas context switching counts.
    pub areas: AreaSummary,
    /// Rename and copy detection the line counts follow, as `git log` options.
    pub renames: String,
    /// Everything that could not be read, in words.
    pub warnings: Vec<String>,
    /// Details of the ingest run.
    pub ingest: IngestReport,
}

/// Runs `canopy analyze`.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let out = analyze(&args)?;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &out)?;
            writeln!(stdout)?;
        }
        ReportFormat::Md => write!(stdout, "{}", render_markdown(&out, args.weeks))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Name of a repository from its path: for a bare clone with an `origin`, the origin's
/// `owner/name`; else the directory name, without `.git`.
pub fn default_repo_name(path: &Path) -> String {
    if let Some(name) = bare_origin_name(path) {
        return name;
    }
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repository".into());
    let name = name.strip_suffix(".git").unwrap_or(&name).to_string();
    if name.is_empty() || name == ".git" {
        abs.parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repository".into())
    } else {
        name
    }
}

/// `owner/name` of the `origin` URL of a bare repository (`https://host/owner/name.git`,
/// `git@host:owner/name.git`, a local path), if it has one.
fn bare_origin_name(path: &Path) -> Option<String> {
    let repo = gix::open(path).ok()?;
    if repo.workdir().is_some() {
        return None;
    }
    let url = repo
        .config_snapshot()
        .string("remote.origin.url")?
        .to_string();
    let url = url.trim_end_matches('/').trim_end_matches(".git");
    let parts: Vec<&str> = url
        .rsplit(['/', ':'])
        .filter(|p| !p.is_empty())
        .take(2)
        .collect();
    match parts.as_slice() {
        [name, owner] if !owner.contains('@') && !owner.contains('.') => {
            Some(format!("{owner}/{name}"))
        }
        [name, ..] => Some((*name).to_string()),
        [] => None,
    }
}

/// Ingests and builds the report; shared with `canopy demo`.
pub fn analyze(args: &AnalyzeArgs) -> anyhow::Result<AnalyzeOutput> {
    let _tmp;
    let store = match &args.store {
        Some(loc) => crate::store_location::open(Some(loc), crate::store_location::Migrate::Yes)?.1,
        None => {
            _tmp = tempfile::tempdir().context("creating a temporary store")?;
            crate::wiring::open_store(_tmp.path())?
        }
    };
    analyze_in(store.as_ref(), args)
}

/// Ingests into `store` (not `args.store`, which the caller has opened) and builds the report.
pub fn analyze_in(store: &dyn Store, args: &AnalyzeArgs) -> anyhow::Result<AnalyzeOutput> {
    let repo_name = args
        .repo
        .clone()
        .unwrap_or_else(|| default_repo_name(&args.git));
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let opts = IngestOptions {
        repo_name: repo_name.clone(),
        rev: args.rev.clone(),
        jobs,
        renames: Renames {
            rename_percent: args.find_renames,
            copy_percent: args.find_copies,
            limit: args.rename_limit,
        },
    };
    let tty = std::io::stderr().is_terminal();
    let progress = move |p: Progress| {
        if tty {
            eprint!(
                "\rreading history: {} commits walked, {} new commits stored   ",
                p.walked, p.written
            );
        }
    };
    let ingest = git::ingest(&args.git, &opts, store, &progress)?;
    if tty {
        eprintln!();
    }
    tracing::info!(
        repo = %repo_name,
        new = ingest.commits_new,
        already = ingest.commits_already_stored,
        unreadable = ingest.unreadable_objects,
        seconds = ingest.seconds,
        "history read"
    );
    let (report, commits) = weekly_report(store, &repo_name, args.since, args.until)?;
    let mut warnings = ingest.warnings();
    if commits == 0 {
        warnings.push("no commits in the selected period".into());
    }
    Ok(AnalyzeOutput {
        repo: repo_name,
        rev: args.rev.clone(),
        since: args.since,
        until: args.until,
        commits: commits
            + if args.since.is_none() && args.until.is_none() {
                ingest.undated_commits
            } else {
                0
            },
        unreadable_objects: ingest.unreadable_objects,
        weeks: report.weeks,
        trends: report.trends,
        areas: report.areas,
        renames: opts.renames.git_args(),
        warnings,
        ingest,
    })
}

/// Builds the weekly team report of a repository from the store; returns it with the number of
/// commits it covers.
pub fn weekly_report(
    store: &dyn EventStore,
    repo: &str,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> anyhow::Result<(TeamReport, u64)> {
    let mut builder = WeeklyBuilder::new(since, until);
    let mut commits = 0u64;
    store.scan_repo(
        repo,
        TimeRange {
            from: since,
            to: until,
        },
        &mut |e| {
            if e.kind_name() == "commit" {
                commits += 1;
                builder.add(&e);
            }
            std::ops::ControlFlow::Continue(())
        },
    )?;
    Ok((builder.finish(), commits))
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The line naming the history's main areas (empty when it has none).
fn areas_line(out: &AnalyzeOutput) -> String {
    let areas: Vec<String> = out
        .areas
        .areas
        .iter()
        .take(8)
        .map(|a| {
            let mark = if a.package { "*" } else { "" };
            format!("{}{mark} ({})", a.area, pct(a.share))
        })
        .collect();
    if areas.is_empty() {
        return String::new();
    }
    format!(
        "\nAreas (packages marked *, by share of file changes): {}{}.\n",
        areas.join(", "),
        if out.areas.areas.len() > 8 {
            format!(" and {} more", out.areas.areas.len() - 8)
        } else {
            String::new()
        }
    )
}

/// Renders the Markdown report; `max_weeks` limits the table to the most recent weeks (0 = all).
pub fn render_markdown(out: &AnalyzeOutput, max_weeks: usize) -> String {
    let mut s = String::new();
    s.push_str(&format!("# Team activity: {}\n\n", out.repo));
    let period = match (out.weeks.first(), out.weeks.last()) {
        (Some(a), Some(b)) => format!("{} to {}", a.week, b.week),
        _ => "no weeks".into(),
    };
    s.push_str(&format!(
        "{} on `{}`, {period}. Team-level figures only: no person is named.\n\n",
        plural(out.commits, "commit"),
        out.rev
    ));
    s.push_str("## Trends\n\n");
    for t in &out.trends {
        s.push_str(&format!("- {t}\n"));
    }
    let shown: Vec<&TeamWeek> = if max_weeks == 0 {
        out.weeks.iter().rev().collect()
    } else {
        out.weeks.iter().rev().take(max_weeks).collect()
    };
    s.push_str(&format!(
        "\n## Weeks (most recent {} of {})\n\n",
        shown.len(),
        out.weeks.len()
    ));
    s.push_str("| week | commits | authors | +lines | -lines | files | late night | weekend | context switching |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for w in shown {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            w.week,
            w.commits,
            w.authors,
            w.lines_added,
            w.lines_deleted,
            w.files_touched,
            pct(w.late_night_share),
            pct(w.weekend_share),
            w.context_switching
        ));
    }
    s.push_str(
        "\nLate night: 22:00–06:00 in the author's own UTC offset. Weekend: Saturday and Sunday, same offset. \
         Context switching: mean distinct areas per author-day. Merges and bots are not counted. \
         Definitions: docs/metrics.md.\n",
    );
    s.push_str(&areas_line(out));
    s.push_str(&format!("Lines follow `git log {}`.\n", out.renames));
    if !out.warnings.is_empty() {
        s.push_str("\n## What could not be read\n\n");
        for w in &out.warnings {
            s.push_str(&format!("- {w}\n"));
        }
    }
    s.push_str(&format!(
        "\nRead {} in {:.1}s ({} already stored).\n",
        plural(out.ingest.commits_new, "new commit"),
        out.ingest.seconds,
        out.ingest.commits_already_stored
    ));
    s
}
