//! Adding and retiring a village at the regency office, as an officer does
//! it: a real Prometheus 2.42 started with `--web.config.file` (the
//! office's own query account in it, a comment and another key that must
//! stay as they were), the office as a process with `[prometheus]
//! web_config_file` naming that file, headless Chromium as the officers (an
//! admin and a viewer), curl as the village's agent, and a real vmagent
//! pushing with the account the page showed.
//!
//! Proves: "Long Kali Baru" added through the form gets a bcrypt entry in
//! the file (the rest byte for byte); the page shows the env file, the
//! `[fleet]` section, the password and the receiver's CA; Prometheus takes
//! that password at once (no restart: a query 200, a vmagent remote write
//! lands) and refuses a wrong one (401); a name with `<script>` is refused
//! with the reason and nothing is written; a viewer sees no form and gets
//! 403 on the POST; retiring removes the account (the next request with it
//! is 401) and keeps the village in the list as retired; both are in the
//! store's audit log with who did them. Screenshots at 390 and 1280 px:
//! target/test-artifacts/regency-villages-*.png.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use desawifi::domain::AuditAction;
use desawifi_testkit::cdp::{Browser, Tab};
use desawifi_testkit::promstore::{free_port, run_fed, temp_dir, tool, wait_ready};

const ADMIN: (&str, &str) = ("ani", "rahasia-kantor-1");
const VIEWER: (&str, &str) = ("budi", "rahasia-kantor-2");
const QUERY: (&str, &str) = ("office", "kantor-membaca-9");
const PHONE: (u32, u32) = (390, 844);
const LAPTOP: (u32, u32) = (1280, 900);

/// A child killed at the end.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn regency(args: &[&str], stdin: &str) -> (bool, String) {
    run_fed(env!("CARGO_BIN_EXE_desawifi-regency"), args, stdin)
}

/// The HTTP status of one request (and its body).
fn status(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl (apt-get install curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// A query to the receiver with `user:password`.
fn query(prom: &str, user: &str, password: &str, q: &str) -> (u16, String) {
    status(&[
        "-u",
        &format!("{user}:{password}"),
        "--data-urlencode",
        &format!("query={q}"),
        &format!("{prom}/api/v1/query"),
    ])
}

fn spki_pin(cert: &Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        cert.display()
    );
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", &script])
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn shots(tab: &mut Tab, name: &str) {
    for (w, h, mobile) in [(PHONE.0, PHONE.1, true), (LAPTOP.0, LAPTOP.1, false)] {
        tab.screen(w, h, mobile);
        let width = tab
            .eval("document.documentElement.scrollWidth")
            .as_f64()
            .unwrap();
        assert!(width <= f64::from(w), "{name}: {width} px wide on {w} px");
        tab.screenshot(&format!("regency-villages-{name}-{w}.png"));
    }
    tab.screen(PHONE.0, PHONE.1, true);
}

fn log_in(tab: &mut Tab, url: &str, who: (&str, &str)) {
    tab.navigate(&format!("{url}/login"));
    tab.fill("#username", who.0);
    tab.fill("#password", who.1);
    tab.click_and_wait("form[action='/login'] button[type=submit]");
    assert_eq!(tab.url(), format!("{url}/"), "{}", tab.text());
}

#[test]
fn an_admin_adds_and_retires_a_village_and_the_receiver_follows() {
    tool("/usr/bin/prometheus", "prometheus");
    tool("/usr/bin/vmagent", "victoria-metrics");
    tool("/usr/bin/openssl", "openssl");
    let dir = temp_dir("villages");

    // The receiver: Prometheus with a web config file holding the office's account.
    let web = dir.join("regency-web.yml");
    let hash = desawifi::office::receiver::hash(QUERY.1).unwrap();
    let original = format!(
        "# the receiver's accounts (test)\nhttp_server_config:\n  http2: true   # kept as it was\nbasic_auth_users:\n  {}: {hash}\n",
        QUERY.0
    );
    std::fs::write(&web, &original).unwrap();
    std::fs::write(dir.join("prometheus.yml"), "scrape_configs: []\n").unwrap();
    let prom_port = free_port();
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    let mut child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.config.file={}", web.display()))
        .arg("--web.enable-remote-write-receiver")
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(
        &format!(
            "http://{}:{}@127.0.0.1:{prom_port}/-/ready",
            QUERY.0, QUERY.1
        ),
        &mut child,
    );
    let _prom = Proc(child);
    assert_eq!(query(&prom_url, QUERY.0, "wrong", "up").0, 401);

    // The receiver's CA the technician copies (any certificate will do for the page).
    let ca = dir.join("fleet-ca.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=receiver-ca",
        ])
        .arg("-keyout")
        .arg(dir.join("ca.key"))
        .arg("-out")
        .arg(&ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca_pem = std::fs::read_to_string(&ca).unwrap();

    let port = free_port();
    let config = dir.join("regency.toml");
    let store = dir.join("store");
    let push_url = format!("{prom_url}/api/v1/write");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nstore = \"{}\"\nregency = \"Paser\"\n[prometheus]\nurl = \"{prom_url}\"\nusername = \"{}\"\npassword = \"{}\"\nweb_config_file = \"{}\"\npush_url = \"{push_url}\"\npush_ca_file = \"{}\"\npolicy_base_url = \"https://kantor.example.net:8443/kebijakan\"\n",
            store.display(),
            QUERY.0,
            QUERY.1,
            web.display(),
            ca.display()
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    for (who, role) in [(ADMIN, "admin"), (VIEWER, "viewer")] {
        let (ok, out) = regency(
            &["user", "add", "-c", c, "--username", who.0, "--role", role],
            &format!("{}\n", who.1),
        );
        assert!(ok, "user add: {out}");
    }
    let log = dir.join("office.log");
    let office = Proc(
        Command::new(env!("CARGO_BIN_EXE_desawifi-regency"))
            .args(["run", "-c", c])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let office_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let url = format!("https://127.0.0.1:{port}");
    let cert = store.join("regency-cert.pem");
    let started = Instant::now();
    while !(cert.exists()
        && status(&["--cacert", cert.to_str().unwrap(), &format!("{url}/login")]).0 == 200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the office never answered:\n{}",
            office_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let run_dir = temp_dir("villages-chromium");
    let mut browser = Browser::launch(
        "",
        &run_dir,
        &[format!(
            "--ignore-certificate-errors-spki-list={}",
            spki_pin(&cert)
        )],
    );
    let mut tab = Tab::open(&mut browser, true, PHONE.0, PHONE.1, true);
    log_in(&mut tab, &url, ADMIN);

    // From the villages page to the form; a name with markup is refused, nothing written.
    tab.click_and_wait("a[href='/desa-desa']");
    assert!(tab.url().ends_with("/desa-desa"), "{}", tab.url());
    assert!(tab.text().contains("Huruf, angka, spasi"), "{}", tab.text());
    shots(&mut tab, "empty");
    tab.fill("#name", "Desa <script>alert(1)</script>");
    tab.click_and_wait("form[action='/desa-desa'] button[type=submit]");
    let text = tab.text();
    assert!(text.contains("karakter '<' yang tidak diizinkan"), "{text}");
    assert_eq!(tab.eval("document.scripts.length"), 0);
    assert_eq!(std::fs::read_to_string(&web).unwrap(), original);
    shots(&mut tab, "refused");

    // A web config file the office cannot read as lines (valid YAML for
    // Prometheus, but a flow mapping) is refused with its line, never rewritten.
    let flow = format!("basic_auth_users: {{{}: {hash}}}\n", QUERY.0);
    std::fs::write(&web, &flow).unwrap();
    tab.fill("#name", "Long Kali Baru");
    tab.click_and_wait("form[action='/desa-desa'] button[type=submit]");
    let text = tab.text();
    assert!(
        text.contains("Akun kirim tidak dapat ditulis")
            && text.contains("line 1: basic_auth_users is not a block"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&web).unwrap(), flow);
    std::fs::write(&web, &original).unwrap();

    // "Long Kali Baru" through the form: the router's settings, the password once.
    tab.fill("#name", "Long Kali Baru");
    tab.click_and_wait("form[action='/desa-desa'] button[type=submit]");
    let text = tab.text();
    for want in [
        "Pengaturan router desa Long Kali Baru",
        "DW_VILLAGE=\"Long Kali Baru\"",
        "DW_REGENCY=\"Paser\"",
        &format!("DW_FLEET_URL={push_url}"),
        "DW_FLEET_USER=long-kali-baru",
        "policy_url = \"https://kantor.example.net:8443/kebijakan/long-kali-baru.json\"",
        "/etc/desawifi/fleet-agent.password",
        "-----BEGIN CERTIFICATE-----",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    let ca_line = ca_pem.lines().nth(1).unwrap();
    assert!(text.contains(ca_line), "{ca_line}: {text}");
    let password = tab
        .eval("document.querySelectorAll('pre')[2].innerText")
        .as_str()
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(password.len(), 32, "{password}");
    shots(&mut tab, "setup");

    // The file: the bcrypt entry after the others, everything else as it was.
    let now = std::fs::read_to_string(&web).unwrap();
    let entry = now
        .lines()
        .find_map(|l| l.strip_prefix("  long-kali-baru: "))
        .unwrap_or_else(|| panic!("{now}"));
    assert!(
        entry.starts_with("$2b$10$") && !now.contains(&password),
        "{now}"
    );
    assert_eq!(now, format!("{original}  long-kali-baru: {entry}\n"));

    // The receiver takes the shown password at once, refuses a wrong one.
    assert_eq!(query(&prom_url, "long-kali-baru", &password, "up").0, 200);
    assert_eq!(query(&prom_url, "long-kali-baru", "salah", "up").0, 401);

    // A real agent pushes with it, as the env file says (vmagent scraping itself).
    let agent_port = free_port();
    std::fs::write(dir.join("agent.password"), &password).unwrap();
    std::fs::write(
        dir.join("agent.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: agent\n    static_configs:\n      - targets: ['127.0.0.1:{agent_port}']\n"),
    )
    .unwrap();
    let agent = Proc(
        Command::new("vmagent")
            .arg(format!(
                "-promscrape.config={}",
                dir.join("agent.yml").display()
            ))
            .arg(format!("-remoteWrite.url={push_url}"))
            .arg("-remoteWrite.basicAuth.username=long-kali-baru")
            .arg(format!(
                "-remoteWrite.basicAuth.passwordFile={}",
                dir.join("agent.password").display()
            ))
            .arg("-remoteWrite.label=village=Long Kali Baru")
            .arg("-remoteWrite.flushInterval=1s")
            .arg(format!(
                "-remoteWrite.tmpDataPath={}",
                dir.join("agent-data").display()
            ))
            .arg(format!("-httpListenAddr=127.0.0.1:{agent_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    loop {
        let (code, body) = query(
            &prom_url,
            QUERY.0,
            QUERY.1,
            "up{village=\"Long Kali Baru\"}",
        );
        if code == 200 && body.contains("\"village\":\"Long Kali Baru\"") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the agent's push never landed: {code} {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(agent);

    // The list: who added it; adding the same name again is refused.
    tab.navigate(&format!("{url}/desa-desa"));
    let text = tab.text();
    assert!(
        text.contains("long-kali-baru") && text.contains("oleh ani") && text.contains("Aktif"),
        "{text}"
    );
    tab.fill("#name", "long kali  baru");
    tab.click_and_wait("form[action='/desa-desa'] button[type=submit]");
    assert!(tab.text().contains("sudah ada"), "{}", tab.text());
    assert_eq!(std::fs::read_to_string(&web).unwrap(), now);
    shots(&mut tab, "list");

    // A viewer sees no form and no retire button; its POSTs are 403, nothing written.
    tab.click_and_wait("form[action='/logout'] button[type=submit]");
    log_in(&mut tab, &url, VIEWER);
    tab.navigate(&format!("{url}/desa-desa"));
    assert_eq!(
        tab.eval("document.querySelectorAll('form[action^=\"/desa-desa\"]').length"),
        0
    );
    assert!(tab.text().contains("Long Kali Baru"), "{}", tab.text());
    shots(&mut tab, "viewer");
    let csrf = tab
        .eval("document.querySelector('.account input[name=csrf]').value")
        .as_str()
        .unwrap()
        .to_owned();
    let (_, session, _) = tab
        .cookies(&url)
        .into_iter()
        .find(|(n, _, _)| n == "desawifi_regency")
        .expect("a session");
    let cookie = format!("desawifi_regency={session}");
    let cacert = cert.to_str().unwrap();
    for (path, form) in [
        ("/desa-desa", format!("csrf={csrf}&name=Sumber+Baru")),
        (
            "/desa-desa/pensiun",
            format!("csrf={csrf}&slug=long-kali-baru"),
        ),
    ] {
        let (code, body) = status(&[
            "--cacert",
            cacert,
            "-b",
            &cookie,
            "-d",
            &form,
            &format!("{url}{path}"),
        ]);
        assert_eq!(code, 403, "{path}: {body}");
    }
    assert_eq!(std::fs::read_to_string(&web).unwrap(), now);
    // Without a session or a token: 403 too.
    let (code, _) = status(&[
        "--cacert",
        cacert,
        "-d",
        "name=X",
        &format!("{url}/desa-desa"),
    ]);
    assert_eq!(code, 403);

    // The admin retires it: the account leaves the file, the next request with it is 401.
    tab.click_and_wait("form[action='/logout'] button[type=submit]");
    log_in(&mut tab, &url, ADMIN);
    tab.navigate(&format!("{url}/desa-desa"));
    // Not without ticking the box (the server checks it too): 400, nothing written.
    let csrf = tab
        .eval("document.querySelector('.account input[name=csrf]').value")
        .as_str()
        .unwrap()
        .to_owned();
    let (_, session, _) = tab
        .cookies(&url)
        .into_iter()
        .find(|(n, _, _)| n == "desawifi_regency")
        .expect("a session");
    let (code, body) = status(&[
        "--cacert",
        cacert,
        "-b",
        &format!("desawifi_regency={session}"),
        "-d",
        &format!("csrf={csrf}&slug=long-kali-baru"),
        &format!("{url}/desa-desa/pensiun"),
    ]);
    assert!(
        code == 400 && body.contains("Centang dulu"),
        "{code} {body}"
    );
    assert_eq!(std::fs::read_to_string(&web).unwrap(), now);
    tab.eval(
        "document.querySelector('form[action=\"/desa-desa/pensiun\"] input[name=confirm]').click()",
    );
    tab.click_and_wait("form[action='/desa-desa/pensiun'] button[type=submit]");
    assert!(tab.url().ends_with("/desa-desa"), "{}", tab.url());
    let text = tab.text();
    assert!(
        text.contains("Dipensiunkan") && text.contains("riwayatnya tetap"),
        "{text}"
    );
    assert_eq!(
        tab.eval("document.querySelectorAll('form[action=\"/desa-desa/pensiun\"]').length"),
        0
    );
    assert_eq!(std::fs::read_to_string(&web).unwrap(), original);
    assert_eq!(query(&prom_url, "long-kali-baru", &password, "up").0, 401);
    // Its history stays: the pushed series are still there.
    let (code, body) = query(
        &prom_url,
        QUERY.0,
        QUERY.1,
        "count_over_time(up{village=\"Long Kali Baru\"}[1h])",
    );
    assert!(
        code == 200 && body.contains("Long Kali Baru"),
        "{code} {body}"
    );
    tab.navigate(&format!("{url}/desa-desa?lang=en"));
    assert!(
        tab.text().contains("Retired") && tab.text().contains("its history is kept"),
        "{}",
        tab.text()
    );
    shots(&mut tab, "retired-en");
    assert!(!office_log().contains("panicked"), "{}", office_log());

    // The office's store holds both changes in its audit log, with who.
    drop(tab);
    drop(browser);
    drop(office);
    let admin = desawifi::store::AdminStore::open(&store).unwrap();
    let entries: Vec<_> = admin
        .audit_log(None, 10)
        .unwrap()
        .into_iter()
        .map(|(_, e)| (e.action, e.who, e.target))
        .filter(|(a, _, _)| matches!(a, AuditAction::VillageAdd | AuditAction::VillageRetire))
        .collect();
    assert_eq!(
        entries,
        [
            (
                AuditAction::VillageRetire,
                "ani".to_owned(),
                "long-kali-baru".to_owned()
            ),
            (
                AuditAction::VillageAdd,
                "ani".to_owned(),
                "long-kali-baru".to_owned()
            ),
        ]
    );
    drop(admin);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&run_dir);
}
