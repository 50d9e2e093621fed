//! Usage by category in a namespace village (issue 12): the router's real
//! dnsmasq runs the snippet `desawifi dnsmasq-conf` generates, the upstream's
//! DNS answers the test names (scripts/village.sh), a logged-in phone
//! downloads known amounts from names in several categories, and the admin's
//! report shows each under the right id. Free categories cost no quota and
//! stay fast for a throttled phone; DNS over TLS is refused; Firefox's DoH
//! canary gets NXDOMAIN; nothing about categories is kept or shown per device.

use desawifi_testkit as common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    add_user, curl, dig, ns_exec, ns_ok, portal_login, tag_for, AdminClient, Daemon, Village,
    ADMIN_ADDR,
};
use serde_json::Value;

const PORTAL: &str = "http://10.77.0.1:2050";
const MIB: u64 = 1024 * 1024;
const ADMIN: (&str, &str) = ("ani", "rahasia-admin-1");
const METRICS_TOKEN: &str = "prometheus-token-0123456789";
const EXAMPLE_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/desawifi.toml");
const UPSTREAM_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/upstream.py");

/// The generated snippet (from the example config, whose walled garden is
/// `go.id`), written where the router's dnsmasq reads it.
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
    let dir =
        std::env::temp_dir().join(format!("desawifi-categories-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("desawifi.conf");
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

fn village(name: &str, phones: usize) -> Village {
    let snippet = snippet_file(name);
    let arg = format!("--conf-file={}", snippet.display());
    Village::up_with_router_dns(&tag_for(&format!("categories::{name}")), phones, &[&arg])
}

fn captive_api(v: &Village, phone: usize) -> Value {
    let r = curl(&v.phone(phone), &[&format!("{PORTAL}/api/captive")], 5.0);
    assert_eq!(r.code, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap()
}

/// `GET http://NAME/bytes/N` from the phone (the name resolved by the router).
fn fetch(v: &Village, phone: usize, host: &str, n: u64) -> common::Http {
    let r = curl(
        &v.phone(phone),
        &[&format!("http://{host}/bytes/{n}")],
        60.0,
    );
    assert_eq!(r.code, 200, "{host}: {r:?}");
    assert_eq!(r.body.len() as u64, n, "{host}");
    r
}

fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{what} did not happen within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Today's (download, upload) of one category from `GET /api/usage/categories`.
fn today(report: &Value, id: &str) -> (u64, u64) {
    let days = report["days"].as_array().expect("days");
    let day = days.last().expect("a day");
    let c = &day["categories"][id];
    (
        c["download"]
            .as_u64()
            .unwrap_or_else(|| panic!("{id} missing: {report}")),
        c["upload"].as_u64().unwrap(),
    )
}

fn within(what: &str, got: u64, want: u64) {
    assert!(
        got >= want && got <= want + want / 10,
        "{what}: counted {got} bytes for {want} (want within 10 %)"
    );
}

fn start_daemon(v: &Village, quota: &str) -> (Daemon, AdminClient, String) {
    let d = Daemon::start(
        v,
        &format!(
            "[admin]\nlisten = \"{ADMIN_ADDR}\"\nmetrics_token = \"{METRICS_TOKEN}\"\n{quota}\n\
             [usage]\npublish_every = \"1s\"\npublish_min_devices = 1\n"
        ),
    );
    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let token = c.token(ADMIN.0, ADMIN.1);
    (d, c, token)
}

#[test]
fn bytes_land_in_their_category_and_free_ones_cost_no_quota() {
    let v = village("counts", 1);
    let daily = 1024 * MIB;
    let (d, c, token) = start_daemon(
        &v,
        "[quota]\ndaily_data = \"1 GiB\"\ndownload_rate = \"100 Mbit/s\"\naccounting_interval = \"1s\"\n",
    );
    assert_eq!(portal_login(&v, 1).code, 303, "{}", d.log());
    let phone = v.phone(1);
    let router = "10.77.0.1";
    // The router resolves (and so fills the category sets) through the generated snippet.
    for (name, ip) in [
        ("youtube.com", "203.0.113.21"),
        ("tiktok.com", "203.0.113.22"),
        ("layanan.go.id", "203.0.113.10"),
        ("bpjs-kesehatan.go.id", "203.0.113.23"),
    ] {
        assert_eq!(dig(&phone, router, name).as_deref(), Some(ip), "{name}");
    }
    let set = |name: &str| {
        ns_ok(
            &v.router(),
            &["nft", "list", "set", "inet", "desawifi", name],
        )
    };
    assert!(
        set("cat_video").contains("203.0.113.21"),
        "{}",
        set("cat_video")
    );
    assert!(set("cat_media_sosial").contains("203.0.113.22"));
    assert!(set("cat_layanan_publik").contains("203.0.113.10"));
    // More specific wins: bpjs-kesehatan.go.id is health, not public services,
    // and stays in the walled garden (go.id) too.
    assert!(
        set("cat_kesehatan").contains("203.0.113.23"),
        "{}",
        set("cat_kesehatan")
    );
    assert!(!set("cat_layanan_publik").contains("203.0.113.23"));
    assert!(
        set("garden_dns4").contains("203.0.113.23"),
        "{}",
        set("garden_dns4")
    );

    let used_before = daily - captive_api(&v, 1)["bytes-remaining"].as_u64().unwrap();
    fetch(&v, 1, "youtube.com", 3 * MIB);
    fetch(&v, 1, "tiktok.com", 2 * MIB);
    fetch(&v, 1, "layanan.go.id", MIB);
    fetch(&v, 1, "bpjs-kesehatan.go.id", MIB);
    fetch(&v, 1, "198.51.100.2", MIB); // in no category

    let report = || {
        let r = c.bearer("GET", "/api/usage/categories", &token, &Value::Null);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    wait_for("the category report", 10, || {
        today(&report(), "lainnya").0 >= MIB
    });
    std::thread::sleep(Duration::from_millis(2500));
    let r = report();
    println!("report: {r}");
    within("video", today(&r, "video").0, 3 * MIB);
    within("media_sosial", today(&r, "media_sosial").0, 2 * MIB);
    within("layanan_publik", today(&r, "layanan_publik").0, MIB);
    within("kesehatan", today(&r, "kesehatan").0, MIB);
    within("lainnya", today(&r, "lainnya").0, MIB);
    for id in ["pendidikan", "keuangan", "pesan", "game"] {
        assert_eq!(
            today(&r, id),
            (0, 0),
            "{id}: every category, zeros included"
        );
    }
    let upload: u64 = [
        "video",
        "media_sosial",
        "layanan_publik",
        "kesehatan",
        "lainnya",
    ]
    .iter()
    .map(|id| today(&r, id).1)
    .sum();
    assert!(upload > 0 && upload < MIB, "requests and acks: {upload}");

    // The quota counts the non-free bytes only (video, social media, other).
    let used = daily - captive_api(&v, 1)["bytes-remaining"].as_u64().unwrap() - used_before;
    println!("quota used: {used} for 6 MiB not free + 2 MiB free");
    assert!(
        (6 * MIB..6 * MIB + 6 * MIB / 10).contains(&used),
        "daily usage grew by {used}: want the 6 MiB of non-free categories only"
    );

    // CSV: one row per day and category.
    let csv = c
        .bearer(
            "GET",
            "/api/usage/categories?format=csv",
            &token,
            &Value::Null,
        )
        .text();
    assert!(csv.starts_with("day,category,download,upload\r\n"), "{csv}");
    assert!(csv.lines().any(|l| l.contains(",video,")), "{csv}");

    // /metrics: per category and direction, site-wide.
    let m = c
        .bearer("GET", "/metrics", METRICS_TOKEN, &Value::Null)
        .text();
    let video = m
        .lines()
        .find(|l| {
            l.starts_with(
                "desawifi_category_bytes_total{category=\"video\",direction=\"download\"}",
            )
        })
        .unwrap_or_else(|| panic!("{m}"));
    let n: u64 = video.rsplit(' ').next().unwrap().parse().unwrap();
    within("metrics video", n, 3 * MIB);

    // Privacy: nothing about categories per device, anywhere.
    let mac = v.phone_mac(1);
    let ip = v.phone_ip(1).to_string();
    let ids = [
        "video",
        "media_sosial",
        "layanan_publik",
        "kesehatan",
        "lainnya",
        "cat_",
    ];
    let personal = |text: &str| text.contains(&mac) || text.contains(&ip);
    for line in m.lines().chain(csv.lines()).chain(d.log().lines()) {
        if ids.iter().any(|id| line.contains(id)) {
            assert!(!personal(line), "a category next to a device: {line}");
        }
    }
    assert!(!personal(&r.to_string()), "{r}");
    for path in [
        "/api/devices".to_string(),
        format!("/api/devices/{mac}"),
        "/api/usage".into(),
    ] {
        let body = c.bearer("GET", &path, &token, &Value::Null).text();
        assert!(
            !ids.iter().any(|id| body.contains(id)),
            "{path} mentions a category: {body}"
        );
    }
    let mut d = d;
    d.stop();
    assert_store_keeps_no_category_per_device(&d.store_dir(), &mac, &ip);
}

/// Every key and value in every tree of the store: a record that names a
/// category never holds a MAC or an address.
fn assert_store_keeps_no_category_per_device(dir: &Path, mac: &str, ip: &str) {
    let db = sled::open(dir).expect("the store opens after the daemon stopped");
    let mac_bytes: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    let mut category_records = 0;
    for name in db.tree_names() {
        let tree = db.open_tree(&name).unwrap();
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&k),
                String::from_utf8_lossy(&v)
            );
            let names_category = ["video", "media_sosial", "kesehatan", "lainnya"]
                .iter()
                .any(|id| text.contains(id));
            if names_category {
                category_records += 1;
                let raw: Vec<u8> = [&k[..], &v[..]].concat();
                assert!(
                    !text.contains(mac)
                        && !text.contains(ip)
                        && !raw.windows(6).any(|w| w == mac_bytes.as_slice()),
                    "tree {}: a category next to a device: {text}",
                    String::from_utf8_lossy(&name)
                );
            }
        }
    }
    assert!(
        category_records >= 4,
        "the category totals are in the store"
    );
}

/// A listener in the upstream namespace (tests/upstream.py on one port).
struct Listener(Child);

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dns_over_tls_is_refused_and_the_doh_canary_has_no_answer() {
    let v = village("dns", 1);
    let (d, _c, _t) = start_daemon(&v, "");
    assert_eq!(portal_login(&v, 1).code, 303, "{}", d.log());
    let listener = Listener(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &v.upstream(),
                "python3",
                UPSTREAM_PY,
                "--ports",
                "853",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 tests/upstream.py"),
    );
    // Something answers on 853 upstream (the router itself reaches it)...
    wait_for("the upstream's port 853", 10, || {
        curl(&v.router(), &["http://198.51.100.2:853/"], 2.0).code == 200
    });
    // ...but a logged-in phone is reset at once, while port 443 works.
    let r = curl(&v.phone(1), &["http://198.51.100.2:853/"], 5.0);
    assert_eq!(r.exit, 7, "DNS over TLS must be refused: {r:?}");
    assert!(r.secs < 1.0, "refused fast: {r:?}");
    assert_eq!(
        curl(&v.phone(1), &["http://198.51.100.2:443/"], 5.0).code,
        200
    );
    drop(listener);

    let o = ns_exec(
        &v.phone(1),
        &[
            "dig",
            "+time=1",
            "+tries=1",
            "@10.77.0.1",
            "use-application-dns.net",
            "A",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
}

#[test]
fn a_throttled_phone_gets_full_speed_to_a_free_category() {
    let v = village("throttle", 1);
    let (d, _c, _t) = start_daemon(
        &v,
        "[quota]\ndaily_data = \"1 MiB\"\nafter_quota_rate = \"2 Mbit/s\"\ndownload_rate = \"100 Mbit/s\"\naccounting_interval = \"1s\"\n",
    );
    assert_eq!(portal_login(&v, 1).code, 303, "{}", d.log());
    assert_eq!(
        dig(&v.phone(1), "10.77.0.1", "bpjs-kesehatan.go.id").as_deref(),
        Some("203.0.113.23")
    );
    fetch(&v, 1, "198.51.100.2", 2 * MIB);
    wait_for("the throttle", 10, || {
        d.log().contains("quota standing changed")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let slow = fetch(&v, 1, "198.51.100.2", MIB / 2);
    let fast = fetch(&v, 1, "bpjs-kesehatan.go.id", 4 * MIB);
    let (slow_rate, fast_rate) = ((MIB / 2) as f64 / slow.secs, (4 * MIB) as f64 / fast.secs);
    println!("throttled: {slow_rate:.0} B/s to lainnya, {fast_rate:.0} B/s to kesehatan (free)");
    assert!(slow_rate < 400_000.0, "the throttle is on: {slow_rate} B/s");
    assert!(
        fast_rate > 5.0 * slow_rate,
        "free category at full speed: {fast_rate} vs {slow_rate}"
    );
}

#[test]
fn an_admin_decides_which_categories_are_free_and_it_is_audited() {
    let v = village("free", 1);
    let daily = 1024 * MIB;
    let (d, c, token) = start_daemon(
        &v,
        "[quota]\ndaily_data = \"1 GiB\"\ndownload_rate = \"100 Mbit/s\"\naccounting_interval = \"1s\"\n",
    );
    assert_eq!(portal_login(&v, 1).code, 303, "{}", d.log());
    let r = c.bearer("GET", "/api/usage/free", &token, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["free"],
        serde_json::json!(["kesehatan", "pendidikan", "layanan_publik"])
    );
    let bad = c.bearer(
        "PUT",
        "/api/usage/free",
        &token,
        &serde_json::json!({"free": ["lainnya"]}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    // Public services cost quota again (say the regency wants only health free).
    let r = c.bearer(
        "PUT",
        "/api/usage/free",
        &token,
        &serde_json::json!({"free": ["kesehatan"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["free"], serde_json::json!(["kesehatan"]));
    let used = || daily - captive_api(&v, 1)["bytes-remaining"].as_u64().unwrap();
    let before = used();
    fetch(&v, 1, "layanan.go.id", 2 * MIB);
    fetch(&v, 1, "bpjs-kesehatan.go.id", 2 * MIB);
    wait_for("the pass", 10, || used() - before >= 2 * MIB);
    std::thread::sleep(Duration::from_millis(2500));
    let grew = used() - before;
    assert!(
        (2 * MIB..2 * MIB + MIB / 5).contains(&grew),
        "layanan_publik counts again, kesehatan still free: grew {grew}"
    );
    let audit = c.bearer("GET", "/api/audit", &token, &Value::Null).text();
    assert!(audit.contains("usage.free"), "{audit}");
    // And it outlives a restart (kept in the store).
    let mut d = d;
    d.restart();
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let token = c.token(ADMIN.0, ADMIN.1);
    let r = c.bearer("GET", "/api/usage/free", &token, &Value::Null);
    assert_eq!(
        r.json()["free"],
        serde_json::json!(["kesehatan"]),
        "{}",
        r.text()
    );
}
