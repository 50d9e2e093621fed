//! The store: sled holds the truth about devices and their sessions.
//!
//! Nothing outside this folder sees sled, its keys or its encodings
//! ([`keys`]); callers get typed records.

mod accounts;
mod audit;
mod categories;
mod garden;
#[cfg(test)]
mod golden;
mod keys;
mod office;
mod outages;
mod policy;
mod quiz;
mod settings;

pub use accounts::{AdminSession, UserChange, UserRecord};
pub use audit::AuditEntry;
pub use office::OfficeVillage;
pub use outages::{HeartbeatRecord, OutageRecord};
pub use policy::PolicyRecord;
pub use quiz::{QuizCounts, QuizDayStats, QuizDeviceDay};
pub use settings::{ClockRecord, ScheduleRecord, SiteQuotaRecord, StoredDuration};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::domain::{DailyUsage, DayStats, Device, Mac};

/// The on-disk layout this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

impl AdminStore {
    /// Open the store in `path` for the admin's trees alone (the `desawifi
    /// user` command when no daemon runs).
    pub fn open(path: &Path) -> Result<AdminStore, StoreError> {
        Ok(Store::open(path)?.admin)
    }

    /// Make everything written so far durable (see [`Store::flush`]).
    pub async fn flush(&self) -> Result<(), StoreError> {
        flush_db(&self.db, &self.log).await
    }

    /// Blocking flush, for the CLI and blocking account changes.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        flush_durably(&self.db, &self.log)
    }
}

/// sled's flush, then an fdatasync of its log file: sled 0.34's flush alone
/// ends in `sync_file_range`, which makes nothing durable (see [`Store::flush`]).
fn flush_durably(db: &sled::Db, log: &std::fs::File) -> Result<(), StoreError> {
    db.flush()?;
    log.sync_data().map_err(StoreError::Sync)
}

/// [`flush_durably`] on tokio's blocking pool (see [`Store::flush`] for why not `flush_async`).
async fn flush_db(db: &sled::Db, log: &Arc<std::fs::File>) -> Result<(), StoreError> {
    let (db, log) = (db.clone(), log.clone());
    tokio::task::spawn_blocking(move || flush_durably(&db, &log))
        .await
        .map_err(|e| StoreError::Flush(e.to_string()))?
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

/// Typed access to the sled database: the gateway's trees (devices, daily
/// usage, day stats, settings). The admin room's own trees are reached
/// through [`Store::admin`] only.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// sled's log file (`<path>/db`), only to fsync it: sled 0.34's `flush`
    /// ends in `sync_file_range`, which makes nothing durable (RELIABILITY.md).
    log: Arc<std::fs::File>,
    devices: sled::Tree,
    usage: sled::Tree,
    days: sled::Tree,
    /// Per day and category, site-wide (never per device).
    category_usage: sled::Tree,
    settings: sled::Tree,
    quiz: sled::Tree,
    quiz_days: sled::Tree,
    /// Outage events (`outages.rs`).
    outages: sled::Tree,
    admin: AdminStore,
}

/// The admin room's own trees in the same database: accounts, their login
/// sessions and the audit log (see `accounts.rs`, `audit.rs`). The daemon
/// hands this to the admin room, which so never holds the gateway's
/// [`Store`] (devices and usage change only through the gateway).
#[derive(Clone)]
pub struct AdminStore {
    db: sled::Db,
    /// The same log file as [`Store`]'s, to fsync it.
    log: Arc<std::fs::File>,
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
        let category_usage = db.open_tree(keys::TREE_CATEGORY_USAGE)?;
        let settings = db.open_tree(keys::TREE_SETTINGS)?;
        let quiz = db.open_tree(keys::TREE_QUIZ)?;
        let quiz_days = db.open_tree(keys::TREE_QUIZ_DAYS)?;
        let audit = db.open_tree(keys::TREE_AUDIT)?;
        let outages = db.open_tree(outages::TREE_OUTAGES)?;
        let users = db.open_tree(keys::TREE_USERS)?;
        let admin_sessions = db.open_tree(keys::TREE_ADMIN_SESSIONS)?;
        let log = Arc::new(std::fs::File::open(path.join("db")).map_err(StoreError::Sync)?);
        Ok(Store {
            admin: AdminStore {
                db: db.clone(),
                log: log.clone(),
                audit,
                users,
                admin_sessions,
            },
            db,
            log,
            devices,
            usage,
            days,
            category_usage,
            settings,
            quiz,
            quiz_days,
            outages,
        })
    }

    /// The admin room's handle on its own trees (accounts, sessions, audit log).
    pub fn admin(&self) -> AdminStore {
        self.admin.clone()
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
                day_usage.free = day_usage.free.saturating_add(add.free);
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
    pub fn site_quota(&self) -> Result<Option<SiteQuotaRecord>, StoreError> {
        self.settings
            .get(keys::SETTING_QUOTA)?
            .map(|v| keys::decode(&v, "settings/quota"))
            .transpose()
    }

    /// Save the site quota (not yet flushed; see [`Store::flush`]).
    pub fn put_site_quota(&self, quota: &SiteQuotaRecord) -> Result<(), StoreError> {
        self.settings
            .insert(keys::SETTING_QUOTA, keys::encode(quota))?;
        Ok(())
    }

    /// The latest local day a device has usage on (`20261127`), if any.
    ///
    /// A forward scan of the device's days (never sled's reverse iterator:
    /// see [`AdminStore::audit_log`]); [`Store::has_usage_since`] answers the
    /// forget pass's question with one seek.
    pub fn last_usage_day(&self, mac: &Mac) -> Result<Option<u32>, StoreError> {
        let mut last = None;
        for kv in self.usage.scan_prefix(mac.0) {
            last = keys::parse_usage(&kv?.0).map(|(_, day)| day).or(last);
        }
        Ok(last)
    }

    /// Whether a device has usage on local day `day` or later.
    pub fn has_usage_since(&self, mac: &Mac, day: u32) -> Result<bool, StoreError> {
        let range = keys::usage(mac, day)..=keys::usage(mac, u32::MAX);
        Ok(self.usage.range(range).next().transpose()?.is_some())
    }

    /// Remove a device's record and its per-device usage (the site's day
    /// stats stay); returns how many usage records went. Not yet flushed.
    pub fn forget_device(&self, mac: &Mac) -> Result<usize, StoreError> {
        let mut gone = 0;
        for kv in self.usage.scan_prefix(mac.0) {
            self.usage.remove(kv?.0)?;
            gone += 1;
        }
        self.devices.remove(keys::device(mac))?;
        Ok(gone)
    }

    /// The clock's high-water mark and prune clock, if saved.
    pub fn clock(&self) -> Result<Option<ClockRecord>, StoreError> {
        self.settings
            .get(keys::SETTING_CLOCK)?
            .map(|v| keys::decode(&v, "settings/clock"))
            .transpose()
    }

    /// Save the clock's record (not yet flushed; see [`Store::flush`]).
    pub fn put_clock(&self, clock: &ClockRecord) -> Result<(), StoreError> {
        self.settings
            .insert(keys::SETTING_CLOCK, keys::encode(clock))?;
        Ok(())
    }

    /// The opening hours an admin saved, if any (else the config file's apply).
    pub fn schedule(&self) -> Result<Option<ScheduleRecord>, StoreError> {
        self.settings
            .get(keys::SETTING_SCHEDULE)?
            .map(|v| keys::decode(&v, "settings/schedule"))
            .transpose()
    }

    /// Save the opening hours (not yet flushed; see [`Store::flush`]).
    pub fn put_schedule(&self, schedule: &ScheduleRecord) -> Result<(), StoreError> {
        self.settings
            .insert(keys::SETTING_SCHEDULE, keys::encode(schedule))?;
        Ok(())
    }

    /// The devices an admin trusted (`POST /api/devices/{mac}/trust`), sorted;
    /// the config file's `[network] trusted_macs` are not in here.
    pub fn trusted(&self) -> Result<Vec<Mac>, StoreError> {
        Ok(self
            .settings
            .get(keys::SETTING_TRUSTED)?
            .map(|v| keys::decode::<Vec<Mac>>(&v, "settings/trusted"))
            .transpose()?
            .unwrap_or_default())
    }

    /// Save the admin's trusted devices (not yet flushed).
    pub fn put_trusted(&self, macs: &[Mac]) -> Result<(), StoreError> {
        let mut macs = macs.to_vec();
        macs.sort();
        macs.dedup();
        self.settings
            .insert(keys::SETTING_TRUSTED, keys::encode(&macs))?;
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
        flush_db(&self.db, &self.log).await
    }

    /// Blocking flush (sled's, then fdatasync) for shutdown paths outside the runtime.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        flush_durably(&self.db, &self.log)
    }
}

/// `open` again after a handle to the same store was dropped in this
/// process (tests only). sled 0.34 lets go of its file lock only when its
/// background threads have noticed the drop, a moment later; an `open`
/// before that fails with "could not acquire lock" (a daemon opens once, so
/// only tests meet this). Other errors, and the lock after 10 s, come back.
#[cfg(test)]
pub(crate) fn retry_lock<T>(open: impl Fn() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open() {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Session;
    use std::net::Ipv4Addr;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("desawifi-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Open the store again after a handle to it was dropped in this process.
    pub(super) fn reopen(dir: &std::path::Path) -> Result<Store, StoreError> {
        super::retry_lock(|| Store::open(dir))
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
        let store = reopen(&dir).unwrap();
        let d = store.device(&mac).unwrap().unwrap();
        assert!(d.is_online(150));
        assert!(!d.is_online(200));
        assert_eq!(store.online_devices(150).unwrap().len(), 1);
        assert_eq!(store.online_devices(250).unwrap().len(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_forgotten_device_goes_with_its_usage_and_only_its_own() {
        let dir = temp_dir("forget");
        let store = Store::open(&dir).unwrap();
        let (a, b): (Mac, Mac) = (
            "02:77:00:00:00:01".parse().unwrap(),
            "02:77:00:00:00:02".parse().unwrap(),
        );
        let used = DailyUsage {
            download: 10,
            upload: 1,
            free: 0,
        };
        for mac in [a, b] {
            store.put_device(&Device::new(mac, 100)).unwrap();
        }
        store
            .record_pass(
                &[],
                &[
                    (a, 20260801, used),
                    (a, 20260805, used),
                    (b, 20261127, used),
                ],
            )
            .unwrap();
        store
            .update_day_stats(20260801, |d| d.sessions += 1)
            .unwrap();
        assert_eq!(store.last_usage_day(&a).unwrap(), Some(20260805));
        assert!(store.has_usage_since(&a, 20260801).unwrap());
        assert!(store.has_usage_since(&a, 20260805).unwrap());
        assert!(!store.has_usage_since(&a, 20260806).unwrap());
        assert!(store.has_usage_since(&b, 20261127).unwrap());
        assert!(!store.has_usage_since(&b, 20261128).unwrap());
        assert_eq!(store.forget_device(&a).unwrap(), 2);
        assert!(store.device(&a).unwrap().is_none());
        assert_eq!(store.last_usage_day(&a).unwrap(), None);
        assert!(!store.has_usage_since(&a, 0).unwrap());
        assert!(store.device(&b).unwrap().is_some());
        assert_eq!(store.usage(&b, 20261127).unwrap(), used);
        assert_eq!(
            store.day_stats(20260801).unwrap().sessions,
            1,
            "site stats stay"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn day_stats_and_site_quota_survive_reopen_and_pruning() {
        let dir = temp_dir("days");
        let quota = SiteQuotaRecord {
            daily_data: 1 << 30,
            session_time: std::time::Duration::from_secs(4 * 3600).into(),
            idle_timeout: std::time::Duration::from_secs(30 * 60).into(),
            download_rate: 2_000_000,
            upload_rate: 1_000_000,
            after_quota_rate: 256_000,
            accounting_interval: std::time::Duration::from_secs(5).into(),
        };
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
        let store = reopen(&dir).unwrap();
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
        let err = reopen(&dir).err().expect("newer schema must be refused");
        assert!(err.to_string().contains("schema version 2"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
