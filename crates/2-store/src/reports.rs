//! Privacy-reviewed reports: drafts, approvals and releases, an append-only audit log per
//! report, and the differential-privacy budget spent per period.

use canopy_policies::privacy::Budget;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreError;

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

/// Stores reports, their audit logs and the privacy budget.
pub trait ReportStore: Send + Sync {
    /// Stores a report (new or changed) and appends to its audit log, in one transaction;
    /// `budget` also records the period's spent epsilon under its key.
    fn save_report(
        &self,
        report: &StoredReport,
        entry: &AuditEntry,
        budget: Option<(&str, &Budget)>,
    ) -> Result<(), StoreError>;

    /// Appends to a report's audit log only (a refused approval).
    fn audit_append(&self, id: &str, entry: &AuditEntry) -> Result<(), StoreError>;

    /// A report by id.
    fn report(&self, id: &str) -> Result<Option<StoredReport>, StoreError>;

    /// Every report, by id.
    fn reports(&self) -> Result<Vec<StoredReport>, StoreError>;

    /// A report's audit log, oldest first.
    fn audit(&self, id: &str) -> Result<Vec<AuditEntry>, StoreError>;

    /// The privacy budget recorded under `key`.
    fn budget(&self, key: &str) -> Result<Option<Budget>, StoreError>;
}
