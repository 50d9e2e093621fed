//! `[quota]`: the fair-use defaults every device gets, and [`QuotaKey`], the one
//! name and parser per key that the file, the admin API and the console share.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::check::{Check, Parsed, Text};
use super::values::{parse_duration, parse_rate, parse_size, positive, positive_rate};
use crate::domain::{Rate, Size};

/// The fair-share rules every device gets. The config file gives the
/// defaults (at start-up and on each reload); an admin's change
/// (`PUT /api/quota`) is kept in the store and wins from then on (see
/// `Gateway::quota`).
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

/// `[quota]` as written: values kept as text for the check below.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [quota] table")]
pub(crate) struct RawQuota {
    daily_data: Option<Text>,
    session_time: Option<Text>,
    idle_timeout: Option<Text>,
    download_rate: Option<Text>,
    upload_rate: Option<Text>,
    after_quota_rate: Option<Text>,
    accounting_interval: Option<Text>,
}

impl Check<'_> {
    pub(super) fn quota(&self, raw: RawQuota) -> Parsed<Quota> {
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
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn zero_after_quota_rate_means_cut_off() {
        let text = format!("{MINIMAL}[quota]\nafter_quota_rate = \"0\"\n");
        assert_eq!(parse(&text).unwrap().quota.after_quota_rate, Rate(0));
        let text = format!("{MINIMAL}[quota]\nafter_quota_rate = 0\n");
        assert_eq!(parse(&text).unwrap().quota.after_quota_rate, Rate(0));
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
}
