//! A burst: 1,000 phones tap "Sambungkan" at the same moment (the power came
//! back and everyone's phone rejoined the wifi at once).
//!
//!     sudo cargo bench --bench burst
//!
//! BURST_PHONES (default 1000) phones; BURST_PORTAL (default empty) extra
//! lines for the daemon's `[portal]` section, e.g.
//! `BURST_PORTAL='max_connections = 2048'`.
//!
//! Builds village `brstbn` (`scripts/village.sh up brstbn 1`) and adds the
//! crowd: one namespace per phone with its own veth on the router's bridge,
//! its own MAC and its own address in 10.77.0.0/16 (see benches/crowd). The
//! time that takes is printed and is not part of the measurement. The real
//! release daemon runs in the router with its default config.
//!
//! Before the burst every phone loads the splash page once (what its login
//! sheet does; it also fills the ARP tables). Then one thread per phone waits
//! at a barrier; when it opens, each sends `POST /login` on a fresh
//! connection and, on its 303, fetches `http://198.51.100.2/` from the
//! upstream: online means that fetch returned the upstream's own page (not
//! the portal's redirect). Errors (anything but a 303, or an upstream fetch
//! that fails) are counted, never retried into success silently: a phone
//! whose login failed tries again (up to 3 times, as a villager would tap
//! again), and the table says how many needed it.
//!
//! Reports total time (barrier to the last phone online), per-phone login and
//! time-to-online percentiles, errors, the daemon's CPU time and memory.

#[path = "crowd/mod.rs"]
mod crowd;

use std::net::SocketAddrV4;
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use crowd::*;

const TAG: &str = "brstbn";

/// What one phone saw.
#[derive(Default)]
struct Outcome {
    /// POST /login to its 303 (the successful attempt), ms.
    login_ms: f64,
    /// Barrier to the upstream page, ms (None: never online).
    online_ms: Option<f64>,
    /// Failed login attempts (not a 303, or no answer), with the reason.
    login_errors: Vec<String>,
    /// Upstream fetches after a 303 that did not reach the upstream.
    upstream_errors: Vec<String>,
}

fn main() {
    let phones = env_num("BURST_PHONES", 1000usize).clamp(1, 1200);
    let portal_lines = std::env::var("BURST_PORTAL").unwrap_or_default();
    let v = match Village::up(TAG, phones) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("burst bench: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "burst: {phones} phones made in {:.1} s",
        v.crowd_setup.as_secs_f64()
    );
    let ok = match bench(&v, &portal_lines) {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("burst bench failed: {e}");
            false
        }
    };
    drop(v);
    if !ok {
        std::process::exit(1);
    }
}

fn bench(v: &Village, portal_lines: &str) -> Result<bool, String> {
    let daemon = Daemon::start(v, portal_lines, "")?;
    let n = v.crowd.len();
    let barrier = Arc::new(Barrier::new(n + 1));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let start = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut handles = Vec::new();
    let t_setup = Instant::now();
    for p in v.crowd.clone() {
        let (barrier, ready, start) = (barrier.clone(), ready_tx.clone(), start.clone());
        handles.push(spawn_in(p.ns.clone(), move || phone(barrier, ready, start)));
    }
    drop(ready_tx);
    // Each phone sends one Ok (or a final "gave up") after 0-2 failed tries.
    let (mut splash_failed, mut done) = (0, 0);
    for r in ready_rx.iter() {
        match r {
            Ok(()) => done += 1,
            Err(e) if e.starts_with("gave up") => {
                done += 1;
                eprintln!("before the burst: {e}");
            }
            Err(e) => {
                splash_failed += 1;
                eprintln!("before the burst (will try again): {e}");
            }
        }
        if done == n {
            break;
        }
    }
    eprintln!("burst: every phone loaded the splash page ({splash_failed} tries failed first) in {:.1} s; go", t_setup.elapsed().as_secs_f64());
    let setup_note = format!("{splash_failed} splash tries failed before the burst and were retried (setup, not measured)");
    std::thread::sleep(Duration::from_millis(500));
    let (cpu0, wall0) = (daemon.cpu_ticks(), Instant::now());
    start.set(Instant::now()).unwrap();
    barrier.wait();
    let outcomes: Vec<Outcome> = handles
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| "phone thread panicked".to_string())
                .and_then(|r| r)
        })
        .collect::<Result<_, _>>()?;
    let wall = wall0.elapsed();
    let cpu = (daemon.cpu_ticks() - cpu0) as f64 / ticks_per_sec();
    let (rss, hwm) = daemon.memory_kib();

    let online: Vec<f64> = outcomes.iter().filter_map(|o| o.online_ms).collect();
    let login: Vec<f64> = outcomes
        .iter()
        .filter(|o| o.online_ms.is_some())
        .map(|o| o.login_ms)
        .collect();
    let login_errors: usize = outcomes.iter().map(|o| o.login_errors.len()).sum();
    let upstream_errors: usize = outcomes.iter().map(|o| o.upstream_errors.len()).sum();
    let retried = outcomes
        .iter()
        .filter(|o| !o.login_errors.is_empty())
        .count();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for e in outcomes
        .iter()
        .flat_map(|o| o.login_errors.iter().chain(&o.upstream_errors))
    {
        *kinds.entry(e.clone()).or_default() += 1;
    }
    let in_set = online_elements(v);
    let total = online.iter().copied().fold(0.0, f64::max);

    println!("\nBurst: {n} phones tap Connect at once (village {TAG}, release daemon; portal lines: {:?})", portal_lines);
    println!(
        "machine: {} CPUs, kernel {}, load average at the end {}",
        nproc(),
        kernel(),
        loadavg()
    );
    println!(
        "making the {n} phones (namespaces, veths, addresses): {:.1} s, not measured",
        v.crowd_setup.as_secs_f64()
    );
    println!("\n| phones | online (upstream page fetched) | in the kernel's @online | total time | login errors (phones that had to tap again) | upstream errors after a 303 |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {n} | {} | {in_set} | {:.2} s | {login_errors} ({retried}) | {upstream_errors} |",
        online.len(),
        total / 1e3
    );
    println!("\n| per phone, ms | p50 / p90 / p99 / max |");
    println!("|---|---:|");
    println!(
        "| POST /login -> 303 (its own request) | {} |",
        summary_ms(&login)
    );
    println!(
        "| barrier -> upstream page (time to online) | {} |",
        summary_ms(&online)
    );
    println!("\ndaemon: {cpu:.2} s CPU in {:.2} s wall ({:.0} % of one core); VmRSS {} MiB, VmHWM {} MiB, {} threads", wall.as_secs_f64(), 100.0 * cpu / wall.as_secs_f64(), rss / 1024, hwm / 1024, daemon.threads());
    println!("{setup_note}");
    if !kinds.is_empty() {
        println!("\nerrors:");
        for (k, c) in kinds {
            println!("  {c} x {k}");
        }
    }
    Ok(login_errors == 0 && upstream_errors == 0 && online.len() == n)
}

/// One phone: splash page, wait at the barrier, log in, fetch an upstream page.
fn phone(
    barrier: Arc<Barrier>,
    ready: mpsc::Sender<Result<(), String>>,
    start: Arc<std::sync::OnceLock<Instant>>,
) -> Outcome {
    // Setup, not measured: up to 3 tries (first-try failures are reported).
    let mut splash = Err(String::new());
    for _ in 0..3 {
        splash = http(PORTAL, "GET", "/", Duration::from_secs(10)).and_then(|r| {
            if r.code == 200 {
                Ok(())
            } else {
                Err(format!("splash answered {}", r.code))
            }
        });
        if splash.is_ok() {
            break;
        }
        let _ = ready.send(splash.clone());
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = ready.send(splash.map_err(|e| format!("gave up: {e}")));
    barrier.wait();
    let t0 = *start.get().expect("start time");
    let mut out = Outcome::default();
    for _attempt in 0..3 {
        let t = Instant::now();
        match http(PORTAL, "POST", "/login", Duration::from_secs(30)) {
            Ok(r) if r.code == 303 => {
                out.login_ms = ms(t.elapsed());
                break;
            }
            Ok(r) => out.login_errors.push(format!("login answered {}", r.code)),
            Err(e) => out.login_errors.push(format!("login: {}", strip_addr(&e))),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if out.login_errors.len() == 3 {
        return out;
    }
    let page = SocketAddrV4::new(UPSTREAM, 80);
    for _ in 0..5 {
        match http(page, "GET", "/", Duration::from_secs(10)) {
            Ok(r) if r.code == 200 && r.body.starts_with("upstream ok") => {
                out.online_ms = Some(ms(t0.elapsed()));
                break;
            }
            Ok(r) => out.upstream_errors.push(format!(
                "upstream fetch answered {} (still captive?)",
                r.code
            )),
            Err(e) => out
                .upstream_errors
                .push(format!("upstream fetch: {}", strip_addr(&e))),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    out
}

/// "connect 10.77.0.1:2050: Connection reset by peer" without the ephemeral details, for grouping.
fn strip_addr(e: &str) -> String {
    e.replace("/login", "").chars().take(100).collect()
}

/// How many elements the kernel's `@online` set holds now.
fn online_elements(v: &Village) -> usize {
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &v.router(),
            "nft",
            "-j",
            "list",
            "set",
            "inet",
            "desawifi",
            "online",
        ])
        .output();
    let Ok(out) = out else { return 0 };
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    json["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["set"]["elem"].as_array())
        .map(|a| a.len())
        .sum()
}
