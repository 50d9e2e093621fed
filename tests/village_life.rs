//! Village life in a namespace village: opening hours (the daemon's clock
//! started just before closing time), trusted devices and the literacy quiz.
//! Real kernel, real nft, real curl; the admin API over real TLS.

mod common;

use std::time::{Duration, Instant};

use common::{add_user, curl, AdminClient, Daemon, Village, ADMIN_ADDR};
use serde_json::{json, Value};

const PORTAL: &str = "http://10.77.0.1:2050";
const ADMIN: (&str, &str) = ("ani", "rahasia-admin-1");

fn login(v: &Village, phone: usize, lang: &str) -> common::Http {
    curl(
        &v.phone(phone),
        &[
            "-X",
            "POST",
            "--data",
            &format!("lang={lang}"),
            &format!("{PORTAL}/login"),
        ],
        5.0,
    )
}

fn reaches(v: &Village, phone: usize, host: &str) -> bool {
    let r = curl(&v.phone(phone), &[&format!("http://{host}/")], 3.0);
    r.code == 200 && r.body.starts_with("upstream ok")
}

fn captive_api(v: &Village, phone: usize) -> Value {
    let r = curl(&v.phone(phone), &[&format!("{PORTAL}/api/captive")], 5.0);
    assert_eq!(r.code, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap()
}

fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < within,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Unix time of today's `h:m:s` in Makassar (the villages' zone, WITA).
fn makassar_today(h: i8, m: i8, s: i8) -> i64 {
    let tz = jiff::tz::TimeZone::get("Asia/Makassar").unwrap();
    let today = jiff::Timestamp::now().to_zoned_datetime(tz.clone()).date();
    today
        .at(h, m, s, 0)
        .to_zoned_datetime(tz)
        .unwrap()
        .timestamp()
        .as_second()
}

#[test]
fn closing_time_ends_sessions_and_the_splash_names_the_opening() {
    let v = Village::up("lclose", 1);
    // 21:59:35 WITA: the window closes 25 s after the daemon starts.
    let start = makassar_today(21, 59, 35);
    let close = makassar_today(22, 0, 0);
    let started = Instant::now();
    let d = Daemon::start_env(
        &v,
        "",
        "[schedule]\nopen = \"06:00\"\nclose = \"22:00\"\n[walled_garden]\naddresses = [\"203.0.113.0/24\"]\n",
        &[("DESAWIFI_TEST_NOW", &start.to_string())],
    );
    assert_eq!(login(&v, 1, "id").code, 303, "{}", d.log_tail());
    let api = captive_api(&v, 1);
    assert_eq!(api["captive"], false, "{api}");
    let left = api["seconds-remaining"].as_i64().unwrap();
    assert!(
        left <= close - start,
        "seconds-remaining {left} counts past the close: {api}"
    );
    assert!(left > 0, "{api}");
    let status = curl(&v.phone(1), &[&format!("{PORTAL}/status?lang=id")], 5.0);
    assert!(
        status.body.contains("tutup pukul 22.00 WITA"),
        "the last 15 minutes warn: {}",
        status.body
    );
    assert!(reaches(&v, 1, "198.51.100.2"), "online before the close");
    // Closing time: captive again, without anyone tapping anything.
    wait_for("the close", Duration::from_secs(40), || {
        !reaches(&v, 1, "198.51.100.2")
    });
    assert!(
        Instant::now() - started >= Duration::from_secs(20),
        "cut before the close"
    );
    let api = captive_api(&v, 1);
    assert_eq!(api["captive"], true, "{api}");
    let splash = curl(&v.phone(1), &[&format!("{PORTAL}/?lang=id")], 5.0);
    assert_eq!(splash.code, 200, "{splash:?}");
    assert!(
        splash.body.contains("Wifi desa buka pukul 06.00 WITA"),
        "{}",
        splash.body
    );
    assert!(
        !splash.body.contains("action=\"/login\""),
        "no Connect button while closed: {}",
        splash.body
    );
    let en = curl(&v.phone(1), &[&format!("{PORTAL}/?lang=en")], 5.0);
    assert!(en.body.contains("opens at 06:00 WITA"), "{}", en.body);
    // The walled garden still answers (garden_always_open defaults to true).
    assert!(reaches(&v, 1, "203.0.113.10"), "walled garden while closed");
    let refused = login(&v, 1, "id");
    assert_eq!(refused.code, 503, "{refused:?}");
    assert!(d.log().contains("closing time"), "{}", d.log_tail());
}

#[test]
fn outside_the_window_a_login_is_refused_until_an_admin_opens_it() {
    let v = Village::up("lshut", 1);
    // 03:00 WITA, window 06:00-22:00: closed.
    let start = makassar_today(3, 0, 0);
    let d = Daemon::start_env(
        &v,
        "",
        &format!(
            "[schedule]\nopen = \"06:00\"\nclose = \"22:00\"\n[admin]\nlisten = \"{ADMIN_ADDR}\"\n"
        ),
        &[("DESAWIFI_TEST_NOW", &start.to_string())],
    );
    let r = login(&v, 1, "id");
    assert_eq!(r.code, 503, "{r:?}");
    assert!(r.body.contains("buka pukul 06.00 WITA"), "{}", r.body);
    assert!(!r.body.contains("action=\"/login\""), "{}", r.body);
    let r = login(&v, 1, "en");
    assert_eq!(r.code, 503);
    assert!(r.body.contains("opens at 06:00 WITA"), "{}", r.body);
    assert_eq!(captive_api(&v, 1)["captive"], true);
    assert!(!reaches(&v, 1, "198.51.100.2"));

    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let token = c.token(ADMIN.0, ADMIN.1);
    let got = c.bearer("GET", "/api/schedule", &token, &Value::Null);
    assert_eq!(got.status, 200, "{}", got.text());
    let got = got.json();
    assert_eq!(
        (got["open"].clone(), got["close"].clone()),
        (json!("06:00"), json!("22:00"))
    );
    assert_eq!(got["open_now"], false, "{got}");
    let metrics = c.bearer("GET", "/metrics", &token, &Value::Null).text();
    assert!(metrics.contains("\ndesawifi_open 0\n"), "{metrics}");
    // Validated like the config file, the field named.
    let bad = c.bearer("PUT", "/api/schedule", &token, &json!({"open": "25:00"}));
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.json()["field"], "open");
    // Open from 02:00: in force at once, no restart.
    let put = c.bearer("PUT", "/api/schedule", &token, &json!({"open": "02:00"}));
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.json()["open_now"], true);
    assert_eq!(login(&v, 1, "id").code, 303);
    assert!(reaches(&v, 1, "198.51.100.2"));
    let metrics = c.bearer("GET", "/metrics", &token, &Value::Null).text();
    assert!(metrics.contains("\ndesawifi_open 1\n"), "{metrics}");
    let audit = c.bearer("GET", "/api/audit", &token, &Value::Null).text();
    assert!(audit.contains("schedule.set"), "{audit}");
    // Kept in the store: a restart keeps the admin's hours.
    let mut d = d;
    d.restart();
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let token = c.token(ADMIN.0, ADMIN.1);
    let got = c
        .bearer("GET", "/api/schedule", &token, &Value::Null)
        .json();
    assert_eq!(got["open"], "02:00", "{got}");
}

const MIB: u64 = 1024 * 1024;

fn download(v: &Village, phone: usize, n: u64) -> common::Http {
    curl(
        &v.phone(phone),
        &[&format!("http://198.51.100.2/bytes/{n}")],
        60.0,
    )
}

/// A `/metrics` sample's value (the first line that starts with `series `).
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{series} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

#[test]
fn a_trusted_device_is_online_without_a_login_and_outside_every_quota() {
    let v = Village::up("ltrust", 3);
    let office = v.phone_mac(1);
    // Closed now (03:00 WITA, window 06:00-22:00), 1 MiB a day and cut off
    // after it: none of it holds for the village office's PC.
    let start = makassar_today(3, 0, 0);
    let d = Daemon::start_env(
        &v,
        &format!("trusted_macs = [\"{office}\"]"),
        &format!(
            "[schedule]\nopen = \"06:00\"\nclose = \"22:00\"\n\
             [quota]\ndaily_data = \"1 MiB\"\nafter_quota_rate = \"0\"\ndownload_rate = \"100 Mbit/s\"\n\
             accounting_interval = \"1s\"\nidle_timeout = \"5s\"\n\
             [admin]\nlisten = \"{ADMIN_ADDR}\"\n"
        ),
        &[("DESAWIFI_TEST_NOW", &start.to_string())],
    );
    // No login: online as soon as the router has seen it on the LAN.
    wait_for("the trusted device online", Duration::from_secs(15), || {
        reaches(&v, 1, "198.51.100.2")
    });
    assert!(
        !reaches(&v, 2, "198.51.100.2"),
        "an untrusted phone stays captive"
    );
    let api = captive_api(&v, 1);
    assert_eq!(api["captive"], false, "{api}");
    assert!(api.get("bytes-remaining").is_none(), "no quota: {api}");
    // Twice the daily quota, and still online (and past the idle timeout).
    assert_eq!(download(&v, 1, 2 * MIB).code, 200);
    std::thread::sleep(Duration::from_secs(7));
    assert!(
        reaches(&v, 1, "198.51.100.2"),
        "not cut after 2 MiB, not idle-ended\n{}",
        d.log_tail()
    );

    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let token = c.token(ADMIN.0, ADMIN.1);
    // In the site's usage...
    wait_for("usage counted", Duration::from_secs(10), || {
        let m = c.bearer("GET", "/metrics", &token, &Value::Null).text();
        metric(&m, "desawifi_usage_today_bytes{direction=\"download\"}") >= 2 * MIB
    });
    // ...and listed apart, but against no quota.
    let dev = c
        .bearer(
            "GET",
            &format!("/api/devices/{office}"),
            &token,
            &Value::Null,
        )
        .json();
    assert_eq!(dev["trusted"], "config", "{dev}");
    assert_eq!(dev["exempt"], true, "{dev}");
    assert_eq!(dev["state"], "online", "{dev}");
    assert!(
        dev["used_today_bytes"].as_u64().unwrap() >= 2 * MIB,
        "{dev}"
    );

    // An admin trusts phone 2 (audited): online without a login, at once or
    // within an accounting interval of the router seeing it.
    let kiosk = v.phone_mac(2);
    let r = c.bearer(
        "POST",
        &format!("/api/devices/{kiosk}/trust"),
        &token,
        &Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["trusted"], "admin");
    wait_for("the kiosk online", Duration::from_secs(15), || {
        reaches(&v, 2, "198.51.100.2")
    });
    assert!(!reaches(&v, 3, "198.51.100.2"), "phone 3 still captive");
    // The file's trust cannot be taken back through the API.
    let r = c.bearer(
        "DELETE",
        &format!("/api/devices/{office}/trust"),
        &token,
        &Value::Null,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["field"], "mac");
    // The admin's can: captive again at once.
    let r = c.bearer(
        "DELETE",
        &format!("/api/devices/{kiosk}/trust"),
        &token,
        &Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!reaches(&v, 2, "198.51.100.2"), "untrusted: captive again");
    assert_eq!(
        login(&v, 2, "id").code,
        503,
        "and held to the hours like anyone"
    );
    let audit = c.bearer("GET", "/api/audit", &token, &Value::Null).text();
    assert!(
        audit.contains("device.trust") && audit.contains("device.untrust"),
        "{audit}"
    );
}
