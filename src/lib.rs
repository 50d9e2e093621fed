//! desawifi: a captive-portal gateway for free village wifi.
//!
//! # Layout
//! - [`config`]    TOML -> typed [`config::Config`]; every error names the file and key.
//! - [`store`]     sled: devices and sessions, the source of truth.
//! - [`firewall`]  the nftables ruleset as data, applied in one transaction; counters read back.
//! - [`gateway`]   the core: admit / revoke / look up devices (store first, then firewall).
//! - [`quota`]     daily usage from kernel counters; quota, idle and time decisions.
//! - [`shaping`]   HTB trees on LAN and WAN: a fair share per device, caps, the fair-use speed.
//! - [`portal`]    hyper on the LAN: splash, login, status, RFC 8908 captive API.
//! - [`neighbor`]  client IP -> MAC from the kernel's neighbour table.
//! - [`uplink`]    is the village's internet up? TCP checks, state read by the portal's pages.
//! - [`daemon`]    wires the rooms together and runs them until shutdown.
//! - [`dnsmasq`]   the router's dnsmasq snippet (LAN DNS, RFC 8910 option 114, walled-garden nftset=).
//! - [`clock`], [`lang`], [`mac`]: small shared types.

pub mod admin;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod dnsmasq;
pub mod domain;
pub mod firewall;
pub mod gateway;
pub mod lang;
pub mod neighbor;
pub mod portal;
pub mod quota;
pub mod shaping;
pub mod store;
pub mod telemetry;
pub mod uplink;
pub mod web;
