//! Sentiment scoring speed of the shipped default model (TF-IDF word and character n-grams,
//! logistic heads): texts per second on one thread. The texts are review remarks, replies and
//! review bodies of the seeded demo generator in all four registers, joined to the lengths of
//! real comments (a mean of about 110 characters, as on the GitHub gold corpus, and about 400,
//! as on pull-request discussions).
//! Run: `cargo bench -p canopy-models --bench sentiment`.

use canopy_models::sentiment::Model;
use canopy_synth::text::{Register, remark, reply, review_body};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

/// `n` texts whose lengths average about `mean` characters.
fn texts(n: usize, mean: usize, seed: u64) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let registers = [
        Register::Warm,
        Register::Neutral,
        Register::Terse,
        Register::Uncivil,
    ];
    (0..n)
        .map(|_| {
            let want = (mean as f64 * (0.3 + 1.4 * rng.random::<f64>())) as usize;
            let mut t = String::new();
            while t.len() < want {
                let r = registers[rng.random_range(0..registers.len())];
                let part = match rng.random_range(0..3) {
                    0 => remark(r, "src/store/inbox.rs", &mut rng),
                    1 => reply(r, &mut rng),
                    _ => review_body("COMMENTED", r, "src/server/app.rs", &mut rng),
                };
                if !t.is_empty() {
                    t.push(' ');
                }
                t.push_str(&part);
            }
            t
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let model = Model::shipped().expect("shipped sentiment model");
    let mut g = c.benchmark_group("sentiment");
    for (name, mean) in [
        ("score_10k_short_texts", 110),
        ("score_10k_long_texts", 400),
    ] {
        let texts = texts(10_000, mean, 11);
        let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
        eprintln!("{name}: mean length {} characters", chars / texts.len());
        g.throughput(Throughput::Elements(texts.len() as u64));
        g.sample_size(10);
        g.bench_function(name, |b| {
            b.iter(|| {
                texts
                    .iter()
                    .map(|t| model.score(black_box(t)).negative)
                    .sum::<f64>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
