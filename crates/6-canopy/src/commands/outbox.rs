//! `canopy outbox list|retry`: the actions Canopy has queued, performed or given up on, and
//! putting a dead one back in the queue. The store is single-process: stop the server first.

use canopy_store::Location;
use std::ops::ControlFlow;
use std::process::ExitCode;

use super::events::ListFormat;
use canopy_core::{Clock, OutboxItem, OutboxState, SystemClock, WriteOp, WriteOutcome};

/// Arguments of `canopy outbox`.
#[derive(Debug, clap::Args)]
pub struct OutboxArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: OutboxCommand,
}

/// Subcommands of `canopy outbox`.
#[derive(Debug, clap::Subcommand)]
pub enum OutboxCommand {
    /// List actions with their state (pending, done, dead) and last error.
    List(OutboxListArgs),
    /// Put a dead action back in the queue; the server performs it when it next runs.
    Retry(OutboxRetryArgs),
}

/// Arguments of `canopy outbox list`.
#[derive(Debug, clap::Args)]
pub struct OutboxListArgs {
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Only the dead-letter list.
    #[arg(long)]
    pub dead: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

/// Arguments of `canopy outbox retry`.
#[derive(Debug, clap::Args)]
pub struct OutboxRetryArgs {
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = crate::store_location::STORE_HELP)]
    pub store: Option<Location>,
    /// Action id, as `canopy outbox list` shows it.
    pub id: String,
}

/// Runs `canopy outbox`.
pub fn run(args: OutboxArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        OutboxCommand::List(a) => list(a),
        OutboxCommand::Retry(a) => retry(a),
    }
}

fn line(i: &OutboxItem) -> String {
    let state = match i.state {
        OutboxState::Pending => format!("pending (due {})", i.due_at.to_rfc3339()),
        OutboxState::Done => "done".to_string(),
        OutboxState::Dead => "dead".to_string(),
    };
    format!(
        "{:<60} {:<20} {:<40} {} attempts={}{}",
        i.id,
        i.action.name(),
        i.action.target(),
        state,
        i.attempts,
        i.last_error
            .as_deref()
            .map(|e| format!(" last error: {e}"))
            .unwrap_or_default()
    )
}

fn list(a: OutboxListArgs) -> anyhow::Result<ExitCode> {
    let (_, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::No)?;
    let mut items = Vec::new();
    store.scan_outbox(a.dead, &mut |i| {
        items.push(i);
        ControlFlow::Continue(())
    })?;
    a.format.print(&items, line)?;
    Ok(ExitCode::SUCCESS)
}

fn retry(a: OutboxRetryArgs) -> anyhow::Result<ExitCode> {
    let (_, store) =
        crate::store_location::open(a.store.as_ref(), crate::store_location::Migrate::No)?;
    let out = store
        .apply_writes(vec![WriteOp::OutboxRetry {
            id: a.id.clone(),
            now: SystemClock.now(),
        }])?
        .pop();
    match out {
        Some(WriteOutcome::Requeued) => {
            println!(
                "action {} queued again; the server performs it when it next runs",
                a.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(WriteOutcome::Rejected(why)) => anyhow::bail!("{why}"),
        other => anyhow::bail!("unexpected result {other:?}"),
    }
}
