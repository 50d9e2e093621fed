//! The firewall task's mirror of the kernel's `online` set (each device with
//! its shaping slot), indexed by address too, so a batch of device changes
//! costs in proportion to the changes, not to the devices online: a login at
//! 10,000 online used to clone the whole mirror and diff it as sets
//! (O(n log n) per batch, about 3–4 ms at 10,000; BENCHMARKS.md).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::domain::Mac;
use crate::firewall::DeviceKey;

/// The devices in the kernel's `online` set after the last successful apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Mirror {
    slots: BTreeMap<DeviceKey, u16>,
    /// The same keys by address (two MACs may share one in a stored state).
    by_ip: BTreeSet<(Ipv4Addr, Mac)>,
}

/// What a batch changes in the kernel, in the order the old whole-mirror
/// diff produced it (keys and addresses sorted).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Delta {
    /// Keys that leave `online`.
    pub revoke: Vec<DeviceKey>,
    /// Addresses no key has any more (leave `down` and the class maps).
    pub revoke_ips: Vec<Ipv4Addr>,
    /// Keys that join `online`.
    pub admit: Vec<DeviceKey>,
    /// Addresses that had no key before, with their slot.
    pub admit_ips: Vec<(Ipv4Addr, u16)>,
}

/// What each device touched by a batch becomes: `Some(slot)` admitted,
/// `None` revoked (the last change for a device wins).
pub(super) type Touched = BTreeMap<DeviceKey, Option<u16>>;

impl Mirror {
    /// The mirror of these (key, slot) pairs.
    pub fn new(pairs: impl IntoIterator<Item = (DeviceKey, u16)>) -> Mirror {
        let mut m = Mirror::default();
        for (key, slot) in pairs {
            m.insert(key, slot);
        }
        m
    }

    fn insert(&mut self, key: DeviceKey, slot: u16) {
        self.slots.insert(key, slot);
        self.by_ip.insert((key.ip, key.mac));
    }

    fn remove(&mut self, key: &DeviceKey) {
        if self.slots.remove(key).is_some() {
            self.by_ip.remove(&(key.ip, key.mac));
        }
    }

    /// The slot mirrored for `key`.
    pub fn slot(&self, key: &DeviceKey) -> Option<u16> {
        self.slots.get(key).copied()
    }

    /// The slot an address has in the class maps: that of its key with the
    /// highest MAC (what collecting the keys in order into an address map
    /// kept), after `touched` if given.
    fn ip_slot(&self, ip: Ipv4Addr, touched: Option<&Touched>) -> Option<u16> {
        let lo = (ip, Mac([0; 6]));
        let hi = (ip, Mac([0xff; 6]));
        let mut best: Option<(Mac, u16)> = None;
        let mut consider = |mac: Mac, slot: Option<u16>| {
            if let Some(slot) = slot {
                if best.is_none_or(|(m, _)| mac > m) {
                    best = Some((mac, slot));
                }
            }
        };
        for &(_, mac) in self.by_ip.range(lo..=hi) {
            let key = DeviceKey { mac, ip };
            match touched.and_then(|t| t.get(&key)) {
                Some(now) => consider(mac, *now),
                None => consider(mac, self.slot(&key)),
            }
        }
        if let Some(t) = touched {
            for (key, now) in t.iter().filter(|(k, _)| k.ip == ip) {
                if !self.slots.contains_key(key) {
                    consider(key.mac, *now);
                }
            }
        }
        best.map(|(_, slot)| slot)
    }

    /// What applying `touched` changes in the kernel.
    pub fn delta(&self, touched: &Touched) -> Delta {
        let mut d = Delta::default();
        for (key, now) in touched {
            match (self.slots.contains_key(key), now) {
                (true, None) => d.revoke.push(*key),
                (false, Some(_)) => d.admit.push(*key),
                _ => {}
            }
        }
        let ips: BTreeSet<Ipv4Addr> = touched.keys().map(|k| k.ip).collect();
        for ip in ips {
            match (self.ip_slot(ip, None), self.ip_slot(ip, Some(touched))) {
                (Some(_), None) => d.revoke_ips.push(ip),
                (None, Some(slot)) => d.admit_ips.push((ip, slot)),
                _ => {}
            }
        }
        d
    }

    /// The mirror after `touched` applied.
    pub fn apply(&mut self, touched: &Touched) {
        for (key, now) in touched {
            match now {
                Some(slot) => self.insert(*key, *slot),
                None => self.remove(key),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(m: u8, ip: u8) -> DeviceKey {
        DeviceKey {
            mac: Mac([2, 0x77, 0, 0, 0, m]),
            ip: Ipv4Addr::new(10, 77, 0, ip),
        }
    }

    /// The whole-mirror diff the task did before (the reference).
    fn old_delta(old: &BTreeMap<DeviceKey, u16>, touched: &Touched) -> Delta {
        let mut next = old.clone();
        for (k, now) in touched {
            match now {
                Some(s) => {
                    next.insert(*k, *s);
                }
                None => {
                    next.remove(k);
                }
            }
        }
        let old_keys: BTreeSet<DeviceKey> = old.keys().copied().collect();
        let new_keys: BTreeSet<DeviceKey> = next.keys().copied().collect();
        let ips = |m: &BTreeMap<DeviceKey, u16>| {
            m.iter()
                .map(|(k, s)| (k.ip, *s))
                .collect::<BTreeMap<Ipv4Addr, u16>>()
        };
        let (old_ips, new_ips) = (ips(old), ips(&next));
        Delta {
            revoke: old_keys.difference(&new_keys).copied().collect(),
            admit: new_keys.difference(&old_keys).copied().collect(),
            revoke_ips: old_ips
                .keys()
                .filter(|ip| !new_ips.contains_key(ip))
                .copied()
                .collect(),
            admit_ips: new_ips
                .iter()
                .filter(|(ip, _)| !old_ips.contains_key(ip))
                .map(|(ip, s)| (*ip, *s))
                .collect(),
        }
    }

    #[test]
    fn the_delta_is_the_whole_mirror_diff() {
        // Keys on 4 addresses with 4 MACs, some sharing an address.
        let all: Vec<DeviceKey> = (1..=4)
            .flat_map(|m| (1..=4).map(move |ip| key(m, ip)))
            .collect();
        // Many pseudo-random (old state, batch) pairs: the same delta and mirror.
        let mut seed = 0x2545_f491_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let mut old: BTreeMap<DeviceKey, u16> = BTreeMap::new();
            for k in &all {
                if next() % 3 == 0 {
                    old.insert(*k, (next() % 8) as u16);
                }
            }
            let mut touched = Touched::new();
            for _ in 0..(next() % 5) {
                let k = all[(next() % all.len() as u64) as usize];
                let now = (next() % 2 == 0).then(|| (next() % 8) as u16);
                touched.insert(k, now);
            }
            let mut mirror = Mirror::new(old.iter().map(|(k, s)| (*k, *s)));
            assert_eq!(mirror.delta(&touched), old_delta(&old, &touched));
            mirror.apply(&touched);
            let mut want = old.clone();
            for (k, now) in &touched {
                match now {
                    Some(s) => want.insert(*k, *s),
                    None => want.remove(k),
                };
            }
            assert_eq!(mirror, Mirror::new(want));
        }
    }
}
