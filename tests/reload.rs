//! Reload as a technician does it: edit `/etc/desawifi/desawifi.toml`, then
//! `systemctl reload desawifi` (SIGHUP). In a namespace village with a phone
//! online: a lower daily quota, a new walled-garden block, a newly trusted
//! device and new opening hours apply without a restart, and the online phone
//! keeps its session and its counted bytes; a file with a wrong key is
//! refused with the key in the log and the running settings stay; a changed
//! listen address is logged as needing a restart. Real kernel, nft, curl.

use desawifi_testkit as common;

use std::time::{Duration, Instant};

use common::{curl, portal_login, tag_for, Daemon, Village, GARDEN_HOST, UPSTREAM};

const PORTAL: &str = "http://10.77.0.1:2050";
const MIB: u64 = 1024 * 1024;

fn reaches_upstream(v: &Village, phone: usize) -> bool {
    let r = curl(&v.phone(phone), &[&format!("http://{UPSTREAM}/")], 3.0);
    r.code == 200 && r.body.starts_with("upstream ok")
}

fn reaches_garden(v: &Village, phone: usize) -> bool {
    let r = curl(&v.phone(phone), &[&format!("http://{GARDEN_HOST}/")], 3.0);
    r.code == 200 && r.body.starts_with("upstream ok")
}

/// RFC 8908's API as the phone sees it.
fn captive_api(v: &Village, phone: usize) -> serde_json::Value {
    let r = curl(&v.phone(phone), &[&format!("{PORTAL}/api/captive")], 5.0);
    assert_eq!(r.code, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap()
}

fn bytes_remaining(v: &Village, phone: usize) -> u64 {
    let api = captive_api(v, phone);
    api["bytes-remaining"]
        .as_u64()
        .unwrap_or_else(|| panic!("no bytes-remaining: {api}"))
}

fn wait_for(what: &str, d: &Daemon, secs: u64, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{what} did not happen within {secs} s; daemon log tail:\n{}",
            d.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The daemon's config with `from` replaced by `to` (each must occur).
fn edit(d: &Daemon, edits: &[(&str, &str)]) {
    let mut text = std::fs::read_to_string(d.config_path()).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in the config:\n{text}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(d.config_path(), text).unwrap();
}

/// SIGHUP, then wait until the daemon has logged the outcome of this reload
/// (the `n`th "re-reading" line and what follows it).
fn reload(d: &Daemon, n: usize, outcome: &str) {
    d.signal("HUP");
    wait_for(&format!("reload {n} ({outcome})"), d, 10, || {
        let log = d.log();
        log.matches("SIGHUP: re-reading the configuration").count() >= n
            && log
                .rsplit("SIGHUP: re-reading the configuration")
                .next()
                .is_some_and(|tail| tail.contains(outcome))
    });
}

/// "HH:MM" in the village's zone (Asia/Makassar, UTC+8), `hours` from now.
fn makassar_hhmm(hours: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let local = (now + 8 * 3600 + hours * 3600) % 86_400;
    format!("{:02}:{:02}", local / 3600, (local % 3600) / 60)
}

#[test]
fn a_technician_edits_the_file_and_reloads() {
    let v = Village::up(
        &tag_for("reload::a_technician_edits_the_file_and_reloads"),
        2,
    );
    let d = Daemon::start(
        &v,
        "[quota]\ndaily_data = \"500 MiB\"\ndownload_rate = \"100 Mbit/s\"\naccounting_interval = \"1s\"\n\
         [walled_garden]\naddresses = [\"192.0.2.0/24\"]\n",
    );
    assert_eq!(portal_login(&v, 1).code, 303);
    assert!(reaches_upstream(&v, 1));
    // Some counted use before the reload: 3 MiB down.
    let r = curl(
        &v.phone(1),
        &[&format!("http://{UPSTREAM}/bytes/{}", 3 * MIB)],
        30.0,
    );
    assert_eq!(r.code, 200, "{r:?}");
    wait_for("the 3 MiB counted", &d, 10, || {
        500 * MIB - bytes_remaining(&v, 1) >= 3 * MIB
    });
    let used_before = 500 * MIB - bytes_remaining(&v, 1);
    assert!(
        !reaches_garden(&v, 2),
        "203.0.113.10 is not in the garden yet"
    );

    // 1. Lower quota, a new garden block: applied at once, the phone stays online.
    edit(
        &d,
        &[
            ("daily_data = \"500 MiB\"", "daily_data = \"100 MiB\""),
            (
                "addresses = [\"192.0.2.0/24\"]",
                "addresses = [\"192.0.2.0/24\", \"203.0.113.0/24\"]",
            ),
        ],
    );
    reload(&d, 1, "configuration reloaded");
    wait_for("bytes-remaining to follow the 100 MiB quota", &d, 5, || {
        bytes_remaining(&v, 1) <= 100 * MIB
    });
    let remaining = bytes_remaining(&v, 1);
    assert!(
        100 * MIB - remaining >= used_before,
        "the counted bytes were kept: {remaining} left of 100 MiB, {used_before} used before"
    );
    assert_eq!(captive_api(&v, 1)["captive"], false, "still online");
    assert!(reaches_upstream(&v, 1), "the session survived the reload");
    wait_for(
        "the captive phone to reach the new garden block",
        &d,
        5,
        || reaches_garden(&v, 2),
    );
    assert!(!reaches_upstream(&v, 2), "the garden is no way out");

    // 2. A wrong key: refused, the key named, the running settings stay.
    edit(
        &d,
        &[
            ("daily_data = \"100 MiB\"", "daly_data = \"50 MiB\""),
            (
                "addresses = [\"192.0.2.0/24\", \"203.0.113.0/24\"]",
                "addresses = [\"192.0.2.0/24\"]",
            ),
        ],
    );
    reload(&d, 2, "configuration refused");
    let log = d.log();
    assert!(
        log.contains("quota.daly_data: unknown key"),
        "the key is named:\n{}",
        d.log_tail()
    );
    let remaining = bytes_remaining(&v, 1);
    assert!(
        remaining > 90 * MIB && remaining <= 100 * MIB,
        "still the 100 MiB quota: {remaining}"
    );
    assert!(reaches_garden(&v, 2), "still the reloaded garden");
    assert!(reaches_upstream(&v, 1));

    // 3. A listen address: logged as needing a restart; the portal stays where it is.
    //    And phone 2 trusted in the file: online without the splash page.
    edit(
        &d,
        &[
            ("daly_data = \"50 MiB\"", "daily_data = \"100 MiB\""),
            ("listen = \"10.77.0.1:2050\"", "listen = \"10.77.0.1:2051\""),
            (
                "portal_address = \"10.77.0.1\"",
                &format!(
                    "portal_address = \"10.77.0.1\"\ntrusted_macs = [\"{}\"]",
                    v.phone_mac(2)
                ),
            ),
        ],
    );
    reload(&d, 3, "portal.listen changed: needs a restart");
    assert!(
        d.log().contains("portal.listen changed: needs a restart"),
        "{}",
        d.log_tail()
    );
    assert_eq!(
        captive_api(&v, 1)["captive"],
        false,
        "the portal still answers on 2050"
    );
    wait_for("the trusted phone to be online", &d, 10, || {
        reaches_upstream(&v, 2)
    });

    // 4. Opening hours that close the wifi now: sessions end at the close,
    //    and the portal refuses a login until it opens.
    edit(
        &d,
        &[(
            "[walled_garden]",
            &format!(
                "[schedule]\nopen = \"{}\"\nclose = \"{}\"\n[walled_garden]",
                makassar_hhmm(2),
                makassar_hhmm(3)
            ),
        )],
    );
    reload(&d, 4, "configuration reloaded");
    wait_for("phone 1's session to end at the new close", &d, 10, || {
        captive_api(&v, 1)["captive"] == true
    });
    assert_ne!(portal_login(&v, 1).code, 303, "closed: no login");
    assert!(
        reaches_upstream(&v, 2),
        "a trusted device ignores the hours"
    );
}
