//! A change as training and evaluation data: when it was opened, whether and when it merged,
//! and its features at opening.

use serde::{Deserialize, Serialize};

use super::features::TtmFeatures;

/// Thirty days, in seconds.
pub const THIRTY_DAYS: i64 = 30 * 86_400;

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrRecord {
    /// Repository.
    pub repo: String,
    /// PR or change number.
    pub number: u64,
    /// Opened, epoch seconds.
    pub created_at: i64,
    /// Merged, epoch seconds.
    pub merged_at: Option<i64>,
    /// Closed (merged or not), epoch seconds.
    pub closed_at: Option<i64>,
    /// Features at opening.
    pub features: TtmFeatures,
    /// The five size features (`FINAL_SIZE` order) measured when the change was opened, where
    /// `features` holds final totals (Gousios data with the `*_at_open` columns); NaN: unknown.
    #[serde(default, with = "nan_size")]
    pub size_at_open: Option<[f64; 5]>,
}

impl PrRecord {
    /// Hours from opening to merge, for merged changes.
    pub fn hours_to_merge(&self) -> Option<f64> {
        self.merged_at
            .map(|m| (m - self.created_at).max(0) as f64 / 3600.0)
    }

    /// Whether it merged within 30 days of opening (the probability target).
    pub fn merged_within_30d(&self) -> bool {
        self.merged_at
            .is_some_and(|m| m - self.created_at <= THIRTY_DAYS)
    }
}

/// NaN survives JSON as null.
mod nan_size {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<[f64; 5]>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|a| a.map(|x| (!x.is_nan()).then_some(x)))
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f64; 5]>, D::Error> {
        let v: Option<[Option<f64>; 5]> = Option::deserialize(d)?;
        Ok(v.map(|a| a.map(|x| x.unwrap_or(f64::NAN))))
    }
}
