//! Privacy-reviewed reports: drafts, approvals and releases, an append-only audit log per
//! report, and the differential-privacy budget spent per period.

use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::redb_store::{RedbStore, db_err, put_meta_in};
use super::{EventStore, StoreError, decode, encode};

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

/// Where a report is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Made, not yet approved.
    Draft,
    /// Approved by a reviewer; may be published.
    Approved,
    /// Released.
    Published,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReport {
    /// Id.
    pub id: String,
    /// Status.
    pub status: ReportStatus,
    /// The report as released (JSON), review included.
    pub document: serde_json::Value,
    /// The tables before privacy treatment, kept for re-checking the review at approval (never
    /// released).
    pub raw: Vec<canopy_analyzer::aggregate::RawTable>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// `created`, `approved`, `approval_refused`, `published`, `publish_refused`.
    pub action: String,
    /// Who (a reviewer's name, or `canopy`).
    pub actor: String,
    /// Why or what.
    pub detail: String,
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

impl RedbStore {
    /// Stores a report (new or changed) and appends to its audit log, in one transaction;
    /// `budget` also records the period's spent epsilon.
    pub fn save_report(
        &self,
        r: &StoredReport,
        entry: &AuditEntry,
        budget: Option<(&str, &canopy_policies::privacy::Budget)>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
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

    /// Appends to a report's audit log only (a refused approval).
    pub fn audit_append(&self, id: &str, entry: &AuditEntry) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        append(&txn, id, entry)?;
        txn.commit().map_err(db_err)
    }

    /// A report by id.
    pub fn report(&self, id: &str) -> Result<Option<StoredReport>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(REPORTS).map_err(db_err)?;
        t.get(id)
            .map_err(db_err)?
            .map(|v| decode(v.value(), format_args!("report {id}")))
            .transpose()
    }

    /// Every report, by id.
    pub fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(REPORTS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            out.push(decode(v.value(), "report")?);
        }
        Ok(out)
    }

    /// A report's audit log, oldest first.
    pub fn audit(&self, id: &str) -> Result<Vec<AuditEntry>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(AUDIT).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in t.range((id, 0)..=(id, u64::MAX)).map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            out.push(decode(v.value(), "audit entry")?);
        }
        Ok(out)
    }

    /// The privacy budget recorded under `key`.
    pub fn budget(
        &self,
        key: &str,
    ) -> Result<Option<canopy_policies::privacy::Budget>, StoreError> {
        self.get_meta(key)?
            .map(|v| decode(&v, format_args!("budget {key}")))
            .transpose()
    }
}
