//! The site's local day: quotas and reports count by the calendar of the
//! configured time zone, not by UTC.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The local calendar day of `unix` as a number like 20261127 (sorts by time).
pub fn local_day(unix: i64, tz: &TimeZone) -> u32 {
    let date = Timestamp::from_second(unix)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone())
        .date();
    date.year() as u32 * 10_000 + date.month() as u32 * 100 + date.day() as u32
}

/// Unix time of the next local midnight after `unix` (when quotas reset).
pub fn next_midnight(unix: i64, tz: &TimeZone) -> i64 {
    let zoned = Timestamp::from_second(unix)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone());
    let tomorrow = zoned.date().tomorrow().unwrap_or(zoned.date());
    tomorrow
        .to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp().as_second())
        .unwrap_or(unix + 86_400)
}

/// `HH:MM` local time of `unix`, for "slower until 00:00" messages.
pub fn local_hhmm(unix: i64, tz: &TimeZone) -> String {
    let z = Timestamp::from_second(unix)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone());
    format!("{:02}:{:02}", z.hour(), z.minute())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn makassar() -> TimeZone {
        TimeZone::get("Asia/Makassar").unwrap()
    }

    #[test]
    fn days_follow_the_site_time_zone() {
        let tz = makassar();
        // 2026-11-27 15:59:59 UTC = 23:59:59 WITA; one second later it is the 28th.
        let before = jiff::civil::date(2026, 11, 27)
            .at(23, 59, 59, 0)
            .to_zoned_datetime(tz.clone())
            .unwrap()
            .timestamp()
            .as_second();
        assert_eq!(local_day(before, &tz), 20261127);
        assert_eq!(local_day(before + 1, &tz), 20261128);
        assert_eq!(next_midnight(before, &tz), before + 1);
        assert_eq!(next_midnight(before + 1, &tz), before + 1 + 86_400);
        assert_eq!(local_hhmm(before + 1, &tz), "00:00");
        // UTC midnight is 08:00 in Makassar: not a reset.
        let utc_midnight = Timestamp::from_second(before + 1 - 8 * 3600 + 86_400)
            .unwrap()
            .as_second();
        assert_eq!(
            local_day(utc_midnight - 1, &tz),
            local_day(utc_midnight, &tz)
        );
    }
}
