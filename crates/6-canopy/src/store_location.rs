//! Which store a command uses and how to open it: `--store DIR|URL`, else `CANOPY_STORE`
//! (clap reads it), else the location in the file `CANOPY_STORE_FILE` names (for a URL with
//! its password in a mounted secret). A PostgreSQL URL without a password takes it from
//! `PGPASSWORD` or the password file (`PGPASSFILE`, default `~/.pgpass`), as libpq does.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use canopy_store::{Location, PgOptions, PgStore, RedbStore, Store};

/// Environment variable naming the store (a directory or a `postgres://` URL).
pub const STORE_VAR: &str = "CANOPY_STORE";
/// Environment variable naming a file that holds the store's location.
pub const STORE_FILE_VAR: &str = "CANOPY_STORE_FILE";
/// How a command's `--store` is documented in `--help`.
pub const STORE_HELP: &str = "Store: a directory (embedded) or a postgres://USER@HOST:PORT/DB URL [env: CANOPY_STORE, or CANOPY_STORE_FILE naming a file that holds it]";

/// Whether opening a PostgreSQL store applies missing migrations first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrate {
    /// Apply them (serve, migrate, commands that fill a store).
    Yes,
    /// Refuse a store whose schema is not current (read and admin commands).
    No,
}

/// The store location: `arg` (from `--store` or `CANOPY_STORE`), else `CANOPY_STORE_FILE`'s.
pub fn resolve(
    arg: Option<&Location>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Location> {
    if let Some(l) = arg {
        return Ok(l.clone());
    }
    let path = env(STORE_FILE_VAR).context(
        "no store given: pass --store DIR|URL, or set CANOPY_STORE (or CANOPY_STORE_FILE naming a file that holds it)",
    )?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the store location from {STORE_FILE_VAR} ({path})"))?;
    text.trim()
        .parse()
        .map_err(|e: String| anyhow::anyhow!("{STORE_FILE_VAR} ({path}): {e}"))
}

/// Connection options for a PostgreSQL URL, with the password found as libpq finds it.
pub fn pg_options(url: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<PgOptions> {
    let mut opts = PgOptions::new(url);
    let has_password = canopy_store::postgres::url_has_password(url).map_err(|e| {
        anyhow::anyhow!(
            "not a PostgreSQL URL ({}): {e}",
            canopy_store::postgres::redact(url)
        )
    })?;
    if has_password {
        return Ok(opts);
    }
    if let Some(p) = env("PGPASSWORD") {
        opts.password = Some(p);
        return Ok(opts);
    }
    let file = env("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")));
    if let Some(file) = file
        && let Ok(text) = std::fs::read_to_string(&file)
    {
        if pgpass_too_open(&file) {
            tracing::warn!(file = %file.display(), "password file is readable by group or others; ignoring it (chmod 0600)");
        } else {
            opts.password = canopy_store::postgres::pgpass_lookup(&text, url);
        }
    }
    Ok(opts)
}

#[cfg(unix)]
fn pgpass_too_open(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn pgpass_too_open(_: &Path) -> bool {
    false
}

/// Opens the store at `loc`: the embedded one (created if missing), or PostgreSQL (migrated
/// first when `migrate` says so, else refused unless its schema is current).
pub fn open_location(
    loc: &Location,
    migrate: Migrate,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Arc<dyn Store>> {
    match loc {
        Location::Dir(dir) => Ok(Arc::new(RedbStore::open(dir)?)),
        Location::Postgres(url) => {
            let opts = pg_options(url, env)?;
            let store = match migrate {
                Migrate::Yes => {
                    let (store, applied) = PgStore::open_and_migrate(&opts)?;
                    if !applied.is_empty() {
                        tracing::info!(store = %loc, ?applied, "store schema migrated");
                    }
                    store
                }
                Migrate::No => PgStore::open(&opts)?,
            };
            Ok(Arc::new(store))
        }
    }
}

/// The process environment, as the commands read it.
pub fn process_env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// Resolves a command's `--store` and opens it; returns where it is, for messages.
pub fn open(
    arg: Option<&Location>,
    migrate: Migrate,
) -> anyhow::Result<(Location, Arc<dyn Store>)> {
    let loc = resolve(arg, &process_env)?;
    let store = open_location(&loc, migrate, &process_env)?;
    Ok((loc, store))
}
