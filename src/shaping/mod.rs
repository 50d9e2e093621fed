//! The shaping room: per-device fairness and rate caps with HTB, as tc batch scripts.
//!
//! "One phone with many flows must not starve a phone with one flow." The
//! kernels we must run on have HTB, TBF and the fifos but no CAKE, fq_codel or
//! sfq, so fairness is per *device*, not per flow: one HTB class per device.
//!
//! Two trees, the same shape, one per direction: on the LAN interface's
//! egress (download: the internet's packets on their way to the phones) and on
//! the WAN interface's egress (upload). Each tree, as tc sees it:
//!
//! ```text
//! qdisc de5a: htb default 2                          root, handle "de5a" ("desa"): ours
//! └─ class de5a:1     rate = ceil = uplink           the uplink (10 Gbit when not configured)
//!    ├─ class de5a:2  rate uplink/20, ceil uplink    unclassified: the router's own traffic, portal, DNS
//!    ├─ class de5a:3  rate uplink/20, ceil uplink    unused since issue 22 (was: the walled garden of online phones)
//!    ├─ class de5a:4  rate 8 kbit, ceil 2 Mbit       everything of phones not online: one shared, capped class
//!    └─ class de5a:8000 + slot                       one per device slot, all equal (no qdisc):
//!         │  rate = 90% of uplink / slots, ceil = min(device's own cap, uplink)
//!         ├─ class de5a:100 + slot                   its traffic: ceil = its cap now (the fair-use speed after its quota)
//!         └─ class de5a:4000 + slot                  its free traffic (free categories, walled garden):
//!                                                    rate 8 kbit, ceil = its own cap, also while throttled
//! every class above except de5a:1 and the device classes has one leaf: qdisc MINOR: tbf (the GSO splitter, below)
//! ```
//!
//! Devices are steered to their class by nftables, not by tc filters: the
//! forward chain sets `meta priority` from a map keyed by the device's address
//! (destination for download, source for upload, before NAT), and HTB takes
//! `skb->priority` as the class id when its major is the qdisc's handle.
//! Classes are made once, at start-up, as numbered *slots*; admitting a device
//! is then one nft map element, and changing its cap (throttle after the quota,
//! an admin's override) is one `tc class change` in a batch ([`slots_script`]).
//!
//! Why this is fair: HTB serves backlogged classes of one level round robin,
//! [`QUANTUM`] bytes each turn, so two busy phones get the same share whatever
//! their number of flows; a phone sending little (a ping, a chat message) stays
//! under its own guaranteed `rate` and is served before the classes that are
//! borrowing, so its packets do not wait behind the others' queues.
//!
//! The leaves are not plain fifos because of GRO/GSO: the router's NICs merge
//! a fast flow's packets into "super-packets" of up to 64 KB, and HTB's round
//! robin gives each busy class at least one *packet* per turn, however large.
//! Measured here with pfifo leaves: 16 flows against 1 went 4 : 15 Mbit/s with
//! a 1514-byte quantum and 16 : 4 with a 64 KB one (Jain 0.75), but 9.6 : 9.6
//! once the same traffic came as wire-sized packets. So each leaf is a TBF
//! that never limits (100 Gbit/s) with a burst of two frames: TBF cuts every
//! GSO packet bigger than its burst into wire-sized segments on enqueue, and
//! its inner byte fifo (`limit`) bounds the class's queue ([`LEAF_QUEUE_MS`]).
//! (CAKE does the same split itself, which is why it needs no such leaf.)
//!
//! Shaping only works where our queue is the bottleneck: set the uplink rates a
//! little (10–20 %) below what the link really does, or the queue forms in the
//! satellite modem instead, where it is shared and unfair again.
//!
//! Class ids (tc writes them in hex, and so does nft's `classid` type):
//!
//! | minor            | class                                             |
//! |------------------|---------------------------------------------------|
//! | `1`              | the uplink (parent of all below)                  |
//! | `2`              | default: everything without a (known) priority    |
//! | `3`              | walled garden ([`garden_classid`])                |
//! | `4`              | walled garden, not online ([`captive_garden_classid`]) |
//! | `100`..=`3fff`   | slot 0..[`MAX_SLOTS`] ([`slot_classid`])          |
//! | `4000`..=`7eff`  | slot's free class ([`slot_free_classid`])         |
//! | `8000`..=`bfff`  | slot's device class, parent of both (no qdisc)    |
//!
//! Each leaf qdisc has the handle `MINOR:` (slot 0's is `100:`), below the
//! handles the kernel hands out by itself (`8000:` and up), so they never clash.

mod tc;

use std::fmt::Write as _;

use crate::domain::MAX_SLOTS;

pub use tc::{ShapingError, Tc};

/// The major of our root qdiscs' handle, "desa". Distinctive on purpose:
/// teardown deletes a root qdisc only when it has this handle (the kernel
/// checks), so a qdisc someone else put there is never removed by `clear`.
pub const MAJOR: u16 = 0xde5a;
/// The uplink class, parent of every other class.
const UPLINK_MINOR: u16 = 0x1;
/// Unclassified traffic: the router's own packets (portal pages, DNS
/// answers), and any packet whose priority names no class of ours.
const DEFAULT_MINOR: u16 = 0x2;
/// The walled garden (public-service sites), for every phone alike.
const GARDEN_MINOR: u16 = 0x3;
/// The walled garden of every device that is not online (captive, blocked,
/// cut off), all in one class so the garden is no free full-speed internet.
const CAPTIVE_GARDEN_MINOR: u16 = 0x4;
/// That class's ceiling, bits per second, shared by all such devices: a
/// public-service page (the portal's budget: tens of kB) or a form's PDF
/// loads in a second or two, while a video or a tunnel over a CDN address
/// the garden opened stays slow; and never more than the uplink.
pub const CAPTIVE_GARDEN_CEIL: u64 = 2_000_000;
/// Slot `s` is minor `FIRST_SLOT_MINOR + s`.
const FIRST_SLOT_MINOR: u16 = 0x100;
/// Slot `s`'s free class is minor `FIRST_FREE_MINOR + s`.
const FIRST_FREE_MINOR: u16 = 0x4000;
/// Slot `s`'s parent (the device: both its leaves, no qdisc) is minor `FIRST_DEVICE_MINOR + s`.
const FIRST_DEVICE_MINOR: u16 = 0x8000;
// Free classes end where the kernel's automatic qdisc handles (`8000:`..)
// begin, since each leaf qdisc takes its class's minor as its handle: the
// limit the config checks `[network] max_online` against ([`MAX_SLOTS`]).
const _: () = assert!(MAX_SLOTS == FIRST_FREE_MINOR - FIRST_SLOT_MINOR);
const _: () = assert!(FIRST_FREE_MINOR as u32 + MAX_SLOTS as u32 <= 0x8000);

/// The root rate when the uplink speed is not configured: fast enough never
/// to be the bottleneck, so only the per-device ceilings shape.
pub const UNSHAPED_RATE: u64 = 10_000_000_000;
/// A slot's guaranteed rate is never below this (tc rounds rates to bytes per
/// second; 1 kB/s keeps a slot's rate real with many slots on a slow uplink).
pub const MIN_SLOT_RATE: u64 = 8_000;
/// The default and garden classes are each guaranteed 1/`RESERVED_DIVISOR` of
/// the uplink; the slots share what is left equally.
const RESERVED_DIVISOR: u64 = 20;
/// The DRR quantum of every class, in bytes: one full Ethernet frame (the
/// leaves see no bigger packets: they split GSO ones), the same for all so
/// that busy classes get equal shares. Set explicitly, or HTB
/// derives it from the rate (rate/r2q), warns "quantum is big/small" and
/// shares unequally between classes of different rates.
pub const QUANTUM: u32 = 1514;
/// How much queue a leaf holds, as time at its ceiling: enough to keep one
/// TCP flow busy, little enough that a throttled phone's own queue does not
/// delay its next page for seconds.
const LEAF_QUEUE_MS: u64 = 100;
/// Bounds of a leaf's queue, in full frames (its `limit` is in bytes). The
/// minimum is TCP's initial window (at 256 kbit/s, half a second); the
/// maximum caps the memory of a very fast class.
const LEAF_FRAMES: (u64, u64) = (10, 1000);
/// The leaf TBF's rate and burst: so fast it never holds a packet back at a
/// village's speeds (overlimits stay 0), and a burst of two frames, so every
/// GSO packet larger than that is split. The kernel keeps the burst as time in
/// 64 ns ticks: 3028 bytes at 100 Gbit/s is 3 ticks, 2400 bytes, still more
/// than a 1514-byte frame (a frame bigger than the burst would be dropped).
const SPLITTER: &str = "tbf rate 100gbit burst 3028";
/// HTB's direct queue (packets whose priority is exactly `de5a:0`), in packets.
const DIRECT_QLEN: u32 = 64;

/// What to build. Rates in bits per second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The villagers' interface: its egress tree shapes downloads.
    pub lan_interface: String,
    /// The uplink interface: its egress tree shapes uploads.
    pub wan_interface: String,
    /// The uplink's download speed; `None` shapes only the per-device caps.
    pub uplink_download: Option<u64>,
    /// The uplink's upload speed; `None` shapes only the per-device caps.
    pub uplink_upload: Option<u64>,
    /// How many device classes to make in each tree (at most [`MAX_SLOTS`]).
    pub slots: u16,
}

/// One device's ceilings, bits per second (> 0; "cut off" is done in nftables, not here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRates {
    /// Its traffic's ceilings now (its caps, or the fair-use speed after its quota).
    pub download: u64,
    pub upload: u64,
    /// Its free traffic's (free categories, the walled garden): its own caps,
    /// also while it is throttled; never more than that (issue 22). The
    /// device's class holds both, so together they never pass these either.
    pub free_download: u64,
    pub free_upload: u64,
}

impl SlotRates {
    /// Ceilings where free traffic has the same caps as the rest.
    pub const fn same(download: u64, upload: u64) -> SlotRates {
        SlotRates {
            download,
            upload,
            free_download: download,
            free_upload: upload,
        }
    }
}

/// The nft `classid` value (as nft's JSON and text syntax spell it, e.g.
/// `"de5a:100"`) that steers a packet to `slot`'s class:
/// `meta priority set ip daddr map { 10.77.0.11 : de5a:100 }`.
///
/// Panics when `slot >= MAX_SLOTS` (a bug in the caller's slot numbering).
pub fn slot_classid(slot: u16) -> String {
    classid(slot_minor(slot))
}

/// The nft `classid` of `slot`'s free class (free categories, the walled
/// garden): a sibling of its class under the device's own parent.
pub fn slot_free_classid(slot: u16) -> String {
    classid(slot_minor(slot) - FIRST_SLOT_MINOR + FIRST_FREE_MINOR)
}

/// The class for walled-garden traffic (full speed even for throttled
/// phones), as its nft `classid`: `meta priority set de5a:3`.
pub fn garden_classid() -> String {
    classid(GARDEN_MINOR)
}

/// The class for walled-garden traffic of devices that are not online, as
/// its nft `classid`: `meta priority set de5a:4`.
pub fn captive_garden_classid() -> String {
    classid(CAPTIVE_GARDEN_MINOR)
}

/// The full tc batch (for `tc -force -batch -`) that (re)builds both trees,
/// every slot at `default` rates.
///
/// A rebuild, never an update: the root is first replaced by a plain pfifo
/// (whatever was there, ours or not), then by our HTB, so the script succeeds
/// on a fresh interface and on one with an older tree of any size alike.
/// Packets queued in the old tree are dropped; caps set since the last build
/// must be applied again with [`slots_script`]. desawifi owns the root qdisc
/// of both interfaces: anything else there (an SQM setup) is replaced.
pub fn setup_script(plan: &Plan, default: SlotRates) -> String {
    let slots = plan.slots.min(MAX_SLOTS);
    let mut out = String::with_capacity(usize::from(slots) * 2 * 230 + 1024);
    for dir in directions(plan) {
        let root = dir.root_rate();
        let reserved = (root / RESERVED_DIVISOR).max(MIN_SLOT_RATE);
        let uplink = dir
            .uplink
            .filter(|r| *r > 0)
            .map_or_else(|| format!("not set, {}", rate(root)), rate);
        let _ = writeln!(
            out,
            "# {} egress ({}): uplink {uplink}, {slots} slots",
            dir.dev, dir.what
        );
        let _ = writeln!(out, "qdisc replace dev {} root pfifo", dir.dev);
        let _ = writeln!(out, "qdisc replace dev {} root handle {MAJOR:x}: htb default {DEFAULT_MINOR:x} direct_qlen {DIRECT_QLEN}", dir.dev);
        let _ = writeln!(
            out,
            "class add dev {} parent {MAJOR:x}: classid {} htb {}",
            dir.dev,
            classid(UPLINK_MINOR),
            class_params(root, root)
        );
        for minor in [DEFAULT_MINOR, GARDEN_MINOR] {
            leaf(&mut out, "add", dir.dev, minor, reserved, root);
        }
        let captive_ceil = CAPTIVE_GARDEN_CEIL.min(root);
        leaf(
            &mut out,
            "add",
            dir.dev,
            CAPTIVE_GARDEN_MINOR,
            MIN_SLOT_RATE.min(captive_ceil),
            captive_ceil,
        );
        for slot in 0..slots {
            device_classes(&mut out, "add", &dir, slots, slot, default);
        }
    }
    out
}

/// `tc class change` lines for some slots (both directions), one batch; each
/// with its leaf's queue resized to the new ceiling. A slot the tree does not
/// have makes tc fail (after changing the others: run with `-force`).
pub fn slots_script(plan: &Plan, slots: &[(u16, SlotRates)]) -> String {
    let mut out = String::with_capacity(slots.len() * 2 * 230);
    let n = plan.slots.min(MAX_SLOTS);
    for dir in directions(plan) {
        for &(slot, rates) in slots {
            device_classes(&mut out, "change", &dir, n, slot, rates);
        }
    }
    out
}

/// Removes both root qdiscs, but only ours: `handle de5a:` makes the kernel
/// refuse ("Invalid handle") when the root is anything else. tc then reports
/// that as an error; [`Tc::teardown`] runs this script and treats "nothing of
/// ours there" (and a missing interface) as done.
pub fn teardown_script(plan: &Plan) -> String {
    directions(plan)
        .iter()
        .map(|d| format!("qdisc del dev {} root handle {MAJOR:x}:\n", d.dev))
        .collect()
}

/// One device's classes in one tree (`verb` is add or change):
// class add dev LAN parent de5a:1 classid de5a:8000+s htb rate R ceil FREE ...    the device
// class add dev LAN parent de5a:8000+s classid de5a:100+s htb rate R ceil NOW ...  its traffic
// qdisc add dev LAN parent de5a:100+s handle 100+s: tbf ...
// class add dev LAN parent de5a:8000+s classid de5a:4000+s htb rate 8kbit ceil FREE ...  its free traffic
// qdisc add dev LAN parent de5a:4000+s handle 4000+s: tbf ...
fn device_classes(
    out: &mut String,
    verb: &str,
    dir: &Direction<'_>,
    slots: u16,
    slot: u16,
    rates: SlotRates,
) {
    let root = dir.root_rate();
    let now = dir.pick(rates).min(root);
    let free = dir.pick_free(rates).max(now).min(root);
    let rate = dir.slot_rate(slots, now);
    let device = FIRST_DEVICE_MINOR + slot;
    let _ = writeln!(
        out,
        "class {verb} dev {} parent {} classid {} htb {}",
        dir.dev,
        classid(UPLINK_MINOR),
        classid(device),
        class_params(rate, free)
    );
    let minor = slot_minor(slot);
    leaf_under(out, verb, dir.dev, device, minor, rate, now);
    let free_minor = minor - FIRST_SLOT_MINOR + FIRST_FREE_MINOR;
    leaf_under(
        out,
        verb,
        dir.dev,
        device,
        free_minor,
        MIN_SLOT_RATE.min(free),
        free,
    );
}

/// One tree: an interface's egress and the rates that apply to it.
struct Direction<'a> {
    dev: &'a str,
    what: &'static str,
    uplink: Option<u64>,
    pick: fn(SlotRates) -> u64,
    pick_free: fn(SlotRates) -> u64,
}

impl Direction<'_> {
    fn root_rate(&self) -> u64 {
        self.uplink.filter(|r| *r > 0).unwrap_or(UNSHAPED_RATE)
    }

    fn pick(&self, rates: SlotRates) -> u64 {
        (self.pick)(rates).max(MIN_SLOT_RATE)
    }

    fn pick_free(&self, rates: SlotRates) -> u64 {
        (self.pick_free)(rates).max(MIN_SLOT_RATE)
    }

    /// The guaranteed rate of each of `slots` classes: an equal part of what
    /// the default and garden classes leave, never above the slot's ceiling
    /// (HTB wants rate <= ceil).
    fn slot_rate(&self, slots: u16, ceil: u64) -> u64 {
        let root = self.root_rate();
        let reserved = 2 * (root / RESERVED_DIVISOR).max(MIN_SLOT_RATE);
        let share = root.saturating_sub(reserved) / u64::from(slots.max(1));
        share.max(MIN_SLOT_RATE).min(ceil)
    }
}

fn directions(plan: &Plan) -> [Direction<'_>; 2] {
    [
        Direction {
            dev: &plan.lan_interface,
            what: "download",
            uplink: plan.uplink_download,
            pick: |r| r.download,
            pick_free: |r| r.free_download,
        },
        Direction {
            dev: &plan.wan_interface,
            what: "upload",
            uplink: plan.uplink_upload,
            pick: |r| r.upload,
            pick_free: |r| r.free_upload,
        },
    ]
}

fn slot_minor(slot: u16) -> u16 {
    assert!(
        slot < MAX_SLOTS,
        "shaping slot {slot} out of range (at most {MAX_SLOTS} slots)"
    );
    FIRST_SLOT_MINOR + slot
}

fn classid(minor: u16) -> String {
    format!("{MAJOR:x}:{minor:x}")
}

/// A leaf class under the uplink class and its splitter (`verb` is add or change).
// class add dev LAN parent de5a:1 classid de5a:100 htb rate R ceil C burst B cburst CB quantum 1514
// qdisc add dev LAN parent de5a:100 handle 100: tbf rate 100gbit burst 3028 limit BYTES
fn leaf(out: &mut String, verb: &str, dev: &str, minor: u16, rate_bits: u64, ceil_bits: u64) {
    leaf_under(out, verb, dev, UPLINK_MINOR, minor, rate_bits, ceil_bits);
}

/// A leaf class under class `parent` and its splitter.
fn leaf_under(
    out: &mut String,
    verb: &str,
    dev: &str,
    parent: u16,
    minor: u16,
    rate_bits: u64,
    ceil_bits: u64,
) {
    let id = classid(minor);
    let _ = writeln!(
        out,
        "class {verb} dev {dev} parent {} classid {id} htb {}",
        classid(parent),
        class_params(rate_bits, ceil_bits)
    );
    let _ = writeln!(
        out,
        "qdisc {verb} dev {dev} parent {id} handle {minor:x}: {SPLITTER} limit {}",
        leaf_limit(ceil_bits)
    );
}

/// `rate .. ceil .. burst .. cburst .. quantum ..`. Bursts are explicit: tc's
/// default (rate/HZ + 1600 bytes) comes out as 0 bytes above ~4 Gbit/s, and
/// 1 ms of the rate keeps a fast class from waiting on the timer every packet.
fn class_params(rate_bits: u64, ceil_bits: u64) -> String {
    format!(
        "rate {} ceil {} burst {} cburst {} quantum {QUANTUM}",
        rate(rate_bits),
        rate(ceil_bits),
        burst(rate_bits),
        burst(ceil_bits)
    )
}

/// Bytes HTB may send at once: 1 ms of `bits_per_sec`, at least 1600 (tc's default MTU).
fn burst(bits_per_sec: u64) -> u64 {
    (bits_per_sec / 8 / 1000).max(1600)
}

/// A leaf's queue limit in bytes: [`LEAF_QUEUE_MS`] at `ceil_bits`, within [`LEAF_FRAMES`].
fn leaf_limit(ceil_bits: u64) -> u64 {
    let frame = u64::from(QUANTUM);
    (ceil_bits / 8 / 1000 * LEAF_QUEUE_MS).clamp(LEAF_FRAMES.0 * frame, LEAF_FRAMES.1 * frame)
}

/// A rate as tc reads it, exactly: "20mbit", "256kbit", "19531bit" (tc's k/m/g are decimal).
fn rate(bits: u64) -> String {
    match bits {
        b if b >= 1_000_000_000 && b % 1_000_000_000 == 0 => format!("{}gbit", b / 1_000_000_000),
        b if b >= 1_000_000 && b % 1_000_000 == 0 => format!("{}mbit", b / 1_000_000),
        b if b >= 1_000 && b % 1_000 == 0 => format!("{}kbit", b / 1_000),
        b => format!("{b}bit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DEFAULT_SLOTS;

    fn plan() -> Plan {
        Plan {
            lan_interface: "br-lan".into(),
            wan_interface: "wan0".into(),
            uplink_download: Some(20_000_000),
            uplink_upload: Some(10_000_000),
            slots: 3,
        }
    }

    const CAP: SlotRates = SlotRates::same(5_000_000, 2_000_000);

    /// Compare with a golden file; `UPDATE_GOLDEN=1 cargo test` rewrites it.
    fn golden(name: &str, script: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, script).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 makes it)", path.display()));
        assert_eq!(
            script,
            want,
            "{} differs; review and UPDATE_GOLDEN=1 if intended",
            path.display()
        );
    }

    #[test]
    fn setup_matches_golden() {
        golden("tc-setup.txt", &setup_script(&plan(), CAP));
    }

    #[test]
    fn setup_without_uplink_shapes_only_the_caps() {
        let p = Plan {
            uplink_download: None,
            uplink_upload: None,
            ..plan()
        };
        golden("tc-setup-unshaped.txt", &setup_script(&p, CAP));
    }

    #[test]
    fn throttle_matches_golden() {
        let fair_use = SlotRates {
            download: 256_000,
            upload: 256_000,
            ..CAP
        };
        golden(
            "tc-throttle.txt",
            &slots_script(&plan(), &[(1, fair_use), (2, CAP)]),
        );
    }

    #[test]
    fn teardown_names_our_handle_on_both_interfaces() {
        assert_eq!(
            teardown_script(&plan()),
            "qdisc del dev br-lan root handle de5a:\nqdisc del dev wan0 root handle de5a:\n"
        );
    }

    #[test]
    fn classids_are_hex_minors_under_our_major() {
        assert_eq!(slot_classid(0), "de5a:100");
        assert_eq!(slot_classid(1), "de5a:101");
        assert_eq!(slot_classid(1023), "de5a:4ff");
        assert_eq!(slot_classid(MAX_SLOTS - 1), "de5a:3fff");
        assert_eq!(slot_free_classid(0), "de5a:4000");
        assert_eq!(slot_free_classid(MAX_SLOTS - 1), "de5a:7eff");
        assert_eq!(garden_classid(), "de5a:3");
        // Every slot's class is made by setup under exactly that id.
        let script = setup_script(
            &Plan {
                slots: DEFAULT_SLOTS,
                ..plan()
            },
            CAP,
        );
        for slot in [0, 1, 511, DEFAULT_SLOTS - 1] {
            assert!(
                script.contains(&format!("classid {} htb", slot_classid(slot))),
                "slot {slot}"
            );
        }
        assert!(!script.contains(&format!("classid {} htb", slot_classid(DEFAULT_SLOTS))));
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn a_slot_past_the_range_is_a_bug() {
        slot_classid(MAX_SLOTS);
    }

    #[test]
    fn rates_stay_within_what_htb_accepts() {
        // Many slots on a slow uplink: the guaranteed rate is floored, never above the ceiling.
        let slow = Plan {
            uplink_download: Some(1_000_000),
            slots: MAX_SLOTS,
            ..plan()
        };
        let d = &directions(&slow)[0];
        assert_eq!(d.slot_rate(MAX_SLOTS, 2_000_000), MIN_SLOT_RATE);
        assert_eq!(directions(&plan())[0].slot_rate(3, 256_000), 256_000);
        assert_eq!(directions(&plan())[0].slot_rate(3, 20_000_000), 6_000_000);
        assert_eq!(rate(20_000_000), "20mbit");
        assert_eq!(rate(256_000), "256kbit");
        assert_eq!(rate(17_578), "17578bit");
        assert_eq!(rate(UNSHAPED_RATE), "10gbit");
        assert_eq!(leaf_limit(256_000), 15_140);
        assert_eq!(leaf_limit(20_000_000), 250_000);
        assert_eq!(leaf_limit(UNSHAPED_RATE), 1_514_000);
        assert_eq!(burst(UNSHAPED_RATE), 1_250_000);
    }

    #[test]
    fn a_cap_above_the_uplink_is_the_uplink() {
        let script = slots_script(
            &plan(),
            &[(0, SlotRates::same(1_000_000_000, 1_000_000_000))],
        );
        assert!(
            script.contains("classid de5a:100 htb rate 6mbit ceil 20mbit"),
            "{script}"
        );
        assert!(
            script.contains("classid de5a:100 htb rate 3mbit ceil 10mbit"),
            "{script}"
        );
    }
}
