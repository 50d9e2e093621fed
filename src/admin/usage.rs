//! The regency's usage report: per local day, how many devices used the
//! internet, how many sessions started, bytes down and up, and the most
//! devices online at once. JSON for the API and the console's chart, CSV for
//! the regency's spreadsheets.
//!
//! Days are the site's local days (`[site] timezone`), the same days the
//! daily quota counts, kept in the store as numbers like 20261127.
//!
//! - devices: distinct devices that moved at least one byte that day
//!   (from the daily usage records; kept 120 days).
//! - sessions: logins that started a new session that day.
//! - peak_devices: most devices online at once, as the accounting passes saw it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::ops::OpError;
use crate::domain::{DailyUsage, Mac};
use crate::gateway::Gateway;

/// One local day of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DayReport {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub devices: u64,
    pub sessions: u64,
    pub bytes_down: u64,
    pub bytes_up: u64,
    pub peak_devices: u64,
}

/// Every day in `from..=to` (store day numbers), days without traffic included.
pub fn report(gw: &Gateway, from: u32, to: u32) -> Result<Vec<DayReport>, OpError> {
    let mut days: BTreeMap<u32, (DayReport, BTreeSet<Mac>)> = BTreeMap::new();
    let mut day = from;
    while day <= to {
        days.insert(
            day,
            (
                DayReport {
                    day: day_string(day),
                    ..DayReport::default()
                },
                BTreeSet::new(),
            ),
        );
        day = next_day(day).ok_or_else(|| OpError::Internal(format!("no day after {day}")))?;
    }
    for (day, mac, usage) in gw.usage_between(from, to)? {
        if let Some((report, macs)) = days.get_mut(&day) {
            report.bytes_down += usage.download;
            report.bytes_up += usage.upload;
            if usage.total() > 0 {
                macs.insert(mac);
            }
        }
    }
    for (day, stats) in gw.day_stats_between(from, to)? {
        if let Some((report, _)) = days.get_mut(&day) {
            report.sessions = stats.sessions;
            report.peak_devices = stats.peak_devices;
        }
    }
    Ok(days
        .into_values()
        .map(|(mut report, macs)| {
            report.devices = macs.len() as u64;
            report
        })
        .collect())
}

/// The report as CSV with a header row (RFC 4180 line ends), for spreadsheets.
pub fn csv(days: &[DayReport]) -> String {
    let mut out = String::from("day,devices,sessions,bytes_down,bytes_up,peak_devices\r\n");
    for d in days {
        out.push_str(&format!(
            "{},{},{},{},{},{}\r\n",
            d.day, d.devices, d.sessions, d.bytes_down, d.bytes_up, d.peak_devices
        ));
    }
    out
}

/// The `n` devices that moved the most bytes on `day`, most first.
pub fn top_devices(gw: &Gateway, day: u32, n: usize) -> Result<Vec<(Mac, DailyUsage)>, OpError> {
    let mut all: Vec<(Mac, DailyUsage)> = gw
        .usage_between(day, day)?
        .into_iter()
        .map(|(_, mac, usage)| (mac, usage))
        .collect();
    all.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
    all.truncate(n);
    Ok(all)
}

/// The site's local day now, as a store day number.
pub fn today(gw: &Gateway) -> u32 {
    crate::domain::local_day(gw.now(), &gw.config().site.timezone)
}

/// `YYYY-MM-DD` -> store day number (20261127). Strict: exactly that form, a real date.
pub fn parse_day(s: &str) -> Result<u32, String> {
    let bad = || format!("{s:?} is not a date (try \"2026-11-27\")");
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|p| p.parse::<i16>().ok())
            .ok_or_else(bad)
    };
    let date = jiff::civil::Date::new(num(0..4)?, num(5..7)? as i8, num(8..10)? as i8)
        .map_err(|_| bad())?;
    Ok(day_number(date))
}

/// Store day number -> `YYYY-MM-DD`.
pub fn day_string(day: u32) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day / 10_000,
        day / 100 % 100,
        day % 100
    )
}

/// The day after `day`, `None` past the calendar's end.
pub fn next_day(day: u32) -> Option<u32> {
    Some(day_number(date_of(day)?.tomorrow().ok()?))
}

/// `day` moved by `days` (negative: back).
pub fn add_days(day: u32, days: i32) -> Option<u32> {
    Some(day_number(
        date_of(day)?
            .checked_add(jiff::Span::new().days(days))
            .ok()?,
    ))
}

/// How many days `from..=to` holds (0 when `to` is before `from`).
pub fn days_in(from: u32, to: u32) -> i64 {
    match (date_of(from), date_of(to)) {
        (Some(a), Some(b)) if b >= a => a.until(b).map(|s| s.get_days() as i64 + 1).unwrap_or(0),
        _ => 0,
    }
}

fn date_of(day: u32) -> Option<jiff::civil::Date> {
    jiff::civil::Date::new(
        (day / 10_000) as i16,
        (day / 100 % 100) as i8,
        (day % 100) as i8,
    )
    .ok()
}

fn day_number(d: jiff::civil::Date) -> u32 {
    d.year() as u32 * 10_000 + d.month() as u32 * 100 + d.day() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_strictly_and_walk_the_calendar() {
        assert_eq!(parse_day("2026-11-27"), Ok(20261127));
        for bad in [
            "2026-11-31",
            "2026-13-01",
            "26-11-27",
            "2026/11/27",
            "2026-1-27",
            "2026-11-27T00",
            "",
            "abcd-ef-gh",
            "2026-+1-27",
        ] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
        assert_eq!(day_string(20260305), "2026-03-05");
        assert_eq!(next_day(20261231), Some(20270101));
        assert_eq!(next_day(20280228), Some(20280229));
        assert_eq!(add_days(20270101, -7), Some(20261225));
        assert_eq!(days_in(20261127, 20261127), 1);
        assert_eq!(days_in(20261101, 20261130), 30);
        assert_eq!(days_in(20261128, 20261127), 0);
        assert_eq!(days_in(20250101, 20260101), 366);
    }

    #[test]
    fn csv_has_a_header_and_one_row_per_day() {
        let days = vec![
            DayReport {
                day: "2026-11-26".into(),
                devices: 3,
                sessions: 5,
                bytes_down: 1000,
                bytes_up: 200,
                peak_devices: 2,
            },
            DayReport {
                day: "2026-11-27".into(),
                ..DayReport::default()
            },
        ];
        assert_eq!(
            csv(&days),
            "day,devices,sessions,bytes_down,bytes_up,peak_devices\r\n2026-11-26,3,5,1000,200,2\r\n2026-11-27,0,0,0,0,0\r\n"
        );
    }
}
