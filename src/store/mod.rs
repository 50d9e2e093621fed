//! The store: sled holds the truth about devices and their sessions.
//!
//! Nothing outside this folder sees sled, its keys or its encodings
//! ([`keys`]); callers get typed records.

mod accounts;
mod audit;
mod keys;

pub use accounts::{AdminSession, UserChange, UserRecord};
pub use audit::AuditEntry;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::mac::Mac;
use crate::quota::{QuotaOverride, Standing};

/// The on-disk layout this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// A phone (or laptop) the gateway has seen, identified by its MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub mac: Mac,
    /// The IPv4 address it last used.
    pub ip: Option<Ipv4Addr>,
    /// Present while the device is online.
    pub session: Option<Session>,
    /// An admin blocked it: it cannot log in.
    #[serde(default)]
    pub blocked: bool,
    /// Per-device quota overrides set by an admin.
    #[serde(default)]
    pub quota: QuotaOverride,
    /// Unix seconds of the first visit.
    pub first_seen: i64,
}

/// One stretch online, from tapping Connect to logout or expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The address admitted together with the MAC.
    pub ip: Ipv4Addr,
    /// Unix seconds.
    pub started: i64,
    /// Unix seconds; the session ends (device captive again) at this time.
    pub ends: i64,
    /// Unix seconds of the last counted byte (for the idle timeout).
    #[serde(default)]
    pub last_activity: i64,
    /// Kernel counters (upload, download) as last read; the next read adds
    /// only what is above them, so a restart never counts bytes twice.
    #[serde(default)]
    pub seen: (u64, u64),
    /// Against today's quota.
    #[serde(default)]
    pub standing: Standing,
    /// Traffic-shaping slot (one HTB class per direction).
    #[serde(default)]
    pub slot: Option<u16>,
    /// Unix seconds when an accounting pass last wrote `seen` (and the
    /// usage up to it); passes in between only read (`[store] write_interval`).
    #[serde(default)]
    pub written: i64,
}

impl Session {
    /// A fresh session from `now` for `length` seconds.
    pub fn new(ip: Ipv4Addr, now: i64, length: i64) -> Session {
        Session {
            ip,
            started: now,
            ends: now + length,
            last_activity: now,
            seen: (0, 0),
            standing: Standing::Normal,
            slot: None,
            written: now,
        }
    }
}

/// Bytes a device moved in one local day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyUsage {
    pub download: u64,
    pub upload: u64,
}

/// What happened on one local day across the whole site (for the regency's report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayStats {
    /// Sessions started (logins that made a new session).
    pub sessions: u64,
    /// Most devices online at once, as seen by the accounting passes.
    pub peak_devices: u64,
}

impl DailyUsage {
    /// Download plus upload: what the daily quota counts.
    pub fn total(&self) -> u64 {
        self.download.saturating_add(self.upload)
    }
}

impl Device {
    /// A device seen for the first time.
    pub fn new(mac: Mac, now: i64) -> Device {
        Device {
            mac,
            ip: None,
            session: None,
            blocked: false,
            quota: QuotaOverride::default(),
            first_seen: now,
        }
    }

    /// Online now: a session that has not ended.
    pub fn is_online(&self, now: i64) -> bool {
        self.session.as_ref().is_some_and(|s| s.ends > now)
    }
}

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened (permissions, another daemon holds its lock, ...).
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    /// The store was written by a newer desawifi.
    #[error("the store at {path} has schema version {found}; this desawifi reads version {SCHEMA_VERSION}")]
    SchemaTooNew { path: PathBuf, found: u32 },
    /// A read or write failed.
    #[error("store I/O failed: {0}")]
    Sled(#[from] sled::Error),
    /// sled's log file could not be opened for, or failed, the fsync after
    /// sled's flush (the disk is gone or full).
    #[error("store fsync failed: {0}")]
    Sync(#[source] std::io::Error),
    /// The flush task died (panicked or was cancelled at shutdown).
    #[error("store flush did not finish: {0}")]
    Flush(String),
    /// A record could not be decoded.
    #[error("store record {key} is corrupt: {message}")]
    Corrupt { key: String, message: String },
}

/// Typed access to the sled database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// sled's log file (`<path>/db`), only to fsync it: sled 0.34's `flush`
    /// ends in `sync_file_range`, which makes nothing durable (RELIABILITY.md).
    log: std::sync::Arc<std::fs::File>,
    devices: sled::Tree,
    usage: sled::Tree,
    days: sled::Tree,
    settings: sled::Tree,
    audit: sled::Tree,
    users: sled::Tree,
    admin_sessions: sled::Tree,
}

impl Store {
    /// Open (or create) the store in `path`, checking the schema version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            // Writes that must survive (logins) are flushed explicitly; this bounds the rest.
            .flush_every_ms(Some(1000))
            // sled's default page cache is 1 GiB (never evicts); a router has
            // little RAM, and the hot part (online devices, today) is small.
            .cache_capacity(16 << 20)
            .open()
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        let meta = db.open_tree(keys::TREE_META)?;
        match meta.get(keys::SCHEMA)? {
            None => {
                meta.insert(keys::SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            Some(v) => {
                let found = keys::decode_u32(&v).ok_or_else(|| StoreError::Corrupt {
                    key: "meta/schema".into(),
                    message: "not a u32".into(),
                })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew {
                        path: path.to_owned(),
                        found,
                    });
                }
            }
        }
        let devices = db.open_tree(keys::TREE_DEVICES)?;
        let usage = db.open_tree(keys::TREE_USAGE)?;
        let days = db.open_tree(keys::TREE_DAYS)?;
        let settings = db.open_tree(keys::TREE_SETTINGS)?;
        let audit = db.open_tree(keys::TREE_AUDIT)?;
        let users = db.open_tree(keys::TREE_USERS)?;
        let admin_sessions = db.open_tree(keys::TREE_ADMIN_SESSIONS)?;
        let log = std::fs::File::open(path.join("db")).map_err(StoreError::Sync)?;
        Ok(Store {
            db,
            log: std::sync::Arc::new(log),
            devices,
            usage,
            days,
            settings,
            audit,
            users,
            admin_sessions,
        })
    }

    /// One device, if it was ever seen.
    pub fn device(&self, mac: &Mac) -> Result<Option<Device>, StoreError> {
        self.devices
            .get(keys::device(mac))?
            .map(|v| keys::decode(&v, &mac.to_string()))
            .transpose()
    }

    /// Write a device record (not yet flushed; see [`Store::flush`]).
    pub fn put_device(&self, device: &Device) -> Result<(), StoreError> {
        self.devices
            .insert(keys::device(&device.mac), keys::encode(device))?;
        Ok(())
    }

    /// Every device ever seen.
    pub fn devices(&self) -> Result<Vec<Device>, StoreError> {
        self.devices
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                keys::decode(&v, &keys::describe_device_key(&k))
            })
            .collect()
    }

    /// Devices with a session that has not ended at `now`.
    pub fn online_devices(&self, now: i64) -> Result<Vec<Device>, StoreError> {
        Ok(self
            .devices()?
            .into_iter()
            .filter(|d| d.is_online(now))
            .collect())
    }

    /// A device's usage on a local day (`20261127`).
    pub fn usage(&self, mac: &Mac, day: u32) -> Result<DailyUsage, StoreError> {
        Ok(self
            .usage
            .get(keys::usage(mac, day))?
            .map(|v| keys::decode(&v, &format!("usage/{mac}/{day}")))
            .transpose()?
            .unwrap_or_default())
    }

    /// Every device's usage per day in `from..=to`, as (day, mac, usage).
    pub fn usage_between(
        &self,
        from: u32,
        to: u32,
    ) -> Result<Vec<(u32, Mac, DailyUsage)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.usage.iter() {
            let (k, v) = kv?;
            let Some((mac, day)) = keys::parse_usage(&k) else {
                continue;
            };
            if (from..=to).contains(&day) {
                out.push((day, mac, keys::decode(&v, &format!("usage/{mac}/{day}"))?));
            }
        }
        Ok(out)
    }

    /// One accounting pass, atomically: the devices' records (with the
    /// counters seen) and the bytes added to their day. Both or neither
    /// reach the disk, so bytes are never counted twice nor lost silently.
    pub fn record_pass(
        &self,
        devices: &[Device],
        added: &[(Mac, u32, DailyUsage)],
    ) -> Result<(), StoreError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        use sled::Transactional;
        let result = (&self.devices, &self.usage).transaction(|(tx_devices, tx_usage)| {
            for d in devices {
                tx_devices.insert(&keys::device(&d.mac)[..], keys::encode(d))?;
            }
            for (mac, day, add) in added {
                let key = keys::usage(mac, *day);
                let mut day_usage: DailyUsage = match tx_usage.get(key)? {
                    Some(v) => {
                        keys::decode(&v, "usage").map_err(ConflictableTransactionError::Abort)?
                    }
                    None => DailyUsage::default(),
                };
                day_usage.download = day_usage.download.saturating_add(add.download);
                day_usage.upload = day_usage.upload.saturating_add(add.upload);
                tx_usage.insert(&key[..], keys::encode(&day_usage))?;
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }

    /// The site's stats for one local day.
    pub fn day_stats(&self, day: u32) -> Result<DayStats, StoreError> {
        Ok(self
            .days
            .get(day.to_be_bytes())?
            .map(|v| keys::decode(&v, &format!("days/{day}")))
            .transpose()?
            .unwrap_or_default())
    }

    /// Site stats per day in `from..=to`, days without any left out.
    pub fn day_stats_between(
        &self,
        from: u32,
        to: u32,
    ) -> Result<Vec<(u32, DayStats)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.days.range(from.to_be_bytes()..=to.to_be_bytes()) {
            let (k, v) = kv?;
            let Some(day) = keys::parse_day(&k) else {
                continue;
            };
            out.push((day, keys::decode(&v, &format!("days/{day}"))?));
        }
        Ok(out)
    }

    /// Change one day's stats (callers hold the gateway's records lock, so
    /// read-modify-write is safe). Writes only when something changed.
    pub fn update_day_stats(
        &self,
        day: u32,
        change: impl FnOnce(&mut DayStats),
    ) -> Result<(), StoreError> {
        let before = self.day_stats(day)?;
        let mut after = before;
        change(&mut after);
        if after != before {
            self.days.insert(day.to_be_bytes(), keys::encode(&after))?;
        }
        Ok(())
    }

    /// The site quota an admin saved, if any (else the config file's applies).
    pub fn site_quota(&self) -> Result<Option<crate::config::Quota>, StoreError> {
        self.settings
            .get(keys::SETTING_QUOTA)?
            .map(|v| keys::decode(&v, "settings/quota"))
            .transpose()
    }

    /// Save the site quota (not yet flushed; see [`Store::flush`]).
    pub fn put_site_quota(&self, quota: &crate::config::Quota) -> Result<(), StoreError> {
        self.settings
            .insert(keys::SETTING_QUOTA, keys::encode(quota))?;
        Ok(())
    }

    /// Forget daily usage older than `before` (a day number); returns how many went.
    pub fn prune_usage(&self, before: u32) -> Result<usize, StoreError> {
        let mut gone = 0;
        for kv in self.usage.iter() {
            let (k, _) = kv?;
            if keys::parse_usage(&k).is_some_and(|(_, day)| day < before) {
                self.usage.remove(k)?;
                gone += 1;
            }
        }
        for kv in self.days.range(..before.to_be_bytes()) {
            let (k, _) = kv?;
            self.days.remove(k)?;
        }
        Ok(gone)
    }

    /// Make everything written so far durable (fsync). Logins call this
    /// before answering, so `kill -9` or a power cut cannot lose them.
    ///
    /// A blocking flush on tokio's blocking pool, not sled's `flush_async`:
    /// in sled 0.34 concurrent `flush_async` calls can lose their wake-up
    /// (spacejam/sled#1241), and a burst of logins then hung the daemon
    /// (found by the 1,000-phone burst benchmark).
    ///
    /// sled's flush writes its buffers and calls `sync_file_range`, which
    /// neither flushes the disk's cache nor commits the file's metadata; only
    /// its background flusher fsyncs (every second). So the flush ends with
    /// our own `fdatasync` of sled's log file: found by
    /// `tests/power_cut_fs.rs`, where an admin change answered 200 was gone
    /// after a power cut (RELIABILITY.md).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.flush_blocking())
            .await
            .map_err(|e| StoreError::Flush(e.to_string()))?
    }

    /// Blocking flush (sled's, then fdatasync) for shutdown paths outside the runtime.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.log.sync_data().map_err(StoreError::Sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("desawifi-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn devices_round_trip_and_survive_reopen() {
        let dir = temp_dir("reopen");
        let mac: Mac = "02:77:00:00:00:01".parse().unwrap();
        {
            let store = Store::open(&dir).unwrap();
            let mut d = Device::new(mac, 100);
            d.ip = Some(Ipv4Addr::new(10, 77, 0, 11));
            d.session = Some(Session::new(Ipv4Addr::new(10, 77, 0, 11), 100, 100));
            store.put_device(&d).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(&dir).unwrap();
        let d = store.device(&mac).unwrap().unwrap();
        assert!(d.is_online(150));
        assert!(!d.is_online(200));
        assert_eq!(store.online_devices(150).unwrap().len(), 1);
        assert_eq!(store.online_devices(250).unwrap().len(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn day_stats_and_site_quota_survive_reopen_and_pruning() {
        let dir = temp_dir("days");
        let mut quota = crate::config::Config::parse(
            include_str!("../../config/desawifi.toml"),
            Path::new("desawifi.toml"),
        )
        .unwrap()
        .quota;
        quota.daily_data = crate::config::Size(1 << 30);
        {
            let store = Store::open(&dir).unwrap();
            assert_eq!(store.site_quota().unwrap(), None);
            store.put_site_quota(&quota).unwrap();
            store
                .update_day_stats(20261126, |d| d.sessions += 2)
                .unwrap();
            store
                .update_day_stats(20261127, |d| d.sessions += 1)
                .unwrap();
            store
                .update_day_stats(20261127, |d| d.peak_devices = d.peak_devices.max(7))
                .unwrap();
            store
                .update_day_stats(20261127, |d| d.peak_devices = d.peak_devices.max(3))
                .unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.site_quota().unwrap(), Some(quota));
        assert_eq!(
            store.day_stats_between(20261101, 20261130).unwrap(),
            vec![
                (
                    20261126,
                    DayStats {
                        sessions: 2,
                        peak_devices: 0
                    }
                ),
                (
                    20261127,
                    DayStats {
                        sessions: 1,
                        peak_devices: 7
                    }
                )
            ]
        );
        store.prune_usage(20261127).unwrap();
        assert_eq!(
            store.day_stats_between(0, u32::MAX).unwrap(),
            vec![(
                20261127,
                DayStats {
                    sessions: 1,
                    peak_devices: 7
                }
            )]
        );
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = temp_dir("schema");
        {
            let db = sled::open(&dir).unwrap();
            db.open_tree(keys::TREE_META)
                .unwrap()
                .insert(keys::SCHEMA, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(&dir)
            .err()
            .expect("newer schema must be refused");
        assert!(err.to_string().contains("schema version 2"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
