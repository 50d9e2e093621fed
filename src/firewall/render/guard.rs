//! The rules that close the ways around the portal (issue 11): DNS limits in
//! the input chain, no private destinations upstream, the walled garden on
//! its web ports only. Pure, like the rest of `render`.
//!
//! ```text
//! set private4       { type ipv4_addr; flags interval; }   # RFC 1918, 100.64/10, 169.254/16
//! set allow_private4 { type ipv4_addr; flags interval; }   # [network] allow_private
//! set dns_dev_online  { type ether_addr; size 65535; flags timeout; timeout 1m; }   # dynamic: nft 1.0.6 JSON has no such flag, the kernel sets it on use
//! set dns_dev_captive { type ether_addr; size 65535; flags timeout; timeout 1m; }
//! set dhcp_dev        { type ether_addr; size 65535; flags timeout; timeout 10m; }
//! ```

use std::borrow::Cow;
use std::collections::HashSet;

use nftables::expr::Expression;
use nftables::schema::{self, NfListObject, Rule, SetFlag, SetType, SetTypeValue};
use nftables::stmt::{Operator, RejectType, Statement};

use super::*;

/// Private IPv4 networks no online device reaches beyond the router unless
/// `[network] allow_private` names them: RFC 1918, shared address space
/// (RFC 6598, carrier NAT and many management VPNs), link-local.
pub const PRIVATE4: [(Ipv4Addr, u8); 5] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];

/// DNS queries a second a device that is not online may send the router,
/// and the burst above it. The burst is sized for a phone joining the wifi:
/// its OS probes and apps ask at once (13 probe hosts, A and AAAA each, are
/// 26 queries in the same instant in tests/probes.rs); a burst of 5 made
/// those phones wait 5 s for a retry before the login sheet opened.
///
/// 5 a second (issue 22, item 4): DNS is never charged to a device, so the
/// rate bounds what a tunnel through the router's resolver carries for a
/// phone that is cut off after its quota: at most 5 answers of up to 1,232
/// bytes (dnsmasq's EDNS size) a second, about 50 kbit/s down, and 5 queries
/// of at most 149 bytes up, about 6 kbit/s.
pub const DNS_CAPTIVE_RATE: (u32, u32) = (5, 30);
/// The same for an online device: the burst covers a page's names at once
/// (a news page asks for 20-40), the rate far more than browsing keeps up.
/// 20 a second (it was 100: issue 22, item 4), so a throttled phone's tunnel
/// through the resolver carries at most about 20 × 1,232 bytes a second
/// (about 200 kbit/s down), no more than the fair-use speed of 256 kbit/s it
/// has anyway; at 100 a second it was about 0.9 Mbit/s. The same for every
/// online phone: the meter does not know who is throttled.
pub const DNS_ONLINE_RATE: (u32, u32) = (20, 100);
/// The largest UDP datagram (header included) a device that is not online
/// may send to port 53: 8 (UDP) + 12 (DNS header) + 102 (a 100-character
/// name) + 4 (type, class) + 23 (an EDNS record with a cookie, as dig and
/// BIND send it). A longer name gets no answer: the room a tunnel has for
/// data in each query is capped.
pub const DNS_CAPTIVE_MAX_UDP: u32 = 8 + 12 + 102 + 4 + 23;
/// Per-source entries of the DNS meters expire this long after the last query.
const METER_TIMEOUT: u32 = 60;
/// At most this many sources in each meter (a village has at most a few hundred).
const METER_SIZE: u32 = 65_535;

/// DHCP packets (to port 67) a device may send the router per minute, and
/// the burst above it. A phone joining sends 2 (DISCOVER, REQUEST), a few
/// more on retries, then one renewal every half lease; the burst covers five
/// exchanges. One device that asks leases for made-up client addresses
/// (`chaddr`) gets about 5 at once and then one a minute: 65 in the first
/// hour, so with hour-long leases it never holds a pool of 150 alone.
pub const DHCP_RATE_PER_MINUTE: (u32, u32) = (2, 10);
/// Entries of the DHCP meter expire this long after a device's last packet
/// (longer than its burst takes to refill: 5 minutes).
const DHCP_METER_TIMEOUT: u32 = 600;

/// One meter: a dynamic set keyed by `ether saddr` and its limit.
pub(super) struct Meter {
    pub name: &'static str,
    /// (rate, burst) per `per`.
    pub limit: (u32, u32),
    pub per: &'static str,
    /// Seconds an entry lives after its last packet.
    pub timeout: u32,
}

/// Every meter, in the order its set is declared.
pub(super) const METERS: [Meter; 3] = [
    Meter {
        name: SET_DNS_ONLINE,
        limit: DNS_ONLINE_RATE,
        per: "second",
        timeout: METER_TIMEOUT,
    },
    Meter {
        name: SET_DNS_CAPTIVE,
        limit: DNS_CAPTIVE_RATE,
        per: "second",
        timeout: METER_TIMEOUT,
    },
    Meter {
        name: SET_DHCP_DEV,
        limit: DHCP_RATE_PER_MINUTE,
        per: "minute",
        timeout: DHCP_METER_TIMEOUT,
    },
];

/// The sets of this module, in the order they are declared; a meter set
/// the kernel already has is left out (see [`KernelState::meters`]).
pub(super) fn sets(kernel: &KernelState) -> Vec<NfListObject<'static>> {
    let mut out = vec![
        set(
            SET_PRIVATE4,
            SetTypeValue::Single(SetType::Ipv4Addr),
            Some(SetFlag::Interval),
        ),
        set(
            SET_ALLOW_PRIVATE4,
            SetTypeValue::Single(SetType::Ipv4Addr),
            Some(SetFlag::Interval),
        ),
    ];
    let keep = |name: &str| kernel.compatible && kernel.meters.contains(name);
    for m in METERS.iter().filter(|m| !keep(m.name)) {
        out.push(NfListObject::Set(Box::new(schema::Set {
            set_type: SetTypeValue::Single(SetType::EtherAddr),
            flags: Some(HashSet::from([SetFlag::Timeout])),
            timeout: Some(m.timeout),
            size: Some(METER_SIZE),
            ..set_ref(m.name)
        })));
    }
    out
}

/// Flush and refill the two private-network sets (small, no counters).
pub(super) fn fill(batch: &mut nftables::batch::Batch<'static>, policy: &Policy) {
    for (name, nets) in [
        (SET_PRIVATE4, PRIVATE4.to_vec()),
        (SET_ALLOW_PRIVATE4, policy.allow_private.clone()),
    ] {
        batch.add_cmd(schema::NfCmd::Flush(schema::FlushObject::Set(Box::new(
            set_ref(name),
        ))));
        if !nets.is_empty() {
            batch.add(elements(
                name,
                nets.iter()
                    .map(|&(a, l)| garden_expr(&GardenNet::V4(a, l)))
                    .collect(),
            ));
        }
    }
}

/// The input chain's DNS and DHCP rules; first in the chain, before `ct state
/// established accept` (a tunnel reusing one source port would otherwise be
/// "established" after its first query).
///
/// Each meter is keyed by the sending MAC, not the address (a phone that
/// adds 16 addresses still has one allowance), and *accepts* under its
/// limit: a query the meter cannot account for (over the limit, or a table
/// filled by a flood of spoofed sources, where `update` fails) falls to the
/// `drop` after it, never through unmetered (issue 22).
pub(super) fn dns_rules(lan: &str) -> Vec<Rule<'static>> {
    let from_lan = || iifname(lan);
    let dns = || {
        vec![
            from_lan(),
            in_anon(meta(MetaKey::L4proto), &["tcp", "udp"]),
            eq(payload("th", "dport"), Expression::Number(53)),
        ]
    };
    let online = || in_set(device_lhs(), SET_ONLINE_NAT);
    let udp53 = || {
        vec![
            from_lan(),
            eq(payload("udp", "dport"), Expression::Number(53)),
        ]
    };
    vec![
        // IPv6: meta nfproto ipv6 th dport 53 reject with icmpx admin-prohibited   (UDP and TCP;
        // phones get no IPv6 yet, so DNS over it is refused, link-local included, and the
        // phone falls back to IPv4 at once)
        rule(
            CHAIN_INPUT,
            [
                dns(),
                vec![
                    eq(meta(MetaKey::Nfproto), Expression::String("ipv6".into())),
                    reject(RejectType::ICMPX),
                ],
            ]
            .concat(),
        ),
        // online, under its limit: th dport 53 ether saddr . ip saddr @online_nat
        //   update @dns_dev_online { ether saddr limit rate 20/second burst 100 packets } accept
        rule(
            CHAIN_INPUT,
            [
                dns(),
                vec![online(), meter(SET_DNS_ONLINE), Statement::Accept(None)],
            ]
            .concat(),
        ),
        // online, over its limit (or the meter full): th dport 53 ether saddr . ip saddr @online_nat drop
        rule(CHAIN_INPUT, [dns(), vec![online(), drop()]].concat()),
        // not online: tcp dport 53 reject with tcp reset   (no DNS over TCP: no big answers, no streams)
        rule(
            CHAIN_INPUT,
            vec![
                from_lan(),
                eq(payload("tcp", "dport"), Expression::Number(53)),
                reject(RejectType::TCPReset),
            ],
        ),
        // not online: udp dport 53 udp length 150-65535 drop   (a name over 100 characters)
        rule(
            CHAIN_INPUT,
            [
                udp53(),
                vec![
                    // A range, not `>`: nftables 0.6's Operator::GT serializes as "<".
                    eq(
                        payload("udp", "length"),
                        Expression::Range(Box::new(nftables::expr::Range {
                            range: [
                                Expression::Number(DNS_CAPTIVE_MAX_UDP + 1),
                                Expression::Number(u32::from(u16::MAX)),
                            ],
                        })),
                    ),
                    drop(),
                ],
            ]
            .concat(),
        ),
        // not online, under its limit: udp dport 53
        //   update @dns_dev_captive { ether saddr limit rate 5/second burst 30 packets } accept
        rule(
            CHAIN_INPUT,
            [
                udp53(),
                vec![meter(SET_DNS_CAPTIVE), Statement::Accept(None)],
            ]
            .concat(),
        ),
        // not online, over its limit (or the meter full): udp dport 53 drop
        rule(CHAIN_INPUT, [udp53(), vec![drop()]].concat()),
        // DHCP, under the device's limit: udp dport 67
        //   update @dhcp_dev { ether saddr limit rate 2/minute burst 10 packets } accept
        rule(
            CHAIN_INPUT,
            vec![
                from_lan(),
                eq(payload("udp", "dport"), Expression::Number(67)),
                meter(SET_DHCP_DEV),
                Statement::Accept(None),
            ],
        ),
        // DHCP, over it (or the meter full): udp dport 67 drop   (spoofed chaddr: a few leases, not the pool)
        rule(
            CHAIN_INPUT,
            vec![
                from_lan(),
                eq(payload("udp", "dport"), Expression::Number(67)),
                drop(),
            ],
        ),
    ]
}

/// lan -> private networks beyond the router (in `from_lan`):
/// `ip daddr @private4 ip daddr != @allow_private4 reject with icmpx admin-prohibited`
/// (before the online devices' path: being online opens the internet, not the dish's API)
pub(super) fn private_rule() -> Rule<'static> {
    rule(
        CHAIN_FROM_LAN,
        vec![
            in_set(payload("ip", "daddr"), SET_PRIVATE4),
            cmp(
                payload("ip", "daddr"),
                Operator::NEQ,
                Expression::String(format!("@{SET_ALLOW_PRIVATE4}").into()),
            ),
            reject(RejectType::ICMPX),
        ],
    )
}

fn cmp(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(nftables::stmt::Match { left, right, op })
}

fn drop() -> Statement<'static> {
    Statement::Drop(None)
}

/// `update @SET { ether saddr }`; its `limit rate ...` is added by
/// [`add_meter_limits`] (the crate's set statement cannot carry one).
fn meter(name: &'static str) -> Statement<'static> {
    Statement::Set(nftables::stmt::Set {
        op: nftables::stmt::SetOp::Update,
        elem: payload("ether", "saddr"),
        set: Cow::Owned(format!("@{name}")),
    })
}

/// Give each meter's `update` statement its `limit rate R/second burst B packets`
/// (matching while under the limit: the rule accepts, what is left drops).
pub(super) fn add_meter_limits(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(set) = map.get_mut("set").and_then(|s| s.as_object_mut()) {
                let target = set.get("set").and_then(|s| s.as_str()).map(str::to_owned);
                if set.get("op").and_then(|o| o.as_str()) == Some("update") {
                    if let Some(m) = METERS
                        .iter()
                        .find(|m| target.as_deref() == Some(&format!("@{}", m.name)))
                    {
                        let (rate, burst) = m.limit;
                        set.insert(
                            "stmt".into(),
                            serde_json::json!([{ "limit": {
                                "rate": rate, "per": m.per, "burst": burst
                            } }]),
                        );
                        return;
                    }
                }
            }
            for v in map.values_mut() {
                add_meter_limits(v);
            }
        }
        serde_json::Value::Array(list) => list.iter_mut().for_each(add_meter_limits),
        _ => {}
    }
}
