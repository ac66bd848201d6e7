//! The time-to-merge model: quantile boosted trees for the 10th, 50th and 90th percentiles of
//! ln(1 + hours to merge) — optionally as the distance from the repository's running median — with
//! conformity scores of each side of the interval from held-out calibration changes (so that an
//! adaptive level can widen or narrow each side, `aci`), a boosted classifier for "merged within
//! 30 days", and the held-out errors of model and running median (the fallback's first
//! evidence). The median it shows is shrunk towards the running median ([`MODEL_WEIGHT`]); its
//! exact Shapley explanation is in [`super::explain`].

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub use super::explain::{Contribution, Explanation};

use super::aci::{Scores, TARGET, WINDOW};
use super::bucket_classifier::BucketClassifier;
use super::buckets::BUCKET_WINDOW;
use super::features::{N, TtmFeatures, from_log, idx, to_log};
use super::global::GlobalModel;
use super::record::{PrRecord, THIRTY_DAYS};
use super::running_median::RunningMedian;
use crate::gbt::{self, Gbt, Loss, Params, quantile};

/// Format version of serialised models.
pub const MODEL_VERSION: u32 = 5;

/// Default of [`TrainConfig::model_weight`]: the estimated median is 0.7 × the model's own plus
/// 0.3 × the running median's (chosen on the development repositories, docs/models.md).
pub const MODEL_WEIGHT: f64 = 0.7;

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
    /// Refit the interval models on all changes after calibrating (sharper, but the scores
    /// were measured on the earlier fit); otherwise keep the calibrated fit (split conformal).
    pub refit: bool,
    /// Learn each change's distance from the repository's running median at its opening
    /// (the `recent_median_ttm_log` feature) instead of its time itself: with few trees or
    /// little signal the prediction stays near the running median.
    pub relative: bool,
    /// Censoring window, days before the latest opening: if a change opened in it is still
    /// open, the merged changes opened after that one are left out of the quantile models and
    /// the calibration — only the quick ones among them could merge yet, so they would pull the
    /// times (and the interval's upper side) down. 0 (the default) keeps them all: on the
    /// development repositories leaving out the last 30 days cost more recency than it removed
    /// bias (docs/models.md).
    pub censor_days: f64,
    /// Train the bucket head (`TtmModel::head`): one-vs-rest trees over AI4CI's buckets.
    #[serde(default = "yes")]
    pub bucket_head: bool,
    /// Most merged changes (the latest) the bucket head learns from, which bounds its share
    /// of the training time.
    #[serde(default = "head_rows")]
    pub head_rows: usize,
    /// Class weighting of the bucket head's trees (`BucketClassifier::train_weighted`; 0: none).
    #[serde(default)]
    pub head_class_weight: f64,
    /// Weight of each pool row in the median model of [`TtmModel::train_with_pool`] (the
    /// target's rows weigh 1); 1 fits without weights.
    #[serde(default = "one")]
    pub pool_weight: f64,
    /// The cross-repository model the predicted median is blended with (`global`); `None`:
    /// the repository's own model alone, as the bot trains. Not part of a configuration file;
    /// set by `canopy ttm eval --global`.
    #[serde(skip)]
    pub global: Option<GlobalModel>,
    /// Weight of the model's own median in the estimate, ln(1 + hours); the rest goes to the
    /// running median of the change's repository (1: the model alone). Shrinking towards the
    /// running median keeps a noisy model from straying far from the bar it must clear.
    #[serde(default = "model_weight")]
    pub model_weight: f64,
}

fn model_weight() -> f64 {
    MODEL_WEIGHT
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

fn head_rows() -> usize {
    HEAD_ROWS
}

/// Default of [`TrainConfig::head_rows`].
pub const HEAD_ROWS: usize = 20_000;

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            params: Params::default(),
            calibration_fraction: 0.35,
            min_merged: 30,
            refit: false,
            relative: false,
            censor_days: 0.0,
            bucket_head: true,
            head_rows: HEAD_ROWS,
            head_class_weight: 0.0,
            pool_weight: 1.0,
            global: None,
            model_weight: MODEL_WEIGHT,
        }
    }
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TtmModel {
    /// Format version.
    pub version: u32,
    /// 10th percentile of ln(1 + hours) (minus the offset when relative).
    pub q10: Gbt,
    /// Median of ln(1 + hours) (minus the offset when relative).
    pub q50: Gbt,
    /// 90th percentile of ln(1 + hours) (minus the offset when relative).
    pub q90: Gbt,
    /// Log-odds of merging within 30 days.
    pub merge30: Gbt,
    /// Conformity scores of the lower side on the calibration changes (10th percentile minus
    /// the truth, ln(1 + hours)).
    pub lo_scores: Scores,
    /// Conformity scores of the upper side (truth minus the 90th percentile).
    pub hi_scores: Scores,
    /// (lower, upper) scores of the latest calibration changes, oldest first: the first
    /// window of the adaptive interval.
    pub recent_scores: Vec<(f64, f64)>,
    /// (predicted median, actual) of ln(1 + hours) of the latest calibration changes, oldest
    /// first, the median fitted without them: the first window of the bucket mapping (`buckets`).
    #[serde(default)]
    pub recent_medians: Vec<(f64, f64)>,
    /// Whether the quantiles are distances from the running median.
    pub relative: bool,
    /// The offset when a change has no running median: the training median, ln(1 + hours).
    pub center_log: f64,
    /// Absolute errors of ln(1 + hours) of (model, running median) on the latest calibration
    /// changes, the model fitted without them: the fallback's first evidence.
    pub evidence: Vec<(f64, f64)>,
    /// The bucket head: the model's AI4CI bucket by prior-corrected probability.
    #[serde(default)]
    pub head: Option<BucketClassifier>,
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
    /// The cross-repository model its median is blended with (`TrainConfig::global`).
    #[serde(default)]
    pub global: Option<GlobalModel>,
    /// Weight of its own median against the running median's (`TrainConfig::model_weight`).
    #[serde(default = "one")]
    pub model_weight: f64,
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

/// The offset of a row: its running median when relative (the training median without one).
fn offset_of(relative: bool, center_log: f64, x: &[f64]) -> f64 {
    if !relative {
        return 0.0;
    }
    let m = x[idx::RECENT_MEDIAN];
    if m.is_nan() { center_log } else { m }
}

/// What calibration yields: the interval models, their scores and the held-out evidence.
struct Calibrated {
    q10: Gbt,
    q90: Gbt,
    lo_scores: Scores,
    hi_scores: Scores,
    recent_scores: Vec<(f64, f64)>,
    recent_medians: Vec<(f64, f64)>,
    evidence: Vec<(f64, f64)>,
}

/// The model's quantiles of ln(1 + hours) for a change, before any conformal widening.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RawQuantiles {
    /// 10th percentile.
    pub lo: f64,
    /// Median.
    pub mid: f64,
    /// 90th percentile.
    pub hi: f64,
}

/// The target of a change: ln(1 + hours to merge).
fn truth(r: &PrRecord) -> f64 {
    to_log(r.hours_to_merge().unwrap_or(0.0))
}

/// What the quantile models learn: the target, minus the offset when relative.
struct Target {
    relative: bool,
    center_log: f64,
}

impl Target {
    fn offset(&self, r: &PrRecord) -> f64 {
        offset_of(self.relative, self.center_log, &r.features.0)
    }

    fn xy(&self, rows: &[&PrRecord]) -> (Vec<Vec<f64>>, Vec<f64>) {
        (
            rows.iter().map(|r| r.features.0.to_vec()).collect(),
            rows.iter().map(|r| truth(r) - self.offset(r)).collect(),
        )
    }
}

/// The merged changes the bucket head learns from (the latest [`TrainConfig::head_rows`]), so
/// that an evaluation can train its baseline on exactly the same changes.
pub fn head_training_rows<'a>(
    records: &'a [PrRecord],
    cfg: &TrainConfig,
) -> Result<Vec<&'a PrRecord>, TtmError> {
    let through = records.iter().map(|r| r.created_at).max().unwrap_or(0);
    let merged = settled(records, through, cfg)?;
    Ok(latest_for_head(&merged, cfg).to_vec())
}

/// The latest [`TrainConfig::head_rows`] of `merged` (in opening order).
fn latest_for_head<'m, 'a>(merged: &'m [&'a PrRecord], cfg: &TrainConfig) -> &'m [&'a PrRecord] {
    &merged[merged.len().saturating_sub(cfg.head_rows.max(1))..]
}

/// The merged changes to learn from, by opening time: all of them, except (with
/// `censor_days`) those opened since the first change of that window still open — after it only
/// the quick ones could merge yet — unless that leaves too few.
fn settled<'a>(
    records: &'a [PrRecord],
    through: i64,
    cfg: &TrainConfig,
) -> Result<Vec<&'a PrRecord>, TtmError> {
    let mut merged: Vec<&PrRecord> = records.iter().filter(|r| r.merged_at.is_some()).collect();
    if merged.len() < cfg.min_merged {
        return Err(TtmError::TooLittleHistory {
            found: merged.len(),
            needed: cfg.min_merged,
        });
    }
    let window = through - (cfg.censor_days * 86_400.0) as i64;
    let open_since = records
        .iter()
        .filter(|r| r.created_at > window && r.merged_at.is_none() && r.closed_at.is_none())
        .map(|r| r.created_at)
        .min();
    if let Some(since) = open_since {
        let kept = merged.iter().filter(|r| r.created_at < since).count();
        if cfg.censor_days > 0.0 && kept >= cfg.min_merged {
            merged.retain(|r| r.created_at < since);
        }
    }
    merged.sort_by_key(|r| r.created_at);
    Ok(merged)
}

/// Fits the interval models on all but the latest `calibration_fraction` of `merged` and
/// measures them (and a median, against the running median) on those; with too few to hold
/// out, fits on all of them without scores.
fn calibrate(
    merged: &[&PrRecord],
    records: &[PrRecord],
    target: &Target,
    cfg: &TrainConfig,
    (x, y): (&[Vec<f64>], &[f64]),
) -> Calibrated {
    let fit = |x: &[Vec<f64>], y: &[f64], a: f64| gbt::fit(x, y, Loss::Quantile(a), &cfg.params);
    let n_cal = ((merged.len() as f64) * cfg.calibration_fraction).floor() as usize;
    if n_cal < 10 {
        return Calibrated {
            q10: fit(x, y, 0.1),
            q90: fit(x, y, 0.9),
            lo_scores: Scores::default(),
            hi_scores: Scores::default(),
            recent_scores: Vec::new(),
            recent_medians: Vec::new(),
            evidence: Vec::new(),
        };
    }
    let (fit_rows, cal_rows) = merged.split_at(merged.len() - n_cal);
    let (fx, fy) = target.xy(fit_rows);
    let (lo, mid, hi) = (fit(&fx, &fy, 0.1), fit(&fx, &fy, 0.5), fit(&fx, &fy, 0.9));
    let running = RunningMedian::by_repo(records);
    let mut scores = Vec::with_capacity(n_cal);
    let mut evidence = Vec::with_capacity(n_cal);
    let mut medians = Vec::with_capacity(n_cal);
    for r in cal_rows {
        let (row, t, o) = (&r.features.0, truth(r), target.offset(r));
        scores.push((o + lo.predict(row) - t, t - o - hi.predict(row)));
        let median = blended(
            cfg.model_weight,
            cfg.global.as_ref(),
            o + mid.predict(row),
            &r.features.0,
        );
        medians.push((median, t));
        if let Some(m) = running
            .get(r.repo.as_str())
            .and_then(|rm| rm.median_at(r.created_at))
        {
            evidence.push(((median - t).abs(), (to_log(m) - t).abs()));
        }
    }
    let keep = evidence.len().saturating_sub(super::fallback::WINDOW);
    let (q10, q90) = if cfg.refit {
        (fit(x, y, 0.1), fit(x, y, 0.9))
    } else {
        (lo, hi)
    };
    Calibrated {
        q10,
        q90,
        lo_scores: Scores::new(scores.iter().map(|s| s.0).collect()),
        hi_scores: Scores::new(scores.iter().map(|s| s.1).collect()),
        recent_scores: scores.split_off(n_cal.saturating_sub(WINDOW)),
        recent_medians: medians.split_off(n_cal.saturating_sub(BUCKET_WINDOW)),
        evidence: evidence.split_off(keep),
    }
}

/// `own` (a median of ln(1 + hours)) shrunk towards the running median of `x` by `weight`
/// (when it has one), then blended with the cross-repository model's estimate, when there is
/// one.
fn blended(weight: f64, global: Option<&GlobalModel>, own: f64, x: &[f64; N]) -> f64 {
    let own = shrunk(weight, own, x);
    global.map_or(own, |g| g.blend(own, x))
}

/// `weight` × `own` + (1 − `weight`) × the running median of `x`; `own` without one.
pub(super) fn shrunk(weight: f64, own: f64, x: &[f64; N]) -> f64 {
    let m = x[idx::RECENT_MEDIAN];
    if m.is_nan() {
        own
    } else {
        weight * own + (1.0 - weight) * m
    }
}

/// The merged-within-30-days classifier, on the changes opened at least 30 days before
/// `through` (whose outcome is known), and how many there were.
fn merge_classifier(records: &[PrRecord], through: i64, params: &Params) -> (Gbt, usize) {
    let known: Vec<&PrRecord> = records
        .iter()
        .filter(|r| r.created_at + THIRTY_DAYS <= through)
        .collect();
    let x: Vec<Vec<f64>> = known.iter().map(|r| r.features.0.to_vec()).collect();
    let y: Vec<f64> = known
        .iter()
        .map(|r| f64::from(u8::from(r.merged_within_30d())))
        .collect();
    (gbt::fit(&x, &y, Loss::Logistic, params), known.len())
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
        Self::train_with_pool(records, &[], scope, cfg)
    }

    /// [`TtmModel::train`] with the median model (`q50`) also learning from the merged changes
    /// of `pool` (other repositories' histories, as known when the model is trained; the caller
    /// hides later outcomes). Everything else — the interval models and their calibration, the
    /// fallback's evidence, the merge classifier, the bucket head, the offset `center_log`, the
    /// counts — comes from `records` alone. Each pool row weighs [`TrainConfig::pool_weight`]
    /// against the target's 1. An empty pool is exactly `train`.
    pub fn train_with_pool(
        records: &[PrRecord],
        pool: &[PrRecord],
        scope: Scope,
        cfg: &TrainConfig,
    ) -> Result<TtmModel, TtmError> {
        let through = records.iter().map(|r| r.created_at).max().unwrap_or(0);
        let merged = settled(records, through, cfg)?;
        let mut all_y: Vec<f64> = merged.iter().map(|r| truth(r)).collect();
        let target = Target {
            relative: cfg.relative,
            center_log: quantile(&mut all_y, 0.5),
        };
        let (x, y) = target.xy(&merged);
        let pooled: Vec<&PrRecord> = pool.iter().filter(|r| r.merged_at.is_some()).collect();
        // Without a pool the median model fits the target's rows as they are (no copy).
        let (x50, y50): (Cow<[Vec<f64>]>, Cow<[f64]>) = if pooled.is_empty() {
            (Cow::Borrowed(&x), Cow::Borrowed(&y))
        } else {
            let (px, py) = target.xy(&pooled);
            (
                Cow::Owned([x.as_slice(), &px].concat()),
                Cow::Owned([y.as_slice(), &py].concat()),
            )
        };
        // The bucket head learns on a second thread while the quantile models do (each fit
        // has its own seeded sampling, so the result does not depend on the scheduling).
        let (head, (q50, cal, (merge30, n_changes))) = std::thread::scope(|s| {
            let head = s.spawn(|| {
                cfg.bucket_head.then(|| {
                    BucketClassifier::train_weighted(
                        latest_for_head(&merged, cfg),
                        &cfg.params,
                        cfg.head_class_weight,
                    )
                })
            });
            let q50 = if cfg.pool_weight == 1.0 || pooled.is_empty() {
                gbt::fit(&x50, &y50, Loss::Quantile(0.5), &cfg.params)
            } else {
                let w: Vec<f64> = (0..y50.len())
                    .map(|i| if i < y.len() { 1.0 } else { cfg.pool_weight })
                    .collect();
                gbt::fit_quantile_weighted(&x50, &y50, &w, 0.5, &cfg.params)
            };
            let cal = calibrate(&merged, records, &target, cfg, (&x, &y));
            let merge = merge_classifier(records, through, &cfg.params);
            let head = head.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (head, (q50, cal, merge))
        });
        Ok(TtmModel {
            version: MODEL_VERSION,
            q10: cal.q10,
            q50,
            q90: cal.q90,
            merge30,
            lo_scores: cal.lo_scores,
            hi_scores: cal.hi_scores,
            recent_scores: cal.recent_scores,
            recent_medians: cal.recent_medians,
            relative: cfg.relative,
            center_log: target.center_log,
            evidence: cal.evidence,
            head,
            baseline: median_features(&merged),
            n_merged: merged.len(),
            n_changes,
            scope,
            trained_through: through,
            global: cfg.global.clone(),
            model_weight: cfg.model_weight,
        })
    }

    pub(super) fn offset(&self, x: &[f64]) -> f64 {
        offset_of(self.relative, self.center_log, x)
    }

    /// The model's quantiles for a change, before conformal widening.
    pub fn raw(&self, f: &TtmFeatures) -> RawQuantiles {
        let x = &f.0;
        let o = self.offset(x);
        let own = o + self.q50.predict(x);
        RawQuantiles {
            lo: o + self.q10.predict(x),
            mid: blended(self.model_weight, self.global.as_ref(), own, x),
            hi: o + self.q90.predict(x),
        }
    }

    /// The model's AI4CI bucket for a change: the head's prior-corrected decision, or `None`
    /// without a head.
    pub fn bucket(&self, f: &TtmFeatures) -> Option<usize> {
        self.bucket_with(f, super::bucket_classifier::PRIOR_CORRECTION)
    }

    /// The head's decision with prior-correction exponent `beta`.
    pub fn bucket_with(&self, f: &TtmFeatures, beta: f64) -> Option<usize> {
        self.head.as_ref().map(|h| h.decide(f, beta))
    }

    /// The static (split-conformal) widths: the calibration scores at 10% on each side.
    pub fn static_widths(&self) -> (f64, f64) {
        (self.lo_scores.width(TARGET), self.hi_scores.width(TARGET))
    }

    /// The predicted distribution for a change, with the static split-conformal interval.
    pub fn predict(&self, f: &TtmFeatures) -> Prediction {
        self.predict_with(f, self.static_widths())
    }

    /// The predicted distribution with each side of the interval moved outwards by
    /// (lower, upper) widths on the ln(1 + hours) scale (see `aci` and `online`).
    pub fn predict_with(&self, f: &TtmFeatures, widths: (f64, f64)) -> Prediction {
        self.predict_from(f, &self.raw(f), widths)
    }

    /// [`TtmModel::predict_with`] given the change's quantiles before widening, `r =
    /// self.raw(f)` (so that a caller that keeps them does not walk the forests twice).
    pub fn predict_from(
        &self,
        f: &TtmFeatures,
        r: &RawQuantiles,
        widths: (f64, f64),
    ) -> Prediction {
        let lo = (r.lo - widths.0).min(r.mid);
        let hi = (r.hi + widths.1).max(r.mid);
        Prediction {
            p10_hours: from_log(lo),
            p50_hours: from_log(r.mid),
            p90_hours: from_log(hi),
            p_merge_30d: if self.merge30.trees.is_empty() && self.n_changes == 0 {
                f64::NAN
            } else {
                self.merge30.probability(&f.0)
            },
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
    use crate::ttm::features::{GROUPS, group_of, idx};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The scope of a model of one repository, `o/r`.
    fn repo_scope() -> Scope {
        Scope::Repository { repo: "o/r".into() }
    }

    /// A model of `o/r` trained on `synthetic(n, seed)` with the default configuration.
    fn trained_on_synthetic(n: usize, seed: u64) -> TtmModel {
        TtmModel::train(&synthetic(n, seed), repo_scope(), &TrainConfig::default()).unwrap()
    }

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
                    size_at_open: None,
                }
            })
            .collect()
    }

    /// `model.explain(x)`, checked against brute-force enumeration of all 2^9 coalitions of
    /// groups over the median the model shows (`raw().mid`): every value to 1e-9, and the
    /// prediction it explains is that median.
    fn explained_exactly(model: &TtmModel, x: &TtmFeatures) -> Explanation {
        let e = model.explain(x);
        assert!((e.prediction_log - model.raw(x).mid).abs() < 1e-9);
        let b = model.baseline.0;
        let value = |mask: u32| {
            let mut row = b;
            for (g, (_, feats)) in GROUPS.iter().enumerate() {
                if mask & (1 << g) != 0 {
                    for &f in *feats {
                        row[f] = x.0[f];
                    }
                }
            }
            model.raw(&TtmFeatures(row)).mid
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
        e
    }

    #[test]
    fn a_blended_median_is_explained_exactly_and_its_evidence_is_the_blend() {
        // Synthetic changes with a running median (pace) known at opening.
        let with_pace = |n, seed| {
            let mut v = synthetic(n, seed);
            for (i, r) in v.iter_mut().enumerate() {
                r.features.0[idx::RECENT_MEDIAN] = 2.0 + (i % 7) as f64 * 0.1;
                r.features.0[idx::TEST_SHARE] = (i % 3) as f64;
            }
            v
        };
        let global = GlobalModel::train(&with_pace(3000, 31), vec!["s".into()], &Params::default());
        let cfg = TrainConfig {
            global: Some(global.clone()),
            ..TrainConfig::default()
        };
        let records = with_pace(1500, 32);
        let model = TtmModel::train(&records, repo_scope(), &cfg).unwrap();
        let alone = TtmModel::train(&records, repo_scope(), &TrainConfig::default()).unwrap();
        let mut big = model.baseline;
        big.0[idx::LINES] = 2000f64.ln_1p();
        big.0[idx::RECENT_MEDIAN] = 2.6;
        big.0[idx::HOUR] = 3.0;
        // The median is the mean of the own model's and the cross-repository estimate.
        let own = alone.raw(&big).mid;
        let g = global.estimate(&big.0).unwrap();
        assert!((model.raw(&big).mid - (0.5 * own + 0.5 * g)).abs() < 1e-9);
        // Without a running median there is no estimate: the own model alone.
        let mut fresh = big;
        fresh.0[idx::RECENT_MEDIAN] = f64::NAN;
        assert_eq!(model.raw(&fresh).mid, alone.raw(&fresh).mid);
        // The explanation is exact against brute force over the blended median.
        explained_exactly(&model, &big);
        // The fallback's first evidence scores the blended median, not the own one.
        assert_ne!(model.evidence, alone.evidence);
    }

    #[test]
    fn the_median_is_shrunk_towards_the_running_median_and_explained_exactly() {
        let mut records = synthetic(1500, 41);
        for (i, r) in records.iter_mut().enumerate() {
            r.features.0[idx::RECENT_MEDIAN] = 2.0 + (i % 5) as f64 * 0.2;
        }
        let model = TtmModel::train(&records, repo_scope(), &TrainConfig::default()).unwrap();
        let alone = TtmModel::train(
            &records,
            repo_scope(),
            &TrainConfig {
                model_weight: 1.0,
                ..TrainConfig::default()
            },
        )
        .unwrap();
        assert_eq!(model.model_weight, MODEL_WEIGHT);
        // The same trees; only the estimate is shrunk.
        assert_eq!(model.q50, alone.q50);
        let mut big = model.baseline;
        big.0[idx::LINES] = 2000f64.ln_1p();
        big.0[idx::RECENT_MEDIAN] = 1.1;
        let (own, m) = (alone.raw(&big).mid, big.0[idx::RECENT_MEDIAN]);
        let expected = MODEL_WEIGHT * own + (1.0 - MODEL_WEIGHT) * m;
        assert!((model.raw(&big).mid - expected).abs() < 1e-9);
        assert!(
            model.raw(&big).mid < own,
            "pulled towards the lower running median"
        );
        // Without a running median, the model alone.
        let mut fresh = big;
        fresh.0[idx::RECENT_MEDIAN] = f64::NAN;
        assert_eq!(model.raw(&fresh).mid, alone.raw(&fresh).mid);
        // Exact Shapley values of the shrunk median, against brute force.
        let e = explained_exactly(&model, &big);
        // The running median's part names the pace group and pulls down.
        let pace = e
            .contributions
            .iter()
            .find(|c| c.group == group_of(idx::RECENT_MEDIAN))
            .unwrap();
        assert!(pace.log_effect < 0.0);
    }

    #[test]
    fn calibrated_interval_covers_about_eighty_percent() {
        let model = trained_on_synthetic(3000, 11);
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
        let model = trained_on_synthetic(2000, 21);
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
        assert_eq!(explained_exactly(&model, &big), e);
    }

    #[test]
    fn changes_still_open_keep_the_quick_recent_merges_out() {
        // Every third change takes 400 hours, the others 2. At the end of the history the slow
        // ones opened in the last 16 days are still open: the quick ones beside them merged.
        let mut recs = synthetic(900, 3);
        let end = recs.last().unwrap().created_at;
        for r in recs.iter_mut() {
            let slow = r.number % 3 == 0;
            let hours: i64 = if slow { 400 } else { 2 };
            let open = slow && r.created_at + hours * 3600 > end;
            r.merged_at = (!open).then_some(r.created_at + hours * 3600);
        }
        let censored = TtmModel::train(
            &recs,
            repo_scope(),
            &TrainConfig {
                censor_days: 30.0,
                ..TrainConfig::default()
            },
        )
        .unwrap();
        let naive = TtmModel::train(
            &recs,
            repo_scope(),
            &TrainConfig {
                censor_days: 0.0,
                ..TrainConfig::default()
            },
        )
        .unwrap();
        assert!(censored.n_merged < naive.n_merged);
        // Slow changes are a third of all: the 90th percentile is slow once the quick recent
        // merges no longer outnumber them in the calibration changes.
        let x = recs[5].features;
        assert!(
            censored.predict(&x).p90_hours > 300.0,
            "{:?}",
            censored.predict(&x)
        );
        assert!(
            naive.predict(&x).p90_hours < censored.predict(&x).p90_hours,
            "{:?}",
            naive.predict(&x)
        );
        // A history with nothing open loses nothing.
        let all = synthetic(300, 4);
        let cfg = TrainConfig {
            censor_days: 30.0,
            ..TrainConfig::default()
        };
        let m = TtmModel::train(&all, repo_scope(), &cfg).unwrap();
        assert_eq!(m.n_merged, 300);
    }

    #[test]
    fn relative_models_start_from_the_running_median_and_explain_exactly() {
        let mut recs = synthetic(1500, 8);
        for r in recs.iter_mut() {
            r.features.0[idx::RECENT_MEDIAN] = 1.0 + (r.number % 7) as f64 * 0.1;
        }
        let cfg = TrainConfig {
            relative: true,
            ..TrainConfig::default()
        };
        let m = TtmModel::train(&recs, repo_scope(), &cfg).unwrap();
        let mut f = recs[10].features;
        f.0[idx::RECENT_MEDIAN] = 4.0;
        let e = m.explain(&f);
        let sum: f64 = e.contributions.iter().map(|c| c.log_effect).sum();
        assert!((sum - (e.prediction_log - e.base_log)).abs() < 1e-9);
        let pace = e.contributions.iter().find(|c| c.name == "pace").unwrap();
        assert!(
            pace.log_effect > 2.0,
            "the offset moved with the running median: {pace:?}"
        );
        assert!((m.raw(&f).mid - e.prediction_log).abs() < 1e-12);
        assert!(!m.evidence.is_empty() && !m.recent_scores.is_empty());
    }

    #[test]
    fn the_pool_moves_only_the_median_and_as_much_as_it_weighs() {
        let own = synthetic(300, 5);
        // Another repository whose changes take e^3 times longer.
        let mut pool = synthetic(3000, 6);
        for r in pool.iter_mut() {
            r.repo = "o/other".into();
            let h = r.hours_to_merge().unwrap();
            r.merged_at = Some(r.created_at + (from_log(to_log(h) + 3.0) * 3600.0) as i64);
        }
        let cfg = |w: f64| TrainConfig {
            pool_weight: w,
            ..TrainConfig::default()
        };
        let alone = TtmModel::train(&own, repo_scope(), &cfg(1.0)).unwrap();
        let empty = TtmModel::train_with_pool(&own, &[], repo_scope(), &cfg(0.1)).unwrap();
        assert_eq!(format!("{alone:?}"), format!("{empty:?}"));
        let mid = |m: &TtmModel| {
            own.iter().map(|r| m.raw(&r.features).mid).sum::<f64>() / own.len() as f64
        };
        let full = TtmModel::train_with_pool(&own, &pool, repo_scope(), &cfg(1.0)).unwrap();
        let light = TtmModel::train_with_pool(&own, &pool, repo_scope(), &cfg(0.02)).unwrap();
        assert!(
            mid(&full) > mid(&alone) + 2.0,
            "{} {}",
            mid(&full),
            mid(&alone)
        );
        assert!(
            (mid(&light) - mid(&alone)).abs() < 0.5,
            "{} {}",
            mid(&light),
            mid(&alone)
        );
        // The interval, its calibration, the offset and the counts are the target's.
        for m in [&full, &light] {
            assert_eq!(m.q10, alone.q10);
            assert_eq!(m.q90, alone.q90);
            assert_eq!(m.evidence, alone.evidence);
            assert_eq!(
                (m.center_log, m.n_merged),
                (alone.center_log, alone.n_merged)
            );
        }
    }

    #[test]
    fn too_little_history_is_an_error_and_small_repos_pool() {
        let few = synthetic(10, 1);
        assert!(matches!(
            TtmModel::train(&few, repo_scope(), &TrainConfig::default()),
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
