//! A fake Gerrit REST API on loopback: change messages, review posting (with `)]}'` prefixed
//! answers as Gerrit sends them), the bot's own account, basic auth, recorded requests and
//! injectable faults.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fake_http::{Fake, Faults, Recorded, WithFaults, on_thread, read_request, with_faults};

/// A change message in the model.
#[derive(Debug, Clone)]
pub struct Message {
    /// Text as Gerrit stores it ("Patch Set N:\n\n...").
    pub message: String,
    /// Tag.
    pub tag: Option<String>,
    /// Patchset.
    pub revision: u32,
    /// Author username.
    pub author: String,
    /// Time.
    pub date: chrono::DateTime<chrono::Utc>,
}

/// The model.
#[derive(Debug, Default)]
pub struct Model {
    /// Messages by (project, change).
    pub messages: BTreeMap<(String, u64), Vec<Message>>,
    /// Current patchset by change.
    pub current: BTreeMap<u64, u32>,
    /// Every request.
    pub requests: Vec<Recorded>,
    faults: Faults,
    /// Accepted basic-auth credentials.
    pub credentials: (String, String),
    /// Changes returned by queries (REST `ChangeInfo` objects), in order.
    pub changes: Vec<Value>,
}

impl WithFaults for Model {
    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
    fn requests(&mut self) -> &mut Vec<Recorded> {
        &mut self.requests
    }
}

/// A running fake Gerrit.
pub type FakeGerrit = Fake<Model>;

impl FakeGerrit {
    /// Starts a fake accepting `user`/`password`.
    pub async fn start(user: &str, password: &str) -> FakeGerrit {
        let model = Model {
            credentials: (user.into(), password.into()),
            ..Model::default()
        };
        Fake::serve(model, handle).await
    }

    /// Waits until a message on any change contains `text`, at most `timeout`; whether one did.
    pub async fn wait_for_message(&self, timeout: Duration, text: &str) -> bool {
        self.wait_for(timeout, |m| {
            m.messages
                .values()
                .flatten()
                .any(|x| x.message.contains(text))
        })
        .await
    }

    /// Messages on a change.
    pub fn messages(&self, project: &str, change: u64) -> Vec<Message> {
        self.read(|m| on_thread(&m.messages, project, change).to_vec())
    }
}

fn gerrit_json(status: StatusCode, v: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        format!(")]}}'\n{v}"),
    )
        .into_response()
}

fn authorized(h: &HeaderMap, creds: &(String, String)) -> bool {
    use base64::Engine;
    let Some(v) = h.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(b64) = v.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return false;
    };
    String::from_utf8_lossy(&raw) == format!("{}:{}", creds.0, creds.1)
}

fn decode(s: &str) -> String {
    s.replace("%2F", "/").replace("%2f", "/")
}

async fn handle(State(model): State<Arc<Mutex<Model>>>, req: Request) -> Response {
    let (parts, bytes) = read_request(req).await;
    let recorded = Recorded::of(&parts, &bytes);
    // Faults match the path without its query here.
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let method = &parts.method;
    let answer = || serve(&model, method, &path, &query, &parts.headers, &bytes);
    with_faults(&model, recorded, method, &path, answer).await.0
}

fn serve(
    model: &Arc<Mutex<Model>>,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let mut m = model.lock().unwrap();
    if !authorized(headers, &m.credentials) {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    let seg: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    let change_key = |id: &str| -> Option<(String, u64)> {
        let (p, n) = id.rsplit_once('~')?;
        Some((p.to_string(), n.parse().ok()?))
    };
    let not_found = || (StatusCode::NOT_FOUND, "Not found").into_response();
    match (method.as_str(), seg.as_slice()) {
        ("GET", ["a", "changes", ""]) | ("GET", ["a", "changes"]) => changes_page(&m, query),
        ("GET", ["a", "accounts", "self"]) => gerrit_json(
            StatusCode::OK,
            json!({"_account_id": 1000042, "username": m.credentials.0}),
        ),
        ("GET", ["a", "changes", id, "messages"]) => match change_key(id) {
            Some(key) => messages_of(&m, &key),
            None => not_found(),
        },
        ("POST", ["a", "changes", id, "revisions", rev, "review"]) => match change_key(id) {
            Some(key) => post_review(&mut m, key, rev, body),
            None => not_found(),
        },
        _ => not_found(),
    }
}

/// `GET /a/changes/?n=N&S=START`: one page, the last entry marked when more follow.
fn changes_page(m: &Model, query: &str) -> Response {
    let q: std::collections::HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let n: usize = q.get("n").and_then(|v| v.parse().ok()).unwrap_or(500);
    let start: usize = q.get("S").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut page: Vec<Value> = m.changes.iter().skip(start).take(n).cloned().collect();
    if start + page.len() < m.changes.len()
        && let Some(last) = page.last_mut()
    {
        last["_more_changes"] = json!(true);
    }
    gerrit_json(StatusCode::OK, Value::Array(page))
}

/// `GET /a/changes/ID/messages`: the change's messages, the bot's own with its account id.
fn messages_of(m: &Model, key: &(String, u64)) -> Response {
    let list: Vec<Value> = m
        .messages
        .get(key)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|x| {
            json!({
                "message": x.message, "tag": x.tag, "_revision_number": x.revision,
                "date": x.date.format("%Y-%m-%d %H:%M:%S%.9f").to_string(),
                "author": {"_account_id": if x.author == m.credentials.0 { 1000042 } else { 1 }, "username": x.author}
            })
        })
        .collect();
    gerrit_json(StatusCode::OK, Value::Array(list))
}

/// `POST /a/changes/ID/revisions/REV/review`: records the review message on the patch set.
fn post_review(m: &mut Model, key: (String, u64), rev: &str, body: &[u8]) -> Response {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let current = m.current.get(&key.1).copied().unwrap_or(1);
    let revision = if rev == "current" {
        current
    } else {
        rev.parse().unwrap_or(current)
    };
    let text = v["message"].as_str().unwrap_or("").to_string();
    let msg = Message {
        message: format!("Patch Set {revision}:\n\n{text}"),
        tag: v["tag"].as_str().map(str::to_string),
        revision,
        author: m.credentials.0.clone(),
        date: chrono::Utc::now(),
    };
    m.messages.entry(key).or_default().push(msg);
    gerrit_json(StatusCode::OK, json!({"labels": {}}))
}
