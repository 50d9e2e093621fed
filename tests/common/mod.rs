//! The harness for the network-namespace tests: a village (router, upstream
//! "internet", phones) from `scripts/village.sh`, commands and curl inside its
//! namespaces, and the daemon under test started in the router's namespace.
//!
//! Every test that builds a village needs root and the tools the script names
//! (iproute2, dnsmasq-base, curl, bind9-dnsutils, nftables, python3). A missing
//! one fails the test with the package to install: a network test that skips
//! proves nothing.
//!
//! ```ignore
//! mod common;
//! use common::*;
//!
//! #[test]
//! fn http_goes_to_the_portal() {
//!     let v = Village::up(&tag_for("portal::http_goes_to_the_portal"), 2);
//!     let d = Daemon::start(&v, "[quota]\ndaily_data = \"10 MiB\"\n");
//!     let r = curl(&v.phone(1), &["http://198.51.100.2/"], 5.0);
//!     assert_eq!(r.code, 302, "{r:?}\n{}", d.log());
//! }
//! ```
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The router's LAN address: portal, DNS forwarder, phones' gateway.
pub const ROUTER_LAN: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The portal's port in the base config.
pub const PORTAL_PORT: u16 = 2050;
/// The fake internet: HTTP on :80 and :443 (both plain HTTP) and DNS on :53.
pub const UPSTREAM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// The fake internet over IPv6 (HTTP on :80 and :443).
pub const UPSTREAM6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 2);
/// The regency's communications office (`Village::regency_up`), behind the
/// upstream; `fleet.example.net` in the upstream's DNS.
pub const REGENCY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
/// A "public service" host on the upstream (layanan.go.id, go.id): the walled garden's target.
pub const GARDEN_HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/village.sh");
/// How long `Daemon::start` waits for the portal to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `Drop for Daemon` waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A short, stable village TAG (6 characters of [a-z0-9]) for a test.
///
/// Pass a string unique to the test, e.g. `"portal::redirects_http"`. The same
/// name gives the same TAG, so a village left behind by a crashed run is
/// cleaned by the next `up`. Set `DW_TAG_SALT` to run two copies of the suite
/// on one machine at the same time.
pub fn tag_for(test_name: &str) -> String {
    let salt = std::env::var("DW_TAG_SALT").unwrap_or_default();
    // FNV-1a, 64 bit: std has no stable hash across runs, this is.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.bytes().chain([0]).chain(test_name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..6)
        .map(|_| {
            let d = DIGITS[(h % 36) as usize] as char;
            h /= 36;
            d
        })
        .collect()
}

/// One village: namespaces `dw-TAG-r`, `dw-TAG-u`, `dw-TAG-p1..N`, torn down on drop.
#[derive(Debug)]
pub struct Village {
    pub tag: String,
    pub phones: usize,
    run_dir: PathBuf,
}

/// A cheap, cloneable, thread-safe way to name a village's namespaces
/// (the `Village` itself owns the teardown).
#[derive(Debug, Clone)]
pub struct VillageHandle {
    tag: String,
}

impl VillageHandle {
    /// Phone `n`'s namespace name (1-based).
    pub fn phone(&self, n: usize) -> String {
        format!("dw-{}-p{n}", self.tag)
    }
}

/// The tag prefix from `DW_VILLAGE_SALT` (empty when unset); panics on a
/// value village.sh would refuse, naming the variable.
fn village_salt() -> String {
    let salt = std::env::var("DW_VILLAGE_SALT").unwrap_or_default();
    assert!(
        salt.len() <= 2
            && salt
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "DW_VILLAGE_SALT={salt:?}: at most 2 of [a-z0-9]"
    );
    salt
}

impl Village {
    /// A handle naming this village's namespaces, for other threads.
    pub fn handle(&self) -> VillageHandle {
        VillageHandle {
            tag: self.tag.clone(),
        }
    }

    /// Builds the village with `scripts/village.sh up` (which first removes any
    /// leftover of the same TAG). Panics with the script's stderr on failure.
    pub fn up(tag: &str, phones: usize) -> Village {
        Village::up_with_router_dns(tag, phones, &[])
    }

    /// `up` with extra options for the router's dnsmasq (e.g. `--nftset=...`
    /// for walled-garden domains); each must be a single word.
    pub fn up_with_router_dns(tag: &str, phones: usize, dnsmasq_args: &[&str]) -> Village {
        require_root();
        // DW_VILLAGE_SALT (up to 2 of [a-z0-9]) prefixes the tag, so two
        // checkouts on one machine can run the same test at once.
        let tag = &format!("{}{tag}", village_salt());
        let out = Command::new("bash")
            .args([SCRIPT, "up", tag, &phones.to_string()])
            .env("DW_ROUTER_DNSMASQ_ARGS", dnsmasq_args.join(" "))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash {SCRIPT}: {e}"));
        if !out.status.success() {
            // The script already removes a half-built village; make sure.
            let _ = Command::new("bash")
                .args([SCRIPT, "down", tag])
                .stdin(Stdio::null())
                .output();
            panic!(
                "village.sh up {tag} {phones} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let run_dir = std::env::temp_dir().join(format!("desawifi-village-{tag}"));
        if run_dir.exists() {
            fs::remove_dir_all(&run_dir)
                .unwrap_or_else(|e| panic!("removing old {}: {e}", run_dir.display()));
        }
        fs::create_dir_all(&run_dir)
            .unwrap_or_else(|e| panic!("creating {}: {e}", run_dir.display()));
        Village {
            tag: tag.to_string(),
            phones,
            run_dir,
        }
    }

    /// The router's namespace, where the daemon runs (br-lan, wan0).
    pub fn router(&self) -> String {
        format!("dw-{}-r", self.tag)
    }

    /// The upstream ("internet") namespace.
    pub fn upstream(&self) -> String {
        format!("dw-{}-u", self.tag)
    }

    /// Adds the regency office (`village.sh regency`): a namespace behind the
    /// upstream at [`REGENCY`] (`fleet.example.net`), reached by the router
    /// only over wan0. Returns its namespace; it goes with the village.
    pub fn regency_up(&self) -> String {
        let out = Command::new("bash")
            .args([SCRIPT, "regency", &self.tag])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash {SCRIPT}: {e}"));
        assert!(
            out.status.success(),
            "village.sh regency {} failed ({}):\n{}{}",
            self.tag,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.regency()
    }

    /// The regency office's namespace (after [`Village::regency_up`]).
    pub fn regency(&self) -> String {
        format!("dw-{}-g", self.tag)
    }

    /// Phone `n`'s namespace, 1-based.
    pub fn phone(&self, n: usize) -> String {
        self.check_phone(n);
        format!("dw-{}-p{n}", self.tag)
    }

    /// Phone `n`'s IPv4 address: 10.77.0.(10+n).
    pub fn phone_ip(&self, n: usize) -> Ipv4Addr {
        self.check_phone(n);
        Ipv4Addr::new(10, 77, 0, 10 + n as u8)
    }

    /// Phone `n`'s IPv6 address: `fd77::(10+n)`, the digits read as hex as the script writes them.
    pub fn phone_ip6(&self, n: usize) -> Ipv6Addr {
        self.check_phone(n);
        format!("fd77::{}", 10 + n)
            .parse()
            .expect("phone IPv6 address")
    }

    /// Phone `n`'s MAC, lowercase: `02:77:00:00:00:0n` (n in hex).
    pub fn phone_mac(&self, n: usize) -> String {
        self.check_phone(n);
        format!("02:77:00:00:00:{n:02x}")
    }

    /// A fresh directory for this village's config and store; removed on drop
    /// (kept when the test panics, so daemon.log can be read).
    pub fn run_dir(&self) -> PathBuf {
        self.run_dir.clone()
    }

    fn check_phone(&self, n: usize) {
        assert!(
            n >= 1 && n <= self.phones,
            "phone {n}: village {} has phones 1..={}",
            self.tag,
            self.phones
        );
    }
}

impl Drop for Village {
    fn drop(&mut self) {
        if std::env::var("DW_VILLAGE_KEEP").as_deref() == Ok("1") {
            eprintln!(
                "DW_VILLAGE_KEEP=1: village {} left up; run dir {}",
                self.tag,
                self.run_dir.display()
            );
            return;
        }
        match Command::new("bash")
            .args([SCRIPT, "down", &self.tag])
            .stdin(Stdio::null())
            .output()
        {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "village.sh down {} failed: {}",
                self.tag,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("cannot run village.sh down {}: {e}", self.tag),
        }
        if std::thread::panicking() {
            eprintln!(
                "village {}: test failed; its run dir is kept: {}",
                self.tag,
                self.run_dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.run_dir);
        }
    }
}

fn require_root() {
    // /proc/self belongs to the effective uid; std has no geteuid().
    let uid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    assert_eq!(
        uid, 0,
        "the network-namespace tests need root (ip netns, nft); run them as root, as CI does"
    );
}

/// `ip netns exec NS ARGS...` with proxy variables removed (nothing here goes through a proxy).
fn ns_command(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::null());
    for v in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        c.env_remove(v);
    }
    c
}

/// Panics naming the package when a tool is missing, else with the error.
fn spawn_failed(what: &str, e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::NotFound {
        panic!("ip not found: apt-get install iproute2 ({what})");
    }
    panic!("cannot run {what}: {e}");
}

/// `ip netns exec NS ARGS...`, output captured. A non-zero exit is returned, not
/// a panic; a program missing inside the namespace shows as exit 255 with
/// `exec of "x" failed` on stderr.
pub fn ns_exec(ns: &str, args: &[&str]) -> Output {
    ns_command(ns, args)
        .output()
        .unwrap_or_else(|e| spawn_failed(&format!("ip netns exec {ns} {args:?}"), e))
}

/// `ns_exec` that must succeed; returns stdout. Panics with stderr otherwise.
pub fn ns_ok(ns: &str, args: &[&str]) -> String {
    let o = ns_exec(ns, args);
    assert!(
        o.status.success(),
        "in {ns}: {args:?} failed ({}): {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fails with the package to install when `ip netns exec` could not find `tool`.
fn check_tool(o: &Output, tool: &str, package: &str) {
    if o.status.code() == Some(255)
        && String::from_utf8_lossy(&o.stderr).contains(&format!("exec of \"{tool}\" failed"))
    {
        panic!("{tool} not found: apt-get install {package}");
    }
}

/// What one curl saw.
#[derive(Debug, Clone)]
pub struct Http {
    /// The status code; 0 when no response came (refused, reset, timed out).
    pub code: u16,
    pub body: String,
    /// The raw response headers (`-D`), all responses when `-L` was given.
    pub headers: String,
    /// curl's `time_total`, seconds.
    pub secs: f64,
    /// curl's exit code (7 refused, 28 timed out, 52 empty reply, 56 reset...).
    pub exit: i32,
    /// curl's error message (`-sS`), empty on success.
    pub stderr: String,
}

impl Http {
    /// The value of the last header `name` (case-insensitive), e.g. `Location`.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .lines()
            .rev()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    }
}

static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// A unique scratch path for one call (tests run in parallel threads).
fn scratch(what: &str) -> PathBuf {
    let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("desawifi-{what}-{}-{n}", std::process::id()))
}

/// Phone `phone` taps Connect: `POST /login` with `lang=id`, what the
/// splash page's form sends.
pub fn portal_login(v: &Village, phone: usize) -> Http {
    let url = format!("http://{ROUTER_LAN}:{PORTAL_PORT}/login");
    curl(
        &v.phone(phone),
        &["-X", "POST", "--data", "lang=id", &url],
        5.0,
    )
}

/// curl inside a namespace: `curl -sS -o BODY -D HEADERS -w "%{http_code} %{time_total}"
/// --max-time MAX` plus `extra` (the URL and any options).
pub fn curl(ns: &str, extra: &[&str], max_secs: f64) -> Http {
    let body_path = scratch("curl-body");
    let head_path = scratch("curl-head");
    let max = format!("{max_secs}");
    let mut args = vec![
        "curl",
        "-sS",
        "--noproxy",
        "*",
        "-o",
        body_path.to_str().unwrap(),
        "-D",
        head_path.to_str().unwrap(),
        "-w",
        "%{http_code} %{time_total}",
        "--max-time",
        &max,
    ];
    args.extend_from_slice(extra);
    let o = ns_exec(ns, &args);
    check_tool(&o, "curl", "curl");
    let body = fs::read(&body_path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let headers = fs::read_to_string(&head_path).unwrap_or_default();
    let _ = fs::remove_file(&body_path);
    let _ = fs::remove_file(&head_path);
    let out = String::from_utf8_lossy(&o.stdout);
    let mut w = out.split_whitespace();
    let code = w.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let secs = w.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    Http {
        code,
        body,
        headers,
        secs,
        exit: o.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `nft list tables` in a namespace, as "FAMILY NAME" (e.g. "inet desawifi").
pub fn nft_tables_full(ns: &str) -> Vec<String> {
    let o = ns_exec(ns, &["nft", "list", "tables"]);
    check_tool(&o, "nft", "nftables");
    assert!(
        o.status.success(),
        "in {ns}: nft list tables failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("table "))
        .map(str::to_string)
        .collect()
}

/// The names of the nftables tables in a namespace (e.g. ["desawifi"]); see
/// `nft_tables_full` for the families.
pub fn nft_tables(ns: &str) -> Vec<String> {
    nft_tables_full(ns)
        .iter()
        .filter_map(|t| t.split_whitespace().last().map(str::to_string))
        .collect()
}

/// The first A record for `name` from `server`, asked inside `ns`
/// (`dig +short +time=1 +tries=1`); None when there is none or no answer.
pub fn dig(ns: &str, server: &str, name: &str) -> Option<String> {
    let at = format!("@{server}");
    let o = ns_exec(
        ns,
        &["dig", "+short", "+time=1", "+tries=1", &at, name, "A"],
    );
    check_tool(&o, "dig", "bind9-dnsutils");
    // +short prints CNAMEs before the address, and ";; ..." lines on timeouts.
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::trim)
        .find(|l| l.parse::<Ipv4Addr>().is_ok())
        .map(str::to_string)
}

/// Does `ip:port` accept TCP inside `ns`? (bash's /dev/tcp, at most 1 s.)
pub fn tcp_accepts(ns: &str, ip: &str, port: u16) -> bool {
    let probe = format!("exec 3<>/dev/tcp/{ip}/{port}");
    ns_exec(ns, &["timeout", "1", "bash", "-c", &probe])
        .status
        .success()
}

/// The daemon under test, running in the village's router namespace.
pub struct Daemon {
    child: Option<Child>,
    router: String,
    config: PathBuf,
    log: PathBuf,
    starts: u32,
    env: Vec<(String, String)>,
    /// The command that runs the daemon (before `run --config FILE`); empty
    /// for the binary cargo built (another one: a release artifact under qemu
    /// or inside a chroot, see [`Daemon::start_launched`]).
    launcher: Vec<String>,
}

impl Daemon {
    /// `start`, with the daemon run by `launcher` (e.g. `["qemu-aarch64-static",
    /// "/path/desawifi"]`) instead of the binary cargo built; `run --config
    /// FILE` is appended. The launcher must exec the daemon (so its pid is the
    /// daemon's: `kill9` and `stop` signal it) and see the run dir at the same path.
    pub fn start_launched(v: &Village, launcher: &[&str], extra_toml: &str) -> Daemon {
        Daemon::try_start_launched(v, launcher, extra_toml).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_start_launched(
        v: &Village,
        launcher: &[&str],
        extra_toml: &str,
    ) -> Result<Daemon, String> {
        let mut d = Daemon::prepare(v, "", "", extra_toml, &[]);
        d.launcher = launcher.iter().map(|s| s.to_string()).collect();
        d.spawn_and_wait()?;
        Ok(d)
    }

    /// Writes `config.toml` in the village's run dir (the base config below with
    /// `extra_toml` appended verbatim), starts `desawifi run --config` in the
    /// router namespace (RUST_LOG=desawifi=debug, output to run_dir/daemon.log)
    /// and waits until 10.77.0.1:2050 accepts TCP. Panics with the log's tail
    /// when it does not within 10 s or the daemon exits.
    pub fn start(v: &Village, extra_toml: &str) -> Daemon {
        Daemon::try_start(v, extra_toml).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `start`, but a daemon that does not come up is an Err with the log's
    /// tail (for tests of bad configs and refused starts).
    pub fn try_start(v: &Village, extra_toml: &str) -> Result<Daemon, String> {
        Daemon::try_start_net(v, "", extra_toml)
    }

    /// `start` with extra lines inside the base config's `[network]` section
    /// (e.g. `uplink_download = "20 Mbit/s"`).
    pub fn start_net(v: &Village, network_lines: &str, extra_toml: &str) -> Daemon {
        Daemon::try_start_net(v, network_lines, extra_toml).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `try_start` with extra `[network]` lines.
    pub fn try_start_net(
        v: &Village,
        network_lines: &str,
        extra_toml: &str,
    ) -> Result<Daemon, String> {
        Daemon::try_start_env(v, network_lines, extra_toml, &[])
    }

    /// `start_net` with extra environment variables for the daemon (e.g. `DESAWIFI_TEST_NOW`).
    pub fn start_env(
        v: &Village,
        network_lines: &str,
        extra_toml: &str,
        env: &[(&str, &str)],
    ) -> Daemon {
        Daemon::try_start_env(v, network_lines, extra_toml, env).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_start_env(
        v: &Village,
        network_lines: &str,
        extra_toml: &str,
        env: &[(&str, &str)],
    ) -> Result<Daemon, String> {
        Daemon::try_start_full(v, network_lines, "", extra_toml, env)
    }

    /// `start` with extra lines inside the base config's `[portal]` section
    /// (e.g. the HTTPS keys).
    pub fn start_portal(v: &Village, portal_lines: &str, extra_toml: &str) -> Daemon {
        Daemon::try_start_full(v, "", portal_lines, extra_toml, &[])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_start_full(
        v: &Village,
        network_lines: &str,
        portal_lines: &str,
        extra_toml: &str,
        env: &[(&str, &str)],
    ) -> Result<Daemon, String> {
        let mut d = Daemon::prepare(v, network_lines, portal_lines, extra_toml, env);
        d.spawn_and_wait()?;
        Ok(d)
    }

    /// Writes the config; the daemon is not started yet.
    fn prepare(
        v: &Village,
        network_lines: &str,
        portal_lines: &str,
        extra_toml: &str,
        env: &[(&str, &str)],
    ) -> Daemon {
        let dir = v.run_dir();
        let config = dir.join("config.toml");
        let mut text = format!(
            "{}\n{extra_toml}\n",
            base_config(&dir, network_lines, portal_lines)
        );
        if !extra_toml.contains("[uplink]") {
            // Watch the village's own upstream, never the public defaults:
            // test traffic stays inside the namespaces.
            text.push_str("[uplink]\ntargets = [\"198.51.100.2:53\"]\n");
        }
        fs::write(&config, text).unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        Daemon {
            child: None,
            router: v.router(),
            config,
            log: dir.join("daemon.log"),
            starts: 0,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            launcher: Vec::new(),
        }
    }

    /// The config file the daemon runs with (a test may rewrite it before `restart`).
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The daemon's store directory (`[store] path` of the base config).
    pub fn store_dir(&self) -> PathBuf {
        self.config.parent().expect("run dir").join("store")
    }

    /// The daemon's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL and wait: a power cut, as far as the daemon can tell.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal by name ("HUP", "TERM", ...) to the running daemon.
    pub fn signal(&self, sig: &str) {
        let pid = self.pid().expect("daemon is not running");
        let o = Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .output()
            .expect("running kill");
        assert!(
            o.status.success(),
            "kill -{sig} {pid}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// SIGTERM and wait for the exit (SIGKILL after 3 s); returns the exit
    /// status, None if it had to be killed or was not running.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .output();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Starts again with the same config file and store (stopping it first
    /// with SIGTERM if it still runs). Panics like `start`.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn_and_wait() {
            panic!("{e}");
        }
    }

    /// Everything the daemon wrote, all starts (each begins with a `=== harness:` line).
    pub fn log(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last 40 lines of [`Daemon::log`].
    pub fn log_tail(&self) -> String {
        log_tail_of(&self.log)
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        self.starts += 1;
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.log.display()));
        let _ = writeln!(
            log,
            "=== harness: start {} of desawifi in {}",
            self.starts, self.router
        );
        let mut argv: Vec<&str> = self.launcher.iter().map(String::as_str).collect();
        if argv.is_empty() {
            argv.push(env!("CARGO_BIN_EXE_desawifi"));
        }
        argv.extend(["run", "--config", self.config.to_str().expect("utf-8 path")]);
        // `ip netns exec` execs the program, so the child's pid is the daemon's.
        let child = ns_command(&self.router, &argv)
            .env("RUST_LOG", "desawifi=debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| spawn_failed("ip netns exec ... desawifi run", e));
        self.child = Some(child);
        let portal = ROUTER_LAN.to_string();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!(
                    "desawifi exited during start-up ({status}); log tail:\n{}",
                    self.log_tail()
                ));
            }
            if tcp_accepts(&self.router, &portal, PORTAL_PORT) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill9();
                return Err(format!(
                    "desawifi did not accept on {portal}:{PORTAL_PORT} within {}s; log tail:\n{}",
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                ));
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The config every daemon test starts from; tests append sections such as
/// [quota] and [walled_garden].
fn base_config(run_dir: &Path, network_lines: &str, portal_lines: &str) -> String {
    let store = run_dir.join("store");
    let store = store
        .to_str()
        .expect("utf-8 path")
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!(
        r#"[site]
name = "Desa Uji"
regency = "Paser"
timezone = "Asia/Makassar"

[network]
lan_interface = "br-lan"
wan_interface = "wan0"
portal_address = "10.77.0.1"
{network_lines}

[portal]
listen = "10.77.0.1:2050"
{portal_lines}

[store]
path = "{store}"
"#
    )
}

// ---------------------------------------------------------------------------------------
// The admin room: an HTTPS client that trusts exactly the daemon's certificate,
// connecting from inside a namespace, and accounts made with the CLI.

/// Where admin tests bind the admin listener: the router's WAN address (the
/// "management network" side; never the village LAN).
pub const ADMIN_ADDR: &str = "198.51.100.1:8443";

/// A TCP connection made from inside namespace `ns`: a thread joins the
/// namespace and connects; the socket stays in that namespace for its life.
pub fn connect_in(
    ns: &str,
    addr: std::net::SocketAddr,
    timeout: Duration,
) -> std::io::Result<std::net::TcpStream> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let netns = fs::File::open(&path)?;
        // SAFETY: setns on this thread only; the fd is valid for the call.
        let rc =
            unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&netns), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::net::TcpStream::connect_timeout(&addr, timeout)
    })
    .join()
    .expect("the connecting thread panicked")
}

/// A self-signed P-256 certificate for DNS name `name`, valid 2 days:
/// `key` and `cert`, PEM, made by openssl as an operator would.
pub fn self_signed_cert(name: &str, key: &Path, cert: &Path) {
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            &format!("subjectAltName=DNS:{name}"),
        ])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("openssl not found: apt-get install openssl");
    assert!(
        o.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// [`self_signed_cert`] for `fleet.example.net`, the regency's server in the fleet tests.
pub fn self_signed_fleet_cert(key: &Path, cert: &Path) {
    self_signed_cert("fleet.example.net", key, cert);
}

/// One answer from the admin listener.
#[derive(Debug, Clone)]
pub struct AdminResponse {
    pub status: u16,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl AdminResponse {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (with the answer) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// The last 40 lines of the daemon log at `path` (what [`Daemon::log_tail`] shows).
fn log_tail_of(path: &Path) -> String {
    let log = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `e` and each of its sources, `: `-separated, so a panic keeps the whole cause.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// A blocking HTTPS/1.1 client for the admin listener: rustls trusting
/// exactly `<store>/admin-cert.pem`, connecting from inside namespace `ns`,
/// one request per connection.
#[derive(Clone)]
pub struct AdminClient {
    pub ns: String,
    pub addr: std::net::SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
    /// The daemon's log file (from [`AdminClient::new`]), shown when a request fails.
    daemon_log: Option<PathBuf>,
}

impl AdminClient {
    /// For the daemon `d` listening at `addr`, from namespace `ns`. Waits (10 s)
    /// for the certificate the daemon makes on first start and for the port.
    pub fn new(d: &Daemon, ns: &str, addr: &str) -> AdminClient {
        let cert = d.store_dir().join("admin-cert.pem");
        let addr: std::net::SocketAddr = addr.parse().expect("an address with a port");
        let deadline = Instant::now() + START_TIMEOUT;
        while !(cert.exists() && connect_in(ns, addr, Duration::from_secs(1)).is_ok()) {
            assert!(
                Instant::now() < deadline,
                "no admin listener at {addr} (or no {}) within 10 s:\n{}",
                cert.display(),
                d.log_tail()
            );
            sleep(Duration::from_millis(100));
        }
        AdminClient {
            daemon_log: Some(d.log.clone()),
            ..AdminClient::trusting(&cert, ns, addr)
        }
    }

    /// A client trusting only the certificate(s) in the PEM file `cert`.
    pub fn trusting(cert: &Path, ns: &str, addr: std::net::SocketAddr) -> AdminClient {
        let pem = fs::read(cert).unwrap_or_else(|e| panic!("{}: {e}", cert.display()));
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots
                .add(c.expect("a PEM certificate"))
                .expect("a usable certificate");
        }
        assert!(!roots.is_empty(), "no certificate in {}", cert.display());
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        AdminClient {
            ns: ns.to_string(),
            addr,
            tls: std::sync::Arc::new(tls),
            daemon_log: None,
        }
    }

    /// Send one request (`Connection: close`) with extra `headers` and `body`;
    /// Err with what went wrong (connect, TLS, a malformed answer).
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<AdminResponse, String> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.exchange(&out)
    }

    /// Send `raw` bytes over a fresh TLS connection and read one HTTP answer.
    pub fn exchange(&self, raw: &[u8]) -> Result<AdminResponse, String> {
        use std::io::{BufRead, BufReader, Read};
        let tcp = connect_in(&self.ns, self.addr, Duration::from_secs(5))
            .map_err(|e| format!("connect {}: {}", self.addr, error_chain(&e)))?;
        tcp.set_read_timeout(Some(Duration::from_secs(15)))
            .map_err(|e| error_chain(&e))?;
        let name = rustls::pki_types::ServerName::from(self.addr.ip());
        let conn =
            rustls::ClientConnection::new(self.tls.clone(), name).map_err(|e| error_chain(&e))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(raw)
            .map_err(|e| format!("TLS write: {}", error_chain(&e)))?;
        tls.flush()
            .map_err(|e| format!("TLS flush: {}", error_chain(&e)))?;
        let mut reader = BufReader::new(tls);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("reading the status line: {}", error_chain(&e)))?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader
                .read_line(&mut line)
                .map_err(|e| format!("reading headers: {}", error_chain(&e)))?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| format!("bad header line {l:?}"))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let mut body = Vec::new();
        match length {
            Some(n) => {
                body.resize(n, 0);
                reader
                    .read_exact(&mut body)
                    .map_err(|e| format!("reading {n} body bytes: {}", error_chain(&e)))?;
            }
            None => {
                reader
                    .read_to_end(&mut body)
                    .map_err(|e| format!("reading the body: {}", error_chain(&e)))?;
            }
        }
        Ok(AdminResponse {
            status,
            headers,
            body,
        })
    }

    /// `try_request` that must get an answer; a failure panics with the
    /// whole cause and the daemon's log tail, so it explains itself.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> AdminResponse {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| {
                let log = match &self.daemon_log {
                    Some(file) => format!(
                        "\ndaemon log tail ({}):\n{}",
                        file.display(),
                        log_tail_of(file)
                    ),
                    None => String::new(),
                };
                panic!(
                    "{method} {path} to {} from {}: {e}{log}",
                    self.addr, self.ns
                )
            })
    }

    /// A request with `Authorization: Bearer <token>` (none when `token` is empty)
    /// and a JSON body (none when `body` is `Value::Null`).
    pub fn bearer(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> AdminResponse {
        let auth = format!("Bearer {token}");
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if !token.is_empty() {
            headers.push(("Authorization", &auth));
        }
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        };
        if !bytes.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        self.request(method, path, &headers, &bytes)
    }

    /// `POST /api/session`; returns the answer (200 with token, csrf and Set-Cookie, 401, 429).
    pub fn login(&self, username: &str, password: &str) -> AdminResponse {
        let body = serde_json::json!({ "username": username, "password": password });
        self.bearer("POST", "/api/session", "", &body)
    }

    /// Log in and return the session token; panics unless it is a 200.
    pub fn token(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password);
        assert_eq!(
            r.status,
            200,
            "login as {username}: {} {}",
            r.status,
            r.text()
        );
        r.json()["token"].as_str().expect("a token").to_string()
    }
}

/// `desawifi user add --config FILE --username NAME --role ROLE`, the
/// password on stdin (works while the daemon runs, through its control socket).
pub fn add_user(d: &Daemon, username: &str, role: &str, password: &str) {
    let bin = env!("CARGO_BIN_EXE_desawifi");
    let mut child = Command::new(bin)
        .args([
            "user",
            "add",
            "--config",
            d.config_path().to_str().expect("utf-8 path"),
            "--username",
            username,
            "--role",
            role,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {bin} user add: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("writing the password");
    let out = child.wait_with_output().expect("waiting for user add");
    assert!(
        out.status.success(),
        "desawifi user add {username} ({role}) failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
