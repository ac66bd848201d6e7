//! `canopy store copy`: moves an installation from the embedded store to PostgreSQL.

use std::process::ExitCode;

use canopy_store::{Location, PgStore, RedbStore};

use crate::store_location::{self, process_env};

/// Arguments of `canopy store`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: StoreCommand,
}

/// `canopy store` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Copy an embedded store (a directory) into a PostgreSQL store.
    Copy(CopyArgs),
}

/// Arguments of `canopy store copy`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Stop the server that uses the directory first (the embedded store is single-process). \
The PostgreSQL store is migrated first; events, deliveries (state and raw bodies), the outbox, consent, \
reports with their audit logs and every named value (settings, models, schedules, privacy budgets) are copied. \
Nothing is copied twice: an interrupted copy is finished by running it again. Then start the servers with \
--store URL. The pseudonym key of reports (<dir>/pseudonym.key) is not in the store: set [reports] key_file to it.\n\n\
Example:\n  canopy store copy --from /var/lib/canopy --to postgres://canopy@db:5432/canopy"
)]
pub struct CopyArgs {
    /// The embedded store's directory.
    #[arg(long, value_name = "DIR")]
    pub from: std::path::PathBuf,
    /// The PostgreSQL store (password from PGPASSWORD, ~/.pgpass, or CANOPY_STORE_FILE when
    /// --to is not given).
    #[arg(long, value_name = "URL", env = "CANOPY_STORE")]
    pub to: Option<Location>,
}

/// Runs `canopy store`.
pub fn run(a: StoreArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        StoreCommand::Copy(c) => copy(c),
    }
}

fn copy(a: CopyArgs) -> anyhow::Result<ExitCode> {
    let to = store_location::resolve(a.to.as_ref(), &process_env)?;
    let Location::Postgres(url) = &to else {
        anyhow::bail!("--to must be a postgres:// URL (got the directory {to})");
    };
    anyhow::ensure!(
        a.from.join(canopy_store::DB_FILE).exists(),
        "{} holds no Canopy store ({} is missing)",
        a.from.display(),
        canopy_store::DB_FILE
    );
    let from = RedbStore::open(&a.from)?;
    let opts = store_location::pg_options(url, &process_env)?;
    let (target, applied) = PgStore::open_and_migrate(&opts)?;
    if !applied.is_empty() {
        eprintln!(
            "canopy: {to}: schema created (version {})",
            canopy_store::postgres::SCHEMA_VERSION
        );
    }
    let copied = canopy_store::copy::copy_to_postgres(&from, &target, &mut |step| {
        eprintln!("canopy: copied {step}");
    })?;
    println!("{}", serde_json::to_string(&copied)?);
    eprintln!(
        "canopy: {} copied to {to}: {} events, {} deliveries, {} outbox items, {} consent records, {} reports, {} named values",
        a.from.display(),
        copied.events,
        copied.deliveries,
        copied.outbox,
        copied.consents,
        copied.reports,
        copied.meta
    );
    Ok(ExitCode::SUCCESS)
}
