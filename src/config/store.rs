//! `[store]`: where the database lives and how often it is written.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::check::{Check, Parsed, Text};
use super::values::{parse_duration, path_value};

/// Where the device and usage database lives.
#[derive(Debug, Clone)]
pub struct Store {
    pub path: PathBuf,
    /// How often a busy device's counters and usage are written to disk
    /// (they are read every accounting interval, but the kernel keeps them
    /// across a daemon restart; see RELIABILITY.md). Spares the SD card.
    pub write_interval: Duration,
    /// Devices not seen for this long are removed with their per-device
    /// usage (the site's daily totals stay), so the store stays bounded.
    pub forget_after: Duration,
    // --- issue 24 (outages) ---
    /// How often the gateway writes "alive at T" (`gateway/outages.rs`):
    /// a power cut is measured to within this much. Needs a restart.
    pub heartbeat_interval: Duration,
}

/// `[store]` as written: values kept as text for the check below.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [store] table")]
pub(crate) struct RawStore {
    path: Option<Text>,
    write_interval: Option<Text>,
    forget_after: Option<Text>,
    heartbeat_interval: Option<Text>,
}

impl Check<'_> {
    pub(super) fn store(&self, raw: RawStore) -> Parsed<Store> {
        Ok(Store {
            path: self.required("store.path", raw.path, path_value)?,
            write_interval: self.or("store.write_interval", raw.write_interval, "1m", |s| {
                let d = parse_duration(s)?;
                if d > Duration::from_secs(3600) {
                    return Err(format!("{s:?} is more than an hour (try \"1m\"; a power cut loses up to this much counting)"));
                }
                Ok(d)
            })?,
            forget_after: self.or("store.forget_after", raw.forget_after, "120d", |s| {
                let d = parse_duration(s)?;
                if d < Duration::from_secs(86_400) {
                    return Err(format!(
                        "{s:?} is less than a day (try \"120d\"; today's usage must survive)"
                    ));
                }
                Ok(d)
            })?,
            heartbeat_interval: self.or(
                "store.heartbeat_interval",
                raw.heartbeat_interval,
                "60s",
                |s| {
                    let d = parse_duration(s)?;
                    if d < Duration::from_secs(1) || d > Duration::from_secs(3600) {
                        return Err(format!(
                            "{s:?} is out of range (must be between 1s and 1h; try \"60s\")"
                        ));
                    }
                    Ok(d)
                },
            )?,
        })
    }
}
