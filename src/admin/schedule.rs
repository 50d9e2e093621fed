//! `GET /api/schedule` and `PUT /api/schedule`: the opening hours, validated
//! by the config file's own parsers (`TimeOfDay` and
//! [`config::opening_hours`]), saved through the gateway (kept in the store,
//! in force at once) and audited.

use serde_json::{json, Map, Value};

use super::core::{audited, may_change, Admin, OpError};
use crate::accounts::Principal;
use crate::config::{self, Schedule};
use crate::domain::{AuditAction, Opening, TimeOfDay};

/// The opening hours as the API and the console show them, with whether it
/// is open now and when that changes.
pub fn schedule_json(admin: &Admin) -> Value {
    let s = admin.gateway.schedule();
    let tz = &admin.gateway.config().site.timezone;
    let (open_now, changes) = match admin.gateway.opening() {
        None => (true, None),
        Some(Opening::Open { closes }) => (true, Some(closes)),
        Some(Opening::Closed { opens }) => (false, Some(opens)),
    };
    let mut v = hours_json(&s);
    v["open_now"] = open_now.into();
    v["changes_at"] = changes.map(|t| crate::domain::rfc3339(t, tz)).into();
    v["changes_at_unix"] = changes.into();
    v
}

/// Only the settings (what the audit log keeps).
fn hours_json(s: &Schedule) -> Value {
    json!({
        "open": s.hours.map(|h| h.open.to_string()),
        "close": s.hours.map(|h| h.close.to_string()),
        "garden_always_open": s.garden_always_open,
    })
}

/// `PUT /api/schedule`: `open` and `close` (`"06:00"`, both or neither;
/// both `null` for always open) and `garden_always_open` (bool); keys not
/// given stay.
pub async fn set_schedule(
    admin: &Admin,
    who: &Principal,
    fields: &Map<String, Value>,
) -> Result<Schedule, OpError> {
    may_change(who)?;
    if fields.is_empty() {
        return Err(OpError::bad(
            "",
            "no keys given (open, close, garden_always_open)",
        ));
    }
    let mut times: [Option<Option<TimeOfDay>>; 2] = [None, None];
    let mut garden = None;
    for (field, value) in fields {
        let slot = match field.as_str() {
            "open" => 0,
            "close" => 1,
            "garden_always_open" => {
                garden = Some(
                    value
                        .as_bool()
                        .ok_or_else(|| OpError::bad(field, "expected true or false"))?,
                );
                continue;
            }
            _ => {
                return Err(OpError::bad(
                    field,
                    "unknown key (expected one of: open, close, garden_always_open)",
                ))
            }
        };
        times[slot] = Some(match value {
            Value::Null => None,
            Value::String(s) => Some(s.parse::<TimeOfDay>().map_err(|m| OpError::bad(field, m))?),
            _ => {
                return Err(OpError::bad(
                    field,
                    "expected a string like \"06:00\" or null",
                ))
            }
        });
    }
    let (old, new) = admin
        .gateway
        .change_schedule(|old| {
            let mut new = old.clone();
            let open = times[0].unwrap_or(old.hours.map(|h| h.open));
            let close = times[1].unwrap_or(old.hours.map(|h| h.close));
            new.hours = match (open, close) {
                (None, None) => None,
                (Some(_), None) => {
                    return Err(OpError::bad(
                        "close",
                        "missing (open and close go together)",
                    ))
                }
                (None, Some(_)) => {
                    return Err(OpError::bad("open", "missing (open and close go together)"))
                }
                (Some(o), Some(c)) => {
                    Some(config::opening_hours(o, c).map_err(|m| OpError::bad("close", m))?)
                }
            };
            if let Some(g) = garden {
                new.garden_always_open = g;
            }
            Ok::<_, OpError>(new)
        })
        .await?;
    audited(
        admin,
        who,
        AuditAction::ScheduleSet,
        "site",
        hours_json(&old),
        hours_json(&new),
    )
    .await?;
    Ok(new)
}
