//! Figures of predictions against gold labels: per-class and macro F1 for the three classes,
//! precision/recall/F1 and ROC AUC for a binary flag, and percentile bootstrap intervals
//! (seeded, so a report is reproducible).

use std::collections::BTreeMap;

use serde::Serialize;

use super::corpus::Gold;
use super::{LABELS, Label, Scored};
pub use crate::bootstrap::bootstrap;

/// Per-class and macro figures of 3-class predictions against gold labels.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Texts evaluated.
    pub n: usize,
    /// Share predicted correctly.
    pub accuracy: f64,
    /// Mean F1 over the three classes.
    pub macro_f1: f64,
    /// 95% bootstrap interval of the macro F1 (1,000 resamples, seed 18).
    pub macro_f1_ci: [f64; 2],
    /// F1 by label.
    pub per_class: BTreeMap<String, f64>,
    /// Precision by label.
    pub precision: BTreeMap<String, f64>,
    /// Recall by label.
    pub recall: BTreeMap<String, f64>,
    /// Gold texts by label.
    pub support: BTreeMap<String, usize>,
}

fn prf(tp: f64, fp: f64, fneg: f64) -> (f64, f64, f64) {
    let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let r = if tp + fneg > 0.0 {
        tp / (tp + fneg)
    } else {
        0.0
    };
    let f = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    (p, r, f)
}

fn class_prf(gold: &[Label], predicted: &[Label], c: Label) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
    for (&g, &p) in gold.iter().zip(predicted) {
        match (g == c, p == c) {
            (true, true) => tp += 1.0,
            (false, true) => fp += 1.0,
            (true, false) => fneg += 1.0,
            (false, false) => {}
        }
    }
    prf(tp, fp, fneg)
}

/// Mean F1 over the three classes.
pub fn macro_f1(gold: &[Label], predicted: &[Label]) -> f64 {
    (0..LABELS.len())
        .map(|c| class_prf(gold, predicted, c).2)
        .sum::<f64>()
        / LABELS.len() as f64
}

/// Evaluates 3-class predictions.
pub fn evaluate(gold: &[Label], predicted: &[Label]) -> Evaluation {
    let n = gold.len();
    let correct = gold.iter().zip(predicted).filter(|(g, p)| g == p).count();
    let mut e = Evaluation {
        n,
        accuracy: if n > 0 {
            correct as f64 / n as f64
        } else {
            0.0
        },
        macro_f1: macro_f1(gold, predicted),
        macro_f1_ci: bootstrap(n, |ix| {
            let g: Vec<Label> = ix.iter().map(|&i| gold[i]).collect();
            let p: Vec<Label> = ix.iter().map(|&i| predicted[i]).collect();
            macro_f1(&g, &p)
        }),
        per_class: BTreeMap::new(),
        precision: BTreeMap::new(),
        recall: BTreeMap::new(),
        support: BTreeMap::new(),
    };
    for (c, name) in LABELS.iter().enumerate() {
        let (p, r, f) = class_prf(gold, predicted, c);
        e.per_class.insert(name.to_string(), f);
        e.precision.insert(name.to_string(), p);
        e.recall.insert(name.to_string(), r);
        e.support
            .insert(name.to_string(), gold.iter().filter(|&&g| g == c).count());
    }
    e
}

/// Figures of a binary flag and of the score it is thresholded from.
#[derive(Debug, Clone, Serialize)]
pub struct Binary {
    /// Texts evaluated.
    pub n: usize,
    /// Gold positives the figures rest on.
    pub positives: usize,
    /// Precision of the flag.
    pub precision: f64,
    /// Recall of the flag.
    pub recall: f64,
    /// F1 of the flag.
    pub f1: f64,
    /// 95% bootstrap interval of the F1.
    pub f1_ci: [f64; 2],
    /// ROC AUC of the score.
    pub auc: f64,
    /// 95% bootstrap interval of the AUC.
    pub auc_ci: [f64; 2],
}

fn binary_f1(gold: &[bool], flag: &[bool]) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
    for (&g, &f) in gold.iter().zip(flag) {
        match (g, f) {
            (true, true) => tp += 1.0,
            (false, true) => fp += 1.0,
            (true, false) => fneg += 1.0,
            (false, false) => {}
        }
    }
    prf(tp, fp, fneg)
}

/// Evaluates a flag (`score >= threshold`) and the score's ranking against gold labels.
pub fn evaluate_binary(gold: &[bool], score: &[f64], threshold: f64) -> Binary {
    let flag: Vec<bool> = score.iter().map(|&s| s >= threshold).collect();
    let (precision, recall, f1) = binary_f1(gold, &flag);
    let pick = |ix: &[usize]| -> (Vec<bool>, Vec<f64>, Vec<bool>) {
        (
            ix.iter().map(|&i| gold[i]).collect(),
            ix.iter().map(|&i| score[i]).collect(),
            ix.iter().map(|&i| flag[i]).collect(),
        )
    };
    Binary {
        n: gold.len(),
        positives: gold.iter().filter(|&&g| g).count(),
        precision,
        recall,
        f1,
        f1_ci: bootstrap(gold.len(), |ix| {
            let (g, _, f) = pick(ix);
            binary_f1(&g, &f).2
        }),
        auc: roc_auc(gold, score),
        auc_ci: bootstrap(gold.len(), |ix| {
            let (g, s, _) = pick(ix);
            roc_auc(&g, &s)
        }),
    }
}

/// The threshold on `score` that maximises F1 on (`gold`, `score`), and that F1.
pub fn best_threshold(gold: &[bool], score: &[f64]) -> (f64, f64) {
    let mut order: Vec<usize> = (0..gold.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let positives = gold.iter().filter(|&&g| g).count() as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut best = (0.5, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if gold[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let tied = order.get(k + 1).is_some_and(|&j| score[j] == score[i]);
        if tied {
            continue;
        }
        let (_, _, f) = prf(tp, fp, positives - tp);
        if f > best.1 {
            let below = order.get(k + 1).map_or(score[i], |&j| score[j]);
            best = ((score[i] + below) / 2.0, f);
        }
    }
    best
}

/// ROC AUC (probability a random positive outscores a random negative; ties count half).
pub fn roc_auc(gold: &[bool], score: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..gold.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < order.len() {
        let tied = order[i..]
            .iter()
            .take_while(|&&j| score[j] == score[order[i]])
            .count();
        let mid = i as f64 + (tied as f64 + 1.0) / 2.0;
        rank_sum += order[i..i + tied].iter().filter(|&&j| gold[j]).count() as f64 * mid;
        i += tied;
    }
    let pos = gold.iter().filter(|&&g| g).count() as f64;
    let neg = gold.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Figures of scored texts against a corpus's gold labels, by the kind of label.
#[derive(Debug, Clone)]
pub enum GoldFigures {
    /// Three-class polarity: the most likely label of each text.
    Polarity(Evaluation),
    /// Negative or not: the probability of the negative class, flagged at 0.5.
    Negative(Binary),
    /// Uncivil or not.
    Uncivil {
        /// The model's own flag (its precision, recall and F1).
        flag: Binary,
        /// The probability of incivility (its AUC).
        ranked: Binary,
    },
}

/// The figures of `scored` against `gold` (in the same order); none for incivility labels when
/// the scorer gives no probability of incivility.
pub fn against_gold(gold: &Gold, scored: &[Scored]) -> Option<GoldFigures> {
    Some(match gold {
        Gold::Polarity(gold) => {
            let pred: Vec<Label> = scored
                .iter()
                .map(|s| super::label(s.label).unwrap_or(1))
                .collect();
            GoldFigures::Polarity(evaluate(gold, &pred))
        }
        Gold::Negative(gold) => {
            let score: Vec<f64> = scored.iter().map(|s| s.negative).collect();
            GoldFigures::Negative(evaluate_binary(gold, &score, 0.5))
        }
        Gold::Uncivil(gold) => {
            let p = scored
                .iter()
                .map(|s| s.incivility)
                .collect::<Option<Vec<f64>>>()?;
            let flags: Vec<f64> = scored
                .iter()
                .map(|s| f64::from(u8::from(s.uncivil)))
                .collect();
            GoldFigures::Uncivil {
                flag: evaluate_binary(gold, &flags, 0.5),
                ranked: evaluate_binary(gold, &p, 0.5),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_on_a_known_case() {
        let e = evaluate(&[0, 0, 1, 2], &[0, 1, 1, 2]);
        assert!((e.accuracy - 0.75).abs() < 1e-12);
        // negative: p 1, r .5, f1 .667; neutral: p .5, r 1, f1 .667; positive: 1.
        assert!((e.macro_f1 - (2.0 / 3.0 + 2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
        assert_eq!(e.support["negative"], 2);
        assert!(e.macro_f1_ci[0] <= e.macro_f1 && e.macro_f1 <= e.macro_f1_ci[1] + 1e-12);
    }

    #[test]
    fn auc_threshold_and_binary_figures() {
        let gold = [true, false, true, false, true];
        let score = [0.9, 0.8, 0.7, 0.1, 0.05];
        // Pairs (pos, neg): 3 × 2 = 6; positive above negative in 0.9>0.8, 0.9>0.1,
        // 0.7>0.1 → 3 of 6.
        assert!((roc_auc(&gold, &score) - 0.5).abs() < 1e-12);
        assert!((roc_auc(&[true, false], &[0.5, 0.5]) - 0.5).abs() < 1e-12);
        let (t, f) = best_threshold(&gold, &score);
        // Flagging everything: p 3/5, r 1 → F1 0.75, better than any cut above.
        assert!((f - 0.75).abs() < 1e-12 && t <= 0.05, "{t} {f}");
        let b = evaluate_binary(&gold, &score, 0.85);
        assert_eq!((b.n, b.positives), (5, 3));
        assert!((b.precision - 1.0).abs() < 1e-12 && (b.recall - 1.0 / 3.0).abs() < 1e-12);
    }
}
