//! The regency policy's walled-garden additions in force (tree `settings`,
//! key `policy_garden`): a JSON list of CIDR blocks as text, e.g.
//! `["203.0.113.0/24","2001:db8::/48"]`. Kept apart from the policy record
//! so the gateway's start-up reconcile reads them without parsing a policy
//! (the store room does not know the policy document). The village's own
//! garden stays in its config file; this list is only ever added to it.

use super::{keys, Store, StoreError};

impl Store {
    /// The garden blocks the policy in force adds (`None`: no policy ever set any).
    pub fn policy_garden(&self) -> Result<Option<Vec<String>>, StoreError> {
        self.settings
            .get(keys::SETTING_POLICY_GARDEN)?
            .map(|v| keys::decode(&v, "settings/policy_garden"))
            .transpose()
    }

    /// Save the policy's garden additions (not yet flushed; see [`Store::flush`]).
    pub fn put_policy_garden(&self, nets: &[String]) -> Result<(), StoreError> {
        self.settings
            .insert(keys::SETTING_POLICY_GARDEN, keys::encode(&nets))?;
        Ok(())
    }
}
