//! Scoring kernels candle does slowly on the CPU: GELU with the exact (erf) form is computed
//! element by element through a scalar `erff` there. Here erf comes from Abramowitz & Stegun
//! 7.1.26 (absolute error below 1.5e-7) with an exp by range reduction and a polynomial, both
//! branch-free so that the compiler vectorises the loop. Scoring only: no gradient.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// `x · Φ(x)` (GELU, erf form) of an f32 tensor, within 1e-6 of candle's `gelu_erf`.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    x.apply_op1_no_bwd(&GeluErf)
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "canopy-gelu-erf"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(v) = s else {
            candle_core::bail!("gelu_erf: f32 only, got {:?}", s.dtype());
        };
        let Some((start, end)) = l.contiguous_offsets() else {
            candle_core::bail!("gelu_erf: the input must be contiguous");
        };
        let out: Vec<f32> = v[start..end].iter().map(|&x| gelu(x)).collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// [`gelu_erf`] of every value, in place (8 at a time where the CPU has AVX2).
pub(crate) fn gelu_in_place(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { gelu_avx2(xs) };
        return;
    }
    for x in xs {
        *x = gelu(*x);
    }
}

/// The loop of [`gelu_in_place`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gelu_avx2(xs: &mut [f32]) {
    for x in xs {
        *x = gelu(*x);
    }
}

#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf by Abramowitz & Stegun 7.1.26.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_72) * t
        + 0.254_829_6)
        * t;
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// e^x for x ≤ 0 (down to where it underflows to 0): x = n·ln2 + r, |r| ≤ ln2/2, e^r by its
/// Taylor polynomial to r^7 (relative error below 2e-7), 2^n from the exponent bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Round x/ln2 to the nearest integer n by adding and taking away 1.5 · 2^23: the sum's
    // low mantissa bits are then n itself (no call to `roundf`, no float-to-int conversion).
    const SHIFT: f32 = 12_582_912.0;
    let x = if x < -87.0 { -87.0 } else { x };
    let shifted = x * std::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let n_int = shifted.to_bits().wrapping_sub(SHIFT.to_bits()) as i32;
    let r = x - n * std::f32::consts::LN_2;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    p * f32::from_bits((n_int.wrapping_add(127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_candles_gelu_erf_within_a_millionth() {
        let xs: Vec<f32> = (-20_000..=20_000).map(|i| i as f32 / 1000.0).collect();
        let t = Tensor::from_vec(xs.clone(), xs.len(), &Device::Cpu).unwrap();
        let ours: Vec<f32> = gelu_erf(&t).unwrap().to_vec1().unwrap();
        let theirs: Vec<f32> = t.gelu_erf().unwrap().to_vec1().unwrap();
        for ((x, a), b) in xs.iter().zip(&ours).zip(&theirs) {
            assert!((a - b).abs() <= 1e-6 * x.abs().max(1.0), "{x}: {a} vs {b}");
        }
        assert_eq!(ours[20_000], 0.0);
        assert!((exp(-1.0) - (-1f32).exp()).abs() < 1e-7 && exp(-200.0) < 1e-37);
    }
}
