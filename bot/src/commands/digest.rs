//! `canopy digest`: one repository's weekly maintainer digest from the store, printed (not sent).

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use canopy_analyzer::Event;
use canopy_analyzer::week::IsoWeek;
use canopy_models::sentiment::Model as Sentiment;

use super::analyze::ReportFormat;
use super::burnout::{IdentityArgs, analysable_rows, identities, opted_in, team_view};
use crate::messages;
use crate::store::{EventStore, RedbStore, TimeRange};

/// Arguments of `canopy digest`.
#[derive(Debug, clap::Args)]
pub struct DigestArgs {
    /// Store directory (filled by `canopy serve`, `canopy replay`, `canopy backfill` or
    /// `canopy analyze --store`).
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// Repository (`owner/name`, Gerrit project, or the name given to `analyze --repo`).
    #[arg(long)]
    pub repo: String,
    /// ISO week, e.g. `2026-W47`.
    #[arg(long)]
    pub week: IsoWeek,
    /// Smallest group shown in the burnout section.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    #[command(flatten)]
    pub ids: IdentityArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

/// Runs `canopy digest`.
pub fn run(a: DigestArgs) -> anyhow::Result<ExitCode> {
    let store = RedbStore::open(&a.store)?;
    anyhow::ensure!(
        store.repos()?.contains(&a.repo),
        "the store has no events of {}; repositories in it: {}",
        a.repo,
        store.repos()?.join(", ")
    );
    let mut events: Vec<Event> = Vec::new();
    store.scan_repo(&a.repo, TimeRange::ALL, &mut |e| {
        events.push(e);
        ControlFlow::Continue(())
    })?;
    let sentiment = Sentiment::shipped().context("loading the sentiment model")?;
    let negative = |t: &str| sentiment.probabilities(t)[0];
    let uncivil = |t: &str| sentiment.score(t).uncivil;
    let d =
        canopy_analyzer::digest::build(&a.repo, &events, a.week, Some(&negative), Some(&uncivil));
    // The burnout section: opted-in people only, k-anonymous, or nothing.
    let ids = identities(&a.ids)?;
    let rules = canopy_policies::visibility::Rules::new(a.k, opted_in(&store, &ids, &[])?);
    let rows = analysable_rows(&store, &ids, &rules, a.ids.meetings.as_deref())?;
    let section = team_view(&rows, a.week, &rules).ok();
    match a.format {
        ReportFormat::Json => println!("{}", serde_json::to_string(&d)?),
        ReportFormat::Md => print!("{}", messages::digest(&d, section.as_deref())),
    }
    Ok(ExitCode::SUCCESS)
}
