//! The OS connectivity-probe matrix in a namespace village. Every OS decides
//! "captive or online" by fetching a known URL; the phones here fetch each one
//! as that OS would (same URL, same User-Agent, the name resolved through the
//! router's DNS), and the upstream namespace plays the real hosts
//! (scripts/village.sh, tests/upstream.py).
//!
//! - captive, or cut off after the day's quota: the portal's `302 Found` to
//!   the splash page, never cached; never 204, 511, Apple's "Success" or an
//!   empty 200, any of which would hide the login sheet;
//! - online, or throttled after the quota (slower, still online): the
//!   upstream's own answer, untouched; the gateway never fakes one, so a dead
//!   uplink shows as "no internet".

use desawifi_testkit as common;

use std::time::{Duration, Instant};

use common::{curl, tag_for, Daemon, Http, Village};

const PORTAL: &str = "http://10.77.0.1:2050";
/// Where every captive probe must be sent.
const SPLASH: &str = "http://10.77.0.1:2050/";

/// Android's NetworkMonitor (also ChromeOS and the Android vendors' builds).
const UA_ANDROID: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.32 Safari/537.36";
/// Apple's captive network assistant (iOS and macOS).
const UA_APPLE: &str = "CaptiveNetworkSupport-481.0.1 wispr";
/// Windows' Network Connectivity Status Indicator.
const UA_WINDOWS: &str = "Microsoft NCSI";
const UA_FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const UA_NETWORKMANAGER: &str = "NetworkManager/1.42.4";

/// What the real service answers when the phone is online.
#[derive(Debug, Clone, Copy)]
enum Online {
    /// `204 No Content`, empty (Google-style probes).
    NoContent,
    /// `200` with exactly this body.
    Body(&'static str),
    /// `200` with the test upstream's own line (`upstream ok host=.. path=..`):
    /// for URLs whose real answer does not matter to the OS.
    UpstreamLine,
}

/// One row of the matrix.
#[derive(Debug)]
struct Probe {
    os: &'static str,
    url: &'static str,
    user_agent: &'static str,
    online: Online,
}

const PROBES: &[Probe] = &[
    Probe { os: "Android / ChromeOS", url: "http://connectivitycheck.gstatic.com/generate_204", user_agent: UA_ANDROID, online: Online::NoContent },
    Probe { os: "Android (fallback)", url: "http://www.google.com/gen_204", user_agent: UA_ANDROID, online: Online::NoContent },
    Probe { os: "Android (older)", url: "http://clients3.google.com/generate_204", user_agent: UA_ANDROID, online: Online::NoContent },
    Probe { os: "Xiaomi MIUI", url: "http://connect.rom.miui.com/generate_204", user_agent: UA_ANDROID, online: Online::NoContent },
    Probe { os: "Huawei EMUI", url: "http://connectivitycheck.platform.hicloud.com/generate_204", user_agent: UA_ANDROID, online: Online::NoContent },
    Probe { os: "Vivo", url: "http://wifi.vivo.com.cn/generate_204", user_agent: UA_ANDROID, online: Online::NoContent },
    Probe {
        os: "Apple iOS / macOS",
        url: "http://captive.apple.com/hotspot-detect.html",
        user_agent: UA_APPLE,
        online: Online::Body("<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"),
    },
    Probe { os: "Windows 10/11", url: "http://www.msftconnecttest.com/connecttest.txt", user_agent: UA_WINDOWS, online: Online::Body("Microsoft Connect Test") },
    Probe { os: "Windows (login page)", url: "http://www.msftconnecttest.com/redirect", user_agent: UA_WINDOWS, online: Online::UpstreamLine },
    Probe { os: "Windows (older)", url: "http://www.msftncsi.com/ncsi.txt", user_agent: UA_WINDOWS, online: Online::Body("Microsoft NCSI") },
    Probe {
        os: "Firefox",
        url: "http://detectportal.firefox.com/canonical.html",
        user_agent: UA_FIREFOX,
        online: Online::Body("<meta http-equiv=\"refresh\" content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>"),
    },
    Probe { os: "Firefox", url: "http://detectportal.firefox.com/success.txt", user_agent: UA_FIREFOX, online: Online::Body("success\n") },
    Probe { os: "Linux NetworkManager", url: "http://nmcheck.gnome.org/check_network_status.txt", user_agent: UA_NETWORKMANAGER, online: Online::Body("NetworkManager is online\n") },
];

impl Probe {
    fn host(&self) -> &'static str {
        let rest = self
            .url
            .strip_prefix("http://")
            .expect("probe URLs are plain HTTP");
        rest.split('/').next().unwrap()
    }

    fn path(&self) -> &'static str {
        &self.url["http://".len() + self.host().len()..]
    }

    /// The phone's OS asks.
    fn fetch(&self, ns: &str) -> Http {
        curl(ns, &["-A", self.user_agent, self.url], 5.0)
    }

    /// Why `r` is not the portal's captive answer, if it is not.
    fn not_captive(&self, r: &Http) -> Option<String> {
        let location = r.header("Location");
        let cache = r.header("Cache-Control").unwrap_or_default();
        let ok = r.code == 302
            && location.as_deref() == Some(SPLASH)
            && cache
                .to_ascii_lowercase()
                .split(',')
                .any(|d| d.trim() == "no-store")
            && r.header("X-Upstream-Host").is_none()
            && !r.body.contains("Success")
            && !r.body.starts_with("upstream ok");
        (!ok).then(|| {
            format!("{} {}: want the portal's 302 to {SPLASH} with no-store, got {} Location={location:?} Cache-Control={cache:?} body={:?} (curl exit {} {})", self.os, self.url, r.code, r.body, r.exit, r.stderr.trim())
        })
    }

    /// Why `r` is not the upstream's own answer, if it is not.
    fn not_online(&self, r: &Http) -> Option<String> {
        let host = self.host();
        let (code, body) = match self.online {
            Online::NoContent => (204, String::new()),
            Online::Body(b) => (200, b.to_owned()),
            Online::UpstreamLine => (
                200,
                format!("upstream ok host={host} path={}\n", self.path()),
            ),
        };
        let from = r.header("X-Upstream-Host");
        let ok = r.code == code
            && r.body == body
            && from.as_deref() == Some(host)
            && r.header("Location").is_none();
        (!ok).then(|| {
            format!("{} {}: want the upstream's {code} {body:?} (X-Upstream-Host {host}), got {} {:?} X-Upstream-Host={from:?} (curl exit {} {})", self.os, self.url, r.code, r.body, r.exit, r.stderr.trim())
        })
    }
}

/// Every probe from phone `n`; panics listing each row that `check` rejects.
fn assert_all(
    v: &Village,
    n: usize,
    d: &Daemon,
    when: &str,
    check: impl Fn(&Probe, &Http) -> Option<String>,
) {
    let failures: Vec<String> = PROBES
        .iter()
        .filter_map(|p| check(p, &p.fetch(&v.phone(n))))
        .collect();
    assert!(
        failures.is_empty(),
        "{when}: {} of {} probes wrong:\n{}\n--- daemon log:\n{}",
        failures.len(),
        PROBES.len(),
        failures.join("\n"),
        d.log()
    );
}

/// One tap on Connect, from the phone itself.
fn login(v: &Village, n: usize) {
    let r = curl(
        &v.phone(n),
        &["-X", "POST", &format!("{PORTAL}/login")],
        5.0,
    );
    assert_eq!(r.code, 303, "login: {r:?}");
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn captive_api(v: &Village, n: usize) -> serde_json::Value {
    let r = curl(&v.phone(n), &[&format!("{PORTAL}/api/captive")], 5.0);
    assert_eq!(r.code, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("captive API JSON: {e}: {}", r.body))
}

/// What happens to a phone after its day's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterQuota {
    /// Still online at the fair-use speed: the download finishes.
    Throttled,
    /// Cut off to the walled garden (`after_quota_rate = "0"`): an accounting
    /// pass that runs during the download ends it mid-way, as designed.
    Cut,
}

/// Log phone 1 in, check it is online, and download 2 MiB against its 1 MiB day.
fn use_up_the_quota(v: &Village, d: &Daemon, after: AfterQuota) {
    login(v, 1);
    let android = &PROBES[0];
    wait_for("online after login", Duration::from_secs(2), || {
        android.not_online(&android.fetch(&v.phone(1))).is_none()
    });
    let r = curl(&v.phone(1), &["http://198.51.100.2/bytes/2097152"], 30.0);
    let whole = (r.code, r.body.len()) == (200, 2 * 1024 * 1024);
    if after == AfterQuota::Cut && !whole {
        // Cut mid-way: the transfer stopped, but only after the quota's worth
        // (1 MiB, less the headers the kernel also counts) had reached the phone.
        assert!(
            r.code == 200 && r.exit != 0 && r.body.len() >= 900 * 1024,
            "2 MiB download cut before the quota was used: code {} exit {} {} bytes: {}\n{}",
            r.code,
            r.exit,
            r.body.len(),
            r.stderr,
            d.log()
        );
        return;
    }
    assert!(
        whole,
        "2 MiB download: code {} exit {} {} bytes: {}\n{}",
        r.code,
        r.exit,
        r.body.len(),
        r.stderr,
        d.log()
    );
}

#[test]
fn every_probe_sees_the_portal_before_login_and_the_upstream_after() {
    let v = Village::up(&tag_for("probes::login"), 1);
    let d = Daemon::start(&v, "");
    assert_all(&v, 1, &d, "before login", Probe::not_captive);

    login(&v, 1);
    let android = &PROBES[0];
    wait_for("online after login", Duration::from_secs(2), || {
        android.not_online(&android.fetch(&v.phone(1))).is_none()
    });
    assert_all(&v, 1, &d, "after login", Probe::not_online);
}

#[test]
fn cut_off_after_the_quota_every_probe_sees_the_portal_again() {
    let v = Village::up(&tag_for("probes::cut"), 1);
    let d = Daemon::start(&v, "[quota]\ndaily_data = \"1 MiB\"\nafter_quota_rate = \"0\"\ndownload_rate = \"100 Mbit/s\"\naccounting_interval = \"1s\"\n");
    use_up_the_quota(&v, &d, AfterQuota::Cut);
    let android = &PROBES[0];
    wait_for("cut-off after the quota", Duration::from_secs(5), || {
        android.not_captive(&android.fetch(&v.phone(1))).is_none()
    });
    assert_eq!(captive_api(&v, 1)["captive"], true);
    assert_all(&v, 1, &d, "cut off after the quota", Probe::not_captive);
}

#[test]
fn throttled_after_the_quota_every_probe_still_sees_the_upstream() {
    let v = Village::up(&tag_for("probes::slow"), 1);
    let d = Daemon::start(&v, "[quota]\ndaily_data = \"1 MiB\"\nafter_quota_rate = \"256 kbit/s\"\ndownload_rate = \"100 Mbit/s\"\naccounting_interval = \"1s\"\n");
    use_up_the_quota(&v, &d, AfterQuota::Throttled);
    wait_for("throttle after the quota", Duration::from_secs(5), || {
        let api = captive_api(&v, 1);
        api["captive"] == false && api["bytes-remaining"] == 0
    });
    assert!(d.log().contains("quota standing changed"), "{}", d.log());
    assert_all(&v, 1, &d, "throttled after the quota", Probe::not_online);
}
