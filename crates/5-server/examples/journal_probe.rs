//! Throwaway experiment (session 6, intake): the ceiling of an append-only intake journal.
//! Like `noop_intake` (read the body, verify the HMAC) and then hands the delivery to one
//! writer thread that appends it (id, event, body) to a file, `fdatasync`s once per group and
//! wakes each request through its oneshot; 202 after that.
//!
//!     journal_probe ADDR SECRET FILE [lz4]
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use canopy_server::auth::github_signature_ok;
use canopy_server::secrets::Secrets;
use tokio::sync::{mpsc, oneshot};

type Job = (String, Bytes, oneshot::Sender<()>);

struct App {
    secrets: Secrets,
    tx: mpsc::Sender<Job>,
}

async fn github(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if !github_signature_ok(&app.secrets, &h("x-hub-signature-256"), &body) {
        return StatusCode::UNAUTHORIZED;
    }
    let (tx, rx) = oneshot::channel();
    if app
        .tx
        .send((h("x-github-delivery"), body, tx))
        .await
        .is_err()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match rx.await {
        Ok(()) => StatusCode::ACCEPTED,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn writer(mut rx: mpsc::Receiver<Job>, file: std::fs::File, lz4: bool) {
    let mut off = 0u64;
    // PREALLOC=MB: the file is written with zeros first and reused in a ring, so an append
    // changes no metadata (fdatasync flushes data pages only).
    let wrap: u64 = std::env::var("PREALLOC")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        << 20;
    if wrap > 0 {
        let zeros = vec![0u8; 1 << 20];
        for i in 0..(wrap >> 20) {
            file.write_all_at(&zeros, i << 20).unwrap();
        }
        file.sync_all().unwrap();
    }
    let mut buf = Vec::with_capacity(4 << 20);
    let (mut groups, mut n) = (0u64, 0u64);
    while let Some(first) = rx.blocking_recv() {
        let mut waiters = vec![first];
        while waiters.len() < 1024 {
            match rx.try_recv() {
                Ok(j) => waiters.push(j),
                Err(_) => break,
            }
        }
        buf.clear();
        for (id, body, _) in &waiters {
            buf.extend_from_slice(&(id.len() as u32).to_le_bytes());
            buf.extend_from_slice(id.as_bytes());
            if lz4 {
                let c = lz4_flex::block::compress_prepend_size(body);
                buf.extend_from_slice(&(c.len() as u32).to_le_bytes());
                buf.extend_from_slice(&c);
            } else {
                buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
                buf.extend_from_slice(body);
            }
        }
        if wrap > 0 && off + buf.len() as u64 > wrap {
            off = 0;
        }
        file.write_all_at(&buf, off).unwrap();
        off += buf.len() as u64;
        file.sync_data().unwrap();
        groups += 1;
        n += waiters.len() as u64;
        for (_, _, tx) in waiters {
            let _ = tx.send(());
        }
        if groups % 2000 == 0 {
            let _ = writeln!(std::io::stderr(), "groups {groups} deliveries {n}");
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(secret), Some(path)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: journal_probe ADDR SECRET FILE [lz4]");
        return ExitCode::from(2);
    };
    let lz4 = args.get(3).is_some_and(|a| a == "lz4");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let (tx, rx) = mpsc::channel(8192);
    std::thread::spawn(move || writer(rx, file, lz4));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = Arc::new(App {
        secrets: Secrets::new([secret.clone()]),
        tx,
    });
    let app = Router::new()
        .route("/webhooks/github", post(github))
        .with_state(app);
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await.unwrap();
        axum::serve(listener, app).await.unwrap();
    });
    ExitCode::SUCCESS
}
