//! desawifi: a captive-portal gateway for free village wifi.
//!
//! # Layout
//! Rooms stack in layers; a room uses only rooms below it (and the few
//! same-layer edges named here). `tests/layering.rs` checks every
//! `crate::` path against this table, so it stays true.
//!
//! - **top** [`daemon`]: wires the rooms together (signals, shutdown order,
//!   the control socket) and runs them until shutdown. [`doctor`]: is this box
//!   ready (kernel, dnsmasq, interfaces, store, clock)? (`main.rs`: the CLI only.)
//!   [`regency`]: the regency office's wiring (`bin/desawifi-regency.rs`):
//!   its config, its own store and certificate, then `office::server`.
//! - **edge**, never importing each other, never nft or tc:
//!   - [`portal`]: hyper on the LAN: splash, login, status, RFC 8908 captive API, OS probes.
//!   - [`admin`]: the regency's HTTPS room: JSON API, console, `/metrics`,
//!     the control socket, the policy pull. Inside, one direction: a core
//!     (state, principal, error, audit), one file per resource (devices,
//!     quota, schedule, ...; never importing a sibling), the surfaces above
//!     them, the server on top. It reaches the store only through
//!     [`store::AdminStore`] (its own trees).
//!   - [`office`]: the regency office: a Prometheus-API client, the villages
//!     overview and a village's 30 days, SVG charts (no gateway, no nft, no
//!     store), then its pages and HTTPS side (login through [`accounts`]).
//! - **core** [`gateway`]: the only holder of store + firewall: admit, revoke,
//!   overrides, the accounting pass, the reports every edge reads.
//! - **kernel**:
//!   - [`firewall`]: `Policy` (data) -> pure `render` -> one nft transaction;
//!     one task coalescing device changes; counters read back in one call.
//!   - [`dnsmasq`]: the router's dnsmasq snippet (names the firewall's sets).
//!   - [`power`]: the village's battery (NUT's upsd, Victron VE.Direct) read
//!     into one `Reading`, and the power mode (normal, hemat, darurat) decided
//!     with hysteresis; a task publishes it on a watch channel.
//! - **base**:
//!   - [`accounts`]: argon2id users, login sessions, the login limiter, the
//!     [`accounts::Principal`]; on the store's admin trees. Shared by the
//!     gateway's admin room and the regency office.
//!   - [`config`]: TOML -> typed [`config::Config`]; every error names the file and key.
//!   - [`store`]: sled behind typed records; it owns its encodings (golden bytes).
//!   - [`shaping`]: HTB trees on LAN and WAN (`tc -batch` scripts, pure).
//!   - [`quota`]: quota arithmetic (limits, standing, counter deltas).
//!   - [`neighbor`]: client IP -> MAC from the kernel's neighbour table.
//!   - [`policy`]: the regency's signed policy document: parse and validate
//!     (with the config's parsers), ed25519 sign and verify; bytes only, no I/O.
//!   - [`uplink`]: is the village's internet up? TCP checks, a watch channel.
//!   - [`web`]: one HTTP layer for both edges: listener, helpers, forms,
//!     cookies, TLS and self-signed certificates, ONE template engine.
//! - **ground**, importing nothing of the crate:
//!   - [`domain`]: Mac, Size, Rate, Device, Session, DailyUsage, Standing, Role,
//!     AuditAction, local days and their calendar.
//!   - [`telemetry`]: the event registry any room bumps (with its typed labels,
//!     e.g. [`telemetry::PolicyRefusal`]); only admin renders it.
//!   - [`clock`] (the injectable clock), [`lang`] (Indonesian first, English second).

pub mod accounts;
pub mod admin;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod dnsmasq;
pub mod doctor;
pub mod domain;
pub mod firewall;
pub mod gateway;
pub mod lang;
pub mod neighbor;
pub mod office;
pub mod policy;
pub mod portal;
pub mod power;
pub mod quota;
pub mod regency;
pub mod shaping;
pub mod store;
pub mod telemetry;
pub mod uplink;
pub mod web;
