//! `canopy inbox list|retry`: the deliveries the server stored, their state, and processing a
//! quarantined delivery again. The store is single-process: stop the server first.

use canopy_store::Location;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use canopy_analyzer::Platform;

use super::events::ListFormat;
use crate::wiring;
use canopy_core::{Clock, SystemClock};
use canopy_core::{DeliveryRecord, DeliveryState, WriteOp, WriteOutcome, state_name};
use canopy_server::pool::drain_blocking;
use canopy_service::config::Config;

/// Arguments of `canopy inbox`.
#[derive(Debug, clap::Args)]
pub struct InboxArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: InboxCommand,
}

/// Subcommands of `canopy inbox`.
#[derive(Debug, clap::Subcommand)]
pub enum InboxCommand {
    /// List stored deliveries with their state (pending, processed, ignored, quarantined).
    List(InboxListArgs),
    /// Process a quarantined or ignored delivery again, now (after a fix or a configuration change).
    Retry(InboxRetryArgs),
}

/// Arguments of `canopy inbox list`.
#[derive(Debug, clap::Args)]
pub struct InboxListArgs {
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Only quarantined deliveries, with their errors.
    #[arg(long)]
    pub quarantined: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

/// Arguments of `canopy inbox retry`.
#[derive(Debug, clap::Args)]
pub struct InboxRetryArgs {
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Delivery id (as shown by `canopy inbox list`).
    pub id: String,
    /// Platform of the delivery, if the id alone is ambiguous.
    #[arg(long, value_parser = parse_platform)]
    pub platform: Option<Platform>,
    /// Server configuration (for the Gerrit host name and CI accounts).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Parses `github` or `gerrit`.
pub fn parse_platform(s: &str) -> Result<Platform, String> {
    match s {
        "github" => Ok(Platform::Github),
        "gerrit" => Ok(Platform::Gerrit),
        other => Err(format!("unknown platform {other:?}: use github or gerrit")),
    }
}

/// Runs `canopy inbox`.
pub fn run(args: InboxArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        InboxCommand::List(a) => list(a),
        InboxCommand::Retry(a) => retry(a),
    }
}

fn line(r: &DeliveryRecord) -> String {
    let detail = match &r.state {
        DeliveryState::Processed { events, .. } => format!("{events} events"),
        DeliveryState::Ignored { reason, .. } => reason.clone(),
        DeliveryState::Quarantined { error, .. } => error.clone(),
        DeliveryState::Pending => String::new(),
    };
    format!(
        "{}  {:<7} {:<40} {:<28} {:<12} {}",
        r.delivery.received_at.to_rfc3339(),
        r.delivery.platform.as_str(),
        r.delivery.id,
        r.delivery.event,
        state_name(&r.state),
        detail
    )
}

fn list(a: InboxListArgs) -> anyhow::Result<ExitCode> {
    let (_, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::No)?;
    let mut records = Vec::new();
    if a.quarantined {
        records = store.quarantined()?;
    } else {
        store.scan_deliveries(&mut |r| {
            records.push(r);
            ControlFlow::Continue(())
        })?;
    }
    records.sort_by_key(|r| r.seq);
    a.format.print(&records, line)?;
    Ok(ExitCode::SUCCESS)
}

fn retry(a: InboxRetryArgs) -> anyhow::Result<ExitCode> {
    let (loc, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::No)?;
    let platforms = match a.platform {
        Some(p) => vec![p],
        None => vec![Platform::Github, Platform::Gerrit],
    };
    let found: Vec<Platform> = platforms
        .into_iter()
        .filter(|p| store.delivery(*p, &a.id).ok().flatten().is_some())
        .collect();
    let platform = match found.as_slice() {
        [p] => *p,
        [] => anyhow::bail!("no delivery {:?} in the store at {}", a.id, loc),
        _ => anyhow::bail!(
            "delivery id {:?} exists for several platforms: add --platform",
            a.id
        ),
    };
    let outcome = store
        .apply_writes(vec![WriteOp::Retry {
            platform,
            id: a.id.clone(),
        }])?
        .pop();
    match outcome {
        Some(WriteOutcome::Requeued) => {}
        Some(WriteOutcome::Rejected(why)) => anyhow::bail!("{why}"),
        other => anyhow::bail!("unexpected result {other:?}"),
    }
    let cfg = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let normalizer = wiring::normalizer(&cfg);
    let (reactor, _) = wiring::reactor(&cfg);
    let regions = wiring::grid_providers(&cfg, &|k: &str| {
        std::env::var(k).ok().filter(|v| !v.is_empty())
    })?;
    canopy_service::carbon::load_offline(
        &reactor.grid,
        store.as_ref(),
        &regions,
        SystemClock.now(),
    )?;
    drain_blocking(store.as_ref(), &normalizer, &reactor, &SystemClock, None)?;
    match store.delivery(platform, &a.id)?.map(|r| r.state) {
        Some(DeliveryState::Processed { events, .. }) => {
            println!("delivery {} processed: {events} events", a.id);
            Ok(ExitCode::SUCCESS)
        }
        Some(DeliveryState::Ignored { reason, .. }) => {
            println!("delivery {} ignored: {reason}", a.id);
            Ok(ExitCode::SUCCESS)
        }
        Some(DeliveryState::Quarantined { error, .. }) => {
            anyhow::bail!("delivery {} quarantined again: {error}", a.id)
        }
        other => anyhow::bail!("delivery {} is in an unexpected state {other:?}", a.id),
    }
}
