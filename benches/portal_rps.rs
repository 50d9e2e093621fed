//! Requests per second for the splash page: desawifi's portal against nginx
//! serving the same bytes, from the same router namespace, in one run.
//!
//!     sudo cargo bench --bench portal_rps
//!
//! PRS_ROUNDS (default 5) rounds, PRS_SECS (default 5) seconds per wrk run,
//! PRS_CONNECTIONS (default 30) and PRS_THREADS (default 2). One phone is one
//! client to the portal's `max_connections_per_client` (default 32), and wrk
//! first opens (and closes) one probe connection: at exactly 32 its 32nd
//! connection was sometimes refused by the cap ("read 1"), so 30.
//!
//! Builds a village (`scripts/village.sh up ngx 1`, removed at the end even on
//! error), starts the release daemon (`desawifi run`, log level as shipped) in
//! the router namespace with the portal on 10.77.0.1:2050, fetches the splash
//! page once from phone 1 and writes its bytes to a file that nginx (started
//! from this process, `daemon off`, `worker_processes auto`, access log off)
//! serves on 10.77.0.1:8080 (opened for the LAN by a rule inserted at the top
//! of the daemon's `input` chain). Then wrk from phone 1 against both, interleaved
//! A B A B ... after one short warm-up of each, so machine noise hits both
//! alike:
//!
//!   A  desawifi's portal, GET / (the splash page: a fresh tip each request)
//!   B  nginx, GET / (the same bytes, a static file)
//!
//! Reports the median requests/s of each and the median of the per-round
//! ratios A/B (the issue's target is >= 0.8); asserts no thresholds. Exits
//! non-zero only when something failed to run (a wrk run with socket errors or
//! non-2xx answers counts as failed: it would not be the splash page's rate).
//! Needs root, wrk and nginx (`scripts/install-deps.sh`).

#[path = "util/mod.rs"]
mod util;

use util::{env_count, first_line, kernel, max, median, min, nproc, ns, run};

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/village.sh");
const DAEMON: &str = env!("CARGO_BIN_EXE_desawifi");
const TAG: &str = "ngx";
const ROUTER: &str = "dw-ngx-r";
const PHONE: &str = "dw-ngx-p1";
const PORTAL: &str = "http://10.77.0.1:2050/";
const NGINX: &str = "http://10.77.0.1:8080/";

/// The village, removed when dropped (also when the bench fails or panics).
struct Village;

impl Village {
    fn up() -> Result<Village, String> {
        run(Command::new(SCRIPT).args(["up", TAG, "1"]))?;
        Ok(Village)
    }
}

impl Drop for Village {
    fn drop(&mut self) {
        if let Err(e) = run(Command::new(SCRIPT).args(["down", TAG])) {
            eprintln!("portal_rps bench: teardown failed: {e}");
        }
    }
}

/// A server process in the router namespace, killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM (both exit cleanly on it), then SIGKILL after 3 s.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "portal_rps bench: {} did not stop on SIGTERM; killing it",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
struct Wrk {
    rps: f64,
    /// Median latency, ms.
    p50_ms: f64,
    /// 99th percentile latency, ms.
    p99_ms: f64,
    /// Bytes read per request, headers included (wrk's "MB read" / requests).
    bytes_per_req: f64,
}

fn main() {
    let dir = std::env::temp_dir().join("desawifi-bench-portal-rps");
    let _ = std::fs::remove_dir_all(&dir);
    let village = match Village::up() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("portal_rps bench: {e}");
            std::process::exit(1);
        }
    };
    let result = bench(&dir);
    drop(village);
    if let Err(e) = result {
        eprintln!("portal_rps bench failed: {e}");
        eprintln!("(daemon log and nginx error log: {})", dir.display());
        std::process::exit(1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn bench(dir: &Path) -> Result<(), String> {
    let rounds = env_count("PRS_ROUNDS", 5).max(1);
    let secs = env_count("PRS_SECS", 5).max(1);
    let conns = env_count("PRS_CONNECTIONS", 30).max(1);
    let threads = env_count("PRS_THREADS", 2).clamp(1, conns);
    std::fs::create_dir_all(dir.join("www"))
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    // nginx's workers drop to an unprivileged user: they must read the file.
    chmod_755(dir)?;
    chmod_755(&dir.join("www"))?;

    let _daemon = start_daemon(dir)?;
    // The splash page as phone 1 gets it (a 200 with the tip of the day).
    let (code, page) = fetch(PORTAL)?;
    if code != 200 || !String::from_utf8_lossy(&page).contains("action=\"/login\"") {
        return Err(format!(
            "GET {PORTAL} from phone 1 gave {code}, not the splash page:\n{}",
            String::from_utf8_lossy(&page)
        ));
    }
    std::fs::write(dir.join("www/index.html"), &page)
        .map_err(|e| format!("writing index.html: {e}"))?;
    // The daemon's input chain lets the LAN reach only DNS, DHCP and the portal
    // (a reject in any table is final): open nginx's port in it, first in the
    // chain. Both servers' packets then cross the same chain (established
    // packets match its first rule either way).
    run(&mut ns(
        ROUTER,
        &[
            "nft", "insert", "rule", "inet", "desawifi", "input", "iifname", "br-lan", "tcp",
            "dport", "8080", "accept",
        ],
    ))?;
    let _nginx = start_nginx(dir)?;
    let (code, copy) = fetch(NGINX)?;
    if code != 200 || copy != page {
        return Err(format!(
            "GET {NGINX} gave {code} and {} bytes, not the {} bytes of the splash page",
            copy.len(),
            page.len()
        ));
    }

    // Warm-up (caches, page cache, the daemon's allocator), not counted.
    wrk(PORTAL, 1, conns, threads)?;
    wrk(NGINX, 1, conns, threads)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let x = wrk(PORTAL, secs, conns, threads)?;
        let y = wrk(NGINX, secs, conns, threads)?;
        // A redirect (3xx) would pass wrk's status check: the byte count shows it.
        for (name, r) in [("desawifi", &x), ("nginx", &y)] {
            if r.bytes_per_req < page.len() as f64 {
                return Err(format!(
                    "{name} sent {:.0} bytes per request, less than the {}-byte page",
                    r.bytes_per_req,
                    page.len()
                ));
            }
        }
        eprintln!(
            "round {round}/{rounds}: desawifi {:.0} req/s, nginx {:.0} req/s, ratio {:.3}",
            x.rps,
            y.rps,
            x.rps / y.rps
        );
        a.push(x);
        b.push(y);
    }

    let args: Vec<String> = std::env::args().collect();
    println!(
        "\nSplash page requests/s, wrk from phone 1 to the router (10.77.0.1), GET /, keep-alive"
    );
    println!(
        "machine: {} CPUs, kernel {}; {}; {}",
        nproc(),
        kernel(),
        first_line(&["wrk", "--version"]),
        first_line(&["nginx", "-v"])
    );
    println!(
        "wrk -t{threads} -c{conns} -d{secs}s, {rounds} rounds, A B interleaved; page {} bytes",
        page.len()
    );
    println!(
        "command: cargo bench --bench portal_rps  (argv: {})\n",
        args.join(" ")
    );
    println!("| server | req/s, median (min-max) | latency p50 ms | latency p99 ms | bytes/response | ratio to nginx |");
    println!("|---|---:|---:|---:|---:|---:|");
    let ratios: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x.rps / y.rps).collect();
    for (name, runs, ratio) in [
        ("A desawifi portal :2050", &a, median(ratios.clone())),
        ("B nginx :8080", &b, 1.0),
    ] {
        let rps: Vec<f64> = runs.iter().map(|r| r.rps).collect();
        println!(
            "| {name} | {:.0} ({:.0}-{:.0}) | {:.2} | {:.2} | {:.0} | {ratio:.3} |",
            median(rps.clone()),
            min(&rps),
            max(&rps),
            median(runs.iter().map(|r| r.p50_ms).collect()),
            median(runs.iter().map(|r| r.p99_ms).collect()),
            median(runs.iter().map(|r| r.bytes_per_req).collect()),
        );
    }
    println!(
        "\nper-round ratios A/B: {}",
        ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

/// The release daemon in the router namespace, with a fresh store; waits until
/// the portal answers (at most 10 s).
fn start_daemon(dir: &Path) -> Result<Server, String> {
    let config = dir.join("desawifi.toml");
    let toml = format!(
        "[site]\nname = \"Desa Uji\"\nregency = \"Paser\"\ntimezone = \"Asia/Makassar\"\n\
         [network]\nlan_interface = \"br-lan\"\nwan_interface = \"wan0\"\nportal_address = \"10.77.0.1\"\n\
         [portal]\nlisten = \"10.77.0.1:2050\"\n[store]\npath = \"{}\"\n\
         [uplink]\ntargets = [\"198.51.100.2:53\"]\n",
        dir.join("store").display()
    );
    std::fs::write(&config, toml).map_err(|e| format!("writing {}: {e}", config.display()))?;
    let log = log_file(&dir.join("daemon.log"))?;
    let child = ns(
        ROUTER,
        &[DAEMON, "run", "--config", config.to_str().unwrap()],
    )
    .env_remove("RUST_LOG")
    .stdout(log.try_clone().map_err(|e| e.to_string())?)
    .stderr(log)
    .spawn()
    .map_err(|e| format!("starting desawifi: {e}"))?;
    let mut server = Server {
        name: "desawifi",
        child,
    };
    wait_answering(&mut server, PORTAL, &dir.join("daemon.log"))?;
    Ok(server)
}

/// nginx serving `dir/www` on 10.77.0.1:8080 in the router namespace.
fn start_nginx(dir: &Path) -> Result<Server, String> {
    let d = dir.display();
    let conf = format!(
        "worker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
           client_body_temp_path {d}/tmp-body;\n  proxy_temp_path {d}/tmp-proxy;\n  fastcgi_temp_path {d}/tmp-fastcgi;\n\
           uwsgi_temp_path {d}/tmp-uwsgi;\n  scgi_temp_path {d}/tmp-scgi;\n\
           server {{\n    listen 10.77.0.1:8080;\n    root {d}/www;\n    index index.html;\n\
             location = / {{ default_type \"text/html; charset=utf-8\"; add_header Cache-Control no-store; try_files /index.html =404; }}\n  }}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let log = log_file(&dir.join("nginx-stderr.log"))?;
    let child = ns(
        ROUTER,
        &[
            "nginx",
            "-e",
            &format!("{d}/nginx-error.log"),
            "-c",
            path.to_str().unwrap(),
            "-g",
            "daemon off;",
        ],
    )
    .stdout(log.try_clone().map_err(|e| e.to_string())?)
    .stderr(log)
    .spawn()
    .map_err(|e| format!("starting nginx (apt-get install nginx-light): {e}"))?;
    let mut server = Server {
        name: "nginx",
        child,
    };
    wait_answering(&mut server, NGINX, &dir.join("nginx-stderr.log"))?;
    Ok(server)
}

/// Polls `url` from phone 1 until it answers, the server exits, or 10 s pass.
fn wait_answering(server: &mut Server, url: &str, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!(
                "{} exited during start-up ({status}):\n{tail}",
                server.name
            ));
        }
        if matches!(fetch(url), Ok((c, _)) if c != 0) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} did not answer {url} within 10 s (log {})",
                server.name,
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET `url` from phone 1 with curl: (status, body); status 0 when nothing answered.
fn fetch(url: &str) -> Result<(u16, Vec<u8>), String> {
    let out = ns(
        PHONE,
        &[
            "curl",
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "2",
            "-w",
            "\n%{http_code}",
            url,
        ],
    )
    .output()
    .map_err(|e| format!("curl: {e}"))?;
    let mut body = out.stdout;
    let nl = body.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let code = String::from_utf8_lossy(&body[nl..])
        .trim()
        .parse()
        .unwrap_or(0);
    body.truncate(nl);
    Ok((code, body))
}

/// One wrk run from phone 1. Socket errors or non-2xx/3xx answers fail it.
fn wrk(url: &str, secs: usize, conns: usize, threads: usize) -> Result<Wrk, String> {
    let (t, c, d) = (
        format!("-t{threads}"),
        format!("-c{conns}"),
        format!("-d{secs}s"),
    );
    let out = ns(PHONE, &["wrk", &t, &c, &d, "--latency", url])
        .output()
        .map_err(|e| format!("wrk (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || text.contains("Socket errors") || text.contains("Non-2xx") {
        return Err(format!(
            "wrk {t} {c} {d} {url}: {}\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let rps = field("Requests/sec:").and_then(|v| v.parse().ok());
    let p50 = field("50%").and_then(parse_latency_ms);
    let p99 = field("99%").and_then(parse_latency_ms);
    // "  36028 requests in 2.00s, 150.37MB read"
    let total = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| {
            let requests: f64 = l.split_whitespace().next()?.parse().ok()?;
            let read = l.trim().strip_suffix(" read")?.rsplit(", ").next()?;
            Some((requests, parse_bytes(read)?))
        });
    match (rps, p50, p99, total) {
        (Some(rps), Some(p50_ms), Some(p99_ms), Some((n, bytes))) if n > 0.0 => Ok(Wrk {
            rps,
            p50_ms,
            p99_ms,
            bytes_per_req: bytes / n,
        }),
        _ => Err(format!("cannot read wrk's output:\n{text}")),
    }
}

/// wrk's byte counts ("150.37MB", binary units) in bytes.
fn parse_bytes(s: &str) -> Option<f64> {
    let units = [
        ("GB", 1024.0 * 1024.0 * 1024.0),
        ("MB", 1024.0 * 1024.0),
        ("KB", 1024.0),
        ("B", 1.0),
    ];
    let (num, scale) = units
        .iter()
        .find_map(|(u, k)| s.strip_suffix(u).map(|n| (n, *k)))?;
    num.parse::<f64>().ok().map(|n| n * scale)
}

/// wrk's latency ("512.00us", "1.20ms", "2.01s") in ms.
fn parse_latency_ms(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(v) = s.strip_suffix("us") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e3)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|n| n * scale)
}

fn log_file(path: &Path) -> Result<std::fs::File, String> {
    std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))
}

fn chmod_755(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}
