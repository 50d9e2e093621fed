//! `GET /api/outages?from&to` (issue 24): the outage events the gateway
//! recorded (start, end, open seconds, cause). `from` and `to` are local
//! days (`YYYY-MM-DD`, `to` inclusive) or unix seconds; by default the last
//! 30 days. Nothing in it is per device.

use serde_json::{json, Value};

use super::core::{Admin, OpError};
use crate::domain::{local_day, next_midnight, parse_day, Outage};

/// The longest range one answer covers.
const MAX_DAYS: i64 = 400;

/// One bound: unix seconds, or a local day's start (`end`: the next day's).
fn bound(admin: &Admin, key: &str, v: &str, end: bool) -> Result<i64, OpError> {
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
        return v
            .parse::<i64>()
            .map_err(|_| OpError::bad(key, format!("{v:?} is too large")));
    }
    let day = parse_day(v).map_err(|m| OpError::bad(key, format!("{m}, or unix seconds")))?;
    let tz = admin.gateway.config().site.timezone.clone();
    // The local midnight starting `day`: from 14 h before its UTC midnight
    // (no zone is further ahead), the next local midnight on that day.
    let mut at = next_midnight(utc_midnight(day) - 14 * 3600, &tz);
    while local_day(at, &tz) < day {
        at = next_midnight(at, &tz);
    }
    Ok(if end { next_midnight(at, &tz) } else { at })
}

/// Unix seconds of a store day's UTC midnight (days from the civil date).
fn utc_midnight(day: u32) -> i64 {
    let (y, m, d) = (
        i64::from(day / 10_000),
        i64::from(day / 100 % 100),
        i64::from(day % 100),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400
}

/// The events overlapping the range, as JSON.
pub fn list(admin: &Admin, from: Option<&str>, to: Option<&str>) -> Result<Value, OpError> {
    let now = admin.gateway.now();
    let to = match to {
        Some(v) => bound(admin, "to", v, true)?,
        None => now,
    };
    let from = match from {
        Some(v) => bound(admin, "from", v, false)?,
        None => to - 30 * 86_400,
    };
    if from > to {
        return Err(OpError::bad("to", "is before from"));
    }
    if to - from > MAX_DAYS * 86_400 {
        return Err(OpError::bad(
            "from",
            format!("at most {MAX_DAYS} days per answer"),
        ));
    }
    let events: Vec<Value> = admin
        .gateway
        .outages_between(from, to)?
        .iter()
        .map(|o: &Outage| {
            json!({
                "start": o.start,
                "end": o.end,
                "start_local": admin.rfc3339(o.start),
                "end_local": admin.rfc3339(o.end),
                "seconds": o.seconds,
                "cause": o.cause.as_str(),
            })
        })
        .collect();
    Ok(json!({ "from": from, "to": to, "outages": events }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_midnight_of_a_day() {
        assert_eq!(super::utc_midnight(19700101), 0);
        assert_eq!(super::utc_midnight(20261206), 1_796_515_200);
        assert_eq!(super::utc_midnight(20240301), 1_709_251_200);
    }
}
