//! `desawifi user ...` and `desawifi admin fingerprint`: accounts made on the
//! router's shell, through the running daemon's control socket (sled lets
//! one process open the store) or on the store itself when no daemon runs;
//! and the admin certificate's fingerprint as openssl prints it.

use desawifi_testkit as common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{tag_for, AdminClient, Daemon, Village, ADMIN_ADDR};

/// Exit status, stdout, stderr of `desawifi ARGS` with `stdin` piped in.
fn desawifi(args: &[&str], stdin: &str) -> (bool, String, String) {
    let bin = env!("CARGO_BIN_EXE_desawifi");
    let mut child = Command::new(bin)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    // A command refused by argument parsing exits before it reads stdin: the
    // pipe is then closed, and that is no failure of the test (its answer is).
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.unwrap(),
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `desawifi ARGS` that must succeed; its stdout.
fn ok(args: &[&str], stdin: &str) -> String {
    let (success, out, err) = desawifi(args, stdin);
    assert!(success, "desawifi {} failed:\n{out}{err}", args.join(" "));
    out
}

/// `desawifi ARGS` that must fail; its stderr.
fn fails(args: &[&str], stdin: &str) -> String {
    let (success, out, err) = desawifi(args, stdin);
    assert!(
        !success,
        "desawifi {} should have failed:\n{out}{err}",
        args.join(" ")
    );
    err
}

/// The arguments of `desawifi user add --config C --username NAME --role ROLE`.
fn user_add<'a>(config: &'a str, name: &'a str, role: &'a str) -> [&'a str; 8] {
    [
        "user",
        "add",
        "--config",
        config,
        "--username",
        name,
        "--role",
        role,
    ]
}

fn openssl_fingerprint(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("openssl not found: apt-get install openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .split_once('=')
        .expect("sha256 Fingerprint=...")
        .1
        .to_string()
}

/// (username, role) rows of `user list`'s table, header checked.
fn listed(table: &str) -> Vec<(String, String)> {
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("a header line")
        .split_whitespace()
        .collect();
    assert_eq!(header, ["USERNAME", "ROLE", "CREATED"], "{table}");
    lines
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert!(
                cols.len() >= 4 && cols[2].len() == 10,
                "a row with a created date: {l:?}"
            );
            (cols[0].to_string(), cols[1].to_string())
        })
        .collect()
}

fn rows(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(u, r)| (u.to_string(), r.to_string()))
        .collect()
}

/// A config with the store in a fresh directory (no daemon, no namespaces).
fn offline_config(name: &str) -> (PathBuf, PathBuf) {
    let dir =
        std::env::temp_dir().join(format!("desawifi-admin-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("store");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nname = \"Desa Uji\"\nregency = \"Paser\"\ntimezone = \"Asia/Makassar\"\n\n\
             [network]\nlan_interface = \"br-lan\"\nwan_interface = \"wan0\"\nportal_address = \"10.77.0.1\"\n\n\
             [portal]\nlisten = \"10.77.0.1:2050\"\n\n[admin]\nlisten = \"192.0.2.1:8443\"\n\n[store]\npath = \"{}\"\n",
            store.display()
        ),
    )
    .unwrap();
    (config, dir)
}

#[test]
fn user_commands_work_on_the_store_when_no_daemon_runs() {
    let (config, dir) = offline_config("offline");
    let c = config.to_str().unwrap();
    assert_eq!(
        ok(
            &[
                "user",
                "add",
                "--config",
                c,
                "--username",
                "ani",
                "--role",
                "admin"
            ],
            "kelapa-muda-1\n"
        )
        .trim(),
        "added user \"ani\" (admin)"
    );
    ok(&user_add(c, "budi", "viewer"), "durian-montong\r\n");
    assert!(
        !dir.join("store").join("control.sock").exists(),
        "the command does not serve a socket"
    );

    let err = fails(&user_add(c, "ani", "viewer"), "another-password\n");
    assert!(err.contains("user \"ani\" already exists"), "{err}");
    let err = fails(&user_add(c, "citra", "admin"), "short\n");
    assert!(
        err.contains("password too short") && err.contains("at least 10 characters"),
        "{err}"
    );
    let err = fails(&user_add(c, "Citra Dewi", "admin"), "long-enough-1\n");
    assert!(err.contains("\"Citra Dewi\" is not valid"), "{err}");
    let err = fails(&user_add(c, "citra", "root"), "long-enough-1\n");
    assert!(
        err.contains("root") && err.contains("admin or viewer"),
        "{err}"
    );
    let err = fails(&user_add(c, "citra", "admin"), "");
    assert!(err.contains("no password on stdin"), "{err}");
    let err = fails(
        &["user", "passwd", "--config", c, "--username", "citra"],
        "long-enough-1\n",
    );
    assert!(err.contains("no user \"citra\""), "{err}");
    let err = fails(
        &["user", "remove", "--config", c, "--username", "citra"],
        "",
    );
    assert!(err.contains("no user \"citra\""), "{err}");

    // A socket file left by a killed daemon answers nothing: the command uses the store.
    let stale = dir.join("store").join("control.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    assert_eq!(
        listed(&ok(&["user", "list", "--config", c], "")),
        rows(&[("ani", "admin"), ("budi", "viewer")])
    );

    ok(
        &["user", "passwd", "--config", c, "--username", "budi"],
        "rambutan-manis\n",
    );
    assert_eq!(
        ok(&["user", "remove", "--config", c, "--username", "ani"], "").trim(),
        "removed user \"ani\""
    );
    assert_eq!(
        listed(&ok(&["user", "list", "--config", c], "")),
        rows(&[("budi", "viewer")])
    );

    // What the command stored is what a login checks (the line without its "\r\n" or "\n").
    let store = desawifi::store::AdminStore::open(&dir.join("store")).unwrap();
    let accounts = desawifi::accounts::Accounts::new(
        store.clone(),
        Duration::from_secs(60),
        std::sync::Arc::new(desawifi::clock::SystemClock),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peer = "192.0.2.9".parse().unwrap();
    assert!(
        rt.block_on(accounts.login("budi", "durian-montong", peer))
            .is_err(),
        "the old password no longer works"
    );
    let session = rt
        .block_on(accounts.login("budi", "rambutan-manis", peer))
        .expect("the new password works");
    assert_eq!(session.principal.role, desawifi::domain::Role::Viewer);
    let audit: Vec<(String, String, String)> = store
        .audit_log(None, 10)
        .unwrap()
        .into_iter()
        .map(|(_, e)| (e.who, e.action.as_str().to_owned(), e.target))
        .collect();
    let expect = [
        ("cli", "user.remove", "ani"),
        ("cli", "user.passwd", "budi"),
        ("cli", "user.add", "budi"),
        ("cli", "user.add", "ani"),
    ];
    assert_eq!(
        audit,
        expect.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    drop((accounts, store));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn admin_fingerprint_makes_the_pair_once_and_matches_openssl() {
    let (config, dir) = offline_config("fingerprint");
    let c = config.to_str().unwrap();
    let first = ok(&["admin", "fingerprint", "--config", c], "")
        .trim()
        .to_string();
    let cert = dir.join("store").join("admin-cert.pem");
    assert_eq!(first, openssl_fingerprint(&cert));
    assert_eq!(
        std::fs::metadata(dir.join("store").join("admin-key.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        ok(&["admin", "fingerprint", "--config", c], "").trim(),
        first,
        "made once, then kept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn user_commands_go_through_the_running_daemon() {
    let v = Village::up(
        &tag_for("admin_cli::user_commands_go_through_the_running_daemon"),
        1,
    );
    let mut d = Daemon::start(&v, &format!("[admin]\nlisten = \"{ADMIN_ADDR}\"\n"));
    let c = d.config_path().to_str().unwrap().to_string();
    let c = c.as_str();
    let socket = d.store_dir().join("control.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "no control socket within 10 s:\n{}",
            d.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600,
        "root only"
    );

    // The daemon holds the store's lock, so these can only work through its socket.
    ok(&user_add(c, "ani", "admin"), "kelapa-muda-1\n");
    ok(&user_add(c, "budi", "viewer"), "durian-montong\n");
    assert!(
        d.log().contains("admin account added"),
        "the daemon made the account:\n{}",
        d.log_tail()
    );
    let err = fails(&user_add(c, "ani", "viewer"), "another-password\n");
    assert!(err.contains("user \"ani\" already exists"), "{err}");
    let err = fails(
        &["user", "passwd", "--config", c, "--username", "ani"],
        "short\n",
    );
    assert!(err.contains("password too short"), "{err}");
    assert_eq!(
        listed(&ok(&["user", "list", "--config", c], "")),
        rows(&[("ani", "admin"), ("budi", "viewer")])
    );

    // The running daemon logs the new accounts in over its HTTPS API.
    let api = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    let ani = api.token("ani", "kelapa-muda-1");
    let budi = api.token("budi", "durian-montong");
    assert_eq!(
        api.bearer("GET", "/api/devices", &ani, &serde_json::Value::Null)
            .status,
        200
    );
    assert_eq!(
        api.bearer("GET", "/api/devices", &budi, &serde_json::Value::Null)
            .status,
        200
    );

    // A new password ends that account's logins at once; removal ends the account.
    ok(
        &["user", "passwd", "--config", c, "--username", "ani"],
        "rambutan-manis\n",
    );
    assert_eq!(
        api.bearer("GET", "/api/devices", &ani, &serde_json::Value::Null)
            .status,
        401
    );
    assert_eq!(api.login("ani", "kelapa-muda-1").status, 401);
    let ani = api.token("ani", "rambutan-manis");
    ok(&["user", "remove", "--config", c, "--username", "budi"], "");
    assert_eq!(
        api.bearer("GET", "/api/devices", &budi, &serde_json::Value::Null)
            .status,
        401
    );
    assert_eq!(
        api.bearer("GET", "/api/devices", &ani, &serde_json::Value::Null)
            .status,
        200
    );
    let err = fails(&["user", "remove", "--config", c, "--username", "budi"], "");
    assert!(err.contains("no user \"budi\""), "{err}");

    // The certificate the daemon serves (the client trusts exactly that file)
    // has the fingerprint the command prints, openssl prints and the daemon logged.
    let fingerprint = ok(&["admin", "fingerprint", "--config", c], "")
        .trim()
        .to_string();
    assert_eq!(
        fingerprint,
        openssl_fingerprint(&d.store_dir().join("admin-cert.pem"))
    );
    assert!(
        d.log().contains(&fingerprint),
        "the daemon logs the fingerprint:\n{}",
        d.log_tail()
    );

    // Stopped, the daemon removes its socket; the command opens the store itself.
    d.stop();
    assert!(!socket.exists(), "the socket goes with the daemon");
    assert_eq!(
        listed(&ok(&["user", "list", "--config", c], "")),
        rows(&[("ani", "admin")])
    );
    ok(&user_add(c, "citra", "viewer"), "manggis-ungu-7\n");
    d.restart();
    let api = AdminClient::new(&d, &v.router(), ADMIN_ADDR);
    assert_eq!(
        api.bearer("GET", "/api/devices", &ani, &serde_json::Value::Null)
            .status,
        200,
        "logins survive a restart"
    );
    api.token("citra", "manggis-ungu-7");
    assert_eq!(
        ok(&["admin", "fingerprint", "--config", c], "").trim(),
        fingerprint,
        "the same certificate after a restart"
    );
}
