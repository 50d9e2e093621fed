//! The router's dnsmasq settings, generated from the desawifi config.
//!
//! dnsmasq stays the router's own DHCP and DNS server; desawifi only needs it
//! to serve DNS on the LAN, to tell phones where the captive-portal API is
//! (RFC 8910, DHCP option 114), and to learn the addresses of walled-garden
//! domains into our `garden_dns4` set (`nftset=`). [`snippet`] writes exactly
//! that, for `desawifi dnsmasq-conf` to print into `/etc/dnsmasq.d/`.

pub mod categories;

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::config::Config;
use crate::firewall::{SET_GARDEN_DNS4, TABLE};

/// The hosts operating systems fetch to decide whether a network is captive.
/// None of them (nor a domain above one) may be in the walled garden: a probe
/// that gets through tells the phone "internet works", so the login sheet
/// never opens and the phone looks online while every app fails.
pub const PROBE_HOSTS: &[&str] = &[
    // Android (and Chrome OS); www.google.com and play.googleapis.com are its fallbacks.
    "connectivitycheck.gstatic.com",
    "connectivitycheck.android.com",
    "clients3.google.com",
    "www.google.com",
    "play.googleapis.com",
    // Xiaomi (MIUI) and Huawei phones, common in the villages, use their own.
    "connect.rom.miui.com",
    "connectivitycheck.platform.hicloud.com",
    // iOS and macOS.
    "captive.apple.com",
    // Windows.
    "www.msftconnecttest.com",
    "ipv6.msftconnecttest.com",
    "www.msftncsi.com",
    // Firefox.
    "detectportal.firefox.com",
    // Linux desktops (NetworkManager).
    "connectivity-check.ubuntu.com",
    "nmcheck.gnome.org",
];

/// The connectivity-probe hosts `domain` covers (dnsmasq's `nftset=/d/`
/// matches `d` and every name under it). Empty when the domain is safe.
pub fn probes_covered_by(domain: &str) -> Vec<&'static str> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    PROBE_HOSTS
        .iter()
        .copied()
        .filter(|p| {
            *p == domain
                || p.strip_suffix(domain.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
        .collect()
}

/// The dnsmasq snippet for the router, made from `config`: DNS on the LAN, a
/// DHCP range to start from, RFC 8910's option 114 and one `nftset=` line per
/// walled-garden domain. Pure, so the shipped example can be compared with it.
///
/// A domain that would let a connectivity probe through is left out, with a
/// comment saying why (see [`PROBE_HOSTS`]).
pub fn snippet(config: &Config) -> String {
    let lan = &config.network.lan_interface;
    let router = config.network.portal_address;
    let api = captive_api_url(config);
    let (first, last) = dhcp_pool(router);
    let mut s = String::new();
    s.push_str(
        "# desawifi: the router's dnsmasq settings for the village LAN.\n\
         # Generated from the desawifi config; do not edit by hand, regenerate it with\n\
         #   desawifi dnsmasq-conf --config /etc/desawifi/desawifi.toml > /etc/dnsmasq.d/desawifi.conf\n\
         # and restart dnsmasq afterwards.\n\
         \n\
         # DNS for the villagers' phones, on the LAN. A captive phone reaches no other\n\
         # DNS server (the firewall rejects the rest), so walled-garden names are always\n\
         # looked up, and learned, here. Only on the portal's address (and the router's\n\
         # own loopback): not on the LAN's IPv6 or link-local addresses, where the\n\
         # firewall's per-device DNS limits do not reach (IPv6 DNS is refused until\n\
         # phones get IPv6). DHCP is still served on the interface of that address.\n",
    );
    // No bind-interfaces / bind-dynamic here: the router's own dnsmasq config may set
    // either, and dnsmasq refuses both at once; it answers only these addresses either way.
    let _ = writeln!(s, "listen-address={router}\nlisten-address=127.0.0.1");
    if let Some(tls) = &config.portal.https {
        let _ = writeln!(
            s,
            "# The portal's HTTPS name (its certificate's) answers with the router's LAN address."
        );
        let _ = writeln!(s, "address=/{}/{router}", tls.public_name);
    }
    let _ = write!(
        s,
        "\n\
         # DHCP on the LAN: uncomment and fit it to the LAN's prefix (a /24 is assumed);\n\
         # the range must not hold the router's own address ({router}).\n\
         #dhcp-range={first},{last},255.255.255.0,1h\n\
         \n\
         # RFC 8910: DHCP option 114 gives phones the URI of the captive-portal API\n\
         # (RFC 8908), so they need not guess from a probe. Sent on the LAN only (dnsmasq\n\
         # tags each request with the name of the interface it came in on). RFC 8908 asks\n\
         # for an https URI; a phone that insists on one ignores this and falls back to\n\
         # its probe, which the portal answers too.\n\
         dhcp-option=tag:{lan},114,\"{api}\"\n\
         # The same URI for IPv6 is DHCPv6 option 103 (and router-advertisement option\n\
         # 37, which dnsmasq does not send). desawifi refuses IPv6 from the LAN, so it\n\
         # stays off until IPv6 phones are admitted:\n\
         #dhcp-option=tag:{lan},option6:103,\"{api}\"\n\
         \n\
         # Never put an operating system's connectivity-probe host, or a domain above\n\
         # one (google.com, gstatic.com, apple.com, ...), in the walled garden:\n",
    );
    for chunk in PROBE_HOSTS.chunks(3) {
        let _ = writeln!(s, "#   {}", chunk.join(", "));
    }
    s.push_str(
        "# A phone fetches one of these to learn whether it is behind a portal. If the\n\
         # probe gets through, the phone believes the internet works and never opens\n\
         # the login sheet: it looks online, yet every app fails.\n\
         \n",
    );
    let domains = &config.walled_garden.domains;
    if domains.is_empty() {
        s.push_str("# Walled garden by name: none (walled_garden.domains is empty).\n");
        if !config.usage.categories.is_empty() {
            short_ttl(&mut s);
        }
        categories::section(config, &mut s);
        return s;
    }
    let _ = write!(
        s,
        "# Walled garden by name: dnsmasq adds the IPv4 answers for each domain, and for\n\
         # every name under it, to the set {SET_GARDEN_DNS4} of table inet {TABLE}, which lets\n\
         # captive phones through to those addresses. An address times out a day after it\n\
         # was first added (the usage categories' sets below too).\n"
    );
    short_ttl(&mut s);
    let sets = categories::nftsets(config);
    for domain in domains {
        let probes = probes_covered_by(domain);
        if probes.is_empty() {
            let line = sets
                .iter()
                .find(|(d, _)| d == domain)
                .map(|(d, sets)| categories::nftset_line(d, sets))
                .unwrap_or_else(|| format!("nftset=/{domain}/4#inet#{TABLE}#{SET_GARDEN_DNS4}"));
            let _ = writeln!(s, "{line}");
        } else {
            let _ = writeln!(
                s,
                "# NOT added: {domain} covers the probe host {} (see above).",
                probes.join(", ")
            );
        }
    }
    categories::section(config, &mut s);
    s
}

/// Answers kept short, so DNS-learned set elements come back soon after they time out.
fn short_ttl(s: &mut String) {
    let _ = write!(
        s,
        "# dnsmasq adds an address only when it forwards a lookup (never on a cache\n\
         # hit), and adding it again does not renew the timeout. With answers kept short,\n\
         # here and in the phones' own caches (for every name: a few more small lookups\n\
         # on the uplink), lookups go upstream again, and put the address back, at most\n\
         # {SHORT_TTL} seconds after it timed out.\n\
         max-cache-ttl={SHORT_TTL}\n\
         max-ttl={SHORT_TTL}\n"
    );
}

/// The longest a DNS answer lives in dnsmasq's cache and in the phones' caches,
/// in seconds: how long a walled-garden address can stay shut after its set
/// element timed out (see [`snippet`]).
pub const SHORT_TTL: u32 = 300;

/// Where the RFC 8908 API is served: over HTTPS at the portal's public name
/// when `[portal] https_listen` is set, else the portal's address and port.
fn captive_api_url(config: &Config) -> String {
    match &config.portal.https {
        Some(tls) => format!(
            "https://{}:{}/api/captive",
            tls.public_name,
            tls.listen.port()
        ),
        None => format!(
            "http://{}:{}/api/captive",
            config.network.portal_address,
            config.portal.listen.port()
        ),
    }
}

/// A DHCP pool in the router's /24 that leaves the router's own address out.
fn dhcp_pool(router: Ipv4Addr) -> (Ipv4Addr, Ipv4Addr) {
    let [a, b, c, d] = router.octets();
    let (lo, hi) = if (100..=250).contains(&d) {
        (10, 99)
    } else {
        (100, 250)
    };
    (Ipv4Addr::new(a, b, c, lo), Ipv4Addr::new(a, b, c, hi))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const EXAMPLE: &str = include_str!("../config/desawifi.toml");
    const SHIPPED: &str = include_str!("../config/dnsmasq-desawifi.conf");

    fn config(walled_garden: &str) -> Config {
        let text = format!(
            "[site]\nname = \"Desa\"\n[network]\nlan_interface = \"br-lan\"\nwan_interface = \"wan0\"\n\
             portal_address = \"10.77.0.1\"\n[portal]\nlisten = \"0.0.0.0:2050\"\n[store]\npath = \"/tmp/x\"\n\
             [usage]\ncategories_file = \"/dev/null\"\n{walled_garden}"
        );
        Config::parse(&text, Path::new("x.toml")).unwrap()
    }

    fn nftset_lines(s: &str) -> Vec<&str> {
        s.lines().filter(|l| l.starts_with("nftset=")).collect()
    }

    #[test]
    fn one_nftset_line_per_domain() {
        let s = snippet(&config(
            "[walled_garden]\ndomains = [\"go.id\", \"Kemkes.go.id\", \"bpjs-kesehatan.go.id\"]\n",
        ));
        assert_eq!(
            nftset_lines(&s),
            [
                "nftset=/go.id/4#inet#desawifi#garden_dns4",
                "nftset=/kemkes.go.id/4#inet#desawifi#garden_dns4",
                "nftset=/bpjs-kesehatan.go.id/4#inet#desawifi#garden_dns4",
            ]
        );
        assert!(
            s.lines().any(|l| l == "max-cache-ttl=300") && s.lines().any(|l| l == "max-ttl=300"),
            "{s}"
        );
    }

    #[test]
    fn no_domains_no_nftset_lines() {
        for garden in ["", "[walled_garden]\naddresses = [\"203.0.113.0/24\"]\n"] {
            let s = snippet(&config(garden));
            assert!(nftset_lines(&s).is_empty(), "{s}");
            assert!(!s.lines().any(|l| l.contains("nftset=")), "{s}");
            assert!(s.contains("walled_garden.domains is empty"), "{s}");
            assert!(
                !s.contains("max-ttl="),
                "answers are only kept short for the walled garden: {s}"
            );
        }
    }

    #[test]
    fn option_114_points_at_the_captive_api_on_the_portal_address() {
        // listen is 0.0.0.0: the URI still names the router's LAN address.
        let s = snippet(&config(""));
        assert!(
            s.lines()
                .any(|l| l == "dhcp-option=tag:br-lan,114,\"http://10.77.0.1:2050/api/captive\""),
            "{s}"
        );
        assert!(
            s.lines().any(|l| l
                == "#dhcp-option=tag:br-lan,option6:103,\"http://10.77.0.1:2050/api/captive\""),
            "{s}"
        );
        assert!(s.lines().any(|l| l == "listen-address=10.77.0.1"), "{s}");
        assert!(
            !s.lines().any(|l| l.starts_with("interface=")),
            "not on every address of the LAN (its IPv6 and link-local ones): {s}"
        );
        assert!(
            s.lines()
                .any(|l| l == "#dhcp-range=10.77.0.100,10.77.0.250,255.255.255.0,1h"),
            "{s}"
        );
    }

    #[test]
    fn the_dhcp_pool_never_holds_the_router() {
        assert_eq!(
            dhcp_pool(Ipv4Addr::new(10, 77, 0, 1)),
            (Ipv4Addr::new(10, 77, 0, 100), Ipv4Addr::new(10, 77, 0, 250))
        );
        assert_eq!(
            dhcp_pool(Ipv4Addr::new(192, 168, 8, 200)),
            (
                Ipv4Addr::new(192, 168, 8, 10),
                Ipv4Addr::new(192, 168, 8, 99)
            )
        );
        assert_eq!(
            dhcp_pool(Ipv4Addr::new(192, 168, 8, 254)).0,
            Ipv4Addr::new(192, 168, 8, 100)
        );
    }

    #[test]
    fn probe_hosts_and_domains_above_them_are_left_out() {
        assert_eq!(probes_covered_by("go.id"), Vec::<&str>::new());
        assert_eq!(
            probes_covered_by("google.com"),
            ["clients3.google.com", "www.google.com"]
        );
        assert_eq!(
            probes_covered_by("gstatic.com"),
            ["connectivitycheck.gstatic.com"]
        );
        assert_eq!(
            probes_covered_by("captive.apple.com"),
            ["captive.apple.com"]
        );
        assert!(
            probes_covered_by("ogle.com").is_empty(),
            "a suffix that is not a whole label covers nothing"
        );
        assert!(probes_covered_by("maps.google.com").is_empty());
        let s = snippet(&config(
            "[walled_garden]\ndomains = [\"apple.com\", \"go.id\", \"msftconnecttest.com\"]\n",
        ));
        assert_eq!(
            nftset_lines(&s),
            ["nftset=/go.id/4#inet#desawifi#garden_dns4"]
        );
        assert!(
            s.contains("# NOT added: apple.com covers the probe host captive.apple.com"),
            "{s}"
        );
        assert!(s.contains("# NOT added: msftconnecttest.com covers the probe host www.msftconnecttest.com, ipv6.msftconnecttest.com"), "{s}");
    }

    #[test]
    fn the_snippet_names_every_probe_host() {
        let s = snippet(&config(""));
        for p in PROBE_HOSTS {
            assert!(s.contains(p), "{p} missing from:\n{s}");
        }
    }

    /// The shipped config/dnsmasq-desawifi.conf is what `desawifi dnsmasq-conf`
    /// makes from config/desawifi.toml (tests/walled_garden.rs checks the binary's output too).
    #[test]
    fn the_shipped_snippet_is_up_to_date() {
        let c = Config::parse(EXAMPLE, Path::new("config/desawifi.toml")).unwrap();
        assert!(
            snippet(&c) == SHIPPED,
            "config/dnsmasq-desawifi.conf is stale; regenerate it:\n  \
             cargo run -- dnsmasq-conf --config config/desawifi.toml > config/dnsmasq-desawifi.conf"
        );
    }

    #[test]
    fn with_an_https_portal_option_114_is_https_and_the_name_maps_to_the_router() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/desawifi.toml")).unwrap().replace(
            "listen = \"10.77.0.1:2050\"",
            "listen = \"10.77.0.1:2050\"\nhttps_listen = \"10.77.0.1:8443\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\npublic_name = \"portal.desa.id\"",
        );
        let config = Config::parse(&text, std::path::Path::new("x.toml")).unwrap();
        let s = snippet(&config);
        assert!(
            s.lines()
                .any(|l| l
                    == "dhcp-option=tag:br-lan,114,\"https://portal.desa.id:8443/api/captive\""),
            "{s}"
        );
        assert!(
            s.lines().any(|l| l == "address=/portal.desa.id/10.77.0.1"),
            "{s}"
        );
    }
}
