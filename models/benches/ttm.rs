//! Time-to-merge training on 100,000 changes and one prediction with its explanation.
//! Run: `cargo bench -p canopy-models --bench ttm`.

use canopy_models::ttm::features::{N, TtmFeatures};
use canopy_models::ttm::online::OnlineState;
use canopy_models::ttm::{PrRecord, Scope, TrainConfig, TtmModel};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// Deterministic synthetic history: merge time grows with size and backlog, with noise.
fn synthetic(n: usize) -> Vec<PrRecord> {
    let mut rng = canopy_models::uniform::Uniform::new(0x9e37_79b9_7f4a_7c15_u64);
    let mut next = move || rng.next_f64();
    (0..n)
        .map(|i| {
            let mut f = [f64::NAN; N];
            for v in f.iter_mut() {
                if next() > 0.1 {
                    *v = next() * 8.0;
                }
            }
            let created = 1_600_000_000 + i as i64 * 600;
            let hours = (f[0].max(0.0) * 0.6 + f[5].max(0.0) * 0.2 + next() * 2.0).exp_m1();
            let merged = next() > 0.15;
            PrRecord {
                repo: "bench/repo".into(),
                number: i as u64,
                created_at: created,
                merged_at: merged.then_some(created + (hours * 3600.0) as i64),
                closed_at: Some(created + (hours * 3600.0) as i64),
                features: TtmFeatures(f),
                size_at_open: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let records = synthetic(100_000);
    // As the bot trains (the repository's own model alone).
    let cfg = TrainConfig::default();
    let scope = || Scope::Repository {
        repo: "bench/repo".into(),
    };
    let mut g = c.benchmark_group("ttm");
    g.sample_size(10);
    g.bench_function("train_100k_changes", |b| {
        b.iter(|| TtmModel::train(black_box(&records), scope(), &cfg).unwrap())
    });
    g.finish();
    let model = TtmModel::train(&records, scope(), &cfg).unwrap();
    let x = records[777].features;
    c.bench_function("ttm/predict_and_explain", |b| {
        b.iter(|| {
            let p = model.predict(black_box(&x));
            let e = model.explain(black_box(&x));
            (p, e)
        })
    });
    // As the bot does it: the adaptive interval from the repository's online state (its window
    // of recent scores), the prediction recorded, and the explanation.
    let mut state = OnlineState::for_model(&model, 0.01);
    c.bench_function("ttm/predict_adaptive_and_explain", |b| {
        b.iter(|| {
            let p = state.predict(&model, 777, black_box(&x), 1_700_000_000, Some(10.0));
            let e = model.explain(black_box(&x));
            (p, e)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
