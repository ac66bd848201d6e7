//! What the loopback fakes (GitHub, Gerrit, Prometheus) share: serving a router on a free
//! port until dropped, the recorded request, injectable faults, and waiting on a model.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// A fake HTTP service on a free loopback port with its in-memory model; the server stops
/// when this is dropped.
pub struct Fake<M> {
    /// Its model, shared with the request handler.
    pub model: Arc<Mutex<M>>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl<M> Drop for Fake<M> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<M: Send + 'static> Fake<M> {
    /// Binds a free loopback port and answers every request with `handler` over `model`.
    pub async fn serve<H, T>(model: M, handler: H) -> Fake<M>
    where
        H: axum::handler::Handler<T, Arc<Mutex<M>>>,
        T: 'static,
    {
        let model = Arc::new(Mutex::new(model));
        let app = Router::new().fallback(handler).with_state(model.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { model, addr, task }
    }
}

impl<M> Fake<M> {
    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What `read` sees in the model now.
    pub fn read<T>(&self, read: impl FnOnce(&M) -> T) -> T {
        read(&self.model.lock().unwrap())
    }

    /// Waits until `cond` holds on the model, at most `timeout`; whether it held.
    pub async fn wait_for(&self, timeout: Duration, cond: impl Fn(&M) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.read(&cond) {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The list a fake keeps on one thread (`owner` is a repository or project, `number` an issue,
/// PR or change), empty when there is none.
pub fn on_thread<'a, T>(
    map: &'a BTreeMap<(String, u64), Vec<T>>,
    owner: &str,
    number: u64,
) -> &'a [T] {
    map.get(&(owner.to_string(), number))
        .map_or(&[], Vec::as_slice)
}

/// A model that records its requests and takes injected faults.
pub trait WithFaults {
    /// Its queue of faults.
    fn faults(&mut self) -> &mut Faults;
    /// The requests it received, in order.
    fn requests(&mut self) -> &mut Vec<Recorded>;
}

/// A request to a fake as read: its parts and its body (a body over 10 MiB reads as empty).
pub async fn read_request(req: axum::extract::Request) -> (Parts, axum::body::Bytes) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 10 << 20)
        .await
        .unwrap_or_default();
    (parts, bytes)
}

/// A request under the fake's faults: recorded, then answered by the first fault queued for
/// `method` on `fault_path` when that fault applies nothing, else served by `serve` (and
/// answered 500 after serving for [`Fault::ApplyThenFail`]). The fault taken comes back with
/// the answer, for what else the fake does with it.
pub async fn with_faults<M: WithFaults>(
    model: &Mutex<M>,
    recorded: Recorded,
    method: &Method,
    fault_path: &str,
    serve: impl FnOnce() -> Response,
) -> (Response, Option<Fault>) {
    let fault = {
        let mut m = model.lock().unwrap();
        m.requests().push(recorded);
        m.faults().take(method, fault_path)
    };
    if let Some(answer) = match &fault {
        Some(f) => f.answer_before().await,
        None => None,
    } {
        return (answer, fault);
    }
    let resp = serve();
    match fault {
        Some(Fault::ApplyThenFail) => (
            (StatusCode::INTERNAL_SERVER_ERROR, "applied, then failed").into_response(),
            fault,
        ),
        _ => (resp, fault),
    }
}

impl<M: WithFaults> Fake<M> {
    /// Queues a fault for the next request matching `method` and `path_contains`.
    pub fn fault(&self, method: Option<Method>, path_contains: &'static str, fault: Fault) {
        let mut m = self.model.lock().unwrap();
        m.faults().push(method, path_contains, fault);
    }
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `Authorization` header.
    pub auth: Option<String>,
    /// Body text.
    pub body: String,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Recorded {
    /// The request as it arrived now.
    pub fn of(parts: &Parts, body: &[u8]) -> Recorded {
        Recorded {
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            auth: parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: String::from_utf8_lossy(body).into_owned(),
            at: std::time::Instant::now(),
        }
    }
}

/// What to do to a matching request instead of (or after) serving it.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and body, change nothing.
    Status(u16, &'static str),
    /// Answer with this status, headers and body, change nothing.
    StatusHeaders(u16, Vec<(&'static str, String)>, &'static str),
    /// Wait this long, then answer 504 without applying (a gateway timeout; with a client
    /// timeout shorter than the delay the client gives up first).
    Delay(Duration),
    /// Close the connection without an answer (the request is not applied).
    Reset,
    /// Apply the request, then answer 500: the client thinks it failed although it was done.
    ApplyThenFail,
    /// Apply the request, then hold the answer this long (kill the client meanwhile).
    ApplyThenHang(Duration),
}

/// Which requests a fault applies to.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Method, or any.
    pub method: Option<Method>,
    /// Substring of the path.
    pub path_contains: &'static str,
}

/// Faults queued for the requests they match, each used once.
#[derive(Debug, Default)]
pub struct Faults(VecDeque<(Matcher, Fault)>);

impl Faults {
    /// Queues `fault` for the next request matching `method` and `path_contains`.
    pub fn push(&mut self, method: Option<Method>, path_contains: &'static str, fault: Fault) {
        let matcher = Matcher {
            method,
            path_contains,
        };
        self.0.push_back((matcher, fault));
    }

    /// Takes the first fault queued for `method` on `path`.
    pub fn take(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let idx = self.0.iter().position(|(mt, _)| {
            mt.method.as_ref().is_none_or(|x| x == method) && path.contains(mt.path_contains)
        })?;
        self.0.remove(idx).map(|(_, f)| f)
    }
}

impl Fault {
    /// The answer given instead of serving the request, for the faults that apply nothing.
    pub async fn answer_before(&self) -> Option<Response> {
        match self {
            Fault::Status(code, body) => {
                Some((StatusCode::from_u16(*code).unwrap(), *body).into_response())
            }
            Fault::StatusHeaders(code, headers, body) => {
                let mut r = (StatusCode::from_u16(*code).unwrap(), *body).into_response();
                for (k, v) in headers {
                    r.headers_mut().insert(*k, v.parse().unwrap());
                }
                Some(r)
            }
            Fault::Delay(d) => {
                tokio::time::sleep(*d).await;
                Some((StatusCode::GATEWAY_TIMEOUT, "timed out").into_response())
            }
            Fault::Reset => {
                // Dropping the connection: hyper closes it when the service panics is not
                // graceful; an empty 1xx-less close is emulated by an aborted body.
                Some(
                    Response::builder()
                        .status(200)
                        .header("content-length", "100")
                        .body(axum::body::Body::from("partial"))
                        .unwrap(),
                )
            }
            Fault::ApplyThenFail | Fault::ApplyThenHang(_) => None,
        }
    }
}
