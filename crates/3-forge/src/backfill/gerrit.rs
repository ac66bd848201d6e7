//! Backfill from Gerrit's REST API: changes of a project with every revision and message. Each
//! revision, state change and message becomes the stream event Gerrit would have sent and goes
//! through the same normaliser (Zuul reports included), so ids match webhook deliveries: those
//! of comments use the message's timestamp where a stream event has `eventCreatedOn`, which
//! agree to the second in Gerrit's own events.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::github::BackfillError;
use super::{Progress, with_retries};
use crate::gerrit::client::{GerritClient, parse_gerrit_time};
use crate::gerrit::normalize::{GerritNormalizeConfig, normalize};
use crate::percent_encode;
use canopy_store::Store;

/// Changes per query page.
pub const PAGE: usize = 100;

fn state_key(project: &str) -> String {
    format!("backfill:gerrit:{project}")
}

fn ts(gerrit_time: &Value) -> Option<i64> {
    gerrit_time
        .as_str()
        .and_then(parse_gerrit_time)
        .map(|t| t.timestamp())
}

/// Votes from a message's first line: `Patch Set 2: Code-Review+2 Verified-1`.
fn votes(message: &str) -> Vec<Value> {
    let first = message.lines().next().unwrap_or("");
    let Some((_, rest)) = first.split_once(':') else {
        return vec![];
    };
    rest.split_whitespace()
        .filter_map(|w| {
            let i = w.rfind(['+', '-'])?;
            let (label, value) = w.split_at(i);
            let v: i32 = value.parse().ok()?;
            (!label.is_empty()).then(|| json!({ "type": label, "value": v.to_string() }))
        })
        .collect()
}

/// Counts of what a run stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Changes read.
    pub changes: u64,
    /// Events newly stored.
    pub new_events: u64,
    /// Offset the run started from (non-zero when resuming).
    pub resumed_from: u64,
}

/// Imports a project's changes updated after `since` into the store.
pub async fn run(
    client: &GerritClient,
    store: &dyn Store,
    cfg: &GerritNormalizeConfig,
    project: &str,
    since: Option<DateTime<Utc>>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Summary, BackfillError> {
    let mut summary = Summary::default();
    let mut offset: u64 = store
        .get_meta(&state_key(project))?
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    summary.resumed_from = offset;
    let mut query = format!("project:{project}");
    if let Some(s) = since {
        query.push_str(&format!(" after:\"{}\"", s.format("%Y-%m-%d %H:%M:%S")));
    }
    let now = client.clock().now();
    loop {
        let path = format!(
            "/changes/?q={}&o=ALL_REVISIONS&o=MESSAGES&o=DETAILED_ACCOUNTS&n={PAGE}&S={offset}",
            percent_encode(&query)
        );
        let page: Vec<Value> =
            with_retries(client.clock(), || client.get::<Vec<Value>>(&path)).await?;
        let more = page
            .last()
            .and_then(|c| c["_more_changes"].as_bool())
            .unwrap_or(false);
        for change in &page {
            let events = change_events(change, cfg, now);
            summary.new_events += store.put_events(&events)? as u64;
            summary.changes += 1;
            progress(Progress {
                what: format!("{project}~{}", change["_number"]),
                done: summary.changes,
                new_events: summary.new_events,
            });
        }
        offset += page.len() as u64;
        store.put_meta(&state_key(project), offset.to_string().as_bytes())?;
        if !more || page.is_empty() {
            // Finished: the next run queries everything again (cheap: events are idempotent).
            store.put_meta(&state_key(project), b"0")?;
            break;
        }
    }
    Ok(summary)
}

/// The stream events a change's REST record stands for, normalised.
fn change_events(
    c: &Value,
    cfg: &GerritNormalizeConfig,
    now: DateTime<Utc>,
) -> Vec<canopy_analyzer::Event> {
    let number = c["_number"].clone();
    let change = json!({
        "project": c["project"], "branch": c["branch"], "id": c["change_id"], "number": number,
        "subject": c["subject"], "owner": c["owner"], "status": c["status"],
        "createdOn": ts(&c["created"]), "wip": c["work_in_progress"].as_bool().unwrap_or(false),
        "hashtags": c["hashtags"],
    });
    let mut revisions: Vec<(u64, Value)> = c["revisions"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(sha, r)| {
                    let n = r["_number"].as_u64().unwrap_or(0);
                    (n, json!({ "number": n, "revision": sha, "createdOn": ts(&r["created"]), "uploader": r["uploader"] }))
                })
                .collect()
        })
        .unwrap_or_default();
    revisions.sort_by_key(|(n, _)| *n);
    let mut streams: Vec<Value> = Vec::new();
    for (_, ps) in &revisions {
        streams.push(json!({ "type": "patchset-created", "change": change, "patchSet": ps, "uploader": ps["uploader"], "eventCreatedOn": ps["createdOn"] }));
    }
    let ps_of = |n: u64| {
        revisions
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, p)| p.clone())
            .unwrap_or(Value::Null)
    };
    let latest = revisions
        .last()
        .map(|(_, p)| p.clone())
        .unwrap_or(Value::Null);
    for m in c["messages"].as_array().cloned().unwrap_or_default() {
        let text = m["message"].as_str().unwrap_or("");
        let rev = m["_revision_number"].as_u64().unwrap_or(0);
        streams.push(json!({
            "type": "comment-added", "change": change, "patchSet": ps_of(rev), "author": m["author"],
            "approvals": votes(text), "comment": text, "eventCreatedOn": ts(&m["date"]),
        }));
    }
    match c["status"].as_str() {
        Some("MERGED") => streams.push(json!({ "type": "change-merged", "change": change, "patchSet": latest, "submitter": c["submitter"], "eventCreatedOn": ts(&c["submitted"]).or(ts(&c["updated"])) })),
        Some("ABANDONED") => streams.push(json!({ "type": "change-abandoned", "change": change, "patchSet": latest, "eventCreatedOn": ts(&c["updated"]) })),
        _ => {}
    }
    let mut events = Vec::new();
    for s in streams {
        let body = serde_json::to_vec(&s).unwrap_or_default();
        match normalize(&body, cfg, now) {
            Ok(n) => events.extend(n.events),
            Err(e) => {
                tracing::warn!(change = %number, error = %e, "a backfilled Gerrit record could not be read; skipped")
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_are_read_from_the_message_header() {
        let v = votes("Patch Set 2: Code-Review+2 Verified-1\n\nShip it");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["type"], "Code-Review");
        assert_eq!(v[1]["value"], "-1");
        assert!(votes("Patch Set 1:\n\nrecheck").is_empty());
    }
}
