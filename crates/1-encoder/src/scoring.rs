//! The encoder prepared for scoring (no gradient): every dense layer's weights as plain f32
//! rows taken once from the model, and one matrix product per layer that also adds the bias,
//! the residual and GELU (gemm accumulates onto an output that starts as bias + residual), so
//! no tensor is read again for them. Query, key and value are one product. Rows come unpadded;
//! a batch is padded to its own longest row only, with no masking work when all rows are that
//! long. Batches are scored in parallel by the caller, so each product runs on one thread
//! unless asked otherwise.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Device, Layout, Result, Shape, Tensor};
use candle_nn::{Linear, Module};

use crate::bert::{Bert, Norm};

/// A dense layer's weights, `out` rows of `inp` values, and its bias.
struct Dense {
    w: Vec<f32>,
    b: Vec<f32>,
    inp: usize,
    out: usize,
}

impl Dense {
    /// The weights of `parts`, stacked (their outputs side by side).
    fn stack(parts: &[&Linear]) -> Result<Dense> {
        let (mut w, mut b, mut out) = (Vec::new(), Vec::new(), 0);
        let inp = parts.first().map_or(Ok(0), |l| l.weight().dim(1))?;
        for l in parts {
            let (o, i) = l.weight().dims2()?;
            if i != inp {
                candle_core::bail!("stacked dense layers of different input widths");
            }
            w.extend(
                l.weight()
                    .to_dtype(DType::F32)?
                    .flatten_all()?
                    .to_vec1::<f32>()?,
            );
            match l.bias() {
                Some(bias) => b.extend(bias.to_dtype(DType::F32)?.to_vec1::<f32>()?),
                None => b.extend(std::iter::repeat_n(0.0, o)),
            }
            out += o;
        }
        Ok(Dense { w, b, inp, out })
    }

    /// `x · wᵀ + b` over the last dimension of `x`, plus `residual` when given, then GELU
    /// when `gelu`.
    fn forward(
        &self,
        x: &Tensor,
        residual: Option<&Tensor>,
        gelu: bool,
        parallel: bool,
    ) -> Result<Tensor> {
        let op = DenseOp {
            d: self,
            gelu,
            parallel,
        };
        let x = x.contiguous()?;
        match residual {
            Some(r) => x.apply_op2_no_bwd(&r.contiguous()?, &op),
            None => x.apply_op1_no_bwd(&op),
        }
    }
}

struct DenseOp<'a> {
    d: &'a Dense,
    gelu: bool,
    parallel: bool,
}

impl DenseOp<'_> {
    fn run(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        r: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let d = self.d;
        let x = f32s(x, xl)?;
        let dims = xl.dims();
        if dims.last() != Some(&d.inp) {
            candle_core::bail!("dense: input {dims:?}, expected last dimension {}", d.inp);
        }
        let m = x.len() / d.inp.max(1);
        let mut dst: Vec<f32> = Vec::with_capacity(m * d.out);
        for _ in 0..m {
            dst.extend_from_slice(&d.b);
        }
        if let Some((r, rl)) = r {
            let r = f32s(r, rl)?;
            if r.len() != dst.len() {
                candle_core::bail!(
                    "dense: residual of {} values, output of {}",
                    r.len(),
                    dst.len()
                );
            }
            dst.iter_mut().zip(r).for_each(|(o, v)| *o += v);
        }
        let par = if self.parallel {
            gemm::Parallelism::Rayon(0)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: `x` holds m × inp values (row stride inp), `w` out × inp (read as its
        // transpose: column stride inp, row stride 1) and `dst` m × out (row stride out),
        // all checked above or built here; the three do not overlap.
        unsafe {
            gemm::gemm(
                m,
                d.out,
                d.inp,
                dst.as_mut_ptr(),
                1,
                d.out as isize,
                true,
                x.as_ptr(),
                1,
                d.inp as isize,
                d.w.as_ptr(),
                d.inp as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
        if self.gelu {
            crate::ops::gelu_in_place(&mut dst);
        }
        let mut shape = dims.to_vec();
        if let Some(last) = shape.last_mut() {
            *last = d.out;
        }
        Ok((CpuStorage::F32(dst), Shape::from(shape)))
    }
}

fn f32s<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("dense: f32 only, got {:?}", s.dtype());
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("dense: the input must be contiguous"),
    }
}

impl CustomOp1 for DenseOp<'_> {
    fn name(&self) -> &'static str {
        "canopy-dense"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.run(s, l, None)
    }
}

impl CustomOp2 for DenseOp<'_> {
    fn name(&self) -> &'static str {
        "canopy-dense-residual"
    }

    fn cpu_fwd(
        &self,
        s: &CpuStorage,
        l: &Layout,
        r: &CpuStorage,
        rl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.run(s, l, Some((r, rl)))
    }
}

struct Layer {
    qkv: Dense,
    o: Dense,
    ln1: Norm,
    up: Dense,
    down: Dense,
    ln2: Norm,
    heads: usize,
}

/// A [`Bert`] ready to score: its weights as they are now (take a new one after training).
pub struct Prepared {
    word: Tensor,
    pos: Tensor,
    typ: Tensor,
    ln: Norm,
    layers: Vec<Layer>,
    classifier: Linear,
}

impl Prepared {
    /// Takes the weights of `model`.
    pub fn new(model: &Bert) -> Result<Prepared> {
        let p = model;
        let layers = p
            .layers
            .iter()
            .map(|l| {
                Ok(Layer {
                    qkv: Dense::stack(&[&l.q, &l.k, &l.v])?,
                    o: Dense::stack(&[&l.o])?,
                    ln1: l.ln1.clone(),
                    up: Dense::stack(&[&l.up])?,
                    down: Dense::stack(&[&l.down])?,
                    ln2: l.ln2.clone(),
                    heads: l.heads,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Prepared {
            word: p.word.embeddings().clone(),
            pos: p.pos.embeddings().clone(),
            typ: p.typ.embeddings().clone(),
            ln: p.ln.clone(),
            layers,
            classifier: p.classifier.clone(),
        })
    }

    /// Class logits `[rows, CLASSES]` of unpadded token id rows; `parallel` lets each matrix
    /// product use every core (when there is a single batch to score).
    pub fn logits(
        &self,
        rows: &[&[u32]],
        pad: u32,
        dev: &Device,
        parallel: bool,
    ) -> Result<Tensor> {
        let b = rows.len();
        let t = rows.iter().map(|r| r.len()).max().unwrap_or(1).max(1);
        let mut ids = Vec::with_capacity(b * t);
        for r in rows {
            ids.extend(
                r.iter()
                    .copied()
                    .chain(std::iter::repeat_n(pad, t - r.len())),
            );
        }
        let ids = Tensor::from_vec(ids, b * t, dev)?;
        let x = self
            .word
            .index_select(&ids, 0)?
            .reshape((b, t, ()))?
            .broadcast_add(&self.pos.narrow(0, 0, t)?)?
            .broadcast_add(&self.typ.narrow(0, 0, 1)?)?;
        let mut x = self.ln.infer(&x)?;
        let keep: Option<Tensor> = if rows.iter().any(|r| r.len() != t) {
            let keep: Vec<f32> = rows
                .iter()
                .flat_map(|r| (0..t).map(move |i| if i < r.len() { 1.0 } else { 0.0 }))
                .collect();
            Some(Tensor::from_vec(keep, (b, t), dev)?)
        } else {
            None
        };
        let additive = match &keep {
            Some(k) => Some(((k - 1.0)? * 1e4)?.reshape((b, 1, 1, t))?),
            None => None,
        };
        for l in &self.layers {
            x = l.forward(&x, additive.as_ref(), parallel)?;
        }
        let pooled = match &keep {
            Some(k) => {
                let m = k.unsqueeze(2)?;
                x.broadcast_mul(&m)?.sum(1)?.broadcast_div(&m.sum(1)?)?
            }
            None => x.mean(1)?,
        };
        self.classifier.forward(&pooled)
    }
}

impl Layer {
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>, parallel: bool) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let hd = h / self.heads;
        let qkv = self
            .qkv
            .forward(x, None, false, parallel)?
            .reshape((b, t, 3, self.heads, hd))?;
        let part = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i, 1)?
                .squeeze(2)?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let mut scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
        if let Some(m) = mask {
            scores = scores.broadcast_add(m)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
        let x = self
            .ln1
            .infer(&self.o.forward(&ctx, Some(x), false, parallel)?)?;
        let f = self.up.forward(&x, None, true, parallel)?;
        self.ln2
            .infer(&self.down.forward(&f, Some(&x), false, parallel)?)
    }
}
