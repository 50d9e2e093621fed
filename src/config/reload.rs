//! What a reload (SIGHUP, `systemctl reload`) may change while the daemon runs,
//! and what needs a restart.
//!
//! The daemon re-reads and checks the whole file; a file with an error is
//! refused and the running configuration stays. A good file is applied through
//! [`reload`]: every key that the running daemon reads afresh takes the file's
//! value, and every key that was used once at start-up (listeners, interfaces,
//! the shaping tree, the store, the certificate, the page directories) keeps
//! its running value and is named in [`Reload::needs_restart`], so the log says
//! so instead of ignoring the edit (docs/configuration.md, "Reload").

use super::Config;

/// The configuration to run with after a reload, and what it could not change.
#[derive(Debug, Clone)]
pub struct Reload {
    /// The file's configuration with the restart-only keys as they run now.
    pub config: Config,
    /// The restart-only keys the file changed (dotted key paths, file order).
    pub needs_restart: Vec<&'static str>,
    /// Changed domain lists: the daemon applies them, but the router's dnsmasq
    /// fills the firewall's sets from them, so its snippet must be made again
    /// (`desawifi dnsmasq-conf`) and dnsmasq restarted.
    pub dnsmasq: Vec<&'static str>,
}

/// Every key that needs a restart, in file order. Every other key applies at
/// once on a reload.
pub const NEEDS_RESTART: [&str; 28] = [
    "site.timezone",
    "network.lan_interface",
    "network.wan_interface",
    "network.portal_address",
    "network.uplink_download",
    "network.uplink_upload",
    "network.max_online",
    "portal.listen",
    "portal.ui_dir",
    "portal.max_connections",
    "portal.max_connections_per_client",
    "portal.header_timeout",
    "portal.max_body",
    "portal.https_listen",
    "admin.listen",
    "admin.tls_cert",
    "admin.session_time",
    "admin.ui_dir",
    "store.path",
    "store.heartbeat_interval",
    "power.source",
    "power.poll_interval",
    "power.read_timeout",
    "power.stale_after",
    "power.saver_below",
    "power.essential_below",
    "power.warn_below",
    "power.hysteresis",
];

/// `file` as it can apply to a daemon running with `running`.
pub fn reload(running: &Config, mut file: Config) -> Reload {
    let mut changed = Vec::new();
    let mut keep = |key: &'static str, differs: bool| {
        if differs {
            changed.push(key);
        }
    };
    let (r, f) = (running, &mut file);
    // The local day (quota resets, reports) must not move under a running day.
    keep(
        "site.timezone",
        r.site.timezone_name != f.site.timezone_name,
    );
    f.site.timezone = r.site.timezone.clone();
    f.site.timezone_name = r.site.timezone_name.clone();
    // Interfaces, the router's address and the shaping tree are built at start-up.
    let (rn, fnet) = (&r.network, &mut f.network);
    keep(
        "network.lan_interface",
        rn.lan_interface != fnet.lan_interface,
    );
    keep(
        "network.wan_interface",
        rn.wan_interface != fnet.wan_interface,
    );
    keep(
        "network.portal_address",
        rn.portal_address != fnet.portal_address,
    );
    keep(
        "network.uplink_download",
        rn.uplink_download != fnet.uplink_download,
    );
    keep(
        "network.uplink_upload",
        rn.uplink_upload != fnet.uplink_upload,
    );
    keep("network.max_online", rn.max_online != fnet.max_online);
    fnet.lan_interface = rn.lan_interface.clone();
    fnet.wan_interface = rn.wan_interface.clone();
    fnet.portal_address = rn.portal_address;
    fnet.uplink_download = rn.uplink_download;
    fnet.uplink_upload = rn.uplink_upload;
    fnet.max_online = rn.max_online;
    // The portal's listeners, limits and pages are set up once.
    let (rp, fp) = (&r.portal, &mut f.portal);
    keep("portal.listen", rp.listen != fp.listen);
    keep("portal.ui_dir", rp.ui_dir != fp.ui_dir);
    keep(
        "portal.max_connections",
        rp.max_connections != fp.max_connections,
    );
    keep(
        "portal.max_connections_per_client",
        rp.max_connections_per_client != fp.max_connections_per_client,
    );
    keep(
        "portal.header_timeout",
        rp.header_timeout != fp.header_timeout,
    );
    keep("portal.max_body", rp.max_body != fp.max_body);
    keep("portal.https_listen", rp.https != fp.https);
    *fp = rp.clone();
    // The admin listener, its certificate, the accounts' session time and the console.
    let (ra, fa) = (&r.admin, &mut f.admin);
    keep("admin.listen", ra.listen != fa.listen);
    keep("admin.tls_cert", ra.tls != fa.tls);
    keep("admin.session_time", ra.session_time != fa.session_time);
    keep("admin.ui_dir", ra.ui_dir != fa.ui_dir);
    fa.listen = ra.listen;
    fa.tls = ra.tls.clone();
    fa.session_time = ra.session_time;
    fa.ui_dir = ra.ui_dir.clone();
    keep("store.path", r.store.path != f.store.path);
    f.store.path = r.store.path.clone();
    // The outage task reads its heartbeat interval once, at start (issue 24).
    keep(
        "store.heartbeat_interval",
        r.store.heartbeat_interval != f.store.heartbeat_interval,
    );
    f.store.heartbeat_interval = r.store.heartbeat_interval;
    // The battery reader and its decider start once; `[power.saver]` is
    // read at every accounting pass, so it applies (issue 25).
    let (rw, fw) = (&r.power, &mut f.power);
    keep("power.source", rw.source != fw.source);
    keep("power.poll_interval", rw.poll_interval != fw.poll_interval);
    keep("power.read_timeout", rw.read_timeout != fw.read_timeout);
    keep("power.stale_after", rw.stale_after != fw.stale_after);
    let (rt, ft) = (&rw.thresholds, &fw.thresholds);
    keep("power.saver_below", rt.saver_below != ft.saver_below);
    keep(
        "power.essential_below",
        rt.essential_below != ft.essential_below,
    );
    keep("power.warn_below", rt.warn_below != ft.warn_below);
    keep("power.hysteresis", rt.hysteresis != ft.hysteresis);
    fw.source = rw.source.clone();
    fw.poll_interval = rw.poll_interval;
    fw.read_timeout = rw.read_timeout;
    fw.stale_after = rw.stale_after;
    fw.thresholds = rw.thresholds;
    // Domain lists go to dnsmasq, which fills the firewall's sets.
    let mut dnsmasq = Vec::new();
    if r.walled_garden.domains != f.walled_garden.domains {
        dnsmasq.push("walled_garden.domains");
    }
    let domains = |c: &Config| {
        c.usage
            .categories
            .iter()
            .map(|c| (c.id.clone(), c.domains.clone()))
            .collect::<Vec<_>>()
    };
    if domains(r) != domains(f) {
        dnsmasq.push("[usage] domains");
    }
    Reload {
        config: file,
        needs_restart: changed,
        dnsmasq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{parse, MINIMAL};

    #[test]
    fn runtime_keys_apply_and_restart_keys_are_named_and_kept() {
        let running = parse(MINIMAL).unwrap();
        let edited = MINIMAL
            .replace("10.77.0.1:2050", "0.0.0.0:2051")
            .replace(
                "[store]",
                "[quota]\ndaily_data = \"100 MiB\"\n[walled_garden]\naddresses = [\"198.51.100.0/24\"]\n[schedule]\nopen = \"06:00\"\nclose = \"22:00\"\n[quiz]\nattempts_per_day = 3\n[store]",
            )
            .replace("[site]\n", "[site]\ntimezone = \"Asia/Jakarta\"\nregency = \"Paser\"\n");
        let r = reload(&running, parse(&edited).unwrap());
        assert_eq!(r.needs_restart, ["site.timezone", "portal.listen"]);
        let c = r.config;
        assert_eq!(c.portal.listen, running.portal.listen, "kept");
        assert_eq!(c.site.timezone_name, "Asia/Makassar", "kept");
        assert_eq!(c.site.regency, "Paser", "applied");
        assert_eq!(c.quota.daily_data.0, 100 << 20);
        assert_eq!(c.walled_garden.addresses.len(), 1);
        assert!(c.schedule.hours.is_some());
        assert_eq!(c.quiz.attempts_per_day, 3);
        let same = reload(&running, parse(MINIMAL).unwrap());
        assert!(same.needs_restart.is_empty());
    }

    #[test]
    fn categories_apply_and_domain_lists_name_dnsmasq() {
        let running = parse(MINIMAL).unwrap();
        let free_only = format!("{MINIMAL}[usage]\nfree = [\"video\"]\n");
        let r = reload(&running, parse(&free_only).unwrap());
        assert!(r.needs_restart.is_empty() && r.dnsmasq.is_empty());
        assert_eq!(
            r.config.usage.free_daily_data,
            crate::config::categories::DEFAULT_FREE_DAILY_DATA
        );
        // issue 22, item 2: the free allowance applies at once (read every pass).
        let allowance = format!("{MINIMAL}[usage]\nfree_daily_data = \"50 MiB\"\n");
        let a = reload(&running, parse(&allowance).unwrap());
        assert!(a.needs_restart.is_empty() && a.dnsmasq.is_empty());
        assert_eq!(a.config.usage.free_daily_data, 50 << 20);
        let free: Vec<&str> = r
            .config
            .usage
            .categories
            .iter()
            .filter(|c| c.free)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(free, ["video"]);
        let local = format!(
            "{MINIMAL}[usage.local]\npendidikan = [\"sdn1.sch.id\"]\n[walled_garden]\ndomains = [\"desa.id\"]\n"
        );
        let r = reload(&running, parse(&local).unwrap());
        assert!(r.needs_restart.is_empty());
        assert_eq!(r.dnsmasq, ["walled_garden.domains", "[usage] domains"]);
        assert!(r
            .config
            .usage
            .categories
            .iter()
            .any(|c| c.domains.contains(&"sdn1.sch.id".to_owned())));
    }

    #[test]
    fn every_restart_key_is_listed() {
        // Each key `reload` can name is in NEEDS_RESTART (the docs' table).
        let running = parse(MINIMAL).unwrap();
        let mut all = running.clone();
        all.site.timezone_name = "x".into();
        all.network.lan_interface = "x".into();
        all.network.wan_interface = "y".into();
        all.network.portal_address = "10.0.0.9".parse().unwrap();
        all.network.uplink_download = Some(crate::domain::Rate(1));
        all.network.uplink_upload = Some(crate::domain::Rate(1));
        all.network.max_online = 7;
        all.portal.listen = "0.0.0.0:1".parse().unwrap();
        all.portal.ui_dir = Some("/x".into());
        all.portal.max_connections = 1;
        all.portal.max_connections_per_client = 1;
        all.portal.header_timeout = std::time::Duration::from_secs(1);
        all.portal.max_body = crate::domain::Size(1);
        all.portal.https = Some(crate::config::PortalTls {
            listen: "0.0.0.0:2".parse().unwrap(),
            cert: "/c".into(),
            key: "/k".into(),
            public_name: "p.example".into(),
        });
        all.admin.listen = "127.0.0.1:1".parse().unwrap();
        all.admin.tls = Some(crate::config::AdminTls {
            cert: "/c".into(),
            key: "/k".into(),
        });
        all.admin.session_time = std::time::Duration::from_secs(1);
        all.admin.ui_dir = Some("/x".into());
        all.store.path = "/x".into();
        all.store.heartbeat_interval = std::time::Duration::from_secs(7);
        all.power.source = crate::config::power::PowerSource::VeDirect {
            device: "/dev/ttyUSB9".into(),
        };
        all.power.poll_interval = std::time::Duration::from_secs(2);
        all.power.read_timeout = std::time::Duration::from_secs(2);
        all.power.stale_after = std::time::Duration::from_secs(9);
        all.power.thresholds.saver_below = 50;
        all.power.thresholds.essential_below = 30;
        all.power.thresholds.warn_below = 5;
        all.power.thresholds.hysteresis = 5;
        all.power.saver.daily_data = crate::domain::Size(1);
        let r = reload(&running, all);
        assert_eq!(r.needs_restart, NEEDS_RESTART);
        assert_eq!(r.config.power.saver.daily_data.0, 1, "the saver applies");
        assert!(
            reload(&running, r.config).needs_restart.is_empty(),
            "all kept"
        );
    }
}
