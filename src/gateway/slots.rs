//! Who may take a session before `admit` gives one (issue 11): slots that
//! cannot be hoarded, and one identity (MAC + IP) for one session.
//!
//! - All of `[network] max_online` taken: the session idle longest gives its
//!   slot, if it has moved no traffic for `[network] evict_idle_after`;
//!   otherwise the login is refused ([`GatewayError::Full`], a 503 page).
//! - The login's IP is online with another MAC, or its MAC is online with
//!   another IP: refused ([`GatewayError::IdentityTaken`], a 409 page) while
//!   that pair moved traffic within `evict_idle_after`; otherwise that
//!   session ends first, its usage counted to its own device.

use std::net::Ipv4Addr;

use tracing::info;

use super::{Gateway, GatewayError};
use crate::domain::Mac;

impl Gateway {
    /// Make room for `mac` at `ip`: end the sessions that stand in its way
    /// and may be ended, or refuse.
    pub(super) async fn make_room(&self, mac: Mac, ip: Ipv4Addr) -> Result<(), GatewayError> {
        let now = self.now();
        let idle_after = self.config().network.evict_idle_after.as_secs() as i64;
        // The sessions that clash, from the session index (`sessions.rs`):
        // the address's holders and the MAC's own session, never a walk.
        let clashing: Vec<(Mac, Ipv4Addr, i64)> = {
            let records = self.records.lock().expect("records lock");
            let ix = &records.sessions;
            let mut macs: Vec<Mac> = ix.at_ip(ip).collect();
            macs.push(mac);
            macs.sort();
            macs.dedup();
            macs.into_iter()
                .filter_map(|other| {
                    let held = ix.get(&other).filter(|h| h.ends > now)?;
                    clashes(mac, ip, other, held.ip).then_some((other, held.ip, held.last_activity))
                })
                .collect()
        };
        let mut end: Vec<Mac> = Vec::new();
        for (other, other_ip, stored) in clashing {
            if now - self.last_activity(other, stored) < idle_after {
                info!(mac = %mac, ip = %ip, holder = %other, holder_ip = %other_ip,
                      "login refused: the identity is in use");
                return Err(GatewayError::IdentityTaken(ip));
            }
            end.push(other);
        }
        if !end.is_empty() {
            self.revoke_many(&end, "identity taken over after idling")
                .await?;
        }
        let holders: Vec<(i64, Mac)> = {
            let records = self.records.lock().expect("records lock");
            let has_slot =
                !end.contains(&mac) && records.sessions.get(&mac).is_some_and(|h| h.ends > now);
            let full = records.online() as usize >= records.slots.len();
            if has_slot || !full {
                return Ok(());
            }
            // All slots taken: the one place that looks at every session (in
            // memory, no decoding), and only while the village is full.
            let unsaved = self.unsaved.lock().expect("unsaved lock");
            records
                .sessions
                .iter()
                .filter(|(m, h)| *m != mac && !end.contains(m) && h.ends > now && h.slot.is_some())
                .map(|(m, h)| {
                    let pending = unsaved.get(&m).map_or(0, |u| u.last_activity);
                    (h.last_activity.max(pending), m)
                })
                .collect()
        };
        match evictable(&holders, now, idle_after) {
            Some((last, victim)) => {
                self.revoke(victim, "slot given to a new login").await?;
                crate::telemetry::slot_evicted();
                info!(mac = %mac, evicted = %victim, idle_secs = now - last, "slot evicted");
                Ok(())
            }
            None => Err(GatewayError::Full(self.config().network.max_online)),
        }
    }

    /// Unix seconds of the device's last counted traffic: the store's
    /// (`stored`), or the last accounting pass's when it has not been written yet.
    fn last_activity(&self, mac: Mac, stored: i64) -> i64 {
        let unsaved = self
            .unsaved
            .lock()
            .expect("unsaved lock")
            .get(&mac)
            .map_or(0, |u| u.last_activity);
        stored.max(unsaved)
    }
}

/// Does a login of `mac` at `ip` clash with the session of `other` at
/// `other_ip`? The same IP with another MAC, or the same MAC on another IP.
fn clashes(mac: Mac, ip: Ipv4Addr, other: Mac, other_ip: Ipv4Addr) -> bool {
    (other != mac && other_ip == ip) || (other == mac && other_ip != ip)
}

/// Of the slot holders (last activity, MAC), the one idle longest, if it has
/// been idle at least `idle_after` seconds at `now`.
fn evictable(holders: &[(i64, Mac)], now: i64, idle_after: i64) -> Option<(i64, Mac)> {
    holders
        .iter()
        .copied()
        .min()
        .filter(|(last, _)| now - last >= idle_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        Mac([2, 0x77, 0, 0, 0, n])
    }

    #[test]
    fn the_idlest_goes_only_when_idle_long_enough() {
        let holders = [(100, mac(1)), (40, mac(2)), (70, mac(3))];
        assert_eq!(evictable(&holders, 150, 120), None, "idle 110 s < 120 s");
        assert_eq!(evictable(&holders, 160, 120), Some((40, mac(2))));
        assert_eq!(evictable(&[], 1000, 1), None);
    }

    #[test]
    fn one_identity_one_session() {
        let (ip1, ip2): (Ipv4Addr, Ipv4Addr) =
            ("10.77.0.11".parse().unwrap(), "10.77.0.12".parse().unwrap());
        assert!(!clashes(mac(1), ip1, mac(1), ip1), "a re-tap");
        assert!(clashes(mac(2), ip1, mac(1), ip1), "another MAC on the IP");
        assert!(clashes(mac(1), ip2, mac(1), ip1), "the MAC from another IP");
        assert!(!clashes(mac(2), ip2, mac(1), ip1), "strangers");
    }
}
