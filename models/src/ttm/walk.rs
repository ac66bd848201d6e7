//! Walk-forward evaluation that runs the model as the bot does. The test window is the last
//! share of changes by opening time; inside it the model (and the AI4CI-style classifier) are
//! retrained every `retrain_every` seconds on everything known at that moment — changes opened
//! before it, outcomes that happened before it — and each test change is predicted when it
//! opens, with the repository's online state then in force (adaptive interval levels, the
//! fallback's rolling errors). Each merge updates that state, in time order, as in the bot.

use std::collections::HashMap;

use chrono::DateTime;
use serde::Serialize;

mod intervals;
mod pool;
mod progress;
mod report;
mod score;
pub use intervals::{GoalRows, Interval, Intervals, Verdict, Verdicts, intervals};
pub use pool::PoolInfo;
pub use progress::{Walk, WalkProgress};
pub use report::{EvalReport, Figures, GlobalInfo, MonthCoverage, Served, SizeFeatures};
pub use score::score;

use super::aci::DEFAULT_GAMMA;
use super::bucket_classifier::{BucketClassifier, PRIOR_CORRECTION};
use super::buckets::BucketMap;
use super::fallback::Evidence;
use super::features::to_log;
use super::gousios::FINAL_SIZE;
use super::model::{
    Prediction, RawQuantiles, Scope, TrainConfig, TtmError, TtmModel, head_training_rows,
};
use super::online::OnlineState;
use super::record::PrRecord;
use super::running_median::{RunningMedian, Spread};

/// Hours between retrainings in `canopy serve` (its `ttm.retrain_hours` default) and so the
/// evaluation's default cadence.
pub const SERVE_RETRAIN_HOURS: u64 = 168;

/// How a predicted distribution is turned into one of AI4CI's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BucketRule {
    /// The model's bucket head (prior-corrected probability), else `Mapped`.
    Head,
    /// The predicted median mapped through the latest merges by rank (`buckets`).
    Mapped,
    /// The bucket the predicted median falls in.
    OfMedian,
    /// The most probable bucket under the predicted distribution.
    MostLikely,
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WalkConfig {
    /// Share of the latest changes (by opening time) tested.
    pub test_fraction: f64,
    /// Seconds between retrainings inside the test window.
    pub retrain_every: i64,
    /// Model settings.
    pub train: TrainConfig,
    /// Step of the adaptive interval levels.
    pub gamma: f64,
    /// Bucket of a predicted distribution.
    pub bucket_rule: BucketRule,
    /// Train and score the AI4CI-style classifier too (most of the evaluation's time).
    pub classifier: bool,
    /// Exponent of the bucket head's prior correction.
    pub beta: f64,
    /// Walk the headline only: no walk without size nor with the final sizes (their figures
    /// are then `None`).
    pub headline_only: bool,
}

impl Default for WalkConfig {
    fn default() -> Self {
        WalkConfig {
            test_fraction: 0.2,
            retrain_every: SERVE_RETRAIN_HOURS as i64 * 3600,
            train: TrainConfig::default(),
            gamma: DEFAULT_GAMMA,
            bucket_rule: BucketRule::Head,
            classifier: true,
            beta: PRIOR_CORRECTION,
            headline_only: false,
        }
    }
}

/// A test change as predicted when it opened (public for analyses of a walk).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WalkRow {
    /// Repository.
    pub repo: String,
    /// Change number.
    pub number: u64,
    /// Opened (epoch seconds).
    pub created: i64,
    /// Merged (epoch seconds), if it was.
    pub merged_at: Option<i64>,
    /// Hours to merge, if it merged.
    pub hours: Option<f64>,
    /// Merged within 30 days of opening.
    pub merged_30d: bool,
    /// Opening month, "2013-05".
    pub month: String,
    /// The model's prediction with the adaptive interval.
    pub model: Prediction,
    /// The model's quantiles before widening.
    pub raw: RawQuantiles,
    /// The model's median's bucket, mapped through the merges observed before it opened.
    pub bucket: usize,
    /// The bucket head's decision, when the model has one.
    pub head_bucket: Option<usize>,
    /// The static split-conformal interval, hours.
    pub static_interval: (f64, f64),
    /// The running median then.
    pub median: Option<Spread>,
    /// The AI4CI-style classifier's bucket and its hours, when trained.
    pub clf: Option<(usize, f64)>,
    /// The classifier's bucket probabilities, when trained.
    pub clf_probs: Option<[f64; 10]>,
    /// Whether the fallback showed the model.
    pub shown_model: bool,
    /// The fallback's rolling errors when the change opened (for replays of its rule).
    pub rolling: Evidence,
    /// The bucket head's probabilities, when the model has one (for replays of its decision).
    pub head_probs: Option<[f64; 10]>,
}

/// `records` as known at `t`: opened before it, with later outcomes hidden.
fn known_at(sorted: &[PrRecord], t: i64) -> Vec<PrRecord> {
    sorted
        .iter()
        .take_while(|r| r.created_at < t)
        .map(|r| {
            let mut r = r.clone();
            r.merged_at = r.merged_at.filter(|m| *m < t);
            r.closed_at = r.closed_at.filter(|c| *c < t);
            r
        })
        .collect()
}

fn scope_of(repos: &[String]) -> Scope {
    match repos {
        [one] => Scope::Repository { repo: one.clone() },
        _ => Scope::Pooled {
            repos: repos.to_vec(),
            reason: "evaluation".into(),
        },
    }
}

fn month_of(t: i64) -> String {
    DateTime::from_timestamp(t, 0).map_or_else(String::new, |d| d.format("%Y-%m").to_string())
}

/// `records` by opening time, the index where the test window starts, and the repositories.
fn prepare(records: &[PrRecord], cfg: &WalkConfig) -> (Vec<PrRecord>, usize, Vec<String>) {
    let mut sorted: Vec<PrRecord> = records.to_vec();
    sorted.sort_by_key(|r| (r.created_at, r.number));
    let cut =
        ((sorted.len() as f64) * (1.0 - cfg.test_fraction.clamp(0.01, 0.99))).round() as usize;
    let cut = cut.min(sorted.len().saturating_sub(1));
    let mut repos: Vec<String> = sorted.iter().map(|r| r.repo.clone()).collect();
    repos.sort();
    repos.dedup();
    (sorted, cut, repos)
}

/// What the headline uses: the size at opening when any record knows some of it.
fn headline_size(records: &[PrRecord]) -> SizeFeatures {
    let known = records.iter().any(|r| {
        r.size_at_open
            .is_some_and(|s| s.iter().any(|v| !v.is_nan()))
    });
    if known {
        SizeFeatures::AtOpen
    } else {
        SizeFeatures::Absent
    }
}

/// The records with `size` in the final-size features' places (never the final totals).
pub fn leak_free(records: &[PrRecord], size: SizeFeatures) -> Vec<PrRecord> {
    let mut out = records.to_vec();
    for r in &mut out {
        let values = match (size, r.size_at_open) {
            (SizeFeatures::AtOpen, Some(open)) => open,
            _ => [f64::NAN; 5],
        };
        for (&f, v) in FINAL_SIZE.iter().zip(values) {
            r.features.0[f] = v;
        }
    }
    out
}

/// The walk's per-change predictions (the headline's — with the size at opening where the data
/// has it — or with the final-size features) and the number of models trained.
pub fn rows(
    records: &[PrRecord],
    cfg: &WalkConfig,
    final_size: bool,
) -> Result<(Vec<WalkRow>, usize), TtmError> {
    let (sorted, cut, repos) = prepare(records, cfg);
    let sorted = if final_size {
        sorted
    } else {
        leak_free(&sorted, headline_size(&sorted))
    };
    walk_rows(
        &sorted,
        &[],
        cut,
        &repos,
        cfg,
        (Walk::Headline, &mut |_| {}),
    )
}

/// Evaluates on `records` (any order): leak-free (with the size at opening when the data has it,
/// and then also without any size feature), and with the final-size features when the data has
/// them.
pub fn evaluate(records: &[PrRecord], cfg: &WalkConfig) -> Result<EvalReport, TtmError> {
    evaluate_with_rows(records, cfg).map(|(report, _)| report)
}

/// [`evaluate`], and the headline walk's per-change predictions.
pub fn evaluate_with_rows(
    records: &[PrRecord],
    cfg: &WalkConfig,
) -> Result<(EvalReport, Vec<WalkRow>), TtmError> {
    evaluate_with_pool(records, &[], cfg)
}

/// [`evaluate_with_rows`] with the median model of every retraining also learning from `pool`
/// (other repositories' records, any order) as known at that moment: opened before it, merged
/// before it. The pool gets the size features of the walk it serves — the headline's (the size
/// at opening when the target has it) in the headline, none in the other two walks — and never
/// the final sizes. Everything but the median model stays on `records` alone.
pub fn evaluate_with_pool(
    records: &[PrRecord],
    pool: &[PrRecord],
    cfg: &WalkConfig,
) -> Result<(EvalReport, Vec<WalkRow>), TtmError> {
    evaluate_with_progress(records, pool, cfg, &mut |_| {})
}

/// [`evaluate_with_pool`], telling `progress` how far each walk has got.
pub fn evaluate_with_progress(
    records: &[PrRecord],
    pool: &[PrRecord],
    cfg: &WalkConfig,
    progress: &mut dyn FnMut(WalkProgress),
) -> Result<(EvalReport, Vec<WalkRow>), TtmError> {
    let (sorted, cut, repos) = prepare(records, cfg);
    let pool = pool::sorted(pool);
    let split_at = sorted.get(cut).map_or(i64::MAX, |r| r.created_at);
    let end = sorted.iter().map(|r| r.created_at).max().unwrap_or(0);
    let has_size = sorted
        .iter()
        .any(|r| FINAL_SIZE.iter().any(|&f| !r.features.0[f].is_nan()));
    let size_features = headline_size(&sorted);
    let headline_pool = leak_free(&pool, size_features);
    let (rows, retrains) = walk_rows(
        &leak_free(&sorted, size_features),
        &headline_pool,
        cut,
        &repos,
        cfg,
        (Walk::Headline, progress),
    )?;
    let headline = score(&rows, end, cfg.bucket_rule, retrains);
    // The other two walks' pool (none is walked with `headline_only`).
    let sizeless_pool = if cfg.headline_only {
        Vec::new()
    } else {
        leak_free(&pool, SizeFeatures::Absent)
    };
    let mut walk = |recs: &[PrRecord], which: Walk| -> Result<Figures, TtmError> {
        let (rows, retrains) = walk_rows(
            recs,
            &sizeless_pool,
            cut,
            &repos,
            cfg,
            (which, &mut *progress),
        )?;
        Ok(score(&rows, end, cfg.bucket_rule, retrains))
    };
    let without_size = match size_features {
        SizeFeatures::AtOpen if !cfg.headline_only => Some(walk(
            &leak_free(&sorted, SizeFeatures::Absent),
            Walk::WithoutSize,
        )?),
        _ => None,
    };
    let with_size = if has_size && !cfg.headline_only {
        Some(walk(&sorted, Walk::WithFinalSize)?)
    } else {
        None
    };
    let report = EvalReport {
        n_train: sorted[..cut]
            .iter()
            .filter(|r| r.merged_at.is_some_and(|m| m < split_at))
            .count(),
        split_at,
        retrain_every_weeks: cfg.retrain_every as f64 / (7.0 * 86_400.0),
        log_mae_with_final_size: with_size.as_ref().map(|f| f.log_mae),
        with_final_size: with_size,
        leak_free: headline,
        size_features,
        log_mae_without_size: without_size.as_ref().map(|f| f.log_mae),
        without_size,
        global: cfg.train.global.as_ref().map(|g| GlobalInfo::of(g, &repos)),
        model_weight: cfg.train.model_weight,
        repos,
        pool: PoolInfo::of(&pool, split_at),
    };
    Ok((report, rows))
}

/// The models in force: trained at the start of retraining period `k`.
struct Current {
    k: i64,
    model: TtmModel,
    classifier: Option<BucketClassifier>,
}

/// Trains the models in force from `t` on what was known at `t` (of `sorted`, and for the
/// median model of `pool`, by opening time too).
fn retrain(
    sorted: &[PrRecord],
    pool: &[PrRecord],
    t: i64,
    k: i64,
    repos: &[String],
    cfg: &WalkConfig,
) -> Result<Current, TtmError> {
    let known = known_at(sorted, t);
    let model = TtmModel::train_with_pool(
        &known,
        &pool::merged_at(pool, t),
        scope_of(repos),
        &cfg.train,
    )?;
    // With an unweighted head the baseline is the head itself — the same trees on the same
    // changes — deciding by the highest score, as AI4CI does. A class-weighted head gets an
    // unweighted baseline trained on the same changes.
    let weighted = cfg.train.bucket_head && cfg.train.head_class_weight != 0.0;
    let classifier = if !cfg.classifier {
        None
    } else if weighted {
        let rows = head_training_rows(&known, &cfg.train)?;
        Some(BucketClassifier::train_on(&rows, &cfg.train.params))
    } else {
        Some(
            model
                .head
                .clone()
                .unwrap_or_else(|| BucketClassifier::train(&known, &cfg.train.params)),
        )
    };
    Ok(Current {
        k,
        model,
        classifier,
    })
}

/// The walk's events in time order: (time, 0 = merge or close unmerged / 1 = open, index);
/// merges at the same second come first.
fn events(sorted: &[PrRecord], cut: usize) -> Vec<(i64, u8, usize)> {
    let mut events: Vec<(i64, u8, usize)> = Vec::new();
    for (i, r) in sorted.iter().enumerate().skip(cut) {
        events.push((r.created_at, 1, i));
        if let Some(m) = r.merged_at.or(r.closed_at) {
            events.push((m, 0, i));
        }
    }
    events.sort_unstable();
    events
}

/// The state of a walk between events: the models in force and each repository's online state.
struct Walker<'a> {
    sorted: &'a [PrRecord],
    /// Other repositories' records by opening time, for the median model.
    pool: &'a [PrRecord],
    repos: &'a [String],
    cfg: &'a WalkConfig,
    split_at: i64,
    every: i64,
    running: HashMap<&'a str, RunningMedian>,
    current: Option<Current>,
    retrains: usize,
    states: HashMap<&'a str, OnlineState>,
    /// The mapped bucket's window per repository (an evaluation-only alternative, `buckets`).
    maps: HashMap<&'a str, BucketMap>,
    /// The predicted median of each test change, pushed to the map when it merges.
    mids: HashMap<usize, f64>,
}

impl<'a> Walker<'a> {
    fn new(
        sorted: &'a [PrRecord],
        pool: &'a [PrRecord],
        cut: usize,
        repos: &'a [String],
        cfg: &'a WalkConfig,
    ) -> Self {
        Walker {
            sorted,
            pool,
            repos,
            cfg,
            split_at: sorted.get(cut).map_or(i64::MAX, |r| r.created_at),
            every: cfg.retrain_every.max(3600),
            running: RunningMedian::by_repo(sorted),
            current: None,
            retrains: 0,
            states: HashMap::new(),
            maps: HashMap::new(),
            mids: HashMap::new(),
        }
    }

    /// A merge or a close without merge of change `i`: the online state learns the outcome.
    fn outcome(&mut self, i: usize) {
        let r = &self.sorted[i];
        let Some(s) = self.states.get_mut(r.repo.as_str()) else {
            return;
        };
        let Some(h) = r.hours_to_merge() else {
            s.closed(r.number);
            return;
        };
        s.merged(r.number, h);
        if let (Some(m), Some(mid)) = (self.maps.get_mut(r.repo.as_str()), self.mids.remove(&i)) {
            m.push(mid, to_log(h));
        }
    }

    /// Change `i` opens at `t`: retrained models if a period began, then its prediction.
    fn open(&mut self, t: i64, i: usize) -> Result<Option<WalkRow>, TtmError> {
        let k = (t - self.split_at).div_euclid(self.every);
        if self.current.as_ref().is_none_or(|c| c.k != k) {
            let at = self.split_at + k * self.every;
            self.current = Some(retrain(
                self.sorted,
                self.pool,
                at,
                k,
                self.repos,
                self.cfg,
            )?);
            self.retrains += 1;
        }
        let Some(c) = self.current.as_ref() else {
            return Ok(None);
        };
        let r = &self.sorted[i];
        let state = self
            .states
            .entry(r.repo.as_str())
            .or_insert_with(|| OnlineState::for_model(&c.model, self.cfg.gamma));
        let median = self.running.get(r.repo.as_str()).and_then(|rm| rm.at(t));
        let shown_model = state.choice().is_model();
        let rolling = state.choice().evidence();
        let model = state.predict(
            &c.model,
            r.number,
            &r.features,
            t,
            median.map(|s| s.p50_hours),
        );
        let fixed = c.model.predict(&r.features);
        let raw = c.model.raw(&r.features);
        let map = self
            .maps
            .entry(r.repo.as_str())
            .or_insert_with(|| BucketMap::seeded(&c.model.recent_medians));
        self.mids.insert(i, raw.mid);
        let head = c.model.head.as_ref();
        let head_probs = head.map(|h| h.probabilities(&r.features));
        Ok(Some(WalkRow {
            repo: r.repo.clone(),
            number: r.number,
            created: t,
            merged_at: r.merged_at,
            hours: r.hours_to_merge(),
            merged_30d: r.merged_within_30d(),
            month: month_of(t),
            bucket: map.bucket(raw.mid),
            head_bucket: head
                .zip(head_probs.as_ref())
                .map(|(h, p)| h.decide_from(p, self.cfg.beta)),
            raw,
            static_interval: (fixed.p10_hours, fixed.p90_hours),
            model,
            median,
            clf: c.classifier.as_ref().map(|m| {
                let b = m.predict(&r.features);
                (b, m.hours(b))
            }),
            clf_probs: c.classifier.as_ref().map(|m| m.probabilities(&r.features)),
            shown_model,
            rolling,
            head_probs,
        }))
    }
}

/// Runs the test window in time order: openings are predicted, merges update the online state.
fn walk_rows(
    sorted: &[PrRecord],
    pool: &[PrRecord],
    cut: usize,
    repos: &[String],
    cfg: &WalkConfig,
    (walk, progress): (Walk, &mut dyn FnMut(WalkProgress)),
) -> Result<(Vec<WalkRow>, usize), TtmError> {
    let mut walker = Walker::new(sorted, pool, cut, repos, cfg);
    let mut rows: Vec<WalkRow> = Vec::new();
    let total = sorted.len().saturating_sub(cut);
    let mut done = 0;
    for (t, kind, i) in events(sorted, cut) {
        if let Some(s) = walker.states.get_mut(sorted[i].repo.as_str()) {
            s.tick(t);
        }
        if kind == 0 {
            walker.outcome(i);
            continue;
        }
        if let Some(row) = walker.open(t, i)? {
            rows.push(row);
        }
        done += 1;
        if done % progress::EVERY == 0 || done == total {
            progress(WalkProgress { walk, done, total });
        }
    }
    Ok((rows, walker.retrains))
}

/// The running median's prediction: its spread, or a day with an unbounded range before any
/// merge.
fn median_pred(s: &Option<Spread>) -> (f64, Option<(f64, f64)>) {
    match s {
        Some(s) => (s.p50_hours, Some((s.p10_hours, s.p90_hours))),
        None => (24.0, Some((0.0, f64::INFINITY))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbt::Params;
    use crate::ttm::features::{TtmFeatures, from_log, idx};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const HOUR: i64 = 3600;

    #[test]
    fn a_repository_the_cross_repository_model_learned_from_is_in_sample() {
        let g = crate::ttm::global::shipped();
        let first = g.trained_on[0].trim_end_matches(".csv").replace('@', "/");
        let info = GlobalInfo::of(g, &[first]);
        assert!(info.in_sample);
        assert_eq!(info.histories, g.trained_on.len());
        assert_eq!(info.weight, g.weight);
        assert!(!GlobalInfo::of(g, &["nobody/nothing".to_string()]).in_sample);
    }

    /// `n` merged changes opened every 6 hours; ln(1 + hours) = level + 0.8·size + spread·z with
    /// z roughly standard normal; `drift(i)` gives (level, spread) of change `i`, and the team
    /// feature shows the level (a new team, a new pace).
    fn history(n: usize, seed: u64, drift: impl Fn(usize) -> (f64, f64)) -> Vec<PrRecord> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let size: f64 = rng.random::<f64>() * 3.0;
                let z: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
                let (level, spread) = drift(i);
                let hours = from_log(level + 0.8 * size + spread * z);
                let mut f = TtmFeatures::default();
                f.0[idx::PRIOR] = size;
                f.0[idx::TEAM] = level;
                let created = 1_300_000_000 + i as i64 * 6 * HOUR;
                let merged = created + (hours * 3600.0) as i64;
                PrRecord {
                    repo: "o/r".into(),
                    number: i as u64,
                    created_at: created,
                    merged_at: Some(merged),
                    closed_at: Some(merged),
                    features: f,
                    size_at_open: None,
                }
            })
            .collect()
    }

    pub(super) fn small(gamma: f64, weeks: f64) -> WalkConfig {
        WalkConfig {
            test_fraction: 0.3,
            retrain_every: (weeks * 7.0 * 86_400.0) as i64,
            train: TrainConfig {
                params: Params {
                    trees: 30,
                    max_depth: 2,
                    learning_rate: 0.2,
                    ..Params::default()
                },
                ..TrainConfig::default()
            },
            gamma,
            bucket_rule: BucketRule::Head,
            classifier: true,
            beta: PRIOR_CORRECTION,
            headline_only: false,
        }
    }

    /// Coverage of the adaptive and the static interval over the months after `from`.
    fn after(f: &Figures, from: &str) -> (f64, f64, usize) {
        let months: Vec<&MonthCoverage> = f
            .coverage_by_month
            .iter()
            .filter(|m| m.month.as_str() > from)
            .collect();
        let n: usize = months.iter().map(|m| m.n).sum();
        let share = |g: fn(&MonthCoverage) -> f64| {
            months.iter().map(|m| g(m) * m.n as f64).sum::<f64>() / n.max(1) as f64
        };
        (share(|m| m.coverage), share(|m| m.static_coverage), n)
    }

    #[test]
    fn adaptive_intervals_keep_coverage_through_a_drift_that_static_ones_miss() {
        // 2,000 changes over 500 days; the last 600 are tested. Halfway through the test window
        // the spread of merge times triples. No retraining: only the interval levels can adapt.
        let recs = history(2000, 5, |i| (1.0, if i < 1700 { 0.4 } else { 1.2 }));
        let drift_month = month_of(recs[1700].created_at);
        let report = evaluate(&recs, &small(0.05, 1000.0)).unwrap();
        let f = &report.leak_free;
        assert_eq!(f.retrains, 1);
        let (adaptive, fixed, n) = after(f, &drift_month);
        assert!(n >= 200, "{n} merges after the drift");
        assert!(fixed < 0.6, "static coverage after the drift {fixed}");
        assert!(
            adaptive > 0.72,
            "adaptive coverage after the drift {adaptive}"
        );
        // Before the drift both hold about 80%.
        let before: Vec<&MonthCoverage> = f
            .coverage_by_month
            .iter()
            .filter(|m| m.month < drift_month)
            .collect();
        assert!(!before.is_empty());
        for m in before {
            assert!(m.coverage > 0.65 && m.static_coverage > 0.65, "{m:?}");
        }
        // The report keeps the running median and the classifier beside every figure.
        assert!(f.baselines.contains_key("running_median"));
        assert!(f.baselines.contains_key("ai4ci_bucket_classifier"));
        assert!(
            report.with_final_size.is_none(),
            "the synthetic data has no size columns"
        );
        // Nor sizes at opening: the headline has no size features and is walked once.
        assert_eq!(report.size_features, SizeFeatures::Absent);
        assert_eq!(report.without_size, None);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["size_features"], "none");
        assert!(json["log_mae_without_size"].is_null());
    }

    /// `history` whose size is known at opening: the size that drives time to merge leaves the
    /// author feature for the at-open lines (unknown for every tenth change), and the final
    /// lines are that size plus rework unrelated to the outcome.
    fn sized_history(n: usize, seed: u64) -> Vec<PrRecord> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
        history(n, seed, |_| (1.0, 0.4))
            .into_iter()
            .map(|mut r| {
                let size = r.features.0[idx::PRIOR];
                r.features.0[idx::PRIOR] = f64::NAN;
                r.features.0[idx::LINES] = size + rng.random::<f64>();
                let lines = if r.number % 10 == 0 { f64::NAN } else { size };
                r.size_at_open = Some([lines, f64::NAN, f64::NAN, f64::NAN, f64::NAN]);
                r
            })
            .collect()
    }

    #[test]
    fn the_headline_uses_the_size_at_opening_and_reports_the_walk_without_size() {
        let recs = sized_history(800, 4);
        let cfg = WalkConfig {
            classifier: false,
            ..small(0.02, 4.0)
        };
        let mut seen: Vec<WalkProgress> = Vec::new();
        let (report, walk) =
            evaluate_with_progress(&recs, &[], &cfg, &mut |p| seen.push(p)).unwrap();
        assert_eq!(report.size_features, SizeFeatures::AtOpen);
        // Each of the three walks reports its way through every test change, in order.
        let tested = recs
            .iter()
            .filter(|r| r.created_at >= report.split_at)
            .count();
        for (k, which) in [Walk::Headline, Walk::WithoutSize, Walk::WithFinalSize]
            .into_iter()
            .enumerate()
        {
            let mine: Vec<_> = seen.iter().filter(|p| p.walk == which).collect();
            assert_eq!(mine.len(), tested.div_ceil(progress::EVERY), "{which:?}");
            assert!(mine.windows(2).all(|w| w[0].done < w[1].done));
            assert_eq!((mine[0].done, mine[0].total), (progress::EVERY, tested));
            assert_eq!(mine.last().map(|p| p.done), Some(tested));
            let first = seen.iter().position(|p| p.walk == which);
            assert_eq!(
                first,
                Some(k * mine.len()),
                "{which:?} walks after the one before"
            );
        }
        let without = report.without_size.as_ref().unwrap();
        assert_eq!(report.log_mae_without_size, Some(without.log_mae));
        assert_eq!(without.n_test, report.leak_free.n_test);
        assert!(
            report.leak_free.log_mae < 0.8 * without.log_mae,
            "at opening {} vs without size {}",
            report.leak_free.log_mae,
            without.log_mae
        );
        // The final sizes are still walked on their own.
        assert!(report.with_final_size.is_some());
        assert_eq!(
            report.log_mae_with_final_size,
            report.with_final_size.as_ref().map(|f| f.log_mae)
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["size_features"], "at_open");
        assert!(json["without_size"]["coverage_by_month"].is_array());
        // The rows of a walk (the `--dump` of `ttm_walk`) are the headline's.
        let (dumped, _) = rows(&recs, &cfg, false).unwrap();
        assert_eq!(dumped, walk);
        let end = recs.iter().map(|r| r.created_at).max().unwrap();
        let fig = score(&dumped, end, cfg.bucket_rule, report.leak_free.retrains);
        assert_eq!(fig.log_mae, report.leak_free.log_mae);
    }

    #[test]
    fn walk_forward_retraining_follows_a_change_of_pace() {
        // Halfway through the test window a new team takes over and every change starts taking
        // e^1.5 times longer: a model trained once has never seen this team; retrained weekly,
        // it learns the new pace from the merges since.
        let recs = history(1200, 9, |i| (if i < 1020 { 1.0 } else { 2.5 }, 0.4));
        // (The classifier is left out: 13 retrainings of it would only slow the test down.)
        let cfg = |weeks| WalkConfig {
            classifier: false,
            ..small(0.0, weeks)
        };
        let once = evaluate(&recs, &cfg(1000.0)).unwrap();
        let weekly = evaluate(&recs, &cfg(1.0)).unwrap();
        // 360 changes over 90 days: a model per week.
        assert_eq!(once.leak_free.retrains, 1);
        assert!(
            (13..=14).contains(&weekly.leak_free.retrains),
            "{}",
            weekly.leak_free.retrains
        );
        assert!((weekly.retrain_every_weeks - 1.0).abs() < 1e-9);
        assert!(
            weekly.leak_free.log_mae < 0.8 * once.leak_free.log_mae,
            "weekly {} vs once {}",
            weekly.leak_free.log_mae,
            once.leak_free.log_mae
        );
        // Merged before the test window opened (the last few merged inside it).
        assert!((830..=840).contains(&weekly.n_train), "{}", weekly.n_train);
        assert_eq!(weekly.leak_free.n_test, 360);
    }

    #[test]
    fn a_class_weighted_head_is_compared_with_unweighted_trees_on_the_same_changes() {
        let recs = history(600, 3, |_| (1.0, 0.6));
        let t = recs[500].created_at;
        let repos = vec!["o/r".to_string()];
        let plain = retrain(&recs, &[], t, 0, &repos, &small(0.02, 1.0)).unwrap();
        // Unweighted, the baseline is the head itself.
        assert_eq!(plain.classifier, plain.model.head);
        let mut cfg = small(0.02, 1.0);
        cfg.train.head_class_weight = 1.0;
        let weighted = retrain(&recs, &[], t, 0, &repos, &cfg).unwrap();
        assert!(weighted.model.head.is_some());
        assert_ne!(weighted.classifier, weighted.model.head);
        // The baseline stays the unweighted head, trained on the same changes.
        assert_eq!(weighted.classifier, plain.model.head);
    }

    #[test]
    fn training_sees_only_what_was_known() {
        let recs = history(10, 1, |_| (1.0, 0.1));
        let t = recs[5].created_at;
        let known = known_at(&recs, t);
        assert_eq!(known.len(), 5);
        for (k, r) in known.iter().zip(&recs) {
            assert_eq!(k.merged_at, r.merged_at.filter(|m| *m < t));
            assert!(k.created_at < t);
        }
        assert!(
            known.iter().any(|k| k.merged_at.is_none()),
            "a merge after t is hidden"
        );
    }
}
