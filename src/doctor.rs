//! `desawifi doctor --config FILE`: is this box ready to be the village's
//! gateway? Each check tries the real thing where it can (a throwaway nft
//! table, a throwaway HTB and TBF on a throwaway interface, a file written in
//! the store directory) and says in plain words what is missing and how to fix
//! it. A technician with a fresh Armbian or OpenWrt box runs it before
//! `desawifi run`; it exits 0 only when nothing failed.
//!
//! Top layer (next to the daemon): it reads the config and nothing else of
//! the crate, and changes nothing on the box that it does not remove again.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::config::Config;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Ready.
    Ok,
    /// Works, but worth a look (the gateway still runs).
    Warn,
    /// The gateway will not work (or not fully) until it is fixed.
    Fail,
}

/// One line of the doctor's report.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked, e.g. "ip_forward".
    pub name: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was seen, in plain words.
    pub detail: String,
    /// How to fix it (empty when nothing is to be fixed).
    pub fix: String,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: String::new(),
        }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Warn,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fix: fix.into(),
        }
    }
}

/// Every check's outcome, in the order run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check failed (warnings allowed): `doctor` exits 0.
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            writeln!(f, "{mark} {}: {}", c.name, c.detail)?;
            if !c.fix.is_empty() {
                writeln!(f, "     fix: {}", c.fix)?;
            }
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count();
        if failed == 0 {
            writeln!(f, "all checks passed")
        } else {
            writeln!(f, "{failed} check(s) failed")
        }
    }
}

/// Runs every check against the box and `config`.
pub fn run(config: &Config) -> Report {
    let net = &config.network;
    Report {
        checks: vec![
            nf_tables(),
            traffic_control(),
            dnsmasq(),
            interface("lan interface", "network.lan_interface", &net.lan_interface),
            interface("wan interface", "network.wan_interface", &net.wan_interface),
            ip_forward(),
            neighbour_table(net.max_online),
            store_writable(&config.store.path),
            clock(),
        ],
    }
}

/// A program from PATH or the usual sbin directories (root's PATH on some
/// boxes lacks /usr/sbin).
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs `program args`, feeding `stdin`; Ok(stdout) on success, Err(stderr or why not).
fn run_tool(program: &Path, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {}: {e}", program.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// A name for throwaway kernel objects, unique to this run.
fn scratch_name(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id() % 100_000)
}

/// The features the firewall uses, in one throwaway table, deleted again;
/// and whether the accounting pass can read its counters over netlink
/// (else it reads them through `nft`, about ten times slower per pass).
fn nf_tables() -> Check {
    const NAME: &str = "nf_tables";
    /// The throwaway table's one device and its counter.
    const BYTES: u64 = 1_234_567;
    let Some(nft) = program("nft") else {
        return Check::fail(
            NAME,
            "the nft program is missing",
            "install nftables (apt install nftables; OpenWrt: opkg install nftables)",
        );
    };
    let table = scratch_name("desawifi_doctor_");
    let ruleset = format!(
        "table inet {table} {{\n\
         set online {{ type ether_addr . ipv4_addr; counter; }}\n\
         set down {{ type ipv4_addr; counter; }}\n\
         map class {{ type ipv4_addr : classid; }}\n\
         counter probe {{ }}\n\
         chain c {{ ether saddr . ip saddr @online counter accept; meta priority set ip daddr map @class; }}\n\
         }}\n\
         add element inet {table} online {{ 02:00:5e:00:53:01 . 192.0.2.1 counter packets 1 bytes {BYTES} }}\n"
    );
    let made = run_tool(&nft, &["-f", "-"], Some(&ruleset));
    let read = made
        .is_ok()
        .then(|| crate::firewall::netlink::read_counted_from(&table));
    let _ = run_tool(&nft, &["delete", "table", "inet", &table], None);
    let works = "sets, maps, concatenations and counters work";
    match (made, read) {
        (Err(e), _) => Check::fail(
            NAME,
            format!("a test table with sets, maps, concatenations and counters was refused: {e}"),
            "use a kernel with nf_tables (CONFIG_NF_TABLES, NF_TABLES_INET, NFT_COUNTER, NFT_REJECT, NFT_NAT; OpenWrt: kmod-nft-core kmod-nft-nat) and nftables >= 0.9.6",
        ),
        (Ok(_), Some(Ok(state))) if state.online.values().eq([&BYTES]) => {
            Check::ok(NAME, format!("{works}; counters read over netlink"))
        }
        (Ok(_), read) => {
            let why = match read {
                Some(Err(e)) => e.to_string(),
                Some(Ok(state)) => format!("the test element read back as {:?}", state.online),
                None => "not tried".into(),
            };
            Check::warn(
                NAME,
                format!("{works}, but reading the counters over netlink did not ({why})"),
                "nothing breaks: each accounting pass reads the counters through nft instead, about ten times slower; a kernel whose nf_tables answers element dumps over netlink makes it fast",
            )
        }
    }
}

fn traffic_control() -> Check {
    const NAME: &str = "traffic control";
    let (Some(ip), Some(tc)) = (program("ip"), program("tc")) else {
        return Check::fail(
            NAME,
            "the ip or tc program is missing",
            "install iproute2 (OpenWrt: opkg install ip-full tc-full)",
        );
    };
    let dev = scratch_name("dwdoc");
    // ifb first (the shaping room uses it too), dummy where ifb is absent.
    let made = ["ifb", "dummy"]
        .iter()
        .any(|kind| run_tool(&ip, &["link", "add", &dev, "type", kind], None).is_ok());
    if !made {
        return Check::warn(
            NAME,
            "could not make a throwaway ifb or dummy interface to try HTB and TBF on",
            "make sure the kernel has sch_htb and sch_tbf (OpenWrt: kmod-sched-core kmod-ifb)",
        );
    }
    let htb = run_tool(
        &tc,
        &["qdisc", "add", "dev", &dev, "root", "handle", "1:", "htb"],
        None,
    );
    let tbf = run_tool(
        &tc,
        &[
            "qdisc", "replace", "dev", &dev, "root", "tbf", "rate", "1mbit", "burst", "32k",
            "latency", "50ms",
        ],
        None,
    );
    let _ = run_tool(&ip, &["link", "del", &dev], None);
    let missing: Vec<&str> = [("HTB", htb.is_ok()), ("TBF", tbf.is_ok())]
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        Check::ok(NAME, "HTB and TBF work")
    } else {
        Check::fail(
            NAME,
            format!("{} refused by the kernel", missing.join(" and ")),
            "use a kernel with sch_htb and sch_tbf (CONFIG_NET_SCH_HTB, CONFIG_NET_SCH_TBF; OpenWrt: kmod-sched-core)",
        )
    }
}

/// dnsmasq installed and built with nftset (walled-garden domains, usage categories).
fn dnsmasq() -> Check {
    const NAME: &str = "dnsmasq";
    let Some(dnsmasq) = program("dnsmasq") else {
        return Check::fail(
            NAME,
            "dnsmasq is not installed (it serves the village's DHCP and DNS)",
            "apt install dnsmasq (OpenWrt: opkg install dnsmasq-full)",
        );
    };
    match run_tool(&dnsmasq, &["--version"], None) {
        Ok(v) => {
            let options = v
                .lines()
                .find_map(|l| l.strip_prefix("Compile time options:"))
                .unwrap_or("");
            if options.split_whitespace().any(|o| o == "nftset") {
                Check::ok(NAME, format!("{} with nftset", dnsmasq.display()))
            } else {
                Check::fail(
                    NAME,
                    format!("{} is built without nftset (walled-garden domains cannot work)", dnsmasq.display()),
                    "install a dnsmasq built with nftset: Debian 12's dnsmasq-base, OpenWrt's dnsmasq-full",
                )
            }
        }
        Err(e) => Check::fail(
            NAME,
            format!("dnsmasq --version failed: {e}"),
            "reinstall dnsmasq",
        ),
    }
}

/// The interface `key` names exists.
fn interface(name: &'static str, key: &str, iface: &str) -> Check {
    if Path::new("/sys/class/net").join(iface).exists() {
        Check::ok(name, format!("{iface} is present"))
    } else {
        Check::fail(
            name,
            format!("{key} = \"{iface}\" does not exist on this box"),
            format!("set {key} to one of: {}", interfaces().join(", ")),
        )
    }
}

fn interfaces() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// IPv4 forwarding on (else an admitted phone still reaches nothing).
fn ip_forward() -> Check {
    const NAME: &str = "ip_forward";
    match std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward") {
        Ok(v) if v.trim() == "1" => Check::ok(NAME, "IPv4 forwarding is on"),
        Ok(v) => Check::fail(
            NAME,
            format!("IPv4 forwarding is off (net.ipv4.ip_forward = {}): logged-in phones would reach nothing", v.trim()),
            "sysctl -w net.ipv4.ip_forward=1, and keep it: echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-desawifi.conf",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("cannot read /proc/sys/net/ipv4/ip_forward: {e}"),
            "mount /proc",
        ),
    }
}

/// The kernel's neighbour table holds every online phone (the portal finds a
/// phone's MAC there): past gc_thresh3 entries it is full and logins fail;
/// past gc_thresh2 the kernel collects entries after 5 s (docs/configuration.md,
/// "Big sites").
fn neighbour_table(max_online: u16) -> Check {
    const NAME: &str = "neighbour table";
    let read = |key: &str| -> Option<u32> {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/neigh/default/{key}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let (Some(thresh2), Some(thresh3)) = (read("gc_thresh2"), read("gc_thresh3")) else {
        // Outside the first network namespace the kernel hides the global limits.
        return Check::ok(
            NAME,
            "limits not visible in this network namespace (the host's apply)",
        );
    };
    let want = u32::from(max_online);
    let fix = format!(
        "sysctl -w net.ipv4.neigh.default.gc_thresh2={} net.ipv4.neigh.default.gc_thresh3={}, and the same lines in /etc/sysctl.d/90-desawifi.conf",
        want + 64,
        2 * (want + 64)
    );
    if thresh3 < want {
        Check::fail(
            NAME,
            format!("gc_thresh3 = {thresh3} cannot hold network.max_online = {max_online} phones: logins fail once it is full"),
            fix,
        )
    } else if thresh2 < want {
        Check::warn(
            NAME,
            format!("gc_thresh2 = {thresh2} < network.max_online = {max_online}: past {thresh2} phones the kernel drops idle entries and the portal may not find a phone's MAC"),
            fix,
        )
    } else {
        Check::ok(
            NAME,
            format!("gc_thresh2 = {thresh2}, gc_thresh3 = {thresh3} hold network.max_online = {max_online}"),
        )
    }
}

/// The store directory can be made and written (sled, the admin certificate, the control socket).
fn store_writable(path: &Path) -> Check {
    const NAME: &str = "store";
    let fix = format!(
        "make {} writable by the daemon (on a read-only root, point [store] path at writable flash such as /var/lib/desawifi or /overlay)",
        path.display()
    );
    // Leave the box as found: directories made for the probe are removed again.
    let mut made = Vec::new();
    let mut missing = Some(path);
    while let Some(p) = missing.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        made.push(p.to_path_buf());
        missing = p.parent();
    }
    let result = std::fs::create_dir_all(path)
        .map_err(|e| format!("cannot make {}: {e}", path.display()))
        .and_then(|()| {
            let probe = path.join(format!(".doctor-{}", std::process::id()));
            let written = std::fs::write(&probe, b"desawifi doctor\n");
            let _ = std::fs::remove_file(&probe);
            written.map_err(|e| format!("{} is not writable: {e}", path.display()))
        });
    for dir in &made {
        let _ = std::fs::remove_dir(dir);
    }
    match result {
        Ok(()) => Check::ok(NAME, format!("{} is writable", path.display())),
        Err(detail) => Check::fail(NAME, detail, fix),
    }
}

/// A wrong clock breaks daily quotas (local midnight) and TLS (certificate dates).
fn clock() -> Check {
    const NAME: &str = "clock";
    // 2026-01-01T00:00:00Z: no correct clock reads earlier than this release.
    const EARLIEST: i64 = 1_767_225_600;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let fix = "run an NTP client (systemd-timesyncd or chrony; OpenWrt: sysntpd), and on a box without a battery-backed clock install fake-hwclock";
    if now < EARLIEST {
        return Check::fail(
            NAME,
            format!(
                "the clock reads {} (before this release): daily quotas and TLS would be wrong",
                display_time(now)
            ),
            fix,
        );
    }
    if kernel_clock_synced() {
        Check::ok(NAME, format!("synchronised ({})", display_time(now)))
    } else {
        Check::warn(
            NAME,
            format!(
                "{} looks plausible, but the kernel says no NTP client keeps it synchronised",
                display_time(now)
            ),
            fix,
        )
    }
}

fn display_time(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| unix.to_string())
}

/// adjtimex(2): TIME_ERROR (5) means the kernel's clock is not synchronised.
fn kernel_clock_synced() -> bool {
    // SAFETY: adjtimex with modes = 0 only reads; the struct is zeroed and owned here.
    unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut t);
        state >= 0 && state != libc::TIME_ERROR
    }
}
