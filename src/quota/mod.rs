//! The quota room: what a device may use today, and what follows when it
//! has used it. Pure arithmetic; the gateway's accounting pass
//! (`gateway::accounting`) runs the loop that turns kernel counters into
//! daily usage and decisions with it.

use crate::config;
use crate::domain::{QuotaOverride, Standing};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_never_go_backwards_or_double_count() {
        assert_eq!(counter_delta(1500, 1000), 500);
        assert_eq!(counter_delta(1000, 1000), 0);
        // Element re-created (counter restarted from 0): all of it is new.
        assert_eq!(counter_delta(300, 1000), 300);
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
