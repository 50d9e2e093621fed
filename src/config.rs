//! The TOML configuration: read once at start-up (and on SIGHUP), validated whole, then
//! handed out as plain typed values.
//!
//! The file is first deserialized into private `Raw*` structs that keep every value as
//! text, so that serde only checks the shape (known keys, tables, arrays). Each value is
//! then parsed on its own, so that every error names the file, the dotted key path and
//! what was expected: `desawifi.toml: quota.daily_data: "lots" is not a size (try "500 MiB")`.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::domain::{Mac, OpeningHours, Rate, Size, TimeOfDay, DEFAULT_SLOTS, MAX_SLOTS};
use crate::lang::Language;

pub mod categories;
pub mod fleet_policy;
pub mod metrics_token;
pub use categories::{Category, Usage};
pub use fleet_policy::FleetPolicy;

/// Everything the gateway needs to know about its site, read from one file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    pub site: Site,
    pub network: Network,
    pub portal: Portal,
    pub admin: Admin,
    pub store: Store,
    pub quota: Quota,
    pub walled_garden: WalledGarden,
    pub uplink: Uplink,
    /// Usage categories (`[usage]`, issue 12).
    pub usage: Usage,
    pub schedule: Schedule,
    pub quiz: Quiz,
    /// `[fleet] policy_url` ...: the regency's signed policy to pull (issue 14).
    pub fleet_policy: Option<FleetPolicy>,
}

/// The village: shown on the splash page; its time zone decides when "today" ends.
#[derive(Debug, Clone)]
pub struct Site {
    pub name: String,
    pub regency: String,
    /// Daily quotas reset at local midnight in this zone.
    pub timezone: jiff::tz::TimeZone,
    /// The IANA name of `timezone`, for logs and the admin page.
    pub timezone_name: String,
    /// The splash page's language when the visitor has not picked one.
    pub language: Language,
}

/// Where the clients are, where the internet is, and how much of it there is.
#[derive(Debug, Clone)]
pub struct Network {
    pub lan_interface: String,
    pub wan_interface: String,
    /// The router's own LAN address; clients are redirected here.
    pub portal_address: Ipv4Addr,
    /// The uplink's capacity, if known; `None` means unshaped.
    pub uplink_download: Option<Rate>,
    pub uplink_upload: Option<Rate>,
    /// Devices online at once; each holds a traffic-shaping slot (an HTB
    /// class per direction, made at start-up). A login past it takes the
    /// slot of a session idle at least `evict_idle_after`, or is refused.
    pub max_online: u16,
    /// How long a session must have moved no traffic before a login may take
    /// its slot (all slots taken) or its IP (another MAC on the same address).
    pub evict_idle_after: Duration,
    /// Private destinations (RFC 1918, 100.64.0.0/10, 169.254.0.0/16, ULA,
    /// link-local) online devices may still reach beyond the router.
    pub allow_private: Vec<ipnet::IpNet>,
    /// Devices online whenever they are on the LAN, without the splash page
    /// or a quota (the village office's PC, a kiosk, a camera); sorted, once each.
    pub trusted_macs: Vec<Mac>,
}

/// The splash page server, with the limits that keep a busy village from starving it.
#[derive(Debug, Clone)]
pub struct Portal {
    pub listen: SocketAddr,
    /// Pages to serve instead of the embedded ones.
    pub ui_dir: Option<PathBuf>,
    pub max_connections: usize,
    /// Open connections one client address may hold, so one phone (or one
    /// junk script) cannot take every one of `max_connections`.
    pub max_connections_per_client: usize,
    /// How long a client may take to send its request headers.
    pub header_timeout: Duration,
    pub max_body: Size,
    /// Also serve the portal and the captive API over HTTPS at a public name.
    pub https: Option<PortalTls>,
}

/// `[portal] https_listen`, `tls_cert`, `tls_key`, `public_name`: all four or none.
#[derive(Debug, Clone)]
pub struct PortalTls {
    pub listen: SocketAddr,
    /// PEM certificate chain for `public_name`.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// The DNS name phones use (the router's dnsmasq maps it to the portal address).
    pub public_name: String,
}

/// The operators' web interface (HTTPS only); loopback by default so it is
/// not on the village LAN.
#[derive(Debug, Clone)]
pub struct Admin {
    pub listen: SocketAddr,
    /// PEM certificate and key; `None` = a self-signed pair made on first
    /// start and kept in the store directory.
    pub tls: Option<AdminTls>,
    /// A bearer token Prometheus may use for `/metrics` only: `metrics_token`,
    /// or read from `metrics_token_file` (the file the fleet agent reads too).
    pub metrics_token: Option<String>,
    /// How long an admin's login lasts.
    pub session_time: Duration,
    /// Console pages to serve instead of the embedded `admin-ui/` ones.
    pub ui_dir: Option<PathBuf>,
}

/// The admin listener's own certificate and key.
#[derive(Debug, Clone)]
pub struct AdminTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where the device and usage database lives.
#[derive(Debug, Clone)]
pub struct Store {
    pub path: PathBuf,
    /// How often a busy device's counters and usage are written to disk
    /// (they are read every accounting interval, but the kernel keeps them
    /// across a daemon restart; see RELIABILITY.md). Spares the SD card.
    pub write_interval: Duration,
    /// Devices not seen for this long are removed with their per-device
    /// usage (the site's daily totals stay), so the store stays bounded.
    pub forget_after: Duration,
}

/// The fair-share rules every device gets. The config file gives the
/// first-boot defaults; an admin's change (`PUT /api/quota`) is kept in the
/// store and wins from then on (see `Gateway::quota`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Data per device per local day before it is slowed to `after_quota_rate`.
    pub daily_data: Size,
    /// How long one login lasts.
    pub session_time: Duration,
    /// A session ends early after this long without traffic.
    pub idle_timeout: Duration,
    pub download_rate: Rate,
    pub upload_rate: Rate,
    /// The rate once `daily_data` is used up; `Rate(0)` cuts the device off.
    pub after_quota_rate: Rate,
    /// How often byte counters are read from the firewall.
    pub accounting_interval: Duration,
}

/// Places reachable without logging in (government services, the portal's own assets).
#[derive(Debug, Clone, Default)]
pub struct WalledGarden {
    pub addresses: Vec<ipnet::IpNet>,
    /// Lower-case DNS names.
    pub domains: Vec<String>,
    /// The TCP ports a device that is not online may reach in the garden
    /// (web only by default), so the garden is no free internet.
    pub ports: Vec<u16>,
}

/// Indonesia's time zones, built into the binary (TZif files of the IANA tz
/// database, public domain, in `config/tz/`): a router without
/// `/usr/share/zoneinfo` (OpenWrt, a trimmed image) still knows them. The
/// whole database would add 207 KB to a binary meant for small flash
/// (issue 13); every other zone comes from the system's database.
const BUILT_IN_ZONES: [(&str, &[u8]); 4] = [
    ("Asia/Jakarta", include_bytes!("../config/tz/Asia/Jakarta")),
    (
        "Asia/Pontianak",
        include_bytes!("../config/tz/Asia/Pontianak"),
    ),
    (
        "Asia/Makassar",
        include_bytes!("../config/tz/Asia/Makassar"),
    ),
    (
        "Asia/Jayapura",
        include_bytes!("../config/tz/Asia/Jayapura"),
    ),
];

/// The zone `name` from the system's tz database, else from
/// [`BUILT_IN_ZONES`].
fn time_zone(name: &str) -> Option<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(name).ok().or_else(|| {
        let (_, tzif) = BUILT_IN_ZONES.iter().find(|(n, _)| *n == name)?;
        jiff::tz::TimeZone::tzif(name, tzif).ok()
    })
}

/// `[schedule]`: when the wifi is open (local time of `[site] timezone`).
#[derive(Debug, Clone)]
pub struct Schedule {
    /// `open` and `close`; `None` (neither key) means always open.
    pub hours: Option<OpeningHours>,
    /// Public services and the walled garden stay reachable while closed.
    pub garden_always_open: bool,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            hours: None,
            garden_always_open: true,
        }
    }
}

/// `[quiz]`: the literacy quiz on the status page.
#[derive(Debug, Clone)]
pub struct Quiz {
    /// Answers a device may give per local day.
    pub attempts_per_day: u32,
    /// Data a right answer adds to the device's quota for the rest of the day.
    pub bonus: Size,
}

/// How the gateway checks its own uplink (the satellite dish drops out with weather and power).
#[derive(Debug, Clone)]
pub struct Uplink {
    /// Tried with a TCP connect each round; the uplink is up if any answers.
    pub targets: Vec<SocketAddr>,
    /// Time from the start of one round to the start of the next.
    pub interval: Duration,
    /// How long one connect may take.
    pub timeout: Duration,
    /// Consecutive failed rounds before the uplink counts as down.
    pub fail_after: u32,
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TOML itself is malformed (line and column, counted from 1).
    #[error("{}:{line}:{column}: invalid TOML: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key is unknown, missing, or its value is wrong.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Validates `text`; `path` is only used in messages and kept in [`Config::path`].
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        if let Err(e) = text.parse::<toml::Table>() {
            // toml always gives a span for syntax errors; 1:1 is a last resort.
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| line_column(text, span.start));
            let message = e.message().trim().to_owned();
            return Err(ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message,
            });
        }
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| shape_error(path, &e.path().to_string(), e.inner().message()))?;
        Check { path }.config(raw)
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Turns serde's wording into ours. Serde reports an unknown field at the enclosing
/// table, as "unknown field `x`, expected one of `a`, `b`"; we name the key itself.
fn shape_error(path: &Path, at: &str, message: &str) -> ConfigError {
    let at = if at == "." { "" } else { at };
    let message = message.trim();
    let mut key = at.to_owned();
    let mut text = message.to_owned();
    if message.starts_with("unknown field `") {
        let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
        if let Some((field, expected)) = quoted.split_first() {
            if !(at == *field || at.ends_with(&format!(".{field}"))) {
                key = if at.is_empty() {
                    field.to_string()
                } else {
                    format!("{at}.{field}")
                };
            }
            text = format!("unknown key (expected one of: {})", expected.join(", "));
        }
    }
    if key.is_empty() {
        key = "(top level)".to_owned();
    }
    ConfigError::Invalid {
        path: path.to_owned(),
        key,
        message: text,
    }
}

// ---------------------------------------------------------------------------------------
// The file's shape. Values stay text; `Check` below gives them meaning.

/// A scalar kept as written: a string, or an integer turned into its decimal text (so
/// `daily_data = 0` works and `daily_data = 500` gets the "needs a unit" message).
#[derive(Debug, Default)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    site: Option<RawSite>,
    network: Option<RawNetwork>,
    portal: Option<RawPortal>,
    admin: Option<RawAdmin>,
    store: Option<RawStore>,
    quota: Option<RawQuota>,
    walled_garden: Option<RawWalledGarden>,
    uplink: Option<RawUplink>,
    usage: Option<categories::RawUsage>,
    schedule: Option<RawSchedule>,
    quiz: Option<RawQuiz>,
    fleet: Option<fleet_policy::RawFleet>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [site] table")]
struct RawSite {
    name: Option<Text>,
    regency: Option<Text>,
    timezone: Option<Text>,
    language: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [network] table")]
struct RawNetwork {
    lan_interface: Option<Text>,
    wan_interface: Option<Text>,
    portal_address: Option<Text>,
    uplink_download: Option<Text>,
    uplink_upload: Option<Text>,
    max_online: Option<i64>,
    evict_idle_after: Option<Text>,
    allow_private: Vec<Text>,
    trusted_macs: Vec<Text>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [portal] table")]
struct RawPortal {
    listen: Option<Text>,
    ui_dir: Option<Text>,
    max_connections: Option<i64>,
    max_connections_per_client: Option<i64>,
    header_timeout: Option<Text>,
    max_body: Option<Text>,
    https_listen: Option<Text>,
    tls_cert: Option<Text>,
    tls_key: Option<Text>,
    public_name: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "an [admin] table")]
struct RawAdmin {
    listen: Option<Text>,
    tls_cert: Option<Text>,
    tls_key: Option<Text>,
    metrics_token: Option<Text>,
    metrics_token_file: Option<Text>,
    session_time: Option<Text>,
    ui_dir: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [store] table")]
struct RawStore {
    path: Option<Text>,
    write_interval: Option<Text>,
    forget_after: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [quota] table")]
struct RawQuota {
    daily_data: Option<Text>,
    session_time: Option<Text>,
    idle_timeout: Option<Text>,
    download_rate: Option<Text>,
    upload_rate: Option<Text>,
    after_quota_rate: Option<Text>,
    accounting_interval: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [walled_garden] table")]
struct RawWalledGarden {
    addresses: Vec<Text>,
    domains: Vec<Text>,
    ports: Option<Vec<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "an [uplink] table")]
struct RawUplink {
    targets: Option<Vec<Text>>,
    interval: Option<Text>,
    timeout: Option<Text>,
    fail_after: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [schedule] table")]
struct RawSchedule {
    open: Option<Text>,
    close: Option<Text>,
    garden_always_open: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [quiz] table")]
struct RawQuiz {
    attempts_per_day: Option<i64>,
    bonus: Option<Text>,
}

// ---------------------------------------------------------------------------------------
// Validation: one key at a time, every error names its key.

struct Check<'a> {
    path: &'a Path,
}

type Parsed<T> = Result<T, ConfigError>;

impl Check<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn required<T>(
        &self,
        key: &str,
        raw: Option<Text>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Parsed<T> {
        let raw = raw.ok_or_else(|| self.invalid(key, "missing key"))?;
        parse(&raw.0).map_err(|m| self.invalid(key, m))
    }

    /// `default` is written like a value in the file and goes through the same parser.
    fn or<T>(
        &self,
        key: &str,
        raw: Option<Text>,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Parsed<T> {
        let raw = raw.map_or_else(|| default.to_owned(), |t| t.0);
        parse(&raw).map_err(|m| self.invalid(key, m))
    }

    fn optional<T>(
        &self,
        key: &str,
        raw: Option<Text>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Parsed<Option<T>> {
        raw.map(|t| parse(&t.0).map_err(|m| self.invalid(key, m)))
            .transpose()
    }

    fn config(&self, raw: RawConfig) -> Parsed<Config> {
        // In file order, so the first error reported is the first one in the file.
        let site = self.site(raw.site.unwrap_or_default())?;
        let network = self.network(raw.network.unwrap_or_default())?;
        Ok(Config {
            path: self.path.to_owned(),
            site,
            portal: self.portal(raw.portal.unwrap_or_default(), &network)?,
            network,
            admin: self.admin(raw.admin.unwrap_or_default())?,
            store: self.store(raw.store.unwrap_or_default())?,
            quota: self.quota(raw.quota.unwrap_or_default())?,
            walled_garden: self.walled_garden(raw.walled_garden.unwrap_or_default())?,
            uplink: self.uplink(raw.uplink.unwrap_or_default())?,
            usage: categories::usage(raw.usage.unwrap_or_default(), self.path)?,
            schedule: self.schedule(raw.schedule.unwrap_or_default())?,
            quiz: self.quiz_section(raw.quiz.unwrap_or_default())?,
            fleet_policy: fleet_policy::fleet_policy(raw.fleet.unwrap_or_default(), self.path)?,
        })
    }

    fn site(&self, raw: RawSite) -> Parsed<Site> {
        let name = self.required("site.name", raw.name, |s| match s.trim() {
            "" => {
                Err("must not be empty (the village's name, shown on the splash page)".to_owned())
            }
            name => Ok(name.to_owned()),
        })?;
        let (timezone, timezone_name) = self.or("site.timezone", raw.timezone, "Asia/Makassar", |s| {
            let tz = time_zone(s).ok_or_else(|| {
                let hint = if jiff::tz::db().is_definitively_empty() {
                    "; this box has no tz database: other zones need it (Debian's tzdata)"
                } else {
                    ""
                };
                format!("{s:?} is not a known time zone (try \"Asia/Makassar\", \"Asia/Jakarta\" or \"Asia/Jayapura\"{hint})")
            })?;
            let name = tz.iana_name().unwrap_or(s).to_owned();
            Ok((tz, name))
        })?;
        Ok(Site {
            name,
            regency: raw
                .regency
                .map_or_else(String::new, |t| t.0.trim().to_owned()),
            timezone,
            timezone_name,
            language: self.or("site.language", raw.language, "id", |s| s.parse())?,
        })
    }

    fn network(&self, raw: RawNetwork) -> Parsed<Network> {
        let lan_interface = self.required("network.lan_interface", raw.lan_interface, interface)?;
        let wan_interface = self.required("network.wan_interface", raw.wan_interface, interface)?;
        if lan_interface == wan_interface {
            return Err(self.invalid(
                "network.wan_interface",
                format!(
                    "{wan_interface:?} is also network.lan_interface (the LAN and WAN must be different interfaces)"
                ),
            ));
        }
        let portal_address = self.required("network.portal_address", raw.portal_address, |s| {
            let ip: Ipv4Addr = s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not an IPv4 address (try \"10.77.0.1\")"))?;
            if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast() {
                return Err(format!(
                    "{s:?} cannot be the router's LAN address (try \"10.77.0.1\")"
                ));
            }
            Ok(ip)
        })?;
        let mut trusted_macs = Vec::new();
        for (i, t) in raw.trusted_macs.iter().enumerate() {
            let mac =
                t.0.trim()
                    .parse::<Mac>()
                    .ok()
                    .filter(|m| m.0 != [0; 6] && m.0[0] & 1 == 0)
                    .ok_or_else(|| {
                        self.invalid(
                            &format!("network.trusted_macs[{i}]"),
                            format!(
                                "{:?} is not a device's MAC address (try \"02:ab:cd:00:11:22\")",
                                t.0
                            ),
                        )
                    })?;
            trusted_macs.push(mac);
        }
        trusted_macs.sort();
        trusted_macs.dedup();
        Ok(Network {
            trusted_macs,
            lan_interface,
            wan_interface,
            portal_address,
            uplink_download: self.optional(
                "network.uplink_download",
                raw.uplink_download,
                positive_rate,
            )?,
            uplink_upload: self.optional(
                "network.uplink_upload",
                raw.uplink_upload,
                positive_rate,
            )?,
            max_online: match raw.max_online {
                None => DEFAULT_SLOTS,
                Some(n) => u16::try_from(n)
                    .ok()
                    .filter(|&n| n > 0 && n <= MAX_SLOTS)
                    .ok_or_else(|| {
                        self.invalid(
                            "network.max_online",
                            format!(
                                "{n} is not between 1 and {} (try {})",
                                MAX_SLOTS, DEFAULT_SLOTS
                            ),
                        )
                    })?,
            },
            evict_idle_after: self.or(
                "network.evict_idle_after",
                raw.evict_idle_after,
                "2m",
                |s| positive(s, parse_duration(s)?, Duration::ZERO, "try \"2m\""),
            )?,
            allow_private: raw
                .allow_private
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    network_address(&t.0)
                        .map_err(|m| self.invalid(&format!("network.allow_private[{i}]"), m))
                })
                .collect::<Parsed<Vec<_>>>()?,
        })
    }

    fn store(&self, raw: RawStore) -> Parsed<Store> {
        Ok(Store {
            path: self.required("store.path", raw.path, path_value)?,
            write_interval: self.or("store.write_interval", raw.write_interval, "1m", |s| {
                let d = parse_duration(s)?;
                if d > Duration::from_secs(3600) {
                    return Err(format!("{s:?} is more than an hour (try \"1m\"; a power cut loses up to this much counting)"));
                }
                Ok(d)
            })?,
            forget_after: self.or("store.forget_after", raw.forget_after, "120d", |s| {
                let d = parse_duration(s)?;
                if d < Duration::from_secs(86_400) {
                    return Err(format!(
                        "{s:?} is less than a day (try \"120d\"; today's usage must survive)"
                    ));
                }
                Ok(d)
            })?,
        })
    }

    fn admin(&self, raw: RawAdmin) -> Parsed<Admin> {
        let listen = self.or("admin.listen", raw.listen, "127.0.0.1:8443", listen)?;
        let tls = match (raw.tls_cert.is_some(), raw.tls_key.is_some()) {
            (false, false) => None,
            (true, false) => {
                return Err(self.invalid(
                    "admin.tls_key",
                    "missing key (admin.tls_cert and tls_key go together)".to_owned(),
                ))
            }
            (false, true) => {
                return Err(self.invalid(
                    "admin.tls_cert",
                    "missing key (admin.tls_cert and tls_key go together)".to_owned(),
                ))
            }
            (true, true) => Some(AdminTls {
                cert: self.required("admin.tls_cert", raw.tls_cert, path_value)?,
                key: self.required("admin.tls_key", raw.tls_key, path_value)?,
            }),
        };
        let metrics_token =
            metrics_token::metrics_token(self.path, raw.metrics_token, raw.metrics_token_file)?;
        let session_time = self.or("admin.session_time", raw.session_time, "12h", |s| {
            positive(s, parse_duration(s)?, Duration::ZERO, "try \"12h\"")
        })?;
        let ui_dir = self.optional("admin.ui_dir", raw.ui_dir, path_value)?;
        Ok(Admin {
            listen,
            tls,
            metrics_token,
            session_time,
            ui_dir,
        })
    }

    fn portal(&self, raw: RawPortal, network: &Network) -> Parsed<Portal> {
        let address = network.portal_address;
        let on_portal_address = move |s: &str| {
            let addr = listen(s)?;
            if addr.ip() != address && !(addr.is_ipv4() && addr.ip().is_unspecified()) {
                return Err(format!(
                    "{s:?} listens on {}, but network.portal_address is {address} (use \"{address}:{port}\" or \"0.0.0.0:{port}\")",
                    addr.ip(),
                    port = addr.port(),
                ));
            }
            Ok(addr)
        };
        let listen = self.required("portal.listen", raw.listen, on_portal_address)?;
        let https = if raw.https_listen.is_some()
            || raw.tls_cert.is_some()
            || raw.tls_key.is_some()
            || raw.public_name.is_some()
        {
            let all = " (portal.https_listen, tls_cert, tls_key and public_name go together)";
            let need = |key: &str, v: &Option<Text>| {
                if v.is_none() {
                    Err(self.invalid(key, format!("missing key{all}")))
                } else {
                    Ok(())
                }
            };
            need("portal.https_listen", &raw.https_listen)?;
            need("portal.tls_cert", &raw.tls_cert)?;
            need("portal.tls_key", &raw.tls_key)?;
            need("portal.public_name", &raw.public_name)?;
            let https_listen =
                self.required("portal.https_listen", raw.https_listen, on_portal_address)?;
            if https_listen.port() == listen.port() {
                return Err(self.invalid(
                    "portal.https_listen",
                    format!("port {} is already portal.listen's", listen.port()),
                ));
            }
            Some(PortalTls {
                listen: https_listen,
                cert: self.required("portal.tls_cert", raw.tls_cert, path_value)?,
                key: self.required("portal.tls_key", raw.tls_key, path_value)?,
                public_name: self.required("portal.public_name", raw.public_name, domain)?,
            })
        } else {
            None
        };
        let count = |key: &str, raw: Option<i64>, default: usize| match raw {
            None => Ok(default),
            Some(n) => usize::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                self.invalid(key, format!("{n} is not a positive number (try {default})"))
            }),
        };
        let max_connections = count("portal.max_connections", raw.max_connections, 512)?;
        let max_connections_per_client = count(
            "portal.max_connections_per_client",
            raw.max_connections_per_client,
            32,
        )?;
        Ok(Portal {
            listen,
            ui_dir: self.optional("portal.ui_dir", raw.ui_dir, path_value)?,
            max_connections,
            max_connections_per_client,
            header_timeout: self.or("portal.header_timeout", raw.header_timeout, "10s", |s| {
                positive(s, parse_duration(s)?, Duration::ZERO, "try \"10s\"")
            })?,
            max_body: self.or("portal.max_body", raw.max_body, "16 KiB", |s| {
                positive(s, parse_size(s)?, Size(0), "try \"16 KiB\"")
            })?,
            https,
        })
    }

    fn quota(&self, raw: RawQuota) -> Parsed<Quota> {
        // Every key through the one parser `PUT /api/quota` uses too ([`parse_quota_field`]),
        // starting from placeholders that each key then replaces.
        let mut quota = Quota {
            daily_data: Size(0),
            session_time: Duration::ZERO,
            idle_timeout: Duration::ZERO,
            download_rate: Rate(0),
            upload_rate: Rate(0),
            after_quota_rate: Rate(0),
            accounting_interval: Duration::ZERO,
        };
        let raws = [
            raw.daily_data,
            raw.session_time,
            raw.idle_timeout,
            raw.download_rate,
            raw.upload_rate,
            raw.after_quota_rate,
            raw.accounting_interval,
        ];
        for (key, value) in QuotaKey::ALL.into_iter().zip(raws) {
            let path = format!("quota.{key}");
            quota = self.or(&path, value, key.default_text(), |text| {
                parse_quota_field(&quota, key, text)
            })?;
        }
        Ok(quota)
    }

    fn walled_garden(&self, raw: RawWalledGarden) -> Parsed<WalledGarden> {
        let mut garden = WalledGarden::default();
        for (i, t) in raw.addresses.iter().enumerate() {
            let key = format!("walled_garden.addresses[{i}]");
            let net = garden_address(&t.0).map_err(|m| self.invalid(&key, m))?;
            garden.addresses.push(net);
        }
        for (i, t) in raw.domains.iter().enumerate() {
            let key = format!("walled_garden.domains[{i}]");
            let name = domain(&t.0).map_err(|m| self.invalid(&key, m))?;
            if !name.contains('.') {
                return Err(self.invalid(
                    &key,
                    format!("{:?} is a top-level domain alone: every site under it would be free (list the service, e.g. \"layanan.go.id\")", t.0),
                ));
            }
            garden.domains.push(name);
        }
        garden.ports = match raw.ports {
            None => vec![80, 443],
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    u16::try_from(n).ok().filter(|&p| p > 0).ok_or_else(|| {
                        self.invalid(
                            &format!("walled_garden.ports[{i}]"),
                            format!("{n} is not a TCP port (1-65535; try [80, 443])"),
                        )
                    })
                })
                .collect::<Parsed<Vec<_>>>()?,
        };
        Ok(garden)
    }

    fn quiz_section(&self, raw: RawQuiz) -> Parsed<Quiz> {
        let attempts_per_day = match raw.attempts_per_day {
            None => 1,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|&n| (1..=10).contains(&n))
                .ok_or_else(|| {
                    self.invalid(
                        "quiz.attempts_per_day",
                        format!("{n} is not between 1 and 10 (try 1)"),
                    )
                })?,
        };
        let bonus = self.or("quiz.bonus", raw.bonus, "100 MiB", |s| {
            let size = parse_size(s)?;
            if size.0 > 10 << 30 {
                return Err(format!("{s:?} is more than 10 GiB (try \"100 MiB\")"));
            }
            Ok(size)
        })?;
        Ok(Quiz {
            attempts_per_day,
            bonus,
        })
    }

    fn schedule(&self, raw: RawSchedule) -> Parsed<Schedule> {
        let open = self.optional("schedule.open", raw.open, |s| s.parse::<TimeOfDay>())?;
        let close = self.optional("schedule.close", raw.close, |s| s.parse::<TimeOfDay>())?;
        let hours = match (open, close) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(self.invalid(
                    "schedule.close",
                    "missing key (open and close go together; try \"22:00\")",
                ))
            }
            (None, Some(_)) => {
                return Err(self.invalid(
                    "schedule.open",
                    "missing key (open and close go together; try \"06:00\")",
                ))
            }
            (Some(o), Some(c)) => {
                Some(opening_hours(o, c).map_err(|m| self.invalid("schedule.close", m))?)
            }
        };
        Ok(Schedule {
            hours,
            garden_always_open: raw.garden_always_open.unwrap_or(true),
        })
    }

    fn uplink(&self, raw: RawUplink) -> Parsed<Uplink> {
        let targets = match raw.targets {
            None => DEFAULT_UPLINK_TARGETS
                .iter()
                .map(|t| t.parse().expect("default uplink target"))
                .collect(),
            Some(list) if list.is_empty() => {
                return Err(self.invalid(
                    "uplink.targets",
                    "must list at least one address (try [\"1.1.1.1:53\"])",
                ))
            }
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    uplink_target(&t.0)
                        .map_err(|m| self.invalid(&format!("uplink.targets[{i}]"), m))
                })
                .collect::<Parsed<Vec<_>>>()?,
        };
        let interval = self.or("uplink.interval", raw.interval, "10s", |s| {
            let d = parse_duration(s)?;
            if d < Duration::from_secs(1) || d > Duration::from_secs(3600) {
                return Err(format!(
                    "{s:?} is out of range (must be between 1s and 1h; try \"10s\")"
                ));
            }
            Ok(d)
        })?;
        let timeout = self.or("uplink.timeout", raw.timeout, "2s", |s| {
            let d = positive(s, parse_duration(s)?, Duration::ZERO, "try \"2s\"")?;
            if d > interval {
                return Err(format!(
                    "{s:?} is longer than uplink.interval ({}; try \"2s\")",
                    format_duration(interval)
                ));
            }
            Ok(d)
        })?;
        let fail_after = match raw.fail_after {
            None => 2,
            Some(n) => u32::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                self.invalid(
                    "uplink.fail_after",
                    format!("{n} is not a positive number of rounds (try 2)"),
                )
            })?,
        };
        Ok(Uplink {
            targets,
            interval,
            timeout,
            fail_after,
        })
    }
}

/// `open` to `close` as a window: the one rule the config file and
/// `PUT /api/schedule` share.
pub fn opening_hours(open: TimeOfDay, close: TimeOfDay) -> Result<OpeningHours, String> {
    OpeningHours::new(open, close).ok_or_else(|| {
        format!("\"{close}\" is the opening time too (leave out [schedule] to stay always open)")
    })
}

/// Checked when `[uplink] targets` is absent: public DNS servers answer TCP on port 53.
pub const DEFAULT_UPLINK_TARGETS: [&str; 2] = ["1.1.1.1:53", "8.8.8.8:53"];

/// One `[quota]` key: the config file's, the admin API's and the console's
/// name for one site default. Matched exhaustively wherever a key is
/// handled, so a new key cannot be forgotten by a silent fall-through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaKey {
    /// Data per device per local day.
    DailyData,
    /// How long one login lasts.
    SessionTime,
    /// A session ends early after this long without traffic.
    IdleTimeout,
    /// Per-device download cap.
    DownloadRate,
    /// Per-device upload cap.
    UploadRate,
    /// The fair-use speed once the daily data is used (0: cut off).
    AfterQuotaRate,
    /// How often byte counters are read.
    AccountingInterval,
}

/// What kind of value a quota key holds (its units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// Bytes ("500 MiB").
    Size,
    /// Bits per second ("2 Mbit/s").
    Rate,
    /// A duration ("4h").
    Duration,
}

/// A name that is not one of the `[quota]` keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key:?} is not a quota key (expected one of: {})", QuotaKey::names().join(", "))]
pub struct UnknownQuotaKey {
    /// The name given.
    pub key: String,
}

impl QuotaKey {
    /// Every key, in the config file's order.
    pub const ALL: [QuotaKey; 7] = [
        QuotaKey::DailyData,
        QuotaKey::SessionTime,
        QuotaKey::IdleTimeout,
        QuotaKey::DownloadRate,
        QuotaKey::UploadRate,
        QuotaKey::AfterQuotaRate,
        QuotaKey::AccountingInterval,
    ];

    /// The key's name in the file, the API and the console's form.
    pub const fn name(self) -> &'static str {
        match self {
            QuotaKey::DailyData => "daily_data",
            QuotaKey::SessionTime => "session_time",
            QuotaKey::IdleTimeout => "idle_timeout",
            QuotaKey::DownloadRate => "download_rate",
            QuotaKey::UploadRate => "upload_rate",
            QuotaKey::AfterQuotaRate => "after_quota_rate",
            QuotaKey::AccountingInterval => "accounting_interval",
        }
    }

    /// The value the key has when the file leaves it out.
    pub const fn default_text(self) -> &'static str {
        match self {
            QuotaKey::DailyData => "500 MiB",
            QuotaKey::SessionTime => "4h",
            QuotaKey::IdleTimeout => "30m",
            QuotaKey::DownloadRate => "2 Mbit/s",
            QuotaKey::UploadRate => "1 Mbit/s",
            QuotaKey::AfterQuotaRate => "256 kbit/s",
            QuotaKey::AccountingInterval => "5s",
        }
    }

    /// The key's units.
    pub const fn kind(self) -> QuotaKind {
        match self {
            QuotaKey::DailyData => QuotaKind::Size,
            QuotaKey::SessionTime | QuotaKey::IdleTimeout | QuotaKey::AccountingInterval => {
                QuotaKind::Duration
            }
            QuotaKey::DownloadRate | QuotaKey::UploadRate | QuotaKey::AfterQuotaRate => {
                QuotaKind::Rate
            }
        }
    }

    /// Every key's name, in file order.
    pub fn names() -> Vec<&'static str> {
        QuotaKey::ALL.iter().map(|k| k.name()).collect()
    }
}

impl std::str::FromStr for QuotaKey {
    type Err = UnknownQuotaKey;

    fn from_str(s: &str) -> Result<QuotaKey, UnknownQuotaKey> {
        QuotaKey::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownQuotaKey { key: s.to_owned() })
    }
}

impl fmt::Display for QuotaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `base` with one `[quota]` key set from its text, validated exactly as the
/// config file's value is (`Config::parse` goes through here too), so the
/// admin API (`PUT /api/quota`) accepts what the file accepts and nothing else.
/// The error is the message without the key (`"lots" is not a size (try "500 MiB")`).
pub fn parse_quota_field(base: &Quota, key: QuotaKey, text: &str) -> Result<Quota, String> {
    let duration = |example: &str| {
        positive(
            text,
            parse_duration(text)?,
            Duration::ZERO,
            &format!("try {example:?}"),
        )
    };
    let mut quota = base.clone();
    match key {
        QuotaKey::DailyData => {
            quota.daily_data = positive(
                text,
                parse_size(text)?,
                Size(0),
                "try \"500 MiB\"; to slow everyone always, set download_rate instead",
            )?
        }
        QuotaKey::SessionTime => quota.session_time = duration("4h")?,
        QuotaKey::IdleTimeout => quota.idle_timeout = duration("30m")?,
        QuotaKey::DownloadRate => quota.download_rate = positive_rate(text)?,
        QuotaKey::UploadRate => quota.upload_rate = positive_rate(text)?,
        QuotaKey::AfterQuotaRate => quota.after_quota_rate = parse_rate(text)?,
        QuotaKey::AccountingInterval => {
            let d = parse_duration(text)?;
            if d < Duration::from_secs(1) || d > Duration::from_secs(300) {
                return Err(format!(
                    "{text:?} is out of range (must be between 1s and 5m; try \"5s\")"
                ));
            }
            quota.accounting_interval = d;
        }
    }
    Ok(quota)
}

/// An IP address and port to connect to (no names: DNS may be what is down).
fn uplink_target(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address with a port (try \"1.1.1.1:53\")"))?;
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Err(format!("{s:?} cannot be connected to (try \"1.1.1.1:53\")"));
    }
    Ok(addr)
}

/// `value` unless it is `zero`; the error names the text and gives a hint.
fn positive<T: PartialEq>(s: &str, value: T, zero: T, hint: &str) -> Result<T, String> {
    if value == zero {
        return Err(format!("{s:?} must be more than zero ({hint})"));
    }
    Ok(value)
}

fn positive_rate(s: &str) -> Result<Rate, String> {
    positive(s, parse_rate(s)?, Rate(0), "try \"2 Mbit/s\"")
}

fn path_value(s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err("must not be empty (try \"/var/lib/desawifi\")".to_owned());
    }
    Ok(PathBuf::from(s))
}

fn listen(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an address with a port (try \"10.77.0.1:2050\")"))?;
    if addr.port() == 0 {
        return Err(format!(
            "{s:?} has port 0; pick a fixed port (try \"{}:2050\")",
            addr.ip()
        ));
    }
    Ok(addr)
}

/// A Linux interface name: what `ip link` accepts (IFNAMSIZ is 16 with the NUL).
fn interface(s: &str) -> Result<String, String> {
    let ok = (1..=15).contains(&s.len())
        && s != "."
        && s != ".."
        && !s
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if !ok {
        return Err(format!(
            "{s:?} is not an interface name (1 to 15 characters, no '/', ':' or spaces; try \"br-lan\")"
        ));
    }
    Ok(s.to_owned())
}

/// One `walled_garden.addresses` entry: a CIDR block or a single address,
/// never the whole internet. Public so a regency policy's garden additions
/// (`crate::policy::document`) are checked exactly as the file's are.
pub fn garden_address(s: &str) -> Result<ipnet::IpNet, String> {
    let net = network_address(s)?;
    if net.prefix_len() == 0 {
        return Err(format!(
            "{s:?} is the whole internet (list the services' own blocks, e.g. \"203.0.113.0/24\")"
        ));
    }
    Ok(net)
}

/// A CIDR block or a single address (which becomes a /32 or /128).
fn network_address(s: &str) -> Result<ipnet::IpNet, String> {
    let t = s.trim();
    let net = match t.parse::<ipnet::IpNet>() {
        Ok(net) => net,
        Err(_) => t
            .parse::<std::net::IpAddr>()
            .map(ipnet::IpNet::from)
            .map_err(|_| {
                format!("{s:?} is not an address or CIDR block (try \"203.0.113.0/24\")")
            })?,
    };
    if net.trunc() != net {
        return Err(format!(
            "{s:?} has host bits set (did you mean \"{}\"?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A DNS name, lower-cased: letters, digits and '-' in dot-separated labels.
fn domain(s: &str) -> Result<String, String> {
    let name = s.trim().to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!(
            "{s:?} is not a domain name (letters, digits, '-' and '.', no leading or trailing dot; try \"go.id\")"
        ));
    }
    Ok(name)
}

// ---------------------------------------------------------------------------------------
// Sizes, rates and durations as people write them.

const SIZE_UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
];

/// Parses "500 MiB", "1.5GiB", "1 GB" (1000-based) or "0". A plain non-zero number is
/// refused: "500" is more likely a forgotten "MiB" than 500 bytes.
pub fn parse_size(s: &str) -> Result<Size, String> {
    let bad = || format!("{s:?} is not a size (try \"500 MiB\")");
    let (number, unit) = split_number(s).ok_or_else(bad)?;
    let scale = if unit.is_empty() {
        1
    } else {
        let unit = unit.to_ascii_lowercase();
        SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or_else(bad)?
            .1
    };
    let bytes = scaled(number, scale).ok_or_else(bad)?;
    if unit.is_empty() && number.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err(format!("{s:?} needs a unit (try \"{number} MiB\")"));
    }
    u64::try_from(bytes)
        .map(Size)
        .map_err(|_| format!("{s:?} is too large for a size"))
}

/// Parses "2 Mbit/s", "256 kbit/s", "2Mbps" (decimal prefixes) or "0". The "bit" part
/// stays lower-case so that "MB/s" (bytes) is refused rather than misread.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let bad = || format!("{s:?} is not a rate (try \"2 Mbit/s\")");
    let (number, unit) = split_number(s).ok_or_else(bad)?;
    let scale = if unit.is_empty() {
        1
    } else {
        let prefix = unit
            .strip_suffix("bit/s")
            .or_else(|| unit.strip_suffix("bps"))
            .ok_or_else(bad)?;
        match prefix {
            "" => 1,
            "k" | "K" => 1_000,
            "m" | "M" => 1_000_000,
            "g" | "G" => 1_000_000_000,
            _ => return Err(bad()),
        }
    };
    let bits = scaled(number, scale).ok_or_else(bad)?;
    if unit.is_empty() && number.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err(format!("{s:?} needs a unit (try \"{number} Mbit/s\")"));
    }
    u64::try_from(bits)
        .map(Rate)
        .map_err(|_| format!("{s:?} is too large for a rate"))
}

/// Splits "1.5 GiB" into ("1.5", "GiB"); `None` if there is no leading number.
fn split_number(s: &str) -> Option<(&str, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(end);
    (!number.is_empty()).then_some((number, unit.trim()))
}

/// `number` (decimal, optional fraction) times `scale`, rounded to the nearest unit.
fn scaled(number: &str, scale: u64) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || (number.contains('.') && fraction.is_empty()) || fraction.len() > 18 {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let denominator = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let part = (fraction * scale as u128 + denominator / 2) / denominator;
    whole.checked_mul(scale as u128)?.checked_add(part)
}

/// Duration units, largest first, in milliseconds.
const DURATION_UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses "30m", "4h", "1h30m", "90s", "1d" (largest unit first, each at most once) or "0".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (try \"30m\", \"4h\" or \"1h30m\")");
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut millis: u64 = 0;
    let mut smallest_so_far = usize::MAX; // index into DURATION_UNITS of the last unit seen
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let tail = tail.trim_start();
        let letters = tail
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(letters);
        let index = DURATION_UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(bad)?;
        if number.is_empty() || (smallest_so_far != usize::MAX && index <= smallest_so_far) {
            return Err(bad());
        }
        smallest_so_far = index;
        let n: u64 = number.parse().map_err(|_| format!("{s:?} is too long"))?;
        millis = n
            .checked_mul(DURATION_UNITS[index].1)
            .and_then(|m| millis.checked_add(m))
            .ok_or_else(|| format!("{s:?} is too long"))?;
        rest = tail.trim_start();
    }
    Ok(Duration::from_millis(millis))
}

/// The inverse of [`parse_duration`]: "4h", "1h30m", "5s", "0s". Sub-millisecond parts
/// are dropped.
pub fn format_duration(d: Duration) -> String {
    let mut millis = d.as_millis();
    let mut out = String::new();
    for (name, unit) in DURATION_UNITS {
        let n = millis / unit as u128;
        if n > 0 {
            out.push_str(&format!("{n}{name}"));
            millis %= unit as u128;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../config/desawifi.toml");

    /// The smallest valid file: only the required keys.
    const MINIMAL: &str = r#"
[site]
name = "Desa Kepala Telake"
[network]
lan_interface = "br-lan"
wan_interface = "wan0"
portal_address = "10.77.0.1"
[portal]
listen = "10.77.0.1:2050"
[store]
path = "/var/lib/desawifi"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("x.toml"))
    }

    /// The error message for `MINIMAL` with `key = value` set in `[section]` (replacing
    /// the key if MINIMAL has it there, adding the section if MINIMAL lacks it).
    fn error_with(section: &str, key: &str, value: &str) -> String {
        let header = format!("[{section}]");
        let mut current = "";
        let mut text = String::new();
        for line in MINIMAL.lines() {
            if line.starts_with('[') {
                current = line;
            }
            if current == header && line.starts_with(&format!("{key} =")) {
                continue;
            }
            text.push_str(line);
            text.push('\n');
            if line == header {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        if !MINIMAL.contains(&header) {
            text.push_str(&format!("{header}\n{key} = {value}\n"));
        }
        match parse(&text) {
            Ok(_) => panic!("{section}.{key} = {value} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_error(section: &str, key: &str, value: &str, expected: &str) {
        let message = error_with(section, key, value);
        let want = format!("x.toml: {section}.{key}: {expected}");
        assert_eq!(message, want);
    }

    #[test]
    fn schedule_keys_are_checked_one_by_one() {
        assert!(parse(MINIMAL).unwrap().schedule.hours.is_none());
        assert!(parse(MINIMAL).unwrap().schedule.garden_always_open);
        assert_error(
            "schedule",
            "open",
            "\"25:00\"",
            "\"25:00\" is not a time of day (try \"06:00\")",
        );
        assert_error(
            "schedule",
            "close",
            "\"late\"",
            "\"late\" is not a time of day (try \"06:00\")",
        );
        // Both or neither: the error names the one missing.
        assert_eq!(
            error_with("schedule", "open", "\"06:00\""),
            "x.toml: schedule.close: missing key (open and close go together; try \"22:00\")"
        );
        assert_eq!(
            error_with("schedule", "close", "\"22:00\""),
            "x.toml: schedule.open: missing key (open and close go together; try \"06:00\")"
        );
        let text = format!("{MINIMAL}[schedule]\nopen = \"22:00\"\nclose = \"22:00\"\n");
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "x.toml: schedule.close: \"22:00\" is the opening time too (leave out [schedule] to stay always open)"
        );
        let text = format!(
            "{MINIMAL}[schedule]\nopen = \"18:00\"\nclose = \"02:00\"\ngarden_always_open = false\n"
        );
        let s = parse(&text).unwrap().schedule;
        assert_eq!(s.hours.unwrap().open.to_string(), "18:00");
        assert_eq!(s.hours.unwrap().close.to_string(), "02:00");
        assert!(!s.garden_always_open);
        let text = format!("{MINIMAL}[schedule]\ngarden_always_open = \"yes\"\n");
        assert!(parse(&text)
            .unwrap_err()
            .to_string()
            .contains("schedule.garden_always_open"));
    }

    #[test]
    fn trusted_macs_are_unicast_macs() {
        assert!(parse(MINIMAL).unwrap().network.trusted_macs.is_empty());
        assert_eq!(
            error_with("network", "trusted_macs", "[\"02:77:00:00:00:01\", \"kantor\"]"),
            "x.toml: network.trusted_macs[1]: \"kantor\" is not a device's MAC address (try \"02:ab:cd:00:11:22\")"
        );
        assert_eq!(
            error_with("network", "trusted_macs", "[\"ff:ff:ff:ff:ff:ff\"]"),
            "x.toml: network.trusted_macs[0]: \"ff:ff:ff:ff:ff:ff\" is not a device's MAC address (try \"02:ab:cd:00:11:22\")",
            "broadcast is no device"
        );
        let text = MINIMAL.replace(
            "portal_address = \"10.77.0.1\"\n",
            "portal_address = \"10.77.0.1\"\ntrusted_macs = [\"02:77:00:00:00:09\", \"02:77:00:00:00:01\", \"02:77:00:00:00:09\"]\n",
        );
        let macs: Vec<String> = parse(&text)
            .unwrap()
            .network
            .trusted_macs
            .iter()
            .map(|m| m.to_string())
            .collect();
        assert_eq!(macs, ["02:77:00:00:00:01", "02:77:00:00:00:09"]);
    }

    #[test]
    fn quiz_keys_are_bounded() {
        let q = parse(MINIMAL).unwrap().quiz;
        assert_eq!((q.attempts_per_day, q.bonus.0), (1, 100 << 20));
        assert_error(
            "quiz",
            "attempts_per_day",
            "0",
            "0 is not between 1 and 10 (try 1)",
        );
        assert_error(
            "quiz",
            "attempts_per_day",
            "11",
            "11 is not between 1 and 10 (try 1)",
        );
        assert_error(
            "quiz",
            "bonus",
            "\"20 GiB\"",
            "\"20 GiB\" is more than 10 GiB (try \"100 MiB\")",
        );
        assert!(error_with("quiz", "bonus", "\"lots\"").starts_with("x.toml: quiz.bonus: "));
    }

    #[test]
    fn max_online_is_a_slot_count() {
        assert_error(
            "network",
            "max_online",
            "0",
            "0 is not between 1 and 16128 (try 1024)",
        );
        assert_error(
            "network",
            "max_online",
            "40000",
            "40000 is not between 1 and 16128 (try 1024)",
        );
        assert_eq!(parse(MINIMAL).unwrap().network.max_online, 1024);
    }

    #[test]
    fn example_file_parses() {
        let c = Config::parse(EXAMPLE, Path::new("config/desawifi.toml")).unwrap();
        assert_eq!(c.path, Path::new("config/desawifi.toml"));
        assert_eq!(c.site.name, "Desa Kepala Telake");
        assert_eq!(c.site.regency, "Paser");
        assert_eq!(c.site.timezone_name, "Asia/Makassar");
        assert_eq!(c.site.language, Language::Id);
        assert_eq!(c.network.lan_interface, "br-lan");
        assert_eq!(c.network.wan_interface, "wan0");
        assert_eq!(c.network.portal_address, Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(c.network.uplink_download, None);
        assert_eq!(c.portal.listen, "10.77.0.1:2050".parse().unwrap());
        assert_eq!(c.portal.ui_dir, None);
        assert_eq!(c.portal.max_connections, 512);
        assert_eq!(c.portal.max_connections_per_client, 32);
        assert_eq!(c.portal.header_timeout, Duration::from_secs(10));
        assert_eq!(c.portal.max_body, Size(16 * 1024));
        assert_eq!(c.admin.listen, "192.0.2.1:8443".parse().unwrap());
        assert_eq!(c.store.path, Path::new("/var/lib/desawifi"));
        assert_eq!(c.quota.daily_data, Size(500 << 20));
        assert_eq!(c.quota.session_time, Duration::from_secs(4 * 3600));
        assert_eq!(c.quota.idle_timeout, Duration::from_secs(30 * 60));
        assert_eq!(c.quota.download_rate, Rate(2_000_000));
        assert_eq!(c.quota.upload_rate, Rate(1_000_000));
        assert_eq!(c.quota.after_quota_rate, Rate(256_000));
        assert_eq!(c.quota.accounting_interval, Duration::from_secs(5));
        assert_eq!(
            c.walled_garden.addresses,
            vec!["203.0.113.0/24".parse::<ipnet::IpNet>().unwrap()]
        );
        assert_eq!(c.walled_garden.domains, vec!["go.id".to_owned()]);
        let targets: Vec<SocketAddr> = DEFAULT_UPLINK_TARGETS
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(
            c.uplink.targets, targets,
            "the example documents the default targets"
        );
        assert_eq!(
            (c.uplink.interval, c.uplink.timeout, c.uplink.fail_after),
            (Duration::from_secs(10), Duration::from_secs(2), 2)
        );
    }

    #[test]
    fn indonesias_zones_are_built_in_and_agree_with_the_system_database() {
        for (name, tzif) in BUILT_IN_ZONES {
            let built_in = jiff::tz::TimeZone::tzif(name, tzif).unwrap();
            let system = jiff::tz::TimeZone::get(name).expect("the test machine has tzdata");
            for unix in [0i64, 600_000_000, 1_000_000_000, 1_800_000_000] {
                let at = jiff::Timestamp::from_second(unix).unwrap();
                assert_eq!(
                    built_in.to_offset(at),
                    system.to_offset(at),
                    "{name} at {unix}"
                );
            }
        }
        assert!(time_zone("Asia/Makassar").is_some());
        assert!(time_zone("Mars/Olympus_Mons").is_none());
    }

    #[test]
    fn example_file_documents_every_key() {
        // Every key of the raw structs appears in the example, set or commented out.
        for key in [
            "name",
            "regency",
            "timezone",
            "language",
            "lan_interface",
            "wan_interface",
            "portal_address",
            "uplink_download",
            "uplink_upload",
            "listen",
            "ui_dir",
            "max_connections",
            "max_connections_per_client",
            "header_timeout",
            "max_body",
            "path",
            "daily_data",
            "session_time",
            "idle_timeout",
            "download_rate",
            "upload_rate",
            "after_quota_rate",
            "accounting_interval",
            "addresses",
            "domains",
            "targets",
            "interval",
            "timeout",
            "fail_after",
        ] {
            let line = EXAMPLE
                .lines()
                .find(|l| l.trim_start_matches("# ").starts_with(&format!("{key} =")));
            let line = line.unwrap_or_else(|| panic!("{key} is not in the example"));
            assert!(line.contains("  # "), "{key} has no comment: {line}");
        }
    }

    #[test]
    fn defaults_fill_in_optional_keys_and_sections() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.site.regency, "");
        assert_eq!(c.site.timezone_name, "Asia/Makassar");
        assert_eq!(c.site.language, Language::Id);
        assert_eq!(c.admin.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(c.portal.max_connections, 512);
        assert_eq!(c.portal.max_connections_per_client, 32);
        assert_eq!(c.portal.header_timeout, Duration::from_secs(10));
        assert_eq!(c.portal.max_body, Size(16384));
        let example = Config::parse(EXAMPLE, Path::new("e.toml")).unwrap();
        assert_eq!(format!("{:?}", c.quota), format!("{:?}", example.quota));
        assert!(c.walled_garden.addresses.is_empty() && c.walled_garden.domains.is_empty());
    }

    #[test]
    fn optional_values_when_set() {
        let text = MINIMAL
            .replace("[network]\n", "[network]\nuplink_download = \"50 Mbit/s\"\nuplink_upload = \"10Mbps\"\n")
            .replace("[portal]\n", "[portal]\nui_dir = \"/etc/desawifi/portal-ui\"\nmax_connections = 64\nmax_connections_per_client = 8\n")
            .replace("[site]\n", "[site]\nlanguage = \"en\"\ntimezone = \"asia/jakarta\"\n");
        let c = parse(&text).unwrap();
        assert_eq!(c.network.uplink_download, Some(Rate(50_000_000)));
        assert_eq!(c.network.uplink_upload, Some(Rate(10_000_000)));
        assert_eq!(
            c.portal.ui_dir.as_deref(),
            Some(Path::new("/etc/desawifi/portal-ui"))
        );
        assert_eq!(c.portal.max_connections, 64);
        assert_eq!(c.portal.max_connections_per_client, 8);
        assert_eq!(c.site.language, Language::En);
        assert_eq!(c.site.timezone_name, "Asia/Jakarta");
        let tz_offset = c.site.timezone.to_offset(jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(tz_offset, jiff::tz::offset(7));
    }

    #[test]
    fn zero_after_quota_rate_means_cut_off() {
        let text = format!("{MINIMAL}[quota]\nafter_quota_rate = \"0\"\n");
        assert_eq!(parse(&text).unwrap().quota.after_quota_rate, Rate(0));
        let text = format!("{MINIMAL}[quota]\nafter_quota_rate = 0\n");
        assert_eq!(parse(&text).unwrap().quota.after_quota_rate, Rate(0));
    }

    #[test]
    fn listen_on_all_addresses_is_allowed() {
        let c = parse(&MINIMAL.replace("10.77.0.1:2050", "0.0.0.0:80")).unwrap();
        assert_eq!(c.portal.listen, "0.0.0.0:80".parse().unwrap());
    }

    #[test]
    fn walled_garden_normalises() {
        let text = format!(
            "{MINIMAL}[walled_garden]\naddresses = [\"198.51.100.7\", \"2001:db8::1\", \"2001:db8:1::/48\"]\n\
             domains = [\"Kemkes.GO.id\", \"a-b.example\"]\n"
        );
        let c = parse(&text).unwrap();
        let nets: Vec<String> = c
            .walled_garden
            .addresses
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            nets,
            ["198.51.100.7/32", "2001:db8::1/128", "2001:db8:1::/48"]
        );
        assert_eq!(c.walled_garden.domains, ["kemkes.go.id", "a-b.example"]);
    }

    // --- one error per key -------------------------------------------------------------

    #[test]
    fn site_errors() {
        assert_error(
            "site",
            "name",
            "\"  \"",
            "must not be empty (the village's name, shown on the splash page)",
        );
        assert_error(
            "site",
            "timezone",
            "\"Asia/Makasar\"",
            "\"Asia/Makasar\" is not a known time zone (try \"Asia/Makassar\", \"Asia/Jakarta\" or \"Asia/Jayapura\")",
        );
        assert_error(
            "site",
            "language",
            "\"fr\"",
            "\"fr\" is not a language (expected \"id\" or \"en\")",
        );
        assert_error(
            "site",
            "regency",
            "true",
            "invalid type: boolean `true`, expected a string",
        );
    }

    #[test]
    fn network_errors() {
        let bad_interface = |v: &str| {
            format!("{v:?} is not an interface name (1 to 15 characters, no '/', ':' or spaces; try \"br-lan\")")
        };
        assert_error("network", "lan_interface", "\"\"", &bad_interface(""));
        assert_error(
            "network",
            "lan_interface",
            "\"br lan\"",
            &bad_interface("br lan"),
        );
        assert_error(
            "network",
            "lan_interface",
            "\"eth0:1\"",
            &bad_interface("eth0:1"),
        );
        assert_error("network", "wan_interface", "\"a/b\"", &bad_interface("a/b"));
        assert_error(
            "network",
            "wan_interface",
            "\"abcdefghijklmnop\"",
            &bad_interface("abcdefghijklmnop"),
        );
        assert!(
            parse(&MINIMAL.replace("\"br-lan\"", "\"abcdefghijklmno\"")).is_ok(),
            "15 characters fit"
        );
        assert_error(
            "network",
            "wan_interface",
            "\"br-lan\"",
            "\"br-lan\" is also network.lan_interface (the LAN and WAN must be different interfaces)",
        );
        assert_error(
            "network",
            "portal_address",
            "\"10.77.0\"",
            "\"10.77.0\" is not an IPv4 address (try \"10.77.0.1\")",
        );
        assert_error(
            "network",
            "portal_address",
            "\"fd00::1\"",
            "\"fd00::1\" is not an IPv4 address (try \"10.77.0.1\")",
        );
        assert_error(
            "network",
            "portal_address",
            "\"0.0.0.0\"",
            "\"0.0.0.0\" cannot be the router's LAN address (try \"10.77.0.1\")",
        );
        assert_error(
            "network",
            "uplink_download",
            "\"fast\"",
            "\"fast\" is not a rate (try \"2 Mbit/s\")",
        );
        assert_error(
            "network",
            "uplink_upload",
            "\"0\"",
            "\"0\" must be more than zero (try \"2 Mbit/s\")",
        );
    }

    #[test]
    fn portal_errors() {
        assert_error(
            "portal",
            "listen",
            "\"10.77.0.1\"",
            "\"10.77.0.1\" is not an address with a port (try \"10.77.0.1:2050\")",
        );
        assert_error(
            "portal",
            "listen",
            "\"10.77.0.1:0\"",
            "\"10.77.0.1:0\" has port 0; pick a fixed port (try \"10.77.0.1:2050\")",
        );
        assert_error(
            "portal",
            "listen",
            "\"10.77.0.2:2050\"",
            "\"10.77.0.2:2050\" listens on 10.77.0.2, but network.portal_address is 10.77.0.1 \
             (use \"10.77.0.1:2050\" or \"0.0.0.0:2050\")",
        );
        assert_error(
            "portal",
            "ui_dir",
            "\"\"",
            "must not be empty (try \"/var/lib/desawifi\")",
        );
        assert_error(
            "portal",
            "max_connections",
            "0",
            "0 is not a positive number (try 512)",
        );
        assert_error(
            "portal",
            "max_connections",
            "-3",
            "-3 is not a positive number (try 512)",
        );
        assert_error(
            "portal",
            "max_connections",
            "\"512\"",
            "invalid type: string \"512\", expected i64",
        );
        assert_error(
            "portal",
            "max_connections_per_client",
            "0",
            "0 is not a positive number (try 32)",
        );
        assert_error(
            "portal",
            "max_connections_per_client",
            "-1",
            "-1 is not a positive number (try 32)",
        );
        assert_error(
            "portal",
            "header_timeout",
            "\"0s\"",
            "\"0s\" must be more than zero (try \"10s\")",
        );
        assert_error(
            "portal",
            "header_timeout",
            "\"ten\"",
            "\"ten\" is not a duration (try \"30m\", \"4h\" or \"1h30m\")",
        );
        assert_error(
            "portal",
            "max_body",
            "\"0 KiB\"",
            "\"0 KiB\" must be more than zero (try \"16 KiB\")",
        );
        assert_error(
            "portal",
            "max_body",
            "\"big\"",
            "\"big\" is not a size (try \"500 MiB\")",
        );
    }

    #[test]
    fn admin_and_store_errors() {
        assert_error(
            "admin",
            "listen",
            "\"localhost:8443\"",
            "\"localhost:8443\" is not an address with a port (try \"10.77.0.1:2050\")",
        );
        assert_error(
            "admin",
            "listen",
            "\"127.0.0.1:0\"",
            "\"127.0.0.1:0\" has port 0; pick a fixed port (try \"127.0.0.1:2050\")",
        );
        assert_error(
            "store",
            "path",
            "\"\"",
            "must not be empty (try \"/var/lib/desawifi\")",
        );
    }

    #[test]
    fn quota_errors() {
        assert_error(
            "quota",
            "daily_data",
            "\"lots\"",
            "\"lots\" is not a size (try \"500 MiB\")",
        );
        assert_error(
            "quota",
            "daily_data",
            "0",
            "\"0\" must be more than zero (try \"500 MiB\"; to slow everyone always, set download_rate instead)",
        );
        assert_error(
            "quota",
            "daily_data",
            "500",
            "\"500\" needs a unit (try \"500 MiB\")",
        );
        assert_error(
            "quota",
            "daily_data",
            "1.5",
            "invalid type: floating point `1.5`, expected a string",
        );
        assert_error(
            "quota",
            "session_time",
            "\"4 hours\"",
            "\"4 hours\" is not a duration (try \"30m\", \"4h\" or \"1h30m\")",
        );
        assert_error(
            "quota",
            "session_time",
            "\"0\"",
            "\"0\" must be more than zero (try \"4h\")",
        );
        assert_error(
            "quota",
            "idle_timeout",
            "\"0m\"",
            "\"0m\" must be more than zero (try \"30m\")",
        );
        assert_error(
            "quota",
            "download_rate",
            "\"fast\"",
            "\"fast\" is not a rate (try \"2 Mbit/s\")",
        );
        assert_error(
            "quota",
            "download_rate",
            "\"0 Mbit/s\"",
            "\"0 Mbit/s\" must be more than zero (try \"2 Mbit/s\")",
        );
        assert_error(
            "quota",
            "upload_rate",
            "\"0\"",
            "\"0\" must be more than zero (try \"2 Mbit/s\")",
        );
        assert_error(
            "quota",
            "after_quota_rate",
            "\"1 MB/s\"",
            "\"1 MB/s\" is not a rate (try \"2 Mbit/s\")",
        );
        let out_of_range =
            |v: &str| format!("{v:?} is out of range (must be between 1s and 5m; try \"5s\")");
        assert_error("quota", "accounting_interval", "\"0\"", &out_of_range("0"));
        assert_error(
            "quota",
            "accounting_interval",
            "\"500ms\"",
            &out_of_range("500ms"),
        );
        assert_error(
            "quota",
            "accounting_interval",
            "\"5m1s\"",
            &out_of_range("5m1s"),
        );
        assert!(parse(&format!("{MINIMAL}[quota]\naccounting_interval = \"5m\"\n")).is_ok());
        assert!(parse(&format!("{MINIMAL}[quota]\naccounting_interval = \"1s\"\n")).is_ok());
    }

    #[test]
    fn one_quota_key_parses_like_the_file() {
        let base = parse(MINIMAL).unwrap().quota;
        let q = parse_quota_field(&base, QuotaKey::DailyData, "1 GiB").unwrap();
        assert_eq!(
            q,
            Quota {
                daily_data: Size(1 << 30),
                ..base.clone()
            }
        );
        for (key, value) in [
            ("daily_data", "lots"),
            ("daily_data", "0"),
            ("idle_timeout", "0"),
            ("accounting_interval", "10m"),
            ("upload_rate", "1 MB/s"),
        ] {
            let from_file = parse(&format!("{MINIMAL}[quota]\n{key} = \"{value}\"\n"))
                .unwrap_err()
                .to_string();
            let alone = parse_quota_field(&base, key.parse().unwrap(), value).unwrap_err();
            assert_eq!(from_file, format!("x.toml: quota.{key}: {alone}"));
        }
        let unknown = "daly_data".parse::<QuotaKey>().unwrap_err();
        assert_eq!(unknown.key, "daly_data");
        assert!(unknown
            .to_string()
            .starts_with("\"daly_data\" is not a quota key (expected one of: daily_data, "));
        for key in QuotaKey::ALL {
            assert_eq!(key.name().parse::<QuotaKey>(), Ok(key));
        }
    }

    #[test]
    fn walled_garden_errors() {
        let e = error_with(
            "walled_garden",
            "addresses",
            "[\"203.0.113.0/24\", \"203.0.113.0/33\"]",
        );
        assert_eq!(
            e,
            "x.toml: walled_garden.addresses[1]: \"203.0.113.0/33\" is not an address or CIDR block (try \"203.0.113.0/24\")"
        );
        let e = error_with("walled_garden", "addresses", "[\"203.0.113.5/24\"]");
        assert_eq!(e, "x.toml: walled_garden.addresses[0]: \"203.0.113.5/24\" has host bits set (did you mean \"203.0.113.0/24\"?)");
        let e = error_with("walled_garden", "addresses", "[\"1.2.3.4\", true]");
        assert_eq!(
            e,
            "x.toml: walled_garden.addresses[1]: invalid type: boolean `true`, expected a string"
        );
        let e = error_with("walled_garden", "addresses", "\"1.2.3.4\"");
        assert_eq!(e, "x.toml: walled_garden.addresses: invalid type: string \"1.2.3.4\", expected a sequence");
        let long = format!("{}.id", vec!["a".repeat(63); 4].join("."));
        let too_long_label = format!("{}.id", "a".repeat(64));
        for bad in [
            ".go.id",
            "go.id.",
            "go..id",
            "*.go.id",
            "go_id",
            "-go.id",
            "",
            &long,
            &too_long_label,
        ] {
            let e = error_with("walled_garden", "domains", &format!("[\"ok.id\", {bad:?}]"));
            let want = format!(
                "x.toml: walled_garden.domains[1]: {bad:?} is not a domain name \
                 (letters, digits, '-' and '.', no leading or trailing dot; try \"go.id\")"
            );
            assert_eq!(e, want);
        }
    }

    #[test]
    fn unknown_keys() {
        let e = error_with("quota", "daly_data", "\"500 MiB\"");
        assert_eq!(
            e,
            "x.toml: quota.daly_data: unknown key (expected one of: daily_data, session_time, idle_timeout, \
             download_rate, upload_rate, after_quota_rate, accounting_interval)"
        );
        let e = error_with("site", "nama", "\"x\"");
        assert_eq!(
            e,
            "x.toml: site.nama: unknown key (expected one of: name, regency, timezone, language)"
        );
        let e = parse(&format!("{MINIMAL}[quotas]\ndaily_data = \"1 GiB\"\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "x.toml: quotas: unknown key (expected one of: site, network, portal, admin, store, quota, walled_garden, uplink, usage, schedule, quiz, fleet)"
        );
        let e = parse(&format!("verbose = true\n{MINIMAL}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.toml: verbose: unknown key (expected one of: site, "),
            "{e}"
        );
        let e = parse(&format!("{MINIMAL}[walled_garden]\ndomain = []\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "x.toml: walled_garden.domain: unknown key (expected one of: addresses, domains, ports)"
        );
        let e = parse(&format!(
            "{MINIMAL}[admin]\nlisten = \"127.0.0.1:1\"\n[admin.extra]\nx = 1\n"
        ))
        .unwrap_err();
        assert_eq!(e.to_string(), "x.toml: admin.extra: unknown key (expected one of: listen, tls_cert, tls_key, metrics_token, metrics_token_file, session_time, ui_dir)");
    }

    #[test]
    fn section_of_the_wrong_type() {
        let e = parse(&format!("quota = \"lots\"\n{MINIMAL}"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "x.toml: quota: invalid type: string \"lots\", expected a [quota] table"
        );
    }

    #[test]
    fn missing_keys() {
        for (section, key) in [
            ("site", "name"),
            ("network", "lan_interface"),
            ("network", "wan_interface"),
            ("network", "portal_address"),
            ("portal", "listen"),
            ("store", "path"),
        ] {
            let text: String = MINIMAL
                .lines()
                .filter(|l| !l.starts_with(&format!("{key} =")))
                .collect::<Vec<_>>()
                .join("\n");
            // `listen` and `path` only occur once in MINIMAL, so this removes exactly one key.
            let e = parse(&text).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("x.toml: {section}.{key}: missing key")
            );
            assert!(
                matches!(e, ConfigError::Invalid { key: ref k, .. } if *k == format!("{section}.{key}"))
            );
        }
        let e = parse("").unwrap_err().to_string();
        assert_eq!(e, "x.toml: site.name: missing key");
        let no_store = MINIMAL.replace("[store]\npath = \"/var/lib/desawifi\"\n", "");
        assert_eq!(
            parse(&no_store).unwrap_err().to_string(),
            "x.toml: store.path: missing key"
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let text = "[site]\nname = \"Desa\"\nregency = Paser\n";
        match parse(text).unwrap_err() {
            ConfigError::Syntax {
                path,
                line,
                column,
                message,
            } => {
                assert_eq!(path, Path::new("x.toml"));
                assert_eq!((line, column), (3, 11));
                assert!(!message.is_empty());
            }
            other => panic!("not a syntax error: {other:?}"),
        }
        let e = parse("[site\n").unwrap_err().to_string();
        assert!(e.starts_with("x.toml:1:"), "{e}");
        assert!(e.contains("invalid TOML"), "{e}");
        let e = parse("[site]\nname = \"a\"\nname = \"b\"\n").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 3, .. }), "{e:?}");
    }

    #[test]
    fn load_reads_the_file_and_reports_missing_files() {
        let dir = std::env::temp_dir().join(format!("desawifi-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("desawifi.toml");
        std::fs::write(&file, EXAMPLE).unwrap();
        assert_eq!(Config::load(&file).unwrap().path, file);
        let missing = dir.join("nope.toml");
        let e = Config::load(&missing).unwrap_err();
        assert_eq!(e.to_string(), format!("cannot read {}", missing.display()));
        assert!(
            matches!(e, ConfigError::Read { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // --- units -------------------------------------------------------------------------

    #[test]
    fn sizes_parse() {
        for (text, bytes) in [
            ("0", 0),
            ("0 B", 0),
            ("500 MiB", 500 << 20),
            ("500MiB", 500 << 20),
            ("  500   mib ", 500 << 20),
            ("1.5 GiB", 3 << 29),
            ("16 KiB", 16384),
            ("1 GB", 1_000_000_000),
            ("1 kB", 1000),
            ("2 TiB", 2 << 40),
            ("10 B", 10),
            ("0.5 KiB", 512),
            ("16777215 TiB", 16777215 << 40),
        ] {
            assert_eq!(parse_size(text), Ok(Size(bytes)), "{text}");
        }
        for bad in [
            "lots",
            "",
            "-5 MiB",
            "+5 MiB",
            "5 MiBs",
            ".5 MiB",
            "5. MiB",
            "1.2.3 MiB",
            "MiB",
            "5 Mbit",
        ] {
            assert_eq!(
                parse_size(bad),
                Err(format!("{bad:?} is not a size (try \"500 MiB\")"))
            );
        }
        assert_eq!(
            parse_size("500"),
            Err("\"500\" needs a unit (try \"500 MiB\")".to_owned())
        );
        assert_eq!(
            parse_size("0.4"),
            Err("\"0.4\" needs a unit (try \"0.4 MiB\")".to_owned())
        );
        assert_eq!(parse_size("0.0"), Ok(Size(0)));
        assert_eq!(
            parse_size("16777216 TiB"),
            Err("\"16777216 TiB\" is too large for a size".to_owned())
        );
        assert_eq!(parse_size("18446744073709551615 B"), Ok(Size(u64::MAX)));
        assert_eq!(
            parse_size("18446744073709551616 B"),
            Err("\"18446744073709551616 B\" is too large for a size".to_owned())
        );
    }

    #[test]
    fn sizes_format() {
        for (bytes, text) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1 KiB"),
            (1536, "1.5 KiB"),
            (500 << 20, "500 MiB"),
            (3 << 29, "1.5 GiB"),
            (1_000_000_000, "953.67 MiB"),
            (5 << 40, "5 TiB"),
            (5000 << 40, "5000 TiB"),
        ] {
            assert_eq!(Size(bytes).to_string(), text);
        }
        // Anything shown with at most two decimals reads back exactly.
        for bytes in [
            0,
            1,
            1023,
            1024,
            1536,
            16384,
            500 << 20,
            3 << 29,
            5 << 40,
            (1 << 30) + (1 << 28),
        ] {
            assert_eq!(
                parse_size(&Size(bytes).to_string()),
                Ok(Size(bytes)),
                "{bytes}"
            );
        }
    }

    #[test]
    fn rates_parse_and_format() {
        for (text, bits) in [
            ("0", 0),
            ("0 bit/s", 0),
            ("2 Mbit/s", 2_000_000),
            ("2Mbps", 2_000_000),
            ("2 mbit/s", 2_000_000),
            ("256 kbit/s", 256_000),
            ("256kbps", 256_000),
            ("1.5 Mbit/s", 1_500_000),
            ("1 Gbit/s", 1_000_000_000),
            ("100 bit/s", 100),
            ("100 bps", 100),
        ] {
            assert_eq!(parse_rate(text), Ok(Rate(bits)), "{text}");
        }
        for bad in [
            "fast",
            "",
            "-2 Mbit/s",
            "2 MB/s",
            "2 MBps",
            "2 Mbit",
            "2 Mib/s",
            "2 Tbit/s",
        ] {
            assert_eq!(
                parse_rate(bad),
                Err(format!("{bad:?} is not a rate (try \"2 Mbit/s\")"))
            );
        }
        assert_eq!(
            parse_rate("2"),
            Err("\"2\" needs a unit (try \"2 Mbit/s\")".to_owned())
        );
        assert_eq!(
            parse_rate("0.4"),
            Err("\"0.4\" needs a unit (try \"0.4 Mbit/s\")".to_owned())
        );
        assert_eq!(
            parse_rate("99999999999 Gbit/s"),
            Err("\"99999999999 Gbit/s\" is too large for a rate".to_owned())
        );
        for (bits, text) in [
            (0, "0 bit/s"),
            (999, "999 bit/s"),
            (256_000, "256 kbit/s"),
            (2_000_000, "2 Mbit/s"),
            (1_500_000, "1.5 Mbit/s"),
            (10_000_000_000, "10 Gbit/s"),
        ] {
            assert_eq!(Rate(bits).to_string(), text);
            assert_eq!(parse_rate(text), Ok(Rate(bits)));
        }
    }

    #[test]
    fn durations_parse_and_format() {
        for (text, secs) in [
            ("0", 0),
            ("5s", 5),
            ("90s", 90),
            ("30m", 1800),
            ("4h", 14400),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            (" 1d ", 86400),
            ("1d2h3m4s", 93784),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        for bad in [
            "", "5", "-5s", "4 hours", "1.5h", "30m1h", "1h1h", "h", "5x", "1h30",
        ] {
            assert_eq!(
                parse_duration(bad),
                Err(format!(
                    "{bad:?} is not a duration (try \"30m\", \"4h\" or \"1h30m\")"
                ))
            );
        }
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err("\"99999999999999999999s\" is too long".to_owned())
        );
        assert_eq!(
            parse_duration("999999999999999d"),
            Err("\"999999999999999d\" is too long".to_owned())
        );
        for (secs, text) in [
            (0, "0s"),
            (5, "5s"),
            (90, "1m30s"),
            (5400, "1h30m"),
            (14400, "4h"),
            (86400, "1d"),
            (93784, "1d2h3m4s"),
        ] {
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)));
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_nanos(999)), "0s");
    }

    #[test]
    fn https_portal_keys_go_together() {
        assert_eq!(
            error_with("portal", "https_listen", "\"10.77.0.1:8443\""),
            "x.toml: portal.tls_cert: missing key (portal.https_listen, tls_cert, tls_key and public_name go together)"
        );
        let full = MINIMAL.replace(
            "listen = \"10.77.0.1:2050\"",
            "listen = \"10.77.0.1:2050\"\nhttps_listen = \"10.77.0.1:8443\"\ntls_cert = \"/etc/desawifi/portal.crt\"\ntls_key = \"/etc/desawifi/portal.key\"\npublic_name = \"Portal.Desa.id\"",
        );
        let tls = parse(&full).unwrap().portal.https.expect("https portal");
        assert_eq!(
            (tls.listen.port(), tls.public_name.as_str()),
            (8443, "portal.desa.id")
        );
        let clash = full.replace("10.77.0.1:8443", "10.77.0.1:2050");
        assert!(parse(&clash)
            .unwrap_err()
            .to_string()
            .contains("portal.https_listen: port 2050 is already portal.listen's"));
    }

    #[test]
    fn uplink_defaults_and_errors() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.uplink.targets.len(), DEFAULT_UPLINK_TARGETS.len());
        assert_eq!(
            (c.uplink.interval, c.uplink.timeout, c.uplink.fail_after),
            (Duration::from_secs(10), Duration::from_secs(2), 2)
        );
        let set = parse(&format!(
            "{MINIMAL}[uplink]\ntargets = [\"198.51.100.2:80\", \"[2001:db8::2]:53\"]\ninterval = \"1s\"\ntimeout = \"1s\"\nfail_after = 1\n"
        ))
        .unwrap()
        .uplink;
        assert_eq!(
            set.targets,
            [
                "198.51.100.2:80".parse().unwrap(),
                "[2001:db8::2]:53".parse().unwrap()
            ] as [SocketAddr; 2]
        );
        assert_eq!(
            (set.interval, set.timeout, set.fail_after),
            (Duration::from_secs(1), Duration::from_secs(1), 1)
        );

        let e = error_with("uplink", "targets", "[\"1.1.1.1:53\", \"nohost\"]");
        assert_eq!(e, "x.toml: uplink.targets[1]: \"nohost\" is not an IP address with a port (try \"1.1.1.1:53\")");
        let e = error_with("uplink", "targets", "[\"dns.google:53\"]");
        assert!(
            e.starts_with("x.toml: uplink.targets[0]: \"dns.google:53\" is not an IP address"),
            "{e}"
        );
        let e = error_with("uplink", "targets", "[\"1.1.1.1:0\"]");
        assert_eq!(
            e,
            "x.toml: uplink.targets[0]: \"1.1.1.1:0\" cannot be connected to (try \"1.1.1.1:53\")"
        );
        assert_error(
            "uplink",
            "targets",
            "[]",
            "must list at least one address (try [\"1.1.1.1:53\"])",
        );
        assert_error(
            "uplink",
            "interval",
            "\"often\"",
            "\"often\" is not a duration (try \"30m\", \"4h\" or \"1h30m\")",
        );
        assert_error(
            "uplink",
            "interval",
            "\"500ms\"",
            "\"500ms\" is out of range (must be between 1s and 1h; try \"10s\")",
        );
        assert_error(
            "uplink",
            "timeout",
            "\"0s\"",
            "\"0s\" must be more than zero (try \"2s\")",
        );
        assert_error(
            "uplink",
            "timeout",
            "\"11s\"",
            "\"11s\" is longer than uplink.interval (10s; try \"2s\")",
        );
        assert_error(
            "uplink",
            "fail_after",
            "0",
            "0 is not a positive number of rounds (try 2)",
        );
        assert_error(
            "uplink",
            "fail_after",
            "\"2\"",
            "invalid type: string \"2\", expected i64",
        );
        let e = error_with("uplink", "target", "[\"1.1.1.1:53\"]");
        assert_eq!(e, "x.toml: uplink.target: unknown key (expected one of: targets, interval, timeout, fail_after)");
    }

    #[test]
    fn the_garden_refuses_a_tld_alone_and_the_whole_internet() {
        for tld in ["com", "id"] {
            let e = error_with("walled_garden", "domains", &format!("[\"go.id\", {tld:?}]"));
            assert!(
                e.starts_with(&format!(
                    "x.toml: walled_garden.domains[1]: {tld:?} is a top-level domain alone"
                )),
                "{e}"
            );
        }
        for all in ["0.0.0.0/0", "::/0"] {
            let e = error_with("walled_garden", "addresses", &format!("[{all:?}]"));
            assert!(
                e.starts_with(&format!(
                    "x.toml: walled_garden.addresses[0]: {all:?} is the whole internet"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn garden_ports_default_to_the_web() {
        assert_eq!(parse(MINIMAL).unwrap().walled_garden.ports, vec![80, 443]);
        let c = parse(&format!("{MINIMAL}[walled_garden]\nports = [443]\n")).unwrap();
        assert_eq!(c.walled_garden.ports, vec![443]);
        let e = error_with("walled_garden", "ports", "[80, 70000]");
        assert_eq!(
            e,
            "x.toml: walled_garden.ports[1]: 70000 is not a TCP port (1-65535; try [80, 443])"
        );
    }

    #[test]
    fn eviction_private_and_forgetting_keys() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.network.evict_idle_after, Duration::from_secs(120));
        assert!(c.network.allow_private.is_empty());
        assert_eq!(c.store.forget_after, Duration::from_secs(120 * 86_400));
        let e = error_with("network", "evict_idle_after", "\"0\"");
        assert_eq!(
            e,
            "x.toml: network.evict_idle_after: \"0\" must be more than zero (try \"2m\")"
        );
        let e = error_with("network", "allow_private", "[\"192.168.100.1/24\"]");
        assert!(
            e.starts_with(
                "x.toml: network.allow_private[0]: \"192.168.100.1/24\" has host bits set"
            ),
            "{e}"
        );
        let e = error_with("store", "forget_after", "\"1h\"");
        assert!(
            e.starts_with("x.toml: store.forget_after: \"1h\" is less than a day"),
            "{e}"
        );
        let text = MINIMAL.replace(
            "portal_address = \"10.77.0.1\"\n",
            "portal_address = \"10.77.0.1\"\nallow_private = [\"192.168.100.1\"]\nevict_idle_after = \"30s\"\n",
        );
        let c = parse(&text).unwrap();
        assert_eq!(
            c.network.allow_private,
            vec!["192.168.100.1/32".parse().unwrap()]
        );
        assert_eq!(c.network.evict_idle_after, Duration::from_secs(30));
    }
}
