//! The office's HTTPS side: one [`Site`] on the shared listener
//! ([`crate::web::listener`]), the login and logout through the shared
//! [`Accounts`], and the two pages. Every answer is a page (never a 500):
//! the store unreachable is a notice on the page itself.
//!
//! Sessions: the `desawifi_regency` cookie (Secure, HttpOnly,
//! SameSite=Strict). Forms: the log-in form carries a double-submit token
//! (its cookie), every other form the session's CSRF token; a POST without
//! it is a 403 that changes nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use jiff::tz::TimeZone;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::console::{Console, Frame};
use super::enrol::{self, Refusal};
use super::manage::Setup;
use super::prom::Prom;
use super::registry::VillageBook;
use super::registry::{check_name, NameError, Registered};
use super::{village, villages};
use crate::accounts::web::{self as accounts_web, csrf_ok, Cookies, Refused};
use crate::accounts::{Accounts, LoginError, Principal, Via};
use crate::clock::Clock;
use crate::config::office::OfficeVillages;
use crate::lang::Language;
use crate::web::cookie::{cookie, set_cookie_header};
use crate::web::form::{form_value, parse_form, percent_decode};
use crate::web::http::{declared_over, read_body, respond, Req, Resp};
use crate::web::{self, Limits, Site};

/// The session cookie.
pub const SESSION_COOKIE: &str = "desawifi_regency";
/// The log-in form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "desawifi_regency_login";
/// The language picked with `?lang=`.
pub const LANG_COOKIE: &str = "desawifi_regency_lang";
/// Nothing but our stylesheet and forms; no script at all; never in a frame.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";
/// Largest request body (the log-in form).
const MAX_BODY_BYTES: usize = 16 * 1024;
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest village name taken from a path (the store's label values are shorter).
const MAX_NAME: usize = 256;

/// Everything a request may need.
pub struct Office {
    pub accounts: Accounts,
    pub prom: Prom,
    pub console: Console,
    pub regency: String,
    pub tz: TimeZone,
    pub clock: Arc<dyn Clock>,
    /// The villages this office added (its own store, through the wiring).
    pub book: Arc<dyn VillageBook>,
    /// What adding a village writes and shows (`[prometheus] web_config_file`, ...).
    pub setup: OfficeVillages,
}

/// The listener's limits: a few officers, not a village.
fn limits() -> Limits {
    Limits {
        name: "regency",
        max_connections: 128,
        max_connections_per_client: 32,
        header_timeout: Duration::from_secs(10),
        max_head_bytes: 16 * 1024,
        max_connection_life: Duration::from_secs(300),
        drain_time: Duration::from_secs(5),
    }
}

/// Serve HTTPS on `listener` until `cancel`, then drain.
pub async fn serve(
    listener: TcpListener,
    office: Arc<Office>,
    tls: TlsAcceptor,
    cancel: CancellationToken,
) {
    web::serve(listener, limits(), Some(tls), office, cancel).await
}

impl Site for Office {
    async fn handle(self: Arc<Self>, peer: SocketAddr, req: Request<Incoming>) -> Resp {
        let body = if declared_over(&req, MAX_BODY_BYTES) {
            Err(web::http::BodyError::TooLarge)
        } else {
            read_body(req, MAX_BODY_BYTES, BODY_TIMEOUT).await
        };
        let mut resp = match body {
            Ok(req) => route(&self, peer, req).await,
            Err(e) => respond(
                e.status(),
                "text/plain; charset=utf-8",
                "request body too large or too slow\n",
            ),
        };
        web::http::security_headers(resp.headers_mut(), Some(CSP), false);
        resp
    }
}

struct Ctx<'a> {
    office: &'a Office,
    lang: Language,
    principal: Option<Principal>,
    path: String,
}

impl Ctx<'_> {
    fn frame(&self) -> Frame<'_> {
        Frame {
            lang: self.lang,
            regency: &self.office.regency,
            principal: self.principal.as_ref(),
            path: &self.path,
        }
    }

    fn message(&self, status: StatusCode, title: &str, message: &str) -> Resp {
        html(
            status,
            self.office
                .console
                .message_page(&self.frame(), title, message),
        )
    }

    fn text(&self, key: &'static str) -> String {
        self.office.console.text(self.lang, key).to_owned()
    }
}

async fn route(office: &Office, peer: SocketAddr, req: Req) -> Resp {
    let query = parse_form(req.uri().query().unwrap_or("").as_bytes());
    let picked: Option<Language> = form_value(&query, "lang").and_then(|l| l.parse().ok());
    let lang = picked
        .or_else(|| cookie(req.headers(), LANG_COOKIE).and_then(|l| l.parse().ok()))
        .unwrap_or_default();
    let principal = cookie(req.headers(), SESSION_COOKIE)
        .filter(|t| !t.is_empty())
        .and_then(|t| office.accounts.authenticate(t, Via::Cookie));
    let ctx = Ctx {
        office,
        lang,
        principal,
        path: req.uri().path().to_owned(),
    };
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    let post = *req.method() == Method::POST;
    let path = ctx.path.clone();
    let mut resp = match (get, post, path.as_str()) {
        (true, _, "/style.css") => {
            let mut r = respond(
                StatusCode::OK,
                "text/css; charset=utf-8",
                office.console.css().to_owned(),
            );
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=3600"),
            );
            r
        }
        (true, _, "/login") => match ctx.principal {
            Some(_) => redirect("/"),
            None => login_form(&ctx, login_cookie(req.headers()), StatusCode::OK, "", None),
        },
        (_, true, "/login") => login(&ctx, peer, &req).await,
        (_, true, _) => match &ctx.principal {
            Some(p) if csrf_ok(req.headers(), p, &parse_form(req.body())) => match path.as_str() {
                "/logout" => logout(&ctx, &req),
                "/desa-desa" => add_village(&ctx, &req).await,
                "/desa-desa/pensiun" => retire_village(&ctx, &req).await,
                _ => ctx.message(StatusCode::NOT_FOUND, "not_found_title", "not_found"),
            },
            // No session, or no (or a wrong) token: refused, nothing changes.
            _ => ctx.message(StatusCode::FORBIDDEN, "forbidden_title", "forbidden"),
        },
        (true, _, _) if ctx.principal.is_none() => redirect("/login"),
        (true, _, "/") => villages_page(&ctx).await,
        (true, _, "/desa-desa") => manage_page(&ctx, StatusCode::OK, None, "").await,
        (true, _, p) if p.starts_with("/desa/") => village_page(&ctx, &p["/desa/".len()..]).await,
        (true, _, _) => ctx.message(StatusCode::NOT_FOUND, "not_found_title", "not_found"),
        _ => {
            let mut r = respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "method not allowed\n",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
            r
        }
    };
    if let Some(l) = picked {
        append_cookie(
            resp.headers_mut(),
            &set_cookie_header(LANG_COOKIE, l.tag(), 365 * 86_400, true),
        );
    }
    resp
}

/// The office's cookies for the shared login flow ([`crate::accounts::web`]).
const COOKIES: Cookies = Cookies {
    session: SESSION_COOKIE,
    login: LOGIN_COOKIE,
};

fn login_cookie(headers: &HeaderMap) -> Option<&str> {
    accounts_web::login_token(COOKIES, headers)
}

fn login_form(
    ctx: &Ctx,
    existing: Option<&str>,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Resp {
    accounts_web::login_form(COOKIES, existing, status, |token| {
        ctx.office
            .console
            .login_page(&ctx.frame(), token, username, error)
    })
}

async fn login(ctx: &Ctx<'_>, peer: SocketAddr, req: &Req) -> Resp {
    let o = ctx.office;
    let attempt =
        accounts_web::login(&o.accounts, COOKIES, || o.clock.now(), "office", peer, req).await;
    let username = attempt.username;
    match attempt.result {
        Ok(resp) => resp,
        Err(Refused::Expired) => login_form(
            ctx,
            None,
            StatusCode::FORBIDDEN,
            &username,
            Some(&ctx.text("login_expired")),
        ),
        Err(Refused::Login(LoginError::Invalid)) => login_form(
            ctx,
            login_cookie(req.headers()),
            StatusCode::UNAUTHORIZED,
            &username,
            Some(&ctx.text("login_invalid")),
        ),
        Err(Refused::Login(LoginError::Locked { retry_after_secs })) => {
            let mut r = login_form(
                ctx,
                login_cookie(req.headers()),
                StatusCode::TOO_MANY_REQUESTS,
                &username,
                Some(&ctx.text("login_locked")),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(Refused::Login(e @ LoginError::Internal(_))) => {
            warn!(error = %e, "office login failed");
            login_form(
                ctx,
                None,
                StatusCode::SERVICE_UNAVAILABLE,
                &username,
                Some(&ctx.text("login_locked")),
            )
        }
    }
}

fn logout(ctx: &Ctx, req: &Req) -> Resp {
    let token = cookie(req.headers(), SESSION_COOKIE);
    accounts_web::logout(
        &ctx.office.accounts,
        COOKIES,
        "office",
        token,
        ctx.principal.as_ref(),
    )
}

/// `/`: every village, trouble first; the store unreachable is said on the page (503).
async fn villages_page(ctx: &Ctx<'_>) -> Resp {
    let o = ctx.office;
    let now = o.clock.now();
    match villages::overview(&o.prom, now, &o.tz, villages::FREE_CATEGORIES).await {
        Ok(rows) => html(
            StatusCode::OK,
            o.console.villages_page(&ctx.frame(), Ok(&rows), &o.tz),
        ),
        Err(e) => {
            warn!(error = %e, "villages page: the store failed");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                o.console
                    .villages_page(&ctx.frame(), Err(&e.to_string()), &o.tz),
            )
        }
    }
}

/// `/desa/<name>`: the name is percent-decoded and used only as a PromQL
/// string literal (quoted by the data layer) and as escaped text; it never
/// names a file.
async fn village_page(ctx: &Ctx<'_>, raw: &str) -> Resp {
    let name = percent_decode(raw.as_bytes());
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return ctx.message(StatusCode::NOT_FOUND, "not_found_title", "not_found");
    }
    let o = ctx.office;
    match village::last_days(&o.prom, &name, o.clock.now(), &o.tz).await {
        Ok(days) => html(
            StatusCode::OK,
            o.console.village_page(&ctx.frame(), &name, Ok(&days)),
        ),
        Err(e) => {
            warn!(error = %e, "village page: the store failed");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                o.console
                    .village_page(&ctx.frame(), &name, Err(&e.to_string())),
            )
        }
    }
}

/// `GET /desa-desa` (and the form again with `error` after a refusal).
async fn manage_page(ctx: &Ctx<'_>, status: StatusCode, error: Option<&str>, typed: &str) -> Resp {
    let o = ctx.office;
    let book = o.book.clone();
    let list = tokio::task::spawn_blocking(move || book.villages())
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    let (list, status) = match list {
        Ok(l) => (Ok(l), status),
        Err(e) => {
            warn!(error = %e, "village list: the store failed");
            let why = o
                .console
                .text_with(ctx.lang, "store_failed", &[("error", &e)]);
            (Err(why), StatusCode::SERVICE_UNAVAILABLE)
        }
    };
    let list = list.as_deref().map_err(String::as_str);
    html(
        status,
        o.console
            .manage_page(&ctx.frame(), list, error, typed, &o.tz),
    )
}

/// Admins only: a viewer (or the metrics token) gets 403.
fn admin_only(ctx: &Ctx<'_>) -> Option<Resp> {
    match &ctx.principal {
        Some(p) if p.may_change() => None,
        _ => Some(ctx.message(StatusCode::FORBIDDEN, "forbidden_title", "not_admin")),
    }
}

/// `POST /desa-desa` (`name`): the router's settings (201), or the form
/// again naming why (400 a bad name, 409 taken or no web config file, 503
/// the file or the store failed); nothing is written on a refusal.
async fn add_village(ctx: &Ctx<'_>, req: &Req) -> Resp {
    if let Some(refused) = admin_only(ctx) {
        return refused;
    }
    let o = ctx.office;
    let form = parse_form(req.body());
    let typed = form_value(&form, "name").unwrap_or("");
    let typed_short: String = typed.chars().take(80).collect();
    let (name, slug) = match check_name(typed) {
        Ok(ns) => ns,
        Err(e) => {
            let why = match e {
                NameError::Empty => ctx.text("name_empty"),
                NameError::TooLong => ctx.text("name_too_long"),
                NameError::NoSlug => ctx.text("name_no_slug"),
                NameError::Character(c) => {
                    o.console
                        .text_with(ctx.lang, "name_character", &[("char", &format!("{c:?}"))])
                }
            };
            return manage_page(ctx, StatusCode::BAD_REQUEST, Some(&why), &typed_short).await;
        }
    };
    let Some(web_config) = o.setup.web_config_file.clone() else {
        let why = ctx.text("no_web_config");
        return manage_page(ctx, StatusCode::CONFLICT, Some(&why), &typed_short).await;
    };
    let who = ctx.principal.as_ref().map_or("", |p| p.username.as_str());
    let village = Registered {
        name,
        slug: slug.clone(),
        added_at: o.clock.now(),
        added_by: who.to_owned(),
        retired: None,
    };
    let (book, v) = (o.book.clone(), village.clone());
    let done = tokio::task::spawn_blocking(move || enrol::add(&book, &web_config, &v))
        .await
        .unwrap_or_else(|e| Err(Refusal::Store(e.to_string())));
    let (status, why) = match done {
        Ok(password) => {
            info!(user = %who, village = %village.name, slug = %village.slug, "village added");
            let ca_pem =
                o.setup.push_ca_file.as_ref().map(|p| {
                    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
                });
            let setup = Setup {
                village: &village,
                regency: &o.regency,
                password: &password,
                push_url: &o.setup.push_url,
                policy_url: format!("{}/{}.json", o.setup.policy_base_url, village.slug),
                ca_pem,
            };
            return html(
                StatusCode::CREATED,
                o.console.setup_page(&ctx.frame(), &setup),
            );
        }
        Err(e) => refusal(ctx, &e, &slug),
    };
    manage_page(ctx, status, Some(&why), &typed_short).await
}

fn refusal(ctx: &Ctx<'_>, e: &Refusal, slug: &str) -> (StatusCode, String) {
    let c = &ctx.office.console;
    match e {
        Refusal::Taken => (
            StatusCode::CONFLICT,
            c.text_with(ctx.lang, "name_taken", &[("slug", slug)]),
        ),
        Refusal::Unknown => (StatusCode::NOT_FOUND, ctx.text("not_found")),
        Refusal::Receiver(e) => {
            warn!(error = %e, "village: the web config file");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                c.text_with(ctx.lang, "receiver_failed", &[("error", &e.to_string())]),
            )
        }
        Refusal::Store(e) => {
            warn!(error = %e, "village: the store");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                c.text_with(ctx.lang, "store_failed", &[("error", e)]),
            )
        }
    }
}

/// `POST /desa-desa/pensiun` (`slug`): its account out of the web config
/// file, the village marked retired, then back to the list (303).
async fn retire_village(ctx: &Ctx<'_>, req: &Req) -> Resp {
    if let Some(refused) = admin_only(ctx) {
        return refused;
    }
    let o = ctx.office;
    let form = parse_form(req.body());
    let slug = form_value(&form, "slug").unwrap_or("").to_owned();
    if form_value(&form, "confirm") != Some("ya") {
        let why = ctx.text("retire_unconfirmed");
        return manage_page(ctx, StatusCode::BAD_REQUEST, Some(&why), "").await;
    }
    let who = ctx
        .principal
        .as_ref()
        .map_or(String::new(), |p| p.username.clone());
    let (book, web_config, at) = (
        o.book.clone(),
        o.setup.web_config_file.clone(),
        o.clock.now(),
    );
    let (s, w) = (slug.clone(), who.clone());
    let done = tokio::task::spawn_blocking(move || {
        enrol::retire(&book, web_config.as_deref(), &s, &w, at)
    })
    .await
    .unwrap_or_else(|e| Err(Refusal::Store(e.to_string())));
    match done {
        Ok(()) => {
            info!(user = %who, %slug, "village retired");
            redirect("/desa-desa")
        }
        Err(Refusal::Unknown) => ctx.message(StatusCode::NOT_FOUND, "not_found_title", "not_found"),
        Err(e) => {
            let (status, why) = refusal(ctx, &e, &slug);
            manage_page(ctx, status, Some(&why), "").await
        }
    }
}

fn html(status: StatusCode, page: String) -> Resp {
    respond(status, "text/html; charset=utf-8", page)
}

/// 303 See Other.
fn redirect(location: &'static str) -> Resp {
    let mut resp = html(StatusCode::SEE_OTHER, String::new());
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    resp
}

fn append_cookie(h: &mut HeaderMap, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.append(header::SET_COOKIE, v);
    }
}
