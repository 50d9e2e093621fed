//! Forwarding throughput through the router with 0, 1, 1,000 and 10,000
//! online devices: does the per-packet cost stay flat as the sets grow?
//!
//!     sudo cargo bench --bench forwarding
//!
//! FWD_ROUNDS (default 5) rounds with one flow, then FWD_P4_ROUNDS (default 3,
//! 0 skips them) with `-P 4`: a veth path is CPU-bound, so several flows load
//! every core.
//!
//! Builds a village (`scripts/village.sh up fwdbn 1`, removed at the end even
//! on error), runs `iperf3 -s -D` upstream and measures TCP phone 1 -> upstream
//! (upload) and upstream -> phone 1 (download, `-R`) under four router states,
//! interleaved A B C D A B C D ... so machine noise hits all alike:
//!
//!   A  no desawifi table (baseline)
//!   B  `render::full` with phone 1 online (sets and HTB class maps, no tc tree)
//!   C  the same with 1,000 online devices (phone 1 + 999 made up)
//!   D  the same with 10,000 online devices
//!
//! Each document is applied with `ip netns exec dw-fwdbn-r nft -j -f -` (timed:
//! the start-up reconcile cost) and the table deleted before the next state.
//! Reports medians and ratios to A of the same round; asserts no thresholds.
//! Exits non-zero only when something failed to run.

#[path = "util/mod.rs"]
mod util;

use util::{env_count, feed, kernel, max, median, min, nproc, ns, run};

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use desawifi::domain::Mac;
use desawifi::firewall::{
    render, DeviceKey, GardenNet, KernelState, OnlineDevice, Policy, SlotRates,
};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/village.sh");
const TAG: &str = "fwdbn";
const ROUTER: &str = "dw-fwdbn-r";
const PHONE: &str = "dw-fwdbn-p1";
const UPSTREAM: &str = "dw-fwdbn-u";
const SERVER: &str = "198.51.100.2";
/// The router states, in the order each round visits them: (label, online devices).
const STATES: [(&str, Option<usize>); 4] = [
    ("A", None),
    ("B", Some(1)),
    ("C", Some(1_000)),
    ("D", Some(10_000)),
];

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
            eprintln!("forwarding bench: teardown failed: {e}");
        }
    }
}

/// One iperf3 measurement in Mbit/s, per direction.
#[derive(Default, Clone, Copy)]
struct Speeds {
    download: f64,
    upload: f64,
}

fn main() {
    let village = match Village::up() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("forwarding bench: {e}");
            std::process::exit(1);
        }
    };
    let result = bench();
    drop(village);
    if let Err(e) = result {
        eprintln!("forwarding bench failed: {e}");
        std::process::exit(1);
    }
}

fn bench() -> Result<(), String> {
    let rounds = env_count("FWD_ROUNDS", 5).max(1);
    let p4_rounds = env_count("FWD_P4_ROUNDS", 3);
    let pidfile = format!("/run/desawifi-village/{TAG}/iperf3.pid");
    run(&mut ns(
        UPSTREAM,
        &["iperf3", "-s", "-D", "-B", SERVER, "--pidfile", &pidfile],
    ))?;
    wait_listening()?;

    // The documents, rendered once; B/C/D differ only in their online sets.
    let mut docs = Vec::new();
    for (_, devices) in STATES {
        docs.push(devices.map(|n| {
            let t = Instant::now();
            let doc = render::full(&policy(n), &KernelState::default());
            (doc, t.elapsed())
        }));
    }

    let mut applies = vec![Vec::new(); STATES.len()];
    let speeds = series(1, rounds, &docs, &mut applies)?;
    // Again with 4 parallel flows per direction (a veth path is CPU-bound).
    let parallel = series(4, p4_rounds, &docs, &mut applies)?;

    let args: Vec<String> = std::env::args().collect();
    println!(
        "\nForwarding throughput, phone 1 <-> upstream through the router (iperf3 TCP, -t 5 -O 1)"
    );
    println!(
        "machine: {} CPUs, kernel {}; states A B C D interleaved in each round",
        nproc(),
        kernel()
    );
    println!(
        "command: cargo bench --bench forwarding  (argv: {})",
        args.join(" ")
    );
    print_table(&format!("one flow (-P 1), {rounds} rounds"), &speeds);
    if p4_rounds > 0 {
        print_table(&format!("four flows (-P 4), {p4_rounds} rounds"), &parallel);
    }
    println!("\nStart-up reconcile cost: the whole document applied to an empty router with `nft -j -f -`");
    println!(
        "(process spawn included; median of {} applies; render = render::full in this process)\n",
        rounds + p4_rounds
    );
    println!("| state | online devices | document bytes | render ms | apply ms (min-max) |");
    println!("|---|---:|---:|---:|---:|");
    for (i, (label, devices)) in STATES.iter().enumerate() {
        let (Some(n), Some((doc, render_time))) = (devices, &docs[i]) else {
            continue;
        };
        let ms: Vec<f64> = applies[i]
            .iter()
            .map(|d: &Duration| d.as_secs_f64() * 1e3)
            .collect();
        println!(
            "| {label} | {n} | {} | {:.1} | {:.1} ({:.1}-{:.1}) |",
            doc.len(),
            render_time.as_secs_f64() * 1e3,
            median(ms.clone()),
            min(&ms),
            max(&ms)
        );
    }
    Ok(())
}

/// `rounds` rounds of A B C D with `flows` parallel streams: speeds[state][round].
fn series(
    flows: usize,
    rounds: usize,
    docs: &[Option<(String, Duration)>],
    applies: &mut [Vec<Duration>],
) -> Result<Vec<Vec<Speeds>>, String> {
    let mut speeds = vec![Vec::new(); STATES.len()];
    for round in 1..=rounds {
        for (i, (label, _)) in STATES.iter().enumerate() {
            let s = with_state(i, docs, applies, || measure(flows))?;
            eprintln!(
                "-P {flows} round {round}/{rounds} state {label}: down {:.0} up {:.0} Mbit/s",
                s.download, s.upload
            );
            speeds[i].push(s);
        }
    }
    Ok(speeds)
}

/// Medians per state (with min-max) and the median of the per-round ratios to A.
fn print_table(title: &str, speeds: &[Vec<Speeds>]) {
    println!("\n{title}:\n");
    println!("| state | online devices | download Mbit/s (min-max) | ratio to A | upload Mbit/s (min-max) | ratio to A |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, (label, devices)) in STATES.iter().enumerate() {
        let (down, up): (Vec<f64>, Vec<f64>) =
            speeds[i].iter().map(|s| (s.download, s.upload)).unzip();
        let ratio = |f: fn(&Speeds) -> f64| {
            median(
                speeds[i]
                    .iter()
                    .zip(&speeds[0])
                    .map(|(x, a)| f(x) / f(a))
                    .collect(),
            )
        };
        println!(
            "| {label} | {} | {:.0} ({:.0}-{:.0}) | {:.3} | {:.0} ({:.0}-{:.0}) | {:.3} |",
            devices.map_or("no table".into(), |n| n.to_string()),
            median(down.clone()),
            min(&down),
            max(&down),
            ratio(|s| s.download),
            median(up.clone()),
            min(&up),
            max(&up),
            ratio(|s| s.upload),
        );
    }
}

/// Puts the router in state `i` (applying its document, timed), runs `f`,
/// and removes the table again.
fn with_state<T>(
    i: usize,
    docs: &[Option<(String, Duration)>],
    applies: &mut [Vec<Duration>],
    f: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    let Some((doc, _)) = &docs[i] else { return f() };
    let t = Instant::now();
    feed(&mut ns(ROUTER, &["nft", "-j", "-f", "-"]), doc)
        .map_err(|e| format!("applying a {}-byte document: {e}", doc.len()))?;
    applies[i].push(t.elapsed());
    let result = f();
    run(&mut ns(
        ROUTER,
        &["nft", "delete", "table", "inet", "desawifi"],
    ))?;
    result
}

/// Download (`-R`) and upload between phone 1 and the upstream, `flows` parallel streams.
fn measure(flows: usize) -> Result<Speeds, String> {
    Ok(Speeds {
        download: iperf(flows, true)?,
        upload: iperf(flows, false)?,
    })
}

/// One `iperf3 -c` run from phone 1; the receiver's rate in Mbit/s. Retried once
/// (a server still finishing the previous test refuses with "busy").
fn iperf(flows: usize, reverse: bool) -> Result<f64, String> {
    let p = flows.to_string();
    let mut args = vec!["iperf3", "-c", SERVER, "-t", "5", "-O", "1", "-J", "-P", &p];
    if reverse {
        args.push("-R");
    }
    let mut last = String::new();
    for attempt in 0..2 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(2));
        }
        let out = ns(PHONE, &args)
            .output()
            .map_err(|e| format!("iperf3: {e}"))?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        match json["end"]["sum_received"]["bits_per_second"].as_f64() {
            Some(bps) if out.status.success() => return Ok(bps / 1e6),
            _ => {
                last = format!(
                    "{:?}: {} {}",
                    args,
                    json["error"],
                    String::from_utf8_lossy(&out.stderr)
                )
            }
        }
    }
    Err(format!("iperf3 failed: {last}"))
}

/// Waits (at most 5 s) until the iperf3 server listens on :5201.
fn wait_listening() -> Result<(), String> {
    for _ in 0..50 {
        let out = ns(UPSTREAM, &["ss", "-Hltn", "sport = :5201"])
            .output()
            .map_err(|e| format!("ss: {e}"))?;
        if !out.stdout.is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("iperf3 -s did not listen on :5201 within 5 s".into())
}

/// Phone 1 plus `n - 1` made-up devices in 10.78.0.0/16 (they only fill the
/// sets and class maps), device i in shaping slot i. No HTB tree is built here,
/// so the class marks cost their map lookup but steer nothing.
fn policy(n: usize) -> Policy {
    let rates = SlotRates::same(100_000_000, 100_000_000);
    let mut keys = vec![DeviceKey {
        mac: Mac([2, 0x77, 0, 0, 0, 1]),
        ip: Ipv4Addr::new(10, 77, 0, 11),
    }];
    for i in 1..n {
        let (hi, lo) = ((i >> 8) as u8, i as u8);
        keys.push(DeviceKey {
            mac: Mac([2, 0x78, 0, 0, hi, lo]),
            ip: Ipv4Addr::new(10, 78, hi, lo),
        });
    }
    let online = keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| OnlineDevice {
            key,
            slot: i as u16,
            rates,
        })
        .collect();
    Policy {
        lan_interface: "br-lan".into(),
        portal_address: Ipv4Addr::new(10, 77, 0, 1),
        portal_port: 2050,
        portal_https_port: None,
        walled_garden: vec![GardenNet::V4(Ipv4Addr::new(203, 0, 113, 0), 24)],
        garden_ports: vec![80, 443],
        allow_private: vec![],
        online,
        // The shipped categories (their sets stay empty unless a run fills them).
        categories: desawifi::config::Usage::default()
            .categories
            .iter()
            .map(|c| desawifi::firewall::CategoryRule {
                id: c.id.clone(),
                free: c.free,
            })
            .collect(),
        slots: online_slots(n),
    }
}

/// The shaping slots of a table with `n` online devices (device i in slot i).
fn online_slots(n: usize) -> u16 {
    u16::try_from(n.max(1)).unwrap_or(u16::MAX)
}
