//! The webhook server: limit the body, authenticate on the raw bytes, store the delivery
//! durably, answer fast; the real work happens afterwards in the inbox's worker pool.

pub mod auth;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use canopy_analyzer::Platform;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::inbox::tokio_shutdown::Signal;
use crate::inbox::{CommitError, Committer, WorkerHealth};
use crate::secrets::Secrets;
use crate::store::{Delivery, RedbStore, WriteOp, WriteOutcome};
use metrics::Metrics;

/// GitHub's own cap on webhook payloads: bigger bodies are refused without being read.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Limits that protect the server from slow or oversized requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Time a client has to send its request headers.
    pub header_timeout: Duration,
    /// Time a whole request (headers, body, storing) may take.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything the HTTP handlers share, passed in.
pub struct AppState {
    /// Durable writer for deliveries.
    pub committer: Committer,
    /// The store (for readiness and queue depth).
    pub store: Arc<RedbStore>,
    /// Accepted GitHub webhook secrets (several during rotation).
    pub github_secrets: Secrets,
    /// Accepted Gerrit webhook secrets.
    pub gerrit_secrets: Secrets,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Wakes the dispatcher when a delivery is stored.
    pub notify: Arc<Notify>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Worker readiness.
    pub health: Arc<WorkerHealth>,
    /// Request limits.
    pub limits: Limits,
}

/// The router with every endpoint.
pub fn router(state: Arc<AppState>) -> Router {
    let timeout = state.limits.request_timeout;
    Router::new()
        .route("/webhooks/github", post(github))
        .route("/webhooks/gerrit", post(gerrit))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_endpoint))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// Accepts connections until `shutdown` fires. Slow senders of headers are cut off.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut shutdown: Signal,
) -> std::io::Result<()> {
    loop {
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.wait() => return Ok(()),
        };
        let svc = TowerToHyperService::new(app.clone());
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn problem(status: StatusCode, message: &str) -> Response {
    reply(status, json!({ "error": message }))
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Rejects a body whose declared length is over the limit before reading any of it.
fn too_large(h: &HeaderMap, max: usize) -> bool {
    header_str(h, header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > max as u64)
}

/// Reads the body up to the limit: `Err(413)` past it, `Err(400)` when the client breaks off.
async fn read_body(body: Body, max: usize) -> Result<bytes::Bytes, Response> {
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let too_big = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_big {
            problem(StatusCode::PAYLOAD_TOO_LARGE, "body is larger than 25 MiB")
        } else {
            problem(StatusCode::BAD_REQUEST, "could not read the request body")
        }
    })
}

async fn store_delivery(s: &AppState, d: Delivery) -> Result<WriteOutcome, CommitError> {
    let out = s.committer.submit(WriteOp::Receive(d)).await?;
    if matches!(out, WriteOutcome::Received { .. }) {
        s.notify.notify_one();
    }
    Ok(out)
}

fn stored_response(
    result: Result<WriteOutcome, CommitError>,
    id: &str,
) -> (Response, &'static str) {
    match result {
        Ok(WriteOutcome::Received { .. }) => (
            reply(
                StatusCode::ACCEPTED,
                json!({ "status": "accepted", "delivery": id }),
            ),
            "accepted",
        ),
        Ok(WriteOutcome::Duplicate) => (
            reply(
                StatusCode::OK,
                json!({ "status": "duplicate", "delivery": id }),
            ),
            "duplicate",
        ),
        Ok(other) => {
            tracing::error!(delivery = %id, ?other, "unexpected store outcome for a new delivery");
            (
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not store the delivery",
                ),
                "store_error",
            )
        }
        Err(e) => {
            tracing::error!(delivery = %id, error = %e, "storing a delivery failed");
            (
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not store the delivery; please redeliver",
                ),
                "store_error",
            )
        }
    }
}

async fn github(State(s): State<Arc<AppState>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let h = &parts.headers;
    let event = header_str(h, "x-github-event").unwrap_or("").to_string();
    let (resp, outcome) = github_inner(&s, h, &event, body).await;
    s.metrics.observe_delivery(
        "github",
        if event.is_empty() { "unknown" } else { &event },
        outcome,
        started.elapsed().as_secs_f64(),
    );
    tracing::info!(platform = "github", event = %event, delivery = header_str(h, "x-github-delivery").unwrap_or(""), outcome, "webhook");
    resp
}

async fn github_inner(
    s: &AppState,
    h: &HeaderMap,
    event: &str,
    body: Body,
) -> (Response, &'static str) {
    if s.github_secrets.is_empty() {
        return (
            problem(
                StatusCode::NOT_FOUND,
                "GitHub webhooks are not enabled on this server",
            ),
            "disabled",
        );
    }
    if too_large(h, s.limits.max_body_bytes) {
        return (
            problem(StatusCode::PAYLOAD_TOO_LARGE, "body is larger than 25 MiB"),
            "too_large",
        );
    }
    if event.is_empty() {
        return (
            problem(StatusCode::BAD_REQUEST, "missing X-GitHub-Event header"),
            "bad_request",
        );
    }
    let Some(signature) = header_str(h, "x-hub-signature-256").map(str::to_string) else {
        return (
            problem(
                StatusCode::UNAUTHORIZED,
                "missing X-Hub-Signature-256 header",
            ),
            "unauthorized",
        );
    };
    let Some(delivery_id) = header_str(h, "x-github-delivery").map(str::to_string) else {
        return (
            problem(StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery header"),
            "bad_request",
        );
    };
    if delivery_id.len() > 200 {
        return (
            problem(StatusCode::BAD_REQUEST, "X-GitHub-Delivery is too long"),
            "bad_request",
        );
    }
    let bytes = match read_body(body, s.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => {
            let o = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "bad_request"
            };
            return (r, o);
        }
    };
    if !auth::github_signature_ok(&s.github_secrets, &signature, &bytes) {
        return (
            problem(StatusCode::UNAUTHORIZED, "signature does not match"),
            "unauthorized",
        );
    }
    let d = Delivery {
        platform: Platform::Github,
        id: delivery_id.clone(),
        event: event.to_string(),
        received_at: s.clock.now(),
        body: bytes.to_vec(),
    };
    stored_response(store_delivery(s, d).await, &delivery_id)
}

#[derive(serde::Deserialize)]
struct GerritType {
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn gerrit(State(s): State<Arc<AppState>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let (resp, event, outcome) = gerrit_inner(&s, &parts, body).await;
    s.metrics
        .observe_delivery("gerrit", &event, outcome, started.elapsed().as_secs_f64());
    tracing::info!(platform = "gerrit", event = %event, outcome, "webhook");
    resp
}

async fn gerrit_inner(
    s: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
) -> (Response, String, &'static str) {
    let unknown = || "unknown".to_string();
    if s.gerrit_secrets.is_empty() {
        return (
            problem(
                StatusCode::NOT_FOUND,
                "Gerrit webhooks are not enabled on this server",
            ),
            unknown(),
            "disabled",
        );
    }
    if !auth::gerrit_request_ok(&s.gerrit_secrets, &parts.headers, parts.uri.query()) {
        return (
            problem(
                StatusCode::UNAUTHORIZED,
                "missing or wrong credentials (basic auth password or token parameter)",
            ),
            unknown(),
            "unauthorized",
        );
    }
    if too_large(&parts.headers, s.limits.max_body_bytes) {
        return (
            problem(StatusCode::PAYLOAD_TOO_LARGE, "body is larger than 25 MiB"),
            unknown(),
            "too_large",
        );
    }
    let bytes = match read_body(body, s.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => {
            let o = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "bad_request"
            };
            return (r, unknown(), o);
        }
    };
    let event = serde_json::from_slice::<GerritType>(&bytes)
        .ok()
        .and_then(|t| t.kind)
        .filter(|k| k.len() <= 64)
        .unwrap_or_else(unknown);
    let id = gerrit_delivery_id(&bytes);
    let d = Delivery {
        platform: Platform::Gerrit,
        id: id.clone(),
        event: event.clone(),
        received_at: s.clock.now(),
        body: bytes.to_vec(),
    };
    let (resp, outcome) = stored_response(store_delivery(s, d).await, &id);
    (resp, event, outcome)
}

/// Gerrit sends no delivery id; the digest of the body is one (a retried post is the same body).
pub fn gerrit_delivery_id(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("gerrit-{}", &hex::encode(digest)[..32])
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    let expected = s.health.expected.load(Ordering::SeqCst);
    let running = s.health.running.load(Ordering::SeqCst);
    let writer = s.committer.is_alive();
    let ready = writer && expected > 0 && running == expected;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    reply(
        status,
        json!({ "ready": ready, "store_writer": writer, "workers_running": running, "workers_expected": expected }),
    )
}

async fn metrics_endpoint(State(s): State<Arc<AppState>>) -> Response {
    let store = s.store.clone();
    let depth = tokio::task::spawn_blocking(move || store.queue_depth().ok())
        .await
        .ok()
        .flatten();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(depth),
    )
        .into_response()
}
