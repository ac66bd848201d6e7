//! Multinomial logistic regression with an L2 penalty and per-example weights, fitted by
//! L-BFGS on the full batch: it minimises
//! `C · Σᵢ sᵢ · cross-entropyᵢ + ½‖W‖²` (the bias is not penalised), scikit-learn's
//! `LogisticRegression(C=…)` objective, so its `class_weight="balanced"` results carry over.

/// Sparse rows (compressed sparse row layout).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Csr {
    starts: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
}

impl Csr {
    /// An empty matrix.
    pub fn new() -> Csr {
        Csr {
            starts: vec![0],
            ..Csr::default()
        }
    }

    /// Appends a row of (column, value).
    pub fn push(&mut self, row: &[(u32, f32)]) {
        self.idx.extend(row.iter().map(|p| p.0));
        self.val.extend(row.iter().map(|p| p.1));
        self.starts.push(self.idx.len());
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Row `i` as column indices and values.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.starts[i], self.starts[i + 1]);
        (&self.idx[a..b], &self.val[a..b])
    }
}

/// A fitting problem: rows, their class, their weight.
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    /// Feature rows.
    pub x: &'a Csr,
    /// Class of each row, below `classes`.
    pub y: &'a [usize],
    /// Weight of each row (class balance × corpus weight).
    pub weight: &'a [f64],
    /// Number of classes (at least 2).
    pub classes: usize,
    /// Number of features (columns).
    pub features: usize,
}

/// Fitted weights: `w[feature * classes + class]`, and one bias per class.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Feature weights, feature-major.
    pub w: Vec<f64>,
    /// Biases.
    pub b: Vec<f64>,
    /// L-BFGS iterations used.
    pub iterations: usize,
}

/// Balanced class weights: `n / (classes · n_c)` for each row's class.
pub fn balanced(y: &[usize], classes: usize) -> Vec<f64> {
    let mut n = vec![0usize; classes];
    for &c in y {
        n[c] += 1;
    }
    y.iter()
        .map(|&c| y.len() as f64 / (classes as f64 * n[c] as f64))
        .collect()
}

fn logits(p: &Problem, theta: &[f64], i: usize, z: &mut [f64]) {
    let k = p.classes;
    let bias = &theta[p.features * k..];
    z.copy_from_slice(bias);
    let (idx, val) = p.x.row(i);
    for (&f, &v) in idx.iter().zip(val) {
        let w = &theta[f as usize * k..f as usize * k + k];
        for (zc, wc) in z.iter_mut().zip(w) {
            *zc += f64::from(v) * wc;
        }
    }
}

/// Softmax of `z` in place; returns log-sum-exp.
pub fn softmax(z: &mut [f64]) -> f64 {
    let m = z.iter().cloned().fold(f64::MIN, f64::max);
    let s: f64 = z.iter().map(|v| (v - m).exp()).sum();
    let lse = m + s.ln();
    for v in z.iter_mut() {
        *v = (*v - lse).exp();
    }
    lse
}

/// The objective divided by `C · Σ sᵢ` (a weighted mean loss plus the penalty) and its
/// gradient into `grad`.
fn objective(p: &Problem, c: f64, theta: &[f64], grad: &mut [f64]) -> f64 {
    let k = p.classes;
    grad.fill(0.0);
    let mut z = vec![0.0; k];
    let mut loss = 0.0;
    for i in 0..p.x.rows() {
        logits(p, theta, i, &mut z);
        let zy = z[p.y[i]];
        let lse = softmax(&mut z);
        let s = p.weight[i];
        loss += s * (lse - zy);
        z[p.y[i]] -= 1.0;
        for d in z.iter_mut() {
            *d *= s;
        }
        let (idx, val) = p.x.row(i);
        for (&f, &v) in idx.iter().zip(val) {
            let g = &mut grad[f as usize * k..f as usize * k + k];
            for (gc, dc) in g.iter_mut().zip(&z) {
                *gc += f64::from(v) * dc;
            }
        }
        for (gb, dc) in grad[p.features * k..].iter_mut().zip(&z) {
            *gb += dc;
        }
    }
    let wn = p.features * k;
    let total = p.weight.iter().sum::<f64>().max(1e-12);
    let mut reg = 0.0;
    for (g, w) in grad[..wn].iter_mut().zip(&theta[..wn]) {
        *g = (*g + w / c) / total;
        reg += w * w;
    }
    for g in grad[wn..].iter_mut() {
        *g /= total;
    }
    (loss + reg / (2.0 * c)) / total
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fits the model with penalty `c`, from `warm` if given (same shape), for at most `max_iter`
/// L-BFGS iterations.
pub fn fit(p: &Problem, c: f64, warm: Option<&Fit>, max_iter: usize) -> Fit {
    let n = p.features * p.classes + p.classes;
    let mut x = match warm {
        Some(f) => f.w.iter().chain(&f.b).copied().collect(),
        None => vec![0.0; n],
    };
    let mut g = vec![0.0; n];
    let mut fx = objective(p, c, &x, &mut g);
    let mut hist: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    let (mut xn, mut gn) = (vec![0.0; n], vec![0.0; n]);
    let mut iterations = 0;
    while iterations < max_iter {
        let gmax = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if gmax <= 1e-6 {
            break;
        }
        let d = direction(&g, &hist);
        let slope = dot(&g, &d);
        if slope >= 0.0 {
            hist.clear();
            continue;
        }
        let mut step = if hist.is_empty() {
            1.0 / dot(&g, &g).sqrt().max(1e-12)
        } else {
            1.0
        };
        let mut fnew;
        loop {
            for i in 0..n {
                xn[i] = x[i] + step * d[i];
            }
            fnew = objective(p, c, &xn, &mut gn);
            if fnew <= fx + 1e-4 * step * slope || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        iterations += 1;
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 {
            hist.push_back((s, y, 1.0 / sy));
            if hist.len() > 10 {
                hist.pop_front();
            }
        }
        let converged = (fx - fnew).abs() <= 1e-10 * fx.abs().max(1.0);
        std::mem::swap(&mut x, &mut xn);
        std::mem::swap(&mut g, &mut gn);
        fx = fnew;
        if converged {
            break;
        }
    }
    let b = x.split_off(p.features * p.classes);
    Fit {
        w: x,
        b,
        iterations,
    }
}

/// The L-BFGS two-loop recursion: `-H·g`.
fn direction(g: &[f64], hist: &std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)>) -> Vec<f64> {
    let mut q = g.to_vec();
    let mut alpha = Vec::with_capacity(hist.len());
    for (s, y, rho) in hist.iter().rev() {
        let a = rho * dot(s, &q);
        for (qi, yi) in q.iter_mut().zip(y) {
            *qi -= a * yi;
        }
        alpha.push(a);
    }
    if let Some((s, y, _)) = hist.back() {
        let gamma = dot(s, y) / dot(y, y).max(1e-300);
        for qi in q.iter_mut() {
            *qi *= gamma;
        }
    }
    for ((s, y, rho), a) in hist.iter().zip(alpha.iter().rev()) {
        let b = rho * dot(y, &q);
        for (qi, si) in q.iter_mut().zip(s) {
            *qi += (a - b) * si;
        }
    }
    for qi in q.iter_mut() {
        *qi = -*qi;
    }
    q
}

/// Class probabilities of row `i` under a fit.
pub fn predict(p: &Problem, f: &Fit, i: usize) -> Vec<f64> {
    let k = p.classes;
    let mut z = f.b.clone();
    let (idx, val) = p.x.row(i);
    for (&j, &v) in idx.iter().zip(val) {
        for (c, zc) in z.iter_mut().enumerate() {
            *zc += f64::from(v) * f.w[j as usize * k + c];
        }
    }
    softmax(&mut z);
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let mut x = Csr::new();
        x.push(&[(0, 1.0), (2, 0.5)]);
        x.push(&[(1, 1.0)]);
        x.push(&[(0, 0.3), (1, 0.7)]);
        let y = [0, 1, 2];
        let w = [1.0, 2.0, 0.5];
        let p = Problem {
            x: &x,
            y: &y,
            weight: &w,
            classes: 3,
            features: 3,
        };
        let theta: Vec<f64> = (0..12).map(|i| (i as f64 * 0.37).sin()).collect();
        let mut g = vec![0.0; 12];
        objective(&p, 2.0, &theta, &mut g);
        for i in 0..12 {
            let (mut a, mut b) = (theta.clone(), theta.clone());
            a[i] += 1e-6;
            b[i] -= 1e-6;
            let mut tmp = vec![0.0; 12];
            let num = (objective(&p, 2.0, &a, &mut tmp) - objective(&p, 2.0, &b, &mut tmp)) / 2e-6;
            assert!((num - g[i]).abs() < 1e-5, "{i}: {num} vs {}", g[i]);
        }
    }

    #[test]
    fn fits_a_separable_problem_and_a_weaker_penalty_fits_closer() {
        let mut x = Csr::new();
        let mut y = Vec::new();
        for i in 0..30 {
            x.push(&[((i % 3) as u32, 1.0), (3, 0.2)]);
            y.push(i % 3);
        }
        let w = balanced(&y, 3);
        let p = Problem {
            x: &x,
            y: &y,
            weight: &w,
            classes: 3,
            features: 4,
        };
        let weak = fit(&p, 100.0, None, 500);
        let strong = fit(&p, 0.01, None, 500);
        for i in 0..30 {
            let (pw, ps) = (predict(&p, &weak, i), predict(&p, &strong, i));
            assert!(pw[y[i]] > 0.9, "{pw:?}");
            assert!(pw[y[i]] > ps[y[i]]);
        }
        // Balanced weights: each class carries n / classes in total.
        let w = balanced(&[0, 0, 0, 1], 2);
        assert!((w[0] * 3.0 - 2.0).abs() < 1e-12 && (w[3] - 2.0).abs() < 1e-12);
    }
}
