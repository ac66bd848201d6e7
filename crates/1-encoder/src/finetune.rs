//! Fine-tuning on CPU: AdamW with linear warm-up and decay, class-balanced cross-entropy,
//! length-bucketed batches (seeded shuffling), seeded dropout; after each epoch the
//! validation macro-F1 decides whether that epoch's weights are the ones kept.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use canopy_models::sentiment::metrics::macro_f1;
use canopy_models::sentiment::train::TrainData;
use canopy_models::sentiment::{LABELS, text};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::bert::{self, Bert, Config, Dropout};
use crate::{CONFIG, EncoderError, META, Meta, Tokenizer, VOCAB, WEIGHTS, read};

/// Fine-tuning settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FineTune {
    /// Passes over the training texts.
    pub epochs: usize,
    /// Texts per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Share of steps spent warming up.
    pub warmup: f64,
    /// Longest input in tokens.
    pub max_len: usize,
    /// Dropout probability.
    pub dropout: f32,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Weight of the extra corpora relative to the main one.
    pub extra_weight: f64,
    /// Seed of shuffling and dropout.
    pub seed: u64,
}

impl Default for FineTune {
    fn default() -> Self {
        FineTune {
            epochs: 3,
            batch: 32,
            lr: 8e-5,
            warmup: 0.06,
            max_len: 64,
            dropout: 0.1,
            weight_decay: 0.01,
            extra_weight: 0.5,
            seed: 18,
        }
    }
}

/// What fine-tuning did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Texts trained on.
    pub texts: usize,
    /// Validation macro-F1 after each epoch.
    pub valid: Vec<f64>,
    /// The epoch kept (1-based).
    pub epoch: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v: Vec<String> = self.valid.iter().map(|v| format!("{v:.3}")).collect();
        write!(
            f,
            "{} texts; validation macro-F1 by epoch {}; kept epoch {}",
            self.texts,
            v.join(", "),
            self.epoch
        )
    }
}

/// Loads base weights into the variables that have them; only the head may be missing.
fn load_base(varmap: &VarMap, base: &Path) -> Result<(), EncoderError> {
    let tensors = candle_core::safetensors::load_buffer(&read(base)?, &Device::Cpu)?;
    let data = varmap.data().lock().map_err(|_| EncoderError::Empty)?;
    for (name, var) in data.iter() {
        match tensors.get(name) {
            Some(t) => var.set(&t.to_dtype(DType::F32)?)?,
            None if name.starts_with("classifier") => {}
            None => {
                return Err(EncoderError::Json {
                    path: base.to_path_buf(),
                    message: format!("no tensor {name}"),
                });
            }
        }
    }
    Ok(())
}

/// Writes an encoder directory: config, `vocab.txt`, weights (f16; a fine-tuned encoder's
/// matrices 8-bit, see [`crate::quant`]) and, for a fine-tuned encoder, its [`Meta`] and an
/// `ARTIFACT.md`.
pub(crate) fn write_dir(
    dir: &Path,
    config: &Config,
    tok: &Tokenizer,
    tensors: &HashMap<String, Tensor>,
    meta: Option<&Meta>,
) -> Result<(), EncoderError> {
    let io = |path: &Path, source| EncoderError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).map_err(|e| io(&dir.join(name), e))
    };
    write(CONFIG, pretty(config).as_bytes())?;
    write(VOCAB, tok.to_vocab_txt().as_bytes())?;
    // A fine-tuned encoder is an artifact to ship: 8-bit matrices. A base stays f16.
    let stored: HashMap<String, Tensor> = if meta.is_some() {
        crate::quant::quantize(tensors)?
    } else {
        tensors
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.to_dtype(DType::F16)?)))
            .collect::<Result<_, candle_core::Error>>()?
    };
    candle_core::safetensors::save(&stored, dir.join(WEIGHTS))?;
    if let Some(m) = meta {
        write(META, pretty(m).as_bytes())?;
        write(
            "ARTIFACT.md",
            format!(
                "# Fine-tuned sentiment encoder\n\nBase: all-MiniLM-L6-v2 (Apache-2.0), fine-tuned by `canopy sentiment train --encoder`.\n\n- Trained on: {}\n- Kept epoch {} (validation macro-F1 {:.3}); inputs truncated to {} tokens.\n- Weights stored as 8-bit per-row matrices (vectors f16), see `quant.rs`.\n",
                m.trained_on, m.epoch, m.valid_macro_f1, m.max_len
            )
            .as_bytes(),
        )?;
    }
    Ok(())
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Batches of indices: shuffled, then sorted by length within windows of 50 batches so that
/// a batch pads little, then the batch order shuffled.
fn batches(lens: &[usize], batch: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.shuffle(rng);
    let mut out: Vec<Vec<usize>> = Vec::new();
    for window in order.chunks(batch * 50) {
        let mut w = window.to_vec();
        w.sort_by_key(|&i| lens[i]);
        out.extend(w.chunks(batch).map(<[usize]>::to_vec));
    }
    out.shuffle(rng);
    out
}

/// Fine-tunes the base encoder in `base` on `data` (main + extra sentiment texts; validation
/// on `data.valid`) and writes the best epoch to `out`.
// Long: the training loop (epochs, shuffled length-sorted batches, validation, best-epoch
// checkpoint) reads top to bottom as one recipe; `load_base` and `batches` are its pieces.
pub fn fine_tune(
    base: &Path,
    data: &TrainData,
    cfg: &FineTune,
    out: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, EncoderError> {
    if data.main.is_empty() || data.valid.is_empty() {
        return Err(EncoderError::Empty);
    }
    let (config, tok) = crate::read_config_and_vocab(base)?;
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let model = Bert::new(&config, VarBuilder::from_varmap(&varmap, DType::F32, &dev))?;
    // The head is new: its weights are drawn from the run's seed (the base replaces the rest).
    crate::reseed(&varmap, cfg.seed)?;
    load_base(&varmap, &base.join(WEIGHTS))?;
    let enc = |t: &str| tok.encode(&text::clean(t), cfg.max_len);
    let rows: Vec<(Vec<u32>, usize, f64)> = (data.main.iter().map(|r| (r, 1.0)))
        .chain(data.extra.iter().map(|r| (r, cfg.extra_weight)))
        .map(|((t, y), w)| (enc(t), *y, w))
        .collect();
    let valid_ids: Vec<Vec<u32>> = data.valid.iter().map(|r| enc(&r.0)).collect();
    let valid_y: Vec<usize> = data.valid.iter().map(|r| r.1).collect();
    let mut per = [0.0; 3];
    for r in &rows {
        per[r.1] += r.2;
    }
    let total: f64 = per.iter().sum();
    let class_w: Vec<f64> = per.iter().map(|n| total / (3.0 * n.max(1e-9))).collect();
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let started = std::time::Instant::now();
    let mut drop = Dropout::new(cfg.dropout, cfg.seed);
    let lens: Vec<usize> = rows.iter().map(|r| r.0.len()).collect();
    let steps_per_epoch = rows.len().div_ceil(cfg.batch);
    let total_steps = (steps_per_epoch * cfg.epochs).max(1);
    let warm = ((total_steps as f64 * cfg.warmup) as usize).max(1);
    let (mut step, mut report) = (
        0usize,
        Report {
            texts: rows.len(),
            valid: Vec::new(),
            epoch: 0,
        },
    );
    for epoch in 1..=cfg.epochs {
        let mut seen = 0usize;
        let mut loss_sum = 0.0;
        for (bi, b) in batches(&lens, cfg.batch, &mut rng).iter().enumerate() {
            let lr = if step < warm {
                cfg.lr * (step + 1) as f64 / warm as f64
            } else {
                cfg.lr * (total_steps - step) as f64 / (total_steps - warm).max(1) as f64
            };
            opt.set_learning_rate(lr);
            let ids: Vec<Vec<u32>> = b.iter().map(|&i| rows[i].0.clone()).collect();
            let (t, m) = bert::batch(&ids, tok.pad(), &dev)?;
            let logits = model.forward(&t, &m, Some(&mut drop))?;
            let y: Vec<u32> = b.iter().map(|&i| rows[i].1 as u32).collect();
            let w: Vec<f32> = b
                .iter()
                .map(|&i| (rows[i].2 * class_w[rows[i].1]) as f32)
                .collect();
            let wsum: f32 = w.iter().sum();
            let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let picked = logp
                .gather(&Tensor::from_vec(y, (b.len(), 1), &dev)?, 1)?
                .squeeze(1)?;
            let loss =
                ((picked * Tensor::from_vec(w, b.len(), &dev)?)?.sum_all()? / f64::from(-wsum))?;
            opt.backward_step(&loss)?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?);
            seen += b.len();
            step += 1;
            if (bi + 1) % 20 == 0 {
                let secs = started.elapsed().as_secs_f64();
                progress(&format!(
                    "epoch {epoch}: {seen}/{} texts, mean loss {:.4}; {:.0} s, about {:.0} s to go",
                    rows.len(),
                    loss_sum / (bi + 1) as f64,
                    secs,
                    secs / step as f64 * (total_steps - step) as f64
                ));
            }
        }
        let scoring = crate::scoring::Prepared::new(&model)?;
        let probs = crate::probabilities(&scoring, &valid_ids, tok.pad(), &dev)?;
        let pred: Vec<usize> = probs
            .iter()
            .map(|p| (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(1))
            .collect();
        let f1 = macro_f1(&valid_y, &pred);
        progress(&format!("epoch {epoch}: validation macro-F1 {f1:.4}"));
        if report.valid.iter().all(|&v| f1 > v) {
            report.epoch = epoch;
            let meta = Meta {
                labels: LABELS.iter().map(|l| l.to_string()).collect(),
                max_len: cfg.max_len,
                trained_on: format!(
                    "{} main + {} extra texts (extra weight {}), {} epochs planned, lr {}, batch {}",
                    data.main.len(),
                    data.extra.len(),
                    cfg.extra_weight,
                    cfg.epochs,
                    cfg.lr,
                    cfg.batch
                ),
                epoch,
                valid_macro_f1: f1,
            };
            let tensors: HashMap<String, Tensor> = varmap
                .data()
                .lock()
                .map_err(|_| EncoderError::Empty)?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                .collect();
            write_dir(out, &config, &tok, &tensors, Some(&meta))?;
        }
        report.valid.push(f1);
    }
    Ok(report)
}
