//! The policy document: TOML, in the config file's own shape for the parts
//! it shares with it, so a regency writes `[quota] daily_data = "300 MiB"`
//! exactly as a village's `desawifi.toml` would:
//!
//! ```toml
//! version = 12                          # an integer that must grow
//! expires = "2026-12-31T00:00:00+08:00" # RFC 3339; not applied after it
//!
//! [quota]                               # any of the [quota] keys
//! daily_data = "300 MiB"
//!
//! [usage]
//! free = ["layanan_publik", "pendidikan"]
//!
//! [schedule]
//! open = "06:00"
//! close = "22:00"
//! garden_always_open = true
//!
//! [walled_garden]                       # added to the village's own garden
//! addresses = ["203.0.113.0/24", "198.51.100.7"]
//! ```
//!
//! Every value goes through the config room's parser for that key
//! ([`config::parse_quota_field`], [`TimeOfDay`], [`config::opening_hours`]),
//! so a policy holds only what the file and the admin API would accept.
//! A `[usage] free` id is checked for its form here; whether the village has
//! that category is checked when it is applied (a village may have its own
//! categories file).
//!
//! `[walled_garden] addresses` only adds: the gateway's garden is the
//! village's own `walled_garden.addresses` plus the policy's, and each
//! applied version's list replaces the previous version's (a version
//! without the table has none). `[walled_garden] domains` is refused: a
//! name in the garden is a dnsmasq `nftset` line the operator installs
//! (`desawifi dnsmasq-conf`), which the daemon cannot change at runtime.

use crate::config::{self, Quota, QuotaKey};
use crate::domain::{Rate, Size, TimeOfDay};

use super::PolicyError;

/// The top-level keys a policy may hold.
const TOP_KEYS: [&str; 6] = [
    "version",
    "expires",
    "quota",
    "usage",
    "schedule",
    "walled_garden",
];

/// A checked policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Grows with each document the regency publishes; a gateway applies
    /// only a version above the one in force.
    pub version: u64,
    /// Unix seconds after which the document is not applied.
    pub expires: i64,
    /// `expires` as written (for messages and the console).
    pub expires_text: String,
    /// The `[quota]` keys it sets, as text the config parser accepted, in the
    /// `[quota]` table's key order ([`QuotaKey::ALL`]).
    pub quota: Vec<(QuotaKey, String)>,
    /// `[usage] free`: exactly these categories cost no quota.
    pub free: Option<Vec<String>>,
    /// `[schedule]`: opening hours and whether the garden stays open.
    pub schedule: Option<PolicySchedule>,
    /// `[walled_garden] addresses`: blocks added to the village's own
    /// garden while this version is in force (empty: none), in the
    /// document's order, without repeats.
    pub garden: Vec<ipnet::IpNet>,
}

/// The opening hours a policy sets (keys it leaves out stay as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicySchedule {
    /// `open` and `close`, given together.
    pub hours: Option<(TimeOfDay, TimeOfDay)>,
    /// The walled garden stays reachable while closed.
    pub garden_always_open: Option<bool>,
}

impl Policy {
    /// Parse and check a whole document.
    pub fn parse(bytes: &[u8]) -> Result<Policy, PolicyError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| PolicyError::invalid("(document)", format!("not UTF-8: {e}")))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("{line}:{col}: ")
                })
                .unwrap_or_default();
            PolicyError::invalid("(toml)", format!("{at}{}", e.message().trim()))
        })?;
        if let Some(k) = table.keys().find(|k| !TOP_KEYS.contains(&k.as_str())) {
            return Err(PolicyError::invalid(
                k,
                format!("unknown key (expected one of: {})", TOP_KEYS.join(", ")),
            ));
        }
        let version = match table.get("version") {
            None => return Err(PolicyError::invalid("version", "missing key (try 1)")),
            Some(toml::Value::Integer(n)) if *n > 0 => *n as u64,
            Some(v) => {
                return Err(PolicyError::invalid(
                    "version",
                    format!("{} is not a positive integer (try 1)", show(v)),
                ))
            }
        };
        let (expires, expires_text) = match table.get("expires") {
            None => {
                return Err(PolicyError::invalid(
                    "expires",
                    "missing key (an RFC 3339 time, e.g. \"2026-12-31T00:00:00+08:00\")",
                ))
            }
            Some(toml::Value::String(s)) => (rfc3339("expires", s)?, s.clone()),
            Some(toml::Value::Datetime(d)) => {
                let s = d.to_string();
                (rfc3339("expires", &s)?, s)
            }
            Some(v) => {
                return Err(PolicyError::invalid(
                    "expires",
                    format!(
                        "{} is not an RFC 3339 time (try \"2026-12-31T00:00:00+08:00\")",
                        show(v)
                    ),
                ))
            }
        };
        let quota = match table.get("quota") {
            None => Vec::new(),
            Some(v) => quota(v)?,
        };
        let free = match table.get("usage") {
            None => None,
            Some(v) => Some(free(v)?),
        };
        let schedule = match table.get("schedule") {
            None => None,
            Some(v) => Some(schedule(v)?),
        };
        let garden = match table.get("walled_garden") {
            None => Vec::new(),
            Some(v) => garden(v)?,
        };
        Ok(Policy {
            version,
            expires,
            expires_text,
            quota,
            free,
            schedule,
            garden,
        })
    }

    /// Is the document past its `expires` at `now` (unix seconds)?
    pub fn expired(&self, now: i64) -> bool {
        now >= self.expires
    }
}

/// A value as a message shows it (the `toml` crate is built without its writer).
fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => "a list".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

/// An RFC 3339 time with its offset -> unix seconds.
fn rfc3339(key: &str, s: &str) -> Result<i64, PolicyError> {
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| {
            PolicyError::invalid(
                key,
                format!("{s:?} is not an RFC 3339 time with an offset (try \"2026-12-31T00:00:00+08:00\")"),
            )
        })
}

/// The site defaults before any key: the config file's defaults, so each
/// key is checked alone exactly as the file's value would be.
fn default_quota() -> Quota {
    Quota {
        daily_data: Size(0),
        session_time: std::time::Duration::ZERO,
        idle_timeout: std::time::Duration::ZERO,
        download_rate: Rate(0),
        upload_rate: Rate(0),
        after_quota_rate: Rate(0),
        accounting_interval: std::time::Duration::ZERO,
    }
}

fn table<'a>(key: &str, v: &'a toml::Value) -> Result<&'a toml::Table, PolicyError> {
    v.as_table()
        .ok_or_else(|| PolicyError::invalid(key, format!("expected a [{key}] table")))
}

fn quota(v: &toml::Value) -> Result<Vec<(QuotaKey, String)>, PolicyError> {
    let t = table("quota", v)?;
    let mut out = Vec::new();
    let mut base = default_quota();
    for (name, value) in t {
        let path = format!("quota.{name}");
        let key: QuotaKey = name.parse().map_err(|_| {
            PolicyError::invalid(
                &path,
                format!(
                    "unknown key (expected one of: {})",
                    QuotaKey::names().join(", ")
                ),
            )
        })?;
        // Like the config file: a string, or an integer taken as its text.
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            other => {
                return Err(PolicyError::invalid(
                    &path,
                    format!(
                        "{} is not a value (try {:?})",
                        show(other),
                        key.default_text()
                    ),
                ))
            }
        };
        base = config::parse_quota_field(&base, key, &text)
            .map_err(|m| PolicyError::invalid(&path, m))?;
        out.push((key, text));
    }
    out.sort_by_key(|(k, _)| QuotaKey::ALL.iter().position(|a| a == k));
    Ok(out)
}

/// A category id's form, as `config/categories.toml` writes them.
fn category_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 24
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && id != config::categories::OTHER
}

fn free(v: &toml::Value) -> Result<Vec<String>, PolicyError> {
    let t = table("usage", v)?;
    if let Some(k) = t.keys().find(|k| *k != "free") {
        return Err(PolicyError::invalid(
            &format!("usage.{k}"),
            "unknown key (expected one of: free)",
        ));
    }
    let Some(list) = t.get("free") else {
        return Err(PolicyError::invalid(
            "usage.free",
            "missing key (a list of category ids, e.g. [\"layanan_publik\"])",
        ));
    };
    let list = list.as_array().ok_or_else(|| {
        PolicyError::invalid(
            "usage.free",
            "expected a list of category ids, e.g. [\"layanan_publik\"]",
        )
    })?;
    let mut ids: Vec<String> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let id = v.as_str().filter(|id| category_id(id)).ok_or_else(|| {
            PolicyError::invalid(
                &format!("usage.free[{i}]"),
                format!(
                    "{} is not a category id (a-z, 0-9, _, at most 24, not \"lainnya\")",
                    show(v)
                ),
            )
        })?;
        if !ids.iter().any(|o| o == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// `[walled_garden]`: `addresses` through the config file's own parser;
/// `domains` refused with the reason (see the module's doc).
fn garden(v: &toml::Value) -> Result<Vec<ipnet::IpNet>, PolicyError> {
    let t = table("walled_garden", v)?;
    if t.contains_key("domains") {
        return Err(PolicyError::invalid(
            "walled_garden.domains",
            "a regency policy cannot add garden domains: a name reaches the garden through \
             the router's dnsmasq (nftset lines from `desawifi dnsmasq-conf`, installed with a \
             dnsmasq restart), which the gateway does not change at runtime; put the domain in \
             the village's desawifi.toml (or the package's dnsmasq snippet), or list its \
             addresses here",
        ));
    }
    if let Some(k) = t.keys().find(|k| *k != "addresses") {
        return Err(PolicyError::invalid(
            &format!("walled_garden.{k}"),
            "unknown key (expected one of: addresses)",
        ));
    }
    let Some(list) = t.get("addresses") else {
        return Err(PolicyError::invalid(
            "walled_garden.addresses",
            "missing key (a list of addresses or CIDR blocks, e.g. [\"203.0.113.0/24\"])",
        ));
    };
    let list = list.as_array().ok_or_else(|| {
        PolicyError::invalid(
            "walled_garden.addresses",
            "expected a list of addresses or CIDR blocks, e.g. [\"203.0.113.0/24\"]",
        )
    })?;
    let mut out: Vec<ipnet::IpNet> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let path = format!("walled_garden.addresses[{i}]");
        let text = v.as_str().ok_or_else(|| {
            PolicyError::invalid(
                &path,
                format!(
                    "{} is not an address or CIDR block (try \"203.0.113.0/24\")",
                    show(v)
                ),
            )
        })?;
        let net = config::garden_address(text).map_err(|m| PolicyError::invalid(&path, m))?;
        if !out.contains(&net) {
            out.push(net);
        }
    }
    Ok(out)
}

fn schedule(v: &toml::Value) -> Result<PolicySchedule, PolicyError> {
    let t = table("schedule", v)?;
    const KEYS: [&str; 3] = ["open", "close", "garden_always_open"];
    if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(PolicyError::invalid(
            &format!("schedule.{k}"),
            format!("unknown key (expected one of: {})", KEYS.join(", ")),
        ));
    }
    let time = |key: &str| -> Result<Option<TimeOfDay>, PolicyError> {
        let path = format!("schedule.{key}");
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => s
                .parse::<TimeOfDay>()
                .map(Some)
                .map_err(|m| PolicyError::invalid(&path, m)),
            Some(v) => Err(PolicyError::invalid(
                &path,
                format!("{} is not a time of day (try \"06:00\")", show(v)),
            )),
        }
    };
    let hours = match (time("open")?, time("close")?) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(PolicyError::invalid(
                "schedule.close",
                "missing key (open and close go together; try \"22:00\")",
            ))
        }
        (None, Some(_)) => {
            return Err(PolicyError::invalid(
                "schedule.open",
                "missing key (open and close go together; try \"06:00\")",
            ))
        }
        (Some(o), Some(c)) => {
            config::opening_hours(o, c).map_err(|m| PolicyError::invalid("schedule.close", m))?;
            Some((o, c))
        }
    };
    let garden_always_open = match t.get("garden_always_open") {
        None => None,
        Some(toml::Value::Boolean(b)) => Some(*b),
        Some(v) => {
            return Err(PolicyError::invalid(
                "schedule.garden_always_open",
                format!("{} is not true or false", show(v)),
            ))
        }
    };
    Ok(PolicySchedule {
        hours,
        garden_always_open,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Policy::parse(text.as_bytes()).unwrap_err().to_string()
    }

    const HEAD: &str = "version = 2\nexpires = \"2026-12-31T00:00:00+08:00\"\n";

    #[test]
    fn a_whole_document_parses() {
        let p = Policy::parse(
            format!(
                "{HEAD}[quota]\ndaily_data = \"300 MiB\"\nafter_quota_rate = 0\n\
                 [usage]\nfree = [\"layanan_publik\", \"pendidikan\", \"pendidikan\"]\n\
                 [schedule]\nopen = \"06:00\"\nclose = \"22:00\"\ngarden_always_open = false\n"
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(p.version, 2);
        assert_eq!(p.expires, 1_798_646_400);
        assert_eq!(
            p.quota,
            vec![
                (QuotaKey::DailyData, "300 MiB".to_owned()),
                (QuotaKey::AfterQuotaRate, "0".to_owned())
            ]
        );
        assert_eq!(p.free.unwrap(), ["layanan_publik", "pendidikan"]);
        let s = p.schedule.unwrap();
        assert_eq!(s.hours.unwrap().0.to_string(), "06:00");
        assert_eq!(s.garden_always_open, Some(false));
        // A TOML datetime literal is a time too.
        let p = Policy::parse(b"version = 1\nexpires = 2026-12-31T00:00:00Z\n").unwrap();
        assert_eq!(p.expires, 1_798_675_200);
        assert!(p.quota.is_empty() && p.free.is_none() && p.schedule.is_none());
        assert!(p.expired(1_798_675_200) && !p.expired(1_798_675_199));
    }

    #[test]
    fn every_error_names_its_key() {
        assert!(err("expires = \"2026-12-31T00:00:00Z\"").starts_with("version: missing key"));
        assert!(
            err("version = 0\nexpires = \"2026-12-31T00:00:00Z\"").starts_with("version: 0 is not")
        );
        assert!(err("version = \"2\"\nexpires = \"2026-12-31T00:00:00Z\"").starts_with("version: "));
        assert!(err("version = 2").starts_with("expires: missing key"));
        assert!(err("version = 2\nexpires = \"tomorrow\"")
            .starts_with("expires: \"tomorrow\" is not an RFC 3339"));
        // A civil time without an offset is not a moment.
        assert!(err("version = 2\nexpires = \"2026-12-31T00:00:00\"").starts_with("expires: "));
        assert_eq!(
            err(&format!("{HEAD}[quota]\ndaily_data = \"lots\"")),
            "quota.daily_data: \"lots\" is not a size (try \"500 MiB\")"
        );
        assert!(err(&format!("{HEAD}[quota]\ndaly_data = \"1 GiB\""))
            .starts_with("quota.daly_data: unknown key (expected one of: daily_data"));
        assert!(err(&format!("{HEAD}[quota]\naccounting_interval = \"1h\""))
            .starts_with("quota.accounting_interval: "));
        assert!(err(&format!("{HEAD}[usage]\nfree = [\"Video!\"]")).starts_with("usage.free[0]: "));
        assert!(err(&format!("{HEAD}[usage]\nfree = [\"lainnya\"]")).starts_with("usage.free[0]: "));
        assert!(err(&format!("{HEAD}[usage]\ncategories_file = \"x\""))
            .starts_with("usage.categories_file: unknown key"));
        assert!(err(&format!("{HEAD}[schedule]\nopen = \"06:00\""))
            .starts_with("schedule.close: missing key"));
        assert!(err(&format!(
            "{HEAD}[schedule]\nopen = \"25:00\"\nclose = \"22:00\""
        ))
        .starts_with("schedule.open: "));
        assert!(err(&format!(
            "{HEAD}[schedule]\nopen = \"06:00\"\nclose = \"06:00\""
        ))
        .starts_with("schedule.close: "));
        assert!(
            err(&format!("{HEAD}[network]\nmax_online = 5")).starts_with("network: unknown key")
        );
        assert!(err("version = ").starts_with("(toml): 1:"));
        assert!(Policy::parse(b"\xff")
            .unwrap_err()
            .to_string()
            .starts_with("(document): not UTF-8"));
    }

    #[test]
    fn garden_addresses_are_checked_like_the_config_file() {
        let p = Policy::parse(
            format!(
                "{HEAD}[walled_garden]\naddresses = [\"203.0.113.0/24\", \"198.51.100.7\", \"2001:db8::/48\", \"198.51.100.7/32\"]\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let shown: Vec<String> = p.garden.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            shown,
            ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/48"]
        );
        let p =
            Policy::parse(format!("{HEAD}[walled_garden]\naddresses = []\n").as_bytes()).unwrap();
        assert!(p.garden.is_empty());
        assert!(Policy::parse(HEAD.as_bytes()).unwrap().garden.is_empty());
        assert_eq!(
            err(&format!("{HEAD}[walled_garden]\naddresses = [\"1.2.3.4\", \"203.0.113.0/33\"]")),
            "walled_garden.addresses[1]: \"203.0.113.0/33\" is not an address or CIDR block (try \"203.0.113.0/24\")"
        );
        assert_eq!(
            err(&format!("{HEAD}[walled_garden]\naddresses = [\"203.0.113.5/24\"]")),
            "walled_garden.addresses[0]: \"203.0.113.5/24\" has host bits set (did you mean \"203.0.113.0/24\"?)"
        );
        assert!(err(&format!(
            "{HEAD}[walled_garden]\naddresses = [\"0.0.0.0/0\"]"
        ))
        .starts_with("walled_garden.addresses[0]: \"0.0.0.0/0\" is the whole internet"));
        assert!(err(&format!("{HEAD}[walled_garden]\naddresses = [7]"))
            .starts_with("walled_garden.addresses[0]: 7 is not an address"));
        assert!(
            err(&format!("{HEAD}[walled_garden]\naddresses = \"1.2.3.4\""))
                .starts_with("walled_garden.addresses: expected a list")
        );
        assert!(err(&format!("{HEAD}[walled_garden]\nports = [80]"))
            .starts_with("walled_garden.ports: unknown key (expected one of: addresses)"));
        assert!(err(&format!("{HEAD}[walled_garden]\n"))
            .starts_with("walled_garden.addresses: missing key"));
        assert!(err(&format!("{HEAD}walled_garden = 1\n"))
            .starts_with("walled_garden: expected a [walled_garden] table"));
    }

    #[test]
    fn garden_domains_are_refused_with_the_reason() {
        let e = Policy::parse(
            format!("{HEAD}[walled_garden]\naddresses = [\"203.0.113.0/24\"]\ndomains = [\"kemkes.go.id\"]\n")
                .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(e.reason().label(), "invalid");
        let e = e.to_string();
        assert!(
            e.starts_with("walled_garden.domains: a regency policy cannot add garden domains"),
            "{e}"
        );
        assert!(e.contains("dnsmasq") && e.contains("desawifi.toml"), "{e}");
    }
}
