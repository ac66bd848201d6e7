//! Events on PostgreSQL: idempotent bulk inserts (`ON CONFLICT DO NOTHING` on the event's
//! (repository, id)), an index row per person named, and time-ordered scans.

use canopy_analyzer::Event;
use tokio_postgres::types::ToSql;

use super::pool::Pooled;
use super::{Param, PgStore, pg_err, pg_text};
use crate::{EventStore, StoreError, TimeRange, Visit, decode_event};

const INSERT_EVENTS: &str = "INSERT INTO events (repo, id, at_ms, change_number, head_sha, data) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::bytea[]) \
     ON CONFLICT (repo, id) DO NOTHING RETURNING repo, id";

const INSERT_ACTORS: &str = "INSERT INTO event_actors (actor_key, at_ms, repo, id) \
     SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING";

/// Events per insert statement.
const CHUNK: usize = 1024;

/// Inserts the events not stored yet (inside the caller's transaction, if any); returns how
/// many were new.
pub(super) async fn insert(c: &mut Pooled, events: &[Event]) -> Result<usize, StoreError> {
    let mut new = 0;
    for chunk in events.chunks(CHUNK) {
        new += insert_chunk(c, chunk).await?;
    }
    Ok(new)
}

async fn insert_chunk(c: &mut Pooled, events: &[Event]) -> Result<usize, StoreError> {
    let n = events.len();
    let (mut repos, mut ids, mut ats) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut changes, mut shas, mut data) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ev in events {
        repos.push(pg_text(&ev.repo));
        ids.push(pg_text(&ev.id));
        ats.push(ev.at_millis());
        changes.push(
            ev.change_number()
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        );
        shas.push(ev.head_sha().map(pg_text));
        data.push(crate::encode(ev)?);
    }
    let st = c.statement(INSERT_EVENTS).await?;
    let params: [&(dyn ToSql + Sync); 6] = [&repos, &ids, &ats, &changes, &shas, &data];
    let inserted = c.client().query(&st, &params).await.map_err(pg_err)?;
    if inserted.is_empty() {
        return Ok(0);
    }
    let mut fresh = std::collections::HashSet::with_capacity(inserted.len());
    for row in &inserted {
        let repo: String = row.try_get(0).map_err(pg_err)?;
        let id: String = row.try_get(1).map_err(pg_err)?;
        fresh.insert((repo, id));
    }
    let (mut keys, mut a_ats, mut a_repos, mut a_ids) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, ev) in events.iter().enumerate() {
        // The first copy of a new event in this batch carries its index rows.
        if !fresh.remove(&(repos[i].clone(), ids[i].clone())) {
            continue;
        }
        let mut seen: Vec<&str> = Vec::new();
        for a in ev.actors() {
            if !seen.contains(&a.key.as_str()) {
                seen.push(&a.key);
                keys.push(pg_text(&a.key));
                a_ats.push(ats[i]);
                a_repos.push(repos[i].clone());
                a_ids.push(ids[i].clone());
            }
        }
    }
    if !keys.is_empty() {
        let st = c.statement(INSERT_ACTORS).await?;
        let params: [&(dyn ToSql + Sync); 4] = [&keys, &a_ats, &a_repos, &a_ids];
        c.client().execute(&st, &params).await.map_err(pg_err)?;
    }
    Ok(inserted.len())
}

impl PgStore {
    fn scan_events(
        &self,
        sql: &'static str,
        params: Vec<Param>,
        visit: Visit<'_>,
    ) -> Result<(), StoreError> {
        self.scan_bytes(sql, params, &mut |bytes| Ok(visit(decode_event(bytes)?)))
    }
}

impl EventStore for PgStore {
    fn put_events(&self, events: &[Event]) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let (pool, events) = (self.pool.clone(), events.to_vec());
        self.run(async move {
            let mut c = pool.get().await?;
            c.begin().await?;
            match insert(&mut c, &events).await {
                Ok(n) => {
                    c.commit().await?;
                    Ok(n)
                }
                Err(e) => {
                    c.rollback().await;
                    Err(e)
                }
            }
        })
    }

    fn has_event(&self, repo: &str, id: &str) -> Result<bool, StoreError> {
        let rows = self.query(
            "SELECT 1 FROM events WHERE repo = $1 AND id = $2",
            vec![Param::Text(pg_text(repo)), Param::Text(pg_text(id))],
        )?;
        Ok(!rows.is_empty())
    }

    fn event_ids(&self, repo: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        // Byte-wise prefix match: ids in [prefix, prefix + U+10FFFF) under the "C" collation.
        let prefix = pg_text(prefix);
        let upper = format!("{prefix}\u{10FFFF}");
        let rows = self.query(
            "SELECT id FROM events WHERE repo = $1 AND id >= $2 AND id < $3 ORDER BY id",
            vec![
                Param::Text(pg_text(repo)),
                Param::Text(prefix.clone()),
                Param::Text(upper),
            ],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get(0).map_err(pg_err)?;
            if id.starts_with(&prefix) {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn scan_repo(&self, repo: &str, range: TimeRange, visit: Visit<'_>) -> Result<(), StoreError> {
        self.scan_events(
            "SELECT data FROM events WHERE repo = $1 AND at_ms >= $2 AND at_ms < $3 ORDER BY at_ms, id",
            vec![
                Param::Text(pg_text(repo)),
                Param::Int(range.from_millis()),
                Param::Int(range.to_millis()),
            ],
            visit,
        )
    }

    fn scan_actor(
        &self,
        actor_key: &str,
        range: TimeRange,
        visit: Visit<'_>,
    ) -> Result<(), StoreError> {
        self.scan_events(
            "SELECT e.data FROM event_actors a JOIN events e ON e.repo = a.repo AND e.id = a.id \
             WHERE a.actor_key = $1 AND a.at_ms >= $2 AND a.at_ms < $3 ORDER BY a.at_ms, a.repo, a.id",
            vec![
                Param::Text(pg_text(actor_key)),
                Param::Int(range.from_millis()),
                Param::Int(range.to_millis()),
            ],
            visit,
        )
    }

    fn scan_change(&self, repo: &str, number: u64, visit: Visit<'_>) -> Result<(), StoreError> {
        self.scan_events(
            "SELECT data FROM events WHERE repo = $1 AND change_number = $2 ORDER BY at_ms, id",
            vec![
                Param::Text(pg_text(repo)),
                Param::Int(i64::try_from(number).unwrap_or(i64::MAX)),
            ],
            visit,
        )
    }

    fn scan_sha(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        self.scan_events(
            "SELECT data FROM events WHERE repo = $1 AND head_sha = $2 ORDER BY at_ms, id",
            vec![Param::Text(pg_text(repo)), Param::Text(pg_text(sha))],
            visit,
        )
    }

    fn repos(&self) -> Result<Vec<String>, StoreError> {
        // A loose index scan: one index probe per repository instead of reading every event.
        let rows = self.query(
            "WITH RECURSIVE r AS ( \
               (SELECT repo FROM events ORDER BY repo LIMIT 1) \
               UNION ALL \
               SELECT (SELECT e.repo FROM events e WHERE e.repo > r.repo ORDER BY e.repo LIMIT 1) \
               FROM r WHERE r.repo IS NOT NULL) \
             SELECT repo FROM r WHERE repo IS NOT NULL",
            Vec::new(),
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(r.try_get::<_, String>(0).map_err(pg_err)?);
        }
        Ok(out)
    }
}
