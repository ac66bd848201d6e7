//! `canopy migrate`: creates or upgrades a PostgreSQL store's schema (the embedded migrations);
//! safe to run while servers are running and from several places at once.

use std::process::ExitCode;

use canopy_store::{Location, PgStore, RedbStore};

use crate::store_location::{self, process_env};

/// Arguments of `canopy migrate`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  canopy migrate --store postgres://canopy@db:5432/canopy   # password from PGPASSWORD or ~/.pgpass\n  CANOPY_STORE_FILE=/run/secrets/canopy-store canopy migrate\n\n`canopy serve` applies the same migrations when it starts; this command lets a deploy apply them first. A database migrated by a newer Canopy is refused."
)]
pub struct MigrateArgs {
    #[arg(long, value_name = "DIR|URL", env = "CANOPY_STORE", help = store_location::STORE_HELP)]
    pub store: Option<Location>,
}

/// Runs `canopy migrate`.
pub fn run(a: MigrateArgs) -> anyhow::Result<ExitCode> {
    let loc = store_location::resolve(a.store.as_ref(), &process_env)?;
    match &loc {
        Location::Dir(dir) => {
            RedbStore::open(dir)?;
            println!(
                "{loc}: embedded store, format {}; nothing to migrate",
                canopy_store::STORE_FORMAT_VERSION
            );
        }
        Location::Postgres(url) => {
            let opts = store_location::pg_options(url, &process_env)?;
            let (store, applied) = PgStore::open_and_migrate(&opts)?;
            let version = store.schema_version()?.unwrap_or(0);
            if applied.is_empty() {
                println!("{loc}: schema version {version}, up to date");
            } else {
                let list: Vec<String> = applied.iter().map(u32::to_string).collect();
                println!(
                    "{loc}: applied migration(s) {}; schema version {version}",
                    list.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
