//! Exact Shapley values: each player's (feature's) contribution to a value, averaged over all
//! orders in which players can join, computed by enumerating every coalition. Shared by the
//! time-to-merge explanation and the burnout score. Efficiency holds by construction: the
//! contributions sum to `v(all) − v(none)`.

/// Most players for which all coalitions are enumerated (2^20 ≈ one million).
pub const MAX_PLAYERS: usize = 20;

/// Why values could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapleyError {
    /// Too many players to enumerate.
    #[error("{0} players is more than the {MAX_PLAYERS} an exact enumeration allows")]
    TooManyPlayers(usize),
}

/// Exact Shapley values of `n` players for the value function `v`, which receives a coalition
/// as a bit mask (bit i set = player i present). `v` is called exactly 2^n times.
pub fn shapley(n: usize, mut v: impl FnMut(u32) -> f64) -> Result<Vec<f64>, ShapleyError> {
    if n > MAX_PLAYERS {
        return Err(ShapleyError::TooManyPlayers(n));
    }
    let size = 1usize << n;
    let values: Vec<f64> = (0..size as u32).map(&mut v).collect();
    Ok(from_table(n, &values))
}

/// Shapley values from a table of `v` over all 2^n coalitions (index = bit mask).
pub fn from_table(n: usize, values: &[f64]) -> Vec<f64> {
    // weight(s) = s! (n − s − 1)! / n!, for a coalition of size s not containing the player.
    let mut weight = vec![0.0; n.max(1)];
    for (s, w) in weight.iter_mut().enumerate().take(n) {
        *w = 1.0 / (n as f64 * binomial(n - 1, s));
    }
    let mut phi = vec![0.0; n];
    for (mask, &vs) in values.iter().enumerate() {
        let mask = mask as u32;
        let s = mask.count_ones() as usize;
        for (i, p) in phi.iter_mut().enumerate() {
            let bit = 1u32 << i;
            if mask & bit == 0 {
                *p += weight[s] * (values[(mask | bit) as usize] - vs);
            }
        }
    }
    phi
}

fn binomial(n: usize, k: usize) -> f64 {
    let k = k.min(n - k.min(n));
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// Shapley values of a sum of parts, each depending on a few players only: the values are
/// linear in the value function, so each part is explained over its own players (2^|part|
/// coalitions) and the results added. `parts` yields (players of the part as indices, the
/// part's value for a coalition of *those* players given as a bit mask over that list).
pub fn additive<'a>(
    n: usize,
    parts: impl IntoIterator<Item = (&'a [usize], &'a dyn Fn(u32) -> f64)>,
) -> Result<Vec<f64>, ShapleyError> {
    let mut phi = vec![0.0; n];
    for (players, f) in parts {
        let local = shapley(players.len(), f)?;
        for (j, &p) in players.iter().enumerate() {
            if p < n {
                phi[p] += local[j];
            }
        }
    }
    Ok(phi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute_force(n: usize, v: &dyn Fn(u32) -> f64) -> Vec<f64> {
        // Average marginal contribution over all permutations.
        fn perms(items: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
            if k == items.len() {
                out.push(items.clone());
                return;
            }
            for i in k..items.len() {
                items.swap(k, i);
                perms(items, k + 1, out);
                items.swap(k, i);
            }
        }
        let mut all = Vec::new();
        perms(&mut (0..n).collect(), 0, &mut all);
        let mut phi = vec![0.0; n];
        for p in &all {
            let mut mask = 0u32;
            for &i in p {
                let before = v(mask);
                mask |= 1 << i;
                phi[i] += v(mask) - before;
            }
        }
        phi.iter().map(|x| x / all.len() as f64).collect()
    }

    #[test]
    fn linear_model_gets_its_terms() {
        // v(S) = Σ_{i∈S} w_i (x_i − b_i): Shapley = w_i (x_i − b_i).
        let w = [2.0, -1.0, 0.5];
        let x = [3.0, 1.0, 4.0];
        let b = [1.0, 1.0, 0.0];
        let v = |m: u32| {
            (0..3)
                .map(|i| {
                    if m & (1 << i) != 0 {
                        w[i] * (x[i] - b[i])
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
        };
        let phi = shapley(3, v).unwrap();
        for i in 0..3 {
            assert!((phi[i] - w[i] * (x[i] - b[i])).abs() < 1e-12);
        }
    }

    #[test]
    fn symmetry_dummy_and_efficiency() {
        // Players 0 and 1 are symmetric; player 2 is a dummy.
        let v = |m: u32| {
            let a = (m & 1 != 0) as u8 as f64;
            let b = (m & 2 != 0) as u8 as f64;
            (a + b).powi(2) * 3.0
        };
        let phi = shapley(3, v).unwrap();
        assert!((phi[0] - phi[1]).abs() < 1e-12);
        assert!(phi[2].abs() < 1e-12);
        assert!((phi.iter().sum::<f64>() - (v(0b111) - v(0))).abs() < 1e-9);
    }

    #[test]
    fn additive_parts_match_the_whole() {
        let f1 = |m: u32| {
            if m == 0b11 {
                5.0
            } else {
                (m.count_ones()) as f64
            }
        };
        let f2 = |m: u32| if m & 1 != 0 { 2.0 } else { 0.0 };
        // Whole game over 3 players: part 1 on players {0, 2}, part 2 on player {1}.
        let whole = |m: u32| {
            let p1 = (m & 1) | (((m >> 2) & 1) << 1);
            let p2 = (m >> 1) & 1;
            f1(p1) + f2(p2)
        };
        let direct = shapley(3, whole).unwrap();
        type Part<'a> = (&'a [usize], &'a dyn Fn(u32) -> f64);
        let parts: Vec<Part> = vec![(&[0, 2], &f1), (&[1], &f2)];
        let split = additive(3, parts).unwrap();
        for i in 0..3 {
            assert!((direct[i] - split[i]).abs() < 1e-12);
        }
        assert!(shapley(21, |_| 0.0).is_err());
    }

    proptest! {
        #[test]
        fn equals_the_permutation_definition(table in prop::collection::vec(-10.0f64..10.0, 16)) {
            let v = |m: u32| table[m as usize];
            let exact = shapley(4, v).unwrap();
            let brute = brute_force(4, &v);
            for i in 0..4 {
                prop_assert!((exact[i] - brute[i]).abs() < 1e-9);
            }
            prop_assert!((exact.iter().sum::<f64>() - (table[15] - table[0])).abs() < 1e-9);
        }
    }
}
