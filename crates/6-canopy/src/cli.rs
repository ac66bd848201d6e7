//! The command line: one `clap` subcommand per capability, each implemented in `commands/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::logging::LogFormat;

/// Canopy: a GitHub and Gerrit bot and burnout-risk analyzer that keeps maintainers informed
/// (time to merge, CI energy and carbon, team health) while keeping individuals private.
#[derive(Debug, Parser)]
#[command(name = "canopy", version, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug; `serve` logs at info without it, -v
    /// debug). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand. Adding one: a module in `commands/`, a variant here, an arm in [`run`].
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Weekly team-level picture of a git repository's history (no token, no server).
    Analyze(commands::analyze::AnalyzeArgs),
    /// Burnout risk: validate the score, see your own, see the team's distribution.
    Burnout(commands::burnout::BurnoutArgs),
    /// Grid carbon intensity: the greenest window for a job, simulations of deferral policies.
    Carbon(commands::carbon::CarbonArgs),
    /// CI jobs: where a still-running job is more likely to fail (optimal stopping point).
    Ci(commands::ci::CiArgs),
    /// Import past PRs or Gerrit changes through the APIs into a store.
    Backfill(commands::backfill::BackfillArgs),
    /// A repository's weekly maintainer digest: printed (Markdown, JSON, HTML with charts), or
    /// queued for its channels with --send.
    Digest(commands::digest::DigestArgs),
    /// Privacy-reviewed aggregate reports: create a draft, approve it, publish it.
    Report(commands::report::ReportArgs),
    /// Show what Canopy does on this repository (or a path given), with no credentials.
    Demo(commands::demo::DemoArgs),
    /// Stored events: list them.
    Events(commands::events::EventsArgs),
    /// Stored webhook deliveries: list them, retry quarantined ones.
    Inbox(commands::inbox::InboxArgs),
    /// Create or upgrade a PostgreSQL store's schema.
    Migrate(commands::migrate::MigrateArgs),
    /// Outgoing actions: list them (pending, done, dead), retry dead ones.
    Outbox(commands::outbox::OutboxArgs),
    /// Feed saved webhook payloads through the normal intake into a store.
    Replay(commands::replay::ReplayArgs),
    /// Sentiment of developer texts: evaluate, train, score.
    Sentiment(commands::sentiment::SentimentArgs),
    /// Run the webhook server.
    Serve(commands::serve::ServeArgs),
    /// Move a store: copy an embedded store into PostgreSQL.
    Store(commands::store::StoreArgs),
    /// Ask a running server whether it is ready (GET /readyz): exit 0 if so, else 1 with the
    /// reason. For container health checks.
    Healthcheck(commands::healthcheck::HealthcheckArgs),
    /// Time to merge: evaluate the model on PR histories, train it from the store.
    Ttm(commands::ttm::TtmArgs),
}

impl Command {
    /// Extra log verbosity of long-running commands, which log at info level by default (one
    /// line per webhook received; `-v` adds a line per delivery processed and per store commit).
    pub fn default_verbosity(&self) -> u8 {
        match self {
            Command::Serve(_) => 1,
            _ => 0,
        }
    }
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Analyze(args) => commands::analyze::run(args),
        Command::Backfill(args) => commands::backfill::run(args),
        Command::Burnout(args) => commands::burnout::run(
            args,
            &|loc| {
                let migrate = crate::store_location::Migrate::No;
                Ok(crate::store_location::open(loc, migrate)?.1)
            },
            &canopy_core::SystemClock,
        ),
        Command::Carbon(args) => commands::carbon::run(args),
        Command::Ci(args) => commands::ci::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Digest(args) => commands::digest::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Events(args) => commands::events::run(args),
        Command::Healthcheck(args) => commands::healthcheck::run(args),
        Command::Inbox(args) => commands::inbox::run(args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Outbox(args) => commands::outbox::run(args),
        Command::Replay(args) => commands::replay::run(args),
        Command::Sentiment(args) => commands::sentiment::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Store(args) => commands::store::run(args),
        Command::Ttm(args) => commands::ttm::run(args),
    }
}
