//! Gradient-boosted regression trees, written for Canopy (linfa has no gradient boosting):
//! histogram-based splits on up to 64 quantile bins per feature, missing values (NaN) sent to
//! the better side, pinball loss for quantiles (leaves take the residual quantile, as in
//! Friedman's quantile boosting) and logistic loss for probabilities (Newton leaves).
//! Deterministic: row subsampling uses a seeded generator.

use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Bins per feature, the missing bin (0) included.
const MAX_BINS: usize = 64;

/// What the trees minimise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Loss {
    /// Pinball loss for the given quantile (0–1).
    Quantile(f64),
    /// Log loss for a 0/1 target; the raw score is a log-odds.
    Logistic,
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Number of trees.
    pub trees: usize,
    /// Shrinkage of each tree.
    pub learning_rate: f64,
    /// Depth of each tree.
    pub max_depth: usize,
    /// Fewest training rows in a leaf.
    pub min_leaf: usize,
    /// Share of rows sampled for each tree.
    pub subsample: f64,
    /// L2 regularisation of logistic leaves.
    pub lambda: f64,
    /// Seed of the row sampling.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            trees: 150,
            learning_rate: 0.08,
            max_depth: 4,
            min_leaf: 20,
            subsample: 0.8,
            lambda: 1.0,
            seed: 7,
        }
    }
}

/// A node of a tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    /// Go left when `x[feature] <= threshold` (or when missing and `missing_left`).
    Split {
        /// Feature index.
        feature: usize,
        /// Threshold.
        threshold: f64,
        /// Where missing values go.
        missing_left: bool,
        /// Left child index.
        left: usize,
        /// Right child index.
        right: usize,
    },
    /// Output.
    Leaf(f64),
}

/// One regression tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Nodes; the root is node 0.
    pub nodes: Vec<Node>,
}

impl Node {
    /// Whether a row goes left at this split (missing values go the learned way); false at a
    /// leaf.
    pub(crate) fn goes_left(&self, row: &[f64]) -> bool {
        let Node::Split {
            feature,
            threshold,
            missing_left,
            ..
        } = *self
        else {
            return false;
        };
        let v = row.get(feature).copied().unwrap_or(f64::NAN);
        if v.is_nan() {
            missing_left
        } else {
            v <= threshold
        }
    }
}

impl Tree {
    /// The tree's output for a row.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                Node::Leaf(v) => return *v,
                node @ Node::Split { left, right, .. } => {
                    i = if node.goes_left(x) { *left } else { *right };
                }
            }
        }
    }

    /// Adds to `phi` the exact Shapley values of this tree's prediction for `x` against the
    /// single reference `b`, where players are groups of features (`player_of` maps a feature
    /// to its player; a coalition's row takes `x` on its players' features and `b` elsewhere).
    ///
    /// A leaf is reached by a coalition S exactly when S contains the players whose splits on
    /// the path only `x` passes (set A) and none of those only `b` passes (set B); such a game
    /// has closed-form values, v·(|A|−1)!|B|!/(|A|+|B|)! for each player in A and
    /// −v·|A|!(|B|−1)!/(|A|+|B|)! for each in B. Summing over leaves is exact and linear in the
    /// tree's size, instead of enumerating 2^players coalitions.
    pub fn shapley_against(
        &self,
        x: &[f64],
        b: &[f64],
        player_of: &dyn Fn(usize) -> usize,
        phi: &mut [f64],
    ) {
        // Per player on the current path: (x passes every split so far, b passes every split).
        let mut state: Vec<(usize, bool, bool)> = Vec::with_capacity(8);
        self.walk(0, x, b, player_of, &mut state, phi);
    }

    fn walk(
        &self,
        i: usize,
        x: &[f64],
        b: &[f64],
        player_of: &dyn Fn(usize) -> usize,
        state: &mut Vec<(usize, bool, bool)>,
        phi: &mut [f64],
    ) {
        match &self.nodes[i] {
            Node::Leaf(v) => {
                let a: Vec<usize> = state.iter().filter(|s| s.1 && !s.2).map(|s| s.0).collect();
                let bb: Vec<usize> = state.iter().filter(|s| !s.1 && s.2).map(|s| s.0).collect();
                if state.iter().any(|s| !s.1 && !s.2) || (a.is_empty() && bb.is_empty()) {
                    return; // unreachable, or reached by every coalition (no marginal effect)
                }
                let (na, nb) = (a.len(), bb.len());
                let fact = |k: usize| (1..=k).fold(1.0, |acc, j| acc * j as f64);
                let total = fact(na + nb);
                if na > 0 {
                    let w = v * fact(na - 1) * fact(nb) / total;
                    for &p in &a {
                        phi[p] += w;
                    }
                }
                if nb > 0 {
                    let w = v * fact(na) * fact(nb - 1) / total;
                    for &p in &bb {
                        phi[p] -= w;
                    }
                }
            }
            node @ Node::Split {
                feature,
                left,
                right,
                ..
            } => {
                let (xl, bl) = (node.goes_left(x), node.goes_left(b));
                let p = player_of(*feature);
                let pos = state.iter().position(|s| s.0 == p);
                for (child, x_ok, b_ok) in [(*left, xl, bl), (*right, !xl, !bl)] {
                    if !x_ok && !b_ok {
                        continue;
                    }
                    match pos {
                        Some(k) => {
                            let saved = state[k];
                            state[k].1 &= x_ok;
                            state[k].2 &= b_ok;
                            self.walk(child, x, b, player_of, state, phi);
                            state[k] = saved;
                        }
                        None => {
                            state.push((p, x_ok, b_ok));
                            self.walk(child, x, b, player_of, state, phi);
                            state.pop();
                        }
                    }
                }
            }
        }
    }

    /// Features the tree splits on, without duplicates.
    pub fn features(&self) -> Vec<usize> {
        let mut f: Vec<usize> = self
            .nodes
            .iter()
            .filter_map(|n| match n {
                Node::Split { feature, .. } => Some(*feature),
                Node::Leaf(_) => None,
            })
            .collect();
        f.sort_unstable();
        f.dedup();
        f
    }
}

/// A trained ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbt {
    /// Loss it was trained for.
    pub loss: Loss,
    /// Starting score.
    pub base: f64,
    /// Trees, each already scaled by the learning rate.
    pub trees: Vec<Tree>,
}

impl Gbt {
    /// Raw score of a row (a log-odds for [`Loss::Logistic`]).
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.base + self.trees.iter().map(|t| t.predict(x)).sum::<f64>()
    }

    /// Probability for [`Loss::Logistic`] models.
    pub fn probability(&self, x: &[f64]) -> f64 {
        sigmoid(self.predict(x))
    }
}

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Per-feature bin edges from training data.
struct Binner {
    edges: Vec<Vec<f64>>,
}

impl Binner {
    fn fit(x: &[Vec<f64>], n_features: usize) -> Binner {
        let mut edges = Vec::with_capacity(n_features);
        for f in 0..n_features {
            let mut vals: Vec<f64> = x.iter().map(|r| r[f]).filter(|v| !v.is_nan()).collect();
            vals.sort_by(f64::total_cmp);
            vals.dedup();
            let e = if vals.len() < MAX_BINS {
                vals.iter()
                    .take(vals.len().saturating_sub(1))
                    .copied()
                    .collect()
            } else {
                let k = MAX_BINS - 2;
                let mut e: Vec<f64> = (1..=k)
                    .map(|i| vals[i * (vals.len() - 1) / (k + 1)])
                    .collect();
                e.dedup();
                e
            };
            edges.push(e);
        }
        Binner { edges }
    }

    fn bin(&self, f: usize, v: f64) -> u8 {
        if v.is_nan() {
            return 0;
        }
        (1 + self.edges[f].partition_point(|e| *e < v)) as u8
    }
}

#[derive(Clone, Copy, Default)]
struct Stat {
    g: f64,
    h: f64,
    n: u32,
}

/// Trains an ensemble on rows `x` (all of the same length; NaN = missing) and targets `y`.
pub fn fit(x: &[Vec<f64>], y: &[f64], loss: Loss, p: &Params) -> Gbt {
    fit_inner(x, y, None, loss, p)
}

/// Trains a logistic ensemble (0/1 targets `y`) with a weight per row (`w`, as long as `y`):
/// each row's gradient and hessian, and its share of the starting log-odds, count `w[i]` times.
pub fn fit_logistic_weighted(x: &[Vec<f64>], y: &[f64], w: &[f64], p: &Params) -> Gbt {
    assert_eq!(w.len(), y.len(), "one weight per row");
    fit_inner(x, y, Some(w), Loss::Logistic, p)
}

/// Trains a quantile ensemble with a weight per row (`w`, as long as `y`): each row's gradient,
/// its share of a split's score and of a leaf's (weighted) quantile count `w[i]` times.
pub fn fit_quantile_weighted(x: &[Vec<f64>], y: &[f64], w: &[f64], a: f64, p: &Params) -> Gbt {
    assert_eq!(w.len(), y.len(), "one weight per row");
    fit_inner(x, y, Some(w), Loss::Quantile(a), p)
}

fn fit_inner(x: &[Vec<f64>], y: &[f64], w: Option<&[f64]>, loss: Loss, p: &Params) -> Gbt {
    let n = x.len();
    let weight = |i: usize| w.map_or(1.0, |w| w[i]);
    let nf = x.first().map_or(0, Vec::len);
    if n == 0 {
        return Gbt {
            loss,
            base: 0.0,
            trees: vec![],
        };
    }
    let binner = Binner::fit(x, nf);
    let bins: Vec<Vec<u8>> = (0..nf)
        .map(|f| x.iter().map(|r| binner.bin(f, r[f])).collect())
        .collect();
    let base = match loss {
        Loss::Quantile(a) => match w {
            None => quantile(&mut y.to_vec(), a),
            Some(w) => weighted_quantile(y.iter().copied().zip(w.iter().copied()).collect(), a),
        },
        Loss::Logistic => {
            let total: f64 = (0..n).map(weight).sum();
            let pos: f64 = (0..n).map(|i| weight(i) * y[i]).sum();
            let m = (pos / total).clamp(1e-6, 1.0 - 1e-6);
            (m / (1.0 - m)).ln()
        }
    };
    let mut f = vec![base; n];
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let mut trees = Vec::with_capacity(p.trees);
    let mut g = vec![0.0; n];
    let mut h = vec![0.0; n];
    for _ in 0..p.trees {
        for i in 0..n {
            match loss {
                Loss::Quantile(a) => {
                    g[i] = weight(i) * if y[i] > f[i] { -a } else { 1.0 - a };
                    h[i] = weight(i);
                }
                Loss::Logistic => {
                    let pr = sigmoid(f[i]);
                    g[i] = weight(i) * (pr - y[i]);
                    h[i] = weight(i) * (pr * (1.0 - pr)).max(1e-6);
                }
            }
        }
        let rows: Vec<u32> = (0..n as u32)
            .filter(|_| rng.random::<f64>() < p.subsample)
            .collect();
        let mut builder = Builder {
            bins: &bins,
            binner: &binner,
            g: &g,
            h: &h,
            y,
            f: &f,
            weighted: w.is_some(),
            loss,
            p,
            nodes: Vec::new(),
        };
        builder.grow(rows, 0);
        let mut tree = Tree {
            nodes: builder.nodes,
        };
        for node in &mut tree.nodes {
            if let Node::Leaf(v) = node {
                *v *= p.learning_rate;
            }
        }
        for i in 0..n {
            f[i] += tree.predict(&x[i]);
        }
        trees.push(tree);
    }
    Gbt { loss, base, trees }
}

struct Builder<'a> {
    bins: &'a [Vec<u8>],
    binner: &'a Binner,
    g: &'a [f64],
    h: &'a [f64],
    y: &'a [f64],
    f: &'a [f64],
    /// Rows carry weights (then `h` holds them).
    weighted: bool,
    loss: Loss,
    p: &'a Params,
    nodes: Vec<Node>,
}

impl Builder<'_> {
    fn leaf_value(&self, rows: &[u32]) -> f64 {
        match self.loss {
            Loss::Quantile(a) if self.weighted => weighted_quantile(
                rows.iter()
                    .map(|&i| (self.y[i as usize] - self.f[i as usize], self.h[i as usize]))
                    .collect(),
                a,
            ),
            Loss::Quantile(a) => {
                let mut r: Vec<f64> = rows
                    .iter()
                    .map(|&i| self.y[i as usize] - self.f[i as usize])
                    .collect();
                quantile(&mut r, a)
            }
            Loss::Logistic => {
                let (g, h) = rows.iter().fold((0.0, 0.0), |(g, h), &i| {
                    (g + self.g[i as usize], h + self.h[i as usize])
                });
                -g / (h + self.p.lambda)
            }
        }
    }

    fn score(&self, s: Stat) -> f64 {
        let denom = match self.loss {
            Loss::Quantile(_) if self.weighted => s.h,
            Loss::Quantile(_) => f64::from(s.n),
            Loss::Logistic => s.h + self.p.lambda,
        };
        if denom <= 0.0 { 0.0 } else { s.g * s.g / denom }
    }

    /// Adds a node for `rows` at `depth` and returns its index.
    fn grow(&mut self, rows: Vec<u32>, depth: usize) -> usize {
        let idx = self.nodes.len();
        self.nodes.push(Node::Leaf(0.0));
        let split = if depth < self.p.max_depth && rows.len() >= 2 * self.p.min_leaf {
            self.best_split(&rows)
        } else {
            None
        };
        match split {
            None => {
                self.nodes[idx] = Node::Leaf(self.leaf_value(&rows));
            }
            Some((feature, bin, missing_left)) => {
                let (l, r): (Vec<u32>, Vec<u32>) = rows.into_iter().partition(|&i| {
                    let b = self.bins[feature][i as usize];
                    if b == 0 { missing_left } else { b <= bin }
                });
                let threshold = self.binner.edges[feature][bin as usize - 1];
                let left = self.grow(l, depth + 1);
                let right = self.grow(r, depth + 1);
                self.nodes[idx] = Node::Split {
                    feature,
                    threshold,
                    missing_left,
                    left,
                    right,
                };
            }
        }
        idx
    }

    fn best_split(&self, rows: &[u32]) -> Option<(usize, u8, bool)> {
        let mut total = Stat::default();
        for &i in rows {
            total.g += self.g[i as usize];
            total.h += self.h[i as usize];
            total.n += 1;
        }
        let parent = self.score(total);
        let min = self.p.min_leaf as u32;
        let mut best: Option<(f64, usize, u8, bool)> = None;
        let mut hist = [Stat::default(); MAX_BINS];
        for (feature, fb) in self.bins.iter().enumerate() {
            let nbins = self.binner.edges[feature].len();
            if nbins == 0 {
                continue;
            }
            hist.iter_mut().for_each(|s| *s = Stat::default());
            for &i in rows {
                let s = &mut hist[fb[i as usize] as usize];
                s.g += self.g[i as usize];
                s.h += self.h[i as usize];
                s.n += 1;
            }
            let missing = hist[0];
            let mut left = Stat::default();
            for (b, &s) in hist.iter().enumerate().take(nbins + 1).skip(1) {
                left.g += s.g;
                left.h += s.h;
                left.n += s.n;
                for missing_left in [false, true] {
                    let mut l = left;
                    if missing_left {
                        l.g += missing.g;
                        l.h += missing.h;
                        l.n += missing.n;
                    }
                    let r = Stat {
                        g: total.g - l.g,
                        h: total.h - l.h,
                        n: total.n - l.n,
                    };
                    if l.n < min || r.n < min {
                        continue;
                    }
                    let gain = self.score(l) + self.score(r) - parent;
                    if gain > 1e-12 && best.is_none_or(|(bg, ..)| gain > bg) {
                        best = Some((gain, feature, b as u8, missing_left));
                    }
                    if missing.n == 0 {
                        break;
                    }
                }
            }
        }
        best.map(|(_, f, b, m)| (f, b, m))
    }
}

/// The `a`-quantile of values (linear interpolation); sorts in place. 0 for no values.
pub fn quantile(v: &mut [f64], a: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let pos = a.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// The `a`-quantile of (value, weight) pairs: each value sits at the middle of its share of
/// the total weight, linearly interpolated between, the ends held. 0 for no weight.
pub fn weighted_quantile(mut v: Vec<(f64, f64)>, a: f64) -> f64 {
    v.retain(|p| p.1 > 0.0);
    let total: f64 = v.iter().map(|p| p.1).sum();
    if v.is_empty() || total <= 0.0 {
        return 0.0;
    }
    v.sort_by(|x, y| x.0.total_cmp(&y.0));
    let a = a.clamp(0.0, 1.0);
    let mut seen = 0.0;
    let mut prev: Option<(f64, f64)> = None;
    for &(value, weight) in &v {
        let at = (seen + weight / 2.0) / total;
        if at >= a {
            return match prev {
                Some((pv, pa)) if at > pa => pv + (value - pv) * (a - pa) / (at - pa),
                _ => value,
            };
        }
        prev = Some((value, at));
        seen += weight;
    }
    v[v.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
        // y = 2·x0 + noise whose spread grows with x1; x2 is noise; some x0 missing.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let x0: f64 = rng.random::<f64>() * 10.0;
            let x1: f64 = rng.random::<f64>();
            let x2: f64 = rng.random::<f64>();
            let noise = (rng.random::<f64>() - 0.5) * 2.0 * (0.5 + 3.0 * x1);
            y.push(2.0 * x0 + noise);
            x.push(vec![if i % 17 == 0 { f64::NAN } else { x0 }, x1, x2]);
        }
        (x, y)
    }

    #[test]
    fn median_regression_fits_the_signal() {
        let (x, y) = data(3000, 1);
        let m = fit(&x, &y, Loss::Quantile(0.5), &Params::default());
        let (tx, ty) = data(1000, 2);
        let mae: f64 = tx
            .iter()
            .zip(&ty)
            .filter(|(r, _)| !r[0].is_nan())
            .map(|(r, t)| (m.predict(r) - t).abs())
            .sum::<f64>()
            / 900.0;
        assert!(mae < 1.6, "MAE {mae}");
    }

    #[test]
    fn quantiles_cover_their_share() {
        let (x, y) = data(4000, 3);
        let lo = fit(&x, &y, Loss::Quantile(0.1), &Params::default());
        let hi = fit(&x, &y, Loss::Quantile(0.9), &Params::default());
        let (tx, ty) = data(2000, 4);
        let inside = tx
            .iter()
            .zip(&ty)
            .filter(|(r, t)| lo.predict(r) <= **t && **t <= hi.predict(r))
            .count();
        let cov = inside as f64 / 2000.0;
        assert!((0.72..=0.88).contains(&cov), "coverage {cov}");
    }

    #[test]
    fn logistic_separates_classes_and_serialises() {
        let (x, y0) = data(2000, 5);
        let y: Vec<f64> = y0.iter().map(|v| f64::from(u8::from(*v > 10.0))).collect();
        let m = fit(&x, &y, Loss::Logistic, &Params::default());
        let acc = x
            .iter()
            .zip(&y)
            .filter(|(r, t)| (m.probability(r) > 0.5) == (**t > 0.5))
            .count() as f64
            / 2000.0;
        assert!(acc > 0.9, "accuracy {acc}");
        let back: Gbt = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.predict(&x[3]), m.predict(&x[3]));
        assert!(m.trees.iter().all(|t| t.features().iter().all(|&f| f < 3)));
    }

    #[test]
    fn weighted_quantiles_lean_to_the_heavy_rows() {
        assert_eq!(
            weighted_quantile(vec![(3.0, 1.0), (1.0, 1.0), (2.0, 1.0)], 0.5),
            2.0
        );
        assert_eq!(weighted_quantile(vec![(0.0, 3.0), (1.0, 1.0)], 0.5), 0.25);
        assert_eq!(weighted_quantile(vec![(0.0, 3.0), (1.0, 1.0)], 0.95), 1.0);
        assert_eq!(weighted_quantile(vec![(5.0, 0.0)], 0.5), 0.0);
        // Half the rows take 0, half 10, and no feature tells them apart: the median model
        // follows the group that weighs more.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x: Vec<Vec<f64>> = (0..600).map(|_| vec![rng.random::<f64>()]).collect();
        let y: Vec<f64> = (0..600)
            .map(|i| if i % 2 == 0 { 0.0 } else { 10.0 })
            .collect();
        let p = Params::default();
        let lean = |heavy: f64| {
            let w: Vec<f64> = y
                .iter()
                .map(|v| if *v == heavy { 4.0 } else { 1.0 })
                .collect();
            let m = fit_quantile_weighted(&x, &y, &w, 0.5, &p);
            x.iter().map(|r| m.predict(r)).sum::<f64>() / x.len() as f64
        };
        assert!(lean(0.0) < 2.0, "{}", lean(0.0));
        assert!(lean(10.0) > 8.0, "{}", lean(10.0));
    }

    #[test]
    fn weights_count_rows_as_if_repeated() {
        // Unit weights are the plain fit; weight 3 on the positives starts at 3 times the odds
        // and calls more rows positive, catching more of the positives.
        let (x, y0) = data(1500, 6);
        let y: Vec<f64> = y0.iter().map(|v| f64::from(u8::from(*v > 14.0))).collect();
        let p = Params::default();
        let plain = fit(&x, &y, Loss::Logistic, &p);
        assert_eq!(
            fit_logistic_weighted(&x, &y, &vec![1.0; y.len()], &p),
            plain
        );
        let w: Vec<f64> = y.iter().map(|t| if *t > 0.5 { 3.0 } else { 1.0 }).collect();
        let heavy = fit_logistic_weighted(&x, &y, &w, &p);
        assert!((heavy.base - plain.base - 3f64.ln()).abs() < 1e-9);
        let called = |m: &Gbt| x.iter().filter(|r| m.probability(r) > 0.5).count();
        let caught = |m: &Gbt| {
            x.iter()
                .zip(&y)
                .filter(|(r, t)| **t > 0.5 && m.probability(r) > 0.5)
                .count()
        };
        assert!(
            called(&heavy) > called(&plain),
            "{} vs {}",
            called(&heavy),
            called(&plain)
        );
        assert!(
            caught(&heavy) > caught(&plain),
            "{} vs {}",
            caught(&heavy),
            caught(&plain)
        );
    }
}
