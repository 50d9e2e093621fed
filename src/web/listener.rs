//! One listener for both edges: an accept loop that backs off on accept
//! errors (EMFILE and friends) instead of spinning, a cap on open
//! connections in all and per client address ([`ClientSlots`]), an optional
//! TLS handshake with a deadline, hyper HTTP/1.1 with a header-size cap and a
//! header-read deadline, a longest connection life, and on shutdown: stop
//! accepting, let each connection finish its response in flight, wait for
//! them all (within a drain time).
//!
//! What a connection serves is a [`Site`]: the portal and the admin room
//! each implement it; the limits are theirs ([`Limits`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::http::Resp;

/// How long to wait after a failed accept before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The limits one listener keeps; each edge sets its own.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The listener's name in logs ("portal", "admin").
    pub name: &'static str,
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections one client address may hold.
    pub max_connections_per_client: usize,
    /// The TLS handshake and each request head must arrive within this time.
    pub header_timeout: Duration,
    /// Largest request head (request line + headers).
    pub max_head_bytes: usize,
    /// A connection lives at most this long (keep-alive included).
    pub max_connection_life: Duration,
    /// Time to finish in-flight requests on shutdown (or at end of life).
    pub drain_time: Duration,
}

/// What a listener serves: one handler for every request, and optionally a
/// watch on each connection (the portal closes a phone's connections once
/// it logs in).
pub trait Site: Send + Sync + 'static {
    /// Answer one request from `peer`.
    fn handle(
        self: Arc<Self>,
        peer: SocketAddr,
        req: Request<Incoming>,
    ) -> impl Future<Output = Resp> + Send;

    /// Whose connection this is, for the per-client cap: by default its
    /// address. The portal says the device (its MAC on the LAN), so a phone
    /// that adds addresses still has one share (issue 22).
    fn client_key(&self, peer: SocketAddr) -> ClientKey {
        ClientKey::Addr(peer.ip())
    }

    /// Called when a connection from `peer` opens; the returned [`Watch`]
    /// lives as long as the connection. Default: nothing watches it.
    fn watch(&self, _peer: SocketAddr) -> Watch {
        Watch::none()
    }
}

/// A site's hold on one open connection: cancelling `close` ends the
/// connection after its response in flight; `release` runs when it ends.
pub struct Watch {
    close: CancellationToken,
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl Watch {
    /// No watch: the connection ends by itself, by its life or by shutdown.
    pub fn none() -> Watch {
        Watch {
            close: CancellationToken::new(),
            release: None,
        }
    }

    /// Close on `close`; call `release` once the connection is gone.
    pub fn new(close: CancellationToken, release: impl FnOnce() + Send + 'static) -> Watch {
        Watch {
            close,
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// Serve `site` on `listener` until `shutdown`, then stop accepting and
/// drain open connections. With `tls`, every connection is a TLS handshake
/// first (within `limits.header_timeout`).
pub async fn serve<S: Site>(
    listener: TcpListener,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    site: Arc<S>,
    shutdown: CancellationToken,
) {
    let name = limits.name;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let client_slots = ClientSlots::new(limits.max_connections_per_client);
    let limits = Arc::new(limits);
    let tracker = TaskTracker::new();
    info!(
        listener = name,
        addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        tls = tls.is_some(),
        max_connections = limits.max_connections,
        per_client = limits.max_connections_per_client,
        "listening"
    );
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!(listener = name, error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // The client's own cap first, so a greedy client never holds a global slot.
        let Some(client_slot) = client_slots.try_take(site.client_key(peer)) else {
            debug!(listener = name, %peer, "per-client connection limit reached; closing");
            drop(stream);
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(listener = name, %peer, "connection limit reached; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (site, limits, shutdown, tls) =
            (site.clone(), limits.clone(), shutdown.clone(), tls.clone());
        tracker.spawn(async move {
            match tls {
                None => serve_connection(stream, peer, site, &limits, shutdown, false).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, site, &limits, shutdown, false).await
                        }
                        Ok(Err(e)) => {
                            debug!(listener = limits.name, %peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => debug!(listener = limits.name, %peer, "TLS handshake too slow"),
                    }
                }
            }
            drop((slot, client_slot));
        });
    }
    tracker.close();
    tracker.wait().await;
    info!(listener = name, "stopped");
}

/// One HTTP/1.1 connection (plain or TLS, already accepted), with its
/// limits and graceful end. `half_close`: answer requests after the client
/// half-closed its side (fuzzing over a duplex); the listener never does.
pub async fn serve_connection<S, T>(
    stream: T,
    peer: SocketAddr,
    site: Arc<S>,
    limits: &Limits,
    shutdown: CancellationToken,
    half_close: bool,
) where
    S: Site,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let watch = site.watch(peer);
    let service = service_fn(move |req| {
        let site = site.clone();
        async move { Ok::<_, Infallible>(site.handle(peer, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_head_bytes)
        .half_close(half_close)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    // Shutdown, the site wants it closed, or too old.
    let time_to_close = async {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = watch.close.cancelled() => {}
            _ = tokio::time::sleep(limits.max_connection_life) => {}
        }
    };
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                debug!(listener = limits.name, %peer, error = %e, "connection ended with an error");
            }
        }
        _ = time_to_close => {
            // Finish the response in flight, then close.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.drain_time, conn.as_mut()).await;
        }
    }
    drop(watch);
}

/// Who holds a connection, for [`ClientSlots`]: a device (its MAC) where the
/// site knows it, else the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    Addr(IpAddr),
    Device([u8; 6]),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> ClientKey {
        ClientKey::Addr(ip)
    }
}

/// Open connections per client, at most `max` each: 500 half-open
/// sockets from one phone must not take the slots every other phone needs.
/// (Each phone has its own address on the village LAN; there is no NAT.)
pub struct ClientSlots {
    max: usize,
    open: Mutex<HashMap<ClientKey, usize>>,
}

/// One connection's place in [`ClientSlots`], given back when dropped.
pub struct ClientSlot {
    slots: Arc<ClientSlots>,
    key: ClientKey,
}

impl ClientSlots {
    /// Room for `max` connections per client address.
    pub fn new(max: usize) -> Arc<ClientSlots> {
        Arc::new(ClientSlots {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection of `key`, or `None` if it holds `max`.
    pub fn try_take(self: &Arc<Self>, key: impl Into<ClientKey>) -> Option<ClientSlot> {
        let key = key.into();
        let mut open = self.open.lock().expect("client slots lock");
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            slots: self.clone(),
            key,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().expect("client slots lock");
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use hyper::StatusCode;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::web::http::respond;

    /// Answers every request with 200 "ok".
    struct Ok200;

    impl Site for Ok200 {
        async fn handle(self: Arc<Self>, _peer: SocketAddr, _req: Request<Incoming>) -> Resp {
            respond(StatusCode::OK, "text/plain", "ok")
        }
    }

    fn limits(per_client: usize, header_timeout: Duration) -> Limits {
        Limits {
            name: "test",
            max_connections: 8,
            max_connections_per_client: per_client,
            header_timeout,
            max_head_bytes: 16 * 1024,
            max_connection_life: Duration::from_secs(60),
            drain_time: Duration::from_secs(1),
        }
    }

    /// Read until the server closes (or resets) the connection; what came.
    async fn read_to_close(s: &mut TcpStream) -> String {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn get(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        read_to_close(&mut s).await
    }

    #[tokio::test]
    async fn the_per_client_cap_holds_and_shutdown_drains() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            limits(2, Duration::from_secs(30)),
            None,
            Arc::new(Ok200),
            shutdown.clone(),
        ));
        assert!(get(addr).await.starts_with("HTTP/1.1 200"));
        // Two half-sent request heads hold this client's two slots ...
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            held.push(s);
        }
        // ... so a third connection is closed unanswered.
        assert_eq!(get(addr).await, "", "over the per-client cap");
        // One closed gives its slot back.
        drop(held.remove(0));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let answer = get(addr).await;
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
            assert!(Instant::now() < deadline, "the slot never came back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Shutdown: stop accepting, and serve() returns within the drain time
        // even though a client still holds a half-sent request.
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve() drained and returned")
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
        drop(held);
    }

    #[tokio::test]
    async fn a_tls_handshake_must_come_in_time() {
        let dir = std::env::temp_dir().join(format!("desawifi-listener-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let made = crate::web::tls::acceptor(&cert_path, &key_path).unwrap();
        let err = crate::web::tls::acceptor(&key_path, &key_path)
            .err()
            .unwrap();
        assert_eq!(err.path, key_path);
        assert!(err.message.contains("no certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            limits(4, Duration::from_millis(300)),
            Some(made.acceptor),
            Arc::new(Ok200),
            shutdown.clone(),
        ));
        // Silent after connecting: cut off at the handshake deadline.
        let started = Instant::now();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_to_close(&mut silent).await, "");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(4),
            "closed after {waited:?}"
        );
        // Plain HTTP on the TLS port gets no HTTP answer.
        let answer = get(addr).await;
        assert!(!answer.contains("HTTP/1.1"), "{answer:?}");
        shutdown.cancel();
        server.await.unwrap();
    }

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
        let other = slots.try_take("10.77.0.11".parse::<IpAddr>().unwrap());
        assert!(other.is_some(), "another phone still gets in");
        drop(held);
        let again = slots.try_take(greedy);
        assert!(again.is_some(), "closed connections give their slots back");
        drop(other);
        assert_eq!(
            slots.open.lock().unwrap().get(&ClientKey::Addr(greedy)),
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
