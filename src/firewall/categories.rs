//! Usage categories in the kernel: one set per category, filled by dnsmasq
//! (`nftset=`), and two named counters per category (download, upload),
//! never anything per device.
//!
//! ```text
//!   set cat_video { type ipv4_addr; flags timeout; timeout 1d; }   # filled by dnsmasq
//!   counter cat_video_down {}  counter cat_video_up {}   ... cat_lainnya_down, cat_lainnya_up
//!   chain cat_down {                       # jumped to by every packet to the LAN
//!     ip saddr @cat_kesehatan counter name "cat_kesehatan_down" meta priority set GARDEN accept   # free
//!     ip saddr @cat_video counter name "cat_video_down" return                                    # counted
//!     ...
//!     counter name "cat_lainnya_down"
//!   }
//!   chain cat_up {                         # jumped to by online devices' packets from the LAN
//!     ip daddr @cat_kesehatan counter name "cat_kesehatan_up" meta priority set GARDEN accept
//!     ip daddr @cat_video counter name "cat_video_up" return
//!     ...
//!     counter name "cat_lainnya_up"
//!   }
//! ```
//!
//! The first category whose set holds the address counts the packet, so an
//! address in two sets (a shared CDN address) counts once, in the category
//! listed first. A free category's `accept` ends the forward chain before the
//! per-device counted lookups (`@down`, `@online`): its bytes never reach a
//! device's usage, and it gets the walled garden's full-speed class.
//! Per packet: at most one hash lookup per category (a fixed, small number),
//! nothing that grows with devices or domains.

use nftables::expr::Expression;
use nftables::schema::{self, NfListObject, SetFlag, SetType, SetTypeValue};
use nftables::stmt::{Counter, JumpTarget, Statement};

use std::collections::{BTreeMap, HashSet};

use super::render::{garden, in_set, payload, rule, set_priority, FAMILY};
use super::{GARDEN_DNS_TIMEOUT, TABLE};

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

/// Sets, counters and the two chains (flushed and refilled), for [`super::render::full`].
/// The sets are never flushed: dnsmasq owns their elements.
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
    for id in cats.iter().map(|c| c.id.as_str()).chain([OTHER]) {
        for dir in [Direction::Download, Direction::Upload] {
            out.push(NfListObject::Counter(schema::Counter {
                family: FAMILY,
                table: TABLE.into(),
                name: counter_name(id, dir).into(),
                handle: None,
                packets: None,
                bytes: None,
            }));
        }
    }
    out
}

/// The category chains' names, each made (no hook) and flushed by `full`.
pub(super) const CHAINS: [&str; 2] = [CHAIN_CAT_DOWN, CHAIN_CAT_UP];

/// The rules of both category chains.
pub(super) fn chain_rules(cats: &[CategoryRule]) -> Vec<schema::Rule<'static>> {
    let mut out = Vec::new();
    for (chain, field, dir) in [
        (CHAIN_CAT_DOWN, "saddr", Direction::Download),
        (CHAIN_CAT_UP, "daddr", Direction::Upload),
    ] {
        for c in cats {
            // ip saddr @cat_x counter name "cat_x_down" (meta priority set GARDEN accept | return)
            let mut expr = vec![
                in_set(payload("ip", field), &set_name(&c.id)),
                Statement::Counter(Counter::Named(counter_name(&c.id, dir).into())),
            ];
            if c.free {
                expr.push(set_priority(garden()));
                expr.push(Statement::Accept(None));
            } else {
                expr.push(Statement::Return(None));
            }
            out.push(rule(chain, expr));
        }
        // counter name "cat_lainnya_down"   (in no category)
        out.push(rule(
            chain,
            vec![Statement::Counter(Counter::Named(
                counter_name(OTHER, dir).into(),
            ))],
        ));
    }
    out
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
    use crate::firewall::{render, KernelState, Policy, CHAIN_FORWARD};

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
        let forward = rules(&d, CHAIN_FORWARD);
        let at = |needle: &str| {
            forward
                .iter()
                .position(|r| r.contains(needle))
                .unwrap_or_else(|| panic!("{needle} not in {forward:#?}"))
        };
        assert!(at("\"cat_down\"") < at("\"@down\""));
        assert!(at("\"cat_up\"") < at("\"@online\""));
        assert!(
            at("853") < at("\"cat_up\""),
            "DoT refused before anything counts"
        );
        let down = rules(&d, CHAIN_CAT_DOWN);
        assert_eq!(down.len(), 3, "{down:#?}");
        assert!(down[0].contains("@cat_kesehatan") && down[0].contains("accept"));
        assert!(down[1].contains("@cat_video") && down[1].contains("return"));
        assert!(down[2].contains("cat_lainnya_down") && !down[2].contains('@'));
        let up = rules(&d, CHAIN_CAT_UP);
        assert!(up[0].contains("\"daddr\"") && up[0].contains("cat_kesehatan_up"));
    }

    #[test]
    fn the_rules_grow_with_categories_only_and_counters_are_named_per_category() {
        let few = doc(vec![cat("video", false)]);
        let many = doc((0..9).map(|i| cat(&format!("c{i}"), i < 3)).collect());
        let count = |d: &serde_json::Value| rules(d, CHAIN_FORWARD).len();
        assert_eq!(count(&few), count(&many), "the forward chain does not grow");
        assert_eq!(rules(&many, CHAIN_CAT_DOWN).len(), 10);
        let counters: Vec<String> = many["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["add"].get("counter"))
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(counters.len(), 20);
        assert!(counters.iter().all(|n| parse_counter_name(n).is_some()));
        assert_eq!(
            parse_counter_name("cat_layanan_publik_up"),
            Some(("layanan_publik", Direction::Upload))
        );
        assert_eq!(parse_counter_name("online"), None);
    }
}
