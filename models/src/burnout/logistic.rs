//! L2-regularised logistic regression on a few columns, fitted by Newton's method on
//! standardised inputs (missing values take the training mean). Used for the simple baselines,
//! which a skeptic would fit exactly this way.

use serde::{Deserialize, Serialize};

/// A fitted logistic regression over chosen columns of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    /// Columns of the row it reads.
    pub columns: Vec<usize>,
    /// Training mean of each column (also the value of a missing one).
    pub mean: Vec<f64>,
    /// Training standard deviation of each column (at least 1e-9).
    pub sd: Vec<f64>,
    /// Intercept, then one weight per column (on the standardised value).
    pub beta: Vec<f64>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting; `None` when singular.
// Index loops read as the textbook elimination and Hessian they implement.
#[allow(clippy::needless_range_loop)]
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let m = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= m * a[c][k];
            }
            b[r] -= m * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

impl Logistic {
    /// Fits on `rows` (each read at `columns`) and outcomes, with ridge penalty `l2` on the
    /// weights (not the intercept). At most 25 Newton steps.
    #[allow(clippy::needless_range_loop)]
    pub fn fit<R: AsRef<[f64]>>(rows: &[R], ys: &[bool], columns: &[usize], l2: f64) -> Logistic {
        let d = columns.len();
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        let mut sd = vec![0.0; d];
        for (j, &c) in columns.iter().enumerate() {
            let vals = rows.iter().map(|r| r.as_ref()[c]).filter(|v| !v.is_nan());
            let (mut k, mut s, mut sq) = (0.0, 0.0, 0.0);
            for v in vals {
                k += 1.0;
                s += v;
                sq += v * v;
            }
            mean[j] = if k > 0.0 { s / k } else { 0.0 };
            sd[j] = if k > 0.0 {
                (sq / k - mean[j] * mean[j]).max(0.0).sqrt().max(1e-9)
            } else {
                1.0
            };
        }
        let pos = ys.iter().filter(|&&y| y).count() as f64;
        let mut m = Logistic {
            columns: columns.to_vec(),
            mean,
            sd,
            beta: vec![0.0; d + 1],
        };
        m.beta[0] = ((pos + 0.5) / (n - pos + 0.5)).ln();
        let mut z = vec![0.0; d + 1];
        for _ in 0..25 {
            let mut grad = vec![0.0; d + 1];
            let mut hess = vec![vec![0.0; d + 1]; d + 1];
            for (r, &y) in rows.iter().zip(ys) {
                m.inputs(r.as_ref(), &mut z);
                let p = sigmoid(m.beta.iter().zip(&z).map(|(b, v)| b * v).sum());
                let g = p - f64::from(u8::from(y));
                let h = (p * (1.0 - p)).max(1e-9);
                for i in 0..=d {
                    grad[i] += g * z[i];
                    for k in i..=d {
                        hess[i][k] += h * z[i] * z[k];
                    }
                }
            }
            for i in 0..=d {
                for k in 0..i {
                    hess[i][k] = hess[k][i];
                }
                if i > 0 {
                    grad[i] += l2 * n * m.beta[i];
                    hess[i][i] += l2 * n;
                }
            }
            let Some(step) = solve(hess, grad) else { break };
            let mut size = 0.0f64;
            for (b, s) in m.beta.iter_mut().zip(&step) {
                *b -= s;
                size = size.max(s.abs());
            }
            if size < 1e-8 {
                break;
            }
        }
        m
    }

    /// The standardised inputs of a row, with a leading 1 for the intercept.
    fn inputs(&self, row: &[f64], z: &mut [f64]) {
        z[0] = 1.0;
        for (j, &c) in self.columns.iter().enumerate() {
            let v = row.get(c).copied().unwrap_or(f64::NAN);
            z[j + 1] = if v.is_nan() {
                0.0
            } else {
                (v - self.mean[j]) / self.sd[j]
            };
        }
    }

    /// Probability of the positive outcome for a row.
    pub fn probability(&self, row: &[f64]) -> f64 {
        let mut z = vec![0.0; self.beta.len()];
        self.inputs(row, &mut z);
        sigmoid(self.beta.iter().zip(&z).map(|(b, v)| b * v).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_relationship_and_ignores_noise() {
        // y = 1 when 2·x0 − x1 + noise > 0; column 2 is noise, column 3 is missing half the time.
        let mut s = 12345u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut rows = Vec::new();
        let mut ys = Vec::new();
        for i in 0..4000 {
            let r = vec![
                next(),
                next(),
                next(),
                if i % 2 == 0 { next() } else { f64::NAN },
            ];
            ys.push(2.0 * r[0] - r[1] + 0.3 * next() > 0.0);
            rows.push(r);
        }
        let m = Logistic::fit(&rows, &ys, &[0, 1, 2, 3], 1e-4);
        assert!(m.beta[1] > 3.0 && m.beta[2] < -1.5, "{:?}", m.beta);
        assert!(
            m.beta[3].abs() < 0.3 && m.beta[4].abs() < 0.3,
            "{:?}",
            m.beta
        );
        assert!(m.probability(&[0.4, -0.4, 0.0, f64::NAN]) > 0.9);
        assert!(m.probability(&[-0.4, 0.4, 0.0, 0.1]) < 0.1);
    }

    #[test]
    fn a_constant_column_does_not_break_the_fit() {
        let rows: Vec<Vec<f64>> = (0..100).map(|i| vec![1.0, f64::from(i)]).collect();
        let ys: Vec<bool> = (0..100).map(|i| i > 70).collect();
        let m = Logistic::fit(&rows, &ys, &[0, 1], 1e-3);
        assert!(m.beta.iter().all(|b| b.is_finite()));
        assert!(m.probability(&[1.0, 90.0]) > m.probability(&[1.0, 10.0]));
    }
}
