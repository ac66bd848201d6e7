//! A trained tree ensemble laid out for fast scoring of many rows: every tree padded to a
//! complete binary tree of the ensemble's depth, so that a row walks each tree by index
//! arithmetic (left child `2i + 1`, right `2i + 2`) with no branch on the data. Scores are
//! exactly those of [`Gbt::predict`]; the padding repeats a leaf's value below it.

use crate::gbt::{Gbt, Node, Tree, sigmoid};

/// Deepest tree laid out flat; deeper ensembles keep the node-by-node walk.
const MAX_FLAT_DEPTH: usize = 12;
/// Trees walked side by side.
const LANES: usize = 8;

/// A [`Gbt`] laid out for batch scoring.
#[derive(Debug, Clone)]
pub struct FlatForest {
    base: f64,
    depth: usize,
    /// Feature read at each inner node, `2^depth - 1` per tree.
    feature: Vec<u32>,
    /// Threshold of each inner node (go right when the value is greater).
    threshold: Vec<f64>,
    /// Whether a missing value (NaN) goes right at each inner node.
    nan_right: Vec<bool>,
    /// Leaf values, `2^depth` per tree.
    leaf: Vec<f64>,
}

/// Depth of the subtree at `i` in splits (a leaf is 0).
fn depth(tree: &Tree, i: usize) -> usize {
    match &tree.nodes[i] {
        Node::Leaf(_) => 0,
        Node::Split { left, right, .. } => 1 + depth(tree, *left).max(depth(tree, *right)),
    }
}

impl FlatForest {
    /// The ensemble laid out flat; `None` when a tree is deeper than the flat layout allows
    /// or its nodes do not form a tree (then use [`Gbt::predict`]).
    pub fn new(gbt: &Gbt) -> Option<FlatForest> {
        let valid = |t: &Tree| {
            t.nodes.iter().enumerate().all(|(i, n)| match n {
                Node::Leaf(_) => true,
                Node::Split { left, right, .. } => {
                    *left > i && *right > i && *left < t.nodes.len() && *right < t.nodes.len()
                }
            })
        };
        if !gbt.trees.iter().all(|t| !t.nodes.is_empty() && valid(t)) {
            return None;
        }
        let d = gbt.trees.iter().map(|t| depth(t, 0)).max().unwrap_or(0);
        if d > MAX_FLAT_DEPTH {
            return None;
        }
        let (inner, leaves) = ((1usize << d) - 1, 1usize << d);
        let n = gbt.trees.len();
        let mut f = FlatForest {
            base: gbt.base,
            depth: d,
            feature: vec![0; inner * n],
            threshold: vec![0.0; inner * n],
            nan_right: vec![false; inner * n],
            leaf: vec![0.0; leaves * n],
        };
        for (t, tree) in gbt.trees.iter().enumerate() {
            f.place(tree, t, 0, 0, 0);
        }
        Some(f)
    }

    /// Places node `i` of tree `t` at position `at` of its complete tree, on `level`; a leaf
    /// above the last level fills every leaf slot below it with its value (its padding splits
    /// send both ways to the same value, so what they test does not matter).
    fn place(&mut self, tree: &Tree, t: usize, i: usize, at: usize, level: usize) {
        let (inner, leaves) = ((1usize << self.depth) - 1, 1usize << self.depth);
        match &tree.nodes[i] {
            Node::Leaf(v) => {
                let below = self.depth - level;
                let first = t * leaves + ((at + 1) << below) - 1 - inner;
                self.leaf[first..first + (1 << below)].fill(*v);
            }
            Node::Split {
                feature,
                threshold,
                missing_left,
                left,
                right,
            } => {
                let n = t * inner + at;
                self.feature[n] = *feature as u32;
                self.threshold[n] = *threshold;
                self.nan_right[n] = !*missing_left;
                self.place(tree, t, *left, 2 * at + 1, level + 1);
                self.place(tree, t, *right, 2 * at + 2, level + 1);
            }
        }
    }

    /// Raw score of a row, equal to [`Gbt::predict`]. Features the trees read beyond the
    /// row's length count as missing.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let (inner, leaves) = ((1usize << self.depth) - 1, 1usize << self.depth);
        let trees = self.leaf.len() / leaves;
        let mut sum = -0.0;
        // Trees walked LANES at a time, level by level: the walks are independent, so the
        // processor overlaps their memory loads instead of waiting on one walk's chain.
        let mut t = 0;
        while t + LANES <= trees {
            let mut at = [0usize; LANES];
            for _ in 0..self.depth {
                for (j, i) in at.iter_mut().enumerate() {
                    *i = 2 * *i + 1 + usize::from(self.goes_right(x, (t + j) * inner + *i));
                }
            }
            for (j, i) in at.iter().enumerate() {
                sum += self.leaf[(t + j) * leaves + i - inner];
            }
            t += LANES;
        }
        for t in t..trees {
            let mut i = 0usize;
            for _ in 0..self.depth {
                i = 2 * i + 1 + usize::from(self.goes_right(x, t * inner + i));
            }
            sum += self.leaf[t * leaves + i - inner];
        }
        // The same order of additions as `Gbt::predict`: trees in order, then the base.
        self.base + sum
    }

    /// Whether `x` goes right at inner node `n` (greater than the threshold, or missing and
    /// missing values go right); without a branch on the data.
    #[inline(always)]
    fn goes_right(&self, x: &[f64], n: usize) -> bool {
        let v = x.get(self.feature[n] as usize).copied().unwrap_or(f64::NAN);
        (v > self.threshold[n]) | (v.is_nan() & self.nan_right[n])
    }

    /// Probability for logistic models, equal to [`Gbt::probability`].
    pub fn probability(&self, x: &[f64]) -> f64 {
        sigmoid(self.predict(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbt::{Loss, Params};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn split(feature: usize, threshold: f64, missing_left: bool, l: usize, r: usize) -> Node {
        Node::Split {
            feature,
            threshold,
            missing_left,
            left: l,
            right: r,
        }
    }

    #[test]
    fn an_uneven_tree_scores_as_the_node_walk_including_missing_values() {
        // Depth 3 on the left, a leaf on the right; NaN goes right at the root, left below.
        let tree = Tree {
            nodes: vec![
                split(0, 1.0, false, 1, 2),
                split(1, 0.5, true, 3, 4),
                Node::Leaf(10.0),
                Node::Leaf(-1.0),
                split(2, 2.0, true, 5, 6),
                Node::Leaf(3.0),
                Node::Leaf(4.0),
            ],
        };
        let gbt = Gbt {
            loss: Loss::Logistic,
            base: 0.25,
            trees: vec![
                tree.clone(),
                Tree {
                    nodes: vec![Node::Leaf(0.5)],
                },
            ],
        };
        let flat = FlatForest::new(&gbt).expect("shallow");
        let nan = f64::NAN;
        for x in [
            [0.0, 0.0, 0.0],
            [0.0, 1.0, 1.0],
            [0.0, 1.0, 3.0],
            [0.0, 1.0, nan],
            [0.0, nan, 5.0],
            [2.0, 0.0, 0.0],
            [nan, 0.0, 0.0],
            [1.0, 0.5, 2.0],
        ] {
            assert_eq!(flat.predict(&x), gbt.predict(&x), "{x:?}");
        }
        assert_eq!(
            flat.predict(&[0.0]),
            gbt.predict(&[0.0]),
            "short rows: missing"
        );
    }

    #[test]
    fn a_trained_ensemble_scores_exactly_as_before() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x: Vec<Vec<f64>> = (0..600)
            .map(|_| {
                (0..5)
                    .map(|_| {
                        if rng.random::<f64>() < 0.1 {
                            f64::NAN
                        } else {
                            rng.random::<f64>() * 4.0 - 2.0
                        }
                    })
                    .collect()
            })
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|r| f64::from(u8::from(r[0].is_nan() || r[0] + r[1] * r[2] > 0.3)))
            .collect();
        let gbt = crate::gbt::fit(
            &x,
            &y,
            Loss::Logistic,
            &Params {
                trees: 40,
                max_depth: 5,
                min_leaf: 5,
                ..Params::default()
            },
        );
        let flat = FlatForest::new(&gbt).expect("depth 5");
        for r in &x {
            assert_eq!(flat.predict(r).to_bits(), gbt.predict(r).to_bits());
        }
    }
}
