//! Scoring a walk: the figures of its rows (error, coverage, buckets, merged within 30 days),
//! the baselines beside them, what users would have been shown, and coverage month by month.

use std::collections::BTreeMap;

use super::{
    BucketRule, Figures, GoalRows, MonthCoverage, Served, WalkRow, intervals, median_pred,
};
use crate::ttm::eval::{Metrics, Preds, auc, bucket, metrics, most_likely_bucket};
use crate::ttm::features::to_log;
use crate::ttm::record::THIRTY_DAYS;

fn inside(h: f64, (lo, hi): (f64, f64)) -> bool {
    lo <= h && h <= hi
}

/// The bucket each merged row gets under `rule`.
fn buckets_by(merged: &[&WalkRow], rule: BucketRule) -> Vec<usize> {
    merged
        .iter()
        .map(|r| match rule {
            BucketRule::Head => r.head_bucket.unwrap_or(r.bucket),
            BucketRule::Mapped => r.bucket,
            BucketRule::OfMedian => bucket(r.model.p50_hours),
            BucketRule::MostLikely => {
                most_likely_bucket(r.model.p10_hours, r.model.p50_hours, r.model.p90_hours)
            }
        })
        .collect()
}

/// ROC AUC of merged-within-30-days on the rows opened at least 30 days before `end`.
fn merge_30d_auc(rows: &[WalkRow], end: i64) -> Option<f64> {
    let known: Vec<&WalkRow> = rows
        .iter()
        .filter(|r| r.created + THIRTY_DAYS <= end)
        .collect();
    auc(
        &known
            .iter()
            .map(|r| r.model.p_merge_30d)
            .collect::<Vec<_>>(),
        &known.iter().map(|r| r.merged_30d).collect::<Vec<_>>(),
    )
}

/// The baselines' figures: the running median and, when trained, the AI4CI-style classifier.
fn baselines(
    merged: &[&WalkRow],
    truth: &[f64],
    median_preds: &Preds,
) -> BTreeMap<String, Metrics> {
    let mut baselines = BTreeMap::new();
    baselines.insert(
        "running_median".to_string(),
        metrics(truth, median_preds, None),
    );
    let clf: Option<Vec<(usize, f64)>> = merged.iter().map(|r| r.clf).collect();
    if let Some(clf) = clf {
        let preds: Preds = clf.iter().map(|(_, h)| (*h, None)).collect();
        let buckets: Vec<usize> = clf.iter().map(|(b, _)| *b).collect();
        baselines.insert(
            "ai4ci_bucket_classifier".to_string(),
            metrics(truth, &preds, Some(&buckets)),
        );
    }
    baselines
}

/// What users would have seen with the fallback: the model where it was shown, else the
/// running median.
fn served_preds(merged: &[&WalkRow], model: &Preds, median: &Preds) -> Preds {
    merged
        .iter()
        .zip(model.iter().zip(median))
        .map(|(r, (m, b))| if r.shown_model { *m } else { *b })
        .collect()
}

/// The figures of what was shown (`served_preds`).
fn served(merged: &[&WalkRow], truth: &[f64], preds: &Preds) -> Served {
    let shown = metrics(truth, preds, None);
    Served {
        log_mae: shown.log_mae,
        coverage_10_90: shown.coverage_10_90.unwrap_or(0.0),
        model_share: merged.iter().filter(|r| r.shown_model).count() as f64
            / merged.len().max(1) as f64,
    }
}

/// Per merged row, what the goals' intervals resample: the log errors of the model, the running
/// median and what was shown, coverage hits and buckets (as `metrics` computes them).
fn goal_rows(
    merged: &[&WalkRow],
    truth: &[f64],
    (model, median, served): (&Preds, &Preds, &Preds),
    model_bucket: Vec<usize>,
) -> GoalRows {
    let error = |points: Vec<f64>| -> Vec<f64> {
        truth
            .iter()
            .zip(points)
            .map(|(t, p)| (to_log(*t) - to_log(p)).abs())
            .collect()
    };
    GoalRows {
        model_error: error(model.iter().map(|p| p.0).collect()),
        median_error: error(median.iter().map(|p| p.0).collect()),
        served_error: error(served.iter().map(|p| p.0).collect()),
        covered: truth
            .iter()
            .zip(model)
            .map(|(t, (_, i))| i.is_some_and(|(lo, hi)| lo <= *t && *t <= hi))
            .collect(),
        actual_bucket: truth.iter().map(|t| bucket(*t)).collect(),
        model_bucket,
        clf_bucket: merged
            .iter()
            .map(|r| r.clf.map(|(b, _)| b))
            .collect::<Option<Vec<usize>>>(),
    }
}

/// The figures of a walk's rows; `end` is the data's last opening time (the merge-within-30-days
/// figure uses the changes opened at least 30 days before it).
pub fn score(rows: &[WalkRow], end: i64, rule: BucketRule, retrains: usize) -> Figures {
    let merged: Vec<&WalkRow> = rows.iter().filter(|r| r.hours.is_some()).collect();
    let truth: Vec<f64> = merged.iter().filter_map(|r| r.hours).collect();
    let model_preds: Preds = merged
        .iter()
        .map(|r| {
            (
                r.model.p50_hours,
                Some((r.model.p10_hours, r.model.p90_hours)),
            )
        })
        .collect();
    let model_bucket = buckets_by(&merged, rule);
    let main = metrics(&truth, &model_preds, Some(&model_bucket));
    let of_median = metrics(&truth, &model_preds, None);
    let mapped = buckets_by(&merged, BucketRule::Mapped);
    let mapped = metrics(&truth, &model_preds, Some(&mapped));
    let median_preds: Preds = merged.iter().map(|r| median_pred(&r.median)).collect();
    let shown_preds = served_preds(&merged, &model_preds, &median_preds);
    let static_cov = merged
        .iter()
        .filter(|r| r.hours.is_some_and(|h| inside(h, r.static_interval)))
        .count() as f64
        / merged.len().max(1) as f64;
    Figures {
        n_test: merged.len(),
        log_mae: main.log_mae,
        median_abs_error_hours: main.median_abs_error_hours,
        coverage_10_90: main.coverage_10_90.unwrap_or(0.0),
        static_coverage_10_90: static_cov,
        bucket_accuracy: main.bucket_accuracy,
        bucket_macro_f1: main.bucket_macro_f1,
        bucket_macro_f1_of_median: of_median.bucket_macro_f1,
        bucket_macro_f1_mapped: mapped.bucket_macro_f1,
        merge_30d_auc: merge_30d_auc(rows, end),
        coverage_by_month: by_month(&merged),
        served: served(&merged, &truth, &shown_preds),
        baselines: baselines(&merged, &truth, &median_preds),
        retrains,
        intervals: intervals(&goal_rows(
            &merged,
            &truth,
            (&model_preds, &median_preds, &shown_preds),
            model_bucket,
        )),
    }
}

/// Coverage per opening month.
fn by_month(merged: &[&WalkRow]) -> Vec<MonthCoverage> {
    let mut months: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for r in merged {
        let Some(h) = r.hours else { continue };
        let m = months.entry(r.month.as_str()).or_default();
        m[0] += 1;
        m[1] += usize::from(inside(h, (r.model.p10_hours, r.model.p90_hours)));
        m[2] += usize::from(inside(h, r.static_interval));
        m[3] += usize::from(median_pred(&r.median).1.is_some_and(|i| inside(h, i)));
    }
    months
        .into_iter()
        .map(|(month, [n, a, s, b])| {
            let share = |k: usize| k as f64 / n.max(1) as f64;
            MonthCoverage {
                month: month.to_string(),
                n,
                coverage: share(a),
                static_coverage: share(s),
                running_median_coverage: share(b),
            }
        })
        .collect()
}
