//! A village: the namespaces `scripts/village.sh` builds (router, upstream,
//! phones, the regency office), their names and addresses, torn down on drop.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The router's LAN address: portal, DNS forwarder, phones' gateway.
pub const ROUTER_LAN: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The portal's port in the base config.
pub const PORTAL_PORT: u16 = 2050;
/// The fake internet: HTTP on :80 and :443 (both plain HTTP) and DNS on :53.
pub const UPSTREAM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// The regency's communications office (`Village::regency_up`), behind the
/// upstream; `fleet.example.net` in the upstream's DNS.
pub const REGENCY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
/// A "public service" host on the upstream (layanan.go.id, go.id): the walled garden's target.
pub const GARDEN_HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

/// The script that builds villages, in the repository above this crate.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/village.sh");

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
