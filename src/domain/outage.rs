//! Why the village was offline (issue 24): the causes an outage event names.

use serde::{Deserialize, Serialize};

/// The cause of one outage, as the BAKTI SLA asks it: the power, the
/// uplink (satellite or provider), planned work, or not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutageCause {
    /// The gateway went dark without a clean stop: a power cut or a crash.
    Power,
    /// As `Power`, after the battery was last read low.
    Battery,
    /// The uplink checks failed while the gateway ran.
    Internet,
    /// A clean stop (shutdown, package upgrade, restart).
    Maintenance,
    /// Not known.
    Unknown,
}

impl OutageCause {
    /// Every cause, in a fixed order (metrics list each, even at zero).
    pub const ALL: [OutageCause; 5] = [
        OutageCause::Power,
        OutageCause::Battery,
        OutageCause::Internet,
        OutageCause::Maintenance,
        OutageCause::Unknown,
    ];

    /// The label value and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutageCause::Power => "power",
            OutageCause::Battery => "battery",
            OutageCause::Internet => "internet",
            OutageCause::Maintenance => "maintenance",
            OutageCause::Unknown => "unknown",
        }
    }
}

/// One outage: from `start` to `end` (unix seconds); `seconds` is the part of
/// it inside opening hours (closed hours are not an outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outage {
    pub start: i64,
    pub end: i64,
    pub seconds: i64,
    pub cause: OutageCause,
}
