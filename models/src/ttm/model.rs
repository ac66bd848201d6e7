//! The time-to-merge model: quantile boosted trees for the 10th, 50th and 90th percentiles of
//! ln(1 + hours to merge), widened by split-conformal calibration so the 10–90% interval covers
//! about 80%, a boosted classifier for "merged within 30 days", and exact Shapley explanations
//! of the median over feature groups.

use serde::{Deserialize, Serialize};

use super::features::{GROUPS, N, TtmFeatures, from_log, group_of, to_log};
use super::record::{PrRecord, THIRTY_DAYS};
use crate::gbt::{self, Gbt, Loss, Params, quantile};

/// Format version of serialised models.
pub const MODEL_VERSION: u32 = 1;

/// Why a model could not be trained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TtmError {
    /// Not enough merged changes.
    #[error("only {found} merged changes to learn from; at least {needed} are needed")]
    TooLittleHistory {
        /// Merged changes available.
        found: usize,
        /// Minimum.
        needed: usize,
    },
}

/// What the model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    /// The repository's own history.
    Repository {
        /// Repository.
        repo: String,
    },
    /// Several repositories' history, because this one has too little.
    Pooled {
        /// Repositories pooled.
        repos: Vec<String>,
        /// Why (in words).
        reason: String,
    },
}

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Boosting settings.
    pub params: Params,
    /// Share of the latest merged changes kept aside to calibrate the interval.
    pub calibration_fraction: f64,
    /// Fewest merged changes to train at all.
    pub min_merged: usize,
    /// Refit the quantile models on all changes after calibrating (sharper, but the correction
    /// was measured on the earlier fit); otherwise keep the calibrated fit (split conformal).
    pub refit: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            params: Params::default(),
            calibration_fraction: 0.35,
            min_merged: 30,
            refit: false,
        }
    }
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TtmModel {
    /// Format version.
    pub version: u32,
    /// 10th percentile of ln(1 + hours).
    pub q10: Gbt,
    /// Median of ln(1 + hours).
    pub q50: Gbt,
    /// 90th percentile of ln(1 + hours).
    pub q90: Gbt,
    /// Log-odds of merging within 30 days.
    pub merge30: Gbt,
    /// Conformal correction of the interval on the log scale (added to the 90th, subtracted from
    /// the 10th percentile).
    pub widen: f64,
    /// Feature medians of the training changes: the reference an explanation starts from.
    pub baseline: TtmFeatures,
    /// Merged changes learned from.
    pub n_merged: usize,
    /// Changes learned from for the merge probability.
    pub n_changes: usize,
    /// What it was trained on.
    pub scope: Scope,
    /// Latest opening time in the training data (epoch seconds).
    pub trained_through: i64,
}

/// A prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// 10th percentile, hours.
    pub p10_hours: f64,
    /// Median, hours.
    pub p50_hours: f64,
    /// 90th percentile, hours.
    pub p90_hours: f64,
    /// Probability of merging within 30 days.
    pub p_merge_30d: f64,
}

/// One feature group's part in a prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    /// Group index in [`GROUPS`].
    pub group: usize,
    /// Group name.
    pub name: &'static str,
    /// Exact Shapley value on the ln(1 + hours) scale.
    pub log_effect: f64,
    /// The same effect in hours, applied to the baseline prediction.
    pub hours_effect: f64,
}

/// Why the median is what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Median for the baseline change, ln(1 + hours).
    pub base_log: f64,
    /// Median for this change, ln(1 + hours).
    pub prediction_log: f64,
    /// Contributions, largest first; they sum to `prediction_log − base_log`.
    pub contributions: Vec<Contribution>,
}

fn median_features(rows: &[&PrRecord]) -> TtmFeatures {
    let mut out = [f64::NAN; N];
    for (f, o) in out.iter_mut().enumerate() {
        let mut v: Vec<f64> = rows
            .iter()
            .map(|r| r.features.0[f])
            .filter(|x| !x.is_nan())
            .collect();
        if !v.is_empty() {
            *o = quantile(&mut v, 0.5);
        }
    }
    TtmFeatures(out)
}

impl TtmModel {
    /// Trains on `records` (any order). Quantiles learn from merged changes; the merge
    /// probability from changes opened at least 30 days before the latest one, whose outcome
    /// is known.
    pub fn train(
        records: &[PrRecord],
        scope: Scope,
        cfg: &TrainConfig,
    ) -> Result<TtmModel, TtmError> {
        let mut merged: Vec<&PrRecord> = records.iter().filter(|r| r.merged_at.is_some()).collect();
        if merged.len() < cfg.min_merged {
            return Err(TtmError::TooLittleHistory {
                found: merged.len(),
                needed: cfg.min_merged,
            });
        }
        merged.sort_by_key(|r| r.created_at);
        let xy = |rows: &[&PrRecord]| -> (Vec<Vec<f64>>, Vec<f64>) {
            (
                rows.iter().map(|r| r.features.0.to_vec()).collect(),
                rows.iter()
                    .map(|r| to_log(r.hours_to_merge().unwrap_or(0.0)))
                    .collect(),
            )
        };
        // Split-conformal calibration on the latest changes, then a refit on all of them.
        let n_cal = ((merged.len() as f64) * cfg.calibration_fraction).floor() as usize;
        let (x, y) = xy(&merged);
        let (q10, q50, q90, widen) = if n_cal >= 10 {
            let (fit_rows, cal_rows) = merged.split_at(merged.len() - n_cal);
            let (fx, fy) = xy(fit_rows);
            let lo = gbt::fit(&fx, &fy, Loss::Quantile(0.1), &cfg.params);
            let hi = gbt::fit(&fx, &fy, Loss::Quantile(0.9), &cfg.params);
            let (cx, cy) = xy(cal_rows);
            let mut scores: Vec<f64> = cx
                .iter()
                .zip(&cy)
                .map(|(r, t)| (lo.predict(r) - t).max(t - hi.predict(r)))
                .collect();
            let level = ((0.8 * (n_cal as f64 + 1.0)).ceil() / n_cal as f64).min(1.0);
            let widen = quantile(&mut scores, level);
            if cfg.refit {
                (
                    gbt::fit(&x, &y, Loss::Quantile(0.1), &cfg.params),
                    gbt::fit(&x, &y, Loss::Quantile(0.5), &cfg.params),
                    gbt::fit(&x, &y, Loss::Quantile(0.9), &cfg.params),
                    widen,
                )
            } else {
                (
                    lo,
                    gbt::fit(&x, &y, Loss::Quantile(0.5), &cfg.params),
                    hi,
                    widen,
                )
            }
        } else {
            (
                gbt::fit(&x, &y, Loss::Quantile(0.1), &cfg.params),
                gbt::fit(&x, &y, Loss::Quantile(0.5), &cfg.params),
                gbt::fit(&x, &y, Loss::Quantile(0.9), &cfg.params),
                0.0,
            )
        };
        let through = records.iter().map(|r| r.created_at).max().unwrap_or(0);
        let known: Vec<&PrRecord> = records
            .iter()
            .filter(|r| r.created_at + THIRTY_DAYS <= through)
            .collect();
        let mx: Vec<Vec<f64>> = known.iter().map(|r| r.features.0.to_vec()).collect();
        let my: Vec<f64> = known
            .iter()
            .map(|r| f64::from(u8::from(r.merged_within_30d())))
            .collect();
        let merge30 = gbt::fit(&mx, &my, Loss::Logistic, &cfg.params);
        Ok(TtmModel {
            version: MODEL_VERSION,
            q10,
            q50,
            q90,
            merge30,
            widen,
            baseline: median_features(&merged),
            n_merged: merged.len(),
            n_changes: known.len(),
            scope,
            trained_through: through,
        })
    }

    /// The predicted distribution for a change.
    pub fn predict(&self, f: &TtmFeatures) -> Prediction {
        let x = &f.0;
        let mid = self.q50.predict(x);
        let lo = (self.q10.predict(x) - self.widen).min(mid);
        let hi = (self.q90.predict(x) + self.widen).max(mid);
        Prediction {
            p10_hours: from_log(lo),
            p50_hours: from_log(mid),
            p90_hours: from_log(hi),
            p_merge_30d: if self.merge30.trees.is_empty() && self.n_changes == 0 {
                f64::NAN
            } else {
                self.merge30.probability(x)
            },
        }
    }

    /// Exact Shapley values of the median prediction over the feature groups, against the
    /// baseline change (features outside a coalition take baseline values).
    pub fn explain(&self, f: &TtmFeatures) -> Explanation {
        let x = f.0;
        let b = self.baseline.0;
        let base_log = self.q50.predict(&b);
        let prediction_log = self.q50.predict(&x);
        let mut phi = vec![0.0; GROUPS.len()];
        for tree in &self.q50.trees {
            tree.shapley_against(&x, &b, &group_of, &mut phi);
        }
        let base_h = from_log(base_log);
        let mut contributions: Vec<Contribution> = phi
            .iter()
            .enumerate()
            .map(|(g, &p)| Contribution {
                group: g,
                name: GROUPS[g].0,
                log_effect: p,
                hours_effect: from_log(base_log + p) - base_h,
            })
            .collect();
        contributions.sort_by(|a, b| b.log_effect.abs().total_cmp(&a.log_effect.abs()));
        Explanation {
            base_log,
            prediction_log,
            contributions,
        }
    }
}

/// Trains a repository's own model when it has at least `min_repo` merged changes, else a
/// pooled one on every record given, saying so.
pub fn train_for_repo(
    records: &[PrRecord],
    repo: &str,
    min_repo: usize,
    cfg: &TrainConfig,
) -> Result<TtmModel, TtmError> {
    let own: Vec<PrRecord> = records.iter().filter(|r| r.repo == repo).cloned().collect();
    let merged = own.iter().filter(|r| r.merged_at.is_some()).count();
    if merged >= min_repo {
        return TtmModel::train(&own, Scope::Repository { repo: repo.into() }, cfg);
    }
    let mut repos: Vec<String> = records.iter().map(|r| r.repo.clone()).collect();
    repos.sort();
    repos.dedup();
    let pooled_merged = records.iter().filter(|r| r.merged_at.is_some()).count();
    TtmModel::train(
        records,
        Scope::Pooled {
            reason: format!(
                "{repo} has {merged} merged changes (fewer than {min_repo}), so this uses {pooled_merged} from {} repositories",
                repos.len()
            ),
            repos,
        },
        cfg,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ttm::features::idx;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Changes whose log-time is 1 + 0.8·log(lines) + Gaussian-ish noise of known spread, so the
    /// true 10th/90th percentiles are ±1.2816σ around the median.
    fn synthetic(n: usize, seed: u64) -> Vec<PrRecord> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let lines: f64 = (rng.random::<f64>() * 6.0).exp();
                let z: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
                let log_h = 1.0 + 0.8 * lines.ln_1p() + 0.7 * z;
                let mut f = TtmFeatures::default();
                f.0[idx::LINES] = lines.ln_1p();
                f.0[idx::HOUR] = (i % 24) as f64;
                let created = i as i64 * 3600;
                PrRecord {
                    repo: "o/r".into(),
                    number: i as u64,
                    created_at: created,
                    merged_at: Some(created + (from_log(log_h) * 3600.0) as i64),
                    closed_at: None,
                    features: f,
                }
            })
            .collect()
    }

    #[test]
    fn calibrated_interval_covers_about_eighty_percent() {
        let model = TtmModel::train(
            &synthetic(3000, 11),
            Scope::Repository { repo: "o/r".into() },
            &TrainConfig::default(),
        )
        .unwrap();
        let test = synthetic(2000, 12);
        let inside = test
            .iter()
            .filter(|r| {
                let p = model.predict(&r.features);
                let h = r.hours_to_merge().unwrap();
                p.p10_hours <= h && h <= p.p90_hours
            })
            .count() as f64
            / test.len() as f64;
        assert!((0.75..=0.85).contains(&inside), "coverage {inside}");
        let p = model.predict(&test[0].features);
        assert!(p.p10_hours <= p.p50_hours && p.p50_hours <= p.p90_hours);
    }

    #[test]
    fn explanations_are_exact_and_point_at_the_driver() {
        let model = TtmModel::train(
            &synthetic(2000, 21),
            Scope::Repository { repo: "o/r".into() },
            &TrainConfig::default(),
        )
        .unwrap();
        let mut big = TtmFeatures::default();
        big.0[idx::LINES] = 2000f64.ln_1p();
        big.0[idx::HOUR] = 3.0;
        let e = model.explain(&big);
        let sum: f64 = e.contributions.iter().map(|c| c.log_effect).sum();
        assert!(
            (sum - (e.prediction_log - e.base_log)).abs() < 1e-9,
            "efficiency"
        );
        assert_eq!(e.contributions[0].name, "size");
        assert!(e.contributions[0].hours_effect > 0.0);
        // Groups the model never uses contribute nothing (dummy).
        let text = e.contributions.iter().find(|c| c.name == "text").unwrap();
        assert_eq!(text.log_effect, 0.0);

        // The per-leaf closed form equals brute-force enumeration of all 2^9 coalitions of
        // groups over the whole model.
        let b = model.baseline.0;
        let x = big.0;
        let value = |mask: u32| {
            let mut row = b;
            for (g, (_, feats)) in GROUPS.iter().enumerate() {
                if mask & (1 << g) != 0 {
                    for &f in *feats {
                        row[f] = x[f];
                    }
                }
            }
            model.q50.predict(&row)
        };
        let brute = crate::shapley::shapley(GROUPS.len(), value).unwrap();
        for c in &e.contributions {
            assert!(
                (c.log_effect - brute[c.group]).abs() < 1e-9,
                "{}: {} vs {}",
                c.name,
                c.log_effect,
                brute[c.group]
            );
        }
    }

    #[test]
    fn too_little_history_is_an_error_and_small_repos_pool() {
        let few = synthetic(10, 1);
        assert!(matches!(
            TtmModel::train(
                &few,
                Scope::Repository { repo: "o/r".into() },
                &TrainConfig::default()
            ),
            Err(TtmError::TooLittleHistory { found: 10, .. })
        ));
        let mut all = synthetic(400, 2);
        for r in all.iter_mut().take(20) {
            r.repo = "o/small".into();
        }
        let m = train_for_repo(&all, "o/small", 100, &TrainConfig::default()).unwrap();
        match &m.scope {
            Scope::Pooled { reason, repos } => {
                assert!(reason.contains("20 merged changes"), "{reason}");
                assert_eq!(repos.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        let back: TtmModel = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(
            format!("{:?}", back.predict(&all[0].features)),
            format!("{:?}", m.predict(&all[0].features))
        );
    }
}
