//! The ways around the portal a determined villager with a laptop tried
//! (issue 11), each written as the attack, in a namespace village with the
//! real nft, the router's real dnsmasq and real clients. Each test passes
//! only while the hole stays closed.

use desawifi_testkit as common;

use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{curl, ns_exec, ns_ok, tag_for, tcp_accepts, Daemon, Http, Village, GARDEN_HOST};

const PORTAL: &str = "http://10.77.0.1:2050";
const UPSTREAM: &str = "http://198.51.100.2/";
const FLOOD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dns_flood.py");

/// POST /login from `ns` (a phone's namespace), with extra curl options.
fn login_from(ns: &str, extra: &[&str]) -> Http {
    let url = format!("{PORTAL}/login");
    let mut args = vec!["-X", "POST", "--data", "lang=id"];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(ns, &args, 5.0)
}

fn reaches_upstream(ns: &str) -> bool {
    let r = curl(ns, &[UPSTREAM], 3.0);
    r.code == 200 && r.body.starts_with("upstream ok")
}

/// `dns_flood.py` inside `ns`: (sent, answered).
fn flood(ns: &str, count: u32, secs: f64, name_len: usize) -> (u32, u32) {
    let out = ns_ok(
        ns,
        &[
            "python3",
            FLOOD,
            "10.77.0.1",
            &count.to_string(),
            &secs.to_string(),
            &name_len.to_string(),
        ],
    );
    let field = |k: &str| -> u32 {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("dns_flood.py said {out:?}"))
    };
    (field("sent"), field("answered"))
}

/// A TCP listener on `ip:port` in `ns` (python's http.server), killed on drop.
struct Listener(Child);

impl Listener {
    fn start(ns: &str, ip: &str, port: u16) -> Listener {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-m", "http.server"])
            .args([&port.to_string(), "--bind", ip])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        let l = Listener(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !tcp_accepts(ns, ip, port) {
            assert!(Instant::now() < deadline, "listener on {ip}:{port} in {ns}");
            sleep(Duration::from_millis(100));
        }
        l
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Hole 1: the walled garden answered a captive phone on every port.
#[test]
fn a_captive_phone_reaches_the_garden_on_web_ports_only() {
    let v = Village::up(&tag_for("attacks::garden_ports"), 2);
    let _d = Daemon::start(&v, "[walled_garden]\naddresses = [\"203.0.113.0/24\"]\n");
    let garden = GARDEN_HOST.to_string();
    let _ssh = Listener::start(&v.upstream(), &garden, 2222);

    let t = Instant::now();
    assert!(
        !tcp_accepts(&v.phone(1), &garden, 2222),
        "a captive phone must not reach the garden on port 2222"
    );
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "refused fast (tcp reset), not a hang: {:?}",
        t.elapsed()
    );
    let r = curl(&v.phone(1), &[&format!("http://{garden}/")], 5.0);
    assert!(
        r.code == 200 && r.body.starts_with("upstream ok"),
        "port 80 still works: {r:?}"
    );

    // ...but in one shared class capped at 2 Mbit/s, not at the uplink's speed.
    let n = 1 << 20;
    let r = curl(&v.phone(1), &[&format!("http://{garden}/bytes/{n}")], 30.0);
    assert_eq!(r.code, 200, "{r:?}");
    let kbit = n as f64 * 8.0 / r.secs / 1000.0;
    println!("captive garden download: {kbit:.0} kbit/s");
    assert!(
        kbit < 2_300.0,
        "a captive phone's garden download at {kbit:.0} kbit/s"
    );

    // Online, the garden is like any other address: every port.
    let r = login_from(&v.phone(2), &[]);
    assert_eq!(r.code, 303, "{r:?}");
    assert!(
        tcp_accepts(&v.phone(2), &garden, 2222),
        "online phones reach port 2222"
    );
}

/// Hole 1, the config half: a bare TLD or the whole internet in the garden.
#[test]
fn check_config_refuses_a_tld_alone_in_the_garden() {
    let dir = std::env::temp_dir().join(format!("desawifi-attacks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (key, value, named) in [
        ("domains", "[\"com\"]", "walled_garden.domains[0]"),
        ("domains", "[\"go.id\", \"id\"]", "walled_garden.domains[1]"),
        ("addresses", "[\"0.0.0.0/0\"]", "walled_garden.addresses[0]"),
        ("addresses", "[\"::/0\"]", "walled_garden.addresses[0]"),
    ] {
        let file = dir.join("garden.toml");
        std::fs::write(
            &file,
            format!(
                "[site]\nname = \"Desa Uji\"\n[network]\nlan_interface = \"br-lan\"\n\
                 wan_interface = \"wan0\"\nportal_address = \"10.77.0.1\"\n[portal]\n\
                 listen = \"10.77.0.1:2050\"\n[store]\npath = \"/tmp/x\"\n\
                 [walled_garden]\n{key} = {value}\n"
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_desawifi"))
            .args(["check-config", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key} = {value} accepted");
        assert!(stderr.contains(named), "{key} = {value}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hole 2: DNS through the router was unlimited (a tunnel past the portal).
#[test]
fn a_captive_phone_cannot_flood_or_tunnel_through_dns() {
    let v = Village::up(&tag_for("attacks::dns"), 2);
    let _d = Daemon::start(&v, "");
    let captive = v.phone(1);

    let (sent, answered) = flood(&captive, 300, 1.0, 30);
    assert_eq!(sent, 300);
    println!("captive flood: 300 queries in 1 s, {answered} answered");
    assert!(
        (1..=50).contains(&answered),
        "a captive phone's 300 queries in a second: {answered} answered (at most a few dozen: \
         a burst of 30 and 5 a second)"
    );

    sleep(Duration::from_secs(2)); // the meter refills
    let (_, answered) = flood(&captive, 1, 0.0, 150);
    assert_eq!(
        answered, 0,
        "a 150-character name gets no answer while captive"
    );
    let (_, answered) = flood(&captive, 1, 0.0, 40);
    assert_eq!(
        answered, 1,
        "a short name right after does (it is the length, not the rate)"
    );

    let tcp = ns_exec(
        &captive,
        &[
            "dig",
            "+tcp",
            "+short",
            "+time=1",
            "+tries=1",
            "@10.77.0.1",
            "a.example.com",
        ],
    );
    assert!(
        !String::from_utf8_lossy(&tcp.stdout).contains("198.51.100.2"),
        "DNS over TCP is closed to a captive phone: {tcp:?}"
    );

    // What a tunnel can still carry: 100-character names at the limit for 10 s.
    let (sent, answered) = flood(&captive, 150, 10.0, 100);
    println!("captive tunnel: {sent} queries of 100 characters in 10 s, {answered} answered");
    assert!(answered <= 10 * 10 + 30 + 5, "{answered} answered in 10 s");

    // Online: 50 queries at once all get answers, over TCP too.
    let online = v.phone(2);
    assert_eq!(login_from(&online, &[]).code, 303);
    let (_, answered) = flood(&online, 50, 0.0, 30);
    assert_eq!(answered, 50, "an online phone's 50 queries");
    let tcp = ns_ok(
        &online,
        &[
            "dig",
            "+tcp",
            "+short",
            "+time=2",
            "+tries=1",
            "@10.77.0.1",
            "a.example.com",
        ],
    );
    assert!(tcp.contains("198.51.100.2"), "DNS over TCP online: {tcp}");
}

/// Point eth0 of `ns` at a new MAC and IPv4 address.
fn become_device(ns: &str, mac: &str, ip: &str) {
    ns_ok(ns, &["ip", "link", "set", "dev", "eth0", "address", mac]);
    ns_ok(
        ns,
        &["ip", "addr", "flush", "dev", "eth0", "scope", "global"],
    );
    ns_ok(
        ns,
        &["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
    );
}

/// Hole 3: cycling MACs took every slot, and real phones got a 500.
#[test]
fn cycled_macs_cannot_hoard_the_slots() {
    let v = Village::up(&tag_for("attacks::hoard"), 2);
    let d = Daemon::start_net(&v, "max_online = 8\nevict_idle_after = \"10s\"", "");
    let laptop = v.phone(2);
    let first = Instant::now();
    for i in 0..10u8 {
        become_device(
            &laptop,
            &format!("02:66:00:00:00:{i:02x}"),
            &format!("10.77.0.{}", 100 + i),
        );
        let r = login_from(&laptop, &[]);
        if i < 8 {
            assert_eq!(r.code, 303, "tap {i}: {r:?}\n{}", d.log_tail());
        } else {
            assert_eq!(r.code, 503, "tap {i} when all 8 slots are taken: {r:?}");
            assert!(
                r.body.contains("penuh"),
                "the 'full' page in Indonesian: {}",
                r.body
            );
        }
    }
    let r = curl(
        &v.phone(1),
        &[
            "-X",
            "POST",
            "--data",
            "lang=en",
            &format!("{PORTAL}/login"),
        ],
        5.0,
    );
    assert_eq!(r.code, 503, "a real phone, all slots fresh: {r:?}");
    assert!(r.body.contains("full"), "in its language: {}", r.body);
    assert!(
        first.elapsed() < Duration::from_secs(10),
        "the taps took {:?}: longer than evict_idle_after, the test proves nothing",
        first.elapsed()
    );

    // After evict_idle_after without traffic, the idlest slot goes to a real phone.
    sleep(Duration::from_secs(10).saturating_sub(first.elapsed()) + Duration::from_secs(1));
    let r = login_from(&v.phone(1), &[]);
    assert_eq!(r.code, 303, "{r:?}\n{}", d.log_tail());
    assert!(reaches_upstream(&v.phone(1)));
    assert!(d.log().contains("slot evicted"), "{}", d.log_tail());
}

/// Hole 5: a device on an online phone's IP (or with its MAC) got a session.
#[test]
fn an_identity_takeover_is_refused_and_the_owner_stays_online() {
    let v = Village::up(&tag_for("attacks::identity"), 2);
    let d = Daemon::start(&v, "");
    let (owner, thief) = (v.phone(1), v.phone(2));
    assert_eq!(login_from(&owner, &[]).code, 303);
    assert!(reaches_upstream(&owner));
    let owner_ip = v.phone_ip(1).to_string();

    // The thief takes the owner's IP with its own MAC (and wins the router's ARP entry).
    // The thief's only IPv4 address becomes `cidr`.
    let readdress = |cidr: &str| {
        ns_ok(
            &thief,
            &["ip", "addr", "flush", "dev", "eth0", "scope", "global"],
        );
        ns_ok(&thief, &["ip", "addr", "add", cidr, "dev", "eth0"]);
    };
    readdress(&format!("{owner_ip}/24"));
    let set_neigh = |mac: &str| {
        ns_ok(
            &v.router(),
            &[
                "ip",
                "neigh",
                "replace",
                &owner_ip,
                "lladdr",
                mac,
                "dev",
                "br-lan",
                "nud",
                "reachable",
            ],
        );
    };
    set_neigh(&v.phone_mac(2));
    let r = login_from(&thief, &[]);
    assert_eq!(r.code, 409, "an IP takeover login: {r:?}\n{}", d.log_tail());
    assert!(r.body.contains("sedang dipakai"), "{}", r.body);

    // Back to its own address; the owner is still online.
    readdress(&format!("{}/24", v.phone_ip(2)));
    set_neigh(&v.phone_mac(1));
    assert!(reaches_upstream(&owner), "the owner stays online");

    // The thief clones the owner's MAC on its own IP: refused too.
    ns_ok(
        &thief,
        &[
            "ip",
            "link",
            "set",
            "dev",
            "eth0",
            "address",
            &v.phone_mac(1),
        ],
    );
    let r = login_from(&thief, &[]);
    assert_eq!(
        r.code,
        409,
        "a cloned MAC from another IP: {r:?}\n{}",
        d.log_tail()
    );
    ns_ok(
        &thief,
        &[
            "ip",
            "link",
            "set",
            "dev",
            "eth0",
            "address",
            &v.phone_mac(2),
        ],
    );
    set_neigh(&v.phone_mac(1));
    assert!(reaches_upstream(&owner), "the owner keeps its session");
    assert!(!reaches_upstream(&thief), "the thief stays captive");
}

/// Hole 4: online phones reached private networks upstream (the dish's API).
#[test]
fn an_online_phone_cannot_reach_a_private_address_behind_the_wan() {
    let v = Village::up(&tag_for("attacks::private"), 1);
    // The "dish": 192.168.100.1 on the upstream side, routed behind the WAN.
    ns_ok(
        &v.upstream(),
        &["ip", "addr", "add", "192.168.100.1/32", "dev", "lo"],
    );
    ns_ok(
        &v.router(),
        &[
            "ip",
            "route",
            "add",
            "192.168.100.0/24",
            "via",
            "198.51.100.2",
        ],
    );
    let dish = "http://192.168.100.1/";
    let phone = v.phone(1);
    {
        let _d = Daemon::start(&v, "");
        assert_eq!(login_from(&phone, &[]).code, 303);
        assert!(reaches_upstream(&phone));
        let r = curl(&phone, &[dish], 3.0);
        assert_eq!(r.code, 0, "the dish must be unreachable: {r:?}");
        assert!(r.secs < 1.0, "refused fast: {r:?}");
    }
    // Unless the operator allows it.
    let _d = Daemon::start_net(&v, "allow_private = [\"192.168.100.1\"]", "");
    assert_eq!(login_from(&phone, &[]).code, 303);
    let r = curl(&phone, &[dish], 3.0);
    assert!(
        r.code == 200 && r.body.starts_with("upstream ok"),
        "allow_private: {r:?}"
    );
}

/// Hole 6: any web page could log a phone out.
#[test]
fn a_cross_origin_logout_is_refused() {
    let v = Village::up(&tag_for("attacks::origin"), 1);
    let _d = Daemon::start(&v, "");
    let phone = v.phone(1);
    let r = login_from(&phone, &["-H", "Origin: http://evil.example"]);
    assert_eq!(r.code, 403, "a cross-origin login: {r:?}");
    let r = login_from(
        &phone,
        &[
            "-H",
            "Origin: http://10.77.0.1:2050",
            "-H",
            "Sec-Fetch-Site: same-origin",
        ],
    );
    assert_eq!(r.code, 303, "the portal's own form: {r:?}");
    assert!(reaches_upstream(&phone));

    let logout = |extra: &[&str]| {
        let url = format!("{PORTAL}/logout");
        let mut args = vec!["-X", "POST", "--data", "lang=en"];
        args.extend_from_slice(extra);
        args.push(&url);
        curl(&phone, &args, 5.0)
    };
    for evil in [
        ["-H", "Origin: http://evil.example"],
        ["-H", "Sec-Fetch-Site: cross-site"],
        ["-H", "Origin: null"],
    ] {
        let r = logout(&evil);
        assert_eq!(r.code, 403, "{evil:?}: {r:?}");
        assert!(r.body.contains("situs lain"), "{}", r.body);
        assert!(reaches_upstream(&phone), "still online after {evil:?}");
    }
    // Without such headers (captive assistants, old phones, curl): works.
    assert_eq!(logout(&[]).code, 303);
    assert!(!reaches_upstream(&phone));
}
