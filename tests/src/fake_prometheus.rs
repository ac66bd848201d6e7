//! A fake Prometheus HTTP API on loopback: `/api/v1/query_range` and `/api/v1/query` answer
//! with scripted responses in Prometheus' recorded shapes (matrix, vector, empty results,
//! `status: error` bodies, HTTP errors), and every request is recorded with its parameters.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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
    /// Every request.
    pub requests: Vec<Recorded>,
}

/// A running fake Prometheus.
pub struct FakePrometheus {
    /// Its address.
    pub addr: SocketAddr,
    /// Its state.
    pub model: Arc<Mutex<Model>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePrometheus {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakePrometheus {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> FakePrometheus {
        let model = Arc::new(Mutex::new(Model::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(handle).with_state(model.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakePrometheus { addr, model, task }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues answers.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.model.lock().expect("model").script.extend(answers);
    }

    /// Requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.model.lock().expect("model").requests.clone()
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
    let a = m
        .script
        .pop_front()
        .or_else(|| m.fallback.clone())
        .unwrap_or_else(Answer::empty);
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json")], a.body).into_response()
}
