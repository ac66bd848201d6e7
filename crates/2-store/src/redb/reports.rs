//! Reports on redb: one table of reports by id, one of audit entries by (report, sequence);
//! the privacy budget is a meta value written in the report's transaction.

use canopy_policies::privacy::Budget;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{RedbStore, db_err, put_meta_in};
use crate::reports::{AuditEntry, ReportStore, StoredReport};
use crate::{MetaStore, StoreError, decode, encode};

/// Reports by id.
const REPORTS: TableDefinition<&str, &[u8]> = TableDefinition::new("reports");
/// Audit log: (report id, sequence) → entry.
const AUDIT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("report_audit");

/// Creates the report tables.
pub(super) fn init_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(REPORTS).map_err(db_err)?;
    txn.open_table(AUDIT).map_err(db_err)?;
    Ok(())
}

fn append(txn: &WriteTransaction, id: &str, entry: &AuditEntry) -> Result<(), StoreError> {
    let mut t = txn.open_table(AUDIT).map_err(db_err)?;
    let next = t
        .range((id, 0)..=(id, u64::MAX))
        .map_err(db_err)?
        .next_back()
        .transpose()
        .map_err(db_err)?
        .map_or(0, |(k, _)| k.value().1 + 1);
    t.insert((id, next), encode(entry)?.as_slice())
        .map_err(db_err)?;
    Ok(())
}

impl ReportStore for RedbStore {
    fn save_report(
        &self,
        r: &StoredReport,
        entry: &AuditEntry,
        budget: Option<(&str, &Budget)>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut t = txn.open_table(REPORTS).map_err(db_err)?;
            t.insert(r.id.as_str(), encode(r)?.as_slice())
                .map_err(db_err)?;
        }
        append(&txn, &r.id, entry)?;
        if let Some((key, b)) = budget {
            put_meta_in(&txn, key, &encode(b)?)?;
        }
        txn.commit().map_err(db_err)
    }

    fn audit_append(&self, id: &str, entry: &AuditEntry) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        append(&txn, id, entry)?;
        txn.commit().map_err(db_err)
    }

    fn report(&self, id: &str) -> Result<Option<StoredReport>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(REPORTS).map_err(db_err)?;
        t.get(id)
            .map_err(db_err)?
            .map(|v| decode(v.value(), format_args!("report {id}")))
            .transpose()
    }

    fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(REPORTS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            out.push(decode(v.value(), "report")?);
        }
        Ok(out)
    }

    fn audit(&self, id: &str) -> Result<Vec<AuditEntry>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(AUDIT).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in t.range((id, 0)..=(id, u64::MAX)).map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            out.push(decode(v.value(), "audit entry")?);
        }
        Ok(out)
    }

    fn budget(&self, key: &str) -> Result<Option<Budget>, StoreError> {
        self.get_meta(key)?
            .map(|v| decode(&v, format_args!("budget {key}")))
            .transpose()
    }
}
