//! Accepting connections: at most a configured number at once from one peer address (more are
//! answered 503 and closed at once), a deadline for request headers, and a graceful end on
//! shutdown (the request in hand finishes, idle keep-alive connections close).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use canopy_core::shutdown::Signal;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::http::{Limits, RETRY_AFTER_SECS};

/// Open connections per peer address.
#[derive(Debug, Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

/// A connection counted against its peer's cap; uncounted when dropped.
struct PeerSlot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    /// A slot for one more connection from `ip`, unless it already has `cap`.
    fn admit(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<PeerSlot> {
        let mut m = self.0.lock().ok()?;
        let n = m.entry(ip).or_default();
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.peers.0.lock()
            && let Some(n) = m.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Accepts connections until `shutdown` fires, at most `limits.connections_per_peer` at once
/// from one address. Slow senders of headers are cut off; on shutdown, open connections finish
/// the request in hand and close.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut shutdown: Signal,
) -> std::io::Result<()> {
    let peers = Arc::new(Peers::default());
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
        let Some(slot) = peers.admit(peer.ip(), limits.connections_per_peer) else {
            tracing::warn!(%peer, "too many connections from one peer; refused");
            let busy = format!(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {RETRY_AFTER_SECS}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.try_write(busy.as_bytes());
            continue;
        };
        let svc = TowerToHyperService::new(app.clone());
        let header_timeout = limits.header_timeout;
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.wait() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
