//! The gateway core: the one place that changes a device's state. The
//! portal and admin rooms ask it to admit, revoke or look up a device; it
//! writes the store first (durably), then asks the firewall task.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::config::{self, Config};
use crate::firewall::{
    Change, DeviceKey, FirewallError, FirewallHandle, GardenNet, OnlineDevice, Policy, SlotRates,
};
use crate::mac::Mac;
use crate::quota::{self, Limits, QuotaOverride, Standing};
use crate::store::{DailyUsage, Device, Session, Store, StoreError};

/// Longest the expiry loop sleeps, so a clock jump is noticed within it.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Why a device change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// An admin blocked this device.
    #[error("device {0} is blocked")]
    Blocked(Mac),
    /// The device used today's quota and the fair-use speed is 0.
    #[error("device {0} used today's quota")]
    QuotaUsed(Mac),
    /// Every traffic-shaping slot is taken (more phones online than slots).
    #[error("all {0} device slots are in use")]
    Full(u16),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The firewall failed.
    #[error(transparent)]
    Firewall(#[from] FirewallError),
}

/// A device as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    pub mac: Mac,
    /// The IPv4 address it last used (the session's while online).
    pub ip: Option<Ipv4Addr>,
    /// Unix seconds of the first visit.
    pub first_seen: i64,
    /// The admin's per-device overrides.
    pub quota: QuotaOverride,
    pub blocked: bool,
    /// `Some` while online.
    pub session: Option<Session>,
    /// Seconds until the session ends (0 when captive).
    pub seconds_remaining: i64,
    /// Bytes counted today (download + upload).
    pub used_today: u64,
    /// Today's allowance in bytes.
    pub daily_data: u64,
    /// No quota for this device.
    pub exempt: bool,
    /// Against today's quota.
    pub standing: Standing,
    /// Unix time of the next local midnight, when the quota starts over.
    pub quota_resets: i64,
}

/// Store + firewall + config, shared by every room.
pub struct Gateway {
    config: Arc<Config>,
    /// The site's quota defaults: the config file's until an admin saves
    /// others (kept in the store, and winning over the file from then on).
    quota: RwLock<config::Quota>,
    store: Store,
    firewall: FirewallHandle,
    clock: Arc<dyn Clock>,
    /// Serializes read-modify-write of device records (not the firewall apply,
    /// so concurrent logins still coalesce into one nft batch).
    records: Mutex<()>,
    /// Wakes the expiry loop when a session starts.
    wake: Notify,
    /// Which traffic-shaping slots sessions hold (index = slot).
    slots: Mutex<Vec<bool>>,
    /// Bytes the last accounting pass counted but did not write yet
    /// (`[store] write_interval`), so pages and reports show them at once.
    unsaved: Mutex<std::collections::HashMap<Mac, Unsaved>>,
}

/// What the last accounting pass knows about a busy device that is not on
/// disk yet (`[store] write_interval`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unsaved {
    /// Bytes counted since the record was last written.
    pub usage: DailyUsage,
    /// The kernel counters (upload, download) that pass read.
    pub seen: (u64, u64),
    /// Unix seconds of the last pass that saw the counters grow.
    pub last_activity: i64,
}

impl Gateway {
    /// Build the core and reconcile the kernel with the store.
    pub async fn start(
        config: Arc<Config>,
        store: Store,
        firewall: FirewallHandle,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Gateway>, GatewayError> {
        let slot_count = shaping_plan(&config).slots;
        let quota = RwLock::new(store.site_quota()?.unwrap_or_else(|| config.quota.clone()));
        let gw = Arc::new(Gateway {
            config,
            quota,
            store,
            firewall,
            clock,
            records: Mutex::new(()),
            wake: Notify::new(),
            slots: Mutex::new(vec![false; slot_count as usize]),
            unsaved: Mutex::default(),
        });
        gw.claim_stored_slots()?;
        gw.reconcile().await?;
        Ok(gw)
    }

    /// Mark the slots of stored sessions as taken; give a slot to any
    /// session without one (or with one out of range after a config change).
    fn claim_stored_slots(&self) -> Result<(), GatewayError> {
        let _guard = self.records.lock().expect("records lock");
        let mut slots = self.slots.lock().expect("slots lock");
        let mut homeless = Vec::new();
        for device in self.store.devices()? {
            match device.session.as_ref().and_then(|s| s.slot) {
                Some(slot) if (slot as usize) < slots.len() && !slots[slot as usize] => {
                    slots[slot as usize] = true
                }
                Some(_) | None if device.session.is_some() => homeless.push(device),
                _ => {}
            }
        }
        for mut device in homeless {
            let slot = take_slot(&mut slots).ok_or(GatewayError::Full(slots.len() as u16))?;
            if let Some(s) = device.session.as_mut() {
                s.slot = Some(slot);
            }
            self.store.put_device(&device)?;
        }
        Ok(())
    }

    /// The ceilings a device's slot should have now.
    fn slot_rates(&self, device: &Device, standing: Standing) -> SlotRates {
        let (download, upload) = Limits::new(&self.quota(), &device.quota).rates(standing);
        SlotRates { download, upload }
    }

    /// The configuration the gateway runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The site's quota defaults in force now.
    pub fn quota(&self) -> config::Quota {
        self.quota.read().expect("quota lock").clone()
    }

    /// Replace the site's quota defaults: saved (flushed) first, then in
    /// force for new logins at once and for connected devices from the next
    /// accounting pass, without a restart. Returns the old defaults.
    pub async fn set_quota(&self, quota: config::Quota) -> Result<config::Quota, GatewayError> {
        let old = {
            let _guard = self.records.lock().expect("records lock");
            self.store.put_site_quota(&quota)?;
            std::mem::replace(&mut *self.quota.write().expect("quota lock"), quota)
        };
        self.store.flush().await?;
        info!("site quota changed");
        Ok(old)
    }

    /// Every device ever seen, as the admin's device list shows them.
    pub fn devices(&self) -> Result<Vec<DeviceView>, GatewayError> {
        let now = self.now();
        let day = quota::local_day(now, &self.config.site.timezone);
        let quota = self.quota();
        self.store
            .devices()?
            .into_iter()
            .map(|d| self.view_of(d, now, day, &quota))
            .collect()
    }

    /// The site's per-day stats (sessions, peak devices) in `from..=to`.
    pub fn day_stats_between(
        &self,
        from: u32,
        to: u32,
    ) -> Result<Vec<(u32, crate::store::DayStats)>, GatewayError> {
        Ok(self.store.day_stats_between(from, to)?)
    }

    /// Every device's usage per day in `from..=to`, as (day, mac, usage).
    /// Today's rows include what the last accounting pass counted but did
    /// not write yet (`[store] write_interval`), as the device pages do.
    pub fn usage_between(
        &self,
        from: u32,
        to: u32,
    ) -> Result<Vec<(u32, Mac, DailyUsage)>, GatewayError> {
        let mut rows = self.store.usage_between(from, to)?;
        let today = quota::local_day(self.now(), &self.config.site.timezone);
        if (from..=to).contains(&today) {
            let unsaved = self.unsaved.lock().expect("unsaved lock").clone();
            let index: std::collections::HashMap<Mac, usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, (day, _, _))| *day == today)
                .map(|(i, (_, mac, _))| (*mac, i))
                .collect();
            for (mac, u) in unsaved {
                match index.get(&mac).map(|&i| &mut rows[i]) {
                    Some((_, _, row)) => {
                        row.download = row.download.saturating_add(u.usage.download);
                        row.upload = row.upload.saturating_add(u.usage.upload);
                    }
                    None => rows.push((today, mac, u.usage)),
                }
            }
        }
        Ok(rows)
    }

    /// Unix seconds, from the injected clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Make the kernel's table equal to what the store says, in one transaction.
    pub async fn reconcile(&self) -> Result<(), GatewayError> {
        let policy = self.policy()?;
        self.firewall.reconcile(policy).await?;
        Ok(())
    }

    /// The ruleset's inputs, derived from config and store.
    pub fn policy(&self) -> Result<Policy, GatewayError> {
        let now = self.now();
        let online = self
            .store
            .online_devices(now)?
            .into_iter()
            .filter_map(|d| {
                let s = d.session.as_ref().filter(|s| s.standing != Standing::Cut)?;
                Some(OnlineDevice {
                    key: DeviceKey {
                        mac: d.mac,
                        ip: s.ip,
                    },
                    slot: s.slot?,
                    rates: self.slot_rates(&d, s.standing),
                })
            })
            .collect();
        let walled_garden = self
            .config
            .walled_garden
            .addresses
            .iter()
            .map(|net| match net {
                ipnet::IpNet::V4(n) => GardenNet::V4(n.network(), n.prefix_len()),
                ipnet::IpNet::V6(n) => GardenNet::V6(n.network(), n.prefix_len()),
            })
            .collect();
        Ok(Policy {
            lan_interface: self.config.network.lan_interface.clone(),
            portal_address: self.config.network.portal_address,
            portal_port: self.config.portal.listen.port(),
            portal_https_port: self.config.portal.https.as_ref().map(|t| t.listen.port()),
            walled_garden,
            online,
        })
    }

    /// What the portal needs to know about a device.
    pub fn view(&self, mac: Mac) -> Result<DeviceView, GatewayError> {
        let now = self.now();
        let day = quota::local_day(now, &self.config.site.timezone);
        let device = self
            .store
            .device(&mac)?
            .unwrap_or_else(|| Device::new(mac, now));
        self.view_of(device, now, day, &self.quota())
    }

    fn view_of(
        &self,
        device: Device,
        now: i64,
        day: u32,
        site: &config::Quota,
    ) -> Result<DeviceView, GatewayError> {
        let tz = &self.config.site.timezone;
        let mac = device.mac;
        let limits = Limits::new(site, &device.quota);
        let used_today = self.used_today(&mac, day)?;
        let session = Some(device.clone())
            .filter(|d| d.is_online(now))
            .and_then(|d| d.session);
        let seconds_remaining = session.as_ref().map_or(0, |s| (s.ends - now).max(0));
        Ok(DeviceView {
            mac,
            ip: session.as_ref().map(|s| s.ip).or(device.ip),
            first_seen: device.first_seen,
            quota: device.quota,
            blocked: device.blocked,
            standing: limits.standing(used_today),
            session,
            seconds_remaining,
            used_today,
            daily_data: limits.daily_data,
            exempt: limits.exempt,
            quota_resets: quota::next_midnight(now, tz),
        })
    }

    /// What the last accounting pass counted but did not write (replaces the last).
    pub(crate) fn replace_unsaved(
        &self,
        unsaved: std::collections::HashMap<Mac, Unsaved>,
    ) -> std::collections::HashMap<Mac, Unsaved> {
        std::mem::replace(&mut *self.unsaved.lock().expect("unsaved lock"), unsaved)
    }

    /// What the last accounting pass counted for a device but did not write yet (for `/metrics`).
    pub(crate) fn unsaved_usage(&self, mac: &Mac) -> DailyUsage {
        self.unsaved
            .lock()
            .expect("unsaved lock")
            .get(mac)
            .map(|u| u.usage)
            .unwrap_or_default()
    }

    /// Today's usage of a device: written plus counted-but-unwritten.
    fn used_today(&self, mac: &Mac, day: u32) -> Result<u64, GatewayError> {
        let unsaved = self
            .unsaved
            .lock()
            .expect("unsaved lock")
            .get(mac)
            .map_or(0, |u| u.usage.total());
        Ok(self.store.usage(mac, day)?.total() + unsaved)
    }

    /// The store, for the accounting pass.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The firewall task, for the accounting pass.
    pub(crate) fn firewall(&self) -> &FirewallHandle {
        &self.firewall
    }

    /// The device-record lock, for the accounting pass.
    pub(crate) fn records(&self) -> std::sync::MutexGuard<'_, ()> {
        self.records.lock().expect("records lock")
    }

    /// Let a device online for one session: store first (flushed), then the
    /// firewall. A device already online from another address moves to the
    /// new one, keeping its session.
    pub async fn admit(&self, mac: Mac, ip: Ipv4Addr) -> Result<Session, GatewayError> {
        let result = self.admit_device(mac, ip).await;
        match &result {
            Ok((_, true)) => crate::admin::metrics::session_started(),
            Ok((_, false)) => {}
            Err(e) => crate::admin::metrics::login_failed(e),
        }
        result.map(|(session, _)| session)
    }

    /// [`Gateway::admit`]'s work; also says whether a new session started
    /// (not a re-tap while online), for the metrics.
    async fn admit_device(&self, mac: Mac, ip: Ipv4Addr) -> Result<(Session, bool), GatewayError> {
        let now = self.now();
        let mut new_session = false;
        let (session, changes) = {
            let _guard = self.records.lock().expect("records lock");
            let mut device = self
                .store
                .device(&mac)?
                .unwrap_or_else(|| Device::new(mac, now));
            if device.blocked {
                return Err(GatewayError::Blocked(mac));
            }
            let site = self.quota();
            let day = quota::local_day(now, &self.config.site.timezone);
            let used = self.used_today(&mac, day)?;
            let standing = Limits::new(&site, &device.quota).standing(used);
            if standing == Standing::Cut {
                return Err(GatewayError::QuotaUsed(mac));
            }
            let mut changes = Vec::new();
            let mut session = match device.session.take().filter(|s| s.ends > now) {
                Some(s) if s.ip == ip && s.standing != Standing::Cut => s,
                Some(s) => {
                    if s.standing != Standing::Cut {
                        changes.push(Change::Revoke(DeviceKey { mac, ip: s.ip }));
                    }
                    // A new kernel element: its counters start from zero.
                    Session {
                        ip,
                        seen: (0, 0),
                        standing,
                        ..s
                    }
                }
                None => {
                    new_session = true;
                    Session {
                        standing,
                        ..Session::new(ip, now, site.session_time.as_secs() as i64)
                    }
                }
            };
            if session.slot.is_none() {
                let mut slots = self.slots.lock().expect("slots lock");
                session.slot =
                    Some(take_slot(&mut slots).ok_or(GatewayError::Full(slots.len() as u16))?);
            }
            if new_session {
                // The day's report: one more session, and the peak as of this
                // login (a slot per session, so taken slots = devices online).
                let online = self
                    .slots
                    .lock()
                    .expect("slots lock")
                    .iter()
                    .filter(|taken| **taken)
                    .count() as u64;
                self.store.update_day_stats(day, |d| {
                    d.sessions += 1;
                    d.peak_devices = d.peak_devices.max(online);
                })?;
            }
            let online = OnlineDevice {
                key: DeviceKey { mac, ip },
                slot: session.slot.unwrap_or(0),
                rates: self.slot_rates(&device, standing),
            };
            changes.push(Change::Admit(online));
            device.ip = Some(ip);
            device.session = Some(session.clone());
            self.store.put_device(&device)?;
            (session, changes)
        };
        self.store.flush().await?;
        if let Err(e) = self.firewall.changes(changes).await {
            // Keep store and kernel agreeing: the device is not online.
            self.end_session(mac, "firewall failed")?;
            return Err(e.into());
        }
        info!(mac = %mac, ip = %ip, ends = session.ends, "device online");
        self.wake.notify_one();
        Ok((session, new_session))
    }

    /// Set (or clear, with the default) a device's quota overrides. Takes
    /// effect on the next accounting pass, without a restart; returns the old ones.
    pub async fn set_quota_override(
        &self,
        mac: Mac,
        over: QuotaOverride,
    ) -> Result<QuotaOverride, GatewayError> {
        let old = self
            .update_device(mac, |d| std::mem::replace(&mut d.quota, over))
            .await?;
        info!(mac = %mac, "quota override changed");
        Ok(old)
    }

    /// Block or unblock a device. A blocked device cannot log in; one that is
    /// online is made captive at once. Returns whether it was blocked before.
    pub async fn set_blocked(&self, mac: Mac, blocked: bool) -> Result<bool, GatewayError> {
        let was = self
            .update_device(mac, |d| std::mem::replace(&mut d.blocked, blocked))
            .await?;
        if blocked {
            self.revoke(mac, "blocked").await?;
        }
        info!(mac = %mac, blocked, "device block changed");
        Ok(was)
    }

    /// Read-modify-write one device record (made if new) under the records
    /// lock, then flush it.
    async fn update_device<T>(
        &self,
        mac: Mac,
        change: impl FnOnce(&mut Device) -> T,
    ) -> Result<T, GatewayError> {
        let out = {
            let _guard = self.records.lock().expect("records lock");
            let mut device = self
                .store
                .device(&mac)?
                .unwrap_or_else(|| Device::new(mac, self.now()));
            let out = change(&mut device);
            self.store.put_device(&device)?;
            out
        };
        self.store.flush().await?;
        Ok(out)
    }

    /// Make a device captive again (logout, expiry, kick).
    pub async fn revoke(&self, mac: Mac, reason: &str) -> Result<(), GatewayError> {
        self.revoke_many(&[mac], reason).await
    }

    /// Make several devices captive at once (expiry, idle): one counter read,
    /// one store transaction, one firewall batch.
    ///
    /// What the kernel counted since the last accounting pass is added to the
    /// day before the elements (and their counters) go; the sessions are
    /// already out of the store, so no pass counts those bytes again.
    pub async fn revoke_many(&self, macs: &[Mac], reason: &str) -> Result<(), GatewayError> {
        let mut ended = Vec::new();
        for &mac in macs {
            if let Some(session) = self.end_session(mac, reason)? {
                ended.push((mac, session));
            }
        }
        {
            // Counted below from the written counters, so no longer "unsaved".
            let mut unsaved = self.unsaved.lock().expect("unsaved lock");
            for (mac, _) in &ended {
                unsaved.remove(mac);
            }
        }
        let in_kernel: Vec<(DeviceKey, &Session)> = ended
            .iter()
            .filter(|(_, s)| s.standing != Standing::Cut)
            .map(|(mac, s)| {
                (
                    DeviceKey {
                        mac: *mac,
                        ip: s.ip,
                    },
                    s,
                )
            })
            .collect();
        if !in_kernel.is_empty() {
            let counters = self.firewall.counters().await?;
            let day = quota::local_day(self.now(), &self.config.site.timezone);
            let added: Vec<(Mac, u32, DailyUsage)> = in_kernel
                .iter()
                .filter_map(|(key, s)| {
                    let c = counters.get(key)?;
                    let add = DailyUsage {
                        upload: quota::counter_delta(c.upload, s.seen.0),
                        download: quota::counter_delta(c.download, s.seen.1),
                    };
                    (add.total() > 0).then_some((key.mac, day, add))
                })
                .collect();
            if !added.is_empty() {
                self.store.record_pass(&[], &added)?;
                crate::admin::metrics::bytes_counted(&added);
            }
        }
        self.store.flush().await?;
        if !in_kernel.is_empty() {
            self.firewall
                .changes(
                    in_kernel
                        .iter()
                        .map(|(key, _)| Change::Revoke(*key))
                        .collect(),
                )
                .await?;
        }
        for (mac, session) in &ended {
            info!(mac = %mac, ip = %session.ip, reason, "device captive");
        }
        Ok(())
    }

    /// Remove the session from the store; returns it if there was one.
    fn end_session(&self, mac: Mac, reason: &str) -> Result<Option<Session>, GatewayError> {
        let _guard = self.records.lock().expect("records lock");
        let Some(mut device) = self.store.device(&mac)? else {
            return Ok(None);
        };
        let session = device.session.take();
        if let Some(slot) = session.as_ref().and_then(|s| s.slot) {
            if let Some(taken) = self
                .slots
                .lock()
                .expect("slots lock")
                .get_mut(slot as usize)
            {
                *taken = false;
            }
        }
        if session.is_some() {
            self.store.put_device(&device)?;
            tracing::debug!(mac = %mac, reason, "session ended in store");
        }
        Ok(session)
    }

    /// End sessions whose time is up; sleeps until the next one is due.
    pub async fn run_expiry(self: Arc<Self>, cancel: CancellationToken) {
        loop {
            let next_due = match self.expire_due().await {
                Ok(next) => next,
                Err(e) => {
                    warn!(error = %e, "session expiry pass failed");
                    None
                }
            };
            let sleep = next_due.map_or(MAX_SLEEP, |due| {
                Duration::from_secs((due - self.now()).max(0) as u64).min(MAX_SLEEP)
            });
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Revoke every session that has ended; return when the next one ends.
    async fn expire_due(&self) -> Result<Option<i64>, GatewayError> {
        let now = self.now();
        let mut next: Option<i64> = None;
        let mut due = Vec::new();
        for device in self.store.devices()? {
            let Some(session) = &device.session else {
                continue;
            };
            if session.ends <= now {
                due.push(device.mac);
            } else {
                next = Some(next.map_or(session.ends, |n| n.min(session.ends)));
            }
        }
        self.revoke_many(&due, "session time over").await?;
        Ok(next)
    }

    /// Flush the store (shutdown).
    pub fn flush_blocking(&self) -> Result<(), GatewayError> {
        Ok(self.store.flush_blocking()?)
    }
}

/// The lowest free slot, now taken.
fn take_slot(slots: &mut [bool]) -> Option<u16> {
    let free = slots.iter().position(|taken| !taken)?;
    slots[free] = true;
    Some(free as u16)
}

/// The shaping trees this config asks for: uplink shares and one slot per
/// possible online device.
pub fn shaping_plan(config: &Config) -> crate::shaping::Plan {
    crate::shaping::Plan {
        lan_interface: config.network.lan_interface.clone(),
        wan_interface: config.network.wan_interface.clone(),
        uplink_download: config.network.uplink_download.map(|r| r.0),
        uplink_upload: config.network.uplink_upload.map(|r| r.0),
        slots: config.network.max_online,
    }
}

/// The ceilings of a slot nobody has changed: the site's per-device caps.
pub fn default_slot_rates(config: &Config) -> SlotRates {
    SlotRates {
        download: config.quota.download_rate.0,
        upload: config.quota.upload_rate.0,
    }
}
