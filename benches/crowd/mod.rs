//! Shared by the village benches (`login`, `burst`, `load`): a village from
//! `scripts/village.sh` plus a crowd of extra phones, the real release
//! daemon in the router's namespace, a tiny blocking HTTP client, and
//! percentiles.
//!
//! Crowd phones are namespaces `dw-TAG-p2`, `dw-TAG-p3`, ... (so
//! `village.sh down TAG` removes them too), each with its own veth into the
//! router's `br-lan`, its own MAC `02:77:01:00:HH:LL` and its own address in
//! 10.77.0.0/16 (a /24 has room for 244 phones only; the router gets a route
//! for the /16 on `br-lan`, the upstream one back via the router). The
//! daemon's rules key on the LAN interface, not on a prefix, so nothing in
//! its config changes.
//!
//! A phone's traffic comes from a thread of this process that has entered
//! the phone's namespace (`setns`): one thread per phone, plain blocking
//! sockets. Nothing here forges an address or a MAC: the router learns each
//! phone's MAC from its own ARP, as the portal requires.
//!
//! Each bench's config, store and `daemon.log` stay in
//! `/tmp/desawifi-bench-TAG/` after the run, to look at.
#![allow(dead_code)]

#[path = "../util/mod.rs"]
pub mod util;
pub use util::{kernel, nproc, run};

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/village.sh");
/// The portal as phones reach it.
pub const PORTAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 1), 2050);
/// The fake internet's HTTP server (tests/upstream.py): :80 and :443, both plain HTTP.
pub const UPSTREAM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// The router's bridge MAC (fixed by village.sh).
pub const ROUTER_MAC: &str = "02:77:00:00:ff:01";

/// A village of `1 + crowd` phones; torn down (crowd included) when dropped.
pub struct Village {
    pub tag: String,
    /// Crowd phones (2..=crowd+1).
    pub crowd: Vec<Phone>,
    /// How long making the crowd took (not part of any measurement).
    pub crowd_setup: Duration,
    run_dir: PathBuf,
    neigh: Option<NeighLimits>,
}

/// One phone: its namespace, address and MAC.
#[derive(Clone, Debug)]
pub struct Phone {
    pub n: usize,
    pub ns: String,
    pub ip: Ipv4Addr,
    pub mac: String,
}

impl Village {
    /// `village.sh up TAG 1` (phone 1 is 10.77.0.11), then `crowd` more phones.
    pub fn up(tag: &str, crowd: usize) -> Result<Village, String> {
        run(Command::new("bash").args([SCRIPT, "up", tag, "1"]))?;
        let run_dir = std::env::temp_dir().join(format!("desawifi-bench-{tag}"));
        let _ = fs::remove_dir_all(&run_dir);
        fs::create_dir_all(&run_dir).map_err(|e| format!("{}: {e}", run_dir.display()))?;
        let mut v = Village {
            tag: tag.into(),
            crowd: Vec::new(),
            crowd_setup: Duration::ZERO,
            run_dir,
            neigh: None,
        };
        if crowd > 0 {
            v.neigh = Some(NeighLimits::raise(4 * crowd as u64 + 1024)?);
            let t = Instant::now();
            v.crowd = make_crowd(tag, crowd)?;
            v.crowd_setup = t.elapsed();
        }
        Ok(v)
    }

    pub fn router(&self) -> String {
        format!("dw-{}-r", self.tag)
    }

    pub fn upstream(&self) -> String {
        format!("dw-{}-u", self.tag)
    }

    /// Phone 1 (from village.sh): 10.77.0.11, 02:77:00:00:00:01.
    pub fn phone1(&self) -> Phone {
        Phone {
            n: 1,
            ns: format!("dw-{}-p1", self.tag),
            ip: Ipv4Addr::new(10, 77, 0, 11),
            mac: "02:77:00:00:00:01".into(),
        }
    }

    /// Config, store and daemon log live here.
    pub fn run_dir(&self) -> PathBuf {
        self.run_dir.clone()
    }
}

impl Drop for Village {
    fn drop(&mut self) {
        if std::env::var("DW_VILLAGE_KEEP").as_deref() == Ok("1") {
            eprintln!("DW_VILLAGE_KEEP=1: village {} left up", self.tag);
            return;
        }
        if let Err(e) = run(Command::new("bash").args([SCRIPT, "down", &self.tag])) {
            eprintln!("village.sh down {}: {e}", self.tag);
        }
        if let Some(n) = self.neigh.take() {
            n.restore();
        }
    }
}

/// The kernel's neighbour (ARP) table is one table for every namespace, and
/// its default hard limit is 1,024 entries (`gc_thresh3`, settable only in
/// the host's namespace). A thousand phones put one entry in the router and
/// one in each phone: past the limit the kernel drops packets ("neighbor
/// table overflow"). A real router with that many phones needs the same
/// change (see BENCHMARKS.md). Raised for the bench, put back afterwards.
struct NeighLimits {
    old: [(String, u64); 3],
}

const NEIGH: &str = "/proc/sys/net/ipv4/neigh/default";

impl NeighLimits {
    fn raise(want3: u64) -> Result<NeighLimits, String> {
        let read = |k: &str| -> Result<u64, String> {
            let p = format!("{NEIGH}/{k}");
            fs::read_to_string(&p)
                .map_err(|e| format!("{p}: {e}"))?
                .trim()
                .parse()
                .map_err(|e| format!("{p}: {e}"))
        };
        let old = [
            ("gc_thresh1".to_string(), read("gc_thresh1")?),
            ("gc_thresh2".to_string(), read("gc_thresh2")?),
            ("gc_thresh3".to_string(), read("gc_thresh3")?),
        ];
        let want = [old[0].1, old[1].1.max(want3 / 2), old[2].1.max(want3)];
        for (i, k) in ["gc_thresh1", "gc_thresh2", "gc_thresh3"]
            .iter()
            .enumerate()
        {
            if want[i] != old[i].1 {
                fs::write(format!("{NEIGH}/{k}"), want[i].to_string())
                    .map_err(|e| format!("{NEIGH}/{k}: {e}"))?;
                eprintln!("bench: host {k} {} -> {} (one neighbour table for all namespaces; restored at the end)", old[i].1, want[i]);
            }
        }
        Ok(NeighLimits { old })
    }

    fn restore(self) {
        for (k, v) in self.old.iter().rev() {
            let _ = fs::write(format!("{NEIGH}/{k}"), v.to_string());
        }
    }
}

/// Crowd phone `n` (n >= 2): its address and MAC.
pub fn crowd_phone(tag: &str, n: usize) -> Phone {
    let i = n - 2;
    let ip = Ipv4Addr::new(10, 77, 4 + (i / 200) as u8, 10 + (i % 200) as u8);
    let mac = format!("02:77:01:00:{:02x}:{:02x}", i >> 8, i & 0xff);
    Phone {
        n,
        ns: format!("dw-{tag}-p{n}"),
        ip,
        mac,
    }
}

/// Namespaces, veths into the router's bridge, addresses and routes for
/// phones 2..=count+1, in a few `ip -batch` runs plus one per phone.
fn make_crowd(tag: &str, count: usize) -> Result<Vec<Phone>, String> {
    let router = format!("dw-{tag}-r");
    let phones: Vec<Phone> = (2..count + 2).map(|n| crowd_phone(tag, n)).collect();
    let mut netns = String::new();
    for p in &phones {
        netns += &format!("netns add {}\n", p.ns);
    }
    batch(None, &netns)?;
    let mut links = String::new();
    for p in &phones {
        links += &format!(
            "link add lan-p{} type veth peer name eth0 address {} netns {}\n",
            p.n, p.mac, p.ns
        );
        links += &format!(
            "link set lan-p{} addrgenmode none\nlink set lan-p{} master br-lan up\n",
            p.n, p.n
        );
    }
    links += "route add 10.77.0.0/16 dev br-lan src 10.77.0.1\n";
    batch(Some(&router), &links)?;
    batch(
        Some(&format!("dw-{tag}-u")),
        "route add 10.77.0.0/16 via 198.51.100.1\n",
    )?;
    // One `ip -n PHONE -batch` each, two at a time (2 cores).
    let chunks: Vec<&[Phone]> = phones.chunks(phones.len().div_ceil(2)).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || -> Result<(), String> {
                    for p in chunk {
                        batch(
                            Some(&p.ns),
                            &format!("link set lo up\nlink set eth0 addrgenmode none\nlink set eth0 up\naddr add {}/16 dev eth0\nroute add default via 10.77.0.1\n", p.ip),
                        )?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().unwrap())
    })?;
    Ok(phones)
}

/// `ip [-n NS] -batch -` with `script` on stdin.
fn batch(ns: Option<&str>, script: &str) -> Result<(), String> {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    let mut child = c
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("ip: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .map_err(|e| format!("ip -batch: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ip -batch: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {ns:?} -batch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Moves the calling thread into namespace `ns` for good (a thread made for
/// one phone). Sockets it makes afterwards belong to that namespace.
pub fn enter(ns: &str) -> Result<(), String> {
    let f =
        fs::File::open(format!("/run/netns/{ns}")).map_err(|e| format!("/run/netns/{ns}: {e}"))?;
    // SAFETY: setns on a valid fd; it affects only the calling thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(format!("setns {ns}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// A thread of `stack` bytes that enters `ns` and runs `f`.
pub fn spawn_in<T: Send + 'static>(
    ns: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<Result<T, String>> {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            enter(&ns)?;
            Ok(f())
        })
        .expect("spawning a phone thread")
}

/// What one HTTP exchange gave.
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub body: String,
    /// Connect to the last byte of the answer.
    pub took: Duration,
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to EOF.
pub fn http(
    to: SocketAddrV4,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<Reply, String> {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&SocketAddr::V4(to), timeout)
        .map_err(|e| format!("connect {to}: {e}"))?;
    let _ = s.set_nodelay(true);
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    let body = if method == "POST" { "lang=id" } else { "" };
    let extra = if method == "POST" {
        format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        )
    } else {
        String::new()
    };
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: desawifi-bench\r\n{extra}Connection: close\r\n\r\n{body}", host(to));
    s.write_all(req.as_bytes())
        .map_err(|e| format!("write {to}: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .map_err(|e| format!("read {to}{path}: {e}"))?;
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            format!(
                "{to}{path}: no status line in {:?}",
                text.chars().take(80).collect::<String>()
            )
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok(Reply { code, body, took })
}

fn host(to: SocketAddrV4) -> String {
    if to.port() == 80 {
        to.ip().to_string()
    } else {
        to.to_string()
    }
}

/// The daemon under test: the release binary cargo built for this bench,
/// started in the router's namespace with the village's base config plus
/// `extra_toml`. Stopped (SIGTERM) when dropped.
pub struct Daemon {
    child: Option<Child>,
    pub pid: u32,
    pub log: PathBuf,
}

impl Daemon {
    /// `portal_lines` go inside `[portal]`; `extra_toml` is appended (e.g. `[quota]`).
    pub fn start(v: &Village, portal_lines: &str, extra_toml: &str) -> Result<Daemon, String> {
        Daemon::start_with(v, "", portal_lines, extra_toml)
    }

    /// As [`Daemon::start`], with `network_lines` inside `[network]` (e.g. `max_online = 10000`).
    pub fn start_with(
        v: &Village,
        network_lines: &str,
        portal_lines: &str,
        extra_toml: &str,
    ) -> Result<Daemon, String> {
        let dir = v.run_dir();
        let store = dir.join("store");
        let config = dir.join("config.toml");
        let text = format!(
            "[site]\nname = \"Desa Uji\"\nregency = \"Paser\"\ntimezone = \"Asia/Makassar\"\n\n\
             [network]\nlan_interface = \"br-lan\"\nwan_interface = \"wan0\"\nportal_address = \"10.77.0.1\"\n{network_lines}\n\
             [portal]\nlisten = \"10.77.0.1:2050\"\n{portal_lines}\n\n[store]\npath = \"{}\"\n\n\
             [uplink]\ntargets = [\"198.51.100.2:53\"]\n\n{extra_toml}\n",
            store.display()
        );
        fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
        let log = dir.join("daemon.log");
        let logf = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let bin = env!("CARGO_BIN_EXE_desawifi");
        // `ip netns exec` execs the program: the child's pid is the daemon's.
        let child = Command::new("ip")
            .args(["netns", "exec", &v.router(), bin, "run", "--config"])
            .arg(&config)
            .env(
                "RUST_LOG",
                std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "desawifi=info".into()),
            )
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("starting desawifi: {e}"))?;
        let mut d = Daemon {
            pid: child.id(),
            child: Some(child),
            log,
        };
        let router = v.router();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(status))) = d.child.as_mut().map(Child::try_wait) {
                d.child = None;
                return Err(format!(
                    "desawifi exited during start-up ({status}); log tail:\n{}",
                    d.log_tail(30)
                ));
            }
            let r = router.clone();
            let up = spawn_in(r, || {
                TcpStream::connect_timeout(&SocketAddr::V4(PORTAL), Duration::from_millis(500))
                    .is_ok()
            })
            .join()
            .unwrap()?;
            if up {
                return Ok(d);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "desawifi did not listen within 60 s; log tail:\n{}",
                    d.log_tail(30)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// utime + stime, clock ticks (`/proc/PID/stat`).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        let after = stat.rsplit_once(") ").map(|(_, s)| s).unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        // Fields after the comm: state is [0], utime is field 14 overall -> [11], stime [12].
        f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
    }

    /// (VmRSS, VmHWM) in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let get = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (get("VmRSS:"), get("VmHWM:"))
    }

    /// Threads of the daemon (`/proc/PID/status` Threads).
    pub fn threads(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// SIGTERM, wait up to 5 s, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Clock ticks per second (for `cpu_ticks`).
pub fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// The value at quantile `q` (0..=1) of `v`, nearest rank; `v` sorted here.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// "p50 p90 p99 max" of milliseconds, for a table row.
pub fn summary_ms(v: &[f64]) -> String {
    let mut v = v.to_vec();
    format!(
        "{:.1} / {:.1} / {:.1} / {:.1}",
        quantile(&mut v, 0.5),
        quantile(&mut v, 0.9),
        quantile(&mut v, 0.99),
        quantile(&mut v, 1.0)
    )
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A count or number from the environment, or `default`.
pub fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Host load average (1 min), to say how busy the shared machine was.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A small deterministic PRNG (xorshift64*), so runs are repeatable without a crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }
}
