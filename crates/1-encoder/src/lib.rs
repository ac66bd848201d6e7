//! Canopy's optional fine-tuned encoder: all-MiniLM-L6-v2 (or any BERT of that shape) with a
//! sentiment head, fine-tuned on CPU with candle and used for batched scoring. Nothing is
//! downloaded: the base model is a directory the user provides (`config.json`, `vocab.txt`
//! or `tokenizer.json`, `model.safetensors`); a fine-tuned directory adds
//! `canopy-encoder.json` and its own weights. Incivility is not learned here: scorers pair
//! the encoder with the TF-IDF model's incivility head ([`WithIncivility`]).

pub mod bert;
mod finetune;
pub mod ops;
pub mod quant;
pub mod scoring;
pub mod tokenizer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use canopy_models::sentiment::suite::{ScoreError, Scorer};
use canopy_models::sentiment::{LABELS, Model, Scored, text};
use serde::{Deserialize, Serialize};

pub use bert::{Bert, Config};
pub use finetune::{FineTune, Report, fine_tune};
pub use scoring::Prepared;
pub use tokenizer::Tokenizer;

/// File names in an encoder directory.
pub const CONFIG: &str = "config.json";
/// The vocabulary written with a fine-tuned encoder.
pub const VOCAB: &str = "vocab.txt";
/// The Hugging Face tokenizer file (read when there is no `vocab.txt`).
pub const TOKENIZER_JSON: &str = "tokenizer.json";
/// The weights.
pub const WEIGHTS: &str = "model.safetensors";
/// What Canopy recorded about a fine-tuned encoder.
pub const META: &str = "canopy-encoder.json";

/// Why an encoder could not be loaded, fine-tuned or run.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A JSON file is not what was expected.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The vocabulary is unusable.
    #[error(transparent)]
    Vocab(#[from] tokenizer::VocabError),
    /// The directory is a base model, not a fine-tuned one.
    #[error(
        "{0} has no {META}: fine-tune it first with `canopy sentiment train --encoder {0} --out DIR`"
    )]
    NotFineTuned(String),
    /// A tensor operation failed (shapes or weights do not match the config).
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
    /// Nothing to fine-tune on.
    #[error("no training or no validation texts")]
    Empty,
}

/// What Canopy records about a fine-tuned encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Class order of the head.
    pub labels: Vec<String>,
    /// Longest input in tokens (longer texts are truncated).
    pub max_len: usize,
    /// Training data, in words.
    pub trained_on: String,
    /// Epoch kept (chosen on validation).
    pub epoch: usize,
    /// Validation macro-F1 of that epoch.
    pub valid_macro_f1: f64,
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, EncoderError> {
    std::fs::read(path).map_err(|source| EncoderError::Io {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EncoderError> {
    serde_json::from_slice(&read(path)?).map_err(|e| EncoderError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads a directory's config and vocabulary (`vocab.txt`, else `tokenizer.json`).
pub fn read_config_and_vocab(dir: &Path) -> Result<(Config, Tokenizer), EncoderError> {
    let config: Config = json(&dir.join(CONFIG))?;
    let vocab = dir.join(VOCAB);
    let tok = if vocab.exists() {
        Tokenizer::from_vocab_txt(&String::from_utf8_lossy(&read(&vocab)?))?
    } else {
        Tokenizer::from_tokenizer_json(&String::from_utf8_lossy(&read(&dir.join(TOKENIZER_JSON))?))?
    };
    Ok((config, tok))
}

/// A fine-tuned encoder, ready to score.
pub struct Encoder {
    tok: Tokenizer,
    model: Prepared,
    meta: Meta,
    dev: Device,
}

impl Encoder {
    /// Loads a fine-tuned encoder directory.
    pub fn load(dir: &Path) -> Result<Encoder, EncoderError> {
        let meta_path = dir.join(META);
        if !meta_path.exists() {
            return Err(EncoderError::NotFineTuned(dir.display().to_string()));
        }
        let meta: Meta = json(&meta_path)?;
        let (config, tok) = read_config_and_vocab(dir)?;
        let dev = Device::Cpu;
        let stored = candle_core::safetensors::load_buffer(&read(&dir.join(WEIGHTS))?, &dev)?;
        let vb = VarBuilder::from_tensors(quant::dequantize(stored)?, DType::F32, &dev);
        let model = Prepared::new(&Bert::new(&config, vb)?)?;
        Ok(Encoder {
            tok,
            model,
            meta,
            dev,
        })
    }

    /// What Canopy recorded about it.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Class probabilities (in [`LABELS`] order) of texts, scored in length-sorted batches.
    pub fn probabilities(&self, texts: &[String]) -> Result<Vec<[f64; 3]>, EncoderError> {
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.tok.encode(&text::clean(t), self.meta.max_len))
            .collect();
        probabilities(&self.model, &ids, self.tok.pad(), &self.dev)
    }
}

/// Rows a scoring batch.
const BATCH: usize = 32;

/// Class probabilities of token id rows under `model`: rows sorted by length and cut into
/// batches of [`BATCH`], each padded only to its own longest row, the batches scored in
/// parallel on rayon's threads (one per core). A row's result does not depend on the order
/// of the rows or on which batch it falls in (padding is masked out).
pub(crate) fn probabilities(
    model: &Prepared,
    ids: &[Vec<u32>],
    pad: u32,
    dev: &Device,
) -> Result<Vec<[f64; 3]>, EncoderError> {
    use rayon::prelude::*;
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| ids[i].len());
    // One batch: its matrix products use every core; more: one batch per core.
    let parallel = ids.len() <= BATCH;
    let batches: Vec<Vec<[f64; 3]>> = order
        .par_chunks(BATCH)
        .map(|chunk| {
            let rows: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let logits = model.logits(&rows, pad, dev, parallel)?;
            let p = candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()?;
            Ok(p.into_iter()
                .map(|r| [f64::from(r[0]), f64::from(r[1]), f64::from(r[2])])
                .collect())
        })
        .collect::<Result<_, EncoderError>>()?;
    let mut out = vec![[0.0; 3]; ids.len()];
    for (&i, p) in order.iter().zip(batches.into_iter().flatten()) {
        out[i] = p;
    }
    Ok(out)
}

/// Sentiment from a fine-tuned encoder, incivility from the TF-IDF model's head.
pub struct WithIncivility {
    encoder: Encoder,
    tfidf: Model,
}

impl WithIncivility {
    /// Pairs an encoder with a TF-IDF model.
    pub fn new(encoder: Encoder, tfidf: Model) -> WithIncivility {
        WithIncivility { encoder, tfidf }
    }
}

impl Scorer for WithIncivility {
    fn score_batch(&self, texts: &[String]) -> Result<Vec<Scored>, ScoreError> {
        let probs = self
            .encoder
            .probabilities(texts)
            .map_err(|e| ScoreError(e.to_string()))?;
        Ok(texts
            .iter()
            .zip(probs)
            .map(|(t, p)| {
                let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(1);
                let s = self.tfidf.score(t);
                Scored {
                    label: LABELS[best],
                    confidence: p[best],
                    negative: p[0],
                    uncivil: s.uncivil,
                    incivility: s.incivility,
                }
            })
            .collect())
    }
}

/// Writes a randomly initialised encoder of `config` over `tokens` as a base-model directory
/// (config, vocabulary, weights) — for tests and for trying the pipeline without real weights.
pub fn write_random_base(
    dir: &Path,
    config: &Config,
    tokens: &[String],
) -> Result<(), EncoderError> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Bert::new(config, vb)?;
    reseed(&varmap, RANDOM_BASE_SEED)?;
    let tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .map_err(|_| EncoderError::Empty)?
        .iter()
        .filter(|(k, _)| !k.starts_with("classifier"))
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    finetune::write_dir(
        dir,
        config,
        &Tokenizer::new(tokens.to_vec())?,
        &tensors,
        None,
    )
}

/// Seed of the weights [`write_random_base`] draws, so that the same config gives the same model.
const RANDOM_BASE_SEED: u64 = 7;

/// Redraws every randomly initialised weight of `varmap` (those not constant, unlike layer-norm
/// weights and biases) from a generator seeded with `seed`, keeping each tensor's mean and
/// spread: candle's initialisers draw from an unseeded generator, and runs must be reproducible.
pub(crate) fn reseed(varmap: &VarMap, seed: u64) -> Result<(), EncoderError> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let data = varmap.data().lock().map_err(|_| EncoderError::Empty)?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let values: Vec<f32> = var.as_tensor().flatten_all()?.to_vec1()?;
        let n = values.len().max(1) as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var_ = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        if var_ == 0.0 {
            continue;
        }
        let sd = var_.sqrt();
        let fresh: Vec<f32> = (0..values.len())
            .map(|_| {
                // Box–Muller: a standard normal from two uniforms in (0, 1].
                let u1 = 1.0 - rng.random::<f64>();
                let u2 = rng.random::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (mean + sd * z) as f32
            })
            .collect();
        let t = Tensor::from_vec(fresh, var.as_tensor().shape(), var.as_tensor().device())?;
        var.set(&t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn tiny_model() -> Bert {
        let config = Config {
            vocab_size: 40,
            hidden_size: 16,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 32,
            max_position_embeddings: 64,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
        };
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = Bert::new(&config, vb).unwrap();
        reseed(&varmap, 3).unwrap();
        model
    }

    /// 150 rows of 1 to 40 ids (a few of the same length), as a tokenizer would give.
    fn rows() -> Vec<Vec<u32>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        (0..150)
            .map(|i| {
                let n = if i % 10 == 0 {
                    12
                } else {
                    rng.random_range(1..=40)
                };
                (0..n).map(|_| rng.random_range(1..40)).collect()
            })
            .collect()
    }

    fn label(p: &[f64; 3]) -> usize {
        (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap()
    }

    fn assert_close(a: &[[f64; 3]], b: &[[f64; 3]], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(label(x), label(y), "{x:?} vs {y:?}");
            for c in 0..3 {
                assert!((x[c] - y[c]).abs() <= tol, "{x:?} vs {y:?}");
            }
        }
    }

    #[test]
    fn scores_depend_neither_on_order_nor_on_batching_nor_on_padding() {
        let (model, ids, dev) = (tiny_model(), rows(), Device::Cpu);
        let prepared = Prepared::new(&model).unwrap();
        let sorted = probabilities(&prepared, &ids, 0, &dev).unwrap();
        let reversed: Vec<Vec<u32>> = ids.iter().rev().cloned().collect();
        let mut back = probabilities(&prepared, &reversed, 0, &dev).unwrap();
        back.reverse();
        assert_close(&sorted, &back, 1e-6);
        // Alone (no padding, no mask) and in one batch padded to the longest row, through the
        // training forward pass (composed layer norm and softmax, mask on every row).
        for (i, r) in ids.iter().enumerate().step_by(7) {
            let alone = probabilities(&prepared, std::slice::from_ref(r), 0, &dev).unwrap();
            assert_close(&alone, &sorted[i..=i], 1e-5);
        }
        let (t, m) = bert::batch(&ids, 0, &dev).unwrap();
        let logits = model.forward(&t, &m, None).unwrap();
        let unsorted: Vec<[f64; 3]> = candle_nn::ops::softmax(&logits, 1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()
            .into_iter()
            .map(|r| [f64::from(r[0]), f64::from(r[1]), f64::from(r[2])])
            .collect();
        assert_close(&sorted, &unsorted, 1e-5);
    }
}
