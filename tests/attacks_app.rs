//! The second round of ways around the portal (issue 22), the gateway,
//! portal and store half: each written as the attack a villager would make
//! (curl, forged neighbour entries, a router clock that jumps), in a
//! namespace village with the real nft and a real daemon. Each test passes
//! only while the hole stays closed.

use desawifi_testkit as common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{
    add_user, curl, ns_ok, portal_login, tag_for, AdminClient, Daemon, Http, Village, ADMIN_ADDR,
};
use serde_json::Value;

const PORTAL: &str = "http://10.77.0.1:2050";
const ADMIN: (&str, &str) = ("ani", "rahasia-admin-1");

fn reaches_upstream(v: &Village, n: usize) -> bool {
    let r = curl(&v.phone(n), &["http://198.51.100.2/"], 3.0);
    r.code == 200 && r.body.starts_with("upstream ok")
}

fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < within,
            "{what} did not happen within {within:?}"
        );
        sleep(Duration::from_millis(100));
    }
}

/// A daemon with the admin listener, `extra` appended, an admin account and
/// a client (with its token) in the router's namespace.
fn start_with_admin(v: &Village, network: &str, extra: &str) -> (Daemon, AdminClient, String) {
    let d = Daemon::start_net(
        v,
        network,
        &format!("[admin]\nlisten = \"{ADMIN_ADDR}\"\n{extra}"),
    );
    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let token = c.token(ADMIN.0, ADMIN.1);
    (d, c, token)
}

/// Item 9: a refused login (blocked, closed, quota used) freed a slot first,
/// evicting an idle villager for nothing.
#[test]
fn a_refused_login_evicts_nobody() {
    let v = Village::up(&tag_for("attacks_app::refused_evicts"), 2);
    let (d, c, admin) = start_with_admin(
        &v,
        "max_online = 1\nevict_idle_after = \"2s\"\n",
        "[quota]\naccounting_interval = \"1s\"\n",
    );
    let blocked = v.phone_mac(2);
    let r = c.bearer(
        "POST",
        &format!("/api/devices/{blocked}/block"),
        &admin,
        &Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(portal_login(&v, 1).code, 303);
    assert!(reaches_upstream(&v, 1));
    sleep(Duration::from_secs(4)); // phone 1 idles past evict_idle_after
    for _ in 0..3 {
        assert_eq!(
            portal_login(&v, 2).code,
            403,
            "the blocked phone is refused"
        );
    }
    assert!(
        reaches_upstream(&v, 1),
        "the idle villager keeps its slot when a blocked phone taps Connect\n{}",
        d.log_tail()
    );
    assert!(!d.log().contains("slot evicted"), "{}", d.log_tail());
}

/// POST `path` on the portal from phone `n`, with `form` and extra curl options.
fn post(v: &Village, n: usize, path: &str, form: &str, extra: &[&str]) -> Http {
    let url = format!("{PORTAL}{path}");
    let mut args = vec!["-X", "POST", "--data", form];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&v.phone(n), &args, 5.0)
}

/// Item 6: re-tapping Connect, or a captive phone posting /logout, wrote
/// the device record, flushed and logged every time; nothing limited the
/// taps.
#[test]
fn taps_and_logouts_in_a_loop_write_nothing_and_are_limited() {
    let v = Village::up(&tag_for("attacks_app::write_flood"), 2);
    let d = Daemon::start(&v, "");
    assert_eq!(portal_login(&v, 1).code, 303);
    let mut codes = Vec::new();
    for _ in 0..40 {
        codes.push(post(&v, 1, "/login", "lang=id", &[]).code);
    }
    for _ in 0..40 {
        codes.push(post(&v, 2, "/logout", "lang=en", &[]).code);
    }
    let log = d.log();
    assert_eq!(
        log.matches("device online").count(),
        1,
        "one login, 40 re-taps: one write and one log line\n{}",
        d.log_tail()
    );
    assert_eq!(
        log.matches("device captive").count() + log.matches("session ended").count(),
        0,
        "a captive phone's logouts end nothing"
    );
    let limited = codes.iter().filter(|&&c| c == 429).count();
    assert!(
        limited >= 20,
        "80 posts in a loop from two phones: {limited} limited ({codes:?})"
    );
    assert!(codes.iter().all(|&c| c == 303 || c == 429), "{codes:?}");
    // The 429 page says so in the villager's language, with Retry-After.
    let id = until_limited(&v, 1, "/login", "lang=id");
    assert!(id.body.contains("Terlalu banyak permintaan"), "{}", id.body);
    assert!(id.header("Retry-After").is_some(), "{id:?}");
    let en = until_limited(&v, 2, "/logout", "lang=en");
    assert!(en.body.contains("Too many requests"), "{}", en.body);
    assert!(reaches_upstream(&v, 1), "phone 1 stays online");
    // A pause refills the allowance.
    sleep(Duration::from_secs(6));
    assert_eq!(
        portal_login(&v, 2).code,
        303,
        "after a pause phone 2 logs in"
    );
    assert_eq!(
        d.log().matches("device online").count(),
        2,
        "phone 2's login is the second write\n{}",
        d.log_tail()
    );
}

/// Post from phone `n` in a tight loop until the portal answers 429 (at
/// most 30 posts: the allowance is 10 and refills one per 2 s).
fn until_limited(v: &Village, n: usize, path: &str, form: &str) -> Http {
    for _ in 0..30 {
        let r = post(v, n, path, form, &[]);
        if r.code == 429 {
            return r;
        }
        assert!(r.code == 303, "{r:?}");
    }
    panic!("30 posts to {path} from phone {n} and none limited");
}

/// A quiz bank of one question whose right answer is option 2.
fn one_question_bank(v: &Village) -> std::path::PathBuf {
    let dir = v.run_dir().join("portal-ui");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("quiz.toml"),
        "[[question]]\npillar = \"aman\"\ntip = 1\nid = \"Soal uji\"\nen = \"Test question\"\n\
         answer = 2\nexplain_id = \"PENJELASAN-UJI\"\nexplain_en = \"EXPLANATION-TEST\"\n\
         [[question.option]]\nid = \"OPSI-SATU\"\nen = \"OPTION-ONE\"\n\
         [[question.option]]\nid = \"OPSI-DUA\"\nen = \"OPTION-TWO\"\n\
         [[question.option]]\nid = \"OPSI-TIGA\"\nen = \"OPTION-THREE\"\n",
    )
    .unwrap();
    dir
}

/// Item 10: another site burnt a villager's daily attempt (no same-origin
/// check on /quiz), and with two attempts a wrong answer told the right one.
#[test]
fn the_quiz_is_same_origin_and_a_wrong_answer_reveals_nothing_while_attempts_remain() {
    let v = Village::up(&tag_for("attacks_app::quiz"), 1);
    let dir = one_question_bank(&v);
    let _d = Daemon::start_portal(
        &v,
        &format!("ui_dir = \"{}\"", dir.display()),
        "[quiz]\nattempts_per_day = 2\n",
    );
    assert_eq!(portal_login(&v, 1).code, 303);
    let status = curl(&v.phone(1), &[&format!("{PORTAL}/status?lang=en")], 5.0);
    assert!(status.body.contains("OPTION-TWO"), "{}", status.body);

    let forged = post(
        &v,
        1,
        "/quiz",
        "lang=en&answer=1",
        &["-H", "Origin: http://evil.example"],
    );
    assert_eq!(
        forged.code, 403,
        "a cross-site answer is refused: {forged:?}"
    );
    let forged = post(
        &v,
        1,
        "/quiz",
        "lang=en&answer=1",
        &["-H", "Sec-Fetch-Site: cross-site"],
    );
    assert_eq!(forged.code, 403, "{forged:?}");

    let wrong = post(&v, 1, "/quiz", "lang=en&answer=1", &[]);
    assert_eq!(wrong.code, 200, "{wrong:?}");
    for secret in ["OPTION-TWO", "EXPLANATION-TEST"] {
        assert!(
            !wrong.body.contains(secret),
            "a wrong first answer with an attempt left gives away {secret}: {}",
            wrong.body
        );
    }
    let right = post(&v, 1, "/quiz", "lang=en&answer=2", &[]);
    assert_eq!(right.code, 200, "{right:?}");
    assert!(right.body.contains("EXPLANATION-TEST"), "{}", right.body);
}

/// Put a forged neighbour entry on the router: `ip` at `mac` (what a
/// forged ARP reply leaves in the kernel's table).
fn forge_neighbour(v: &Village, ip: &str, mac: &str) {
    ns_ok(
        &v.router(),
        &[
            "ip",
            "neigh",
            "replace",
            ip,
            "lladdr",
            mac,
            "dev",
            "br-lan",
            "nud",
            "reachable",
        ],
    );
}

/// Item 8, the abort: a forged entry with a trusted MAC at an online
/// phone's address made every pass stop admitting trusted devices.
#[test]
fn a_forged_neighbour_entry_does_not_stop_other_trusted_devices() {
    let v = Village::up(&tag_for("attacks_app::arp_abort"), 3);
    // The office PC (off now) is trusted by the file; its MAC sorts first.
    let office_pc = "02:00:00:00:00:01";
    let (d, c, admin) = start_with_admin(
        &v,
        &format!("trusted_macs = [\"{office_pc}\"]\n"),
        "[quota]\naccounting_interval = \"1s\"\n",
    );
    assert_eq!(portal_login(&v, 3).code, 303);
    assert!(reaches_upstream(&v, 3));
    // Phone 3 claims to be the office PC at its own (online) address.
    forge_neighbour(&v, &v.phone_ip(3).to_string(), office_pc);
    sleep(Duration::from_secs(2));
    // The kiosk (phone 2) is trusted now: it must be online without a tap.
    ns_ok(&v.phone(2), &["ping", "-c", "1", "-W", "1", "10.77.0.1"]);
    let kiosk = v.phone_mac(2);
    let r = c.bearer(
        "POST",
        &format!("/api/devices/{kiosk}/trust"),
        &admin,
        &Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for(
        "the kiosk online without a tap",
        Duration::from_secs(6),
        || reaches_upstream(&v, 2),
    );
    assert!(
        d.log().contains("trusted device online"),
        "{}",
        d.log_tail()
    );
}

/// Item 8, the move: forged entries with an idle trusted device's MAC moved
/// its session to the forger's address.
#[test]
fn a_forged_neighbour_entry_does_not_move_a_trusted_device() {
    let v = Village::up(&tag_for("attacks_app::arp_move"), 1);
    let kiosk = v.phone_mac(1);
    let d = Daemon::start_net(
        &v,
        &format!("trusted_macs = [\"{kiosk}\"]\nevict_idle_after = \"1s\"\n"),
        "[quota]\naccounting_interval = \"1s\"\n",
    );
    ns_ok(&v.phone(1), &["ping", "-c", "1", "-W", "1", "10.77.0.1"]);
    wait_for("the kiosk online", Duration::from_secs(6), || {
        reaches_upstream(&v, 1)
    });
    sleep(Duration::from_secs(3)); // idle
    for n in 200..216 {
        forge_neighbour(&v, &format!("10.77.0.{n}"), &kiosk);
    }
    sleep(Duration::from_secs(4));
    assert!(
        !d.log().contains("ip=10.77.0.2"),
        "the kiosk's session moved to a forged address\n{}",
        d.log_tail()
    );
    assert!(reaches_upstream(&v, 1), "{}", d.log_tail());
}

/// 2026-12-06 20:00 in Asia/Makassar (the base config's time zone).
const EVENING: i64 = 1_796_558_400;

/// Set the daemon's test clock (`DESAWIFI_TEST_NOW=<file>`): from now on it
/// reads `unix` plus the seconds since this write, as after an NTP answer.
fn set_clock(file: &std::path::Path, unix: i64) {
    std::fs::write(file, format!("{unix}\n")).unwrap();
}

/// Item 7: a router without a real-time clock booted at 1970 put today's
/// usage on 1970-01-01 (a phone cut today came back with a full quota), and
/// a jump far into the future pruned the history.
#[test]
fn a_router_without_a_clock_keeps_todays_usage_and_history() {
    let v = Village::up(&tag_for("attacks_app::no_rtc"), 1);
    let clock = v.run_dir().join("clock");
    set_clock(&clock, EVENING);
    let mut d = Daemon::start_env(
        &v,
        "",
        "[quota]\ndaily_data = \"1 MiB\"\nafter_quota_rate = \"0\"\ndownload_rate = \"100 Mbit/s\"\n\
         accounting_interval = \"1s\"\n",
        &[("DESAWIFI_TEST_NOW", clock.to_str().unwrap())],
    );
    assert_eq!(portal_login(&v, 1).code, 303);
    let r = curl(&v.phone(1), &["http://198.51.100.2/bytes/2097152"], 30.0);
    assert_eq!(r.code, 200, "{r:?}");
    wait_for("the cut after the quota", Duration::from_secs(6), || {
        !reaches_upstream(&v, 1)
    });
    assert_eq!(portal_login(&v, 1).code, 403, "cut for today");

    // The power goes; the router boots without an RTC at 1970, the dish dark.
    d.stop();
    set_clock(&clock, 100_000);
    d.restart();
    sleep(Duration::from_secs(2));
    let login = portal_login(&v, 1);
    assert_eq!(
        login.code,
        403,
        "at 1970 the phone cut today must stay cut: {}\n{}",
        login.body,
        d.log_tail()
    );
    let splash = curl(&v.phone(1), &["-L", &format!("{PORTAL}/?lang=en")], 5.0);
    assert!(
        splash.body.contains("clock is not set yet"),
        "the splash says the clock is not set: {splash:?}"
    );

    // NTP answers at 21:00 the same evening: still cut, nothing pruned.
    set_clock(&clock, EVENING + 3600);
    sleep(Duration::from_secs(3));
    assert_eq!(portal_login(&v, 1).code, 403, "{}", d.log_tail());
    let splash = curl(&v.phone(1), &["-L", &format!("{PORTAL}/?lang=en")], 5.0);
    assert!(!splash.body.contains("clock is not set yet"));

    // A spoofed NTP answer 400 days ahead, then the real time again.
    set_clock(&clock, EVENING + 400 * 86_400);
    sleep(Duration::from_secs(3));
    set_clock(&clock, EVENING + 3700);
    sleep(Duration::from_secs(3));
    let log = d.log();
    assert!(
        !log.contains("old daily usage pruned") && !log.contains("devices not seen"),
        "a jump into the future deleted history\n{}",
        d.log_tail()
    );
    assert!(log.contains("the clock is behind"), "{}", d.log_tail());
}

/// Item 12: admin logins from many WAN addresses at once queued behind the
/// argon2 verifies (two at a time, both cores): the excess must get a fast
/// 429, never a queue, and a real admin gets in once the burst is over.
#[test]
fn a_burst_of_admin_logins_from_many_addresses_is_refused_not_queued() {
    let v = Village::up(&tag_for("attacks_app::argon2"), 1);
    let (d, c, _) = start_with_admin(&v, "", "");
    let up = v.upstream();
    let mut script = String::from("set -e\n");
    for n in 0..12 {
        let addr = format!("198.51.100.{}", 60 + n);
        ns_ok(
            &up,
            &["ip", "addr", "add", &format!("{addr}/24"), "dev", "eth0"],
        );
        script.push_str(&format!(
            "curl -sk --noproxy '*' --max-time 20 --interface {addr} -o /dev/null \
             -w '%{{http_code}}\\n' -H 'Content-Type: application/json' \
             --data '{{\"username\":\"tamu{n}\",\"password\":\"bukan-sandinya-{n}\"}}' \
             https://{ADMIN_ADDR}/api/session &\n"
        ));
    }
    script.push_str("wait\n");
    let out = ns_ok(&up, &["bash", "-c", &script]);
    let codes: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(codes.len(), 12, "{out}");
    assert!(
        codes.iter().all(|c| *c == "401" || *c == "429"),
        "each login answered (wrong password, or busy): {codes:?}\n{}",
        d.log_tail()
    );
    let busy = codes.iter().filter(|c| **c == "429").count();
    assert!(
        busy >= 1,
        "12 logins at once: the excess is refused, not queued: {codes:?}"
    );
    // The burst is over: the real admin gets in.
    let r = c.login(ADMIN.0, ADMIN.1);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The bytes the router forwarded from phone 1, as a table of the test's own
/// counts them (after desawifi's forward chain: only what it let through).
fn forwarded_upload(v: &Village) -> u64 {
    let out = ns_ok(
        &v.router(),
        &["nft", "-j", "list", "counter", "inet", "dwtest", "up"],
    );
    let doc: Value = serde_json::from_str(&out).expect("nft -j");
    doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o["counter"]["bytes"].as_u64())
        .expect("the counter")
}

/// Item 12: the bytes between the counter read and the element delete at
/// logout were lost. A phone sending right up to its logout has every byte
/// counted. (Upload: after the delete desawifi rejects the phone's packets,
/// so the test's counter behind its chain sees exactly what it let through;
/// a download's in-flight tail to a captive phone is the ruleset's part.)
#[test]
fn a_phone_uploading_up_to_its_logout_has_every_byte_counted() {
    let v = Village::up(&tag_for("attacks_app::logout_bytes"), 1);
    let (d, c, _) = start_with_admin(
        &v,
        "",
        "metrics_token = \"prometheus-token-0123456789\"\n\
         [quota]\ndaily_data = \"10 GiB\"\ndownload_rate = \"200 Mbit/s\"\nupload_rate = \"200 Mbit/s\"\n",
    );
    let ip = v.phone_ip(1).to_string();
    let script = format!(
        "table inet dwtest {{\n counter up {{}}\n \
         chain counting {{ type filter hook forward priority 100; policy accept;\n  \
         ip saddr {ip} counter name \"up\"\n }}\n}}\n"
    );
    let path = v.run_dir().join("dwtest.nft");
    std::fs::write(&path, script).unwrap();
    ns_ok(&v.router(), &["nft", "-f", path.to_str().unwrap()]);
    let body = v.run_dir().join("body");
    std::fs::write(&body, vec![0u8; 200 << 20]).unwrap();

    assert_eq!(portal_login(&v, 1).code, 303);
    let mut upload = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &v.phone(1),
            "curl",
            "-s",
            "-o",
            "/dev/null",
        ])
        .args(["--max-time", "15", "--data-binary"])
        .arg(format!("@{}", body.display()))
        .arg("http://198.51.100.2/upload")
        .spawn()
        .expect("curl");
    sleep(Duration::from_millis(1500));
    let out = post(&v, 1, "/logout", "lang=id", &[]);
    assert_eq!(out.code, 303, "{out:?}");
    let _ = upload.wait();
    let forwarded = forwarded_upload(&v);
    let metrics = c
        .bearer(
            "GET",
            "/metrics",
            "prometheus-token-0123456789",
            &Value::Null,
        )
        .text();
    let counted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("desawifi_bytes_total{direction=\"upload\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no upload total in {metrics}"));
    println!("forwarded {forwarded} bytes from the phone, counted {counted}");
    assert!(forwarded > 1 << 20, "the upload ran: {forwarded} bytes");
    assert!(
        counted + 1500 >= forwarded,
        "{} bytes forwarded but not counted ({counted} of {forwarded})\n{}",
        forwarded - counted,
        d.log_tail()
    );
    assert!(
        counted <= forwarded + 1500,
        "counted {counted} > forwarded {forwarded}"
    );
}

/// A village whose router runs dnsmasq with the shipped snippet (so names
/// fill the category sets, as on a real router).
fn village_with_categories(name: &str, phones: usize) -> Village {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_desawifi"))
        .args(["dnsmasq-conf", "--config"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config/desawifi.toml"))
        .output()
        .expect("running desawifi dnsmasq-conf");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::env::temp_dir().join(format!(
        "desawifi-attacks-app-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("desawifi.conf");
    std::fs::write(&file, &out.stdout).unwrap();
    let arg = format!("--conf-file={}", file.display());
    Village::up_with_router_dns(&tag_for(&format!("attacks_app::{name}")), phones, &[&arg])
}

/// Today's video bytes (download) as `GET /api/usage/categories` shows them.
fn video_today(c: &AdminClient, admin: &str) -> u64 {
    let r = c.bearer("GET", "/api/usage/categories", admin, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    let day = report["days"].as_array().and_then(|d| d.last()).cloned();
    day.and_then(|d| d["categories"]["video"]["download"].as_u64())
        .unwrap_or(0)
}

/// Item 11: the category counters refreshed every pass while the device list
/// shows each phone's bytes, so a viewer polling both at a quiet hour could
/// tell what one phone watched. A lone phone's category bytes are not
/// published (API, /metrics) until enough devices share the window; a clean
/// restart publishes them, so nothing is lost.
#[test]
fn a_lone_phone_at_a_quiet_hour_cannot_be_told_by_polling_the_categories() {
    let v = village_with_categories("privacy", 1);
    let (mut d, c, _) = start_with_admin(
        &v,
        "",
        "metrics_token = \"prometheus-token-0123456789\"\n\
         [quota]\ndaily_data = \"1 GiB\"\ndownload_rate = \"100 Mbit/s\"\naccounting_interval = \"1s\"\n",
    );
    let admin = c.token(ADMIN.0, ADMIN.1);
    assert_eq!(portal_login(&v, 1).code, 303);
    assert_eq!(
        common::dig(&v.phone(1), "10.77.0.1", "youtube.com").as_deref(),
        Some("203.0.113.21")
    );
    let r = curl(&v.phone(1), &["http://youtube.com/bytes/2097152"], 30.0);
    assert_eq!(r.code, 200, "{r:?}");
    // The viewer polls for a while: the phone's own bytes show on the device
    // list, the category's do not.
    let mac = v.phone_mac(1);
    let mut seen_device = 0;
    for _ in 0..8 {
        sleep(Duration::from_millis(500));
        let dev = c.bearer("GET", &format!("/api/devices/{mac}"), &admin, &Value::Null);
        seen_device = dev.json()["used_today_bytes"].as_u64().unwrap_or(0);
        assert_eq!(
            video_today(&c, &admin),
            0,
            "a lone phone's video bytes published while it is alone\n{}",
            d.log_tail()
        );
        let metrics = c
            .bearer(
                "GET",
                "/metrics",
                "prometheus-token-0123456789",
                &Value::Null,
            )
            .text();
        assert!(
            !metrics.lines().any(|l| l
                .starts_with("desawifi_category_bytes_total{category=\"video\"")
                && !l.ends_with(" 0")),
            "/metrics shows the lone phone's video bytes"
        );
    }
    assert!(
        seen_device >= 2 << 20,
        "the device list shows its bytes: {seen_device}"
    );
    // A clean restart publishes what waited: nothing is lost.
    d.restart();
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let admin = c.token(ADMIN.0, ADMIN.1);
    assert!(video_today(&c, &admin) >= 2 << 20, "{}", d.log_tail());
}
