//! The site's local day: quotas and reports count by the calendar of the
//! configured time zone, not by UTC. Days are kept (in the store, in
//! reports) as numbers like 20261127; here is their calendar too.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

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

/// `YYYY-MM-DD` -> store day number (20261127). Strict: exactly that form, a real date.
pub fn parse_day(s: &str) -> Result<u32, String> {
    let bad = || format!("{s:?} is not a date (try \"2026-11-27\")");
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|p| p.parse::<i16>().ok())
            .ok_or_else(bad)
    };
    let date = Date::new(num(0..4)?, num(5..7)? as i8, num(8..10)? as i8).map_err(|_| bad())?;
    Ok(day_number(date))
}

/// Store day number -> `YYYY-MM-DD`.
pub fn day_string(day: u32) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day / 10_000,
        day / 100 % 100,
        day % 100
    )
}

/// The day after `day`, `None` past the calendar's end.
pub fn next_day(day: u32) -> Option<u32> {
    Some(day_number(date_of(day)?.tomorrow().ok()?))
}

/// `day` moved by `days` (negative: back).
pub fn add_days(day: u32, days: i32) -> Option<u32> {
    Some(day_number(
        date_of(day)?.checked_add(Span::new().days(days)).ok()?,
    ))
}

/// How many days `from..=to` holds (0 when `to` is before `from`).
pub fn days_in(from: u32, to: u32) -> i64 {
    match (date_of(from), date_of(to)) {
        (Some(a), Some(b)) if b >= a => a.until(b).map(|s| s.get_days() as i64 + 1).unwrap_or(0),
        _ => 0,
    }
}

fn date_of(day: u32) -> Option<Date> {
    Date::new(
        (day / 10_000) as i16,
        (day / 100 % 100) as i8,
        (day % 100) as i8,
    )
    .ok()
}

fn day_number(d: Date) -> u32 {
    d.year() as u32 * 10_000 + d.month() as u32 * 100 + d.day() as u32
}

/// `2026-11-27T21:05:00+08:00`: unix seconds in the zone `tz`.
pub fn rfc3339(unix: i64, tz: &TimeZone) -> String {
    let ts = Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH);
    ts.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
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

    #[test]
    fn days_parse_strictly_and_walk_the_calendar() {
        assert_eq!(parse_day("2026-11-27"), Ok(20261127));
        for bad in [
            "2026-11-31",
            "2026-13-01",
            "26-11-27",
            "2026/11/27",
            "2026-1-27",
            "2026-11-27T00",
            "",
            "abcd-ef-gh",
            "2026-+1-27",
        ] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
        assert_eq!(day_string(20260305), "2026-03-05");
        assert_eq!(next_day(20261231), Some(20270101));
        assert_eq!(next_day(20280228), Some(20280229));
        assert_eq!(add_days(20270101, -7), Some(20261225));
        assert_eq!(days_in(20261127, 20261127), 1);
        assert_eq!(days_in(20261101, 20261130), 30);
        assert_eq!(days_in(20261128, 20261127), 0);
        assert_eq!(days_in(20250101, 20260101), 366);
    }

    #[test]
    fn times_are_local_rfc3339() {
        let tz = jiff::tz::TimeZone::get("Asia/Makassar").unwrap();
        let noon_utc = jiff::civil::date(2026, 11, 27)
            .at(12, 0, 0, 0)
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_second();
        assert_eq!(rfc3339(noon_utc, &tz), "2026-11-27T20:00:00+08:00");
        let jayapura = jiff::tz::TimeZone::get("Asia/Jayapura").unwrap();
        assert_eq!(rfc3339(noon_utc, &jayapura), "2026-11-27T21:00:00+09:00");
    }
}
