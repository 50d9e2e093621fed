//! What the kernel has in our table ([`KernelState`], read by `nft` in
//! [`super::apply`] or over netlink in [`super::netlink`]) and what an
//! accounting pass takes from it ([`Counted`]). Data only, below both readers.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::*;

/// What the kernel has in our table, counters included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelState {
    /// `inet desawifi` exists.
    pub table_exists: bool,
    /// Its sets have the shape this version renders (else it is replaced).
    pub compatible: bool,
    /// `online` elements with their upload byte counters.
    pub online: BTreeMap<DeviceKey, u64>,
    /// `online_nat` elements (no counters).
    pub online_nat: std::collections::BTreeSet<DeviceKey>,
    /// `down` elements with their download byte counters.
    pub down: BTreeMap<Ipv4Addr, u64>,
    /// `free` elements with their free-category byte counters.
    pub free: BTreeMap<Ipv4Addr, u64>,
    /// The DNS meter sets that exist. Once a rule updates one, the kernel
    /// marks it dynamic, and nft 1.0.6's JSON cannot say `dynamic`: adding
    /// it again would fail ("File exists"), so a reconcile leaves them be.
    pub meters: std::collections::BTreeSet<String>,
    /// Usage-category counters: id -> (download, upload) bytes (site-wide, never per device).
    pub categories: CategoryCounters,
}

/// What an accounting pass reads from the kernel ([`Nft::counters`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    /// Every online device's byte counters.
    pub devices: BTreeMap<DeviceKey, DeviceCounters>,
    /// The usage categories' site-wide counters.
    pub categories: CategoryCounters,
}

impl KernelState {
    /// What the accounting pass reads, from the counted sets.
    pub(super) fn into_counted(self) -> Counted {
        Counted {
            devices: self.counters(),
            categories: self.categories,
        }
    }

    /// Counters per online device, as the accounting loop wants them.
    pub fn counters(&self) -> BTreeMap<DeviceKey, DeviceCounters> {
        self.online
            .iter()
            .map(|(key, up)| {
                let download = self.down.get(&key.ip).copied().unwrap_or(0);
                let free = self.free.get(&key.ip).copied().unwrap_or(0);
                (
                    *key,
                    DeviceCounters {
                        upload: *up,
                        download,
                        free,
                    },
                )
            })
            .collect()
    }
}
