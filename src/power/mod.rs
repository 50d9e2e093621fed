//! The village's battery: read it, and decide how much internet it can afford.
//!
//! Many villages run the dish and the router from solar panels and a battery.
//! This room reads the battery from what the village has, NUT's `upsd`
//! ([`nut`]) or a Victron VE.Direct serial port ([`vedirect`]), into one
//! [`Reading`], and decides the power [`Mode`] with hysteresis ([`mode`]).
//! [`run`] polls and publishes a [`PowerState`] on a `watch` channel, like the
//! uplink watcher; the gateway enforces the mode.
//!
//! A reading that is missing, stale or fails its checksum is unknown: logged
//! once when it starts (not at every poll), never a crash, and never a
//! tighter mode than the last good reading justified
//! (docs/design-decisions.md, "Power readings").

use std::fmt;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::power::{Power, PowerSource};

pub mod mode;
pub mod nut;
pub mod vedirect;

pub use mode::{Basis, Decider, Decision, Mode};

/// Where a reading came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Nut,
    VeDirect,
}

impl Source {
    pub const fn name(self) -> &'static str {
        match self {
            Source::Nut => "nut",
            Source::VeDirect => "vedirect",
        }
    }
}

/// One good reading of the battery. Every measurement is optional (a UPS
/// reports what it has); a good reading has a charge or NUT's `LB`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// State of charge, percent.
    pub charge: Option<f64>,
    /// Battery volts.
    pub volts: Option<f64>,
    /// Battery amps: positive charging, negative discharging.
    pub amps: Option<f64>,
    /// Solar panel watts (VE.Direct's `PPV`).
    pub panel_watts: Option<f64>,
    /// Running from the battery (NUT's `OB`; VE.Direct: discharging).
    pub on_battery: bool,
    /// The equipment says the battery is low (NUT's `LB`; a BMV's low alarm).
    pub low_battery: bool,
    /// Time left on the battery (NUT's `battery.runtime`, a BMV's `TTG`).
    pub runtime: Option<Duration>,
    /// The equipment's own words: NUT's `ups.status` ("OB LB"), VE.Direct's
    /// charge state and error ("bulk", "float", "error 2").
    pub status: String,
    pub source: Source,
    /// Unix time of the reading.
    pub at: i64,
}

impl Reading {
    /// A reading with nothing measured yet.
    pub fn empty(source: Source, at: i64) -> Reading {
        Reading {
            charge: None,
            volts: None,
            amps: None,
            panel_watts: None,
            on_battery: false,
            low_battery: false,
            runtime: None,
            status: String::new(),
            source,
            at,
        }
    }
}

/// Why there is no good reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The equipment answered without the value the mode needs.
    Missing(String),
    /// VE.Direct frames came, but none summed to 0 (`count` in this reading).
    BadChecksum { count: u32 },
    /// Nothing answered in time, or the connection or device failed.
    Unreachable(String),
    /// upsd answered with an error (`ERR DATA-STALE`, `ERR UNKNOWN-UPS`...).
    Refused(String),
    /// The answer was not the protocol.
    Malformed(String),
}

impl Problem {
    /// The kind without its details: a log line is written when this changes.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Missing(_) => "missing",
            Problem::BadChecksum { .. } => "bad checksum",
            Problem::Unreachable(_) => "unreachable",
            Problem::Refused(_) => "refused",
            Problem::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing(what) => write!(f, "missing: {what}"),
            Problem::BadChecksum { count } => {
                write!(f, "bad checksum: {count} frame(s) discarded")
            }
            Problem::Unreachable(why) => write!(f, "unreachable: {why}"),
            Problem::Refused(why) => write!(f, "refused: {why}"),
            Problem::Malformed(why) => write!(f, "malformed: {why}"),
        }
    }
}

/// Is the battery being read?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `[power] source = "none"`: nothing to read.
    Off,
    /// The latest reading was good.
    Good,
    /// The latest reading was not; `stale` once no good reading came for
    /// longer than `stale_after` (the mode is then back to `normal`).
    Unknown { problem: Problem, stale: bool },
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Off => f.write_str("off (no [power] source)"),
            Health::Good => f.write_str("good"),
            Health::Unknown { problem, stale } => {
                write!(f, "unknown ({problem})")?;
                if *stale {
                    f.write_str(", stale: mode back to normal")?;
                }
                Ok(())
            }
        }
    }
}

/// What the reader publishes: the last good reading, the health of the
/// latest one, and the decided mode.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerState {
    pub mode: Mode,
    /// The battery is nearly empty: pages warn, like the closing-time warning.
    pub warning: bool,
    pub health: Health,
    /// The last good reading (kept while the health is unknown).
    pub reading: Option<Reading>,
}

impl Default for PowerState {
    fn default() -> PowerState {
        PowerState {
            mode: Mode::Normal,
            warning: false,
            health: Health::Off,
            reading: None,
        }
    }
}

/// The technician's view (`desawifi power status`): one `key: value` a line.
impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "mode: {}", self.mode)?;
        writeln!(
            f,
            "warning: {}",
            if self.warning {
                "battery nearly empty"
            } else {
                "none"
            }
        )?;
        writeln!(f, "health: {}", self.health)?;
        let Some(r) = &self.reading else {
            return Ok(());
        };
        let show = |v: Option<f64>, unit: &str| {
            v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} {unit}"))
        };
        writeln!(f, "source: {}", r.source.name())?;
        writeln!(f, "charge: {}", show(r.charge, "%"))?;
        writeln!(f, "battery: {}, {}", show(r.volts, "V"), show(r.amps, "A"))?;
        writeln!(f, "panel: {}", show(r.panel_watts, "W"))?;
        writeln!(f, "on battery: {}", if r.on_battery { "yes" } else { "no" })?;
        writeln!(
            f,
            "low battery: {}",
            if r.low_battery { "yes" } else { "no" }
        )?;
        let runtime = r
            .runtime
            .map_or_else(|| "-".to_owned(), crate::config::format_duration);
        writeln!(f, "runtime: {runtime}")?;
        writeln!(f, "status: {}", r.status)?;
        writeln!(f, "read at: {}", r.at)
    }
}

/// Unix time now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A source kept between readings (upsd's connection, the open tty).
pub enum Reader {
    Nut(nut::NutReader),
    VeDirect(vedirect::VeDirectReader),
}

impl Reader {
    /// The reader for `[power]`, or `None` for `source = "none"`.
    pub fn new(cfg: &Power) -> Option<Reader> {
        match &cfg.source {
            PowerSource::None => None,
            PowerSource::Nut(nut) => Some(Reader::Nut(nut::NutReader::new(
                nut.clone(),
                cfg.read_timeout,
            ))),
            PowerSource::VeDirect { device } => Some(Reader::VeDirect(
                vedirect::VeDirectReader::new(device.clone(), cfg.read_timeout),
            )),
        }
    }

    /// One reading, within the configured deadline.
    pub async fn read(&mut self) -> Result<Reading, Problem> {
        match self {
            Reader::Nut(r) => r.read().await,
            Reader::VeDirect(r) => r.read().await,
        }
    }
}

/// The state after one reading: the decision and the health together.
pub fn next_state(
    decider: &mut Decider,
    now: Instant,
    result: Result<Reading, Problem>,
    last_good: Option<Reading>,
) -> PowerState {
    match result {
        Ok(reading) => {
            let d = decider.good(now, &reading);
            PowerState {
                mode: d.mode,
                warning: d.warning,
                health: Health::Good,
                reading: Some(reading),
            }
        }
        Err(problem) => {
            let d = decider.unknown(now);
            PowerState {
                mode: d.mode,
                warning: d.warning,
                health: Health::Unknown {
                    problem,
                    stale: d.basis == Basis::Stale,
                },
                reading: last_good,
            }
        }
    }
}

/// Reads once and decides as a gateway that just started would
/// (`desawifi power status`).
pub async fn read_once(cfg: &Power) -> PowerState {
    let Some(mut reader) = Reader::new(cfg) else {
        return PowerState::default();
    };
    let mut decider = Decider::new(cfg.thresholds, cfg.stale_after);
    let result = reader.read().await;
    next_state(&mut decider, Instant::now(), result, None)
}

/// Polls the battery every `poll_interval` and publishes each state on `tx`
/// until `cancel`. Logs a line when the health's kind or the mode changes,
/// not at every poll. Returns at once for `source = "none"`.
pub async fn run(cfg: Power, tx: watch::Sender<PowerState>, cancel: CancellationToken) {
    let Some(mut reader) = Reader::new(&cfg) else {
        tx.send_replace(PowerState::default());
        return;
    };
    // Until the first reading: unknown, not "off" (a source is configured).
    tx.send_replace(PowerState {
        health: Health::Unknown {
            problem: Problem::Missing("no reading yet".into()),
            stale: false,
        },
        ..PowerState::default()
    });
    let mut decider = Decider::new(cfg.thresholds, cfg.stale_after);
    let mut next = tokio::time::Instant::now();
    loop {
        let result = tokio::select! {
            _ = cancel.cancelled() => break,
            r = reader.read() => r,
        };
        let previous = tx.borrow().clone();
        let state = next_state(
            &mut decider,
            Instant::now(),
            result,
            previous.reading.clone(),
        );
        log_change(&previous, &state);
        tx.send_replace(state);
        next += cfg.poll_interval;
        let now = tokio::time::Instant::now();
        if next < now {
            next = now;
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(next) => {}
        }
    }
}

/// One log line per change of health kind, staleness or mode.
fn log_change(before: &PowerState, after: &PowerState) {
    let kind = |h: &Health| match h {
        Health::Off => "off",
        Health::Good => "good",
        Health::Unknown { problem, .. } => problem.kind(),
    };
    let stale = |h: &Health| matches!(h, Health::Unknown { stale: true, .. });
    if kind(&before.health) != kind(&after.health) {
        match &after.health {
            Health::Unknown { problem, .. } => {
                warn!(%problem, mode = %after.mode, "battery reading unknown; keeping the last justified mode")
            }
            Health::Good => {
                let charge = after.reading.as_ref().and_then(|r| r.charge);
                info!(charge = ?charge, "battery reading good")
            }
            Health::Off => {}
        }
    }
    if stale(&after.health) && !stale(&before.health) {
        warn!("no good battery reading for longer than power.stale_after; mode back to normal");
    }
    if before.mode != after.mode || before.warning != after.warning {
        let charge = after.reading.as_ref().and_then(|r| r.charge);
        info!(from = %before.mode, to = %after.mode, warning = after.warning, charge = ?charge, "power mode");
    }
}
