//! Free categories' own daily allowance (issue 22, item 2): a free category
//! is no tunnel. The router's real dnsmasq runs the generated snippet, so a
//! free category's addresses land in its set; a logged-in phone downloads
//! from a free name (`layanan.go.id`, in `layanan_publik`, free by default).
//! Within `[usage] free_daily_data` the quota does not move and the phone's
//! free counter does; beyond it, the free bytes cost quota like any others.
//! The per-device free counter is stored as bytes only: no record names a
//! category next to the device.

use desawifi_testkit as common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{curl, dig, ns_ok, portal_login, tag_for, Daemon, Village};
use serde_json::Value;

const PORTAL: &str = "http://10.77.0.1:2050";
const MIB: u64 = 1024 * 1024;
const EXAMPLE_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/desawifi.toml");
const DAILY: u64 = 20 * MIB;
const FREE_ALLOWANCE: u64 = 2 * MIB;

/// The generated snippet (from the example config), where the router's dnsmasq reads it.
fn snippet_file(name: &str) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_desawifi"))
        .args(["dnsmasq-conf", "--config", EXAMPLE_CONFIG])
        .output()
        .expect("running desawifi dnsmasq-conf");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::env::temp_dir().join(format!(
        "desawifi-free-allowance-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("desawifi.conf");
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

fn remaining(v: &Village) -> u64 {
    let r = curl(&v.phone(1), &[&format!("{PORTAL}/api/captive")], 5.0);
    assert_eq!(r.code, 200, "{r:?}");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    body["bytes-remaining"]
        .as_u64()
        .unwrap_or_else(|| panic!("{body}"))
}

fn fetch(v: &Village, host: &str, n: u64) {
    let r = curl(&v.phone(1), &[&format!("http://{host}/bytes/{n}")], 60.0);
    assert_eq!(r.code, 200, "{host}: {r:?}");
    assert_eq!(r.body.len() as u64, n, "{host}");
}

/// The phone's element of the kernel's `free` set: its free bytes since login.
fn kernel_free(v: &Village) -> u64 {
    let ip = v.phone_ip(1).to_string();
    let text = ns_ok(
        &v.router(),
        &["nft", "-j", "list", "set", "inet", "desawifi", "free"],
    );
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("set"))
        .flat_map(|s| s["elem"].as_array().cloned().unwrap_or_default())
        .find(|e| e["elem"]["val"] == ip.as_str())
        .and_then(|e| e["elem"]["counter"]["bytes"].as_u64())
        .unwrap_or_else(|| panic!("no free counter for {ip}: {text}"))
}

/// Waits for two accounting passes (1 s each) after the traffic.
fn settle() {
    std::thread::sleep(Duration::from_millis(2500));
}

#[test]
fn free_traffic_beyond_its_daily_allowance_costs_quota() {
    let snippet = snippet_file("tunnel");
    let arg = format!("--conf-file={}", snippet.display());
    let v = Village::up_with_router_dns(&tag_for("free_allowance::tunnel"), 1, &[&arg]);
    // (`write_interval` lands in [store]: every pass writes the day.)
    let d = Daemon::start(
        &v,
        "write_interval = \"0s\"\n[quota]\ndaily_data = \"20 MiB\"\ndownload_rate = \"100 Mbit/s\"\n\
         accounting_interval = \"1s\"\n\
         [usage]\nfree_daily_data = \"2 MiB\"\npublish_every = \"1s\"\npublish_min_devices = 1\n",
    );
    assert_eq!(portal_login(&v, 1).code, 303, "{}", d.log());
    let phone = v.phone(1);
    assert_eq!(
        dig(&phone, "10.77.0.1", "layanan.go.id").as_deref(),
        Some("203.0.113.10")
    );
    let set = ns_ok(
        &v.router(),
        &[
            "nft",
            "list",
            "set",
            "inet",
            "desawifi",
            "cat_layanan_publik",
        ],
    );
    assert!(set.contains("203.0.113.10"), "{set}");

    let t = Instant::now();
    let start = remaining(&v);
    assert!(start <= DAILY && start > DAILY - MIB, "{start}");

    // Within the allowance: the quota does not move, the free counter does.
    fetch(&v, "layanan.go.id", MIB);
    settle();
    let used = start - remaining(&v);
    let free = kernel_free(&v);
    println!("after 1 MiB free: quota used {used}, free counter {free}");
    assert!(
        used < 64 * 1024,
        "1 MiB of a free category cost {used} bytes of quota"
    );
    assert!(
        (MIB..MIB + MIB / 10).contains(&free),
        "the phone's free counter holds {free} for 1 MiB"
    );

    // 3 MiB more: about 2 MiB of it is beyond the 2 MiB allowance and costs quota.
    fetch(&v, "layanan.go.id", 3 * MIB);
    settle();
    let used = start - remaining(&v);
    let free = kernel_free(&v);
    println!(
        "after 4 MiB free: quota used {used} (free counter {free}, allowance {FREE_ALLOWANCE}), {:?}",
        t.elapsed()
    );
    assert!(free >= 4 * MIB, "the free counter holds {free} for 4 MiB");
    // Charged from the counter itself, so no accounting pass of slack: the
    // last pass's reading and this one differ by a late ack at most.
    assert!(
        used.abs_diff(free - FREE_ALLOWANCE) <= 4096,
        "the quota counts the free bytes beyond the allowance: {used} for {}",
        free - FREE_ALLOWANCE
    );
    assert!(
        (2 * MIB..2 * MIB + MIB / 2).contains(&used),
        "4 MiB from a free category with a 2 MiB allowance cost {used} bytes of quota \
         (want the 2 MiB beyond it, plus headers and acks)"
    );

    let mac = v.phone_mac(1);
    let ip = v.phone_ip(1).to_string();
    let mut d = d;
    d.stop();
    assert_store_has_free_bytes_and_no_category_per_device(&d.store_dir(), &mac, &ip, free);
}

/// The device's day holds its free bytes; no record names a category next
/// to the device (its MAC as text or bytes, or its address).
fn assert_store_has_free_bytes_and_no_category_per_device(
    dir: &Path,
    mac: &str,
    ip: &str,
    free: u64,
) {
    let db = sled::open(dir).expect("the store opens after the daemon stopped");
    let mac_bytes: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    let usage = db.open_tree("usage").unwrap();
    let days: Vec<Value> = usage
        .scan_prefix(&mac_bytes)
        .map(|kv| serde_json::from_slice(&kv.unwrap().1).unwrap())
        .collect();
    assert_eq!(days.len(), 1, "{days:?}");
    assert_eq!(
        days[0]["free"].as_u64(),
        Some(free),
        "the day's free bytes are stored like the quota's: {}",
        days[0]
    );
    for name in db.tree_names() {
        let tree = db.open_tree(&name).unwrap();
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&k),
                String::from_utf8_lossy(&v)
            );
            let raw: Vec<u8> = [&k[..], &v[..]].concat();
            let personal = text.contains(mac)
                || text.contains(ip)
                || raw.windows(6).any(|w| w == mac_bytes.as_slice());
            let names_category = ["layanan_publik", "lainnya", "cat_"]
                .iter()
                .any(|id| text.contains(id));
            assert!(
                !(personal && names_category),
                "tree {}: a category next to a device: {text}",
                String::from_utf8_lossy(&name)
            );
        }
    }
}
