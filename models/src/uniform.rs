//! Seeded uniform numbers for synthetic data in benchmarks and tests: a 64-bit xorshift
//! generator, so the same seed gives the same numbers on every machine, with no dependency.

/// Uniform numbers in [0, 1) from a 64-bit xorshift generator.
#[derive(Debug, Clone)]
pub struct Uniform(u64);

impl Uniform {
    /// A generator starting from `seed` (xorshift needs a non-zero state: 0 is taken as 1).
    pub fn new(seed: u64) -> Uniform {
        Uniform(seed.max(1))
    }

    /// The next number, uniform in [0, 1) with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        let mut s = self.0;
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        self.0 = s;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_numbers_in_the_unit_interval() {
        let (mut a, mut b) = (Uniform::new(42), Uniform::new(42));
        let xs: Vec<f64> = (0..1000).map(|_| a.next_f64()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(xs.iter().all(|x| *x == b.next_f64()));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
        assert_ne!(Uniform::new(0).next_f64(), 0.0, "a zero seed still moves");
    }
}
