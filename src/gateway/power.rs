//! The power mode in force (issue 25): the daemon hands the gateway the
//! battery reader's `watch` channel; the gateway decides what each mode
//! means for a device (docs/fair-use.md, its power modes).
//!
//! - `hemat`: `[power.saver]`'s values are ceilings over the site quota
//!   ([`Gateway::quota`] is the quota in force, [`Gateway::site_quota`] the
//!   one an admin edits), so the accounting pass, `bytes-remaining` and the
//!   shaping rates follow within one pass.
//! - `darurat`: every device with a quota stands as if it had used it and
//!   the fair-use speed were 0 (`Standing::Cut`: captive, the walled garden
//!   and the free categories only), and new logins are refused
//!   ([`GatewayError::PowerEmergency`]). Trusted devices keep their access.

use std::sync::RwLock;

use tokio::sync::watch;

use super::{Gateway, GatewayError};
use crate::config;
use crate::domain::{Device, Mac};
use crate::power::{Mode, PowerState};
use crate::quota::Limits;

/// The gateway's view of the battery: a receiver of the reader's channel
/// (a fixed `normal` state until the daemon hands one over).
pub(super) struct PowerFeed(RwLock<watch::Receiver<PowerState>>);

impl Default for PowerFeed {
    fn default() -> PowerFeed {
        let (_tx, rx) = watch::channel(PowerState::default());
        PowerFeed(RwLock::new(rx))
    }
}

impl Gateway {
    /// Follow the battery reader's channel from now on (the daemon, when
    /// `[power] source` is not "none").
    pub fn follow_power(&self, rx: watch::Receiver<PowerState>) {
        *self.power.0.write().expect("power lock") = rx;
    }

    /// The latest published power state (mode, warning, health, reading).
    pub fn power(&self) -> PowerState {
        self.power.0.read().expect("power lock").borrow().clone()
    }

    /// The power mode in force now.
    pub fn power_mode(&self) -> Mode {
        self.power.0.read().expect("power lock").borrow().mode
    }

    /// The quota in force now: the site's, with `[power.saver]`'s ceilings
    /// outside `normal`.
    pub fn quota(&self) -> config::Quota {
        let site = self.site_quota();
        match self.power_mode() {
            Mode::Normal => site,
            Mode::Hemat | Mode::Darurat => self.config().power.saver.apply(&site),
        }
    }

    /// A device's limits under `site` (the quota in force), its overrides,
    /// and the power mode: in darurat, nothing but the walled garden.
    pub(super) fn limits_of(&self, site: &config::Quota, device: &Device) -> Limits {
        let limits = Limits::new(site, &self.device_quota(device));
        if self.cut_for_power(&device.mac) {
            Limits {
                daily_data: 0,
                after_quota_rate: 0,
                exempt: false,
                ..limits
            }
        } else {
            limits
        }
    }

    /// Darurat, and not a trusted device: cut off, no new login.
    fn cut_for_power(&self, mac: &Mac) -> bool {
        self.power_mode() == Mode::Darurat && !self.is_trusted(mac)
    }

    /// Refuses a login in darurat (before the quota check, so the page
    /// says why).
    pub(super) fn may_log_in_on_battery(&self, mac: &Mac) -> Result<(), GatewayError> {
        if self.cut_for_power(mac) {
            return Err(GatewayError::PowerEmergency);
        }
        Ok(())
    }
}
