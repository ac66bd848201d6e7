//! Exact Shapley values of a logistic score over n standardised indicators, by enumeration.
//! Run: `cargo bench -p canopy-models --bench shapley`.

use canopy_models::shapley::shapley;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("shapley/logistic");
    for n in [9usize, 12, 16] {
        let w: Vec<f64> = (0..n).map(|i| 0.1 + i as f64 * 0.05).collect();
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin() * 2.0).collect();
        let v = |mask: u32| {
            let z: f64 = (0..n)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| w[i] * x[i])
                .sum();
            100.0 / (1.0 + (-(z - 1.0)).exp())
        };
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| shapley(black_box(n), v).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
