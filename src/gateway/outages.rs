//! Why the village was offline (issue 24).
//!
//! A heartbeat ("alive at T") goes into the store every `[store]
//! heartbeat_interval` (60 s by default) and, at a clean stop (SIGTERM:
//! shutdown, a package upgrade's restart), once more marked clean. On start
//! the gap since the last heartbeat is classified by [`classify`]: a clean
//! stop is `maintenance`, anything else `power` (a power cut or a crash), or
//! `battery` when the battery was last read low ([`Gateway::battery_was_low`],
//! a hook: the power task's readings are not yet kept across a cut). Uplink outages
//! seen while running are `internet` events, recorded when they end (or at a
//! clean stop). Hours closed by the schedule are not outage time: an event
//! keeps its start and end, and `seconds` counts only the open part (an
//! event with none is not recorded).
//!
//! Flash: the heartbeat is one ~35-byte JSON value rewritten in sled's
//! `settings` tree, no fsync of its own (sled writes it out within a second,
//! the accounting pass flushes): with sled's ~20 bytes of framing, about
//! 115 KB a day at 60 s, beside the accounting pass's own writes.
//!
//! A clock below the time high-water mark (`time_guard.rs`: no RTC, NTP not
//! yet answered) measures no gap: the classification waits until the clock
//! is believed, then dates the start-up by the monotonic time since.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Gateway, GatewayError};
use crate::domain::{Opening, OpeningHours, Outage, OutageCause};
use crate::store::{HeartbeatRecord, OutageRecord};
use crate::uplink::{UplinkReader, UplinkState};

/// What the start-up makes of the last heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The gateway was gone from `start` to `end` for `cause`.
    Outage {
        start: i64,
        end: i64,
        cause: OutageCause,
    },
    /// Nothing to record (first start, no gap).
    Nothing,
    /// The heartbeat is later than the start-up: ignored (with a warning).
    FromTheFuture,
    /// The clock is behind the high-water mark: measure nothing yet.
    Wait,
}

/// Classify the gap between the last heartbeat and `boot` (unix seconds the
/// daemon started, by a clock not behind the high-water mark; `behind` says
/// it is). Pure: the unit tests drive it.
pub fn classify(
    last: Option<HeartbeatRecord>,
    boot: i64,
    behind: bool,
    battery_low: bool,
) -> Verdict {
    let Some(last) = last else {
        return Verdict::Nothing;
    };
    if behind {
        return Verdict::Wait;
    }
    if last.at > boot {
        return Verdict::FromTheFuture;
    }
    if last.at == boot {
        return Verdict::Nothing;
    }
    let cause = if last.clean {
        OutageCause::Maintenance
    } else if battery_low {
        OutageCause::Battery
    } else {
        OutageCause::Power
    };
    Verdict::Outage {
        start: last.at,
        end: boot,
        cause,
    }
}

/// Seconds of `start..end` inside opening hours (`None`: always open).
pub fn open_seconds(
    hours: Option<&OpeningHours>,
    start: i64,
    end: i64,
    tz: &jiff::tz::TimeZone,
) -> i64 {
    let Some(hours) = hours else {
        return (end - start).max(0);
    };
    let (mut t, mut open) = (start, 0);
    // Two changes a day: a bound keeps a corrupt range from spinning.
    for _ in 0..4000 {
        if t >= end {
            break;
        }
        match hours.at(t, tz) {
            Opening::Open { closes } => {
                let until = closes.min(end).max(t + 1);
                open += until - t;
                t = until;
            }
            Opening::Closed { opens } => t = opens.max(t + 1),
        }
    }
    open
}

/// Totals per cause over every stored event, and the last event's end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutageTotals {
    /// (cause, events, seconds), every cause listed.
    pub by_cause: Vec<(OutageCause, u64, u64)>,
    pub last_end: Option<i64>,
}

impl Gateway {
    /// Hook for the power room (`src/power/`): was the battery's last
    /// reading before `at` low? Always false until the last reading before a
    /// cut is kept in the store (it must survive the cut to classify it).
    pub fn battery_was_low(&self, _at: i64) -> bool {
        false
    }

    /// Why the uplink is down since `since`, as far as the gateway knows: the
    /// village's power when it went down within a few minutes of this
    /// start-up after a power cut (the dish was likely off too), else the
    /// satellite or provider link.
    pub fn uplink_down_cause(&self, since: i64) -> OutageCause {
        let last = *self.last_stop.lock().expect("last stop");
        match last {
            Some(o)
                if matches!(o.cause, OutageCause::Power | OutageCause::Battery)
                    && since <= o.end + 300 =>
            {
                o.cause
            }
            _ => OutageCause::Internet,
        }
    }

    /// Record an outage, its open part counted; `None` when all of it was closed.
    pub fn record_outage(
        &self,
        start: i64,
        end: i64,
        cause: OutageCause,
    ) -> Result<Option<Outage>, GatewayError> {
        let tz = self.config().site.timezone.clone();
        let seconds = open_seconds(self.schedule().hours.as_ref(), start, end, &tz);
        if seconds <= 0 {
            info!(
                start,
                end,
                cause = cause.as_str(),
                "outage entirely in closed hours: not an outage"
            );
            return Ok(None);
        }
        let record = OutageRecord {
            start,
            end,
            seconds,
            cause,
        };
        self.store.put_outage(&record)?;
        warn!(
            start,
            end,
            seconds,
            cause = cause.as_str(),
            "outage recorded"
        );
        Ok(Some(Outage {
            start,
            end,
            seconds,
            cause,
        }))
    }

    /// Events overlapping `from..to` (unix seconds), oldest first.
    pub fn outages_between(&self, from: i64, to: i64) -> Result<Vec<Outage>, GatewayError> {
        Ok(self
            .stored_outages()?
            .into_iter()
            .filter(|r| r.end > from && r.start < to)
            .map(outage_of_record)
            .collect())
    }

    /// Counters for `/metrics`, summed from the store: they survive power cuts.
    pub fn outage_totals(&self) -> Result<OutageTotals, GatewayError> {
        let all = self.stored_outages()?;
        let by_cause = OutageCause::ALL
            .iter()
            .map(|&c| {
                let (n, s) = all
                    .iter()
                    .filter(|r| r.cause == c)
                    .fold((0u64, 0u64), |(n, s), r| {
                        (n + 1, s + r.seconds.max(0) as u64)
                    });
                (c, n, s)
            })
            .collect();
        Ok(OutageTotals {
            by_cause,
            last_end: all.iter().map(|r| r.end).max(),
        })
    }

    /// The stored events; a torn one is skipped with a warning.
    fn stored_outages(&self) -> Result<Vec<OutageRecord>, GatewayError> {
        let (good, bad) = self.store.outages()?;
        for e in bad {
            warn!(error = %e, "a torn outage record: skipped");
        }
        Ok(good)
    }

    /// The last heartbeat, a torn record ignored with a warning.
    fn last_heartbeat(&self) -> Option<HeartbeatRecord> {
        match self.store.heartbeat() {
            Ok(h) => h,
            Err(e) => {
                warn!(error = %e, "the heartbeat record is torn: ignored, the gap is not classified");
                None
            }
        }
    }

    /// Classify the last stop (see [`classify`]); true once done (or nothing to do).
    fn classify_last_stop(&self, last: Option<HeartbeatRecord>, started: Instant) -> bool {
        let reading = self.time.read();
        let boot = reading.now - started.elapsed().as_secs() as i64;
        let low = last.is_some_and(|h| self.battery_was_low(h.at));
        match classify(last, boot, reading.behind, low) {
            Verdict::Wait => return false,
            Verdict::Nothing => {}
            Verdict::FromTheFuture => warn!(
                heartbeat = last.map(|h| h.at),
                boot, "the last heartbeat is later than this start: ignored"
            ),
            Verdict::Outage { start, end, cause } => match self.record_outage(start, end, cause) {
                Ok(o) => *self.last_stop.lock().expect("last stop") = o,
                Err(e) => warn!(error = %e, "could not record the outage"),
            },
        }
        true
    }

    /// Beat every `[store] heartbeat_interval`, classify the last stop, turn
    /// the uplink's outages into `internet` events, and mark a clean stop on
    /// `cancel` (the daemon flushes after).
    pub async fn run_outages(self: Arc<Self>, mut uplink: UplinkReader, cancel: CancellationToken) {
        let started = Instant::now();
        let mut pending = self.last_heartbeat();
        let mut classified = false;
        let every = self.config().store.heartbeat_interval;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut down_since = match *uplink.borrow() {
            UplinkState::Down { since } => Some(since),
            UplinkState::Up => None,
        };
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
                    if !classified {
                        classified = self.classify_last_stop(pending, started);
                        if classified {
                            pending = None;
                        }
                    }
                    // While behind, no heartbeat: the last one must still date the gap.
                    let reading = self.time.read();
                    if classified && !reading.behind {
                        self.beat(reading.now, false);
                    }
                }
                changed = uplink.changed() => {
                    if changed.is_err() {
                        // The watcher is gone (shutdown): wait for the cancel.
                        cancel.cancelled().await;
                        break;
                    }
                    let state = *uplink.borrow_and_update();
                    match state {
                        UplinkState::Down { since } => down_since = Some(since),
                        UplinkState::Up => {
                            if let Some(since) = down_since.take() {
                                self.internet_outage(since, started);
                            }
                        }
                    }
                }
            }
        }
        if let Some(since) = down_since {
            self.internet_outage(since, started);
        }
        let reading = self.time.read();
        if classified && !reading.behind {
            self.beat(reading.now, true);
        }
    }

    /// The uplink came back (or the daemon stops while it is down). The
    /// watcher dates `since` by the raw clock: nothing is measured while the
    /// clock is behind the high-water mark, and the start is never before
    /// this process started (it cannot have seen the uplink earlier).
    fn internet_outage(&self, since: i64, started: Instant) {
        let reading = self.time.read();
        if reading.behind {
            warn!(
                since,
                "uplink back while the clock is behind: the outage is not measured"
            );
            return;
        }
        let now = reading.now;
        let since = since.max(now - started.elapsed().as_secs() as i64);
        if now > since {
            if let Err(e) = self.record_outage(since, now, OutageCause::Internet) {
                warn!(error = %e, "could not record the internet outage");
            }
        }
    }

    fn beat(&self, at: i64, clean: bool) {
        if let Err(e) = self.store.put_heartbeat(&HeartbeatRecord { at, clean }) {
            warn!(error = %e, "heartbeat not written");
        }
    }
}

fn outage_of_record(r: OutageRecord) -> Outage {
    Outage {
        start: r.start,
        end: r.end,
        seconds: r.seconds,
        cause: r.cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TimeOfDay;

    const T: i64 = 1_796_558_400; // 2026-12-06 20:00 Asia/Makassar

    fn beat(at: i64, clean: bool) -> Option<HeartbeatRecord> {
        Some(HeartbeatRecord { at, clean })
    }

    #[test]
    fn a_gap_without_a_clean_stop_is_power_with_one_is_maintenance() {
        assert_eq!(
            classify(beat(T, false), T + 300, false, false),
            Verdict::Outage {
                start: T,
                end: T + 300,
                cause: OutageCause::Power
            }
        );
        assert_eq!(
            classify(beat(T, true), T + 300, false, false),
            Verdict::Outage {
                start: T,
                end: T + 300,
                cause: OutageCause::Maintenance
            }
        );
        assert_eq!(
            classify(beat(T, false), T + 300, false, true),
            Verdict::Outage {
                start: T,
                end: T + 300,
                cause: OutageCause::Battery
            },
            "a cut after a low battery"
        );
        // A clean stop stays maintenance whatever the battery said.
        assert!(matches!(
            classify(beat(T, true), T + 300, false, true),
            Verdict::Outage {
                cause: OutageCause::Maintenance,
                ..
            }
        ));
    }

    #[test]
    fn first_start_future_heartbeats_and_a_clock_behind_record_nothing() {
        assert_eq!(classify(None, T, false, false), Verdict::Nothing);
        assert_eq!(
            classify(beat(T + 86_400, false), T, false, false),
            Verdict::FromTheFuture
        );
        assert_eq!(
            classify(beat(T, false), T + 300, true, false),
            Verdict::Wait,
            "never measured with a clock below the high-water mark"
        );
        assert_eq!(classify(beat(T, false), T, false, false), Verdict::Nothing);
    }

    #[test]
    fn closed_hours_are_not_outage_time() {
        let tz = jiff::tz::TimeZone::get("Asia/Makassar").unwrap();
        // Open 06:00-22:00; T is 20:00.
        let hours = OpeningHours::new(
            TimeOfDay::new(6, 0).unwrap(),
            TimeOfDay::new(22, 0).unwrap(),
        )
        .unwrap();
        assert_eq!(open_seconds(None, T, T + 100, &tz), 100);
        // 20:00 to 07:00 next day: 2 h before closing, 1 h after opening.
        assert_eq!(open_seconds(Some(&hours), T, T + 11 * 3600, &tz), 3 * 3600);
        // All of it at night: nothing.
        assert_eq!(
            open_seconds(Some(&hours), T + 3 * 3600, T + 8 * 3600, &tz),
            0
        );
    }
}
