//! Amounts of data and speeds, as the config file, the pages and the
//! store speak them (bytes, bits per second). Parsing people's spellings
//! ("500 MiB", "2 Mbit/s") is the config room's; showing them is here.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount of data, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Size(pub u64);

/// A speed, in bits per second. `Rate(0)` means "cut off" where a rate may be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rate(pub u64);

/// `value / unit` with at most two decimals, trailing zeros dropped: "1.5", "500".
fn human(value: u64, unit: u64) -> String {
    let hundredths = (value as u128 * 100 + unit as u128 / 2) / unit as u128;
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    match frac {
        0 => format!("{whole}"),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] = [
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ];
        match UNITS.iter().find(|(_, unit)| self.0 >= *unit) {
            Some((name, unit)) => write!(f, "{} {name}", human(self.0, *unit)),
            None => write!(f, "{} B", self.0),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 3] = [
            ("Gbit/s", 1_000_000_000),
            ("Mbit/s", 1_000_000),
            ("kbit/s", 1_000),
        ];
        match UNITS.iter().find(|(_, unit)| self.0 >= *unit) {
            Some((name, unit)) => write!(f, "{} {name}", human(self.0, *unit)),
            None => write!(f, "{} bit/s", self.0),
        }
    }
}
