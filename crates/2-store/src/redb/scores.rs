//! Cached sentiment scores on redb: one table keyed by (model, repository, event id).

use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::{RedbStore, db_err};
use crate::StoreError;
use crate::scores::{CachedScore, CommentKey, ScoreStore};

/// (model, repository, event id) → [`CachedScore::to_bytes`].
const SCORES: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("sentiment_scores");

/// Creates the score table.
pub(super) fn init_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(SCORES).map_err(db_err)?;
    Ok(())
}

fn corrupt(model: &str, (repo, id): CommentKey<'_>) -> StoreError {
    StoreError::Corrupt(format!(
        "cached sentiment score of {repo} event {id} (model {model})"
    ))
}

impl ScoreStore for RedbStore {
    fn cached_scores(
        &self,
        model: &str,
        comments: &[CommentKey<'_>],
    ) -> Result<Vec<Option<CachedScore>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(SCORES).map_err(db_err)?;
        comments
            .iter()
            .map(|&(repo, id)| {
                t.get((model, repo, id))
                    .map_err(db_err)?
                    .map(|v| {
                        CachedScore::from_bytes(v.value()).ok_or_else(|| corrupt(model, (repo, id)))
                    })
                    .transpose()
            })
            .collect()
    }

    fn put_scores(
        &self,
        model: &str,
        scores: &[(CommentKey<'_>, CachedScore)],
    ) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut t = txn.open_table(SCORES).map_err(db_err)?;
            for &((repo, id), s) in scores {
                t.insert((model, repo, id), s.to_bytes().as_slice())
                    .map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)
    }

    fn drop_scores_except(&self, model: &str) -> Result<u64, StoreError> {
        let txn = self.begin_write()?;
        let dropped = {
            let mut t = txn.open_table(SCORES).map_err(db_err)?;
            let before = t.len().map_err(db_err)?;
            t.retain(|(m, _, _), _| m == model).map_err(db_err)?;
            before - t.len().map_err(db_err)?
        };
        txn.commit().map_err(db_err)?;
        Ok(dropped)
    }
}
