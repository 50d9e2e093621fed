//! Who is asking, and may they change things: the principal from
//! `Authorization: Bearer <session token>`, the `desawifi_admin` cookie or
//! the `[admin] metrics_token` (`/metrics` only), and the CSRF header a
//! cookie-authenticated API change must carry. (The console's forms carry
//! their token in a field; their check is the console's.)

use hyper::header::{self, HeaderMap, HeaderValue};

use super::Admin;
use crate::accounts::{Principal, Via};
use crate::domain::Role;
use crate::web::cookie::{self, cookie};
use crate::web::http::{constant_time_eq, Req};

/// The session cookie's name.
pub const COOKIE: &str = "desawifi_admin";
/// The header a cookie-authenticated change must carry (the session's CSRF token).
pub const CSRF_HEADER: &str = "x-csrf-token";

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
                    role: Role::Viewer,
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
    cookie::set_cookie_header(COOKIE, token, max_age_secs, true)
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie_header() -> String {
    cookie::clear_cookie_header(COOKIE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Bytes;
    use hyper::Request;

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
            role: crate::domain::Role::Admin,
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
}
