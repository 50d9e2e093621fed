//! Commands inside a namespace: `ip netns exec`, the tools' packages named
//! when one is missing, nft listings, and TCP connections made from inside.

use std::fs;
use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `ip netns exec NS ARGS...` with proxy variables removed (nothing here goes through a proxy).
pub(crate) fn ns_command(ns: &str, args: &[&str]) -> Command {
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
pub(crate) fn spawn_failed(what: &str, e: std::io::Error) -> ! {
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
pub(crate) fn check_tool(o: &Output, tool: &str, package: &str) {
    if o.status.code() == Some(255)
        && String::from_utf8_lossy(&o.stderr).contains(&format!("exec of \"{tool}\" failed"))
    {
        panic!("{tool} not found: apt-get install {package}");
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
