//! Schema migrations, embedded in the binary: numbered SQL scripts applied in order, each
//! recorded in `canopy_migrations`, all of them in one transaction under an advisory lock so
//! that replicas starting together apply them once and never see half a schema.

use super::pg_err;
use super::pool::Pooled;
use crate::StoreError;

/// Every migration, in order: (version, name, SQL).
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (
        2,
        "event kinds",
        include_str!("migrations/0002_event_kinds.sql"),
    ),
    (
        3,
        "lz4 delivery bodies",
        include_str!("migrations/0003_lz4_bodies.sql"),
    ),
    (
        4,
        "sentiment scores",
        include_str!("migrations/0004_sentiment_scores.sql"),
    ),
];

/// The schema version this build reads and writes (the last migration's).
pub const SCHEMA_VERSION: u32 = 4;

/// Key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x63_616e_6f70_7901; // "canopy" 1

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS canopy_migrations (\
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())";

/// The latest applied version, or `None` when the database was never migrated.
pub(super) async fn current(c: &mut Pooled) -> Result<Option<u32>, StoreError> {
    let exists = c
        .client()
        .query_one("SELECT to_regclass('canopy_migrations') IS NOT NULL", &[])
        .await
        .map_err(pg_err)?
        .try_get::<_, bool>(0)
        .map_err(pg_err)?;
    if !exists {
        return Ok(None);
    }
    let v: Option<i32> = c
        .client()
        .query_one("SELECT max(version) FROM canopy_migrations", &[])
        .await
        .map_err(pg_err)?
        .try_get(0)
        .map_err(pg_err)?;
    Ok(v.map(|v| v.max(0) as u32))
}

/// Applies what is missing; returns the versions applied.
pub(super) async fn apply(c: &mut Pooled, target: &str) -> Result<Vec<u32>, StoreError> {
    c.begin().await?;
    match apply_in_transaction(c, target).await {
        Ok(applied) => {
            c.commit().await?;
            Ok(applied)
        }
        Err(e) => {
            c.rollback().await;
            Err(e)
        }
    }
}

async fn apply_in_transaction(c: &mut Pooled, target: &str) -> Result<Vec<u32>, StoreError> {
    let client = c.client();
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_err)?;
    client.batch_execute(CREATE_TABLE).await.map_err(pg_err)?;
    let found: Option<i32> = client
        .query_one("SELECT max(version) FROM canopy_migrations", &[])
        .await
        .map_err(pg_err)?
        .try_get(0)
        .map_err(pg_err)?;
    let found = found.unwrap_or(0).max(0) as u32;
    if found > SCHEMA_VERSION {
        return Err(StoreError::Incompatible {
            path: target.into(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > found) {
        client.batch_execute(sql).await.map_err(|e| {
            StoreError::Db(format!(
                "migration {version} ({name}) failed: {}",
                super::error_text(&e)
            ))
        })?;
        client
            .execute(
                "INSERT INTO canopy_migrations (version, name) VALUES ($1, $2)",
                &[&(*version as i32), name],
            )
            .await
            .map_err(pg_err)?;
        applied.push(*version);
    }
    Ok(applied)
}
