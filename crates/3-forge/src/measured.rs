//! The inbox delivery that measured CI energy enters the store as. Canopy's measurement loop
//! queries Prometheus after a job ends and files the result (a `ci_energy_measured` event per
//! job) as a delivery of the job's platform, so it is stored before it is processed, processed
//! in order with the repository's other deliveries, and the reactor refreshes the change's
//! comment as after any webhook.

use canopy_analyzer::{Event, EventKind, Platform};
use canopy_core::Delivery;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `event` name of a measurement delivery (never sent by GitHub or Gerrit).
pub const DELIVERY_EVENT: &str = "canopy_energy_measured";

/// The body of a measurement delivery.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliveryBody {
    /// The repository (read by [`Delivery::ordering_key`], so the delivery is processed in
    /// order with the repository's others).
    pub project: String,
    /// The measurement events, all of this repository and platform.
    pub events: Vec<Event>,
}

/// One inbox delivery for a repository's measurement events of one turn (so that a Zuul
/// buildset's jobs, measured together, give one Gerrit message). Its id is derived from the
/// events, so a turn repeated after a crash is stored once.
pub fn delivery(
    platform: Platform,
    repo: &str,
    events: Vec<Event>,
    now: DateTime<Utc>,
) -> Delivery {
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let first = ids.first().copied().unwrap_or_default();
    let id = format!(
        "canopy-energy:{first}+{}:{:016x}",
        ids.len().saturating_sub(1),
        fnv1a(ids.join("\n").as_bytes())
    );
    let body = DeliveryBody {
        project: repo.to_string(),
        events,
    };
    Delivery {
        platform,
        id,
        event: DELIVERY_EVENT.to_string(),
        received_at: now,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

/// Reads a measurement delivery back: its events, checked to be measurements of the delivery's
/// platform and repository.
pub fn read_delivery(platform: Platform, body: &[u8]) -> Result<Vec<Event>, String> {
    let b: DeliveryBody =
        serde_json::from_slice(body).map_err(|e| format!("malformed measurement delivery: {e}"))?;
    for e in &b.events {
        if !matches!(e.kind, EventKind::CiEnergyMeasured(_))
            || e.platform != platform
            || e.repo != b.project
        {
            return Err(format!(
                "measurement delivery holds event {} that is not a {platform} measurement of {}",
                e.id, b.project
            ));
        }
    }
    Ok(b.events)
}

/// FNV-1a, 64 bits: a stable digest of the event ids for the delivery id.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_analyzer::event::{EnergyMeasuredEvent, MeasureOutcome};

    fn measured(repo: &str, platform: Platform) -> Event {
        Event::new(
            "energy:gh:job:1:1:1",
            platform,
            repo,
            "2026-11-05T12:00:00Z".parse().unwrap(),
            EventKind::CiEnergyMeasured(EnergyMeasuredEvent {
                job_id: "gh:job:1:1".into(),
                name: "build".into(),
                source: "kepler".into(),
                change: None,
                patchset: None,
                head_sha: Some("abc".into()),
                attempt: 1,
                outcome: MeasureOutcome::Measured {
                    joules: 36_000.0,
                    series: 1,
                    coverage: 1.0,
                },
            }),
        )
    }

    #[test]
    fn a_delivery_reads_back_and_refuses_what_is_not_a_measurement_of_its_repository() {
        let now = "2026-11-05T12:00:00Z".parse().unwrap();
        let ev = measured("acme/widgets", Platform::Github);
        let d = delivery(Platform::Github, "acme/widgets", vec![ev.clone()], now);
        assert_eq!(d.ordering_key(), "acme/widgets");
        assert_eq!(d.event, DELIVERY_EVENT);
        assert!(d.id.starts_with("canopy-energy:energy:gh:job:1:1:1+0:"));
        let again = delivery(Platform::Github, "acme/widgets", vec![ev.clone()], now);
        assert_eq!(d.id, again.id, "the id is derived from the events");
        assert_eq!(read_delivery(Platform::Github, &d.body).unwrap(), vec![ev]);
        let err = read_delivery(Platform::Gerrit, &d.body).unwrap_err();
        assert!(err.contains("not a gerrit measurement"), "{err}");
        let other = delivery(
            Platform::Github,
            "acme/widgets",
            vec![measured("acme/other", Platform::Github)],
            now,
        );
        assert!(read_delivery(Platform::Github, &other.body).is_err());
        assert!(
            read_delivery(Platform::Github, b"{}")
                .unwrap_err()
                .contains("malformed measurement delivery")
        );
    }
}
