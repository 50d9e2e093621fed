//! Usage by category: the kernel's per-category counters (site-wide, never
//! per device) summed per local day into the store, and read back for the
//! admin's report. Nothing here ever sees a MAC or an address.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, info};

use super::{category_window, Gateway, GatewayError};
use crate::config::Config;
use crate::domain::DailyUsage;
use crate::firewall::{CategoryCounters, CategoryRule};
use crate::quota::counter_delta;
use crate::store::Store;

/// Which categories are free at start-up: an admin's saved choice (ids no
/// longer in the list are dropped), else the config's.
pub(super) fn free_at_start(
    config: &Config,
    store: &Store,
) -> Result<BTreeSet<String>, GatewayError> {
    let known: BTreeSet<&str> = config
        .usage
        .categories
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    Ok(match store.free_categories()? {
        Some(ids) => ids
            .into_iter()
            .filter(|id| known.contains(id.as_str()))
            .collect(),
        None => config
            .usage
            .categories
            .iter()
            .filter(|c| c.free)
            .map(|c| c.id.clone())
            .collect(),
    })
}

/// One day of the category report: every category, zeros included.
pub type CategoryDay = BTreeMap<String, DailyUsage>;

impl Gateway {
    /// The categories as the firewall needs them, in the config's order.
    pub(super) fn category_rules(&self) -> Vec<CategoryRule> {
        let free = self.free.read().expect("free lock");
        self.config()
            .usage
            .categories
            .iter()
            .map(|c| CategoryRule {
                id: c.id.clone(),
                free: free.contains(&c.id),
            })
            .collect()
    }

    /// The categories that cost no quota now.
    pub fn free_categories(&self) -> BTreeSet<String> {
        self.free.read().expect("free lock").clone()
    }

    /// Make exactly `ids` free (the caller checked they are categories):
    /// saved and flushed first, then the firewall's rules are replaced in
    /// one transaction (counters and learned addresses stay). Returns (old, new).
    pub async fn change_free_categories(
        &self,
        ids: BTreeSet<String>,
    ) -> Result<(BTreeSet<String>, BTreeSet<String>), GatewayError> {
        let old = {
            let _guard = self.records.lock().expect("records lock");
            let list: Vec<String> = ids.iter().cloned().collect();
            self.store.put_free_categories(&list)?;
            std::mem::replace(&mut *self.free.write().expect("free lock"), ids.clone())
        };
        self.store.flush().await?;
        self.reconcile().await?;
        info!(free = ?ids, "free usage categories changed");
        Ok((old, ids))
    }

    /// Add what the category counters moved since the last pass to `day`.
    /// The first pass after start-up only takes the counters as they are (a
    /// restart loses at most one interval, like daily usage).
    ///
    /// The bytes wait for their publication window (`category_window.rs`):
    /// the store, the API, the console and `/metrics` see them together,
    /// per window and only with enough devices active in it (issue 22, item 11).
    pub(super) fn account_categories(
        &self,
        kernel: &CategoryCounters,
        devices: &BTreeMap<crate::firewall::DeviceKey, crate::firewall::DeviceCounters>,
        day: u32,
    ) -> Result<(), GatewayError> {
        let mut seen = self.category_seen.lock().expect("category lock");
        let Some(last) = seen.as_ref() else {
            *seen = Some(kernel.clone());
            return Ok(());
        };
        let mut added = Vec::new();
        for (id, &(down, up)) in kernel {
            let (was_down, was_up) = last.get(id).copied().unwrap_or((0, 0));
            let delta = DailyUsage {
                download: counter_delta(down, was_down),
                upload: counter_delta(up, was_up),
                free: 0,
            };
            if delta.total() > 0 {
                added.push((id.clone(), delta));
            }
        }
        *seen = Some(kernel.clone());
        drop(seen);
        let due = {
            let mut window = self.category_window.lock().expect("category window");
            let mut active = Vec::new();
            let counts: BTreeMap<_, u64> = devices
                .iter()
                .map(|(k, c)| (*k, c.upload.saturating_add(c.download)))
                .collect();
            for (key, total) in &counts {
                if window.last_counts.get(key).is_some_and(|last| total > last) {
                    active.push(key.mac);
                }
            }
            window.last_counts = counts;
            let usage = &self.config().usage;
            window.add(
                day,
                self.now(),
                added,
                active,
                usage.publish_every.as_secs() as i64,
                usage.publish_min_devices as usize,
            )
        };
        for publication in due {
            self.publish_categories(publication)?;
        }
        Ok(())
    }

    /// Write a window's category bytes to their day and to the telemetry.
    pub(super) fn publish_categories(
        &self,
        (day, added): category_window::Publication,
    ) -> Result<(), GatewayError> {
        self.store.add_category_usage(day, &added)?;
        for (id, d) in &added {
            crate::telemetry::category_bytes(id, d.download, d.upload);
        }
        debug!(categories = added.len(), day, "category usage published");
        Ok(())
    }

    /// Category ids reported, in the config's order, `lainnya` last.
    pub fn category_ids(&self) -> Vec<String> {
        self.config().usage.ids()
    }

    /// Per day in `from..=to` (store day numbers): bytes per category. Days
    /// without a record are left out (the caller fills the calendar).
    pub fn category_usage_between(
        &self,
        from: u32,
        to: u32,
    ) -> Result<BTreeMap<u32, CategoryDay>, GatewayError> {
        let mut out: BTreeMap<u32, CategoryDay> = BTreeMap::new();
        for (day, id, usage) in self.store.category_usage_between(from, to)? {
            out.entry(day).or_default().insert(id, usage);
        }
        Ok(out)
    }
}
