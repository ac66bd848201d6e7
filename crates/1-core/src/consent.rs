//! Consent: who opted in to (or out of) person-level analysis, when and how.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One person's choice. The latest record per identity wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The identity (`Actor::key`).
    pub actor_key: String,
    /// Opted in (true) or out (false).
    pub opted_in: bool,
    /// When.
    pub at: DateTime<Utc>,
    /// How (`github comment canopy-demo/widgets#7`, `config`).
    pub via: String,
}
