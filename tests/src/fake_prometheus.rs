//! A fake Prometheus HTTP API on loopback: `/api/v1/query_range` and `/api/v1/query` answer
//! with scripted responses in Prometheus' recorded shapes (matrix, vector, empty results,
//! `status: error` bodies, HTTP errors), and every request is recorded with its parameters.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fake_http::Fake;

/// A series for [`Answer::matrix`]: its labels and its (time, value) samples.
pub type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], &'a [(f64, f64)]);

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: String,
}

impl Answer {
    /// A `matrix` result: one series per (labels, samples).
    pub fn matrix(series: &[SeriesSpec<'_>]) -> Answer {
        let result: Vec<Value> = series
            .iter()
            .map(|(labels, points)| {
                json!({
                    "metric": labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                    "values": points.iter().map(|(t, v)| json!([t, v.to_string()])).collect::<Vec<_>>(),
                })
            })
            .collect();
        Answer::ok(json!({"resultType": "matrix", "result": result}))
    }

    /// A `vector` result with one sample per value.
    pub fn vector(at: f64, values: &[f64]) -> Answer {
        let result: Vec<Value> = values
            .iter()
            .map(|v| json!({"metric": {}, "value": [at, v.to_string()]}))
            .collect();
        Answer::ok(json!({"resultType": "vector", "result": result}))
    }

    /// An empty `matrix`: no series matched.
    pub fn empty() -> Answer {
        Answer::ok(json!({"resultType": "matrix", "result": []}))
    }

    /// Prometheus' error body with an HTTP status (400 bad_data, 422 execution, 503 timeout).
    pub fn error(status: u16, error_type: &str, error: &str) -> Answer {
        Answer {
            status,
            body: json!({"status": "error", "errorType": error_type, "error": error}).to_string(),
        }
    }

    /// A bare HTTP error (a proxy in front of a down Prometheus).
    pub fn http(status: u16) -> Answer {
        Answer {
            status,
            body: "<html>upstream unavailable</html>".into(),
        }
    }

    fn ok(data: Value) -> Answer {
        Answer {
            status: 200,
            body: json!({"status": "success", "data": data}).to_string(),
        }
    }
}

/// A recorded request.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Path.
    pub path: String,
    /// Query parameters.
    pub params: BTreeMap<String, String>,
}

/// The fake's state.
#[derive(Debug, Default)]
pub struct Model {
    /// Answers given in order; when empty, `fallback`.
    pub script: VecDeque<Answer>,
    /// The answer when the script is used up (default: empty result).
    pub fallback: Option<Answer>,
    /// When set (and the script is used up), a range query is answered like a node with a
    /// Kepler-style energy counter drawing this many watts: one series with a sample every
    /// `step` from `start` to `end`, starting at 1 MJ.
    pub counter_watts: Option<f64>,
    /// Every request.
    pub requests: Vec<Recorded>,
}

/// A running fake Prometheus.
pub type FakePrometheus = Fake<Model>;

impl FakePrometheus {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> FakePrometheus {
        Fake::serve(Model::default(), handle).await
    }

    /// Queues answers.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.model.lock().expect("model").script.extend(answers);
    }

    /// Requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.read(|m| m.requests.clone())
    }
}

async fn handle(
    State(model): State<Arc<Mutex<Model>>>,
    Query(params): Query<BTreeMap<String, String>>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_string();
    let mut m = model.lock().expect("model");
    m.requests.push(Recorded {
        path: path.clone(),
        params,
    });
    if path != "/api/v1/query_range" && path != "/api/v1/query" {
        return (StatusCode::NOT_FOUND, "404 page not found").into_response();
    }
    let generated = m
        .counter_watts
        .filter(|_| path == "/api/v1/query_range")
        .and_then(|w| counter(w, &m.requests.last()?.params));
    let a = m
        .script
        .pop_front()
        .or(generated)
        .or_else(|| m.fallback.clone())
        .unwrap_or_else(Answer::empty);
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json")], a.body).into_response()
}

/// A counter drawing `watts` over the query's window, sampled at its step.
fn counter(watts: f64, p: &BTreeMap<String, String>) -> Option<Answer> {
    let start: f64 = p.get("start")?.parse().ok()?;
    let end: f64 = p.get("end")?.parse().ok()?;
    let step: f64 = p.get("step")?.trim_end_matches('s').parse().ok()?;
    let mut points = Vec::new();
    let mut t = start;
    while t <= end && step > 0.0 {
        points.push((t, 1_000_000.0 + watts * (t - start)));
        t += step;
    }
    Some(Answer::matrix(&[(&[("pod", "node")], &points)]))
}
