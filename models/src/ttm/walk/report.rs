//! What the walk-forward evaluation reports: the figures of each walk, and the report of a
//! history with its three walks (headline, without size, with the final size).

use std::collections::BTreeMap;

use serde::Serialize;

use super::super::eval::Metrics;
use super::super::global::GlobalModel;
use super::{Intervals, PoolInfo};

/// Coverage of one calendar month's test changes (by opening month, UTC).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthCoverage {
    /// "2013-05".
    pub month: String,
    /// Merged test changes opened that month.
    pub n: usize,
    /// Inside the adaptive 10–90% interval.
    pub coverage: f64,
    /// Inside the static split-conformal interval.
    pub static_coverage: f64,
    /// Inside the running median's 10–90% range.
    pub running_median_coverage: f64,
}

/// What users would have seen: the model where the fallback showed it, else the running median.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Served {
    /// Log-MAE of what was shown.
    pub log_mae: f64,
    /// Coverage of the range shown.
    pub coverage_10_90: f64,
    /// Share of test changes shown the model.
    pub model_share: f64,
}

/// The figures of one walk (one feature set).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Merged changes tested on.
    pub n_test: usize,
    /// Mean absolute error of ln(1 + hours) of the model's median.
    pub log_mae: f64,
    /// Median absolute error in hours.
    pub median_abs_error_hours: f64,
    /// Share inside the adaptive 10–90% interval (target: 0.80).
    pub coverage_10_90: f64,
    /// Share inside the static split-conformal interval, for comparison.
    pub static_coverage_10_90: f64,
    /// Accuracy on AI4CI's ten buckets.
    pub bucket_accuracy: f64,
    /// Macro-F1 on AI4CI's ten buckets.
    pub bucket_macro_f1: f64,
    /// Macro-F1 of the bucket the predicted median falls in (the rule before the bucket head).
    pub bucket_macro_f1_of_median: f64,
    /// Macro-F1 of the predicted median mapped through recent merges (`buckets`).
    pub bucket_macro_f1_mapped: f64,
    /// ROC AUC of the merged-within-30-days probability on test changes whose outcome is known.
    pub merge_30d_auc: Option<f64>,
    /// Coverage per calendar month.
    pub coverage_by_month: Vec<MonthCoverage>,
    /// With the fallback.
    pub served: Served,
    /// Baselines by name, with the same figures.
    pub baselines: BTreeMap<String, Metrics>,
    /// Models trained inside the test window.
    pub retrains: usize,
    /// The goals' figures with 95% paired bootstrap intervals, and a verdict per goal.
    pub intervals: Intervals,
}

/// The size features a walk's headline used in place of the final totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SizeFeatures {
    /// The size when the change was opened (the `*_at_open` columns), NaN where unknown.
    #[serde(rename = "at_open")]
    AtOpen,
    /// No size features.
    #[serde(rename = "none")]
    Absent,
}

/// The evaluation report (`canopy ttm eval --format json`). The headline figures (at the top
/// level) are leak-free: with the size at opening where the data has it (`size_features`), never
/// with the size features that datasets only hold as final totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Repositories in the data.
    pub repos: Vec<String>,
    /// Merged changes known at the start of the test window.
    pub n_train: usize,
    /// Test-window start (epoch seconds).
    pub split_at: i64,
    /// Weeks between retrainings.
    pub retrain_every_weeks: f64,
    /// Leak-free figures (the headline).
    #[serde(flatten)]
    pub leak_free: Figures,
    /// The size features the headline used.
    pub size_features: SizeFeatures,
    /// The model's log-MAE without any size feature (`None` unless the headline used the size
    /// at opening).
    pub log_mae_without_size: Option<f64>,
    /// Every figure without any size feature (`None` unless the headline used the size at
    /// opening).
    pub without_size: Option<Figures>,
    /// The model's log-MAE with the final-size features (`None` when the data has none).
    pub log_mae_with_final_size: Option<f64>,
    /// Every figure with the final-size features.
    pub with_final_size: Option<Figures>,
    /// The other repositories' histories the median model also learned from (`None`: none).
    pub pool: Option<PoolInfo>,
    /// The cross-repository model the median was blended with (`None`: the own model alone).
    pub global: Option<GlobalInfo>,
    /// Weight of the model's own median against the running median's (1: the model alone).
    pub model_weight: f64,
}

/// What the median was blended with (`global` of the report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalInfo {
    /// Histories the cross-repository model learned from.
    pub histories: usize,
    /// Merged changes it learned from.
    pub changes: usize,
    /// Its share of the median.
    pub weight: f64,
    /// A repository evaluated is among its histories: the figures are in-sample.
    pub in_sample: bool,
}

impl GlobalInfo {
    /// The report's entry for `global` and the evaluated `repos` ("owner/name", matched to its
    /// training files "owner@name.csv").
    pub(super) fn of(global: &GlobalModel, repos: &[String]) -> GlobalInfo {
        GlobalInfo {
            histories: global.trained_on.len(),
            changes: global.n_changes,
            weight: global.weight,
            in_sample: repos.iter().any(|r| {
                let file = format!("{}.csv", r.replace('/', "@"));
                global
                    .trained_on
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&file))
            }),
        }
    }
}
