//! Duration distributions for the parametric stopping model: log-normal and Weibull fitted by
//! maximum likelihood, with log-survival functions accurate far into the tails (the stopping
//! probability is a ratio of two small survivals there).

use serde::{Deserialize, Serialize};

/// ln Q(z), Q the standard normal upper tail, accurate for every z: Numerical Recipes' erfc
/// (fractional error < 1.2e-7) up to z = 8, the asymptotic series beyond.
pub fn ln_normal_sf(z: f64) -> f64 {
    if z > 8.0 {
        let z2 = z * z;
        // Q(z) ≈ φ(z)/z · (1 − 1/z² + 3/z⁴ − 15/z⁶)
        let series = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2);
        return -z2 / 2.0 - (z * (2.0 * std::f64::consts::PI).sqrt()).ln() + series.ln();
    }
    (0.5 * erfc(z / std::f64::consts::SQRT_2)).ln()
}

/// The standard normal CDF Φ(z).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes `erfcc`, fractional error < 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// A fitted duration distribution (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Dist {
    /// ln T ~ N(mu, sigma²).
    LogNormal {
        /// Mean of ln T.
        mu: f64,
        /// Standard deviation of ln T.
        sigma: f64,
    },
    /// S(t) = exp(−(t/scale)^shape).
    Weibull {
        /// Shape k.
        shape: f64,
        /// Scale λ, seconds.
        scale: f64,
    },
}

/// The families tried, as AI4CI tries a list of scipy distributions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Log-normal.
    LogNormal,
    /// Weibull.
    Weibull,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 2] = [Family::LogNormal, Family::Weibull];

    /// The maximum-likelihood fit to positive durations; `None` with fewer than two distinct
    /// values.
    pub fn fit(self, xs: &[f64]) -> Option<Dist> {
        let logs: Vec<f64> = xs.iter().filter(|x| **x > 0.0).map(|x| x.ln()).collect();
        let n = logs.len() as f64;
        if logs.len() < 2 {
            return None;
        }
        let mean = logs.iter().sum::<f64>() / n;
        let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n;
        if var <= 1e-12 {
            return None;
        }
        match self {
            Family::LogNormal => Some(Dist::LogNormal {
                mu: mean,
                sigma: var.sqrt(),
            }),
            Family::Weibull => fit_weibull(&logs, mean),
        }
    }
}

/// Weibull MLE: the shape solves Σ x^k ln x / Σ x^k − 1/k − mean(ln x) = 0 (increasing in k),
/// found by bisection on ln k; then scale = (mean x^k)^(1/k). Durations are rescaled by their
/// largest value first so that x^k cannot overflow.
fn fit_weibull(logs: &[f64], mean: f64) -> Option<Dist> {
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let centred: Vec<f64> = logs.iter().map(|l| l - top).collect();
    let mean_c = mean - top;
    let g = |k: f64| {
        let (mut num, mut den) = (0.0, 0.0);
        for l in &centred {
            let w = (k * l).exp();
            num += w * l;
            den += w;
        }
        num / den - 1.0 / k - mean_c
    };
    let (mut lo, mut hi) = (1e-3f64.ln(), 1e3f64.ln());
    if g(lo.exp()) > 0.0 || g(hi.exp()) < 0.0 {
        return None;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if g(mid.exp()) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let k = (0.5 * (lo + hi)).exp();
    let mean_pow = centred.iter().map(|l| (k * l).exp()).sum::<f64>() / centred.len() as f64;
    let scale = (mean_pow.ln() / k + top).exp();
    Some(Dist::Weibull { shape: k, scale })
}

impl Dist {
    /// ln S(t) = ln P(T > t).
    pub fn ln_sf(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        match *self {
            Dist::LogNormal { mu, sigma } => ln_normal_sf((t.ln() - mu) / sigma),
            Dist::Weibull { shape, scale } => -(t / scale).powf(shape),
        }
    }

    /// ln f(t), the log density.
    pub fn ln_pdf(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return f64::NEG_INFINITY;
        }
        match *self {
            Dist::LogNormal { mu, sigma } => {
                let z = (t.ln() - mu) / sigma;
                -0.5 * z * z - (sigma * t * (2.0 * std::f64::consts::PI).sqrt()).ln()
            }
            Dist::Weibull { shape, scale } => {
                let r = t / scale;
                shape.ln() - scale.ln() + (shape - 1.0) * r.ln() - r.powf(shape)
            }
        }
    }

    /// Log-likelihood of durations.
    pub fn log_likelihood(&self, xs: &[f64]) -> f64 {
        xs.iter().map(|x| self.ln_pdf(*x)).sum()
    }
}

/// The durations between the 1st and 99th percentiles, as AI4CI trims before fitting
/// (`standardize(df, column, 0.99, 0.01)`).
pub fn trimmed(xs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let (lo, hi) = ((0.01 * n as f64) as usize, (0.99 * n as f64) as usize);
    if hi <= lo + 1 {
        return v;
    }
    v[lo..hi].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tails_are_accurate() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        // Q(5) = 2.8665e-7; Q(10) = 7.6199e-24, both to 1e-3 relative.
        assert!((ln_normal_sf(5.0) - 2.866_515_7e-7f64.ln()).abs() < 1e-3);
        assert!((ln_normal_sf(10.0) - 7.619_853e-24f64.ln()).abs() < 1e-3);
        // Continuous where the two methods meet.
        assert!((ln_normal_sf(8.0 - 1e-9) - ln_normal_sf(8.0 + 1e-9)).abs() < 1e-3);
    }

    #[test]
    fn fits_recover_known_parameters() {
        // Quantiles of a log-normal with mu = ln 1000, sigma = 0.5 (deterministic sample).
        let xs: Vec<f64> = (1..400)
            .map(|i| {
                let p = i as f64 / 400.0;
                let mut z = 0.0;
                for _ in 0..60 {
                    z -= (normal_cdf(z) - p) / (0.398_942_28 * (-z * z / 2.0).exp());
                }
                (1000f64.ln() + 0.5 * z).exp()
            })
            .collect();
        match Family::LogNormal.fit(&xs).unwrap() {
            Dist::LogNormal { mu, sigma } => {
                assert!((mu - 1000f64.ln()).abs() < 1e-3, "{mu}");
                assert!((sigma - 0.5).abs() < 0.02, "{sigma}");
            }
            d => panic!("{d:?}"),
        }
        // Weibull quantiles: t = λ (−ln(1−p))^(1/k) with k = 2, λ = 600.
        let ws: Vec<f64> = (1..400)
            .map(|i| 600.0 * (-(1.0 - i as f64 / 400.0).ln()).powf(0.5))
            .collect();
        match Family::Weibull.fit(&ws).unwrap() {
            Dist::Weibull { shape, scale } => {
                assert!((shape - 2.0).abs() < 0.05, "{shape}");
                assert!((scale - 600.0).abs() < 6.0, "{scale}");
            }
            d => panic!("{d:?}"),
        }
        // The right family wins on likelihood.
        let ln = Family::LogNormal.fit(&ws).unwrap();
        let wb = Family::Weibull.fit(&ws).unwrap();
        assert!(wb.log_likelihood(&ws) > ln.log_likelihood(&ws));
        assert_eq!(Family::Weibull.fit(&[5.0, 5.0, 5.0]), None);
        assert_eq!(Family::LogNormal.fit(&[5.0]), None);
    }

    #[test]
    fn trimming_drops_the_extreme_percent() {
        let xs: Vec<f64> = (0..200).map(f64::from).collect();
        let t = trimmed(&xs);
        assert_eq!((t[0], t[t.len() - 1], t.len()), (2.0, 197.0, 196));
    }
}
