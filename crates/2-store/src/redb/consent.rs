//! Consent records: who opted in to (or out of) person-level analysis, when and how. The
//! latest record per identity wins.

use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::redb_store::{RedbStore, db_err};
use super::{StoreError, decode, encode};

/// Actor key → latest consent record.
const CONSENT: TableDefinition<&str, &[u8]> = TableDefinition::new("consent");

/// Creates the consent table in a new store.
pub(super) fn init_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(CONSENT).map_err(db_err)?;
    Ok(())
}

/// One person's choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The identity (`Actor::key`).
    pub actor_key: String,
    /// Opted in (true) or out (false).
    pub opted_in: bool,
    /// When.
    pub at: DateTime<Utc>,
    /// How (`github comment canopy-demo/widgets#7`, `config`).
    pub via: String,
}

/// Records consents inside a write transaction; a record older than the stored one is ignored.
pub(super) fn record(txn: &WriteTransaction, consents: &[Consent]) -> Result<(), StoreError> {
    let mut t = txn.open_table(CONSENT).map_err(db_err)?;
    for c in consents {
        let newer = match t.get(c.actor_key.as_str()).map_err(db_err)? {
            Some(v) => serde_json::from_slice::<Consent>(v.value())
                .map(|old| old.at <= c.at)
                .unwrap_or(true),
            None => true,
        };
        if newer {
            t.insert(c.actor_key.as_str(), encode(c)?.as_slice())
                .map_err(db_err)?;
        }
    }
    Ok(())
}

impl RedbStore {
    /// Every consent record.
    pub fn consents(&self) -> Result<Vec<Consent>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(CONSENT).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            out.push(decode(v.value(), "consent record")?);
        }
        Ok(out)
    }
}
