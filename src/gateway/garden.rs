//! The walled garden's addresses at runtime: the village's own
//! `walled_garden.addresses` (its config file, never changed here) plus the
//! regency policy's additions in force (issue 14), kept in the store so the
//! start-up reconcile puts them back in @garden4/@garden6 after a restart.
//! A policy only adds: nothing here can take out one of the file's blocks.

use tracing::{info, warn};

use super::{Gateway, GatewayError};
use crate::store::Store;

/// The policy's additions at start-up, from the store. A block that does
/// not parse (a hand-edited store) is left out with a warning, not fatal.
pub(super) fn policy_garden_at_start(store: &Store) -> Result<Vec<ipnet::IpNet>, GatewayError> {
    Ok(store
        .policy_garden()?
        .unwrap_or_default()
        .iter()
        .filter_map(|t| match t.parse::<ipnet::IpNet>() {
            Ok(n) => Some(n),
            Err(_) => {
                warn!(block = %t, "stored policy garden block does not parse; left out");
                None
            }
        })
        .collect())
}

impl Gateway {
    /// The garden's blocks now: the config file's, then the policy's
    /// additions not already among them (in their order).
    pub fn garden_addresses(&self) -> Vec<ipnet::IpNet> {
        let mut out = self.config().walled_garden.addresses.clone();
        for n in self.policy_garden.read().expect("garden lock").iter() {
            if !out.contains(n) {
                out.push(*n);
            }
        }
        out
    }

    /// The regency policy's additions in force now (empty: none).
    pub fn policy_garden(&self) -> Vec<ipnet::IpNet> {
        self.policy_garden.read().expect("garden lock").clone()
    }

    /// Make `nets` the policy's additions (replacing the previous policy's):
    /// saved and flushed first, then the firewall's ruleset is reconciled
    /// in one transaction. Returns (old, new).
    pub async fn change_policy_garden(
        &self,
        nets: Vec<ipnet::IpNet>,
    ) -> Result<(Vec<ipnet::IpNet>, Vec<ipnet::IpNet>), GatewayError> {
        let old = {
            let _guard = self.records.lock().expect("records lock");
            let text: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
            self.store.put_policy_garden(&text)?;
            std::mem::replace(
                &mut *self.policy_garden.write().expect("garden lock"),
                nets.clone(),
            )
        };
        self.store.flush().await?;
        self.reconcile().await?;
        info!(added = ?nets, "the policy's walled-garden additions changed");
        Ok((old, nets))
    }
}
