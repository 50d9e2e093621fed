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

use super::core::OpError;
use crate::domain::{day_string, next_day, DailyUsage, Mac};
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

#[cfg(test)]
mod tests {
    use super::*;

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
