//! The battery read through real parts (issue 25): NUT's own `upsd` with its
//! `dummy-ups` driver reading a file the test rewrites, and Victron VE.Direct
//! frames written by the test into a pseudo-terminal the reader opens as its
//! serial port. The charge walks 80 -> 35 -> 15 -> 45 -> 80 % and the decided
//! mode must walk normal -> hemat -> darurat -> hemat -> normal; a reading that
//! cannot be had (upsd stopped, frames with broken checksums) keeps the last
//! justified mode, and after `stale_after` the mode is normal and says so.
//!
//! Needs Debian's nut-server and nut-client (`/lib/nut/upsd`, `/lib/nut/dummy-ups`).

use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use desawifi::config::power::{NutSource, Power, PowerSource, Thresholds};
use desawifi::config::Config;
use desawifi::power::{self, Health, Mode, PowerState, Problem};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use desawifi_testkit::nut::Upsd;

/// dummy-ups re-reads its file every couple of seconds; upsd passes it on.
const CHANGE_WITHIN: Duration = Duration::from_secs(30);

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "desawifi-power-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until upsd answers `GET VAR solar battery.charge` with `charge`.
async fn wait_serving(ups: &Upsd, charge: u32) {
    let deadline = tokio::time::Instant::now() + CHANGE_WITHIN;
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        if let Ok(mut c) = power::nut::Connection::open(&ups.address()).await {
            let got = c.get_var("solar", "battery.charge").await;
            if got.as_deref() == Ok(&charge.to_string()) {
                return;
            }
            last = Some(got);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "upsd never served battery.charge {charge} (last {last:?})\n{}",
        ups.logs()
    );
}

fn settings(source: PowerSource, stale_after: Duration) -> Power {
    Config::parse(
        "[site]\nname = \"t\"\n[network]\nlan_interface = \"a\"\nwan_interface = \"b\"\nportal_address = \"10.77.0.1\"\n[portal]\nlisten = \"10.77.0.1:2050\"\n[store]\npath = \"/tmp/x\"\n",
        Path::new("t.toml"),
    )
    .map(|c| Power {
        source,
        poll_interval: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
        stale_after,
        thresholds: Thresholds::default(),
        ..c.power
    })
    .unwrap()
}

/// The reader task, its state channel and its stop.
struct Running {
    rx: watch::Receiver<PowerState>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(cfg: Power) -> Running {
    let (tx, rx) = watch::channel(PowerState::default());
    let cancel = CancellationToken::new();
    let task = tokio::spawn(power::run(cfg, tx, cancel.clone()));
    Running { rx, cancel, task }
}

impl Running {
    /// Waits for a published state that `want` accepts; panics with the last one.
    async fn until(
        &mut self,
        what: &str,
        within: Duration,
        want: impl Fn(&PowerState) -> bool,
    ) -> PowerState {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let state = self.rx.borrow_and_update().clone();
            if want(&state) {
                return state;
            }
            match tokio::time::timeout_at(deadline, self.rx.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("{what}: not within {within:?}; last state {state:#?}"),
            }
        }
    }

    /// Waits for a good reading of `charge` and returns its state.
    async fn charge(&mut self, charge: f64) -> PowerState {
        self.until(
            &format!("a good reading of {charge} %"),
            CHANGE_WITHIN,
            |s| {
                s.health == Health::Good
                    && s.reading.as_ref().and_then(|r| r.charge) == Some(charge)
            },
        )
        .await
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the reader stops on cancel")
            .unwrap();
    }
}

/// The walk and the modes it must give.
const WALK: [(u32, Mode); 5] = [
    (80, Mode::Normal),
    (35, Mode::Hemat),
    (15, Mode::Darurat),
    (45, Mode::Hemat),
    (80, Mode::Normal),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nut_charge_walk_moves_the_modes_and_a_stopped_upsd_holds_then_goes_normal() {
    let mut ups = Upsd::start(80, "OL", "");
    wait_serving(&ups, 80).await;
    let stale_after = Duration::from_secs(6);
    let source = PowerSource::Nut(NutSource {
        address: ups.address(),
        ups: "solar".into(),
        credentials: None,
    });
    let mut r = start(settings(source, stale_after));
    for (charge, mode) in WALK {
        ups.set(charge, if charge < 40 { "OB DISCHRG" } else { "OL CHRG" });
        let s = r.charge(f64::from(charge)).await;
        assert_eq!(s.mode, mode, "at {charge} %: {s:#?}");
        assert!(!s.warning, "no warning above warn_below: {s:#?}");
        let reading = s.reading.unwrap();
        assert_eq!(reading.volts, Some(12.4));
        assert_eq!(reading.runtime, Some(Duration::from_secs(5400)));
        assert_eq!(reading.on_battery, charge < 40);
    }

    // LB from the UPS: darurat and the warning, whatever the charge says.
    ups.set(30, "OB LB");
    let s = r
        .until("LB read", CHANGE_WITHIN, |s| {
            s.reading.as_ref().is_some_and(|r| r.low_battery)
        })
        .await;
    assert_eq!((s.mode, s.warning), (Mode::Darurat, true), "{s:#?}");

    // upsd goes away: unknown, darurat kept (never normal before the stale limit).
    ups.set(15, "OB DISCHRG");
    r.charge(15.0).await;
    ups.stop_upsd();
    let s = r
        .until("unknown after upsd stopped", Duration::from_secs(10), |s| {
            matches!(s.health, Health::Unknown { .. })
        })
        .await;
    assert_eq!(
        s.mode,
        Mode::Darurat,
        "the last justified mode is kept: {s:#?}"
    );
    assert!(
        matches!(
            &s.health,
            Health::Unknown {
                problem: Problem::Unreachable(_),
                stale: false
            }
        ),
        "{s:#?}"
    );
    assert_eq!(
        s.reading.as_ref().and_then(|r| r.charge),
        Some(15.0),
        "the last good reading is kept"
    );
    let s = r
        .until(
            "stale after stale_after",
            stale_after + Duration::from_secs(10),
            |s| s.mode != Mode::Darurat,
        )
        .await;
    assert_eq!(s.mode, Mode::Normal, "{s:#?}");
    assert!(
        matches!(s.health, Health::Unknown { stale: true, .. }),
        "it says why: {s:#?}"
    );
    // upsd back (the reader's old connection is dead): read again, decided afresh.
    ups.start_upsd();
    let s = r.charge(15.0).await;
    assert_eq!((s.mode, s.health), (Mode::Darurat, Health::Good));
    r.stop().await;
}

#[tokio::test]
async fn power_status_cli_reads_a_real_upsd() {
    // With credentials: upsd takes USERNAME and PASSWORD (quoted) before reading.
    let users = "[monitor]\n  password = \"se cret\\\"x\"\n  upsmon secondary\n";
    let mut ups = Upsd::start(35, "OB DISCHRG", users);
    wait_serving(&ups, 35).await;
    let dir = TempDir::new("cli");
    let config = dir.0.join("desawifi.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nname = \"t\"\n[network]\nlan_interface = \"a\"\nwan_interface = \"b\"\nportal_address = \"10.77.0.1\"\n[portal]\nlisten = \"10.77.0.1:2050\"\n[store]\npath = \"/tmp/x\"\n\
             [power]\nsource = \"nut\"\nnut_address = \"{}\"\nnut_ups = \"solar\"\nnut_username = \"monitor\"\nnut_password = 'se cret\"x'\n",
            ups.address()
        ),
    )
    .unwrap();
    let status = |config: &Path| {
        Command::new(env!("CARGO_BIN_EXE_desawifi"))
            .args(["power", "status", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = status(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for line in [
        "mode: hemat\n",
        "health: good\n",
        "source: nut\n",
        "charge: 35.0 %\n",
        "on battery: yes\n",
        "runtime: 1h30m\n",
        "status: OB DISCHRG\n",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }
    ups.stop_upsd();
    let out = status(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "an unread battery is a failed check: {out:?}"
    );
    assert!(stdout.contains("mode: normal\n"), "{stdout}");
    assert!(
        stdout.contains("health: unknown (unreachable: "),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the battery could not be read"),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------
// VE.Direct over a pseudo-terminal.

/// A frame as a Victron device sends it: `\r\nlabel\tvalue` lines and a
/// checksum byte making every byte sum to 0 (built here, not with the crate's encoder).
fn frame(fields: &[(&str, String)], broken: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (label, value) in fields {
        write!(out, "\r\n{label}\t{value}").unwrap();
    }
    out.extend_from_slice(b"\r\nChecksum\t");
    let sum: u32 = out.iter().map(|&b| u32::from(b)).sum();
    let check = ((256 - sum % 256) % 256) as u8;
    out.push(if broken { check.wrapping_add(1) } else { check });
    out
}

/// A BMV-712 as seen on its VE.Direct port: two blocks a second, the first
/// with the battery's values, the second with its history; and now and then
/// a hex message between them.
fn bmv_blocks(soc_per_mille: u32, broken: bool) -> Vec<u8> {
    let s = |v: &str| v.to_owned();
    let mut out = frame(
        &[
            ("PID", s("0xA381")),
            ("V", s("12420")),
            ("VS", s("13010")),
            ("I", s("-2300")),
            ("P", s("-29")),
            ("CE", s("-45300")),
            ("SOC", soc_per_mille.to_string()),
            ("TTG", s("240")),
            ("Alarm", s("OFF")),
            ("Relay", s("OFF")),
            ("AR", s("0")),
            ("BMV", s("712 Smart")),
            ("FW", s("0413")),
            ("MON", s("0")),
        ],
        broken,
    );
    out.extend_from_slice(b":A4F10000100000000000000000000000000000000003F\n");
    out.extend(frame(
        &[
            ("H1", s("-102000")),
            ("H2", s("-45300")),
            ("H4", s("12")),
            ("H7", s("10500")),
            ("H8", s("14400")),
            ("H17", s("3400")),
            ("H18", s("4100")),
        ],
        broken,
    ));
    out
}

/// A pty: the master end the test writes to, the slave's path the reader opens.
fn open_pty() -> (OwnedFd, PathBuf) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: out-pointers to two ints; no name, termios or window size.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just made by openpty and are ours.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: a valid fd and a buffer of the given length.
    let rc = unsafe { libc::ttyname_r(slave.as_raw_fd(), name.as_mut_ptr(), name.len()) };
    assert_eq!(rc, 0, "ttyname_r");
    // SAFETY: ttyname_r wrote a NUL-terminated string.
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    // The test's own slave fd closes here; the reader opens the path itself.
    drop(slave);
    (master, PathBuf::from(path))
}

/// Writes BMV blocks into the pty every 100 ms until dropped: the charge
/// and whether the checksums are broken are what the test sets.
struct Bmv {
    soc: Arc<AtomicU32>,
    broken: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    path: PathBuf,
}

impl Bmv {
    fn start(soc: u32) -> Bmv {
        let (master, path) = open_pty();
        let soc = Arc::new(AtomicU32::new(soc));
        let broken = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, b, st) = (soc.clone(), broken.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut out = std::fs::File::from(master);
            while !st.load(Ordering::Relaxed) {
                let bytes = bmv_blocks(s.load(Ordering::Relaxed), b.load(Ordering::Relaxed));
                // A full buffer (the reader between polls) blocks; it drains on the next read.
                if out.write_all(&bytes).is_err() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Bmv {
            soc,
            broken,
            stop,
            path,
        }
    }

    fn set(&self, percent: u32) {
        self.soc.store(percent * 10, Ordering::Relaxed);
    }
}

impl Drop for Bmv {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vedirect_frames_over_a_pty_move_the_modes_and_broken_frames_hold() {
    let bmv = Bmv::start(800);
    let stale_after = Duration::from_secs(5);
    let mut r = start(settings(
        PowerSource::VeDirect {
            device: bmv.path.clone(),
        },
        stale_after,
    ));
    for (charge, mode) in WALK {
        bmv.set(charge);
        let s = r.charge(f64::from(charge)).await;
        assert_eq!(s.mode, mode, "at {charge} %: {s:#?}");
        let reading = s.reading.unwrap();
        assert_eq!(reading.volts, Some(12.42));
        assert_eq!(reading.amps, Some(-2.3));
        assert_eq!(reading.runtime, Some(Duration::from_secs(240 * 60)));
        assert!(reading.on_battery);
    }
    bmv.set(15);
    r.charge(15.0).await;
    // Every frame's checksum broken: unknown, darurat kept until stale.
    bmv.broken.store(true, Ordering::Relaxed);
    let s = r
        .until("unknown from broken frames", Duration::from_secs(10), |s| {
            matches!(s.health, Health::Unknown { .. })
        })
        .await;
    assert!(
        matches!(&s.health, Health::Unknown { problem: Problem::BadChecksum { count }, stale: false } if *count > 0),
        "{s:#?}"
    );
    assert_eq!(
        s.mode,
        Mode::Darurat,
        "broken frames keep the last mode: {s:#?}"
    );
    // A broken frame that says 80 % must not loosen the mode either.
    bmv.set(80);
    let s = r
        .until("stale", stale_after + Duration::from_secs(10), |s| {
            matches!(s.health, Health::Unknown { stale: true, .. })
        })
        .await;
    assert_eq!(
        s.mode,
        Mode::Normal,
        "after the stale limit: normal, and it says so: {s:#?}"
    );
    assert_eq!(
        s.reading.as_ref().and_then(|r| r.charge),
        Some(15.0),
        "no broken frame was believed"
    );
    // Good frames again: read and decided afresh.
    bmv.set(35);
    bmv.broken.store(false, Ordering::Relaxed);
    let s = r.charge(35.0).await;
    assert_eq!(s.mode, Mode::Hemat);
    r.stop().await;
}
