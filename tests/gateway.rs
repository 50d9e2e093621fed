//! The gateway core driven in-process, with an injected clock, against the
//! real kernel of a namespace village: the test thread joins the router's
//! network namespace, so every `nft` and `tc` the gateway runs lands there.
//! This is how midnight is reached in two seconds instead of a day.

use desawifi_testkit as common;

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use common::{curl, Village};
use desawifi::clock::{Clock, ManualClock};
use desawifi::config::Config;
use desawifi::domain::Mac;
use desawifi::domain::{QuotaOverride, Standing};
use desawifi::firewall::{Firewall, Nft};
use desawifi::gateway::accounting;
use desawifi::gateway::{default_slot_rates, shaping_plan, Gateway, GatewayError};
use desawifi::shaping::Tc;
use desawifi::store::Store;

const MIB: u64 = 1024 * 1024;

/// Run `f` on a thread inside the village router's network namespace, on a
/// current-thread runtime (so processes it spawns are in that namespace too).
fn in_router<F, T>(v: &Village, f: impl FnOnce() -> F + Send + 'static) -> T
where
    F: Future<Output = T>,
    T: Send + 'static,
{
    let path = format!("/run/netns/{}", v.router());
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "setns into {path}: {}",
            std::io::Error::last_os_error()
        );
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// A gateway for the village with `quota` as its [quota] section.
async fn gateway(v_dir: &Path, quota: &str, clock: Arc<dyn Clock>) -> Arc<Gateway> {
    let toml = format!(
        "[site]\nname = \"Desa Uji\"\ntimezone = \"Asia/Makassar\"\n[network]\nlan_interface = \"br-lan\"\nwan_interface = \"wan0\"\n\
         portal_address = \"10.77.0.1\"\n[portal]\nlisten = \"10.77.0.1:2050\"\n[store]\npath = \"{}\"\n{quota}\n",
        v_dir.join("store").display()
    );
    let config = Arc::new(Config::parse(&toml, Path::new("test.toml")).unwrap());
    let store = Store::open(&config.store.path).unwrap();
    let (fw, handle) = Firewall::new(
        Nft::default(),
        Tc::default(),
        shaping_plan(&config),
        default_slot_rates(&config),
    );
    tokio::spawn(fw.run(tokio_util::sync::CancellationToken::new()));
    Gateway::start(config, store, handle, clock).await.unwrap()
}

fn phone(v: &Village, n: usize) -> (Mac, Ipv4Addr) {
    (v.phone_mac(n).parse().unwrap(), v.phone_ip(n))
}

fn reaches_upstream(v: &common::VillageHandle, n: usize) -> bool {
    let r = curl(&v.phone(n), &["http://198.51.100.2/"], 3.0);
    r.code == 200 && r.body.starts_with("upstream ok")
}

/// Unix time of `hh:mm:ss` today in Makassar.
fn today_at(h: i8, m: i8, s: i8) -> i64 {
    let tz = jiff::tz::TimeZone::get("Asia/Makassar").unwrap();
    let today = jiff::Timestamp::now().to_zoned_datetime(tz.clone()).date();
    today
        .at(h, m, s, 0)
        .to_zoned_datetime(tz)
        .unwrap()
        .timestamp()
        .as_second()
}

#[test]
fn midnight_with_an_injected_clock() {
    let v = Village::up("gwmid", 1);
    let (mac, ip) = phone(&v, 1);
    let dir = v.run_dir();
    let vv = Village::handle(&v);
    in_router(&v, move || async move {
        let clock = Arc::new(ManualClock::new(today_at(23, 59, 58)));
        let gw = gateway(&dir, "[quota]\ndaily_data = \"1 MiB\"\nafter_quota_rate = \"0\"\ndownload_rate = \"100 Mbit/s\"\n", clock.clone()).await;
        gw.admit(mac, ip).await.unwrap();
        let curl_phone = vv.phone(1);
        let r = tokio::task::spawn_blocking(move || {
            curl(
                &curl_phone,
                &[&format!("http://198.51.100.2/bytes/{}", 2 * MIB)],
                10.0,
            )
        })
        .await
        .unwrap();
        assert_eq!(r.code, 200);
        accounting::pass(&gw).await.unwrap();
        assert_eq!(gw.view(mac).unwrap().standing, Standing::Cut);
        assert!(
            matches!(gw.admit(mac, ip).await, Err(GatewayError::QuotaUsed(_))),
            "no way around the quota today"
        );
        let vv2 = vv.clone();
        assert!(
            !tokio::task::spawn_blocking(move || reaches_upstream(&vv2, 1))
                .await
                .unwrap(),
            "cut off before midnight"
        );
        // 00:00:01 local time: a new day.
        clock.advance(3);
        accounting::pass(&gw).await.unwrap();
        let view = gw.view(mac).unwrap();
        assert_eq!(view.standing, Standing::Normal, "{view:?}");
        assert_eq!(view.used_today, 0);
        assert!(
            tokio::task::spawn_blocking(move || reaches_upstream(&vv, 1))
                .await
                .unwrap(),
            "back online after midnight without a new tap"
        );
    });
}

#[test]
fn an_override_takes_effect_on_the_next_pass_and_blocking_kicks() {
    let v = Village::up("gwovr", 1);
    let (mac, ip) = phone(&v, 1);
    let dir = v.run_dir();
    let vv = Village::handle(&v);
    in_router(&v, move || async move {
        let clock = Arc::new(ManualClock::new(today_at(12, 0, 0)));
        let gw = gateway(
            &dir,
            "[quota]\ndownload_rate = \"2 Mbit/s\"\ndaily_data = \"1 GiB\"\n",
            clock.clone(),
        )
        .await;
        gw.admit(mac, ip).await.unwrap();
        let speed = |vv: common::VillageHandle| async move {
            let n = 2 * MIB;
            let r = tokio::task::spawn_blocking(move || {
                curl(
                    &vv.phone(1),
                    &[&format!("http://198.51.100.2/bytes/{n}")],
                    30.0,
                )
            })
            .await
            .unwrap();
            assert_eq!(r.code, 200);
            n as f64 * 8.0 / r.secs / 1e6
        };
        let capped = speed(vv.clone()).await;
        assert!(
            (1.7..=2.3).contains(&capped),
            "site cap 2 Mbit/s: got {capped:.2}"
        );
        // An admin gives this device 8 Mbit/s: no restart, one accounting pass.
        let over = QuotaOverride {
            download_rate: Some(8_000_000),
            ..QuotaOverride::default()
        };
        gw.set_quota_override(mac, over).await.unwrap();
        accounting::pass(&gw).await.unwrap();
        let faster = speed(vv.clone()).await;
        assert!(
            (6.8..=9.2).contains(&faster),
            "override 8 Mbit/s: got {faster:.2}"
        );
        // Blocked: captive at once, and no way back in until unblocked.
        gw.set_blocked(mac, true).await.unwrap();
        let vv2 = vv.clone();
        assert!(
            !tokio::task::spawn_blocking(move || reaches_upstream(&vv2, 1))
                .await
                .unwrap()
        );
        assert!(matches!(
            gw.admit(mac, ip).await,
            Err(GatewayError::Blocked(_))
        ));
        gw.set_blocked(mac, false).await.unwrap();
        gw.admit(mac, ip).await.unwrap();
        assert!(
            tokio::task::spawn_blocking(move || reaches_upstream(&vv, 1))
                .await
                .unwrap()
        );
    });
}

#[test]
fn session_time_and_slots_follow_the_injected_clock() {
    let v = Village::up("gwses", 2);
    let (mac1, ip1) = phone(&v, 1);
    let (mac2, ip2) = phone(&v, 2);
    let dir = v.run_dir();
    in_router(&v, move || async move {
        let clock = Arc::new(ManualClock::new(today_at(9, 0, 0)));
        let gw = gateway(
            &dir,
            "[quota]\nsession_time = \"1h\"\nidle_timeout = \"2h\"\n",
            clock.clone(),
        )
        .await;
        let s1 = gw.admit(mac1, ip1).await.unwrap();
        clock.advance(1800);
        let s2 = gw.admit(mac2, ip2).await.unwrap();
        assert_ne!(
            s1.slot, s2.slot,
            "each online phone has its own shaping slot"
        );
        assert_eq!(gw.view(mac1).unwrap().seconds_remaining, 1800);
        clock.advance(1801);
        accounting::pass(&gw).await.unwrap();
        assert!(
            gw.view(mac1).unwrap().session.is_none(),
            "phone 1's hour is over"
        );
        assert!(
            gw.view(mac2).unwrap().session.is_some(),
            "phone 2 has half an hour left"
        );
        // Phone 1's slot is free again for the next phone.
        let again = gw.admit(mac1, ip1).await.unwrap();
        assert_eq!(again.slot, s1.slot);
    });
}

#[test]
fn busy_devices_are_written_once_per_write_interval_and_a_restart_loses_nothing() {
    let v = Village::up("gwwri", 1);
    let (mac, ip) = phone(&v, 1);
    let dir = v.run_dir();
    let vv = Village::handle(&v);
    in_router(&v, move || async move {
        let clock = Arc::new(ManualClock::new(today_at(12, 0, 0)));
        // `write_interval` lands in [store]: the helper puts its text right after `path`.
        let settings = "write_interval = \"1m\"\n[quota]\ndaily_data = \"1 GiB\"\ndownload_rate = \"100 Mbit/s\"\n";
        let gw = gateway(&dir, settings, clock.clone()).await;
        gw.admit(mac, ip).await.unwrap();
        let download = |vv: common::VillageHandle| async move {
            let r = tokio::task::spawn_blocking(move || {
                curl(
                    &vv.phone(1),
                    &[&format!("http://198.51.100.2/bytes/{}", MIB)],
                    30.0,
                )
            })
            .await
            .unwrap();
            assert_eq!(r.code, 200);
            // Let the connection's closing packets pass before the next count.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        };
        download(vv.clone()).await;
        clock.advance(5);
        let first = accounting::pass(&gw).await.unwrap();
        assert_eq!(
            (first.devices, first.written, first.bytes),
            (1, 0, 0),
            "counted, not yet written: {first:?}"
        );
        let shown = gw.view(mac).unwrap().used_today;
        assert!(
            shown >= MIB,
            "the page shows bytes counted but not written: {shown}"
        );
        // Busy again, still within the minute: still not written, nothing lost from the view.
        download(vv.clone()).await;
        clock.advance(5);
        let second = accounting::pass(&gw).await.unwrap();
        assert_eq!(second.written, 0, "{second:?}");
        let shown = gw.view(mac).unwrap().used_today;
        assert!(shown >= 2 * MIB, "{shown}");
        // A daemon crash here (the kernel keeps its counters): a new gateway on
        // the same store counts everything since the last write exactly once.
        drop(gw);
        let gw = gateway(&dir, settings, clock.clone()).await;
        clock.advance(5);
        let after = accounting::pass(&gw).await.unwrap();
        assert_eq!(after.written, 0, "{after:?}");
        // (Not byte-equal: a connection's last FIN/ACK may land after a pass.)
        let restarted = gw.view(mac).unwrap().used_today;
        assert!((shown..shown + 1024).contains(&restarted), "the same usage after the restart, not lost, not twice: {shown} before, {restarted} after");
        // A minute after the last write: written, with everything up to now.
        clock.advance(60);
        download(vv.clone()).await;
        let due = accounting::pass(&gw).await.unwrap();
        assert_eq!(due.written, 1, "{due:?}");
        assert!(
            due.bytes >= 3 * MIB,
            "the write carries every byte since the last one: {due:?}"
        );
        let written = gw.view(mac).unwrap().used_today;
        clock.advance(5);
        let idle = accounting::pass(&gw).await.unwrap();
        assert_eq!(
            (idle.written, idle.bytes),
            (0, 0),
            "an idle device writes nothing: {idle:?}"
        );
        assert_eq!(gw.view(mac).unwrap().used_today, written);
    });
}
