//! The second round of ways around the portal (issue 22), each written as
//! the attack a villager with a phone or a laptop would try, in a namespace
//! village with the real nft, tc, the router's real dnsmasq and real clients.
//! Each test passes only while its hole stays closed.

use desawifi_testkit as common;

use std::path::PathBuf;
use std::process::Command;

use common::{curl, dig, ns_ok, portal_login, tag_for, Daemon, Village, GARDEN_HOST};

const MIB: u64 = 1024 * 1024;
const EXAMPLE_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/desawifi.toml");

/// The snippet `desawifi dnsmasq-conf` generates for the example config
/// (walled garden `go.id`, the shipped categories), in a file of its own.
fn snippet_file(name: &str) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_desawifi"))
        .args(["dnsmasq-conf", "--config", EXAMPLE_CONFIG])
        .output()
        .expect("running desawifi dnsmasq-conf");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::env::temp_dir().join(format!("desawifi-attacks2-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("desawifi.conf");
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

/// A village whose router's dnsmasq runs the generated snippet.
fn snippet_village(name: &str, phones: usize) -> Village {
    let arg = format!("--conf-file={}", snippet_file(name).display());
    Village::up_with_router_dns(&tag_for(&format!("attacks2::{name}")), phones, &[&arg])
}

/// Download `n` bytes from `url` in `ns`; the rate in kbit/s.
fn download_kbit(ns: &str, url: &str, n: u64) -> f64 {
    let r = curl(ns, &[&format!("{url}/bytes/{n}")], 60.0);
    assert_eq!(r.code, 200, "{url}: {r:?}");
    assert_eq!(r.body.len() as u64, n, "{url}");
    n as f64 * 8.0 / r.secs / 1000.0
}

/// The download counter of `ip`'s element in the router's `@down` set.
fn down_bytes(v: &Village, ip: &str) -> u64 {
    let json = ns_ok(
        &v.router(),
        &["nft", "-j", "list", "set", "inet", "desawifi", "down"],
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["set"]["elem"].as_array())
        .flatten()
        .find(|e| e["elem"]["val"] == ip)
        .and_then(|e| e["elem"]["counter"]["bytes"].as_u64())
        .unwrap_or_else(|| panic!("no @down element for {ip}: {json}"))
}

/// Issue 22, item 1: with the shipped snippet `go.id` is in the walled garden
/// *and* the free category `layanan_publik`; the free category's rule came
/// first and gave a phone that never logged in the whole uplink.
#[test]
fn a_captive_phone_gets_no_full_speed_through_a_free_category() {
    let v = snippet_village("captivefree", 1);
    let _d = Daemon::start(&v, "[quota]\ndownload_rate = \"100 Mbit/s\"\n");
    let phone = v.phone(1);
    assert_eq!(
        dig(&phone, "10.77.0.1", "layanan.go.id").as_deref(),
        Some("203.0.113.10"),
        "the captive phone resolves a garden name (and fills both sets)"
    );
    let set = |name: &str| {
        ns_ok(
            &v.router(),
            &["nft", "list", "set", "inet", "desawifi", name],
        )
    };
    assert!(set("cat_layanan_publik").contains("203.0.113.10"));
    assert!(set("garden_dns4").contains("203.0.113.10"));
    let kbit = download_kbit(&phone, "http://layanan.go.id", MIB);
    println!("captive phone from a free category in the garden: {kbit:.0} kbit/s");
    assert!(
        kbit < 2_300.0,
        "a captive phone downloads from a free garden site at {kbit:.0} kbit/s (the captive \
         class is 2 Mbit/s)"
    );
}

/// Issue 22, item 1: the class maps (and `@down`) were keyed by address
/// alone, so a captive laptop on an online phone's address got the phone's
/// class (and, through the garden, its full speed) and charged its bytes to
/// the phone.
#[test]
fn a_phone_on_an_online_phones_address_gets_neither_its_class_nor_its_counter() {
    let v = Village::up(&tag_for("attacks2::takeover"), 2);
    let d = Daemon::start(
        &v,
        "[quota]\ndownload_rate = \"100 Mbit/s\"\n[walled_garden]\naddresses = [\"203.0.113.0/24\"]\n",
    );
    let (owner, thief) = (v.phone(1), v.phone(2));
    assert_eq!(portal_login(&v, 1).code, 303, "{}", d.log_tail());
    let garden = format!("http://{GARDEN_HOST}");
    let owner_ip = v.phone_ip(1).to_string();
    let owner_kbit = download_kbit(&owner, &garden, MIB);
    println!("the owner from the garden: {owner_kbit:.0} kbit/s");

    // The thief takes the owner's address and the router's neighbour entry.
    ns_ok(
        &thief,
        &["ip", "addr", "flush", "dev", "eth0", "scope", "global"],
    );
    ns_ok(
        &thief,
        &[
            "ip",
            "addr",
            "add",
            &format!("{owner_ip}/24"),
            "dev",
            "eth0",
        ],
    );
    ns_ok(
        &thief,
        &["ip", "route", "replace", "default", "via", "10.77.0.1"],
    );
    ns_ok(&owner, &["ip", "link", "set", "eth0", "down"]);
    ns_ok(
        &v.router(),
        &[
            "ip",
            "neigh",
            "replace",
            &owner_ip,
            "lladdr",
            &v.phone_mac(2),
            "dev",
            "br-lan",
            "nud",
            "permanent",
        ],
    );
    let before = down_bytes(&v, &owner_ip);
    let kbit = download_kbit(&thief, &garden, 2 * MIB);
    let charged = down_bytes(&v, &owner_ip) - before;
    println!(
        "the thief on the owner's address: {kbit:.0} kbit/s, {charged} bytes charged to the owner"
    );
    assert!(
        kbit < 2_300.0,
        "a captive laptop on an online phone's address downloads at {kbit:.0} kbit/s"
    );
    assert!(
        charged < 64 * 1024,
        "{charged} bytes of the thief's download were counted to the owner"
    );
}

const FLOOD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dns_flood.py");
const SPOOF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spoof_flood.py");

/// `dns_flood.py` inside `ns` (queries from `sources` in turn, if any): (sent, answered).
fn flood(ns: &str, server: &str, count: u32, secs: f64, sources: &[String]) -> (u32, u32) {
    let out = ns_ok(
        ns,
        &[
            "python3",
            FLOOD,
            server,
            &count.to_string(),
            &secs.to_string(),
            "30",
            &sources.join(","),
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

/// The router's link-local address on the LAN, as `fe80::...`.
fn router_link_local(v: &Village) -> String {
    let out = ns_ok(
        &v.router(),
        &[
            "ip", "-6", "-o", "addr", "show", "dev", "br-lan", "scope", "link",
        ],
    );
    out.split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no link-local address on br-lan: {out}"))
        .to_string()
}

/// Issue 22, item 3: the DNS meters matched IPv4 only, and the shipped
/// snippet's `interface=` made dnsmasq answer on every address of the LAN,
/// its ULA and link-local ones included: a captive phone's DNS over IPv6 was
/// unlimited (a tunnel at full speed past the portal).
#[test]
fn dns_over_ipv6_is_refused_link_local_included() {
    let v = snippet_village("dns6", 2);
    let d = Daemon::start(&v, "");
    let captive = v.phone(1);
    let link_local = format!("{}%eth0", router_link_local(&v));
    for server in ["fd77::1", link_local.as_str()] {
        let (sent, answered) = flood(&captive, server, 300, 1.0, &[]);
        println!("captive phone, DNS over IPv6 to {server}: {sent} sent, {answered} answered");
        assert_eq!(sent, 300);
        assert_eq!(
            answered, 0,
            "a captive phone's DNS over IPv6 to {server} is answered"
        );
    }
    let tcp = common::ns_exec(
        &captive,
        &[
            "dig",
            "+tcp",
            "+short",
            "+time=1",
            "+tries=1",
            "@fd77::1",
            "a.example.com",
        ],
    );
    assert!(
        !String::from_utf8_lossy(&tcp.stdout).contains("198.51.100.2"),
        "DNS over TCP/IPv6: {tcp:?}"
    );
    // Online, too: the per-device limits are IPv4's, so IPv6 stays shut.
    assert_eq!(portal_login(&v, 2).code, 303, "{}", d.log_tail());
    let (_, answered) = flood(&v.phone(2), "fd77::1", 20, 0.0, &[]);
    assert_eq!(answered, 0, "an online phone's DNS over IPv6");
    // IPv4 DNS still works for both.
    assert_eq!(
        dig(&captive, "10.77.0.1", "layanan.go.id").as_deref(),
        Some("203.0.113.10")
    );
}

/// Issue 22, item 5: the DNS meters were per address, so a phone that added
/// 16 addresses had 16 allowances.
#[test]
fn sixteen_addresses_share_one_dns_allowance() {
    let v = Village::up(&tag_for("attacks2::dns16"), 1);
    let _d = Daemon::start(&v, "");
    let phone = v.phone(1);
    let sources: Vec<String> = (0..16).map(|i| format!("10.77.0.{}", 100 + i)).collect();
    for s in &sources {
        ns_ok(
            &phone,
            &["ip", "addr", "add", &format!("{s}/24"), "dev", "eth0"],
        );
    }
    let (sent, answered) = flood(&phone, "10.77.0.1", 320, 1.0, &sources);
    println!("one captive phone, 16 addresses: {sent} queries in 1 s, {answered} answered");
    assert_eq!(sent, 320);
    assert!(
        answered <= 50,
        "one phone with 16 addresses got {answered} answers in a second (one allowance is a \
         burst of 30 and 5 a second)"
    );
}

/// Issue 22, item 12: a flood of spoofed sources filled a meter's table, and
/// a query the full meter could not add passed unmetered.
#[test]
fn a_meter_full_of_spoofed_sources_drops_instead_of_passing() {
    let v = Village::up(&tag_for("attacks2::meterfull"), 1);
    let _d = Daemon::start(&v, "");
    let phone = v.phone(1);
    let out = ns_ok(
        &phone,
        &[
            "python3",
            SPOOF,
            "eth0",
            "02:77:00:00:ff:01",
            "10.77.0.1",
            "66000",
        ],
    );
    println!("spoofed: {out}");
    // The captive meter is full (whatever it is keyed by: every frame had a new MAC and address).
    let meters = ns_ok(
        &v.router(),
        &["nft", "-j", "list", "table", "inet", "desawifi"],
    );
    let doc: serde_json::Value = serde_json::from_str(&meters).unwrap();
    let fullest = doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["set"]["elem"].as_array())
        .map(|e| e.len())
        .max()
        .unwrap_or(0);
    println!("the fullest set holds {fullest} elements");
    assert!(
        fullest >= 65_000,
        "the flood did not fill a meter: {fullest}"
    );
    let (sent, answered) = flood(&phone, "10.77.0.1", 300, 1.0, &[]);
    println!("after the spoofed flood: {sent} queries in 1 s, {answered} answered");
    assert!(
        answered <= 50,
        "with the meter full, {answered} of 300 queries in a second were answered (unmetered)"
    );
}

/// Issue 22, item 4: DNS is never charged to a device, and a throttled
/// phone could ask 100 queries a second: a tunnel through the router's
/// resolver at about 0.9 Mbit/s, beyond its fair-use speed.
#[test]
fn a_throttled_phone_tunnels_no_faster_than_its_fair_use_speed_through_dns() {
    let v = Village::up(&tag_for("attacks2::dnsthrottled"), 1);
    let d = Daemon::start(
        &v,
        "[quota]\ndaily_data = \"1 MiB\"\nafter_quota_rate = \"256 kbit/s\"\ndownload_rate = \"100 Mbit/s\"\naccounting_interval = \"1s\"\n",
    );
    let phone = v.phone(1);
    assert_eq!(portal_login(&v, 1).code, 303, "{}", d.log_tail());
    let r = curl(
        &phone,
        &[&format!("http://{}/bytes/{}", common::UPSTREAM, 2 * MIB)],
        60.0,
    );
    assert_eq!(r.code, 200, "{r:?}");
    let t = std::time::Instant::now();
    while !d.log().contains("quota standing changed") {
        assert!(t.elapsed().as_secs() < 15, "no throttle: {}", d.log_tail());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(2)); // the meter refills
                                                           // 1,000 queries in 5 s (200 a second), as a tunnel would send them.
    let (sent, answered) = flood(&phone, "10.77.0.1", 1000, 5.0, &[]);
    // A tunnel's answer carries at most dnsmasq's EDNS size, 1,232 bytes.
    let kbit = f64::from(answered) * 1232.0 * 8.0 / 5.0 / 1000.0;
    println!("throttled phone: {sent} queries in 5 s, {answered} answered (a tunnel: at most {kbit:.0} kbit/s down)");
    assert_eq!(sent, 1000);
    assert!(
        answered <= 20 * 5 + 100 + 10,
        "a throttled phone got {answered} DNS answers in 5 s (at most a burst of 100 and 20 a \
         second: a tunnel no faster than the 256 kbit/s fair-use speed)"
    );
}

/// Issue 22, item 5: the portal's per-client connection cap was per
/// address, so one phone with 16 addresses held every portal connection.
#[test]
fn a_phone_with_many_addresses_holds_one_share_of_the_portal() {
    let v = Village::up(&tag_for("attacks2::portalconns"), 2);
    let _d = Daemon::start_portal(
        &v,
        "max_connections = 64\nmax_connections_per_client = 8",
        "",
    );
    let greedy = v.phone(1);
    let mut sources = vec![v.phone_ip(1).to_string()];
    for i in 0..8 {
        let ip = format!("10.77.0.{}", 100 + i);
        ns_ok(
            &greedy,
            &["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
        );
        sources.push(ip);
    }
    // 8 connections from each of 9 addresses (72 > 64), held open with half a request.
    let script = r#"
import socket, sys, time
held = []
for src in sys.argv[1].split(","):
    for _ in range(8):
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(2)
        try:
            s.connect(("10.77.0.1", 2050))
            s.send(b"GET / HTTP/1.1\r\n")
            held.append(s)
        except OSError:
            pass
time.sleep(1)
alive = 0
for s in held:
    s.setblocking(False)
    try:
        alive += s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print("held=%d" % alive, flush=True)
time.sleep(30)
"#;
    let mut holder = std::process::Command::new("ip")
        .args(["netns", "exec", &greedy, "python3", "-c", script])
        .arg(sources.join(","))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    println!("one phone with 9 addresses: {}", line.trim());
    let r = curl(&v.phone(2), &["http://10.77.0.1:2050/"], 5.0);
    let _ = holder.kill();
    let _ = holder.wait();
    let held: usize = line
        .trim()
        .strip_prefix("held=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the holder said {line:?}"));
    assert!(
        held <= 8,
        "one phone holds {held} portal connections with 9 addresses (its share is 8)"
    );
    assert_eq!(r.code, 200, "another phone still gets the portal: {r:?}");
}

const DHCP_GRAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dhcp_grab.py");

/// `dhcp_grab.py` in `ns`: the leases it got.
fn grab(ns: &str, count: u32, secs: u32, mac: Option<&str>) -> u32 {
    let (count, secs) = (count.to_string(), secs.to_string());
    let mut args = vec!["python3", DHCP_GRAB, "eth0", &count, &secs];
    args.extend(mac);
    let out = ns_ok(ns, &args);
    out.trim()
        .strip_prefix("leases=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("dhcp_grab.py said {out:?}"))
}

/// Issue 22, item 12: one phone asking leases for many made-up client
/// addresses (`chaddr`) took the whole DHCP pool: no other phone could join.
#[test]
fn one_phone_with_spoofed_client_addresses_cannot_empty_the_dhcp_pool() {
    let v = Village::up_with_router_dns(
        &tag_for("attacks2::dhcp"),
        2,
        &[
            "--dhcp-range=10.77.0.100,10.77.0.120,255.255.255.0,1h",
            "--no-ping",
        ],
    );
    let _d = Daemon::start(&v, "");
    let taken = grab(&v.phone(1), 40, 15, None);
    println!("one phone, 40 made-up client addresses in 15 s: {taken} leases of a pool of 21");
    assert!(
        taken <= 6,
        "one phone took {taken} leases (its burst is 5 exchanges, then one a minute)"
    );
    let mac = v.phone_mac(2);
    assert_eq!(
        grab(&v.phone(2), 1, 5, Some(&mac)),
        1,
        "another phone still gets a lease"
    );
}

/// Issue 22, item 2 (its speed half): a free category's traffic ran in the
/// walled garden's class at the whole uplink's speed, for every online
/// phone and unmetered: a tunnel through any address a free name resolved
/// to. Now it runs in the phone's own free class, at its own `download_rate`
/// (also while it is throttled after its quota), never faster.
#[test]
fn free_category_traffic_runs_at_the_phones_own_cap_not_the_uplink() {
    let v = snippet_village("freecap", 1);
    let d = Daemon::start(
        &v,
        "[quota]\ndaily_data = \"2 MiB\"\nafter_quota_rate = \"256 kbit/s\"\ndownload_rate = \"5 Mbit/s\"\naccounting_interval = \"1s\"\n",
    );
    let phone = v.phone(1);
    assert_eq!(portal_login(&v, 1).code, 303, "{}", d.log_tail());
    assert_eq!(
        dig(&phone, "10.77.0.1", "bpjs-kesehatan.go.id").as_deref(),
        Some("203.0.113.23")
    );
    let free = download_kbit(&phone, "http://bpjs-kesehatan.go.id", 2 * MIB);
    println!("free category (kesehatan), online: {free:.0} kbit/s with download_rate 5 Mbit/s");
    assert!(
        free < 5_750.0,
        "free-category traffic at {free:.0} kbit/s: past the phone's own 5 Mbit/s cap"
    );
    // Past its quota: the rest slows to 256 kbit/s, free traffic keeps the phone's own cap.
    download_kbit(
        &phone,
        &format!("http://{}", common::UPSTREAM),
        2 * MIB + MIB / 16,
    );
    let t = std::time::Instant::now();
    while !d.log().contains("quota standing changed") {
        assert!(t.elapsed().as_secs() < 15, "no throttle: {}", d.log_tail());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let slow = download_kbit(&phone, &format!("http://{}", common::UPSTREAM), MIB / 4);
    let free = download_kbit(&phone, "http://bpjs-kesehatan.go.id", 2 * MIB);
    println!("throttled: {slow:.0} kbit/s, free category {free:.0} kbit/s");
    assert!(slow < 400.0, "the throttle is on: {slow:.0} kbit/s");
    assert!(
        free > 2_000.0 && free < 5_750.0,
        "a throttled phone's free traffic at {free:.0} kbit/s: want its own cap (5 Mbit/s)"
    );
}
