//! Opening hours: the village decides when its wifi is open (a solar battery
//! matters at night). Pure local-time arithmetic on the site's time zone; the
//! gateway decides with it, the portal shows it.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// A local time of day, in minutes after midnight (0..1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    /// `hour:minute`, if it is a real time of day.
    pub fn new(hour: u8, minute: u8) -> Option<TimeOfDay> {
        (hour < 24 && minute < 60).then(|| TimeOfDay(hour as u16 * 60 + minute as u16))
    }

    /// Minutes after local midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }

    /// From minutes after midnight (as the store keeps it).
    pub fn from_minutes(m: u16) -> Option<TimeOfDay> {
        (m < 1440).then_some(TimeOfDay(m))
    }

    pub fn hour(self) -> u8 {
        (self.0 / 60) as u8
    }

    pub fn minute(self) -> u8 {
        (self.0 % 60) as u8
    }
}

impl std::fmt::Display for TimeOfDay {
    /// `06:00`, as the config file writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

impl std::str::FromStr for TimeOfDay {
    type Err = String;

    /// `"06:00"` or `"6:00"` (24-hour clock).
    fn from_str(s: &str) -> Result<TimeOfDay, String> {
        let bad = || format!("{s:?} is not a time of day (try \"06:00\")");
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u8 = h.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        TimeOfDay::new(h, m).ok_or_else(bad)
    }
}

/// When the wifi is open each day: from `open` to `close`, local time. A
/// window with `close` before `open` crosses midnight (18:00 to 02:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpeningHours {
    pub open: TimeOfDay,
    pub close: TimeOfDay,
}

/// Where a moment falls in the opening hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// Open; closes at this unix second.
    Open { closes: i64 },
    /// Closed; opens at this unix second.
    Closed { opens: i64 },
}

impl OpeningHours {
    /// A window; `None` when open and close are the same minute (say
    /// nothing at all for "always open").
    pub fn new(open: TimeOfDay, close: TimeOfDay) -> Option<OpeningHours> {
        (open != close).then_some(OpeningHours { open, close })
    }

    /// Is the wifi open at local minute-of-day `m`?
    fn open_at_minute(&self, m: u16) -> bool {
        let (o, c) = (self.open.0, self.close.0);
        if o < c {
            o <= m && m < c
        } else {
            m >= o || m < c
        }
    }

    /// Where `unix` falls, and when that changes.
    pub fn at(&self, unix: i64, tz: &TimeZone) -> Opening {
        let zoned = Timestamp::from_second(unix)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned_datetime(tz.clone());
        let m = zoned.hour() as u16 * 60 + zoned.minute() as u16;
        if self.open_at_minute(m) {
            Opening::Open {
                closes: next_at(unix, self.close, tz),
            }
        } else {
            Opening::Closed {
                opens: next_at(unix, self.open, tz),
            }
        }
    }
}

/// Unix time of the next local `time` strictly after `unix` (today's or
/// tomorrow's; a time a DST gap skips comes at the gap's end).
pub fn next_at(unix: i64, time: TimeOfDay, tz: &TimeZone) -> i64 {
    let zoned = Timestamp::from_second(unix)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone());
    let mut date = zoned.date();
    for _ in 0..3 {
        let at = date
            .at(time.hour() as i8, time.minute() as i8, 0, 0)
            .to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp().as_second());
        if let Ok(at) = at {
            if at > unix {
                return at;
            }
        }
        date = date.tomorrow().unwrap_or(date);
    }
    unix + 86_400
}

/// The zone's short name at `unix` ("WITA" in Makassar), for "opens at
/// 06:00 WITA"; empty when the zone has only a numeric one.
pub fn zone_abbreviation(unix: i64, tz: &TimeZone) -> String {
    let ts = Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH);
    let info = tz.to_offset_info(ts);
    let abbr = info.abbreviation();
    if abbr.starts_with(['+', '-']) {
        String::new()
    } else {
        abbr.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(tz: &TimeZone, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
        jiff::civil::date(y, mo, d)
            .at(h, mi, 0, 0)
            .to_zoned_datetime(tz.clone())
            .unwrap()
            .timestamp()
            .as_second()
    }

    fn hours(open: &str, close: &str) -> OpeningHours {
        OpeningHours::new(open.parse().unwrap(), close.parse().unwrap()).unwrap()
    }

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!("06:00".parse::<TimeOfDay>().unwrap().minutes(), 360);
        assert_eq!("6:05".parse::<TimeOfDay>().unwrap().to_string(), "06:05");
        assert_eq!("23:59".parse::<TimeOfDay>().unwrap().minutes(), 1439);
        for bad in [
            "24:00", "12:60", "noon", "12", "12:5", ":30", "-1:00", "123:00",
        ] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
        assert!(OpeningHours::new(TimeOfDay(60), TimeOfDay(60)).is_none());
    }

    #[test]
    fn a_day_window_opens_and_closes_in_local_time() {
        let tz = TimeZone::get("Asia/Makassar").unwrap();
        let h = hours("06:00", "22:00");
        // 05:59 WITA is 21:59 UTC the day before: closed, opens in a minute.
        let before = at(&tz, 2026, 12, 1, 5, 59);
        assert_eq!(h.at(before, &tz), Opening::Closed { opens: before + 60 });
        let open = at(&tz, 2026, 12, 1, 6, 0);
        assert_eq!(
            h.at(open, &tz),
            Opening::Open {
                closes: at(&tz, 2026, 12, 1, 22, 0)
            }
        );
        let close = at(&tz, 2026, 12, 1, 22, 0);
        assert_eq!(
            h.at(close, &tz),
            Opening::Closed {
                opens: at(&tz, 2026, 12, 2, 6, 0)
            },
            "closed from the closing minute on, until tomorrow's opening"
        );
        assert!(matches!(h.at(close - 1, &tz), Opening::Open { closes } if closes == close));
        assert_eq!(zone_abbreviation(open, &tz), "WITA");
    }

    #[test]
    fn a_night_window_crosses_midnight() {
        let tz = TimeZone::get("Asia/Makassar").unwrap();
        let h = hours("18:00", "02:00");
        let evening = at(&tz, 2026, 12, 1, 23, 30);
        assert_eq!(
            h.at(evening, &tz),
            Opening::Open {
                closes: at(&tz, 2026, 12, 2, 2, 0)
            }
        );
        let late = at(&tz, 2026, 12, 2, 1, 59);
        assert_eq!(h.at(late, &tz), Opening::Open { closes: late + 60 });
        let noon = at(&tz, 2026, 12, 2, 12, 0);
        assert_eq!(
            h.at(noon, &tz),
            Opening::Closed {
                opens: at(&tz, 2026, 12, 2, 18, 0)
            }
        );
    }

    #[test]
    fn the_window_follows_the_site_zone_not_utc() {
        let makassar = TimeZone::get("Asia/Makassar").unwrap();
        let jakarta = TimeZone::get("Asia/Jakarta").unwrap();
        let h = hours("06:00", "22:00");
        // 06:30 in Makassar is 05:30 in Jakarta: open in one, closed in the other.
        let t = at(&makassar, 2026, 12, 1, 6, 30);
        assert!(matches!(h.at(t, &makassar), Opening::Open { .. }));
        assert_eq!(h.at(t, &jakarta), Opening::Closed { opens: t + 30 * 60 });
        assert_eq!(zone_abbreviation(t, &jakarta), "WIB");
    }

    #[test]
    fn next_at_skips_a_dst_gap() {
        // Europe/Berlin skips 02:00-03:00 on 2026-03-29.
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let before = at(&tz, 2026, 3, 29, 1, 0);
        let t = next_at(before, "02:30".parse().unwrap(), &tz);
        assert!(t > before && t - before <= 2 * 3600, "{}", t - before);
        let h = hours("02:30", "05:00");
        assert!(matches!(h.at(before, &tz), Opening::Closed { opens } if opens == t));
    }
}
