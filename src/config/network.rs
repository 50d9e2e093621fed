//! `[network]`: the interfaces, the router's LAN address, the uplink's capacity,
//! the shaping slots, private destinations and the trusted devices.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Deserialize;

use super::check::{Check, Parsed, Text};
use super::values::{interface, network_address, parse_duration, positive, positive_rate};
use crate::domain::{Mac, Rate, DEFAULT_SLOTS, MAX_SLOTS};

/// Where the clients are, where the internet is, and how much of it there is.
#[derive(Debug, Clone)]
pub struct Network {
    pub lan_interface: String,
    pub wan_interface: String,
    /// The router's own LAN address; clients are redirected here.
    pub portal_address: Ipv4Addr,
    /// The uplink's capacity, if known; `None` means unshaped.
    pub uplink_download: Option<Rate>,
    pub uplink_upload: Option<Rate>,
    /// Devices online at once; each holds a traffic-shaping slot (an HTB
    /// class per direction, made at start-up). A login past it takes the
    /// slot of a session idle at least `evict_idle_after`, or is refused.
    pub max_online: u16,
    /// How long a session must have moved no traffic before a login may take
    /// its slot (all slots taken) or its IP (another MAC on the same address).
    pub evict_idle_after: Duration,
    /// Private destinations (RFC 1918, 100.64.0.0/10, 169.254.0.0/16, ULA,
    /// link-local) online devices may still reach beyond the router.
    pub allow_private: Vec<ipnet::IpNet>,
    /// Devices online whenever they are on the LAN, without the splash page
    /// or a quota (the village office's PC, a kiosk, a camera); sorted, once each.
    pub trusted_macs: Vec<Mac>,
}

/// `[network]` as written: values kept as text for the check below.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [network] table")]
pub(crate) struct RawNetwork {
    lan_interface: Option<Text>,
    wan_interface: Option<Text>,
    portal_address: Option<Text>,
    uplink_download: Option<Text>,
    uplink_upload: Option<Text>,
    max_online: Option<i64>,
    evict_idle_after: Option<Text>,
    allow_private: Vec<Text>,
    trusted_macs: Vec<Text>,
}

impl Check<'_> {
    pub(super) fn network(&self, raw: RawNetwork) -> Parsed<Network> {
        let lan_interface = self.required("network.lan_interface", raw.lan_interface, interface)?;
        let wan_interface = self.required("network.wan_interface", raw.wan_interface, interface)?;
        if lan_interface == wan_interface {
            return Err(self.invalid(
                "network.wan_interface",
                format!(
                    "{wan_interface:?} is also network.lan_interface (the LAN and WAN must be different interfaces)"
                ),
            ));
        }
        let portal_address = self.required("network.portal_address", raw.portal_address, |s| {
            let ip: Ipv4Addr = s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not an IPv4 address (try \"10.77.0.1\")"))?;
            if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast() {
                return Err(format!(
                    "{s:?} cannot be the router's LAN address (try \"10.77.0.1\")"
                ));
            }
            Ok(ip)
        })?;
        let mut trusted_macs = Vec::new();
        for (i, t) in raw.trusted_macs.iter().enumerate() {
            let mac =
                t.0.trim()
                    .parse::<Mac>()
                    .ok()
                    .filter(|m| m.0 != [0; 6] && m.0[0] & 1 == 0)
                    .ok_or_else(|| {
                        self.invalid(
                            &format!("network.trusted_macs[{i}]"),
                            format!(
                                "{:?} is not a device's MAC address (try \"02:ab:cd:00:11:22\")",
                                t.0
                            ),
                        )
                    })?;
            trusted_macs.push(mac);
        }
        trusted_macs.sort();
        trusted_macs.dedup();
        Ok(Network {
            trusted_macs,
            lan_interface,
            wan_interface,
            portal_address,
            uplink_download: self.optional(
                "network.uplink_download",
                raw.uplink_download,
                positive_rate,
            )?,
            uplink_upload: self.optional(
                "network.uplink_upload",
                raw.uplink_upload,
                positive_rate,
            )?,
            max_online: match raw.max_online {
                None => DEFAULT_SLOTS,
                Some(n) => u16::try_from(n)
                    .ok()
                    .filter(|&n| n > 0 && n <= MAX_SLOTS)
                    .ok_or_else(|| {
                        self.invalid(
                            "network.max_online",
                            format!(
                                "{n} is not between 1 and {} (try {})",
                                MAX_SLOTS, DEFAULT_SLOTS
                            ),
                        )
                    })?,
            },
            evict_idle_after: self.or(
                "network.evict_idle_after",
                raw.evict_idle_after,
                "2m",
                |s| positive(s, parse_duration(s)?, Duration::ZERO, "try \"2m\""),
            )?,
            allow_private: raw
                .allow_private
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    network_address(&t.0)
                        .map_err(|m| self.invalid(&format!("network.allow_private[{i}]"), m))
                })
                .collect::<Parsed<Vec<_>>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn trusted_macs_are_unicast_macs() {
        assert!(parse(MINIMAL).unwrap().network.trusted_macs.is_empty());
        assert_eq!(
            error_with("network", "trusted_macs", "[\"02:77:00:00:00:01\", \"kantor\"]"),
            "x.toml: network.trusted_macs[1]: \"kantor\" is not a device's MAC address (try \"02:ab:cd:00:11:22\")"
        );
        assert_eq!(
            error_with("network", "trusted_macs", "[\"ff:ff:ff:ff:ff:ff\"]"),
            "x.toml: network.trusted_macs[0]: \"ff:ff:ff:ff:ff:ff\" is not a device's MAC address (try \"02:ab:cd:00:11:22\")",
            "broadcast is no device"
        );
        let text = MINIMAL.replace(
            "portal_address = \"10.77.0.1\"\n",
            "portal_address = \"10.77.0.1\"\ntrusted_macs = [\"02:77:00:00:00:09\", \"02:77:00:00:00:01\", \"02:77:00:00:00:09\"]\n",
        );
        let macs: Vec<String> = parse(&text)
            .unwrap()
            .network
            .trusted_macs
            .iter()
            .map(|m| m.to_string())
            .collect();
        assert_eq!(macs, ["02:77:00:00:00:01", "02:77:00:00:00:09"]);
    }

    #[test]
    fn max_online_is_a_slot_count() {
        assert_error(
            "network",
            "max_online",
            "0",
            "0 is not between 1 and 16128 (try 1024)",
        );
        assert_error(
            "network",
            "max_online",
            "40000",
            "40000 is not between 1 and 16128 (try 1024)",
        );
        assert_eq!(parse(MINIMAL).unwrap().network.max_online, 1024);
    }

    #[test]
    fn network_errors() {
        let bad_interface = |v: &str| {
            format!("{v:?} is not an interface name (1 to 15 characters, no '/', ':' or spaces; try \"br-lan\")")
        };
        assert_error("network", "lan_interface", "\"\"", &bad_interface(""));
        assert_error(
            "network",
            "lan_interface",
            "\"br lan\"",
            &bad_interface("br lan"),
        );
        assert_error(
            "network",
            "lan_interface",
            "\"eth0:1\"",
            &bad_interface("eth0:1"),
        );
        assert_error("network", "wan_interface", "\"a/b\"", &bad_interface("a/b"));
        assert_error(
            "network",
            "wan_interface",
            "\"abcdefghijklmnop\"",
            &bad_interface("abcdefghijklmnop"),
        );
        assert!(
            parse(&MINIMAL.replace("\"br-lan\"", "\"abcdefghijklmno\"")).is_ok(),
            "15 characters fit"
        );
        assert_error(
            "network",
            "wan_interface",
            "\"br-lan\"",
            "\"br-lan\" is also network.lan_interface (the LAN and WAN must be different interfaces)",
        );
        assert_error(
            "network",
            "portal_address",
            "\"10.77.0\"",
            "\"10.77.0\" is not an IPv4 address (try \"10.77.0.1\")",
        );
        assert_error(
            "network",
            "portal_address",
            "\"fd00::1\"",
            "\"fd00::1\" is not an IPv4 address (try \"10.77.0.1\")",
        );
        assert_error(
            "network",
            "portal_address",
            "\"0.0.0.0\"",
            "\"0.0.0.0\" cannot be the router's LAN address (try \"10.77.0.1\")",
        );
        assert_error(
            "network",
            "uplink_download",
            "\"fast\"",
            "\"fast\" is not a rate (try \"2 Mbit/s\")",
        );
        assert_error(
            "network",
            "uplink_upload",
            "\"0\"",
            "\"0\" must be more than zero (try \"2 Mbit/s\")",
        );
    }

    #[test]
    fn eviction_private_and_forgetting_keys() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.network.evict_idle_after, Duration::from_secs(120));
        assert!(c.network.allow_private.is_empty());
        assert_eq!(c.store.forget_after, Duration::from_secs(120 * 86_400));
        let e = error_with("network", "evict_idle_after", "\"0\"");
        assert_eq!(
            e,
            "x.toml: network.evict_idle_after: \"0\" must be more than zero (try \"2m\")"
        );
        let e = error_with("network", "allow_private", "[\"192.168.100.1/24\"]");
        assert!(
            e.starts_with(
                "x.toml: network.allow_private[0]: \"192.168.100.1/24\" has host bits set"
            ),
            "{e}"
        );
        let e = error_with("store", "forget_after", "\"1h\"");
        assert!(
            e.starts_with("x.toml: store.forget_after: \"1h\" is less than a day"),
            "{e}"
        );
        let text = MINIMAL.replace(
            "portal_address = \"10.77.0.1\"\n",
            "portal_address = \"10.77.0.1\"\nallow_private = [\"192.168.100.1\"]\nevict_idle_after = \"30s\"\n",
        );
        let c = parse(&text).unwrap();
        assert_eq!(
            c.network.allow_private,
            vec!["192.168.100.1/32".parse().unwrap()]
        );
        assert_eq!(c.network.evict_idle_after, Duration::from_secs(30));
    }
}
