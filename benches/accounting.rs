//! Cost of one accounting pass (read every device's kernel counters over
//! netlink, update sled, decide) at 100, 1,000 and 10,000 online devices.
//!
//!     sudo cargo bench --bench accounting
//!
//! Runs inside a network namespace of its own (it re-executes itself under
//! `ip netns exec`), so the machine's own ruleset is never touched. Reports
//! medians; no thresholds are asserted. Before each timed pass every
//! device's counters grow (elements re-created with larger counters), so
//! every device is busy in every pass.
//!
//! Each size runs twice: `[store] write_interval = "0s"` (every pass writes
//! every busy record, the old behaviour) and the default `"1m"`, with the
//! clock advanced by the default 5 s accounting interval per pass (24 timed
//! passes = 2 minutes of a village's time). Disk = `write_bytes` of
//! `/proc/self/io` (what reached the block layer, sled's log and fsyncs
//! included) per pass, averaged.
//!
//! Beside each pass, in the same round (so machine noise hits all alike),
//! the bench times the counter read the pass does (`read`: the counted sets
//! alone over one nf_tables netlink socket, parsed; `firewall::netlink`)
//! against references, as medians and ratios to the old reads: `nft` = the
//! same sets through one `nft -j -i` process, parsed (the pass's read
//! before, and its fallback); `table` = the full `nft -j list table inet
//! desawifi` parsed (what every pass read before that); `1 set` = `nft -j
//! list set` of the `online` set alone, unparsed (one counted set is the
//! least one nft process can print); `text` = both counted sets in one
//! `nft -i` without `-j`, unparsed (nft's text output is cheaper to print
//! than JSON).

#[path = "util/mod.rs"]
mod util;

use util::{kernel, nproc};

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use desawifi::clock::ManualClock;
use desawifi::config::Config;
use desawifi::domain::{Device, Mac, Session};
use desawifi::firewall::{Firewall, Nft};
use desawifi::gateway::accounting;
use desawifi::gateway::{default_slot_rates, shaping_plan, Gateway};
use desawifi::shaping::Tc;
use desawifi::store::Store;

const NS: &str = "dw-bench-acct";
const INSIDE: &str = "DESAWIFI_BENCH_INSIDE";

fn main() {
    if std::env::var_os(INSIDE).is_none() {
        // Re-run this binary inside a fresh namespace with a LAN bridge.
        let _ = Command::new("ip")
            .args(["netns", "del", NS])
            .stderr(std::process::Stdio::null())
            .status();
        run(&["ip", "netns", "add", NS]);
        run(&["ip", "-n", NS, "link", "add", "br-lan", "type", "bridge"]);
        run(&[
            "ip",
            "-n",
            NS,
            "link",
            "add",
            "wan0",
            "type",
            "veth",
            "peer",
            "name",
            "wan0-peer",
        ]);
        let me = std::env::current_exe().unwrap();
        let status = Command::new("ip")
            .args(["netns", "exec", NS])
            .arg(me)
            .env(INSIDE, "1")
            .status()
            .unwrap();
        let _ = Command::new("ip").args(["netns", "del", NS]).status();
        std::process::exit(status.code().unwrap_or(1));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("accounting pass, median of {PASSES} passes (after 2 warm-up passes); machine: {} cores, kernel {}", nproc(), kernel());
    println!(
        "{:>8} {:>7} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>11} {:>10} {:>14} {:>10} {:>9}",
        "devices",
        "writes",
        "pass ms",
        "read ms",
        "nft ms",
        "table ms",
        "read/table",
        "nft/table",
        "1 set/table",
        "text/table",
        "disk KiB/pass",
        "us/device",
        "B/device"
    );
    let sizes: Vec<usize> = std::env::var("ACCT_SIZES")
        .map(|v| v.split(',').map(|n| n.parse().unwrap()).collect())
        .unwrap_or(vec![100, 1_000, 10_000]);
    for n in sizes {
        for write_interval in ["0s", "1m"] {
            rt.block_on(bench(n, write_interval));
        }
    }
}

/// Timed passes per run: 2 minutes at the default 5 s interval.
const PASSES: u64 = 24;

async fn bench(n: usize, write_interval: &str) {
    let dir = std::env::temp_dir().join(format!("desawifi-bench-acct-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    let toml = format!(
        "[site]\nname = \"Bench\"\n[network]\nlan_interface = \"br-lan\"\nwan_interface = \"wan0\"\nportal_address = \"10.77.0.1\"\nmax_online = {n}\n\
         [portal]\nlisten = \"10.77.0.1:2050\"\n[store]\npath = \"{}\"\nwrite_interval = \"{write_interval}\"\n[quota]\nsession_time = \"24h\"\nidle_timeout = \"24h\"\n",
        dir.display()
    );
    let config = Arc::new(Config::parse(&toml, Path::new("bench.toml")).unwrap());
    let store = Store::open(&config.store.path).unwrap();
    let now = jiff::Timestamp::now().as_second();
    for i in 0..n {
        let (mac, ip) = device(i);
        let mut d = Device::new(mac, now);
        d.ip = Some(ip);
        d.session = Some(Session::new(ip, now, 86_400));
        store.put_device(&d).unwrap();
    }
    store.flush().await.unwrap();
    let (fw, handle) = Firewall::new(
        Nft::default(),
        Tc::default(),
        shaping_plan(&config),
        default_slot_rates(&config),
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    tokio::spawn(fw.run(cancel.clone()));
    let clock = Arc::new(ManualClock::new(now));
    let gw = Gateway::start(config.clone(), store.clone(), handle.clone(), clock.clone())
        .await
        .unwrap();
    for _ in 0..2 {
        accounting::pass(&gw).await.unwrap();
    }
    let mut passes = Vec::new();
    let mut reads = Vec::new();
    let mut nft_reads = Vec::new();
    let (mut tables, mut one_set, mut text) = (Vec::new(), Vec::new(), Vec::new());
    let full = Nft::default();
    let written_before = disk_written();
    for round in 1..=PASSES {
        // Every device moved some bytes since the last pass: the busy case.
        bump_counters(n, round);
        clock.advance(5);
        let t = Instant::now();
        handle.counters().await.unwrap();
        reads.push(t.elapsed());
        let t = Instant::now();
        full.counters_from_nft().await.unwrap();
        nft_reads.push(t.elapsed());
        let t = Instant::now();
        full.read().await.unwrap();
        tables.push(t.elapsed());
        one_set.push(nft_time(
            &["-j", "list", "set", "inet", "desawifi", "online"],
            "",
        ));
        text.push(nft_time(
            &["-i"],
            "list set inet desawifi online\nlist set inet desawifi down\n",
        ));
        let t = Instant::now();
        accounting::pass(&gw).await.unwrap();
        store.flush().await.unwrap();
        passes.push(t.elapsed());
    }
    let written = disk_written().saturating_sub(written_before) / PASSES;
    let pass = median(&mut passes);
    let table = median(&mut tables);
    let ratio = |d: Duration| d.as_secs_f64() / table.as_secs_f64();
    let read = median(&mut reads);
    let nft_read = median(&mut nft_reads);
    println!(
        "{:>8} {:>7} {:>10.2} {:>9.2} {:>9.2} {:>9.2} {:>10.2} {:>10.2} {:>11.2} {:>10.2} {:>14.1} {:>10.2} {:>9}",
        n,
        write_interval,
        ms(pass),
        ms(read),
        ms(nft_read),
        ms(table),
        ratio(read),
        ratio(nft_read),
        ratio(median(&mut one_set)),
        ratio(median(&mut text)),
        written as f64 / 1024.0,
        pass.as_secs_f64() * 1e6 / n as f64,
        written / n as u64
    );
    cancel.cancel();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Re-create every element with larger counters, as if each phone had been busy.
fn bump_counters(n: usize, round: u64) {
    let mut script = String::from("flush set inet desawifi online\nflush set inet desawifi down\n");
    let (mut up, mut down) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let (mac, ip) = device(i);
        up.push(format!(
            "{mac} . {ip} counter packets {round} bytes {}",
            round * 1000
        ));
        down.push(format!(
            "{ip} counter packets {round} bytes {}",
            round * 5000
        ));
    }
    script += &format!("add element inet desawifi online {{ {} }}\n", up.join(", "));
    script += &format!("add element inet desawifi down {{ {} }}\n", down.join(", "));
    util::feed(Command::new("nft").args(["-f", "-"]), &script)
        .unwrap_or_else(|e| panic!("bumping the counters: {e}"));
}

/// Wall time of one `nft` run with `input` on its stdin, its output read and dropped.
fn nft_time(args: &[&str], input: &str) -> Duration {
    use std::io::Write;
    let t = Instant::now();
    let mut child = Command::new("nft")
        .args(args)
        // As the daemon does: `nft -i` would load and rewrite ~/.nft.history.
        .env("HOME", "/proc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "nft {args:?} failed"
    );
    t.elapsed()
}

fn device(i: usize) -> (Mac, Ipv4Addr) {
    (
        Mac([2, 0x42, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]),
        Ipv4Addr::from(0x0a40_0000u32 + i as u32 + 1),
    )
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Bytes this process wrote to storage (`/proc/self/io` write_bytes).
fn disk_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("write_bytes: ")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn run(args: &[&str]) {
    let ok = Command::new(args[0])
        .args(&args[1..])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{args:?} failed");
}
