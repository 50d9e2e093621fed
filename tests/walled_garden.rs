//! The walled garden learned from DNS, with a real dnsmasq on the router: a
//! captive phone reaches a walled-garden domain's address only once the
//! router's dnsmasq has answered a lookup for it (`nftset=` fills
//! `garden_dns4`), and nothing else. Also the dnsmasq snippet desawifi
//! generates: dnsmasq accepts it, and a dnsmasq running it hands phones
//! RFC 8910's option 114 and fills the set.

use desawifi_testkit as common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    curl, dig, ns_exec, ns_ok, tag_for, Daemon, Village, GARDEN_HOST, ROUTER_LAN, UPSTREAM,
};

/// What the router's dnsmasq gets in these tests: what the snippet says for `go.id`.
const NFTSET_GO_ID: &str = "--nftset=/go.id/4#inet#desawifi#garden_dns4";
/// No address in the walled garden: the only way in is a DNS answer.
const GARDEN_BY_NAME_ONLY: &str = "[walled_garden]\naddresses = []\ndomains = [\"go.id\"]\n";
const EXAMPLE_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/desawifi.toml");
const SHIPPED_SNIPPET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/dnsmasq-desawifi.conf");

/// `nft list set inet desawifi garden_dns4` in the router.
fn garden_dns4(v: &Village) -> String {
    ns_ok(
        &v.router(),
        &["nft", "list", "set", "inet", "desawifi", "garden_dns4"],
    )
}

fn garden_dns4_has(v: &Village, ip: &str) -> bool {
    garden_dns4(v).contains(ip)
}

/// `desawifi dnsmasq-conf --config FILE`: the snippet on stdout, and stderr.
fn dnsmasq_conf(config: &Path) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_desawifi"))
        .args(["dnsmasq-conf", "--config"])
        .arg(config)
        .output()
        .expect("running desawifi dnsmasq-conf");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "desawifi dnsmasq-conf --config {}: {stderr}",
        config.display()
    );
    (
        String::from_utf8(out.stdout).expect("utf-8 snippet"),
        stderr,
    )
}

/// `dnsmasq --test --conf-file=FILE`; panics naming the package when dnsmasq is missing.
fn dnsmasq_test(file: &Path) -> (bool, String) {
    let out = Command::new("dnsmasq")
        .arg("--test")
        .arg(format!("--conf-file={}", file.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run dnsmasq ({e}): apt-get install dnsmasq-base"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "desawifi-walled-garden-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_captive_phone_reaches_a_garden_domain_only_after_the_router_resolved_it() {
    let v = Village::up_with_router_dns(&tag_for("walled_garden::dns_learned"), 2, &[NFTSET_GO_ID]);
    let d = Daemon::start(&v, GARDEN_BY_NAME_ONLY);
    let phone = v.phone(1);
    let garden = GARDEN_HOST.to_string();

    // Before any lookup the address is nobody's garden: the portal gets the request.
    assert!(!garden_dns4_has(&v, &garden), "{}", garden_dns4(&v));
    let r = curl(&phone, &[&format!("http://{garden}/")], 5.0);
    assert_eq!(
        r.code,
        302,
        "not yet looked up, so redirected to the portal: {r:?}\n{}",
        d.log()
    );
    assert!(!r.body.contains("upstream ok"), "{r:?}");

    // The router answers, and in answering puts the address in the set
    // (before the reply leaves: no wait needed).
    assert_eq!(
        dig(&phone, &ROUTER_LAN.to_string(), "layanan.go.id").as_deref(),
        Some(garden.as_str())
    );
    let set = garden_dns4(&v);
    assert!(
        set.contains(&garden) && set.contains("expires"),
        "the element, with its timeout: {set}"
    );

    // By name (the phone resolves through the router) and by address: through.
    let r = curl(&phone, &["http://layanan.go.id/"], 5.0);
    assert_eq!(r.code, 200, "{r:?}\n{}", d.log());
    assert!(
        r.body.starts_with("upstream ok host=layanan.go.id"),
        "{r:?}"
    );
    let r = curl(&phone, &[&format!("http://{garden}/")], 5.0);
    assert!(r.code == 200 && r.body.starts_with("upstream ok"), "{r:?}");

    // A name outside the garden resolves, but its host stays captive.
    assert_eq!(
        dig(&phone, &ROUTER_LAN.to_string(), "example.com").as_deref(),
        Some(UPSTREAM.to_string().as_str())
    );
    assert!(
        !garden_dns4_has(&v, &UPSTREAM.to_string()),
        "example.com must not be learned: {}",
        garden_dns4(&v)
    );
    let r = curl(&phone, &["http://example.com/"], 5.0);
    assert_eq!(r.code, 302, "{r:?}");
    assert!(!r.body.contains("upstream ok"), "{r:?}");
    let r = curl(&phone, &[&format!("http://{UPSTREAM}:443/")], 5.0);
    assert_eq!(
        r.exit, 7,
        "port 443 outside the garden is refused at once: {r:?}"
    );

    // The other phone never looked anything up, yet the learned address is
    // everyone's garden (the set is per address, not per phone).
    let r = curl(&v.phone(2), &[&format!("http://{garden}/")], 5.0);
    assert!(r.code == 200 && r.body.starts_with("upstream ok"), "{r:?}");
}

#[test]
fn learned_garden_addresses_survive_a_daemon_restart() {
    let v = Village::up_with_router_dns(&tag_for("walled_garden::restart"), 1, &[NFTSET_GO_ID]);
    let mut d = Daemon::start(&v, GARDEN_BY_NAME_ONLY);
    let phone = v.phone(1);
    let garden = GARDEN_HOST.to_string();
    assert_eq!(
        dig(&phone, &ROUTER_LAN.to_string(), "go.id").as_deref(),
        Some(garden.as_str())
    );
    assert!(garden_dns4_has(&v, &garden), "{}", garden_dns4(&v));

    // dnsmasq caches the answer and does not add it again on a cache hit, so
    // a reconcile that flushed the set would lock the phone out for the TTL.
    // Checked by address and without a new lookup.
    d.restart();
    assert!(
        garden_dns4_has(&v, &garden),
        "flushed by the restart: {}\n{}",
        garden_dns4(&v),
        d.log()
    );
    let r = curl(&phone, &[&format!("http://{garden}/")], 5.0);
    assert!(
        r.code == 200 && r.body.starts_with("upstream ok"),
        "after restart: {r:?}\n{}",
        d.log()
    );

    d.kill9();
    d.restart();
    assert!(
        garden_dns4_has(&v, &garden),
        "flushed after kill -9: {}\n{}",
        garden_dns4(&v),
        d.log()
    );
    let r = curl(&phone, &[&format!("http://{garden}/")], 5.0);
    assert!(
        r.code == 200 && r.body.starts_with("upstream ok"),
        "after kill -9: {r:?}\n{}",
        d.log()
    );
    // And what is not learned is still not reachable.
    assert_eq!(curl(&phone, &["http://198.51.100.2/"], 5.0).code, 302);
}

#[test]
fn dnsmasq_accepts_the_generated_snippet_and_the_shipped_one_is_current() {
    let (snippet, stderr) = dnsmasq_conf(Path::new(EXAMPLE_CONFIG));
    assert!(
        stderr.is_empty(),
        "no warning for the example config: {stderr}"
    );
    let shipped = std::fs::read_to_string(SHIPPED_SNIPPET).unwrap();
    assert!(
        snippet == shipped,
        "config/dnsmasq-desawifi.conf is stale; regenerate it:\n  \
         cargo run -- dnsmasq-conf --config config/desawifi.toml > config/dnsmasq-desawifi.conf"
    );
    assert!(
        snippet
            .lines()
            .any(|l| l
                == "nftset=/go.id/4#inet#desawifi#garden_dns4,4#inet#desawifi#cat_layanan_publik"),
        "{snippet}"
    );

    let dir = scratch_dir("snippet");
    let file = dir.join("desawifi.conf");
    std::fs::write(&file, &snippet).unwrap();
    let (ok, msg) = dnsmasq_test(&file);
    assert!(
        ok && msg.contains("syntax check OK"),
        "dnsmasq --test on the snippet: {msg}"
    );
    // The commented examples (DHCP range, DHCPv6 option 103) are valid once uncommented.
    let uncommented: String = snippet
        .lines()
        .map(|l| {
            l.strip_prefix('#')
                .filter(|l| l.starts_with("dhcp-"))
                .unwrap_or(l)
                .to_owned()
                + "\n"
        })
        .collect();
    assert_eq!(
        uncommented
            .lines()
            .filter(|l| l.starts_with("dhcp-"))
            .count(),
        3,
        "{uncommented}"
    );
    std::fs::write(&file, &uncommented).unwrap();
    let (ok, msg) = dnsmasq_test(&file);
    assert!(
        ok,
        "dnsmasq --test on the uncommented snippet: {msg}\n{uncommented}"
    );
    // And the check is real: dnsmasq refuses an unknown option. (It is only a
    // syntax check: a malformed value such as `nftset=go.id` passes it.)
    std::fs::write(
        &file,
        format!("{snippet}nft-set=/go.id/4#inet#desawifi#garden_dns4\n"),
    )
    .unwrap();
    assert!(!dnsmasq_test(&file).0, "dnsmasq --test accepts anything?");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_domain_above_a_connectivity_probe_is_left_out_with_a_warning() {
    let example = std::fs::read_to_string(EXAMPLE_CONFIG).unwrap();
    let risky = example.replace(
        "domains = [\"go.id\"]",
        "domains = [\"go.id\", \"gstatic.com\"]",
    );
    assert_ne!(risky, example, "the example has domains = [\"go.id\"]");
    let dir = scratch_dir("probe");
    let file = dir.join("desawifi.toml");
    std::fs::write(&file, risky).unwrap();
    let (snippet, stderr) = dnsmasq_conf(&file);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(stderr.contains("gstatic.com"), "{stderr}");
    // Every line that fills the walled garden (the usage categories' lines
    // name it too for the domains under go.id, never for gstatic.com).
    let nftset: Vec<&str> = snippet
        .lines()
        .filter(|l| l.starts_with("nftset=") && l.contains("#garden_dns4"))
        .collect();
    assert!(
        nftset
            .iter()
            .all(|l| l.starts_with("nftset=/go.id/") || l.contains(".go.id/")),
        "{snippet}"
    );
    assert!(
        nftset.contains(
            &"nftset=/go.id/4#inet#desawifi#garden_dns4,4#inet#desawifi#cat_layanan_publik"
        ),
        "{snippet}"
    );
    assert!(!snippet.contains("nftset=/gstatic.com/"), "{snippet}");
    assert!(
        snippet.contains(
            "# NOT added: gstatic.com covers the probe host connectivitycheck.gstatic.com"
        ),
        "{snippet}"
    );
}

/// An extra dnsmasq in a village namespace (the router's running the generated
/// snippet, DNS on a spare port so the village's own keeps port 53).
struct SnippetDnsmasq(Child);

impl SnippetDnsmasq {
    /// Whether it still runs, its log and its stderr, for a failure message.
    fn status_and_log(&mut self, log: &Path) -> String {
        format!(
            "status: {:?}\nlog:\n{}stderr:\n{}",
            self.0.try_wait(),
            std::fs::read_to_string(log).unwrap_or_default(),
            std::fs::read_to_string(log.with_extension("stderr")).unwrap_or_default()
        )
    }
}

impl Drop for SnippetDnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One DHCPDISCOVER from the phone asking for option 114 (RFC 8910); prints
/// the message type of the reply and option 114 as text.
const DHCP_DISCOVER: &str = r#"
import os, socket, struct, sys
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
xid = os.urandom(4)
head = struct.pack("!BBBB4sHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                   bytes(4), bytes(4), bytes(4), bytes(4), mac + bytes(10), bytes(64), bytes(128))
opts = b"\x63\x82\x53\x63" + bytes([53, 1, 1, 55, 4, 1, 3, 6, 114, 255])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 68))
s.settimeout(5)
s.sendto(head + opts, ("255.255.255.255", 67))
while True:
    data, _ = s.recvfrom(4096)
    if data[0] == 2 and data[4:8] == xid:
        break
i, found = 240, {}
while i < len(data) and data[i] != 255:
    if data[i] == 0:
        i += 1
        continue
    found[data[i]] = data[i + 2:i + 2 + data[i + 1]]
    i += 2 + data[i + 1]
print("type", found.get(53, b"?")[0])
print("yiaddr", socket.inet_ntoa(data[16:20]))
print("114", found.get(114, b"").decode())
"#;

#[test]
fn a_dnsmasq_running_the_snippet_hands_out_option_114_and_fills_the_set() {
    let v = Village::up(&tag_for("walled_garden::snippet_live"), 1);
    let d = Daemon::start(&v, GARDEN_BY_NAME_ONLY);
    let (snippet, _) = dnsmasq_conf(d.config_path());
    // The router's DHCP as the snippet suggests it: its range line uncommented.
    let conf: String = snippet
        .lines()
        .map(|l| {
            l.strip_prefix('#')
                .filter(|l| l.starts_with("dhcp-range="))
                .unwrap_or(l)
                .to_owned()
                + "\n"
        })
        .collect();
    assert!(
        conf.lines()
            .any(|l| l == "dhcp-range=10.77.0.100,10.77.0.250,255.255.255.0,1h"),
        "{conf}"
    );
    let run = v.run_dir();
    let conf_path = run.join("dnsmasq-desawifi.conf");
    std::fs::write(&conf_path, &conf).unwrap();
    // Upstream answers that live a day, as real ones may (the village's own
    // upstream DNS answers with TTL 0, which nothing caches).
    let mut upstream = spawn_dnsmasq(
        &v.upstream(),
        &[
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=198.51.100.2",
            "--port=5354",
            "--local-ttl=86400",
            "--address=/go.id/203.0.113.10",
            "--address=/example.com/198.51.100.2",
        ],
        &run.join("upstream-dnsmasq-5354.log"),
    );
    let log = run.join("snippet-dnsmasq.log");
    let conf_arg = format!("--conf-file={}", conf_path.display());
    let leases_arg = format!("--dhcp-leasefile={}", run.join("leases").display());
    let mut snippet_dnsmasq = spawn_dnsmasq(
        &v.router(),
        &[
            &conf_arg,
            "--no-ping",
            "--no-resolv",
            "--no-hosts",
            "--port=5353",
            "--server=198.51.100.2#5354",
            &leases_arg,
            "--log-dhcp",
            "--log-queries",
        ],
        &log,
    );
    let router = v.router();
    // (name, TTL) of the first A record, asked from the router's own namespace
    // (the firewall lets phones reach DNS on port 53 only).
    let lookup = |name: &str| -> Option<(String, u32)> {
        let o = ns_exec(
            &router,
            &[
                "dig",
                "+noall",
                "+answer",
                "+time=1",
                "+tries=1",
                "-p",
                "5353",
                "@10.77.0.1",
                name,
                "A",
            ],
        );
        String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 5 && f[3] == "A").then(|| (f[4].to_owned(), f[1].parse().unwrap()))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while lookup("example.com").map(|a| a.0) != Some(UPSTREAM.to_string()) {
        if Instant::now() > deadline {
            panic!(
                "the snippet's dnsmasq did not answer:\n{}\nupstream:\n{}",
                snippet_dnsmasq.status_and_log(&log),
                upstream.status_and_log(&run.join("upstream-dnsmasq-5354.log")),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // DNS: the snippet's nftset= line fills desawifi's set, and a day-long
    // answer is handed out for at most 300 s.
    let garden = GARDEN_HOST.to_string();
    assert!(!garden_dns4_has(&v, &garden));
    let (ip, ttl) = lookup("www.layanan.go.id").expect("an answer");
    assert_eq!(ip, garden);
    assert!(ttl <= 300, "max-ttl caps what phones cache: {ttl}");
    assert!(garden_dns4_has(&v, &garden), "{}", garden_dns4(&v));
    assert!(
        !garden_dns4_has(&v, &UPSTREAM.to_string()),
        "{}",
        garden_dns4(&v)
    );
    // Why the cap: once the element is gone (its day is over; here flushed by
    // hand), an answer from dnsmasq's cache does not put it back...
    ns_ok(
        &router,
        &["nft", "flush", "set", "inet", "desawifi", "garden_dns4"],
    );
    let (_, ttl) = lookup("www.layanan.go.id").expect("a cached answer");
    assert!(ttl <= 300, "max-cache-ttl caps the router's cache: {ttl}");
    assert!(
        !garden_dns4_has(&v, &garden),
        "dnsmasq now refills nftsets on cache hits; max-cache-ttl/max-ttl in the snippet may be dropped: {}",
        garden_dns4(&v)
    );
    // ...but a lookup dnsmasq forwards does.
    let (ip, _) = lookup("layanan.go.id").expect("an answer");
    assert_eq!(ip, garden);
    assert!(garden_dns4_has(&v, &garden), "{}", garden_dns4(&v));
    drop(upstream);

    // DHCP: an offer carrying the captive-portal API's URI as plain text.
    let o = ns_exec(
        &v.phone(1),
        &["python3", "-c", DHCP_DISCOVER, &v.phone_mac(1)],
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let dnsmasq_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        o.status.success(),
        "DHCP client: {out}{}\ndnsmasq log:\n{dnsmasq_log}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("type 2\n"), "an OFFER: {out}");
    assert!(out.contains("yiaddr 10.77.0."), "{out}");
    assert!(
        out.contains("114 http://10.77.0.1:2050/api/captive\n"),
        "option 114: {out}\ndnsmasq log:\n{dnsmasq_log}"
    );
    // ...and it is the URI the portal serves its RFC 8908 API on.
    let r = curl(&v.phone(1), &["http://10.77.0.1:2050/api/captive"], 5.0);
    assert_eq!(r.code, 200, "{r:?}");
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("application/captive+json"),
        "{r:?}"
    );
    drop(snippet_dnsmasq);
}

/// dnsmasq in the foreground in `ns` with `args`, logging to `log`; stopped on drop.
fn spawn_dnsmasq(ns: &str, args: &[&str], log: &Path) -> SnippetDnsmasq {
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "dnsmasq", "--keep-in-foreground"])
        .args(args)
        .arg(format!("--log-facility={}", log.display()))
        // Its own pid file: two dnsmasqs started at once otherwise race for
        // /var/run/dnsmasq.pid and one of them exits ("File exists").
        .arg(format!(
            "--pid-file={}",
            log.with_extension("pid").display()
        ))
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(log.with_extension("stderr")).expect("dnsmasq stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ip netns exec {ns} dnsmasq: {e}"));
    SnippetDnsmasq(child)
}
