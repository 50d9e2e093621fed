//! The API's reports: `/api/usage` (JSON or CSV), `/api/usage/categories`,
//! `/api/quiz` and `/api/audit`; their query strings (days, format, paging)
//! are checked here, their figures come from the resources.

use hyper::header;
use hyper::StatusCode;
use serde_json::{json, Value};

use super::input::query_params;
use super::ok;
use crate::admin::core::{Admin, OpError};
use crate::admin::{categories, quiz, usage};
use crate::domain::{add_days, day_string, days_in, parse_day};
use crate::web::http::{attachment, json_resp, Req, Resp};

/// Longest report `GET /api/usage` gives (usage is kept 120 days; day stats longer).
pub const MAX_USAGE_DAYS: i64 = 400;
/// Audit entries per page when `limit` is not given, and the most one page gives.
const AUDIT_PAGE: usize = 50;
const AUDIT_PAGE_MAX: usize = 500;

/// `GET /api/quiz?from=&to=` (dates as for `/api/usage`; the last 7 days by default).
pub fn quiz_report(admin: &Admin, req: &Req) -> Result<Resp, OpError> {
    let query = match query_params(req, &["from", "to"]) {
        Ok(q) => q,
        Err(resp) => return Ok(resp),
    };
    let day = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| parse_day(v).map_err(|m| OpError::bad(key, m)))
            .transpose()
    };
    let to = day("to")?.unwrap_or_else(|| admin.today());
    let from = match day("from")? {
        Some(d) => d,
        None => add_days(to, -6).ok_or_else(|| OpError::bad("to", "out of range"))?,
    };
    if from > to {
        return Err(OpError::bad("to", "is before from"));
    }
    if days_in(from, to) > MAX_USAGE_DAYS {
        return Err(OpError::bad(
            "from",
            format!("at most {MAX_USAGE_DAYS} days per report"),
        ));
    }
    Ok(ok(quiz::report(admin, from, to)?))
}

/// `GET /api/usage?from=YYYY-MM-DD&to=YYYY-MM-DD`: JSON, or CSV with
/// `Accept: text/csv` (or `format=csv`, for a plain download link).
pub fn usage_report(admin: &Admin, req: &Req) -> Result<Resp, OpError> {
    let (from, to, csv) = match report_range(admin, req)? {
        Ok(range) => range,
        Err(resp) => return Ok(resp),
    };
    let gw = &admin.gateway;
    let days = usage::report(gw, from, to)?;
    let (from_s, to_s) = (day_string(from), day_string(to));
    if csv {
        return Ok(attachment(
            StatusCode::OK,
            "text/csv; charset=utf-8",
            &format!("desawifi-usage-{from_s}-{to_s}.csv"),
            usage::csv(&days),
        ));
    }
    let config = gw.config();
    Ok(json_resp(
        StatusCode::OK,
        &json!({ "site": config.site.name, "timezone": config.site.timezone_name, "from": from_s, "to": to_s, "days": days }),
    ))
}

/// `GET /api/usage/categories`: bytes per day and category, JSON or CSV.
pub fn category_report(admin: &Admin, from: u32, to: u32, as_csv: bool) -> Result<Resp, OpError> {
    let days = categories::report(&admin.gateway, from, to)?;
    if as_csv {
        return Ok(attachment(
            StatusCode::OK,
            "text/csv; charset=utf-8",
            &format!(
                "desawifi-categories-{}-{}.csv",
                day_string(from),
                day_string(to)
            ),
            categories::csv(&days),
        ));
    }
    Ok(ok(categories::json(&days)))
}

/// A report's `from`, `to` (default: the last 7 days) and whether CSV was
/// asked for; the inner `Err` is an answer already made (a bad query).
pub fn report_range(admin: &Admin, req: &Req) -> Result<Result<(u32, u32, bool), Resp>, OpError> {
    let query = match query_params(req, &["from", "to", "format"]) {
        Ok(q) => q,
        Err(resp) => return Ok(Err(resp)),
    };
    let day = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| parse_day(v).map_err(|m| OpError::bad(key, m)))
            .transpose()
    };
    let to = day("to")?.unwrap_or_else(|| admin.today());
    let from = match day("from")? {
        Some(d) => d,
        None => add_days(to, -6).ok_or_else(|| OpError::bad("to", "out of range"))?,
    };
    if from > to {
        return Err(OpError::bad(
            "to",
            format!("{} is before from ({})", day_string(to), day_string(from)),
        ));
    }
    if days_in(from, to) > MAX_USAGE_DAYS {
        return Err(OpError::bad(
            "from",
            format!("at most {MAX_USAGE_DAYS} days per report"),
        ));
    }
    let csv = match query
        .iter()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.as_str())
    {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(OpError::bad(
                "format",
                format!("{other:?} is not a format (csv or json)"),
            ))
        }
        None => req
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|m| {
                m.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/csv"))
            }),
    };
    Ok(Ok((from, to, csv)))
}

/// `GET /api/audit?before=<id>&limit=<n>`: newest first.
pub fn audit(admin: &Admin, req: &Req) -> Result<Resp, OpError> {
    let query = match query_params(req, &["before", "limit"]) {
        Ok(q) => q,
        Err(resp) => return Ok(resp),
    };
    let number = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| {
                v.parse::<u64>()
                    .map_err(|_| OpError::bad(key, format!("{v:?} is not a whole number")))
            })
            .transpose()
    };
    let before = number("before")?;
    let limit = match number("limit")? {
        None => AUDIT_PAGE,
        Some(n) if n >= 1 && n <= AUDIT_PAGE_MAX as u64 => n as usize,
        Some(_) => {
            return Err(OpError::bad(
                "limit",
                format!("must be between 1 and {AUDIT_PAGE_MAX}"),
            ))
        }
    };
    let entries = admin.store().audit_log(before, limit)?;
    let next = if entries.len() == limit {
        entries.last().map(|(id, _)| *id)
    } else {
        None
    };
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|(id, e)| {
            json!({ "id": id, "at": admin.rfc3339(e.at), "at_unix": e.at, "who": e.who, "action": e.action, "target": e.target, "old": e.old, "new": e.new })
        })
        .collect();
    Ok(json_resp(
        StatusCode::OK,
        &json!({ "entries": entries, "next_before": next }),
    ))
}
