//! The records the gateway keeps per device: who it is, its session, what
//! it used per local day, and the site's per-day totals.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{Mac, QuotaOverride, Standing};

/// A phone (or laptop) the gateway has seen, identified by its MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub mac: Mac,
    /// The IPv4 address it last used.
    pub ip: Option<Ipv4Addr>,
    /// Present while the device is online.
    pub session: Option<Session>,
    /// An admin blocked it: it cannot log in.
    #[serde(default)]
    pub blocked: bool,
    /// Per-device quota overrides set by an admin.
    #[serde(default)]
    pub quota: QuotaOverride,
    /// Unix seconds of the first visit.
    pub first_seen: i64,
}

/// One stretch online, from tapping Connect to logout or expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The address admitted together with the MAC.
    pub ip: Ipv4Addr,
    /// Unix seconds.
    pub started: i64,
    /// Unix seconds; the session ends (device captive again) at this time.
    pub ends: i64,
    /// Unix seconds of the last counted byte (for the idle timeout).
    #[serde(default)]
    pub last_activity: i64,
    /// Kernel counters (upload, download) as last read; the next read adds
    /// only what is above them, so a restart never counts bytes twice.
    #[serde(default)]
    pub seen: (u64, u64),
    /// The kernel's free-category counter (`free` set) as last read, like
    /// `seen` (`[usage] free_daily_data`). Left out of the record while 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seen_free: u64,
    /// Against today's quota.
    #[serde(default)]
    pub standing: Standing,
    /// Traffic-shaping slot (one HTB class per direction).
    #[serde(default)]
    pub slot: Option<u16>,
    /// Unix seconds when an accounting pass last wrote `seen` (and the
    /// usage up to it); passes in between only read (`[store] write_interval`).
    #[serde(default)]
    pub written: i64,
}

impl Session {
    /// A fresh session from `now` for `length` seconds.
    pub fn new(ip: Ipv4Addr, now: i64, length: i64) -> Session {
        Session {
            ip,
            started: now,
            ends: now + length,
            last_activity: now,
            seen: (0, 0),
            seen_free: 0,
            standing: Standing::Normal,
            slot: None,
            written: now,
        }
    }
}

/// Bytes a device moved in one local day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyUsage {
    pub download: u64,
    pub upload: u64,
    /// Free-category bytes (both ways, never which category): they cost
    /// quota only beyond `[usage] free_daily_data` ([`DailyUsage::quota_bytes`]).
    /// Left out of the record while 0, so older records read the same.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub free: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What happened on one local day across the whole site (for the regency's report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayStats {
    /// Sessions started (logins that made a new session).
    pub sessions: u64,
    /// Most devices online at once, as seen by the accounting passes.
    pub peak_devices: u64,
}

impl DailyUsage {
    /// Download plus upload: what the daily quota counts.
    pub fn total(&self) -> u64 {
        self.download.saturating_add(self.upload)
    }

    /// What the daily quota counts given the day's free allowance: download,
    /// upload, and the free-category bytes beyond `free_allowance`.
    pub fn quota_bytes(&self, free_allowance: u64) -> u64 {
        self.total()
            .saturating_add(self.free.saturating_sub(free_allowance))
    }

    /// Every byte moved, free ones included (activity, whether to write).
    pub fn moved(&self) -> u64 {
        self.total().saturating_add(self.free)
    }
}

impl Device {
    /// A device seen for the first time.
    pub fn new(mac: Mac, now: i64) -> Device {
        Device {
            mac,
            ip: None,
            session: None,
            blocked: false,
            quota: QuotaOverride::default(),
            first_seen: now,
        }
    }

    /// Online now: a session that has not ended.
    pub fn is_online(&self, now: i64) -> bool {
        self.session.as_ref().is_some_and(|s| s.ends > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_bytes_cost_quota_only_beyond_the_allowance() {
        let mib = 1 << 20;
        let day = |free| DailyUsage {
            download: 5 * mib,
            upload: mib,
            free,
        };
        // Within the allowance: the quota counts download and upload only.
        assert_eq!(day(mib).quota_bytes(2 * mib), 6 * mib);
        assert_eq!(day(2 * mib).quota_bytes(2 * mib), 6 * mib);
        // Beyond it: the rest, byte for byte.
        assert_eq!(day(4 * mib + 7).quota_bytes(2 * mib), 8 * mib + 7);
        // "0": every free byte costs; "unlimited": none ever does.
        assert_eq!(day(3 * mib).quota_bytes(0), 9 * mib);
        assert_eq!(day(u64::MAX).quota_bytes(u64::MAX), 6 * mib);
        assert_eq!(day(u64::MAX).quota_bytes(0), u64::MAX, "saturates");
        assert_eq!(day(3).total(), 6 * mib, "total stays download + upload");
        assert_eq!(day(3).moved(), 6 * mib + 3);
    }
}
