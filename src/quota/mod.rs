//! The quota room: what a device may use today, and what follows when it
//! has used it. Pure arithmetic here; [`accounting`] runs the loop that
//! turns kernel counters into daily usage and decisions.

pub mod accounting;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config;

/// A device's allowance after per-device overrides (bits/s and bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes per local day, download plus upload.
    pub daily_data: u64,
    /// Download cap, bits per second.
    pub download_rate: u64,
    /// Upload cap, bits per second.
    pub upload_rate: u64,
    /// The fair-use speed after the quota; 0 = cut off (walled garden only).
    pub after_quota_rate: u64,
    /// No daily quota at all.
    pub exempt: bool,
}

/// Per-device overrides an admin sets; `None` keeps the site default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaOverride {
    pub daily_data: Option<u64>,
    pub download_rate: Option<u64>,
    pub upload_rate: Option<u64>,
    #[serde(default)]
    pub exempt: bool,
}

/// Where a device stands against its quota today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Within the quota: full speed (its caps).
    #[default]
    Normal,
    /// Over the quota: the fair-use speed until local midnight.
    Throttled,
    /// Over the quota with a fair-use speed of 0: walled garden only.
    Cut,
}

impl Limits {
    /// Site defaults with a device's overrides applied.
    pub fn new(defaults: &config::Quota, over: &QuotaOverride) -> Limits {
        Limits {
            daily_data: over.daily_data.unwrap_or(defaults.daily_data.0),
            download_rate: over.download_rate.unwrap_or(defaults.download_rate.0),
            upload_rate: over.upload_rate.unwrap_or(defaults.upload_rate.0),
            after_quota_rate: defaults.after_quota_rate.0,
            exempt: over.exempt,
        }
    }

    /// The standing of a device that used `used` bytes today.
    pub fn standing(&self, used: u64) -> Standing {
        if self.exempt || used < self.daily_data {
            Standing::Normal
        } else if self.after_quota_rate == 0 {
            Standing::Cut
        } else {
            Standing::Throttled
        }
    }

    /// The (download, upload) ceilings for a standing, bits per second.
    /// `Cut` has none: the firewall keeps such a device captive.
    pub fn rates(&self, standing: Standing) -> (u64, u64) {
        match standing {
            Standing::Normal => (self.download_rate, self.upload_rate),
            Standing::Throttled | Standing::Cut => (
                self.after_quota_rate.min(self.download_rate),
                self.after_quota_rate.min(self.upload_rate),
            ),
        }
    }
}

/// Bytes counted since the last read. A kernel counter smaller than the one
/// last seen belongs to a re-created set element (reboot, table replaced):
/// everything on it is new.
pub fn counter_delta(current: u64, last_seen: u64) -> u64 {
    if current >= last_seen {
        current - last_seen
    } else {
        current
    }
}

/// The local calendar day of `unix` as a number like 20261127 (sorts by time).
pub fn local_day(unix: i64, tz: &TimeZone) -> u32 {
    let date = Timestamp::from_second(unix)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone())
        .date();
    date.year() as u32 * 10_000 + date.month() as u32 * 100 + date.day() as u32
}

/// Unix time of the next local midnight after `unix` (when quotas reset).
pub fn next_midnight(unix: i64, tz: &TimeZone) -> i64 {
    let zoned = Timestamp::from_second(unix)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone());
    let tomorrow = zoned.date().tomorrow().unwrap_or(zoned.date());
    tomorrow
        .to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp().as_second())
        .unwrap_or(unix + 86_400)
}

/// `HH:MM` local time of `unix`, for "slower until 00:00" messages.
pub fn local_hhmm(unix: i64, tz: &TimeZone) -> String {
    let z = Timestamp::from_second(unix)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone());
    format!("{:02}:{:02}", z.hour(), z.minute())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn makassar() -> TimeZone {
        TimeZone::get("Asia/Makassar").unwrap()
    }

    #[test]
    fn counters_never_go_backwards_or_double_count() {
        assert_eq!(counter_delta(1500, 1000), 500);
        assert_eq!(counter_delta(1000, 1000), 0);
        // Element re-created (counter restarted from 0): all of it is new.
        assert_eq!(counter_delta(300, 1000), 300);
    }

    #[test]
    fn days_follow_the_site_time_zone() {
        let tz = makassar();
        // 2026-11-27 15:59:59 UTC = 23:59:59 WITA; one second later it is the 28th.
        let before = jiff::civil::date(2026, 11, 27)
            .at(23, 59, 59, 0)
            .to_zoned_datetime(tz.clone())
            .unwrap()
            .timestamp()
            .as_second();
        assert_eq!(local_day(before, &tz), 20261127);
        assert_eq!(local_day(before + 1, &tz), 20261128);
        assert_eq!(next_midnight(before, &tz), before + 1);
        assert_eq!(next_midnight(before + 1, &tz), before + 1 + 86_400);
        assert_eq!(local_hhmm(before + 1, &tz), "00:00");
        // UTC midnight is 08:00 in Makassar: not a reset.
        let utc_midnight = Timestamp::from_second(before + 1 - 8 * 3600 + 86_400)
            .unwrap()
            .as_second();
        assert_eq!(
            local_day(utc_midnight - 1, &tz),
            local_day(utc_midnight, &tz)
        );
    }

    #[test]
    fn standing_and_rates() {
        let l = Limits {
            daily_data: 1000,
            download_rate: 2_000_000,
            upload_rate: 1_000_000,
            after_quota_rate: 256_000,
            exempt: false,
        };
        assert_eq!(l.standing(999), Standing::Normal);
        assert_eq!(l.standing(1000), Standing::Throttled);
        assert_eq!(l.rates(Standing::Throttled), (256_000, 256_000));
        assert_eq!(l.rates(Standing::Normal), (2_000_000, 1_000_000));
        assert_eq!(
            Limits {
                after_quota_rate: 0,
                ..l
            }
            .standing(5000),
            Standing::Cut
        );
        assert_eq!(
            Limits { exempt: true, ..l }.standing(u64::MAX),
            Standing::Normal
        );
        // A cap below the fair-use speed stays the cap.
        assert_eq!(
            Limits {
                upload_rate: 100_000,
                ..l
            }
            .rates(Standing::Throttled),
            (256_000, 100_000)
        );
    }
}
