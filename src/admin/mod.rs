//! The admin room: the regency's HTTPS console and JSON API, beside the
//! portal but never on it. Its own listener (`[admin] listen`, loopback or
//! the management network), TLS only (rustls); its accounts are the base
//! room [`crate::accounts`].
//!
//! A stack with one direction (`tests/layering.rs` holds it; the models are
//! tokio-rs/mini-redis's `Db` below `cmd/*` below `server`, and innernet's
//! `api/admin/*`, each using only the shared `Session`, `ServerError`, `db`):
//!
//! - **core** ([`core`]): the shared state [`core::Admin`], who is asking
//!   and the CSRF header ([`core::auth`]), the one request error with its
//!   status ([`core::OpError`]), the audit ([`core::audited`], typed
//!   actions), device states ([`core::DeviceState`]), the regency policy's
//!   status, the JSON forms of quota values. Imports no other admin file.
//! - **resources**, one file each, each using only the core and the rooms
//!   below admin, never a sibling: [`devices`] (list, block, unblock,
//!   kick), [`quota`] (site defaults, device overrides), [`schedule`]
//!   (opening hours), [`trust`], [`usage`] (the per-day report),
//!   [`categories`] ("what for", the free list), [`garden`] (the policy's
//!   additions), [`quiz`] (counts by pillar), [`policy`] (the regency
//!   policy in force, setting by setting).
//! - **surfaces**, never importing each other: [`api`] (JSON under
//!   `/api/`), [`console`] (HTML forms with CSRF tokens from `admin-ui/`),
//!   [`metrics`] (`/metrics`), [`control`] (the root-only Unix socket for
//!   `desawifi user ...`), [`policy_pull`] (the regency's signed policy,
//!   pulled and applied through the resources as `policy vN`).
//! - **top**: [`server`] (the HTTPS listener and the router in front of
//!   api, console and metrics) and [`tls`] (its certificate from `[admin]`
//!   or self-signed, [`crate::web::cert`]).

pub mod api;
pub mod categories;
pub mod console;
pub mod control;
pub mod core;
pub mod devices;
pub mod garden;
pub mod metrics;
pub mod outages;
pub mod policy;
pub mod policy_pull;
pub mod quiz;
pub mod quota;
pub mod schedule;
pub mod server;
pub mod tls;
pub mod trust;
pub mod usage;
