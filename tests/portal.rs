//! The gateway core in a namespace village: real kernel, real nft, real curl.
//! A router namespace with the daemon, phones on its bridge, an upstream
//! "internet" with HTTP on 80 and 443 and a DNS server.

use desawifi_testkit as common;

use common::{curl, dig, nft_tables_full, ns_exec, Daemon, Village};

const UPSTREAM: &str = "http://198.51.100.2/";
const PORTAL: &str = "http://10.77.0.1:2050";

/// Extract `action="..."` of the first form in a page.
fn form_action(page: &str) -> String {
    let start = page.find("<form").expect("page has a form");
    let form = &page[start..];
    let a = form.find("action=\"").expect("form has an action") + 8;
    let end = form[a..].find('"').unwrap();
    form[a..a + end].to_owned()
}

/// Log a phone in the way its browser would: load the splash page, post its form.
fn login(v: &Village, phone: usize) -> common::Http {
    let splash = curl(&v.phone(phone), &[&format!("{PORTAL}/")], 5.0);
    assert_eq!(splash.code, 200, "splash page: {}", splash.body);
    let action = form_action(&splash.body);
    assert_eq!(action, "/login");
    curl(
        &v.phone(phone),
        &[
            "-X",
            "POST",
            "--data",
            "lang=id",
            &format!("{PORTAL}{action}"),
        ],
        5.0,
    )
}

fn reaches_upstream(v: &Village, phone: usize) -> bool {
    let r = curl(&v.phone(phone), &[UPSTREAM], 3.0);
    r.code == 200 && r.body.starts_with("upstream ok")
}

fn captive_api(v: &Village, phone: usize) -> serde_json::Value {
    let r = curl(
        &v.phone(phone),
        &[
            "-H",
            "Accept: application/captive+json",
            &format!("{PORTAL}/api/captive"),
        ],
        5.0,
    );
    assert_eq!(r.code, 200, "{r:?}");
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("content-type: application/captive+json"),
        "{}",
        r.headers
    );
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("captive API JSON: {e}: {}", r.body))
}

#[test]
fn a_phone_goes_from_captive_to_online_and_back() {
    let v = Village::up("core", 3);
    let _d = Daemon::start(&v, "[walled_garden]\naddresses = [\"203.0.113.0/24\"]\n");

    // Captive: any plain-HTTP page lands on the splash page via a 302, never cached.
    let r = curl(&v.phone(1), &[UPSTREAM], 5.0);
    assert_eq!(r.code, 302, "captive HTTP must be redirected: {r:?}");
    let headers = r.headers.to_ascii_lowercase();
    assert!(
        headers.contains("location: http://10.77.0.1:2050/"),
        "{headers}"
    );
    assert!(headers.contains("cache-control: no-store"), "{headers}");
    let r = curl(&v.phone(1), &["-L", "http://example.com/some/page"], 5.0);
    assert_eq!(r.code, 200);
    assert!(
        r.body.contains("Sambungkan"),
        "splash page in Indonesian: {}",
        r.body
    );
    assert!(r.body.contains("Desa Uji"), "village name on the splash");

    // Captive: HTTPS (tcp/443) fails fast with a reset instead of hanging.
    let r = curl(&v.phone(1), &["http://198.51.100.2:443/"], 5.0);
    assert_eq!(r.code, 0, "captive tcp/443 must not connect: {r:?}");
    assert_eq!(
        r.exit, 7,
        "curl exit 7 = connection refused (tcp reset): {r:?}"
    );
    assert!(
        r.secs < 1.0,
        "HTTPS must fail in under a second, took {}",
        r.secs
    );

    // Captive: the router's DNS works, outside DNS does not; IPv6 is no way around.
    assert_eq!(
        dig(&v.phone(1), "10.77.0.1", "example.com").as_deref(),
        Some("198.51.100.2")
    );
    assert_eq!(
        dig(&v.phone(1), "198.51.100.2", "example.com"),
        None,
        "outside DNS must be blocked"
    );
    let r = curl(&v.phone(1), &["-6", "http://[2001:db8:100::2]/"], 3.0);
    assert_ne!(r.code, 200, "IPv6 must not bypass the portal: {r:?}");
    // Walled garden: reachable while captive.
    let r = curl(&v.phone(1), &["http://203.0.113.10/"], 3.0);
    assert_eq!(r.code, 200, "walled garden reachable while captive: {r:?}");

    let api = captive_api(&v, 1);
    assert_eq!(api["captive"], true);
    assert_eq!(api["user-portal-url"], "http://10.77.0.1:2050/");
    assert_eq!(api["can-extend-session"], false);
    // RFC 8908's venue-info page: tips and the public services reachable without login.
    let venue = api["venue-info-url"]
        .as_str()
        .expect("venue-info-url")
        .to_owned();
    let info = curl(&v.phone(1), &[&venue], 5.0);
    assert_eq!(info.code, 200, "{info:?}");
    assert!(
        info.body.contains("203.0.113.0/24") && info.body.contains("<li>"),
        "{}",
        info.body
    );

    // One tap: a full-page 303 to the status page, and online within a second.
    let r = login(&v, 1);
    assert_eq!(r.code, 303, "{r:?}");
    assert!(
        r.headers.to_ascii_lowercase().contains("location: /status"),
        "{}",
        r.headers
    );
    let t = std::time::Instant::now();
    while !reaches_upstream(&v, 1) {
        assert!(
            t.elapsed().as_secs_f64() < 1.0,
            "phone 1 not online within a second"
        );
    }
    let status = curl(&v.phone(1), &[&format!("{PORTAL}/status")], 5.0);
    assert_eq!(status.code, 200);
    assert!(
        status.body.contains("Keluar"),
        "status page has the logout button: {}",
        status.body
    );
    let r = curl(&v.phone(1), &["http://198.51.100.2:443/"], 3.0);
    assert_eq!(r.code, 200, "online phone reaches tcp/443 upstream: {r:?}");
    assert_eq!(
        dig(&v.phone(1), "198.51.100.2", "example.com").as_deref(),
        Some("198.51.100.2")
    );
    let api = captive_api(&v, 1);
    assert_eq!(api["captive"], false, "{api}");
    let secs = api["seconds-remaining"]
        .as_i64()
        .expect("seconds-remaining when online");
    assert!(
        secs > 4 * 3600 - 60 && secs <= 4 * 3600,
        "default session is 4h: {secs}"
    );
    assert!(api["bytes-remaining"].as_u64().is_some(), "{api}");

    // The other phone is untouched.
    assert!(!reaches_upstream(&v, 2), "phone 2 never logged in");
    assert_eq!(captive_api(&v, 2)["captive"], true);

    // Phone 3 takes phone 1's IP address: its MAC differs, so it stays captive.
    let p3 = v.phone(3);
    ns_exec(&p3, &["ip", "addr", "flush", "dev", "eth0"]);
    ns_exec(&p3, &["ip", "addr", "add", "10.77.0.11/24", "dev", "eth0"]);
    ns_exec(
        &p3,
        &["ip", "route", "replace", "default", "via", "10.77.0.1"],
    );
    let r = curl(&p3, &["http://198.51.100.2:443/"], 3.0);
    assert_ne!(r.code, 200, "a forged IP alone must not pass: {r:?}");
    let r = ns_exec(
        &p3,
        &[
            "dig",
            "+short",
            "+time=1",
            "+tries=1",
            "@198.51.100.2",
            "example.com",
        ],
    );
    assert!(
        String::from_utf8_lossy(&r.stdout)
            .trim()
            .parse::<std::net::Ipv4Addr>()
            .is_err(),
        "forged IP gets no outside DNS"
    );
    ns_exec(&p3, &["ip", "link", "set", "eth0", "down"]);
    ns_exec(&v.router(), &["ip", "neigh", "flush", "dev", "br-lan"]);

    // Logout: captive again.
    let r = curl(
        &v.phone(1),
        &["-X", "POST", &format!("{PORTAL}/logout")],
        5.0,
    );
    assert_eq!(r.code, 303, "{r:?}");
    assert!(!reaches_upstream(&v, 1), "after logout phone 1 is captive");
    assert_eq!(captive_api(&v, 1)["captive"], true);
    assert_eq!(
        nft_tables_full(&v.router()),
        vec!["inet desawifi".to_owned()],
        "we own exactly one table"
    );
}

#[test]
fn kill_9_and_restart_keep_who_is_online() {
    let v = Village::up("kill9", 2);
    let mut d = Daemon::start(&v, "");
    assert_eq!(login(&v, 1).code, 303);
    assert!(reaches_upstream(&v, 1));
    let before = upload_counter(&v, 1);
    assert!(before > 0, "the kernel counts phone 1's upload");

    d.kill9();
    // The table stays while the daemon is dead: phone 1 keeps working.
    assert!(
        reaches_upstream(&v, 1),
        "online phone keeps working while the daemon is down"
    );
    assert!(!reaches_upstream(&v, 2));
    let during = upload_counter(&v, 1);

    d.restart();
    assert!(
        reaches_upstream(&v, 1),
        "online phone still online after restart"
    );
    assert!(
        !reaches_upstream(&v, 2),
        "captive phone still captive after restart"
    );
    assert_eq!(captive_api(&v, 1)["captive"], false);
    assert_eq!(captive_api(&v, 2)["captive"], true);
    let after = upload_counter(&v, 1);
    assert!(
        after > during && during > before,
        "restart kept phone 1's counter ({before} -> {during} -> {after})"
    );
    assert!(d.log().contains("firewall reconciled"), "{}", d.log());
}

#[test]
fn firewall_clear_removes_our_table_only() {
    let v = Village::up("clear", 1);
    let d = Daemon::start(&v, "");
    drop(d);
    // Someone else's table on the same box.
    let out = ns_exec(&v.router(), &["nft", "add", "table", "inet", "other"]);
    assert!(out.status.success());
    assert_eq!(
        nft_tables_full(&v.router()),
        vec!["inet desawifi".to_owned(), "inet other".to_owned()],
        "table stays after exit"
    );
    let cfg = v.run_dir().join("config.toml");
    let clear = || {
        ns_exec(
            &v.router(),
            &[
                env!("CARGO_BIN_EXE_desawifi"),
                "firewall",
                "clear",
                "--config",
                cfg.to_str().unwrap(),
            ],
        )
    };
    let out = clear();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(nft_tables_full(&v.router()), vec!["inet other".to_owned()]);
    let out = clear();
    assert!(
        out.status.success(),
        "clearing twice is fine: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Upload bytes the kernel counted for phone `n` (its `online` set element).
fn upload_counter(v: &Village, n: usize) -> u64 {
    let out = ns_exec(
        &v.router(),
        &["nft", "-j", "list", "set", "inet", "desawifi", "online"],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("nft -j output");
    let mac = v.phone_mac(n);
    doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("set"))
        .flat_map(|s| s["elem"].as_array().cloned().unwrap_or_default())
        .find(|e| e["elem"]["val"]["concat"][0] == mac.as_str())
        .map(|e| e["elem"]["counter"]["bytes"].as_u64().unwrap())
        .unwrap_or_else(|| panic!("no element for {mac}: {doc}"))
}

#[test]
fn sessions_end_when_their_time_is_up() {
    let v = Village::up("expire", 1);
    let d = Daemon::start(&v, "[quota]\nsession_time = \"3s\"\n");
    assert_eq!(login(&v, 1).code, 303);
    assert!(reaches_upstream(&v, 1));
    let secs = captive_api(&v, 1)["seconds-remaining"].as_i64().unwrap();
    assert!((1..=3).contains(&secs), "{secs}");
    // The expiry loop sleeps until the session's end; give it a moment past that.
    let t = std::time::Instant::now();
    while reaches_upstream(&v, 1) {
        assert!(
            t.elapsed().as_secs() < 8,
            "session did not end\n{}",
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(captive_api(&v, 1)["captive"], true);
    assert!(d.log().contains("session time over"), "{}", d.log());
}

#[test]
fn forged_headers_and_form_fields_identify_nobody() {
    let v = Village::up("forge", 2);
    let _d = Daemon::start(&v, "");
    // Phone 2 claims to be phone 1 in every way a request can claim.
    let r = curl(
        &v.phone(2),
        &[
            "-X",
            "POST",
            "-H",
            "X-Forwarded-For: 10.77.0.11",
            "-H",
            "X-Real-IP: 10.77.0.11",
            "--data",
            &format!("lang=id&mac={}&ip=10.77.0.11", v.phone_mac(1)),
            &format!("{PORTAL}/login"),
        ],
        5.0,
    );
    assert_eq!(r.code, 303);
    assert!(
        !reaches_upstream(&v, 1),
        "phone 1 must not be admitted by phone 2's claims"
    );
    assert!(
        reaches_upstream(&v, 2),
        "phone 2 admitted itself, as itself"
    );
}

#[test]
fn pages_speak_indonesian_first_and_english_on_request() {
    let v = Village::up("lang", 1);
    let _d = Daemon::start(&v, "");
    let id = curl(&v.phone(1), &[&format!("{PORTAL}/")], 5.0);
    assert!(
        id.body.contains("lang=\"id\"") && id.body.contains("Sambungkan"),
        "{}",
        id.body
    );
    assert!(
        id.body.len() < 30 * 1024,
        "splash under 30 KB: {}",
        id.body.len()
    );
    for external in ["http://", "https://", "src=\"//", "<script"] {
        assert!(
            !id.body.contains(external),
            "splash must load nothing from outside ({external})"
        );
    }
    let en = curl(&v.phone(1), &[&format!("{PORTAL}/?lang=en")], 5.0);
    assert!(
        en.body.contains("lang=\"en\"") && en.body.contains("Connect"),
        "{}",
        en.body
    );
    // The login keeps the chosen language.
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
    assert!(r.headers.contains("/status?lang=en"), "{}", r.headers);
    let status = curl(&v.phone(1), &[&format!("{PORTAL}/status?lang=en")], 5.0);
    assert!(status.body.contains("Log out"), "{}", status.body);
}
