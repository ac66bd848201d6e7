//! Consent on redb: the latest record per identity, by actor key.

use canopy_core::Consent;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{RedbStore, db_err};
use crate::{ConsentStore, StoreError, decode, encode};

/// Actor key → latest consent record.
const CONSENT: TableDefinition<&str, &[u8]> = TableDefinition::new("consent");

/// Creates the consent table in a new store.
pub(super) fn init_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(CONSENT).map_err(db_err)?;
    Ok(())
}

/// Records consents inside a write transaction; a record older than the stored one is ignored.
pub(super) fn record(txn: &WriteTransaction, consents: &[Consent]) -> Result<(), StoreError> {
    let mut t = txn.open_table(CONSENT).map_err(db_err)?;
    for c in consents {
        let old = t
            .get(c.actor_key.as_str())
            .map_err(db_err)?
            .and_then(|v| serde_json::from_slice::<Consent>(v.value()).ok());
        if crate::transitions::consent_replaces(old.as_ref(), c) {
            t.insert(c.actor_key.as_str(), encode(c)?.as_slice())
                .map_err(db_err)?;
        }
    }
    Ok(())
}

impl ConsentStore for RedbStore {
    fn consents(&self) -> Result<Vec<Consent>, StoreError> {
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
