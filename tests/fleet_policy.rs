//! Issue 14, the policy half: a village gateway pulls its regency's signed
//! policy from a real nginx over HTTPS (a test CA, `fleet.example.net` in
//! the upstream's DNS, reached over the router's WAN only), applies it
//! through the admin's audited path and keeps it through a restart with the
//! server gone. Every refusal the issue lists is served for real and must
//! leave the policy in force: an attacker's certificate on the path, a byte
//! changed after signing, an old version served again, an expired one.

use desawifi_testkit as common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{
    add_user, curl, portal_login, tag_for, AdminClient, AdminResponse, Daemon, Village, ADMIN_ADDR,
};
use serde_json::Value;

const PORTAL: &str = "http://10.77.0.1:2050";
const ADMIN: (&str, &str) = ("ani", "rahasia-admin-1");
const MIB: u64 = 1024 * 1024;
/// `[fleet] poll_interval` here.
const POLL: Duration = Duration::from_secs(2);
/// "Within one poll": the poll, a fetch and an apply, with room for a busy CI box.
const WITHIN_A_POLL: Duration = Duration::from_secs(15);
const NGINX_EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/fleet/nginx-policy.conf"
);
const BIN: &str = env!("CARGO_BIN_EXE_desawifi");

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/install-deps.sh installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

/// `policy.toml.sig` in `doc_dir` as openssl writes it: the bare 64-byte
/// ed25519 signature of `policy.toml` under `key` (no key line).
fn openssl_sign(dir: &Path, key: &Path, doc_dir: &Path) {
    let doc = doc_dir.join("policy.toml");
    let sig = doc_dir.join("policy.toml.sig");
    openssl(
        dir,
        &[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-inkey",
            key.to_str().unwrap(),
            "-in",
            doc.to_str().unwrap(),
            "-out",
            sig.to_str().unwrap(),
        ],
    );
}

/// The regency's side of a test: the office's namespace (up), a fresh
/// scratch dir in the village's run dir with a CA and server certificate for
/// each of `cas` (`regency` is the one the village trusts), a policy key pair
/// made by `desawifi policy keygen`, and the village's `[fleet]` section
/// (poll every 2 s): (namespace, dir, private key, `[fleet]` TOML).
fn office(v: &Village, cas: &[&str]) -> (String, PathBuf, PathBuf, String) {
    let regency = v.regency_up();
    let dir = v.run_dir().join("regency");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for ca in cas {
        make_ca_and_server(&dir, ca);
    }
    let keys = dir.join("keys");
    let out = run(Command::new(BIN)
        .args(["policy", "keygen", "--out"])
        .arg(&keys));
    assert!(out.contains("policy.pub"), "{out}");
    let public = std::fs::read_to_string(keys.join("policy.pub")).unwrap();
    let fleet = format!(
        "[fleet]\npolicy_url = \"https://fleet.example.net/policy/policy.toml\"\npolicy_public_key = \"{}\"\nca_file = \"{}\"\npoll_interval = \"2s\"\n",
        public.trim(),
        dir.join("regency-ca.pem").display()
    );
    (regency, dir, keys.join("policy.key"), fleet)
}

/// A CA (`NAME-ca.pem`) and a server certificate for fleet.example.net it
/// signed (`NAME.pem`, `NAME.key`), P-256.
fn make_ca_and_server(dir: &Path, name: &str) {
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let ext = format!("{name}.ext");
    std::fs::write(dir.join(&ext), "subjectAltName=DNS:fleet.example.net\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n").unwrap();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            "/CN=fleet.example.net",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

/// nginx in the regency namespace: config/fleet/nginx-policy.conf with its
/// paths pointed into `dir`, serving `dir/www` with the certificate `cert`.
struct Nginx(Option<Child>);

impl Nginx {
    fn start(regency: &str, dir: &Path, cert: &str) -> Nginx {
        let example = std::fs::read_to_string(NGINX_EXAMPLE).unwrap();
        let d = dir.to_str().unwrap();
        let server = example
            .replace("listen 443 ssl;", "listen 198.18.0.10:443 ssl;")
            .replace(
                "/etc/ssl/regency/fleet.example.net.pem",
                &format!("{d}/{cert}.pem"),
            )
            .replace(
                "/etc/ssl/regency/fleet.example.net.key",
                &format!("{d}/{cert}.key"),
            )
            .replace("/srv/regency/policy/", &format!("{d}/www/"));
        assert_ne!(server, example);
        std::fs::write(dir.join("server.conf"), server).unwrap();
        let temp = dir.join("nginx-temp");
        std::fs::create_dir_all(&temp).unwrap();
        let t = temp.to_str().unwrap();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log info;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n  access_log {d}/nginx-access.log;\n  client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n  fastcgi_temp_path {t}/fastcgi;\n  uwsgi_temp_path {t}/uwsgi;\n  scgi_temp_path {t}/scgi;\n  include {d}/server.conf;\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", regency, "nginx", "-p", d, "-c"])
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx not found: apt-get install nginx-light (scripts/install-deps.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !common::tcp_accepts(regency, "198.18.0.10", 443) {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen within 10 s: {}",
                std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default()
            );
            sleep(Duration::from_millis(50));
        }
        Nginx(Some(child))
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Write `policy.toml` (+ its `.sig` made by `desawifi policy sign`) under `dir/NAME/`.
fn signed(dir: &Path, name: &str, key: &Path, text: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let doc = d.join("policy.toml");
    std::fs::write(&doc, text).unwrap();
    run(Command::new(BIN)
        .args(["policy", "sign", "--key"])
        .arg(key)
        .arg(&doc));
    d
}

/// Serve the pair in `from` (signature first: see nginx-policy.conf). A poll
/// between the two renames sees a mismatched pair and counts a refusal, so
/// the steps below wait for a count to grow past its value before the step.
fn serve(dir: &Path, from: &Path) {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    // Each file whole (write, then rename), so nginx never serves half of one.
    for name in ["policy.toml.sig", "policy.toml"] {
        std::fs::copy(from.join(name), www.join(".incoming")).unwrap();
        std::fs::rename(www.join(".incoming"), www.join(name)).unwrap();
    }
}

fn policy_doc(version: u64, expires: &str, daily: &str) -> String {
    format!("# Kabupaten Uji, fair use for every village\nversion = {version}\nexpires = \"{expires}\"\n\n[quota]\ndaily_data = \"{daily}\"\n")
}

/// Poll `f` until it gives `Some`, failing after `within` with `what` and the daemon's log.
fn wait_for<T>(d: &Daemon, within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not within {within:?}:\n{}",
            d.log_tail()
        );
        sleep(Duration::from_millis(200));
    }
}

fn sample(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{metrics}"))
}

fn captive_remaining(v: &Village) -> u64 {
    let r = curl(&v.phone(1), &[&format!("{PORTAL}/api/captive")], 5.0);
    assert_eq!(r.code, 200, "{r:?}");
    let j: Value = serde_json::from_str(&r.body).unwrap();
    j["bytes-remaining"]
        .as_u64()
        .unwrap_or_else(|| panic!("no bytes-remaining: {j}"))
}

/// The village's admin over HTTPS, logged in: what both tests read.
struct Admin {
    c: AdminClient,
    token: String,
}

impl Admin {
    /// Logs in to `d`'s admin listener from the upstream namespace.
    fn new(d: &Daemon, v: &Village) -> Admin {
        let c = AdminClient::new(d, &v.upstream(), ADMIN_ADDR);
        let token = c.token(ADMIN.0, ADMIN.1);
        Admin { c, token }
    }

    /// `GET path`, which must answer 200.
    fn get(&self, path: &str) -> AdminResponse {
        let r = self.c.bearer("GET", path, &self.token, &Value::Null);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r
    }

    fn status(&self) -> Value {
        self.get("/api/policy").json()
    }

    fn metrics(&self) -> String {
        self.get("/metrics").text()
    }

    /// Polls refused for `reason` so far.
    fn refused(&self, reason: &str) -> u64 {
        sample(
            &self.metrics(),
            &format!("desawifi_policy_errors_total{{reason=\"{reason}\"}}"),
        )
    }

    fn version(&self) -> u64 {
        sample(&self.metrics(), "desawifi_policy_version")
    }
}

#[test]
fn a_village_follows_its_regencys_signed_policy_and_refuses_the_rest() {
    let v = Village::up(&tag_for("fleet_policy::follows_the_regency"), 1);
    let (regency, dir, key, fleet) = office(&v, &["regency", "attacker"]);

    let v1 = signed(
        &dir,
        "v1",
        &key,
        &policy_doc(1, "2099-01-01T00:00:00+08:00", "300 MiB"),
    );
    serve(&dir, &v1);

    // Someone on the path with a certificate for the right name from a CA the
    // village does not trust: refused (tls), nothing applied.
    let mut nginx = Nginx::start(&regency, &dir, "attacker");
    let mut d = Daemon::start(
        &v,
        &format!(
            "write_interval = \"0s\"\n[admin]\nlisten = \"{ADMIN_ADDR}\"\n[quota]\naccounting_interval = \"1s\"\ndaily_data = \"500 MiB\"\n\
             {fleet}"
        ),
    );
    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    let a = Admin::new(&d, &v);
    wait_for(
        &d,
        WITHIN_A_POLL,
        "the attacker's certificate refused",
        || (a.refused("tls") >= 1).then_some(()),
    );
    let s = a.status();
    assert_eq!(s["version"], Value::Null, "{s}");
    assert_eq!(s["refusal"]["reason"], "tls", "{s}");
    assert_eq!(a.version(), 0);
    assert_eq!(a.get("/api/quota").json()["daily_data"], "500 MiB");
    nginx.stop();

    // v1 from the real server: applied within one poll, audited as "policy v1".
    let mut nginx = Nginx::start(&regency, &dir, "regency");
    let started = Instant::now();
    wait_for(&d, WITHIN_A_POLL, "v1 applied", || {
        (a.version() == 1).then_some(())
    });
    eprintln!(
        "v1 applied {:?} after the server came up (poll every {POLL:?})",
        started.elapsed()
    );
    assert_eq!(a.get("/api/quota").json()["daily_data"], "300 MiB");
    let audit = a.get("/api/audit").text();
    assert!(
        audit.contains("\"policy v1\"")
            && audit.contains("policy.apply")
            && audit.contains("quota.set"),
        "{audit}"
    );
    let s = a.status();
    assert_eq!(
        (s["version"].as_u64(), s["settings"][0]["source"].as_str()),
        (Some(1), Some("regency")),
        "{s}"
    );
    assert!(s["fetched_at"].is_string(), "{s}");

    // A phone online under v1; v2 lowers the daily quota and its bytes-remaining follows.
    let login = portal_login(&v, 1);
    assert!(matches!(login.code, 200 | 303), "{login:?}");
    let before = captive_remaining(&v);
    assert!(before <= 300 * MIB && before > 250 * MIB, "{before}");
    let v2 = signed(
        &dir,
        "v2",
        &key,
        &policy_doc(2, "2099-01-01T00:00:00+08:00", "100 MiB"),
    );
    serve(&dir, &v2);
    wait_for(&d, WITHIN_A_POLL, "v2 applied", || {
        (a.version() == 2).then_some(())
    });
    let after = wait_for(
        &d,
        Duration::from_secs(10),
        "bytes-remaining following v2",
        || {
            let r = captive_remaining(&v);
            (r <= 100 * MIB).then_some(r)
        },
    );
    assert!(after > 50 * MIB, "{after}");
    assert_eq!(a.get("/api/quota").json()["daily_data"], "100 MiB");

    // v3 with one byte changed after signing: refused, v2 stays.
    let v3 = signed(
        &dir,
        "v3",
        &key,
        &policy_doc(3, "2099-01-01T00:00:00+08:00", "50 MiB"),
    );
    let doc = std::fs::read_to_string(v3.join("policy.toml")).unwrap();
    std::fs::write(v3.join("policy.toml"), doc.replace("50 MiB", "90 MiB")).unwrap();
    let before = a.refused("bad_signature");
    serve(&dir, &v3);
    wait_for(&d, WITHIN_A_POLL, "the tampered v3 refused", || {
        (a.refused("bad_signature") > before).then_some(())
    });
    assert_eq!(a.version(), 2);
    assert_eq!(a.get("/api/quota").json()["daily_data"], "100 MiB");
    assert_eq!(a.status()["refusal"]["reason"], "bad_signature");

    // v1 served again (its genuine signature): a replay, refused; v2 stays.
    let before = a.refused("replay");
    serve(&dir, &v1);
    wait_for(&d, WITHIN_A_POLL, "the replayed v1 refused", || {
        (a.refused("replay") > before).then_some(())
    });
    assert_eq!(a.version(), 2);
    assert_eq!(a.get("/api/quota").json()["daily_data"], "100 MiB");

    // The server gone and the daemon restarted: v2 is still in force.
    nginx.stop();
    d.restart();
    let a = Admin::new(&d, &v);
    assert_eq!(a.version(), 2);
    wait_for(&d, WITHIN_A_POLL, "the unreachable server counted", || {
        (a.refused("fetch") >= 1).then_some(())
    });
    assert_eq!(a.version(), 2);
    assert_eq!(a.get("/api/quota").json()["daily_data"], "100 MiB");
    assert_eq!(a.get("/api/policy").json()["version"], 2);
    assert!(captive_remaining(&v) <= 100 * MIB);

    // An expired v4 (signed anyway; `policy sign` warns): refused, v2 stays.
    let v4 = signed(
        &dir,
        "v4",
        &key,
        &policy_doc(4, "2020-01-01T00:00:00+08:00", "10 MiB"),
    );
    let before = a.refused("expired");
    serve(&dir, &v4);
    let _nginx = Nginx::start(&regency, &dir, "regency");
    wait_for(&d, WITHIN_A_POLL, "the expired v4 refused", || {
        (a.refused("expired") > before).then_some(())
    });
    assert_eq!(a.version(), 2);
    assert_eq!(a.get("/api/quota").json()["daily_data"], "100 MiB");

    // Signed by a key this village does not trust: refused (unknown_key).
    let stranger = dir.join("stranger");
    run(Command::new(BIN)
        .args(["policy", "keygen", "--out"])
        .arg(&stranger));
    let v6 = signed(
        &dir,
        "v6-stranger",
        &stranger.join("policy.key"),
        &policy_doc(6, "2099-01-01T00:00:00+08:00", "10 MiB"),
    );
    let before = a.refused("unknown_key");
    serve(&dir, &v6);
    wait_for(&d, WITHIN_A_POLL, "the stranger's v6 refused", || {
        (a.refused("unknown_key") > before).then_some(())
    });
    // Signed, but a value this village's validator rejects (a category it
    // does not have): refused (invalid) before anything changes.
    let v7 = signed(
        &dir,
        "v7-invalid",
        &key,
        &format!(
            "{}\n[usage]\nfree = [\"tidak_ada\"]\n",
            policy_doc(7, "2099-01-01T00:00:00+08:00", "10 MiB")
        ),
    );
    let before = a.refused("invalid");
    serve(&dir, &v7);
    wait_for(&d, WITHIN_A_POLL, "the invalid v7 refused", || {
        (a.refused("invalid") > before).then_some(())
    });
    assert_eq!(a.version(), 2);
    assert_eq!(a.get("/api/quota").json()["daily_data"], "100 MiB");
    assert!(a.get("/api/policy").json()["refusal"]["message"]
        .as_str()
        .unwrap()
        .contains("tidak_ada"));

    // The console shows the version, the last refusal and whose value is in force.
    let page = a.get("/").text();
    assert!(
        page.contains("id=\"regency\"") && page.contains("<dd id=\"policy-version\">v2</dd>"),
        "{page}"
    );
    assert!(page.contains("<code>invalid</code>"), "{page}");
    assert!(page.contains("<td class=\"regency\">"), "{page}");

    // Local and regency: a local admin's change wins until the next version...
    let put = a.c.bearer(
        "PUT",
        "/api/quota",
        &a.token,
        &serde_json::json!({"daily_data": "200 MiB"}),
    );
    assert_eq!(put.status, 200, "{}", put.text());
    let s = a.status();
    assert_eq!(
        (
            s["settings"][0]["source"].as_str(),
            s["settings"][0]["now"].as_str()
        ),
        (Some("local"), Some("200 MiB")),
        "{s}"
    );
    assert!(a.get("/").text().contains("<td class=\"local\">"));
    // ...which sets every key it names again (v6 and v7 were refused, so
    // they raised nothing).
    let v8 = signed(
        &dir,
        "v8",
        &key,
        &policy_doc(8, "2099-01-01T00:00:00+08:00", "150 MiB"),
    );
    serve(&dir, &v8);
    wait_for(&d, WITHIN_A_POLL, "v8 applied", || {
        (a.version() == 8).then_some(())
    });
    let s = a.status();
    assert_eq!(
        (
            s["settings"][0]["source"].as_str(),
            s["settings"][0]["now"].as_str()
        ),
        (Some("regency"), Some("150 MiB")),
        "{s}"
    );

    // v8 in force, served again with openssl's bare signature over the same
    // bytes: no event (nothing applied, nothing refused) for two fetches.
    let total = || -> u64 {
        a.metrics()
            .lines()
            .filter(|l| l.starts_with("desawifi_policy_errors_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let errors = total();
    let v8_raw = dir.join("v8-openssl");
    std::fs::create_dir_all(&v8_raw).unwrap();
    std::fs::copy(v8.join("policy.toml"), v8_raw.join("policy.toml")).unwrap();
    openssl_sign(&dir, &key, &v8_raw);
    serve(&dir, &v8_raw);
    let fetched = || a.get("/api/policy").json()["fetched_at"].clone();
    for _ in 0..2 {
        let seen = fetched();
        wait_for(&d, WITHIN_A_POLL, "another fetch", || {
            (fetched() != seen).then_some(())
        });
    }
    assert_eq!(total(), errors, "{}", a.metrics());
    assert_eq!(a.version(), 8);

    let log = d.log();
    assert!(
        log.contains("regency policy refused") && log.contains("expired at 2020-01-01"),
        "{}",
        d.log_tail()
    );
    // Nothing per device went to the regency: nginx saw plain GETs of the two files.
    let access = std::fs::read_to_string(dir.join("nginx-access.log")).unwrap();
    for line in access.lines() {
        assert!(
            line.contains("\"GET /policy/policy.toml HTTP/1.1\"")
                || line.contains("\"GET /policy/policy.toml.sig HTTP/1.1\""),
            "{line}"
        );
        assert!(
            !line.contains("02:77:00") && !line.contains("10.77.0."),
            "{line}"
        );
    }
}

/// What a captive phone (never logged in) gets from `http://ADDR/`: the
/// upstream's answer (in the garden) or the portal's redirect (captive).
fn phone_reaches(v: &Village, addr: &str) -> bool {
    let r = curl(&v.phone(1), &[&format!("http://{addr}/")], 5.0);
    match r.code {
        200 if r.body.starts_with("upstream ok") => true,
        302 => false,
        _ => panic!("http://{addr}/ from a captive phone: {r:?}"),
    }
}

#[test]
fn a_policys_garden_additions_come_and_go_with_its_versions() {
    let v = Village::up(&tag_for("fleet_policy::garden_additions"), 1);
    let (regency, dir, key, fleet) = office(&v, &["regency"]);
    // The village's own garden: bpjs-kesehatan.go.id's host. The policy
    // adds layanan.go.id's (common::GARDEN_HOST), captive before it.
    const OWN: &str = "203.0.113.23";
    let added = common::GARDEN_HOST.to_string();
    // The technician has not put the regency's CA in place yet.
    let ca = dir.join("regency-ca.pem");
    let later = dir.join("regency-ca.pem.later");
    std::fs::rename(&ca, &later).unwrap();
    let mut d = Daemon::start(
        &v,
        &format!(
            "[admin]\nlisten = \"{ADMIN_ADDR}\"\n[walled_garden]\naddresses = [\"{OWN}\"]\n\
             {fleet}"
        ),
    );
    assert!(phone_reaches(&v, OWN), "the village's own garden entry");
    assert!(!phone_reaches(&v, &added), "captive before any policy");
    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    let head =
        |version: u64| format!("version = {version}\nexpires = \"2099-01-01T00:00:00+08:00\"\n");

    // v1 adds the host (and the village's own block again, which changes nothing).
    let v1 = signed(
        &dir,
        "v1",
        &key,
        &format!(
            "{}\n[walled_garden]\naddresses = [\"{added}\", \"{OWN}/32\"]\n",
            head(1)
        ),
    );
    serve(&dir, &v1);
    let mut nginx = Nginx::start(&regency, &dir, "regency");
    let a = Admin::new(&d, &v);
    // Without its CA file every poll is refused as `tls`, naming the file,
    // and the village stays up; once the file is there, the next poll
    // applies v1 (no restart).
    wait_for(
        &d,
        WITHIN_A_POLL,
        "a poll refused for the missing CA file",
        || (a.refused("tls") >= 1).then_some(()),
    );
    let s = a.status();
    assert_eq!(s["refusal"]["reason"], "tls", "{s}");
    assert!(
        s["refusal"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("regency-ca.pem")),
        "{s}"
    );
    assert_eq!(a.version(), 0);
    assert!(phone_reaches(&v, OWN), "the village's own garden meanwhile");
    std::fs::rename(&later, &ca).unwrap();
    wait_for(&d, WITHIN_A_POLL, "v1 applied", || {
        (a.version() == 1).then_some(())
    });
    // In force with the version: the reconcile ran before the op returned.
    assert!(phone_reaches(&v, &added), "v1's addition\n{}", d.log_tail());
    assert!(phone_reaches(&v, OWN));
    let s = a.status();
    assert_eq!(
        s["walled_garden"],
        serde_json::json!({
            "config": [format!("{OWN}/32")],
            "policy": [format!("{added}/32"), format!("{OWN}/32")],
            "in_force": [format!("{OWN}/32"), format!("{added}/32")],
        }),
        "{s}"
    );
    let row = s["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"] == "walled_garden.addresses")
        .unwrap_or_else(|| panic!("no garden row: {s}"));
    assert_eq!(row["source"], "regency", "{s}");
    let audit = a.get("/api/audit").text();
    assert!(
        audit.contains("walled_garden.addresses")
            && audit.contains("\"policy v1\"")
            && audit.contains(&format!("{added}/32")),
        "{audit}"
    );
    let page = a.get("/").text();
    assert!(
        page.contains("<code>walled_garden.addresses</code>")
            && page.contains(&format!("+ {added}/32")),
        "{page}"
    );
    // The phones' own page of public services lists what is in force (the
    // addresses on its line for the technician).
    let info = curl(&v.phone(1), &["http://10.77.0.1:2050/info"], 5.0);
    let tech = info
        .body
        .split("<p class=\"tech\">")
        .nth(1)
        .and_then(|t| t.split("</p>").next())
        .unwrap_or_default();
    assert!(
        info.code == 200
            && tech.contains(&format!("{added}/32"))
            && tech.contains(&format!("{OWN}/32")),
        "{info:?}"
    );

    // A restart with the server gone: the start-up reconcile puts the
    // addition back from the store before the first poll.
    nginx.stop();
    d.restart();
    assert!(
        phone_reaches(&v, &added),
        "v1's addition after a restart\n{}",
        d.log_tail()
    );
    assert!(phone_reaches(&v, OWN));

    // v2 without a [walled_garden]: its (empty) list replaces v1's, the
    // host is captive again and the village's own entry stays.
    let v2 = signed(&dir, "v2", &key, &head(2));
    serve(&dir, &v2);
    let _nginx = Nginx::start(&regency, &dir, "regency");
    let a = Admin::new(&d, &v);
    wait_for(&d, WITHIN_A_POLL, "v2 applied", || {
        (a.version() == 2).then_some(())
    });
    assert!(
        !phone_reaches(&v, &added),
        "v2 dropped it\n{}",
        d.log_tail()
    );
    assert!(phone_reaches(&v, OWN), "the village's own entry stays");
    let audit = a.get("/api/audit").text();
    assert!(audit.contains("\"policy v2\""), "{audit}");

    // Garden domains need the router's dnsmasq: refused (invalid), v2 stays.
    let before = a.refused("invalid");
    // `desawifi policy sign` refuses to sign it (the CLI checks the document
    // first), so the regency's key signs it with openssl directly.
    let v3 = dir.join("v3");
    std::fs::create_dir_all(&v3).unwrap();
    std::fs::write(
        v3.join("policy.toml"),
        format!(
            "{}\n[walled_garden]\naddresses = [\"{added}\"]\ndomains = [\"layanan.go.id\"]\n",
            head(3)
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["policy", "sign", "--key"])
        .arg(&key)
        .arg(v3.join("policy.toml"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("walled_garden.domains"),
        "{said}"
    );
    openssl_sign(&dir, &key, &v3);
    serve(&dir, &v3);
    wait_for(&d, WITHIN_A_POLL, "v3 with domains refused", || {
        (a.refused("invalid") > before).then_some(())
    });
    assert_eq!(a.version(), 2);
    let s = a.status();
    assert!(
        s["refusal"]["message"]
            .as_str()
            .unwrap()
            .starts_with("walled_garden.domains: a regency policy cannot add garden domains"),
        "{s}"
    );
    assert!(!phone_reaches(&v, &added), "nothing of v3 applied");
    assert!(phone_reaches(&v, OWN));
}
