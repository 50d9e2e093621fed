//! The admin listener: HTTPS only (rustls), hyper HTTP/1.1 on the same
//! listener as the portal ([`crate::web::listener`]: a cap on connections in
//! all and per client address, header size and read time, a TLS handshake
//! deadline) with the admin's own limits, a body cap read with a deadline,
//! then one router in front of the three rooms:
//! `/api/...` -> [`api`], `/metrics` -> [`metrics`], everything else ->
//! [`console`]. Every answer gets the security headers.
//!
//! Plain HTTP on this port gets nothing: the TLS handshake fails and the
//! connection closes. No admin route exists on the portal's listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::Request;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use super::console::{self, Console};
use super::core::{auth, Admin};
use super::{api, metrics};
use crate::accounts::Via;
use crate::web::http::{declared_over, read_body, respond, BodyError, Req, Resp};
use crate::web::{self, Limits, Site};

/// Largest request body (JSON, form) accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest request head (request line + headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// A body must arrive within this time.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The TLS handshake and the request head must each arrive within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections in all: a few admins and a Prometheus, not a village.
const MAX_CONNECTIONS: usize = 128;
/// Open connections one client address may hold.
const MAX_CONNECTIONS_PER_CLIENT: usize = 32;
/// A connection lives at most this long (keep-alive included).
const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(300);
/// Time to finish in-flight requests on shutdown.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// What the listener serves: the shared state and the console's loaded
/// pages (the console's own; no other room needs them).
pub struct Server {
    pub admin: Arc<Admin>,
    pub console: Console,
}

/// Route one request (body already read) and add the security headers.
#[instrument(skip_all, fields(peer = %peer, method = %req.method(), path = %req.uri().path()))]
pub async fn route(admin: &Admin, console: &Console, peer: SocketAddr, req: Req) -> Resp {
    let path = req.uri().path().to_owned();
    let who = auth::principal(admin, &req);
    let is_api = path == "/api" || path.starts_with("/api/");
    let mut resp = if path == "/metrics" {
        metrics::handle(admin, who).await
    } else {
        // The metrics token opens /metrics and nothing else.
        let who = who.filter(|p| p.via != Via::MetricsToken);
        if is_api {
            api::handle(admin, peer, who, req).await
        } else {
            console::handle(admin, console, peer, who, req).await
        }
    };
    security_headers(resp.headers_mut(), is_api || path == "/metrics");
    resp
}

/// On every answer ([`web::http::security_headers`]): API and metrics
/// answers are never cached (they hold usage data and tokens) and get a
/// policy that allows nothing; the console sets its own policy, which must
/// still forbid framing.
fn security_headers(h: &mut HeaderMap, no_store: bool) {
    if no_store {
        web::http::security_headers(h, Some("default-src 'none'; frame-ancestors 'none'"), true);
    } else {
        web::http::security_headers(h, None, false);
    }
}

/// The admin listener's limits: a few admins and a Prometheus, not a village.
fn limits() -> Limits {
    Limits {
        name: "admin",
        max_connections: MAX_CONNECTIONS,
        max_connections_per_client: MAX_CONNECTIONS_PER_CLIENT,
        header_timeout: HEADER_TIMEOUT,
        max_head_bytes: MAX_HEAD_BYTES,
        max_connection_life: MAX_CONNECTION_LIFE,
        drain_time: DRAIN_TIME,
    }
}

impl Site for Server {
    /// Read the body (capped, with a deadline: a request too big or too
    /// slow is answered at once and never reaches a handler), then route.
    async fn handle(self: Arc<Self>, peer: SocketAddr, req: Request<Incoming>) -> Resp {
        let is_api = req.uri().path().starts_with("/api");
        let body = if declared_over(&req, MAX_BODY_BYTES) {
            Err(BodyError::TooLarge)
        } else {
            read_body(req, MAX_BODY_BYTES, BODY_TIMEOUT).await
        };
        match body {
            Ok(req) => route(&self.admin, &self.console, peer, req).await,
            Err(e) => {
                let body = match e {
                    BodyError::TooLarge => {
                        r#"{"error":"request body too large (at most 64 KiB)","field":"body"}"#
                    }
                    BodyError::TooSlow => r#"{"error":"request body too slow","field":"body"}"#,
                };
                let mut resp = respond(e.status(), "application/json", body);
                security_headers(resp.headers_mut(), is_api);
                resp
            }
        }
    }
}

/// Serve HTTPS on `listener` until `cancel`, then stop accepting and drain.
pub async fn serve(
    listener: TcpListener,
    admin: Arc<Admin>,
    console: Console,
    tls: TlsAcceptor,
    cancel: CancellationToken,
) {
    let server = Arc::new(Server { admin, console });
    web::serve(listener, limits(), Some(tls), server, cancel).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{self, HeaderValue};
    use hyper::StatusCode;

    #[test]
    fn every_answer_gets_the_security_headers() {
        let mut api = respond(StatusCode::OK, "application/json", "{}");
        security_headers(api.headers_mut(), true);
        let h = api.headers();
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(h[header::STRICT_TRANSPORT_SECURITY]
            .to_str()
            .unwrap()
            .starts_with("max-age="));
        let mut page = respond(StatusCode::OK, "text/html", "<p>");
        page.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'"),
        );
        page.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        security_headers(page.headers_mut(), false);
        assert_eq!(
            page.headers()[header::CONTENT_SECURITY_POLICY],
            "default-src 'self'; frame-ancestors 'none'"
        );
        assert_eq!(
            page.headers()[header::CACHE_CONTROL],
            "max-age=60",
            "the console's own caching (static CSS) stays"
        );
    }
}
