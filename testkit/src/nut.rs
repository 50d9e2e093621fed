//! A real NUT `upsd` with its `dummy-ups` driver reading a file the test
//! rewrites (issue 25), on 127.0.0.1 of the host or of a namespace (the
//! router's: the daemon reads it from there). Needs Debian's nut-server and
//! nut-client (`/lib/nut/upsd`, `/lib/nut/dummy-ups`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};

pub const UPSD: &str = "/lib/nut/upsd";
pub const DUMMY_UPS: &str = "/lib/nut/dummy-ups";

/// A real upsd on 127.0.0.1 with one UPS, `solar`, whose variables are the
/// lines of a file (dummy-ups's format: `battery.charge: 80`).
pub struct Upsd {
    dir: PathBuf,
    pub port: u16,
    ns: Option<String>,
    driver: Option<Child>,
    upsd: Option<Child>,
}

impl Upsd {
    /// Started on the host's 127.0.0.1; `users` is upsd.users' text.
    pub fn start(charge: u32, status: &str, users: &str) -> Upsd {
        Upsd::start_in(None, charge, status, users)
    }

    /// Started inside namespace `ns` (both the driver and upsd), or on the host.
    pub fn start_in(ns: Option<&str>, charge: u32, status: &str, users: &str) -> Upsd {
        for bin in [UPSD, DUMMY_UPS] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: install Debian's nut-server and nut-client (scripts/install-deps.sh)"
            );
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "desawifi-nut-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            dir.join("ups.conf"),
            format!(
                "[solar]\n  driver = dummy-ups\n  port = {}/solar.dev\n  desc = \"test\"\n",
                dir.display()
            ),
        )
        .unwrap();
        std::fs::write(dir.join("nut.conf"), "MODE=standalone\n").unwrap();
        std::fs::write(dir.join("upsd.conf"), format!("LISTEN 127.0.0.1 {port}\n")).unwrap();
        std::fs::write(dir.join("upsd.users"), users).unwrap();
        let mut u = Upsd {
            dir,
            port,
            ns: ns.map(str::to_owned),
            driver: None,
            upsd: None,
        };
        u.set(charge, status);
        u.driver = Some(u.nut_command(DUMMY_UPS, &["-a", "solar", "-u", "root", "-F"]));
        u.start_upsd();
        u
    }

    fn nut_command(&self, bin: &str, args: &[&str]) -> Child {
        let d = &self.dir;
        let log = std::fs::File::create(d.join(format!(
            "{}.log",
            Path::new(bin).file_name().unwrap().to_string_lossy()
        )))
        .unwrap();
        let mut cmd = match &self.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin]);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args)
            .current_dir(d)
            .env("NUT_CONFPATH", d)
            .env("NUT_STATEPATH", d)
            .env("NUT_ALTPIDPATH", d)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{bin}: {e}"))
    }

    /// Rewrites the driver's file (it re-reads it every couple of seconds).
    pub fn set(&self, charge: u32, status: &str) {
        let tmp = self.dir.join("solar.dev.new");
        std::fs::write(
            &tmp,
            format!("battery.charge: {charge}\nbattery.voltage: 12.4\nbattery.runtime: 5400\nups.status: {status}\n"),
        )
        .unwrap();
        std::fs::rename(tmp, self.dir.join("solar.dev")).unwrap();
    }

    /// `127.0.0.1:port` (in its namespace).
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn start_upsd(&mut self) {
        assert!(self.upsd.is_none());
        self.upsd = Some(self.nut_command(UPSD, &["-u", "root", "-F"]));
    }

    pub fn stop_upsd(&mut self) {
        if let Some(mut c) = self.upsd.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// The driver's and upsd's output, for a failure's message.
    pub fn logs(&self) -> String {
        ["dummy-ups.log", "upsd.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Upsd {
    fn drop(&mut self) {
        self.stop_upsd();
        if let Some(mut d) = self.driver.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
