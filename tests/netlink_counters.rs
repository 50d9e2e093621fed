//! The accounting pass's counter read over netlink (`firewall::netlink`)
//! against the real kernel: the table the daemon renders, thousands of
//! elements (a dump of many parts), each with its own counter, compared with
//! the values put in and with what `nft -j` lists for the same sets; and a
//! read while the ruleset keeps changing, which must lose no device.
//!
//! Each test runs on a thread of its own that moved into a new network
//! namespace (`unshare(CLONE_NEWNET)` is per thread), so the machine's own
//! ruleset is never touched, and `nft` started from that thread works in it.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use desawifi::firewall::categories::CategoryRule;
use desawifi::firewall::netlink;
use desawifi::firewall::render;
use desawifi::firewall::{
    DeviceCounters, DeviceKey, GardenNet, KernelState, Nft, OnlineDevice, Policy, SlotRates,
};

/// Run `f` on a thread in a fresh, empty network namespace.
fn in_fresh_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshare only changes this thread's namespaces.
            let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "unshare: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap()
    })
}

fn device(i: usize) -> DeviceKey {
    let [_, _, hi, lo] = (i as u32).to_be_bytes();
    DeviceKey {
        mac: format!("02:77:00:00:{hi:02x}:{lo:02x}").parse().unwrap(),
        ip: Ipv4Addr::new(10, 77, hi, lo),
    }
}

/// Distinct counters per device, large enough to need all 8 bytes.
fn expected(i: usize) -> DeviceCounters {
    DeviceCounters {
        upload: (1 << 33) + 1_000 * i as u64 + 7,
        download: (1 << 34) + 5_000 * i as u64 + 3,
        free: (1 << 32) + 300 * i as u64 + 1,
    }
}

/// The table the daemon renders for `n` online devices and two categories, applied.
fn apply_table(rt: &tokio::runtime::Runtime, n: usize) {
    let rates = SlotRates::same(2_000_000, 1_000_000);
    let policy = Policy {
        lan_interface: "br-lan".into(),
        portal_address: Ipv4Addr::new(10, 77, 255, 1),
        portal_port: 2050,
        portal_https_port: None,
        walled_garden: vec![GardenNet::V4(Ipv4Addr::new(203, 0, 113, 0), 24)],
        garden_ports: vec![80, 443],
        allow_private: vec![],
        online: (0..n)
            .map(|i| OnlineDevice {
                key: device(i),
                slot: i as u16,
                rates,
            })
            .collect(),
        categories: vec![
            CategoryRule {
                id: "kesehatan".into(),
                free: true,
            },
            CategoryRule {
                id: "video".into(),
                free: false,
            },
        ],
        slots: n as u16,
    };
    let doc = render::full(&policy, &KernelState::default());
    rt.block_on(Nft::default().apply(&doc)).unwrap();
}

fn nft(script: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft -f failed:\n{script}");
}

/// Give every device its [`expected`] counters (elements re-created with them).
fn set_device_counters(n: usize) {
    let mut up = Vec::new();
    let mut down = Vec::new();
    let mut free = Vec::new();
    for i in 0..n {
        let (key, c) = (device(i), expected(i));
        up.push(format!(
            "{} . {} counter packets 1 bytes {}",
            key.mac, key.ip, c.upload
        ));
        down.push(format!("{} counter packets 1 bytes {}", key.ip, c.download));
        free.push(format!("{} counter packets 1 bytes {}", key.ip, c.free));
    }
    nft(&format!(
        "flush set inet desawifi online\nflush set inet desawifi down\nflush set inet desawifi free\n\
         add element inet desawifi online {{ {} }}\nadd element inet desawifi down {{ {} }}\n\
         add element inet desawifi free {{ {} }}\n",
        up.join(", "),
        down.join(", "),
        free.join(", ")
    ));
}

/// Give each `cat_bytes` element a counter of its own; returns id -> (down, up).
fn set_category_counters() -> BTreeMap<String, (u64, u64)> {
    let out = Command::new("nft")
        .args(["-j", "list", "set", "inet", "desawifi", "cat_bytes"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let elems = listing["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o["set"]["elem"].as_array())
        .expect("cat_bytes has elements")
        .clone();
    let mut want = BTreeMap::new();
    let mut script = String::from("flush set inet desawifi cat_bytes\n");
    for (k, e) in elems.iter().enumerate() {
        let val = e["elem"]["val"].as_u64().unwrap();
        let name = e["elem"]["comment"].as_str().unwrap();
        let bytes = 1_000_000 * (k as u64 + 1) + 11;
        script += &format!(
            "add element inet desawifi cat_bytes {{ {val} counter packets 1 bytes {bytes} comment \"{name}\" }}\n"
        );
        let id = name.strip_prefix("cat_").unwrap();
        let (id, down) = match id.strip_suffix("_down") {
            Some(id) => (id, true),
            None => (id.strip_suffix("_up").unwrap(), false),
        };
        let entry: &mut (u64, u64) = want.entry(id.to_string()).or_default();
        if down {
            entry.0 = bytes;
        } else {
            entry.1 = bytes;
        }
    }
    nft(&script);
    want
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_netlink_read_gives_every_counter_as_put_and_as_nft_lists_it() {
    const N: usize = 3_000;
    in_fresh_netns(|| {
        let rt = runtime();
        // Before the first reconcile there is no table: nothing, not an error.
        let none = netlink::read_counted().unwrap();
        assert!(!none.table_exists && none.online.is_empty() && none.down.is_empty());

        apply_table(&rt, N);
        set_device_counters(N);
        let categories = set_category_counters();
        // kesehatan, video and the rest ("lainnya"), each both ways.
        assert_eq!(categories.len(), 3, "{categories:?}");

        let read = netlink::read_counted().unwrap();
        assert!(read.table_exists);
        let devices = read.counters();
        assert_eq!(devices.len(), N);
        for i in 0..N {
            assert_eq!(devices[&device(i)], expected(i), "device {i}");
        }
        assert_eq!(read.categories, categories);

        // The same as nft's own listing of the same sets, parsed as before.
        let via_nft = rt.block_on(Nft::default().counters_from_nft()).unwrap();
        assert_eq!(via_nft.devices, devices);
        assert_eq!(via_nft.categories, read.categories);
    });
}

#[test]
fn a_read_while_the_ruleset_changes_loses_no_device() {
    const N: usize = 2_000;
    const READS: usize = 40;
    in_fresh_netns(|| {
        let rt = runtime();
        apply_table(&rt, N);
        set_device_counters(N);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            // Another phone admitted and revoked, one commit after another
            // (threads started here share this thread's namespace).
            let writer = s.spawn(|| {
                let mut commits = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let op = if commits % 2 == 0 { "add" } else { "delete" };
                    nft(&format!(
                        "{op} element inet desawifi online {{ 02:99:00:00:00:01 . 10.99.0.1 }}\n\
                         {op} element inet desawifi down {{ 10.99.0.1 }}\n"
                    ));
                    commits += 1;
                    std::thread::sleep(std::time::Duration::from_millis(30));
                }
                commits
            });
            // The writer stops however the reads end (a failed assertion too).
            let reads = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for r in 0..READS {
                    let devices = netlink::read_counted().unwrap().counters();
                    for i in 0..N {
                        assert_eq!(
                            devices.get(&device(i)),
                            Some(&expected(i)),
                            "read {r}, device {i}"
                        );
                    }
                    assert!(
                        devices.len() == N || devices.len() == N + 1,
                        "read {r}: {}",
                        devices.len()
                    );
                }
            }));
            stop.store(true, Ordering::Relaxed);
            let commits = writer.join().unwrap();
            if let Err(panic) = reads {
                std::panic::resume_unwind(panic);
            }
            assert!(commits > 0);
        });
    });
}
