//! The networked store on PostgreSQL, for several `canopy serve` replicas sharing one
//! database: the same traits as the embedded store, with the multi-process guarantees made by
//! the database — a delivery id is stored once (primary key), pending deliveries and due
//! actions are claimed for a lease that lapses when a replica dies (`FOR UPDATE SKIP LOCKED`
//! inside a serialised claim), a scheduled run is recorded by compare-and-set, and named
//! leases keep scheduled work on one replica at a time. The schema is created and upgraded by
//! embedded migrations ([`PgStore::migrate`]).
//!
//! The traits are synchronous; queries run on a small tokio runtime owned by the store, and
//! each call waits for its answer, so the store can be called from any thread, like redb.

mod events;
mod import;
mod inbox;
mod migrations;
mod outbox;
mod pgpass;
mod pool;
mod reports;
mod scores;
mod writes;

use std::future::Future;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use canopy_core::{Consent, WriteOp, WriteOutcome};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, pin_mut};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::{Claim, ConsentStore, MetaStore, ScheduleStore, Store, StoreError, decode};
pub use migrations::{MIGRATIONS, SCHEMA_VERSION};
pub use pgpass::{pgpass_lookup, url_has_password};
use pool::Pool;

/// Connections a store opens at most, unless told otherwise.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// How to reach the database.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://USER@HOST:PORT/DB` (libpq's `key=value` form is accepted too).
    pub url: String,
    /// The password, when the URL carries none (from `PGPASSWORD`, `~/.pgpass` or a file,
    /// looked up by the caller).
    pub password: Option<String>,
    /// Most connections open at once.
    pub pool_size: usize,
}

impl PgOptions {
    /// Options for `url` with no separate password and the default pool.
    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            password: None,
            pool_size: DEFAULT_POOL_SIZE,
        }
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact(&self.url))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// `url` without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(c) => describe(&c),
        Err(_) => "(an unreadable PostgreSQL URL)".into(),
    }
}

/// `postgres://user@host:port/db` of a configuration, never its password.
fn describe(c: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}

/// The PostgreSQL store.
pub struct PgStore {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Arc<Pool>,
    target: String,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Never blocks, so a store may be dropped anywhere (inside async code too).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Maps a database error to the store's: conflicts between concurrent transactions are
/// [`StoreError::Conflict`] (trying again may succeed), the rest [`StoreError::Db`].
pub(super) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE =>
        {
            StoreError::Conflict(error_text(&e))
        }
        _ => StoreError::Db(error_text(&e)),
    }
}

/// The server's message when there is one (tokio-postgres's own text is "db error").
pub(super) fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                source = inner.source();
            }
            s
        }
    }
}

/// Text as PostgreSQL can store it: `text` cannot hold NUL, so NUL becomes U+FFFD (the same
/// way for writes and lookups).
pub(super) fn pg_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_string()
    }
}

/// A query parameter owned by the task that runs the query.
#[derive(Debug, Clone)]
pub(super) enum Param {
    /// `text`.
    Text(String),
    /// `bigint`.
    Int(i64),
}

impl Param {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Text(s) => s,
            Param::Int(i) => i,
        }
    }
}

/// What a scan does with each row's bytes: go on or stop, or fail.
type RowVisit<'a> = &'a mut dyn FnMut(&[u8]) -> Result<ControlFlow<()>, StoreError>;

/// What a scan's query task sends to the caller.
enum Rows {
    Batch(Vec<Vec<u8>>),
    Done,
    Failed(StoreError),
}

const SCAN_BATCH: usize = 256;

impl PgStore {
    /// Connects to the database and checks that its schema is the one this build uses; a
    /// database that was never migrated, or migrated by an older Canopy, is refused with a
    /// message saying to run `canopy migrate`, one migrated by a newer Canopy as incompatible.
    pub fn open(opts: &PgOptions) -> Result<PgStore, StoreError> {
        let store = PgStore::connect(opts)?;
        let found = store.schema_version()?.unwrap_or(0);
        match found.cmp(&SCHEMA_VERSION) {
            std::cmp::Ordering::Equal => Ok(store),
            std::cmp::Ordering::Less => Err(StoreError::NotMigrated {
                target: store.target.clone(),
                found,
                supported: SCHEMA_VERSION,
            }),
            std::cmp::Ordering::Greater => Err(StoreError::Incompatible {
                path: store.target.clone().into(),
                found,
                supported: SCHEMA_VERSION,
            }),
        }
    }

    /// Connects, applies every migration not applied yet, and returns the store with the
    /// versions it applied (none when the schema was current).
    pub fn open_and_migrate(opts: &PgOptions) -> Result<(PgStore, Vec<u32>), StoreError> {
        let store = PgStore::connect(opts)?;
        let applied = store.migrate()?;
        Ok((store, applied))
    }

    /// Connects (one connection, to fail early when the database cannot be reached).
    fn connect(opts: &PgOptions) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config =
            opts.url.parse().map_err(|e| StoreError::Connect {
                target: redact(&opts.url),
                message: format!("not a PostgreSQL URL: {e}"),
            })?;
        if config.get_password().is_none()
            && let Some(p) = &opts.password
        {
            config.password(p.as_str());
        }
        if config.get_application_name().is_none() {
            config.application_name("canopy");
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        let target = describe(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("canopy-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Connect {
                target: target.clone(),
                message: format!("cannot start the database runtime: {e}"),
            })?;
        let store = PgStore {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            pool: Arc::new(Pool::new(config, opts.pool_size, target.clone())),
            target,
        };
        let pool = store.pool.clone();
        store.run(async move { pool.get().await.map(drop) })?;
        Ok(store)
    }

    /// `postgres://user@host:port/db` (no password), for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The schema version of the database (`None`: never migrated).
    pub fn schema_version(&self) -> Result<Option<u32>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let mut c = pool.get().await?;
            migrations::current(&mut c).await
        })
    }

    /// Applies the migrations not applied yet, in order, in one transaction under an advisory
    /// lock (several replicas starting at once apply them once); returns the versions applied.
    /// A database migrated by a newer Canopy is refused.
    pub fn migrate(&self) -> Result<Vec<u32>, StoreError> {
        let (pool, target) = (self.pool.clone(), self.target.clone());
        self.run(async move {
            let mut c = pool.get().await?;
            migrations::apply(&mut c, &target).await
        })
    }

    /// Runs a future on the store's runtime and waits for its result.
    fn run<T, F>(&self, fut: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Db("a PostgreSQL task ended without an answer".into()))?
    }

    /// Runs a one-column `bytea` query and hands each value to `visit`, in the query's order,
    /// streaming (at most a few batches are held in memory); stops early when `visit` says so.
    fn scan_bytes(
        &self,
        sql: &'static str,
        params: Vec<Param>,
        visit: RowVisit<'_>,
    ) -> Result<(), StoreError> {
        let (tx, rx) = sync_channel::<Rows>(2);
        let pool = self.pool.clone();
        self.handle.spawn(async move {
            if let Err(e) = stream_rows(pool, sql, params, &tx).await {
                let _ = send_rows(&tx, Rows::Failed(e));
            }
        });
        consume_rows(rx, visit)
    }

    /// Runs a one-column `bytea` query and returns the first row's value, if there is a row.
    fn first_bytes(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query(sql, params)?;
        rows.first()
            .map(|r| r.try_get::<_, Vec<u8>>(0).map_err(pg_err))
            .transpose()
    }

    /// Runs a one-column query of records written with `encode` and decodes every row, in the
    /// query's order; `what` names a corrupt one.
    fn decode_all<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        params: Vec<Param>,
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.scan_bytes(sql, params, &mut |b| {
            out.push(decode(b, what)?);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }

    /// Runs a query with owned parameters on a pooled connection and returns its rows.
    fn query(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let mut c = pool.get().await?;
            let st = c.statement(sql).await?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
            c.client().query(&st, &refs).await.map_err(pg_err)
        })
    }
}

/// Sends a message to a scan's caller without holding up the runtime's other tasks.
fn send_rows(tx: &SyncSender<Rows>, msg: Rows) -> bool {
    tokio::task::block_in_place(|| tx.send(msg).is_ok())
}

async fn stream_rows(
    pool: Arc<Pool>,
    sql: &'static str,
    params: Vec<Param>,
    tx: &SyncSender<Rows>,
) -> Result<(), StoreError> {
    let mut c = pool.get().await?;
    let st = c.statement(sql).await?;
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
    let rows = c.client().query_raw(&st, refs).await.map_err(pg_err)?;
    pin_mut!(rows);
    let mut batch = Vec::with_capacity(SCAN_BATCH);
    while let Some(row) = rows.next().await {
        let row = row.map_err(pg_err)?;
        batch.push(row.try_get::<_, Vec<u8>>(0).map_err(pg_err)?);
        if batch.len() == SCAN_BATCH && !send_rows(tx, Rows::Batch(std::mem::take(&mut batch))) {
            return Ok(()); // the caller stopped early
        }
    }
    if !batch.is_empty() && !send_rows(tx, Rows::Batch(batch)) {
        return Ok(());
    }
    send_rows(tx, Rows::Done);
    Ok(())
}

fn consume_rows(rx: Receiver<Rows>, visit: RowVisit<'_>) -> Result<(), StoreError> {
    loop {
        match rx.recv() {
            Ok(Rows::Batch(batch)) => {
                for bytes in &batch {
                    if visit(bytes)?.is_break() {
                        return Ok(());
                    }
                }
            }
            Ok(Rows::Done) => return Ok(()),
            Ok(Rows::Failed(e)) => return Err(e),
            Err(_) => {
                return Err(StoreError::Db(
                    "a PostgreSQL scan ended before its last row".into(),
                ));
            }
        }
    }
}

impl MetaStore for PgStore {
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.first_bytes(
            "SELECT value FROM meta WHERE key = $1",
            vec![Param::Text(pg_text(key))],
        )
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let (pool, key, value) = (self.pool.clone(), pg_text(key), value.to_vec());
        self.run(async move {
            let mut c = pool.get().await?;
            writes::put_meta(&mut c, &key, &value).await
        })
    }

    fn scan_meta(
        &self,
        visit: &mut dyn FnMut(&str, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        for (k, v) in self.meta_rows()? {
            if visit(&k, &v).is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl PgStore {
    /// Every meta key and value, in key order.
    fn meta_rows(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = self.query("SELECT key, value FROM meta ORDER BY key", Vec::new())?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(pg_err)?, r.try_get(1).map_err(pg_err)?)))
            .collect()
    }
}

impl ScheduleStore for PgStore {
    fn last_run(&self, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.get_meta(key)?
            .map(|v| crate::parse_run(key, &v))
            .transpose()
    }

    fn try_lease(&self, name: &str, claim: &Claim) -> Result<bool, StoreError> {
        let rows = self.query(
            "INSERT INTO leases (name, owner, until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, until_ms = EXCLUDED.until_ms \
             WHERE leases.owner = EXCLUDED.owner OR leases.until_ms <= $4 \
             RETURNING owner",
            vec![
                Param::Text(pg_text(name)),
                Param::Text(pg_text(&claim.owner)),
                Param::Int(claim.until.timestamp_millis()),
                Param::Int(claim.now.timestamp_millis()),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.query(
            "DELETE FROM leases WHERE name = $1 AND owner = $2 RETURNING owner",
            vec![Param::Text(pg_text(name)), Param::Text(pg_text(owner))],
        )?;
        Ok(())
    }
}

impl ConsentStore for PgStore {
    fn consents(&self) -> Result<Vec<Consent>, StoreError> {
        self.decode_all(
            "SELECT record FROM consent ORDER BY actor_key",
            Vec::new(),
            "consent record",
        )
    }
}

impl Store for PgStore {
    fn apply_writes(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteOutcome>, StoreError> {
        let pool = self.pool.clone();
        self.run(writes::apply_batch(pool, ops))
    }
}
