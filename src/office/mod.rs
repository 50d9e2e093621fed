//! The regency office (`desawifi-regency`): its data layer reads everything
//! measured from the regency's Prometheus-API store (a query client, the
//! villages overview and one village's 30 days as typed data, SVG charts),
//! and its web side renders them for the officers.
//!
//! Inside, one direction: the data ([`prom`], [`villages`], [`village`],
//! [`charts`]), then the pages ([`console`], pure), then the HTTPS side on
//! top ([`server`]: login through [`crate::accounts`], routes). The wiring
//! (config, store, certificate) is the top room `regency`.

pub mod charts;
pub mod console;
pub mod enrol;
pub mod manage;
pub mod prom;
pub mod receiver;
pub mod registry;
pub mod server;
pub mod village;
pub mod villages;
