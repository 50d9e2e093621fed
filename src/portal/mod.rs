//! The portal room: hyper on the villagers' LAN. Every plain-HTTP request a
//! captive phone makes is redirected here by the firewall; the portal
//! answers with the splash page, admits devices, and serves RFC 8908's
//! captive-portal API.
//!
//! Limits keep one slow or junk client from stalling the others: a cap on
//! open connections (in all, and per client address), header size,
//! header-read time, body size and body time.

mod hours;
mod limit;
mod origin;
mod pages;
mod power;
pub mod quiz;
mod quiz_card;
mod routes;
pub mod tls;
pub mod ui;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::uplink::UplinkReader;
use crate::web::{self, http::Resp, Limits, Site, Watch};
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

/// Open connections per client address, each with the token that closes it.
type Conns = Mutex<HashMap<IpAddr, Vec<(u64, CancellationToken)>>>;

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
    conns: Arc<Conns>,
    next_conn: AtomicU64,
    /// The text of `/proc/net/arp` to use instead of the kernel's (fuzzing only).
    neighbours: Option<String>,
    /// The per-device limit on the forms (`limit.rs`).
    posts: limit::PostLimit,
}

impl Portal {
    pub fn new(gateway: Arc<Gateway>, ui: Ui, uplink: UplinkReader) -> Arc<Portal> {
        Arc::new(Portal {
            gateway,
            ui,
            tip_counter: AtomicU64::new(0),
            uplink,
            conns: Arc::new(Mutex::new(HashMap::new())),
            next_conn: AtomicU64::new(0),
            neighbours: None,
            posts: limit::PostLimit::default(),
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
}

/// Forget connection `id` of `ip` (it has ended).
fn unregister(conns: &Conns, ip: IpAddr, id: u64) {
    let mut conns = conns.lock().expect("conns lock");
    if let Some(list) = conns.get_mut(&ip) {
        list.retain(|(i, _)| *i != id);
        if list.is_empty() {
            conns.remove(&ip);
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

/// The portal's listener limits, from `[portal]`.
fn limits(portal: &Portal) -> Limits {
    let config = &portal.gateway.config().portal;
    Limits {
        name: "portal",
        max_connections: config.max_connections,
        max_connections_per_client: config.max_connections_per_client,
        header_timeout: config.header_timeout,
        max_head_bytes: MAX_HEAD_BYTES,
        max_connection_life: MAX_CONNECTION_LIFE,
        drain_time: DRAIN_TIME,
    }
}

impl Site for Portal {
    async fn handle(self: Arc<Self>, peer: SocketAddr, req: Request<Incoming>) -> Resp {
        routes::handle(&self, peer, req).await
    }

    /// A phone's connections count against one per-device cap (its MAC from
    /// the neighbour table), however many addresses it adds (issue 22).
    fn client_key(&self, peer: SocketAddr) -> web::ClientKey {
        match peer.ip() {
            IpAddr::V4(ip) => self
                .mac_of(ip)
                .map_or(web::ClientKey::Addr(peer.ip()), |mac| {
                    web::ClientKey::Device(mac.0)
                }),
            IpAddr::V6(_) => web::ClientKey::Addr(peer.ip()),
        }
    }

    /// Every connection is registered under its client's address, so a
    /// login can close the ones the firewall redirected here while captive.
    fn watch(&self, peer: SocketAddr) -> Watch {
        let (id, token) = self.register(peer.ip());
        let conns = self.conns.clone();
        Watch::new(token, move || unregister(&conns, peer.ip(), id))
    }
}

/// Serve until `cancel`, then stop accepting and drain open connections.
/// With `tls`, every connection is a TLS handshake first (the HTTPS portal).
pub async fn serve(
    listener: TcpListener,
    portal: Arc<Portal>,
    cancel: CancellationToken,
    tls: Option<TlsAcceptor>,
) {
    let limits = limits(&portal);
    web::serve(listener, limits, tls, portal, cancel).await
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
    let limits = limits(&portal);
    web::listener::serve_connection(
        stream,
        peer,
        portal,
        &limits,
        CancellationToken::new(),
        true,
    )
    .await
}
