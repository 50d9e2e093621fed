//! `[walled_garden]`: what a device reaches before it logs in.

use serde::Deserialize;

use super::check::{Check, Parsed, Text};
use super::values::{domain, network_address};

/// Places reachable without logging in (government services, the portal's own assets).
#[derive(Debug, Clone, Default)]
pub struct WalledGarden {
    pub addresses: Vec<ipnet::IpNet>,
    /// Lower-case DNS names.
    pub domains: Vec<String>,
    /// The TCP ports a device that is not online may reach in the garden
    /// (web only by default), so the garden is no free internet.
    pub ports: Vec<u16>,
}

/// `[walled_garden]` as written: values kept as text for the check below.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [walled_garden] table")]
pub(crate) struct RawWalledGarden {
    addresses: Vec<Text>,
    domains: Vec<Text>,
    ports: Option<Vec<i64>>,
}

impl Check<'_> {
    pub(super) fn walled_garden(&self, raw: RawWalledGarden) -> Parsed<WalledGarden> {
        let mut garden = WalledGarden::default();
        for (i, t) in raw.addresses.iter().enumerate() {
            let key = format!("walled_garden.addresses[{i}]");
            let net = garden_address(&t.0).map_err(|m| self.invalid(&key, m))?;
            garden.addresses.push(net);
        }
        for (i, t) in raw.domains.iter().enumerate() {
            let key = format!("walled_garden.domains[{i}]");
            let name = domain(&t.0).map_err(|m| self.invalid(&key, m))?;
            if !name.contains('.') {
                return Err(self.invalid(
                    &key,
                    format!("{:?} is a top-level domain alone: every site under it would be free (list the service, e.g. \"layanan.go.id\")", t.0),
                ));
            }
            garden.domains.push(name);
        }
        garden.ports = match raw.ports {
            None => vec![80, 443],
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    u16::try_from(n).ok().filter(|&p| p > 0).ok_or_else(|| {
                        self.invalid(
                            &format!("walled_garden.ports[{i}]"),
                            format!("{n} is not a TCP port (1-65535; try [80, 443])"),
                        )
                    })
                })
                .collect::<Parsed<Vec<_>>>()?,
        };
        Ok(garden)
    }
}

/// One `walled_garden.addresses` entry: a CIDR block or a single address,
/// never the whole internet. Public so a regency policy's garden additions
/// (`crate::policy::document`) are checked exactly as the file's are.
pub fn garden_address(s: &str) -> Result<ipnet::IpNet, String> {
    let net = network_address(s)?;
    if net.prefix_len() == 0 {
        return Err(format!(
            "{s:?} is the whole internet (list the services' own blocks, e.g. \"203.0.113.0/24\")"
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn walled_garden_normalises() {
        let text = format!(
            "{MINIMAL}[walled_garden]\naddresses = [\"198.51.100.7\", \"2001:db8::1\", \"2001:db8:1::/48\"]\n\
             domains = [\"Kemkes.GO.id\", \"a-b.example\"]\n"
        );
        let c = parse(&text).unwrap();
        let nets: Vec<String> = c
            .walled_garden
            .addresses
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            nets,
            ["198.51.100.7/32", "2001:db8::1/128", "2001:db8:1::/48"]
        );
        assert_eq!(c.walled_garden.domains, ["kemkes.go.id", "a-b.example"]);
    }

    #[test]
    fn walled_garden_errors() {
        let e = error_with(
            "walled_garden",
            "addresses",
            "[\"203.0.113.0/24\", \"203.0.113.0/33\"]",
        );
        assert_eq!(
            e,
            "x.toml: walled_garden.addresses[1]: \"203.0.113.0/33\" is not an address or CIDR block (try \"203.0.113.0/24\")"
        );
        let e = error_with("walled_garden", "addresses", "[\"203.0.113.5/24\"]");
        assert_eq!(e, "x.toml: walled_garden.addresses[0]: \"203.0.113.5/24\" has host bits set (did you mean \"203.0.113.0/24\"?)");
        let e = error_with("walled_garden", "addresses", "[\"1.2.3.4\", true]");
        assert_eq!(
            e,
            "x.toml: walled_garden.addresses[1]: invalid type: boolean `true`, expected a string"
        );
        let e = error_with("walled_garden", "addresses", "\"1.2.3.4\"");
        assert_eq!(e, "x.toml: walled_garden.addresses: invalid type: string \"1.2.3.4\", expected a sequence");
        let long = format!("{}.id", vec!["a".repeat(63); 4].join("."));
        let too_long_label = format!("{}.id", "a".repeat(64));
        for bad in [
            ".go.id",
            "go.id.",
            "go..id",
            "*.go.id",
            "go_id",
            "-go.id",
            "",
            &long,
            &too_long_label,
        ] {
            let e = error_with("walled_garden", "domains", &format!("[\"ok.id\", {bad:?}]"));
            let want = format!(
                "x.toml: walled_garden.domains[1]: {bad:?} is not a domain name \
                 (letters, digits, '-' and '.', no leading or trailing dot; try \"go.id\")"
            );
            assert_eq!(e, want);
        }
    }

    #[test]
    fn the_garden_refuses_a_tld_alone_and_the_whole_internet() {
        for tld in ["com", "id"] {
            let e = error_with("walled_garden", "domains", &format!("[\"go.id\", {tld:?}]"));
            assert!(
                e.starts_with(&format!(
                    "x.toml: walled_garden.domains[1]: {tld:?} is a top-level domain alone"
                )),
                "{e}"
            );
        }
        for all in ["0.0.0.0/0", "::/0"] {
            let e = error_with("walled_garden", "addresses", &format!("[{all:?}]"));
            assert!(
                e.starts_with(&format!(
                    "x.toml: walled_garden.addresses[0]: {all:?} is the whole internet"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn garden_ports_default_to_the_web() {
        assert_eq!(parse(MINIMAL).unwrap().walled_garden.ports, vec![80, 443]);
        let c = parse(&format!("{MINIMAL}[walled_garden]\nports = [443]\n")).unwrap();
        assert_eq!(c.walled_garden.ports, vec![443]);
        let e = error_with("walled_garden", "ports", "[80, 70000]");
        assert_eq!(
            e,
            "x.toml: walled_garden.ports[1]: 70000 is not a TCP port (1-65535; try [80, 443])"
        );
    }
}
