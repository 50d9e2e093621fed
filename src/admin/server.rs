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
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::Request;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use super::accounts::Accounts;
use super::{api, console, metrics, Principal, Via};
use crate::gateway::Gateway;
use crate::uplink::UplinkReader;
pub use crate::web::cookie::cookie;
pub use crate::web::http::{constant_time_eq, respond, Req, Resp};
use crate::web::http::{declared_over, read_body, BodyError};
use crate::web::{self, Limits, Site};

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
    /// The regency policy in force and the last refusal (issue 14).
    pub policy: super::policy_pull::PolicyStatus,
}

impl Admin {
    pub fn new(
        gateway: Arc<Gateway>,
        accounts: Accounts,
        uplink: UplinkReader,
        console: console::Console,
    ) -> Arc<Admin> {
        let policy = super::policy_pull::PolicyStatus::load(
            accounts.admin_store(),
            gateway.config().fleet_policy.is_some(),
        );
        Arc::new(Admin {
            policy,
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
    web::cookie::set_cookie_header(COOKIE, token, max_age_secs, true)
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie_header() -> String {
    web::cookie::clear_cookie_header(COOKIE)
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

impl Site for Admin {
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
            Ok(req) => route(&self, peer, req).await,
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
    tls: TlsAcceptor,
    cancel: CancellationToken,
) {
    web::serve(listener, limits(), Some(tls), admin, cancel).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Bytes;
    use hyper::StatusCode;

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
