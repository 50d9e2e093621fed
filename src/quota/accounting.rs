//! The accounting loop: once per `quota.accounting_interval`, read every
//! device's kernel counters in one `nft` call, add the new bytes to its
//! local day in sled (atomically with the counters seen), and decide: idle
//! sessions end, devices over their quota slow down (or are cut off to the
//! walled garden), and at local midnight everyone starts over.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{counter_delta, local_day, Limits, Standing};
use crate::firewall::{Change, DeviceKey, OnlineDevice, SlotRates};
use crate::gateway::{Gateway, GatewayError, Unsaved};
use crate::mac::Mac;
use crate::store::{DailyUsage, Device, Session};

/// A session this young may be missing from the kernel's table without
/// alarm: its login is between the store and the firewall batch.
const MISSING_GRACE: i64 = 10;

/// Daily usage is kept this many days (the regency's reports need ≥ 90).
pub const KEEP_DAYS: i64 = 120;

/// What one pass did, for logs, metrics and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Devices with a session looked at.
    pub devices: usize,
    /// Bytes written to the day's usage (download + upload) across devices;
    /// bytes counted but not yet written are in the next pass that writes.
    pub bytes: u64,
    /// Device records written (see `[store] write_interval`).
    pub written: usize,
    /// Devices whose standing changed (throttled, cut, reset at midnight).
    pub standing_changes: usize,
    /// Sessions ended for idleness.
    pub idle_ended: usize,
    /// Online devices the kernel had no element for (table flushed by someone?).
    pub missing: usize,
}

/// Run passes until cancelled.
pub async fn run(gw: Arc<Gateway>, cancel: CancellationToken) {
    let mut last_prune_day = 0;
    loop {
        // Read every round: an admin may change it (PUT /api/quota).
        let interval = gw.quota().accounting_interval;
        let started = Instant::now();
        let result = pass(&gw).await;
        crate::admin::metrics::accounting_pass(
            started.elapsed(),
            result.as_ref().ok().map(|r| r.devices),
        );
        match result {
            Ok(r) => debug!(
                devices = r.devices,
                bytes = r.bytes,
                changes = r.standing_changes,
                idle = r.idle_ended,
                us = started.elapsed().as_micros() as u64,
                "accounting pass"
            ),
            Err(e) => warn!(error = %e, "accounting pass failed"),
        }
        let today = local_day(gw.now(), &gw.config().site.timezone);
        if today != last_prune_day {
            last_prune_day = today;
            let cutoff = local_day(gw.now() - KEEP_DAYS * 86_400, &gw.config().site.timezone);
            match gw.store().prune_usage(cutoff) {
                Ok(n) if n > 0 => info!(removed = n, before = cutoff, "old daily usage pruned"),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "pruning daily usage failed"),
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// One pass: counters -> usage -> decisions.
pub async fn pass(gw: &Gateway) -> Result<PassReport, GatewayError> {
    let kernel = gw.firewall().counters().await?;
    let config = gw.config();
    let site = gw.quota();
    let idle_after = site.idle_timeout.as_secs() as i64;
    let mut report = PassReport::default();
    let mut changes = Vec::new();
    let mut idle: Vec<Mac> = Vec::new();
    let mut ended: Vec<Mac> = Vec::new();
    {
        let _guard = gw.records();
        let now = gw.now();
        let day = local_day(now, &config.site.timezone);
        let write_interval = config.store.write_interval.as_secs() as i64;
        let mut devices = Vec::new();
        let mut added = Vec::new();
        let mut unsaved = std::collections::HashMap::new();
        // What the last pass counted but did not write; taken now, so a revoke
        // that runs meanwhile (it counts from the written counters) can't be
        // shown twice, and put back below.
        let last = gw.replace_unsaved(std::collections::HashMap::new());
        for mut device in gw.store().devices()? {
            let before = device.session.clone();
            let limits = Limits::new(&site, &device.quota);
            let Some(session) = device.session.as_mut() else {
                continue;
            };
            report.devices += 1;
            let key = DeviceKey {
                mac: device.mac,
                ip: session.ip,
            };
            let mut delta = DailyUsage::default();
            match kernel.get(&key) {
                Some(c) => {
                    delta.upload = counter_delta(c.upload, session.seen.0);
                    delta.download = counter_delta(c.download, session.seen.1);
                    session.seen = (c.upload, c.download);
                }
                // (A login of the last seconds may still be on its way to the kernel.)
                None if session.standing != Standing::Cut
                    && session.ends > now
                    && now - session.started > MISSING_GRACE =>
                {
                    report.missing += 1
                }
                None => {}
            }
            // Activity: the counters grew since the last pass (not merely
            // since the last write), so the idle timeout stays exact.
            let previous = last
                .get(&device.mac)
                .filter(|u| u.seen.0 <= session.seen.0 && u.seen.1 <= session.seen.1);
            match previous {
                Some(p) if (p.seen.0, p.seen.1) == session.seen => {
                    session.last_activity = session.last_activity.max(p.last_activity)
                }
                _ if delta.total() > 0 => session.last_activity = now,
                _ => {}
            }
            let used = gw.store().usage(&device.mac, day)?.total() + delta.total();
            let standing = limits.standing(used);
            let (download, upload) = limits.rates(standing);
            let rates = SlotRates { download, upload };
            // Every session got a slot at admission (or at start-up, for older records).
            let slot = session.slot;
            if standing != session.standing {
                report.standing_changes += 1;
                info!(mac = %device.mac, from = ?session.standing, to = ?standing, used, "quota standing changed");
                match (session.standing, standing) {
                    (Standing::Cut, _) => {
                        // Back from the walled garden (midnight): a new element, counters from zero.
                        session.seen = (0, 0);
                        if let Some(slot) = slot {
                            changes.push(Change::Admit(OnlineDevice { key, slot, rates }));
                        }
                    }
                    (_, Standing::Cut) => changes.push(Change::Revoke(key)),
                    _ => {}
                }
                session.standing = standing;
            }
            // Every pass states each slot's ceilings; the firewall task changes
            // only those that differ (a throttle, midnight, an admin's override).
            if let Some(slot) = slot.filter(|_| standing != Standing::Cut) {
                changes.push(Change::Rates { slot, rates });
            }
            if session.ends <= now {
                ended.push(device.mac);
            } else if now - session.last_activity >= idle_after {
                idle.push(device.mac);
            }
            // Writes spare the router's SD card: a record is written when
            // something other than its counters changed (standing, slot...),
            // or when it moved bytes and its last write is `write_interval`
            // old (or from another day). In between, the kernel keeps counting
            // and the next pass's delta (from the last *written* counters)
            // covers everything since, so skipping a write loses nothing.
            let cold_changed = before.as_ref().is_some_and(|b| {
                let Some(s) = device.session.as_ref() else {
                    return true;
                };
                Session {
                    seen: s.seen,
                    last_activity: s.last_activity,
                    ..b.clone()
                } != *s
            });
            let write_due = now - session_written(&device) >= write_interval
                || local_day(session_written(&device), &config.site.timezone) != day;
            if cold_changed || (delta.total() > 0 && write_due) {
                if let Some(s) = device.session.as_mut() {
                    s.written = now;
                }
                if delta.total() > 0 {
                    report.bytes += delta.total();
                    added.push((device.mac, day, delta));
                }
                report.written += 1;
                devices.push(device);
            } else if delta.total() > 0 {
                let last_activity = device.session.as_ref().map_or(now, |s| s.last_activity);
                let seen = device.session.as_ref().map_or((0, 0), |s| s.seen);
                unsaved.insert(
                    device.mac,
                    Unsaved {
                        usage: delta,
                        seen,
                        last_activity,
                    },
                );
            }
        }
        gw.store().record_pass(&devices, &added)?;
        crate::admin::metrics::bytes_counted(&added);
        gw.replace_unsaved(unsaved);
        let online = (report.devices - ended.len()) as u64;
        gw.store()
            .update_day_stats(day, |d| d.peak_devices = d.peak_devices.max(online))?;
    }
    if !changes.is_empty() {
        gw.firewall().changes(changes).await?;
    }
    if report.missing > 0 {
        warn!(
            missing = report.missing,
            "online devices missing from the kernel's table; reconciling"
        );
        gw.reconcile().await?;
    }
    gw.revoke_many(&ended, "session time over").await?;
    gw.revoke_many(&idle, "idle timeout").await?;
    report.idle_ended = idle.len();
    Ok(report)
}

/// When the device's session counters were last written (0 if never).
fn session_written(device: &Device) -> i64 {
    device.session.as_ref().map_or(0, |s| s.written)
}
