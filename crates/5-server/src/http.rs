//! The webhook server: bound the bytes in flight and the connections per peer, limit the body,
//! authenticate on the raw bytes, store the delivery durably, answer fast; the real work
//! happens afterwards in the worker pool.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use canopy_core::{Clock, Delivery, Platform, WriteOp, WriteOutcome};
use canopy_forge::gerrit;
use canopy_forge::github::event::GithubEvent;
use canopy_store::Store;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::auth;
use crate::body::{Refusal, declared_len, read_body, too_large};
use crate::budget::Budget;
use crate::committer::{CommitError, Committer};
pub use crate::conn::serve;
use crate::metrics::Metrics;
use crate::pool::WorkerHealth;
use crate::secrets::Secrets;

/// GitHub's own cap on webhook payloads: bigger bodies are refused without being read.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;
/// Default budget of request body bytes in flight across all connections.
pub const DEFAULT_INFLIGHT_BYTES: usize = 256 * 1024 * 1024;
/// Default cap on concurrent connections from one peer address.
pub const DEFAULT_CONNECTIONS_PER_PEER: usize = 64;
/// Seconds a client is asked to wait when the server sheds load.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// Limits that protect the server from slow, oversized or too many requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Time a client has to send its request headers.
    pub header_timeout: Duration,
    /// Time a whole request (headers, body, storing) may take.
    pub request_timeout: Duration,
    /// Body bytes in flight across all requests; beyond it, 503 without reading.
    pub inflight_bytes: usize,
    /// Concurrent connections from one peer address; beyond it, 503 and close.
    pub connections_per_peer: usize,
    /// Age of the oldest waiting delivery beyond which `/readyz` says not ready.
    pub max_backlog_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            inflight_bytes: DEFAULT_INFLIGHT_BYTES,
            connections_per_peer: DEFAULT_CONNECTIONS_PER_PEER,
            max_backlog_age: Duration::from_secs(60),
        }
    }
}

/// Everything the HTTP handlers share, passed in.
pub struct AppState {
    /// Durable writer for deliveries.
    pub committer: Committer,
    /// The store (for readiness and queue depth).
    pub store: Arc<dyn Store>,
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
    /// Body bytes in flight.
    pub budget: Arc<Budget>,
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

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(crate) fn problem(status: StatusCode, message: &str) -> Response {
    reply(status, json!({ "error": message }))
}

pub(crate) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
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

/// A bounded metric label for a GitHub event header: the event if Canopy knows it.
fn github_label(event: &str) -> &'static str {
    match GithubEvent::from_name(event) {
        Some(e) => e.as_str(),
        None if event.is_empty() => "unknown",
        None => "other",
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
        github_label(&event),
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
    match github_accept(s, h, event, body).await {
        Ok(r) | Err(r) => r,
    }
}

fn refuse(status: StatusCode, message: &str, outcome: &'static str) -> Refusal {
    (problem(status, message), outcome)
}

async fn github_accept(
    s: &AppState,
    h: &HeaderMap,
    event: &str,
    body: Body,
) -> Result<Refusal, Refusal> {
    if s.github_secrets.is_empty() {
        let msg = "GitHub webhooks are not enabled on this server";
        return Err(refuse(StatusCode::NOT_FOUND, msg, "disabled"));
    }
    if declared_len(h).is_some_and(|n| n > s.limits.max_body_bytes as u64) {
        return Err(too_large(s.limits.max_body_bytes));
    }
    if event.is_empty() {
        let msg = "missing X-GitHub-Event header";
        return Err(refuse(StatusCode::BAD_REQUEST, msg, "bad_request"));
    }
    let Some(signature) = header_str(h, "x-hub-signature-256").map(str::to_string) else {
        let msg = "missing X-Hub-Signature-256 header";
        return Err(refuse(StatusCode::UNAUTHORIZED, msg, "unauthorized"));
    };
    let Some(delivery_id) = header_str(h, "x-github-delivery").map(str::to_string) else {
        let msg = "missing X-GitHub-Delivery header";
        return Err(refuse(StatusCode::BAD_REQUEST, msg, "bad_request"));
    };
    if delivery_id.len() > 200 {
        let msg = "X-GitHub-Delivery is too long";
        return Err(refuse(StatusCode::BAD_REQUEST, msg, "bad_request"));
    }
    let (bytes, held) = read_body(s, h, body).await?;
    if !auth::github_signature_ok(&s.github_secrets, &signature, &bytes) {
        let msg = "signature does not match";
        return Err(refuse(StatusCode::UNAUTHORIZED, msg, "unauthorized"));
    }
    let d = Delivery {
        platform: Platform::Github,
        id: delivery_id.clone(),
        event: event.to_string(),
        received_at: s.clock.now(),
        body: bytes,
    };
    let stored = store_delivery(s, d).await;
    drop(held);
    Ok(stored_response(stored, &delivery_id))
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
    let label = match event.as_str() {
        "unknown" => "unknown",
        kind => gerrit::normalize::event_label(kind),
    };
    s.metrics
        .observe_delivery("gerrit", label, outcome, started.elapsed().as_secs_f64());
    tracing::info!(platform = "gerrit", event = %event, outcome, "webhook");
    resp
}

async fn gerrit_inner(
    s: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
) -> (Response, String, &'static str) {
    match gerrit_accept(s, parts, body).await {
        Ok(r) => r,
        Err((resp, outcome)) => (resp, "unknown".to_string(), outcome),
    }
}

async fn gerrit_accept(
    s: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Result<(Response, String, &'static str), Refusal> {
    if s.gerrit_secrets.is_empty() {
        let msg = "Gerrit webhooks are not enabled on this server";
        return Err(refuse(StatusCode::NOT_FOUND, msg, "disabled"));
    }
    if !auth::gerrit_request_ok(&s.gerrit_secrets, &parts.headers, parts.uri.query()) {
        let msg = "missing or wrong credentials (basic auth password or token parameter)";
        return Err(refuse(StatusCode::UNAUTHORIZED, msg, "unauthorized"));
    }
    let (bytes, held) = read_body(s, &parts.headers, body).await?;
    let event = serde_json::from_slice::<GerritType>(&bytes)
        .ok()
        .and_then(|t| t.kind)
        .filter(|k| k.len() <= 64)
        .unwrap_or_else(|| "unknown".to_string());
    let id = gerrit_delivery_id(&bytes);
    let d = Delivery {
        platform: Platform::Gerrit,
        id: id.clone(),
        event: event.clone(),
        received_at: s.clock.now(),
        body: bytes,
    };
    let stored = store_delivery(s, d).await;
    drop(held);
    let (resp, outcome) = stored_response(stored, &id);
    Ok((resp, event, outcome))
}

/// Gerrit sends no delivery id; the digest of the body is one (a retried post is the same body).
pub fn gerrit_delivery_id(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("gerrit-{}", &hex::encode(digest)[..32])
}

/// The deliveries waiting to be processed, read from the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    /// How many wait (claimed or not).
    pub depth: u64,
    /// Seconds the oldest has waited (0 when none waits).
    pub age_secs: f64,
}

/// The backlog now, or the store's error.
async fn backlog(s: &AppState) -> Result<Backlog, String> {
    let store = s.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        Ok::<_, canopy_store::StoreError>((store.queue_depth()?, store.oldest_pending()?))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let (depth, oldest) = read;
    let age_secs = oldest.map_or(0.0, |t| {
        (s.clock.now() - t).num_milliseconds().max(0) as f64 / 1000.0
    });
    Ok(Backlog { depth, age_secs })
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    let expected = s.health.expected.load(Ordering::SeqCst);
    let running = s.health.running.load(Ordering::SeqCst);
    let writer = s.committer.is_alive();
    let limit = s.limits.max_backlog_age.as_secs_f64();
    let (backlog, store_error) = match backlog(&s).await {
        Ok(b) => (Some(b), None),
        Err(e) => (None, Some(e)),
    };
    // Unread, the backlog cannot be vouched for: not ready.
    let backlog_ok = backlog.is_some_and(|b| b.age_secs <= limit);
    let warmed = s.health.warmed.load(Ordering::SeqCst);
    // Workers that have not loaded the reactor's state yet process nothing: not ready.
    let workers_ok = s.health.intake_only.load(Ordering::SeqCst)
        || expected > 0 && running == expected && warmed;
    let ready = writer && workers_ok && backlog_ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    reply(
        status,
        json!({
            "ready": ready,
            "store_writer": writer,
            "workers_running": running,
            "workers_expected": expected,
            "reactor_warmed": warmed,
            "backlog": backlog.map(|b| b.depth),
            "backlog_age_seconds": backlog.map(|b| b.age_secs),
            "backlog_age_limit_seconds": limit,
            "store_error": store_error,
        }),
    )
}

async fn metrics_endpoint(State(s): State<Arc<AppState>>) -> Response {
    let backlog = backlog(&s).await.ok();
    let mut text = s.metrics.render(backlog.map(|b| b.depth));
    if let Some(b) = backlog {
        text.push_str(&crate::metrics::render_backlog_age(
            b.age_secs,
            s.limits.max_backlog_age.as_secs_f64(),
        ));
    }
    text.push_str(&crate::metrics::render_budget(&s.budget));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}
