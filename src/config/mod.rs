//! The TOML configuration: read once at start-up (and on SIGHUP), validated whole, then
//! handed out as plain typed values.
//!
//! The file is first deserialized into private `Raw*` structs that keep every value as
//! text, so that serde only checks the shape (known keys, tables, arrays). Each value is
//! then parsed on its own, so that every error names the file, the dotted key path and
//! what was expected: `desawifi.toml: quota.daily_data: "lots" is not a size (try "500 MiB")`.
//!
//! # Layout
//! One file per section, each with its type (plain data), its raw shape, its
//! checks and their tests: [`site`], [`network`], [`portal`], [`admin`] (with
//! [`metrics_token`]), [`store`], [`quota`], [`walled_garden`], [`uplink`],
//! [`categories`] (`[usage]`), [`schedule`], [`quiz`], [`fleet_policy`] (`[fleet]`), [`power`].
//! Below them: [`values`] (the value parsers: sizes, rates, durations,
//! addresses), [`check`] (one key at a time, naming it) and [`error`] (the one
//! error type and constructor). [`validation`] runs the sections in file order
//! and holds the checks that span sections. [`reload`]: what a SIGHUP may
//! change in a running daemon and what needs a restart.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod admin;
pub mod categories;
mod check;
mod error;
pub mod fleet_policy;
pub mod metrics_token;
pub mod network;
pub mod office;
pub mod portal;
pub mod power;
pub mod quiz;
pub mod quota;
pub mod reload;
pub mod schedule;
pub mod site;
pub mod store;
#[cfg(test)]
mod testing;
pub mod uplink;
mod validation;
pub mod values;
pub mod walled_garden;

pub use admin::{Admin, AdminTls};
pub use categories::{Category, Usage};
pub use error::ConfigError;
pub use fleet_policy::FleetPolicy;
pub use network::Network;
pub use portal::{Portal, PortalTls};
pub use quiz::Quiz;
pub use quota::{parse_quota_field, Quota, QuotaKey, QuotaKind, UnknownQuotaKey};
pub use reload::{reload, Reload};
pub use schedule::{opening_hours, Schedule};
pub use site::Site;
pub use store::Store;
pub use uplink::{Uplink, DEFAULT_UPLINK_TARGETS};
pub use values::{format_duration, parse_duration, parse_rate, parse_size};
pub use walled_garden::{garden_address, WalledGarden};

use check::Check;

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
    /// `[power]`: the battery's source and the modes' thresholds (issue 25).
    pub power: power::Power,
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
// The file's shape: one table per section, each section's raw shape in its file.

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawConfig {
    site: Option<site::RawSite>,
    network: Option<network::RawNetwork>,
    portal: Option<portal::RawPortal>,
    admin: Option<admin::RawAdmin>,
    store: Option<store::RawStore>,
    quota: Option<quota::RawQuota>,
    walled_garden: Option<walled_garden::RawWalledGarden>,
    uplink: Option<uplink::RawUplink>,
    usage: Option<categories::RawUsage>,
    schedule: Option<schedule::RawSchedule>,
    quiz: Option<quiz::RawQuiz>,
    fleet: Option<fleet_policy::RawFleet>,
    power: Option<power::RawPower>,
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    use super::testing::*;
    use super::*;
    use crate::domain::{Rate, Size};
    use crate::lang::Language;

    const EXAMPLE: &str = include_str!("../../config/desawifi.toml");

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

    // --- one error per key -------------------------------------------------------------

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
            "x.toml: quotas: unknown key (expected one of: site, network, portal, admin, store, quota, walled_garden, uplink, usage, schedule, quiz, fleet, power)"
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
}
