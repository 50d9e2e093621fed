//! The forward path (issue 22): every decision about a device is made where
//! its MAC is known (packets it sends) and carried to the replies in the
//! connection's mark, so an address alone (a phone on an online phone's
//! address) never gets a device's class or counter, and a device that is not
//! online stays in the captive class both ways, whatever set (walled garden,
//! free category) the other end is in. Pure, like the rest of `render`.
//!
//! ```text
//! map dev_slot   { type ether_addr . ipv4_addr : mark; }   # online device -> slot + 1
//! map slot_class { type mark : classid; elements = { 1 : de5a:100, 2 : de5a:101, ... } }
//! map slot_free  { type mark : classid; elements = { 1 : de5a:4000, 2 : de5a:4001, ... } }
//! chain forward { type filter hook forward priority filter; policy accept;
//!   oifname LAN jump to_lan
//!   iifname LAN jump from_lan
//! }
//! chain to_lan {                                   # downloads
//!   ct mark 0 meta priority set de5a:4 goto cat_down      # no online device's connection: captive class
//!   meta priority set ct mark map @slot_class             # the device's class
//!   ip saddr @garden4 meta priority set ct mark map @slot_free   # its free class
//!   ip saddr @garden_dns4 meta priority set ct mark map @slot_free
//!   jump cat_down                                         # a free category accepts here
//!   ip daddr @down                                        # the device's download counter
//! }
//! chain from_lan {                                 # uploads
//!   meta nfproto ipv6 reject with icmpx admin-prohibited
//!   ip daddr @private4 ip daddr != @allow_private4 reject with icmpx admin-prohibited
//!   ct mark set ether saddr . ip saddr map @dev_slot goto online_up
//!   ct mark != 0 ct mark set 0                            # its device is not online (any more)
//!   ip daddr @garden4 tcp dport { 80, 443 } meta priority set de5a:4 accept
//!   ip daddr @garden_dns4 tcp dport { 80, 443 } meta priority set de5a:4 accept
//!   meta l4proto tcp reject with tcp reset
//!   reject with icmpx admin-prohibited
//! }
//! chain online_up {
//!   meta priority set ct mark map @slot_class
//!   ip daddr @garden4 meta priority set ct mark map @slot_free
//!   ip daddr @garden_dns4 meta priority set ct mark map @slot_free
//!   tcp dport 853 reject with tcp reset
//!   jump cat_up                                           # a free category accepts here
//!   ether saddr . ip saddr @online accept                 # the device's upload counter
//!   reject with icmpx admin-prohibited                    # (dev_slot and online disagree: never)
//! }
//! ```
//!
//! Per packet: the same lookups as before or fewer (the class comes from one
//! map keyed by the connection's mark instead of the address), nothing that
//! grows with devices. The mark is set from every packet a device sends, so
//! a device that logs out or is cut takes its connections with it at its
//! next packet: their replies go to the captive class again.

use nftables::expr::{self, Expression, NamedExpression, CT};
use nftables::schema::Rule;
use nftables::stmt::{JumpTarget, Mangle, Operator, RejectType, Statement};

use super::*;
use crate::shaping::captive_garden_classid;

/// `ct mark`
fn ct_mark() -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: "mark".into(),
        family: None,
        dir: None,
    }))
}

fn jump(chain: &'static str) -> Statement<'static> {
    Statement::Jump(JumpTarget {
        target: chain.into(),
    })
}

fn goto(chain: &'static str) -> Statement<'static> {
    Statement::Goto(JumpTarget {
        target: chain.into(),
    })
}

/// `meta priority set ct mark map @slot_class`: the connection's device's class.
pub(super) fn device_class() -> Statement<'static> {
    class_by_mark(MAP_SLOT_CLASS)
}

/// `meta priority set ct mark map @slot_free`: the connection's device's free
/// class (its own caps, also while throttled; never the whole uplink).
pub(crate) fn free_class() -> Statement<'static> {
    class_by_mark(MAP_SLOT_FREE)
}

fn class_by_mark(map: &str) -> Statement<'static> {
    set_priority(Expression::Named(NamedExpression::Map(Box::new(
        expr::Map {
            key: ct_mark(),
            data: Expression::String(format!("@{map}").into()),
        },
    ))))
}

fn captive_class() -> Statement<'static> {
    set_priority(Expression::String(captive_garden_classid().into()))
}

/// The forward chain and the chains it jumps to, in order.
pub(super) fn rules(policy: &Policy) -> Vec<Rule<'static>> {
    let lan = policy.lan_interface.as_str();
    let ports: Vec<u32> = policy.garden_ports.iter().map(|&p| u32::from(p)).collect();
    let garden_sets = [SET_GARDEN4, SET_GARDEN_DNS4];
    let mut out = vec![
        // oifname LAN jump to_lan
        rule(CHAIN_FORWARD, vec![iifname_out(lan), jump(CHAIN_TO_LAN)]),
        // iifname LAN jump from_lan
        rule(CHAIN_FORWARD, vec![iifname(lan), jump(CHAIN_FROM_LAN)]),
        // ct mark 0 meta priority set de5a:4 goto cat_down   (a connection of no online device:
        // the captive class whatever the source is; its bytes count by category only)
        rule(
            CHAIN_TO_LAN,
            vec![
                eq(ct_mark(), Expression::Number(0)),
                captive_class(),
                goto(categories::CHAIN_CAT_DOWN),
            ],
        ),
        // meta priority set ct mark map @slot_class   (the device's HTB class on the LAN)
        rule(CHAIN_TO_LAN, vec![device_class()]),
    ];
    // ip saddr @garden4 meta priority set ct mark map @slot_free   (an online device's garden: its free class)
    for set in garden_sets {
        out.push(rule(
            CHAIN_TO_LAN,
            vec![in_set(payload("ip", "saddr"), set), free_class()],
        ));
    }
    out.extend([
        // jump cat_down   (counts the category; a free one accepts, before @down)
        rule(
            CHAIN_TO_LAN,
            vec![categories::jump(categories::CHAIN_CAT_DOWN)],
        ),
        // ip daddr @down   (no verdict: the element's counter counts download bytes)
        rule(CHAIN_TO_LAN, vec![in_set(payload("ip", "daddr"), SET_DOWN)]),
        // meta nfproto ipv6 reject with icmpx admin-prohibited   (IPv6 is never a way around the portal)
        rule(
            CHAIN_FROM_LAN,
            vec![
                eq(meta(MetaKey::Nfproto), Expression::String("ipv6".into())),
                reject(RejectType::ICMPX),
            ],
        ),
        guard::private_rule(),
        // ct mark set ether saddr . ip saddr map @dev_slot goto online_up   (an online device: its
        // slot into the connection's mark, from every packet it sends)
        rule(
            CHAIN_FROM_LAN,
            vec![
                Statement::Mangle(Mangle {
                    key: ct_mark(),
                    value: Expression::Named(NamedExpression::Map(Box::new(expr::Map {
                        key: device_lhs(),
                        data: Expression::String(format!("@{MAP_DEV_SLOT}").into()),
                    }))),
                }),
                goto(CHAIN_ONLINE_UP),
            ],
        ),
        // ct mark != 0 ct mark set 0   (not online, or not any more: its connections' replies
        // go to the captive class)
        rule(
            CHAIN_FROM_LAN,
            vec![
                Statement::Match(nftables::stmt::Match {
                    left: ct_mark(),
                    right: Expression::Number(0),
                    op: Operator::NEQ,
                }),
                Statement::Mangle(Mangle {
                    key: ct_mark(),
                    value: Expression::Number(0),
                }),
            ],
        ),
    ]);
    // ip daddr @garden4 tcp dport { 80, 443 } meta priority set de5a:4 accept   (web only, capped)
    for set in garden_sets {
        out.push(rule(
            CHAIN_FROM_LAN,
            vec![
                in_set(payload("ip", "daddr"), set),
                in_anon_num(payload("tcp", "dport"), &ports),
                captive_class(),
                Statement::Accept(None),
            ],
        ));
    }
    out.extend([
        // captive tcp (HTTPS and the rest): reject with tcp reset   (fails fast instead of hanging)
        rule(
            CHAIN_FROM_LAN,
            vec![
                eq(meta(MetaKey::L4proto), Expression::String("tcp".into())),
                reject(RejectType::TCPReset),
            ],
        ),
        // captive anything else (outside DNS, QUIC, ping): reject with icmpx admin-prohibited
        rule(CHAIN_FROM_LAN, vec![reject(RejectType::ICMPX)]),
        // meta priority set ct mark map @slot_class   (the device's HTB class on the WAN)
        rule(CHAIN_ONLINE_UP, vec![device_class()]),
    ]);
    // ip daddr @garden4 meta priority set de5a:3
    for set in garden_sets {
        out.push(rule(
            CHAIN_ONLINE_UP,
            vec![in_set(payload("ip", "daddr"), set), free_class()],
        ));
    }
    out.extend([
        // tcp dport 853 reject with tcp reset   (DNS over TLS: phones fall back to the router's
        // DNS, which fills the category sets)
        rule(
            CHAIN_ONLINE_UP,
            vec![
                eq(payload("tcp", "dport"), categories::dot_port()),
                reject(RejectType::TCPReset),
            ],
        ),
        // jump cat_up   (counts the category; a free one accepts, before @online)
        rule(
            CHAIN_ONLINE_UP,
            vec![categories::jump(categories::CHAIN_CAT_UP)],
        ),
        // ether saddr . ip saddr @online accept   (the element's counter counts upload bytes)
        rule(
            CHAIN_ONLINE_UP,
            vec![in_set(device_lhs(), SET_ONLINE), Statement::Accept(None)],
        ),
        // reject with icmpx admin-prohibited   (dev_slot without its @online element: never let through uncounted)
        rule(CHAIN_ONLINE_UP, vec![reject(RejectType::ICMPX)]),
    ]);
    out
}

/// Every slot's element of `slot_class` (or `slot_free`): mark slot + 1 -> `class(slot)`.
pub(super) fn slot_class_elements(
    slots: u16,
    class: fn(u16) -> String,
) -> Vec<Expression<'static>> {
    (0..slots.min(crate::domain::MAX_SLOTS))
        .map(|slot| {
            Expression::List(vec![
                Expression::Number(slot_mark(slot)),
                Expression::String(class(slot).into()),
            ])
        })
        .collect()
}

/// The connection mark of a device in `slot`: never 0 (0 is "no online device").
pub(super) fn slot_mark(slot: u16) -> u32 {
    u32::from(slot) + 1
}
