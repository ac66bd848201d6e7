//! Pooling for the walk: other repositories' histories that the median model of each retraining
//! also learns from, as known at that moment.

use serde::Serialize;

use super::known_at;
use crate::ttm::record::PrRecord;

/// What the median model pooled (`pool` of the report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolInfo {
    /// Pool files, counted as the distinct repositories among the pool's records.
    pub files: usize,
    /// Pool changes merged before the test window opened.
    pub merged_at_split: usize,
}

impl PoolInfo {
    /// The report's entry for `sorted` (by opening time), `None` for an empty pool.
    pub(super) fn of(sorted: &[PrRecord], split_at: i64) -> Option<PoolInfo> {
        if sorted.is_empty() {
            return None;
        }
        let mut repos: Vec<&str> = sorted.iter().map(|r| r.repo.as_str()).collect();
        repos.sort_unstable();
        repos.dedup();
        Some(PoolInfo {
            files: repos.len(),
            merged_at_split: sorted
                .iter()
                .take_while(|r| r.created_at < split_at)
                .filter(|r| r.merged_at.is_some_and(|m| m < split_at))
                .count(),
        })
    }
}

/// `pool` by opening time.
pub(super) fn sorted(pool: &[PrRecord]) -> Vec<PrRecord> {
    let mut out = pool.to_vec();
    out.sort_by_key(|r| (r.created_at, r.number));
    out
}

/// The changes of `sorted` (by opening time) opened and merged before `t`: what the median model
/// may learn from the pool at `t`.
pub(super) fn merged_at(sorted: &[PrRecord], t: i64) -> Vec<PrRecord> {
    let mut known = known_at(sorted, t);
    known.retain(|r| r.merged_at.is_some());
    known
}

#[cfg(test)]
mod tests {
    use super::super::tests::small;
    use super::super::{WalkConfig, evaluate, evaluate_with_pool, retrain};
    use super::*;
    use crate::ttm::features::{TtmFeatures, from_log, idx};
    use crate::ttm::model::TtmModel;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const HOUR: i64 = 3600;
    const T0: i64 = 1_300_000_000;

    /// `n` merged changes of `repo`, one every `every` hours from `start`, whose ln(1 + hours)
    /// is 1 + 2·tanh(2·(size − 1.5)) + 0.3·z, with the size known at opening and final lines
    /// that are noise (so only the size at opening helps).
    fn repo(name: &str, n: usize, seed: u64, start: i64, every: i64) -> Vec<PrRecord> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let size: f64 = rng.random::<f64>() * 3.0;
                let z: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
                let hours = from_log(1.0 + 2.0 * (2.0 * (size - 1.5)).tanh() + 0.3 * z);
                let mut f = TtmFeatures::default();
                f.0[idx::LINES] = rng.random::<f64>() * 8.0;
                f.0[idx::HOUR] = (i % 24) as f64;
                let created = start + i as i64 * every * HOUR;
                let merged = created + (hours * 3600.0) as i64;
                PrRecord {
                    repo: name.into(),
                    number: i as u64,
                    created_at: created,
                    merged_at: Some(merged),
                    closed_at: Some(merged),
                    features: f,
                    size_at_open: Some([size, f64::NAN, f64::NAN, f64::NAN, f64::NAN]),
                }
            })
            .collect()
    }

    /// Three other repositories following the same rule, from 80 days before `T0` for 125 days.
    fn others() -> Vec<PrRecord> {
        (0..3)
            .flat_map(|k| {
                let name = format!("other/{k}");
                repo(&name, 500, 100 + k, T0 - 80 * 24 * HOUR + k as i64, 6)
            })
            .collect()
    }

    fn cfg() -> WalkConfig {
        WalkConfig {
            classifier: false,
            headline_only: true,
            ..small(0.02, 1.0)
        }
    }

    #[test]
    fn a_pool_of_repositories_that_follow_the_same_rule_lowers_the_error() {
        // 120 changes over 60 days: 84 to learn from at first, and a rule with a steep middle.
        let target = repo("o/r", 120, 7, T0, 12);
        let pool = others();
        let (alone, _) = evaluate_with_pool(&target, &[], &cfg()).unwrap();
        let (pooled, _) = evaluate_with_pool(&target, &pool, &cfg()).unwrap();
        assert_eq!(pooled.leak_free.n_test, alone.leak_free.n_test);
        assert!(
            pooled.leak_free.log_mae < 0.85 * alone.leak_free.log_mae,
            "pooled {} vs alone {}",
            pooled.leak_free.log_mae,
            alone.leak_free.log_mae
        );
        // The running median and the classifier stay the target's own.
        assert_eq!(
            pooled.leak_free.baselines["running_median"],
            alone.leak_free.baselines["running_median"]
        );
        let info = pooled.pool.as_ref().unwrap();
        assert_eq!(info.files, 3);
        let before = pool
            .iter()
            .filter(|r| r.created_at < pooled.split_at)
            .filter(|r| r.merged_at.is_some_and(|m| m < pooled.split_at))
            .count();
        assert_eq!(info.merged_at_split, before);
        assert!(before > 1300 && before < 1500, "{before}");
        // Headline only: the other walks are left out.
        assert!(pooled.without_size.is_none() && pooled.with_final_size.is_none());
        let json = serde_json::to_value(&pooled).unwrap();
        assert_eq!(json["pool"]["files"], 3);
        assert!(json["log_mae_with_final_size"].is_null());
        assert!(serde_json::to_value(&alone).unwrap()["pool"].is_null());
    }

    #[test]
    fn pool_changes_merged_after_a_retraining_are_not_in_it() {
        let pool = sorted(&others());
        let t = T0 + 40 * 24 * HOUR;
        let known = merged_at(&pool, t);
        let expected: Vec<(String, u64)> = pool
            .iter()
            .filter(|r| r.created_at < t && r.merged_at.is_some_and(|m| m < t))
            .map(|r| (r.repo.clone(), r.number))
            .collect();
        let got: Vec<(String, u64)> = known.iter().map(|r| (r.repo.clone(), r.number)).collect();
        assert_eq!(got, expected);
        let late = pool
            .iter()
            .filter(|r| r.created_at < t && r.merged_at.is_some_and(|m| m >= t))
            .count();
        assert!(late > 0, "some pool changes opened before t merge after it");

        // A retraining at t is the same whatever happens to the pool after t: the changes that
        // merge later, or open later, may take any time at all.
        let target = repo("o/r", 120, 7, T0, 12);
        let repos = vec!["o/r".to_string()];
        let mut rewritten = pool.clone();
        for r in rewritten.iter_mut() {
            if r.merged_at.is_some_and(|m| m >= t) {
                r.merged_at = Some(r.created_at + 5000 * HOUR);
            }
        }
        let c = cfg();
        let a = retrain(&target, &pool, t, 0, &repos, &c).unwrap();
        let b = retrain(&target, &rewritten, t, 0, &repos, &c).unwrap();
        // (Debug, not PartialEq: the models' baselines hold NaN.)
        let same = |x: &TtmModel, y: &TtmModel| format!("{x:?}") == format!("{y:?}");
        assert!(
            same(&a.model, &b.model),
            "the retraining saw the pool's future"
        );
        // And the pool does enter the median model (the test is not vacuous).
        let alone = retrain(&target, &[], t, 0, &repos, &c).unwrap();
        assert_ne!(a.model.q50, alone.model.q50);
        assert_eq!(a.model.q10, alone.model.q10);
        assert_eq!(a.model.center_log, alone.model.center_log);
    }

    #[test]
    fn an_empty_pool_is_the_plain_walk() {
        let target = repo("o/r", 300, 3, T0, 6);
        let c = WalkConfig {
            classifier: false,
            ..small(0.02, 2.0)
        };
        let plain = evaluate(&target, &c).unwrap();
        let (empty, _) = evaluate_with_pool(&target, &[], &c).unwrap();
        assert_eq!(plain, empty);
        assert!(plain.pool.is_none());
        assert!(plain.without_size.is_some() && plain.with_final_size.is_some());
    }
}
