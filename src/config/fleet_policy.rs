//! `[fleet]`'s policy keys (issue 14): where this village pulls its
//! regency's signed policy from, and the key it must be signed with.
//!
//! ```toml
//! [fleet]
//! policy_url = "https://fleet.example.net/kutai-barat/policy.toml"  # https only
//! policy_public_key = "i6OjvYN79pwGMcUJrpStyS5c12SGIzVin3rsjWh1Hpk="  # policy.pub
//! ca_file = "/etc/desawifi/regency-ca.pem"  # optional; else the system roots
//! poll_interval = "5m"
//! ```
//!
//! The signature is fetched from `policy_url` + `.sig`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use super::check::Text;
use super::error::{invalid, ConfigError};
use super::values::parse_duration;

/// The smallest `poll_interval` (tests poll every 2s; a village every few minutes).
pub const MIN_POLL: Duration = Duration::from_secs(1);
/// The largest `poll_interval`.
pub const MAX_POLL: Duration = Duration::from_secs(24 * 3600);

/// Where and how the policy is pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetPolicy {
    /// `https://host[:port]/path` as written.
    pub url: String,
    /// The host name the server's certificate must be for.
    pub host: String,
    /// 443 unless given.
    pub port: u16,
    /// The path and query sent in the request (`/kutai-barat/policy.toml`).
    pub path: String,
    /// The regency's ed25519 public key (32 raw bytes).
    pub public_key: [u8; 32],
    /// PEM CA certificates to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Time from one fetch's start to the next (default 5m).
    pub poll_interval: Duration,
}

/// `[fleet]` as written (the policy's keys).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [fleet] table")]
pub(super) struct RawFleet {
    policy_url: Option<Text>,
    policy_public_key: Option<Text>,
    ca_file: Option<Text>,
    poll_interval: Option<Text>,
}

/// `https://host[:port]/path` -> (host, port, path).
fn https_url(s: &str) -> Result<(String, u16, String), String> {
    let uri: hyper::Uri = s.parse().map_err(|_| {
        format!("{s:?} is not a URL (try \"https://fleet.example.net/policy.toml\")")
    })?;
    if uri.scheme_str() != Some("https") {
        return Err(format!(
            "{s:?} is not https (the policy is fetched over HTTPS only)"
        ));
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{s:?} has no host"))?
        .to_owned();
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!("{s:?}: no user or password in the URL"));
    }
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .filter(|p| p.len() > 1)
        .ok_or_else(|| format!("{s:?} names no document (try \"https://{host}/policy.toml\")"))?;
    Ok((host, uri.port_u16().unwrap_or(443), path))
}

/// `[fleet]` -> the policy pull, or `None` when `policy_url` is not set.
pub(super) fn fleet_policy(raw: RawFleet, path: &Path) -> Result<Option<FleetPolicy>, ConfigError> {
    let Some(url) = raw.policy_url else {
        for (key, given) in [
            ("fleet.policy_public_key", raw.policy_public_key.is_some()),
            ("fleet.ca_file", raw.ca_file.is_some()),
            ("fleet.poll_interval", raw.poll_interval.is_some()),
        ] {
            if given {
                return Err(invalid(path, key, "given without fleet.policy_url"));
            }
        }
        return Ok(None);
    };
    let (host, port, doc) = https_url(&url.0).map_err(|m| invalid(path, "fleet.policy_url", m))?;
    let key = raw.policy_public_key.ok_or_else(|| {
        invalid(
            path,
            "fleet.policy_public_key",
            "missing key (the regency's policy.pub, base64)",
        )
    })?;
    let public_key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(key.0.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| {
            invalid(
                path,
                "fleet.policy_public_key",
                format!(
                    "{:?} is not an ed25519 public key (base64 of 32 bytes, as in policy.pub)",
                    key.0
                ),
            )
        })?;
    let ca_file = raw.ca_file.map(|t| PathBuf::from(t.0));
    let poll = raw.poll_interval.map_or_else(|| "5m".to_owned(), |t| t.0);
    let poll_interval = parse_duration(&poll)
        .and_then(|d| {
            if d < MIN_POLL || d > MAX_POLL {
                Err(format!(
                    "{poll:?} is out of range (must be between 1s and 24h; try \"5m\")"
                ))
            } else {
                Ok(d)
            }
        })
        .map_err(|m| invalid(path, "fleet.poll_interval", m))?;
    Ok(Some(FleetPolicy {
        url: url.0,
        host,
        port,
        path: doc,
        public_key,
        ca_file,
        poll_interval,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::Path;

    const MINIMAL: &str = "[site]\nname = \"Desa\"\n[network]\nlan_interface = \"br-lan\"\nwan_interface = \"wan0\"\nportal_address = \"10.77.0.1\"\n[portal]\nlisten = \"10.77.0.1:2050\"\n[store]\npath = \"/var/lib/desawifi\"\n";
    const KEY: &str = "i6OjvYN79pwGMcUJrpStyS5c12SGIzVin3rsjWh1Hpk=";

    fn parse(fleet: &str) -> Result<Config, String> {
        Config::parse(&format!("{MINIMAL}[fleet]\n{fleet}"), Path::new("t.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_policy_keys_parse() {
        let c = parse(&format!(
            "policy_url = \"https://fleet.example.net:8443/kb/policy.toml\"\npolicy_public_key = \"{KEY}\"\nca_file = \"/etc/ca.pem\"\npoll_interval = \"2s\"\n"
        ))
        .unwrap();
        let p = c.fleet_policy.unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.path.as_str()),
            ("fleet.example.net", 8443, "/kb/policy.toml")
        );
        assert_eq!(p.poll_interval, std::time::Duration::from_secs(2));
        assert_eq!(p.public_key[0], 0x8b);
        let c = parse(&format!(
            "policy_url = \"https://fleet.example.net/p.toml\"\npolicy_public_key = \"{KEY}\"\n"
        ))
        .unwrap();
        let p = c.fleet_policy.unwrap();
        assert_eq!(
            (p.port, p.poll_interval.as_secs(), p.ca_file),
            (443, 300, None)
        );
        assert!(Config::parse(MINIMAL, Path::new("t.toml"))
            .unwrap()
            .fleet_policy
            .is_none());
    }

    #[test]
    fn errors_name_the_key() {
        let e = |s: &str| parse(s).unwrap_err();
        let k = format!("policy_public_key = \"{KEY}\"\n");
        assert!(e(&format!(
            "policy_url = \"http://fleet.example.net/p.toml\"\n{k}"
        ))
        .contains("fleet.policy_url: \"http://fleet.example.net/p.toml\" is not https"));
        assert!(
            e(&format!("policy_url = \"https://fleet.example.net/\"\n{k}"))
                .contains("fleet.policy_url: ")
        );
        assert!(e(&format!(
            "policy_url = \"https://u:p@fleet.example.net/p\"\n{k}"
        ))
        .contains("no user or password"));
        assert!(e("policy_url = \"https://fleet.example.net/p.toml\"\n")
            .contains("fleet.policy_public_key: missing key"));
        assert!(e(
            "policy_url = \"https://fleet.example.net/p.toml\"\npolicy_public_key = \"AAAA\"\n"
        )
        .contains("fleet.policy_public_key: \"AAAA\" is not an ed25519"));
        assert!(e(&format!(
            "policy_url = \"https://f.example/p\"\n{k}poll_interval = \"500ms\"\n"
        ))
        .contains("fleet.poll_interval: "));
        assert!(e(&k).contains("fleet.policy_public_key: given without fleet.policy_url"));
        assert!(e("policy_ur = 1\n").contains("fleet.policy_ur: unknown key"));
    }
}
