use std::collections::BTreeMap;

use super::response::{QueryResult, Series};
use super::*;

fn series(points: &[(f64, f64)]) -> Series {
    Series {
        labels: BTreeMap::new(),
        points: points.to_vec(),
    }
}

#[test]
fn counter_increase_reads_a_drop_as_a_restart_from_zero() {
    assert_eq!(
        counter_increase(&[(0.0, 100.0), (15.0, 130.0), (30.0, 190.0)]),
        (90.0, 0)
    );
    // 100 → 130, reset, 20 accrued since the restart, → 50.
    assert_eq!(
        counter_increase(&[(0.0, 100.0), (15.0, 130.0), (30.0, 20.0), (45.0, 50.0)]),
        (80.0, 1)
    );
    assert_eq!(counter_increase(&[(0.0, 5.0)]), (0.0, 0));
}

#[test]
fn a_counter_over_the_whole_job_is_its_increase_summed_over_series() {
    let r = QueryResult::Matrix(vec![
        series(&[(1000.0, 10.0), (1300.0, 1810.0), (1600.0, 3610.0)]),
        series(&[(1000.0, 0.0), (1600.0, 600.0)]),
    ]);
    let m = measure(&r, MetricKind::CounterJoules, 1000.0, 1600.0).unwrap();
    assert_eq!(m.joules, 3600.0 + 600.0);
    assert_eq!((m.series, m.coverage), (2, 1.0));
    assert!((m.kwh() - 4200.0 / 3.6e6).abs() < 1e-15);
}

#[test]
fn partial_coverage_is_extrapolated_or_refused() {
    // Samples span 450 s of a 600 s job: 300 J measured → 400 J for the whole job.
    let r = QueryResult::Matrix(vec![series(&[(1100.0, 0.0), (1550.0, 300.0)])]);
    let m = measure(&r, MetricKind::CounterJoules, 1000.0, 1600.0).unwrap();
    assert!((m.joules - 400.0).abs() < 1e-9 && (m.coverage - 0.75).abs() < 1e-12);
    let r = QueryResult::Matrix(vec![series(&[(1500.0, 0.0), (1560.0, 300.0)])]);
    assert!(matches!(
        measure(&r, MetricKind::CounterJoules, 1000.0, 1600.0),
        Err(Unmeasured::PartialCoverage { .. })
    ));
}

#[test]
fn unusable_results_name_their_reason() {
    let (s, e) = (0.0, 60.0);
    assert_eq!(
        measure(
            &QueryResult::Matrix(vec![]),
            MetricKind::CounterJoules,
            s,
            e
        ),
        Err(Unmeasured::NoSeries)
    );
    assert_eq!(
        measure(
            &QueryResult::Matrix(vec![series(&[(0.0, 1.0)])]),
            MetricKind::PowerWatts,
            s,
            e
        ),
        Err(Unmeasured::TooFewSamples { samples: 1 })
    );
    let reset = QueryResult::Matrix(vec![series(&[(0.0, 500.0), (30.0, 10.0), (60.0, 40.0)])]);
    assert_eq!(
        measure(&reset, MetricKind::CounterJoules, s, e),
        Err(Unmeasured::CounterReset {
            resets: 1,
            series: 1
        })
    );
    let nan = QueryResult::Vector(vec![series(&[(60.0, f64::NAN)])]);
    assert!(matches!(
        measure(&nan, MetricKind::Joules, s, e),
        Err(Unmeasured::Implausible(_))
    ));
}

#[test]
fn power_is_integrated_and_instant_joules_summed() {
    // Scaphandre: 20 W then 40 W, in microwatts, over 60 s: trapezoids = 30 W × 60 s.
    let r = QueryResult::Matrix(vec![series(&[(0.0, 20e6), (30.0, 30e6), (60.0, 40e6)])]);
    let m = measure(&r, MetricKind::PowerMicrowatts, 0.0, 60.0).unwrap();
    assert!((m.joules - 1800.0).abs() < 1e-9, "{}", m.joules);
    let r = QueryResult::Vector(vec![series(&[(60.0, 700.0)]), series(&[(60.0, 50.0)])]);
    assert_eq!(
        measure(&r, MetricKind::Joules, 0.0, 60.0).unwrap().joules,
        750.0
    );
}

#[test]
fn comparison_with_the_estimate() {
    let est = Range {
        value: 0.012,
        low: 0.008,
        high: 0.016,
    };
    let c = compare(0.010, est);
    assert!((c.relative_error.unwrap() - 0.2).abs() < 1e-12);
    assert!(c.within_range);
    assert!(!compare(0.02, est).within_range);
    assert_eq!(compare(0.0, est).relative_error, None);
}

#[test]
fn job_energy_prefers_the_measurement_and_says_which() {
    let est = Range {
        value: 0.012,
        low: 0.008,
        high: 0.016,
    };
    let m = JobEnergy::Measured {
        kwh: 0.010,
        estimate: est,
    };
    assert_eq!((m.kwh(), m.label()), (0.010, "measured"));
    assert!(m.comparison().unwrap().within_range);
    let e = JobEnergy::Estimated {
        estimate: est,
        unmeasured: Some("no series".into()),
    };
    assert_eq!(
        (e.kwh(), e.label(), e.comparison()),
        (0.012, "estimated", None)
    );
}
