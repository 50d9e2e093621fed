//! A reloaded configuration put in force without dropping a session
//! (docs/configuration.md, "Reload").
//!
//! The daemon reads and checks the file; [`Gateway::apply_config`] keeps the
//! keys that need a restart as they run ([`config::reload`]) and applies the
//! rest: the site's quota defaults, the opening hours and the free categories
//! unless an admin saved others (the admin's stay, as at start-up), trusted
//! devices (a MAC taken out of the file is captive again, one added is online
//! if present), and the ruleset (walled garden, its ports, private
//! destinations, categories) in one transaction that keeps every online
//! device and its counters. Connected devices follow a new quota from the
//! next accounting pass, as after an admin's change.

use std::sync::Arc;

use tracing::info;

use super::{categories, Gateway, GatewayError};
use crate::config::{self, Config};
use crate::domain::Mac;

/// What a reload did not apply, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotApplied {
    /// Restart-only keys the file changed (they keep their running values).
    pub needs_restart: Vec<&'static str>,
    /// Domain lists that changed: the dnsmasq snippet must be made again.
    pub dnsmasq: Vec<&'static str>,
    /// Settings an admin saved that still win over the file's changed ones.
    pub admin_wins: Vec<&'static str>,
}

impl Gateway {
    /// Put `file` (checked whole by the caller) in force.
    pub async fn apply_config(&self, file: Config) -> Result<NotApplied, GatewayError> {
        let running = self.config();
        let config::Reload {
            config: new,
            needs_restart,
            dnsmasq,
        } = config::reload(&running, file);
        let new = Arc::new(new);
        let mut admin_wins = Vec::new();
        let untrusted: Vec<Mac> = {
            let _guard = self.records.lock().expect("records lock");
            if self.store.site_quota()?.is_none() {
                *self.quota.write().expect("quota lock") = new.quota.clone();
            } else if running.quota != new.quota {
                admin_wins.push("quota");
            }
            if self.store.schedule()?.is_none() {
                *self.schedule.write().expect("schedule lock") = new.schedule.clone();
            } else if running.schedule.hours != new.schedule.hours
                || running.schedule.garden_always_open != new.schedule.garden_always_open
            {
                admin_wins.push("schedule");
            }
            let free = categories::free_at_start(&new, &self.store)?;
            if self.store.free_categories()?.is_some() && free_of(&running) != free_of(&new) {
                admin_wins.push("usage.free");
            }
            *self.free.write().expect("free lock") = free;
            self.config.send_replace(new.clone());
            running
                .network
                .trusted_macs
                .iter()
                .filter(|m| new.network.trusted_macs.binary_search(m).is_err())
                .copied()
                .collect()
        };
        // Sessions end at the new close, or all of them if it is closed now.
        self.enforce_schedule().await?;
        self.schedule_changed.notify_one();
        let captive: Vec<Mac> = untrusted
            .into_iter()
            .filter(|m| !self.is_trusted(m))
            .collect();
        if !captive.is_empty() {
            self.revoke_many(&captive, "no longer trusted in the config file")
                .await?;
        }
        self.reconcile().await?;
        self.admit_present_trusted().await?;
        info!("configuration reloaded");
        Ok(NotApplied {
            needs_restart,
            dnsmasq,
            admin_wins,
        })
    }
}

/// The categories the file makes free.
fn free_of(config: &Config) -> Vec<&str> {
    config
        .usage
        .categories
        .iter()
        .filter(|c| c.free)
        .map(|c| c.id.as_str())
        .collect()
}
