use super::eval::{evaluate, score, wilson};
use super::*;

/// `n` runs spread evenly over [lo, hi] seconds, starting one hour apart from `start`.
fn runs(n: usize, lo: f64, hi: f64, outcome: Outcome, start: i64) -> Vec<Run> {
    (0..n)
        .map(|i| Run {
            started_at: start + 3600 * i as i64,
            duration_secs: lo + (hi - lo) * (i as f64 + 0.5) / n as f64,
            outcome,
        })
        .collect()
}

/// Passing runs take 100–200 s; failing runs hang, 150–600 s.
fn hanging_job() -> Vec<Run> {
    let mut v = runs(80, 100.0, 200.0, Outcome::Success, 0);
    v.extend(runs(40, 150.0, 600.0, Outcome::Failure, 1800));
    v
}

#[test]
fn too_little_history_states_no_stopping_point() {
    let mut v = runs(25, 100.0, 200.0, Outcome::Success, 0);
    v.extend(runs(4, 300.0, 400.0, Outcome::Failure, 0));
    let l = learn(&v, &Settings::default());
    match l.stop {
        Err(NoStop::TooFewRuns {
            successes: 25,
            failures: 4,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // 30 runs, but only one outcome: still nothing.
    let v = runs(40, 100.0, 200.0, Outcome::Success, 0);
    assert!(matches!(
        learn(&v, &Settings::default()).stop,
        Err(NoStop::TooFewRuns { failures: 0, .. })
    ));
}

#[test]
fn a_job_whose_failures_hang_gets_a_stopping_point() {
    let v = hanging_job();
    for method in [Method::Smoothed, Method::Parametric] {
        let s = Settings {
            method,
            max_false_stop: None,
            ..Settings::default()
        };
        let l = learn(&v, &s);
        let stop = l.stop.unwrap_or_else(|e| panic!("{method:?}: {e}"));
        // Half of the runs still going at t are failures around the end of the passing range.
        assert!((150.0..=230.0).contains(&stop.secs), "{method:?}: {stop:?}");
        assert!(stop.p_success < 0.5);
        let c = l.curve.unwrap();
        assert!(
            c.p_success(120.0) > 0.6,
            "{method:?} {}",
            c.p_success(120.0)
        );
        assert!(
            c.p_success(400.0) < 0.2,
            "{method:?} {}",
            c.p_success(400.0)
        );
    }
}

#[test]
fn the_false_stop_guard_moves_the_point_up_to_the_passing_quantile() {
    let v = hanging_job();
    let l = learn(&v, &Settings::default());
    let stop = l.stop.unwrap();
    // 95% of the passing runs (100–200 s) end by 195 s.
    let guard = stop.guard_secs.unwrap();
    assert!((guard - 194.4).abs() < 1.0, "{guard}");
    assert!(stop.secs >= guard && stop.secs >= stop.below_threshold_secs);
    assert_eq!(pass_quantile(&[1.0, 2.0, 3.0, 4.0], 0.25), 3.0);
    assert_eq!(pass_quantile(&[1.0, 2.0, 3.0, 4.0], 0.0), 4.0);
    assert_eq!(pass_quantile(&[], 0.05), 0.0);
}

#[test]
fn a_job_whose_failures_are_fast_never_gets_one() {
    // Failures end early (a broken build fails in its first minutes).
    let mut v = runs(60, 300.0, 600.0, Outcome::Success, 0);
    v.extend(runs(30, 20.0, 320.0, Outcome::Failure, 0));
    for method in [Method::Smoothed, Method::Parametric] {
        let l = learn(
            &v,
            &Settings {
                method,
                ..Settings::default()
            },
        );
        match l.stop {
            Err(NoStop::NeverBelow { lowest_p, .. }) => assert!(lowest_p > 0.5, "{method:?}"),
            other => panic!("{method:?}: {other:?}"),
        }
    }
}

#[test]
fn scoring_counts_hours_past_the_point_and_false_stops() {
    let v = vec![
        Run {
            started_at: 0,
            duration_secs: 7200.0,
            outcome: Outcome::Failure,
        },
        Run {
            started_at: 1,
            duration_secs: 1800.0,
            outcome: Outcome::Failure,
        },
        Run {
            started_at: 2,
            duration_secs: 3000.0,
            outcome: Outcome::Success,
        },
        Run {
            started_at: 3,
            duration_secs: 1000.0,
            outcome: Outcome::Success,
        },
    ];
    let s = score(Some(3600.0), &v);
    assert_eq!(s.saved_hours, 1.0);
    assert!((s.recovered_share - 1.0 / 2.5).abs() < 1e-12);
    assert_eq!((s.failed_past, s.passing_past), (1, 0));
    let s = score(Some(1500.0), &v);
    assert!((s.saved_hours - (5700.0 + 300.0) / 3600.0).abs() < 1e-12);
    assert_eq!(s.false_stop_share, 0.5);
    let never = score(None, &v);
    assert_eq!((never.saved_hours, never.false_stop_share), (0.0, 0.0));
}

#[test]
fn wilson_intervals_match_published_values() {
    let (lo, hi) = wilson(0, 10);
    assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-3, "{hi}");
    let (lo, hi) = wilson(5, 10);
    assert!((lo - 0.2366).abs() < 1e-3 && (hi - 0.7634).abs() < 1e-3);
    assert_eq!(wilson(0, 0), (0.0, 1.0));
}

#[test]
fn evaluation_learns_on_earlier_runs_and_scores_later_ones() {
    // Early runs: failures hang. Later runs: the same, plus the evaluation must not see them.
    let mut v = hanging_job();
    let later_start = 10_000_000;
    let mut later = runs(40, 100.0, 200.0, Outcome::Success, later_start);
    later.extend(runs(20, 150.0, 600.0, Outcome::Failure, later_start + 1800));
    v.extend(later.clone());
    let e = evaluate(&v, &Settings::default(), 120.0 / 180.0);
    assert_eq!((e.train_runs, e.test_runs), (120, 60));
    assert_eq!(e.split_at, Some(later_start));
    assert_eq!((e.test_failures, e.test_successes), (20, 40));
    let t = e.chosen.scored.stopping_point_s.unwrap();
    // The score is exactly the later runs scored at the point learned on the earlier ones.
    assert_eq!(e.chosen.scored, score(Some(t), &later));
    assert!(e.chosen.scored.false_stop_share <= 0.05 + 1e-12);
    assert!(e.chosen.scored.saved_hours > 0.5);
    // The curve beats the base rate at predicting how a still-running job ends.
    assert!(e.chosen.brier.unwrap() < e.brier_base_rate.unwrap());
    assert!(e.other.brier.unwrap() < e.brier_base_rate.unwrap());
    assert!(e.ai4ci_density_crossing_s.is_some());
}

/// `stopping_point_of` states exactly what `learn` does, for stops, for curves that never
/// fall below the threshold, for too little history, with either method and with the guard.
#[test]
fn the_stopping_point_alone_is_the_one_learn_states() {
    let mut flat = runs(60, 100.0, 400.0, Outcome::Success, 0);
    flat.extend(runs(30, 100.0, 400.0, Outcome::Failure, 900));
    let few = runs(10, 100.0, 200.0, Outcome::Success, 0);
    let mut late = runs(200, 50.0, 900.0, Outcome::Success, 0);
    late.extend(runs(20, 700.0, 3000.0, Outcome::Failure, 60));
    for v in [hanging_job(), flat, few, late] {
        for method in [Method::Smoothed, Method::Parametric] {
            for max_false_stop in [None, Some(0.05)] {
                let s = Settings {
                    method,
                    max_false_stop,
                    ..Settings::default()
                };
                assert_eq!(stopping_point_of(&v, &s), learn(&v, &s).stop, "{s:?}");
            }
        }
    }
}
