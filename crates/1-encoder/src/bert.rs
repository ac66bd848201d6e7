//! A BERT encoder (the all-MiniLM-L6-v2 architecture) with mean pooling and a 3-class
//! sentiment head, written on candle's tensor operations so that every step has a gradient
//! (layer norm and softmax are composed from primitives). Parameter names follow the
//! Hugging Face checkpoint (`embeddings.*`, `encoder.layer.N.*`), plus `classifier.*`.

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder, embedding, linear};
use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The parts of a Hugging Face BERT `config.json` the model needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden width.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Longest input.
    pub max_position_embeddings: usize,
    /// Token type vocabulary (segment ids).
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    /// Activation (only `gelu` is supported).
    #[serde(default = "gelu")]
    pub hidden_act: String,
}

fn two() -> usize {
    2
}
fn eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

/// Dropout with a seeded mask (training only).
pub struct Dropout {
    rng: ChaCha8Rng,
    p: f32,
}

impl Dropout {
    /// Dropout with probability `p`, seeded.
    pub fn new(p: f32, seed: u64) -> Dropout {
        Dropout {
            rng: ChaCha8Rng::seed_from_u64(seed),
            p,
        }
    }

    fn apply(&mut self, x: &Tensor) -> Result<Tensor> {
        if self.p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let n = x.elem_count();
        let mask: Vec<f32> = (0..n)
            .map(|_| {
                if self.rng.random::<f32>() < keep {
                    1.0 / keep
                } else {
                    0.0
                }
            })
            .collect();
        x * Tensor::from_vec(mask, x.shape(), x.device())?
    }
}

/// Layer norm from primitive operations.
#[derive(Clone)]
pub(crate) struct Norm {
    w: Tensor,
    b: Tensor,
    eps: f64,
}

impl Norm {
    fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Norm> {
        Ok(Norm {
            w: vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?,
            b: vb.get_with_hints(size, "bias", candle_nn::Init::Const(0.0))?,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed.broadcast_mul(&self.w)?.broadcast_add(&self.b)
    }

    /// The same in one pass over each row (no gradient; scoring only).
    pub(crate) fn infer(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.w, &self.b, self.eps as f32)
    }
}

pub(crate) struct Layer {
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    pub(crate) ln1: Norm,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
    pub(crate) ln2: Norm,
    pub(crate) heads: usize,
}

impl Layer {
    fn new(c: &Config, vb: VarBuilder) -> Result<Layer> {
        let h = c.hidden_size;
        let att = vb.pp("attention");
        Ok(Layer {
            q: linear(h, h, att.pp("self").pp("query"))?,
            k: linear(h, h, att.pp("self").pp("key"))?,
            v: linear(h, h, att.pp("self").pp("value"))?,
            o: linear(h, h, att.pp("output").pp("dense"))?,
            ln1: Norm::new(h, c.layer_norm_eps, att.pp("output").pp("LayerNorm"))?,
            up: linear(h, c.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            down: linear(c.intermediate_size, h, vb.pp("output").pp("dense"))?,
            ln2: Norm::new(h, c.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            heads: c.num_attention_heads,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        mask: &Tensor,
        drop: &mut Option<&mut Dropout>,
    ) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let hd = h / self.heads;
        let split = |y: Tensor| -> Result<Tensor> {
            y.reshape((b, t, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.q.forward(x)?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?.broadcast_add(mask)?;
        let mut probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        if let Some(d) = drop.as_deref_mut() {
            probs = d.apply(&probs)?;
        }
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
        let mut a = self.o.forward(&ctx)?;
        if let Some(d) = drop.as_deref_mut() {
            a = d.apply(&a)?;
        }
        let x = self.ln1.forward(&(a + x)?)?;
        let mut f = self.down.forward(&self.up.forward(&x)?.gelu_erf()?)?;
        if let Some(d) = drop.as_deref_mut() {
            f = d.apply(&f)?;
        }
        self.ln2.forward(&(f + x)?)
    }
}

/// The encoder with its sentiment head.
pub struct Bert {
    pub(crate) word: Embedding,
    pub(crate) pos: Embedding,
    pub(crate) typ: Embedding,
    pub(crate) ln: Norm,
    pub(crate) layers: Vec<Layer>,
    pub(crate) classifier: Linear,
}

/// Sentiment classes of the head.
pub const CLASSES: usize = 3;

impl Bert {
    /// Builds the model's parameters through `vb` (loaded or freshly initialised).
    pub fn new(c: &Config, vb: VarBuilder) -> Result<Bert> {
        if c.hidden_act != "gelu" || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            candle_core::bail!("unsupported config: {c:?}");
        }
        let e = vb.pp("embeddings");
        let h = c.hidden_size;
        Ok(Bert {
            word: embedding(c.vocab_size, h, e.pp("word_embeddings"))?,
            pos: embedding(c.max_position_embeddings, h, e.pp("position_embeddings"))?,
            typ: embedding(c.type_vocab_size, h, e.pp("token_type_embeddings"))?,
            ln: Norm::new(h, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers: (0..c.num_hidden_layers)
                .map(|i| Layer::new(c, vb.pp(format!("encoder.layer.{i}"))))
                .collect::<Result<_>>()?,
            classifier: linear(h, CLASSES, vb.pp("classifier"))?,
        })
    }

    /// Class logits `[batch, CLASSES]` of padded token ids `[batch, len]` with their 0/1
    /// attention mask; dropout only when `drop` is given (training).
    pub fn forward(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        mut drop: Option<&mut Dropout>,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let dev = ids.device();
        let positions = Tensor::arange(0u32, t as u32, dev)?
            .unsqueeze(0)?
            .broadcast_as((b, t))?;
        let types = Tensor::zeros((b, t), DType::U32, dev)?;
        let x = ((self.word.forward(ids)? + self.pos.forward(&positions)?)?
            + self.typ.forward(&types)?)?;
        let mut x = self.ln.forward(&x)?;
        if let Some(d) = drop.as_deref_mut() {
            x = d.apply(&x)?;
        }
        let maskf = mask.to_dtype(DType::F32)?;
        let additive = ((maskf.clone() - 1.0)? * 1e4)?.reshape((b, 1, 1, t))?;
        for l in &self.layers {
            x = l.forward(&x, &additive, &mut drop)?;
        }
        let m = maskf.unsqueeze(2)?;
        let pooled = x.broadcast_mul(&m)?.sum(1)?.broadcast_div(&m.sum(1)?)?;
        self.classifier.forward(&pooled)
    }
}

/// Pads token id rows to one length: ids and 0/1 mask tensors `[rows, longest]`.
pub fn batch(rows: &[Vec<u32>], pad: u32, dev: &Device) -> Result<(Tensor, Tensor)> {
    let t = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut ids = Vec::with_capacity(rows.len() * t);
    let mut mask = Vec::with_capacity(rows.len() * t);
    for r in rows {
        ids.extend(
            r.iter()
                .copied()
                .chain(std::iter::repeat_n(pad, t - r.len())),
        );
        mask.extend((0..t).map(|i| u32::from(i < r.len())));
    }
    Ok((
        Tensor::from_vec(ids, (rows.len(), t), dev)?,
        Tensor::from_vec(mask, (rows.len(), t), dev)?,
    ))
}
