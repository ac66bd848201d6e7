//! The AI4CI-style baseline: a classifier over AI4CI's ten time-to-merge buckets (one-vs-rest
//! boosted trees with the model's own boosting settings and features), predicting the bucket
//! with the highest score; its point estimate is the training median of that bucket.

use super::eval::bucket;
use super::features::{TtmFeatures, from_log};
use super::record::PrRecord;
use crate::gbt::{self, Gbt, Loss, Params, quantile};

/// A trained bucket classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketClassifier {
    /// One log-odds model per bucket.
    models: Vec<Gbt>,
    /// Median hours to merge of each bucket's training changes.
    medians: [f64; 10],
}

impl BucketClassifier {
    /// Trains on the merged changes among `records`, with the same boosting settings as the model.
    pub fn train(records: &[PrRecord], params: &Params) -> BucketClassifier {
        let merged: Vec<&PrRecord> = records.iter().filter(|r| r.merged_at.is_some()).collect();
        let x: Vec<Vec<f64>> = merged.iter().map(|r| r.features.0.to_vec()).collect();
        let hours: Vec<f64> = merged.iter().filter_map(|r| r.hours_to_merge()).collect();
        let classes: Vec<usize> = hours.iter().map(|h| bucket(*h)).collect();
        let models = (0..10)
            .map(|c| {
                let y: Vec<f64> = classes
                    .iter()
                    .map(|k| f64::from(u8::from(*k == c)))
                    .collect();
                gbt::fit(&x, &y, Loss::Logistic, params)
            })
            .collect();
        let mut medians = [from_log(0.0); 10];
        for (c, m) in medians.iter_mut().enumerate() {
            let mut v: Vec<f64> = hours.iter().copied().filter(|h| bucket(*h) == c).collect();
            if !v.is_empty() {
                *m = quantile(&mut v, 0.5);
            }
        }
        BucketClassifier { models, medians }
    }

    /// The bucket with the highest score.
    pub fn predict(&self, f: &TtmFeatures) -> usize {
        self.models
            .iter()
            .map(|m| m.predict(&f.0))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(i, _)| i)
    }

    /// The point estimate for a bucket: its training median, hours.
    pub fn hours(&self, bucket: usize) -> f64 {
        self.medians.get(bucket).copied().unwrap_or(f64::NAN)
    }
}
