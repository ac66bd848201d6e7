//! How the demo processes its inbox: as the server's worker pool does, each repository's
//! deliveries one at a time in arrival order (so each reaction sees the events before it), and
//! different repositories side by side, one lane per repository spread over the cores.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

use canopy_core::{Delivery, Normalize, WriteOp};
use canopy_server::pool::{Drained, decide};
use canopy_service::react::React;
use canopy_store::{Store, StoreError};
use chrono::{DateTime, Utc};

/// Deliveries grouped by repository (their ordering key), each group in arrival order.
pub fn lanes(batch: &[Delivery]) -> Vec<Vec<&Delivery>> {
    let mut by_key: BTreeMap<String, Vec<&Delivery>> = BTreeMap::new();
    for d in batch {
        by_key.entry(d.ordering_key()).or_default().push(d);
    }
    by_key.into_values().collect()
}

/// Processes `batch`, already stored in the inbox, with `normalizer` and `reactor` at `now`,
/// on up to `threads` threads; returns what became of the deliveries. A panic while deciding
/// quarantines the delivery, as in the worker pool.
pub fn process(
    store: &dyn Store,
    batch: &[Delivery],
    normalizer: &dyn Normalize,
    reactor: &dyn React,
    now: DateTime<Utc>,
    threads: usize,
) -> Result<Drained, StoreError> {
    let mut groups: Vec<Vec<Vec<&Delivery>>> = vec![Vec::new(); threads.max(1)];
    // The longest lanes first, each to the least loaded thread.
    let mut all = lanes(batch);
    all.sort_by_key(|l| std::cmp::Reverse(l.len()));
    for lane in all {
        if let Some(g) = groups
            .iter_mut()
            .min_by_key(|g| g.iter().map(Vec::len).sum::<usize>())
        {
            g.push(lane);
        }
    }
    let results: Vec<Result<Drained, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .into_iter()
            .filter(|g| !g.is_empty())
            .map(|g| {
                s.spawn(move || {
                    let mut n = Drained::default();
                    for d in g.into_iter().flatten() {
                        one(store, d, normalizer, reactor, now, &mut n)?;
                    }
                    Ok(n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(StoreError::Db("a demo lane panicked".into())))
            })
            .collect()
    });
    let mut total = Drained::default();
    for r in results {
        let n = r?;
        total.processed += n.processed;
        total.ignored += n.ignored;
        total.quarantined += n.quarantined;
    }
    Ok(total)
}

/// Decides one delivery and writes the outcome (its events and actions, or its quarantine).
fn one(
    store: &dyn Store,
    d: &Delivery,
    normalizer: &dyn Normalize,
    reactor: &dyn React,
    now: DateTime<Utc>,
    n: &mut Drained,
) -> Result<(), StoreError> {
    let op = std::panic::catch_unwind(AssertUnwindSafe(|| {
        decide(normalizer, reactor, store, d, now)
    }))
    .unwrap_or_else(|_| WriteOp::Quarantine {
        platform: d.platform,
        id: d.id.clone(),
        error: "deciding actions panicked".into(),
        at: now,
    });
    match &op {
        WriteOp::Complete {
            ignored: Some(_), ..
        } => n.ignored += 1,
        WriteOp::Complete { .. } => n.processed += 1,
        _ => n.quarantined += 1,
    }
    store.apply_writes(vec![op])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_core::Platform;

    fn d(id: &str, repo: &str) -> Delivery {
        Delivery {
            platform: Platform::Github,
            id: id.into(),
            event: "issue_comment".into(),
            received_at: DateTime::UNIX_EPOCH,
            body: format!(r#"{{"repository":{{"full_name":"{repo}"}}}}"#).into_bytes(),
        }
    }

    #[test]
    fn each_repository_is_one_lane_in_arrival_order() {
        let batch = [d("1", "o/a"), d("2", "o/b"), d("3", "o/a"), d("4", "o/b")];
        let ids: Vec<Vec<&str>> = lanes(&batch)
            .iter()
            .map(|l| l.iter().map(|d| d.id.as_str()).collect())
            .collect();
        assert_eq!(ids, [["1", "3"], ["2", "4"]]);
    }
}
