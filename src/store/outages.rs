//! Outage events and the heartbeat (issue 24; `gateway/outages.rs`).
//!
//! - tree `settings`, key `heartbeat` -> JSON of [`HeartbeatRecord`]: "alive
//!   at T" every `[store] heartbeat_interval`, `clean` once at a clean stop.
//! - tree `outages`: start (i64 BE) + cause (UTF-8) -> JSON of [`OutageRecord`].

use serde::{Deserialize, Serialize};

use super::{keys, Store, StoreError};
use crate::domain::OutageCause;

/// The last sign of life: unix seconds, and whether the daemon stopped cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatRecord {
    pub at: i64,
    pub clean: bool,
}

/// One outage as stored: unix seconds; `seconds` inside opening hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageRecord {
    pub start: i64,
    pub end: i64,
    pub seconds: i64,
    pub cause: OutageCause,
}

pub(super) const TREE_OUTAGES: &str = "outages";
const HEARTBEAT: &[u8] = b"heartbeat";

fn outage_key(r: &OutageRecord) -> Vec<u8> {
    let mut k = r.start.to_be_bytes().to_vec();
    k.extend_from_slice(r.cause.as_str().as_bytes());
    k
}

impl Store {
    /// The last heartbeat; `Err(Corrupt)` for a torn record (the caller warns).
    pub fn heartbeat(&self) -> Result<Option<HeartbeatRecord>, StoreError> {
        self.settings
            .get(HEARTBEAT)?
            .map(|v| keys::decode(&v, "settings/heartbeat"))
            .transpose()
    }

    /// Write the heartbeat (not flushed: sled writes it out within a second,
    /// and the accounting pass or the shutdown flushes; see `gateway/outages.rs`).
    pub fn put_heartbeat(&self, h: &HeartbeatRecord) -> Result<(), StoreError> {
        self.settings.insert(HEARTBEAT, keys::encode(h))?;
        Ok(())
    }

    /// Record one outage (not flushed).
    pub fn put_outage(&self, r: &OutageRecord) -> Result<(), StoreError> {
        self.outages.insert(outage_key(r), keys::encode(r))?;
        Ok(())
    }

    /// Every outage, oldest first (a few a day at most: small), and the
    /// records that do not decode (torn: the caller warns and skips them, so
    /// one bad record cannot take `/metrics` down).
    pub fn outages(&self) -> Result<(Vec<OutageRecord>, Vec<StoreError>), StoreError> {
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for kv in self.outages.iter() {
            let (_, v) = kv?;
            match keys::decode(&v, "outages") {
                Ok(r) => good.push(r),
                Err(e) => bad.push(e),
            }
        }
        Ok((good, bad))
    }
}
