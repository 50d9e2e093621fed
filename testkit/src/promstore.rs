//! A real Prometheus-API store for the office's tests: Prometheus 2.42
//! (Debian `prometheus`) on blocks backfilled with `promtool tsdb
//! create-blocks-from openmetrics`, and the small helpers around it (a free
//! port, a temporary directory, curl, waiting until ready). Shared by
//! tests/office_data.rs (the data layer) and tests/regency.rs (the office
//! program).
//!
//! Use it as `use desawifi_testkit::promstore;`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed and its directory removed at the end.
pub struct Store {
    pub child: Child,
    pub dir: PathBuf,
    pub url: String,
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn tool(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} missing: apt-get install {package}"
    );
}
/// Runs `bin ARGS` with `stdin` fed to it (a password, say): whether it
/// succeeded, and its stdout then stderr. The office's CLI in the office tests.
pub fn run_fed(bin: &str, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("desawifi-office-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "120"])
        .args(args)
        .output()
        .expect("curl (apt-get install curl)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

pub fn wait_ready(url: &str, child: &mut Child) {
    let started = Instant::now();
    loop {
        let (ok, body) = curl(&["-f", url]);
        if ok && !body.is_empty() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the store exited: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{url} never became ready"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Prometheus 2.42 on the backfilled blocks.
pub fn prometheus(samples: &[(String, i64, f64)]) -> Store {
    tool("/usr/bin/prometheus", "prometheus");
    tool("/usr/bin/promtool", "prometheus");
    let dir = temp_dir("prom");
    let file = dir.join("data.om");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for (s, t, v) in samples {
        writeln!(w, "{s} {v} {t}").unwrap();
    }
    writeln!(w, "# EOF").unwrap();
    drop(w);
    let data = dir.join("data");
    let out = Command::new("promtool")
        .args([
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "-q",
            "--max-block-duration=24h",
        ])
        .arg(&file)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&file).unwrap();
    std::fs::write(dir.join("prometheus.yml"), "scrape_configs: []\n").unwrap();
    let port = free_port();
    let mut child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=400d")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{url}/-/ready"), &mut child);
    Store { child, dir, url }
}
