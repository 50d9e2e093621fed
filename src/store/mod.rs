//! The store: sled holds the truth about devices and their sessions.
//!
//! Nothing outside this folder sees sled, its keys or its encodings
//! ([`keys`]); callers get typed records.

mod keys;

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
}

impl Session {
    /// A fresh session from `now` for `length` seconds.
    pub fn new(ip: Ipv4Addr, now: i64, length: i64) -> Session {
        Session { ip, started: now, ends: now + length, last_activity: now, seen: (0, 0), standing: Standing::Normal, slot: None }
    }
}

/// Bytes a device moved in one local day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyUsage {
    pub download: u64,
    pub upload: u64,
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
        Device { mac, ip: None, session: None, blocked: false, quota: QuotaOverride::default(), first_seen: now }
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
    Open { path: PathBuf, #[source] source: sled::Error },
    /// The store was written by a newer desawifi.
    #[error("the store at {path} has schema version {found}; this desawifi reads version {SCHEMA_VERSION}")]
    SchemaTooNew { path: PathBuf, found: u32 },
    /// A read or write failed.
    #[error("store I/O failed: {0}")]
    Sled(#[from] sled::Error),
    /// A record could not be decoded.
    #[error("store record {key} is corrupt: {message}")]
    Corrupt { key: String, message: String },
}

/// Typed access to the sled database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    devices: sled::Tree,
    usage: sled::Tree,
}

impl Store {
    /// Open (or create) the store in `path`, checking the schema version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            // Writes that must survive (logins) are flushed explicitly; this bounds the rest.
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        let meta = db.open_tree(keys::TREE_META)?;
        match meta.get(keys::SCHEMA)? {
            None => {
                meta.insert(keys::SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            Some(v) => {
                let found = keys::decode_u32(&v).ok_or_else(|| StoreError::Corrupt { key: "meta/schema".into(), message: "not a u32".into() })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew { path: path.to_owned(), found });
                }
            }
        }
        let devices = db.open_tree(keys::TREE_DEVICES)?;
        let usage = db.open_tree(keys::TREE_USAGE)?;
        Ok(Store { db, devices, usage })
    }

    /// One device, if it was ever seen.
    pub fn device(&self, mac: &Mac) -> Result<Option<Device>, StoreError> {
        self.devices.get(keys::device(mac))?.map(|v| keys::decode(&v, &mac.to_string())).transpose()
    }

    /// Write a device record (not yet flushed; see [`Store::flush`]).
    pub fn put_device(&self, device: &Device) -> Result<(), StoreError> {
        self.devices.insert(keys::device(&device.mac), keys::encode(device))?;
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
        Ok(self.devices()?.into_iter().filter(|d| d.is_online(now)).collect())
    }

    /// A device's usage on a local day (`20261127`).
    pub fn usage(&self, mac: &Mac, day: u32) -> Result<DailyUsage, StoreError> {
        Ok(self.usage.get(keys::usage(mac, day))?.map(|v| keys::decode(&v, &format!("usage/{mac}/{day}"))).transpose()?.unwrap_or_default())
    }

    /// Every device's usage per day in `from..=to`, as (day, mac, usage).
    pub fn usage_between(&self, from: u32, to: u32) -> Result<Vec<(u32, Mac, DailyUsage)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.usage.iter() {
            let (k, v) = kv?;
            let Some((mac, day)) = keys::parse_usage(&k) else { continue };
            if (from..=to).contains(&day) {
                out.push((day, mac, keys::decode(&v, &format!("usage/{mac}/{day}"))?));
            }
        }
        Ok(out)
    }

    /// One accounting pass, atomically: the devices' records (with the
    /// counters seen) and the bytes added to their day. Both or neither
    /// reach the disk, so bytes are never counted twice nor lost silently.
    pub fn record_pass(&self, devices: &[Device], added: &[(Mac, u32, DailyUsage)]) -> Result<(), StoreError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        use sled::Transactional;
        let result = (&self.devices, &self.usage).transaction(|(tx_devices, tx_usage)| {
            for d in devices {
                tx_devices.insert(&keys::device(&d.mac)[..], keys::encode(d))?;
            }
            for (mac, day, add) in added {
                let key = keys::usage(mac, *day);
                let mut day_usage: DailyUsage = match tx_usage.get(key)? {
                    Some(v) => keys::decode(&v, "usage").map_err(ConflictableTransactionError::Abort)?,
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
        Ok(gone)
    }

    /// Make everything written so far durable (fsync). Logins call this
    /// before answering, so `kill -9` or a power cut cannot lose them.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Blocking flush for shutdown paths outside the runtime.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("desawifi-store-{name}-{}", std::process::id()));
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
    fn refuses_a_newer_schema() {
        let dir = temp_dir("schema");
        {
            let db = sled::open(&dir).unwrap();
            db.open_tree(keys::TREE_META).unwrap().insert(keys::SCHEMA, &(SCHEMA_VERSION + 1).to_be_bytes()).unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(&dir).err().expect("newer schema must be refused");
        assert!(err.to_string().contains("schema version 2"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
