//! A device's quota words: the admin's overrides and where it stands today.

use serde::{Deserialize, Serialize};

/// Per-device overrides an admin sets; `None` keeps the site default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaOverride {
    pub daily_data: Option<u64>,
    pub download_rate: Option<u64>,
    pub upload_rate: Option<u64>,
    #[serde(default)]
    pub exempt: bool,
}

/// Where a device stands against its quota today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Within the quota: full speed (its caps).
    #[default]
    Normal,
    /// Over the quota: the fair-use speed until local midnight.
    Throttled,
    /// Over the quota with a fair-use speed of 0: walled garden only.
    Cut,
}
