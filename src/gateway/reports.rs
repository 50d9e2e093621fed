//! What the gateway tells the rooms above it: a device as the portal and
//! the admin pages show it, and the per-day usage and stats the regency's
//! reports are made of. Reads only; today's numbers include what the last
//! accounting pass counted but did not write yet (`[store] write_interval`),
//! so every page and report agrees with the portal.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::{config, Gateway, GatewayError};
use crate::domain::{self, DailyUsage, Device, Mac, QuotaOverride, Session, Standing};

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
    /// Online whenever it is on the LAN, without a login (and why).
    pub trust: Option<super::Trust>,
    /// Against today's quota.
    pub standing: Standing,
    /// Unix time of the next local midnight, when the quota starts over.
    pub quota_resets: i64,
}

impl Gateway {
    /// Every device ever seen, as the admin's device list shows them.
    pub fn devices(&self) -> Result<Vec<DeviceView>, GatewayError> {
        let now = self.now();
        let day = domain::local_day(now, &self.config().site.timezone);
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
    ) -> Result<Vec<(u32, crate::domain::DayStats)>, GatewayError> {
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
        let today = domain::local_day(self.now(), &self.config().site.timezone);
        if (from..=to).contains(&today) {
            let unsaved = self.unsaved.lock().expect("unsaved lock").clone();
            let index: HashMap<Mac, usize> = rows
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
                        row.free = row.free.saturating_add(u.usage.free);
                    }
                    None => rows.push((today, mac, u.usage)),
                }
            }
        }
        Ok(rows)
    }

    /// What the portal needs to know about a device.
    pub fn view(&self, mac: Mac) -> Result<DeviceView, GatewayError> {
        let now = self.now();
        let day = domain::local_day(now, &self.config().site.timezone);
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
        let tz = &self.config().site.timezone;
        let mac = device.mac;
        let limits = self.limits_of(site, &device);
        let trust = self.trust_of(&mac);
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
            trust,
            quota_resets: domain::next_midnight(now, tz),
        })
    }

    /// One device's stored record, if it was ever seen (or set up by an admin).
    pub fn device(&self, mac: &Mac) -> Result<Option<Device>, GatewayError> {
        Ok(self.store.device(mac)?)
    }

    /// A device's usage on a local day; for today, written plus what the
    /// last accounting pass counted but did not write yet.
    pub fn usage_on(&self, mac: &Mac, day: u32) -> Result<DailyUsage, GatewayError> {
        let mut usage = self.store.usage(mac, day)?;
        if day == domain::local_day(self.now(), &self.config().site.timezone) {
            if let Some(u) = self.unsaved.lock().expect("unsaved lock").get(mac) {
                usage.download = usage.download.saturating_add(u.usage.download);
                usage.upload = usage.upload.saturating_add(u.usage.upload);
                usage.free = usage.free.saturating_add(u.usage.free);
            }
        }
        Ok(usage)
    }

    /// Today's usage of a device against its quota: written plus
    /// counted-but-unwritten, free-category bytes beyond `[usage]
    /// free_daily_data` included.
    pub(super) fn used_today(&self, mac: &Mac, day: u32) -> Result<u64, GatewayError> {
        Ok(self
            .usage_on_day(mac, day)?
            .quota_bytes(self.config().usage.free_daily_data))
    }

    /// [`Gateway::usage_on`] for a day the caller already knows is today.
    fn usage_on_day(&self, mac: &Mac, day: u32) -> Result<DailyUsage, GatewayError> {
        let mut usage = self.store.usage(mac, day)?;
        if let Some(u) = self.unsaved.lock().expect("unsaved lock").get(mac) {
            usage.download = usage.download.saturating_add(u.usage.download);
            usage.upload = usage.upload.saturating_add(u.usage.upload);
            usage.free = usage.free.saturating_add(u.usage.free);
        }
        Ok(usage)
    }
}
