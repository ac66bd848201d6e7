//! Claims on pending deliveries and due actions, in memory: a redb file is open in one process
//! only, so a claim never needs to outlive it (after a crash everything is claimable again).

use std::collections::HashMap;

use canopy_core::{Platform, WriteOp};
use chrono::{DateTime, Utc};

use crate::Claim;

/// Who holds what until when.
#[derive(Debug, Default)]
pub(super) struct Claims {
    deliveries: HashMap<(Platform, String), (String, DateTime<Utc>)>,
    /// The ordering key (repository) of each claimed delivery.
    delivery_keys: HashMap<(Platform, String), String>,
    actions: HashMap<String, (String, DateTime<Utc>)>,
    leases: HashMap<String, (String, DateTime<Utc>)>,
}

/// Takes `key` for `claim` unless it is held by an unexpired claim (the claimant's own
/// included: what it claimed is in its hands until completed or lapsed).
fn take<K: std::hash::Hash + Eq>(
    held: &mut HashMap<K, (String, DateTime<Utc>)>,
    key: K,
    claim: &Claim,
) -> bool {
    if held.get(&key).is_some_and(|(_, until)| *until > claim.now) {
        return false;
    }
    held.insert(key, (claim.owner.clone(), claim.until));
    true
}

impl Claims {
    /// Claims a delivery; false when someone holds it.
    pub(super) fn take_delivery(
        &mut self,
        platform: Platform,
        id: &str,
        key: &str,
        claim: &Claim,
    ) -> bool {
        let taken = take(&mut self.deliveries, (platform, id.to_string()), claim);
        if taken {
            self.delivery_keys
                .insert((platform, id.to_string()), key.to_string());
        }
        taken
    }

    /// Whether a delivery is held by an unexpired claim, and if by another claimant than
    /// `claim`'s, the ordering key it blocks.
    pub(super) fn held(&self, platform: Platform, id: &str, claim: &Claim) -> Option<Option<&str>> {
        let k = (platform, id.to_string());
        let (owner, until) = self.deliveries.get(&k)?;
        if *until <= claim.now {
            return None;
        }
        Some((*owner != claim.owner).then(|| self.delivery_keys.get(&k).map_or("", String::as_str)))
    }

    /// Claims an outbox item; false when someone else holds it.
    pub(super) fn take_action(&mut self, id: &str, claim: &Claim) -> bool {
        take(&mut self.actions, id.to_string(), claim)
    }

    /// Takes or renews a named lease: granted when free, lapsed, or already the claimant's.
    pub(super) fn take_lease(&mut self, name: &str, claim: &Claim) -> bool {
        if let Some((owner, until)) = self.leases.get(name)
            && *owner != claim.owner
            && *until > claim.now
        {
            return false;
        }
        self.leases
            .insert(name.to_string(), (claim.owner.clone(), claim.until));
        true
    }

    /// Lets go of a lease if `owner` holds it.
    pub(super) fn release_lease(&mut self, name: &str, owner: &str) {
        if self.leases.get(name).is_some_and(|(o, _)| o == owner) {
            self.leases.remove(name);
        }
    }

    /// Lets go of what a committed batch of writes completed.
    pub(super) fn release(&mut self, done: &Released) {
        for d in &done.deliveries {
            self.deliveries.remove(d);
            self.delivery_keys.remove(d);
        }
        for a in &done.actions {
            self.actions.remove(a);
        }
    }
}

/// The deliveries and actions a batch of writes completes.
#[derive(Debug, Default)]
pub(super) struct Released {
    deliveries: Vec<(Platform, String)>,
    actions: Vec<String>,
}

impl Released {
    /// What `ops` complete: processed or quarantined deliveries, actions with a result.
    pub(super) fn of(ops: &[WriteOp]) -> Released {
        let mut r = Released::default();
        for op in ops {
            match op {
                WriteOp::Complete { platform, id, .. }
                | WriteOp::Quarantine { platform, id, .. } => {
                    r.deliveries.push((*platform, id.clone()))
                }
                WriteOp::OutboxDone { id, .. } | WriteOp::OutboxFailed { id, .. } => {
                    r.actions.push(id.clone())
                }
                WriteOp::Receive(_)
                | WriteOp::Retry { .. }
                | WriteOp::Enqueue(..)
                | WriteOp::OutboxRetry { .. }
                | WriteOp::ScheduledRun { .. } => {}
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_exclusive_until_it_lapses() {
        let t0: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let lease = chrono::Duration::minutes(5);
        let mut c = Claims::default();
        assert!(c.take_action("a", &Claim::new("w1", t0, lease)));
        assert!(!c.take_action("a", &Claim::new("w2", t0, lease)));
        assert!(
            !c.take_action("a", &Claim::new("w1", t0, lease)),
            "not twice"
        );
        let later = t0 + lease;
        assert!(
            c.take_action("a", &Claim::new("w2", later, lease)),
            "lapsed"
        );
        c.release(&Released {
            deliveries: vec![],
            actions: vec!["a".into()],
        });
        assert!(c.take_action("a", &Claim::new("w3", later, lease)));
    }
}
