//! A router without a real-time clock (issue 22, item 7): a Raspberry Pi or
//! a set-top box boots at 1970, or at a stale saved time, until NTP answers,
//! and the dish may be dark all night. The gateway keeps a high-water mark of
//! time (in the store, `settings/clock`):
//!
//! - While the clock reads below the mark, time is the mark plus the
//!   monotonic time since the clock fell behind, but never past the last
//!   second of the mark's local day: usage keeps counting against the last
//!   known day, sessions and opening hours follow that estimate, and nothing
//!   is pruned or forgotten. After [`ACCEPT_AFTER`] of monotonic time behind,
//!   the clock is believed again (a mark left by a spoofed future time must
//!   not freeze the village's day for ever).
//! - Pruning (old usage, category days, forgotten devices) uses a clock of
//!   its own that advances at most [`PRUNE_STEP`] per prune: a jump far into
//!   the future (spoofed NTP) deletes at most that much history, and a real
//!   long outage is caught up a day per day.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;

use crate::clock::Clock;
use crate::domain::next_midnight;

/// How long the clock may read below the high-water mark before it is
/// believed anyway (monotonic time).
pub const ACCEPT_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The most the prune clock advances in one prune.
pub const PRUNE_STEP: i64 = 2 * 86_400;
/// The mark is saved when it moved this far (or to another local day).
const SAVE_EVERY: i64 = 300;

/// What the clock says and whether it is behind the mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Unix seconds the gateway uses.
    pub now: i64,
    /// The clock reads below the high-water mark (no RTC, NTP not yet answered).
    pub behind: bool,
}

/// The mark and how the clock stands against it.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    /// The highest time the clock read (or the store had), unix seconds.
    high: i64,
    /// Since when (monotonic) the clock reads below `high`.
    behind_since: Option<Instant>,
}

impl Mark {
    /// The time to use for a clock reading `raw` at monotonic `mono`.
    fn read(&mut self, raw: i64, mono: Instant, tz: &TimeZone) -> Reading {
        if raw >= self.high {
            self.high = raw;
            self.behind_since = None;
            return Reading {
                now: raw,
                behind: false,
            };
        }
        let since = *self.behind_since.get_or_insert(mono);
        let elapsed = mono.saturating_duration_since(since);
        if elapsed >= ACCEPT_AFTER {
            self.high = raw;
            self.behind_since = None;
            return Reading {
                now: raw,
                behind: false,
            };
        }
        let last_second = next_midnight(self.high, tz) - 1;
        let estimate = self.high.saturating_add(elapsed.as_secs() as i64);
        Reading {
            now: estimate.min(last_second).max(self.high),
            behind: true,
        }
    }
}

/// The gateway's clock: the injected one, held to the high-water mark.
pub(super) struct TimeGuard {
    clock: Arc<dyn Clock>,
    tz: TimeZone,
    mark: Mutex<Mark>,
    /// The mark as last saved, and the prune clock (0: never pruned).
    saved: Mutex<(i64, i64)>,
}

impl TimeGuard {
    /// `stored`: the store's (high-water mark, prune clock), zeros if none.
    pub(super) fn new(clock: Arc<dyn Clock>, tz: TimeZone, stored: (i64, i64)) -> TimeGuard {
        TimeGuard {
            clock,
            tz,
            mark: Mutex::new(Mark {
                high: stored.0,
                behind_since: None,
            }),
            saved: Mutex::new(stored),
        }
    }

    /// The time now, and whether the clock is behind the mark.
    pub(super) fn read(&self) -> Reading {
        let raw = self.clock.now();
        let mut mark = self.mark.lock().expect("time mark lock");
        let was_behind = mark.behind_since.is_some();
        let r = mark.read(raw, Instant::now(), &self.tz);
        if r.behind && !was_behind {
            tracing::warn!(
                clock = raw,
                high_water = mark.high,
                "the clock is behind the last time seen (no RTC, NTP not yet answered?): \
                 counting against the last known day, pruning nothing"
            );
        } else if was_behind && !r.behind {
            tracing::warn!(clock = raw, "the clock is believed again");
        }
        r
    }

    /// The mark to save, when it moved far enough since the last save.
    pub(super) fn mark_to_save(&self) -> Option<(i64, i64)> {
        let high = self.mark.lock().expect("time mark lock").high;
        let mut saved = self.saved.lock().expect("time saved lock");
        let moved = high - saved.0 >= SAVE_EVERY
            || next_midnight(high, &self.tz) != next_midnight(saved.0, &self.tz);
        (high > saved.0 && moved).then(|| {
            saved.0 = high;
            *saved
        })
    }

    /// The mark to save at shutdown: whenever it moved since the last save.
    pub(super) fn mark_to_save_now(&self) -> Option<(i64, i64)> {
        let high = self.mark.lock().expect("time mark lock").high;
        let mut saved = self.saved.lock().expect("time saved lock");
        (high > saved.0).then(|| {
            saved.0 = high;
            *saved
        })
    }

    /// The time a prune may use now (`None` while the clock is behind), and
    /// the record to save with it.
    pub(super) fn prune_time(&self) -> Option<(i64, (i64, i64))> {
        let r = self.read();
        if r.behind {
            return None;
        }
        let mut saved = self.saved.lock().expect("time saved lock");
        let at = prune_step(saved.1, r.now);
        saved.1 = at;
        saved.0 = saved.0.max(self.mark.lock().expect("time mark lock").high);
        Some((at, *saved))
    }
}

/// The prune clock after one prune at `now`, from `last` (0: never).
fn prune_step(last: i64, now: i64) -> i64 {
    if last == 0 {
        now
    } else {
        now.min(last.saturating_add(PRUNE_STEP)).max(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz() -> TimeZone {
        TimeZone::get("Asia/Makassar").unwrap()
    }

    /// 2026-12-06 20:00 in Asia/Makassar (12:00 UTC).
    const EVENING: i64 = 1_796_558_400;

    #[test]
    fn behind_the_mark_time_stays_on_the_last_known_day() {
        let tz = tz();
        let t0 = Instant::now();
        let mut m = Mark::default();
        assert_eq!(
            m.read(EVENING, t0, &tz),
            Reading {
                now: EVENING,
                behind: false
            }
        );
        // Reboot without an RTC: 1970.
        let r = m.read(10, t0 + Duration::from_secs(1), &tz);
        assert_eq!(
            r,
            Reading {
                now: EVENING,
                behind: true
            }
        );
        let r = m.read(70, t0 + Duration::from_secs(61), &tz);
        assert_eq!(
            r,
            Reading {
                now: EVENING + 60,
                behind: true
            },
            "the estimate runs on"
        );
        // All night without NTP: never past 23:59:59 of the last known day.
        let r = m.read(5 * 3600, t0 + Duration::from_secs(6 * 3600), &tz);
        let midnight = next_midnight(EVENING, &tz);
        assert_eq!(
            r,
            Reading {
                now: midnight - 1,
                behind: true
            }
        );
        // NTP answers: the real time.
        let r = m.read(midnight + 3600, t0 + Duration::from_secs(6 * 3600 + 1), &tz);
        assert_eq!(
            r,
            Reading {
                now: midnight + 3600,
                behind: false
            }
        );
    }

    #[test]
    fn a_mark_from_a_spoofed_future_is_dropped_after_a_day() {
        let tz = tz();
        let t0 = Instant::now();
        let mut m = Mark::default();
        m.read(EVENING + 400 * 86_400, t0, &tz);
        let r = m.read(EVENING, t0 + Duration::from_secs(10), &tz);
        assert!(r.behind);
        let r = m.read(
            EVENING + 86_400,
            t0 + ACCEPT_AFTER + Duration::from_secs(10),
            &tz,
        );
        assert_eq!(
            r,
            Reading {
                now: EVENING + 86_400,
                behind: false
            }
        );
    }

    #[test]
    fn the_prune_clock_moves_two_days_at_most() {
        assert_eq!(prune_step(0, EVENING), EVENING, "first prune");
        assert_eq!(prune_step(EVENING, EVENING + 86_400), EVENING + 86_400);
        let spoofed = EVENING + 400 * 86_400;
        assert_eq!(prune_step(EVENING, spoofed), EVENING + PRUNE_STEP);
        assert_eq!(prune_step(EVENING, 10), EVENING, "never backwards");
    }
}
