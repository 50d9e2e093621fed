//! `[schedule]`: the opening hours.

use serde::Deserialize;

use super::check::{Check, Parsed, Text};
use crate::domain::{OpeningHours, TimeOfDay};

/// `[schedule]`: when the wifi is open (local time of `[site] timezone`).
#[derive(Debug, Clone)]
pub struct Schedule {
    /// `open` and `close`; `None` (neither key) means always open.
    pub hours: Option<OpeningHours>,
    /// Public services and the walled garden stay reachable while closed.
    pub garden_always_open: bool,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            hours: None,
            garden_always_open: true,
        }
    }
}

/// `[schedule]` as written: values kept as text for the check below.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [schedule] table")]
pub(crate) struct RawSchedule {
    open: Option<Text>,
    close: Option<Text>,
    garden_always_open: Option<bool>,
}

impl Check<'_> {
    pub(super) fn schedule(&self, raw: RawSchedule) -> Parsed<Schedule> {
        let open = self.optional("schedule.open", raw.open, |s| s.parse::<TimeOfDay>())?;
        let close = self.optional("schedule.close", raw.close, |s| s.parse::<TimeOfDay>())?;
        let hours = match (open, close) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(self.invalid(
                    "schedule.close",
                    "missing key (open and close go together; try \"22:00\")",
                ))
            }
            (None, Some(_)) => {
                return Err(self.invalid(
                    "schedule.open",
                    "missing key (open and close go together; try \"06:00\")",
                ))
            }
            (Some(o), Some(c)) => {
                Some(opening_hours(o, c).map_err(|m| self.invalid("schedule.close", m))?)
            }
        };
        Ok(Schedule {
            hours,
            garden_always_open: raw.garden_always_open.unwrap_or(true),
        })
    }
}

/// `open` to `close` as a window: the one rule the config file and
/// `PUT /api/schedule` share.
pub fn opening_hours(open: TimeOfDay, close: TimeOfDay) -> Result<OpeningHours, String> {
    OpeningHours::new(open, close).ok_or_else(|| {
        format!("\"{close}\" is the opening time too (leave out [schedule] to stay always open)")
    })
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn schedule_keys_are_checked_one_by_one() {
        assert!(parse(MINIMAL).unwrap().schedule.hours.is_none());
        assert!(parse(MINIMAL).unwrap().schedule.garden_always_open);
        assert_error(
            "schedule",
            "open",
            "\"25:00\"",
            "\"25:00\" is not a time of day (try \"06:00\")",
        );
        assert_error(
            "schedule",
            "close",
            "\"late\"",
            "\"late\" is not a time of day (try \"06:00\")",
        );
        // Both or neither: the error names the one missing.
        assert_eq!(
            error_with("schedule", "open", "\"06:00\""),
            "x.toml: schedule.close: missing key (open and close go together; try \"22:00\")"
        );
        assert_eq!(
            error_with("schedule", "close", "\"22:00\""),
            "x.toml: schedule.open: missing key (open and close go together; try \"06:00\")"
        );
        let text = format!("{MINIMAL}[schedule]\nopen = \"22:00\"\nclose = \"22:00\"\n");
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "x.toml: schedule.close: \"22:00\" is the opening time too (leave out [schedule] to stay always open)"
        );
        let text = format!(
            "{MINIMAL}[schedule]\nopen = \"18:00\"\nclose = \"02:00\"\ngarden_always_open = false\n"
        );
        let s = parse(&text).unwrap().schedule;
        assert_eq!(s.hours.unwrap().open.to_string(), "18:00");
        assert_eq!(s.hours.unwrap().close.to_string(), "02:00");
        assert!(!s.garden_always_open);
        let text = format!("{MINIMAL}[schedule]\ngarden_always_open = \"yes\"\n");
        assert!(parse(&text)
            .unwrap_err()
            .to_string()
            .contains("schedule.garden_always_open"));
    }
}
