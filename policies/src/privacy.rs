//! Privacy of aggregate outputs: keyed pseudonyms, k-anonymous tables with complementary
//! suppression, and Laplace noise with a privacy budget. Pure: keys, seeds and the spent budget
//! are passed in.

use hmac::{Hmac, Mac};
use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sha2::Sha256;

/// A keyed pseudonym: HMAC-SHA256 of the identity under a secret key, hex, shortened to 16
/// characters with the key's id in front (`k1-3fa9…`), so that a rotated key gives new
/// pseudonyms and reports say which key made them. The key never appears in output.
pub fn pseudonym(key_id: &str, key: &[u8], identity: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return format!("{key_id}-invalid-key"),
    };
    mac.update(identity.as_bytes());
    let out = mac.finalize().into_bytes();
    format!("{key_id}-{}", hex::encode(&out[..8]))
}

/// A cell of a published table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Cell {
    /// Shown: the count (possibly noised).
    Shown(f64),
    /// Suppressed because it counts fewer than k people.
    Suppressed,
    /// Suppressed so that a suppressed cell cannot be recovered from the total.
    Complementary,
}

/// One row of counts per category, with its published total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppressed {
    /// The cells, in the input order.
    pub cells: Vec<Cell>,
    /// The total (always shown: suppression makes it safe).
    pub total: f64,
}

/// Suppresses cells counting fewer than `k` people (but more than zero), then, if exactly one
/// cell was suppressed, the smallest other non-zero cell too, so that no suppressed value equals
/// the total minus the shown cells. A total below k suppresses everything.
pub fn suppress(counts: &[u64], k: u64) -> Suppressed {
    let total: u64 = counts.iter().sum();
    let mut cells: Vec<Cell> = counts
        .iter()
        .map(|&c| {
            if total < k || (c > 0 && c < k) {
                Cell::Suppressed
            } else {
                Cell::Shown(c as f64)
            }
        })
        .collect();
    let hidden = cells
        .iter()
        .filter(|c| !matches!(c, Cell::Shown(_)))
        .count();
    if hidden == 1 {
        // The smallest shown non-zero cell goes too; zero cells reveal nothing more.
        if let Some((i, _)) = counts
            .iter()
            .enumerate()
            .filter(|(i, c)| matches!(cells[*i], Cell::Shown(_)) && **c > 0)
            .min_by_key(|(_, c)| **c)
        {
            cells[i] = Cell::Complementary;
        } else if let Some((i, _)) = counts
            .iter()
            .enumerate()
            .find(|(i, _)| matches!(cells[*i], Cell::Shown(_)))
        {
            cells[i] = Cell::Complementary;
        }
    }
    Suppressed {
        cells,
        total: if total < k { 0.0 } else { total as f64 },
    }
}

/// Differential-privacy budget of a period: epsilon allowed and spent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Budget {
    /// Epsilon allowed over the period.
    pub allowed: f64,
    /// Epsilon already spent.
    pub spent: f64,
}

/// Why noise could not be added.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetError {
    /// The report would spend more than what is left.
    #[error("this report needs epsilon {needed} but only {left} is left in the period's budget")]
    Exhausted {
        /// Epsilon the report needs.
        needed: f64,
        /// Epsilon left.
        left: f64,
    },
    /// Epsilon must be positive.
    #[error("epsilon must be positive, got {0}")]
    BadEpsilon(f64),
}

impl Budget {
    /// Spends `epsilon`, or says why not.
    pub fn spend(&mut self, epsilon: f64) -> Result<(), BudgetError> {
        if !(epsilon > 0.0 && epsilon.is_finite()) {
            return Err(BudgetError::BadEpsilon(epsilon));
        }
        let left = self.allowed - self.spent;
        if epsilon > left + 1e-12 {
            return Err(BudgetError::Exhausted {
                needed: epsilon,
                left,
            });
        }
        self.spent += epsilon;
        Ok(())
    }
}

/// Adds Laplace noise of scale `b` (sensitivity / epsilon for epsilon-differential privacy) to
/// each value (seeded, so a report can be regenerated), and rounds counts to whole numbers no
/// lower than zero.
pub fn laplace(values: &[f64], b: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    values
        .iter()
        .map(|v| {
            let u: f64 = rng.random::<f64>() - 0.5;
            let noise = -b * u.signum() * (1.0 - 2.0 * u.abs()).max(f64::MIN_POSITIVE).ln();
            (v + noise).round().max(0.0)
        })
        .collect()
}

/// Standard deviation of the classical Gaussian mechanism (Dwork and Roth, theorem A.1): noise
/// of this sigma on a query of L2 sensitivity `sensitivity` is (epsilon, delta)-differentially
/// private for epsilon at most 1.
pub fn gaussian_sigma(sensitivity: f64, epsilon: f64, delta: f64) -> f64 {
    sensitivity * (2.0 * (1.25 / delta).ln()).sqrt() / epsilon
}

/// Adds Gaussian noise of standard deviation `sigma` to each value (seeded, Box-Muller), and
/// rounds counts to whole numbers no lower than zero.
pub fn gaussian(values: &[f64], sigma: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    values
        .iter()
        .map(|v| {
            let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            let u2: f64 = rng.random::<f64>();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (v + sigma * z).round().max(0.0)
        })
        .collect()
}

/// The server's floor on k when its configuration sets none.
pub const DEFAULT_MIN_K: usize = 5;
/// No configuration may set k below this, whatever the floor.
pub const ABSOLUTE_MIN_K: usize = 2;

/// A repository asked for a smaller k than the server allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "privacy.k = {requested} is below this server's floor of {floor}: a repository's settings may raise k, never lower it (the floor is set only in the server configuration)"
)]
pub struct BelowFloor {
    /// The value asked for.
    pub requested: usize,
    /// The server's floor.
    pub floor: usize,
}

/// The k in force for a repository: the server's `floor` (itself at least
/// [`ABSOLUTE_MIN_K`]) unless the repository's settings raise it. Settings can only tighten
/// privacy: a lower value is refused, naming the floor.
pub fn effective_k(floor: usize, repo_k: Option<usize>) -> Result<usize, BelowFloor> {
    let floor = floor.max(ABSOLUTE_MIN_K);
    match repo_k {
        Some(k) if k < floor => Err(BelowFloor {
            requested: k,
            floor,
        }),
        Some(k) => Ok(k),
        None => Ok(floor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gaussian_noise_has_the_stated_spread_and_is_seeded() {
        let sigma = gaussian_sigma(1.0, 0.5, 1e-6);
        // sqrt(2 ln(1.25e6)) / 0.5 = 10.6
        assert!((sigma - 10.60).abs() < 0.01, "{sigma}");
        let base = vec![1000.0; 20_000];
        let noised = gaussian(&base, sigma, 42);
        assert_eq!(noised, gaussian(&base, sigma, 42));
        assert_ne!(noised, gaussian(&base, sigma, 43));
        let n = noised.len() as f64;
        let mean = noised.iter().sum::<f64>() / n;
        let sd = (noised.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!((mean - 1000.0).abs() < 0.3, "mean {mean}");
        // Rounding to whole numbers adds 1/12 of variance.
        let expected = (sigma * sigma + 1.0 / 12.0).sqrt();
        assert!(
            (sd - expected).abs() / expected < 0.03,
            "sd {sd} vs {expected}"
        );
        // About 68% within one sigma, as for a normal distribution.
        let within = noised
            .iter()
            .filter(|x| (*x - 1000.0).abs() <= sigma)
            .count() as f64
            / n;
        assert!((within - 0.683).abs() < 0.02, "{within}");
    }

    #[test]
    fn pseudonyms_are_stable_per_key_and_differ_across_keys() {
        let a = pseudonym("k1", b"secret-one", "github:ada-l");
        assert_eq!(a, pseudonym("k1", b"secret-one", "github:ada-l"));
        assert_ne!(a, pseudonym("k2", b"secret-two", "github:ada-l"));
        assert_ne!(a, pseudonym("k1", b"secret-one", "github:bob-b"));
        assert!(a.starts_with("k1-") && !a.contains("ada"));
    }

    proptest! {
        /// Every shown cell counts at least k people, and the suppressed cells cannot be
        /// recovered exactly from the total and the shown cells (at least two hidden non-zero
        /// cells, or none).
        #[test]
        fn suppressed_tables_are_k_anonymous(counts in proptest::collection::vec(0u64..12, 1..8), k in 2u64..6) {
            let s = suppress(&counts, k);
            let mut hidden_nonzero = 0;
            for (c, cell) in counts.iter().zip(&s.cells) {
                match cell {
                    Cell::Shown(v) => prop_assert!(*v == 0.0 || *v >= k as f64),
                    _ => if *c > 0 { hidden_nonzero += 1 },
                }
            }
            let small = counts.iter().any(|&c| c > 0 && c < k);
            if small && s.total > 0.0 {
                prop_assert!(hidden_nonzero >= 2 || counts.iter().filter(|&&c| c > 0).count() < 2,
                    "a lone suppressed cell is recoverable: {counts:?} -> {:?}", s.cells);
            }
        }

        /// The same key gives the same pseudonym, another key a different one, and the
        /// identity never shows through.
        #[test]
        fn pseudonyms_depend_on_the_key_only(
            identity in "[a-z][a-z0-9.@:-]{7,30}",
            k1 in proptest::collection::vec(any::<u8>(), 1..48),
            k2 in proptest::collection::vec(any::<u8>(), 1..48),
        ) {
            let a = pseudonym("k", &k1, &identity);
            prop_assert_eq!(&a, &pseudonym("k", &k1, &identity));
            if k1 != k2 {
                prop_assert_ne!(&a, &pseudonym("k", &k2, &identity));
            }
            prop_assert!(!a.contains(&identity));
        }
    }

    #[test]
    fn the_budget_refuses_overspending_and_noise_is_seeded() {
        let mut b = Budget {
            allowed: 1.0,
            spent: 0.0,
        };
        b.spend(0.6).unwrap();
        assert!(matches!(b.spend(0.6), Err(BudgetError::Exhausted { .. })));
        assert!(matches!(b.spend(0.0), Err(BudgetError::BadEpsilon(_))));
        let v = [10.0, 20.0, 30.0];
        assert_eq!(laplace(&v, 1.0, 7), laplace(&v, 1.0, 7));
        // With a large epsilon the noise is small.
        let n = laplace(&[1000.0; 200], 1.0 / 100.0, 1);
        assert!(n.iter().all(|x| (x - 1000.0).abs() <= 1.0));
    }

    #[test]
    fn repositories_may_raise_k_never_lower_it() {
        assert_eq!(effective_k(DEFAULT_MIN_K, None), Ok(5));
        assert_eq!(effective_k(5, Some(5)), Ok(5));
        assert_eq!(effective_k(5, Some(9)), Ok(9));
        let e = effective_k(5, Some(2)).unwrap_err();
        assert_eq!(
            e,
            BelowFloor {
                requested: 2,
                floor: 5
            }
        );
        assert!(e.to_string().contains("floor of 5"), "{e}");
        // A server may set a higher floor; a lower one never goes under 2.
        assert!(effective_k(8, Some(6)).is_err());
        assert_eq!(effective_k(1, None), Ok(2));
        assert!(effective_k(0, Some(1)).is_err());
    }
}
