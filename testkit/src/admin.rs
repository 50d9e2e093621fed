//! The admin room: an HTTPS client that trusts exactly the daemon's
//! certificate, connecting from inside a namespace, and accounts made with
//! the CLI.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::daemon::{desawifi_bin, log_tail_of, Daemon, START_TIMEOUT};
use crate::ns::connect_in;

/// Where admin tests bind the admin listener: the router's WAN address (the
/// "management network" side; never the village LAN).
pub const ADMIN_ADDR: &str = "198.51.100.1:8443";

/// One answer from the admin listener.
#[derive(Debug, Clone)]
pub struct AdminResponse {
    pub status: u16,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl AdminResponse {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (with the answer) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// `e` and each of its sources, `: `-separated, so a panic keeps the whole cause.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// A blocking HTTPS/1.1 client for the admin listener: rustls trusting
/// exactly `<store>/admin-cert.pem`, connecting from inside namespace `ns`,
/// one request per connection.
#[derive(Clone)]
pub struct AdminClient {
    pub ns: String,
    pub addr: std::net::SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
    /// The daemon's log file (from [`AdminClient::new`]), shown when a request fails.
    daemon_log: Option<PathBuf>,
}

impl AdminClient {
    /// For the daemon `d` listening at `addr`, from namespace `ns`. Waits (10 s)
    /// for the certificate the daemon makes on first start and for the port.
    pub fn new(d: &Daemon, ns: &str, addr: &str) -> AdminClient {
        let cert = d.store_dir().join("admin-cert.pem");
        let addr: std::net::SocketAddr = addr.parse().expect("an address with a port");
        let deadline = Instant::now() + START_TIMEOUT;
        while !(cert.exists() && connect_in(ns, addr, Duration::from_secs(1)).is_ok()) {
            assert!(
                Instant::now() < deadline,
                "no admin listener at {addr} (or no {}) within 10 s:\n{}",
                cert.display(),
                d.log_tail()
            );
            sleep(Duration::from_millis(100));
        }
        AdminClient {
            daemon_log: Some(d.log.clone()),
            ..AdminClient::trusting(&cert, ns, addr)
        }
    }

    /// A client trusting only the certificate(s) in the PEM file `cert`.
    pub fn trusting(cert: &Path, ns: &str, addr: std::net::SocketAddr) -> AdminClient {
        let pem = fs::read(cert).unwrap_or_else(|e| panic!("{}: {e}", cert.display()));
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots
                .add(c.expect("a PEM certificate"))
                .expect("a usable certificate");
        }
        assert!(!roots.is_empty(), "no certificate in {}", cert.display());
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        AdminClient {
            ns: ns.to_string(),
            addr,
            tls: std::sync::Arc::new(tls),
            daemon_log: None,
        }
    }

    /// Send one request (`Connection: close`) with extra `headers` and `body`;
    /// Err with what went wrong (connect, TLS, a malformed answer).
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<AdminResponse, String> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.exchange(&out)
    }

    /// Send `raw` bytes over a fresh TLS connection and read one HTTP answer.
    pub fn exchange(&self, raw: &[u8]) -> Result<AdminResponse, String> {
        use std::io::{BufRead, BufReader, Read};
        let tcp = connect_in(&self.ns, self.addr, Duration::from_secs(5))
            .map_err(|e| format!("connect {}: {}", self.addr, error_chain(&e)))?;
        tcp.set_read_timeout(Some(Duration::from_secs(15)))
            .map_err(|e| error_chain(&e))?;
        let name = rustls::pki_types::ServerName::from(self.addr.ip());
        let conn =
            rustls::ClientConnection::new(self.tls.clone(), name).map_err(|e| error_chain(&e))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(raw)
            .map_err(|e| format!("TLS write: {}", error_chain(&e)))?;
        tls.flush()
            .map_err(|e| format!("TLS flush: {}", error_chain(&e)))?;
        let mut reader = BufReader::new(tls);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("reading the status line: {}", error_chain(&e)))?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader
                .read_line(&mut line)
                .map_err(|e| format!("reading headers: {}", error_chain(&e)))?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| format!("bad header line {l:?}"))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let mut body = Vec::new();
        match length {
            Some(n) => {
                body.resize(n, 0);
                reader
                    .read_exact(&mut body)
                    .map_err(|e| format!("reading {n} body bytes: {}", error_chain(&e)))?;
            }
            None => {
                reader
                    .read_to_end(&mut body)
                    .map_err(|e| format!("reading the body: {}", error_chain(&e)))?;
            }
        }
        Ok(AdminResponse {
            status,
            headers,
            body,
        })
    }

    /// `try_request` that must get an answer; a failure panics with the
    /// whole cause and the daemon's log tail, so it explains itself.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> AdminResponse {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| {
                let log = match &self.daemon_log {
                    Some(file) => format!(
                        "\ndaemon log tail ({}):\n{}",
                        file.display(),
                        log_tail_of(file)
                    ),
                    None => String::new(),
                };
                panic!(
                    "{method} {path} to {} from {}: {e}{log}",
                    self.addr, self.ns
                )
            })
    }

    /// A request with `Authorization: Bearer <token>` (none when `token` is empty)
    /// and a JSON body (none when `body` is `Value::Null`).
    pub fn bearer(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> AdminResponse {
        let auth = format!("Bearer {token}");
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if !token.is_empty() {
            headers.push(("Authorization", &auth));
        }
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        };
        if !bytes.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        self.request(method, path, &headers, &bytes)
    }

    /// `POST /api/session`; returns the answer (200 with token, csrf and Set-Cookie, 401, 429).
    pub fn login(&self, username: &str, password: &str) -> AdminResponse {
        let body = serde_json::json!({ "username": username, "password": password });
        self.bearer("POST", "/api/session", "", &body)
    }

    /// Log in and return the session token; panics unless it is a 200.
    pub fn token(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password);
        assert_eq!(
            r.status,
            200,
            "login as {username}: {} {}",
            r.status,
            r.text()
        );
        r.json()["token"].as_str().expect("a token").to_string()
    }
}

/// `desawifi user add --config FILE --username NAME --role ROLE`, the
/// password on stdin (works while the daemon runs, through its control socket).
pub fn add_user(d: &Daemon, username: &str, role: &str, password: &str) {
    let bin = desawifi_bin();
    let mut child = Command::new(&bin)
        .args([
            "user",
            "add",
            "--config",
            d.config_path().to_str().expect("utf-8 path"),
            "--username",
            username,
            "--role",
            role,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {} user add: {e}", bin.display()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("writing the password");
    let out = child.wait_with_output().expect("waiting for user add");
    assert!(
        out.status.success(),
        "desawifi user add {username} ({role}) failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
