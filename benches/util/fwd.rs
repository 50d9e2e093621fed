//! What the forwarding benches share (`benches/forwarding.rs`,
//! `benches/categories.rs`): a one-phone village with its links' offloads
//! off (or on), router states applied and removed around each measurement,
//! iperf3 both ways with the machine's CPU time counted, and the report.
//!
//! How it measures (BENCHMARKS.md, "Forwarding throughput"):
//! - Offloads: `ethtool -K DEV gro off gso off tso off lro off` on both ends
//!   of every veth of the village (phone eth0 / router lan-p1, router wan0 /
//!   upstream eth0) and on the router's bridge, so the ruleset sees each
//!   MTU-sized packet, as behind a router's wifi and Ethernet, and not one
//!   64 KB GSO super-packet per ~40 of them.
//! - References in the same run: no table and no qdisc; and a conntrack-only
//!   forward chain ([`CONNTRACK_ONLY`], the honest floor: a village router
//!   tracks connections anyway). Ratios are to the conntrack-only router.
//! - States are interleaved in every round (and the order rotates by one
//!   each round), so machine noise hits all alike; a ratio is computed
//!   within a round, and the median over rounds is reported with its spread.
//! - CPU: `/proc/stat`'s aggregate `cpu` line, system + irq + softirq time of
//!   every CPU during one transfer, divided by the bytes the router's `wan0`
//!   moved (received + sent: every forwarded frame crosses it once, ACKs
//!   included). veth has no cores of its own, so this is the whole machine's
//!   kernel time: the router's forwarding, both iperf3 ends' socket and
//!   veth transmit work, and anything else running on the machine.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::{env_count, feed, max, median, min, ns, run};

use desawifi::config::Config;
use desawifi::domain::Mac;
use desawifi::firewall::categories::set_name;
use desawifi::firewall::{
    render, CategoryRule, DeviceKey, GardenNet, KernelState, OnlineDevice, Policy,
};
use desawifi::gateway::{default_slot_rates, shaping_plan};
use desawifi::shaping;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/village.sh");
pub const SERVER: &str = "198.51.100.2";

/// The honest floor: what any village router runs (connection tracking),
/// and nothing else. (The chain is not called `fwd`: nft 1.0.6 reads that
/// as its `fwd` statement's keyword.)
pub const CONNTRACK_ONLY: &str = "table inet base {
    chain forward {
        type filter hook forward priority 0;
        ct state established,related counter accept
        counter accept
    }
}
";

/// The config the desawifi states are rendered from, through the daemon's
/// own parser and shaping plan: uplink and device rates far above what the
/// veth path does, so HTB is on the path but never the bottleneck.
pub fn config(max_online: usize) -> Config {
    let toml = format!(
        "[site]\nname = \"Bench\"\n[network]\nlan_interface = \"br-lan\"\nwan_interface = \"wan0\"\n\
         portal_address = \"10.77.0.1\"\nmax_online = {max_online}\n\
         uplink_download = \"40 Gbit/s\"\nuplink_upload = \"40 Gbit/s\"\n\
         [portal]\nlisten = \"10.77.0.1:2050\"\n[store]\npath = \"/nonexistent/bench\"\n\
         [quota]\ndownload_rate = \"40 Gbit/s\"\nupload_rate = \"40 Gbit/s\"\n"
    );
    Config::parse(&toml, Path::new("bench.toml")).expect("the bench's config is valid")
}

/// The shipped usage categories (the config's `[usage]` default).
pub fn shipped_categories(config: &Config) -> Vec<CategoryRule> {
    config
        .usage
        .categories
        .iter()
        .map(|c| CategoryRule {
            id: c.id.clone(),
            free: c.free,
        })
        .collect()
}

/// The ruleset's inputs as the gateway derives them from `config` (as
/// `Gateway::policy`, without a store): phone 1 plus `online - 1` made-up
/// devices in 10.78.0.0/16 (they only fill the sets and class maps), device
/// i in shaping slot i at the config's default rates.
pub fn policy(config: &Config, online: usize, categories: Vec<CategoryRule>) -> Policy {
    let rates = default_slot_rates(config);
    let mut keys = vec![DeviceKey {
        mac: Mac([2, 0x77, 0, 0, 0, 1]),
        ip: Ipv4Addr::new(10, 77, 0, 11),
    }];
    for i in 1..online {
        let (hi, lo) = ((i >> 8) as u8, i as u8);
        keys.push(DeviceKey {
            mac: Mac([2, 0x78, 0, 0, hi, lo]),
            ip: Ipv4Addr::new(10, 78, hi, lo),
        });
    }
    Policy {
        lan_interface: config.network.lan_interface.clone(),
        portal_address: config.network.portal_address,
        portal_port: config.portal.listen.port(),
        portal_https_port: None,
        walled_garden: vec![GardenNet::V4(Ipv4Addr::new(203, 0, 113, 0), 24)],
        garden_ports: config.walled_garden.ports.clone(),
        allow_private: vec![],
        online: keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| OnlineDevice {
                key,
                slot: i as u16,
                rates,
            })
            .collect(),
        categories,
        slots: config.network.max_online,
    }
}

/// `add element` lines: `n` made-up addresses (10.200.0.0/16) spread over
/// the category sets (as dnsmasq would learn them), plus the upstream in the
/// first set when `upstream_in_first`.
pub fn category_elements(cats: &[CategoryRule], n: usize, upstream_in_first: bool) -> String {
    if cats.is_empty() {
        return String::new();
    }
    let mut per: Vec<Vec<String>> = vec![Vec::new(); cats.len()];
    for i in 0..n {
        per[i % cats.len()].push(format!("10.200.{}.{}", i >> 8, i & 255));
    }
    if upstream_in_first {
        per[0].push(SERVER.into());
    }
    cats.iter()
        .zip(per)
        .filter(|(_, ips)| !ips.is_empty())
        .map(|(c, ips)| {
            format!(
                "add element inet desawifi {} {{ {} }}\n",
                set_name(&c.id),
                ips.join(", ")
            )
        })
        .collect()
}

/// What the router runs in one state.
pub enum Setup {
    /// No table, no qdisc.
    Nothing,
    /// [`CONNTRACK_ONLY`].
    Conntrack,
    /// desawifi's document (`render::full`), category elements, and the
    /// daemon's HTB trees (`shaping::setup_script`) when `qdiscs`.
    Desawifi {
        doc: String,
        elements: String,
        qdiscs: Option<(shaping::Plan, String)>,
    },
}

impl Setup {
    /// desawifi as the daemon would start with `config` and `policy`.
    pub fn desawifi(config: &Config, policy: &Policy, elements: String, qdiscs: bool) -> Setup {
        let plan = shaping_plan(config);
        Setup::Desawifi {
            doc: render::full(policy, &KernelState::default()),
            elements,
            qdiscs: qdiscs.then(|| {
                let script = shaping::setup_script(&plan, default_slot_rates(config));
                (plan, script)
            }),
        }
    }
}

/// One router state: a label for the report and what it runs.
pub struct State {
    pub label: String,
    pub setup: Setup,
}

/// The village, removed when dropped (also when the bench fails or panics).
pub struct Village {
    pub tag: String,
    /// Each link's offloads as the kernel set them (`gro on gso on tso on`,
    /// say), in the order of [`Village::links`]: the "offloads on" state.
    defaults: Vec<Vec<String>>,
}

impl Village {
    /// `scripts/village.sh up SALT+TAG 1`; `DW_VILLAGE_SALT` (as the tests
    /// use it) prefixes the tag, so two checkouts can bench at once.
    pub fn up(tag: &str) -> Result<Village, String> {
        let salt = std::env::var("DW_VILLAGE_SALT").unwrap_or_default();
        let tag = format!("{salt}{tag}");
        run(Command::new(SCRIPT).args(["up", &tag, "1"]))?;
        let mut village = Village {
            tag,
            defaults: Vec::new(),
        };
        for (namespace, dev) in village.links() {
            let out = ns(&namespace, &["ethtool", "-k", dev])
                .output()
                .map_err(|e| format!("ethtool: {e} (apt-get install ethtool)"))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut features = Vec::new();
            for (name, short) in [
                ("generic-receive-offload", "gro"),
                ("generic-segmentation-offload", "gso"),
                ("tcp-segmentation-offload", "tso"),
            ] {
                let value = text
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .and_then(|v| v.split_whitespace().next())
                    .ok_or_else(|| format!("`ethtool -k {dev}` in {namespace} shows no {name}"))?;
                features.extend([short.to_owned(), value.to_owned()]);
            }
            village.defaults.push(features);
        }
        Ok(village)
    }

    pub fn router(&self) -> String {
        format!("dw-{}-r", self.tag)
    }

    pub fn phone(&self) -> String {
        format!("dw-{}-p1", self.tag)
    }

    pub fn upstream(&self) -> String {
        format!("dw-{}-u", self.tag)
    }

    /// Every link of the village, as (namespace, device): both ends of each
    /// veth, and the bridge.
    fn links(&self) -> [(String, &'static str); 5] {
        [
            (self.phone(), "eth0"),
            (self.router(), "lan-p1"),
            (self.router(), "br-lan"),
            (self.router(), "wan0"),
            (self.upstream(), "eth0"),
        ]
    }

    /// Offloads off on every link (GRO, GSO, TSO, LRO), or `on`: back to
    /// the kernel's defaults (on veth: GSO and TSO on, GRO off).
    pub fn offloads(&self, on: bool) -> Result<(), String> {
        for ((namespace, dev), defaults) in self.links().into_iter().zip(&self.defaults) {
            let mut args = vec!["ethtool", "-K", dev];
            if on {
                args.extend(defaults.iter().map(String::as_str));
            } else {
                // LRO is fixed off on veth; asking for "off" is then no change.
                args.extend(["gro", "off", "gso", "off", "tso", "off", "lro", "off"]);
            }
            run(&mut ns(&namespace, &args))
                .map_err(|e| format!("{e} (ethtool: apt-get install ethtool)"))?;
        }
        Ok(())
    }

    /// Starts `iperf3 -s -D` upstream and waits (at most 5 s) until it listens.
    pub fn iperf_server(&self) -> Result<(), String> {
        let pidfile = format!("/run/desawifi-village/{}/iperf3.pid", self.tag);
        run(&mut ns(
            &self.upstream(),
            &["iperf3", "-s", "-D", "-B", SERVER, "--pidfile", &pidfile],
        ))?;
        for _ in 0..50 {
            let out = ns(&self.upstream(), &["ss", "-Hltn", "sport = :5201"])
                .output()
                .map_err(|e| format!("ss: {e}"))?;
            if !out.stdout.is_empty() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("iperf3 -s did not listen on :5201 within 5 s".into())
    }

    /// Puts the router in `setup`.
    pub fn apply(&self, setup: &Setup) -> Result<(), String> {
        let r = self.router();
        match setup {
            Setup::Nothing => Ok(()),
            Setup::Conntrack => feed(&mut ns(&r, &["nft", "-f", "-"]), CONNTRACK_ONLY),
            Setup::Desawifi {
                doc,
                elements,
                qdiscs,
            } => {
                feed(&mut ns(&r, &["nft", "-j", "-f", "-"]), doc)
                    .map_err(|e| format!("applying a {}-byte document: {e}", doc.len()))?;
                if !elements.is_empty() {
                    feed(&mut ns(&r, &["nft", "-f", "-"]), elements)?;
                }
                if let Some((_, script)) = qdiscs {
                    feed(&mut ns(&r, &["tc", "-force", "-batch", "-"]), script)?;
                }
                Ok(())
            }
        }
    }

    /// Takes `setup` off the router again.
    pub fn remove(&self, setup: &Setup) -> Result<(), String> {
        let r = self.router();
        match setup {
            Setup::Nothing => Ok(()),
            Setup::Conntrack => run(&mut ns(&r, &["nft", "delete", "table", "inet", "base"])),
            Setup::Desawifi { qdiscs, .. } => {
                if let Some((plan, _)) = qdiscs {
                    feed(
                        &mut ns(&r, &["tc", "-force", "-batch", "-"]),
                        &shaping::teardown_script(plan),
                    )?;
                }
                run(&mut ns(&r, &["nft", "delete", "table", "inet", "desawifi"]))
            }
        }
    }

    /// One transfer phone 1 <-> upstream (`download`: `-R`, upstream ->
    /// phone) with `flows` parallel streams, `secs` seconds after 1 s omitted.
    pub fn transfer(&self, flows: usize, download: bool, secs: u32) -> Result<Sample, String> {
        let p = flows.to_string();
        let t = secs.to_string();
        let mut args = vec!["iperf3", "-c", SERVER, "-t", &t, "-O", "1", "-J", "-P", &p];
        if download {
            args.push("-R");
        }
        let mut last = String::new();
        for attempt in 0..2 {
            if attempt > 0 {
                // A server still finishing the previous test refuses with "busy".
                std::thread::sleep(Duration::from_secs(2));
            }
            let (cpu0, bytes0) = (cpu_ticks()?, self.wan0_bytes()?);
            let out = ns(&self.phone(), &args)
                .output()
                .map_err(|e| format!("iperf3: {e}"))?;
            let (cpu1, bytes1) = (cpu_ticks()?, self.wan0_bytes()?);
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            match json["end"]["sum_received"]["bits_per_second"].as_f64() {
                Some(bps) if out.status.success() => {
                    let gb = (bytes1 - bytes0) as f64 / 1e9;
                    let cpu = (cpu1 - cpu0) as f64 / clock_ticks();
                    return Ok(Sample {
                        mbits: bps / 1e6,
                        cpu_per_gb: if gb > 0.0 { cpu / gb } else { f64::NAN },
                    });
                }
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

    /// Bytes the router's wan0 has received + sent.
    fn wan0_bytes(&self) -> Result<u64, String> {
        let out = Command::new("ip")
            .args([
                "-n",
                &self.router(),
                "-j",
                "-s",
                "link",
                "show",
                "dev",
                "wan0",
            ])
            .output()
            .map_err(|e| format!("ip -s link: {e}"))?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let s = &json[0]["stats64"];
        match (s["rx"]["bytes"].as_u64(), s["tx"]["bytes"].as_u64()) {
            (Some(rx), Some(tx)) => Ok(rx + tx),
            _ => Err(format!(
                "no byte counters for wan0 in `ip -s link`: {}",
                String::from_utf8_lossy(&out.stdout)
            )),
        }
    }

    /// `perf record -a -g -o FILE` for the length of one download transfer.
    pub fn perf_record(&self, file: &str, flows: usize, secs: u32) -> Result<(), String> {
        let p = flows.to_string();
        let t = secs.to_string();
        let phone = self.phone();
        run(Command::new("perf").args([
            "record", "-a", "-g", "-o", file, "--", "ip", "netns", "exec", &phone, "iperf3", "-c",
            SERVER, "-t", &t, "-P", &p, "-R",
        ]))
        .map_err(|e| format!("{e} (perf: apt-get install linux-perf)"))
    }
}

impl Drop for Village {
    fn drop(&mut self) {
        if let Err(e) = run(Command::new(SCRIPT).args(["down", &self.tag])) {
            eprintln!("bench: teardown of village {} failed: {e}", self.tag);
        }
    }
}

/// System + irq + softirq time of all CPUs so far, in clock ticks
/// (`/proc/stat`'s first line: user nice system idle iowait irq softirq ...).
fn cpu_ticks() -> Result<u64, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    if fields.len() < 7 {
        return Err(format!("unexpected /proc/stat: {:?}", stat.lines().next()));
    }
    Ok(fields[2] + fields[5] + fields[6])
}

/// USER_HZ, the unit of `/proc/stat` (100 on every Linux we know).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// One transfer's figures.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// The receiver's rate, Mbit/s.
    pub mbits: f64,
    /// Kernel CPU seconds (all CPUs) per GB through wan0.
    pub cpu_per_gb: f64,
}

/// A pass's samples: `[state][round]` per direction.
pub struct Pass {
    pub flows: usize,
    pub offloads: bool,
    pub down: Vec<Vec<Sample>>,
    pub up: Vec<Vec<Sample>>,
}

/// The bench's knobs, from the environment with prefix `P` (`FWD`, `CAT`).
pub struct Knobs {
    /// `P_ROUNDS`: rounds with offloads off (every state once per round).
    pub rounds: usize,
    /// `P_FLOWS`: parallel-stream counts, one pass each (e.g. `1,4`).
    pub flows: Vec<usize>,
    /// `P_ON_ROUNDS`: rounds of the offloads-on pass (one flow; 0 skips it).
    pub on_rounds: usize,
    /// `P_SECS`: seconds per transfer (after 1 s omitted).
    pub secs: u32,
    /// `P_PERF`: a file for `perf record -a -g` of one desawifi download.
    pub perf: Option<String>,
}

impl Knobs {
    pub fn from_env(prefix: &str, flows: &str) -> Knobs {
        let var = |k: &str| format!("{prefix}_{k}");
        let flows = std::env::var(var("FLOWS")).unwrap_or_else(|_| flows.into());
        Knobs {
            rounds: env_count(&var("ROUNDS"), 7).max(1),
            flows: flows
                .split(',')
                .filter_map(|f| f.trim().parse().ok())
                .filter(|&f| f > 0)
                .collect(),
            on_rounds: env_count(&var("ON_ROUNDS"), 3),
            secs: env_count(&var("SECS"), 5).max(1) as u32,
            perf: std::env::var(var("PERF")).ok().filter(|s| !s.is_empty()),
        }
    }
}

/// `rounds` rounds over all `states`, interleaved, the order rotated by one
/// each round; every state is applied before and removed after its transfers.
pub fn pass(
    village: &Village,
    states: &[State],
    flows: usize,
    offloads: bool,
    rounds: usize,
    secs: u32,
) -> Result<Pass, String> {
    village.offloads(offloads)?;
    let mut down = vec![Vec::new(); states.len()];
    let mut up = vec![Vec::new(); states.len()];
    for round in 0..rounds {
        for k in 0..states.len() {
            let i = (k + round) % states.len();
            let state = &states[i];
            village.apply(&state.setup)?;
            let measured = (|| {
                Ok::<_, String>((
                    village.transfer(flows, true, secs)?,
                    village.transfer(flows, false, secs)?,
                ))
            })();
            village.remove(&state.setup)?;
            let (d, u) = measured?;
            eprintln!(
                "offloads {} -P {flows} round {}/{rounds} {}: down {:.0} Mbit/s ({:.2} CPU s/GB), up {:.0} ({:.2})",
                if offloads { "on" } else { "off" },
                round + 1,
                state.label,
                d.mbits,
                d.cpu_per_gb,
                u.mbits,
                u.cpu_per_gb
            );
            down[i].push(d);
            up[i].push(u);
        }
    }
    Ok(Pass {
        flows,
        offloads,
        down,
        up,
    })
}

/// The pass as a markdown table: per state and direction the median Mbit/s
/// (min-max), the median per-round ratio to state `reference` (min-max), and
/// the median CPU s/GB.
pub fn print_pass(states: &[State], p: &Pass, reference: usize) {
    let rounds = p.down.first().map_or(0, Vec::len);
    println!(
        "\nOffloads {} on every village link, {} flow(s) (-P {}), {rounds} rounds, median (min-max); ratio = per-round ratio to \"{}\"\n",
        if p.offloads { "ON (the kernel's defaults, as the earlier figures: GSO/TSO 64 KB super-packets)" } else { "OFF (gro gso tso lro off: MTU-sized packets)" },
        p.flows,
        p.flows,
        states[reference].label
    );
    println!(
        "| router runs | download Mbit/s | ratio | CPU s/GB | upload Mbit/s | ratio | CPU s/GB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (i, s) in states.iter().enumerate() {
        let (d, dr, dc) = column(&p.down, i, reference);
        let (u, ur, uc) = column(&p.up, i, reference);
        println!("| {} | {d} | {dr} | {dc} | {u} | {ur} | {uc} |", s.label);
    }
}

/// Formatted (rate, ratio, cpu) of state `i` in one direction.
fn column(samples: &[Vec<Sample>], i: usize, reference: usize) -> (String, String, String) {
    let rates: Vec<f64> = samples[i].iter().map(|s| s.mbits).collect();
    let ratios: Vec<f64> = samples[i]
        .iter()
        .zip(&samples[reference])
        .map(|(x, r)| x.mbits / r.mbits)
        .collect();
    let cpu: Vec<f64> = samples[i].iter().map(|s| s.cpu_per_gb).collect();
    (
        format!(
            "{:.0} ({:.0}-{:.0})",
            median(rates.clone()),
            min(&rates),
            max(&rates)
        ),
        format!(
            "{:.2} ({:.2}-{:.2})",
            median(ratios.clone()),
            min(&ratios),
            max(&ratios)
        ),
        format!("{:.2}", median(cpu)),
    )
}

/// The header every forwarding bench prints: what is measured, and how.
pub fn print_header(title: &str, k: &Knobs, command: &str) {
    let args: Vec<String> = std::env::args().collect();
    println!("\n{title}");
    println!(
        "machine: {} CPUs, kernel {}, {}",
        crate::util::nproc(),
        crate::util::kernel(),
        crate::util::first_line(&["iperf3", "--version"])
    );
    println!("command: {command}  (argv: {})", args.join(" "));
    println!(
        "iperf3 TCP phone 1 <-> upstream 198.51.100.2 through the router, -t {} -O 1; download = -R",
        k.secs
    );
    println!("offloads: gro gso tso lro OFF on both ends of every veth and on br-lan (ethtool -K), unless a table says ON");
    println!("states interleaved in every round, order rotated each round; ratio = median of per-round ratios");
    println!("CPU s/GB = (system + irq + softirq time of ALL CPUs from /proc/stat during the transfer) / (bytes through the router's wan0, rx + tx);");
    println!("           whole-machine kernel time: router forwarding + both iperf3 ends' socket/veth work + any other load");
}

/// Runs every pass `k` asks for over `states` and prints them; then, with
/// `perf`, records one download in state `perf_state`.
pub fn run_all(
    village: &Village,
    states: &[State],
    k: &Knobs,
    reference: usize,
    perf_state: usize,
) -> Result<(), String> {
    let defaults: Vec<String> = village
        .links()
        .iter()
        .zip(&village.defaults)
        .map(|((namespace, dev), d)| format!("{namespace} {dev}: {}", d.join(" ")))
        .collect();
    println!(
        "offloads ON = each link's kernel defaults: {}",
        defaults.join("; ")
    );
    let mut passes = Vec::new();
    for &flows in &k.flows {
        passes.push(pass(village, states, flows, false, k.rounds, k.secs)?);
    }
    if k.on_rounds > 0 {
        passes.push(pass(village, states, 1, true, k.on_rounds, k.secs)?);
    }
    for p in &passes {
        print_pass(states, p, reference);
    }
    if let Some(file) = &k.perf {
        village.offloads(false)?;
        village.apply(&states[perf_state].setup)?;
        let recorded = village.perf_record(file, 1, k.secs);
        village.remove(&states[perf_state].setup)?;
        recorded?;
        println!(
            "\nperf: `perf record -a -g` of one download (offloads off, one flow) in \"{}\": {file}",
            states[perf_state].label
        );
        println!("      the forward path's top symbols: perf report -i {file} --no-children --sort sym --stdio -g none --parent=__netif_receive_skb -x --percentage relative");
    }
    Ok(())
}
