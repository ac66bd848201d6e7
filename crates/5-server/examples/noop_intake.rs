//! The intake ceiling for benchmarks (bench/processing/run.sh): an axum server that only reads
//! a GitHub webhook's body, checks its `X-Hub-Signature-256` with Canopy's own check and
//! answers 202 (401 when the signature is wrong), storing nothing. On the same machine and
//! load generator, no intake that verifies and stores can be faster.
//!
//!     cargo run --release -p canopy-server --example noop_intake -- ADDR SECRET

use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use canopy_server::auth::github_signature_ok;
use canopy_server::secrets::Secrets;

async fn github(
    State(secrets): State<Arc<Secrets>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let sig = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if github_signature_ok(&secrets, sig, &body) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::UNAUTHORIZED
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(secret)) = (args.first(), args.get(1)) else {
        eprintln!("usage: noop_intake ADDR SECRET");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let secrets = Arc::new(Secrets::new([secret.clone()]));
    let app = Router::new()
        .route("/webhooks/github", post(github))
        .with_state(secrets);
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
        axum::serve(listener, app).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("noop_intake on {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}
