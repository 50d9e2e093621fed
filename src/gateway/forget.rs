//! A bounded store (issue 11): devices not seen for `[store] forget_after`
//! are removed with their per-device usage; the site's day stats stay.
//!
//! "Seen" is the later of the first visit and the last local day with usage.
//! A device online now, blocked, or with an admin's quota override is never
//! forgotten (those records are an admin's decision, not a visit).

use tracing::info;

use super::{Gateway, GatewayError};
use crate::domain::{self, QuotaOverride};

impl Gateway {
    /// Forget the devices not seen for `forget_after`; returns how many went.
    pub async fn forget_old_devices(&self) -> Result<usize, GatewayError> {
        let now = self.now();
        let tz = &self.config.site.timezone;
        let forget_after = self.config.store.forget_after.as_secs() as i64;
        let cutoff = now - forget_after;
        let cutoff_day = domain::local_day(cutoff, tz);
        let mut forgotten = 0;
        {
            let mut records = self.records.lock().expect("records lock");
            for device in self.store.devices()? {
                if device.session.is_some()
                    || device.blocked
                    || device.quota != QuotaOverride::default()
                    || device.first_seen >= cutoff
                {
                    continue;
                }
                if self
                    .store
                    .last_usage_day(&device.mac)?
                    .is_some_and(|day| day >= cutoff_day)
                {
                    continue;
                }
                let usage = self.store.forget_device(&device.mac)?;
                records.wrote(device.mac);
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
