//! The admin room: the regency's HTTPS console and JSON API, beside the
//! portal but never on it. Its own listener (`[admin] listen`, loopback or
//! the management network), TLS only (rustls), its own accounts.
//!
//! - [`tls`]: the listener's certificate: from `[admin]` or self-signed on first start.
//! - [`accounts`]: users (argon2id, in sled), login sessions, the login rate limit.
//! - [`control`]: a root-only Unix socket so `desawifi user ...` works while the daemon runs.
//! - [`ops`]: the changes an admin can make (quota, overrides, block, kick), each audited;
//!   shared by the API and the console so both enforce the same rules.
//! - [`policy_pull`]: the regency's signed policy, pulled over HTTPS, applied through
//!   the same audited operations (as `policy vN`), kept in the store.
//! - [`schedule`]: the opening hours an admin reads and changes (audited).
//! - [`trust`]: trusting a device (online without a login or quota), audited.
//! - [`quiz`]: the literacy quiz's counts by day and pillar (no device in them).
//! - [`api`]: the JSON API (`/api/...`).
//! - [`usage`]: the per-day usage report (JSON and CSV).
//! - [`console`]: the web console (HTML forms with CSRF tokens) from `admin-ui/`.
//! - [`metrics`]: `/metrics` in Prometheus' text format.
//! - [`server`]: the HTTPS listener and the router in front of the three.

pub mod accounts;
pub mod api;
pub mod categories;
pub mod console;
pub mod control;
pub mod garden;
pub mod metrics;
pub mod ops;
pub mod policy_pull;
pub mod quiz;
pub mod schedule;
pub mod server;
pub mod tls;
pub mod trust;
pub mod usage;

use crate::domain::Role;

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The `desawifi_admin` session cookie (browser): changes need the CSRF token too.
    Cookie,
    /// `Authorization: Bearer <session token>` (scripts; no CSRF risk).
    Bearer,
    /// `Authorization: Bearer <[admin] metrics_token>`: `/metrics` only.
    MetricsToken,
}

/// Who is asking: a logged-in account (or Prometheus with the metrics token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub username: String,
    pub role: Role,
    /// This login session's CSRF token (empty for the metrics token).
    pub csrf: String,
    pub via: Via,
}

/// What can go wrong in the admin room outside a request (start-up, the CLI).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The admin certificate or key could not be read, made or used.
    #[error("admin TLS: {path}: {message}")]
    Tls {
        path: std::path::PathBuf,
        message: String,
    },
    /// The control socket could not be served, reached or understood.
    #[error("control socket {path}: {message}")]
    Control {
        path: std::path::PathBuf,
        message: String,
    },
    /// An account change was refused or failed.
    #[error(transparent)]
    Account(#[from] accounts::AccountError),
    /// The store failed (or is held by a daemon that does not answer).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
