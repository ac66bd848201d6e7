//! Events on PostgreSQL: idempotent bulk inserts (`ON CONFLICT DO NOTHING` on the event's
//! (repository, id)), an index row per person named, and time-ordered scans. Each row keeps
//! the event's kind and CI job key beside it, so the reads the reactor makes per delivery
//! (the change of a commit, a commit's jobs, a job's runs, the changes' summaries) are index
//! lookups (schema version 2).

use std::ops::ControlFlow;

use canopy_analyzer::change_summary::ChangeSummary;
use canopy_analyzer::{Event, EventKind};
use tokio_postgres::types::ToSql;

use super::pool::Pooled;
use super::{Param, PgStore, pg_err, pg_text};
use crate::{EventStore, StoreError, TimeRange, Visit, VisitSummary, decode_event};

const INSERT_EVENTS: &str = "INSERT INTO events \
     (repo, id, at_ms, change_number, head_sha, data, kind, job_key) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::bytea[], \
     $7::text[], $8::text[]) \
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
    let (mut kinds, mut jobs) = (Vec::with_capacity(n), Vec::with_capacity(n));
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
        kinds.push(ev.kind_name());
        jobs.push(match &ev.kind {
            EventKind::CiJobFinished(j) => Some(pg_text(&j.job_key())),
            _ => None,
        });
    }
    let st = c.statement(INSERT_EVENTS).await?;
    let params: [&(dyn ToSql + Sync); 8] =
        [&repos, &ids, &ats, &changes, &shas, &data, &kinds, &jobs];
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

    fn change_of_sha(&self, repo: &str, sha: &str) -> Result<Option<u64>, StoreError> {
        let rows = self.query(
            "SELECT change_number FROM events \
             WHERE repo = $1 AND head_sha = $2 AND kind = 'change' ORDER BY at_ms, id LIMIT 1",
            vec![Param::Text(pg_text(repo)), Param::Text(pg_text(sha))],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let n: Option<i64> = row.try_get(0).map_err(pg_err)?;
        Ok(n.map(|n| n.max(0) as u64))
    }

    fn scan_sha_jobs(&self, repo: &str, sha: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        self.scan_events(
            "SELECT data FROM events \
             WHERE repo = $1 AND head_sha = $2 \
             AND kind IN ('ci_job_finished', 'ci_energy_measured') ORDER BY at_ms, id",
            vec![Param::Text(pg_text(repo)), Param::Text(pg_text(sha))],
            visit,
        )
    }

    fn scan_job(&self, repo: &str, job: &str, visit: Visit<'_>) -> Result<(), StoreError> {
        self.scan_events(
            "SELECT data FROM events WHERE repo = $1 AND job_key = $2 ORDER BY at_ms, id",
            vec![Param::Text(pg_text(repo)), Param::Text(pg_text(job))],
            visit,
        )
    }

    fn scan_change_summaries(&self, repo: &str, visit: VisitSummary<'_>) -> Result<(), StoreError> {
        // The change and review events by change (an index range), folded here: replicas
        // writing the same change never contend for a summary row.
        let mut current: Option<(u64, ChangeSummary)> = None;
        let mut stopped = false;
        self.scan_events(
            "SELECT data FROM events WHERE repo = $1 AND kind IN ('change', 'review') \
             ORDER BY change_number, at_ms, id",
            vec![Param::Text(pg_text(repo))],
            &mut |e| {
                let Some(n) = e.change_number() else {
                    return ControlFlow::Continue(());
                };
                if let Some((m, s)) = current.take_if(|(m, _)| *m != n)
                    && visit(m, s).is_break()
                {
                    stopped = true;
                    return ControlFlow::Break(());
                }
                current
                    .get_or_insert_with(|| (n, ChangeSummary::default()))
                    .1
                    .add(&e);
                ControlFlow::Continue(())
            },
        )?;
        if !stopped && let Some((m, s)) = current {
            let _ = visit(m, s);
        }
        Ok(())
    }
}
