//! The power mode, decided from readings with hysteresis: pure, no I/O, no clock
//! of its own (the caller passes `now`), so every rule is a table test.
//!
//! - A mode is entered as soon as the charge is below its level, and left only
//!   once the charge is back at its level plus `hysteresis` (a battery's charge
//!   swings with the load; the modes must not).
//! - NUT's `LB` (low battery) is darurat and the warning, whatever the charge says.
//! - An unknown reading never moves the mode: it keeps what the last good
//!   reading justified, until `stale_after` has passed since that reading;
//!   then the mode goes back to `normal` (a broken cable must not keep a
//!   village in darurat for days) and the decision says why.

use std::fmt;
use std::time::{Duration, Instant};

use super::Reading;
use crate::config::power::Thresholds;

/// How much of the internet the battery can afford.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Mode {
    /// Everything as configured.
    #[default]
    Normal,
    /// Saver: `[power.saver]`'s quota.
    Hemat,
    /// Essential: the walled garden and free public-service categories only.
    Darurat,
}

impl Mode {
    /// The name in config, logs, metrics and pages.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Hemat => "hemat",
            Mode::Darurat => "darurat",
        }
    }

    /// The mode the charge alone gives, with no history.
    fn by_levels(charge: f64, t: &Thresholds) -> Mode {
        if charge < f64::from(t.essential_below) {
            Mode::Darurat
        } else if charge < f64::from(t.saver_below) {
            Mode::Hemat
        } else {
            Mode::Normal
        }
    }

    /// The loosest mode the charge has earned back from a tighter one.
    fn recovered(charge: f64, t: &Thresholds) -> Mode {
        let h = f64::from(t.hysteresis);
        if charge >= f64::from(t.saver_below) + h {
            Mode::Normal
        } else if charge >= f64::from(t.essential_below) + h {
            Mode::Hemat
        } else {
            Mode::Darurat
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the current mode rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// No reading yet (or no source): `normal`.
    NoReading,
    /// The latest reading, which was good.
    Reading,
    /// The latest reading was unknown: the last good reading's mode is kept.
    Held,
    /// No good reading for longer than `stale_after`: back to `normal`.
    Stale,
}

/// The decided mode and warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub mode: Mode,
    /// The battery is nearly empty (below `warn_below`, or NUT's `LB`).
    pub warning: bool,
    pub basis: Basis,
}

/// The decider's memory: the mode, the warning and when a good reading was last seen.
#[derive(Debug, Clone)]
pub struct Decider {
    thresholds: Thresholds,
    stale_after: Duration,
    mode: Mode,
    warning: bool,
    last_good: Option<Instant>,
}

impl Decider {
    /// Starts in `normal`, with no reading.
    pub fn new(thresholds: Thresholds, stale_after: Duration) -> Decider {
        Decider {
            thresholds,
            stale_after,
            mode: Mode::Normal,
            warning: false,
            last_good: None,
        }
    }

    /// A good reading at `now`. A reading without a charge decides only by
    /// its `LB` flag (a source returns such a reading only with `LB` set).
    pub fn good(&mut self, now: Instant, reading: &Reading) -> Decision {
        let t = &self.thresholds;
        self.last_good = Some(now);
        if let Some(charge) = reading.charge {
            let plain = Mode::by_levels(charge, t);
            self.mode = if plain >= self.mode {
                plain
            } else {
                Mode::recovered(charge, t).min(self.mode)
            };
            let warn = f64::from(t.warn_below);
            self.warning = if self.warning {
                charge < warn + f64::from(t.hysteresis)
            } else {
                charge < warn
            };
        } else if !reading.low_battery {
            // Nothing to decide by: keep the mode.
            self.warning = false;
        }
        if reading.low_battery {
            self.mode = Mode::Darurat;
            self.warning = true;
        }
        self.decision(Basis::Reading)
    }

    /// An unknown reading at `now`: hold the mode, or give it up once stale.
    pub fn unknown(&mut self, now: Instant) -> Decision {
        match self.last_good {
            None => self.decision(Basis::NoReading),
            Some(at) if now.saturating_duration_since(at) > self.stale_after => {
                self.mode = Mode::Normal;
                self.warning = false;
                self.decision(Basis::Stale)
            }
            Some(_) => self.decision(Basis::Held),
        }
    }

    fn decision(&self, basis: Basis) -> Decision {
        Decision {
            mode: self.mode,
            warning: self.warning,
            basis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::Source;

    fn reading(charge: f64) -> Reading {
        Reading {
            charge: Some(charge),
            ..Reading::empty(Source::Nut, 0)
        }
    }

    fn decider() -> Decider {
        Decider::new(Thresholds::default(), Duration::from_secs(300))
    }

    /// Feeds the charges one a second, returns the modes.
    fn modes(charges: &[f64]) -> Vec<Mode> {
        let mut d = decider();
        let start = Instant::now();
        charges
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                d.good(start + Duration::from_secs(i as u64), &reading(c))
                    .mode
            })
            .collect()
    }

    use Mode::{Darurat as D, Hemat as H, Normal as N};

    #[test]
    fn the_modes_follow_the_charge_with_hysteresis() {
        let table: &[(&[f64], &[Mode])] = &[
            // The walk: down through both levels and back up.
            (&[80., 35., 15., 45., 80.], &[N, H, D, H, N]),
            // Straight down and straight up.
            (&[100., 10., 100.], &[N, D, N]),
            // At a level is not below it.
            (&[40., 20.], &[N, H]),
            // Back above a level but inside the margin: stays.
            (&[39., 41., 49.9, 50.], &[H, H, H, N]),
            (&[19., 21., 29.9, 30., 49., 50.], &[D, D, D, H, H, N]),
            // Tightening is immediate, from any mode.
            (&[45., 39., 19.], &[N, H, D]),
        ];
        for (charges, want) in table {
            assert_eq!(&modes(charges), want, "charges {charges:?}");
        }
    }

    #[test]
    fn flapping_around_a_threshold_does_not_flap() {
        let mut charges = vec![80.];
        for i in 0..50 {
            charges.push(if i % 2 == 0 { 39.5 } else { 40.5 });
        }
        let got = modes(&charges);
        assert_eq!(got[0], N);
        assert!(got[1..].iter().all(|&m| m == H), "{got:?}");
        let mut charges = vec![15.];
        for i in 0..50 {
            charges.push(if i % 2 == 0 { 19.0 } else { 21.0 });
        }
        assert!(modes(&charges).iter().all(|&m| m == D));
    }

    #[test]
    fn the_warning_comes_below_warn_below_or_at_lb_and_has_hysteresis() {
        let mut d = decider();
        let now = Instant::now();
        let table = [
            (50., false, false),
            (9., false, true),
            (12., false, true), // inside the margin
            (20., false, false),
            (60., true, true), // LB whatever the charge says
        ];
        for (charge, lb, want) in table {
            let r = Reading {
                low_battery: lb,
                ..reading(charge)
            };
            let got = d.good(now, &r);
            assert_eq!(got.warning, want, "charge {charge} lb {lb}");
            if lb {
                assert_eq!(got.mode, D);
            }
        }
        // LB without a charge still decides.
        let mut d = decider();
        let r = Reading {
            low_battery: true,
            ..Reading::empty(Source::Nut, 0)
        };
        let got = d.good(now, &r);
        assert_eq!((got.mode, got.warning), (D, true));
    }

    #[test]
    fn unknown_holds_the_mode_then_stale_goes_normal() {
        let mut d = decider();
        let start = Instant::now();
        assert_eq!(d.unknown(start).basis, Basis::NoReading);
        assert_eq!(d.unknown(start).mode, N, "no reading yet: normal");
        assert_eq!(d.good(start, &reading(15.)).mode, D);
        let at = |s| start + Duration::from_secs(s);
        // Unknown keeps darurat, and never tightens.
        for s in [1, 100, 300] {
            let got = d.unknown(at(s));
            assert_eq!((got.mode, got.basis), (D, Basis::Held), "at {s}s");
        }
        // Past stale_after: normal, and it says so.
        let got = d.unknown(at(301));
        assert_eq!((got.mode, got.warning, got.basis), (N, false, Basis::Stale));
        assert_eq!(d.unknown(at(400)).mode, N);
        // A good reading decides afresh.
        assert_eq!(d.good(at(401), &reading(35.)).mode, H);
        // An unknown right after a hemat reading keeps hemat, not darurat.
        assert_eq!(d.unknown(at(402)).mode, H);
    }
}
