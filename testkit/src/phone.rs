//! What a phone does: curl (with everything it saw), and the portal's Connect.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ns::{check_tool, ns_exec};
use crate::village::{Village, PORTAL_PORT, ROUTER_LAN};

/// What one curl saw.
#[derive(Debug, Clone)]
pub struct Http {
    /// The status code; 0 when no response came (refused, reset, timed out).
    pub code: u16,
    pub body: String,
    /// The raw response headers (`-D`), all responses when `-L` was given.
    pub headers: String,
    /// curl's `time_total`, seconds.
    pub secs: f64,
    /// curl's exit code (7 refused, 28 timed out, 52 empty reply, 56 reset...).
    pub exit: i32,
    /// curl's error message (`-sS`), empty on success.
    pub stderr: String,
}

impl Http {
    /// The value of the last header `name` (case-insensitive), e.g. `Location`.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .lines()
            .rev()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    }
}

static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// A unique scratch path for one call (tests run in parallel threads).
fn scratch(what: &str) -> PathBuf {
    let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("desawifi-{what}-{}-{n}", std::process::id()))
}

/// Phone `phone` taps Connect: `POST /login` with `lang=id`, what the
/// splash page's form sends.
pub fn portal_login(v: &Village, phone: usize) -> Http {
    let url = format!("http://{ROUTER_LAN}:{PORTAL_PORT}/login");
    curl(
        &v.phone(phone),
        &["-X", "POST", "--data", "lang=id", &url],
        5.0,
    )
}

/// curl inside a namespace: `curl -sS -o BODY -D HEADERS -w "%{http_code} %{time_total}"
/// --max-time MAX` plus `extra` (the URL and any options).
pub fn curl(ns: &str, extra: &[&str], max_secs: f64) -> Http {
    let body_path = scratch("curl-body");
    let head_path = scratch("curl-head");
    let max = format!("{max_secs}");
    let mut args = vec![
        "curl",
        "-sS",
        "--noproxy",
        "*",
        "-o",
        body_path.to_str().unwrap(),
        "-D",
        head_path.to_str().unwrap(),
        "-w",
        "%{http_code} %{time_total}",
        "--max-time",
        &max,
    ];
    args.extend_from_slice(extra);
    let o = ns_exec(ns, &args);
    check_tool(&o, "curl", "curl");
    let body = fs::read(&body_path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let headers = fs::read_to_string(&head_path).unwrap_or_default();
    let _ = fs::remove_file(&body_path);
    let _ = fs::remove_file(&head_path);
    let out = String::from_utf8_lossy(&o.stdout);
    let mut w = out.split_whitespace();
    let code = w.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let secs = w.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    Http {
        code,
        body,
        headers,
        secs,
        exit: o.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}
