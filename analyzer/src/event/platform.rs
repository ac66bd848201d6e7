//! Where an event came from: the platform an adapter read it from.

use serde::{Deserialize, Serialize};

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// A local git history read by the git adapter.
    Git,
    /// A GitHub webhook delivery or API backfill.
    Github,
    /// A Gerrit stream event, webhook or REST backfill (Zuul reports included).
    Gerrit,
}

impl Platform {
    /// The lower-case name used in JSON, CLI flags and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Git => "git",
            Platform::Github => "github",
            Platform::Gerrit => "gerrit",
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
