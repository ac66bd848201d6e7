//! Sentiment of developer texts (review comments, PR discussion): negative / neutral /
//! positive, with an incivility flag. A multinomial logistic regression over hashed word and
//! character n-grams, trained with AdaGrad; the shipped artifact (`model.bin`, see
//! `ARTIFACT.md` beside it) was trained on the GitHub gold standard of Novielli et al. (MSR 2020).

pub mod text;

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The classes, in model order.
pub const LABELS: [&str; 3] = ["negative", "neutral", "positive"];
/// Hash buckets of the feature space.
pub const BUCKETS: u32 = 1 << 20;
const MAGIC: &[u8; 4] = b"CNPS";
const VERSION: u32 = 1;

/// The shipped model's bytes.
pub static SHIPPED: &[u8] = include_bytes!("model.bin");

/// A label index into [`LABELS`].
pub type Label = usize;

/// Why a model could not be read or trained.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SentimentError {
    /// Not a model file of this version.
    #[error("not a Canopy sentiment model (or an incompatible version)")]
    Format,
    /// Nothing to learn from.
    #[error("no training texts")]
    Empty,
    /// A label that is not negative, neutral or positive.
    #[error("unknown label {0:?} (expected negative, neutral or positive)")]
    Label(String),
}

/// Parses a label.
pub fn label(s: &str) -> Result<Label, SentimentError> {
    LABELS
        .iter()
        .position(|l| l.eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| SentimentError::Label(s.to_string()))
}

/// A trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    weights: HashMap<u32, [f32; 3]>,
    bias: [f32; 3],
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// AdaGrad learning rate.
    pub learning_rate: f32,
    /// L2 penalty per update.
    pub l2: f32,
    /// Keep only features seen in at least this many texts (keeps the artifact small).
    pub min_df: usize,
    /// Shuffling seed.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 20,
            learning_rate: 0.1,
            l2: 1e-4,
            min_df: 2,
            seed: 7,
        }
    }
}

/// A prediction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scored {
    /// Most likely label.
    pub label: &'static str,
    /// Its probability.
    pub confidence: f64,
    /// Probability of the negative class.
    pub negative: f64,
    /// Uncivil: likely negative and with an insult, profanity or shouting.
    pub uncivil: bool,
}

fn softmax(z: [f32; 3]) -> [f64; 3] {
    let m = z.iter().cloned().fold(f32::MIN, f32::max);
    let e = z.map(|v| f64::from(v - m).exp());
    let s: f64 = e.iter().sum();
    e.map(|v| v / s)
}

const UNCIVIL: [&str; 24] = [
    "stupid",
    "idiot",
    "idiotic",
    "dumb",
    "moron",
    "shut up",
    "wtf",
    "crap",
    "garbage",
    "trash",
    "nonsense",
    "ridiculous",
    "pathetic",
    "useless",
    "incompetent",
    "lazy",
    "sucks",
    "damn",
    "hell",
    "fuck",
    "shit",
    "bullshit",
    "clueless",
    "insane",
];

/// Whether a text has an uncivil marker: an insult or profanity word, or shouting (three or
/// more all-capital words of three letters or more).
pub fn uncivil_marker(text: &str) -> bool {
    let c = text::clean(text);
    let ws = text::words(&c);
    let joined = format!(" {} ", ws.join(" "));
    let lex = UNCIVIL.iter().any(|w| joined.contains(&format!(" {w} ")));
    let shouting = text
        .split_whitespace()
        .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_uppercase()))
        .count()
        >= 3;
    lex || shouting
}

impl Model {
    /// The model shipped with Canopy.
    pub fn shipped() -> Result<Model, SentimentError> {
        Model::from_bytes(SHIPPED)
    }

    /// Class probabilities of a text.
    pub fn probabilities(&self, text: &str) -> [f64; 3] {
        let mut z = self.bias;
        for (k, v) in text::features(text, BUCKETS) {
            if let Some(w) = self.weights.get(&k) {
                for c in 0..3 {
                    z[c] += w[c] * v;
                }
            }
        }
        softmax(z)
    }

    /// Scores a text.
    pub fn score(&self, text: &str) -> Scored {
        let p = self.probabilities(text);
        let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(1);
        Scored {
            label: LABELS[best],
            confidence: p[best],
            negative: p[0],
            uncivil: p[0] >= 0.5 && uncivil_marker(text),
        }
    }

    /// Trains on (text, label) pairs.
    pub fn train(data: &[(String, Label)], cfg: &TrainConfig) -> Result<Model, SentimentError> {
        if data.is_empty() {
            return Err(SentimentError::Empty);
        }
        let feats: Vec<Vec<(u32, f32)>> = data
            .iter()
            .map(|(t, _)| text::features(t, BUCKETS))
            .collect();
        let mut df: HashMap<u32, usize> = HashMap::new();
        for f in &feats {
            for (k, _) in f {
                *df.entry(*k).or_default() += 1;
            }
        }
        let keep = |k: &u32| df.get(k).is_some_and(|&d| d >= cfg.min_df);
        let feats: Vec<Vec<(u32, f32)>> = feats
            .into_iter()
            .map(|f| f.into_iter().filter(|(k, _)| keep(k)).collect())
            .collect();
        let mut w: HashMap<u32, [f32; 3]> = HashMap::new();
        let mut g2: HashMap<u32, [f32; 3]> = HashMap::new();
        let mut bias = [0f32; 3];
        let mut bias_g2 = [1e-8f32; 3];
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        for _ in 0..cfg.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let f = &feats[i];
                let y = data[i].1;
                let mut z = bias;
                for (k, v) in f {
                    if let Some(wk) = w.get(k) {
                        for c in 0..3 {
                            z[c] += wk[c] * v;
                        }
                    }
                }
                let p = softmax(z);
                let grad: [f32; 3] =
                    std::array::from_fn(|c| p[c] as f32 - if c == y { 1.0 } else { 0.0 });
                for c in 0..3 {
                    bias_g2[c] += grad[c] * grad[c];
                    bias[c] -= cfg.learning_rate * grad[c] / bias_g2[c].sqrt();
                }
                for (k, v) in f {
                    let wk = w.entry(*k).or_insert([0.0; 3]);
                    let gk = g2.entry(*k).or_insert([1e-8; 3]);
                    for c in 0..3 {
                        let g = grad[c] * v + cfg.l2 * wk[c];
                        gk[c] += g * g;
                        wk[c] -= cfg.learning_rate * g / gk[c].sqrt();
                    }
                }
            }
        }
        Ok(Model { weights: w, bias })
    }

    /// The artifact: header, bias, then (bucket, 3 × i16) entries quantised with one scale.
    pub fn to_bytes(&self) -> Vec<u8> {
        let max = self
            .weights
            .values()
            .flat_map(|w| w.iter())
            .fold(0f32, |m, v| m.max(v.abs()))
            .max(1e-12);
        let scale = max / 32767.0;
        let mut keys: Vec<u32> = self.weights.keys().copied().collect();
        keys.sort_unstable();
        let mut out = Vec::with_capacity(32 + keys.len() * 10);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&BUCKETS.to_le_bytes());
        out.extend_from_slice(&scale.to_le_bytes());
        for b in self.bias {
            out.extend_from_slice(&b.to_le_bytes());
        }
        out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        for k in keys {
            out.extend_from_slice(&k.to_le_bytes());
            for v in self.weights[&k] {
                out.extend_from_slice(&((v / scale).round() as i16).to_le_bytes());
            }
        }
        out
    }

    /// Reads an artifact written by [`Model::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Model, SentimentError> {
        let mut pos = 0;
        let mut take = |n: usize| -> Result<&[u8], SentimentError> {
            let s = b.get(pos..pos + n).ok_or(SentimentError::Format)?;
            pos += n;
            Ok(s)
        };
        if take(4)? != MAGIC {
            return Err(SentimentError::Format);
        }
        let u32_at = |s: &[u8]| u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
        let f32_at = |s: &[u8]| f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
        if u32_at(take(4)?) != VERSION || u32_at(take(4)?) != BUCKETS {
            return Err(SentimentError::Format);
        }
        let scale = f32_at(take(4)?);
        let bias = [f32_at(take(4)?), f32_at(take(4)?), f32_at(take(4)?)];
        let n = u32_at(take(4)?) as usize;
        let mut weights = HashMap::with_capacity(n);
        for _ in 0..n {
            let k = u32_at(take(4)?);
            let e = take(6)?;
            let q = |i: usize| f32::from(i16::from_le_bytes([e[2 * i], e[2 * i + 1]])) * scale;
            weights.insert(k, [q(0), q(1), q(2)]);
        }
        Ok(Model { weights, bias })
    }
}

/// Per-class and macro figures of predictions against gold labels.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Texts evaluated.
    pub n: usize,
    /// Share predicted correctly.
    pub accuracy: f64,
    /// Mean F1 over the three classes.
    pub macro_f1: f64,
    /// F1 by label.
    pub per_class: std::collections::BTreeMap<String, f64>,
    /// Precision by label.
    pub precision: std::collections::BTreeMap<String, f64>,
    /// Recall by label.
    pub recall: std::collections::BTreeMap<String, f64>,
}

/// Evaluates predictions.
pub fn evaluate(gold: &[Label], predicted: &[Label]) -> Evaluation {
    let n = gold.len();
    let correct = gold.iter().zip(predicted).filter(|(g, p)| g == p).count();
    let mut per_class = std::collections::BTreeMap::new();
    let mut precision = std::collections::BTreeMap::new();
    let mut recall = std::collections::BTreeMap::new();
    let mut f1s = Vec::new();
    for (c, name) in LABELS.iter().enumerate() {
        let tp = gold
            .iter()
            .zip(predicted)
            .filter(|(g, p)| **g == c && **p == c)
            .count() as f64;
        let fp = gold
            .iter()
            .zip(predicted)
            .filter(|(g, p)| **g != c && **p == c)
            .count() as f64;
        let fneg = gold
            .iter()
            .zip(predicted)
            .filter(|(g, p)| **g == c && **p != c)
            .count() as f64;
        let pr = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let rc = if tp + fneg > 0.0 {
            tp / (tp + fneg)
        } else {
            0.0
        };
        let f1 = if pr + rc > 0.0 {
            2.0 * pr * rc / (pr + rc)
        } else {
            0.0
        };
        per_class.insert(name.to_string(), f1);
        precision.insert(name.to_string(), pr);
        recall.insert(name.to_string(), rc);
        f1s.push(f1);
    }
    Evaluation {
        n,
        accuracy: if n > 0 {
            correct as f64 / n as f64
        } else {
            0.0
        },
        macro_f1: f1s.iter().sum::<f64>() / 3.0,
        per_class,
        precision,
        recall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Vec<(String, Label)> {
        let mut d = Vec::new();
        for i in 0..30 {
            d.push((format!("this is terrible and broken, awful work {i}"), 0));
            d.push((format!("the function returns a list of items {i}"), 1));
            d.push((format!("thanks, great work, this is excellent {i}"), 2));
        }
        d
    }

    #[test]
    fn learns_separable_classes_and_round_trips_through_bytes() {
        let m = Model::train(&toy(), &TrainConfig::default()).unwrap();
        assert_eq!(m.score("awful and terrible").label, "negative");
        assert_eq!(m.score("great, thanks!").label, "positive");
        let back = Model::from_bytes(&m.to_bytes()).unwrap();
        for t in ["awful", "thanks", "returns a list"] {
            let (a, b) = (m.probabilities(t), back.probabilities(t));
            assert!((a[0] - b[0]).abs() < 1e-3, "{a:?} vs {b:?}");
        }
        assert_eq!(Model::from_bytes(b"nope"), Err(SentimentError::Format));
    }

    #[test]
    fn the_shipped_model_loads_and_reads_review_tone() {
        let m = Model::shipped().unwrap();
        assert_eq!(
            m.score("This is wrong and makes no sense at all.").label,
            "negative"
        );
        assert_eq!(m.score("Thanks a lot, this looks great!").label, "positive");
        let s = m.score("This is stupid, who wrote this garbage?");
        assert!(s.uncivil, "{s:?}");
        assert!(!m.score("Thanks, looks good to me.").uncivil);
    }

    #[test]
    fn macro_f1_on_a_known_case() {
        let e = evaluate(&[0, 0, 1, 2], &[0, 1, 1, 2]);
        assert!((e.accuracy - 0.75).abs() < 1e-12);
        // negative: p 1, r .5, f1 .667; neutral: p .5, r 1, f1 .667; positive: 1.
        assert!((e.macro_f1 - (2.0 / 3.0 + 2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
    }
}
