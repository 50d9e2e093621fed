//! `desawifi-regency`, the regency office's console, as an officer meets
//! it: a real Prometheus 2.42 backfilled (promtool) with three villages'
//! last 31 days up to an hour past the wall clock (two reporting, one of
//! them with its internet down; one silent for 26 hours, with quotes and
//! markup in its name), the office started as a process with its own
//! config, store and self-signed certificate, its first account made with
//! `desawifi-regency user add`, and headless Chromium as the officer.
//!
//! Proves: the login page refuses a wrong password and takes the right one;
//! the session cookie is Secure, HttpOnly, SameSite=Strict; the villages
//! page lists the three villages trouble first (the silent one first), in
//! Indonesian and in English; a village's page shows its five charts (also
//! the one with odd characters, its name escaped); nobody without a session
//! gets past the login page; a POST without the CSRF token is a 403; with
//! Prometheus stopped the villages page says so (503, never a 500).
//! Screenshots at 390 and 1280 px: target/test-artifacts/regency-*.png.
//!
//! Samples sit on multiples of 300 s, the `[7d:5m]` subquery's steps, so
//! "last heard from" of a reporting village is never more than 5 min old.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use desawifi_testkit::cdp::{Browser, Tab};
use desawifi_testkit::promstore::{free_port, prometheus, run_fed, temp_dir, tool};
use jiff::tz::TimeZone;

const DAY: i64 = 86_400;
const STEP: i64 = 300;
/// Sumber Sari reports with its internet up, Muara Komam reports with its
/// internet down, Long Kali has been silent for 26 hours.
const VILLAGES: [&str; 3] = ["Sumber Sari", "Muara Komam", r#"Long Kali "Ujung" <b>"#];
const OFFICER: (&str, &str) = ("ani", "rahasia-kantor-1");
const PHONE: (u32, u32) = (390, 844);
const LAPTOP: (u32, u32) = (1280, 900);

/// Every sample: (series, unix seconds, value), grouped by metric name.
fn samples(now: i64, tz: &TimeZone) -> Vec<(String, i64, f64)> {
    let end = (now / STEP) * STEP + 3600;
    let start = end - 32 * DAY;
    let silent_from = now - 26 * 3600;
    let mut out = Vec::new();
    let series = |name: &str, v: usize, extra: &str| {
        let village = VILLAGES[v].replace('\\', "\\\\").replace('"', "\\\"");
        format!(
            r#"{name}{{job="desawifi",instance="gateway",regency="Paser",village="{village}"{extra}}}"#
        )
    };
    let midnight = |t: i64| desawifi::domain::next_midnight(t, tz) - DAY;
    // Bytes per 5 minutes in village v (so a day's total is known).
    let per_step = |v: usize| 1_000_000.0 * (v as f64 + 1.0);
    let metrics: [(&str, &str); 7] = [
        ("up", ""),
        ("desawifi_uplink_up", ""),
        ("desawifi_devices", r#",state="online""#),
        ("desawifi_usage_today_bytes", ""),
        ("desawifi_usage_yesterday_bytes", ""),
        ("desawifi_category_bytes_total", r#",category="pendidikan""#),
        (
            "desawifi_category_bytes_total",
            r#",category="media_sosial""#,
        ),
    ];
    for (m, (name, extra)) in metrics.iter().enumerate() {
        for v in 0..VILLAGES.len() {
            let s = series(name, v, extra);
            let mut t = start;
            while t <= end {
                if v == 2 && t > silent_from {
                    break;
                }
                let steps_today = ((t - midnight(t)) / STEP) as f64;
                let value = match m {
                    0 => 1.0,
                    1 => f64::from(!(v == 1 && t > now - 2 * 3600)),
                    2 => 10.0 + 5.0 * v as f64,
                    3 => per_step(v) * steps_today,
                    4 => per_step(v) * (DAY / STEP) as f64,
                    5 => 0.3 * per_step(v) * ((t - start) / STEP) as f64,
                    _ => 0.7 * per_step(v) * ((t - start) / STEP) as f64,
                };
                out.push((s.clone(), t, value));
                t += STEP;
            }
        }
    }
    out
}

/// The office, killed at the end.
struct Office {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Office {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Office {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn regency(args: &[&str], stdin: &str) -> (bool, String) {
    run_fed(env!("CARGO_BIN_EXE_desawifi-regency"), args, stdin)
}

/// (HTTP status, headers and body) of one request, trusting only the office's own certificate.
fn curl(cert: &Path, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            "-i",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
        ])
        .arg("--cacert")
        .arg(cert)
        .args(args)
        .output()
        .expect("curl (apt-get install curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo, for
/// Chromium's `--ignore-certificate-errors-spki-list`.
fn spki_pin(cert: &Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        cert.display()
    );
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", &script])
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The page fits the screen's width (no sideways scrolling on a phone).
fn fits(tab: &mut Tab, width: u32, what: &str) {
    let w = tab
        .eval("document.documentElement.scrollWidth")
        .as_f64()
        .unwrap();
    assert!(
        w <= f64::from(width),
        "{what}: {w} px wide on a {width} px screen"
    );
}

fn shots(tab: &mut Tab, name: &str) {
    tab.screen(PHONE.0, PHONE.1, true);
    tab.eval("location.reload()");
    tab.b
        .wait_event("Page.loadEventFired", desawifi_testkit::cdp::LOAD_TIMEOUT);
    fits(tab, PHONE.0, name);
    tab.screenshot(&format!("regency-{name}-390.png"));
    tab.screen(LAPTOP.0, LAPTOP.1, false);
    fits(tab, LAPTOP.0, name);
    tab.screenshot(&format!("regency-{name}-1280.png"));
    tab.screen(PHONE.0, PHONE.1, true);
}

/// The village names on the villages page, top to bottom.
fn listed(tab: &mut Tab) -> Vec<String> {
    let v =
        tab.eval("Array.from(document.querySelectorAll('li.village h2')).map(e => e.innerText)");
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_officer_logs_in_and_sees_the_villages_trouble_first() {
    tool("/usr/bin/prometheus", "prometheus");
    tool("/usr/bin/promtool", "prometheus");
    tool("/usr/bin/openssl", "openssl");
    let tz = TimeZone::get("Asia/Makassar").expect("tzdata (apt-get install tzdata)");
    let now = jiff::Timestamp::now().as_second();
    let prom = prometheus(&samples(now, &tz));

    let dir = temp_dir("regency");
    let port = free_port();
    let config = dir.join("regency.toml");
    let store = dir.join("store");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nstore = \"{}\"\nregency = \"Paser\"\ntime_zone = \"Asia/Makassar\"\n[prometheus]\nurl = \"{}\"\n",
            store.display(),
            prom.url
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();

    // A bad config names the key; the first account comes from the CLI, its password on stdin.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("url = \"http", "url = \"ftp"),
    )
    .unwrap();
    let (ok, out) = regency(&["check-config", "-c", bad.to_str().unwrap()], "");
    assert!(!ok && out.contains("bad.toml: prometheus.url: "), "{out}");
    let (ok, out) = regency(
        &[
            "user",
            "add",
            "-c",
            c,
            "--username",
            OFFICER.0,
            "--role",
            "admin",
        ],
        &format!("{}\n", OFFICER.1),
    );
    assert!(ok, "user add: {out}");
    let (ok, out) = regency(
        &[
            "user",
            "add",
            "-c",
            c,
            "--username",
            "budi",
            "--role",
            "viewer",
        ],
        "pendek\n",
    );
    assert!(!ok && out.contains("password too short"), "{out}");

    let log = dir.join("office.log");
    let child = Command::new(env!("CARGO_BIN_EXE_desawifi-regency"))
        .args(["run", "-c", c])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let office = Office {
        child,
        url: format!("https://127.0.0.1:{port}"),
        log,
    };
    let cert = store.join("regency-cert.pem");
    let started = Instant::now();
    loop {
        if cert.exists() && curl(&cert, &[&format!("{}/login", office.url)]).0 == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the office never answered:\n{}",
            office.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // HTTPS only: plain HTTP gets no page.
    let plain = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{port}/login"),
        ])
        .output()
        .unwrap();
    assert!(!plain.status.success(), "plain HTTP answered");

    // Nobody without a session gets past the login page.
    for path in ["/", "/desa/Sumber%20Sari", "/nothing"] {
        let (code, head) = curl(&cert, &[&format!("{}{path}", office.url)]);
        assert_eq!(code, 303, "{path}: {head}");
        assert!(
            head.to_ascii_lowercase().contains("location: /login"),
            "{path}: {head}"
        );
    }
    // A login POST without its form token is refused.
    let (code, _) = curl(
        &cert,
        &[
            "-d",
            &format!("username={}&password={}", OFFICER.0, OFFICER.1),
            &format!("{}/login", office.url),
        ],
    );
    assert_eq!(code, 403);

    let run_dir = temp_dir("regency-chromium");
    let pin = spki_pin(&cert);
    let mut browser = Browser::launch(
        "",
        &run_dir,
        &[format!("--ignore-certificate-errors-spki-list={pin}")],
    );
    let mut tab = Tab::open(&mut browser, true, PHONE.0, PHONE.1, true);
    tab.navigate(&format!("{}/", office.url));
    assert!(tab.url().ends_with("/login"), "{}", tab.url());
    shots(&mut tab, "login");

    // A wrong password is refused, the right one lets the officer in.
    tab.fill("#username", OFFICER.0);
    tab.fill("#password", "salah-sekali-123");
    tab.click_and_wait("form[action='/login'] button[type=submit]");
    assert!(tab.url().ends_with("/login"), "{}", tab.url());
    assert!(
        tab.text().contains("Nama pengguna atau kata sandi salah"),
        "{}",
        tab.text()
    );
    tab.fill("#username", OFFICER.0);
    tab.fill("#password", OFFICER.1);
    tab.click_and_wait("form[action='/login'] button[type=submit]");
    assert_eq!(
        tab.url(),
        format!("{}/", office.url),
        "{}\n{}",
        tab.text(),
        office.log()
    );
    let cookies = tab.cookies(&office.url);
    let (_, session, whole) = cookies
        .iter()
        .find(|(n, _, _)| n == "desawifi_regency")
        .expect("a session cookie");
    assert_eq!(whole["secure"], true, "{whole}");
    assert_eq!(whole["httpOnly"], true, "{whole}");
    assert_eq!(whole["sameSite"], "Strict", "{whole}");
    let session = session.clone();

    // The villages, trouble first: the silent one, the one offline, the rest.
    let text = tab.text();
    assert_eq!(
        listed(&mut tab),
        [VILLAGES[2], VILLAGES[1], VILLAGES[0]],
        "{text}"
    );
    assert!(text.contains("Diam sejak"), "{text}");
    assert!(
        text.contains("Internet mati") && text.contains("Internet menyala"),
        "{text}"
    );
    assert!(text.contains("Masuk sebagai ani"), "{text}");
    // Yesterday's totals are the model's (288 steps of 1 MB and of 2 MB), and
    // pendidikan (free) is 30 % of the categories.
    for want in ["288 MB", "576 MB", "30 %"] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert!(
        !tab.html().contains("<b>\""),
        "the village's markup is escaped"
    );
    assert_eq!(tab.eval("document.scripts.length"), 0);
    shots(&mut tab, "villages");
    tab.navigate(&format!("{}/?lang=en", office.url));
    let text = tab.text();
    assert!(
        text.contains("Villages")
            && text.contains("Silent since")
            && text.contains("Internet down"),
        "{text}"
    );
    shots(&mut tab, "villages-en");
    tab.navigate(&format!("{}/?lang=id", office.url));

    // A village's page: its charts; the odd name is escaped text, and only a label value.
    for (v, name) in [(0, "Sumber Sari"), (2, VILLAGES[2])] {
        tab.navigate(&format!("{}/", office.url));
        let sel = format!("li.village:nth-child({}) h2 a", [3, 2, 1][v]);
        tab.click_and_wait(&sel);
        assert!(tab.url().contains("/desa/"), "{}", tab.url());
        let h1 = tab.eval("document.querySelector('h1').innerText");
        assert_eq!(h1, format!("Desa {name}"));
        assert_eq!(
            tab.eval("document.querySelectorAll('section.chart svg').length"),
            5,
            "{}",
            tab.text()
        );
        assert!(
            !tab.text().contains("Data tidak dapat dibaca"),
            "{}",
            tab.text()
        );
        if v == 0 {
            shots(&mut tab, "village");
        }
    }
    // A path that tries to climb out is only a village nobody heard of.
    let cookie = format!("desawifi_regency={session}");
    let (code, body) = curl(
        &cert,
        &[
            "-b",
            &cookie,
            "--path-as-is",
            &format!("{}/desa/..%2F..%2Fetc%2Fpasswd", office.url),
        ],
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("Desa ../../etc/passwd") && !body.contains("root:"),
        "{body}"
    );

    // A POST without the CSRF token is refused (and the session stays).
    let (code, _) = curl(
        &cert,
        &["-b", &cookie, "-d", "", &format!("{}/logout", office.url)],
    );
    assert_eq!(code, 403);
    let (code, _) = curl(
        &cert,
        &[
            "-b",
            &cookie,
            "-d",
            "csrf=0000",
            &format!("{}/logout", office.url),
        ],
    );
    assert_eq!(code, 403);
    assert_eq!(
        curl(&cert, &["-b", &cookie, &format!("{}/", office.url)]).0,
        200
    );

    // Prometheus stopped: the page says so, never a 500.
    drop(prom);
    let (code, body) = curl(&cert, &["-b", &cookie, &format!("{}/", office.url)]);
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("Data tidak dapat dibaca: Prometheus unreachable"),
        "{body}"
    );
    tab.navigate(&format!("{}/", office.url));
    assert!(
        tab.text().contains("Prometheus unreachable"),
        "{}",
        tab.text()
    );
    shots(&mut tab, "prometheus-down");

    // Logging out ends the session.
    tab.click_and_wait("form[action='/logout'] button[type=submit]");
    assert!(tab.url().ends_with("/login"), "{}", tab.url());
    assert_eq!(
        curl(&cert, &["-b", &cookie, &format!("{}/", office.url)]).0,
        303
    );
    assert!(!office.log().contains("panicked"), "{}", office.log());
    drop(tab);
    drop(browser);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&run_dir);
}
