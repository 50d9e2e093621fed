//! `desawifi doctor` on a village's router namespace: ready as the village is
//! built (exit 0), and a failure naming the problem when IPv4 forwarding is
//! off or the store path is on a read-only file system.

use desawifi_testkit as common;

use std::process::Command;

use common::{ns_exec, ns_ok, tag_for, Daemon, Village};

/// `desawifi doctor --config FILE` in the router's namespace: (exit 0?, its output).
fn doctor(v: &Village, config: &str) -> (bool, String) {
    let o = ns_exec(
        &v.router(),
        &[env!("CARGO_BIN_EXE_desawifi"), "doctor", "--config", config],
    );
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// A read-only tmpfs, unmounted when dropped.
struct ReadOnlyMount(std::path::PathBuf);

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn doctor_passes_on_the_village_router_and_names_what_is_wrong() {
    let v = Village::up(&tag_for("doctor::village"), 1);
    let d = Daemon::start(&v, "");
    let config = d.config_path().to_str().unwrap().to_owned();

    let (ok, said) = doctor(&v, &config);
    assert!(ok, "doctor on a ready village router:\n{said}");
    for name in [
        "nf_tables",
        "traffic control",
        "dnsmasq",
        "lan interface",
        "wan interface",
        "ip_forward",
        "store",
        "clock",
    ] {
        assert!(
            said.lines().any(|l| l.contains(&format!(" {name}: "))),
            "no {name} check:\n{said}"
        );
    }
    assert!(!said.contains("FAIL"), "{said}");
    assert!(said.contains("all checks passed"), "{said}");
    // Its throwaway table's counter came back over netlink, as the pass reads.
    assert!(
        said.lines()
            .any(|l| l.contains(" nf_tables: ") && l.contains("counters read over netlink")),
        "{said}"
    );
    // It tidied up: no test table or test interface left behind.
    let tables = ns_ok(&v.router(), &["nft", "list", "tables"]);
    assert!(!tables.contains("desawifi_doctor"), "{tables}");
    let links = ns_ok(&v.router(), &["ip", "-o", "link"]);
    assert!(!links.contains("dwdoc"), "{links}");

    // IPv4 forwarding off: a failure that says so, with the fix.
    ns_ok(&v.router(), &["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    let (ok, said) = doctor(&v, &config);
    ns_ok(&v.router(), &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    assert!(!ok, "doctor must fail with ip_forward off:\n{said}");
    let line = said
        .lines()
        .find(|l| l.starts_with("FAIL ip_forward"))
        .unwrap_or_else(|| panic!("no FAIL ip_forward line:\n{said}"));
    assert!(line.contains("off"), "{line}");
    assert!(said.contains("sysctl -w net.ipv4.ip_forward=1"), "{said}");
    assert_eq!(
        said.lines().filter(|l| l.starts_with("FAIL")).count(),
        1,
        "only ip_forward fails:\n{said}"
    );

    // The store path on a read-only file system.
    let ro = v.run_dir().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
        .arg(&ro)
        .status()
        .expect("running mount");
    assert!(status.success(), "mount -o ro tmpfs {}", ro.display());
    let _mount = ReadOnlyMount(ro.clone());
    let store = ro.join("store");
    let text = std::fs::read_to_string(d.config_path()).unwrap();
    let old_store = d.store_dir();
    let changed = text.replace(
        &format!("path = \"{}\"", old_store.display()),
        &format!("path = \"{}\"", store.display()),
    );
    assert_ne!(changed, text, "the test config names its store path");
    let ro_config = v.run_dir().join("ro-store.toml");
    std::fs::write(&ro_config, changed).unwrap();
    let (ok, said) = doctor(&v, ro_config.to_str().unwrap());
    assert!(!ok, "doctor must fail with a read-only store:\n{said}");
    let line = said
        .lines()
        .find(|l| l.starts_with("FAIL store"))
        .unwrap_or_else(|| panic!("no FAIL store line:\n{said}"));
    assert!(
        line.contains(&store.display().to_string()) && line.contains("Read-only file system"),
        "{line}"
    );
    assert_eq!(
        said.lines().filter(|l| l.starts_with("FAIL")).count(),
        1,
        "only the store fails:\n{said}"
    );
}
