//! A classifier over AI4CI's ten time-to-merge buckets: one-vs-rest boosted trees with the
//! model's own boosting settings and features. It serves twice. As the **AI4CI-style
//! baseline** it predicts the bucket with the highest score, as AI4CI does. As the model's
//! **bucket head** (`TtmModel::head`) it decides by prior-corrected probability: the bucket
//! whose probability for this change is highest relative to its share among the training
//! changes, p(b | x) / p(b)^β. Macro-F1 weighs every bucket alike, and the plain highest score
//! favours the common buckets; with β = 1 the decision is the bucket under which this change's
//! features are most likely, with β = 0 the plain highest score (β chosen on the development
//! repositories, docs/models.md). Its point estimate is the training median of the bucket.

use serde::{Deserialize, Serialize};

use super::eval::bucket;
use super::features::{TtmFeatures, from_log};
use super::record::PrRecord;
use crate::gbt::{self, Gbt, Loss, Params, quantile};

/// Exponent β of the prior correction of the model's bucket decision.
pub const PRIOR_CORRECTION: f64 = 0.75;

/// A trained bucket classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketClassifier {
    /// One log-odds model per bucket.
    models: Vec<Gbt>,
    /// Median hours to merge of each bucket's training changes.
    medians: [f64; 10],
    /// Share of each bucket among the training changes (add-one smoothed).
    prior: [f64; 10],
}

impl BucketClassifier {
    /// Trains on the merged changes among `records`, with the same boosting settings as the model.
    pub fn train(records: &[PrRecord], params: &Params) -> BucketClassifier {
        let merged: Vec<&PrRecord> = records.iter().filter(|r| r.merged_at.is_some()).collect();
        BucketClassifier::train_on(&merged, params)
    }

    /// Trains on merged changes.
    pub fn train_on(merged: &[&PrRecord], params: &Params) -> BucketClassifier {
        BucketClassifier::train_weighted(merged, params, 0.0)
    }

    /// Trains on merged changes with class weights: in bucket b's one-vs-rest model each of its
    /// changes counts (others / its own)^`power` times (0: unweighted; 1: both sides weigh alike).
    pub fn train_weighted(merged: &[&PrRecord], params: &Params, power: f64) -> BucketClassifier {
        let x: Vec<Vec<f64>> = merged.iter().map(|r| r.features.0.to_vec()).collect();
        let hours: Vec<f64> = merged
            .iter()
            .map(|r| r.hours_to_merge().unwrap_or(0.0))
            .collect();
        let classes: Vec<usize> = hours.iter().map(|h| bucket(*h)).collect();
        let models = (0..10)
            .map(|c| {
                let y: Vec<f64> = classes
                    .iter()
                    .map(|k| f64::from(u8::from(*k == c)))
                    .collect();
                if power == 0.0 {
                    return gbt::fit(&x, &y, Loss::Logistic, params);
                }
                let pos = y.iter().sum::<f64>().max(1.0);
                let up = ((y.len() as f64 - pos).max(1.0) / pos).powf(power);
                let w: Vec<f64> = y.iter().map(|v| if *v > 0.5 { up } else { 1.0 }).collect();
                gbt::fit_logistic_weighted(&x, &y, &w, params)
            })
            .collect();
        let mut medians = [from_log(0.0); 10];
        let mut prior = [0.0; 10];
        for (c, (m, p)) in medians.iter_mut().zip(prior.iter_mut()).enumerate() {
            let mut v: Vec<f64> = hours.iter().copied().filter(|h| bucket(*h) == c).collect();
            *p = (v.len() as f64 + 1.0) / (hours.len() as f64 + 10.0);
            if !v.is_empty() {
                *m = quantile(&mut v, 0.5);
            }
        }
        BucketClassifier {
            models,
            medians,
            prior,
        }
    }

    /// The bucket with the highest score (the AI4CI-style baseline's decision).
    pub fn predict(&self, f: &TtmFeatures) -> usize {
        self.models
            .iter()
            .map(|m| m.predict(&f.0))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(i, _)| i)
    }

    /// The bucket with the highest prior-corrected probability, p(b | x) / p(b)^`beta`.
    pub fn decide(&self, f: &TtmFeatures, beta: f64) -> usize {
        self.decide_from(&self.probabilities(f), beta)
    }

    /// [`Self::decide`] from probabilities already computed by [`Self::probabilities`].
    pub fn decide_from(&self, probabilities: &[f64; 10], beta: f64) -> usize {
        probabilities
            .iter()
            .zip(&self.prior)
            .map(|(p, q)| p / q.powf(beta))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(i, _)| i)
    }

    /// Each bucket's probability: the one-vs-rest probabilities, normalised to sum to 1.
    pub fn probabilities(&self, f: &TtmFeatures) -> [f64; 10] {
        let mut p = [0.0; 10];
        for (o, m) in p.iter_mut().zip(&self.models) {
            *o = m.probability(&f.0);
        }
        let sum: f64 = p.iter().sum();
        if sum > 0.0 {
            p.iter_mut().for_each(|x| *x /= sum);
        }
        p
    }

    /// The point estimate for a bucket: its training median, hours.
    pub fn hours(&self, bucket: usize) -> f64 {
        self.medians.get(bucket).copied().unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ttm::features::idx;

    /// 900 changes: a third take 1 hour (bucket 0, sizes 0–4), a sixth 500 hours (bucket 9,
    /// sizes 4 and 6), the rest 30 hours (bucket 4, sizes 1–5); size 4 occurs 60, 60 and 90 times.
    fn history() -> Vec<PrRecord> {
        (0..900u64)
            .map(|i| {
                let k = ((i / 6) % 5) as f64;
                let (hours, size) = match i % 6 {
                    0 | 1 => (1.0, k),
                    2 => (500.0, if k < 2.0 { 4.0 } else { 6.0 }),
                    _ => (30.0, 1.0 + k),
                };
                let mut f = TtmFeatures::default();
                f.0[idx::LINES] = size;
                let created = i as i64 * 3600;
                PrRecord {
                    repo: "o/r".into(),
                    number: i,
                    created_at: created,
                    merged_at: Some(created + (hours * 3600.0) as i64),
                    closed_at: None,
                    features: f,
                    size_at_open: None,
                }
            })
            .collect()
    }

    #[test]
    fn the_prior_correction_gives_rare_buckets_their_due() {
        let m = BucketClassifier::train(&history(), &Params::default());
        let p = m.probabilities(&history()[0].features);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!((m.prior.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // Size 4 is seen in all three groups, most often in the common 30-hour one: the highest
        // score says bucket 4; the prior-corrected decision says the slow bucket, since size 4
        // is 40% of the slow changes and 20% of the others.
        let mut f = TtmFeatures::default();
        f.0[idx::LINES] = 4.0;
        assert_eq!(m.predict(&f), 4);
        assert_eq!(m.decide(&f, 0.0), 4);
        assert_eq!(m.decide(&f, 1.0), 9);
        assert_eq!(m.hours(9), 500.0);
        let back: BucketClassifier =
            serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.decide(&f, 1.0), 9);
    }

    #[test]
    fn class_weights_let_the_highest_score_reach_rare_buckets() {
        // Size 4: 60 quick, 60 slow and 90 common changes. Unweighted, the common bucket scores
        // highest; with the classes weighed alike (power 1), the slow bucket (150 of 900 changes,
        // 40% of them of size 4) does.
        let h = history();
        let merged: Vec<&PrRecord> = h.iter().collect();
        let mut f = TtmFeatures::default();
        f.0[idx::LINES] = 4.0;
        let plain = BucketClassifier::train_weighted(&merged, &Params::default(), 0.0);
        let weighted = BucketClassifier::train_weighted(&merged, &Params::default(), 1.0);
        assert_eq!(plain, BucketClassifier::train(&h, &Params::default()));
        assert_eq!(plain.predict(&f), 4);
        assert_eq!(weighted.predict(&f), 9);
        // The priors (and the bucket medians) are the training shares either way.
        assert_eq!(weighted.prior, plain.prior);
    }
}
