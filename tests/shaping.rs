//! Shaping in a namespace village: the real kernel's HTB, real nft steering
//! packets by `meta priority`, real iperf3 and ping. Functional checks of rates
//! in the kernel (who gets what share, what a cap lets through), not benchmarks
//! of this machine; the figures are printed for the README and BENCHMARKS
//! (`cargo test --test shaping -- --nocapture`).
//!
//! The uplink is emulated as a forwarding hop, as a satellite link is: the
//! router's WAN ingress goes through IFB into a TBF with a deep shared FIFO
//! ([`satellite`]). A qdisc on the iperf3 server's own interface would not do:
//! TCP small queues would keep each sender's share of that queue small.

use desawifi_testkit as common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{curl, ns_exec, ns_ok, tag_for, Daemon, Village};
use desawifi::domain::DEFAULT_SLOTS;
use desawifi::shaping::{self, Plan, SlotRates, Tc};

/// The upstream's address (iperf3 servers, ping target).
const SERVER: &str = "198.51.100.2";
/// The emulated satellite link, and the uplink we tell the shaper (lower, so our queue is the one that fills).
const SATELLITE: u64 = 25_000_000;
const UPLINK: u64 = 20_000_000;
/// A per-device cap above the uplink: only the uplink limits.
const FAST: SlotRates = SlotRates::same(100_000_000, 100_000_000);

/// Rate measurements one at a time: concurrent iperf3 runs on a small CI
/// machine would measure each other's CPU use.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A `tc` for the router's namespace: a wrapper script, so the tests apply
/// scripts through [`Tc`] exactly as the daemon does.
fn router_tc(v: &Village) -> Tc {
    let path = v.run_dir().join("tc-in-router");
    std::fs::write(
        &path,
        format!("#!/bin/sh\nexec ip netns exec {} tc \"$@\"\n", v.router()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Tc {
        program: Some(path.to_str().unwrap().to_string()),
    }
}

fn plan(download: Option<u64>, upload: Option<u64>, slots: u16) -> Plan {
    Plan {
        lan_interface: "br-lan".into(),
        wan_interface: "wan0".into(),
        uplink_download: download,
        uplink_upload: upload,
        slots,
    }
}

/// The test's own nft table, as the daemon's forward chain will do it: phone
/// n in slot n-1, by destination on the way down, by source on the way up.
fn steer(v: &Village, phones: usize) {
    let map = |n: usize| {
        format!(
            "{} : {}",
            v.phone_ip(n),
            shaping::slot_classid(n as u16 - 1)
        )
    };
    let elements = (1..=phones).map(map).collect::<Vec<_>>().join(", ");
    let ruleset = format!(
        "table inet shapetest {{\n  chain forward {{ type filter hook forward priority filter; policy accept;\n    \
         oifname \"br-lan\" meta priority set ip daddr map {{ {elements} }}\n    \
         oifname \"wan0\" meta priority set ip saddr map {{ {elements} }}\n  }}\n}}\n"
    );
    nft_apply(&v.router(), &ruleset);
}

fn nft_apply(ns: &str, ruleset: &str) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ip netns exec nft (apt-get install nftables)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ruleset.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft -f failed: {}\n{ruleset}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The emulated satellite: everything arriving on the router's wan0 passes a
/// `rate` TBF with 200 ms of shared buffer (IFB + mirred, the kernel has no netem).
fn satellite(v: &Village, rate: u64) {
    let r = v.router();
    ns_ok(&r, &["ip", "link", "add", "ifb-sat", "type", "ifb"]);
    ns_ok(&r, &["ip", "link", "set", "ifb-sat", "up"]);
    ns_ok(
        &r,
        &[
            "tc", "qdisc", "add", "dev", "wan0", "handle", "ffff:", "ingress",
        ],
    );
    ns_ok(
        &r,
        &[
            "tc", "filter", "add", "dev", "wan0", "parent", "ffff:", "protocol", "all", "u32",
            "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", "ifb-sat",
        ],
    );
    let rate = format!("{rate}bit");
    ns_ok(
        &r,
        &[
            "tc", "qdisc", "add", "dev", "ifb-sat", "root", "tbf", "rate", &rate, "burst", "32k",
            "latency", "200ms",
        ],
    );
}

/// `iperf3 -s -D` in the upstream on each port (one client per server at a time).
fn iperf_servers(v: &Village, ports: &[u16]) {
    let u = v.upstream();
    for port in ports {
        let o = ns_exec(&u, &["iperf3", "-s", "-D", "-p", &port.to_string()]);
        assert!(
            o.status.code() != Some(255),
            "iperf3 not found: apt-get install iperf3"
        );
        assert!(
            o.status.success(),
            "iperf3 -s: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for port in ports {
        let filter = format!("sport = :{port}");
        while ns_ok(&u, &["ss", "-Hltn", &filter]).trim().is_empty() {
            assert!(
                Instant::now() < deadline,
                "iperf3 server on :{port} did not listen"
            );
            sleep(Duration::from_millis(50));
        }
    }
}

/// One iperf3 client running in a phone.
struct Iperf(Child, String);

impl Iperf {
    /// `iperf3 -c SERVER -p PORT -P FLOWS -t SECS -O OMIT -J`, downloading (`-R`) or uploading.
    fn start(
        v: &Village,
        phone: usize,
        port: u16,
        flows: u32,
        secs: u32,
        omit: u32,
        download: bool,
    ) -> Iperf {
        let (port, flows, secs, omit) = (
            port.to_string(),
            flows.to_string(),
            secs.to_string(),
            omit.to_string(),
        );
        let mut args = vec![
            "netns", "exec", "", "iperf3", "-c", SERVER, "-p", &port, "-P", &flows, "-t", &secs,
            "-O", &omit, "-J",
        ];
        let ns = v.phone(phone);
        args[2] = &ns;
        if download {
            args.push("-R");
        }
        let child = Command::new("ip")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Iperf(child, format!("{ns}: iperf3 {}", args[3..].join(" ")))
    }

    /// What the receiving side got, bits per second (`end.sum_received`).
    fn bits_per_second(self) -> f64 {
        let out = self.0.wait_with_output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: {}{}",
                self.1,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        json["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap_or_else(|| panic!("{}: no end.sum_received: {json}", self.1))
    }
}

/// `ping -D -c COUNT -i 0.2` from a phone to the upstream: each reply's
/// `(when it was sent, round trip in ms)`, the time in seconds since the
/// Unix epoch, in the order they came (lost ones left out).
fn ping(ns: &str, count: u32) -> Vec<(f64, f64)> {
    let o = ns_exec(
        ns,
        &[
            "ping",
            "-n",
            "-D",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            SERVER,
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("exec of \"ping\" failed"),
        "ping not found: apt-get install iputils-ping"
    );
    // [1765000000.123456] 64 bytes from 198.51.100.2: icmp_seq=1 ttl=63 time=0.051 ms
    let rtts: Vec<(f64, f64)> = out
        .lines()
        .filter_map(|l| {
            let received: f64 = l.strip_prefix('[')?.split_once(']')?.0.parse().ok()?;
            let ms: f64 = l.split_once(" time=")?.1.split(' ').next()?.parse().ok()?;
            Some((received - ms / 1000.0, ms))
        })
        .collect();
    assert!(
        rtts.len() as u32 > count / 2,
        "ping from {ns}: most replies lost: {out}{err}"
    );
    rtts
}

/// Seconds since the Unix epoch (ping -D's clock).
fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Bytes phone `phone` has received (`download`) or sent on its eth0.
fn phone_bytes(v: &Village, phone: usize, download: bool) -> u64 {
    let file = if download { "rx_bytes" } else { "tx_bytes" };
    let path = format!("/sys/class/net/eth0/statistics/{file}");
    let text = ns_ok(&v.phone(phone), &["cat", &path]);
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{path} in phone {phone}: {e}: {text:?}"))
}

/// Waits until the load runs: both loaded phones (1 and 2) have moved
/// [`FLOWING`] bytes of payload since `before`. Returns how long that took.
fn wait_for_load(v: &Village, download: bool, before: [u64; 2], spawned: Instant) -> Duration {
    let deadline = spawned + Duration::from_secs(15);
    loop {
        let moved = [1, 2].map(|p| phone_bytes(v, p, download) - before[p - 1]);
        if moved.iter().all(|&b| b >= FLOWING) {
            return spawned.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the iperf3 load did not start within 15 s: phones 1 and 2 moved {moved:?} bytes"
        );
        sleep(Duration::from_millis(50));
    }
}

/// Bytes queued in the satellite's FIFO (`backlog` of the TBF on ifb-sat).
fn satellite_backlog(v: &Village) -> u64 {
    let q = ns_ok(
        &v.router(),
        &["tc", "-s", "qdisc", "show", "dev", "ifb-sat"],
    );
    // " backlog 398280b 0p requeues 0", sizes of 1 KiB and up as "220Kb", "1Mb".
    let size = q
        .split_once(" backlog ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no backlog in tc's ifb-sat qdisc: {q}"));
    let (number, unit) = size.split_at(size.trim_end_matches(char::is_alphabetic).len());
    let scale = match unit {
        "b" => 1,
        "Kb" => 1024,
        "Mb" => 1024 * 1024,
        _ => panic!("backlog {size:?}: unknown unit"),
    };
    number
        .parse::<u64>()
        .unwrap_or_else(|e| panic!("backlog {size:?}: {e}"))
        * scale
}

/// When the senders' start-up ended, in a shaped download through the
/// satellite: not before `START_UP_SECS` after `flowing`, and not before
/// the start-up's queue in the satellite's shared FIFO (slow start
/// overshoots the uplink; the FIFO is upstream of any shaping of ours) has
/// drained: [`DRAINED_SAMPLES`] readings 50 ms apart below
/// [`DRAINED_BYTES`]. Panics when it has not drained [`DRAIN_SECS`] into
/// the load: then our queue is not the bottleneck and the third phone waits.
fn start_up_over(v: &Village, flowing: Instant) -> SystemTime {
    sleep(
        (flowing + Duration::from_secs(START_UP_SECS.into()))
            .saturating_duration_since(Instant::now()),
    );
    let deadline = flowing + Duration::from_secs(DRAIN_SECS.into());
    let mut low_since: Option<(SystemTime, u32)> = None;
    loop {
        let now = SystemTime::now();
        let backlog = satellite_backlog(v);
        low_since = match low_since {
            _ if backlog >= DRAINED_BYTES => None,
            None => Some((now, 1)),
            Some((t, n)) => Some((t, n + 1)),
        };
        if let Some((t, DRAINED_SAMPLES)) = low_since {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "the third phone waits: the satellite's shared FIFO still holds {backlog} bytes \
             {DRAIN_SECS} s into the load, so the queue is there, not in our shaping"
        );
        sleep(Duration::from_millis(50));
    }
}

/// (avg, max) of some round trips.
fn avg_max(rtts: &[f64]) -> (f64, f64) {
    (
        rtts.iter().sum::<f64>() / rtts.len() as f64,
        rtts.iter().copied().fold(0.0, f64::max),
    )
}

/// What one load run measured.
#[derive(Debug)]
struct Load {
    many_flows: f64,
    one_flow: f64,
    jain: f64,
    /// The third phone's ping (avg, max), ms, once the senders are past their start-up.
    ping: (f64, f64),
    /// The same during the first seconds, while the senders start (their
    /// bursts fill the satellite's buffer, upstream of any shaping of ours).
    ping_start: (f64, f64),
    /// From spawning iperf3 to both loads flowing.
    waited: Duration,
    /// How long the start-up lasted, from the load flowing.
    start_up: Duration,
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "16 flows {:.2} Mbit/s, 1 flow {:.2} Mbit/s, Jain {:.3}; third phone's ping avg {:.2} ms, max {:.2} ms (start-up of {:.1} s: avg {:.2}, max {:.2}; load flowing {} ms after spawning iperf3)",
            self.many_flows / 1e6,
            self.one_flow / 1e6,
            self.jain,
            self.ping.0,
            self.ping.1,
            self.start_up.as_secs_f64(),
            self.ping_start.0,
            self.ping_start.1,
            self.waited.as_millis()
        )
    }
}

/// Jain's fairness index: 1 when all get the same, 1/n when one gets everything.
fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    sum * sum / (xs.len() as f64 * squares)
}

/// How long each load runs, and the start-up left out of its figures (at least).
const LOAD_SECS: u32 = 10;
const START_UP_SECS: u32 = 3;
/// Bytes each loaded phone has moved when its load counts as running: far
/// more than iperf3's control exchange (a few kB), less than its first burst.
const FLOWING: u64 = 64 * 1024;
/// The satellite's FIFO counts as drained below this (3 ms at 25 Mbit/s)...
const DRAINED_BYTES: u64 = 10 * 1024;
/// ...in this many readings in a row...
const DRAINED_SAMPLES: u32 = 3;
/// ...at most this long after the load began flowing (measured: 1-4 s).
const DRAIN_SECS: u32 = 8;

/// Where the senders' start-up ends, for the ping's figures.
#[derive(Clone, Copy)]
enum StartUp {
    /// [`START_UP_SECS`] after the load flows (no satellite in the path, or
    /// no shaping of ours, when the satellite's FIFO never drains).
    Fixed,
    /// [`start_up_over`]: once the satellite's FIFO has drained too.
    SatelliteDrained,
}

/// Phone 1 with 16 flows and phone 2 with 1 flow, at the same time, for
/// [`START_UP_SECS`] + [`LOAD_SECS`] (`-O`: iperf3 leaves the start-up out
/// of the throughputs); phone 3 pings the upstream meanwhile, 5 times a
/// second. Servers on ports 5201 and 5202.
///
/// The ping figure is the steady state; the senders' start-up is kept apart
/// (`ping_start`). Its clock starts when both loads are flowing, not when
/// iperf3 is spawned: a loaded machine can take seconds to get iperf3
/// through its control exchange and 17 connections. And it lasts as long
/// as it lasts: slow start's bursts fill the satellite's shared FIFO,
/// upstream of any shaping of ours, and that queue took from 1 to 4 s to
/// drain (`start_up`). Pings are placed by when they were sent (`ping -D`
/// less the round trip), so a lost reply moves no other.
fn load(v: &Village, download: bool, start_up: StartUp) -> Load {
    let before = [1, 2].map(|p| phone_bytes(v, p, download));
    let spawned = Instant::now();
    let many = Iperf::start(v, 1, 5201, 16, LOAD_SECS, START_UP_SECS, download);
    let one = Iperf::start(v, 2, 5202, 1, LOAD_SECS, START_UP_SECS, download);
    let waited = wait_for_load(v, download, before, spawned);
    let (flowing, flowing_wall) = (Instant::now(), SystemTime::now());
    // From the load's start to 1 s before its end.
    let pinger = {
        let ns = v.phone(3);
        std::thread::spawn(move || ping(&ns, (START_UP_SECS + LOAD_SECS - 1) * 5))
    };
    let steady_from = match start_up {
        StartUp::Fixed => flowing_wall + Duration::from_secs(START_UP_SECS.into()),
        StartUp::SatelliteDrained => start_up_over(v, flowing),
    };
    let rtts = pinger.join().expect("the ping thread panicked");
    let (many_flows, one_flow) = (many.bits_per_second(), one.bits_per_second());
    let steady_from = unix_secs(steady_from);
    let (start, steady): (Vec<f64>, Vec<f64>) = (
        rtts.iter()
            .filter(|(sent, _)| *sent < steady_from)
            .map(|r| r.1)
            .collect(),
        rtts.iter()
            .filter(|(sent, _)| *sent >= steady_from)
            .map(|r| r.1)
            .collect(),
    );
    assert!(
        steady.len() >= 15,
        "phone 3's steady-state pings, sent after {steady_from}: {steady:?} (all: {rtts:?})"
    );
    Load {
        many_flows,
        one_flow,
        jain: jain(&[many_flows, one_flow]),
        ping: avg_max(&steady),
        ping_start: if start.is_empty() {
            (0.0, 0.0)
        } else {
            avg_max(&start)
        },
        waited,
        start_up: Duration::from_secs_f64(steady_from - unix_secs(flowing_wall)),
    }
}

#[test]
fn a_phone_with_16_flows_does_not_starve_a_phone_with_one() {
    let _serial = serial();
    let v = Village::up(&tag_for("shaping::fairness"), 3);
    satellite(&v, SATELLITE);
    iperf_servers(&v, &[5201, 5202]);

    let unshaped = load(&v, true, StartUp::Fixed);
    println!("download, no shaping (one shared 25 Mbit/s queue): {unshaped}");

    let tc = router_tc(&v);
    let t = Instant::now();
    block_on(tc.run(&shaping::setup_script(
        &plan(Some(UPLINK), Some(UPLINK), DEFAULT_SLOTS),
        FAST,
    )))
    .unwrap();
    println!(
        "tc setup of {} slots x 2 interfaces: {:?}",
        DEFAULT_SLOTS,
        t.elapsed()
    );
    steer(&v, 3);
    let shaped = load(&v, true, StartUp::SatelliteDrained);
    println!("download, HTB per device at 20 Mbit/s:              {shaped}");
    assert!(shaped.jain >= 0.9, "unfair: {shaped}");
    assert!(
        shaped.many_flows + shaped.one_flow > 0.8 * UPLINK as f64,
        "the uplink is not used: {shaped}"
    );
    // Measured 0.7-2.2 ms avg, 21-34 ms max (against 40-160 ms avg with one shared queue).
    assert!(
        shaped.ping.0 < 10.0 && shaped.ping.1 < 120.0,
        "the third phone waits: {shaped}"
    );
}

#[test]
fn the_daemon_shares_the_uplink_per_device() {
    let _serial = serial();
    let v = Village::up(&tag_for("shaping::daemon"), 3);
    satellite(&v, SATELLITE);
    iperf_servers(&v, &[5201, 5202]);
    let d = Daemon::start_net(
        &v,
        "uplink_download = \"20 Mbit/s\"\nuplink_upload = \"20 Mbit/s\"",
        "[quota]\ndownload_rate = \"100 Mbit/s\"\nupload_rate = \"100 Mbit/s\"\ndaily_data = \"10 GiB\"\n",
    );
    for dev in ["br-lan", "wan0"] {
        assert!(
            root_qdisc(&v, dev).contains("htb de5a: root"),
            "{dev}: {}\n{}",
            root_qdisc(&v, dev),
            d.log()
        );
    }
    for phone in 1..=3 {
        let r = curl(
            &v.phone(phone),
            &["-X", "POST", "http://10.77.0.1:2050/login"],
            5.0,
        );
        assert_eq!(r.code, 303, "phone {phone} login: {r:?}\n{}", d.log());
    }
    let shaped = load(&v, true, StartUp::SatelliteDrained);
    println!("download through the daemon, uplink 20 Mbit/s: {shaped}");
    assert!(shaped.jain >= 0.9, "unfair: {shaped}\n{}", d.log());
    assert!(
        shaped.many_flows + shaped.one_flow > 0.8 * UPLINK as f64,
        "the uplink is not used: {shaped}"
    );
    assert!(
        shaped.ping.0 < 10.0 && shaped.ping.1 < 120.0,
        "the third phone waits: {shaped}"
    );
    // The phones' traffic went through their own slots, not the default class.
    let classes = ns_ok(&v.router(), &["tc", "-s", "class", "show", "dev", "br-lan"]);
    let busy = classes
        .split("class htb ")
        .filter(|c| {
            c.starts_with("de5a:1") && !c.starts_with("de5a:1 ") && !c.contains("Sent 0 bytes")
        })
        .count();
    assert!(busy >= 3, "fewer than 3 busy slot classes:\n{classes}");
}

#[test]
fn upload_is_shared_per_device_too() {
    let _serial = serial();
    let v = Village::up(&tag_for("shaping::upload"), 3);
    iperf_servers(&v, &[5201, 5202]);
    block_on(router_tc(&v).run(&shaping::setup_script(&plan(None, Some(UPLINK), 16), FAST)))
        .unwrap();
    steer(&v, 3);
    let shaped = load(&v, false, StartUp::Fixed);
    println!("upload, HTB per device at 20 Mbit/s: {shaped}");
    assert!(shaped.jain >= 0.9, "unfair: {shaped}");
    assert!(
        shaped.ping.0 < 5.0 && shaped.ping.1 < 50.0,
        "the third phone waits: {shaped}"
    );
}

/// One download (or upload) flow for `secs` seconds, the first omitted.
fn one_flow(v: &Village, secs: u32, download: bool) -> f64 {
    Iperf::start(v, 1, 5201, 1, secs, 1, download).bits_per_second()
}

fn assert_near(what: &str, got: f64, want: u64) {
    let error = (got - want as f64) / want as f64;
    println!(
        "{what}: {:.1} kbit/s for a cap of {} kbit/s ({:+.1} %)",
        got / 1e3,
        want / 1000,
        error * 100.0
    );
    assert!(
        error.abs() <= 0.15,
        "{what}: {got:.0} bit/s is not within 15 % of {want}"
    );
}

#[test]
fn a_device_cap_is_what_the_device_gets() {
    let _serial = serial();
    let v = Village::up(&tag_for("shaping::cap"), 1);
    iperf_servers(&v, &[5201]);
    let tc = router_tc(&v);
    // No uplink rates: the root does not shape, only the device's ceiling does.
    let p = plan(None, None, 4);
    block_on(tc.run(&shaping::setup_script(&p, FAST))).unwrap();
    steer(&v, 1);

    let two = SlotRates::same(2_000_000, 2_000_000);
    block_on(tc.run(&shaping::slots_script(&p, &[(0, two)]))).unwrap();
    assert_near(
        "download capped at 2 Mbit/s",
        one_flow(&v, 6, true),
        2_000_000,
    );
    assert_near(
        "upload capped at 2 Mbit/s",
        one_flow(&v, 6, false),
        2_000_000,
    );

    let fair_use = SlotRates::same(256_000, 256_000);
    block_on(tc.run(&shaping::slots_script(&p, &[(0, fair_use)]))).unwrap();
    assert_near(
        "download at the fair-use speed",
        one_flow(&v, 7, true),
        256_000,
    );

    // A slot that is not there fails loudly.
    let err = block_on(tc.run(&shaping::slots_script(&p, &[(9, two)]))).unwrap_err();
    assert!(
        matches!(err, shaping::ShapingError::Failed { .. }),
        "{err:?}"
    );
}

fn root_qdisc(v: &Village, dev: &str) -> String {
    ns_ok(&v.router(), &["tc", "qdisc", "show", "dev", dev, "root"])
}

fn class_count(v: &Village, dev: &str) -> usize {
    // Only HTB's: each leaf TBF shows its own inner class too.
    ns_ok(&v.router(), &["tc", "class", "show", "dev", dev])
        .lines()
        .filter(|l| l.starts_with("class htb"))
        .count()
}

#[test]
fn setup_rebuilds_and_teardown_removes_only_ours() {
    let v = Village::up(&tag_for("shaping::teardown"), 1);
    let tc = router_tc(&v);
    let big = plan(Some(UPLINK), Some(UPLINK), DEFAULT_SLOTS);
    // Twice the full size (the second replaces the first), then a smaller tree.
    for _ in 0..2 {
        let script = shaping::setup_script(&big, FAST);
        let t = Instant::now();
        block_on(tc.run(&script)).unwrap();
        println!(
            "tc -batch: {} lines ({} slots x 2 interfaces) in {:?}",
            script.lines().count(),
            big.slots,
            t.elapsed()
        );
    }
    // Four fixed classes (uplink, default, the garden of online phones, the
    // shared garden class of phones not online), then three per slot (the
    // device, its traffic, its free traffic).
    assert_eq!(
        class_count(&v, "br-lan"),
        4 + 3 * usize::from(DEFAULT_SLOTS)
    );
    let small = plan(None, None, 3);
    block_on(tc.run(&shaping::setup_script(&small, FAST))).unwrap();
    assert_eq!(class_count(&v, "br-lan"), 13);
    assert_eq!(class_count(&v, "wan0"), 13);
    assert!(root_qdisc(&v, "br-lan").contains("htb de5a: root"));

    block_on(tc.teardown(&small)).unwrap();
    for dev in ["br-lan", "wan0"] {
        let q = root_qdisc(&v, dev);
        assert!(!q.contains("htb"), "{dev}: {q}");
    }
    // Nothing there: still fine.
    block_on(tc.teardown(&small)).unwrap();
    // Someone else's root qdisc stays.
    ns_ok(
        &v.router(),
        &[
            "tc", "qdisc", "add", "dev", "wan0", "root", "handle", "1:", "htb",
        ],
    );
    block_on(tc.teardown(&small)).unwrap();
    assert!(
        root_qdisc(&v, "wan0").contains("htb 1: root"),
        "{}",
        root_qdisc(&v, "wan0")
    );
}
