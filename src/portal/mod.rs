//! The portal room: hyper on the villagers' LAN. Every plain-HTTP request a
//! captive phone makes is redirected here by the firewall; the portal
//! answers with the splash page, admits devices, and serves RFC 8908's
//! captive-portal API.
//!
//! Limits keep one slow or junk client from stalling the others: a cap on
//! open connections, header size, header-read time, body size and body time.

mod routes;
pub mod tls;
pub mod ui;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::gateway::Gateway;
use crate::uplink::UplinkReader;
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
    /// The HTTPS certificate or key could not be used.
    #[error("portal TLS: {path}: {message}")]
    Tls { path: std::path::PathBuf, message: String },
}

/// Shared state of the portal's handlers.
pub struct Portal {
    gateway: Arc<Gateway>,
    ui: Ui,
    /// Rotates the tip shown on each splash page.
    tip_counter: AtomicU64,
    /// Whether the village's internet is up, for the pages' notice.
    uplink: UplinkReader,
    /// Open connections per client address, so a login can close the ones
    /// the firewall redirected while the phone was captive (see [`Portal::close_connections_of`]).
    conns: Mutex<HashMap<IpAddr, Vec<(u64, CancellationToken)>>>,
    next_conn: AtomicU64,
}

impl Portal {
    pub fn new(gateway: Arc<Gateway>, ui: Ui, uplink: UplinkReader) -> Arc<Portal> {
        Arc::new(Portal {
            gateway,
            ui,
            tip_counter: AtomicU64::new(0),
            uplink,
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
        })
    }

    /// Close every open connection from `ip` once its current response is
    /// written. Called when a phone logs in: its browser holds keep-alive
    /// connections (even unused, preconnected ones) that the firewall
    /// redirected here while it was captive, and conntrack would keep sending
    /// them to the portal, so the next page the villager opens would show the
    /// portal again. Closed, the browser opens new ones, which go out.
    pub(crate) fn close_connections_of(&self, ip: IpAddr) {
        let conns = self.conns.lock().expect("conns lock");
        for (_, token) in conns.get(&ip).into_iter().flatten() {
            token.cancel();
        }
    }

    fn register(&self, ip: IpAddr) -> (u64, CancellationToken) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        self.conns.lock().expect("conns lock").entry(ip).or_default().push((id, token.clone()));
        (id, token)
    }

    fn unregister(&self, ip: IpAddr, id: u64) {
        let mut conns = self.conns.lock().expect("conns lock");
        if let Some(list) = conns.get_mut(&ip) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                conns.remove(&ip);
            }
        }
    }
}

/// Bind the portal's listener (separately from serving, so start-up errors
/// surface before the daemon reports itself ready).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, PortalError> {
    TcpListener::bind(addr).await.map_err(|source| PortalError::Bind { addr, source })
}

/// Serve until `cancel`, then stop accepting and drain open connections.
/// With `tls`, every connection is a TLS handshake first (the HTTPS portal).
pub async fn serve(listener: TcpListener, portal: Arc<Portal>, cancel: CancellationToken, tls: Option<TlsAcceptor>) {
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
        let tls = tls.clone();
        tracker.spawn(async move {
            match tls {
                None => serve_connection(stream, peer, portal, header_timeout, cancel).await,
                Some(acceptor) => match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(stream, peer, portal, header_timeout, cancel).await,
                    Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => debug!(%peer, "TLS handshake too slow"),
                },
            }
            drop(slot);
        });
    }
    tracker.close();
    tracker.wait().await;
    info!("portal stopped");
}

/// One HTTP/1.1 connection (plain or TLS), with its limits and graceful end.
async fn serve_connection<S>(stream: S, peer: SocketAddr, portal: Arc<Portal>, header_timeout: Duration, cancel: CancellationToken)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (id, closed) = portal.register(peer.ip());
    let handler = portal.clone();
    let service = service_fn(move |req| {
        let portal = handler.clone();
        async move { Ok::<_, Infallible>(routes::handle(&portal, peer, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    // Shutdown, the client logged in (its redirected sockets must go), or too old.
    let time_to_close = async {
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = closed.cancelled() => {}
            _ = tokio::time::sleep(MAX_CONNECTION_LIFE) => {}
        }
    };
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = time_to_close => {
            // Finish the response in flight, then close.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN_TIME, conn.as_mut()).await;
        }
    }
    portal.unregister(peer.ip(), id);
}
