//! Burnout scores for 10,000 people over 5 years of weekly history (2.6 million person-weeks):
//! baselines, sustained deviations, team percentiles and a score for every person-week; and one
//! exact explanation (10 indicators that differ from the reference, 1,024 coalitions).
//! Run: `cargo bench -p canopy-models --bench burnout`.

use canopy_analyzer::indicators::{N, PersonWeek};
use canopy_analyzer::week::IsoWeek;
use canopy_models::burnout::{ScoreModel, standardise, team_reference};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn history(people: usize, weeks: usize) -> Vec<PersonWeek> {
    let mut s = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let first = IsoWeek::of_date(chrono::NaiveDate::from_ymd_opt(2021, 1, 4).unwrap());
    let mut out = Vec::with_capacity(people * weeks);
    for p in 0..people {
        let person = format!("person-{p}");
        let mut w = first;
        for _ in 0..weeks {
            let values: [Option<f64>; N] = std::array::from_fn(|i| (i < 10).then(|| next() * 10.0));
            out.push(PersonWeek {
                person: person.clone(),
                week: w,
                values,
            });
            w = w.next();
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let weeks = history(10_000, 260);
    let model = ScoreModel::default();
    let mut g = c.benchmark_group("burnout");
    g.sample_size(10);
    g.bench_function("score_10k_people_5_years", |b| {
        b.iter(|| {
            let rows = standardise(black_box(&weeks));
            let refs = team_reference(&rows);
            let total: f64 = rows.iter().map(|r| model.score(&r.x)).sum();
            (total, refs.len())
        })
    });
    g.finish();
    let rows = standardise(&weeks[..2600]);
    let refs = team_reference(&rows);
    let r = &rows[2000];
    c.bench_function("burnout/explain_10_indicators", |b| {
        b.iter(|| model.explain(black_box(&r.x), &refs[&r.week]))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
