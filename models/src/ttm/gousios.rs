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
    /// `src_churn` when the PR was opened (rebuilt from git history; empty: unknown).
    #[serde(default)]
    pub src_churn_at_open: Option<f64>,
    /// `test_churn` when the PR was opened.
    #[serde(default)]
    pub test_churn_at_open: Option<f64>,
    /// `files_changed` when the PR was opened.
    #[serde(default)]
    pub files_changed_at_open: Option<f64>,
    /// `doc_files` when the PR was opened.
    #[serde(default)]
    pub doc_files_at_open: Option<f64>,
    /// `commits_on_files_touched` when the PR was opened.
    #[serde(default)]
    pub commits_on_files_touched_at_open: Option<f64>,
}

/// A PR's size columns, as final totals or at opening.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeColumns {
    /// Lines changed in source files.
    pub src_churn: Option<f64>,
    /// Lines changed in test files.
    pub test_churn: Option<f64>,
    /// Files changed.
    pub files_changed: Option<f64>,
    /// Documentation files changed.
    pub doc_files: Option<f64>,
    /// Recent commits on the files touched.
    pub commits_on_files_touched: Option<f64>,
}

impl SizeColumns {
    /// The five size features in [`FINAL_SIZE`] order: lines changed (log), files, test share,
    /// documentation only, activity on the files touched. The same formulas serve final totals
    /// and sizes at opening.
    pub fn features(&self) -> [f64; 5] {
        let src = opt(self.src_churn);
        let test = opt(self.test_churn);
        let churn = src.max(0.0) + test.max(0.0);
        let lines = if src.is_nan() && test.is_nan() {
            f64::NAN
        } else {
            churn.ln_1p()
        };
        let test_share = if churn > 0.0 {
            test.max(0.0) / churn
        } else {
            f64::NAN
        };
        let doc_only = match (self.doc_files, self.files_changed) {
            (Some(d), Some(n)) if n > 0.0 => f64::from(u8::from(d >= n)),
            _ => f64::NAN,
        };
        [
            lines,
            opt(self.files_changed),
            test_share,
            doc_only,
            opt(self.commits_on_files_touched),
        ]
    }

    /// Whether any column has a value.
    fn any(&self) -> bool {
        [
            self.src_churn,
            self.test_churn,
            self.files_changed,
            self.doc_files,
            self.commits_on_files_touched,
        ]
        .iter()
        .any(Option::is_some)
    }
}

impl GousiosRow {
    /// The size columns as the dataset has them: the PR's final totals.
    pub fn final_size(&self) -> SizeColumns {
        SizeColumns {
            src_churn: self.src_churn,
            test_churn: self.test_churn,
            files_changed: self.files_changed,
            doc_files: self.doc_files,
            commits_on_files_touched: self.commits_on_files_touched,
        }
    }

    /// The size columns when the PR was opened (the `*_at_open` columns).
    pub fn size_at_open(&self) -> SizeColumns {
        SizeColumns {
            src_churn: self.src_churn_at_open,
            test_churn: self.test_churn_at_open,
            files_changed: self.files_changed_at_open,
            doc_files: self.doc_files_at_open,
            commits_on_files_touched: self.commits_on_files_touched_at_open,
        }
    }
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
/// headline leaves them out, or takes them from the `*_at_open` columns where a file has them
/// (the live bot measures size at the head when it predicts).
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
/// project only. The five size features come from the final columns; from the `*_at_open`
/// columns, by the same formulas, they go to `size_at_open` (`None` when a row has none of them).
// Long: one feature a few lines, each from its dataset column (the five size features from
// `SizeColumns::features`, the rest in `idx` order).
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
        for (&k, v) in FINAL_SIZE.iter().zip(r.final_size().features()) {
            f[k] = v;
        }
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
        running.pace_at(t).fill(&mut f);
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
        let at_open = r.size_at_open();
        out.push(PrRecord {
            repo: r.project_name.clone(),
            number: r.github_id,
            created_at: t,
            merged_at: r.merged_at,
            closed_at: r.closed_at,
            features: TtmFeatures(f),
            size_at_open: at_open.any().then(|| at_open.features()),
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
            src_churn_at_open: None,
            test_churn_at_open: None,
            files_changed_at_open: None,
            doc_files_at_open: None,
            commits_on_files_touched_at_open: None,
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

    /// Rows of a CSV in the dataset's columns, as `canopy ttm eval` reads them.
    fn parse(csv: &str) -> Vec<GousiosRow> {
        csv::Reader::from_reader(csv.as_bytes())
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    const HEAD: &str = "project_name,github_id,created_at,merged_at,closed_at,team_size,files_changed,doc_files,src_churn,test_churn,commits_on_files_touched,prev_pullreqs,requester_succ_rate,intra_branch,main_team_member,requester";

    #[test]
    fn sizes_at_opening_get_the_formulas_of_the_final_sizes() {
        let at_open = "src_churn_at_open,test_churn_at_open,files_changed_at_open,doc_files_at_open,commits_on_files_touched_at_open";
        let csv = format!(
            "{HEAD},{at_open}\n\
             o/r,1,0,3600,3600,5,4,0,300,100,9,0,0,false,true,ada,30,10,2,0,3\n\
             o/r,2,10,,20,5,4,4,300,100,9,0,0,false,true,ada,,,2,2,\n\
             o/r,3,20,,30,5,4,0,300,100,9,0,0,false,true,ada,,,,,\n"
        );
        let r = records(&parse(&csv));
        let bits = |v: [f64; 5]| v.map(f64::to_bits);
        let final_of = |r: &PrRecord| FINAL_SIZE.map(|k| r.features.0[k]);
        // The final columns keep giving the features (400 lines, a quarter of them tests).
        assert!((r[0].features.0[idx::LINES] - 401f64.ln()).abs() < 1e-12);
        assert_eq!(r[0].features.0[idx::FILE_ACTIVITY], 9.0);
        // PR 1 at opening: 40 lines, a quarter tests, 2 files, not only docs, 3 commits.
        let open = r[0].size_at_open.unwrap();
        assert_eq!(
            bits(open),
            bits([41f64.ln(), 2.0, 0.25, 0.0, 3.0]),
            "{open:?}"
        );
        // The same formulas: at-open columns equal to the final ones give the final features.
        let mut rows = parse(&csv);
        rows[0].src_churn_at_open = rows[0].src_churn;
        rows[0].test_churn_at_open = rows[0].test_churn;
        rows[0].files_changed_at_open = rows[0].files_changed;
        rows[0].doc_files_at_open = rows[0].doc_files;
        rows[0].commits_on_files_touched_at_open = rows[0].commits_on_files_touched;
        let same = records(&rows);
        assert_eq!(
            bits(same[0].size_at_open.unwrap()),
            bits(final_of(&same[0]))
        );
        // PR 2: empty cells are unknown (no lines, no test share, no activity); two doc files of
        // two is documentation only.
        let open = r[1].size_at_open.unwrap();
        assert!(
            open[0].is_nan() && open[2].is_nan() && open[4].is_nan(),
            "{open:?}"
        );
        assert_eq!((open[1], open[3]), (2.0, 1.0));
        // PR 3: every at-open cell empty.
        assert_eq!(r[2].size_at_open, None);
        // A CSV without the columns has no sizes at opening, and the same final features.
        let plain = format!(
            "{HEAD}\n\
             o/r,1,0,3600,3600,5,4,0,300,100,9,0,0,false,true,ada\n"
        );
        let p = records(&parse(&plain));
        assert_eq!(p[0].size_at_open, None);
        assert_eq!(bits(final_of(&p[0])), bits(final_of(&r[0])));
    }

    #[test]
    fn sizes_at_opening_survive_json_with_unknowns() {
        let mut r = records(&[row(1, 0, Some(3600), Some(3600))]).remove(0);
        r.size_at_open = Some([1.0, f64::NAN, 0.5, 0.0, 3.0]);
        let back: PrRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        let bits = |v: [f64; 5]| v.map(f64::to_bits);
        assert_eq!(
            bits(back.size_at_open.unwrap()),
            bits(r.size_at_open.unwrap())
        );
        // A record stored before the field existed reads as without it.
        let mut old = serde_json::to_value(&r).unwrap();
        old.as_object_mut().unwrap().remove("size_at_open");
        let back: PrRecord = serde_json::from_value(old).unwrap();
        assert_eq!(back.size_at_open, None);
    }
}
