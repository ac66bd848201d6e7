//! Reports on PostgreSQL: one row per report, an append-only audit log numbered per report
//! (appends to one report are serialised by a transaction-scoped advisory lock on its id), and
//! the privacy budget as a meta value written in the report's transaction.

use canopy_policies::privacy::Budget;

use super::pool::Pooled;
use super::{Param, PgStore, pg_err, pg_text, writes};
use crate::reports::{AuditEntry, ReportStore, StoredReport};
use crate::{MetaStore, StoreError, decode, encode};

async fn append(c: &mut Pooled, id: &str, entry: &[u8]) -> Result<(), StoreError> {
    let lock = c
        .statement("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .await?;
    c.client().execute(&lock, &[&id]).await.map_err(pg_err)?;
    let st = c
        .statement(
            "INSERT INTO report_audit (id, n, entry) \
             SELECT $1, coalesce(max(n) + 1, 0), $2 FROM report_audit WHERE id = $1",
        )
        .await?;
    c.client()
        .execute(&st, &[&id, &entry])
        .await
        .map_err(pg_err)?;
    Ok(())
}

impl ReportStore for PgStore {
    fn save_report(
        &self,
        r: &StoredReport,
        entry: &AuditEntry,
        budget: Option<(&str, &Budget)>,
    ) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let (id, report, entry) = (pg_text(&r.id), encode(r)?, encode(entry)?);
        let budget = budget
            .map(|(k, b)| Ok::<_, StoreError>((pg_text(k), encode(b)?)))
            .transpose()?;
        self.run(async move {
            let mut c = pool.get().await?;
            c.begin().await?;
            let result = async {
                let st = c
                    .statement("INSERT INTO reports (id, report) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET report = EXCLUDED.report")
                    .await?;
                c.client().execute(&st, &[&id, &report]).await.map_err(pg_err)?;
                append(&mut c, &id, &entry).await?;
                if let Some((key, value)) = &budget {
                    writes::put_meta(&mut c, key, value).await?;
                }
                Ok::<_, StoreError>(())
            }
            .await;
            c.finish(result).await
        })
    }

    fn audit_append(&self, id: &str, entry: &AuditEntry) -> Result<(), StoreError> {
        let (pool, id, entry) = (self.pool.clone(), pg_text(id), encode(entry)?);
        self.run(async move {
            let mut c = pool.get().await?;
            c.begin().await?;
            match append(&mut c, &id, &entry).await {
                Ok(()) => c.commit().await,
                Err(e) => {
                    c.rollback().await;
                    Err(e)
                }
            }
        })
    }

    fn report(&self, id: &str) -> Result<Option<StoredReport>, StoreError> {
        self.first_bytes(
            "SELECT report FROM reports WHERE id = $1",
            vec![Param::Text(pg_text(id))],
        )?
        .map(|b| decode(&b, format_args!("report {id}")))
        .transpose()
    }

    fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        self.decode_all(
            "SELECT report FROM reports ORDER BY id",
            Vec::new(),
            "report",
        )
    }

    fn audit(&self, id: &str) -> Result<Vec<AuditEntry>, StoreError> {
        self.decode_all(
            "SELECT entry FROM report_audit WHERE id = $1 ORDER BY n",
            vec![Param::Text(pg_text(id))],
            "audit entry",
        )
    }

    fn budget(&self, key: &str) -> Result<Option<Budget>, StoreError> {
        self.get_meta(key)?
            .map(|v| decode(&v, format_args!("budget {key}")))
            .transpose()
    }
}
