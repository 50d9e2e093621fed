//! The power modes in force (issue 25), in a namespace village: a real NUT
//! `upsd` with its `dummy-ups` driver runs inside the router's namespace on
//! its 127.0.0.1, and the daemon reads it there. The test rewrites the
//! driver's file: charge 80 -> 35 puts the daemon in hemat, and an online
//! phone's RFC 8908 `bytes-remaining` follows `[power.saver] daily_data`
//! within an accounting pass; 15 -> darurat: a second phone's login is
//! refused with the page that says why (both languages, 503), and the online
//! phone reaches the walled garden but not the upstream; 80 -> normal: the
//! upstream is reachable again after a pass, with no new login. `/metrics`
//! shows the mode all along.
//!
//! Needs Debian's nut-server and nut-client, and a village's tools.

use desawifi_testkit as common;

use std::time::{Duration, Instant};

use common::nut::Upsd;
use common::{curl, portal_login, AdminClient, Daemon, Village, ADMIN_ADDR};
use serde_json::Value;

const PORTAL: &str = "http://10.77.0.1:2050";
const MIB: u64 = 1024 * 1024;
const METRICS_TOKEN: &str = "prometheus-token-power-0123456789";
/// dummy-ups re-reads its file every couple of seconds, upsd passes it on,
/// the daemon polls every second and the accounting pass runs every second.
const WITHIN: u64 = 30;

fn reaches_upstream(v: &Village, phone: usize) -> bool {
    let r = curl(&v.phone(phone), &["http://198.51.100.2/"], 3.0);
    r.code == 200 && r.body.starts_with("upstream ok")
}

fn reaches_garden(v: &Village, phone: usize) -> bool {
    curl(&v.phone(phone), &["http://203.0.113.10/"], 3.0).code == 200
}

fn captive_api(v: &Village, phone: usize) -> Value {
    let r = curl(&v.phone(phone), &[&format!("{PORTAL}/api/captive")], 5.0);
    assert_eq!(r.code, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap()
}

fn wait_for(what: &str, d: &Daemon, ups: &Upsd, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(WITHIN),
            "{what} did not happen within {WITHIN} s\n{}\n{}",
            d.log(),
            ups.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn metrics(c: &AdminClient) -> String {
    let r = c.bearer("GET", "/metrics", METRICS_TOKEN, &Value::Null);
    assert_eq!(r.status, 200, "{r:?}");
    r.text()
}

fn mode_is(text: &str, mode: &str) -> bool {
    text.contains(&format!("desawifi_power_mode{{mode=\"{mode}\"}} 1\n"))
}

#[test]
fn the_battery_sets_the_quota_the_logins_and_the_reach() {
    let v = Village::up("pmode", 2);
    let ups = Upsd::start_in(Some(&v.router()), 80, "OL", "");
    let d = Daemon::start(
        &v,
        &format!(
            "[admin]\nlisten = \"{ADMIN_ADDR}\"\nmetrics_token = \"{METRICS_TOKEN}\"\n\
             [quota]\ndaily_data = \"1 GiB\"\ndownload_rate = \"100 Mbit/s\"\naccounting_interval = \"1s\"\n\
             [walled_garden]\naddresses = [\"203.0.113.0/24\"]\n\
             [power]\nsource = \"nut\"\nnut_address = \"{}\"\nnut_ups = \"solar\"\npoll_interval = \"1s\"\nread_timeout = \"1s\"\n\
             [power.saver]\ndaily_data = \"100 MiB\"\n",
            ups.address()
        ),
    );
    let c = AdminClient::new(&d, &v.upstream(), ADMIN_ADDR);
    // 80 %: normal, the site's quota.
    wait_for("the first good reading", &d, &ups, || {
        let m = metrics(&c);
        mode_is(&m, "normal") && m.contains("desawifi_power_reading_known 1\n")
    });
    let m = metrics(&c);
    assert!(
        m.contains("desawifi_power_battery_charge_percent 80\n"),
        "{m}"
    );
    assert_eq!(portal_login(&v, 1).code, 303);
    assert!(reaches_upstream(&v, 1));
    let left = captive_api(&v, 1)["bytes-remaining"].as_u64().unwrap();
    assert!(left > 1000 * MIB, "normal: the site's 1 GiB ({left})");

    // 35 %: hemat; the online phone's allowance follows the saver's 100 MiB
    // within a pass, without a new login.
    ups.set(35, "OB DISCHRG");
    wait_for("hemat in /metrics", &d, &ups, || {
        mode_is(&metrics(&c), "hemat")
    });
    wait_for("bytes-remaining under the saver quota", &d, &ups, || {
        captive_api(&v, 1)["bytes-remaining"]
            .as_u64()
            .is_some_and(|b| b <= 100 * MIB)
    });
    assert!(reaches_upstream(&v, 1), "hemat still reaches the internet");
    let status = curl(&v.phone(1), &[&format!("{PORTAL}/status?lang=en")], 5.0);
    assert!(
        status.body.contains("Saving power") && status.body.contains("35 %"),
        "{}",
        status.body
    );

    // 15 %: darurat.
    ups.set(15, "OB DISCHRG");
    wait_for("darurat in /metrics", &d, &ups, || {
        mode_is(&metrics(&c), "darurat")
    });
    // The online phone keeps the walled garden only, within a pass.
    wait_for("the online phone cut to the garden", &d, &ups, || {
        !reaches_upstream(&v, 1)
    });
    assert!(reaches_garden(&v, 1), "darurat keeps the walled garden");
    assert_eq!(captive_api(&v, 1)["captive"], true);
    // A second phone's login is refused with the page that says why.
    for (lang, words) in [
        ("id", "Baterai wifi desa tinggal 15 %"),
        ("en", "battery is down to 15 %"),
    ] {
        let r = curl(
            &v.phone(2),
            &[
                "-X",
                "POST",
                "--data",
                &format!("lang={lang}"),
                &format!("{PORTAL}/login"),
            ],
            5.0,
        );
        assert_eq!(r.code, 503, "{lang}: {r:?}");
        assert!(r.body.contains(words), "{lang}: {}", r.body);
    }
    assert!(!reaches_upstream(&v, 2));
    assert!(reaches_garden(&v, 2), "the garden needs no login");
    let m = metrics(&c);
    assert!(
        m.contains("desawifi_logins_failed_total{reason=\"power\"} 2\n"),
        "{m}"
    );

    // 80 %: normal again; the online phone is back on the internet after a
    // pass, with no new login (the pass re-admits a cut session whose
    // standing is normal again), and its allowance is the site's again.
    ups.set(80, "OL CHRG");
    wait_for("normal in /metrics", &d, &ups, || {
        mode_is(&metrics(&c), "normal")
    });
    wait_for("the upstream again", &d, &ups, || reaches_upstream(&v, 1));
    let left = captive_api(&v, 1)["bytes-remaining"].as_u64().unwrap();
    assert!(left > 1000 * MIB, "normal again: the site's 1 GiB ({left})");
    assert_eq!(portal_login(&v, 2).code, 303, "logins again");
    assert!(reaches_upstream(&v, 2));
    let log = d.log();
    assert!(log.contains("power mode"), "{log}");
}
