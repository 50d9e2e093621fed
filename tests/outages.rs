//! Why the village was offline (issue 24, the gateway part), with a real
//! daemon in a namespace village: `kill -9` for a few seconds (a power cut)
//! comes back as a `power` event of about that length, a clean stop
//! (SIGTERM) as `maintenance`, the WAN link cut while running as `internet`;
//! each shows in `GET /api/outages` and in the `/metrics` counters, which
//! survive a second `kill -9`.

use desawifi_testkit as common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{add_user, curl, ns_exec, tag_for, AdminClient, Daemon, Village, ADMIN_ADDR};
use serde_json::Value;

const VIEWER: (&str, &str) = ("budi", "rahasia-viewer-1");
const METRICS_TOKEN: &str = "prometheus-token-0123456789";
/// `[store] heartbeat_interval` in the test: a gap is measured to within it.
const BEAT: i64 = 1;

fn config() -> String {
    // The first line lands in the base config's [store] table.
    format!(
        "heartbeat_interval = \"{BEAT}s\"\n\
         [admin]\nlisten = \"{ADMIN_ADDR}\"\nmetrics_token = \"{METRICS_TOKEN}\"\n\
         [uplink]\ntargets = [\"198.51.100.2:80\"]\ninterval = \"1s\"\ntimeout = \"1s\"\nfail_after = 1\n"
    )
}

/// The admin listener answers (it comes up just after the portal).
fn wait_admin(c: &AdminClient, d: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let auth = format!("Bearer {METRICS_TOKEN}");
    while c
        .try_request("GET", "/metrics", &[("Authorization", &auth)], b"")
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "admin API not back:\n{}",
            d.log_tail()
        );
        sleep(Duration::from_millis(100));
    }
}

/// `GET /api/outages` as a viewer: the events.
fn outages(c: &AdminClient) -> Vec<Value> {
    let token = c.token(VIEWER.0, VIEWER.1);
    let r = c.bearer("GET", "/api/outages", &token, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["outages"].as_array().expect("a list").clone()
}

/// Waits for an event of `cause` beyond the first `known` events; returns it.
fn wait_event(c: &AdminClient, d: &Daemon, known: usize, cause: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = outages(c);
        if let Some(e) = all.iter().skip(known).find(|e| e["cause"] == cause) {
            assert_eq!(all.len(), known + 1, "one new event: {all:?}");
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {cause} event after {known}: {all:?}\n{}",
            d.log_tail()
        );
        sleep(Duration::from_millis(250));
    }
}

/// The value of the sample `series` in `/metrics`.
fn metric(c: &AdminClient, series: &str) -> i64 {
    let text = c
        .bearer("GET", "/metrics", METRICS_TOKEN, &Value::Null)
        .text();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap_or_else(|e| panic!("{series}: {e}"))
}

fn secs(e: &Value) -> i64 {
    e["seconds"].as_i64().expect("seconds")
}

/// Polls the portal page `path` on phone 1 until it holds `want`; returns it.
fn wait_page(v: &Village, d: &Daemon, path: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = curl(&v.phone(1), &[&format!("http://10.77.0.1:2050{path}")], 5.0);
        if r.code == 200 && r.body.contains(want) {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: no {want:?}; last: {r:?}\n{}",
            d.log_tail()
        );
        sleep(Duration::from_millis(200));
    }
}

fn ip_ok(ns: &str, args: &[&str]) {
    let o = ns_exec(ns, args);
    assert!(
        o.status.success(),
        "{args:?} in {ns}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn power_cut_clean_stop_and_wan_cut_are_recorded_with_their_causes() {
    let v = Village::up(&tag_for("outages::power_cut_clean_stop_and_wan_cut"), 1);
    let mut d = Daemon::start(&v, &config());
    add_user(&d, VIEWER.0, "viewer", VIEWER.1);
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    assert!(outages(&c).is_empty(), "a first start is no outage");
    assert_eq!(metric(&c, "desawifi_outages_total{cause=\"power\"}"), 0);

    // Bad bounds: 400 naming the key.
    let token = c.token(VIEWER.0, VIEWER.1);
    for (query, key) in [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("since=1", "since"),
    ] {
        let r = c.bearer(
            "GET",
            &format!("/api/outages?{query}"),
            &token,
            &Value::Null,
        );
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        assert_eq!(r.json()["field"], key, "{query}");
    }

    // A power cut: kill -9, dark for 5 s.
    sleep(Duration::from_secs(2));
    d.kill9();
    let cut = Instant::now();
    sleep(Duration::from_secs(5));
    d.restart();
    let dark = cut.elapsed().as_secs() as i64;
    wait_admin(&c, &d);
    let power = wait_event(&c, &d, 0, "power");
    assert!(
        (5..=dark + BEAT + 2).contains(&secs(&power)),
        "power for about {dark} s (within the heartbeat): {power}"
    );
    assert_eq!(
        power["end"].as_i64().unwrap() - power["start"].as_i64().unwrap(),
        secs(&power)
    );
    assert_eq!(metric(&c, "desawifi_outages_total{cause=\"power\"}"), 1);
    assert_eq!(
        metric(&c, "desawifi_outage_seconds_total{cause=\"power\"}"),
        secs(&power)
    );
    assert_eq!(
        metric(&c, "desawifi_last_outage_end_timestamp_seconds"),
        power["end"].as_i64().unwrap()
    );

    // A clean stop (SIGTERM, as a package upgrade's restart): maintenance.
    sleep(Duration::from_secs(2));
    let stopped = Instant::now();
    assert!(d.stop().is_some_and(|s| s.success()), "{}", d.log_tail());
    sleep(Duration::from_secs(3));
    d.restart();
    let away = stopped.elapsed().as_secs() as i64;
    wait_admin(&c, &d);
    let planned = wait_event(&c, &d, 1, "maintenance");
    assert!(
        (3..=away + 2).contains(&secs(&planned)),
        "maintenance for about {away} s: {planned}"
    );
    assert_eq!(
        metric(&c, "desawifi_outages_total{cause=\"maintenance\"}"),
        1
    );

    // The WAN cut for 4 s while running: internet, with its length.
    sleep(Duration::from_secs(2));
    let router = v.router();
    ip_ok(&router, &["ip", "link", "set", "wan0", "down"]);
    let down = Instant::now();
    // Villagers are told since when and why, in both languages (the splash,
    // and the RFC 8908 venue-info page).
    let splash = wait_page(&v, &d, "/", "Internet desa sedang terputus");
    assert!(
        splash.contains("(sejak ") && splash.contains("Sambungan satelit atau penyedia internet"),
        "{splash}"
    );
    let info = wait_page(&v, &d, "/info?lang=en", "The village internet is down");
    assert!(
        info.contains("(since ")
            && info.contains("The satellite or internet provider link is down"),
        "{info}"
    );
    sleep(Duration::from_secs(4).saturating_sub(down.elapsed()));
    ip_ok(&router, &["ip", "link", "set", "wan0", "up"]);
    let wan_down = down.elapsed().as_secs() as i64;
    // The kernel dropped the routes through it: put them back as ifupdown would.
    ip_ok(
        &router,
        &["ip", "route", "replace", "default", "via", "198.51.100.2"],
    );
    let internet = wait_event(&c, &d, 2, "internet");
    assert!(
        (wan_down - 2..=wan_down + 3).contains(&secs(&internet)),
        "internet down about {wan_down} s: {internet}"
    );
    assert_eq!(metric(&c, "desawifi_outages_total{cause=\"internet\"}"), 1);

    // The counters survive a second power cut, and it adds to them.
    let before = metric(&c, "desawifi_outage_seconds_total{cause=\"power\"}");
    sleep(Duration::from_secs(2));
    d.kill9();
    sleep(Duration::from_secs(2));
    d.restart();
    wait_admin(&c, &d);
    let second = wait_event(&c, &d, 3, "power");
    assert_eq!(metric(&c, "desawifi_outages_total{cause=\"power\"}"), 2);
    assert_eq!(
        metric(&c, "desawifi_outage_seconds_total{cause=\"power\"}"),
        before + secs(&second)
    );
    assert_eq!(
        metric(&c, "desawifi_outages_total{cause=\"maintenance\"}"),
        1
    );
    assert_eq!(metric(&c, "desawifi_outages_total{cause=\"internet\"}"), 1);
    assert_eq!(
        metric(&c, "desawifi_outage_seconds_total{cause=\"internet\"}"),
        secs(&internet)
    );
    // Right after a power cut, a dead uplink is told as the power's doing.
    ip_ok(&router, &["ip", "link", "set", "wan0", "down"]);
    let splash = wait_page(&v, &d, "/", "Internet desa sedang terputus");
    assert!(splash.contains("Listrik desa sempat padam"), "{splash}");
    let en = wait_page(&v, &d, "/?lang=en", "The village internet is down");
    assert!(en.contains("power was cut"), "{en}");
    ip_ok(&router, &["ip", "link", "set", "wan0", "up"]);
    println!(
        "outages: power {} s (dark {dark} s), maintenance {} s (away {away} s), internet {} s (WAN down {wan_down} s), second power {} s",
        secs(&power),
        secs(&planned),
        secs(&internet),
        secs(&second)
    );
}
