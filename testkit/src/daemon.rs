//! The daemon under test: its config, its process in the router's namespace,
//! its log, and where the binary cargo built is.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::ns::{ns_command, spawn_failed, tcp_accepts};
use crate::village::{Village, PORTAL_PORT, ROUTER_LAN};

/// How long a start may take before the harness calls it hung. A liveness
/// deadline, not a speed bound (start-up is measured in BENCHMARKS.md): the
/// first reconcile builds both HTB trees, 10,260 `tc` lines for 1,024 slots
/// since a slot has three classes (issue 22), 3.5 s a tree measured on a
/// loaded 2-core machine, where a second test's daemon may be starting too.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `Drop for Daemon` waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The desawifi binary cargo built for this test run.
///
/// `env!("CARGO_BIN_EXE_desawifi")` exists only in the package's own
/// integration tests, not in this crate, so: nextest's
/// `NEXTEST_BIN_EXE_desawifi` when set (it knows, also for an archived
/// build), else `desawifi` next to the test executable's `deps/` directory,
/// where cargo puts it (`target/debug/deps/portal-HASH` runs
/// `target/debug/desawifi`). Panics, saying how to build it, when it is missing.
pub fn desawifi_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NEXTEST_BIN_EXE_desawifi") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("desawifi"))
        .unwrap_or_else(|| panic!("{}: no directory above deps/", exe.display()));
    assert!(
        bin.is_file(),
        "{} not found (looked beside the test executable {}): run the tests with \
         `cargo test` or `cargo nextest run` from desawifi's repository, which build it",
        bin.display(),
        exe.display()
    );
    bin
}

/// The daemon under test, running in the village's router namespace.
pub struct Daemon {
    child: Option<Child>,
    router: String,
    config: PathBuf,
    pub(crate) log: PathBuf,
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
    /// when it does not within `START_TIMEOUT` or the daemon exits.
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

    /// SIGKILL and wait: a power cut, as far as the daemon can tell.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
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
        let bin = desawifi_bin();
        let mut argv: Vec<&str> = self.launcher.iter().map(String::as_str).collect();
        if argv.is_empty() {
            argv.push(bin.to_str().expect("utf-8 path"));
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

/// The last 40 lines of the daemon log at `path` (what [`Daemon::log_tail`] shows).
pub(crate) fn log_tail_of(path: &Path) -> String {
    let log = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
