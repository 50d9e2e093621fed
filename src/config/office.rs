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
//! # Adding villages (docs/office.md, on adding and retiring a village):
//! # web_config_file = "/etc/prometheus/regency-web.yml"
//! # push_url = "https://fleet.example.net:9090/api/v1/write"
//! # push_ca_file = "/etc/prometheus/fleet-ca.pem"
//! # policy_base_url = "https://fleet.example.net:8443/kebijakan"
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
    /// Adding and retiring villages (`web_config_file`, `push_url`, `push_ca_file`, `policy_base_url`).
    pub villages: OfficeVillages,
}

/// What adding a village writes and shows (a block of `[prometheus]`).
#[derive(Debug, Clone)]
pub struct OfficeVillages {
    /// The receiver's `--web.config.file` whose `basic_auth_users` the office
    /// edits; none: villages cannot be added here.
    pub web_config_file: Option<PathBuf>,
    /// Where a village's agent pushes (default: `url` + `/api/v1/write`).
    pub push_url: String,
    /// The CA a village's agent trusts for `push_url` (default: `ca_file`).
    pub push_ca_file: Option<PathBuf>,
    /// A village's policy is served at `<policy_base_url>/<slug>.json`
    /// (default: `https://<push_url's host>:<listen port>/kebijakan`).
    pub policy_base_url: String,
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
    web_config_file: Option<Text>,
    push_url: Option<Text>,
    push_ca_file: Option<Text>,
    policy_base_url: Option<Text>,
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
        let listen = self.or("listen", raw.listen, "0.0.0.0:8443", listen)?;
        let ca_file = self.optional("prometheus.ca_file", prom.ca_file, path_value)?;
        let villages = self.villages(
            &url,
            listen.port(),
            &ca_file,
            prom.web_config_file,
            prom.push_url,
            prom.push_ca_file,
            prom.policy_base_url,
        )?;
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
            listen,
            store: self.required("store", raw.store, path_value)?,
            regency: self.required("regency", raw.regency, nonempty)?,
            time_zone,
            time_zone_name,
            tls,
            prometheus: OfficeProm {
                url,
                ca_file,
                basic,
                villages,
            },
        })
    }
}

impl Check<'_> {
    // The block for adding villages (`[prometheus] web_config_file`, ...).
    #[allow(clippy::too_many_arguments)]
    fn villages(
        &self,
        url: &str,
        port: u16,
        ca_file: &Option<PathBuf>,
        web_config_file: Option<Text>,
        push_url: Option<Text>,
        push_ca_file: Option<Text>,
        policy_base_url: Option<Text>,
    ) -> Parsed<OfficeVillages> {
        let push_url = match self.optional("prometheus.push_url", push_url, http_url)? {
            Some(u) => u,
            None => format!("{url}/api/v1/write"),
        };
        let host = push_url
            .split_once("://")
            .map_or("", |(_, rest)| rest)
            .split(['/', '?'])
            .next()
            .unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() {
                h
            } else {
                host
            }
        });
        let policy_base_url =
            match self.optional("prometheus.policy_base_url", policy_base_url, http_url)? {
                Some(u) => u,
                None => format!("https://{host}:{port}/kebijakan"),
            };
        Ok(OfficeVillages {
            web_config_file: self.optional(
                "prometheus.web_config_file",
                web_config_file,
                path_value,
            )?,
            push_url,
            push_ca_file: match self.optional(
                "prometheus.push_ca_file",
                push_ca_file,
                path_value,
            )? {
                Some(p) => Some(p),
                None => ca_file.clone(),
            },
            policy_base_url,
        })
    }
}

fn http_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    if !(s.starts_with("http://") || s.starts_with("https://")) || s.len() < 9 {
        return Err(format!("{s:?} is not an http:// or https:// URL"));
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return Err(format!("{s:?} has a space, quote or control character"));
    }
    Ok(s.trim_end_matches('/').to_owned())
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
        let v = &c.prometheus.villages;
        assert!(v.web_config_file.is_none() && v.push_ca_file.is_none());
        assert_eq!(v.push_url, "http://127.0.0.1:9090/api/v1/write");
        assert_eq!(v.policy_base_url, "https://127.0.0.1:8443/kebijakan");
        let c = parse(&format!("{GOOD}web_config_file = \"/etc/p/web.yml\"\npush_url = \"https://fleet.example.net:9090/api/v1/write\"\nca_file = \"/ca.pem\"\n")).unwrap();
        let v = &c.prometheus.villages;
        assert_eq!(
            v.web_config_file.as_deref(),
            Some(Path::new("/etc/p/web.yml"))
        );
        assert_eq!(v.push_ca_file.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(
            v.policy_base_url,
            "https://fleet.example.net:8443/kebijakan"
        );
        let e = parse(&format!("{GOOD}push_url = \"fleet:9090\"\n")).unwrap_err();
        assert!(e.starts_with("regency.toml: prometheus.push_url: "), "{e}");
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
