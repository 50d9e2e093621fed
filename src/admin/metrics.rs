//! `/metrics`: the gateway in Prometheus' text exposition format (0.0.4), so
//! a regency's Prometheus can watch dozens of villages (see
//! `config/prometheus.yml` and `config/grafana-dashboard.json`).
//!
//! Two kinds of numbers:
//! - **events**, counted as they happen by the rooms that see them (a login,
//!   a firewall batch, an accounting pass), in the `static` registry of
//!   [`crate::telemetry`]; this module only renders it;
//! - **state**, read at scrape time (devices by state, today's usage, the
//!   uplink, this process's memory and CPU).
//!
//! No series carries a per-device label: a village has hundreds of phones and
//! a regency dozens of villages, and per-device numbers belong in the admin
//! API (`/api/devices`, `/api/usage`), not in the time-series database. The
//! gateway says who it is once, in `desawifi_info{site,version}`.

mod process;

use std::fmt::Write as _;

pub use process::ProcessStats;

use hyper::{header, StatusCode};
use tracing::warn;

use super::core::{Admin, DeviceState};
use crate::accounts::Principal;
use crate::config::power::PowerSource;
use crate::domain::{self, DailyUsage};
use crate::gateway::outages::OutageTotals;
use crate::gateway::{DeviceView, Gateway, GatewayError};
use crate::power::{Health, Mode, PowerState};
use crate::telemetry::{
    AdminLogin, Histogram, LoginFailure, PolicyRefusal, Registry, BUCKETS_US, REGISTRY,
};
use crate::uplink::UplinkState;
use crate::web::http::{respond, Resp};

/// The exposition format's content type (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

// ------------------------------------------------------------------- state

/// Devices by state, as `desawifi_devices{state}` counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceCounts {
    /// Online at full speed.
    pub online: u64,
    /// Online at the fair-use speed (over today's quota).
    pub throttled: u64,
    /// Over today's quota with a fair-use speed of 0: walled garden only.
    pub cut: u64,
    /// Blocked by an admin (online or not, today or not).
    pub blocked: u64,
    /// Seen today (first visit or data today) but not online now.
    pub captive: u64,
}

impl DeviceCounts {
    /// Count `devices`; `today_starts` is the unix time of the last local midnight.
    pub fn of(devices: &[DeviceView], today_starts: i64) -> DeviceCounts {
        let mut c = DeviceCounts::default();
        for d in devices {
            match DeviceState::of(d) {
                DeviceState::Blocked => c.blocked += 1,
                DeviceState::Online => c.online += 1,
                DeviceState::Throttled => c.throttled += 1,
                DeviceState::Cut => c.cut += 1,
                DeviceState::Captive if d.first_seen >= today_starts || d.used_today > 0 => {
                    c.captive += 1
                }
                DeviceState::Captive => {}
            }
        }
        c
    }

    /// The count of one state.
    pub fn of_state(&self, state: DeviceState) -> u64 {
        match state {
            DeviceState::Online => self.online,
            DeviceState::Throttled => self.throttled,
            DeviceState::Cut => self.cut,
            DeviceState::Blocked => self.blocked,
            DeviceState::Captive => self.captive,
        }
    }
}

/// Everything a scrape reads besides the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `[site] name`.
    pub site: String,
    pub version: String,
    pub devices: DeviceCounts,
    /// Every device's usage today (local day), from the store.
    pub usage_today: DailyUsage,
    /// Every device's usage on the local day before (final once it ended).
    pub usage_yesterday: DailyUsage,
    /// The site's daily quota per device now (an admin may change it).
    pub daily_data_bytes: u64,
    pub uplink: UplinkState,
    /// The wifi is open now by its opening hours (always, without `[schedule]`).
    pub open: bool,
    pub process: Option<ProcessStats>,
    /// Usage category ids (`lainnya` last), so every one is exported, zeros included.
    pub categories: Vec<String>,
    /// Outages per cause over the store's events (issue 24): never backwards.
    pub outages: OutageTotals,
    /// Unix time of the scrape (the gateway's clock).
    pub now: i64,
    /// The battery (issue 25); `None` without a `[power] source`.
    pub power: Option<PowerState>,
}

/// Read the gateway's state for one scrape (store reads: call off the async threads).
pub fn snapshot(gw: &Gateway, uplink: UplinkState) -> Result<Snapshot, GatewayError> {
    let now = gw.now();
    let tz = &gw.config().site.timezone;
    let day = domain::local_day(now, tz);
    let today_starts = domain::next_midnight(now, tz) - 86_400;
    let yesterday = domain::local_day(today_starts - 1, tz);
    let devices = gw.devices()?;
    let (mut usage_today, mut usage_yesterday) = (DailyUsage::default(), DailyUsage::default());
    let add = |sum: &mut DailyUsage, u: DailyUsage| {
        sum.download = sum.download.saturating_add(u.download);
        sum.upload = sum.upload.saturating_add(u.upload);
    };
    for d in &devices {
        // Today as the portal and the API show it: written plus counted-but-unwritten.
        add(&mut usage_today, gw.usage_on(&d.mac, day)?);
        add(&mut usage_yesterday, gw.usage_on(&d.mac, yesterday)?);
    }
    Ok(Snapshot {
        site: gw.config().site.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        categories: gw.category_ids(),
        devices: DeviceCounts::of(&devices, today_starts),
        usage_today,
        usage_yesterday,
        daily_data_bytes: gw.quota().daily_data.0,
        uplink,
        open: gw.is_open(),
        process: ProcessStats::read(),
        outages: gw.outage_totals()?,
        now,
        power: (gw.config().power.source != PowerSource::None).then(|| gw.power()),
    })
}

// --------------------------------------------------------------- rendering

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Writes families: `# HELP` and `# TYPE` once, then the samples.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A one-sample family.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.family(name, "histogram", help);
        // Read the count first: buckets only ever catch up with it.
        let count = h.count();
        let counts: Vec<u64> = h.bucket_counts().collect();
        let mut cumulative = 0;
        for (i, &le_us) in BUCKETS_US.iter().enumerate() {
            cumulative += counts[i];
            self.sample(
                &format!("{name}_bucket"),
                &[("le", &seconds(le_us))],
                cumulative,
            );
        }
        cumulative += counts[BUCKETS_US.len()];
        self.sample(
            &format!("{name}_bucket"),
            &[("le", "+Inf")],
            cumulative.max(count),
        );
        self.sample(&format!("{name}_sum"), &[], seconds(h.sum_us()));
        self.sample(&format!("{name}_count"), &[], cumulative.max(count));
    }
}

/// Microseconds as seconds, in the shortest decimal form ("0.0025", "10").
fn seconds(us: u64) -> String {
    let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The battery's families (only with a `[power] source`): the mode as one
/// gauge per mode label (1 for the one in force), whether the latest
/// reading was good, and the last good reading's values. Site-wide only.
fn render_power(e: &mut Exposition, p: &PowerState) {
    e.family("desawifi_power_mode", "gauge", "The power mode in force: 1 for the mode (normal, hemat: the saver quota, darurat: the walled garden only), 0 for the others.");
    for mode in [Mode::Normal, Mode::Hemat, Mode::Darurat] {
        e.sample(
            "desawifi_power_mode",
            &[("mode", mode.name())],
            u8::from(p.mode == mode),
        );
    }
    e.single(
        "desawifi_power_reading_known",
        "gauge",
        "1 if the latest battery reading was good, 0 while it is unknown (missing, stale, bad checksum, unreachable); the values below are then the last good reading's.",
        u8::from(p.health == Health::Good),
    );
    e.single(
        "desawifi_power_warning",
        "gauge",
        "1 while the battery is nearly empty ([power] warn_below, or NUT's LB): the pages warn.",
        u8::from(p.warning),
    );
    let Some(r) = &p.reading else {
        return;
    };
    if let Some(charge) = r.charge {
        e.single(
            "desawifi_power_battery_charge_percent",
            "gauge",
            "The battery's state of charge, percent (last good reading).",
            charge,
        );
    }
    if let Some(volts) = r.volts {
        e.single(
            "desawifi_power_battery_volts",
            "gauge",
            "The battery's voltage (last good reading).",
            volts,
        );
    }
    e.single(
        "desawifi_power_on_battery",
        "gauge",
        "1 while the router runs from the battery (NUT's OB; VE.Direct: discharging), from the last good reading.",
        u8::from(r.on_battery),
    );
}

/// The store's outage events (issue 24): summed from the store at each
/// scrape, so they never go backwards across a power cut, and a pushed
/// Prometheus learns of the cut once the gateway is back.
fn outages(e: &mut Exposition, t: &OutageTotals) {
    e.family("desawifi_outages_total", "counter", "Outages the gateway recorded, by cause (power, battery, internet, maintenance, unknown); kept in the store, so never backwards across power cuts. Events: /api/outages.");
    for (cause, n, _) in &t.by_cause {
        e.sample("desawifi_outages_total", &[("cause", cause.as_str())], n);
    }
    e.family(
        "desawifi_outage_seconds_total",
        "counter",
        "Seconds of those outages inside opening hours, by cause; kept in the store.",
    );
    for (cause, _, secs) in &t.by_cause {
        e.sample(
            "desawifi_outage_seconds_total",
            &[("cause", cause.as_str())],
            secs,
        );
    }
    if let Some(end) = t.last_end {
        e.single(
            "desawifi_last_outage_end_timestamp_seconds",
            "gauge",
            "Unix time the last recorded outage ended (absent before the first).",
            end,
        );
    }
}

/// Every metric family this module writes, for the dashboard's drift test:
/// a Grafana panel may only ask for these (histograms with their
/// `_bucket`/`_sum`/`_count` series).
pub const FAMILIES: &[(&str, &str)] = &[
    ("desawifi_info", "gauge"),
    ("desawifi_devices", "gauge"),
    ("desawifi_sessions_started_total", "counter"),
    ("desawifi_logins_failed_total", "counter"),
    ("desawifi_slot_evictions_total", "counter"),
    ("desawifi_bytes_total", "counter"),
    ("desawifi_usage_today_bytes", "gauge"),
    ("desawifi_usage_yesterday_bytes", "gauge"),
    ("desawifi_quota_daily_data_bytes", "gauge"),
    ("desawifi_firewall_apply_seconds", "histogram"),
    ("desawifi_firewall_apply_errors_total", "counter"),
    ("desawifi_accounting_pass_seconds", "histogram"),
    ("desawifi_accounting_pass_errors_total", "counter"),
    ("desawifi_accounting_pass_devices", "gauge"),
    ("desawifi_open", "gauge"),
    ("desawifi_quiz_answers_total", "counter"),
    ("desawifi_uplink_up", "gauge"),
    ("desawifi_uplink_down_since_seconds", "gauge"),
    ("desawifi_uplink_outages_total", "counter"),
    ("desawifi_uplink_down_seconds_total", "counter"),
    ("desawifi_power_mode", "gauge"),
    ("desawifi_power_reading_known", "gauge"),
    ("desawifi_power_warning", "gauge"),
    ("desawifi_power_battery_charge_percent", "gauge"),
    ("desawifi_power_battery_volts", "gauge"),
    ("desawifi_power_on_battery", "gauge"),
    ("desawifi_outages_total", "counter"),
    ("desawifi_outage_seconds_total", "counter"),
    ("desawifi_last_outage_end_timestamp_seconds", "gauge"),
    ("desawifi_admin_logins_total", "counter"),
    ("desawifi_policy_version", "gauge"),
    ("desawifi_policy_errors_total", "counter"),
    ("desawifi_category_bytes_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_virtual_memory_bytes", "gauge"),
    ("process_cpu_seconds_total", "counter"),
    ("process_start_time_seconds", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_max_fds", "gauge"),
];

/// The whole exposition for one scrape.
pub fn render(s: &Snapshot, r: &Registry) -> String {
    let mut e = Exposition(String::with_capacity(8 * 1024));
    e.family(
        "desawifi_info",
        "gauge",
        "This gateway: its site (village) name and desawifi's version. Always 1.",
    );
    e.sample(
        "desawifi_info",
        &[("site", &s.site), ("version", &s.version)],
        1,
    );

    e.family("desawifi_devices", "gauge", "Devices by state now: online, throttled (over quota, fair-use speed), cut (over quota, walled garden only), blocked (by an admin), captive (seen today, not online).");
    for state in DeviceState::ALL {
        e.sample(
            "desawifi_devices",
            &[("state", state.label())],
            s.devices.of_state(state),
        );
    }

    e.single(
        "desawifi_sessions_started_total",
        "counter",
        "Logins that started a new session, since the daemon started.",
        r.sessions_started.get(),
    );
    e.family(
        "desawifi_logins_failed_total",
        "counter",
        "Logins refused or failed, by reason, since the daemon started.",
    );
    for (i, why) in LoginFailure::ALL.iter().enumerate() {
        e.sample(
            "desawifi_logins_failed_total",
            &[("reason", why.label())],
            r.logins_failed[i].get(),
        );
    }

    e.single(
        "desawifi_slot_evictions_total",
        "counter",
        "Idle sessions ended to give their slot to a new login when every slot was taken, since the daemon started (refusals: desawifi_logins_failed_total{reason=\"full\"}).",
        r.slot_evictions.get(),
    );

    e.family("desawifi_bytes_total", "counter", "Bytes added to devices' daily usage in the store since the daemon started (0 at every start; follows the store's writes, so up to [store] write_interval behind; exact daily totals: desawifi_usage_yesterday_bytes and /api/usage).");
    e.sample(
        "desawifi_bytes_total",
        &[("direction", "download")],
        r.bytes_download.get(),
    );
    e.sample(
        "desawifi_bytes_total",
        &[("direction", "upload")],
        r.bytes_upload.get(),
    );
    e.family("desawifi_usage_today_bytes", "gauge", "Bytes all devices used today (the site's local day), from the store; starts over at local midnight.");
    e.sample(
        "desawifi_usage_today_bytes",
        &[("direction", "download")],
        s.usage_today.download,
    );
    e.sample(
        "desawifi_usage_today_bytes",
        &[("direction", "upload")],
        s.usage_today.upload,
    );
    e.family("desawifi_usage_yesterday_bytes", "gauge", "Bytes all devices used on the local day before today, from the store: a village's exact daily total, readable all day long.");
    e.sample(
        "desawifi_usage_yesterday_bytes",
        &[("direction", "download")],
        s.usage_yesterday.download,
    );
    e.sample(
        "desawifi_usage_yesterday_bytes",
        &[("direction", "upload")],
        s.usage_yesterday.upload,
    );
    e.single(
        "desawifi_quota_daily_data_bytes",
        "gauge",
        "The site's daily data quota per device now (download plus upload).",
        s.daily_data_bytes,
    );

    e.histogram(
        "desawifi_firewall_apply_seconds",
        "Time to apply one nftables batch (device changes or a full reconcile).",
        &r.firewall_apply,
    );
    e.single(
        "desawifi_firewall_apply_errors_total",
        "counter",
        "nftables batches the kernel refused.",
        r.firewall_apply_errors.get(),
    );
    e.histogram(
        "desawifi_accounting_pass_seconds",
        "Time of one accounting pass (counters read, usage stored, quota decisions applied).",
        &r.accounting_pass,
    );
    e.single(
        "desawifi_accounting_pass_errors_total",
        "counter",
        "Accounting passes that failed.",
        r.accounting_pass_errors.get(),
    );
    e.single(
        "desawifi_accounting_pass_devices",
        "gauge",
        "Sessions the last successful accounting pass looked at.",
        r.accounting_pass_devices.get(),
    );

    e.single(
        "desawifi_open",
        "gauge",
        "1 while the wifi is open by its opening hours ([schedule]; always 1 without one), 0 while closed.",
        u8::from(s.open),
    );
    e.family(
        "desawifi_quiz_answers_total",
        "counter",
        "Literacy quiz answers since the daemon started, by pillar and result (right, wrong); never by device. Daily counts: /api/quiz.",
    );
    for (i, pillar) in crate::telemetry::QUIZ_PILLARS.iter().enumerate() {
        let (right, wrong) = r.quiz_answers_of(i);
        for (result, n) in [("right", right), ("wrong", wrong)] {
            e.sample(
                "desawifi_quiz_answers_total",
                &[("pillar", pillar), ("result", result)],
                n,
            );
        }
    }
    e.single(
        "desawifi_uplink_up",
        "gauge",
        "1 if the village's uplink answers the [uplink] checks, 0 while it is down.",
        u8::from(s.uplink == UplinkState::Up),
    );
    if let UplinkState::Down { since } = s.uplink {
        e.single(
            "desawifi_uplink_down_since_seconds",
            "gauge",
            "Unix time the uplink went down (present only while it is down).",
            since,
        );
    }
    e.single(
        "desawifi_uplink_outages_total",
        "counter",
        "Times the uplink went down, since the daemon started.",
        r.uplink_outages.get(),
    );
    let ongoing = match s.uplink {
        UplinkState::Down { since } => (s.now - since).max(0) as u64,
        UplinkState::Up => 0,
    };
    e.single(
        "desawifi_uplink_down_seconds_total",
        "counter",
        "Seconds the uplink was down, since the daemon started (the current outage included).",
        r.uplink_down_secs.get() + ongoing,
    );
    outages(&mut e, &s.outages);

    if let Some(p) = &s.power {
        render_power(&mut e, p);
    }

    e.single(
        "desawifi_policy_version",
        "gauge",
        "The version of the regency's signed policy in force (0: none applied yet).",
        r.policy_version.get(),
    );
    e.family("desawifi_policy_errors_total", "counter", "Regency policies refused since the daemon started, by reason (fetch, tls, bad_signature, unknown_key, invalid, replay, expired, ...); the policy in force stays.");
    for reason in PolicyRefusal::ALL {
        e.sample(
            "desawifi_policy_errors_total",
            &[("reason", reason.label())],
            r.policy_errors[reason as usize].get(),
        );
    }
    e.family("desawifi_admin_logins_total", "counter", "Admin login attempts by result (ok, bad password or user, locked out), since the daemon started.");
    for (i, result) in AdminLogin::ALL.iter().enumerate() {
        e.sample(
            "desawifi_admin_logins_total",
            &[("result", result.label())],
            r.admin_logins[i].get(),
        );
    }

    e.family("desawifi_category_bytes_total", "counter", "Bytes the village moved per usage category (from DNS names; approximate: shared CDN addresses count in one category, apps with their own encrypted DNS count as lainnya), since the daemon started. Site-wide: never per device.");
    let categories = r
        .category_bytes
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    for id in &s.categories {
        let (down, up) = categories.get(id).copied().unwrap_or((0, 0));
        for (direction, n) in [("download", down), ("upload", up)] {
            e.sample(
                "desawifi_category_bytes_total",
                &[("category", id), ("direction", direction)],
                n,
            );
        }
    }

    if let Some(p) = &s.process {
        e.single(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes,
        );
        e.single(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_bytes,
        );
        e.single(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds,
        );
        e.single(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            p.start_time,
        );
        e.single(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            p.open_fds,
        );
        if let Some(max) = p.max_fds {
            e.single(
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                max,
            );
        }
    }
    e.0
}

// -------------------------------------------------------------------- HTTP

/// `GET /metrics`: any logged-in account (viewer or admin) or the metrics token.
pub async fn handle(admin: &Admin, principal: Option<Principal>) -> Resp {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if principal.is_none() {
        let mut r = respond(
            StatusCode::UNAUTHORIZED,
            PLAIN,
            "401 unauthorized: send Authorization: Bearer <token>\n",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"desawifi\""),
        );
        return r;
    }
    let gw = admin.gateway.clone();
    let uplink = *admin.uplink.borrow();
    // Store reads for every device: off the async threads.
    match tokio::task::spawn_blocking(move || snapshot(&gw, uplink)).await {
        Ok(Ok(snap)) => respond(StatusCode::OK, CONTENT_TYPE, render(&snap, &REGISTRY)),
        Ok(Err(e)) => {
            warn!(error = %e, "metrics: reading the gateway's state failed");
            respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN,
                "500 the gateway's state could not be read\n",
            )
        }
        Err(e) => {
            warn!(error = %e, "metrics: the snapshot task failed");
            respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN,
                "500 internal error\n",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Mac, Standing};
    use std::time::Duration;

    fn snapshot_for_tests() -> Snapshot {
        Snapshot {
            power: Some(PowerState {
                mode: Mode::Darurat,
                warning: true,
                health: Health::Good,
                reading: Some(crate::power::Reading {
                    charge: Some(15.0),
                    volts: Some(11.9),
                    on_battery: true,
                    ..crate::power::Reading::empty(crate::power::Source::Nut, 1_764_190_000)
                }),
            }),
            site: "Desa \"Uji\"\\Baru\nSatu".into(),
            version: "0.1.0".into(),
            categories: vec!["video".into(), "lainnya".into()],
            devices: DeviceCounts {
                online: 3,
                throttled: 1,
                cut: 0,
                blocked: 2,
                captive: 5,
            },
            usage_today: DailyUsage {
                download: 1_000_000,
                upload: 20_000,
                free: 0,
            },
            usage_yesterday: DailyUsage {
                download: 7_000_000,
                upload: 300_000,
                free: 0,
            },
            now: 1_764_200_090,
            daily_data_bytes: 500 << 20,
            uplink: UplinkState::Down {
                since: 1_764_200_000,
            },
            open: true,
            outages: OutageTotals {
                by_cause: vec![(crate::domain::OutageCause::Power, 2, 600)],
                last_end: Some(1_764_100_000),
            },
            process: Some(ProcessStats {
                resident_bytes: 8 << 20,
                virtual_bytes: 64 << 20,
                cpu_seconds: 1.25,
                start_time: 1_764_190_000.5,
                open_fds: 12,
                max_fds: Some(1024),
            }),
        }
    }

    /// The value of the one sample line that starts with `series` (name and labels).
    fn value(text: &str, series: &str) -> String {
        let hits: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .collect();
        assert_eq!(hits.len(), 1, "{series} in:\n{text}");
        hits[0].to_owned()
    }

    #[test]
    fn outages_are_exported_by_cause() {
        let text = render(&snapshot_for_tests(), &Registry::new());
        assert_eq!(value(&text, "desawifi_outages_total{cause=\"power\"}"), "2");
        assert_eq!(
            value(&text, "desawifi_outage_seconds_total{cause=\"power\"}"),
            "600"
        );
        assert_eq!(
            value(&text, "desawifi_last_outage_end_timestamp_seconds"),
            "1764100000"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        let text = render(&snapshot_for_tests(), &Registry::new());
        assert!(
            text.contains(r#"desawifi_info{site="Desa \"Uji\"\\Baru\nSatu",version="0.1.0"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn every_family_has_help_and_type_once_and_only_listed_names() {
        let text = render(&snapshot_for_tests(), &Registry::new());
        for (name, kind) in FAMILIES {
            assert_eq!(
                text.matches(&format!("# TYPE {name} {kind}\n")).count(),
                1,
                "{name}\n{text}"
            );
            assert_eq!(
                text.matches(&format!("# HELP {name} ")).count(),
                1,
                "{name}"
            );
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| FAMILIES.iter().any(|(n, k)| n == f && *k == "histogram"))
                .unwrap_or(name);
            assert!(
                FAMILIES.iter().any(|(n, _)| *n == family),
                "{name} is not in FAMILIES"
            );
            assert!(!line.contains("mac="), "no per-device labels: {line}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn counters_and_state_show_up() {
        let r = Registry::new();
        r.sessions_started.inc();
        r.login_failed(LoginFailure::Blocked);
        r.login_failed(LoginFailure::Blocked);
        r.login_failed(LoginFailure::Full);
        r.login_failed(LoginFailure::IdentityTaken);
        r.slot_evictions.inc();
        r.slot_evictions.inc();
        r.admin_login(AdminLogin::Locked);
        r.bytes_counted(700, 30);
        r.bytes_counted(300, 0);
        r.accounting_pass_devices.set(4);
        let text = render(&snapshot_for_tests(), &r);
        assert_eq!(value(&text, "desawifi_sessions_started_total"), "1");
        assert_eq!(
            value(&text, r#"desawifi_logins_failed_total{reason="blocked"}"#),
            "2"
        );
        assert_eq!(
            value(&text, r#"desawifi_logins_failed_total{reason="full"}"#),
            "1"
        );
        assert_eq!(
            value(
                &text,
                r#"desawifi_logins_failed_total{reason="quota_used"}"#
            ),
            "0"
        );
        assert_eq!(
            value(
                &text,
                r#"desawifi_logins_failed_total{reason="identity_taken"}"#
            ),
            "1"
        );
        assert_eq!(value(&text, "desawifi_slot_evictions_total"), "2");
        assert_eq!(
            value(&text, r#"desawifi_admin_logins_total{result="locked"}"#),
            "1"
        );
        assert_eq!(
            value(&text, r#"desawifi_admin_logins_total{result="ok"}"#),
            "0"
        );
        assert_eq!(
            value(&text, r#"desawifi_bytes_total{direction="download"}"#),
            "1000"
        );
        assert_eq!(
            value(&text, r#"desawifi_bytes_total{direction="upload"}"#),
            "30"
        );
        assert_eq!(
            value(&text, r#"desawifi_usage_today_bytes{direction="download"}"#),
            "1000000"
        );
        assert_eq!(value(&text, r#"desawifi_devices{state="online"}"#), "3");
        assert_eq!(value(&text, r#"desawifi_devices{state="captive"}"#), "5");
        assert_eq!(value(&text, r#"desawifi_devices{state="cut"}"#), "0");
        assert_eq!(value(&text, "desawifi_accounting_pass_devices"), "4");
        assert_eq!(value(&text, "desawifi_uplink_up"), "0");
        assert_eq!(
            value(&text, "desawifi_uplink_down_since_seconds"),
            "1764200000"
        );
        assert_eq!(
            value(
                &text,
                r#"desawifi_usage_yesterday_bytes{direction="upload"}"#
            ),
            "300000"
        );
        r.uplink_outages.inc();
        r.uplink_down_secs.add(30);
        let text = render(&snapshot_for_tests(), &r);
        assert_eq!(value(&text, "desawifi_uplink_outages_total"), "1");
        assert_eq!(
            value(&text, "desawifi_uplink_down_seconds_total"),
            "120",
            "30 s before plus 90 s of the outage now"
        );
        assert_eq!(value(&text, "process_cpu_seconds_total"), "1.25");
        assert_eq!(value(&text, "desawifi_open"), "1");
        assert!(
            text.contains("desawifi_power_mode{mode=\"darurat\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("desawifi_power_mode{mode=\"normal\"} 0\n"));
        assert_eq!(value(&text, "desawifi_power_battery_charge_percent"), "15");
        assert_eq!(value(&text, "desawifi_power_warning"), "1");
        let off = render(
            &Snapshot {
                power: None,
                ..snapshot_for_tests()
            },
            &r,
        );
        assert!(
            !off.contains("desawifi_power"),
            "no [power] source, no series"
        );
        let closed = render(
            &Snapshot {
                open: false,
                ..snapshot_for_tests()
            },
            &r,
        );
        assert_eq!(value(&closed, "desawifi_open"), "0", "closed by [schedule]");
        assert_eq!(value(&text, "process_start_time_seconds"), "1764190000.5");
        // Up: no down-since series at all.
        let up = render(
            &Snapshot {
                uplink: UplinkState::Up,
                ..snapshot_for_tests()
            },
            &r,
        );
        assert_eq!(value(&up, "desawifi_uplink_up"), "1");
        assert!(!up.contains("desawifi_uplink_down_since_seconds"));
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let r = Registry::new();
        for ms in [0, 1, 3, 3, 40, 20_000] {
            r.firewall_apply.observe(Duration::from_millis(ms));
        }
        let text = render(&snapshot_for_tests(), &r);
        let h = "desawifi_firewall_apply_seconds";
        assert_eq!(value(&text, &format!(r#"{h}_bucket{{le="0.001"}}"#)), "2");
        assert_eq!(value(&text, &format!(r#"{h}_bucket{{le="0.0025"}}"#)), "2");
        assert_eq!(value(&text, &format!(r#"{h}_bucket{{le="0.005"}}"#)), "4");
        assert_eq!(value(&text, &format!(r#"{h}_bucket{{le="0.05"}}"#)), "5");
        assert_eq!(value(&text, &format!(r#"{h}_bucket{{le="10"}}"#)), "5");
        assert_eq!(value(&text, &format!(r#"{h}_bucket{{le="+Inf"}}"#)), "6");
        assert_eq!(value(&text, &format!("{h}_count")), "6");
        assert_eq!(value(&text, &format!("{h}_sum")), "20.047");
        // Buckets come in order, and an empty histogram is all zeros.
        let bounds: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{h}_bucket")))
            .map(|l| l.split('"').nth(1).unwrap())
            .collect();
        assert_eq!(bounds.first(), Some(&"0.001"));
        assert_eq!(bounds.len(), 14);
        assert_eq!(value(&text, "desawifi_accounting_pass_seconds_count"), "0");
    }

    #[test]
    fn seconds_are_short_decimals() {
        assert_eq!(seconds(1_000), "0.001");
        assert_eq!(seconds(2_500), "0.0025");
        assert_eq!(seconds(10_000_000), "10");
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(1_500_001), "1.500001");
    }

    #[test]
    fn device_states_are_counted_without_double_counting() {
        use crate::domain::Session;
        let mac = |n: u8| Mac([2, 0x77, 0, 0, 0, n]);
        let midnight = 1_764_172_800; // any local midnight
        let view =
            |n: u8, session: Option<Standing>, blocked: bool, first_seen: i64, used_today: u64| {
                DeviceView {
                    mac: mac(n),
                    ip: None,
                    first_seen,
                    quota: Default::default(),
                    blocked,
                    session: session.map(|standing| Session {
                        standing,
                        ..Session::new("10.77.0.11".parse().unwrap(), midnight, 3600)
                    }),
                    seconds_remaining: 0,
                    used_today,
                    daily_data: 1 << 20,
                    exempt: false,
                    trust: None,
                    standing: Standing::Normal,
                    quota_resets: midnight + 86_400,
                }
            };
        let devices = [
            view(1, Some(Standing::Normal), false, 0, 10),
            view(2, Some(Standing::Throttled), false, 0, 10),
            view(3, Some(Standing::Cut), false, 0, 10),
            view(4, None, true, 0, 0), // blocked long ago: still blocked
            view(5, None, false, midnight + 5, 0), // first visit today, never logged in
            view(6, None, false, midnight - 100, 50), // online earlier today, logged out
            view(7, None, false, midnight - 100, 0), // not seen today: not counted
        ];
        assert_eq!(
            DeviceCounts::of(&devices, midnight),
            DeviceCounts {
                online: 1,
                throttled: 1,
                cut: 1,
                blocked: 1,
                captive: 2
            }
        );
    }
}
