//! `Policy` -> nftables JSON document. Pure: no I/O, golden-tested.
//!
//! The ruleset, in nft syntax (LAN = `lan_interface`, P = portal address,
//! PORT = portal port):
//!
//! ```text
//! table inet desawifi {
//!   set online  { type ether_addr . ipv4_addr; counter; }   # upload bytes per device
//!   set online_nat { type ether_addr . ipv4_addr; }        # the same, uncounted, for nat
//!   set down    { type ipv4_addr; counter; }                # download bytes per device
//!   set free    { type ipv4_addr; counter; }                # free-category bytes per device (both ways)
//!   set garden4 { type ipv4_addr; flags interval; }
//!   set garden6 { type ipv6_addr; flags interval; }
//!   set garden_dns4 { type ipv4_addr; flags timeout; timeout 1d; }   # filled by dnsmasq
//!   map dev_slot   { type ether_addr . ipv4_addr : mark; }  # device -> slot + 1, into its connections' ct mark
//!   map slot_class { type mark : classid; }                 # slot + 1 -> its HTB class (both trees)
//!   map slot_free  { type mark : classid; }                 # slot + 1 -> its free class
//!   chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//!     iifname LAN ether saddr . ip saddr @online_nat return
//!     iifname LAN ip daddr @garden4 return
//!     iifname LAN ip daddr @garden_dns4 return
//!     iifname LAN tcp dport 80 redirect to :PORT
//!   }
//!   set cat_ID { type ipv4_addr; flags timeout; timeout 1d; }   # per usage category, by dnsmasq
//!   set cat_bytes { type mark; counter; }   # cat_ID_down, cat_ID_up, ... cat_lainnya_up: never per device
//!   chain cat_down, cat_up, free_down, free_up { ... }   # see firewall/categories.rs
//!   chain forward { type filter hook forward priority filter; policy accept;
//!     oifname LAN jump to_lan
//!     iifname LAN jump from_lan
//!   }
//!   chain to_lan, from_lan, online_up { ... }   # see render/forward.rs
//!   chain input { ... DNS rules: see render/guard.rs ...
//!     iifname LAN ct state established,related accept
//!     iifname LAN udp dport { 547 } accept
//!     iifname LAN tcp dport { PORT[, HTTPS_PORT] } accept
//!     iifname LAN meta l4proto { icmp, ipv6-icmp } accept
//!     iifname LAN meta l4proto tcp reject with tcp reset
//!     iifname LAN reject with icmpx admin-prohibited
//!   }
//! }
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::Ipv4Addr;

use nftables::batch::Batch;
use nftables::expr::{
    Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, SetItem, CT,
};
use nftables::schema::{
    self, Chain, Element, FlushObject, NfCmd, NfListObject, Nftables, Rule, SetFlag, SetType,
    SetTypeValue, Table,
};
use nftables::stmt::{Mangle, Match, Operator, Reject, RejectType, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook, RejectCode};

mod forward;
pub(super) use forward::free_class;
mod guard;

pub use guard::{DNS_CAPTIVE_MAX_UDP, DNS_CAPTIVE_RATE, DNS_ONLINE_RATE, PRIVATE4};

use super::categories;
use super::*;

/// Maps whose values are HTB class ids. The crate has no `classid` type, so
/// they are rendered as `mark` and renamed in [`to_json`].
const CLASS_MAPS: [&str; 2] = [MAP_SLOT_CLASS, MAP_SLOT_FREE];

pub(super) const FAMILY: NfFamily = NfFamily::INet;
/// Priority of `dstnat` and `filter`, as nft spells them.
const PRIO_DSTNAT: i32 = -100;
const PRIO_FILTER: i32 = 0;

/// The whole table, made equal to `policy` in one transaction, given what the
/// kernel has now. Devices in both keep their element (and so their
/// counters); only the difference is added or deleted. A table whose sets
/// have another shape (an older desawifi) is replaced.
pub fn full(policy: &Policy, kernel: &KernelState) -> String {
    let mut batch = Batch::new();
    if kernel.table_exists && !kernel.compatible {
        batch.delete(NfListObject::Table(table()));
    }
    batch.add(NfListObject::Table(table()));
    batch.add(set(
        SET_ONLINE,
        SetTypeValue::Concatenated(Cow::Borrowed(&[SetType::EtherAddr, SetType::Ipv4Addr])),
        None,
    ));
    batch.add(set(
        SET_ONLINE_NAT,
        SetTypeValue::Concatenated(Cow::Borrowed(&[SetType::EtherAddr, SetType::Ipv4Addr])),
        None,
    ));
    batch.add(set(SET_DOWN, SetTypeValue::Single(SetType::Ipv4Addr), None));
    batch.add(set(SET_FREE, SetTypeValue::Single(SetType::Ipv4Addr), None));
    batch.add(set(
        SET_GARDEN4,
        SetTypeValue::Single(SetType::Ipv4Addr),
        Some(SetFlag::Interval),
    ));
    batch.add(set(
        SET_GARDEN6,
        SetTypeValue::Single(SetType::Ipv6Addr),
        Some(SetFlag::Interval),
    ));
    // Not flushed on reconcile: dnsmasq owns its elements.
    batch.add(NfListObject::Set(Box::new(schema::Set {
        set_type: SetTypeValue::Single(SetType::Ipv4Addr),
        flags: Some(HashSet::from([SetFlag::Timeout])),
        timeout: Some(GARDEN_DNS_TIMEOUT),
        ..set_ref(SET_GARDEN_DNS4)
    })));
    for set in guard::sets(kernel) {
        batch.add(set);
    }
    // Usage categories: sets (dnsmasq owns their elements) and the counted set `cat_bytes`.
    for object in categories::objects(&policy.categories) {
        batch.add(object);
    }
    batch.add(NfListObject::Map(Box::new(schema::Map {
        name: MAP_DEV_SLOT.into(),
        set_type: SetTypeValue::Concatenated(Cow::Borrowed(&[
            SetType::EtherAddr,
            SetType::Ipv4Addr,
        ])),
        map: SetTypeValue::Single(SetType::Mark),
        ..class_map_ref()
    })));
    for name in CLASS_MAPS {
        batch.add(NfListObject::Map(Box::new(schema::Map {
            name: name.into(),
            set_type: SetTypeValue::Single(SetType::Mark),
            map: SetTypeValue::Single(SetType::Mark),
            ..class_map_ref()
        })));
    }
    for (name, kind, hook, prio) in [
        (
            CHAIN_PREROUTING,
            NfChainType::NAT,
            NfHook::Prerouting,
            PRIO_DSTNAT,
        ),
        (
            CHAIN_FORWARD,
            NfChainType::Filter,
            NfHook::Forward,
            PRIO_FILTER,
        ),
        (CHAIN_INPUT, NfChainType::Filter, NfHook::Input, PRIO_FILTER),
    ] {
        batch.add(NfListObject::Chain(Chain {
            family: FAMILY,
            table: TABLE.into(),
            name: name.into(),
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        }));
        batch.add_cmd(NfCmd::Flush(FlushObject::Chain(Chain {
            family: FAMILY,
            table: TABLE.into(),
            name: name.into(),
            ..Chain::default()
        })));
    }
    for name in
        categories::CHAINS
            .into_iter()
            .chain([CHAIN_TO_LAN, CHAIN_FROM_LAN, CHAIN_ONLINE_UP])
    {
        let chain = Chain {
            family: FAMILY,
            table: TABLE.into(),
            name: name.into(),
            ..Chain::default()
        };
        batch.add(NfListObject::Chain(chain.clone()));
        batch.add_cmd(NfCmd::Flush(FlushObject::Chain(chain)));
    }
    for rule in rules(policy) {
        batch.add(NfListObject::Rule(rule));
    }

    // Walled garden: small and without counters, so simply refilled.
    for name in [SET_GARDEN4, SET_GARDEN6] {
        batch.add_cmd(NfCmd::Flush(FlushObject::Set(Box::new(set_ref(name)))));
    }
    let (v4, v6): (Vec<_>, Vec<_>) = policy
        .walled_garden
        .iter()
        .partition(|n| matches!(n, GardenNet::V4(..)));
    for (name, nets) in [(SET_GARDEN4, v4), (SET_GARDEN6, v6)] {
        if !nets.is_empty() {
            batch.add(elements(
                name,
                nets.iter().map(|n| garden_expr(n)).collect(),
            ));
        }
    }

    guard::fill(&mut batch, policy);

    // The devices' slots and the slots' classes: no counters, so simply refilled.
    let slots: BTreeMap<DeviceKey, u16> = policy.online.iter().map(|d| (d.key, d.slot)).collect();
    for name in [MAP_DEV_SLOT, MAP_SLOT_CLASS, MAP_SLOT_FREE] {
        batch.add_cmd(NfCmd::Flush(FlushObject::Map(Box::new(schema::Map {
            name: name.into(),
            ..class_map_ref()
        }))));
    }
    if !slots.is_empty() {
        batch.add(slot_elements(slots.iter().map(|(k, s)| (*k, *s))));
    }
    if policy.slots > 0 {
        batch.add(elements(
            MAP_SLOT_CLASS,
            forward::slot_class_elements(policy.slots, crate::shaping::slot_classid),
        ));
        batch.add(elements(
            MAP_SLOT_FREE,
            forward::slot_class_elements(policy.slots, crate::shaping::slot_free_classid),
        ));
    }

    // Online devices: only the difference, so counters of those who stay live on.
    let want: BTreeSet<DeviceKey> = policy.online.iter().map(|d| d.key).collect();
    let have: BTreeSet<DeviceKey> = if kernel.compatible {
        kernel.online.keys().copied().collect()
    } else {
        BTreeSet::new()
    };
    let want_ips: BTreeSet<Ipv4Addr> = want.iter().map(|k| k.ip).collect();
    let have_ips: BTreeSet<Ipv4Addr> = if kernel.compatible {
        kernel.down.keys().copied().collect()
    } else {
        BTreeSet::new()
    };
    let have_nat: BTreeSet<DeviceKey> = if kernel.compatible {
        kernel.online_nat.clone()
    } else {
        BTreeSet::new()
    };
    let stale: Vec<DeviceKey> = have.difference(&want).copied().collect();
    let missing: Vec<DeviceKey> = want.difference(&have).copied().collect();
    let stale_nat: Vec<DeviceKey> = have_nat.difference(&want).copied().collect();
    let missing_nat: Vec<DeviceKey> = want.difference(&have_nat).copied().collect();
    if !stale_nat.is_empty() {
        batch.delete(elements(
            SET_ONLINE_NAT,
            stale_nat.iter().map(device_expr).collect(),
        ));
    }
    if !missing_nat.is_empty() {
        batch.add(elements(
            SET_ONLINE_NAT,
            missing_nat.iter().map(device_expr).collect(),
        ));
    }
    let stale_ips: Vec<Ipv4Addr> = have_ips.difference(&want_ips).copied().collect();
    let missing_ips: Vec<Ipv4Addr> = want_ips.difference(&have_ips).copied().collect();
    push_device_changes(&mut batch, &stale, &stale_ips, &missing, &missing_ips);
    // `free` holds the same addresses as `down`, diffed on its own (a table
    // from before it existed has the set made empty above).
    let have_free: BTreeSet<Ipv4Addr> = if kernel.compatible {
        kernel.free.keys().copied().collect()
    } else {
        BTreeSet::new()
    };
    let stale_free: Vec<Ipv4Addr> = have_free.difference(&want_ips).copied().collect();
    let missing_free: Vec<Ipv4Addr> = want_ips.difference(&have_free).copied().collect();
    push_free_changes(&mut batch, &stale_free, &missing_free);
    to_json(batch.to_nftables())
}

fn class_map_ref() -> schema::Map<'static> {
    schema::Map {
        family: FAMILY,
        table: TABLE.into(),
        ..schema::Map::default()
    }
}

/// Elements of `dev_slot`: `MAC . IP : slot + 1`.
fn slot_elements(pairs: impl Iterator<Item = (DeviceKey, u16)>) -> NfListObject<'static> {
    elements(
        MAP_DEV_SLOT,
        pairs
            .map(|(key, slot)| {
                Expression::List(vec![
                    device_expr(&key),
                    Expression::Number(forward::slot_mark(slot)),
                ])
            })
            .collect(),
    )
}

/// A batch of device changes: elements deleted and added in one transaction.
/// The caller guarantees deleted elements exist and added ones do not
/// (the firewall task keeps a mirror of the kernel's sets for that).
/// `admit` carry the slot whose class the device's connections are steered to.
pub fn device_changes(
    revoke: &[DeviceKey],
    revoke_ips: &[Ipv4Addr],
    admit: &[(DeviceKey, u16)],
    admit_ips: &[Ipv4Addr],
) -> String {
    let mut batch = Batch::new();
    let keys: Vec<DeviceKey> = admit.iter().map(|(k, _)| *k).collect();
    push_device_changes(&mut batch, revoke, revoke_ips, &keys, admit_ips);
    push_free_changes(&mut batch, revoke_ips, admit_ips);
    for name in [SET_ONLINE_NAT, MAP_DEV_SLOT] {
        if !revoke.is_empty() {
            batch.delete(elements(name, revoke.iter().map(device_expr).collect()));
        }
    }
    if !admit.is_empty() {
        batch.add(elements(
            SET_ONLINE_NAT,
            keys.iter().map(device_expr).collect(),
        ));
        batch.add(slot_elements(admit.iter().copied()));
    }
    to_json(batch.to_nftables())
}

/// The document that removes our table (and only ours).
pub fn clear() -> String {
    let mut batch = Batch::new();
    // `add` first makes the delete succeed whether or not the table exists.
    batch.add(NfListObject::Table(table()));
    batch.delete(NfListObject::Table(table()));
    to_json(batch.to_nftables())
}

/// The `free` counters' elements: one per online address, like `down`.
fn push_free_changes(batch: &mut Batch<'static>, revoke_ips: &[Ipv4Addr], admit_ips: &[Ipv4Addr]) {
    if !revoke_ips.is_empty() {
        batch.delete(elements(
            SET_FREE,
            revoke_ips.iter().map(|ip| ip_expr(*ip)).collect(),
        ));
    }
    if !admit_ips.is_empty() {
        batch.add(elements(
            SET_FREE,
            admit_ips.iter().map(|ip| ip_expr(*ip)).collect(),
        ));
    }
}

fn push_device_changes(
    batch: &mut Batch<'static>,
    revoke: &[DeviceKey],
    revoke_ips: &[Ipv4Addr],
    admit: &[DeviceKey],
    admit_ips: &[Ipv4Addr],
) {
    if !revoke.is_empty() {
        batch.delete(elements(
            SET_ONLINE,
            revoke.iter().map(device_expr).collect(),
        ));
    }
    if !revoke_ips.is_empty() {
        batch.delete(elements(
            SET_DOWN,
            revoke_ips.iter().map(|ip| ip_expr(*ip)).collect(),
        ));
    }
    if !admit.is_empty() {
        batch.add(elements(
            SET_ONLINE,
            admit.iter().map(device_expr).collect(),
        ));
    }
    if !admit_ips.is_empty() {
        batch.add(elements(
            SET_DOWN,
            admit_ips.iter().map(|ip| ip_expr(*ip)).collect(),
        ));
    }
}

/// The rules of all three chains, in order.
fn rules(policy: &Policy) -> Vec<Rule<'static>> {
    let lan = policy.lan_interface.as_str();
    let port = u32::from(policy.portal_port);
    let from_lan = || iifname(lan);
    let router_tcp: Vec<u32> = [port]
        .into_iter()
        .chain(policy.portal_https_port.map(u32::from))
        .collect();
    vec![
        // lan -> any: ether saddr . ip saddr @online_nat return   (online devices are never redirected;
        // the uncounted twin of @online, or each connection's first packet would count twice)
        rule(
            CHAIN_PREROUTING,
            vec![
                from_lan(),
                in_set(device_lhs(), SET_ONLINE_NAT),
                Statement::Return(None),
            ],
        ),
        // lan -> walled garden: ip daddr @garden4 return   (public services load without the portal)
        rule(
            CHAIN_PREROUTING,
            vec![
                from_lan(),
                in_set(payload("ip", "daddr"), SET_GARDEN4),
                Statement::Return(None),
            ],
        ),
        rule(
            CHAIN_PREROUTING,
            vec![
                from_lan(),
                in_set(payload("ip", "daddr"), SET_GARDEN_DNS4),
                Statement::Return(None),
            ],
        ),
        // captive web: tcp dport 80 redirect to :PORT   (any host, so every OS probe lands on the portal)
        rule(
            CHAIN_PREROUTING,
            vec![
                from_lan(),
                eq(payload("tcp", "dport"), Expression::Number(80)),
                Statement::Redirect(Some(NAT {
                    addr: None,
                    family: None,
                    port: Some(Expression::Number(port)),
                    flags: None,
                })),
            ],
        ),
    ]
    .into_iter()
    .chain(forward::rules(policy))
    .chain(guard::dns_rules(lan))
    .chain([
        // lan -> router: replies to the router's own connections
        rule(
            CHAIN_INPUT,
            vec![
                from_lan(),
                ct_state_in(&["established", "related"]),
                Statement::Accept(None),
            ],
        ),
        // lan -> router: DHCPv6 (udp 547; DNS and DHCP are decided above)
        rule(
            CHAIN_INPUT,
            vec![
                from_lan(),
                in_anon_num(payload("udp", "dport"), &[547]),
                Statement::Accept(None),
            ],
        ),
        // lan -> router: the portal (DNS over TCP only for online devices, above)
        rule(
            CHAIN_INPUT,
            vec![
                from_lan(),
                in_anon_num(payload("tcp", "dport"), &router_tcp),
                Statement::Accept(None),
            ],
        ),
        // lan -> router: ICMP and ICMPv6 (neighbour discovery, path MTU, ping the gateway)
        rule(
            CHAIN_INPUT,
            vec![
                from_lan(),
                in_anon(meta(MetaKey::L4proto), &["icmp", "ipv6-icmp"]),
                Statement::Accept(None),
            ],
        ),
        // lan -> router, any other service (ssh, admin console, ...): refused
        rule(
            CHAIN_INPUT,
            vec![
                from_lan(),
                eq(meta(MetaKey::L4proto), Expression::String("tcp".into())),
                reject(RejectType::TCPReset),
            ],
        ),
        rule(CHAIN_INPUT, vec![from_lan(), reject(RejectType::ICMPX)]),
    ])
    .chain(categories::chain_rules(&policy.categories))
    .collect()
}

fn table() -> Table<'static> {
    Table {
        family: FAMILY,
        name: TABLE.into(),
        handle: None,
    }
}

fn set(
    name: &'static str,
    set_type: SetTypeValue<'static>,
    flag: Option<SetFlag>,
) -> NfListObject<'static> {
    NfListObject::Set(Box::new(schema::Set {
        name: name.into(),
        set_type,
        flags: flag.map(|f| HashSet::from([f])),
        ..set_ref(name)
    }))
}

fn set_ref(name: &'static str) -> schema::Set<'static> {
    schema::Set {
        family: FAMILY,
        table: TABLE.into(),
        name: name.into(),
        ..schema::Set::default()
    }
}

fn elements(name: &'static str, elem: Vec<Expression<'static>>) -> NfListObject<'static> {
    NfListObject::Element(Element {
        family: FAMILY,
        table: TABLE.into(),
        name: name.into(),
        elem: elem.into(),
    })
}

pub(super) fn rule(chain: &'static str, expr: Vec<Statement<'static>>) -> Rule<'static> {
    Rule {
        family: FAMILY,
        table: TABLE.into(),
        chain: chain.into(),
        expr: expr.into(),
        ..Rule::default()
    }
}

pub(super) fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn ct_state() -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: "state".into(),
        family: None,
        dir: None,
    }))
}

/// `oifname LAN`: packets on their way to the phones.
fn iifname_out(lan: &str) -> Statement<'static> {
    eq(
        meta(MetaKey::Oifname),
        Expression::String(lan.to_owned().into()),
    )
}

fn iifname(lan: &str) -> Statement<'static> {
    eq(
        meta(MetaKey::Iifname),
        Expression::String(lan.to_owned().into()),
    )
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

pub(super) fn in_set(left: Expression<'static>, set: &str) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right: Expression::String(format!("@{set}").into()),
        op: Operator::EQ,
    })
}

/// `ct state { a, b }` is a bitmask match: nft spells it `in` with a list.
fn ct_state_in(states: &[&'static str]) -> Statement<'static> {
    let list = states
        .iter()
        .map(|s| Expression::String((*s).into()))
        .collect();
    Statement::Match(Match {
        left: ct_state(),
        right: Expression::List(list),
        op: Operator::IN,
    })
}

fn in_anon(left: Expression<'static>, items: &[&'static str]) -> Statement<'static> {
    let items = items
        .iter()
        .map(|s| SetItem::Element(Expression::String((*s).into())))
        .collect();
    Statement::Match(Match {
        left,
        right: Expression::Named(NamedExpression::Set(items)),
        op: Operator::EQ,
    })
}

fn in_anon_num(left: Expression<'static>, items: &[u32]) -> Statement<'static> {
    let items = items
        .iter()
        .map(|n| SetItem::Element(Expression::Number(*n)))
        .collect();
    Statement::Match(Match {
        left,
        right: Expression::Named(NamedExpression::Set(items)),
        op: Operator::EQ,
    })
}

/// `meta priority set VALUE`: HTB takes skb->priority as the class id.
pub(super) fn set_priority(value: Expression<'static>) -> Statement<'static> {
    Statement::Mangle(Mangle {
        key: meta(MetaKey::Priority),
        value,
    })
}

fn reject(kind: RejectType) -> Statement<'static> {
    let code = (kind == RejectType::ICMPX).then_some(RejectCode::AdminProhibited);
    Statement::Reject(Some(Reject::new(Some(kind), code)))
}

/// `ether saddr . ip saddr`: the device as MAC and IPv4 together.
fn device_lhs() -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        payload("ether", "saddr"),
        payload("ip", "saddr"),
    ]))
}

fn device_expr(key: &DeviceKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        Expression::String(key.mac.to_string().into()),
        Expression::String(key.ip.to_string().into()),
    ]))
}

fn ip_expr(ip: Ipv4Addr) -> Expression<'static> {
    Expression::String(ip.to_string().into())
}

fn garden_expr(net: &GardenNet) -> Expression<'static> {
    let (addr, len) = match *net {
        GardenNet::V4(a, l) => (a.to_string(), u32::from(l)),
        GardenNet::V6(a, l) => (a.to_string(), u32::from(l)),
    };
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(Expression::String(addr.into())),
        len,
    }))
}

/// Serialize, adding what the crate cannot say: `counter` on the sets whose
/// elements count bytes (`"stmt": [{"counter": null}]`), and the `classid`
/// value type of the class maps.
fn to_json(doc: Nftables<'_>) -> String {
    let mut value = serde_json::to_value(&doc).expect("nftables documents always serialize");
    guard::add_meter_limits(&mut value);
    if let Some(objects) = value.get_mut("nftables").and_then(|v| v.as_array_mut()) {
        for obj in objects.iter_mut() {
            let Some(map) = obj.get_mut("add").and_then(|a| a.get_mut("map")) else {
                continue;
            };
            if map
                .get("name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| CLASS_MAPS.contains(&n))
            {
                map["map"] = "classid".into();
            }
        }
        for obj in objects.iter_mut() {
            // A counter added without values keeps the kernel's (`add` never resets one).
            if let Some(counter) = obj
                .get_mut("add")
                .and_then(|a| a.get_mut("counter"))
                .and_then(|c| c.as_object_mut())
            {
                counter.retain(|_, v| !v.is_null());
            }
        }
        for obj in objects.iter_mut() {
            // The crate writes an element's unset fields as null; nft takes
            // them, but the document says only what is meant.
            let Some(elems) = obj
                .get_mut("add")
                .and_then(|a| a.get_mut("element"))
                .and_then(|e| e.get_mut("elem"))
                .and_then(|e| e.as_array_mut())
            else {
                continue;
            };
            for elem in elems.iter_mut().filter_map(|e| e.get_mut("elem")) {
                if let Some(fields) = elem.as_object_mut() {
                    fields.retain(|_, v| !v.is_null());
                }
            }
        }
        for obj in objects {
            let Some(set) = obj.get_mut("add").and_then(|a| a.get_mut("set")) else {
                continue;
            };
            let counted = set
                .get("name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| COUNTED_SETS.contains(&n) || n == SET_CAT_BYTES);
            if counted {
                set["stmt"] = serde_json::json!([{ "counter": null }]);
            }
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn key(n: u8) -> DeviceKey {
        DeviceKey {
            mac: crate::domain::Mac([2, 0x77, 0, 0, 0, n]),
            ip: Ipv4Addr::new(10, 77, 0, 10 + n),
        }
    }

    fn policy(keys: Vec<DeviceKey>) -> Policy {
        let rates = SlotRates::same(2_000_000, 1_000_000);
        let online = keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| OnlineDevice {
                key,
                slot: i as u16,
                rates,
            })
            .collect();
        Policy {
            lan_interface: "br-lan".into(),
            portal_address: Ipv4Addr::new(10, 77, 0, 1),
            portal_port: 2050,
            portal_https_port: None,
            walled_garden: vec![
                GardenNet::V4(Ipv4Addr::new(203, 0, 113, 0), 24),
                GardenNet::V6("2001:db8:1::".parse().unwrap(), 48),
            ],
            garden_ports: vec![80, 443],
            allow_private: vec![(Ipv4Addr::new(192, 168, 100, 1), 32)],
            online,
            categories: vec![
                categories::CategoryRule {
                    id: "kesehatan".into(),
                    free: true,
                },
                categories::CategoryRule {
                    id: "video".into(),
                    free: false,
                },
            ],
            slots: 4,
        }
    }

    /// Compare with a golden file; `UPDATE_GOLDEN=1 cargo test` rewrites it.
    fn golden(name: &str, doc: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(doc).unwrap())
            .unwrap()
            + "\n";
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &pretty).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 makes it)", path.display()));
        assert_eq!(
            pretty,
            want,
            "{} differs; review and UPDATE_GOLDEN=1 if intended",
            path.display()
        );
    }

    /// The commands of a document as (verb, object kind, name) for terse asserts.
    fn commands(doc: &str) -> Vec<(String, String, Value)> {
        let v: Value = serde_json::from_str(doc).unwrap();
        v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let (verb, body) = o.as_object().unwrap().iter().next().unwrap();
                let (kind, obj) = body.as_object().unwrap().iter().next().unwrap();
                (verb.clone(), kind.clone(), obj.clone())
            })
            .collect()
    }

    #[test]
    fn fresh_table_matches_golden() {
        golden(
            "full-fresh.json",
            &full(&policy(vec![key(1), key(2)]), &KernelState::default()),
        );
    }

    #[test]
    fn device_batch_matches_golden() {
        golden(
            "device-changes.json",
            &device_changes(&[key(1)], &[key(1).ip], &[(key(3), 2)], &[key(3).ip]),
        );
    }

    #[test]
    fn reconcile_touches_only_the_difference() {
        // Kernel: devices 1 and 2 with counters; store: devices 2 and 3.
        let mut kernel = KernelState {
            table_exists: true,
            compatible: true,
            ..KernelState::default()
        };
        for k in [key(1), key(2)] {
            kernel.online.insert(k, 1000);
            kernel.down.insert(k.ip, 5000);
        }
        let doc = full(&policy(vec![key(2), key(3)]), &kernel);
        let cmds = commands(&doc);
        assert!(
            !cmds
                .iter()
                .any(|(verb, kind, _)| verb == "delete" && kind == "table"),
            "a compatible table is kept"
        );
        let element_ops: Vec<(String, String, Value)> = cmds
            .iter()
            .filter(|(_, kind, obj)| {
                kind == "element" && (obj["name"] == SET_ONLINE || obj["name"] == SET_DOWN)
            })
            .map(|(verb, _, obj)| {
                (
                    verb.clone(),
                    obj["name"].as_str().unwrap().to_owned(),
                    obj["elem"].clone(),
                )
            })
            .collect();
        assert_eq!(
            element_ops,
            vec![
                (
                    "delete".into(),
                    "online".into(),
                    serde_json::json!([{"concat": ["02:77:00:00:00:01", "10.77.0.11"]}])
                ),
                (
                    "delete".into(),
                    "down".into(),
                    serde_json::json!(["10.77.0.11"])
                ),
                (
                    "add".into(),
                    "online".into(),
                    serde_json::json!([{"concat": ["02:77:00:00:00:03", "10.77.0.13"]}])
                ),
                (
                    "add".into(),
                    "down".into(),
                    serde_json::json!(["10.77.0.13"])
                ),
            ],
            "device 2 stays untouched (its counters live on)"
        );
        assert!(!cmds.iter().any(|(verb, kind, obj)| verb == "flush"
            && kind == "set"
            && obj["name"] == SET_ONLINE));
    }

    #[test]
    fn dns_meters_the_kernel_has_are_not_added_again() {
        let added = |kernel: &KernelState| -> Vec<String> {
            commands(&full(&policy(vec![]), kernel))
                .into_iter()
                .filter(|(verb, kind, _)| verb == "add" && kind == "set")
                .map(|(_, _, obj)| obj["name"].as_str().unwrap().to_owned())
                .filter(|n| n.starts_with("dns_"))
                .collect()
        };
        assert_eq!(
            added(&KernelState::default()),
            [SET_DNS_ONLINE, SET_DNS_CAPTIVE]
        );
        let kernel = KernelState {
            table_exists: true,
            compatible: true,
            meters: [SET_DNS_ONLINE, SET_DNS_CAPTIVE].map(String::from).into(),
            ..KernelState::default()
        };
        assert!(added(&kernel).is_empty(), "the kernel's dynamic sets stay");
    }

    #[test]
    fn an_incompatible_table_is_replaced_whole() {
        let kernel = KernelState {
            table_exists: true,
            compatible: false,
            ..KernelState::default()
        };
        let cmds = commands(&full(&policy(vec![key(1)]), &kernel));
        assert_eq!(
            (cmds[0].0.as_str(), cmds[0].1.as_str()),
            ("delete", "table")
        );
        assert_eq!((cmds[1].0.as_str(), cmds[1].1.as_str()), ("add", "table"));
    }

    #[test]
    fn counted_sets_declare_counters_and_clear_touches_only_our_table() {
        let cmds = commands(&full(&policy(vec![]), &KernelState::default()));
        for (_, kind, obj) in cmds
            .iter()
            .filter(|(verb, kind, _)| verb == "add" && kind == "set")
        {
            let counted = obj.get("stmt").is_some();
            let name = obj["name"].as_str().unwrap();
            assert_eq!(
                counted,
                COUNTED_SETS.contains(&name) || name == SET_CAT_BYTES,
                "{kind} {obj}"
            );
        }
        let clear = commands(&clear());
        assert_eq!(clear.len(), 2);
        assert!(clear.iter().all(|(_, kind, obj)| kind == "table"
            && obj["name"] == TABLE
            && obj["family"] == "inet"));
    }

    #[test]
    fn only_one_rule_looks_in_each_counted_set() {
        // A lookup that matches a counted element counts the packet: a second
        // lookup anywhere (the nat chain!) would count bytes twice.
        let doc = full(&policy(vec![key(1)]), &KernelState::default());
        for set in COUNTED_SETS {
            let lookups = doc.matches(&format!("\"@{set}\"")).count();
            // `free`: once on the downloads' chain (daddr), once on the uploads' (saddr).
            let want = if set == SET_FREE { 2 } else { 1 };
            assert_eq!(lookups, want, "@{set} is looked up {lookups} times");
        }
    }

    #[test]
    fn the_rule_count_does_not_grow_with_devices() {
        let rules = |n: u8| {
            commands(&full(
                &policy((1..=n).map(key).collect()),
                &KernelState::default(),
            ))
            .iter()
            .filter(|(_, k, _)| k == "rule")
            .count()
        };
        assert_eq!(
            rules(1),
            rules(200),
            "devices are set elements, never rules"
        );
    }
}
