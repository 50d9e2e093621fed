//! The site settings an admin saved, in the store's own record types: the
//! on-disk schema is written here, not derived from the config room's
//! types, so renaming a config field cannot change what a router's store
//! holds (tree `settings`, keys `quota`, `schedule`, `trusted`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The site's quota defaults as stored (an admin's `PUT /api/quota`). Field
/// names and units are the schema: bytes, bits per second, durations as
/// `{secs, nanos}` (what serde wrote for a `Duration` when this was
/// `config::Quota`, so existing stores read back unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteQuotaRecord {
    /// Bytes per device per local day.
    pub daily_data: u64,
    /// How long one login lasts.
    pub session_time: StoredDuration,
    /// A session ends early after this long without traffic.
    pub idle_timeout: StoredDuration,
    /// Bits per second.
    pub download_rate: u64,
    /// Bits per second.
    pub upload_rate: u64,
    /// Bits per second once `daily_data` is used; 0 cuts the device off.
    pub after_quota_rate: u64,
    /// How often byte counters are read.
    pub accounting_interval: StoredDuration,
}

/// A duration on disk: whole seconds and the nanoseconds beyond them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDuration {
    pub secs: u64,
    pub nanos: u32,
}

impl From<Duration> for StoredDuration {
    fn from(d: Duration) -> StoredDuration {
        StoredDuration {
            secs: d.as_secs(),
            nanos: d.subsec_nanos(),
        }
    }
}

impl From<StoredDuration> for Duration {
    fn from(d: StoredDuration) -> Duration {
        // Saturating, not `Duration::new`: a corrupt record must not panic.
        Duration::from_secs(d.secs)
            .checked_add(Duration::from_nanos(u64::from(d.nanos)))
            .unwrap_or(Duration::MAX)
    }
}

/// The router's clock as the gateway last trusted it (issue 22, item 7;
/// `gateway/time_guard.rs`): the high-water mark of time and the time the
/// last prune used, both unix seconds (0: none yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockRecord {
    pub high_water: i64,
    pub prune_clock: i64,
}

/// The opening hours an admin saved (`PUT /api/schedule`): minutes after
/// local midnight; both `None` means always open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    /// Opening minute of the local day (0..1440).
    pub open: Option<u16>,
    /// Closing minute of the local day; before `open` crosses midnight.
    pub close: Option<u16>,
    /// The walled garden stays reachable while closed.
    pub garden_always_open: bool,
}
