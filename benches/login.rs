//! Login -> online latency: from the phone's `POST /login` to the first
//! packet of that phone forwarded upstream, with 0, 1,000 and 10,000 other
//! devices already online.
//!
//!     sudo cargo bench --bench login
//!
//! LOGIN_SAMPLES (default 300) logins per state, LOGIN_ONLINE (default
//! "0,1000,10000") the states, LOGIN_QUOTA extra `[quota]` lines
//! (e.g. `accounting_interval = "1h"`). Builds village `latbn` (`scripts/village.sh up
//! latbn 1`, removed at the end) and runs the release daemon in its router.
//! For each state the store is written before the daemon starts: N made-up
//! devices (MACs 02:42:.., addresses 10.78.x.y) with sessions of 24 h, which
//! the daemon reconciles into the kernel's sets at start-up like any stored
//! session. Past 1,024 online the config sets `[network] max_online` to the
//! count (one shaping slot each). State "10000k" (not in the default list) is
//! the stand-in used before that key existed: 1,000 stored sessions and 9,000
//! more elements put straight into the kernel's sets and maps.
//!
//! One sample, all from phone 1's namespace: check that the phone is captive
//! (a TCP connect to the upstream's port 443 is reset by the router), take
//! t0, send `POST /login` on a fresh connection; meanwhile a second thread in
//! the phone keeps trying `connect(198.51.100.2:443)` every 0.2 ms. A connect
//! that succeeds means the phone's SYN was forwarded, reached the upstream and
//! its SYN-ACK came back: "online" is t0 to that moment (so it includes one
//! round trip, ~0.1 ms). "login" is t0 to the end of the portal's 303. Then
//! `POST /logout`, and wait until the phone is captive again.
//!
//! Reports p50 / p90 / p99 / max; asserts nothing about time.

#[path = "crowd/mod.rs"]
mod crowd;

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crowd::*;
use desawifi::domain::{Device, Mac, Session};
use desawifi::store::Store;

const TAG: &str = "latbn";
/// Port 443 on the upstream: reset by the router while captive, never redirected
/// (port 80 is: it would "connect" to the portal).
const PROBE: SocketAddrV4 = SocketAddrV4::new(UPSTREAM, 443);
const PROBE_EVERY: Duration = Duration::from_micros(200);

fn main() {
    let samples = env_num("LOGIN_SAMPLES", 300usize).max(1);
    let states: Vec<(usize, bool)> = std::env::var("LOGIN_ONLINE")
        .unwrap_or_else(|_| "0,1000,10000".into())
        .split(',')
        .filter_map(|s| {
            let s = s.trim();
            let padded = s.ends_with('k');
            s.trim_end_matches('k').parse().ok().map(|n| (n, padded))
        })
        .collect();
    let v = match Village::up(TAG, 0) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("login bench: {e}");
            std::process::exit(1);
        }
    };
    let mut rows = Vec::new();
    let mut failed = false;
    for &(n, padded) in &states {
        match state(&v, n, padded, samples) {
            Ok(row) => rows.push(row),
            Err(e) => {
                eprintln!("login bench: {n} online: {e}");
                let first = e.lines().next().unwrap_or("");
                let last = e.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                rows.push(format!(
                    "| {n} | — | — | — | did not run: {} / {} |",
                    first.replace('|', "/"),
                    last.replace('|', "/")
                ));
                failed = true;
            }
        }
    }
    println!("\nLogin -> online (phone 1, {samples} logins per state, ms: p50 / p90 / p99 / max)");
    println!(
        "machine: {} CPUs, kernel {}, load average at the end {}",
        nproc(),
        kernel(),
        loadavg()
    );
    println!("\n| already online | login (POST -> 303) | online (POST -> first upstream connect) | online - login, p50 | note |");
    println!("|---:|---:|---:|---:|---|");
    for r in rows {
        println!("{r}");
    }
    drop(v);
    if failed {
        std::process::exit(1);
    }
}

/// One state: a fresh store with `n` online devices, a fresh daemon, `samples` logins.
fn state(v: &Village, n: usize, padded: bool, samples: usize) -> Result<String, String> {
    let store_dir = v.run_dir().join("store");
    let _ = std::fs::remove_dir_all(&store_dir);
    let _ = run(std::process::Command::new("ip").args([
        "netns",
        "exec",
        &v.router(),
        "nft",
        "delete",
        "table",
        "inet",
        "desawifi",
    ]));
    let stored = if padded { n.min(1000) } else { n };
    populate(&store_dir, stored)?;
    let t = Instant::now();
    // LOGIN_QUOTA: extra `[quota]` lines, e.g. `accounting_interval = "1h"` to see the logins without counter reads.
    let quota = format!(
        "[quota]\nsession_time = \"24h\"\nidle_timeout = \"24h\"\n{}\n",
        std::env::var("LOGIN_QUOTA").unwrap_or_default()
    );
    // More than the default 1,024 shaping slots: say so in [network].
    let network = if stored >= 1024 {
        format!("max_online = {}\n", stored + 16)
    } else {
        String::new()
    };
    let daemon = Daemon::start_with(v, &network, "", &quota)?;
    eprintln!("{n} online: daemon up in {:.0} ms", ms(t.elapsed()));
    if padded && n > stored {
        pad_kernel(v, stored, n - stored)?;
    }
    std::thread::sleep(Duration::from_secs(1));

    let phone = v.phone1();
    let (go_tx, go_rx) = mpsc::channel::<Instant>();
    let (done_tx, done_rx) = mpsc::channel::<Result<Instant, String>>();
    let prober = spawn_in(phone.ns.clone(), move || {
        for t0 in go_rx {
            let r = loop {
                match TcpStream::connect_timeout(&SocketAddr::V4(PROBE), Duration::from_secs(1)) {
                    Ok(_) => break Ok(Instant::now()),
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                    Err(e) => break Err(format!("probe connect: {e}")),
                }
                if t0.elapsed() > Duration::from_secs(10) {
                    break Err("not online 10 s after POST /login".into());
                }
                std::thread::sleep(PROBE_EVERY);
            };
            let _ = done_tx.send(r);
        }
    });
    let ns = phone.ns.clone();
    let result = spawn_in(ns, move || -> Result<(Vec<f64>, Vec<f64>), String> {
        let (mut login, mut online) = (Vec::new(), Vec::new());
        for i in 0..samples + 5 {
            captive_again()?;
            let t0 = Instant::now();
            go_tx.send(t0).map_err(|_| "prober gone")?;
            let r = http(PORTAL, "POST", "/login", Duration::from_secs(10))?;
            let logged_in = Instant::now();
            if r.code != 303 {
                return Err(format!(
                    "POST /login: {} {}",
                    r.code,
                    r.body.chars().take(200).collect::<String>()
                ));
            }
            let first = done_rx.recv().map_err(|_| "prober gone")??;
            if i >= 5 {
                login.push(ms(logged_in - t0));
                online.push(ms(first - t0));
            }
            let r = http(PORTAL, "POST", "/logout", Duration::from_secs(10))?;
            if r.code != 303 {
                return Err(format!("POST /logout: {}", r.code));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(go_tx);
        Ok((login, online))
    })
    .join()
    .map_err(|_| "sampler panicked")??;
    let _ = prober.join();
    let (login, online) =
        result.map_err(|e| format!("{e}\ndaemon log tail:\n{}", daemon.log_tail(20)))?;
    let mut diff: Vec<f64> = online.iter().zip(&login).map(|(o, l)| o - l).collect();
    let (rss, hwm) = daemon.memory_kib();
    eprintln!(
        "{n} online: login {} | online {} ms; daemon RSS {rss} KiB, HWM {hwm} KiB",
        summary_ms(&login),
        summary_ms(&online)
    );
    let label = if padded {
        format!("{n} ({stored} sessions + {} kernel-only)", n - stored)
    } else {
        n.to_string()
    };
    Ok(format!(
        "| {label} | {} | {} | {:.2} | daemon RSS {} MiB |",
        summary_ms(&login),
        summary_ms(&online),
        quantile(&mut diff, 0.5),
        rss / 1024
    ))
}

/// Waits (at most 2 s) until phone 1 is captive: its connect to the upstream's :443 is reset.
fn captive_again() -> Result<(), String> {
    let t = Instant::now();
    loop {
        match TcpStream::connect_timeout(&SocketAddr::V4(PROBE), Duration::from_secs(1)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(()),
            _ if t.elapsed() > Duration::from_secs(2) => {
                return Err("phone 1 still online 2 s after POST /logout".into())
            }
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// `n` made-up devices online for 24 h, written before the daemon starts.
fn populate(dir: &std::path::Path, n: usize) -> Result<(), String> {
    let store = Store::open(dir).map_err(|e| format!("store: {e}"))?;
    let now = jiff::Timestamp::now().as_second();
    for i in 0..n {
        let mac = Mac([2, 0x42, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 78, 0, 0)) + i as u32 + 1);
        let mut d = Device::new(mac, now);
        d.ip = Some(ip);
        d.session = Some(Session::new(ip, now, 86_400));
        store.put_device(&d).map_err(|e| format!("store: {e}"))?;
    }
    store.flush_blocking().map_err(|e| format!("store: {e}"))?;
    Ok(())
}

/// `count` more online devices in the kernel only (MACs 02:43:.., 10.79.x.y):
/// elements of `@online`, `@online_nat`, `@down` and `dev_slot`, as an
/// admit makes them, in one `nft -f`.
fn pad_kernel(v: &Village, from: usize, count: usize) -> Result<(), String> {
    let (mut pairs, mut ips, mut classes) = (Vec::new(), Vec::new(), Vec::new());
    for i in from..from + count {
        let mac = format!(
            "02:43:00:{:02x}:{:02x}:{:02x}",
            (i >> 16) as u8,
            (i >> 8) as u8,
            i as u8
        );
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 79, 0, 0)) + i as u32 + 1);
        pairs.push(format!("{mac} . {ip}"));
        ips.push(ip.to_string());
        classes.push(format!("{mac} . {ip} : {}", 1 + (i % 1024)));
    }
    let (pairs, ips, classes) = (pairs.join(", "), ips.join(", "), classes.join(", "));
    let script = format!(
        "add element inet desawifi online {{ {pairs} }}\nadd element inet desawifi online_nat {{ {pairs} }}\n\
         add element inet desawifi down {{ {ips} }}\nadd element inet desawifi dev_slot {{ {classes} }}\n"
    );
    let mut nft = std::process::Command::new("ip");
    nft.args(["netns", "exec", &v.router(), "nft", "-f", "-"]);
    crowd::util::feed(&mut nft, &script).map_err(|e| format!("padding the sets: {e}"))
}
