//! The gateway core: the one place that changes a device's state, and the
//! only holder of the store and the firewall handles. The portal and admin
//! rooms ask it to admit, revoke or look up a device and for the reports;
//! it writes the store first (durably), then asks the firewall task.
//!
//! - `admission`: admit, revoke, block, overrides, session expiry.
//! - `reports`: device views, per-day usage and stats.
//! - [`accounting`]: the accounting pass (counters -> usage -> decisions).
//! - `schedule`: opening hours (logins refused while closed, sessions end at the close).
//! - `quiz`: the literacy quiz's attempts, bonus data and counts by pillar.
//! - `trusted`: devices online whenever they are on the LAN, without a quota.
//! - `reload`: a reloaded configuration put in force ([`Gateway::apply_config`]).

pub mod accounting;
mod admission;
mod categories;
mod category_window;
mod forget;
mod garden;
pub mod outages;
mod power;
mod quiz;
mod reload;
mod reports;
mod schedule;
mod sessions;
mod slots;
mod time_guard;
mod trusted;

pub use categories::CategoryDay;
pub use quiz::QuizOutcome;
pub use reload::NotApplied;
pub use reports::DeviceView;
pub use trusted::Trust;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::info;

use crate::clock::Clock;
use crate::config::{self, Config};
use crate::domain::{DailyUsage, Device, Mac, Rate, Size, Standing};
use crate::firewall::{
    DeviceKey, FirewallError, FirewallHandle, GardenNet, OnlineDevice, Policy, SlotRates,
};
use crate::store::{SiteQuotaRecord, Store, StoreError};
use crate::telemetry::LoginFailure;

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
    /// The address is online with another MAC (or the MAC with another
    /// address) that moved traffic lately: one identity, one session.
    #[error("{0} is online with another device")]
    IdentityTaken(std::net::Ipv4Addr),
    /// The device is trusted by `[network] trusted_macs`: only the file can change that.
    #[error("device {0} is trusted in the config file ([network] trusted_macs)")]
    TrustedInConfig(Mac),
    /// Outside the opening hours; opens at this unix second.
    #[error("the wifi is closed until {opens}")]
    Closed { opens: i64 },
    /// The battery is nearly empty (power mode `darurat`): no new logins.
    #[error("the battery is nearly empty: no new logins")]
    PowerEmergency,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The firewall failed.
    #[error(transparent)]
    Firewall(#[from] FirewallError),
}

impl GatewayError {
    /// The login failure this error stands for, as the telemetry counts it.
    pub fn login_failure(&self) -> LoginFailure {
        match self {
            GatewayError::Blocked(_) => LoginFailure::Blocked,
            GatewayError::QuotaUsed(_) => LoginFailure::QuotaUsed,
            GatewayError::Full(_) => LoginFailure::Full,
            GatewayError::IdentityTaken(_) => LoginFailure::IdentityTaken,
            GatewayError::Closed { .. } => LoginFailure::Closed,
            GatewayError::PowerEmergency => LoginFailure::Power,
            GatewayError::Store(_)
            | GatewayError::Firewall(_)
            | GatewayError::TrustedInConfig(_) => LoginFailure::Error,
        }
    }
}

/// Tell the telemetry about bytes just written to daily usage (summed over
/// what the store took, so every byte is counted once).
fn count_bytes(added: &[(Mac, u32, DailyUsage)]) {
    let (download, upload) = added.iter().fold((0u64, 0u64), |(d, u), (_, _, a)| {
        (d.saturating_add(a.download), u.saturating_add(a.upload))
    });
    crate::telemetry::bytes_counted(download, upload);
}

/// Store + firewall + config, shared by every room.
pub struct Gateway {
    /// The configuration in force: the file's as last (re)loaded, with the
    /// values that need a restart kept from start-up ([`Gateway::apply_config`]).
    config: tokio::sync::watch::Sender<Arc<Config>>,
    /// The site's quota defaults: the config file's until an admin saves
    /// others (kept in the store, and winning over the file from then on).
    quota: RwLock<config::Quota>,
    /// The opening hours: the config file's until an admin saves others.
    schedule: RwLock<config::Schedule>,
    /// Wakes the schedule loop when an admin changes the opening hours.
    schedule_changed: Notify,
    /// Devices an admin trusted (sorted); `[network] trusted_macs` are apart.
    trusted: RwLock<Vec<Mac>>,
    /// The local day whose past quiz records were last pruned.
    quiz_pruned: std::sync::atomic::AtomicU32,
    store: Store,
    firewall: FirewallHandle,
    /// The injected clock, held to the store's high-water mark (`time_guard.rs`).
    time: time_guard::TimeGuard,
    /// The outage this start-up ended (a power cut, a clean stop), once classified.
    last_stop: Mutex<Option<crate::domain::Outage>>,
    /// Serializes read-modify-write of device records (not the firewall apply,
    /// so concurrent logins still coalesce into one nft batch), and guards
    /// what goes with them (the shaping slots).
    records: Mutex<Records>,
    /// Wakes the expiry loop when a session starts.
    wake: Notify,
    /// Bytes the last accounting pass counted but did not write yet
    /// (`[store] write_interval`), so pages and reports show them at once.
    unsaved: Mutex<HashMap<Mac, Unsaved>>,
    /// The category counters the last accounting pass saw (site-wide, never per device).
    category_seen: Mutex<Option<crate::firewall::CategoryCounters>>,
    /// Category bytes not yet published (`category_window.rs`).
    category_window: Mutex<category_window::CategoryWindow>,
    /// The usage categories that cost no quota now (the config's, until an admin changes them).
    free: RwLock<std::collections::BTreeSet<String>>,
    /// The regency policy's walled-garden additions (on top of the config's).
    policy_garden: RwLock<Vec<ipnet::IpNet>>,
    /// The battery's power mode (`power.rs`).
    power: power::PowerFeed,
}

/// What the records lock guards besides the device records in the store.
#[derive(Default)]
struct Records {
    /// Which traffic-shaping slots sessions hold (index = slot).
    slots: Vec<bool>,
    /// The stored sessions by MAC, address and end (kept by [`Records::wrote`]).
    sessions: sessions::SessionIndex,
    /// Device records written so far (a sequence number, bumped by each write).
    writes: u64,
    /// Devices written while an accounting pass was deciding without the
    /// lock, with the sequence number of their last write; kept only while
    /// some pass still needs them.
    written: HashMap<Mac, u64>,
    /// The `writes` each running accounting pass started from.
    passes: Vec<u64>,
}

impl Records {
    /// A device record was written as `device` (under the lock).
    fn wrote(&mut self, device: &Device) {
        self.sessions.set(device);
        self.logged(device.mac);
    }

    /// A device record was removed (under the lock).
    fn forgot(&mut self, mac: Mac) {
        self.sessions.remove(mac);
        self.logged(mac);
    }

    /// Note a write for the running accounting passes.
    fn logged(&mut self, mac: Mac) {
        self.writes += 1;
        if !self.passes.is_empty() {
            self.written.insert(mac, self.writes);
        }
    }

    /// An accounting pass starts deciding: writes from now on are noted.
    fn watch(&mut self) -> u64 {
        self.passes.push(self.writes);
        self.writes
    }

    /// The pass that started at `since` is done with the write log.
    fn unwatch(&mut self, since: u64) {
        if let Some(i) = self.passes.iter().position(|&p| p == since) {
            self.passes.swap_remove(i);
        }
        match self.passes.iter().min() {
            Some(&oldest) => self.written.retain(|_, &mut w| w > oldest),
            None => self.written.clear(),
        }
    }

    /// Devices written after `since`, sorted.
    fn written_since(&self, since: u64) -> Vec<Mac> {
        let mut macs: Vec<Mac> = self
            .written
            .iter()
            .filter(|(_, &w)| w > since)
            .map(|(mac, _)| *mac)
            .collect();
        macs.sort();
        macs
    }

    /// The lowest free slot, now taken.
    fn take_slot(&mut self) -> Result<u16, GatewayError> {
        let free = self
            .slots
            .iter()
            .position(|taken| !taken)
            .ok_or(GatewayError::Full(self.slots.len() as u16))?;
        self.slots[free] = true;
        Ok(free as u16)
    }

    /// Give a slot back (a session ended).
    fn free_slot(&mut self, slot: u16) {
        if let Some(taken) = self.slots.get_mut(slot as usize) {
            *taken = false;
        }
    }

    /// Slots taken = sessions = devices online.
    fn online(&self) -> u64 {
        self.slots.iter().filter(|taken| **taken).count() as u64
    }
}

/// What the last accounting pass knows about a busy device that is not on
/// disk yet (`[store] write_interval`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Unsaved {
    /// Bytes counted since the record was last written.
    usage: DailyUsage,
    /// The kernel counters (upload, download) that pass read.
    seen: (u64, u64),
    /// The free-category counter that pass read.
    seen_free: u64,
    /// Unix seconds of the last pass that saw the counters grow.
    last_activity: i64,
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
        let quota = RwLock::new(
            store
                .site_quota()?
                .map(quota_of_record)
                .unwrap_or_else(|| config.quota.clone()),
        );
        let free = RwLock::new(categories::free_at_start(&config, &store)?);
        let policy_garden = RwLock::new(garden::policy_garden_at_start(&store)?);
        let schedule = RwLock::new(
            store
                .schedule()?
                .map(schedule::schedule_of_record)
                .unwrap_or_else(|| config.schedule.clone()),
        );
        let clock_record = store
            .clock()?
            .map_or((0, 0), |c| (c.high_water, c.prune_clock));
        let tz = config.site.timezone.clone();
        let gw = Arc::new(Gateway {
            config: tokio::sync::watch::Sender::new(config),
            quota,
            schedule,
            schedule_changed: Notify::new(),
            trusted: RwLock::new(store.trusted()?),
            quiz_pruned: std::sync::atomic::AtomicU32::new(0),
            store,
            firewall,
            time: time_guard::TimeGuard::new(clock, tz, clock_record),
            last_stop: Mutex::default(),
            records: Mutex::new(Records {
                slots: vec![false; slot_count as usize],
                ..Records::default()
            }),
            wake: Notify::new(),
            unsaved: Mutex::default(),
            category_seen: Mutex::default(),
            category_window: Mutex::default(),
            free,
            policy_garden,
            power: power::PowerFeed::default(),
        });
        gw.claim_stored_slots()?;
        gw.reconcile().await?;
        Ok(gw)
    }

    /// Mark the slots of stored sessions as taken; give a slot to any
    /// session without one (or with one out of range after a config change).
    fn claim_stored_slots(&self) -> Result<(), GatewayError> {
        let mut records = self.records.lock().expect("records lock");
        let mut homeless = Vec::new();
        for device in self.store.devices()? {
            records.sessions.set(&device);
            let slots = &mut records.slots;
            match device.session.as_ref().and_then(|s| s.slot) {
                Some(slot) if (slot as usize) < slots.len() && !slots[slot as usize] => {
                    slots[slot as usize] = true
                }
                Some(_) | None if device.session.is_some() => homeless.push(device),
                _ => {}
            }
        }
        for mut device in homeless {
            let slot = records.take_slot()?;
            if let Some(s) = device.session.as_mut() {
                s.slot = Some(slot);
            }
            self.store.put_device(&device)?;
            records.wrote(&device);
        }
        Ok(())
    }

    /// The ceilings a device's slot should have now.
    fn slot_rates(&self, device: &Device, standing: Standing) -> SlotRates {
        let limits = self.limits_of(&self.quota(), device);
        let (download, upload) = limits.rates(standing);
        // Free traffic keeps the device's own caps, also while it is throttled.
        let (free_download, free_upload) = limits.rates(Standing::Normal);
        SlotRates {
            download,
            upload,
            free_download,
            free_upload,
        }
    }

    /// The configuration the gateway runs with now (a reload may replace it;
    /// hold the `Arc` only as long as one piece of work).
    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// The configuration, to be woken when a reload changes it (the regency
    /// policy pull re-reads `[fleet]` and starts its next pull).
    pub fn config_changes(&self) -> tokio::sync::watch::Receiver<Arc<Config>> {
        self.config.subscribe()
    }

    /// The site's quota defaults (the file's or an admin's), before the
    /// power mode's ceilings ([`Gateway::quota`] is the quota in force).
    pub fn site_quota(&self) -> config::Quota {
        self.quota.read().expect("quota lock").clone()
    }

    /// Change the site's quota defaults: `change` gets the defaults in force
    /// and returns the new ones (or refuses), under the records lock, so two
    /// admins saving at once lose nothing. Saved (flushed) first, then in
    /// force for new logins at once and for connected devices from the next
    /// accounting pass, without a restart. Returns (old, new).
    pub async fn change_quota<E: From<GatewayError>>(
        &self,
        change: impl FnOnce(&config::Quota) -> Result<config::Quota, E>,
    ) -> Result<(config::Quota, config::Quota), E> {
        let (old, new) = {
            let _guard = self.records.lock().expect("records lock");
            let old = self.site_quota();
            let new = change(&old)?;
            self.store
                .put_site_quota(&record_of_quota(&new))
                .map_err(GatewayError::from)?;
            *self.quota.write().expect("quota lock") = new.clone();
            (old, new)
        };
        self.store.flush().await.map_err(GatewayError::from)?;
        info!("site quota changed");
        Ok((old, new))
    }

    /// Unix seconds, from the injected clock, held to the high-water mark
    /// (`time_guard.rs`: never before the last time seen, never past the
    /// last known day while the clock is behind).
    pub fn now(&self) -> i64 {
        self.time.read().now
    }

    /// Is the router's clock behind the last time seen (no RTC, NTP not yet
    /// answered)? Usage counts against the last known day meanwhile.
    pub fn clock_behind(&self) -> bool {
        self.time.read().behind
    }

    /// Save the time high-water mark when it moved far enough (each
    /// accounting pass; flushed with the pass's writes).
    fn save_clock_mark(&self) -> Result<(), GatewayError> {
        if let Some((high_water, prune_clock)) = self.time.mark_to_save() {
            self.store.put_clock(&crate::store::ClockRecord {
                high_water,
                prune_clock,
            })?;
        }
        Ok(())
    }

    /// The time a prune may use (`None` while the clock is behind; never
    /// more than two days past the last prune's), saved in the store.
    fn prune_time(&self) -> Result<Option<i64>, GatewayError> {
        let Some((at, (high_water, prune_clock))) = self.time.prune_time() else {
            return Ok(None);
        };
        self.store.put_clock(&crate::store::ClockRecord {
            high_water,
            prune_clock,
        })?;
        Ok(Some(at))
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
        let garden_shut = self.garden_shut();
        let walled_garden = self
            .garden_addresses()
            .iter()
            .filter(|_| !garden_shut)
            .map(|net| match net {
                ipnet::IpNet::V4(n) => GardenNet::V4(n.network(), n.prefix_len()),
                ipnet::IpNet::V6(n) => GardenNet::V6(n.network(), n.prefix_len()),
            })
            .collect();
        Ok(Policy {
            lan_interface: self.config().network.lan_interface.clone(),
            portal_address: self.config().network.portal_address,
            portal_port: self.config().portal.listen.port(),
            portal_https_port: self.config().portal.https.as_ref().map(|t| t.listen.port()),
            walled_garden,
            garden_ports: self.config().walled_garden.ports.clone(),
            allow_private: self
                .config()
                .network
                .allow_private
                .iter()
                .filter_map(|net| match net {
                    ipnet::IpNet::V4(n) => Some((n.network(), n.prefix_len())),
                    // IPv6 is never forwarded from the LAN (the forward chain rejects it).
                    ipnet::IpNet::V6(_) => None,
                })
                .collect(),
            online,
            categories: self.category_rules(),
            slots: self.config().network.max_online,
        })
    }

    /// Flush the store (shutdown), with the time high-water mark and the
    /// category bytes still waiting for their window.
    pub fn flush_blocking(&self) -> Result<(), GatewayError> {
        let waiting = self.category_window.lock().expect("category window").take();
        if let Some(publication) = waiting {
            self.publish_categories(publication)?;
        }
        let _ = self.now();
        if let Some((high_water, prune_clock)) = self.time.mark_to_save_now() {
            self.store.put_clock(&crate::store::ClockRecord {
                high_water,
                prune_clock,
            })?;
        }
        Ok(self.store.flush_blocking()?)
    }
}

/// The site quota as the store keeps it (its own schema, see `store::SiteQuotaRecord`).
fn record_of_quota(q: &config::Quota) -> SiteQuotaRecord {
    SiteQuotaRecord {
        daily_data: q.daily_data.0,
        session_time: q.session_time.into(),
        idle_timeout: q.idle_timeout.into(),
        download_rate: q.download_rate.0,
        upload_rate: q.upload_rate.0,
        after_quota_rate: q.after_quota_rate.0,
        accounting_interval: q.accounting_interval.into(),
    }
}

/// The site quota an admin saved, back in the config room's terms.
fn quota_of_record(r: SiteQuotaRecord) -> config::Quota {
    config::Quota {
        daily_data: Size(r.daily_data),
        session_time: r.session_time.into(),
        idle_timeout: r.idle_timeout.into(),
        download_rate: Rate(r.download_rate),
        upload_rate: Rate(r.upload_rate),
        after_quota_rate: Rate(r.after_quota_rate),
        accounting_interval: r.accounting_interval.into(),
    }
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
    SlotRates::same(config.quota.download_rate.0, config.quota.upload_rate.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        Mac([2, 0x77, 0, 0, 0, n])
    }

    #[test]
    fn the_write_log_keeps_what_running_passes_need() {
        let mut r = Records::default();
        let (a, b) = (mac(1), mac(2));
        let (da, db) = (Device::new(a, 0), Device::new(b, 0));
        r.wrote(&da);
        assert!(r.written.is_empty(), "no pass running: nothing to keep");
        let first = r.watch();
        r.wrote(&da);
        let second = r.watch();
        r.wrote(&db);
        assert_eq!(r.written_since(first), vec![a, b]);
        assert_eq!(r.written_since(second), vec![b]);
        r.unwatch(first);
        assert_eq!(
            r.written_since(second),
            vec![b],
            "the later pass still sees its write"
        );
        r.unwatch(second);
        assert!(r.written.is_empty() && r.passes.is_empty());
    }

    #[test]
    fn slots_are_taken_lowest_first_and_given_back() {
        let mut r = Records {
            slots: vec![false; 2],
            ..Records::default()
        };
        assert_eq!(r.take_slot().unwrap(), 0);
        assert_eq!(r.take_slot().unwrap(), 1);
        assert!(matches!(r.take_slot(), Err(GatewayError::Full(2))));
        assert_eq!(r.online(), 2);
        r.free_slot(0);
        assert_eq!(r.online(), 1);
        assert_eq!(r.take_slot().unwrap(), 0);
    }
}
