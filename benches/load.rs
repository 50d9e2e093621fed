//! Load: 500 phones log in and browse together for a few minutes.
//!
//!     sudo cargo bench --bench load
//!
//! LOAD_PHONES (default 500), LOAD_SECS (default 180: the browsing time after
//! the first login), LOAD_RAMP_SECS (default 10: logins are spread at random
//! over this time), LOAD_THINK_SECS (default 3: mean pause between two pages
//! of one phone, uniform in 1/3..5/3 of it).
//!
//! Builds village `loadbn` plus the crowd (benches/crowd: one namespace, veth,
//! MAC and address per phone; setup time printed, not measured) and runs the
//! real release daemon in the router with its default config. One thread per
//! phone:
//!
//! 1. loads the splash page (its login sheet), waits its turn in the ramp,
//!    `POST /login` (must be a 303);
//! 2. until the end: fetches a page from the upstream
//!    (`http://198.51.100.2/p/PHONE/K`, must be the upstream's own 200), pauses
//!    (think time), and now and then (every 8th page on average, ~25 s)
//!    re-checks the portal: `GET /api/captive` (must say `"captive":false`)
//!    or, one time in four, `GET /status` (must be 200).
//!
//! Every request is timed. The daemon's CPU time is `utime + stime` from
//! `/proc/PID/stat` over the run (first login to the end); its memory is
//! VmRSS (sampled every 5 s, the largest seen) and VmHWM at the end. The
//! upstream's HTTP server (python) and this process run on the same 2 cores,
//! so their CPU is reported too. Asserts nothing about time: a failed login or
//! portal check makes the exit status non-zero.

#[path = "crowd/mod.rs"]
mod crowd;

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use crowd::*;

const TAG: &str = "loadbn";

#[derive(Default)]
struct Seen {
    login: Vec<f64>,
    captive_api: Vec<f64>,
    status: Vec<f64>,
    splash: Vec<f64>,
    page: Vec<f64>,
    errors: Vec<String>,
}

fn main() {
    let phones = env_num("LOAD_PHONES", 500usize).clamp(1, 1200);
    let v = match Village::up(TAG, phones) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("load bench: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "load: {phones} phones made in {:.1} s",
        v.crowd_setup.as_secs_f64()
    );
    let ok = bench(&v).unwrap_or_else(|e| {
        eprintln!("load bench failed: {e}");
        false
    });
    drop(v);
    if !ok {
        std::process::exit(1);
    }
}

fn bench(v: &Village) -> Result<bool, String> {
    let secs = env_num("LOAD_SECS", 180.0f64);
    let ramp = env_num("LOAD_RAMP_SECS", 10.0f64);
    let think = env_num("LOAD_THINK_SECS", 3.0f64);
    let daemon = Daemon::start(v, "", "")?;
    std::thread::sleep(Duration::from_secs(1));
    let upstream_pid: Option<u32> =
        std::fs::read_to_string(format!("/run/desawifi-village/{TAG}/upstream-http.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
    let proc_ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let f: Vec<u64> = stat
            .rsplit_once(") ")
            .map(|(_, s)| s)
            .unwrap_or("")
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|x| x.parse().ok())
            .collect();
        f.iter().sum()
    };
    let me = std::process::id();
    let t0 = Instant::now();
    let (cpu0, up0, me0) = (
        daemon.cpu_ticks(),
        upstream_pid.map_or(0, proc_ticks),
        proc_ticks(me),
    );
    let end = t0 + Duration::from_secs_f64(ramp + secs);
    let mut handles = Vec::new();
    for p in v.crowd.clone() {
        let offset = Duration::from_secs_f64(Rng::new(p.n as u64).range(0.0, ramp.max(0.001)));
        handles.push(spawn_in(p.ns.clone(), move || {
            browse(p.n as u64, t0 + offset, end, think)
        }));
    }
    // Memory while it runs.
    let mut max_rss = 0;
    let mut samples = Vec::new();
    while Instant::now() < end {
        std::thread::sleep(
            Duration::from_secs(5).min(end.saturating_duration_since(Instant::now())),
        );
        let (rss, _) = daemon.memory_kib();
        max_rss = max_rss.max(rss);
        samples.push((t0.elapsed().as_secs(), rss));
        eprintln!(
            "load: t={:>4}s daemon VmRSS {} KiB, CPU so far {:.1} s",
            t0.elapsed().as_secs(),
            rss,
            (daemon.cpu_ticks() - cpu0) as f64 / ticks_per_sec()
        );
    }
    let results: Vec<Seen> = handles
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| "phone thread panicked".to_string())
                .and_then(|r| r)
        })
        .collect::<Result<_, _>>()?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (daemon.cpu_ticks() - cpu0) as f64 / ticks_per_sec();
    let up_cpu = upstream_pid.map_or(0, proc_ticks).saturating_sub(up0) as f64 / ticks_per_sec();
    let me_cpu = proc_ticks(me).saturating_sub(me0) as f64 / ticks_per_sec();
    let (rss, hwm) = daemon.memory_kib();
    max_rss = max_rss.max(rss);

    let mut all = Seen::default();
    for s in results {
        all.login.extend(s.login);
        all.captive_api.extend(s.captive_api);
        all.status.extend(s.status);
        all.splash.extend(s.splash);
        all.page.extend(s.page);
        all.errors.extend(s.errors);
    }
    let portal: Vec<f64> = all
        .login
        .iter()
        .chain(&all.captive_api)
        .chain(&all.status)
        .copied()
        .collect();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for e in &all.errors {
        *kinds.entry(e.clone()).or_default() += 1;
    }
    let n = v.crowd.len();
    println!("\nLoad: {n} phones log in over {ramp:.0} s and browse for {secs:.0} s (village {TAG}, release daemon, default config)");
    println!(
        "machine: {} CPUs, kernel {}, load average at the end {}",
        nproc(),
        kernel(),
        loadavg()
    );
    println!(
        "making the {n} phones: {:.1} s, not measured",
        v.crowd_setup.as_secs_f64()
    );
    println!("\n| requests | count | ms: p50 / p90 / p99 / max |");
    println!("|---|---:|---:|");
    println!(
        "| POST /login -> 303 | {} | {} |",
        all.login.len(),
        summary_ms(&all.login)
    );
    println!(
        "| GET /api/captive (online) | {} | {} |",
        all.captive_api.len(),
        summary_ms(&all.captive_api)
    );
    println!(
        "| GET /status | {} | {} |",
        all.status.len(),
        summary_ms(&all.status)
    );
    println!(
        "| portal, all three | {} | {} |",
        portal.len(),
        summary_ms(&portal)
    );
    println!(
        "| GET / splash (captive, before the run) | {} | {} |",
        all.splash.len(),
        summary_ms(&all.splash)
    );
    println!(
        "| upstream page through the router | {} | {} |",
        all.page.len(),
        summary_ms(&all.page)
    );
    println!(
        "\nfailed logins: {}; errors of any kind: {}",
        n - all.login.len(),
        all.errors.len()
    );
    for (k, c) in &kinds {
        println!("  {c} x {k}");
    }
    println!(
        "daemon: {cpu:.1} s CPU in {wall:.0} s ({:.1} % of one core); VmRSS largest {} KiB, at the end {} KiB; VmHWM {} KiB; {} threads",
        100.0 * cpu / wall,
        max_rss,
        rss,
        hwm,
        daemon.threads()
    );
    println!("same machine, same time: upstream HTTP server {up_cpu:.1} s CPU, this bench (the {n} phones) {me_cpu:.1} s CPU");
    println!(
        "daemon VmRSS over time (s: KiB): {}",
        samples
            .iter()
            .map(|(t, r)| format!("{t}: {r}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(all.login.len() == n && all.errors.is_empty())
}

/// One phone's few minutes.
fn browse(n: u64, login_at: Instant, end: Instant, think: f64) -> Seen {
    let mut rng = Rng::new(n ^ 0x5eed);
    let mut seen = Seen::default();
    let timeout = Duration::from_secs(15);
    match http(PORTAL, "GET", "/", timeout) {
        Ok(r) if r.code == 200 => seen.splash.push(ms(r.took)),
        Ok(r) => seen.errors.push(format!("splash answered {}", r.code)),
        Err(e) => seen.errors.push(format!("splash: {e}")),
    }
    std::thread::sleep(login_at.saturating_duration_since(Instant::now()));
    let t = Instant::now();
    match http(PORTAL, "POST", "/login", timeout) {
        Ok(r) if r.code == 303 => seen.login.push(ms(t.elapsed())),
        Ok(r) => {
            seen.errors.push(format!("login answered {}", r.code));
            return seen;
        }
        Err(e) => {
            seen.errors.push(format!("login: {e}"));
            return seen;
        }
    }
    let upstream = SocketAddrV4::new(UPSTREAM, 80);
    let mut k = 0u64;
    while Instant::now() < end {
        k += 1;
        match http(upstream, "GET", &format!("/p/{n}/{k}"), timeout) {
            Ok(r) if r.code == 200 && r.body.starts_with("upstream ok") => {
                seen.page.push(ms(r.took))
            }
            Ok(r) => seen
                .errors
                .push(format!("upstream page answered {}", r.code)),
            Err(e) => seen.errors.push(format!(
                "upstream page: {}",
                e.split(':').next().unwrap_or("")
            )),
        }
        if rng.next() % 8 == 0 {
            if rng.next() % 4 == 0 {
                match http(PORTAL, "GET", "/status", timeout) {
                    Ok(r) if r.code == 200 => seen.status.push(ms(r.took)),
                    Ok(r) => seen.errors.push(format!("/status answered {}", r.code)),
                    Err(e) => seen.errors.push(format!("/status: {e}")),
                }
            } else {
                match http(PORTAL, "GET", "/api/captive", timeout) {
                    Ok(r) if r.code == 200 && r.body.contains("\"captive\":false") => {
                        seen.captive_api.push(ms(r.took))
                    }
                    Ok(r) => seen.errors.push(format!(
                        "/api/captive answered {} {}",
                        r.code,
                        r.body.chars().take(60).collect::<String>()
                    )),
                    Err(e) => seen.errors.push(format!("/api/captive: {e}")),
                }
            }
        }
        let pause = rng.range(think / 3.0, think * 5.0 / 3.0);
        let left = end.saturating_duration_since(Instant::now());
        std::thread::sleep(Duration::from_secs_f64(pause).min(left));
    }
    seen
}
