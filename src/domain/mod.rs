//! The ground room of shared domain types: what a device is (its [`Mac`],
//! its [`Device`] record and [`Session`]), what it used ([`DailyUsage`],
//! [`DayStats`]), what it may use ([`QuotaOverride`], [`Standing`], [`Size`],
//! [`Rate`]), who administers it ([`Role`]) and what the audit log says they did
//! ([`AuditAction`]), how many may be online
//! ([`MAX_SLOTS`]) and the site's local day ([`local_day`],
//! [`next_midnight`], [`local_hhmm`]; store day numbers like 20261127 and
//! their calendar, [`parse_day`], [`day_string`], [`next_day`]) and its opening hours
//! ([`OpeningHours`]). Plain data with small
//! methods and serde derives; no I/O, and nothing of the rest of the crate,
//! so every room can speak these words without importing another room.

mod audit;
mod day;
mod device;
mod mac;
mod online;
mod outage;
mod quota;
mod role;
mod schedule;
mod units;

pub use audit::AuditAction;
pub use day::{
    add_days, day_string, days_in, local_day, local_hhmm, next_day, next_midnight, parse_day,
    rfc3339,
};
pub use device::{DailyUsage, DayStats, Device, Session};
pub use mac::Mac;
pub use online::{DEFAULT_SLOTS, MAX_SLOTS};
pub use outage::{Outage, OutageCause};
pub use quota::{QuotaOverride, Standing};
pub use role::Role;
pub use schedule::{next_at, zone_abbreviation, Opening, OpeningHours, TimeOfDay};
pub use units::{Rate, Size};
