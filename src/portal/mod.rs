//! The portal room: hyper on the villagers' LAN. Every plain-HTTP request a
//! captive phone makes is redirected here by the firewall; the portal
//! answers with the splash page, admits devices, and serves RFC 8908's
//! captive-portal API.
//!
//! Limits keep one slow or junk client from stalling the others: a cap on
//! open connections, header size, header-read time, body size and body time.

mod routes;
pub mod ui;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::gateway::Gateway;
use ui::Ui;

/// Largest request head (request line + headers) accepted.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// A connection lives at most this long (keep-alive included).
const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(120);
/// Time to finish in-flight requests on shutdown.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Errors starting the portal.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, #[source] source: std::io::Error },
}

/// Shared state of the portal's handlers.
pub struct Portal {
    gateway: Arc<Gateway>,
    ui: Ui,
    /// Rotates the tip shown on each splash page.
    tip_counter: AtomicU64,
}

impl Portal {
    pub fn new(gateway: Arc<Gateway>, ui: Ui) -> Arc<Portal> {
        Arc::new(Portal { gateway, ui, tip_counter: AtomicU64::new(0) })
    }
}

/// Bind the portal's listener (separately from serving, so start-up errors
/// surface before the daemon reports itself ready).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, PortalError> {
    TcpListener::bind(addr).await.map_err(|source| PortalError::Bind { addr, source })
}

/// Serve until `cancel`, then stop accepting and drain open connections.
pub async fn serve(listener: TcpListener, portal: Arc<Portal>, cancel: CancellationToken) {
    let config = portal.gateway.config();
    let max_connections = config.portal.max_connections;
    let header_timeout = config.portal.header_timeout;
    let slots = Arc::new(Semaphore::new(max_connections));
    let tracker = TaskTracker::new();
    info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), max_connections, "portal listening");
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(%peer, "connection limit reached; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let portal = portal.clone();
        let cancel = cancel.clone();
        tracker.spawn(async move {
            let service = service_fn(move |req| {
                let portal = portal.clone();
                async move { Ok::<_, Infallible>(routes::handle(&portal, peer, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let life = tokio::time::sleep(MAX_CONNECTION_LIFE);
            tokio::pin!(life);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN_TIME, conn.as_mut()).await;
                }
                _ = &mut life => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN_TIME, conn.as_mut()).await;
                }
            }
            drop(slot);
        });
    }
    tracker.close();
    tracker.wait().await;
    info!("portal stopped");
}
