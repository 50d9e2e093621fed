//! The regency office's own config file (`desawifi-regency`): a separate,
//! small file beside the office's Prometheus, not a section of the
//! gateway's. It lives here, in the config room, so it parses with the
//! gateway's own value parsers and every error reads `file: key: message`
//! like the gateway's (docs/office.md, "The office's config file").
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! store = "/var/lib/desawifi-regency"
//! regency = "Paser"
//! time_zone = "Asia/Makassar"
//! # tls_cert = "/etc/desawifi-regency/cert.pem"   # both or neither;
//! # tls_key = "/etc/desawifi-regency/key.pem"     # else self-signed in `store`
//! [prometheus]
//! url = "http://127.0.0.1:9090"
//! # ca_file = "/etc/desawifi-regency/receiver-ca.pem"
//! # username = "office"
//! # password = "..."
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::check::{Check, Parsed, Text};
use super::error::ConfigError;
use super::site::time_zone;
use super::values::{listen, path_value};

/// The office's settings, checked.
#[derive(Debug, Clone)]
pub struct OfficeConfig {
    /// HTTPS listen address (`listen`).
    pub listen: SocketAddr,
    /// The office's own sled store (`store`); the self-signed pair lives here too.
    pub store: PathBuf,
    /// The regency's name, shown on every page (`regency`).
    pub regency: String,
    /// Local days for "today" and the 30 days (`time_zone`, default Asia/Makassar).
    pub time_zone: jiff::tz::TimeZone,
    pub time_zone_name: String,
    /// The office's own certificate and key (`tls_cert`, `tls_key`), else self-signed.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub prometheus: OfficeProm,
}

/// `[prometheus]`: the regency's receiver the gateways push to.
#[derive(Clone)]
pub struct OfficeProm {
    /// `http://host:port[/prefix]` or `https://...` (`prometheus.url`).
    pub url: String,
    /// The CA that signed the receiver's certificate (`prometheus.ca_file`).
    pub ca_file: Option<PathBuf>,
    /// Basic auth (`prometheus.username` and `prometheus.password`, both or neither).
    pub basic: Option<(String, String)>,
}

impl std::fmt::Debug for OfficeProm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficeProm")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("username", &self.basic.as_ref().map(|b| &b.0))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawOffice {
    listen: Option<Text>,
    store: Option<Text>,
    regency: Option<Text>,
    time_zone: Option<Text>,
    tls_cert: Option<Text>,
    tls_key: Option<Text>,
    prometheus: Option<RawProm>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawProm {
    url: Option<Text>,
    ca_file: Option<Text>,
    username: Option<Text>,
    password: Option<Text>,
}

impl OfficeConfig {
    /// Read and check the file at `path`.
    pub fn load(path: &Path) -> Result<OfficeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        OfficeConfig::parse(path, &text)
    }

    /// Check `text` as the file at `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<OfficeConfig, ConfigError> {
        let raw: RawOffice = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        Check { path }.office(raw)
    }
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Check<'_> {
    fn office(&self, raw: RawOffice) -> Parsed<OfficeConfig> {
        let prom = raw
            .prometheus
            .ok_or_else(|| self.invalid("prometheus", "missing table [prometheus]"))?;
        let url = self.required("prometheus.url", prom.url, |s| {
            let s = s.trim();
            if !(s.starts_with("http://") || s.starts_with("https://")) {
                return Err(format!(
                    "{s:?} is not an http:// or https:// URL (try \"http://127.0.0.1:9090\")"
                ));
            }
            Ok(s.trim_end_matches('/').to_owned())
        })?;
        let username = self.optional("prometheus.username", prom.username, nonempty)?;
        let password = self.optional("prometheus.password", prom.password, nonempty)?;
        let basic = match (username, password) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(self.invalid(
                    "prometheus.password",
                    "missing key (prometheus.username is set)",
                ))
            }
            (None, Some(_)) => {
                return Err(self.invalid(
                    "prometheus.username",
                    "missing key (prometheus.password is set)",
                ))
            }
        };
        let tls_cert = self.optional("tls_cert", raw.tls_cert, path_value)?;
        let tls_key = self.optional("tls_key", raw.tls_key, path_value)?;
        let tls = match (tls_cert, tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => return Err(self.invalid("tls_key", "missing key (tls_cert is set)")),
            (None, Some(_)) => return Err(self.invalid("tls_cert", "missing key (tls_key is set)")),
        };
        let (time_zone, time_zone_name) =
            self.or("time_zone", raw.time_zone, "Asia/Makassar", |s| {
                let tz = time_zone(s).ok_or_else(|| {
                    format!("{s:?} is not a known time zone (try \"Asia/Makassar\", \"Asia/Jakarta\" or \"Asia/Jayapura\")")
                })?;
                let name = tz.iana_name().unwrap_or(s).to_owned();
                Ok((tz, name))
            })?;
        Ok(OfficeConfig {
            listen: self.or("listen", raw.listen, "0.0.0.0:8443", listen)?,
            store: self.required("store", raw.store, path_value)?,
            regency: self.required("regency", raw.regency, nonempty)?,
            time_zone,
            time_zone_name,
            tls,
            prometheus: OfficeProm {
                url,
                ca_file: self.optional("prometheus.ca_file", prom.ca_file, path_value)?,
                basic,
            },
        })
    }
}

fn nonempty(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Err("must not be empty".to_owned()),
        s => Ok(s.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OfficeConfig, String> {
        OfficeConfig::parse(Path::new("regency.toml"), text).map_err(|e| e.to_string())
    }

    const GOOD: &str = "store = \"/var/lib/r\"\nregency = \"Paser\"\n[prometheus]\nurl = \"http://127.0.0.1:9090/\"\n";

    #[test]
    fn a_good_file_and_its_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8443");
        assert_eq!(c.prometheus.url, "http://127.0.0.1:9090");
        assert_eq!(c.time_zone_name, "Asia/Makassar");
        assert!(c.tls.is_none() && c.prometheus.basic.is_none());
    }

    #[test]
    fn every_error_names_its_key() {
        for (text, want) in [
            (
                GOOD.replace("http://", "ftp://"),
                "regency.toml: prometheus.url: ",
            ),
            (
                format!("listen = \"nowhere\"\n{GOOD}"),
                "regency.toml: listen: ",
            ),
            (
                format!("time_zone = \"Mars/Base\"\n{GOOD}"),
                "regency.toml: time_zone: ",
            ),
            (
                format!("tls_cert = \"/c.pem\"\n{GOOD}"),
                "regency.toml: tls_key: missing",
            ),
            (
                format!("{GOOD}username = \"o\"\n"),
                "regency.toml: prometheus.password: missing",
            ),
            (
                GOOD.replace("regency = \"Paser\"", "regency = \" \""),
                "regency.toml: regency: ",
            ),
            (
                GOOD.replace("store = \"/var/lib/r\"\n", ""),
                "regency.toml: store: missing",
            ),
            (
                "store = \"/x\"\nregency = \"P\"\n".to_owned(),
                "regency.toml: prometheus: missing",
            ),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
        let e = parse(&format!("colour = \"red\"\n{GOOD}")).unwrap_err();
        assert!(e.contains("colour"), "{e}");
        let c = parse(&format!("{GOOD}username = \"o\"\npassword = \"rahasia\"\n")).unwrap();
        assert!(!format!("{:?}", c.prometheus).contains("rahasia"));
    }
}
