//! The admin console in a real browser: headless Chromium inside the
//! router's namespace (the admin listener is on the router's WAN address, the
//! management side), trusting exactly the daemon's generated certificate
//! (`--ignore-certificate-errors-spki-list` with the SHA-256 of its public
//! key, computed here with openssl: that one key, not a blanket ignore).
//!
//! An admin logs in, changes the daily quota through the form and sees it
//! saved (the page shows it and `GET /api/quota` agrees), sees a wrong value
//! refused next to its field, blocks and unblocks a phone; forged posts
//! (wrong CSRF token, foreign Origin, a login without its cookie) get 403 and
//! change nothing; a viewer sees no action buttons and gets 403 posting
//! anyway. Screenshots at 360×800 and 1280×800 go to `target/test-artifacts/`.

use desawifi_testkit as common;
use desawifi_testkit::cdp;

use std::path::Path;
use std::process::Command;

use cdp::{Browser, Tab};
use common::{add_user, curl, ns_ok, tag_for, AdminClient, Daemon, Village, ADMIN_ADDR};
use serde_json::{json, Value};

const BASE: &str = "https://198.51.100.1:8443";
const ADMIN: (&str, &str) = ("ani", "rahasia-admin-1");
const VIEWER: (&str, &str) = ("budi", "rahasia-viewer-1");
const PHONE_MAC: &str = "02:77:00:00:00:01";
const PHONE: (u32, u32) = (360, 800);
const LAPTOP: (u32, u32) = (1280, 800);
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo, as
/// Chromium's `--ignore-certificate-errors-spki-list` wants it.
fn spki_pin(cert: &Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        cert.display()
    );
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", &script])
        .output()
        .expect("running openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pin = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(pin.len(), 44, "a base64 SHA-256: {pin:?}");
    pin
}

/// The page fits the screen's width (no sideways scrolling on a phone).
fn fits(tab: &mut Tab, width: u32, what: &str) {
    let w = tab
        .eval("document.documentElement.scrollWidth")
        .as_f64()
        .unwrap();
    assert!(
        w <= f64::from(width),
        "{what} is {w}px wide on a {width}px screen"
    );
}

/// Screenshots of the page as it is, at the phone's and the laptop's size.
fn shoot_both(tab: &mut Tab, name: &str) {
    fits(tab, PHONE.0, name);
    let menu_rows = tab.eval("(() => { const l = [...document.querySelectorAll('nav li')].map(li => li.offsetTop); return new Set(l).size; })()");
    assert!(
        menu_rows == json!(0) || menu_rows == json!(1),
        "{name}: the menu takes {menu_rows} rows on a phone"
    );
    tab.screenshot(&format!("admin-console-{name}-360x800.png"));
    tab.screen(LAPTOP.0, LAPTOP.1, false);
    tab.screenshot(&format!("admin-console-{name}-1280x800.png"));
    tab.screen(PHONE.0, PHONE.1, true);
}

fn cookie(tab: &mut Tab, name: &str) -> Value {
    tab.cookies(BASE)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, _, c)| c)
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

fn assert_strict_cookie(c: &Value) {
    assert_eq!(c["httpOnly"], true, "{c}");
    assert_eq!(c["secure"], true, "{c}");
    assert_eq!(c["sameSite"], "Strict", "{c}");
    assert_eq!(c["path"], "/", "{c}");
}

/// The response headers of the last document the browser loaded from `url`.
fn document_headers(events: &[Value], url: &str) -> Value {
    events
        .iter()
        .rev()
        .filter(|e| {
            e["method"] == "Network.responseReceived" && e["params"]["response"]["url"] == url
        })
        .map(|e| e["params"]["response"]["headers"].clone())
        .next()
        .unwrap_or_else(|| panic!("no response for {url}"))
}

fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

fn input_value(tab: &mut Tab, selector: &str) -> String {
    let sel = serde_json::to_string(selector).unwrap();
    tab.eval(&format!(
        "document.querySelector({sel}) && document.querySelector({sel}).value"
    ))
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

fn log_in(tab: &mut Tab, d: &Daemon, who: (&str, &str)) {
    tab.navigate(&format!("{BASE}/login"));
    tab.fill("#username", who.0);
    tab.fill("#password", who.1);
    tab.click_and_wait("form[action='/login'] button[type=submit]");
    assert_eq!(
        tab.url(),
        format!("{BASE}/"),
        "{} logging in: {}\n{}",
        who.0,
        tab.text(),
        d.log_tail()
    );
}

fn device_state(api: &AdminClient, token: &str) -> String {
    let list = api
        .bearer("GET", "/api/devices", token, &Value::Null)
        .json();
    let dev = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["mac"] == PHONE_MAC)
        .cloned()
        .unwrap_or_else(|| panic!("{PHONE_MAC} in {list}"));
    dev["state"].as_str().unwrap().to_owned()
}

#[test]
fn an_admin_and_a_viewer_in_a_real_browser() {
    let v = Village::up(
        &tag_for("admin_console::an_admin_and_a_viewer_in_a_real_browser"),
        1,
    );
    // Fast caps so the phone's few megabytes below take no time.
    let d = Daemon::start(&v, &format!("[admin]\nlisten = \"{ADMIN_ADDR}\"\n[quota]\ndownload_rate = \"100 Mbit/s\"\nupload_rate = \"100 Mbit/s\"\n"));
    // Usage written at every accounting pass, so the usage report (chart, top
    // devices) has the traffic below at once ([store] is in the base config).
    let mut d = d;
    let config = std::fs::read_to_string(d.config_path()).unwrap().replacen(
        "[store]\n",
        "[store]\nwrite_interval = \"0s\"\n",
        1,
    );
    std::fs::write(d.config_path(), config).unwrap();
    d.restart();
    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    add_user(&d, VIEWER.0, "viewer", VIEWER.1);
    let api = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let token = api.token(ADMIN.0, ADMIN.1);
    // A phone online, so the overview and the device list have someone.
    let r = curl(
        &v.phone(1),
        &[
            "-X",
            "POST",
            "--data",
            "lang=id",
            "http://10.77.0.1:2050/login",
        ],
        5.0,
    );
    assert_eq!(r.code, 303, "phone login: {r:?}");
    // Some traffic for today's numbers, the chart and the top devices: 3 MB down, 1 MB up.
    let r = curl(&v.phone(1), &["http://198.51.100.2/bytes/3000000"], 20.0);
    assert_eq!(
        (r.code, r.body.len()),
        (200, 3_000_000),
        "download: {}",
        r.stderr
    );
    ns_ok(&v.phone(1), &["bash", "-c", "head -c 1000000 /dev/zero | curl -sS --noproxy '*' --max-time 20 --data-binary @- http://198.51.100.2/up"]);
    let t = std::time::Instant::now();
    let usage = |api: &AdminClient| {
        api.request(
            "GET",
            "/api/usage",
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        )
        .json()
    };
    while usage(&api)["days"]
        .as_array()
        .and_then(|d| d.last())
        .and_then(|d| d["bytes_down"].as_u64())
        .unwrap_or(0)
        < 3_000_000
    {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "no accounting pass counted the traffic:\n{}",
            d.log_tail()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let pin = spki_pin(&d.store_dir().join("admin-cert.pem"));
    let mut browser = Browser::launch(
        &v.router(),
        &v.run_dir(),
        &[format!("--ignore-certificate-errors-spki-list={pin}")],
    );
    let mut tab = Tab::open(&mut browser, true, PHONE.0, PHONE.1, true);

    // Nobody logged in: the console sends the browser to the login form,
    // which sets its double-submit cookie.
    tab.navigate(&format!("{BASE}/"));
    assert_eq!(tab.url(), format!("{BASE}/login"), "{}", d.log_tail());
    let text = tab.text();
    assert!(
        text.contains("Nama pengguna") && text.contains("Kata sandi") && text.contains("Masuk"),
        "{text}"
    );
    assert_strict_cookie(&cookie(&mut tab, "desawifi_login_csrf"));
    shoot_both(&mut tab, "login");

    // Log in: the session cookie, a 303 to the overview.
    tab.fill("#username", ADMIN.0);
    tab.fill("#password", ADMIN.1);
    let events = tab.click_and_wait("form[action='/login'] button[type=submit]");
    let seen: Vec<String> = events
        .iter()
        .filter(|e| {
            e["method"] == "Network.responseReceived" || e["method"] == "Network.requestWillBeSent"
        })
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["method"],
                e["params"]["request"]["method"],
                e["params"]["request"]["url"],
                e["params"]["response"]["status"]
            )
        })
        .collect();
    assert_eq!(
        tab.url(),
        format!("{BASE}/"),
        "after logging in: {}\n{seen:#?}\n{}",
        tab.text(),
        d.log_tail()
    );
    let csp = header(
        &document_headers(&events, &format!("{BASE}/")),
        "content-security-policy",
    )
    .unwrap_or_default()
    .to_owned();
    assert_eq!(csp, "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'");
    let session = cookie(&mut tab, "desawifi_admin");
    assert_strict_cookie(&session);
    let session = session["value"].as_str().unwrap().to_owned();
    let text = tab.text();
    assert!(
        text.contains("Perangkat tersambung sekarang")
            && text.contains("Pemakaian 7 hari terakhir")
            && text.contains("Tersambung"),
        "{text}"
    );
    assert_eq!(
        tab.eval("document.querySelector('#online-now').textContent"),
        json!("1"),
        "{text}"
    );
    assert_eq!(
        tab.eval("document.querySelectorAll('svg.chart g > title').length"),
        json!(7),
        "one titled bar per day"
    );
    let today = tab
        .eval("document.querySelector('svg.chart g:last-of-type > title').textContent")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        today.contains("unduh ") && !today.contains("unduh 0 B") && !today.contains("unggah 0 B"),
        "today's bar: {today:?}"
    );
    assert!(tab
        .eval("document.querySelector('#top-devices').textContent")
        .as_str()
        .unwrap_or_default()
        .contains(PHONE_MAC));
    assert_eq!(
        tab.eval("getComputedStyle(document.querySelector('main')).maxWidth"),
        json!("1152px"),
        "console.css loaded under the CSP"
    );
    shoot_both(&mut tab, "dashboard");

    // The quota form: the daily quota from 500 MiB to 1 GiB.
    tab.navigate(&format!("{BASE}/quota"));
    assert_eq!(input_value(&mut tab, "#daily_data"), "500 MiB");
    assert_eq!(input_value(&mut tab, "#session_time"), "4h");
    assert_eq!(input_value(&mut tab, "#download_rate"), "100 Mbit/s");
    tab.fill("#daily_data", "1 GiB");
    tab.click_and_wait("form[action='/quota'] button[type=submit]");
    assert_eq!(tab.url(), format!("{BASE}/quota?saved=1"), "{}", tab.text());
    assert!(tab.text().contains("Tersimpan"), "{}", tab.text());
    assert_eq!(input_value(&mut tab, "#daily_data"), "1 GiB");
    let q = api.bearer("GET", "/api/quota", &token, &Value::Null).json();
    assert_eq!(
        (q["daily_data"].as_str(), q["daily_data_bytes"].as_u64()),
        (Some("1 GiB"), Some(1 << 30)),
        "{q}"
    );
    shoot_both(&mut tab, "quota-saved");

    // Wrong values: each refused next to its field, nothing saved.
    tab.fill("#daily_data", "banyak");
    tab.fill("#session_time", "lama");
    tab.fill("#idle_timeout", "15m");
    tab.click_and_wait("form[action='/quota'] button[type=submit]");
    assert_eq!(tab.url(), format!("{BASE}/quota"));
    let text = tab.text();
    assert!(text.contains("Belum tersimpan"), "{text}");
    for field in ["daily_data", "session_time"] {
        let err = tab.eval(&format!("document.querySelector('#{field}-error') && document.querySelector('#{field}-error').previousElementSibling.previousElementSibling.id"));
        assert_eq!(err, json!(field), "the error sits under its field:\n{text}");
    }
    assert_eq!(
        tab.eval("document.querySelector('#idle_timeout-error')"),
        Value::Null
    );
    assert_eq!(
        input_value(&mut tab, "#daily_data"),
        "banyak",
        "what was typed stays"
    );
    let q = api.bearer("GET", "/api/quota", &token, &Value::Null).json();
    assert_eq!(
        (
            q["daily_data"].as_str(),
            q["session_time"].as_str(),
            q["idle_timeout"].as_str()
        ),
        (Some("1 GiB"), Some("4h"), Some("30m")),
        "nothing saved: {q}"
    );
    tab.screenshot("admin-console-quota-errors-360x800.png");

    // Forged posts with the real session cookie: a wrong token, or the right
    // token from a foreign origin, get 403 and change nothing.
    let csrf = tab
        .eval("document.querySelector('input[name=csrf]').value")
        .as_str()
        .unwrap()
        .to_owned();
    let jar = format!("desawifi_admin={session}");
    let r = api.request(
        "POST",
        "/quota",
        &[("Cookie", &jar), FORM],
        b"csrf=0123&daily_data=2+GiB",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = api.request(
        "POST",
        "/quota",
        &[("Cookie", &jar), FORM],
        b"daily_data=2+GiB",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = api.request(
        "POST",
        "/quota",
        &[("Cookie", &jar), FORM, ("Origin", "https://evil.example")],
        format!("csrf={csrf}&daily_data=2+GiB").as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = api.request(
        "POST",
        &format!("/devices/{PHONE_MAC}/block"),
        &[("Cookie", &jar), FORM],
        b"csrf=nope",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        api.bearer("GET", "/api/quota", &token, &Value::Null).json()["daily_data"],
        "1 GiB"
    );
    assert_eq!(device_state(&api, &token), "online");
    // The same post with the page's token is what the form does: it works.
    let r = api.request(
        "POST",
        "/quota",
        &[("Cookie", &jar), FORM, ("Origin", BASE)],
        format!("csrf={csrf}&daily_data=1+GiB&idle_timeout=30m").as_bytes(),
    );
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/quota?saved=1")),
        "{}",
        r.text()
    );
    // A login posted from elsewhere (no double-submit cookie) logs nobody in.
    let r = api.request(
        "POST",
        "/login",
        &[FORM],
        format!(
            "csrf={}&username={}&password={}",
            "ab".repeat(32),
            ADMIN.0,
            ADMIN.1
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        !r.headers.iter().any(|(k, v)| k == "set-cookie"
            && v.starts_with("desawifi_admin=")
            && !v.starts_with("desawifi_admin=;")),
        "{r:?}"
    );

    // Devices: the admin blocks and unblocks the phone with the card's buttons.
    tab.navigate(&format!("{BASE}/devices"));
    let html = tab.html();
    for action in ["block", "kick", "quota"] {
        assert!(
            html.contains(&format!("action=\"/devices/{PHONE_MAC}/{action}\"")),
            "{action} button:\n{html}"
        );
    }
    shoot_both(&mut tab, "devices-admin");
    tab.click_and_wait(&format!("form[action='/devices/{PHONE_MAC}/block'] button"));
    assert!(tab.url().contains("done=block"), "{}", tab.url());
    assert!(
        tab.text()
            .contains(&format!("Perangkat {PHONE_MAC} diblokir.")),
        "{}",
        tab.text()
    );
    assert_eq!(device_state(&api, &token), "blocked");
    tab.click_and_wait(&format!(
        "form[action='/devices/{PHONE_MAC}/unblock'] button"
    ));
    assert_eq!(
        device_state(&api, &token),
        "captive",
        "unblocked, and still logged out by the block"
    );
    // Its own quota, from the card's fold-out form; then back to the village's.
    tab.eval("document.querySelector('details.override').open = true");
    tab.fill("#d-027700000001-daily_data", "2 GiB");
    tab.click_and_wait(&format!("form[action='/devices/{PHONE_MAC}/quota'] button"));
    assert!(
        tab.url().contains("done=override"),
        "{}: {}",
        tab.url(),
        tab.text()
    );
    assert!(tab.text().contains("2 GiB (khusus)"), "{}", tab.text());
    let own = api
        .bearer(
            "GET",
            &format!("/api/devices/{PHONE_MAC}/quota"),
            &token,
            &Value::Null,
        )
        .json();
    assert_eq!(own["override"]["daily_data_bytes"], 2u64 << 30, "{own}");
    tab.screenshot("admin-console-devices-override-360x800.png");
    tab.eval("document.querySelector('details.override').open = true");
    tab.click_and_wait(&format!(
        "form[action='/devices/{PHONE_MAC}/quota/clear'] button"
    ));
    let own = api
        .bearer(
            "GET",
            &format!("/api/devices/{PHONE_MAC}/quota"),
            &token,
            &Value::Null,
        )
        .json();
    assert_eq!(own["override"]["daily_data_bytes"], Value::Null, "{own}");
    assert_eq!(
        own["effective"]["daily_data_bytes"],
        1u64 << 30,
        "the village's quota again: {own}"
    );

    // English, remembered from page to page; then back to Indonesian.
    tab.click_and_wait("footer.switch a");
    tab.navigate(&format!("{BASE}/"));
    assert!(tab.text().contains("Devices online now"), "{}", tab.text());
    assert_eq!(tab.eval("document.documentElement.lang"), json!("en"));
    tab.screenshot("admin-console-dashboard-en-360x800.png");
    tab.navigate(&format!("{BASE}/?lang=id"));
    assert!(tab.text().contains("Perangkat tersambung sekarang"));

    // The audit log: every change above, newest first.
    tab.navigate(&format!("{BASE}/audit"));
    let text = tab.text();
    for what in [
        "device.quota.clear",
        "device.quota.set",
        "device.unblock",
        "device.block",
        "quota.set",
        ADMIN.0,
    ] {
        assert!(text.contains(what), "{what} in the audit log:\n{text}");
    }
    assert!(
        text.find("device.quota.clear") < text.find("device.unblock")
            && text.find("device.unblock") < text.find("device.block"),
        "newest first:\n{text}"
    );
    tab.screenshot("admin-console-audit-360x800.png");

    // Log out: back to the login form; the old cookie opens nothing.
    tab.click_and_wait("form[action='/logout'] button");
    assert_eq!(tab.url(), format!("{BASE}/login"));
    let r = api.request("GET", "/", &[("Cookie", &jar)], b"");
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    drop(tab);

    // A viewer, in a browser context of its own: reads everything, no buttons.
    let mut tab = Tab::open(&mut browser, true, PHONE.0, PHONE.1, true);
    log_in(&mut tab, &d, VIEWER);
    tab.navigate(&format!("{BASE}/devices"));
    let html = tab.html();
    assert!(html.contains(PHONE_MAC), "{html}");
    assert!(
        !html.contains("action=\"/devices/"),
        "a viewer sees no action buttons:\n{html}"
    );
    assert_eq!(
        tab.eval("document.querySelectorAll('form').length"),
        json!(1),
        "only the log-out form"
    );
    shoot_both(&mut tab, "devices-viewer");
    tab.navigate(&format!("{BASE}/quota"));
    assert_eq!(
        tab.eval("document.querySelector('fieldset').disabled"),
        json!(true)
    );
    assert_eq!(
        tab.eval("document.querySelectorAll('form[action=\"/quota\"] button').length"),
        json!(0)
    );
    assert!(tab.text().contains("pemantau"), "{}", tab.text());
    // Posting anyway, with the viewer's own valid token: 403, nothing changed.
    let csrf = tab
        .eval("document.querySelector('input[name=csrf]').value")
        .as_str()
        .unwrap()
        .to_owned();
    let jar = format!(
        "desawifi_admin={}",
        cookie(&mut tab, "desawifi_admin")["value"]
            .as_str()
            .unwrap()
    );
    let r = api.request(
        "POST",
        &format!("/devices/{PHONE_MAC}/block"),
        &[("Cookie", &jar), FORM, ("Origin", BASE)],
        format!("csrf={csrf}").as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = api.request(
        "POST",
        "/quota",
        &[("Cookie", &jar), FORM, ("Origin", BASE)],
        format!("csrf={csrf}&daily_data=2+GiB").as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(device_state(&api, &token), "captive");
    assert_eq!(
        api.bearer("GET", "/api/quota", &token, &Value::Null).json()["daily_data"],
        "1 GiB"
    );
    drop(tab);

    // Wrong passwords: told plainly, then made to wait (last: this address
    // now waits too).
    let mut tab = Tab::open(&mut browser, true, PHONE.0, PHONE.1, true);
    let mut last = (String::new(), Value::Null);
    // (Seconds: the pause after the 3rd failure is 1 s, then 2 s, then 4 s.)
    for _ in 0..7 {
        tab.navigate(&format!("{BASE}/login"));
        tab.fill("#username", "candra");
        tab.fill("#password", "bukan-sandinya");
        let events = tab.click_and_wait("form[action='/login'] button[type=submit]");
        let status = events
            .iter()
            .rev()
            .find(|e| {
                e["method"] == "Network.responseReceived"
                    && e["params"]["response"]["url"] == format!("{BASE}/login")
            })
            .map(|e| e["params"]["response"]["status"].clone());
        last = (tab.text(), status.unwrap_or(Value::Null));
        if last.1 == json!(429) {
            break;
        }
        assert!(
            last.0.contains("Nama pengguna atau kata sandi salah."),
            "{}",
            last.0
        );
        assert_eq!(last.1, json!(401));
        assert_eq!(
            input_value(&mut tab, "#username"),
            "candra",
            "the name stays typed"
        );
    }
    assert_eq!(
        last.1,
        json!(429),
        "after a few failures the next try waits: {}",
        last.0
    );
    assert!(
        last.0.contains("Terlalu banyak percobaan gagal. Tunggu"),
        "{}",
        last.0
    );
    tab.screenshot("admin-console-login-wait-360x800.png");
}
