//! The regency office's data layer (the `desawifi-regency` console reads
//! everything measured from the regency's Prometheus-API store): a query
//! client, the villages overview and one village's 30 days as typed data,
//! and server-rendered SVG charts of them. No web server here yet.

pub mod charts;
pub mod prom;
pub mod village;
pub mod villages;
