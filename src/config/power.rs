//! `[power]` (issue 25): where the village's battery is read, how often, and
//! the charge levels that make the gateway save power.
//!
//! ```toml
//! [power]
//! source = "nut"                  # "none" (default), "nut" or "vedirect"
//! nut_address = "127.0.0.1:3493"  # upsd; a name or an address, port 3493 if left out
//! nut_ups = "solar"               # the UPS's name in ups.conf
//! nut_username = "desawifi"       # optional; nut_username and nut_password go together
//! nut_password = "..."
//! vedirect_device = "/dev/ttyUSB0"  # for source = "vedirect"
//! poll_interval = "10s"
//! read_timeout = "5s"             # one reading's deadline
//! stale_after = "5m"              # no good reading this long: back to normal
//! saver_below = 40                # percent: hemat below this
//! essential_below = 20            # percent: darurat below this
//! warn_below = 10                 # percent: warn that the battery is nearly empty
//! hysteresis = 10                 # percentage points above a threshold to leave its mode
//!
//! [power.saver]                   # [quota] keys that apply in hemat
//! daily_data = "200 MiB"
//! download_rate = "1 Mbit/s"
//! upload_rate = "512 kbit/s"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::check::Text;
use super::error::{invalid, ConfigError};
use super::values::path_value;
use super::{format_duration, parse_duration, parse_quota_field, Quota, QuotaKey};
use crate::domain::{Rate, Size};

/// The NUT port IANA gave upsd.
pub const NUT_PORT: u16 = 3493;

/// Everything `[power]` says.
#[derive(Debug, Clone, PartialEq)]
pub struct Power {
    /// Where the battery is read; `None` reads nothing and stays `normal`.
    pub source: PowerSource,
    /// Time from the start of one reading to the start of the next.
    pub poll_interval: Duration,
    /// The deadline of one reading (connect and answer, or the serial frames).
    pub read_timeout: Duration,
    /// No good reading for this long: the mode goes back to `normal`.
    pub stale_after: Duration,
    /// The charge levels of the modes.
    pub thresholds: Thresholds,
    /// `[power.saver]`: the quota in hemat.
    pub saver: Saver,
}

/// Where the battery is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerSource {
    /// No battery is read (a grid-powered router): always `normal`.
    None,
    /// NUT's `upsd` over its TCP protocol.
    Nut(NutSource),
    /// A Victron VE.Direct serial port (an MPPT, a BMV or a SmartShunt).
    VeDirect { device: PathBuf },
}

/// A UPS on an upsd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NutSource {
    /// `host:port` as connected to (a name is looked up at each connect).
    pub address: String,
    /// The UPS's name in upsd's `ups.conf`.
    pub ups: String,
    /// `USERNAME` and `PASSWORD` sent before reading, when upsd asks for them.
    pub credentials: Option<(String, String)>,
}

/// Charge levels in percent. A mode is entered below its level and left
/// only at its level plus `hysteresis` (docs/configuration.md, "[power]").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Below this, `hemat`.
    pub saver_below: u8,
    /// Below this, `darurat`.
    pub essential_below: u8,
    /// Below this (or at NUT's `LB`), the warning that the battery is nearly empty.
    pub warn_below: u8,
    /// Percentage points above a level before its mode (or warning) is left.
    pub hysteresis: u8,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            saver_below: 40,
            essential_below: 20,
            warn_below: 10,
            hysteresis: 10,
        }
    }
}

/// The `[quota]` values that apply in `hemat`. Each is a ceiling: the live
/// site quota (the file's or an admin's) is kept where it is already lower,
/// so hemat never gives more than normal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saver {
    pub daily_data: Size,
    pub session_time: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub download_rate: Rate,
    pub upload_rate: Rate,
    pub after_quota_rate: Option<Rate>,
}

impl Saver {
    /// `base` (the quota in normal mode) with the saver's ceilings applied.
    pub fn apply(&self, base: &Quota) -> Quota {
        let mut q = base.clone();
        q.daily_data = q.daily_data.min(self.daily_data);
        q.download_rate = q.download_rate.min(self.download_rate);
        q.upload_rate = q.upload_rate.min(self.upload_rate);
        if let Some(d) = self.session_time {
            q.session_time = q.session_time.min(d);
        }
        if let Some(d) = self.idle_timeout {
            q.idle_timeout = q.idle_timeout.min(d);
        }
        if let Some(r) = self.after_quota_rate {
            q.after_quota_rate = q.after_quota_rate.min(r);
        }
        q
    }
}

/// `[power]` as written.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [power] table")]
pub(super) struct RawPower {
    source: Option<Text>,
    nut_address: Option<Text>,
    nut_ups: Option<Text>,
    nut_username: Option<Text>,
    nut_password: Option<Text>,
    vedirect_device: Option<Text>,
    poll_interval: Option<Text>,
    read_timeout: Option<Text>,
    stale_after: Option<Text>,
    saver_below: Option<Text>,
    essential_below: Option<Text>,
    warn_below: Option<Text>,
    hysteresis: Option<Text>,
    saver: Option<RawSaver>,
}

/// `[power.saver]` as written: the `[quota]` keys that make sense to lower
/// (not `accounting_interval`, which is how often counters are read).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [power.saver] table")]
struct RawSaver {
    daily_data: Option<Text>,
    session_time: Option<Text>,
    idle_timeout: Option<Text>,
    download_rate: Option<Text>,
    upload_rate: Option<Text>,
    after_quota_rate: Option<Text>,
}

/// Saver defaults when `[power.saver]` leaves a key out (the others inherit).
const SAVER_DEFAULTS: [(QuotaKey, &str); 3] = [
    (QuotaKey::DailyData, "200 MiB"),
    (QuotaKey::DownloadRate, "1 Mbit/s"),
    (QuotaKey::UploadRate, "512 kbit/s"),
];

/// One value, its default written like the file's, its error naming `key`.
fn value<T>(
    path: &Path,
    key: &str,
    raw: Option<Text>,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    let text = raw.map_or_else(|| default.to_owned(), |t| t.0);
    parse(&text).map_err(|m| invalid(path, key, m))
}

/// A percentage: `40` or `"40%"`, 0 to 100.
fn percent(s: &str) -> Result<u8, String> {
    s.trim()
        .trim_end_matches('%')
        .trim_end()
        .parse::<u8>()
        .ok()
        .filter(|&n| n <= 100)
        .ok_or_else(|| format!("{s:?} is not a percentage (a whole number 0 to 100; try 40)"))
}

fn duration_between(s: &str, min: Duration, max: Duration, hint: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < min || d > max {
        return Err(format!(
            "{s:?} is out of range (must be between {} and {}; try {hint:?})",
            format_duration(min),
            format_duration(max)
        ));
    }
    Ok(d)
}

/// `host:port`, `host` (port 3493), `[v6]:port` or a bare IPv6 address.
fn nut_address(s: &str) -> Result<String, String> {
    let t = s.trim();
    let bad = || format!("{s:?} is not a host with an optional port (try \"127.0.0.1:3493\")");
    if let Ok(addr) = t.parse::<std::net::SocketAddr>() {
        if addr.port() == 0 {
            return Err(bad());
        }
        return Ok(addr.to_string());
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, NUT_PORT).to_string());
    }
    let (host, port) = match t.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(bad)?),
        None => (t, NUT_PORT),
    };
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

/// A word upsd takes unquoted: a UPS name from ups.conf.
fn ups_name(s: &str) -> Result<String, String> {
    let t = s.trim();
    let ok = (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(format!(
            "{s:?} is not a UPS name (the [name] in upsd's ups.conf: letters, digits, '-', '_', '.'; try \"solar\")"
        ));
    }
    Ok(t.to_owned())
}

/// A credential sent on one protocol line: no line breaks, not empty.
fn credential(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(['\n', '\r', '\0']) {
        return Err("must not be empty or hold a line break".to_owned());
    }
    Ok(s.to_owned())
}

/// `[power]` -> the typed section; `source = "none"` when absent.
pub(super) fn power(raw: RawPower, path: &Path) -> Result<Power, ConfigError> {
    let kind = value(path, "power.source", raw.source, "none", |s| {
        match s.trim() {
            k @ ("none" | "nut" | "vedirect") => Ok(k.to_owned()),
            _ => Err(format!(
                "{s:?} is not a power source (expected one of: none, nut, vedirect)"
            )),
        }
    })?;
    let levels = [
        raw.saver_below,
        raw.essential_below,
        raw.warn_below,
        raw.hysteresis,
    ];
    let nut_given = [
        ("power.nut_address", raw.nut_address.is_some()),
        ("power.nut_ups", raw.nut_ups.is_some()),
        ("power.nut_username", raw.nut_username.is_some()),
        ("power.nut_password", raw.nut_password.is_some()),
    ];
    let vedirect_given = [("power.vedirect_device", raw.vedirect_device.is_some())];
    let refuse_others = |given: &[(&str, bool)]| {
        for (key, is) in given {
            if *is {
                return Err(invalid(
                    path,
                    key,
                    format!("given, but power.source is {kind:?}"),
                ));
            }
        }
        Ok(())
    };
    let source = match kind.as_str() {
        "nut" => {
            refuse_others(&vedirect_given)?;
            let address = value(
                path,
                "power.nut_address",
                raw.nut_address,
                "127.0.0.1:3493",
                nut_address,
            )?;
            let ups = match raw.nut_ups {
                Some(t) => ups_name(&t.0).map_err(|m| invalid(path, "power.nut_ups", m))?,
                None => {
                    return Err(invalid(
                        path,
                        "power.nut_ups",
                        "missing key (the UPS's [name] in upsd's ups.conf; try \"solar\")",
                    ))
                }
            };
            let credentials = match (raw.nut_username, raw.nut_password) {
                (None, None) => None,
                (Some(_), None) => {
                    return Err(invalid(
                        path,
                        "power.nut_password",
                        "missing key (nut_username and nut_password go together)",
                    ))
                }
                (None, Some(_)) => {
                    return Err(invalid(
                        path,
                        "power.nut_username",
                        "missing key (nut_username and nut_password go together)",
                    ))
                }
                (Some(u), Some(p)) => Some((
                    credential(&u.0).map_err(|m| invalid(path, "power.nut_username", m))?,
                    credential(&p.0).map_err(|m| invalid(path, "power.nut_password", m))?,
                )),
            };
            PowerSource::Nut(NutSource {
                address,
                ups,
                credentials,
            })
        }
        "vedirect" => {
            refuse_others(&nut_given)?;
            let device = match raw.vedirect_device {
                Some(t) => {
                    path_value(&t.0).map_err(|m| invalid(path, "power.vedirect_device", m))?
                }
                None => return Err(invalid(
                    path,
                    "power.vedirect_device",
                    "missing key (the serial port of the VE.Direct cable; try \"/dev/ttyUSB0\")",
                )),
            };
            PowerSource::VeDirect { device }
        }
        _ => {
            refuse_others(&nut_given)?;
            refuse_others(&vedirect_given)?;
            PowerSource::None
        }
    };
    let poll_interval = value(path, "power.poll_interval", raw.poll_interval, "10s", |s| {
        duration_between(s, Duration::from_secs(1), Duration::from_secs(3600), "10s")
    })?;
    let read_timeout = value(path, "power.read_timeout", raw.read_timeout, "5s", |s| {
        let d = duration_between(s, Duration::from_millis(100), Duration::from_secs(60), "5s")?;
        if d > poll_interval {
            return Err(format!(
                "{s:?} is longer than power.poll_interval ({}; try \"5s\")",
                format_duration(poll_interval)
            ));
        }
        Ok(d)
    })?;
    let stale_after = value(path, "power.stale_after", raw.stale_after, "5m", |s| {
        let d = duration_between(
            s,
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
            "5m",
        )?;
        if d <= poll_interval {
            return Err(format!(
                "{s:?} is not longer than power.poll_interval ({}; a reading must have a chance; try \"5m\")",
                format_duration(poll_interval)
            ));
        }
        Ok(d)
    })?;
    let thresholds = thresholds(levels, path)?;
    let saver = saver(raw.saver.unwrap_or_default(), path)?;
    Ok(Power {
        source,
        poll_interval,
        read_timeout,
        stale_after,
        thresholds,
        saver,
    })
}

/// `saver_below`, `essential_below`, `warn_below` and `hysteresis`, as written.
fn thresholds(raw: [Option<Text>; 4], path: &Path) -> Result<Thresholds, ConfigError> {
    let d = Thresholds::default();
    let [saver_raw, essential_raw, warn_raw, hysteresis_raw] = raw;
    let saver_below = value(
        path,
        "power.saver_below",
        saver_raw,
        &d.saver_below.to_string(),
        percent,
    )?;
    let essential_below = value(
        path,
        "power.essential_below",
        essential_raw,
        &d.essential_below.to_string(),
        |s| {
            let n = percent(s)?;
            if n >= saver_below {
                return Err(format!(
                    "{s:?} is not below power.saver_below ({saver_below}): darurat is the deeper level"
                ));
            }
            Ok(n)
        },
    )?;
    let warn_below = value(
        path,
        "power.warn_below",
        warn_raw,
        &d.warn_below.to_string(),
        |s| {
            let n = percent(s)?;
            if n > essential_below {
                return Err(format!(
                    "{s:?} is above power.essential_below ({essential_below}): the warning is for a nearly empty battery"
                ));
            }
            Ok(n)
        },
    )?;
    let hysteresis = value(
        path,
        "power.hysteresis",
        hysteresis_raw,
        &d.hysteresis.to_string(),
        |s| {
            let n = percent(s)?;
            if u16::from(saver_below) + u16::from(n) > 100 {
                return Err(format!(
                    "{s:?} plus power.saver_below ({saver_below}) is over 100: hemat could never end (try 10)"
                ));
            }
            Ok(n)
        },
    )?;
    Ok(Thresholds {
        saver_below,
        essential_below,
        warn_below,
        hysteresis,
    })
}

fn saver(raw: RawSaver, path: &Path) -> Result<Saver, ConfigError> {
    // Each key through `[quota]`'s own parser, from a placeholder it replaces.
    let placeholder = Quota {
        daily_data: Size(0),
        session_time: Duration::ZERO,
        idle_timeout: Duration::ZERO,
        download_rate: Rate(0),
        upload_rate: Rate(0),
        after_quota_rate: Rate(0),
        accounting_interval: Duration::ZERO,
    };
    let default = |key: QuotaKey| SAVER_DEFAULTS.iter().find(|(k, _)| *k == key).map(|d| d.1);
    let parse = |key: QuotaKey, raw: Option<Text>| -> Result<Option<Quota>, ConfigError> {
        let Some(text) = raw.map(|t| t.0).or_else(|| default(key).map(str::to_owned)) else {
            return Ok(None);
        };
        parse_quota_field(&placeholder, key, &text)
            .map(Some)
            .map_err(|m| invalid(path, &format!("power.saver.{key}"), m))
    };
    let must = |q: Option<Quota>| q.expect("a key with a default");
    Ok(Saver {
        daily_data: must(parse(QuotaKey::DailyData, raw.daily_data)?).daily_data,
        session_time: parse(QuotaKey::SessionTime, raw.session_time)?.map(|q| q.session_time),
        idle_timeout: parse(QuotaKey::IdleTimeout, raw.idle_timeout)?.map(|q| q.idle_timeout),
        download_rate: must(parse(QuotaKey::DownloadRate, raw.download_rate)?).download_rate,
        upload_rate: must(parse(QuotaKey::UploadRate, raw.upload_rate)?).upload_rate,
        after_quota_rate: parse(QuotaKey::AfterQuotaRate, raw.after_quota_rate)?
            .map(|q| q.after_quota_rate),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

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

    fn parse(power: &str) -> Result<Power, String> {
        Config::parse(&format!("{MINIMAL}{power}"), Path::new("x.toml"))
            .map(|c| c.power)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn absent_means_no_source_and_the_defaults() {
        let p = parse("").unwrap();
        assert_eq!(p.source, PowerSource::None);
        assert_eq!(p.poll_interval, Duration::from_secs(10));
        assert_eq!(p.read_timeout, Duration::from_secs(5));
        assert_eq!(p.stale_after, Duration::from_secs(300));
        assert_eq!(p.thresholds, Thresholds::default());
        assert_eq!(p.saver.daily_data, Size(200 << 20));
        assert_eq!(p.saver.download_rate, Rate(1_000_000));
        assert_eq!(p.saver.upload_rate, Rate(512_000));
        assert_eq!(p.saver.session_time, None);
    }

    #[test]
    fn nut_and_vedirect_sources() {
        let p = parse("[power]\nsource = \"nut\"\nnut_ups = \"solar\"\n").unwrap();
        assert_eq!(
            p.source,
            PowerSource::Nut(NutSource {
                address: "127.0.0.1:3493".into(),
                ups: "solar".into(),
                credentials: None
            })
        );
        let p = parse(
            "[power]\nsource = \"nut\"\nnut_ups = \"ups-1\"\nnut_address = \"inverter.lan\"\nnut_username = \"mon\"\nnut_password = \"pass word\"\n",
        )
        .unwrap();
        let PowerSource::Nut(nut) = p.source else {
            panic!("not nut")
        };
        assert_eq!(nut.address, "inverter.lan:3493");
        assert_eq!(nut.credentials, Some(("mon".into(), "pass word".into())));
        for (given, want) in [
            ("::1", "[::1]:3493"),
            ("[::1]:4000", "[::1]:4000"),
            ("10.0.0.2", "10.0.0.2:3493"),
        ] {
            assert_eq!(nut_address(given).unwrap(), want);
        }
        let p =
            parse("[power]\nsource = \"vedirect\"\nvedirect_device = \"/dev/ttyUSB0\"\n").unwrap();
        assert_eq!(
            p.source,
            PowerSource::VeDirect {
                device: "/dev/ttyUSB0".into()
            }
        );
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("source = \"sun\"", "x.toml: power.source: \"sun\" is not a power source (expected one of: none, nut, vedirect)"),
            ("source = \"nut\"", "x.toml: power.nut_ups: missing key (the UPS's [name] in upsd's ups.conf; try \"solar\")"),
            ("source = \"nut\"\nnut_ups = \"so lar\"", "x.toml: power.nut_ups: \"so lar\" is not a UPS name (the [name] in upsd's ups.conf: letters, digits, '-', '_', '.'; try \"solar\")"),
            ("source = \"nut\"\nnut_ups = \"s\"\nnut_username = \"u\"", "x.toml: power.nut_password: missing key (nut_username and nut_password go together)"),
            ("source = \"nut\"\nnut_ups = \"s\"\nnut_address = \"a b:1\"", "x.toml: power.nut_address: \"a b:1\" is not a host with an optional port (try \"127.0.0.1:3493\")"),
            ("source = \"nut\"\nnut_ups = \"s\"\nvedirect_device = \"/dev/ttyS0\"", "x.toml: power.vedirect_device: given, but power.source is \"nut\""),
            ("nut_ups = \"s\"", "x.toml: power.nut_ups: given, but power.source is \"none\""),
            ("source = \"vedirect\"", "x.toml: power.vedirect_device: missing key (the serial port of the VE.Direct cable; try \"/dev/ttyUSB0\")"),
            ("poll_interval = \"0\"", "x.toml: power.poll_interval: \"0\" is out of range (must be between 1s and 1h; try \"10s\")"),
            ("read_timeout = \"20s\"", "x.toml: power.read_timeout: \"20s\" is longer than power.poll_interval (10s; try \"5s\")"),
            ("stale_after = \"10s\"", "x.toml: power.stale_after: \"10s\" is not longer than power.poll_interval (10s; a reading must have a chance; try \"5m\")"),
            ("saver_below = 140", "x.toml: power.saver_below: \"140\" is not a percentage (a whole number 0 to 100; try 40)"),
            ("essential_below = 40", "x.toml: power.essential_below: \"40\" is not below power.saver_below (40): darurat is the deeper level"),
            ("warn_below = \"25%\"", "x.toml: power.warn_below: \"25%\" is above power.essential_below (20): the warning is for a nearly empty battery"),
            ("hysteresis = 70", "x.toml: power.hysteresis: \"70\" plus power.saver_below (40) is over 100: hemat could never end (try 10)"),
            ("sauce = 1", "x.toml: power.sauce: unknown key (expected one of: source, nut_address, nut_ups, nut_username, nut_password, vedirect_device, poll_interval, read_timeout, stale_after, saver_below, essential_below, warn_below, hysteresis, saver)"),
        ];
        for (body, want) in cases {
            assert_eq!(
                parse(&format!("[power]\n{body}\n")).unwrap_err(),
                want,
                "{body}"
            );
        }
    }

    #[test]
    fn saver_keys_go_through_the_quota_parsers() {
        let p = parse("[power.saver]\ndaily_data = \"100 MiB\"\nsession_time = \"1h\"\nafter_quota_rate = 0\n")
            .unwrap();
        assert_eq!(p.saver.daily_data, Size(100 << 20));
        assert_eq!(p.saver.session_time, Some(Duration::from_secs(3600)));
        assert_eq!(p.saver.after_quota_rate, Some(Rate(0)));
        // The same message `[quota]` gives for the same value, under the saver's key.
        let e = parse("[power.saver]\ndaily_data = \"lots\"\n").unwrap_err();
        assert_eq!(
            e,
            "x.toml: power.saver.daily_data: \"lots\" is not a size (try \"500 MiB\")"
        );
        let e = parse("[power.saver]\ndownload_rate = \"0\"\n").unwrap_err();
        assert!(
            e.starts_with("x.toml: power.saver.download_rate: \"0\" must be more than zero"),
            "{e}"
        );
        let e = parse("[power.saver]\naccounting_interval = \"5s\"\n").unwrap_err();
        assert!(e.starts_with("x.toml: power.saver.accounting_interval: unknown key (expected one of: daily_data, session_time, idle_timeout, download_rate, upload_rate, after_quota_rate)"), "{e}");
    }

    #[test]
    fn the_saver_never_gives_more_than_normal() {
        let base = Config::parse(MINIMAL, Path::new("x.toml")).unwrap().quota;
        let saver = parse("[power.saver]\ndaily_data = \"1 GiB\"\nsession_time = \"1h\"\n")
            .unwrap()
            .saver;
        let q = saver.apply(&base);
        assert_eq!(
            q.daily_data, base.daily_data,
            "1 GiB is above the site's 500 MiB"
        );
        assert_eq!(q.session_time, Duration::from_secs(3600));
        assert_eq!(q.download_rate, Rate(1_000_000));
        assert_eq!(q.idle_timeout, base.idle_timeout);
        assert_eq!(q.accounting_interval, base.accounting_interval);
    }
}
