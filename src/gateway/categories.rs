//! Usage by category: the kernel's per-category counters (site-wide, never
//! per device) summed per local day into the store, and read back for the
//! admin's report. Nothing here ever sees a MAC or an address.

use std::collections::BTreeMap;

use tracing::debug;

use super::{Gateway, GatewayError};
use crate::config;
use crate::domain::DailyUsage;
use crate::firewall::{CategoryCounters, CategoryRule};
use crate::quota::counter_delta;

/// The categories as the firewall needs them, in the config's order.
pub(super) fn rules(usage: &config::Usage) -> Vec<CategoryRule> {
    usage
        .categories
        .iter()
        .map(|c| CategoryRule {
            id: c.id.clone(),
            free: c.free,
        })
        .collect()
}

/// One day of the category report: every category, zeros included.
pub type CategoryDay = BTreeMap<String, DailyUsage>;

impl Gateway {
    /// Add what the category counters moved since the last pass to `day`.
    /// The first pass after start-up only takes the counters as they are (a
    /// restart loses at most one interval, like daily usage).
    pub(super) fn account_categories(
        &self,
        kernel: &CategoryCounters,
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
            };
            if delta.total() > 0 {
                added.push((id.clone(), delta));
            }
        }
        if !added.is_empty() {
            self.store.add_category_usage(day, &added)?;
            for (id, d) in &added {
                crate::telemetry::category_bytes(id, d.download, d.upload);
            }
            debug!(categories = added.len(), "category usage added");
        }
        *seen = Some(kernel.clone());
        Ok(())
    }

    /// Category ids reported, in the config's order, `lainnya` last.
    pub fn category_ids(&self) -> Vec<String> {
        self.config.usage.ids()
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
