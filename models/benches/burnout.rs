//! Burnout scores for 10,000 people over 5 years of weekly history (2.6 million person-weeks)
//! with the shipped model: every person-week's predictors (own rhythm, working hours, team
//! activity…) and its probability of disengagement; the indicator tables people see
//! (deviations from their own usual, team percentiles); and one exact explanation.
//! Run: `cargo bench -p canopy-models --bench burnout`.

use canopy_analyzer::indicators::{N, PersonWeek, idx};
use canopy_analyzer::week::IsoWeek;
use canopy_models::burnout::explain::team_reference;
use canopy_models::burnout::features::{Team, people, person_features};
use canopy_models::burnout::model::Artifact;
use canopy_models::burnout::score::score_history;
use canopy_models::burnout::standardise;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// Weekly indicators of `people` people over `weeks` weeks; about one week in five is quiet.
fn history(people: usize, weeks: usize) -> Vec<PersonWeek> {
    let mut rng = canopy_models::uniform::Uniform::new(0x2545_f491_4f6c_dd1d_u64);
    let mut next = move || rng.next_f64();
    let first = IsoWeek::of_date(chrono::NaiveDate::from_ymd_opt(2021, 1, 4).unwrap());
    let mut out = Vec::with_capacity(people * weeks);
    for p in 0..people {
        let person = format!("person-{p}");
        let mut w = first;
        for _ in 0..weeks {
            let quiet = next() < 0.2;
            let mut values: [Option<f64>; N] =
                std::array::from_fn(|i| (i < 10).then(|| if quiet { 0.0 } else { next() * 10.0 }));
            values[idx::REVIEWS] = None;
            values[idx::ACTIVE_DAYS] = Some(if quiet { 0.0 } else { (next() * 5.0).ceil() });
            values[idx::HOUR_SPREAD] = (!quiet).then(|| next() * 4.0);
            values[idx::AREAS] = Some(if quiet { 0.0 } else { (next() * 3.0).ceil() });
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
    let (first, last) = (weeks[0].week, weeks[259].week);
    let model = Artifact::shipped().expect("shipped model");
    let mut g = c.benchmark_group("burnout");
    g.sample_size(10);
    g.bench_function("score_10k_people_5_years", |b| {
        b.iter(|| {
            let scores = score_history(&model, black_box(&weeks), first, last);
            assert_eq!(scores.len(), weeks.len());
            scores.iter().map(|&s| f64::from(s)).sum::<f64>()
        })
    });
    g.bench_function("indicator_tables_10k_people_5_years", |b| {
        b.iter(|| standardise(black_box(&weeks)).len())
    });
    g.finish();
    let few = &weeks[..2600];
    let team = Team::new(few, first, last);
    let mut rows = Vec::new();
    for p in people(few, last) {
        person_features(&p, &team, |_, x| rows.push(*x));
    }
    let reference = team_reference(rows.iter());
    let x = rows[2000];
    c.bench_function("burnout/explain_11_groups", |b| {
        b.iter(|| model.explain(black_box(&x), &reference))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
