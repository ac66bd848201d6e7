//! How predictions are scored: log-MAE, interval coverage, AI4CI's ten time buckets with
//! accuracy and macro-F1, ROC AUC. The walk-forward evaluation (`walk`) uses them.

use serde::Serialize;

use super::features::to_log;
use crate::gbt::quantile;

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

/// Predictions for the test changes: (point estimate, optional 10–90% interval) in hours.
pub type Preds = Vec<(f64, Option<(f64, f64)>)>;

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

/// The figures of predictions `preds` (hours) against `truth` (hours); buckets are
/// `point_bucket` when given, else the bucket of each point estimate.
pub fn metrics(truth: &[f64], preds: &Preds, point_bucket: Option<&[usize]>) -> Metrics {
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
