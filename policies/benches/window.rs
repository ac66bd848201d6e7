//! Greener-window search over a year of 15-minute intensity points (35,040), a 2-hour job, and
//! deadlines of 12 hours and of the whole year. Run: `cargo bench -p canopy-policies --bench window`.

use canopy_policies::window::{Query, Series};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn year() -> Series {
    let step = 900;
    let pts = (0..365 * 96)
        .map(|i: i64| {
            let hour = (i % 96) as f64 / 4.0;
            let day = (i / 96) as f64;
            let v = 300.0
                + 120.0 * (hour / 24.0 * std::f64::consts::TAU).sin()
                + 40.0 * (day / 7.0).cos();
            (1_577_836_800 + i * step, v)
        })
        .collect();
    Series::new(pts).unwrap()
}

fn bench(c: &mut Criterion) {
    let s = year();
    let (first, last) = s.span();
    c.bench_function("window/year_15min_whole_year", |b| {
        b.iter(|| {
            s.best_window(black_box(Query {
                data_start: first,
                data_end: last,
                duration: 7200,
            }))
            .unwrap()
        })
    });
    c.bench_function("window/year_15min_12h_deadline", |b| {
        b.iter(|| {
            s.best_window(black_box(Query {
                data_start: first + 180 * 86_400,
                data_end: first + 180 * 86_400 + 12 * 3600,
                duration: 7200,
            }))
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
