//! Time-to-merge features: a fixed, named vector known at the moment of prediction (opening,
//! a push, a review request), grouped for explanations. Missing values are NaN: the trees send
//! them to the better side. Two sources fill it: stored events (`history`) and the columns of
//! the Gousios pull-request dataset (`gousios`).

use serde::{Deserialize, Serialize};

/// Number of features.
pub const N: usize = 26;

/// Feature names, in vector order.
pub const NAMES: [&str; N] = [
    "lines_changed_log",
    "files_changed",
    "test_share",
    "doc_only",
    "author_prior_changes",
    "author_merge_rate",
    "first_time_contributor",
    "author_core_member",
    "backlog_open_changes",
    "recent_median_ttm_log",
    "hour_utc",
    "weekday_utc",
    "team_size",
    "recent_activity_on_files",
    "from_same_repository",
    "title_length",
    "description_length",
    "title_kind",
    "draft_or_wip",
    "labels",
    "reviewers_requested",
    "reviewer_open_load",
    "author_median_ttm_log",
    "short_median_ttm_log",
    "hours_since_last_merge_log",
    "merges_last_7_days",
];

/// Feature indices (so code reads by name).
#[allow(missing_docs)]
pub mod idx {
    pub const LINES: usize = 0;
    pub const FILES: usize = 1;
    pub const TEST_SHARE: usize = 2;
    pub const DOC_ONLY: usize = 3;
    pub const PRIOR: usize = 4;
    pub const MERGE_RATE: usize = 5;
    pub const FIRST_TIME: usize = 6;
    pub const CORE: usize = 7;
    pub const BACKLOG: usize = 8;
    pub const RECENT_MEDIAN: usize = 9;
    pub const HOUR: usize = 10;
    pub const WEEKDAY: usize = 11;
    pub const TEAM: usize = 12;
    pub const FILE_ACTIVITY: usize = 13;
    pub const SAME_REPO: usize = 14;
    pub const TITLE_LEN: usize = 15;
    pub const DESC_LEN: usize = 16;
    pub const TITLE_KIND: usize = 17;
    pub const DRAFT: usize = 18;
    pub const LABELS: usize = 19;
    pub const REVIEWERS: usize = 20;
    pub const REVIEWER_LOAD: usize = 21;
    pub const AUTHOR_MEDIAN: usize = 22;
    pub const SHORT_MEDIAN: usize = 23;
    pub const SINCE_LAST_MERGE: usize = 24;
    pub const MERGES_WEEK: usize = 25;
}

/// Explanation groups: (name shown in words, features).
pub const GROUPS: [(&str, &[usize]); 9] = [
    (
        "size",
        &[idx::LINES, idx::FILES, idx::TEST_SHARE, idx::DOC_ONLY],
    ),
    (
        "author",
        &[
            idx::PRIOR,
            idx::MERGE_RATE,
            idx::FIRST_TIME,
            idx::CORE,
            idx::SAME_REPO,
            idx::AUTHOR_MEDIAN,
        ],
    ),
    ("backlog", &[idx::BACKLOG]),
    (
        "pace",
        &[
            idx::RECENT_MEDIAN,
            idx::SHORT_MEDIAN,
            idx::SINCE_LAST_MERGE,
            idx::MERGES_WEEK,
        ],
    ),
    ("timing", &[idx::HOUR, idx::WEEKDAY]),
    ("team", &[idx::TEAM, idx::FILE_ACTIVITY]),
    ("text", &[idx::TITLE_LEN, idx::DESC_LEN, idx::TITLE_KIND]),
    ("state", &[idx::DRAFT, idx::LABELS]),
    ("reviewers", &[idx::REVIEWERS, idx::REVIEWER_LOAD]),
];

/// The group a feature belongs to.
pub fn group_of(feature: usize) -> usize {
    GROUPS
        .iter()
        .position(|(_, fs)| fs.contains(&feature))
        .unwrap_or(0)
}

/// One feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TtmFeatures(#[serde(with = "nan_array")] pub [f64; N]);

impl Default for TtmFeatures {
    fn default() -> Self {
        TtmFeatures([f64::NAN; N])
    }
}

/// Kinds of change a title announces, by its keywords.
pub fn title_kind(title: &str) -> f64 {
    let t = title.to_ascii_lowercase();
    let has = |ws: &[&str]| {
        ws.iter().any(|w| {
            t.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|x| x == *w)
        })
    };
    if has(&["revert"]) {
        4.0
    } else if has(&["bump", "deps", "dependency", "dependencies", "upgrade"]) {
        3.0
    } else if has(&["docs", "doc", "documentation", "readme", "typo"]) {
        2.0
    } else if has(&["fix", "fixes", "bug", "bugfix", "hotfix"]) {
        1.0
    } else {
        0.0
    }
}

/// The target: hours to merge on the model's scale, ln(1 + hours).
pub fn to_log(hours: f64) -> f64 {
    hours.max(0.0).ln_1p()
}

/// Back from the model's scale to hours.
pub fn from_log(v: f64) -> f64 {
    v.exp_m1().max(0.0)
}

/// NaN survives JSON as null.
mod nan_array {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::N;

    pub fn serialize<S: Serializer>(v: &[f64; N], s: S) -> Result<S::Ok, S::Error> {
        let opts: Vec<Option<f64>> = v.iter().map(|x| (!x.is_nan()).then_some(*x)).collect();
        opts.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; N], D::Error> {
        let opts: Vec<Option<f64>> = Vec::deserialize(d)?;
        let mut out = [f64::NAN; N];
        for (o, v) in out.iter_mut().zip(opts) {
            *o = v.unwrap_or(f64::NAN);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_is_in_exactly_one_group_and_kinds_read_titles() {
        for (f, name) in NAMES.iter().enumerate() {
            assert_eq!(
                GROUPS.iter().filter(|(_, fs)| fs.contains(&f)).count(),
                1,
                "{name}"
            );
        }
        assert_eq!(title_kind("Fix crash on empty input"), 1.0);
        assert_eq!(title_kind("docs: typo in README"), 2.0);
        assert_eq!(title_kind("Bump serde from 1.0.1 to 1.0.2"), 3.0);
        assert_eq!(title_kind("Revert \"Add cache\""), 4.0);
        assert_eq!(title_kind("Add a widget"), 0.0);
        assert_eq!(title_kind("prefix-fixture update"), 0.0);
        let f = TtmFeatures::default();
        let back: TtmFeatures = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert!(back.0.iter().all(|x| x.is_nan()));
    }
}
