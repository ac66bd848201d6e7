//! Percentile bootstrap intervals, seeded so a report is reproducible. Shared by the sentiment
//! figures and the walk-forward evaluation of time to merge.

use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Resamples drawn by [`bootstrap`].
pub const RESAMPLES: usize = 1000;

/// Seed of [`bootstrap`]: every call draws the same resamples for the same `n`, so statistics
/// bootstrapped in separate calls over the same items are paired.
pub const SEED: u64 = 18;

/// 95% percentile bootstrap interval of `stat` over `n` items (1,000 resamples, seed 18);
/// resamples where `stat` is not finite are left out. `stat` gets the indices of one resample
/// (with repetition); a statistic comparing two predictors on the same items is paired when it
/// reads both from those indices.
pub fn bootstrap(n: usize, stat: impl Fn(&[usize]) -> f64) -> [f64; 2] {
    if n == 0 {
        return [f64::NAN, f64::NAN];
    }
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut ix = vec![0usize; n];
    let mut stats: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            for v in ix.iter_mut() {
                *v = rng.random_range(0..n);
            }
            stat(&ix)
        })
        .filter(|s| s.is_finite())
        .collect();
    stats.sort_by(f64::total_cmp);
    let at = |q: f64| stats[((stats.len() - 1) as f64 * q).round() as usize];
    if stats.is_empty() {
        [f64::NAN, f64::NAN]
    } else {
        [at(0.025), at(0.975)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_brackets_the_mean_and_is_seeded() {
        let x: Vec<f64> = (0..200).map(|i| f64::from(i % 17)).collect();
        let mean = |ix: &[usize]| ix.iter().map(|&i| x[i]).sum::<f64>() / ix.len() as f64;
        let ci = bootstrap(x.len(), mean);
        let all: Vec<usize> = (0..x.len()).collect();
        assert!(ci[0] < mean(&all) && mean(&all) < ci[1], "{ci:?}");
        assert_eq!(ci, bootstrap(x.len(), mean));
        assert!(bootstrap(0, mean)[0].is_nan());
    }
}
