//! The uplink watcher in a namespace village: the router's WAN link is cut
//! (a dish losing power), the portal pages say it is the village's internet,
//! not the phone; logins still work and are kept; the link returns and the
//! notice goes away.

use desawifi_testkit as common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{curl, ns_exec, portal_login, tag_for, Daemon, Village};

const PORTAL: &str = "http://10.77.0.1:2050";
const UPLINK: &str = "[uplink]\ntargets = [\"198.51.100.2:80\"]\ninterval = \"1s\"\ntimeout = \"1s\"\nfail_after = 1\n";
const DOWN_ID: &str = "Internet desa sedang terputus";
const DOWN_EN: &str = "The village internet is down, not your phone";
/// Rounds are 1 s apart and one failed round is enough: a few seconds is plenty.
const NOTICE_WITHIN: Duration = Duration::from_secs(8);

/// GET a portal page from a phone; panics unless it answers 200.
fn page(v: &Village, phone: usize, path: &str) -> String {
    let r = curl(&v.phone(phone), &[&format!("{PORTAL}{path}")], 5.0);
    assert_eq!(r.code, 200, "{path}: {r:?}");
    r.body
}

/// Polls `path` until `want(body)` holds; panics with the last body and the log after `NOTICE_WITHIN`.
fn wait_for_page(
    v: &Village,
    d: &Daemon,
    phone: usize,
    path: &str,
    what: &str,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + NOTICE_WITHIN;
    loop {
        let body = page(v, phone, path);
        if want(&body) {
            return body;
        }
        if Instant::now() > deadline {
            panic!(
                "{path}: {what} within {NOTICE_WITHIN:?}; last page:\n{body}\n--- daemon log:\n{}",
                d.log()
            );
        }
        sleep(Duration::from_millis(250));
    }
}

/// The "HH:MM" right after `marker` in `body`, if it is one.
fn time_after<'a>(body: &'a str, marker: &str) -> Option<&'a str> {
    let at = body.find(marker)? + marker.len();
    let hhmm = body.get(at..at + 5)?;
    let b = hhmm.as_bytes();
    (b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit())).then_some(hhmm)
}

fn ip_ok(ns: &str, args: &[&str]) {
    let o = ns_exec(ns, args);
    assert!(
        o.status.success(),
        "{args:?} in {ns}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn captive(v: &Village, phone: usize) -> serde_json::Value {
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
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("captive API JSON: {e}: {}", r.body))
}

#[test]
fn pages_say_when_the_uplink_is_down_and_logins_still_work() {
    let v = Village::up(&tag_for("uplink::pages_say_when_the_uplink_is_down"), 2);
    let d = Daemon::start(&v, UPLINK);
    let router = v.router();

    // Up: the first round connects, no notice.
    sleep(Duration::from_millis(1500));
    let splash = page(&v, 2, "/");
    assert!(splash.contains("Sambungkan"), "{splash}");
    assert!(
        !splash.contains(DOWN_ID) && !splash.contains("class=\"notice\""),
        "no notice while up:\n{splash}"
    );

    // The dish loses power: the router's WAN link goes down.
    ip_ok(&router, &["ip", "link", "set", "wan0", "down"]);
    let splash = wait_for_page(&v, &d, 2, "/", "the uplink notice", |b| b.contains(DOWN_ID));
    assert!(splash.contains("bukan masalah di ponsel Anda"), "{splash}");
    assert!(
        time_after(&splash, "(sejak ").is_some(),
        "the notice says since when (HH:MM):\n{splash}"
    );
    assert!(
        splash.contains("Sambungkan"),
        "the connect button stays:\n{splash}"
    );
    let en = page(&v, 2, "/?lang=en");
    assert!(en.contains(DOWN_EN), "{en}");
    assert_eq!(
        time_after(&en, "(since "),
        time_after(&splash, "(sejak "),
        "same time in both languages:\n{en}"
    );

    // Logging in still works while it is down, and the status page says it too.
    let r = portal_login(&v, 1);
    assert_eq!(
        r.code,
        303,
        "login while the uplink is down: {r:?}\n{}",
        d.log()
    );
    assert_eq!(r.header("location").as_deref(), Some("/status?lang=id"));
    let status = page(&v, 1, "/status");
    assert!(
        status.contains(DOWN_ID),
        "status page notice while down:\n{status}"
    );
    assert_eq!(captive(&v, 1)["captive"], false, "logged in while down");

    // The link comes back; the kernel dropped the routes through it (and, with
    // keep_addr_on_down=0, the IPv6 address): put them back as ifupdown would.
    ip_ok(&router, &["ip", "link", "set", "wan0", "up"]);
    ip_ok(
        &router,
        &[
            "ip",
            "-6",
            "addr",
            "replace",
            "2001:db8:100::1/64",
            "dev",
            "wan0",
            "nodad",
        ],
    );
    ip_ok(
        &router,
        &["ip", "route", "replace", "default", "via", "198.51.100.2"],
    );
    ip_ok(
        &router,
        &[
            "ip",
            "-6",
            "route",
            "replace",
            "default",
            "via",
            "2001:db8:100::2",
        ],
    );
    let splash = wait_for_page(&v, &d, 2, "/", "the notice gone", |b| !b.contains(DOWN_ID));
    assert!(splash.contains("Sambungkan"), "{splash}");
    let status = page(&v, 1, "/status");
    assert!(
        !status.contains(DOWN_ID),
        "status page notice gone:\n{status}"
    );

    // The login made during the outage was kept: online, and the internet works.
    assert_eq!(
        captive(&v, 1)["captive"],
        false,
        "still online after the link returned"
    );
    let r = curl(&v.phone(1), &["http://198.51.100.2/"], 5.0);
    assert!(
        r.code == 200 && r.body.starts_with("upstream ok"),
        "phone 1 reaches the internet again: {r:?}"
    );

    let log = d.log();
    let down = log
        .find("uplink down")
        .unwrap_or_else(|| panic!("no \"uplink down\" in the log:\n{log}"));
    let back = log
        .find("uplink back")
        .unwrap_or_else(|| panic!("no \"uplink back\" in the log:\n{log}"));
    assert!(down < back, "down, then back:\n{log}");
    assert!(
        log[down..].lines().next().unwrap_or("").contains("since="),
        "{log}"
    );
    assert!(
        log[back..]
            .lines()
            .next()
            .unwrap_or("")
            .contains("down_for_secs="),
        "{log}"
    );
}
