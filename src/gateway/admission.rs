//! Changing a device: admit it for a session, revoke it (logout, expiry,
//! kick, idle), block it, change its overrides. The store is written first
//! (flushed before answering), then the firewall task gets the change, so a
//! power cut between the two loses nothing the kernel has.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{count_bytes, Gateway, GatewayError, MAX_SLEEP};
use crate::domain::{self, DailyUsage, Device, Mac, QuotaOverride, Session, Standing};
use crate::firewall::{Change, DeviceKey, OnlineDevice};
use crate::quota;

impl Gateway {
    /// Let a device online for one session: store first (flushed), then the
    /// firewall. A device already online from another address moves to the
    /// new one, keeping its session.
    pub async fn admit(&self, mac: Mac, ip: Ipv4Addr) -> Result<Session, GatewayError> {
        let result = self.admit_device(mac, ip).await;
        match &result {
            Ok((_, true)) => crate::telemetry::session_started(),
            Ok((_, false)) => {}
            Err(e) => crate::telemetry::login_failed(e.login_failure()),
        }
        result.map(|(session, _)| session)
    }

    /// [`Gateway::admit`]'s work; also says whether a new session started
    /// (not a re-tap while online), for the metrics.
    async fn admit_device(&self, mac: Mac, ip: Ipv4Addr) -> Result<(Session, bool), GatewayError> {
        // Refuse first (block, hours, quota): a refused login must not
        // evict anyone to make room (issue 22, item 9).
        {
            let device = self.store.device(&mac)?;
            let device = device.unwrap_or_else(|| Device::new(mac, self.now()));
            self.may_log_in(&device, self.now())?;
        }
        self.make_room(mac, ip).await?;
        let now = self.now();
        let mut new_session = false;
        let (session, changes) = {
            let mut records = self.records.lock().expect("records lock");
            let mut device = self
                .store
                .device(&mac)?
                .unwrap_or_else(|| Device::new(mac, now));
            let (closes, standing) = self.may_log_in(&device, now)?;
            let trusted = self.is_trusted(&mac);
            let site = self.quota();
            let day = domain::local_day(now, &self.config().site.timezone);
            let before = device.clone();
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
                        ..Session::new(
                            ip,
                            now,
                            if trusted {
                                super::trusted::TRUSTED_SESSION_SECS
                            } else {
                                site.session_time.as_secs() as i64
                            },
                        )
                    }
                }
            };
            if session.slot.is_none() {
                session.slot = Some(records.take_slot()?);
            }
            // Never past closing time (`[schedule]`).
            session.ends = closes.map_or(session.ends, |c| session.ends.min(c));
            if new_session {
                // The day's report: one more session, and the peak as of this
                // login (a slot per session, so taken slots = devices online).
                let online = records.online();
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
            if device == before && session.standing == standing {
                // A re-tap while online changes nothing: nothing is written,
                // flushed, sent to the kernel or logged (issue 22, item 6).
                return Ok((session, false));
            }
            self.store.put_device(&device)?;
            records.wrote(&device);
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

    /// May `device` log in at `now`? Refused while blocked, outside the
    /// opening hours (trusted devices keep none) or with today's quota used;
    /// else the close that caps the session and the standing it starts with.
    fn may_log_in(
        &self,
        device: &Device,
        now: i64,
    ) -> Result<(Option<i64>, Standing), GatewayError> {
        let mac = device.mac;
        if device.blocked {
            return Err(GatewayError::Blocked(mac));
        }
        // Trusted devices keep no hours and no session time (`trusted.rs`).
        let closes = if self.is_trusted(&mac) {
            None
        } else {
            self.closing_time()?
        };
        let day = domain::local_day(now, &self.config().site.timezone);
        let used = self.used_today(&mac, day)?;
        self.may_log_in_on_battery(&mac)?;
        let standing = self.limits_of(&self.quota(), device).standing(used);
        if standing == Standing::Cut {
            return Err(GatewayError::QuotaUsed(mac));
        }
        Ok((closes, standing))
    }

    /// Set (or clear, with the default) a device's quota overrides. Takes
    /// effect on the next accounting pass, without a restart; returns the old ones.
    pub async fn set_quota_override(
        &self,
        mac: Mac,
        over: QuotaOverride,
    ) -> Result<QuotaOverride, GatewayError> {
        let old = self
            .update_device(mac, |d| {
                Ok::<_, GatewayError>(std::mem::replace(&mut d.quota, over))
            })
            .await?;
        info!(mac = %mac, "quota override changed");
        Ok(old)
    }

    /// Change a device's overrides: `change` gets the ones stored (the
    /// default for a device never seen) and returns the new ones (or
    /// refuses), under the records lock, so two admins saving at once lose
    /// nothing. In force from the next accounting pass; returns (old, new).
    pub async fn change_quota_override<E: From<GatewayError>>(
        &self,
        mac: Mac,
        change: impl FnOnce(&QuotaOverride) -> Result<QuotaOverride, E>,
    ) -> Result<(QuotaOverride, QuotaOverride), E> {
        let changed = self
            .update_device(mac, |d| {
                let new = change(&d.quota)?;
                Ok::<_, E>((std::mem::replace(&mut d.quota, new.clone()), new))
            })
            .await?;
        info!(mac = %mac, "quota override changed");
        Ok(changed)
    }

    /// Block or unblock a device. A blocked device cannot log in; one that is
    /// online is made captive at once. Returns whether it was blocked before.
    pub async fn set_blocked(&self, mac: Mac, blocked: bool) -> Result<bool, GatewayError> {
        let was = self
            .update_device(mac, |d| {
                Ok::<_, GatewayError>(std::mem::replace(&mut d.blocked, blocked))
            })
            .await?;
        if blocked {
            self.revoke(mac, "blocked").await?;
        }
        info!(mac = %mac, blocked, "device block changed");
        Ok(was)
    }

    /// Read-modify-write one device record (made if new) under the records
    /// lock, then flush it.
    /// A refused change (`Err`) writes nothing.
    async fn update_device<T, E: From<GatewayError>>(
        &self,
        mac: Mac,
        change: impl FnOnce(&mut Device) -> Result<T, E>,
    ) -> Result<T, E> {
        let out = {
            let mut records = self.records.lock().expect("records lock");
            let mut device = self
                .store
                .device(&mac)
                .map_err(GatewayError::from)?
                .unwrap_or_else(|| Device::new(mac, self.now()));
            let out = change(&mut device)?;
            self.store.put_device(&device).map_err(GatewayError::from)?;
            records.wrote(&device);
            out
        };
        self.store.flush().await.map_err(GatewayError::from)?;
        Ok(out)
    }

    /// Make a device captive again (logout, expiry, kick).
    pub async fn revoke(&self, mac: Mac, reason: &str) -> Result<(), GatewayError> {
        self.revoke_many(&[mac], reason).await
    }

    /// Make several devices captive at once (expiry, idle): one counter read,
    /// one store transaction, one firewall batch.
    ///
    /// The sessions' end and what the kernel counted since the last pass are
    /// flushed together (no pass counts those bytes again); then the elements
    /// go, and what they counted between that read and the delete itself is
    /// added too.
    pub async fn revoke_many(&self, macs: &[Mac], reason: &str) -> Result<(), GatewayError> {
        let mut ended = Vec::new();
        for &mac in macs {
            if let Some(session) = self.end_session(mac, reason)? {
                ended.push((mac, session));
            }
        }
        if ended.is_empty() {
            // Nothing ended (a captive phone's logout): nothing to flush.
            return Ok(());
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
        let day = domain::local_day(self.now(), &self.config().site.timezone);
        // What the kernel counted up to now goes with the sessions' end, in
        // one flush (a power cut never loses bytes a page has shown).
        let before = if in_kernel.is_empty() {
            Default::default()
        } else {
            self.firewall.counters().await?.devices
        };
        let added = usage_rows(&in_kernel, day, |key, s| {
            let c = before.get(key)?;
            Some((
                quota::counter_delta(c.upload, s.seen.0),
                quota::counter_delta(c.download, s.seen.1),
                quota::counter_delta(c.free, s.seen_free),
            ))
        });
        if !added.is_empty() {
            self.store.record_pass(&[], &added)?;
            count_bytes(&added);
        }
        self.store.flush().await?;
        if !in_kernel.is_empty() {
            // The rest, from the counters the kernel sends as it deletes the
            // elements: a phone moving bytes right up to its logout has every
            // byte counted (issue 22, item 12).
            let deleted = self
                .firewall
                .changes(
                    in_kernel
                        .iter()
                        .map(|(key, _)| Change::Revoke(*key))
                        .collect(),
                )
                .await?;
            let rest = usage_rows(&in_kernel, day, |key, s| {
                let last = deleted.get(key)?;
                let (up0, down0) = before.get(key).map_or(s.seen, |c| (c.upload, c.download));
                // (`free` is not watched for deletions: its bytes between the
                // read above and the delete are not counted.)
                Some((
                    quota::counter_delta(last.upload, up0),
                    quota::counter_delta(last.download, down0),
                    0,
                ))
            });
            if !rest.is_empty() {
                self.store.record_pass(&[], &rest)?;
                count_bytes(&rest);
                self.store.flush().await?;
            }
        }
        for (mac, session) in &ended {
            info!(mac = %mac, ip = %session.ip, reason, "device captive");
        }
        Ok(())
    }

    /// Remove the session from the store; returns it if there was one.
    fn end_session(&self, mac: Mac, reason: &str) -> Result<Option<Session>, GatewayError> {
        let mut records = self.records.lock().expect("records lock");
        let Some(mut device) = self.store.device(&mac)? else {
            return Ok(None);
        };
        let session = device.session.take();
        if let Some(slot) = session.as_ref().and_then(|s| s.slot) {
            records.free_slot(slot);
        }
        if session.is_some() {
            self.store.put_device(&device)?;
            records.wrote(&device);
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
        // From the session index: no walk over the store (woken by every login).
        let (due, next) = self.records.lock().expect("records lock").sessions.due(now);
        self.revoke_many(&due, "session time over").await?;
        Ok(next)
    }
}

/// Usage rows (MAC, day, bytes) of the ended sessions still in the kernel;
/// `delta` gives a session's (upload, download, free) bytes, `None` to skip it.
fn usage_rows(
    in_kernel: &[(DeviceKey, &Session)],
    day: u32,
    delta: impl Fn(&DeviceKey, &Session) -> Option<(u64, u64, u64)>,
) -> Vec<(Mac, u32, DailyUsage)> {
    in_kernel
        .iter()
        .filter_map(|(key, s)| {
            let (upload, download, free) = delta(key, s)?;
            let add = DailyUsage {
                upload,
                download,
                free,
            };
            (add.moved() > 0).then_some((key.mac, day, add))
        })
        .collect()
}
