//! Trusted devices: the village office's PC, the public-service kiosk, a
//! CCTV camera. Such a device is online whenever it is on the LAN, without
//! the splash page, never held to a quota, the session time, the idle
//! timeout or the opening hours; its bytes still go to the site's usage.
//!
//! The kernel's online set stays `ether_addr . ipv4_addr`: each accounting
//! pass looks the trusted MACs up in the neighbour table and admits one that
//! appears (or moves to a new address) at the address the kernel resolved.
//! Trust is by MAC only, so a cloned MAC gets the same (docs/fair-use.md,
//! "Trusted devices (village office, kiosk, camera)").

use std::net::Ipv4Addr;

use tracing::info;

use super::{Gateway, GatewayError};
use crate::domain::{Device, Mac, QuotaOverride};

/// A trusted device's session length: for all practical purposes forever
/// (ten years; it ends when an admin takes the trust back).
pub(super) const TRUSTED_SESSION_SECS: i64 = 10 * 365 * 86_400;

/// Where a device's trust comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// `[network] trusted_macs` (changed only by editing the file).
    Config,
    /// An admin's `POST /api/devices/{mac}/trust` (kept in the store).
    Admin,
}

impl Trust {
    /// The word the API and console show.
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Config => "config",
            Trust::Admin => "admin",
        }
    }
}

impl Gateway {
    /// Is this device trusted (by the config file or an admin)?
    pub fn trust_of(&self, mac: &Mac) -> Option<Trust> {
        if self
            .config()
            .network
            .trusted_macs
            .binary_search(mac)
            .is_ok()
        {
            Some(Trust::Config)
        } else if self
            .trusted
            .read()
            .expect("trusted lock")
            .binary_search(mac)
            .is_ok()
        {
            Some(Trust::Admin)
        } else {
            None
        }
    }

    /// Is this device trusted?
    pub fn is_trusted(&self, mac: &Mac) -> bool {
        self.trust_of(mac).is_some()
    }

    /// Every trusted device with where its trust comes from, sorted.
    pub fn trusted_devices(&self) -> Vec<(Mac, Trust)> {
        let mut all: Vec<(Mac, Trust)> = self
            .config()
            .network
            .trusted_macs
            .iter()
            .map(|m| (*m, Trust::Config))
            .collect();
        for m in self.trusted.read().expect("trusted lock").iter() {
            if !self.config().network.trusted_macs.contains(m) {
                all.push((*m, Trust::Admin));
            }
        }
        all.sort_by_key(|(m, _)| *m);
        all
    }

    /// The overrides a device's limits come from: a trusted device is
    /// exempt from every quota (its bytes are still counted), and a quiz
    /// bonus earned today adds to the daily data.
    pub(super) fn device_quota(&self, device: &Device) -> QuotaOverride {
        let mut q = device.quota.clone();
        if self.is_trusted(&device.mac) {
            q.exempt = true;
        }
        // A right quiz answer today: more data for the rest of the day.
        let bonus = self.quiz_bonus_today(&device.mac);
        if bonus > 0 && !q.exempt {
            let base = q.daily_data.unwrap_or(self.quota().daily_data.0);
            q.daily_data = Some(base.saturating_add(bonus));
        }
        q
    }

    /// Trust a device (kept in the store, flushed); online at once if it is
    /// on the LAN now. Returns whether it was trusted before.
    pub async fn trust(&self, mac: Mac) -> Result<bool, GatewayError> {
        let was = self.is_trusted(&mac);
        if !was {
            {
                let _guard = self.records.lock().expect("records lock");
                let mut list = self.trusted.write().expect("trusted lock");
                list.push(mac);
                list.sort();
                list.dedup();
                self.store.put_trusted(&list)?;
            }
            self.store.flush().await?;
            info!(mac = %mac, "device trusted");
        }
        self.admit_present_trusted().await?;
        Ok(was)
    }

    /// Take an admin's trust back: the device is captive again at once.
    /// Returns whether it was trusted; trust from the config file cannot be
    /// taken back here ([`GatewayError::TrustedInConfig`]).
    pub async fn untrust(&self, mac: Mac) -> Result<bool, GatewayError> {
        match self.trust_of(&mac) {
            None => return Ok(false),
            Some(Trust::Config) => return Err(GatewayError::TrustedInConfig(mac)),
            Some(Trust::Admin) => {}
        }
        {
            let _guard = self.records.lock().expect("records lock");
            let mut list = self.trusted.write().expect("trusted lock");
            list.retain(|m| *m != mac);
            self.store.put_trusted(&list)?;
        }
        self.store.flush().await?;
        self.revoke(mac, "trust taken back").await?;
        info!(mac = %mac, "device no longer trusted");
        Ok(true)
    }

    /// Admit every trusted device the neighbour table shows on the LAN that
    /// is not online at that address yet. Returns how many were admitted.
    ///
    /// Forged ARP (issue 22, item 8): a device online at an address the
    /// table still maps to its MAC stays there (the address last confirmed
    /// from that MAC), so a forged entry elsewhere cannot move its session;
    /// and one device that cannot be admitted (its forged address is
    /// another phone's) is skipped, never stopping the others.
    pub async fn admit_present_trusted(&self) -> Result<usize, GatewayError> {
        let trusted = self.trusted_devices();
        if trusted.is_empty() {
            return Ok(0);
        }
        let lan = &self.config().network.lan_interface;
        let present = crate::neighbor::entries(lan);
        let mut admitted = 0;
        for (mac, _) in trusted {
            let held = self
                .store
                .device(&mac)?
                .and_then(|d| d.session)
                .filter(|s| s.ends > self.now());
            if held.is_some_and(|s| present.contains(&(s.ip, mac))) {
                continue;
            }
            let Some(ip) = newest_address(&present, mac) else {
                continue;
            };
            match self.admit(mac, ip).await {
                Ok(_) => {
                    admitted += 1;
                    info!(mac = %mac, ip = %ip, "trusted device online");
                }
                // Blocked by an admin (a block wins over trust), or no slot free.
                Err(e @ (GatewayError::Blocked(_) | GatewayError::Full(_))) => {
                    tracing::debug!(mac = %mac, error = %e, "trusted device not admitted")
                }
                Err(e @ GatewayError::Store(_)) => return Err(e),
                // The address is another device's (a forged neighbour entry?)
                // or the firewall refused: skip this one, carry on.
                Err(e) => {
                    tracing::warn!(mac = %mac, ip = %ip, error = %e, "trusted device not admitted")
                }
            }
        }
        Ok(admitted)
    }
}

/// The address the neighbour table holds for `mac` (the last one listed if
/// it has several).
fn newest_address(entries: &[(Ipv4Addr, Mac)], mac: Mac) -> Option<Ipv4Addr> {
    entries
        .iter()
        .rev()
        .find(|(_, m)| *m == mac)
        .map(|(ip, _)| *ip)
}
