//! Figures of a risk score against binary outcomes: ROC AUC (with a seeded cluster-bootstrap
//! interval), PR AUC, precision at the top decile, Brier score and a reliability table.

use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Indices of `scores` in ascending order of score.
fn ascending(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    order
}

/// ROC AUC with a weight per row, given the rows in ascending order of score (ties count
/// half). NaN without a positive or a negative.
fn weighted_auc(order: &[usize], scores: &[f64], ys: &[bool], w: &[f64]) -> f64 {
    let (mut neg_below, mut area, mut pos_total) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        let (mut p, mut n) = (0.0, 0.0);
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            let r = order[j];
            if ys[r] {
                p += w[r];
            } else {
                n += w[r];
            }
            j += 1;
        }
        area += p * (neg_below + 0.5 * n);
        neg_below += n;
        pos_total += p;
        i = j;
    }
    if pos_total == 0.0 || neg_below == 0.0 {
        return f64::NAN;
    }
    area / (pos_total * neg_below)
}

/// Area under the ROC curve (ties count half); NaN without a positive or a negative.
pub fn auc(scores: &[f64], ys: &[bool]) -> f64 {
    weighted_auc(&ascending(scores), scores, ys, &vec![1.0; scores.len()])
}

/// ROC AUCs of several scores on the same rows over `reps` cluster-bootstrap resamples: whole
/// clusters (people) are drawn with replacement, so a person's correlated weeks stay together.
/// Seeded; `result[s][r]` is score `s` on resample `r`.
pub fn bootstrap_aucs(
    scores: &[&[f64]],
    ys: &[bool],
    clusters: &[u32],
    reps: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    let n_clusters = clusters.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    let orders: Vec<Vec<usize>> = scores.iter().map(|s| ascending(s)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![Vec::with_capacity(reps); scores.len()];
    let mut times = vec![0.0; n_clusters];
    let mut w = vec![0.0; ys.len()];
    for _ in 0..reps {
        times.iter_mut().for_each(|t| *t = 0.0);
        for _ in 0..n_clusters {
            times[rng.random_range(0..n_clusters)] += 1.0;
        }
        for (wi, &c) in w.iter_mut().zip(clusters) {
            *wi = times[c as usize];
        }
        for (s, order) in orders.iter().enumerate() {
            out[s].push(weighted_auc(order, scores[s], ys, &w));
        }
    }
    out
}

/// The 2.5th and 97.5th percentiles of bootstrap values (NaNs left out).
pub fn interval(values: &[f64]) -> [f64; 2] {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return [f64::NAN, f64::NAN];
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    [at(0.025), at(0.975)]
}

/// Average precision (area under the precision-recall curve, step-wise, ties as one step).
pub fn pr_auc(scores: &[f64], ys: &[bool]) -> f64 {
    let mut order = ascending(scores);
    order.reverse();
    let pos = ys.iter().filter(|&&y| y).count() as f64;
    if pos == 0.0 {
        return f64::NAN;
    }
    let (mut tp, mut seen, mut ap) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        let mut hits = 0.0;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            hits += f64::from(u8::from(ys[order[j]]));
            j += 1;
        }
        tp += hits;
        seen += (j - i) as f64;
        ap += hits / pos * (tp / seen);
        i = j;
    }
    ap
}

/// Share of positives among the top 10% of scores (at least one row).
pub fn precision_at_top_decile(scores: &[f64], ys: &[bool]) -> f64 {
    if scores.is_empty() {
        return f64::NAN;
    }
    let mut order = ascending(scores);
    order.reverse();
    let k = (scores.len() / 10).max(1);
    order[..k].iter().filter(|&&i| ys[i]).count() as f64 / k as f64
}

/// Mean squared difference between probabilities and outcomes.
pub fn brier(probs: &[f64], ys: &[bool]) -> f64 {
    if probs.is_empty() {
        return f64::NAN;
    }
    probs
        .iter()
        .zip(ys)
        .map(|(p, &y)| (p - f64::from(u8::from(y))).powi(2))
        .sum::<f64>()
        / probs.len() as f64
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    /// Lower edge of predicted probability (inclusive).
    pub from: f64,
    /// Upper edge (exclusive, except the last bin).
    pub to: f64,
    /// Rows whose prediction falls in the bin.
    pub count: usize,
    /// Mean predicted probability in the bin (NaN when empty).
    pub predicted: f64,
    /// Observed share of positives in the bin (NaN when empty).
    pub observed: f64,
}

/// Reliability table: `bins` equal-width bins of predicted probability.
pub fn reliability(probs: &[f64], ys: &[bool], bins: usize) -> Vec<Bin> {
    let mut acc = vec![(0usize, 0.0, 0.0); bins];
    for (&p, &y) in probs.iter().zip(ys) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        acc[b].0 += 1;
        acc[b].1 += p;
        acc[b].2 += f64::from(u8::from(y));
    }
    acc.into_iter()
        .enumerate()
        .map(|(i, (count, sp, sy))| Bin {
            from: i as f64 / bins as f64,
            to: (i + 1) as f64 / bins as f64,
            count,
            predicted: if count > 0 {
                sp / count as f64
            } else {
                f64::NAN
            },
            observed: if count > 0 {
                sy / count as f64
            } else {
                f64::NAN
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_on_known_cases() {
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), 1.0);
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), 0.0);
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), 0.5);
        // One of the four (pos, neg) pairs is inverted.
        assert_eq!(
            auc(&[0.1, 0.6, 0.5, 0.9], &[false, false, true, true]),
            0.75
        );
        assert!(auc(&[0.1], &[true]).is_nan());
    }

    #[test]
    fn bootstrap_interval_covers_the_estimate_and_is_seeded() {
        let scores: Vec<f64> = (0..400).map(|i| f64::from((i * 37) % 101)).collect();
        let ys: Vec<bool> = scores
            .iter()
            .map(|&s| s > 60.0 || s as i32 % 7 == 0)
            .collect();
        let clusters: Vec<u32> = (0..400).map(|i| i / 4).collect();
        let a = auc(&scores, &ys);
        let reps = bootstrap_aucs(&[&scores], &ys, &clusters, 200, 1);
        let [lo, hi] = interval(&reps[0]);
        assert!(lo < a && a < hi, "{lo} {a} {hi}");
        assert!(hi - lo < 0.2);
        assert_eq!(reps, bootstrap_aucs(&[&scores], &ys, &clusters, 200, 1));
    }

    #[test]
    fn precision_brier_pr_auc_and_reliability() {
        let s: Vec<f64> = (0..20).map(f64::from).collect();
        let y: Vec<bool> = (0..20).map(|i| i >= 18).collect();
        assert_eq!(precision_at_top_decile(&s, &y), 1.0);
        assert_eq!(pr_auc(&s, &y), 1.0);
        // Positives ranked 1st and 3rd: AP = (1/1 + 2/3) / 2.
        let ap = pr_auc(&[0.9, 0.8, 0.7, 0.1], &[true, false, true, false]);
        assert!((ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(brier(&[1.0, 0.0, 0.5], &[true, false, true]), 0.25 / 3.0);
        let t = reliability(&[0.05, 0.15, 0.12, 1.0], &[false, true, false, true], 10);
        assert_eq!(t.len(), 10);
        assert_eq!(t[1].count, 2);
        assert_eq!(t[1].observed, 0.5);
        assert_eq!(t[9].count, 1, "1.0 falls in the last bin");
        assert!(t[5].predicted.is_nan());
    }
}
