//! Turning stored deliveries into events: the dispatcher the inbox's workers call, and the
//! error type of the platform normalisers.

use canopy_analyzer::Platform;

use crate::gerrit::normalize::GerritNormalizeConfig;
use canopy_core::{Delivery, Normalize, Normalized};

/// Why a delivery could not be turned into events (it goes to quarantine with this message).
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    /// The body is not the JSON expected (with serde's line, column and field).
    #[error("malformed payload: {0}")]
    Json(String),
    /// A field the event type needs is absent.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A field has a value that cannot be used.
    #[error("invalid `{field}`: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl From<serde_json::Error> for NormalizeError {
    fn from(e: serde_json::Error) -> Self {
        NormalizeError::Json(e.to_string())
    }
}

/// The production normaliser: GitHub or Gerrit by the delivery's platform.
#[derive(Debug, Clone, Default)]
pub struct PlatformNormalizer {
    /// Gerrit instance settings.
    pub gerrit: GerritNormalizeConfig,
}

impl Normalize for PlatformNormalizer {
    fn normalize(&self, d: &Delivery) -> Result<Normalized, String> {
        let result = match d.platform {
            Platform::Github => {
                crate::github::normalize::normalize(&d.event, &d.id, &d.body, d.received_at)
            }
            Platform::Gerrit => {
                crate::gerrit::normalize::normalize(&d.body, &self.gerrit, d.received_at)
            }
            Platform::Git => return Err("git deliveries do not exist".into()),
        };
        result.map_err(|e| e.to_string())
    }
}
