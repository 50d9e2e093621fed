//! The JSON API under `/api/`: routing, the order of checks and the JSON
//! shapes of answers. What each route reads or changes is its resource's
//! ([`devices`], [`quota`], [`schedule`], [`trust`], [`usage`],
//! [`categories`], [`quiz`], [`policy`]: shared with the console and the
//! regency policy); an error's status is [`OpError::status`].
//!
//! Order of checks: unknown path 404, wrong method 405 (with `Allow`), no
//! principal 401, a viewer changing something 403, a cookie without the
//! CSRF header 403, bad input 400 `{"error", "field"}`, unknown device 404.

// Helpers return a finished answer as their error (`Result<T, Resp>`): one per request, not worth boxing.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;

use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use tracing::warn;

mod input;
mod reports;

pub use reports::MAX_USAGE_DAYS;

use input::{json_object, no_body, percent_decode};
use reports::{audit, category_report, quiz_report, report_range, usage_report};

use super::core::views::quota_json;
use super::core::{auth, Admin, OpError};
use super::{categories, devices, garden, outages, policy, quota, schedule, trust};
use crate::accounts::{LoginError, Principal};
use crate::domain::Mac;
use crate::web::http::{json_resp, Req, Resp};

/// What a route does, once the path has been matched.
enum Route {
    Session,
    Devices,
    Device(Mac),
    SiteQuota,
    Schedule,
    DeviceQuota(Mac),
    Block(Mac),
    Unblock(Mac),
    Kick(Mac),
    Trust(Mac),
    Usage,
    /// `GET /api/usage/categories`: bytes per day and usage category (never per device).
    UsageCategories,
    /// `GET`/`PUT /api/usage/free`: which usage categories cost no quota (audited).
    UsageFree,
    Quiz,
    Audit,
    /// `GET /api/policy`: the regency policy in force, the last refusal, whose value each key has.
    Policy,
    /// `GET /api/outages?from&to`: why the village was offline (issue 24).
    Outages,
}

/// `{"error": ...}` with a status.
fn error(status: StatusCode, message: &str) -> Resp {
    json_resp(status, &json!({ "error": message }))
}

/// 400 `{"error", "field"}`.
pub(crate) fn bad(field: &str, message: &str) -> Resp {
    json_resp(
        StatusCode::BAD_REQUEST,
        &json!({ "error": message, "field": field }),
    )
}

/// The answer to an error: its status ([`OpError::status`]) with what the
/// client may know (the field at fault; the cause chain goes to the log).
fn op_error(e: OpError) -> Resp {
    let status = e.status();
    match e {
        OpError::BadInput { field, message } => bad(&field, &message),
        OpError::Forbidden => forbidden(),
        OpError::NotFound(m) => error(status, &m),
        e @ (OpError::Gateway(_) | OpError::Store(_) | OpError::Internal(_)) => {
            warn!(error = %e.chain(), "admin API request failed");
            error(status, "internal error (see the router's log)")
        }
    }
}

fn forbidden() -> Resp {
    error(
        StatusCode::FORBIDDEN,
        "this account may only read (role viewer)",
    )
}

fn unauthorized() -> Resp {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "log in first (POST /api/session), then send Authorization: Bearer <token>",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"desawifi\""),
    );
    r
}

/// `/api/...` path -> route; `Err` is the 404 (or 400 for a bad MAC) answer.
fn parse_route(path: &str) -> Result<Route, Resp> {
    let not_found = || error(StatusCode::NOT_FOUND, "no such API route");
    let rest = path.strip_prefix("/api/").ok_or_else(not_found)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let mac = |s: &str| -> Result<Mac, Resp> {
        let s = percent_decode(s)
            .ok_or_else(|| bad("mac", "not a MAC address (try 02:ab:cd:00:11:22)"))?;
        s.parse::<Mac>()
            .map_err(|m| bad("mac", &format!("{m} (try 02:ab:cd:00:11:22)")))
    };
    Ok(match parts.as_slice() {
        ["session"] => Route::Session,
        ["devices"] => Route::Devices,
        ["devices", m] => Route::Device(mac(m)?),
        ["devices", m, "quota"] => Route::DeviceQuota(mac(m)?),
        ["devices", m, "block"] => Route::Block(mac(m)?),
        ["devices", m, "unblock"] => Route::Unblock(mac(m)?),
        ["devices", m, "kick"] => Route::Kick(mac(m)?),
        ["devices", m, "trust"] => Route::Trust(mac(m)?),
        ["quota"] => Route::SiteQuota,
        ["schedule"] => Route::Schedule,
        ["usage"] => Route::Usage,
        ["usage", "categories"] => Route::UsageCategories,
        ["usage", "free"] => Route::UsageFree,
        ["quiz"] => Route::Quiz,
        ["audit"] => Route::Audit,
        ["policy"] => Route::Policy,
        ["outages"] => Route::Outages,
        _ => return Err(not_found()),
    })
}

/// The methods each route answers (`HEAD` is not offered: answers are small).
fn allowed(route: &Route) -> &'static [Method] {
    match route {
        Route::Session => &[Method::GET, Method::POST, Method::DELETE],
        Route::Devices
        | Route::Device(_)
        | Route::Usage
        | Route::UsageCategories
        | Route::Quiz
        | Route::Audit
        | Route::Outages
        | Route::Policy => &[Method::GET],
        Route::SiteQuota | Route::UsageFree | Route::Schedule => &[Method::GET, Method::PUT],
        Route::DeviceQuota(_) => &[Method::GET, Method::PUT, Method::DELETE],
        Route::Block(_) | Route::Unblock(_) | Route::Kick(_) => &[Method::POST],
        Route::Trust(_) => &[Method::POST, Method::DELETE],
    }
}

/// Serve one `/api/...` request.
pub async fn handle(
    admin: &Admin,
    peer: SocketAddr,
    principal: Option<Principal>,
    req: Req,
) -> Resp {
    let route = match parse_route(req.uri().path()) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let methods = allowed(&route);
    if !methods.contains(req.method()) {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{} is not allowed here", req.method()),
        );
        let list = methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(v) = HeaderValue::from_str(&list) {
            r.headers_mut().insert(header::ALLOW, v);
        }
        return r;
    }
    // Logging in is the one thing done without a principal.
    if matches!(route, Route::Session) && req.method() == Method::POST {
        return login(admin, peer, &req).await;
    }
    let Some(who) = principal else {
        return unauthorized();
    };
    let change = req.method() != Method::GET;
    if change {
        let logout = matches!(route, Route::Session);
        if !logout && !who.role.can_change() {
            return forbidden();
        }
        if !auth::csrf_ok(&who, &req) {
            return error(
                StatusCode::FORBIDDEN,
                "a change made with the session cookie needs the X-CSRF-Token header",
            );
        }
    }
    let result = match (route, req.method().clone()) {
        (Route::Session, Method::GET) => Ok(json_resp(
            StatusCode::OK,
            &json!({ "username": who.username, "role": who.role.as_str(), "csrf": who.csrf }),
        )),
        (Route::Session, _) => Ok(logout(admin, &req)),
        (Route::Devices, _) => devices::list_json(admin).map(ok),
        (Route::Device(mac), _) => admin.known(mac).and_then(|_| device(admin, mac)),
        (Route::SiteQuota, Method::GET) => Ok(ok(quota_json(&admin.gateway.site_quota()))),
        (Route::SiteQuota, _) => match json_object(&req) {
            Ok(fields) => quota::set_site_quota(admin, &who, &fields)
                .await
                .map(|q| ok(quota_json(&q))),
            Err(resp) => Ok(resp),
        },
        (Route::Schedule, Method::GET) => Ok(ok(schedule::schedule_json(admin))),
        (Route::Schedule, _) => match json_object(&req) {
            Ok(fields) => schedule::set_schedule(admin, &who, &fields)
                .await
                .map(|_| ok(schedule::schedule_json(admin))),
            Err(resp) => Ok(resp),
        },
        (Route::DeviceQuota(mac), Method::GET) => admin
            .known(mac)
            .and_then(|_| quota::device_quota_json(admin, mac).map(ok)),
        (Route::DeviceQuota(mac), Method::DELETE) => {
            match quota::clear_device_quota(admin, &who, mac).await {
                Ok(_) => quota::device_quota_json(admin, mac).map(ok),
                Err(e) => Err(e),
            }
        }
        (Route::DeviceQuota(mac), _) => match json_object(&req) {
            Ok(fields) => match quota::set_device_quota(admin, &who, mac, &fields).await {
                Ok(_) => quota::device_quota_json(admin, mac).map(ok),
                Err(e) => Err(e),
            },
            Err(resp) => Ok(resp),
        },
        (Route::Block(mac), _) => match no_body(&req) {
            Ok(()) => devices::block(admin, &who, mac)
                .await
                .and_then(|_| device(admin, mac)),
            Err(resp) => Ok(resp),
        },
        (Route::Unblock(mac), _) => match no_body(&req) {
            Ok(()) => devices::unblock(admin, &who, mac)
                .await
                .and_then(|_| device(admin, mac)),
            Err(resp) => Ok(resp),
        },
        (Route::Kick(mac), _) => match no_body(&req) {
            Ok(()) => devices::kick(admin, &who, mac)
                .await
                .and_then(|was_online| {
                    let mut resp = devices::one_json(admin, mac)?;
                    resp["was_online"] = Value::Bool(was_online);
                    Ok(ok(resp))
                }),
            Err(resp) => Ok(resp),
        },
        (Route::Trust(mac), method) => match no_body(&req) {
            Ok(()) => if method == Method::DELETE {
                trust::untrust(admin, &who, mac).await
            } else {
                trust::trust(admin, &who, mac).await
            }
            .and_then(|_| device(admin, mac)),
            Err(resp) => Ok(resp),
        },
        (Route::Usage, _) => usage_report(admin, &req),
        (Route::UsageFree, Method::GET) => Ok(ok(categories::free_json(&admin.gateway))),
        (Route::UsageFree, _) => match json_object(&req) {
            Ok(fields) => categories::set_free(admin, &who, &fields).await.map(ok),
            Err(resp) => Ok(resp),
        },
        (Route::UsageCategories, _) => match report_range(admin, &req) {
            Ok(Ok((from, to, csv))) => category_report(admin, from, to, csv),
            Ok(Err(resp)) => Ok(resp),
            Err(e) => Err(e),
        },
        (Route::Quiz, _) => quiz_report(admin, &req),
        (Route::Outages, _) => match input::query_params(&req, &["from", "to"]) {
            Ok(q) => {
                let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                outages::list(admin, get("from"), get("to")).map(ok)
            }
            Err(resp) => Ok(resp),
        },
        (Route::Audit, _) => audit(admin, &req),
        (Route::Policy, _) => {
            let mut v = policy::status_json(admin);
            v["walled_garden"] = garden::garden_json(admin);
            Ok(ok(v))
        }
    };
    result.unwrap_or_else(op_error)
}

/// `POST /api/session`: `{"username", "password"}` -> a token and the cookie.
async fn login(admin: &Admin, peer: SocketAddr, req: &Req) -> Resp {
    let fields = match json_object(req) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    for key in fields.keys() {
        if key != "username" && key != "password" {
            return bad(key, "unknown key (expected one of: username, password)");
        }
    }
    let text = |key: &str| match fields.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None => Err(bad(key, "missing")),
        Some(_) => Err(bad(key, "expected a string")),
    };
    let (username, password) = match (text("username"), text("password")) {
        (Ok(u), Ok(p)) => (u, p),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    match admin.accounts.login(&username, &password, peer.ip()).await {
        Ok(session) => {
            let max_age = session.expires - admin.gateway.now();
            let mut r = json_resp(
                StatusCode::OK,
                &json!({
                    "token": session.token,
                    "csrf": session.principal.csrf,
                    "username": session.principal.username,
                    "role": session.principal.role.as_str(),
                    "expires_at": admin.rfc3339(session.expires),
                    "expires_at_unix": session.expires,
                }),
            );
            if let Ok(v) =
                HeaderValue::from_str(&auth::session_cookie_header(&session.token, max_age))
            {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(LoginError::Invalid) => error(StatusCode::UNAUTHORIZED, "wrong username or password"),
        Err(LoginError::Locked { retry_after_secs }) => {
            let mut r = json_resp(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({ "error": "too many failed logins; try again later", "retry_after_secs": retry_after_secs }),
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
            r
        }
        Err(LoginError::Internal(m)) => op_error(OpError::Internal(m)),
    }
}

/// `DELETE /api/session`: end this session (bearer or cookie) and clear the cookie.
fn logout(admin: &Admin, req: &Req) -> Resp {
    if let Some(token) = auth::session_token(req) {
        admin.accounts.logout(token);
    }
    let mut r = json_resp(StatusCode::OK, &json!({ "logged_out": true }));
    if let Ok(v) = HeaderValue::from_str(&auth::clear_cookie_header()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// 200 with a JSON body.
pub(crate) fn ok(body: Value) -> Resp {
    json_resp(StatusCode::OK, &body)
}

/// One device as JSON (after an action on it).
fn device(admin: &Admin, mac: Mac) -> Result<Resp, OpError> {
    devices::one_json(admin, mac).map(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_and_bad_macs_are_400() {
        assert!(matches!(parse_route("/api/devices"), Ok(Route::Devices)));
        assert!(matches!(
            parse_route("/api/devices/02:77:00:00:00:01/block"),
            Ok(Route::Block(_))
        ));
        assert!(matches!(
            parse_route("/api/devices/02%3A77%3A00%3A00%3A00%3A01/quota"),
            Ok(Route::DeviceQuota(_))
        ));
        assert_eq!(
            parse_route("/api/devices/nope/kick")
                .err()
                .unwrap()
                .status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_route("/api/devices/02:77:00:00:00:01/explode")
                .err()
                .unwrap()
                .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            parse_route("/api/").err().unwrap().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            parse_route("/api/quota/").err().unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }
}
