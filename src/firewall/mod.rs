//! The firewall room: the desired nftables ruleset as data, applied to the
//! kernel in one transaction, and the per-device counters read back.
//!
//! It knows nothing of HTTP or of the store. The gateway core hands it a
//! [`Policy`] at start-up (a full reconcile) and device changes afterwards
//! ([`Change`]), which the [`task`] batches into one `nft -j -f -` each.

pub mod apply;
pub mod categories;
pub mod netlink;
pub mod render;
pub mod state;
pub mod task;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::domain::Mac;

pub use crate::shaping::SlotRates;
pub use apply::Nft;
pub use categories::{CategoryCounters, CategoryRule, Direction};
pub use state::KernelState;
pub use task::{Firewall, FirewallHandle};

/// Our one table. Nothing else on the box is ever touched.
pub const TABLE: &str = "desawifi";
/// Online devices as `ether_addr . ipv4_addr`, one counter per element (upload bytes).
pub const SET_ONLINE: &str = "online";
/// The same devices as [`SET_ONLINE`] without counters, for the nat chain:
/// a lookup that matches a counted element counts the packet, so the nat
/// chain must not look in `online` or first packets would count twice.
pub const SET_ONLINE_NAT: &str = "online_nat";
/// Online devices' IPv4 addresses, one counter per element (download bytes).
pub const SET_DOWN: &str = "down";
/// Online devices' IPv4 addresses, one counter per element: the bytes of
/// free categories, both ways (`[usage] free_daily_data`). Looked up only by
/// the free chains, from connections an online device's packets marked; a
/// device without its element (none yet, or its day's allowance spent) is
/// counted by `down`/`online` like any other traffic.
pub const SET_FREE: &str = "free";
/// Walled-garden IPv4 networks, reachable without logging in.
pub const SET_GARDEN4: &str = "garden4";
/// Walled-garden IPv6 networks (kept for the day IPv6 clients are admitted).
pub const SET_GARDEN6: &str = "garden6";
/// Walled-garden addresses learned from DNS: dnsmasq's `nftset=` puts the
/// answers for the walled-garden domains here (elements time out after a day).
pub const SET_GARDEN_DNS4: &str = "garden_dns4";
/// How long a DNS-learned walled-garden address stays, in seconds.
pub const GARDEN_DNS_TIMEOUT: u32 = 86_400;
/// Online devices as `ether_addr . ipv4_addr` -> their shaping slot + 1, as a
/// `mark`: the forward chain copies it into the connection's mark (`ct mark`)
/// from each packet the device sends, where its MAC is known, so the
/// connection's replies find the device's class by the mark, never by the
/// destination address alone (issue 22: a phone on an online phone's address
/// got its class). Mark 0: a connection of no online device.
pub const MAP_DEV_SLOT: &str = "dev_slot";
/// Connection mark (slot + 1) -> the slot's HTB class id (both trees use the
/// same ids), for every slot the trees have; made at each full apply.
pub const MAP_SLOT_CLASS: &str = "slot_class";
/// Connection mark (slot + 1) -> the slot's free class (free categories and
/// the walled garden: the device's own caps, also while it is throttled).
pub const MAP_SLOT_FREE: &str = "slot_free";
/// Private IPv4 networks (RFC 1918, 100.64.0.0/10, 169.254.0.0/16): no
/// destination beyond the router for anyone, except [`SET_ALLOW_PRIVATE4`].
pub const SET_PRIVATE4: &str = "private4";
/// `[network] allow_private`: private networks online devices may reach.
pub const SET_ALLOW_PRIVATE4: &str = "allow_private4";
/// Per-device DNS meter of online devices (dynamic, elements time out),
/// keyed by the sending MAC (`ether saddr`): a phone that adds addresses
/// still has one allowance (issue 22). The name differs from the per-address
/// meters of before (`dns_online`), whose type an upgraded table still has.
pub const SET_DNS_ONLINE: &str = "dns_dev_online";
/// Per-device DNS meter of devices that are not online, by MAC too.
pub const SET_DNS_CAPTIVE: &str = "dns_dev_captive";
/// Per-device DHCP meter (by sending MAC): one phone asking leases for many
/// made-up client addresses gets a few, not the pool (issue 22).
pub const SET_DHCP_DEV: &str = "dhcp_dev";
/// Sets whose elements carry a byte counter (declared with `counter`), one
/// element per device, each looked up by one rule.
pub const COUNTED_SETS: [&str; 3] = [SET_ONLINE, SET_DOWN, SET_FREE];
/// The usage categories' byte counters: one counted element per category and
/// direction (see `categories.rs`). Elements, not named counters, because
/// nft 1.0.6 lists a set alone but fetches the whole table (every element of
/// every set) for any `list counter(s)`.
pub const SET_CAT_BYTES: &str = "cat_bytes";
/// What an accounting pass lists: the per-device counted sets and the categories'.
pub const READ_SETS: [&str; 4] = [SET_ONLINE, SET_DOWN, SET_FREE, SET_CAT_BYTES];

/// Chain names, one per hook.
pub const CHAIN_PREROUTING: &str = "prerouting";
pub const CHAIN_FORWARD: &str = "forward";
pub const CHAIN_INPUT: &str = "input";
/// Packets to the LAN (downloads), jumped to from `forward`.
pub const CHAIN_TO_LAN: &str = "to_lan";
/// Packets from the LAN, jumped to from `forward`.
pub const CHAIN_FROM_LAN: &str = "from_lan";
/// Packets from an online device (its connection's mark just set).
pub const CHAIN_ONLINE_UP: &str = "online_up";

/// One admitted device as the kernel sees it: the MAC and IPv4 address
/// together, so forging only one of them passes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey {
    pub mac: Mac,
    pub ip: Ipv4Addr,
}

/// A walled-garden network (CIDR). IPv4 and IPv6 go to different sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GardenNet {
    V4(Ipv4Addr, u8),
    V6(Ipv6Addr, u8),
}

/// Everything the ruleset is derived from. Built by the gateway core from
/// config + store; `render` turns it into an nftables document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The villagers' interface (a bridge on most routers).
    pub lan_interface: String,
    /// The router's LAN address, where the portal listens.
    pub portal_address: Ipv4Addr,
    /// The portal's TCP port; captive tcp/80 is redirected here.
    pub portal_port: u16,
    /// The portal's HTTPS port, when it serves HTTPS too.
    pub portal_https_port: Option<u16>,
    /// Destinations reachable without logging in.
    pub walled_garden: Vec<GardenNet>,
    /// The TCP ports of the walled garden open to devices that are not online.
    pub garden_ports: Vec<u16>,
    /// Private IPv4 networks online devices may still reach (`[network] allow_private`).
    pub allow_private: Vec<(Ipv4Addr, u8)>,
    /// Devices that are online, each with its shaping slot and ceilings.
    pub online: Vec<OnlineDevice>,
    /// Usage categories in the order they are tried (first match counts).
    pub categories: Vec<categories::CategoryRule>,
    /// How many shaping slots the HTB trees have (`[network] max_online`):
    /// every one gets its element in [`MAP_SLOT_CLASS`].
    pub slots: u16,
}

/// An online device as the kernel needs it: who, which HTB class pair, how fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnlineDevice {
    pub key: DeviceKey,
    /// Its traffic-shaping slot (an HTB class on the LAN and one on the WAN).
    pub slot: u16,
    /// The slot's ceilings now (caps, or the fair-use speed after the quota).
    pub rates: SlotRates,
}

/// Byte counters of one online device, read back from the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceCounters {
    /// Bytes the device sent (LAN -> WAN), from the `online` set element.
    pub upload: u64,
    /// Bytes sent to the device (WAN -> LAN), from the `down` set element.
    pub download: u64,
    /// Free-category bytes both ways, from the `free` set element.
    pub free: u64,
}

/// A change to the online devices or their speeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Let the device through, steered into its slot at these rates.
    Admit(OnlineDevice),
    /// Make the device captive again.
    Revoke(DeviceKey),
    /// Change a slot's ceilings (throttle after quota, back at midnight, overrides).
    Rates { slot: u16, rates: SlotRates },
}

/// What can go wrong talking to the kernel.
///
/// `Clone`, because one coalesced batch answers every request folded into it
/// with the same result; the causes that are not `Clone` themselves are
/// shared behind an `Arc` (so `source()` is an `Arc<NftablesError>`, an
/// `Arc<ShapingError>`, ...: downcast to that).
#[derive(Debug, Clone, thiserror::Error)]
pub enum FirewallError {
    /// The `nft` binary could not be run or rejected our document; `stderr`
    /// is what nft said (the crate's own message leaves it out).
    #[error("nft failed: {source}{}", stderr_suffix(.source))]
    Nft {
        #[source]
        source: Arc<nftables::helper::NftablesError>,
    },
    /// `nft` printed JSON we could not understand.
    #[error("could not read nft's answer ({what}): {source}")]
    Parse {
        /// Which part of the listing (the document, or a set's elements).
        what: String,
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// One of our sets holds an element of a shape this version never renders.
    #[error("unexpected element in set {set}: {elem}")]
    Element {
        set: &'static str,
        /// The element as nft printed it.
        elem: String,
    },
    /// After a full apply, the kernel's table is not what we asked for.
    #[error(
        "verification after apply failed: wanted {wanted} online devices, the kernel has {have}{}",
        if *.compatible { "" } else { " (and its sets have another shape)" }
    )]
    Verify {
        wanted: usize,
        have: usize,
        /// The table's sets have the shape this version renders.
        compatible: bool,
    },
    /// `tc` failed to build or change the shaping tree.
    #[error("shaping failed: {source}")]
    Shaping {
        #[source]
        source: Arc<crate::shaping::ShapingError>,
    },
    /// The firewall task is gone (the daemon is shutting down): the request
    /// could not be queued.
    #[error("the firewall task has stopped")]
    Stopped(#[source] mpsc::error::SendError<()>),
    /// The firewall task stopped before it answered a queued request.
    #[error("the firewall task stopped before answering")]
    Unanswered(#[source] oneshot::error::RecvError),
}

impl From<nftables::helper::NftablesError> for FirewallError {
    fn from(e: nftables::helper::NftablesError) -> Self {
        FirewallError::Nft {
            source: Arc::new(e),
        }
    }
}

impl From<crate::shaping::ShapingError> for FirewallError {
    fn from(e: crate::shaping::ShapingError) -> Self {
        FirewallError::Shaping {
            source: Arc::new(e),
        }
    }
}

/// `: <nft's stderr>` when nft ran and said why it failed, else nothing.
fn stderr_suffix(e: &nftables::helper::NftablesError) -> String {
    match e {
        nftables::helper::NftablesError::NftFailed { stderr, .. } if !stderr.trim().is_empty() => {
            format!(": {}", stderr.trim())
        }
        _ => String::new(),
    }
}
