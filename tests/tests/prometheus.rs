//! The Prometheus energy client against a fake Prometheus on loopback that answers in the
//! shapes Prometheus really sends: a Kepler counter over the job's window, Scaphandre power,
//! an instant `increase()`, and each way a measurement fails (no series, counter reset, a bad
//! query, Prometheus down or behind a failing proxy).

use canopy_e2e::fake_prometheus::{Answer, FakePrometheus};
use canopy_service::prometheus::{
    JobWindow, MeasureError, MetricKind, PrometheusSource, Unmeasured, measure,
};

const START: i64 = 1_700_000_000;
const END: i64 = 1_700_000_600;

fn source(url: &str, kind: MetricKind, query: &str) -> PrometheusSource {
    PrometheusSource {
        url: url.into(),
        query: query.into(),
        kind,
        step_secs: 30,
        timeout_secs: 2,
    }
}

fn window() -> JobWindow {
    JobWindow {
        start: START,
        end: END,
        labels: [
            ("pod".to_string(), "runner-7f9c".to_string()),
            ("host".to_string(), "ci-node-3".to_string()),
        ]
        .into(),
    }
}

fn counter(from: f64, step: f64) -> Vec<(f64, f64)> {
    (0..=20)
        .map(|i| ((START + 30 * i) as f64, from + step * i as f64))
        .collect()
}

#[tokio::test]
async fn a_kepler_counter_over_the_job_window_is_measured() {
    let prom = FakePrometheus::start().await;
    let a = counter(5_000.0, 900.0);
    let b = counter(0.0, 60.0);
    prom.script([Answer::matrix(&[
        (
            &[
                ("__name__", "kepler_container_joules_total"),
                ("container", "build"),
            ],
            &a,
        ),
        (
            &[
                ("__name__", "kepler_container_joules_total"),
                ("container", "sidecar"),
            ],
            &b,
        ),
    ])]);
    let src = source(
        &prom.url(),
        MetricKind::CounterJoules,
        r#"kepler_container_joules_total{pod="{pod}"}"#,
    );
    let m = measure(&reqwest::Client::new(), &src, &window())
        .await
        .unwrap();
    // 20 steps of 900 J and of 60 J over the 600 s job.
    assert_eq!(m.joules, 20.0 * 960.0);
    assert_eq!(m.series, 2);
    let r = &prom.requests()[0];
    assert_eq!(r.path, "/api/v1/query_range");
    assert_eq!(
        r.params["query"],
        r#"kepler_container_joules_total{pod="runner-7f9c"}"#
    );
    assert_eq!(
        (
            r.params["start"].as_str(),
            r.params["end"].as_str(),
            r.params["step"].as_str()
        ),
        ("1700000000", "1700000600", "30s")
    );
}

#[tokio::test]
async fn scaphandre_power_and_an_instant_increase() {
    let prom = FakePrometheus::start().await;
    let pts: Vec<(f64, f64)> = (0..=20).map(|i| ((START + 30 * i) as f64, 25e6)).collect();
    prom.script([
        Answer::matrix(&[(&[("__name__", "scaph_host_power_microwatts")], &pts)]),
        Answer::vector(END as f64, &[12_000.0, 345.5]),
    ]);
    let http = reqwest::Client::new();
    let src = source(
        &prom.url(),
        MetricKind::PowerMicrowatts,
        r#"scaph_host_power_microwatts{instance="{host}"}"#,
    );
    let m = measure(&http, &src, &window()).await.unwrap();
    assert!((m.joules - 25.0 * 600.0).abs() < 1e-6, "{}", m.joules);
    let src = source(
        &prom.url(),
        MetricKind::Joules,
        r#"sum(increase(node_rapl_package_joules_total{instance=~"{host}:.*"}[{window}]))"#,
    );
    let m = measure(&http, &src, &window()).await.unwrap();
    assert_eq!(m.joules, 12_345.5);
    let r = &prom.requests()[1];
    assert_eq!(r.path, "/api/v1/query");
    assert_eq!(r.params["time"], "1700000600");
    assert!(
        r.params["query"].ends_with("[600s]))"),
        "{}",
        r.params["query"]
    );
}

#[tokio::test]
async fn each_failure_has_its_reason_and_retry_advice() {
    let prom = FakePrometheus::start().await;
    let reset: Vec<(f64, f64)> = counter(90_000.0, 500.0)
        .into_iter()
        .enumerate()
        .map(|(i, (t, v))| (t, if i >= 10 { v - 90_000.0 } else { v }))
        .collect();
    prom.script([
        Answer::empty(),
        Answer::matrix(&[(&[("__name__", "kepler_container_joules_total")], &reset)]),
        Answer::error(400, "bad_data", "1:12: parse error: unexpected \"}\""),
        Answer::http(503),
        Answer::error(503, "timeout", "query timed out in expression evaluation"),
    ]);
    let http = reqwest::Client::new();
    let src = source(
        &prom.url(),
        MetricKind::CounterJoules,
        r#"kepler_container_joules_total{pod="{pod}"}"#,
    );
    let w = window();
    let e = measure(&http, &src, &w).await.unwrap_err();
    assert_eq!(e, MeasureError::Unmeasured(Unmeasured::NoSeries));
    assert!(e.retryable());
    let e = measure(&http, &src, &w).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "counter reset during the job (1 reset(s) in 1 series)"
    );
    assert!(!e.retryable());
    let e = measure(&http, &src, &w).await.unwrap_err();
    assert!(e.to_string().contains("bad_data") && !e.retryable(), "{e}");
    let e = measure(&http, &src, &w).await.unwrap_err();
    assert_eq!((e.clone(), e.retryable()), (MeasureError::Http(503), true));
    let e = measure(&http, &src, &w).await.unwrap_err();
    assert!(e.to_string().contains("timeout") && e.retryable(), "{e}");
    // A job without the label the query needs is never sent.
    let src = source(
        &prom.url(),
        MetricKind::CounterJoules,
        r#"x{node="{runner}"}"#,
    );
    let e = measure(&http, &src, &w).await.unwrap_err();
    assert_eq!(e, MeasureError::MissingLabel("runner".into()));
    assert_eq!(prom.requests().len(), 5);
}

#[tokio::test]
async fn prometheus_down_is_a_retryable_failure() {
    // A port nothing listens on: bind, note it, and close it.
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let src = source(&format!("http://{addr}"), MetricKind::CounterJoules, "up");
    let e = measure(&reqwest::Client::new(), &src, &window())
        .await
        .unwrap_err();
    assert!(
        matches!(e, MeasureError::Unreachable(_)) && e.retryable(),
        "{e}"
    );
}
