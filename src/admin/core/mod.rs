//! The admin room's core, at the bottom of its stack (tokio-rs/mini-redis's
//! `Db`, innernet's `Session` and `ServerError`): everything the resources
//! above share and nothing they do. It imports no other admin file.
//!
//! - [`Admin`] (here): the shared state every handler gets.
//! - [`auth`]: who a request is (bearer token, session cookie, the metrics
//!   token) and the CSRF header check.
//! - [`error`]: [`OpError`], the one error of a request, with its one HTTP
//!   status; [`AdminError`] for start-up and the CLI.
//! - [`audit`]: the role check before a change and the audit entry after it
//!   (typed: [`crate::domain::AuditAction`]).
//! - [`state`]: a device's state in one word ([`DeviceState`]).
//! - [`policy`]: the regency policy in force and the last refusal ([`PolicyStatus`]).
//! - [`views`]: the JSON forms of the values several resources show (quota,
//!   overrides).

pub mod audit;
pub mod auth;
pub mod error;
pub mod policy;
pub mod state;
pub mod views;

use std::sync::Arc;

pub use audit::{audited, may_change};
pub use error::{AdminError, OpError};
pub use policy::PolicyStatus;
pub use state::DeviceState;

use crate::accounts::Accounts;
use crate::domain::{Device, Mac};
use crate::gateway::Gateway;
use crate::store::AdminStore;
use crate::uplink::UplinkReader;

/// Everything the admin room's handlers share: the gateway core (devices,
/// quota, reports), the accounts (and through them the admin's own trees
/// of the store), the uplink's state and the regency policy's status.
pub struct Admin {
    pub gateway: Arc<Gateway>,
    pub accounts: Accounts,
    pub uplink: UplinkReader,
    /// The regency policy in force and the last refusal (issue 14).
    pub policy: PolicyStatus,
}

impl Admin {
    pub fn new(gateway: Arc<Gateway>, accounts: Accounts, uplink: UplinkReader) -> Arc<Admin> {
        let policy = PolicyStatus::load(
            accounts.admin_store(),
            gateway.config().fleet_policy.is_some(),
        );
        Arc::new(Admin {
            policy,
            gateway,
            accounts,
            uplink,
        })
    }

    /// The admin's own trees of the store (accounts, sessions, audit, policy).
    pub fn store(&self) -> &AdminStore {
        self.accounts.admin_store()
    }

    /// The stored device, or 404 for a MAC never seen nor set up by an admin.
    pub fn known(&self, mac: Mac) -> Result<Device, OpError> {
        self.gateway
            .device(&mac)?
            .ok_or_else(|| OpError::NotFound(format!("device {mac} has never been seen")))
    }

    /// The site's local day now, as a store day number.
    pub fn today(&self) -> u32 {
        crate::domain::local_day(self.gateway.now(), &self.gateway.config().site.timezone)
    }

    /// `2026-11-27T21:05:00+08:00`: unix seconds in the site's time zone.
    pub fn rfc3339(&self, unix: i64) -> String {
        crate::domain::rfc3339(unix, &self.gateway.config().site.timezone)
    }
}
