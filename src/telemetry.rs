//! The telemetry registry: what happened in this process, counted as it
//! happens by the rooms that see it (a login, a firewall batch, an
//! accounting pass, the uplink dropping), in a `static` registry of atomics
//! ([`REGISTRY`]). The hook functions are all a room calls; none of them
//! blocks, allocates or knows HTTP. Only the admin room renders the registry
//! (as Prometheus text, `/metrics`). Counters, gauges and fixed-bucket
//! histograms are plain atomics (no metrics crate: less to build for a small
//! router, and nothing here ever locks). A ground room: it imports nothing of
//! the crate, so any room may bump it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where this process's log lines go, for both programs' `main` (the
/// gateway's `desawifi` and the office's `desawifi-regency`): stderr, with
/// colours only on a terminal, filtered by `RUST_LOG` (`target=level,...`
/// directives) or else by `default_filter`. `Targets` rather than
/// EnvFilter: no regex engine, 0.4 MiB less binary.
pub fn init_logging(default_filter: &str) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| default_filter.parse().expect("a valid default filter"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .init();
}

/// Histogram bucket bounds in microseconds: 1 ms .. 10 s (a firewall batch
/// is a few ms; a pass over hundreds of phones on an SD card can take seconds).
pub const BUCKETS_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// A monotonic count.
#[derive(Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    /// A counter at 0.
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    /// Count one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Count `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The value now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Counter {
    fn default() -> Counter {
        Counter::new()
    }
}

/// A value that goes up and down (last written wins).
#[derive(Debug)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// A gauge at 0.
    pub const fn new() -> Gauge {
        Gauge(AtomicU64::new(0))
    }

    /// Replace the value.
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// The value now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Gauge {
    fn default() -> Gauge {
        Gauge::new()
    }
}

/// Durations in fixed buckets ([`BUCKETS_US`]), kept per bucket (not
/// cumulative) and summed up when rendered. A scrape racing an observation
/// may see `_count` one ahead of the buckets; Prometheus tolerates that.
#[derive(Debug)]
pub struct Histogram {
    /// Observations that fell in each bucket (the last one: above 10 s).
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    /// A histogram with no observations.
    pub const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS_US.len() + 1],
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    /// Record one duration.
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BUCKETS_US
            .iter()
            .position(|&le| us <= le)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Observations per bucket (not cumulative; the last one is above 10 s).
    pub fn bucket_counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed))
    }

    /// The sum of all observations, in microseconds.
    pub fn sum_us(&self) -> u64 {
        self.sum_us.load(Ordering::Relaxed)
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

/// Why a villager's tap on Connect did not get them online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// An admin blocked the device.
    Blocked,
    /// Today's quota is used and the fair-use speed is 0.
    QuotaUsed,
    /// Every shaping slot is taken and none has been idle long enough to evict.
    Full,
    /// The device's IP is online with another MAC (or its MAC with another
    /// IP), and that pair moved traffic lately: one identity, one session.
    IdentityTaken,
    /// The store or the firewall failed.
    Error,
    /// Outside the opening hours (`[schedule]`).
    Closed,
    /// The battery is nearly empty (power mode `darurat`).
    Power,
}

impl LoginFailure {
    /// Every failure, in the order the registry counts them.
    pub const ALL: [LoginFailure; 7] = [
        LoginFailure::Blocked,
        LoginFailure::QuotaUsed,
        LoginFailure::Full,
        LoginFailure::IdentityTaken,
        LoginFailure::Error,
        LoginFailure::Closed,
        LoginFailure::Power,
    ];

    /// The label value `/metrics` shows for it.
    pub fn label(self) -> &'static str {
        match self {
            LoginFailure::Blocked => "blocked",
            LoginFailure::QuotaUsed => "quota_used",
            LoginFailure::Full => "full",
            LoginFailure::IdentityTaken => "identity_taken",
            LoginFailure::Error => "error",
            LoginFailure::Closed => "closed",
            LoginFailure::Power => "power",
        }
    }
}

/// How an admin's login attempt (console or `POST /api/session`) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminLogin {
    /// Right password: a session was made.
    Ok,
    /// Unknown user or wrong password.
    Bad,
    /// Refused without checking: too many failures for that user or address.
    Locked,
}

impl AdminLogin {
    /// Every outcome, in the order the registry counts them.
    pub const ALL: [AdminLogin; 3] = [AdminLogin::Ok, AdminLogin::Bad, AdminLogin::Locked];

    /// The label value `/metrics` shows for it.
    pub fn label(self) -> &'static str {
        match self {
            AdminLogin::Ok => "ok",
            AdminLogin::Bad => "bad",
            AdminLogin::Locked => "locked",
        }
    }
}

/// Every event counter of the process.
#[derive(Debug, Default)]
pub struct Registry {
    /// New sessions (logins that were not a re-tap while online).
    pub sessions_started: Counter,
    /// Indexed like [`LoginFailure::ALL`].
    pub logins_failed: [Counter; LoginFailure::ALL.len()],
    /// Idle sessions ended to give their slot to a new login (all slots taken).
    pub slot_evictions: Counter,
    /// Indexed like [`AdminLogin::ALL`].
    pub admin_logins: [Counter; 3],
    /// Bytes written to devices' daily usage since this process started
    /// (process-lifetime on purpose: see [`bytes_counted`]).
    pub bytes_download: Counter,
    /// Upload bytes, as `bytes_download`.
    pub bytes_upload: Counter,
    /// How long each nft batch took.
    pub firewall_apply: Histogram,
    /// nft batches that failed.
    pub firewall_apply_errors: Counter,
    /// How long each accounting pass took.
    pub accounting_pass: Histogram,
    /// Accounting passes that failed.
    pub accounting_pass_errors: Counter,
    /// Sessions the last successful pass looked at.
    pub accounting_pass_devices: Gauge,
    /// Quiz answers, indexed by [`QUIZ_PILLARS`] times (right, wrong).
    pub quiz_answers: [Counter; 8],
    /// Times the uplink was declared down.
    pub uplink_outages: Counter,
    /// Seconds of outages that have ended (the current one is added at scrape time).
    pub uplink_down_secs: Counter,
    /// Bytes per usage category since this process started: id -> (download,
    /// upload). Site-wide by construction: nothing per device ever reaches it.
    /// Regency policies refused, by [`PolicyRefusal`] (issue 14).
    pub policy_errors: [Counter; PolicyRefusal::ALL.len()],
    /// The version of the regency policy in force (0: none).
    pub policy_version: Gauge,
    pub category_bytes: std::sync::Mutex<std::collections::BTreeMap<String, (u64, u64)>>,
}

impl Registry {
    /// An empty registry (`const`, for the `static` one).
    pub const fn new() -> Registry {
        Registry {
            sessions_started: Counter::new(),
            logins_failed: [const { Counter::new() }; LoginFailure::ALL.len()],
            slot_evictions: Counter::new(),
            admin_logins: [const { Counter::new() }; 3],
            bytes_download: Counter::new(),
            bytes_upload: Counter::new(),
            firewall_apply: Histogram::new(),
            firewall_apply_errors: Counter::new(),
            accounting_pass: Histogram::new(),
            accounting_pass_errors: Counter::new(),
            accounting_pass_devices: Gauge::new(),
            quiz_answers: [const { Counter::new() }; 8],
            uplink_outages: Counter::new(),
            uplink_down_secs: Counter::new(),
            policy_errors: [const { Counter::new() }; PolicyRefusal::ALL.len()],
            policy_version: Gauge::new(),
            category_bytes: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// Count one failed device login.
    pub fn login_failed(&self, why: LoginFailure) {
        self.logins_failed[LoginFailure::ALL
            .iter()
            .position(|&w| w == why)
            .expect("listed")]
        .inc();
    }

    /// Count one admin login attempt.
    pub fn admin_login(&self, result: AdminLogin) {
        self.admin_logins[AdminLogin::ALL
            .iter()
            .position(|&r| r == result)
            .expect("listed")]
        .inc();
    }

    /// Count bytes written to daily usage (see [`bytes_counted`]).
    pub fn bytes_counted(&self, download: u64, upload: u64) {
        self.bytes_download.add(download);
        self.bytes_upload.add(upload);
    }
}

/// Bytes the accounting pass added to a usage category's day.
pub fn category_bytes(id: &str, download: u64, upload: u64) {
    let mut map = REGISTRY
        .category_bytes
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let entry = map.entry(id.to_owned()).or_default();
    entry.0 = entry.0.saturating_add(download);
    entry.1 = entry.1.saturating_add(upload);
}

/// The process's event counters.
/// Why a regency policy was refused: the `reason` label of
/// `desawifi_policy_errors_total` and the word the console's regency card
/// shows. The policy room names its own refusals
/// (`PolicyError::reason`); the admin's puller adds those of the fetch,
/// the apply and the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyRefusal {
    /// The network or HTTP failed.
    Fetch,
    /// An untrusted certificate, or the CA file could not be read.
    Tls,
    /// The signature does not match the document.
    BadSignature,
    /// Signed by a key other than the configured one.
    UnknownKey,
    /// A value the village's validator rejects.
    Invalid,
    /// A version not above the one in force.
    Replay,
    /// Past its `expires`.
    Expired,
    /// The gateway failed while applying it.
    Apply,
    /// The store failed reading or keeping it.
    Store,
    /// A key file could not be understood.
    Key,
    /// Kept so the exported series stay the same; nothing counts it today.
    Other,
}

impl PolicyRefusal {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [PolicyRefusal; 11] = [
        PolicyRefusal::Fetch,
        PolicyRefusal::Tls,
        PolicyRefusal::BadSignature,
        PolicyRefusal::UnknownKey,
        PolicyRefusal::Invalid,
        PolicyRefusal::Replay,
        PolicyRefusal::Expired,
        PolicyRefusal::Apply,
        PolicyRefusal::Store,
        PolicyRefusal::Key,
        PolicyRefusal::Other,
    ];

    /// The label (`bad_signature`, `replay`, ...).
    pub const fn label(self) -> &'static str {
        match self {
            PolicyRefusal::Fetch => "fetch",
            PolicyRefusal::Tls => "tls",
            PolicyRefusal::BadSignature => "bad_signature",
            PolicyRefusal::UnknownKey => "unknown_key",
            PolicyRefusal::Invalid => "invalid",
            PolicyRefusal::Replay => "replay",
            PolicyRefusal::Expired => "expired",
            PolicyRefusal::Apply => "apply",
            PolicyRefusal::Store => "store",
            PolicyRefusal::Key => "key",
            PolicyRefusal::Other => "other",
        }
    }
}

impl Registry {
    /// Count one refused policy.
    pub fn policy_refused(&self, reason: PolicyRefusal) {
        self.policy_errors[reason as usize].inc();
    }
}

pub static REGISTRY: Registry = Registry::new();

/// The literacy programme's four pillars, as the quiz counts them.
pub const QUIZ_PILLARS: [&str; 4] = ["cakap", "etika", "aman", "budaya"];

impl Registry {
    /// The quiz answers counted for a pillar: (right, wrong).
    pub fn quiz_answers_of(&self, pillar: usize) -> (u64, u64) {
        (
            self.quiz_answers[pillar * 2].get(),
            self.quiz_answers[pillar * 2 + 1].get(),
        )
    }

    /// Count one quiz answer (an unknown pillar is not counted).
    pub fn quiz_answered(&self, pillar: &str, right: bool) {
        if let Some(p) = QUIZ_PILLARS.iter().position(|&q| q == pillar) {
            self.quiz_answers[p * 2 + usize::from(!right)].inc();
        }
    }
}

// ------------------------------------------------------------------- hooks

/// One quiz answer, by pillar and result (no device: see `gateway::quiz`).
pub fn quiz_answered(pillar: &str, right: bool) {
    REGISTRY.quiz_answered(pillar, right);
}

/// A device logged in and a new session started (not a re-tap while online).
pub fn session_started() {
    REGISTRY.sessions_started.inc();
}

/// A device's login was refused or failed.
pub fn login_failed(why: LoginFailure) {
    REGISTRY.login_failed(why);
}

/// An idle session was ended so that a new login could have its slot.
pub fn slot_evicted() {
    REGISTRY.slot_evictions.inc();
}

/// An admin's login attempt ended (call once per `POST /api/session` or console login).
pub fn admin_login(result: AdminLogin) {
    REGISTRY.admin_login(result);
}

/// Bytes were written to devices' daily usage (an accounting pass, or a
/// logout's final count): called right after the store took them, with
/// the sums of exactly what it took, so every byte is counted once.
///
/// The counter starts at 0 with each process instead of continuing a total
/// kept in sled: the store flushes at most once a second (and accounting
/// writes are not flushed at all), so after a power cut a stored total can
/// come back *lower* than a value Prometheus already scraped, and Prometheus
/// reads any decrease as a reset and would count the village's whole
/// lifetime traffic again. A restart from 0 is a reset it handles exactly.
pub fn bytes_counted(download: u64, upload: u64) {
    REGISTRY.bytes_counted(download, upload);
}

/// The firewall task applied (or failed to apply) one nft batch.
pub fn firewall_applied(took: Duration, ok: bool) {
    REGISTRY.firewall_apply.observe(took);
    if !ok {
        REGISTRY.firewall_apply_errors.inc();
    }
}

/// An accounting pass ended: how long it took and how many sessions it
/// looked at (`None`: it failed).
pub fn accounting_pass(took: Duration, devices: Option<usize>) {
    REGISTRY.accounting_pass.observe(took);
    match devices {
        Some(n) => REGISTRY.accounting_pass_devices.set(n as u64),
        None => REGISTRY.accounting_pass_errors.inc(),
    }
}

/// The uplink watcher declared the uplink down.
pub fn uplink_went_down() {
    REGISTRY.uplink_outages.inc();
}

/// The uplink is back after `down_for_secs`.
pub fn uplink_came_back(down_for_secs: i64) {
    REGISTRY.uplink_down_secs.add(down_for_secs.max(0) as u64);
}
