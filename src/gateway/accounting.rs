//! The accounting loop: once per `quota.accounting_interval`, read every
//! device's kernel counters in one `nft` call, add the new bytes to its
//! local day in sled (atomically with the counters seen), and decide: idle
//! sessions end, devices over their quota slow down (or are cut off to the
//! walled garden), and at local midnight everyone starts over.
//!
//! A pass decides outside the records lock (it reads every device, its
//! counters and its usage, which at 10,000 online takes a while) and takes
//! the lock only to write back. A login, revoke or admin change that wrote a
//! device meanwhile wins: the pass decides that device again from the record
//! as it is now, under the lock, so logins never wait for the whole walk.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{count_bytes, Gateway, GatewayError, Unsaved};
use crate::config;
use crate::domain::{local_day, DailyUsage, Device, Mac, Session, Standing};
use crate::firewall::{Change, DeviceCounters, DeviceKey, OnlineDevice, SlotRates};
use crate::quota::counter_delta;

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
    /// Bytes written to the day's usage (download + upload + free) across devices;
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
        crate::telemetry::accounting_pass(
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
        if let Err(e) = gw.save_clock_mark() {
            warn!(error = %e, "saving the clock's high-water mark failed");
        }
        let today = local_day(gw.now(), &gw.config().site.timezone);
        // Never while the clock is behind; a jump into the future prunes at
        // most two days' worth (`time_guard.rs`).
        let prune_at = match (today != last_prune_day).then(|| gw.prune_time()) {
            None => None,
            Some(Ok(at)) => at,
            Some(Err(e)) => {
                warn!(error = %e, "saving the prune clock failed");
                None
            }
        };
        if let Some(at) = prune_at {
            last_prune_day = today;
            let cutoff = local_day(at - KEEP_DAYS * 86_400, &gw.config().site.timezone);
            match gw.store.prune_usage(cutoff) {
                Ok(n) if n > 0 => info!(removed = n, before = cutoff, "old daily usage pruned"),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "pruning daily usage failed"),
            }
            if let Err(e) = gw.store.prune_category_usage(cutoff) {
                warn!(error = %e, "pruning category usage failed");
            }
            if let Err(e) = gw.forget_old_devices(at).await {
                warn!(error = %e, "forgetting old devices failed");
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// What a pass knows before it looks at any device.
struct PassInput<'a> {
    kernel: &'a BTreeMap<DeviceKey, DeviceCounters>,
    site: config::Quota,
    now: i64,
    day: u32,
    idle_after: i64,
    write_interval: i64,
    /// `[usage] free_daily_data`, read afresh every pass (a reload applies at once).
    free_allowance: u64,
}

/// Why a session ends after the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Its time is over.
    Time,
    /// No traffic for the idle timeout.
    Idle,
}

/// What a pass decided for one device with a session.
struct Decision {
    /// The record as it should be (session counters, standing, ...).
    device: Device,
    /// Bytes since the record was last written.
    delta: DailyUsage,
    /// Write the record (and add `delta` to the day) now.
    write: bool,
    /// Firewall changes (admit back from the walled garden, cut, rates).
    changes: Vec<Change>,
    /// The standing moved: (from, to, bytes used today).
    standing_change: Option<(Standing, Standing, u64)>,
    /// Online but the kernel had no element for it.
    missing: bool,
    ending: Option<Ending>,
}

/// Keeps a pass's start on the records' write log until it ends (also on
/// an early error return), so writes it must re-check are not forgotten.
struct Watch<'a> {
    gw: &'a Gateway,
    since: u64,
}

impl<'a> Watch<'a> {
    fn start(gw: &'a Gateway) -> Watch<'a> {
        let since = gw.records.lock().expect("records lock").watch();
        Watch { gw, since }
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut records = match self.gw.records.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        records.unwatch(self.since);
    }
}

/// One pass: counters -> usage -> decisions.
pub async fn pass(gw: &Gateway) -> Result<PassReport, GatewayError> {
    if let Err(e) = gw.admit_present_trusted().await {
        warn!(error = %e, "admitting trusted devices failed");
    }
    let counted = gw.firewall.counters().await?;
    let kernel = counted.devices;
    let config = gw.config();
    gw.account_categories(
        &counted.categories,
        &kernel,
        local_day(gw.now(), &config.site.timezone),
    )?;
    let site = gw.quota();
    let now = gw.now();
    let input = PassInput {
        kernel: &kernel,
        idle_after: site.idle_timeout.as_secs() as i64,
        site,
        now,
        day: local_day(now, &config.site.timezone),
        write_interval: config.store.write_interval.as_secs() as i64,
        free_allowance: config.usage.free_daily_data,
    };
    // Decide without the lock, from the records and what the last pass counted.
    // All of it is CPU work (decoding and deciding every device: tens of ms
    // at 10,000), so the runtime is told to move its other tasks off this
    // worker meanwhile: a login woken here must not wait for the pass.
    let (mut report, changes, idle, ended) = cpu_bound(|| decide_all(gw, &input))?;
    if !changes.is_empty() {
        gw.firewall.changes(changes).await?;
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

/// Runs `f`, a stretch of CPU work inside an async task, with the tokio
/// worker's other tasks handed to another thread meanwhile
/// (`block_in_place`); a current-thread runtime (unit tests) just runs it.
fn cpu_bound<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A pass's outcome: its report, the firewall changes, and the devices whose
/// sessions end for idleness and for time.
type Decided = (PassReport, Vec<Change>, Vec<Mac>, Vec<Mac>);

/// Decides for every device without the records lock (devices written
/// meanwhile are decided again under it), then writes back under it.
fn decide_all(gw: &Gateway, input: &PassInput<'_>) -> Result<Decided, GatewayError> {
    let now = input.now;
    let watch = Watch::start(gw);
    let last = gw.unsaved.lock().expect("unsaved lock").clone();
    let mut decisions = Vec::new();
    for device in gw.store.devices()? {
        let previous = last.get(&device.mac).copied();
        if let Some(d) = decide(gw, input, device, previous)? {
            decisions.push(d);
        }
    }
    let mut report = PassReport::default();
    let mut changes = Vec::new();
    let mut idle: Vec<Mac> = Vec::new();
    let mut ended: Vec<Mac> = Vec::new();
    {
        let mut records = gw.records.lock().expect("records lock");
        // Devices written since the walk began: decided again as they are now.
        let moved = records.written_since(watch.since);
        if !moved.is_empty() {
            decisions.retain(|d| moved.binary_search(&d.device.mac).is_err());
            let live = gw.unsaved.lock().expect("unsaved lock").clone();
            for mac in &moved {
                if let Some(device) = gw.store.device(mac)? {
                    let previous = live.get(mac).copied();
                    if let Some(d) = decide(gw, input, device, previous)? {
                        decisions.push(d);
                    }
                }
            }
        }
        let mut devices = Vec::new();
        let mut added = Vec::new();
        let mut unsaved = HashMap::new();
        for d in decisions {
            let mac = d.device.mac;
            report.devices += 1;
            report.missing += usize::from(d.missing);
            if let Some((from, to, used)) = d.standing_change {
                report.standing_changes += 1;
                info!(mac = %mac, from = ?from, to = ?to, used, "quota standing changed");
            }
            changes.extend(d.changes);
            match d.ending {
                Some(Ending::Time) => ended.push(mac),
                Some(Ending::Idle) => idle.push(mac),
                None => {}
            }
            if d.write {
                if d.delta.moved() > 0 {
                    report.bytes += d.delta.moved();
                    added.push((mac, input.day, d.delta));
                }
                report.written += 1;
                records.wrote(&d.device);
                devices.push(d.device);
            } else if d.delta.moved() > 0 {
                let session = d.device.session.as_ref();
                unsaved.insert(
                    mac,
                    Unsaved {
                        usage: d.delta,
                        seen: session.map_or((0, 0), |s| s.seen),
                        seen_free: session.map_or(0, |s| s.seen_free),
                        last_activity: session.map_or(now, |s| s.last_activity),
                    },
                );
            }
        }
        gw.store.record_pass(&devices, &added)?;
        count_bytes(&added);
        *gw.unsaved.lock().expect("unsaved lock") = unsaved;
        let online = (report.devices - ended.len()) as u64;
        gw.store
            .update_day_stats(input.day, |d| d.peak_devices = d.peak_devices.max(online))?;
    }
    drop(watch);
    Ok((report, changes, idle, ended))
}

/// What one device's record, its kernel counters and its usage today call
/// for; `None` without a session. `previous` is what the last pass counted
/// for it but did not write. Reads the store (today's usage), writes nothing.
fn decide(
    gw: &Gateway,
    input: &PassInput<'_>,
    mut device: Device,
    previous: Option<Unsaved>,
) -> Result<Option<Decision>, GatewayError> {
    let now = input.now;
    let before = device.session.clone();
    let limits = gw.limits_of(&input.site, &device);
    let trusted = gw.is_trusted(&device.mac);
    let Some(session) = device.session.as_mut() else {
        return Ok(None);
    };
    let key = DeviceKey {
        mac: device.mac,
        ip: session.ip,
    };
    let mut missing = false;
    let mut delta = DailyUsage::default();
    match input.kernel.get(&key) {
        Some(c) => {
            delta.upload = counter_delta(c.upload, session.seen.0);
            delta.download = counter_delta(c.download, session.seen.1);
            delta.free = counter_delta(c.free, session.seen_free);
            session.seen = (c.upload, c.download);
            session.seen_free = c.free;
        }
        // (A login of the last seconds may still be on its way to the kernel.)
        None if session.standing != Standing::Cut
            && session.ends > now
            && now - session.started > MISSING_GRACE =>
        {
            missing = true
        }
        None => {}
    }
    // Activity: the counters grew since the last pass (not merely
    // since the last write), so the idle timeout stays exact.
    let previous = previous.filter(|u| {
        u.seen.0 <= session.seen.0 && u.seen.1 <= session.seen.1 && u.seen_free <= session.seen_free
    });
    match previous {
        Some(p) if (p.seen, p.seen_free) == (session.seen, session.seen_free) => {
            session.last_activity = session.last_activity.max(p.last_activity)
        }
        _ if delta.moved() > 0 => session.last_activity = now,
        _ => {}
    }
    // Free-category bytes cost quota beyond the day's allowance (issue 22, item 2).
    let mut today = gw.store.usage(&device.mac, input.day)?;
    today.download = today.download.saturating_add(delta.download);
    today.upload = today.upload.saturating_add(delta.upload);
    today.free = today.free.saturating_add(delta.free);
    let used = today.quota_bytes(input.free_allowance);
    let standing = limits.standing(used);
    let (download, upload) = limits.rates(standing);
    // Free traffic runs at the device's own caps, also while throttled, until
    // its allowance is spent; then at whatever the rest of its traffic gets.
    let (free_download, free_upload) = if today.free >= input.free_allowance {
        (download, upload)
    } else {
        limits.rates(Standing::Normal)
    };
    let rates = SlotRates {
        download,
        upload,
        free_download,
        free_upload,
    };
    // Every session got a slot at admission (or at start-up, for older records).
    let slot = session.slot;
    let mut changes = Vec::new();
    let mut standing_change = None;
    if standing != session.standing {
        standing_change = Some((session.standing, standing, used));
        match (session.standing, standing) {
            (Standing::Cut, _) => {
                // Back from the walled garden (midnight): a new element, counters from zero.
                session.seen = (0, 0);
                session.seen_free = 0;
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
    let ending = if session.ends <= now {
        Some(Ending::Time)
    } else if !trusted && now - session.last_activity >= input.idle_after {
        Some(Ending::Idle)
    } else {
        None
    };
    // Writes spare the router's SD card: a record is written when
    // something other than its counters changed (standing, slot...),
    // or when it moved bytes and its last write is `write_interval`
    // old (or from another day). In between, the kernel keeps counting
    // and the next pass's delta (from the last *written* counters)
    // covers everything since, so skipping a write loses nothing.
    let cold_changed = before.as_ref().is_some_and(|b| {
        Session {
            seen: session.seen,
            seen_free: session.seen_free,
            last_activity: session.last_activity,
            ..b.clone()
        } != *session
    });
    let written = session.written;
    let write_due = now - written >= input.write_interval
        || local_day(written, &gw.config().site.timezone) != input.day;
    let write = cold_changed || (delta.moved() > 0 && write_due);
    if write {
        session.written = now;
    }
    Ok(Some(Decision {
        device,
        delta,
        write,
        changes,
        standing_change,
        missing,
        ending,
    }))
}
