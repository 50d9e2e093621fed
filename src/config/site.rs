//! `[site]`: the village's name, regency, time zone and language.

use super::check::{Check, Parsed, Text};
use crate::lang::Language;
use serde::Deserialize;

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

/// Indonesia's time zones, built into the binary (TZif files of the IANA tz
/// database, public domain, in `config/tz/`): a router without
/// `/usr/share/zoneinfo` (OpenWrt, a trimmed image) still knows them. The
/// whole database would add 207 KB to a binary meant for small flash
/// (issue 13); every other zone comes from the system's database.
const BUILT_IN_ZONES: [(&str, &[u8]); 4] = [
    (
        "Asia/Jakarta",
        include_bytes!("../../config/tz/Asia/Jakarta"),
    ),
    (
        "Asia/Pontianak",
        include_bytes!("../../config/tz/Asia/Pontianak"),
    ),
    (
        "Asia/Makassar",
        include_bytes!("../../config/tz/Asia/Makassar"),
    ),
    (
        "Asia/Jayapura",
        include_bytes!("../../config/tz/Asia/Jayapura"),
    ),
];

/// The zone `name` from the system's tz database, else from
/// [`BUILT_IN_ZONES`].
pub(crate) fn time_zone(name: &str) -> Option<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(name).ok().or_else(|| {
        let (_, tzif) = BUILT_IN_ZONES.iter().find(|(n, _)| *n == name)?;
        jiff::tz::TimeZone::tzif(name, tzif).ok()
    })
}

/// `[site]` as written: values kept as text for the check below.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [site] table")]
pub(crate) struct RawSite {
    name: Option<Text>,
    regency: Option<Text>,
    timezone: Option<Text>,
    language: Option<Text>,
}

impl Check<'_> {
    pub(super) fn site(&self, raw: RawSite) -> Parsed<Site> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

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
}
