//! Village life in a namespace village: opening hours (the daemon's clock
//! started just before closing time), trusted devices and the literacy quiz.
//! Real kernel, real nft, real curl; the admin API over real TLS.

use desawifi_testkit as common;

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
    // The expiry loop or the schedule loop may end the session (whichever
    // wakes first at the close); the schedule loop notes the close itself.
    wait_for("the close logged", Duration::from_secs(5), || {
        d.log().contains("the wifi closes")
    });
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

/// HTML-escaped as the portal escapes text.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The built-in bank's question on a status page (English): (pillar, the
/// right option's number, its text, the explanation).
fn question_on(page: &str) -> (String, usize, String, String) {
    let bank: toml::Table =
        toml::from_str(include_str!("../portal-ui/quiz.toml")).expect("quiz.toml");
    let legend = page
        .split("<legend>")
        .nth(1)
        .and_then(|r| r.split("</legend>").next())
        .unwrap_or_else(|| panic!("no quiz on the page:\n{page}"));
    for q in bank["question"].as_array().unwrap() {
        if escaped(q["en"].as_str().unwrap()) == legend {
            let answer = q["answer"].as_integer().unwrap() as usize;
            let right = q["option"].as_array().unwrap()[answer - 1]["en"]
                .as_str()
                .unwrap()
                .to_string();
            return (
                q["pillar"].as_str().unwrap().to_string(),
                answer,
                right,
                q["explain_en"].as_str().unwrap().to_string(),
            );
        }
    }
    panic!("question {legend:?} is not in the bank");
}

fn post_quiz(v: &Village, phone: usize, answer: usize) -> common::Http {
    curl(
        &v.phone(phone),
        &[
            "-X",
            "POST",
            "--data",
            &format!("lang=en&answer={answer}"),
            &format!("{PORTAL}/quiz"),
        ],
        5.0,
    )
}

fn status_en(v: &Village, phone: usize) -> String {
    curl(&v.phone(phone), &[&format!("{PORTAL}/status?lang=en")], 5.0).body
}

/// Payload kbit/s of a download of `n` bytes.
fn kbit_per_s(r: &common::Http, n: u64) -> f64 {
    assert_eq!(r.code, 200, "{r:?}");
    n as f64 * 8.0 / r.secs / 1000.0
}

#[test]
fn a_right_quiz_answer_earns_bonus_data_once_and_a_wrong_one_the_explanation() {
    let v = Village::up("lquiz", 2);
    let d = Daemon::start(
        &v,
        &format!(
            "[quota]\ndaily_data = \"1 MiB\"\nafter_quota_rate = \"256 kbit/s\"\ndownload_rate = \"20 Mbit/s\"\n\
             upload_rate = \"20 Mbit/s\"\naccounting_interval = \"1s\"\n\
             [quiz]\nbonus = \"50 MiB\"\n[admin]\nlisten = \"{ADMIN_ADDR}\"\n"
        ),
    );
    // Phone 1 uses its quota and is throttled.
    assert_eq!(login(&v, 1, "en").code, 303);
    assert_eq!(download(&v, 1, 2 * MIB).code, 200);
    wait_for("throttled", Duration::from_secs(6), || {
        status_en(&v, 1).contains("slower")
    });
    assert_eq!(captive_api(&v, 1)["bytes-remaining"], 0);
    let page = status_en(&v, 1);
    assert!(
        page.contains("answer right, earn bonus data"),
        "the quiz is on the throttled phone's status page:\n{page}"
    );
    assert!(page.contains("action=\"/quiz\"") && page.contains("type=\"radio\""));
    let (pillar1, answer, _, _) = question_on(&page);
    let r = post_quiz(&v, 1, answer);
    assert_eq!(r.code, 200, "{r:?}");
    assert!(r.body.contains("Your answer is right"), "{}", r.body);
    // At once: more bytes-remaining in RFC 8908...
    let left = captive_api(&v, 1)["bytes-remaining"].as_u64().unwrap();
    assert!(
        left > 45 * MIB && left <= 50 * MIB,
        "bonus in bytes-remaining: {left}"
    );
    // ...and full speed within an accounting interval.
    wait_for("full speed again", Duration::from_secs(5), || {
        !status_en(&v, 1).contains("slower")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let fast = kbit_per_s(&download(&v, 1, 2 * MIB), 2 * MIB);
    assert!(
        fast > 2000.0,
        "after the bonus at {fast:.0} kbit/s, still throttled?\n{}",
        d.log_tail()
    );
    // Reposting (or answering again) earns nothing.
    let again = post_quiz(&v, 1, answer);
    assert_eq!(again.code, 409, "{again:?}");
    assert!(again.body.contains("once a day"), "{}", again.body);
    let left_after = captive_api(&v, 1)["bytes-remaining"].as_u64().unwrap();
    assert!(
        left_after < left,
        "no second bonus: {left} then {left_after}"
    );
    assert!(
        !status_en(&v, 1).contains("<legend>"),
        "no quiz once answered"
    );

    // Phone 2 answers wrong: the right answer and why, nothing else.
    assert_eq!(login(&v, 2, "en").code, 303);
    let before = captive_api(&v, 2)["bytes-remaining"].as_u64().unwrap();
    let (pillar2, answer, right, why) = question_on(&status_en(&v, 2));
    let wrong = if answer == 1 { 2 } else { 1 };
    let r = post_quiz(&v, 2, wrong);
    assert_eq!(r.code, 200, "{r:?}");
    assert!(r.body.contains("Not quite"), "{}", r.body);
    assert!(
        r.body.contains(&escaped(&right)),
        "the right answer: {}",
        r.body
    );
    assert!(
        r.body.contains(&escaped(&why)),
        "the explanation: {}",
        r.body
    );
    let after = captive_api(&v, 2)["bytes-remaining"].as_u64().unwrap();
    assert!(
        after <= before,
        "a wrong answer earns nothing: {before} -> {after}"
    );
    assert_eq!(post_quiz(&v, 2, answer).code, 409, "one attempt a day");

    // The regency's view: counts by pillar, matching, and no device in them.
    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let token = c.token(ADMIN.0, ADMIN.1);
    let r = c.bearer("GET", "/api/quiz", &token, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    for n in 1..=2 {
        assert!(
            !text.contains(&v.phone_mac(n)),
            "a MAC in the quiz report: {text}"
        );
    }
    assert!(
        !text.contains("10.77.0."),
        "an address in the quiz report: {text}"
    );
    let report = r.json();
    let today = report["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["shown"], 2, "{today}");
    assert_eq!(today["answered"], 2, "{today}");
    assert_eq!(today["right"], 1, "{today}");
    let count = |p: &str, k: &str| today["pillars"][p][k].as_u64().unwrap();
    if pillar1 == pillar2 {
        assert_eq!(
            (count(&pillar1, "answered"), count(&pillar1, "right")),
            (2, 1)
        );
    } else {
        assert_eq!(
            (count(&pillar1, "answered"), count(&pillar1, "right")),
            (1, 1)
        );
        assert_eq!(
            (count(&pillar2, "answered"), count(&pillar2, "right")),
            (1, 0)
        );
    }
    let metrics = c.bearer("GET", "/metrics", &token, &Value::Null).text();
    let series = |p: &str, res: &str| {
        metric(
            &metrics,
            &format!("desawifi_quiz_answers_total{{pillar=\"{p}\",result=\"{res}\"}}"),
        )
    };
    assert_eq!(series(&pillar1, "right"), 1, "{metrics}");
    assert_eq!(series(&pillar2, "wrong"), 1, "{metrics}");
}

#[test]
fn with_garden_always_open_false_the_walled_garden_closes_with_the_wifi() {
    let v = Village::up("lgard", 1);
    // 21:59:50 WITA: open for 10 s more, then closed with its garden.
    let start = makassar_today(21, 59, 50);
    let _d = Daemon::start_env(
        &v,
        "",
        "[schedule]\nopen = \"06:00\"\nclose = \"22:00\"\ngarden_always_open = false\n\
         [walled_garden]\naddresses = [\"203.0.113.0/24\"]\n",
        &[("DESAWIFI_TEST_NOW", &start.to_string())],
    );
    assert!(reaches(&v, 1, "203.0.113.10"), "the garden while open");
    wait_for("the garden to close", Duration::from_secs(40), || {
        !reaches(&v, 1, "203.0.113.10")
    });
    let splash = curl(&v.phone(1), &[&format!("{PORTAL}/?lang=en")], 5.0);
    assert!(
        splash.body.contains("opens at 06:00 WITA. See you then."),
        "{}",
        splash.body
    );
}

#[test]
fn the_quota_used_page_offers_the_quiz_and_a_right_answer_lets_the_phone_back_on() {
    let v = Village::up("lqcut", 1);
    let d = Daemon::start(
        &v,
        &format!(
            "[quota]\ndaily_data = \"1 MiB\"\nafter_quota_rate = \"0\"\ndownload_rate = \"100 Mbit/s\"\n\
             accounting_interval = \"1s\"\n[admin]\nlisten = \"{ADMIN_ADDR}\"\n"
        ),
    );
    assert_eq!(login(&v, 1, "en").code, 303);
    assert_eq!(download(&v, 1, 2 * MIB).code, 200);
    wait_for("cut off", Duration::from_secs(6), || {
        !reaches(&v, 1, "198.51.100.2")
    });
    // Its session ends (an admin's kick); a new tap finds the quota used.
    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let token = c.token(ADMIN.0, ADMIN.1);
    let mac = v.phone_mac(1);
    let r = c.bearer(
        "POST",
        &format!("/api/devices/{mac}/kick"),
        &token,
        &Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let refused = login(&v, 1, "en");
    assert_eq!(refused.code, 403, "{refused:?}");
    assert!(
        refused.body.contains("answer right, earn bonus data"),
        "the quiz on the quota-used page:\n{}",
        refused.body
    );
    let (_, answer, _, _) = question_on(&refused.body);
    let r = post_quiz(&v, 1, answer);
    assert_eq!(r.code, 200, "{r:?}");
    assert!(r.body.contains("Your answer is right"), "{}", r.body);
    assert_eq!(
        login(&v, 1, "en").code,
        303,
        "the bonus lets it log in again"
    );
    assert!(reaches(&v, 1, "198.51.100.2"));
}
