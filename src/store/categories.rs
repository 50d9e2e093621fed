//! Usage by category: per site, per local day, per category, bytes down and
//! up. Never per device: the key has no MAC and no address, by design.

use super::{keys, Store, StoreError};
use crate::domain::DailyUsage;

impl Store {
    /// Add one accounting pass's category bytes to `day`, in one batch.
    pub fn add_category_usage(
        &self,
        day: u32,
        added: &[(String, DailyUsage)],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (id, add) in added.iter().filter(|(_, a)| a.total() > 0) {
            let key = keys::category_usage(day, id);
            let mut total: DailyUsage = match self.category_usage.get(&key)? {
                Some(v) => keys::decode(&v, &format!("category_usage/{day}/{id}"))?,
                None => DailyUsage::default(),
            };
            total.download = total.download.saturating_add(add.download);
            total.upload = total.upload.saturating_add(add.upload);
            batch.insert(key, keys::encode(&total));
        }
        self.category_usage.apply_batch(batch)?;
        Ok(())
    }

    /// Every (day, category id, bytes) in `from..=to`, in day order.
    pub fn category_usage_between(
        &self,
        from: u32,
        to: u32,
    ) -> Result<Vec<(u32, String, DailyUsage)>, StoreError> {
        let mut out = Vec::new();
        let end = to.saturating_add(1).to_be_bytes();
        for kv in self.category_usage.range(from.to_be_bytes()..end) {
            let (k, v) = kv?;
            let Some((day, id)) = keys::parse_category_usage(&k) else {
                continue;
            };
            let usage = keys::decode(&v, &format!("category_usage/{day}/{id}"))?;
            out.push((day, id, usage));
        }
        Ok(out)
    }

    /// The usage categories an admin made free (`None`: never changed, the config decides).
    pub fn free_categories(&self) -> Result<Option<Vec<String>>, StoreError> {
        self.settings
            .get(keys::SETTING_FREE_CATEGORIES)?
            .map(|v| keys::decode(&v, "settings/free_categories"))
            .transpose()
    }

    /// Save which usage categories are free (not yet flushed; see [`Store::flush`]).
    pub fn put_free_categories(&self, ids: &[String]) -> Result<(), StoreError> {
        self.settings
            .insert(keys::SETTING_FREE_CATEGORIES, keys::encode(&ids))?;
        Ok(())
    }

    /// Drop category totals of days before `before` (with daily usage).
    pub fn prune_category_usage(&self, before: u32) -> Result<usize, StoreError> {
        let mut gone = 0;
        for kv in self.category_usage.range(..before.to_be_bytes()) {
            let (k, _) = kv?;
            self.category_usage.remove(k)?;
            gone += 1;
        }
        Ok(gone)
    }
}
