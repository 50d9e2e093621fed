//! A bounded store (issue 11): devices not seen for `[store] forget_after`
//! are removed with their per-device usage; the site's day stats stay.
//!
//! "Seen" is the later of the first visit and the last local day with usage.
//! A device online now, blocked, or with an admin's quota override is never
//! forgotten (those records are an admin's decision, not a visit).

use tracing::info;

use super::{Gateway, GatewayError};
use crate::domain::{self, Device, QuotaOverride};

impl Gateway {
    /// Forget the devices not seen for `forget_after` at `now` (the prune
    /// clock, `time_guard.rs`); returns how many went.
    pub async fn forget_old_devices(&self, now: i64) -> Result<usize, GatewayError> {
        let tz = &self.config().site.timezone;
        let forget_after = self.config().store.forget_after.as_secs() as i64;
        let cutoff = now - forget_after;
        let cutoff_day = domain::local_day(cutoff, tz);
        let mut forgotten = 0;
        {
            let mut records = self.records.lock().expect("records lock");
            for device in self.store.devices()? {
                if !may_forget(&device) || device.first_seen >= cutoff {
                    continue;
                }
                if self.store.has_usage_since(&device.mac, cutoff_day)? {
                    continue;
                }
                let usage = self.store.forget_device(&device.mac)?;
                records.forgot(device.mac);
                forgotten += 1;
                tracing::debug!(mac = %device.mac, usage, "device forgotten");
            }
        }
        if forgotten > 0 {
            self.store.flush().await?;
            info!(
                forgotten,
                "devices not seen for [store] forget_after removed"
            );
        }
        Ok(forgotten)
    }
}

/// A record that is no admin's decision and no live session: only those are
/// ever forgotten (a forgotten blocked MAC would come back unblocked).
fn may_forget(device: &Device) -> bool {
    device.session.is_none() && !device.blocked && device.quota == QuotaOverride::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Mac, Session};

    #[test]
    fn only_plain_visits_are_forgotten() {
        let mac = Mac([2, 0x77, 0, 0, 0, 1]);
        let plain = Device::new(mac, 100);
        assert!(may_forget(&plain));
        let mut online = plain.clone();
        online.session = Some(Session::new("10.77.0.11".parse().unwrap(), 100, 60));
        assert!(!may_forget(&online));
        let mut blocked = plain.clone();
        blocked.blocked = true;
        assert!(!may_forget(&blocked));
        let mut overridden = plain.clone();
        overridden.quota.exempt = true;
        assert!(!may_forget(&overridden));
    }
}
