//! A fake GitHub REST API on loopback with an in-memory model: issues and their comments,
//! workflow runs, repository files, App installations and tokens. Every request is recorded (method, path,
//! authorization, body), faults can be injected, and tests assert exactly what was changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fake_http::{Fake, Faults, WithFaults, on_thread, read_request, with_faults};
pub use crate::fake_http::{Fault, Matcher, Recorded};

/// A comment in the model.
#[derive(Debug, Clone)]
pub struct Comment {
    /// Id.
    pub id: u64,
    /// Text.
    pub body: String,
    /// Author login.
    pub user: String,
}

/// An issue in the model.
#[derive(Debug, Clone)]
pub struct Issue {
    /// Number, unique in its repository.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
    /// Label names.
    pub labels: Vec<String>,
}

impl Issue {
    /// As the API shows it.
    fn to_json(&self) -> Value {
        let labels: Vec<Value> = self.labels.iter().map(|l| json!({"name": l})).collect();
        json!({
            "number": self.number,
            "title": self.title,
            "body": self.body,
            "labels": labels,
            "state": "open",
        })
    }
}

/// The model.
#[derive(Debug, Default)]
pub struct Model {
    /// Comments by (repo, number).
    pub comments: BTreeMap<(String, u64), Vec<Comment>>,
    next_id: u64,
    /// Every request, in order.
    pub requests: Vec<Recorded>,
    faults: Faults,
    /// Workflow run statuses by id.
    pub runs: HashMap<u64, String>,
    /// Reruns requested: (repo, run id).
    pub reruns: Vec<(String, u64)>,
    /// Cancellations: (repo, run id).
    pub cancels: Vec<(String, u64)>,
    /// Files by (repo, path).
    pub files: HashMap<(String, String), String>,
    /// Accepted tokens (personal tokens and issued installation tokens).
    pub tokens: Vec<String>,
    /// Installation tokens issued.
    pub tokens_issued: u32,
    /// Lifetime of issued installation tokens.
    pub token_lifetime: chrono::Duration,
    /// App id expected in JWTs.
    pub app_id: Option<u64>,
    /// Set once an `ApplyThenHang` request has been applied.
    pub hung: bool,
    /// Pull requests for backfill, by repo.
    pub pulls: HashMap<String, Vec<Value>>,
    /// Reviews by (repo, number).
    pub reviews: HashMap<(String, u64), Vec<Value>>,
    /// Workflow runs by head commit.
    pub runs_by_sha: HashMap<String, Vec<Value>>,
    /// Jobs by workflow run id.
    pub jobs: HashMap<u64, Vec<Value>>,
    /// Issues by repo, in creation order (numbered from 1 in each repo).
    pub issues: BTreeMap<String, Vec<Issue>>,
}

impl WithFaults for Model {
    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
    fn requests(&mut self) -> &mut Vec<Recorded> {
        &mut self.requests
    }
}

/// A running fake.
pub type FakeGitHub = Fake<Model>;

impl FakeGitHub {
    /// Starts a fake that accepts `token` as a personal token.
    pub async fn start(token: &str) -> FakeGitHub {
        let model = Model {
            tokens: vec![token.to_string()],
            next_id: 9_000_000,
            token_lifetime: chrono::Duration::hours(1),
            ..Model::default()
        };
        Fake::serve(model, handle).await
    }

    /// Comments on an issue or PR.
    pub fn comments(&self, repo: &str, number: u64) -> Vec<Comment> {
        self.read(|m| on_thread(&m.comments, repo, number).to_vec())
    }

    /// Waits until a comment on `repo`#`number` contains `text`, at most `timeout`; whether
    /// one did.
    pub async fn wait_for_comment(
        &self,
        timeout: std::time::Duration,
        repo: &str,
        number: u64,
        text: &str,
    ) -> bool {
        self.wait_for(timeout, |m| {
            on_thread(&m.comments, repo, number)
                .iter()
                .any(|c| c.body.contains(text))
        })
        .await
    }

    /// The one comment on an issue or PR (fails unless there is exactly one: the sticky
    /// comment is edited, never posted again).
    pub fn sole_comment(&self, repo: &str, number: u64) -> Comment {
        let mut comments = self.comments(repo, number);
        assert_eq!(
            comments.len(),
            1,
            "exactly one comment on {repo}#{number}: {comments:?}"
        );
        comments.remove(0)
    }

    /// Issues of a repository, in creation order.
    pub fn issues(&self, repo: &str) -> Vec<Issue> {
        self.read(|m| m.issues.get(repo).cloned().unwrap_or_default())
    }

    /// Requests that change something (not GET), in order.
    pub fn mutations(&self) -> Vec<Recorded> {
        self.read(|m| {
            m.requests
                .iter()
                .filter(|r| r.method != "GET")
                .cloned()
                .collect()
        })
    }
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn token_of(h: &HeaderMap) -> Option<String> {
    let a = h.get("authorization")?.to_str().ok()?;
    a.strip_prefix("token ")
        .or_else(|| a.strip_prefix("Bearer "))
        .map(str::to_string)
}

/// The `iss` claim of a JWT, without checking its signature (the fake trusts its own key).
fn jwt_issuer(token: &str) -> Option<u64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v["iss"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v["iss"].as_u64())
}

async fn handle(State(model): State<Arc<Mutex<Model>>>, req: Request) -> Response {
    let (parts, bytes) = read_request(req).await;
    let recorded = Recorded::of(&parts, &bytes);
    // Faults match the path with its query here.
    let path = recorded.path.clone();
    let method = &parts.method;
    let answer = || serve(&model, method, &path, &parts.headers, &bytes);
    let (resp, fault) = with_faults(&model, recorded, method, &path, answer).await;
    if let Some(Fault::ApplyThenHang(d)) = fault {
        model.lock().unwrap().hung = true;
        tokio::time::sleep(d).await;
    }
    resp
}

/// One request as the routes read it: path segments, query and JSON body.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    seg: Vec<&'a str>,
    query: HashMap<String, String>,
    json: Value,
}

impl<'a> Req<'a> {
    fn parse(method: &'a Method, path_q: &'a str, body: &[u8]) -> Self {
        let path = path_q.split('?').next().unwrap_or("");
        let query = path_q
            .split_once('?')
            .map(|(_, q)| {
                q.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Req {
            method: method.as_str(),
            path,
            seg: path.trim_start_matches('/').split('/').collect(),
            query,
            json: serde_json::from_slice(body).unwrap_or(Value::Null),
        }
    }

    /// The `per_page`/`page` window of `items`, as GitHub pages lists.
    fn page<T: Clone>(&self, items: &[T]) -> Vec<T> {
        let per: usize = self
            .query
            .get("per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30);
        let page: usize = self
            .query
            .get("page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        items
            .iter()
            .skip((page.max(1) - 1) * per)
            .take(per)
            .cloned()
            .collect()
    }
}

fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
}

fn serve(
    model: &Arc<Mutex<Model>>,
    method: &Method,
    path_q: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let req = Req::parse(method, path_q, body);
    let mut m = model.lock().unwrap();
    let token = token_of(headers);
    // App endpoints take the App's JWT.
    let seg = &req.seg;
    if seg.first() == Some(&"app")
        || (seg.len() == 4 && seg[0] == "repos" && seg[3] == "installation")
    {
        return app_endpoint(&mut m, &req, token.as_deref());
    }
    if !token.as_ref().is_some_and(|t| m.tokens.contains(t)) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Bad credentials"}),
        );
    }
    issue_routes(&mut m, &req)
        .or_else(|| action_routes(&mut m, &req))
        .or_else(|| pull_routes(&m, &req))
        .unwrap_or_else(|| {
            json_response(
                StatusCode::NOT_FOUND,
                json!({"message": "Not Found", "path": req.path}),
            )
        })
}

/// The GitHub App's own endpoints: the installation and its access tokens.
fn app_endpoint(m: &mut Model, req: &Req, token: Option<&str>) -> Response {
    let seg = &req.seg;
    let ok = m.app_id.is_some() && token.and_then(jwt_issuer) == m.app_id;
    if !ok {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": "A JSON web token could not be decoded"}),
        );
    }
    if seg.first() == Some(&"repos") {
        return json_response(StatusCode::OK, json!({"id": 55501, "app_id": m.app_id}));
    }
    if req.method == "POST"
        && seg.len() == 4
        && seg[1] == "installations"
        && seg[3] == "access_tokens"
    {
        m.tokens_issued += 1;
        let t = format!("ghs_installation_token_{}", m.tokens_issued);
        m.tokens.push(t.clone());
        let expires = chrono::Utc::now() + m.token_lifetime;
        return json_response(
            StatusCode::CREATED,
            json!({"token": t, "expires_at": expires.to_rfc3339(), "permissions": {"issues": "write", "pull_requests": "write"}, "repository_selection": "all"}),
        );
    }
    not_found()
}

/// Issues and their comments.
fn issue_routes(m: &mut Model, req: &Req) -> Option<Response> {
    let body_json = &req.json;
    Some(match (req.method, req.seg.as_slice()) {
        ("GET", ["repos", o, r, "issues"]) => {
            let wanted: Vec<String> = req
                .query
                .get("labels")
                .map(|v| {
                    canopy_server::auth::percent_decode(v)
                        .split(',')
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let items: Vec<Value> = m
                .issues
                .get(&format!("{o}/{r}"))
                .map(|list| {
                    list.iter()
                        .filter(|i| wanted.iter().all(|w| i.labels.contains(w)))
                        .map(Issue::to_json)
                        .collect()
                })
                .unwrap_or_default();
            json_response(StatusCode::OK, Value::Array(items))
        }
        ("POST", ["repos", o, r, "issues"]) => {
            let Some(title) = body_json["title"].as_str().filter(|t| !t.is_empty()) else {
                return Some(json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Validation Failed", "errors": [{"field": "title", "code": "missing_field"}]}),
                ));
            };
            let labels: Vec<String> = body_json["labels"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str().or_else(|| l["name"].as_str()))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let list = m.issues.entry(format!("{o}/{r}")).or_default();
            let issue = Issue {
                number: list.iter().map(|i| i.number).max().unwrap_or(0) + 1,
                title: title.to_string(),
                body: body_json["body"].as_str().unwrap_or("").to_string(),
                labels,
            };
            list.push(issue.clone());
            json_response(StatusCode::CREATED, issue.to_json())
        }
        _ => return comment_routes(m, req),
    })
}

/// Comments on issues and pull requests: list, post, edit, delete.
fn comment_routes(m: &mut Model, req: &Req) -> Option<Response> {
    Some(match (req.method, req.seg.as_slice()) {
        ("GET", ["repos", o, r, "issues", n, "comments"]) => {
            let key = (format!("{o}/{r}"), n.parse().unwrap_or(0));
            let all = m.comments.get(&key).cloned().unwrap_or_default();
            let items: Vec<Value> = req
                .page(&all)
                .iter()
                .map(|c| json!({"id": c.id, "body": c.body, "user": {"login": c.user, "type": "Bot"}}))
                .collect();
            json_response(StatusCode::OK, Value::Array(items))
        }
        ("POST", ["repos", o, r, "issues", n, "comments"]) => {
            m.next_id += 1;
            let c = Comment {
                id: m.next_id,
                body: req.json["body"].as_str().unwrap_or("").to_string(),
                user: "canopy[bot]".into(),
            };
            let key = (format!("{o}/{r}"), n.parse().unwrap_or(0));
            m.comments.entry(key).or_default().push(c.clone());
            json_response(StatusCode::CREATED, json!({"id": c.id, "body": c.body}))
        }
        ("DELETE", ["repos", _o, _r, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            for list in m.comments.values_mut() {
                list.retain(|c| c.id != id);
            }
            (StatusCode::NO_CONTENT, "").into_response()
        }
        ("PATCH", ["repos", _o, _r, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let text = req.json["body"].as_str().unwrap_or("").to_string();
            for list in m.comments.values_mut() {
                if let Some(c) = list.iter_mut().find(|c| c.id == id) {
                    c.body = text.clone();
                    return Some(json_response(
                        StatusCode::OK,
                        json!({"id": id, "body": text}),
                    ));
                }
            }
            not_found()
        }
        _ => return None,
    })
}

/// Actions: workflow runs, their jobs, reruns and cancels.
fn action_routes(m: &mut Model, req: &Req) -> Option<Response> {
    Some(match (req.method, req.seg.as_slice()) {
        ("GET", ["repos", _o, _r, "actions", "runs", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let status = m
                .runs
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "completed".into());
            json_response(StatusCode::OK, json!({"id": id, "status": status}))
        }
        ("POST", ["repos", o, r, "actions", "runs", id, "rerun-failed-jobs"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            m.reruns.push((format!("{o}/{r}"), id));
            m.runs.insert(id, "queued".into());
            json_response(StatusCode::CREATED, json!({}))
        }
        ("POST", ["repos", o, r, "actions", "runs", id, "cancel"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            m.cancels.push((format!("{o}/{r}"), id));
            m.runs.insert(id, "completed".into());
            json_response(StatusCode::ACCEPTED, json!({}))
        }
        ("GET", ["repos", _o, _r, "actions", "runs"]) => {
            let sha = req.query.get("head_sha").cloned().unwrap_or_default();
            let runs = m.runs_by_sha.get(&sha).cloned().unwrap_or_default();
            json_response(
                StatusCode::OK,
                json!({"total_count": runs.len(), "workflow_runs": runs}),
            )
        }
        ("GET", ["repos", _o, _r, "actions", "runs", id, "jobs"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let jobs = m.jobs.get(&id).cloned().unwrap_or_default();
            json_response(
                StatusCode::OK,
                json!({"total_count": jobs.len(), "jobs": jobs}),
            )
        }
        ("GET", ["repos", _o, _r, "commits", _sha, "check-runs"]) => {
            json_response(StatusCode::OK, json!({"total_count": 0, "check_runs": []}))
        }
        _ => return None,
    })
}

/// Pull requests, their reviews and review comments, and file contents.
fn pull_routes(m: &Model, req: &Req) -> Option<Response> {
    Some(match (req.method, req.seg.as_slice()) {
        ("GET", ["repos", o, r, "contents", rest @ ..]) => {
            let key = (format!("{o}/{r}"), rest.join("/"));
            match m.files.get(&key) {
                Some(text) => {
                    use base64::Engine;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                    json_response(
                        StatusCode::OK,
                        json!({"content": b64, "encoding": "base64"}),
                    )
                }
                None => not_found(),
            }
        }
        ("GET", ["repos", o, r, "pulls"]) => {
            let all = m
                .pulls
                .get(&format!("{o}/{r}"))
                .cloned()
                .unwrap_or_default();
            json_response(StatusCode::OK, Value::Array(req.page(&all)))
        }
        ("GET", ["repos", o, r, "pulls", n]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let pr = m
                .pulls
                .get(&format!("{o}/{r}"))
                .and_then(|l| l.iter().find(|p| p["number"].as_u64() == Some(n)).cloned());
            match pr {
                Some(p) => json_response(StatusCode::OK, p),
                None => not_found(),
            }
        }
        ("GET", ["repos", _o, _r, "pulls", _n, "comments"]) => {
            json_response(StatusCode::OK, json!([]))
        }
        ("GET", ["repos", o, r, "pulls", n, "reviews"]) => {
            let key = (format!("{o}/{r}"), n.parse().unwrap_or(0));
            json_response(
                StatusCode::OK,
                Value::Array(m.reviews.get(&key).cloned().unwrap_or_default()),
            )
        }
        _ => return None,
    })
}

/// Convenience for tests: a model lock.
pub type Shared = Arc<Mutex<Model>>;
