//! The browser's login and logout, one flow for both consoles (the
//! gateway's admin console and the regency office, issue 23): the log-in
//! form's double-submit check, [`Accounts::login`], the session cookie and
//! the 303. What differs between the two programs comes in as parameters
//! (the cookie names, the clock's now, the log label); each console renders
//! a refusal in its own words and pages.
//!
//! Over the web layer's cookies and forms: `accounts -> web` is allowed in
//! `tests/layering.rs` (SAME_LAYER); the web layer itself knows no users.

use std::net::SocketAddr;

use hyper::header::HeaderMap;
use hyper::StatusCode;
use tracing::info;

use super::{Accounts, LoginError, Principal};
use crate::web::cookie::{append_set_cookie, clear_cookie_header, cookie, set_cookie_header};
use crate::web::form::{form_value, parse_form, same_origin};
use crate::web::http::{constant_time_eq, random_token, respond, see_other, Req, Resp};

/// One console's cookie names.
#[derive(Debug, Clone, Copy)]
pub struct Cookies {
    /// The session (Secure, HttpOnly, SameSite=Strict).
    pub session: &'static str,
    /// The log-in form's double-submit token.
    pub login: &'static str,
}

/// How long the log-in form's token (and its cookie) lasts.
pub const LOGIN_TOKEN_MAX_AGE: i64 = 3600;

/// A log-in attempt that did not start a session.
#[derive(Debug)]
pub enum Refused {
    /// The form's token is missing, stale or from another origin (a 403 and
    /// a fresh form; nothing was checked).
    Expired,
    /// [`Accounts::login`] said no.
    Login(LoginError),
}

/// A log-in attempt: the username as typed (trimmed, for the form again)
/// and, when it worked, the 303 to `/` that carries the session cookie.
pub struct Attempt {
    pub username: String,
    pub result: Result<Resp, Refused>,
}

/// May this POST change something? The form's `csrf` field is the session's
/// token and the request does not come from another origin. Checked before
/// any change; a refusal is a 403 and changes nothing.
pub fn csrf_ok(headers: &HeaderMap, principal: &Principal, form: &[(String, String)]) -> bool {
    let sent = form_value(form, "csrf").unwrap_or("");
    !principal.csrf.is_empty()
        && constant_time_eq(sent.as_bytes(), principal.csrf.as_bytes())
        && same_origin(headers)
}

/// The log-in form's check (before there is a session): its `csrf` field
/// equals the `cookies.login` cookie (double submit) and the request does
/// not come from another origin.
pub fn login_csrf_ok(cookies: Cookies, headers: &HeaderMap, form: &[(String, String)]) -> bool {
    let sent = form_value(form, "csrf").unwrap_or("");
    let cookie = cookie(headers, cookies.login).unwrap_or("");
    sent.len() >= 32 && constant_time_eq(sent.as_bytes(), cookie.as_bytes()) && same_origin(headers)
}

/// The browser's log-in token, if it is one we could have made (several
/// tabs share it).
pub fn login_token(cookies: Cookies, headers: &HeaderMap) -> Option<&str> {
    cookie(headers, cookies.login)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The log-in form: `page` rendered with the browser's token (`existing`,
/// from [`login_token`]) or a new one, that token set as the form's cookie.
pub fn login_form(
    cookies: Cookies,
    existing: Option<&str>,
    status: StatusCode,
    page: impl FnOnce(&str) -> String,
) -> Resp {
    let token = existing.map_or_else(random_token, str::to_owned);
    let mut resp = respond(status, "text/html; charset=utf-8", page(&token));
    append_set_cookie(
        resp.headers_mut(),
        &set_cookie_header(cookies.login, &token, LOGIN_TOKEN_MAX_AGE, true),
    );
    resp
}

/// Check a POSTed log-in form and start a session: on success a 303 to `/`
/// with the session cookie (its age from `now`, read after the check) and
/// the form's token cleared; logged as "`label` login".
pub async fn login(
    accounts: &Accounts,
    cookies: Cookies,
    now: impl FnOnce() -> i64,
    label: &str,
    peer: SocketAddr,
    req: &Req,
) -> Attempt {
    let form = parse_form(req.body());
    let username = form_value(&form, "username")
        .unwrap_or("")
        .trim()
        .to_owned();
    if !login_csrf_ok(cookies, req.headers(), &form) {
        return Attempt {
            username,
            result: Err(Refused::Expired),
        };
    }
    let password = form_value(&form, "password").unwrap_or("");
    let result = match accounts.login(&username, password, peer.ip()).await {
        Ok(session) => {
            info!(user = %session.principal.username, %peer, "{label} login");
            let mut resp = see_other("/");
            let h = resp.headers_mut();
            let age = session.expires - now();
            append_set_cookie(
                h,
                &set_cookie_header(cookies.session, &session.token, age, true),
            );
            append_set_cookie(h, &clear_cookie_header(cookies.login));
            Ok(resp)
        }
        Err(e) => Err(Refused::Login(e)),
    };
    Attempt { username, result }
}

/// End a session (`token`, if the browser sent one) and send the browser
/// to `/login` with the session cookie cleared; logged as "`label` logout".
/// The caller has checked the form's CSRF token.
pub fn logout(
    accounts: &Accounts,
    cookies: Cookies,
    label: &str,
    token: Option<&str>,
    principal: Option<&Principal>,
) -> Resp {
    if let Some(token) = token {
        accounts.logout(token);
    }
    if let Some(p) = principal {
        info!(user = %p.username, "{label} logout");
    }
    let mut resp = see_other("/login");
    append_set_cookie(resp.headers_mut(), &clear_cookie_header(cookies.session));
    resp
}
