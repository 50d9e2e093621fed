//! `[portal]`: the splash page server (HTTP, and HTTPS at a public name).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::check::{Check, Parsed, Text};
use super::values::{domain, listen, parse_duration, parse_size, path_value, positive};
use crate::domain::Size;

/// The splash page server, with the limits that keep a busy village from starving it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalTls {
    pub listen: SocketAddr,
    /// PEM certificate chain for `public_name`.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// The DNS name phones use (the router's dnsmasq maps it to the portal address).
    pub public_name: String,
}

/// `[portal]` as written: values kept as text for the check below.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [portal] table")]
pub(crate) struct RawPortal {
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

impl Check<'_> {
    /// `[portal]` alone; [`Check::portal_on_the_lan`] checks its addresses
    /// against `[network]`.
    pub(super) fn portal(&self, raw: RawPortal) -> Parsed<Portal> {
        let listen = self.required("portal.listen", raw.listen, listen)?;
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
            let https_listen = self.required(
                "portal.https_listen",
                raw.https_listen,
                super::values::listen,
            )?;
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
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn listen_on_all_addresses_is_allowed() {
        let c = parse(&MINIMAL.replace("10.77.0.1:2050", "0.0.0.0:80")).unwrap();
        assert_eq!(c.portal.listen, "0.0.0.0:80".parse().unwrap());
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
}
