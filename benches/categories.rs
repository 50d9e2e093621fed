//! What the usage-category sets cost per packet (issue 12): forwarding
//! throughput with no categories against the shipped categories with 10,000
//! addresses loaded in their sets (as dnsmasq would learn them).
//!
//!     sudo cargo bench --bench categories
//!
//! CAT_ROUNDS (default 3) rounds of A B C, interleaved, iperf3 TCP one flow,
//! phone 1 <-> upstream 198.51.100.2, both directions:
//!
//!   A  `render::full` with phone 1 online and no categories
//!   B  the shipped categories, 10,000 addresses spread over their sets; the
//!      upstream in none of them (the worst case: every set looked up, `lainnya`)
//!   C  as B with the upstream in the first (free) category: one lookup, accepted early
//!
//! Reports medians and the median per-round ratio to A; asserts no thresholds.

#[path = "util/mod.rs"]
mod util;

use util::{env_count, feed, kernel, median, nproc, ns, run};

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use desawifi::domain::Mac;
use desawifi::firewall::categories::set_name;
use desawifi::firewall::{
    render, CategoryRule, DeviceKey, GardenNet, KernelState, OnlineDevice, Policy, SlotRates,
};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/village.sh");
const TAG: &str = "catbn";
const ROUTER: &str = "dw-catbn-r";
const PHONE: &str = "dw-catbn-p1";
const UPSTREAM: &str = "dw-catbn-u";
const SERVER: &str = "198.51.100.2";
const ADDRESSES: usize = 10_000;

struct Village;

impl Drop for Village {
    fn drop(&mut self) {
        let _ = run(Command::new(SCRIPT).args(["down", TAG]));
    }
}

fn main() {
    if let Err(e) = run(Command::new(SCRIPT).args(["up", TAG, "1"])) {
        eprintln!("categories bench: {e}");
        std::process::exit(1);
    }
    let village = Village;
    let result = bench();
    drop(village);
    if let Err(e) = result {
        eprintln!("categories bench failed: {e}");
        std::process::exit(1);
    }
}

fn shipped() -> Vec<CategoryRule> {
    desawifi::config::Usage::default()
        .categories
        .iter()
        .map(|c| CategoryRule {
            id: c.id.clone(),
            free: c.free,
        })
        .collect()
}

fn policy(categories: Vec<CategoryRule>) -> Policy {
    Policy {
        lan_interface: "br-lan".into(),
        portal_address: Ipv4Addr::new(10, 77, 0, 1),
        portal_port: 2050,
        portal_https_port: None,
        walled_garden: vec![GardenNet::V4(Ipv4Addr::new(203, 0, 113, 0), 24)],
        garden_ports: vec![80, 443],
        allow_private: vec![],
        online: vec![OnlineDevice {
            key: DeviceKey {
                mac: Mac([2, 0x77, 0, 0, 0, 1]),
                ip: Ipv4Addr::new(10, 77, 0, 11),
            },
            slot: 0,
            rates: SlotRates::same(100_000_000, 100_000_000),
        }],
        categories,
        slots: 1,
    }
}

/// `add element` lines: 10,000 made-up addresses (10.200.0.0/16) spread over
/// the sets, plus the upstream in the first set when `upstream_in_first`.
fn elements(cats: &[CategoryRule], upstream_in_first: bool) -> String {
    let mut per: Vec<Vec<String>> = vec![Vec::new(); cats.len()];
    for i in 0..ADDRESSES {
        per[i % cats.len()].push(format!("10.200.{}.{}", i >> 8, i & 255));
    }
    if upstream_in_first {
        per[0].push(SERVER.into());
    }
    cats.iter()
        .zip(per)
        .map(|(c, ips)| {
            format!(
                "add element inet desawifi {} {{ {} }}\n",
                set_name(&c.id),
                ips.join(", ")
            )
        })
        .collect()
}

fn nft(args: &[&str], input: &str) -> Result<(), String> {
    feed(&mut ns(ROUTER, args), input)
}

fn bench() -> Result<(), String> {
    let rounds = env_count("CAT_ROUNDS", 3).max(1);
    let pidfile = format!("/run/desawifi-village/{TAG}/iperf3.pid");
    run(&mut ns(
        UPSTREAM,
        &["iperf3", "-s", "-D", "-B", SERVER, "--pidfile", &pidfile],
    ))?;
    std::thread::sleep(Duration::from_secs(1));
    let cats = shipped();
    let states: [(&str, String, String); 3] = [
        (
            "A no categories",
            render::full(&policy(vec![]), &KernelState::default()),
            String::new(),
        ),
        (
            "B 10,000 addresses, upstream in none",
            render::full(&policy(cats.clone()), &KernelState::default()),
            elements(&cats, false),
        ),
        (
            "C 10,000 addresses, upstream in the first",
            render::full(&policy(cats.clone()), &KernelState::default()),
            elements(&cats, true),
        ),
    ];
    let mut speeds: Vec<Vec<(f64, f64)>> = vec![Vec::new(); states.len()];
    for round in 1..=rounds {
        for (i, (label, doc, elems)) in states.iter().enumerate() {
            nft(&["nft", "-j", "-f", "-"], doc)?;
            if !elems.is_empty() {
                nft(&["nft", "-f", "-"], elems)?;
            }
            let s = (iperf(true)?, iperf(false)?);
            eprintln!(
                "round {round}/{rounds} {label}: down {:.0} up {:.0} Mbit/s",
                s.0, s.1
            );
            speeds[i].push(s);
            run(&mut ns(
                ROUTER,
                &["nft", "delete", "table", "inet", "desawifi"],
            ))?;
        }
    }
    println!("\nUsage categories: forwarding cost per packet (iperf3 TCP -t 5 -O 1, one flow)");
    println!(
        "machine: {} CPUs, kernel {}; states interleaved, {rounds} rounds",
        nproc(),
        kernel()
    );
    println!("| state | download Mbit/s | ratio to A | upload Mbit/s | ratio to A |");
    println!("|---|---:|---:|---:|---:|");
    for (i, (label, _, _)) in states.iter().enumerate() {
        let ratio = |f: fn(&(f64, f64)) -> f64| {
            median(
                speeds[i]
                    .iter()
                    .zip(&speeds[0])
                    .map(|(x, a)| f(x) / f(a))
                    .collect(),
            )
        };
        println!(
            "| {label} | {:.0} | {:.3} | {:.0} | {:.3} |",
            median(speeds[i].iter().map(|s| s.0).collect()),
            ratio(|s| s.0),
            median(speeds[i].iter().map(|s| s.1).collect()),
            ratio(|s| s.1),
        );
    }
    Ok(())
}

fn iperf(reverse: bool) -> Result<f64, String> {
    let mut args = vec!["iperf3", "-c", SERVER, "-t", "5", "-O", "1", "-J"];
    if reverse {
        args.push("-R");
    }
    for attempt in 0..2 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(2));
        }
        let out = ns(PHONE, &args)
            .output()
            .map_err(|e| format!("iperf3: {e}"))?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(bps) = json["end"]["sum_received"]["bits_per_second"].as_f64() {
            return Ok(bps / 1e6);
        }
    }
    Err("iperf3 failed twice".into())
}
