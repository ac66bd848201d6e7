//! `canopy backfill github OWNER/REPO | gerrit PROJECT`: import history through the APIs into a
//! store (stop the server first: the store is single-process). Credentials come from the same
//! environment variables as `canopy serve`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use canopy_store::Location;
use chrono::{DateTime, Utc};

use super::analyze::parse_date;
use crate::wiring;
use canopy_forge::backfill::{self, Progress};
use canopy_service::config::Config;

/// Arguments of `canopy backfill`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "GitHub credentials: CANOPY_GITHUB_TOKEN (or a GitHub App via [github] app_id and \
CANOPY_GITHUB_APP_KEY_FILE). Gerrit: [gerrit] url and username in --config, CANOPY_GERRIT_PASSWORD. \
An interrupted run resumes where it stopped; objects already stored (by webhooks or an earlier run) \
are not stored twice. Backfilling never posts anything."
)]
pub struct BackfillArgs {
    /// Where to import from.
    #[command(subcommand)]
    pub source: BackfillSource,
}

/// Platforms to backfill from.
#[derive(Debug, clap::Subcommand)]
pub enum BackfillSource {
    /// Every PR of a repository, with reviews, comments and CI jobs.
    Github(SourceArgs),
    /// Every change of a Gerrit project, with revisions, messages and Zuul reports.
    Gerrit(SourceArgs),
}

/// Arguments shared by both sources.
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// `owner/name` (GitHub) or the project name (Gerrit).
    pub name: String,
    /// Only changes created (GitHub) or updated (Gerrit) on or after this date.
    #[arg(long, value_parser = parse_date)]
    pub since: Option<DateTime<Utc>>,
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Server configuration (API URLs, Gerrit host and account).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Runs `canopy backfill`.
pub fn run(args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let (github, a) = match args.source {
        BackfillSource::Github(a) => (true, a),
        BackfillSource::Gerrit(a) => (false, a),
    };
    let cfg = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let (_, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::Yes)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _guard = runtime.enter();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let clients = wiring::executor(&cfg, &env, std::sync::Arc::new(canopy_core::SystemClock))?;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |p: Progress| {
        if tty {
            eprint!(
                "\r{} changes read, {} new events (last: {})        ",
                p.done, p.new_events, p.what
            );
        }
    };
    let line = if github {
        let client = clients
            .github
            .context("no GitHub credentials: set CANOPY_GITHUB_TOKEN, or [github] app_id with CANOPY_GITHUB_APP_KEY_FILE")?;
        anyhow::ensure!(
            a.name.contains('/'),
            "{:?} is not a repository: use OWNER/NAME",
            a.name
        );
        let run = backfill::github::run(&client, store.as_ref(), &a.name, a.since, &mut progress);
        let s = runtime.block_on(run)?;
        let resumed = (s.resumed_from_page > 1)
            .then(|| format!(" (resumed at page {})", s.resumed_from_page));
        let (prs, new) = (s.prs, s.new_events);
        format!(
            "{}: {prs} PRs read, {new} new events stored{}",
            a.name,
            resumed.unwrap_or_default()
        )
    } else {
        let client = clients
            .gerrit
            .context("no Gerrit credentials: set [gerrit] url and username in --config and CANOPY_GERRIT_PASSWORD")?;
        let ncfg = wiring::normalizer(&cfg).gerrit;
        let run = backfill::gerrit::run(
            &client,
            store.as_ref(),
            &ncfg,
            &a.name,
            a.since,
            &mut progress,
        );
        let s = runtime.block_on(run)?;
        let resumed =
            (s.resumed_from > 0).then(|| format!(" (resumed at change {})", s.resumed_from));
        let (changes, new) = (s.changes, s.new_events);
        format!(
            "{}: {changes} changes read, {new} new events stored{}",
            a.name,
            resumed.unwrap_or_default()
        )
    };
    if tty {
        eprintln!();
    }
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}
