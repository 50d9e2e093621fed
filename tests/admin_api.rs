//! The admin JSON API over real TLS, against a real daemon in a namespace
//! village: a rustls client that trusts exactly the certificate the daemon
//! made (`<store>/admin-cert.pem`), connecting from inside the router's
//! namespace to the admin listener on the router's WAN address (the
//! management side). Accounts come from the `desawifi user add` CLI.

use desawifi_testkit as common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    add_user, curl, portal_login, tag_for, tcp_accepts, AdminClient, AdminResponse, Daemon,
    Village, ADMIN_ADDR,
};
use serde_json::{json, Value};

const PORTAL: &str = "http://10.77.0.1:2050";
const ADMIN: (&str, &str) = ("ani", "rahasia-admin-1");
const VIEWER: (&str, &str) = ("budi", "rahasia-viewer-1");
const METRICS_TOKEN: &str = "prometheus-token-0123456789";
const MIB: u64 = 1024 * 1024;

/// A daemon with the admin listener on ADMIN_ADDR, `extra` appended, an
/// admin and a viewer account, and a client in the router's namespace.
fn start(v: &Village, extra: &str) -> (Daemon, AdminClient) {
    let d = Daemon::start(
        v,
        &format!(
            "[admin]\nlisten = \"{ADMIN_ADDR}\"\nmetrics_token = \"{METRICS_TOKEN}\"\n{extra}"
        ),
    );
    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    add_user(&d, VIEWER.0, "viewer", VIEWER.1);
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    (d, c)
}

fn reaches_upstream(v: &Village, n: usize) -> bool {
    let r = curl(&v.phone(n), &["http://198.51.100.2/"], 3.0);
    r.code == 200 && r.body.starts_with("upstream ok")
}

fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < within,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    t.elapsed()
}

/// The headers every admin answer carries.
fn assert_security_headers(r: &AdminResponse, what: &str) {
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}: {r:?}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}: {r:?}");
    assert!(
        r.header("strict-transport-security")
            .is_some_and(|v| v.starts_with("max-age=")),
        "{what}: {r:?}"
    );
    assert!(
        r.header("content-security-policy")
            .is_some_and(|v| v.contains("frame-ancestors 'none'")),
        "{what}: {r:?}"
    );
}

fn device<'a>(list: &'a Value, mac: &str) -> &'a Value {
    list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["mac"] == mac)
        .unwrap_or_else(|| panic!("{mac} not in {list}"))
}

/// Who asks, for the matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Nobody,
    Viewer,
    Admin,
}

#[test]
fn authorization_matrix_for_every_route() {
    let v = Village::up(
        &tag_for("admin_api::authorization_matrix_for_every_route"),
        1,
    );
    let (d, c) = start(&v, "");
    assert_eq!(portal_login(&v, 1).code, 303);
    let phone = v.phone_mac(1);
    let stranger = "02:99:00:00:00:01"; // never seen: an admin may still block it
    let admin = c.token(ADMIN.0, ADMIN.1);
    let viewer = c.token(VIEWER.0, VIEWER.1);

    // (method, path, body, changes something). Each change is valid input,
    // so an admin gets 200 and a viewer 403 for the role alone.
    let routes: Vec<(&str, String, Value, bool)> = vec![
        ("GET", "/api/session".into(), Value::Null, false),
        ("GET", "/api/devices".into(), Value::Null, false),
        ("GET", format!("/api/devices/{phone}"), Value::Null, false),
        ("GET", "/api/quota".into(), Value::Null, false),
        (
            "PUT",
            "/api/quota".into(),
            json!({"idle_timeout": "45m"}),
            true,
        ),
        (
            "GET",
            format!("/api/devices/{phone}/quota"),
            Value::Null,
            false,
        ),
        (
            "PUT",
            format!("/api/devices/{phone}/quota"),
            json!({"daily_data": "2 GiB", "exempt": false}),
            true,
        ),
        (
            "DELETE",
            format!("/api/devices/{phone}/quota"),
            Value::Null,
            true,
        ),
        (
            "POST",
            format!("/api/devices/{stranger}/block"),
            Value::Null,
            true,
        ),
        (
            "POST",
            format!("/api/devices/{stranger}/unblock"),
            Value::Null,
            true,
        ),
        (
            "POST",
            format!("/api/devices/{phone}/kick"),
            Value::Null,
            true,
        ),
        ("GET", "/api/usage".into(), Value::Null, false),
        ("GET", "/api/usage/categories".into(), Value::Null, false),
        ("GET", "/api/usage/free".into(), Value::Null, false),
        (
            "PUT",
            "/api/usage/free".into(),
            json!({"free": ["kesehatan", "pendidikan", "layanan_publik"]}),
            true,
        ),
        (
            "GET",
            "/api/usage?from=2026-01-01&to=2026-01-31".into(),
            Value::Null,
            false,
        ),
        ("GET", "/api/audit".into(), Value::Null, false),
        ("GET", "/api/audit?limit=2".into(), Value::Null, false),
        ("GET", "/api/policy".into(), Value::Null, false),
        ("GET", "/api/outages".into(), Value::Null, false),
        (
            "GET",
            "/api/outages?from=2026-01-01&to=2026-01-31".into(),
            Value::Null,
            false,
        ),
        ("GET", "/metrics".into(), Value::Null, false),
    ];
    let mut seen = Vec::new();
    for who in [Who::Nobody, Who::Viewer, Who::Admin] {
        let token = match who {
            Who::Nobody => "",
            Who::Viewer => &viewer,
            Who::Admin => &admin,
        };
        for (method, path, body, change) in &routes {
            let r = c.bearer(method, path, token, body);
            let want = match (who, change) {
                (Who::Nobody, _) => 401,
                (Who::Viewer, true) => 403,
                _ => 200,
            };
            seen.push(format!("{who:?} {method} {path} -> {}", r.status));
            assert_eq!(
                r.status,
                want,
                "{who:?} {method} {path}: {}\n{}",
                r.text(),
                seen.join("\n")
            );
            assert_security_headers(&r, path);
            if path.starts_with("/api/") {
                assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
                assert!(
                    r.header("content-type")
                        .is_some_and(|t| t.starts_with("application/json")),
                    "{path}: {r:?}"
                );
            }
        }
    }
    println!("{}", seen.join("\n"));

    // The daemon logs its certificate's fingerprint, as openssl prints it.
    let cert = d.store_dir().join("admin-cert.pem");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl not found: apt-get install openssl");
    let openssl = String::from_utf8_lossy(&out.stdout);
    let fingerprint = openssl.trim().rsplit('=').next().unwrap().to_string();
    assert_eq!(fingerprint.len(), 95, "{openssl}");
    assert!(
        d.log().contains(&fingerprint),
        "the log names the fingerprint {fingerprint}:\n{}",
        d.log()
    );

    // The metrics token opens /metrics and nothing else.
    assert_eq!(
        c.bearer("GET", "/metrics", METRICS_TOKEN, &Value::Null)
            .status,
        200
    );
    for (method, path, body, _) in &routes {
        if path.starts_with("/api/") {
            assert_eq!(
                c.bearer(method, path, METRICS_TOKEN, body).status,
                401,
                "metrics token on {method} {path}"
            );
        }
    }
    // A bad or expired-looking token is nobody.
    assert_eq!(
        c.bearer("GET", "/api/devices", &"0".repeat(64), &Value::Null)
            .status,
        401
    );

    // The cookie works like the token, but a change needs the session's CSRF token too.
    let login = c.login(ADMIN.0, ADMIN.1);
    let set_cookie = login.header("set-cookie").expect("Set-Cookie").to_string();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("desawifi_admin="), "{cookie}");
    let csrf = login.json()["csrf"].as_str().unwrap().to_string();
    let with_cookie = |method: &str, path: &str, csrf: Option<&str>, body: &str| {
        let mut h = vec![
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        if let Some(t) = csrf {
            h.push(("X-CSRF-Token", t));
        }
        c.request(method, path, &h, body.as_bytes())
    };
    assert_eq!(with_cookie("GET", "/api/devices", None, "").status, 200);
    assert_eq!(
        with_cookie("GET", "/api/session", None, "").json()["csrf"],
        csrf.as_str()
    );
    let quota = r#"{"session_time": "3h"}"#;
    assert_eq!(
        with_cookie("PUT", "/api/quota", None, quota).status,
        403,
        "no CSRF header"
    );
    assert_eq!(
        with_cookie("PUT", "/api/quota", Some("0123456789abcdef"), quota).status,
        403,
        "wrong CSRF token"
    );
    assert_eq!(
        c.bearer("GET", "/api/quota", &admin, &Value::Null).json()["session_time"],
        "4h",
        "refused changes changed nothing"
    );
    let r = with_cookie("PUT", "/api/quota", Some(&csrf), quota);
    assert_eq!(
        (r.status, r.json()["session_time"].clone()),
        (200, json!("3h")),
        "{}",
        r.text()
    );
    assert_eq!(
        with_cookie("DELETE", "/api/session", None, "").status,
        403,
        "logging out by cookie needs CSRF too"
    );
    let r = with_cookie("DELETE", "/api/session", Some(&csrf), "");
    assert_eq!(r.status, 200);
    assert!(
        r.header("set-cookie")
            .is_some_and(|v| v.contains("Max-Age=0")),
        "{r:?}"
    );
    assert_eq!(
        with_cookie("GET", "/api/devices", None, "").status,
        401,
        "the session is gone"
    );

    // Logging out ends that session only; viewers may log themselves out.
    for (user, pass) in [ADMIN, VIEWER] {
        let t = c.token(user, pass);
        assert_eq!(
            c.bearer("DELETE", "/api/session", &t, &Value::Null).status,
            200
        );
        assert_eq!(
            c.bearer("GET", "/api/devices", &t, &Value::Null).status,
            401,
            "{user}'s token after logout"
        );
    }
    assert_eq!(
        c.bearer("DELETE", "/api/session", "", &Value::Null).status,
        401
    );
    assert_eq!(
        c.bearer("GET", "/api/devices", &admin, &Value::Null).status,
        200,
        "other sessions stay"
    );

    // Wrong method 405 (with Allow), unknown route 404, unknown device 404.
    let r = c.bearer("PATCH", "/api/quota", &admin, &json!({}));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, PUT"));
    assert_eq!(
        c.bearer(
            "GET",
            "/api/devices/02:77:00:00:00:01/block",
            &admin,
            &Value::Null
        )
        .status,
        405
    );
    assert_eq!(
        c.bearer("GET", "/api/nothing", &admin, &Value::Null).status,
        404
    );
    assert_eq!(
        c.bearer("GET", "/api/nothing", "", &Value::Null).status,
        404
    );
    for (method, path) in [
        ("POST", "kick"),
        ("POST", "unblock"),
        ("GET", "quota"),
        ("DELETE", "quota"),
    ] {
        let r = c.bearer(
            method,
            &format!("/api/devices/02:99:00:00:00:02/{path}"),
            &admin,
            &Value::Null,
        );
        assert_eq!(
            r.status,
            404,
            "{method} {path} on a MAC never seen: {}",
            r.text()
        );
    }
    assert_eq!(
        c.bearer(
            "GET",
            "/api/devices/02:99:00:00:00:02",
            &admin,
            &Value::Null
        )
        .status,
        404
    );

    // Bad input: 400 naming the field, and nothing half-applied.
    let before = c.bearer("GET", "/api/quota", &admin, &Value::Null).json();
    let bad = |method: &str, path: &str, body: &[u8], field: &str| {
        let r = c.request(
            method,
            path,
            &[
                ("Authorization", &format!("Bearer {admin}")),
                ("Content-Type", "application/json"),
            ],
            body,
        );
        assert_eq!(
            r.status,
            400,
            "{method} {path} {}: {}",
            String::from_utf8_lossy(body),
            r.text()
        );
        let j = r.json();
        assert_eq!(j["field"], field, "{j}");
        assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
        j
    };
    let j = bad(
        "PUT",
        "/api/quota",
        br#"{"daly_data": "1 GiB"}"#,
        "daly_data",
    );
    assert!(j["error"].as_str().unwrap().contains("unknown key"), "{j}");
    let j = bad(
        "PUT",
        "/api/quota",
        br#"{"daily_data": "5 MB/s"}"#,
        "daily_data",
    );
    assert!(j["error"].as_str().unwrap().contains("not a size"), "{j}");
    bad(
        "PUT",
        "/api/quota",
        br#"{"daily_data": "2 GiB", "idle_timeout": "0"}"#,
        "idle_timeout",
    );
    bad(
        "PUT",
        "/api/quota",
        br#"{"download_rate": "2 MB/s"}"#,
        "download_rate",
    );
    bad(
        "PUT",
        "/api/quota",
        br#"{"accounting_interval": "10m"}"#,
        "accounting_interval",
    );
    bad(
        "PUT",
        "/api/quota",
        br#"{"daily_data": "1 GiB", "daily_data_bytes": 5}"#,
        "daily_data_bytes",
    );
    bad(
        "PUT",
        "/api/quota",
        br#"{"daily_data_bytes": "lots"}"#,
        "daily_data_bytes",
    );
    bad("PUT", "/api/quota", b"{not json", "body");
    bad("PUT", "/api/quota", b"[1, 2]", "body");
    bad(
        "PUT",
        &format!("/api/devices/{phone}/quota"),
        br#"{"exempt": "yes"}"#,
        "exempt",
    );
    bad(
        "PUT",
        &format!("/api/devices/{phone}/quota"),
        br#"{"daily_data": "1 GiB", "session_time": "1h"}"#,
        "session_time",
    );
    bad("POST", "/api/devices/not-a-mac/block", b"", "mac");
    bad(
        "POST",
        &format!("/api/devices/{phone}/kick"),
        br#"{"why": "spam"}"#,
        "why",
    );
    bad("GET", "/api/usage?from=2026-02-30", b"", "from");
    bad("GET", "/api/usage?from=2026-11-27&to=2026-11-01", b"", "to");
    bad(
        "GET",
        "/api/usage?from=2020-01-01&to=2026-01-01",
        b"",
        "from",
    );
    bad("GET", "/api/usage?since=2026-01-01", b"", "since");
    bad("GET", "/api/audit?limit=0", b"", "limit");
    bad("GET", "/api/audit?before=x", b"", "before");
    bad(
        "POST",
        "/api/session",
        br#"{"username": "ani", "password": "x", "remember": true}"#,
        "remember",
    );
    // A body that is not declared JSON (what a cross-site form sends) is refused, login included.
    let form = |path: &str, token: &str, body: &str| {
        let auth = format!("Bearer {token}");
        c.request(
            "POST",
            path,
            &[("Authorization", &auth), ("Content-Type", "text/plain")],
            body.as_bytes(),
        )
    };
    let r = form(
        "/api/session",
        "",
        &format!(
            r#"{{"username": "{}", "password": "{}"}}"#,
            ADMIN.0, ADMIN.1
        ),
    );
    assert_eq!(
        (r.status, r.header("set-cookie")),
        (415, None),
        "{}",
        r.text()
    );
    assert_eq!(
        form(&format!("/api/devices/{phone}/kick"), &admin, "{}").status,
        415
    );
    assert_eq!(
        c.bearer("GET", "/api/quota", &admin, &Value::Null).json(),
        before,
        "no bad request changed anything"
    );
    let r = c
        .bearer(
            "GET",
            &format!("/api/devices/{phone}/quota"),
            &admin,
            &Value::Null,
        )
        .json();
    assert_eq!(r["override"]["daily_data"], Value::Null, "{r}");
    drop(d);
}

#[test]
fn quota_change_throttles_a_phone_within_one_accounting_interval_and_outlives_a_restart() {
    let v = Village::up(&tag_for("admin_api::quota_change_throttles"), 1);
    let interval = Duration::from_secs(2);
    let (mut d, c) = start(
        &v,
        "[quota]\ndaily_data = \"1 GiB\"\ndownload_rate = \"20 Mbit/s\"\nupload_rate = \"20 Mbit/s\"\nafter_quota_rate = \"256 kbit/s\"\naccounting_interval = \"2s\"\n",
    );
    let admin = c.token(ADMIN.0, ADMIN.1);
    let mac = v.phone_mac(1);
    assert_eq!(portal_login(&v, 1).code, 303);
    let n = 3 * MIB;
    let full = curl(
        &v.phone(1),
        &[&format!("http://198.51.100.2/bytes/{n}")],
        30.0,
    );
    assert_eq!(full.code, 200, "{full:?}");
    let full_speed = n as f64 / full.secs;
    let devices = || c.bearer("GET", "/api/devices", &admin, &Value::Null).json();
    wait_for("the download counted", 3 * interval, || {
        device(&devices(), &mac)["used_today_bytes"]
            .as_u64()
            .unwrap()
            >= n
    });
    let row = devices();
    let phone = device(&row, &mac);
    assert_eq!(phone["state"], "online", "{phone}");
    assert_eq!(phone["ip"], v.phone_ip(1).to_string());
    assert_eq!(phone["daily_data_bytes"], 1024 * MIB);
    for key in ["online_since", "session_ends_at"] {
        assert!(
            phone[key].as_str().is_some_and(|t| t.ends_with("+08:00")),
            "{key} in the site's zone: {phone}"
        );
    }

    // Lower the site's daily quota below what the phone already used.
    let r = c.bearer("PUT", "/api/quota", &admin, &json!({"daily_data": "2 MiB"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let changed = Instant::now();
    let q = r.json();
    assert_eq!(
        (q["daily_data"].clone(), q["daily_data_bytes"].clone()),
        (json!("2 MiB"), json!(2 * MIB))
    );
    assert_eq!(q["download_rate"], "20 Mbit/s", "other keys untouched: {q}");
    // The next accounting pass (within one interval) throttles it; the bound
    // allows one more interval (a pass that had read the old quota) and a
    // busy machine's slack.
    wait_for(
        "throttled after the quota change",
        2 * interval + Duration::from_secs(2),
        || device(&devices(), &mac)["state"] == "throttled",
    );
    println!(
        "throttled {:?} after the change (interval {interval:?})",
        changed.elapsed()
    );
    let status = curl(&v.phone(1), &[&format!("{PORTAL}/status")], 5.0);
    assert!(
        status.body.contains("lebih pelan"),
        "the phone is told it is slowed: {}",
        status.body
    );
    let m = 256 * 1024;
    let slow = curl(
        &v.phone(1),
        &[&format!("http://198.51.100.2/bytes/{m}")],
        30.0,
    );
    assert_eq!(slow.code, 200);
    let slow_speed = m as f64 / slow.secs;
    assert!(
        slow_speed * 4.0 < full_speed,
        "throttled {slow_speed:.0} B/s vs {full_speed:.0} B/s before"
    );
    println!(
        "full {:.0} kbit/s, throttled {:.0} kbit/s",
        full_speed * 8.0 / 1000.0,
        slow_speed * 8.0 / 1000.0
    );

    // The audit names who changed what, old -> new.
    let audit = c.bearer("GET", "/api/audit", &admin, &Value::Null).json();
    let e = &audit["entries"][0];
    assert_eq!(
        (e["who"].clone(), e["action"].clone(), e["target"].clone()),
        (json!("ani"), json!("quota.set"), json!("site")),
        "{audit}"
    );
    assert_eq!(
        (
            e["old"]["daily_data"].clone(),
            e["new"]["daily_data"].clone()
        ),
        (json!("1 GiB"), json!("2 MiB")),
        "{e}"
    );

    // The admin's quota is kept in the store and wins over the config file after a restart.
    d.restart();
    let c = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let admin = c.token(ADMIN.0, ADMIN.1);
    assert_eq!(
        c.bearer("GET", "/api/quota", &admin, &Value::Null).json()["daily_data"],
        "2 MiB"
    );
}

#[test]
fn block_kick_usage_and_audit() {
    let v = Village::up(&tag_for("admin_api::block_kick_usage_and_audit"), 1);
    let (d, c) = start(&v, "[quota]\ndaily_data = \"1 GiB\"\ndownload_rate = \"100 Mbit/s\"\naccounting_interval = \"1s\"\n");
    let admin = c.token(ADMIN.0, ADMIN.1);
    let mac = v.phone_mac(1);
    let post = |action: &str| {
        c.bearer(
            "POST",
            &format!("/api/devices/{mac}/{action}"),
            &admin,
            &Value::Null,
        )
    };
    assert_eq!(portal_login(&v, 1).code, 303);
    assert!(reaches_upstream(&v, 1));
    let r = curl(
        &v.phone(1),
        &[&format!("http://198.51.100.2/bytes/{}", MIB)],
        30.0,
    );
    assert_eq!(r.code, 200);

    // Block: captive at once, and the portal refuses to log it in.
    let r = post("block");
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (200, json!("blocked")),
        "{}",
        r.text()
    );
    assert!(
        !reaches_upstream(&v, 1),
        "a blocked phone is captive\n{}",
        d.log_tail()
    );
    assert_eq!(
        portal_login(&v, 1).code,
        403,
        "a blocked phone cannot log in"
    );
    assert!(!reaches_upstream(&v, 1));
    // Unblock: it may log in again.
    let r = post("unblock");
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (200, json!("captive")),
        "{}",
        r.text()
    );
    assert_eq!(portal_login(&v, 1).code, 303);
    assert!(reaches_upstream(&v, 1));
    // Kick: captive now, and it may log in again at once.
    let r = post("kick");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()["state"].clone(), r.json()["was_online"].clone()),
        (json!("captive"), json!(true))
    );
    assert!(!reaches_upstream(&v, 1), "a kicked phone is captive");
    assert_eq!(portal_login(&v, 1).code, 303);
    assert!(reaches_upstream(&v, 1));

    // Usage: JSON and CSV say the same; today has the phone's bytes and sessions.
    let usage = || c.bearer("GET", "/api/usage", &admin, &Value::Null).json();
    wait_for("usage counted", Duration::from_secs(5), || {
        usage()["days"].as_array().unwrap().last().unwrap()["bytes_down"]
            .as_u64()
            .unwrap()
            >= MIB
    });
    // The phone's last packets (the closes of `reaches_upstream`'s
    // connections) may still be uncounted: the JSON and the CSV below are
    // two requests, and a pass between them would count those bytes in one
    // and not the other. Two equal reads more than two passes apart mean
    // every byte the phone sent is counted; it sends nothing more.
    let today_bytes = || {
        let json = usage();
        let today = json["days"].as_array().unwrap().last().unwrap().clone();
        (today["bytes_down"].clone(), today["bytes_up"].clone())
    };
    let mut last = today_bytes();
    wait_for("usage settled", Duration::from_secs(20), || {
        std::thread::sleep(Duration::from_millis(2_500));
        let now = today_bytes();
        std::mem::replace(&mut last, now.clone()) == now
    });
    let json = usage();
    let days = json["days"].as_array().unwrap();
    assert_eq!(days.len(), 7, "the last 7 days by default: {json}");
    let today = days.last().unwrap();
    assert_eq!(json["to"], today["day"]);
    assert_eq!(today["devices"], 1, "{today}");
    assert_eq!(
        today["sessions"], 3,
        "login, login after unblock, login after kick: {today}"
    );
    assert!(today["peak_devices"].as_u64().unwrap() >= 1, "{today}");
    assert!(today["bytes_up"].as_u64().unwrap() > 0, "{today}");
    let (from, to) = (
        json["from"].as_str().unwrap().to_string(),
        json["to"].as_str().unwrap().to_string(),
    );
    let q = format!("/api/usage?from={from}&to={to}");
    let auth = format!("Bearer {admin}");
    let csv = c.request(
        "GET",
        &q,
        &[("Authorization", &auth), ("Accept", "text/csv")],
        b"",
    );
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-type")
            .is_some_and(|t| t.starts_with("text/csv")),
        "{csv:?}"
    );
    let again = c.bearer("GET", &q, &admin, &Value::Null).json();
    let text = csv.text();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("day,devices,sessions,bytes_down,bytes_up,peak_devices")
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let from_json: Vec<Vec<String>> = again["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let mut row = vec![d["day"].as_str().unwrap().to_string()];
            row.extend(
                [
                    "devices",
                    "sessions",
                    "bytes_down",
                    "bytes_up",
                    "peak_devices",
                ]
                .iter()
                .map(|k| d[*k].to_string()),
            );
            row
        })
        .collect();
    assert_eq!(rows, from_json, "CSV and JSON agree");
    let one_day = c
        .bearer(
            "GET",
            &format!("/api/usage?from={to}&to={to}"),
            &admin,
            &Value::Null,
        )
        .json();
    assert_eq!(one_day["days"].as_array().unwrap().len(), 1);

    // The audit log: newest first, who, what, old -> new; pages back with `before`.
    let audit = c.bearer("GET", "/api/audit", &admin, &Value::Null).json();
    let entries = audit["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..3],
        ["device.kick", "device.unblock", "device.block"],
        "{audit}"
    );
    for e in &entries[..3] {
        assert_eq!(
            (e["who"].as_str(), e["target"].as_str()),
            (Some("ani"), Some(mac.as_str())),
            "{e}"
        );
        assert!(
            e["at"].as_str().is_some_and(|t| t.ends_with("+08:00")),
            "{e}"
        );
    }
    assert_eq!(
        (entries[2]["old"].clone(), entries[2]["new"].clone()),
        (json!({"blocked": false}), json!({"blocked": true}))
    );
    assert_eq!(
        (entries[1]["old"].clone(), entries[1]["new"].clone()),
        (json!({"blocked": true}), json!({"blocked": false}))
    );
    assert_eq!(
        (entries[0]["old"].clone(), entries[0]["new"].clone()),
        (json!({"online": true}), json!({"online": false}))
    );
    let page = c
        .bearer("GET", "/api/audit?limit=1", &admin, &Value::Null)
        .json();
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    let next = page["next_before"].as_u64().expect("a next page");
    let page2 = c
        .bearer(
            "GET",
            &format!("/api/audit?limit=1&before={next}"),
            &admin,
            &Value::Null,
        )
        .json();
    assert_eq!(page2["entries"][0]["action"], "device.unblock", "{page2}");
}

#[test]
fn repeated_bad_passwords_lock_the_login() {
    let v = Village::up(
        &tag_for("admin_api::repeated_bad_passwords_lock_the_login"),
        1,
    );
    let (_d, c) = start(&v, "");
    let mut failures = 0;
    let locked = loop {
        let r = c.login(ADMIN.0, "not-the-password");
        match r.status {
            401 => failures += 1,
            429 => {
                let wait: u64 = r
                    .header("retry-after")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("429 without Retry-After: {r:?}"));
                // Keep going until the wait is long enough to try the right
                // password inside it even on a busy machine.
                if wait >= 4 {
                    break r;
                }
                std::thread::sleep(Duration::from_secs(wait));
            }
            s => panic!("login answered {s}: {}", r.text()),
        }
        assert!(failures <= 12, "{failures} failures and still no 429");
    };
    assert!(
        failures >= 3,
        "three typos are allowed before slowing down, got {failures}"
    );
    assert!(locked.json()["error"].as_str().is_some(), "{locked:?}");
    // The right password is refused while locked...
    let r = c.login(ADMIN.0, ADMIN.1);
    assert_eq!(
        r.status,
        429,
        "the right password while locked: {}",
        r.text()
    );
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    // ...and works once the wait is over (a lock is per username and per address).
    std::thread::sleep(Duration::from_secs(wait + 1));
    let r = c.login(ADMIN.0, ADMIN.1);
    assert_eq!(r.status, 200, "after the wait: {}", r.text());
}

#[test]
fn junk_on_the_admin_port_does_not_stall_a_good_client() {
    use std::io::{Read, Write};
    let v = Village::up(&tag_for("admin_api::junk_on_the_admin_port"), 1);
    let (_d, c) = start(&v, "");
    let admin = c.token(ADMIN.0, ADMIN.1);
    let addr: SocketAddr = ADMIN_ADDR.parse().unwrap();
    let raw = |bytes: &[u8]| {
        let mut s = common::connect_in(&v.router(), addr, Duration::from_secs(2)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(12))).unwrap();
        let _ = s.write_all(bytes);
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        answer
    };
    // Plain HTTP on the TLS port gets nothing useful: no HTTP answer, closed.
    let answer = raw(b"GET /api/devices HTTP/1.1\r\nHost: 198.51.100.1\r\n\r\n");
    assert!(
        !answer.starts_with(b"HTTP/1.1 2"),
        "plain HTTP got {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        !String::from_utf8_lossy(&answer).contains("devices"),
        "{answer:?}"
    );
    raw(b"\x00\x01garbage\xff\xfe\r\n\r\n");
    // Inside TLS: a malformed request 400, a huge head 431 (or closed), a huge body 413.
    let r = c.request("GET", "/api/quota", &[("Bad Header", "x")], b"");
    assert_eq!(r.status, 400, "{r:?}");
    let big = "a".repeat(20 * 1024);
    if let Ok(r) = c.try_request("GET", "/api/quota", &[("X-Big", &big)], b"") {
        assert_eq!(r.status, 431, "{r:?}");
    }
    // A body over 64 KiB is refused from its Content-Length, before it is read.
    let head = format!("PUT /api/quota HTTP/1.1\r\nHost: {ADMIN_ADDR}\r\nAuthorization: Bearer {admin}\r\nContent-Length: {}\r\n\r\n", 100 * 1024);
    let r = c.exchange(head.as_bytes()).expect("an answer");
    assert_eq!(r.status, 413, "{}", r.text());
    // Silent connections (no TLS hello) held open while a good client works.
    let held: Vec<_> = (0..20)
        .map(|_| common::connect_in(&v.router(), addr, Duration::from_secs(2)).expect("connect"))
        .collect();
    // A TLS client that sends half a request head and waits (until the header timeout).
    let slow_tls = std::thread::spawn({
        let c = c.clone();
        move || {
            c.exchange(
                format!("GET /api/quota HTTP/1.1\r\nHost: {ADMIN_ADDR}\r\nX-Slow: ").as_bytes(),
            )
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let r = c.bearer("GET", "/api/quota", &admin, &Value::Null);
    assert_eq!(
        r.status,
        200,
        "a good client while junk is connected: {}",
        r.text()
    );
    assert_eq!(
        c.bearer("GET", "/api/devices", &admin, &Value::Null).status,
        200
    );
    drop(held);
    // The half-sent head is cut off by the header timeout, with a 408 or a close.
    if let Ok(r) = slow_tls.join().unwrap() {
        assert_eq!(r.status, 408, "{r:?}");
    }
}

/// A plain HTTP server in the router's namespace on `port` (stands in for
/// sshd, a router web UI, ...), stopped on drop.
struct RouterService(Child);

impl RouterService {
    fn start(v: &Village, port: u16) -> RouterService {
        let dir = v.run_dir().join(format!("www-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), format!("router service {port}\n")).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &v.router(),
                "python3",
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "0.0.0.0",
                "--directory",
            ])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 not found: apt-get install python3");
        let s = RouterService(child);
        wait_for(
            &format!("router service on :{port}"),
            Duration::from_secs(10),
            || tcp_accepts(&v.router(), "127.0.0.1", port),
        );
        s
    }
}

impl Drop for RouterService {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn phones_reach_no_router_service_but_dhcp_dns_and_the_portal() {
    let v = Village::up(&tag_for("admin_api::phones_reach_no_router_service"), 1);
    // The admin listener on every address, to show the firewall (not the
    // bind address) keeps the village LAN out.
    let _d = Daemon::start(&v, "[admin]\nlisten = \"0.0.0.0:8443\"\n");
    let _ssh = RouterService::start(&v, 22);
    let _web = RouterService::start(&v, 80);
    let (lan, wan) = ("10.77.0.1", "198.51.100.1");
    // From the management side (the upstream namespace, on the WAN) they all answer.
    for port in [8443, 22, 80] {
        assert!(
            tcp_accepts(&v.upstream(), wan, port),
            "the WAN side reaches :{port}"
        );
    }
    let refused = |what: &str| {
        for addr in [lan, wan] {
            for port in [8443, 22] {
                assert!(
                    !tcp_accepts(&v.phone(1), addr, port),
                    "{what} phone reached {addr}:{port}"
                );
            }
        }
    };
    // A captive phone: the admin port and the others are shut; its port 80
    // is the redirect to the portal, never the router's own web service.
    refused("a captive");
    for addr in [lan, wan] {
        let r = curl(&v.phone(1), &[&format!("http://{addr}/")], 3.0);
        let portal = (r.code == 302
            && r.header("location")
                .is_some_and(|l| l.starts_with("http://10.77.0.1:2050/")))
            || (r.code == 200 && r.body.contains("Sambungkan"));
        assert!(
            portal && !r.body.contains("router service"),
            "captive :80 to {addr} is the portal's: {r:?}"
        );
    }
    assert!(tcp_accepts(&v.phone(1), lan, 2050), "the portal answers");
    assert!(
        common::dig(&v.phone(1), lan, "example.com").is_some(),
        "DNS answers"
    );
    // ...and the portal serves no admin route.
    for path in [
        "/api/devices",
        "/api/quota",
        "/api/session",
        "/api/usage",
        "/metrics",
    ] {
        let r = curl(&v.phone(1), &[&format!("{PORTAL}{path}")], 3.0);
        assert_eq!(r.code, 404, "the portal has no {path}: {r:?}");
    }
    // Online, it still reaches no router service (and :80 is no longer redirected).
    assert_eq!(portal_login(&v, 1).code, 303);
    assert!(reaches_upstream(&v, 1));
    refused("an online");
    for addr in [lan, wan] {
        assert!(
            !tcp_accepts(&v.phone(1), addr, 80),
            "an online phone reached {addr}:80"
        );
    }
    assert!(
        tcp_accepts(&v.phone(1), lan, 2050),
        "the portal still answers"
    );
    assert!(
        common::dig(&v.phone(1), lan, "example.com").is_some(),
        "DNS still answers"
    );
}
