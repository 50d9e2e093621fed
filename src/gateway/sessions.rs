//! The stored sessions, indexed in memory by MAC, by address and by end:
//! what a login's identity check (`slots.rs`) and the expiry loop ask, so
//! neither decodes every device record in the store. At 10,000 online each
//! login did both (about 20 ms apiece; BENCHMARKS.md, "Issue 10's hot paths").
//!
//! Kept under the records lock and updated by every device write
//! ([`super::Records::wrote`]), so it always says what the store says.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use crate::domain::{Device, Mac};

/// One stored session, as much of it as the checks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Held {
    /// The session's address.
    pub ip: Ipv4Addr,
    /// Unix seconds it ends.
    pub ends: i64,
    /// Its shaping slot.
    pub slot: Option<u16>,
    /// Unix seconds of its last counted traffic, as stored.
    pub last_activity: i64,
}

/// Every device record with a session (ended or not), indexed.
#[derive(Debug, Default)]
pub(super) struct SessionIndex {
    by_mac: HashMap<Mac, Held>,
    by_ip: BTreeSet<(Ipv4Addr, Mac)>,
    by_end: BTreeSet<(i64, Mac)>,
}

impl SessionIndex {
    /// The device's record was written as `device`.
    pub fn set(&mut self, device: &Device) {
        self.remove(device.mac);
        if let Some(s) = &device.session {
            let held = Held {
                ip: s.ip,
                ends: s.ends,
                slot: s.slot,
                last_activity: s.last_activity,
            };
            self.by_ip.insert((held.ip, device.mac));
            self.by_end.insert((held.ends, device.mac));
            self.by_mac.insert(device.mac, held);
        }
    }

    /// The device's record is gone.
    pub fn remove(&mut self, mac: Mac) {
        if let Some(old) = self.by_mac.remove(&mac) {
            self.by_ip.remove(&(old.ip, mac));
            self.by_end.remove(&(old.ends, mac));
        }
    }

    /// The device's session, if its record has one.
    pub fn get(&self, mac: &Mac) -> Option<&Held> {
        self.by_mac.get(mac)
    }

    /// Devices whose session is at `ip` (usually none or one), by MAC.
    pub fn at_ip(&self, ip: Ipv4Addr) -> impl Iterator<Item = Mac> + '_ {
        self.by_ip
            .range((ip, Mac([0; 6]))..=(ip, Mac([0xff; 6])))
            .map(|(_, mac)| *mac)
    }

    /// Sessions that have ended at `now` (by MAC), and when the next one ends.
    pub fn due(&self, now: i64) -> (Vec<Mac>, Option<i64>) {
        let mut due: Vec<Mac> = self
            .by_end
            .range(..(now.saturating_add(1), Mac([0; 6])))
            .map(|(_, mac)| *mac)
            .collect();
        due.sort();
        let next = self
            .by_end
            .range((now.saturating_add(1), Mac([0; 6]))..)
            .next()
            .map(|(ends, _)| *ends);
        (due, next)
    }

    /// Every session, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (Mac, &Held)> {
        self.by_mac.iter().map(|(mac, h)| (*mac, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Session;

    fn device(n: u8, ip: u8, ends: i64) -> Device {
        let mut d = Device::new(Mac([2, 0x77, 0, 0, 0, n]), 0);
        d.session = Some(Session {
            ends,
            ..Session::new(Ipv4Addr::new(10, 77, 0, ip), 0, 0)
        });
        d
    }

    #[test]
    fn the_index_follows_the_writes() {
        let mut ix = SessionIndex::default();
        let (a, b, c) = (device(1, 11, 100), device(2, 11, 50), device(3, 12, 100));
        for d in [&a, &b, &c] {
            ix.set(d);
        }
        assert_eq!(ix.at_ip(Ipv4Addr::new(10, 77, 0, 11)).count(), 2);
        assert_eq!(ix.due(49), (vec![], Some(50)));
        assert_eq!(ix.due(50), (vec![b.mac], Some(100)));
        assert_eq!(ix.due(100), (vec![a.mac, b.mac, c.mac], None));
        // `a` moves to another address and ends later; `b`'s session ends.
        let mut a2 = device(1, 13, 200);
        a2.mac = a.mac;
        ix.set(&a2);
        let mut b2 = b.clone();
        b2.session = None;
        ix.set(&b2);
        assert_eq!(ix.at_ip(Ipv4Addr::new(10, 77, 0, 11)).count(), 0);
        assert_eq!(
            ix.get(&a.mac).map(|h| h.ip),
            Some(Ipv4Addr::new(10, 77, 0, 13))
        );
        assert_eq!(ix.due(150), (vec![c.mac], Some(200)));
        ix.remove(c.mac);
        assert_eq!(ix.iter().count(), 1);
        assert_eq!(ix.due(1000), (vec![a.mac], None));
    }
}
