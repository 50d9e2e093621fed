//! Time, injectable: the daemon uses the system clock; tests move a manual
//! one (to jump to 23:59:58 instead of waiting for midnight).

use std::sync::atomic::{AtomicI64, Ordering};

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    /// Unix time in seconds.
    fn now(&self) -> i64;
}

/// The real wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        jiff::Timestamp::now().as_second()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now))
    }

    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The wall clock shifted by a fixed offset: lets a test (or a demo) start
/// the daemon at 23:59:55 local time and watch midnight pass.
#[derive(Debug)]
pub struct OffsetClock {
    offset: i64,
}

impl OffsetClock {
    /// A clock that reads `start` (unix seconds) now and runs on from there.
    pub fn starting_at(start: i64) -> OffsetClock {
        OffsetClock {
            offset: start - SystemClock.now(),
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> i64 {
        SystemClock.now() + self.offset
    }
}

/// A test clock that can jump: the file at `path` holds unix seconds, and the
/// clock reads that value plus the wall-clock seconds since the file was last
/// written, so a test that rewrites it plays a router whose clock NTP (or a
/// spoofer) just set. Read on every call: tests only (`DESAWIFI_TEST_NOW=/path`).
#[derive(Debug)]
pub struct FileClock {
    path: std::path::PathBuf,
}

impl FileClock {
    pub fn new(path: impl Into<std::path::PathBuf>) -> FileClock {
        FileClock { path: path.into() }
    }
}

impl Clock for FileClock {
    fn now(&self) -> i64 {
        let set = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok());
        let written = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        match (set, written) {
            (Some(set), Some(written)) => set + (SystemClock.now() - written).max(0),
            _ => SystemClock.now(),
        }
    }
}
