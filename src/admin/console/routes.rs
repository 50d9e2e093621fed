//! The console's HTTP side: request -> page. Reads go through the gateway
//! and the resources' reports; every change goes through its resource
//! ([`quota`], [`devices`], [`crate::admin::schedule`]: the same role check,
//! validation and audit entry as the JSON API) after the CSRF check.
//!
//! After a change the answer is a 303 to the page that shows it (POST,
//! redirect, GET), so a reload never posts twice.

use std::net::SocketAddr;

use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use tracing::{info, warn};

use super::{
    check_quota_form, csrf_ok, local_datetime, CategoryInfo, Console, Dashboard, DeviceCard,
    DeviceList, Frame, Nav, QuotaForm, COOKIES, LANG_COOKIE, QUOTA_FIELDS,
};
use crate::accounts::web::{self as accounts_web, Refused};
use crate::accounts::{LoginError, Principal, Via};
use crate::admin::core::{auth, Admin, DeviceState, OpError};
use crate::admin::{categories, devices, quota, usage};
use crate::domain::{add_days, day_string, Mac};
use crate::lang::Language;
use crate::uplink::UplinkState;
use crate::web::cookie::cookie;
use crate::web::form::{form_value, parse_form};
use crate::web::http::{respond, Req, Resp};

/// Every console answer's policy: nothing but our own stylesheet, our own
/// forms and images; no scripts at all, never in a frame.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";
/// Devices per page of the device list.
const DEVICES_PER_PAGE: usize = 50;
/// Entries per page of the audit log.
const AUDIT_PER_PAGE: usize = 50;

/// One request's context.
struct Ctx<'a> {
    admin: &'a Admin,
    console: &'a Console,
    lang: Language,
    principal: Option<&'a Principal>,
    query: Vec<(String, String)>,
}

impl Ctx<'_> {
    fn frame(&self, nav: Option<Nav>, notice_html: String) -> Frame<'_> {
        Frame {
            lang: self.lang,
            site_name: self.admin.gateway.config().site.name.clone(),
            principal: self.principal,
            nav,
            notice_html,
        }
    }

    fn text(&self, key: &'static str) -> &str {
        self.console.text(self.lang, key)
    }

    fn message(&self, status: StatusCode, title: &str, message: &str) -> Resp {
        let frame = self.frame(None, String::new());
        html(status, self.console.message_page(&frame, title, message))
    }

    fn forbidden(&self) -> Resp {
        self.message(StatusCode::FORBIDDEN, "forbidden_title", "forbidden")
    }

    /// The page for an error, with its status ([`OpError::status`]).
    fn op_error(&self, e: OpError) -> Resp {
        match e.status() {
            StatusCode::FORBIDDEN => self.forbidden(),
            StatusCode::NOT_FOUND => {
                self.message(StatusCode::NOT_FOUND, "not_found_title", "not_found")
            }
            status => {
                warn!(error = %e.chain(), "console request failed");
                self.message(status, "error_title", "error")
            }
        }
    }
}

/// Route one console request. `principal` is whoever `auth::principal`
/// found (the metrics token counts as nobody here).
pub async fn handle(
    admin: &Admin,
    console: &Console,
    peer: SocketAddr,
    principal: Option<Principal>,
    req: Req,
) -> Resp {
    let principal = principal.filter(|p| p.via != Via::MetricsToken);
    let query = parse_form(req.uri().query().unwrap_or("").as_bytes());
    let picked: Option<Language> = form_value(&query, "lang").and_then(|l| l.parse().ok());
    let lang = picked
        .or_else(|| cookie(req.headers(), LANG_COOKIE).and_then(|l| l.parse().ok()))
        .unwrap_or_default();
    let ctx = Ctx {
        admin,
        console,
        lang,
        principal: principal.as_ref(),
        query,
    };
    let path = req.uri().path().to_owned();
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    let post = *req.method() == Method::POST;
    let mut resp = match (get, post, path.as_str()) {
        (true, _, "/console.css") => css(console),
        (true, _, "/login") => match ctx.principal {
            Some(_) => redirect("/"),
            None => login_form(&ctx, login_cookie(&req), StatusCode::OK, "", None),
        },
        (_, true, "/login") => login(&ctx, peer, &req).await,
        (_, true, "/logout") => logout(&ctx, &req),
        (_, _, "/" | "/quota" | "/devices" | "/audit" | "/schedule") | (_, true, _)
            if ctx.principal.is_none() =>
        {
            redirect("/login")
        }
        (true, _, "/") => dashboard(&ctx).unwrap_or_else(|e| ctx.op_error(e)),
        (true, _, "/quota") => quota_page(&ctx),
        (_, true, "/quota") => quota_post(&ctx, &req).await,
        (_, true, "/schedule") => schedule_post(&ctx, &req).await,
        (true, _, "/devices") => {
            devices_page(&ctx, String::new(), StatusCode::OK).unwrap_or_else(|e| ctx.op_error(e))
        }
        (_, true, p) if p.starts_with("/devices/") => {
            device_action(&ctx, &req, &p["/devices/".len()..]).await
        }
        (true, _, "/audit") => audit_page(&ctx).unwrap_or_else(|e| ctx.op_error(e)),
        (
            _,
            _,
            "/" | "/quota" | "/devices" | "/audit" | "/schedule" | "/login" | "/logout"
            | "/console.css",
        ) => ctx.message(
            StatusCode::METHOD_NOT_ALLOWED,
            "not_found_title",
            "not_found",
        ),
        _ => ctx.message(StatusCode::NOT_FOUND, "not_found_title", "not_found"),
    };
    let h = resp.headers_mut();
    if let Some(l) = picked {
        append_cookie(
            h,
            &format!("{LANG_COOKIE}={l}; Secure; SameSite=Strict; Path=/; Max-Age=31536000"),
        );
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

fn css(console: &Console) -> Resp {
    let mut resp = respond(
        StatusCode::OK,
        "text/css; charset=utf-8",
        console.css().to_owned(),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    resp
}

// --- login and logout ----------------------------------------------------------

/// The login form with its pre-session token: the browser's
/// `desawifi_login_csrf` cookie when it has a good one (several tabs), else a
/// new one, set as a cookie here.
fn login_form(
    ctx: &Ctx,
    existing: Option<&str>,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Resp {
    accounts_web::login_form(COOKIES, existing, status, |token| {
        ctx.console
            .login_page(&ctx.frame(None, String::new()), token, username, error)
    })
}

/// The browser's login token, if it is one we could have made.
fn login_cookie(req: &Req) -> Option<&str> {
    accounts_web::login_token(COOKIES, req.headers())
}

async fn login(ctx: &Ctx<'_>, peer: SocketAddr, req: &Req) -> Resp {
    let gw = &ctx.admin.gateway;
    let attempt = accounts_web::login(
        &ctx.admin.accounts,
        COOKIES,
        || gw.now(),
        "console",
        peer,
        req,
    )
    .await;
    let username = attempt.username;
    match attempt.result {
        Ok(resp) => resp,
        Err(Refused::Expired) => {
            // Fresh form, fresh token: a stale tab simply tries again.
            let expired = ctx.text("login_expired").to_owned();
            login_form(ctx, None, StatusCode::FORBIDDEN, &username, Some(&expired))
        }
        Err(Refused::Login(LoginError::Invalid)) => {
            let error = ctx.text("login_invalid").to_owned();
            login_form(
                ctx,
                login_cookie(req),
                StatusCode::UNAUTHORIZED,
                &username,
                Some(&error),
            )
        }
        Err(Refused::Login(LoginError::Locked { retry_after_secs })) => {
            // A short pause after a few failures, or the lock after many.
            let error = if retry_after_secs < 60 {
                ctx.console.text_with(
                    ctx.lang,
                    "login_wait",
                    &[("seconds", &retry_after_secs.max(1).to_string())],
                )
            } else {
                let minutes = retry_after_secs.div_ceil(60).to_string();
                ctx.console
                    .text_with(ctx.lang, "login_locked", &[("minutes", &minutes)])
            };
            let mut resp = login_form(
                ctx,
                login_cookie(req),
                StatusCode::TOO_MANY_REQUESTS,
                &username,
                Some(&error),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            resp
        }
        Err(Refused::Login(LoginError::Internal(e))) => {
            warn!(error = %e, "console login failed");
            ctx.message(StatusCode::INTERNAL_SERVER_ERROR, "error_title", "error")
        }
    }
}

/// End this browser's session (a POST with the session's token; a foreign
/// page cannot log an admin out either).
fn logout(ctx: &Ctx, req: &Req) -> Resp {
    let mut token = None;
    if let Some(p) = ctx.principal {
        if !csrf_ok(req.headers(), p, &parse_form(req.body())) {
            return ctx.forbidden();
        }
        token = auth::session_token(req);
    }
    accounts_web::logout(
        &ctx.admin.accounts,
        COOKIES,
        "console",
        token,
        ctx.principal,
    )
}

// --- pages ---------------------------------------------------------------------

fn dashboard(ctx: &Ctx) -> Result<Resp, OpError> {
    let gw = &ctx.admin.gateway;
    let tz = &gw.config().site.timezone;
    let online = gw
        .devices()?
        .iter()
        .filter(|v| DeviceState::of(v).is_online())
        .count();
    let today = ctx.admin.today();
    let week = usage::report(gw, add_days(today, -6).unwrap_or(today), today)?;
    let data = Dashboard {
        online,
        today: week.last().cloned().unwrap_or_default(),
        top: usage::top_devices(gw, today, 5)?,
        week,
        uplink_down_since: match *ctx.admin.uplink.borrow() {
            UplinkState::Up => None,
            UplinkState::Down { since } => Some(local_datetime(since, tz)),
        },
        categories: what_for_categories(gw),
        category_days: categories::report(gw, add_days(today, -6).unwrap_or(today), today)?
            .into_iter()
            .map(|(day, cats)| (day_string(day), cats.into_iter().map(|(_, u)| u).collect()))
            .collect(),
        village_html: super::village::village_html(
            ctx.admin,
            ctx.console,
            ctx.lang,
            ctx.principal
                .filter(|p| p.role.can_change())
                .map(|p| p.csrf.as_str()),
        ) + &super::regency::regency_html(ctx.admin, ctx.console, ctx.lang),
        power: (gw.config().power.source != crate::config::power::PowerSource::None)
            .then(|| gw.power()),
    };
    Ok(html(
        StatusCode::OK,
        ctx.console
            .dashboard_page(&ctx.frame(Some(Nav::Dashboard), String::new()), &data),
    ))
}

/// The categories as the dashboard names them (`lainnya` last).
fn what_for_categories(gw: &crate::gateway::Gateway) -> Vec<CategoryInfo> {
    let usage = &gw.config().usage;
    let free = gw.free_categories();
    let mut out: Vec<CategoryInfo> = usage
        .categories
        .iter()
        .map(|c| CategoryInfo {
            id: c.id.clone(),
            name: c.name.clone(),
            free: free.contains(&c.id),
        })
        .collect();
    out.push(CategoryInfo {
        id: crate::config::categories::OTHER.to_owned(),
        name: "Lainnya".to_owned(),
        free: false,
    });
    out
}

/// Save the opening hours from the dashboard's form (role, CSRF, then the
/// API's own operation: validation, audit).
async fn schedule_post(ctx: &Ctx<'_>, req: &Req) -> Resp {
    let Some(p) = ctx.principal else {
        return redirect("/login");
    };
    let form = parse_form(req.body());
    if !p.role.can_change() || !csrf_ok(req.headers(), p, &form) {
        return ctx.forbidden();
    }
    match super::village::save_schedule(ctx.admin, p, &form).await {
        Ok(()) => redirect("/#village"),
        Err(OpError::BadInput { field, message }) => {
            info!(field, message, "console: opening hours not saved");
            ctx.message(StatusCode::BAD_REQUEST, "not_saved", "schedule_bad")
        }
        Err(e) => ctx.op_error(e),
    }
}

fn quota_page(ctx: &Ctx) -> Resp {
    let form = QuotaForm::from_quota(&ctx.admin.gateway.site_quota());
    let notice = match form_value(&ctx.query, "saved") {
        Some(_) => ctx.console.notice(ctx.text("saved"), false),
        None => String::new(),
    };
    render_quota(ctx, &form, notice, StatusCode::OK)
}

fn render_quota(ctx: &Ctx, form: &QuotaForm, notice: String, status: StatusCode) -> Resp {
    let can_change = ctx.principal.is_some_and(|p| p.role.can_change());
    html(
        status,
        ctx.console
            .quota_page(&ctx.frame(Some(Nav::Quota), notice), form, can_change),
    )
}

/// Save the quota form: checked field by field first (every error next to
/// its field, nothing saved), then through `quota` (role, rules, audit).
async fn quota_post(ctx: &Ctx<'_>, req: &Req) -> Resp {
    let Some(p) = ctx.principal else {
        return redirect("/login");
    };
    let form = parse_form(req.body());
    if !p.role.can_change() || !csrf_ok(req.headers(), p, &form) {
        return ctx.forbidden();
    }
    let current = ctx.admin.gateway.site_quota();
    let not_saved = || ctx.console.notice(ctx.text("not_saved"), true);
    let fields = match check_quota_form(&current, &form) {
        Ok(fields) => fields,
        Err(checked) => return render_quota(ctx, &checked, not_saved(), StatusCode::BAD_REQUEST),
    };
    if fields.is_empty() {
        return redirect("/quota?saved=1");
    }
    match quota::set_site_quota(ctx.admin, p, &fields).await {
        Ok(_) => redirect("/quota?saved=1"),
        Err(OpError::BadInput { field, message }) => {
            let mut shown = QuotaForm::from_quota(&current);
            for f in QUOTA_FIELDS {
                if let Some(v) = form_value(&form, f) {
                    shown.values.insert(f, v.trim().to_owned());
                }
            }
            let key = QUOTA_FIELDS
                .iter()
                .find(|f| field.starts_with(**f))
                .copied()
                .unwrap_or("daily_data");
            shown.errors.insert(key, message);
            render_quota(ctx, &shown, not_saved(), StatusCode::BAD_REQUEST)
        }
        Err(e) => ctx.op_error(e),
    }
}

fn devices_page(ctx: &Ctx, mut notice: String, status: StatusCode) -> Result<Resp, OpError> {
    let gw = &ctx.admin.gateway;
    let tz = &gw.config().site.timezone;
    let now = gw.now();
    let today = crate::domain::local_day(now, tz);
    let mut all = gw.devices()?;
    // Online first, then whoever used the most today.
    all.sort_by_key(|v| (v.session.is_none(), std::cmp::Reverse(v.used_today), v.mac));
    let total = all.len();
    let pages = total.div_ceil(DEVICES_PER_PAGE).max(1);
    let page = form_value(&ctx.query, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0)
        .min(pages - 1);
    let devices = all
        .into_iter()
        .skip(page * DEVICES_PER_PAGE)
        .take(DEVICES_PER_PAGE)
        .map(|view| {
            let session_ends = view.session.as_ref().map(|s| {
                if crate::domain::local_day(s.ends, tz) == today {
                    crate::domain::local_hhmm(s.ends, tz)
                } else {
                    local_datetime(s.ends, tz)
                }
            });
            DeviceCard { view, session_ends }
        })
        .collect();
    if notice.is_empty() {
        if let (Some(done), Some(mac)) = (
            form_value(&ctx.query, "done"),
            form_value(&ctx.query, "mac").and_then(|m| m.parse::<Mac>().ok()),
        ) {
            let key = match done {
                "block" => Some("done_block"),
                "unblock" => Some("done_unblock"),
                "kick" => Some("done_kick"),
                "override" => Some("done_override"),
                "clear" => Some("done_clear"),
                _ => None,
            };
            if let Some(key) = key {
                notice = ctx.console.notice(
                    &ctx.console
                        .text_with(ctx.lang, key, &[("mac", &mac.to_string())]),
                    false,
                );
            }
        }
    }
    let list = DeviceList {
        devices,
        total,
        page,
        more: page + 1 < pages,
    };
    Ok(html(
        status,
        ctx.console
            .devices_page(&ctx.frame(Some(Nav::Devices), notice), &list),
    ))
}

/// `POST /devices/{mac}/{block|unblock|kick|quota|quota/clear}`.
async fn device_action(ctx: &Ctx<'_>, req: &Req, rest: &str) -> Resp {
    let Some(p) = ctx.principal else {
        return redirect("/login");
    };
    let Some((mac, action)) = rest.split_once('/') else {
        return ctx.message(StatusCode::NOT_FOUND, "not_found_title", "not_found");
    };
    let Ok(mac) = mac.parse::<Mac>() else {
        return ctx.message(StatusCode::NOT_FOUND, "not_found_title", "not_found");
    };
    let form = parse_form(req.body());
    if !p.role.can_change() || !csrf_ok(req.headers(), p, &form) {
        return ctx.forbidden();
    }
    let admin = ctx.admin;
    let done = match action {
        "block" => devices::block(admin, p, mac).await.map(|_| "block"),
        "unblock" => devices::unblock(admin, p, mac).await.map(|_| "unblock"),
        "kick" => devices::kick(admin, p, mac).await.map(|_| "kick"),
        "quota" => {
            let mut fields = serde_json::Map::new();
            for key in ["daily_data", "download_rate", "upload_rate"] {
                let value = form_value(&form, key).map(str::trim).unwrap_or("");
                fields.insert(
                    key.to_owned(),
                    if value.is_empty() {
                        serde_json::Value::Null
                    } else {
                        value.into()
                    },
                );
            }
            fields.insert(
                "exempt".to_owned(),
                form_value(&form, "exempt").is_some().into(),
            );
            quota::set_device_quota(admin, p, mac, &fields)
                .await
                .map(|_| "override")
        }
        "quota/clear" => quota::clear_device_quota(admin, p, mac)
            .await
            .map(|_| "clear"),
        _ => return ctx.message(StatusCode::NOT_FOUND, "not_found_title", "not_found"),
    };
    match done {
        Ok(done) => redirect(&format!(
            "/devices?done={done}&mac={mac}#d-{}",
            mac.to_string().replace(':', "")
        )),
        Err(OpError::BadInput { field, message }) => {
            let text = format!("{} ({mac}, {field}): {message}", ctx.text("bad_input"));
            let notice = ctx.console.notice(&text, true);
            devices_page(ctx, notice, StatusCode::BAD_REQUEST).unwrap_or_else(|e| ctx.op_error(e))
        }
        Err(e) => ctx.op_error(e),
    }
}

fn audit_page(ctx: &Ctx) -> Result<Resp, OpError> {
    let gw = &ctx.admin.gateway;
    let before = form_value(&ctx.query, "before").and_then(|b| b.parse::<u64>().ok());
    let mut entries = ctx.admin.store().audit_log(before, AUDIT_PER_PAGE + 1)?;
    let older = if entries.len() > AUDIT_PER_PAGE {
        entries.truncate(AUDIT_PER_PAGE);
        entries.last().map(|(id, _)| *id)
    } else {
        None
    };
    let page = ctx.console.audit_page(
        &ctx.frame(Some(Nav::Audit), String::new()),
        &entries,
        &gw.config().site.timezone,
        before.is_some(),
        older,
    );
    Ok(html(StatusCode::OK, page))
}

// --- answers -------------------------------------------------------------------

fn html(status: StatusCode, page: String) -> Resp {
    let mut resp = respond(status, "text/html; charset=utf-8", page);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 303 See Other: after a POST the browser GETs `location`.
fn redirect(location: &str) -> Resp {
    let mut resp = html(StatusCode::SEE_OTHER, String::new());
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn append_cookie(h: &mut hyper::HeaderMap, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.append(header::SET_COOKIE, v);
    }
}
