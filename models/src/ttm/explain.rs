//! Why a time-to-merge estimate is what it is: exact Shapley values of the median over the
//! feature groups, against the model's baseline change, with the shrinkage towards the running
//! median and any cross-repository blend apportioned exactly.

use serde::Serialize;

use super::features::{GROUPS, N, TtmFeatures, from_log, group_of, idx};
use super::model::{TtmModel, shrunk};

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

impl TtmModel {
    /// Exact Shapley values of the median prediction over the feature groups, against the
    /// baseline change (features outside a coalition take baseline values). The offset reads
    /// one feature only, so its part goes whole to that feature's group.
    pub fn explain(&self, f: &TtmFeatures) -> Explanation {
        let x = f.0;
        let b = self.baseline.0;
        let own_base = self.offset(&b) + self.q50.predict(&b);
        let own_prediction = self.offset(&x) + self.q50.predict(&x);
        let mut phi = vec![0.0; GROUPS.len()];
        for tree in &self.q50.trees {
            tree.shapley_against(&x, &b, &group_of, &mut phi);
        }
        phi[group_of(idx::RECENT_MEDIAN)] += self.offset(&x) - self.offset(&b);
        // Shrunk towards the running median, then blended with the cross-repository model,
        // when both changes have a running median (Shapley values are linear: each part's,
        // weighted; the running median's whole goes to its group). A baseline without one (a
        // model trained on fewer merges than have a running median: never in practice)
        // explains the own model alone, and then `prediction_log` is the own model's, not
        // `raw().mid`.
        let with_pace = |v: &[f64; N]| !v[idx::RECENT_MEDIAN].is_nan();
        let both = with_pace(&x) && with_pace(&b);
        let (own_base, own_prediction) = if both {
            let w = self.model_weight;
            for p in phi.iter_mut() {
                *p *= w;
            }
            phi[group_of(idx::RECENT_MEDIAN)] +=
                (1.0 - w) * (x[idx::RECENT_MEDIAN] - b[idx::RECENT_MEDIAN]);
            (shrunk(w, own_base, &b), shrunk(w, own_prediction, &x))
        } else {
            (own_base, own_prediction)
        };
        let global = self.global.as_ref().filter(|_| both);
        let (base_log, prediction_log) = match global {
            Some(g) => {
                let w = g.weight;
                let mut gphi = vec![0.0; GROUPS.len()];
                g.shapley_against(&x, &b, &mut gphi);
                for (p, q) in phi.iter_mut().zip(&gphi) {
                    *p = (1.0 - w) * *p + w * q;
                }
                (g.blend(own_base, &b), g.blend(own_prediction, &x))
            }
            None => (own_base, own_prediction),
        };
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
