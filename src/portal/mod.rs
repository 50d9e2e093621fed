//! The portal room: hyper on the villagers' LAN. Every plain-HTTP request a
//! captive phone makes is redirected here by the firewall; the portal
//! answers with the splash page, admits devices, and serves RFC 8908's
//! captive-portal API.
//!
//! Limits keep one slow or junk client from stalling the others: a cap on
//! open connections (in all, and per client address), header size,
//! header-read time, body size and body time.

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
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The HTTPS certificate or key could not be used.
    #[error("portal TLS: {path}: {message}")]
    Tls {
        path: std::path::PathBuf,
        message: String,
    },
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
    /// The text of `/proc/net/arp` to use instead of the kernel's (fuzzing only).
    neighbours: Option<String>,
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
            neighbours: None,
        })
    }

    /// FUZZING SEAM: a portal that finds clients' MACs in `neighbours` (the
    /// text of a `/proc/net/arp`) instead of the kernel's table, so a fuzzer
    /// can play a phone on the LAN without a LAN. Not for the daemon.
    #[doc(hidden)]
    pub fn with_neighbour_table(
        gateway: Arc<Gateway>,
        ui: Ui,
        uplink: UplinkReader,
        neighbours: String,
    ) -> Arc<Portal> {
        let mut portal = Portal::new(gateway, ui, uplink);
        Arc::get_mut(&mut portal).expect("just made").neighbours = Some(neighbours);
        portal
    }

    /// The client's MAC on the LAN, from the kernel's neighbour table.
    fn mac_of(&self, ip: std::net::Ipv4Addr) -> Option<crate::domain::Mac> {
        let lan = &self.gateway.config().network.lan_interface;
        match &self.neighbours {
            None => crate::neighbor::mac_of(ip, lan),
            Some(table) => crate::neighbor::lookup(table, ip, lan),
        }
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
        self.conns
            .lock()
            .expect("conns lock")
            .entry(ip)
            .or_default()
            .push((id, token.clone()));
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

/// Open connections per client address, at most `max` each: 500 half-open
/// sockets from one phone must not take the slots every other phone needs.
/// (Each phone has its own address on the village LAN; there is no NAT.)
/// The admin listener uses the same cap.
pub(crate) struct ClientSlots {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`ClientSlots`], given back when dropped.
pub(crate) struct ClientSlot {
    slots: Arc<ClientSlots>,
    ip: IpAddr,
}

impl ClientSlots {
    pub(crate) fn new(max: usize) -> Arc<ClientSlots> {
        Arc::new(ClientSlots {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, or `None` if it holds `max`.
    pub(crate) fn try_take(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let mut open = self.open.lock().expect("client slots lock");
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            slots: self.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().expect("client slots lock");
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Bind the portal's listener (separately from serving, so start-up errors
/// surface before the daemon reports itself ready).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, PortalError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| PortalError::Bind { addr, source })
}

/// Serve until `cancel`, then stop accepting and drain open connections.
/// With `tls`, every connection is a TLS handshake first (the HTTPS portal).
pub async fn serve(
    listener: TcpListener,
    portal: Arc<Portal>,
    cancel: CancellationToken,
    tls: Option<TlsAcceptor>,
) {
    let config = portal.gateway.config();
    let max_connections = config.portal.max_connections;
    let per_client = config.portal.max_connections_per_client;
    let header_timeout = config.portal.header_timeout;
    let slots = Arc::new(Semaphore::new(max_connections));
    let client_slots = ClientSlots::new(per_client);
    let tracker = TaskTracker::new();
    info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), max_connections, per_client, "portal listening");
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
        // The client's own cap first, so a greedy client never holds a global slot.
        let Some(client_slot) = client_slots.try_take(peer.ip()) else {
            debug!(%peer, per_client, "per-client connection limit reached; closing");
            drop(stream);
            continue;
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
                None => serve_connection(stream, peer, portal, header_timeout, cancel, false).await,
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, portal, header_timeout, cancel, false)
                                .await
                        }
                        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake too slow"),
                    }
                }
            }
            drop((slot, client_slot));
        });
    }
    tracker.close();
    tracker.wait().await;
    info!("portal stopped");
}

/// FUZZING SEAM: serve one already-accepted connection from `peer` as
/// [`serve`] would (same hyper settings, limits and routes), e.g. over a
/// `tokio::io::duplex` carrying a fuzzer's bytes. One difference: a
/// half-close (EOF after the last byte) still gets its answers, so the
/// fuzzer can end its input with EOF; the daemon drops a request whose
/// client closes mid-way (hyper's default). Not for the daemon.
#[doc(hidden)]
pub async fn serve_stream<S>(stream: S, peer: SocketAddr, portal: Arc<Portal>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = portal.gateway.config().portal.header_timeout;
    serve_connection(
        stream,
        peer,
        portal,
        header_timeout,
        CancellationToken::new(),
        true,
    )
    .await
}

/// One HTTP/1.1 connection (plain or TLS), with its limits and graceful end.
async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    portal: Arc<Portal>,
    header_timeout: Duration,
    cancel: CancellationToken,
    half_close: bool,
) where
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
        .half_close(half_close)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_cannot_take_every_slot() {
        let slots = ClientSlots::new(3);
        let greedy: IpAddr = "10.77.0.12".parse().unwrap();
        let held: Vec<ClientSlot> = (0..3)
            .map(|_| slots.try_take(greedy).expect("under the cap"))
            .collect();
        assert!(
            slots.try_take(greedy).is_none(),
            "a 4th connection from the same phone is refused"
        );
        let other = slots.try_take("10.77.0.11".parse().unwrap());
        assert!(other.is_some(), "another phone still gets in");
        drop(held);
        let again = slots.try_take(greedy);
        assert!(again.is_some(), "closed connections give their slots back");
        drop(other);
        assert_eq!(
            slots.open.lock().unwrap().get(&greedy),
            Some(&1),
            "only the live slot is counted"
        );
        drop(again);
        assert!(
            slots.open.lock().unwrap().is_empty(),
            "no entry left for clients without connections"
        );
    }
}
