//! A webhook delivery and its life in the inbox: stored before it is acknowledged,
//! deduplicated by delivery id, queued, then processed, ignored or quarantined.

use canopy_analyzer::Platform;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A webhook delivery as received: the raw body and the little the handler knew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Platform that sent it.
    pub platform: Platform,
    /// Delivery id (GitHub's `X-GitHub-Delivery`; for Gerrit, a digest of the body).
    pub id: String,
    /// Event name (`X-GitHub-Event`, or Gerrit's `type`).
    pub event: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The raw body, byte for byte.
    #[serde(skip)]
    pub body: Vec<u8>,
}

impl Delivery {
    /// The repository (GitHub `owner/name`) or Gerrit project the delivery is about, read from
    /// its body; empty when the body names none (a ping, an unreadable body). Deliveries with
    /// the same key are processed in arrival order, by one worker of one replica at a time.
    pub fn ordering_key(&self) -> String {
        #[derive(Deserialize)]
        struct Full {
            full_name: Option<String>,
            project: Option<String>,
        }
        #[derive(Deserialize)]
        struct Probe {
            repository: Option<Full>,
            change: Option<Full>,
            #[serde(rename = "refUpdate")]
            ref_update: Option<Full>,
            project: Option<String>,
        }
        let repo = serde_json::from_slice::<Probe>(&self.body)
            .ok()
            .and_then(|p| {
                p.repository
                    .and_then(|r| r.full_name)
                    .or(p.change.and_then(|c| c.project))
                    .or(p.ref_update.and_then(|r| r.project))
                    .or(p.project)
            });
        repo.unwrap_or_default()
    }
}

/// Where a delivery is in its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    /// Stored, waiting to be turned into events.
    Pending,
    /// Turned into events.
    Processed {
        /// Events it produced (new and already known).
        events: u32,
        /// When it was processed.
        at: DateTime<Utc>,
    },
    /// Stored but deliberately not processed (unknown event type, ping...).
    Ignored {
        /// Why.
        reason: String,
        /// When it was decided.
        at: DateTime<Utc>,
    },
    /// Could not be turned into events; kept with the error until retried.
    Quarantined {
        /// The normalisation error.
        error: String,
        /// When it was quarantined.
        at: DateTime<Utc>,
    },
}

impl DeliveryState {
    /// The state a delivery's completed work leaves it in at `at`: ignored for `ignored`'s
    /// reason when there is one, otherwise processed into `events` events.
    pub fn completed(ignored: Option<String>, events: usize, at: DateTime<Utc>) -> DeliveryState {
        match ignored {
            Some(reason) => DeliveryState::Ignored { reason, at },
            None => DeliveryState::Processed {
                events: events as u32,
                at,
            },
        }
    }
}

/// A delivery's stored record, without its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// The delivery (its `body` is empty here; the store reads it separately).
    #[serde(flatten)]
    pub delivery: Delivery,
    /// Size of the raw body in bytes.
    pub body_len: u64,
    /// Position in the processing queue.
    pub seq: u64,
    /// Times it has been processed (1 after a normal life; more only after `inbox retry`).
    #[serde(default)]
    pub attempts: u32,
    /// Current state.
    #[serde(flatten)]
    pub state: DeliveryState,
}

/// A pending delivery handed to a worker.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Queue position.
    pub seq: u64,
    /// The delivery with its body.
    pub delivery: Delivery,
    /// Its ordering key ([`Delivery::ordering_key`]), read once by the store that claimed it.
    pub key: String,
}

/// Short name of a state, as printed by `canopy inbox list`.
pub fn state_name(s: &DeliveryState) -> &'static str {
    match s {
        DeliveryState::Pending => "pending",
        DeliveryState::Processed { .. } => "processed",
        DeliveryState::Ignored { .. } => "ignored",
        DeliveryState::Quarantined { .. } => "quarantined",
    }
}
