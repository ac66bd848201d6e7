//! Evaluation of the time-to-merge model on a time-ordered split (train on the past, test on the
//! future, never shuffled) against two baselines: the repository's running median, and a
//! classifier over AI4CI's ten time buckets.

use std::collections::BTreeMap;

use serde::Serialize;

use super::features::{from_log, to_log};
use super::model::{Scope, TrainConfig, TtmModel};
use super::record::{PrRecord, THIRTY_DAYS};
use crate::gbt::{self, Gbt, Loss, quantile};

/// AI4CI's bucket edges in hours (openshift/origin time-to-merge classes).
pub const AI4CI_EDGES: [f64; 9] = [3.0, 6.0, 15.0, 24.0, 36.0, 60.0, 112.0, 190.0, 462.0];

/// The AI4CI bucket of a time to merge: the number of edges it exceeds (0–9).
pub fn bucket(hours: f64) -> usize {
    AI4CI_EDGES.iter().filter(|e| hours > **e).count()
}

/// Figures of one predictor on the test changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Mean absolute error of ln(1 + hours).
    pub log_mae: f64,
    /// Median absolute error in hours.
    pub median_abs_error_hours: f64,
    /// Share of test changes inside the predicted 10–90% interval (`None` without intervals).
    pub coverage_10_90: Option<f64>,
    /// Accuracy on AI4CI's ten buckets.
    pub bucket_accuracy: f64,
    /// Macro-averaged F1 on AI4CI's ten buckets.
    pub bucket_macro_f1: f64,
}

/// The evaluation report (`canopy ttm eval --format json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Repositories in the data.
    pub repos: Vec<String>,
    /// Merged changes trained on.
    pub n_train: usize,
    /// Merged changes tested on.
    pub n_test: usize,
    /// Mean absolute error of ln(1 + hours).
    pub log_mae: f64,
    /// Median absolute error in hours.
    pub median_abs_error_hours: f64,
    /// Share of test changes inside the 10–90% interval (target: 0.80).
    pub coverage_10_90: f64,
    /// Accuracy on AI4CI's ten buckets.
    pub bucket_accuracy: f64,
    /// Macro-F1 on AI4CI's ten buckets.
    pub bucket_macro_f1: f64,
    /// ROC AUC of the merged-within-30-days probability on test changes whose outcome is known.
    pub merge_30d_auc: Option<f64>,
    /// Baselines by name, with the same figures.
    pub baselines: BTreeMap<String, Metrics>,
    /// Test-period start (epoch seconds): every training change was opened before it.
    pub split_at: i64,
}

/// Predictions for the test changes: (point estimate, optional 10–90% interval) in hours.
type Preds = Vec<(f64, Option<(f64, f64)>)>;

/// Standard normal CDF (Abramowitz–Stegun 7.1.26, error < 1.5e-7).
fn phi(z: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.3275911 * z.abs() / std::f64::consts::SQRT_2);
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-(z * z) / 2.0).exp();
    if z >= 0.0 {
        0.5 * (1.0 + y)
    } else {
        0.5 * (1.0 - y)
    }
}

/// The most probable AI4CI bucket under a predicted distribution: a split normal on ln(1 + h)
/// through the 10th, 50th and 90th percentiles.
pub fn most_likely_bucket(p10: f64, p50: f64, p90: f64) -> usize {
    let (l10, l50, l90) = (p10.ln_1p(), p50.ln_1p(), p90.ln_1p());
    let sl = ((l50 - l10) / 1.2816).max(1e-6);
    let sr = ((l90 - l50) / 1.2816).max(1e-6);
    let cdf = |h: f64| {
        let x = h.ln_1p();
        if x <= l50 {
            phi((x - l50) / sl)
        } else {
            phi((x - l50) / sr)
        }
    };
    let mut edges = vec![0.0];
    edges.extend(AI4CI_EDGES);
    edges.push(f64::INFINITY);
    (0..10)
        .map(|b| {
            let hi = if edges[b + 1].is_infinite() {
                1.0
            } else {
                cdf(edges[b + 1])
            };
            (b, hi - cdf(edges[b]))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(b, _)| b)
}

fn metrics(truth: &[f64], preds: &Preds, point_bucket: Option<&[usize]>) -> Metrics {
    let n = truth.len().max(1) as f64;
    let log_mae = truth
        .iter()
        .zip(preds)
        .map(|(t, (p, _))| (to_log(*t) - to_log(*p)).abs())
        .sum::<f64>()
        / n;
    let mut abs: Vec<f64> = truth
        .iter()
        .zip(preds)
        .map(|(t, (p, _))| (t - p).abs())
        .collect();
    let median_abs_error_hours = quantile(&mut abs, 0.5);
    let coverage_10_90 = preds.first().and_then(|(_, i)| *i).map(|_| {
        truth
            .iter()
            .zip(preds)
            .filter(|(t, (_, i))| i.is_some_and(|(lo, hi)| lo <= **t && **t <= hi))
            .count() as f64
            / n
    });
    let predicted: Vec<usize> = match point_bucket {
        Some(b) => b.to_vec(),
        None => preds.iter().map(|(p, _)| bucket(*p)).collect(),
    };
    let actual: Vec<usize> = truth.iter().map(|t| bucket(*t)).collect();
    let (bucket_accuracy, bucket_macro_f1) = accuracy_and_macro_f1(&actual, &predicted, 10);
    Metrics {
        log_mae,
        median_abs_error_hours,
        coverage_10_90,
        bucket_accuracy,
        bucket_macro_f1,
    }
}

/// Accuracy and macro-F1 over `k` classes (classes absent from both truth and predictions are
/// left out of the average, as scikit-learn does with `labels` unset).
pub fn accuracy_and_macro_f1(actual: &[usize], predicted: &[usize], k: usize) -> (f64, f64) {
    let n = actual.len().max(1) as f64;
    let acc = actual.iter().zip(predicted).filter(|(a, p)| a == p).count() as f64 / n;
    let mut f1s = Vec::new();
    for c in 0..k {
        let tp = actual
            .iter()
            .zip(predicted)
            .filter(|(a, p)| **a == c && **p == c)
            .count() as f64;
        let fp = actual
            .iter()
            .zip(predicted)
            .filter(|(a, p)| **a != c && **p == c)
            .count() as f64;
        let fneg = actual
            .iter()
            .zip(predicted)
            .filter(|(a, p)| **a == c && **p != c)
            .count() as f64;
        if tp + fp + fneg == 0.0 {
            continue;
        }
        f1s.push(if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (2.0 * tp + fp + fneg)
        });
    }
    (acc, f1s.iter().sum::<f64>() / f1s.len().max(1) as f64)
}

/// ROC AUC (Mann–Whitney), `None` when a class is missing.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = labels.iter().filter(|l| **l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    // Average ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += pairs[i..=j].iter().filter(|p| p.1).count() as f64 * avg;
        i = j + 1;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Evaluates on `records`: the first `1 − test_fraction` (by opening time) train, the rest test.
pub fn evaluate(
    records: &[PrRecord],
    test_fraction: f64,
    cfg: &TrainConfig,
) -> Result<EvalReport, super::model::TtmError> {
    let mut sorted: Vec<PrRecord> = records.to_vec();
    sorted.sort_by_key(|r| (r.created_at, r.number));
    let cut = ((sorted.len() as f64) * (1.0 - test_fraction.clamp(0.01, 0.99))).round() as usize;
    let split_at = sorted.get(cut).map_or(i64::MAX, |r| r.created_at);
    // Training data is what was known at the split: outcomes after it are not visible.
    let train: Vec<PrRecord> = sorted[..cut]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if r.merged_at.is_some_and(|m| m >= split_at) {
                r.merged_at = None;
            }
            if r.closed_at.is_some_and(|c| c >= split_at) {
                r.closed_at = None;
            }
            r
        })
        .collect();
    let test: Vec<&PrRecord> = sorted[cut..]
        .iter()
        .filter(|r| r.merged_at.is_some())
        .collect();
    let mut repos: Vec<String> = records.iter().map(|r| r.repo.clone()).collect();
    repos.sort();
    repos.dedup();
    let model = TtmModel::train(
        &train,
        Scope::Pooled {
            repos: repos.clone(),
            reason: "evaluation".into(),
        },
        cfg,
    )?;
    let truth: Vec<f64> = test.iter().filter_map(|r| r.hours_to_merge()).collect();
    let predictions: Vec<_> = test.iter().map(|r| model.predict(&r.features)).collect();
    let model_preds: Preds = predictions
        .iter()
        .map(|p| (p.p50_hours, Some((p.p10_hours, p.p90_hours))))
        .collect();
    let buckets: Vec<usize> = predictions
        .iter()
        .map(|p| most_likely_bucket(p.p10_hours, p.p50_hours, p.p90_hours))
        .collect();
    let main = metrics(&truth, &model_preds, Some(&buckets));
    // Merge-within-30-days on test changes whose 30 days ended before the data did.
    let end = sorted.iter().map(|r| r.created_at).max().unwrap_or(0);
    let known: Vec<&PrRecord> = sorted[cut..]
        .iter()
        .filter(|r| r.created_at + THIRTY_DAYS <= end)
        .collect();
    let merge_30d_auc = auc(
        &known
            .iter()
            .map(|r| model.predict(&r.features).p_merge_30d)
            .collect::<Vec<_>>(),
        &known
            .iter()
            .map(|r| r.merged_within_30d())
            .collect::<Vec<_>>(),
    );
    let mut baselines = BTreeMap::new();
    baselines.insert(
        "running_median".to_string(),
        running_median(&sorted, &test, &truth),
    );
    baselines.insert(
        "ai4ci_bucket_classifier".to_string(),
        bucket_classifier(&train, &test, &truth, cfg),
    );
    Ok(EvalReport {
        repos,
        n_train: train.iter().filter(|r| r.merged_at.is_some()).count(),
        n_test: test.len(),
        log_mae: main.log_mae,
        median_abs_error_hours: main.median_abs_error_hours,
        coverage_10_90: main.coverage_10_90.unwrap_or(0.0),
        bucket_accuracy: main.bucket_accuracy,
        bucket_macro_f1: main.bucket_macro_f1,
        merge_30d_auc,
        baselines,
        split_at,
    })
}

/// For each test change, the median (and 10th/90th percentiles) of the repository's merges
/// completed before it was opened.
fn running_median(all: &[PrRecord], test: &[&PrRecord], truth: &[f64]) -> Metrics {
    let mut merged: Vec<(&str, i64, f64)> = all
        .iter()
        .filter_map(|r| {
            r.merged_at
                .map(|m| (r.repo.as_str(), m, r.hours_to_merge().unwrap_or(0.0)))
        })
        .collect();
    merged.sort_by_key(|(_, m, _)| *m);
    let preds: Preds = test
        .iter()
        .map(|r| {
            let mut past: Vec<f64> = merged
                .iter()
                .take_while(|(_, m, _)| *m < r.created_at)
                .filter(|(repo, _, _)| *repo == r.repo)
                .map(|(_, _, h)| *h)
                .collect();
            if past.is_empty() {
                return (24.0, Some((0.0, f64::INFINITY)));
            }
            let lo = quantile(&mut past, 0.1);
            let hi = quantile(&mut past, 0.9);
            (quantile(&mut past, 0.5), Some((lo, hi)))
        })
        .collect();
    metrics(truth, &preds, None)
}

/// AI4CI's approach: a classifier over the ten buckets (one-vs-rest boosted trees on the same
/// features); its point estimate for log-MAE is the training median of the predicted bucket.
fn bucket_classifier(
    train: &[PrRecord],
    test: &[&PrRecord],
    truth: &[f64],
    cfg: &TrainConfig,
) -> Metrics {
    let merged: Vec<&PrRecord> = train.iter().filter(|r| r.merged_at.is_some()).collect();
    let x: Vec<Vec<f64>> = merged.iter().map(|r| r.features.0.to_vec()).collect();
    let classes: Vec<usize> = merged
        .iter()
        .map(|r| bucket(r.hours_to_merge().unwrap_or(0.0)))
        .collect();
    let mut params = cfg.params;
    params.trees = params.trees.min(80);
    let models: Vec<Gbt> = (0..10)
        .map(|c| {
            let y: Vec<f64> = classes
                .iter()
                .map(|k| f64::from(u8::from(*k == c)))
                .collect();
            gbt::fit(&x, &y, Loss::Logistic, &params)
        })
        .collect();
    let mut medians = [f64::NAN; 10];
    for (c, m) in medians.iter_mut().enumerate() {
        let mut v: Vec<f64> = merged
            .iter()
            .filter_map(|r| r.hours_to_merge())
            .filter(|h| bucket(*h) == c)
            .collect();
        *m = if v.is_empty() {
            from_log(0.0)
        } else {
            quantile(&mut v, 0.5)
        };
    }
    let predicted: Vec<usize> = test
        .iter()
        .map(|r| {
            let scores: Vec<f64> = models.iter().map(|m| m.predict(&r.features.0)).collect();
            scores
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i)
        })
        .collect();
    let preds: Preds = predicted.iter().map(|c| (medians[*c], None)).collect();
    metrics(truth, &preds, Some(&predicted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_likely_bucket_follows_the_distribution() {
        assert!((phi(0.0) - 0.5).abs() < 1e-9 && (phi(1.2816) - 0.9).abs() < 1e-4);
        // A narrow distribution around 20 hours: bucket 3 (15–24 h).
        assert_eq!(most_likely_bucket(17.0, 20.0, 23.0), 3);
        // A wide one centred on 1 hour: most mass below 3 hours.
        assert_eq!(most_likely_bucket(0.1, 1.0, 40.0), 0);
    }

    #[test]
    fn buckets_follow_ai4ci_edges() {
        assert_eq!(bucket(0.5), 0);
        assert_eq!(bucket(3.0), 0);
        assert_eq!(bucket(3.1), 1);
        assert_eq!(bucket(500.0), 9);
    }

    #[test]
    fn macro_f1_and_auc_on_known_cases() {
        let (acc, f1) = accuracy_and_macro_f1(&[0, 0, 1, 1], &[0, 1, 1, 1], 10);
        assert_eq!(acc, 0.75);
        // class 0: tp1 fp0 fn1 → 2/3; class 1: tp2 fp1 fn0 → 0.8.
        assert!((f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12);
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }
}
