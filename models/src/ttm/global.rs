//! The cross-repository model: how far a change's time to merge lies from its repository's
//! running median, learned once from many public repositories' histories and shipped with
//! Canopy (`models/src/ttm/global.json`, notes in `GLOBAL.md`). A repository's own model has a few
//! hundred merges to learn from; this one has tens of thousands, so it knows the general
//! effects (size, a first-time author, the pace) that a small history cannot show. Blended into a
//! repository's median (the mean, on the ln(1 + hours) scale, of the own model's and this
//! model's estimate, weighted by [`GlobalModel::weight`]) it won on one hold-out and lost on the
//! next, so the bot does not use it: it is an evaluation option (`canopy ttm eval --global`;
//! docs/models.md, session 11).

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::features::{N, group_of, idx};
use super::record::PrRecord;
use crate::gbt::{self, Gbt, Loss, Params};

/// The shipped model's JSON.
pub static SHIPPED: &str = include_str!("global.json");

/// Share of the cross-repository estimate in the predicted median (the rest is the
/// repository's own model's).
pub const WEIGHT: f64 = 0.5;

/// The model shipped with Canopy (parsed once; `shipped_model_parses_and_ignores_the_features_the_bot_lacks` tests that it does).
pub fn shipped() -> &'static GlobalModel {
    static MODEL: LazyLock<GlobalModel> = LazyLock::new(|| {
        GlobalModel::from_json(SHIPPED)
            .expect("models/src/ttm/global.json is a cross-repository model (tested)")
    });
    &MODEL
}

/// Features the cross-repository model never reads: known only in the public datasets it learns
/// from, or defined differently there than from the bot's events (`team_size`).
pub const UNREAD: [usize; 5] = [
    idx::TEST_SHARE,
    idx::DOC_ONLY,
    idx::SAME_REPO,
    idx::FILE_ACTIVITY,
    idx::TEAM,
];

/// A trained cross-repository model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalModel {
    /// Share of its estimate in the predicted median.
    pub weight: f64,
    /// Median of ln(1 + hours) minus the running median's, by boosted trees.
    pub trees: Gbt,
    /// Merged changes it learned from.
    pub n_changes: usize,
    /// The histories it learned from (file names).
    pub trained_on: Vec<String>,
}

/// The features as the cross-repository model reads them ([`UNREAD`] missing).
pub fn readable(x: &[f64; N]) -> [f64; N] {
    let mut out = *x;
    for k in UNREAD {
        out[k] = f64::NAN;
    }
    out
}

impl GlobalModel {
    /// Reads a model from its JSON.
    pub fn from_json(json: &str) -> Result<GlobalModel, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Learns from `records` (several repositories; features as the bot would know them at
    /// opening): every merged change whose running median was known.
    pub fn train(records: &[PrRecord], trained_on: Vec<String>, params: &Params) -> GlobalModel {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for r in records {
            let rm = r.features.0[idx::RECENT_MEDIAN];
            if let Some(h) = r.hours_to_merge()
                && !rm.is_nan()
            {
                x.push(readable(&r.features.0).to_vec());
                y.push(h.max(0.0).ln_1p() - rm);
            }
        }
        GlobalModel {
            weight: WEIGHT,
            trees: gbt::fit(&x, &y, Loss::Quantile(0.5), params),
            n_changes: y.len(),
            trained_on,
        }
    }

    /// Its estimate of ln(1 + hours) for a change: the running median plus the learned
    /// distance; `None` while the repository has no merge yet.
    pub fn estimate(&self, x: &[f64; N]) -> Option<f64> {
        let rm = x[idx::RECENT_MEDIAN];
        (!rm.is_nan()).then(|| rm + self.trees.predict(&readable(x)))
    }

    /// `own` (the repository's model's median, ln scale) blended with the estimate for `x`.
    pub fn blend(&self, own: f64, x: &[f64; N]) -> f64 {
        self.estimate(x)
            .map_or(own, |g| (1.0 - self.weight) * own + self.weight * g)
    }

    /// Adds the exact Shapley values of [`GlobalModel::estimate`] for `x` against `b` (both
    /// with a running median) to `phi`, by feature group: the trees' in closed form, the running
    /// median's whole to its group.
    pub fn shapley_against(&self, x: &[f64; N], b: &[f64; N], phi: &mut [f64]) {
        let (rx, rb) = (readable(x), readable(b));
        for tree in &self.trees.trees {
            tree.shapley_against(&rx, &rb, &group_of, phi);
        }
        phi[group_of(idx::RECENT_MEDIAN)] += x[idx::RECENT_MEDIAN] - b[idx::RECENT_MEDIAN];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_model_parses_and_ignores_the_features_the_bot_lacks() {
        let g = GlobalModel::from_json(SHIPPED).expect("the shipped cross-repository model parses");
        assert_eq!(&g, shipped());
        assert_eq!(g.weight, WEIGHT);
        assert!(g.n_changes > 10_000, "{}", g.n_changes);
        assert!(!g.trees.trees.is_empty());
        for t in &g.trees.trees {
            assert!(t.features().iter().all(|f| !UNREAD.contains(f)));
        }
        let mut x = [f64::NAN; N];
        assert_eq!(g.estimate(&x), None);
        assert_eq!(g.blend(1.5, &x), 1.5);
        x[idx::RECENT_MEDIAN] = 24f64.ln_1p();
        x[idx::LINES] = 40f64.ln_1p();
        let e = g.estimate(&x).expect("an estimate with a running median");
        assert!(e.is_finite());
        let mut y = x;
        y[idx::TEST_SHARE] = 0.9;
        y[idx::TEAM] = 40.0;
        assert_eq!(g.estimate(&y), Some(e));
        assert!((g.blend(1.0, &x) - (0.5 + 0.5 * e)).abs() < 1e-12);
    }
}
