//! The admin listener: HTTPS only (rustls), hyper HTTP/1.1, the same
//! discipline as the portal (a cap on connections in all and per client
//! address, header size and read time, a TLS handshake deadline, a body cap
//! read with a deadline), then one router in front of the three rooms:
//! `/api/...` -> [`api`], `/metrics` -> [`metrics`], everything else ->
//! [`console`]. Every answer gets the security headers.
//!
//! Plain HTTP on this port gets nothing: the TLS handshake fails and the
//! connection closes. No admin route exists on the portal's listener.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, instrument, warn};

use super::accounts::Accounts;
use super::{api, console, metrics, Principal, Via};
use crate::gateway::Gateway;
use crate::portal::ClientSlots;
use crate::uplink::UplinkReader;

/// A request with its body already read (at most [`MAX_BODY_BYTES`]).
pub type Req = Request<Bytes>;
/// Every admin answer: a whole body in memory.
pub type Resp = Response<Full<Bytes>>;

/// The session cookie's name.
pub const COOKIE: &str = "desawifi_admin";
/// The header a cookie-authenticated change must carry (the session's CSRF token).
pub const CSRF_HEADER: &str = "x-csrf-token";
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

/// Everything the admin rooms' handlers share.
pub struct Admin {
    pub gateway: Arc<Gateway>,
    pub accounts: Accounts,
    pub uplink: UplinkReader,
    pub console: console::Console,
}

impl Admin {
    pub fn new(
        gateway: Arc<Gateway>,
        accounts: Accounts,
        uplink: UplinkReader,
        console: console::Console,
    ) -> Arc<Admin> {
        Arc::new(Admin {
            gateway,
            accounts,
            uplink,
            console,
        })
    }
}

/// Who sent `req`: `Authorization: Bearer <session token>` (or the
/// `[admin] metrics_token`, which gives the `metrics` viewer that only
/// `/metrics` accepts), else the `desawifi_admin` cookie. A request that
/// sends a bearer token that is not valid is nobody (no cookie fallback).
pub fn principal(admin: &Admin, req: &Req) -> Option<Principal> {
    if let Some(token) = bearer_token(req.headers()) {
        if let Some(expected) = &admin.gateway.config().admin.metrics_token {
            if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
                return Some(Principal {
                    username: "metrics".into(),
                    role: super::Role::Viewer,
                    csrf: String::new(),
                    via: Via::MetricsToken,
                });
            }
        }
        return admin.accounts.authenticate(token, Via::Bearer);
    }
    let token = session_cookie(req.headers())?;
    admin.accounts.authenticate(token, Via::Cookie)
}

/// The session token this request authenticates with (bearer or cookie), for logout.
pub fn session_token(req: &Req) -> Option<&str> {
    bearer_token(req.headers()).or_else(|| session_cookie(req.headers()))
}

/// `Authorization: Bearer <token>` (the scheme is case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The `desawifi_admin` cookie's value, from any `Cookie` header.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE).filter(|v| !v.is_empty())
}

/// The value of cookie `name` in a request's `Cookie` headers (the console's
/// language and login cookies too).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, value)| value.trim())
}

/// Does a cookie-authenticated change carry its session's CSRF token?
/// (Bearer requests need none: a browser never adds that header by itself.)
pub fn csrf_ok(principal: &Principal, req: &Req) -> bool {
    match principal.via {
        Via::Bearer => true,
        Via::MetricsToken => false,
        Via::Cookie => {
            let sent = req
                .headers()
                .get(CSRF_HEADER)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            !principal.csrf.is_empty() && constant_time_eq(sent, principal.csrf.as_bytes())
        }
    }
}

/// The `Set-Cookie` value that starts a browser session.
pub fn session_cookie_header(token: &str, max_age_secs: i64) -> String {
    format!(
        "{COOKIE}={token}; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        max_age_secs.max(0)
    )
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie_header() -> String {
    format!("{COOKIE}=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Equal without an early exit, so the time taken does not reveal how much
/// of a guessed token was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Route one request (body already read) and add the security headers.
#[instrument(skip_all, fields(peer = %peer, method = %req.method(), path = %req.uri().path()))]
pub async fn route(admin: &Admin, peer: SocketAddr, req: Req) -> Resp {
    let path = req.uri().path().to_owned();
    let who = principal(admin, &req);
    let is_api = path == "/api" || path.starts_with("/api/");
    let mut resp = if path == "/metrics" {
        metrics::handle(admin, who).await
    } else {
        // The metrics token opens /metrics and nothing else.
        let who = who.filter(|p| p.via != Via::MetricsToken);
        if is_api {
            api::handle(admin, peer, who, req).await
        } else {
            console::handle(admin, peer, who, req).await
        }
    };
    security_headers(resp.headers_mut(), is_api || path == "/metrics");
    resp
}

/// On every answer: HTTPS only from now on, no MIME sniffing, never in a
/// frame (clickjacking a quota form), no referrer; API and metrics answers
/// are never cached (they hold usage data and tokens).
fn security_headers(h: &mut HeaderMap, no_store: bool) {
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if no_store {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else {
        // The console sets its own policy; it must still forbid framing.
        match h
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
        {
            Some(csp) if csp.contains("frame-ancestors") => {}
            Some(csp) => {
                if let Ok(v) = HeaderValue::from_str(&format!("{csp}; frame-ancestors 'none'")) {
                    h.insert(header::CONTENT_SECURITY_POLICY, v);
                }
            }
            None => {
                h.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("frame-ancestors 'none'"),
                );
            }
        }
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
}

/// A small JSON or text answer.
pub fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Read the body (capped, with a deadline): a request too big or too slow
/// is answered at once and never reaches a handler.
async fn read_body(req: Request<Incoming>) -> Result<Req, Resp> {
    let too_large = || {
        respond(
            StatusCode::PAYLOAD_TOO_LARGE,
            "application/json",
            r#"{"error":"request body too large (at most 64 KiB)","field":"body"}"#,
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Ok(Ok(collected)) => Ok(Request::from_parts(parts, collected.to_bytes())),
        Ok(Err(_)) => Err(too_large()),
        Err(_) => Err(respond(
            StatusCode::REQUEST_TIMEOUT,
            "application/json",
            r#"{"error":"request body too slow","field":"body"}"#,
        )),
    }
}

/// Serve HTTPS on `listener` until `cancel`, then stop accepting and drain.
pub async fn serve(
    listener: TcpListener,
    admin: Arc<Admin>,
    tls: TlsAcceptor,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let client_slots = ClientSlots::new(MAX_CONNECTIONS_PER_CLIENT);
    let tracker = TaskTracker::new();
    info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "admin listening (HTTPS)");
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(client_slot) = client_slots.try_take(peer.ip()) else {
            debug!(%peer, "admin: per-client connection limit reached; closing");
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(%peer, "admin: connection limit reached; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (admin, cancel, tls) = (admin.clone(), cancel.clone(), tls.clone());
        tracker.spawn(async move {
            match tokio::time::timeout(HEADER_TIMEOUT, tls.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(stream, peer, admin, cancel).await,
                Ok(Err(e)) => debug!(%peer, error = %e, "admin: TLS handshake failed"),
                Err(_) => debug!(%peer, "admin: TLS handshake too slow"),
            }
            drop((slot, client_slot));
        });
    }
    tracker.close();
    tracker.wait().await;
    info!("admin listener stopped");
}

/// One HTTP/1.1 connection over TLS, with its limits and graceful end.
async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    admin: Arc<Admin>,
    cancel: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let admin = admin.clone();
        async move {
            let is_api = req.uri().path().starts_with("/api");
            let resp = match read_body(req).await {
                Ok(req) => route(&admin, peer, req).await,
                Err(mut resp) => {
                    security_headers(resp.headers_mut(), is_api);
                    resp
                }
            };
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                debug!(%peer, error = %e, "admin connection ended with an error");
            }
        }
        _ = async {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(MAX_CONNECTION_LIFE) => {}
            }
        } => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN_TIME, conn.as_mut()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Req {
        let mut b = Request::builder().uri("/api/devices");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Bytes::new()).unwrap()
    }

    #[test]
    fn tokens_come_from_bearer_or_the_cookie() {
        assert_eq!(
            bearer_token(req(&[("authorization", "Bearer abc")]).headers()),
            Some("abc")
        );
        assert_eq!(
            bearer_token(req(&[("authorization", "bearer  abc ")]).headers()),
            Some("abc")
        );
        assert_eq!(
            bearer_token(req(&[("authorization", "Basic abc")]).headers()),
            None
        );
        assert_eq!(
            bearer_token(req(&[("authorization", "Bearer ")]).headers()),
            None
        );
        assert_eq!(
            session_cookie(req(&[("cookie", "a=1; desawifi_admin=tok; b=2")]).headers()),
            Some("tok")
        );
        assert_eq!(
            session_cookie(req(&[("cookie", "a=1"), ("cookie", "desawifi_admin=tok")]).headers()),
            Some("tok")
        );
        assert_eq!(
            session_cookie(req(&[("cookie", "xdesawifi_admin=tok")]).headers()),
            None
        );
        assert_eq!(
            session_token(&req(&[
                ("cookie", "desawifi_admin=c"),
                ("authorization", "Bearer b")
            ])),
            Some("b")
        );
    }

    #[test]
    fn csrf_is_needed_for_cookies_only() {
        let p = |via| Principal {
            username: "ani".into(),
            role: super::super::Role::Admin,
            csrf: "s3cret".into(),
            via,
        };
        assert!(csrf_ok(&p(Via::Bearer), &req(&[])));
        assert!(!csrf_ok(&p(Via::Cookie), &req(&[])));
        assert!(!csrf_ok(
            &p(Via::Cookie),
            &req(&[("x-csrf-token", "wrong!")])
        ));
        assert!(csrf_ok(
            &p(Via::Cookie),
            &req(&[("x-csrf-token", "s3cret")])
        ));
        assert!(!csrf_ok(
            &p(Via::MetricsToken),
            &req(&[("x-csrf-token", "s3cret")])
        ));
    }

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
