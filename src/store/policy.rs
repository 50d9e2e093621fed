//! The last good regency policy (issue 14), kept so a restart, a power cut
//! or a week offline keeps enforcing it and never takes an older version
//! again. Tree `fleet`, key `policy` -> JSON of [`PolicyRecord`]. An admin
//! tree: the admin room's policy puller reads and writes it through
//! [`AdminStore`] (the settings it carries are applied through the gateway
//! like any admin change, and stored with the gateway's own settings).

use serde::{Deserialize, Serialize};

use super::{keys, AdminStore, StoreError};

/// The policy in force: what was verified, exactly as fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// Its `version`; only a higher one is applied after it.
    pub version: u64,
    /// The document's exact bytes (UTF-8 TOML), so it can be verified again.
    pub document: String,
    /// Its `.sig` file as fetched.
    pub signature: String,
    /// Unix seconds it was applied.
    pub applied_at: i64,
}

impl AdminStore {
    fn fleet(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(keys::TREE_FLEET)?)
    }

    /// The policy in force, if one was ever applied.
    pub fn policy(&self) -> Result<Option<PolicyRecord>, StoreError> {
        self.fleet()?
            .get(keys::FLEET_POLICY)?
            .map(|v| keys::decode(&v, "fleet/policy"))
            .transpose()
    }

    /// Keep `record` as the policy in force (not yet flushed; see [`AdminStore::flush`]).
    pub fn put_policy(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        self.fleet()?
            .insert(keys::FLEET_POLICY, keys::encode(record))?;
        Ok(())
    }
}
