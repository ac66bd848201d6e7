//! Sentiment of developer texts (review comments, PR discussion): negative / neutral /
//! positive, and incivility. Two linear heads over one TF-IDF vector of word 1–2-grams and
//! character 2–5-grams (explicit vocabulary, no shared weights): a multinomial logistic
//! regression for sentiment and a logistic regression for incivility whose threshold was
//! chosen on validation data. The shipped artifact (`model.bin`) and what it was trained on
//! are described in `ARTIFACT.md` beside it; figures in `docs/burnout.md`.

mod artifact;
pub mod corpus;
pub mod logreg;
pub mod metrics;
pub mod suite;
pub mod text;
pub mod tfidf;
pub mod train;

use std::cell::RefCell;

use serde::Serialize;

pub use metrics::{Binary, Evaluation, GoldFigures, against_gold, evaluate, evaluate_binary};
pub use train::{TrainConfig, TrainData, TrainReport};

use text::Grams;
use tfidf::Vocab;

/// The classes, in model order.
pub const LABELS: [&str; 3] = ["negative", "neutral", "positive"];

/// Whether the shipped model's `uncivil` flag is validated on held-out data, so that user-facing
/// output may count it. False: F1 0.27 on the ToxiCR code-review corpus (goal 0.70), see
/// docs/burnout.md (Sentiment); the digest then shows no uncivil count.
pub const UNCIVIL_VALIDATED: bool = false;

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
    /// No validation texts to choose settings on.
    #[error("no validation texts: settings are chosen on a validation split")]
    NoValidation,
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

/// One linear head: `w[feature * cols + col]`, one bias per column.
#[derive(Debug, Clone, PartialEq)]
struct Head {
    cols: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Head {
    fn logits(&self, x: &[(u32, f32)], z: &mut [f32]) {
        z.copy_from_slice(&self.b);
        for &(f, v) in x {
            let w = &self.w[f as usize * self.cols..(f as usize + 1) * self.cols];
            for (zc, wc) in z.iter_mut().zip(w) {
                *zc += wc * v;
            }
        }
    }
}

/// The incivility head and its decision threshold.
#[derive(Debug, Clone, PartialEq)]
struct Incivility {
    head: Head,
    threshold: f32,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    vocab: Vocab,
    sentiment: Head,
    incivility: Option<Incivility>,
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
    /// Uncivil: the incivility probability reaches the model's threshold.
    pub uncivil: bool,
    /// Probability of incivility (absent for a model trained without incivility data).
    pub incivility: Option<f64>,
}

fn softmax3(z: [f32; 3]) -> [f64; 3] {
    let m = z.iter().cloned().fold(f32::MIN, f32::max);
    let e = z.map(|v| f64::from(v - m).exp());
    let s: f64 = e.iter().sum();
    e.map(|v| v / s)
}

fn sigmoid(z: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(z)).exp())
}

/// Per-thread buffers: n-grams, vocabulary scratch, the sparse vector.
type Scratch = (Grams, Vec<u32>, Vec<(u32, f32)>);

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

impl Model {
    /// The model shipped with Canopy.
    pub fn shipped() -> Result<Model, SentimentError> {
        Model::from_bytes(SHIPPED)
    }

    /// Number of n-gram features.
    pub fn features(&self) -> usize {
        self.vocab.len()
    }

    /// Whether the model has an incivility head.
    pub fn has_incivility(&self) -> bool {
        self.incivility.is_some()
    }

    fn with_vector<T>(&self, text: &str, f: impl FnOnce(&[(u32, f32)]) -> T) -> T {
        SCRATCH.with(|s| {
            let (g, scratch, x) = &mut *s.borrow_mut();
            g.fill(text);
            self.vocab.vectorize(g, scratch, x);
            f(x)
        })
    }

    fn sentiment_of(&self, x: &[(u32, f32)]) -> [f64; 3] {
        let mut z = [0f32; 3];
        self.sentiment.logits(x, &mut z);
        softmax3(z)
    }

    fn incivility_of(&self, x: &[(u32, f32)]) -> Option<f64> {
        self.incivility.as_ref().map(|inc| {
            let mut z = [0f32; 1];
            inc.head.logits(x, &mut z);
            sigmoid(z[0])
        })
    }

    /// Class probabilities of a text.
    pub fn probabilities(&self, text: &str) -> [f64; 3] {
        self.with_vector(text, |x| self.sentiment_of(x))
    }

    /// Probability that a text is uncivil, if the model has an incivility head.
    pub fn incivility(&self, text: &str) -> Option<f64> {
        self.with_vector(text, |x| self.incivility_of(x))
    }

    /// The incivility threshold, if the model has an incivility head.
    pub fn incivility_threshold(&self) -> Option<f64> {
        self.incivility.as_ref().map(|i| f64::from(i.threshold))
    }

    /// Scores a text.
    pub fn score(&self, text: &str) -> Scored {
        let (p, inc) = self.with_vector(text, |x| (self.sentiment_of(x), self.incivility_of(x)));
        let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(1);
        Scored {
            label: LABELS[best],
            confidence: p[best],
            negative: p[0],
            uncivil: match (inc, self.incivility_threshold()) {
                (Some(v), Some(t)) => v >= t,
                _ => false,
            },
            incivility: inc,
        }
    }

    /// The artifact (format in `artifact.rs`).
    pub fn to_bytes(&self) -> Vec<u8> {
        artifact::to_bytes(self)
    }

    /// The model's identity: `tfidf-` and a 64-bit FNV-1a hash of its artifact, so that scores
    /// cached under it are never read by a different model.
    pub fn identity(&self) -> String {
        let h = self
            .to_bytes()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("tfidf-{h:016x}")
    }

    /// Reads an artifact written by [`Model::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Model, SentimentError> {
        artifact::from_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_loads_and_reads_review_tone() {
        let m = Model::shipped().unwrap();
        assert!(m.has_incivility());
        assert_eq!(
            m.score("This is wrong and makes no sense at all.").label,
            "negative"
        );
        assert_eq!(m.score("Thanks a lot, this looks great!").label, "positive");
        assert_eq!(
            m.score("The function returns a list of widgets.").label,
            "neutral"
        );
        let s = m.score("This is stupid, who wrote this garbage? What the hell.");
        assert!(s.uncivil, "{s:?}");
        assert!(!m.score("Thanks, looks good to me.").uncivil);
        let id = m.identity();
        assert!(id.starts_with("tfidf-") && id.len() == 22, "{id}");
        assert_eq!(Model::shipped().unwrap().identity(), id);
    }
}
