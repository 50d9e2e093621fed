//! The village with no desawifi running: everything is reachable. This is what
//! makes the blocking tests mean something: whatever they find closed, the
//! daemon closed, not a broken topology or a missing listener.
//!
//! Two copies run at once (different TAGs, same addresses), so parallel
//! villages are tested every time.

use common::*;
use desawifi_testkit as common;

fn baseline(test_name: &str) {
    let v = Village::up(&tag_for(test_name), 2);
    let phone = v.phone(1);

    // The daemon owns the router's only nftables table; none exists before it.
    assert_eq!(
        nft_tables_full(&v.router()),
        Vec::<String>::new(),
        "nft tables in a fresh village"
    );

    // HTTP on :80 and :443 (443 is plain HTTP: "HTTPS blocked" must be the router's doing).
    for url in ["http://198.51.100.2:80/a", "http://198.51.100.2:443/b"] {
        let r = curl(&phone, &[url], 5.0);
        assert_eq!(r.code, 200, "{url}: {r:?}");
        assert!(
            r.body.starts_with("upstream ok host=198.51.100.2"),
            "{url}: {r:?}"
        );
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("text/plain; charset=utf-8"),
            "{url}: {r:?}"
        );
    }
    let r = curl(&phone, &["http://[2001:db8:100::2]:80/v6"], 5.0);
    assert_eq!(
        r.body, "upstream ok host=[2001:db8:100::2] path=/v6\n",
        "{r:?}"
    );
    let r = curl(&phone, &["http://198.51.100.2/generate_204"], 5.0);
    assert_eq!((r.code, r.body.as_str()), (204, ""), "{r:?}");

    // DNS through the router's dnsmasq and straight from the upstream's.
    assert_eq!(
        dig(&phone, "10.77.0.1", "example.com").as_deref(),
        Some("198.51.100.2")
    );
    assert_eq!(
        dig(&phone, "198.51.100.2", "example.com").as_deref(),
        Some("198.51.100.2")
    );
    assert_eq!(
        dig(&phone, "10.77.0.1", "layanan.go.id").as_deref(),
        Some("203.0.113.10")
    );
    // The phone's resolver is the router (/etc/netns/NS/resolv.conf), as after DHCP.
    let r = curl(&phone, &["http://example.com/by-name"], 5.0);
    assert_eq!(
        r.body, "upstream ok host=example.com path=/by-name\n",
        "{r:?}"
    );

    // The public-service host of the walled garden.
    let r = curl(&phone, &["http://203.0.113.10/layanan"], 5.0);
    assert_eq!(
        r.body, "upstream ok host=203.0.113.10 path=/layanan\n",
        "{r:?}"
    );

    // Phone 2 too, and the router learnt both phones' MACs (the daemon's way of
    // telling devices apart).
    let r = curl(&v.phone(2), &["http://198.51.100.2/p2"], 5.0);
    assert_eq!(r.code, 200, "{r:?}");
    let neigh = ns_ok(&v.router(), &["ip", "neigh", "show", "dev", "br-lan"]);
    for n in 1..=2 {
        let line = format!("{} lladdr {}", v.phone_ip(n), v.phone_mac(n));
        assert!(
            neigh.contains(&line),
            "router neighbours lack `{line}`:\n{neigh}"
        );
    }
    let link = ns_ok(&phone, &["ip", "link", "show", "eth0"]);
    assert!(link.contains("link/ether 02:77:00:00:00:01 "), "{link}");

    // The upstream routes back to the LAN: phones keep their own addresses (no NAT).
    let ss = ns_ok(&v.upstream(), &["ip", "route", "get", "10.77.0.11"]);
    assert!(ss.contains("via 198.51.100.1"), "{ss}");
}

#[test]
fn baseline_village_is_open_a() {
    baseline("village::baseline_village_is_open_a");
}

#[test]
fn baseline_village_is_open_b() {
    baseline("village::baseline_village_is_open_b");
}
