//! Usage categories in the kernel: one set per category, filled by dnsmasq
//! (`nftset=`), and two byte counters per category (download, upload),
//! never anything per device.
//!
//! ```text
//!   set cat_video { type ipv4_addr; flags timeout; timeout 1d; }   # filled by dnsmasq
//!   set cat_bytes { type mark; counter;                  # one counted element per category and way
//!     elements = { K(cat_video_down) comment "cat_video_down", K(cat_video_up) comment "cat_video_up",
//!                  ... K(cat_lainnya_up) comment "cat_lainnya_up" } }
//!   chain cat_down {                       # jumped to by every packet to the LAN
//!     ip saddr @cat_kesehatan meta mark & 0 | K(cat_kesehatan_down) @cat_bytes goto free_down   # free
//!     ip saddr @cat_video meta mark & 0 | K(cat_video_down) @cat_bytes return                                  # counted
//!     ...
//!     meta mark & 0 | K(cat_lainnya_down) @cat_bytes
//!   }
//!   chain cat_up {                         # jumped to by online devices' packets from the LAN
//!     ip daddr @cat_kesehatan meta mark & 0 | K(cat_kesehatan_up) @cat_bytes goto free_up
//!     ip daddr @cat_video meta mark & 0 | K(cat_video_up) @cat_bytes return
//!     ...
//!     meta mark & 0 | K(cat_lainnya_up) @cat_bytes
//!   }
//!   chain free_down { meta priority set ct mark map @slot_free ip daddr @free accept }   # its free class, counted per device
//!   chain free_up   { meta priority set ct mark map @slot_free ip saddr @free accept }
//! ```
//!
//! `meta mark & 0 | K` is the constant K whatever the packet's mark (which
//! it only reads): a lookup of it in the counted set `cat_bytes` matches
//! element K and counts the packet there, as `counter name` did on a named
//! counter. The counters live in a set because the accounting pass can then
//! read them with `list set` (nft 1.0.6 fetches only that set); any `list
//! counter(s)` makes nft fetch every element of every set in the table (the
//! devices' five sets and maps), which at 10,000 online cost as much as
//! listing the whole table (BENCHMARKS.md, "Issue 10's hot paths"). K is a
//! hash of the counter's name ([`counter_keys`]), so a category keeps its
//! element (and its count) when others are added or removed; the element's
//! comment names it for the reader.
//!
//! The first category whose set holds the address counts the packet, so an
//! address in two sets (a shared CDN address) counts once, in the category
//! listed first. A free category's `accept` ends the forward chain before the
//! per-device counted lookups (`@down`, `@online`): its bytes never reach a
//! device's usage, and it runs in the device's own free class (its own caps,
//! also while throttled; never the whole uplink). A connection of a device
//! that is not online (mark 0) has no free class: it stays captive.
//! Per packet: at most one hash lookup per category (a fixed, small number),
//! nothing that grows with devices or domains.

use nftables::expr::{BinaryOperation, Elem, Expression, Meta, MetaKey, NamedExpression};
use nftables::schema::{self, NfListObject, SetFlag, SetType, SetTypeValue};
use nftables::stmt::{JumpTarget, Match, Operator, Statement};

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::render::{in_set, payload, rule, FAMILY};
use super::{GARDEN_DNS_TIMEOUT, SET_CAT_BYTES, TABLE};

/// Download (WAN -> LAN) category chain.
pub const CHAIN_CAT_DOWN: &str = "cat_down";
/// Upload (LAN -> WAN) category chain.
pub const CHAIN_CAT_UP: &str = "cat_up";
/// The id of traffic in no category.
pub const OTHER: &str = "lainnya";

/// A category as the kernel needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRule {
    /// `[a-z0-9_]`, names the set and the counters.
    pub id: String,
    /// Costs no quota: accepted before the per-device counters, at full speed.
    pub free: bool,
}

/// The set dnsmasq fills for category `id`.
pub fn set_name(id: &str) -> String {
    format!("cat_{id}")
}

/// The named counter of category `id` in one direction (`down`, `up`).
pub fn counter_name(id: &str, dir: Direction) -> String {
    format!("cat_{id}_{}", dir.as_str())
}

/// Which way the bytes went, from the village's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Download,
    Upload,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Download => "down",
            Direction::Upload => "up",
        }
    }
}

/// Bytes per category and direction since the counters were made, read back
/// from the kernel; keyed by category id (`lainnya` included).
pub type CategoryCounters = BTreeMap<String, (u64, u64)>;

/// `cat_<id>_down` / `cat_<id>_up` -> (id, direction).
pub fn parse_counter_name(name: &str) -> Option<(&str, Direction)> {
    let rest = name.strip_prefix("cat_")?;
    if let Some(id) = rest.strip_suffix("_down") {
        Some((id, Direction::Download))
    } else {
        rest.strip_suffix("_up").map(|id| (id, Direction::Upload))
    }
}

/// Every counter name of these categories (and [`OTHER`]) with its element
/// key in [`SET_CAT_BYTES`]: FNV-1a of the name, so stable whatever the other
/// categories; a clash (about one in 10^7 for 20 names) takes the next free
/// key, in name order.
pub fn counter_keys(cats: &[CategoryRule]) -> BTreeMap<String, u32> {
    let names: BTreeSet<String> = cats
        .iter()
        .map(|c| c.id.as_str())
        .chain([OTHER])
        .flat_map(|id| [Direction::Download, Direction::Upload].map(|d| counter_name(id, d)))
        .collect();
    let mut taken = BTreeSet::new();
    let mut out = BTreeMap::new();
    for name in names {
        let mut key = fnv1a(&name);
        while !taken.insert(key) {
            key = key.wrapping_add(1);
        }
        out.insert(name, key);
    }
    out
}

/// 32-bit FNV-1a.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// `meta mark & 0 | KEY @cat_bytes`: counts the packet on element KEY.
fn count_on(key: u32) -> Statement<'static> {
    let mark = Expression::Named(NamedExpression::Meta(Meta { key: MetaKey::Mark }));
    let constant = Expression::BinaryOperation(Box::new(BinaryOperation::OR(vec![
        Expression::BinaryOperation(Box::new(BinaryOperation::AND(mark, Expression::Number(0)))),
        Expression::Number(key),
    ])));
    Statement::Match(Match {
        left: constant,
        right: Expression::String(format!("@{SET_CAT_BYTES}").into()),
        op: Operator::EQ,
    })
}

/// Sets, the counted elements and the two chains (flushed and refilled), for [`super::render::full`].
/// The category sets are never flushed: dnsmasq owns their elements. The
/// counted elements are added, never flushed: `add` keeps an element's count.
pub(super) fn objects(cats: &[CategoryRule]) -> Vec<NfListObject<'static>> {
    let mut out = Vec::new();
    for c in cats {
        out.push(NfListObject::Set(Box::new(schema::Set {
            family: FAMILY,
            table: TABLE.into(),
            name: set_name(&c.id).into(),
            set_type: SetTypeValue::Single(SetType::Ipv4Addr),
            flags: Some(HashSet::from([SetFlag::Timeout])),
            timeout: Some(GARDEN_DNS_TIMEOUT),
            ..schema::Set::default()
        })));
    }
    // Declared `counter` by render's serializer (the crate cannot say it).
    out.push(NfListObject::Set(Box::new(schema::Set {
        family: FAMILY,
        table: TABLE.into(),
        name: SET_CAT_BYTES.into(),
        set_type: SetTypeValue::Single(SetType::Mark),
        ..schema::Set::default()
    })));
    out.push(NfListObject::Element(schema::Element {
        family: FAMILY,
        table: TABLE.into(),
        name: SET_CAT_BYTES.into(),
        elem: counter_keys(cats)
            .into_iter()
            .map(|(name, key)| {
                Expression::Named(NamedExpression::Elem(Elem {
                    val: Box::new(Expression::Number(key)),
                    comment: Some(name.into()),
                    ..Elem::default()
                }))
            })
            .collect::<Vec<_>>()
            .into(),
    }));
    out
}

/// Where a free category's download goes after it is counted.
pub const CHAIN_FREE_DOWN: &str = "free_down";
/// Where a free category's upload goes after it is counted.
pub const CHAIN_FREE_UP: &str = "free_up";

/// The category chains' names, each made (no hook) and flushed by `full`.
pub(super) const CHAINS: [&str; 4] = [CHAIN_CAT_DOWN, CHAIN_CAT_UP, CHAIN_FREE_DOWN, CHAIN_FREE_UP];

/// The rules of both category chains.
pub(super) fn chain_rules(cats: &[CategoryRule]) -> Vec<schema::Rule<'static>> {
    let keys = counter_keys(cats);
    let key = |id: &str, dir| keys[&counter_name(id, dir)];
    let mut out = Vec::new();
    for (chain, field, dir, free_chain) in [
        (
            CHAIN_CAT_DOWN,
            "saddr",
            Direction::Download,
            CHAIN_FREE_DOWN,
        ),
        (CHAIN_CAT_UP, "daddr", Direction::Upload, CHAIN_FREE_UP),
    ] {
        for c in cats {
            // ip saddr @cat_x meta mark & 0 | K(cat_x_down) @cat_bytes (goto free_down | return)
            let mut expr = vec![
                in_set(payload("ip", field), &set_name(&c.id)),
                count_on(key(&c.id, dir)),
            ];
            if c.free {
                expr.push(goto(free_chain));
            } else {
                expr.push(Statement::Return(None));
            }
            out.push(rule(chain, expr));
        }
        // meta mark & 0 | K(cat_lainnya_down) @cat_bytes   (in no category)
        out.push(rule(chain, vec![count_on(key(OTHER, dir))]));
    }
    // free_down, free_up: meta priority set ct mark map @slot_free accept   (an online device's
    // connection: its free class, at its own caps also while throttled, never the whole uplink;
    // a captive one has no element (mark 0), keeps its captive class and goes on)
    // ... ip daddr @free accept (ip saddr upward): the element's counter counts the
    // device's free bytes (`[usage] free_daily_data`); without an element the
    // packet goes back and is counted by `down`/`online` like any other. The
    // class first: a connection of no online device (mark 0, maybe on an online
    // device's address) stops there and never reaches the device's counter.
    for (chain, field) in [(CHAIN_FREE_DOWN, "daddr"), (CHAIN_FREE_UP, "saddr")] {
        out.push(rule(
            chain,
            vec![
                super::render::free_class(),
                in_set(payload("ip", field), super::SET_FREE),
                Statement::Accept(None),
            ],
        ));
    }
    out
}

/// `goto CHAIN`
fn goto(chain: &'static str) -> Statement<'static> {
    Statement::Goto(JumpTarget {
        target: chain.into(),
    })
}

/// `jump CHAIN`
pub(super) fn jump(chain: &'static str) -> Statement<'static> {
    Statement::Jump(JumpTarget {
        target: chain.into(),
    })
}

/// `tcp dport 853`: DNS over TLS, refused so phones fall back to the router's DNS.
pub(super) fn dot_port() -> Expression<'static> {
    Expression::Number(853)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::firewall::{
        render, KernelState, Policy, CHAIN_FORWARD, CHAIN_ONLINE_UP, CHAIN_TO_LAN,
    };

    fn doc(cats: Vec<CategoryRule>) -> serde_json::Value {
        let policy = Policy {
            lan_interface: "br-lan".into(),
            portal_address: Ipv4Addr::new(10, 77, 0, 1),
            portal_port: 2050,
            portal_https_port: None,
            walled_garden: vec![],
            garden_ports: vec![80, 443],
            allow_private: vec![],
            online: vec![],
            categories: cats,
            slots: 2,
        };
        serde_json::from_str(&render::full(&policy, &KernelState::default())).unwrap()
    }

    /// The rules of `chain`, each as its JSON text.
    fn rules(doc: &serde_json::Value, chain: &str) -> Vec<String> {
        doc["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["add"].get("rule"))
            .filter(|r| r["chain"] == chain)
            .map(|r| r["expr"].to_string())
            .collect()
    }

    fn cat(id: &str, free: bool) -> CategoryRule {
        CategoryRule {
            id: id.into(),
            free,
        }
    }

    #[test]
    fn free_categories_accept_before_the_per_device_counters() {
        let d = doc(vec![cat("kesehatan", true), cat("video", false)]);
        let at = |chain: &str, needle: &str| {
            let rules = rules(&d, chain);
            rules
                .iter()
                .position(|r| r.contains(needle))
                .unwrap_or_else(|| panic!("{needle} not in {rules:#?}"))
        };
        assert!(at(CHAIN_TO_LAN, "\"cat_down\"") < at(CHAIN_TO_LAN, "\"@down\""));
        assert!(at(CHAIN_ONLINE_UP, "\"cat_up\"") < at(CHAIN_ONLINE_UP, "\"@online\""));
        assert!(
            at(CHAIN_ONLINE_UP, "853") < at(CHAIN_ONLINE_UP, "\"cat_up\""),
            "DoT refused before anything counts"
        );
        // A connection of no online device: the captive class, then only the categories count.
        assert_eq!(at(CHAIN_TO_LAN, "\"cat_down\""), 0);
        assert!(rules(&d, CHAIN_TO_LAN)[0].contains("de5a:4"));
        let down = rules(&d, CHAIN_CAT_DOWN);
        assert_eq!(down.len(), 3, "{down:#?}");
        assert!(down[0].contains("@cat_kesehatan") && down[0].contains(CHAIN_FREE_DOWN));
        let free = rules(&d, CHAIN_FREE_DOWN);
        assert!(
            free.len() == 1 && free[0].contains("@slot_free") && free[0].contains("mark"),
            "only an online device's connection is free, in its own free class: {free:#?}"
        );
        assert!(down[1].contains("@cat_video") && down[1].contains("return"));
        let keys = counter_keys(&[cat("kesehatan", true), cat("video", false)]);
        // Each rule counts on its own category's element, and only there.
        let counts_on = |r: &str, name: &str| {
            r.contains(&format!("\"@{SET_CAT_BYTES}\""))
                && r.contains(&format!(
                    "{{\"|\":[{{\"&\":[{{\"meta\":{{\"key\":\"mark\"}}}},0]}},{}]}}",
                    keys[name]
                ))
        };
        assert!(counts_on(&down[0], "cat_kesehatan_down"), "{}", down[0]);
        assert!(counts_on(&down[1], "cat_video_down"), "{}", down[1]);
        assert!(counts_on(&down[2], "cat_lainnya_down") && down[2].matches('@').count() == 1);
        let up = rules(&d, CHAIN_CAT_UP);
        assert!(up[0].contains("\"daddr\"") && counts_on(&up[0], "cat_kesehatan_up"));
    }

    #[test]
    fn the_rules_grow_with_categories_only_and_counters_are_named_per_category() {
        let few = doc(vec![cat("video", false)]);
        let many = doc((0..9).map(|i| cat(&format!("c{i}"), i < 3)).collect());
        let count = |d: &serde_json::Value| rules(d, CHAIN_FORWARD).len();
        assert_eq!(count(&few), count(&many), "the forward chain does not grow");
        assert_eq!(rules(&many, CHAIN_CAT_DOWN).len(), 10);
        // One counted element of `cat_bytes` per category and way, named by its comment.
        let elements: Vec<&serde_json::Value> = many["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["add"].get("element"))
            .filter(|e| e["name"] == SET_CAT_BYTES)
            .flat_map(|e| e["elem"].as_array().unwrap())
            .collect();
        let counters: Vec<String> = elements
            .iter()
            .map(|e| e["elem"]["comment"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(counters.len(), 20);
        assert!(counters.iter().all(|n| parse_counter_name(n).is_some()));
        let keys: BTreeSet<u64> = elements
            .iter()
            .map(|e| e["elem"]["val"].as_u64().unwrap())
            .collect();
        assert_eq!(keys.len(), 20, "one key each");
        assert!(
            !many["nftables"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["add"].get("counter").is_some()),
            "no named counters: `list counters` would fetch the whole table"
        );
        assert_eq!(
            parse_counter_name("cat_layanan_publik_up"),
            Some(("layanan_publik", Direction::Upload))
        );
        assert_eq!(parse_counter_name("online"), None);
    }

    #[test]
    fn a_category_keeps_its_key_whatever_the_others() {
        let one = counter_keys(&[cat("video", false)]);
        let more = counter_keys(&[
            cat("kesehatan", true),
            cat("video", false),
            cat("game", false),
        ]);
        for name in [
            "cat_video_down",
            "cat_video_up",
            "cat_lainnya_down",
            "cat_lainnya_up",
        ] {
            assert_eq!(one[name], more[name], "{name}");
        }
        assert_eq!(more.len(), 8);
        assert_eq!(
            more.values().collect::<BTreeSet<_>>().len(),
            8,
            "keys never clash"
        );
    }
}
