use super::*;
use canopy_analyzer::event::CiResult;
use canopy_models::measured::{MetricKind, Unmeasured};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn sources() -> Sources {
    let src = PrometheusSource {
        url: "http://127.0.0.1:9090".into(),
        query: r#"kepler_container_joules_total{pod="{host}"}"#.into(),
        kind: MetricKind::CounterJoules,
        step_secs: 15,
        timeout_secs: 10,
        settle_secs: 60,
        retry_after_secs: 600,
    };
    Sources(
        [
            ("kepler".to_string(), src.clone()),
            ("zuul".to_string(), src),
        ]
        .into(),
    )
}

fn job(id: &str, runner: Option<&str>, system: &str, ended: &str) -> Event {
    let j = CiJobEvent {
        runner: runner.map(str::to_string),
        host: Some("runner-7".into()),
        run_id: Some("42".into()),
        head_sha: Some("abc".into()),
        started_at: Some((t(ended) - Duration::minutes(30)).fixed_offset()),
        ..CiJobEvent::new("build", system, 1800, CiResult::Success)
    };
    Event::new(
        id,
        Platform::Github,
        "acme/widgets",
        t(ended).fixed_offset(),
        EventKind::CiJobFinished(j),
    )
}

#[test]
fn a_configured_job_is_due_once_settled_and_retried_once_when_worth_it() {
    let s = sources();
    let ended = "2026-11-05T12:00:00Z";
    let mut events = vec![
        job("gh:job:1:1", Some("kepler"), "github-actions", ended),
        job("gh:job:2:1", Some("ubuntu-latest"), "github-actions", ended),
        // A Zuul report names no runner: its CI system's source applies.
        job("gerrit:zuul:1", None, "zuul", ended),
    ];
    let plan0 = plan(&events, &s, t("2026-11-05T12:00:30Z"));
    assert!(plan0.due.is_empty(), "the last scrape is not in yet");
    assert_eq!(plan0.next, Some(t("2026-11-05T12:01:00Z")));
    let now = t("2026-11-05T12:01:00Z");
    let p = plan(&events, &s, now);
    let ids: Vec<&str> = p.due.iter().map(|d| d.job_id.as_str()).collect();
    assert_eq!(ids, ["gh:job:1:1", "gerrit:zuul:1"]);
    let d = &p.due[0];
    assert_eq!((d.attempt, d.source.as_str()), (1, "kepler"));
    assert_eq!(d.window.end - d.window.start, 1800);
    assert_eq!(d.window.labels["host"], "runner-7");
    assert_eq!(d.window.labels["run_id"], "42");

    // Prometheus down: recorded with a retry in 10 minutes; not due before then.
    let down = Err(MeasureError::Unreachable("connection failed".into()));
    let first = record(d, &down, Duration::minutes(10), now);
    assert_eq!(first.id, "energy:gh:job:1:1:1");
    assert_eq!(first.head_sha(), Some("abc"));
    let EventKind::CiEnergyMeasured(m) = &first.kind else {
        panic!()
    };
    assert_eq!(
        m.outcome,
        MeasureOutcome::Unmeasured {
            reason: "Prometheus unreachable: connection failed".into(),
            retry_at: Some(t("2026-11-05T12:11:00Z"))
        }
    );
    // The Zuul job: a counter reset is not worth a retry.
    let reset = Err(MeasureError::Unmeasured(Unmeasured::CounterReset {
        resets: 1,
        series: 1,
    }));
    events.push(first);
    events.push(record(&p.due[1], &reset, Duration::minutes(10), now));
    let p = plan(&events, &s, t("2026-11-05T12:05:00Z"));
    assert!(p.due.is_empty());
    assert_eq!(p.next, Some(t("2026-11-05T12:11:00Z")));
    let p = plan(&events, &s, t("2026-11-05T12:11:00Z"));
    assert_eq!(p.due.len(), 1);
    assert_eq!(p.due[0].attempt, 2);
    // The retry fails again: no third try.
    let second = record(
        &p.due[0],
        &down,
        Duration::minutes(10),
        t("2026-11-05T12:11:00Z"),
    );
    let EventKind::CiEnergyMeasured(m) = &second.kind else {
        panic!()
    };
    assert!(matches!(
        m.outcome,
        MeasureOutcome::Unmeasured { retry_at: None, .. }
    ));
    events.push(second);
    let p = plan(&events, &s, t("2026-11-05T13:00:00Z"));
    assert_eq!(p, Plan::default());
}

#[test]
fn old_jobs_and_jobs_without_a_duration_are_left_alone() {
    let s = sources();
    let mut zero = job(
        "gh:job:3:1",
        Some("kepler"),
        "github-actions",
        "2026-11-05T12:00:00Z",
    );
    if let EventKind::CiJobFinished(j) = &mut zero.kind {
        j.duration_secs = 0;
    }
    let events = vec![
        job(
            "gh:job:1:1",
            Some("kepler"),
            "github-actions",
            "2026-11-05T05:00:00Z",
        ),
        zero,
    ];
    assert_eq!(
        plan(&events, &s, t("2026-11-05T12:30:00Z")),
        Plan::default()
    );
}

#[test]
fn a_measurement_wins_over_the_failures_before_it() {
    let s = sources();
    let now = t("2026-11-05T12:01:00Z");
    let events = vec![job(
        "gh:job:1:1",
        Some("kepler"),
        "github-actions",
        "2026-11-05T12:00:00Z",
    )];
    let d = plan(&events, &s, now).due.remove(0);
    let failed = record(
        &d,
        &Err(MeasureError::Unmeasured(Unmeasured::NoSeries)),
        Duration::minutes(10),
        now,
    );
    let retry = Due { attempt: 2, ..d };
    let ok = Ok(Measured {
        joules: 72_000.0,
        series: 2,
        coverage: 1.0,
    });
    let measured = record(
        &retry,
        &ok,
        Duration::minutes(10),
        now + Duration::minutes(10),
    );
    for order in [
        vec![failed.clone(), measured.clone()],
        vec![measured.clone(), failed.clone()],
    ] {
        let latest = latest_by_job(&order);
        assert_eq!(latest["gh:job:1:1"].outcome.kwh(), Some(0.02));
    }
}

#[test]
fn the_digest_figures_compare_the_estimates_with_the_measurements() {
    use canopy_models::energy::Range;
    let s = sources();
    let now = t("2026-11-05T12:01:00Z");
    let events = vec![
        job(
            "a",
            Some("kepler"),
            "github-actions",
            "2026-11-05T12:00:00Z",
        ),
        job(
            "b",
            Some("kepler"),
            "github-actions",
            "2026-11-05T12:00:00Z",
        ),
        job(
            "c",
            Some("kepler"),
            "github-actions",
            "2026-11-05T12:00:00Z",
        ),
        job(
            "d",
            Some("ubuntu-latest"),
            "github-actions",
            "2026-11-05T12:00:00Z",
        ),
    ];
    let due = plan(&events, &s, now).due;
    let kwh = |k: f64| {
        Ok(Measured {
            joules: k * 3.6e6,
            series: 1,
            coverage: 1.0,
        })
    };
    let reset = Err(MeasureError::Unmeasured(Unmeasured::CounterReset {
        resets: 1,
        series: 1,
    }));
    let mut all = events.clone();
    all.push(record(&due[0], &kwh(0.010), Duration::minutes(10), now));
    all.push(record(&due[1], &kwh(0.020), Duration::minutes(10), now));
    all.push(record(&due[2], &reset, Duration::minutes(10), now));
    let r = |v: f64| Range {
        value: v,
        low: v * 0.8,
        high: v * 1.3,
    };
    let est = vec![
        ("a".to_string(), r(0.012)),
        ("b".to_string(), r(0.015)),
        ("c".to_string(), r(0.010)),
        ("d".to_string(), r(0.002)),
    ];
    let f = figures(&all, &est).unwrap();
    assert_eq!((f.jobs, f.unmeasured, f.within_range), (2, 1, 1));
    assert!((f.measured_kwh - 0.030).abs() < 1e-12);
    assert!((f.estimated_kwh - 0.027).abs() < 1e-12);
    assert!((f.total_error + 0.1).abs() < 1e-9, "{}", f.total_error);
    // Errors per job: +20% and −25%: median of the absolute values 22.5%.
    assert!((f.median_abs_error - 0.225).abs() < 1e-9);
    assert_eq!(figures(&events, &est), None);
}
