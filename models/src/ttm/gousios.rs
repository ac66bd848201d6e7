//! Rows of the Gousios pull-request dataset (MSR 2014) as training records. Only columns known
//! when a PR is opened become features; columns observed afterwards (comments, participants,
//! conflicts, forward links, how it was merged, its lifetime) are never read. History features
//! (backlog, the repository's recent pace) are computed from earlier rows only.

use chrono::{DateTime, Datelike, Timelike};
use serde::Deserialize;

use super::features::{TtmFeatures, idx, to_log};
use super::record::PrRecord;
use super::running_median::RunningMedian;

/// The columns Canopy reads. Deserialising ignores every other column, so post-hoc columns
/// cannot reach the model.
#[derive(Debug, Clone, Deserialize)]
pub struct GousiosRow {
    /// `owner/name`.
    pub project_name: String,
    /// PR number.
    pub github_id: u64,
    /// Created, epoch seconds.
    pub created_at: i64,
    /// Merged, epoch seconds (empty if not merged).
    pub merged_at: Option<i64>,
    /// Closed, epoch seconds.
    pub closed_at: Option<i64>,
    /// Core team size at PR time.
    pub team_size: Option<f64>,
    /// Files changed.
    pub files_changed: Option<f64>,
    /// Documentation files changed.
    pub doc_files: Option<f64>,
    /// Lines changed in source files.
    pub src_churn: Option<f64>,
    /// Lines changed in test files.
    pub test_churn: Option<f64>,
    /// Recent commits on the files the PR touches.
    pub commits_on_files_touched: Option<f64>,
    /// Requester's earlier PRs.
    pub prev_pullreqs: Option<f64>,
    /// Share of the requester's earlier PRs that were merged.
    pub requester_succ_rate: Option<f64>,
    /// PR from a branch of the same repository.
    pub intra_branch: Option<String>,
    /// Requester is a core member.
    pub main_team_member: Option<String>,
    /// Requester's login (only to find the same author's earlier PRs; never a feature itself).
    #[serde(default)]
    pub requester: Option<String>,
}

/// The columns deliberately not used, with why (documented and tested).
pub const EXCLUDED: [(&str, &str); 11] = [
    (
        "num_commits",
        "commits pushed until the PR closed, including rework asked for in review",
    ),
    ("num_commit_comments", "comments written after opening"),
    ("num_issue_comments", "comments written after opening"),
    ("num_comments", "comments written after opening"),
    (
        "num_participants",
        "people who joined the discussion after opening",
    ),
    ("conflict", "a merge conflict discussed after opening"),
    ("forward_links", "links to later PRs"),
    ("merged_using", "how the PR was eventually merged"),
    ("lifetime_minutes", "the outcome itself"),
    ("mergetime_minutes", "the outcome itself"),
    (
        "followers",
        "the requester's follower count when the dataset was collected, not at PR time",
    ),
];

/// Features this dataset only holds as the PR's final totals — lines and files changed count
/// the rework pushed during review, and the activity on the files touched is measured over the
/// final set of files — so a model given them sees part of the outcome. The evaluation's
/// headline leaves them out (the live bot measures size at the head when it predicts).
pub const FINAL_SIZE: [usize; 5] = [
    idx::LINES,
    idx::FILES,
    idx::TEST_SHARE,
    idx::DOC_ONLY,
    idx::FILE_ACTIVITY,
];

fn flag(v: &Option<String>) -> f64 {
    match v.as_deref().map(str::trim) {
        Some("true") | Some("1") => 1.0,
        Some("false") | Some("0") => 0.0,
        _ => f64::NAN,
    }
}

fn opt(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

/// Turns dataset rows into records, computing history features from earlier rows of the same
/// project only.
// Long: one feature a few lines, in `idx` order, each from its dataset column.
pub fn records(rows: &[GousiosRow]) -> Vec<PrRecord> {
    let mut rows: Vec<&GousiosRow> = rows.iter().collect();
    rows.sort_by_key(|r| (r.created_at, r.github_id));
    let mut closed: Vec<i64> = rows
        .iter()
        .map(|r| r.closed_at.unwrap_or(i64::MAX))
        .collect();
    closed.sort_unstable();
    let running = RunningMedian::new(
        rows.iter()
            .filter_map(|r| {
                r.merged_at
                    .map(|m| (m, (m - r.created_at).max(0) as f64 / 3600.0))
            })
            .collect(),
    );
    // Each requester's merges, for their running median of time to merge.
    let mut by_author: std::collections::HashMap<&str, Vec<(i64, f64)>> = Default::default();
    for r in &rows {
        if let (Some(a), Some(m)) = (r.requester.as_deref(), r.merged_at) {
            by_author
                .entry(a)
                .or_default()
                .push((m, (m - r.created_at).max(0) as f64 / 3600.0));
        }
    }
    let by_author: std::collections::HashMap<&str, RunningMedian> = by_author
        .into_iter()
        .map(|(a, v)| (a, RunningMedian::new(v)))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let t = r.created_at;
        let mut f = TtmFeatures::default().0;
        let src = opt(r.src_churn);
        let test = opt(r.test_churn);
        let churn = src.max(0.0) + test.max(0.0);
        f[idx::LINES] = if src.is_nan() && test.is_nan() {
            f64::NAN
        } else {
            churn.ln_1p()
        };
        f[idx::FILES] = opt(r.files_changed);
        f[idx::TEST_SHARE] = if churn > 0.0 {
            test.max(0.0) / churn
        } else {
            f64::NAN
        };
        f[idx::DOC_ONLY] = match (r.doc_files, r.files_changed) {
            (Some(d), Some(n)) if n > 0.0 => f64::from(u8::from(d >= n)),
            _ => f64::NAN,
        };
        let prior = opt(r.prev_pullreqs);
        f[idx::PRIOR] = prior;
        f[idx::MERGE_RATE] = if prior > 0.0 {
            opt(r.requester_succ_rate)
        } else {
            f64::NAN
        };
        f[idx::FIRST_TIME] = if prior.is_nan() {
            f64::NAN
        } else {
            f64::from(u8::from(prior == 0.0))
        };
        f[idx::CORE] = flag(&r.main_team_member);
        f[idx::SAME_REPO] = flag(&r.intra_branch);
        // Open changes at t: created before t and not closed by t.
        let created_before = i as f64;
        let closed_by = closed.partition_point(|c| *c <= t) as f64;
        f[idx::BACKLOG] = (created_before - closed_by).max(0.0);
        // The running median of time to merge before t.
        f[idx::RECENT_MEDIAN] = running.median_at(t).map_or(f64::NAN, to_log);
        f[idx::AUTHOR_MEDIAN] = r
            .requester
            .as_deref()
            .and_then(|a| by_author.get(a))
            .and_then(|rm| rm.median_at(t))
            .map_or(f64::NAN, to_log);
        if let Some(dt) = DateTime::from_timestamp(t, 0) {
            f[idx::HOUR] = f64::from(dt.hour());
            f[idx::WEEKDAY] = f64::from(dt.weekday().num_days_from_monday());
        }
        f[idx::TEAM] = opt(r.team_size);
        f[idx::FILE_ACTIVITY] = opt(r.commits_on_files_touched);
        out.push(PrRecord {
            repo: r.project_name.clone(),
            number: r.github_id,
            created_at: t,
            merged_at: r.merged_at,
            closed_at: r.closed_at,
            features: TtmFeatures(f),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64, created: i64, merged: Option<i64>, closed: Option<i64>) -> GousiosRow {
        GousiosRow {
            project_name: "o/r".into(),
            github_id: id,
            created_at: created,
            merged_at: merged,
            closed_at: closed,
            team_size: Some(5.0),
            files_changed: Some(2.0),
            doc_files: Some(0.0),
            src_churn: Some(30.0),
            test_churn: Some(10.0),
            commits_on_files_touched: Some(3.0),
            prev_pullreqs: Some(0.0),
            requester_succ_rate: Some(0.0),
            intra_branch: Some("false".into()),
            main_team_member: Some("true".into()),
            requester: Some("ada".into()),
        }
    }

    #[test]
    fn history_features_only_see_the_past() {
        let h = 3600;
        let rows = vec![
            row(1, 0, Some(10 * h), Some(10 * h)),
            row(2, 5 * h, None, Some(100 * h)),
            row(3, 20 * h, Some(30 * h), Some(30 * h)),
        ];
        let r = records(&rows);
        // PR 2 at 5h: PR 1 is open (closes at 10h); nothing merged yet.
        assert_eq!(r[1].features.0[idx::BACKLOG], 1.0);
        assert!(r[1].features.0[idx::RECENT_MEDIAN].is_nan());
        // PR 3 at 20h: PR 1 merged (10 h), PR 2 still open.
        assert_eq!(r[2].features.0[idx::BACKLOG], 1.0);
        assert!((r[2].features.0[idx::RECENT_MEDIAN] - to_log(10.0)).abs() < 1e-12);
        // The same requester's earlier merge (PR 1, 10 hours) is PR 3's author median.
        assert!((r[2].features.0[idx::AUTHOR_MEDIAN] - to_log(10.0)).abs() < 1e-12);
        assert!(r[1].features.0[idx::AUTHOR_MEDIAN].is_nan());
        // PR 3's own merge (at 30h) is in no feature of PR 3.
        let mut later = rows.clone();
        later[2].merged_at = Some(99 * h);
        later[2].closed_at = Some(99 * h);
        let bits = |f: &TtmFeatures| f.0.map(f64::to_bits);
        assert_eq!(bits(&records(&later)[2].features), bits(&r[2].features));
        assert_eq!(r[0].features.0[idx::FIRST_TIME], 1.0);
        assert!(r[0].features.0[idx::MERGE_RATE].is_nan());
        assert!((r[0].features.0[idx::TEST_SHARE] - 0.25).abs() < 1e-12);
    }
}
