//! `[admin]`: the operators' HTTPS listener, its certificate, the metrics token
//! (read by [`super::metrics_token`]) and the console.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::check::{Check, Parsed, Text};
use super::metrics_token;
use super::values::{listen, parse_duration, path_value, positive};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[admin]` as written: values kept as text for the check below.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "an [admin] table")]
pub(crate) struct RawAdmin {
    listen: Option<Text>,
    tls_cert: Option<Text>,
    tls_key: Option<Text>,
    metrics_token: Option<Text>,
    metrics_token_file: Option<Text>,
    session_time: Option<Text>,
    ui_dir: Option<Text>,
}

impl Check<'_> {
    pub(super) fn admin(&self, raw: RawAdmin) -> Parsed<Admin> {
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
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

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
}
