//! Cached sentiment scores on PostgreSQL: the `sentiment_scores` table (migration 4), read and
//! written a chunk of comments per statement (arrays unnested), so 100,000 comments take a few
//! round trips.

use std::collections::HashMap;

use super::{PgStore, pg_err, pg_text};
use crate::StoreError;
use crate::scores::{CachedScore, CommentKey, ScoreStore};

/// Comments per statement.
const CHUNK: usize = 5_000;

fn owned(comments: &[CommentKey<'_>]) -> (Vec<String>, Vec<String>) {
    comments
        .iter()
        .map(|&(repo, id)| (pg_text(repo), pg_text(id)))
        .unzip()
}

impl ScoreStore for PgStore {
    fn cached_scores(
        &self,
        model: &str,
        comments: &[CommentKey<'_>],
    ) -> Result<Vec<Option<CachedScore>>, StoreError> {
        let mut out = vec![None; comments.len()];
        for (c, chunk) in comments.chunks(CHUNK).enumerate() {
            let (pool, model, (repos, ids)) = (self.pool.clone(), pg_text(model), owned(chunk));
            let found: Vec<(i64, f64, bool)> = self.run(async move {
                let mut conn = pool.get().await?;
                let st = conn
                    .statement(
                        "SELECT k.n, s.negative, s.uncivil \
                         FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS k(repo, event_id, n) \
                         JOIN sentiment_scores s \
                           ON s.model = $1 AND s.repo = k.repo AND s.event_id = k.event_id",
                    )
                    .await?;
                let rows = conn
                    .client()
                    .query(&st, &[&model, &repos, &ids])
                    .await
                    .map_err(pg_err)?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect::<Result<_, tokio_postgres::Error>>()
                    .map_err(pg_err)
            })?;
            for (n, negative, uncivil) in found {
                // WITH ORDINALITY counts from 1.
                let i = c * CHUNK + usize::try_from(n - 1).unwrap_or(usize::MAX);
                let slot = out.get_mut(i).ok_or_else(|| {
                    StoreError::Corrupt(format!("cached score row {n} outside the lookup"))
                })?;
                *slot = Some(CachedScore { negative, uncivil });
            }
        }
        Ok(out)
    }

    fn put_scores(
        &self,
        model: &str,
        scores: &[(CommentKey<'_>, CachedScore)],
    ) -> Result<(), StoreError> {
        // One row per comment (the last score given wins): an upsert may not touch a row twice.
        let mut last: HashMap<CommentKey<'_>, CachedScore> = HashMap::with_capacity(scores.len());
        for &(k, s) in scores {
            last.insert(k, s);
        }
        let rows: Vec<(CommentKey<'_>, CachedScore)> = last.into_iter().collect();
        let chunks: Vec<_> = rows
            .chunks(CHUNK)
            .map(|chunk| {
                let keys: Vec<CommentKey<'_>> = chunk.iter().map(|r| r.0).collect();
                let (repos, ids) = owned(&keys);
                let neg: Vec<f64> = chunk.iter().map(|r| r.1.negative).collect();
                let unc: Vec<bool> = chunk.iter().map(|r| r.1.uncivil).collect();
                (repos, ids, neg, unc)
            })
            .collect();
        let (pool, model) = (self.pool.clone(), pg_text(model));
        self.run(async move {
            let mut c = pool.get().await?;
            c.begin().await?;
            let result = async {
                let st = c
                    .statement(
                        "INSERT INTO sentiment_scores (model, repo, event_id, negative, uncivil) \
                         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::float8[], $5::bool[]) \
                         ON CONFLICT (model, repo, event_id) \
                         DO UPDATE SET negative = EXCLUDED.negative, uncivil = EXCLUDED.uncivil",
                    )
                    .await?;
                for (repos, ids, neg, unc) in &chunks {
                    c.client()
                        .execute(&st, &[&model, repos, ids, neg, unc])
                        .await
                        .map_err(pg_err)?;
                }
                Ok::<_, StoreError>(())
            }
            .await;
            c.finish(result).await
        })
    }

    fn drop_scores_except(&self, model: &str) -> Result<u64, StoreError> {
        let (pool, model) = (self.pool.clone(), pg_text(model));
        self.run(async move {
            let mut c = pool.get().await?;
            let st = c
                .statement("DELETE FROM sentiment_scores WHERE model <> $1")
                .await?;
            c.client().execute(&st, &[&model]).await.map_err(pg_err)
        })
    }
}
