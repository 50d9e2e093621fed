//! The harness for desawifi's network-namespace tests: a village (router,
//! upstream "internet", phones) from `scripts/village.sh`, commands and curl
//! inside its namespaces, and the daemon under test started in the router's
//! namespace. A library the integration tests link (a dev-dependency of
//! desawifi), so each item is compiled once and checked like any code.
//!
//! Every test that builds a village needs root and the tools the script names
//! (iproute2, dnsmasq-base, curl, bind9-dnsutils, nftables, python3). A missing
//! one fails the test with the package to install: a network test that skips
//! proves nothing.
//!
//! ```ignore
//! use desawifi_testkit as common;
//! use common::*;
//!
//! #[test]
//! fn http_goes_to_the_portal() {
//!     let v = Village::up(&tag_for("portal::http_goes_to_the_portal"), 2);
//!     let d = Daemon::start(&v, "[quota]\ndaily_data = \"10 MiB\"\n");
//!     let r = curl(&v.phone(1), &["http://198.51.100.2/"], 5.0);
//!     assert_eq!(r.code, 302, "{r:?}\n{}", d.log());
//! }
//! ```
//!
//! By concern: [`village`] (the namespaces and their addresses), [`ns`]
//! (commands inside a namespace), [`phone`] (what a phone does: curl, dig,
//! the portal's Connect), [`daemon`] (the daemon under test and the binary it
//! runs), [`admin`] (the HTTPS admin client and accounts), [`certs`]
//! (certificates made with openssl); and, used by a few tests only, [`cdp`]
//! (headless Chromium), [`lazyfs`] (a filesystem that forgets like a power
//! cut) and [`phones`] (the power-cut tests' crowd of phones).
//!
//! The harness does not link the desawifi library: it runs the daemon as a
//! process ([`desawifi_bin`]), so the tests' own copy of the library is the
//! only one in a test binary.

pub mod admin;
pub mod cdp;
pub mod certs;
pub mod daemon;
pub mod lazyfs;
pub mod ns;
pub mod nut;
pub mod phone;
pub mod phones;
pub mod promstore;
pub mod village;

pub use admin::*;
pub use certs::*;
pub use daemon::*;
pub use ns::*;
pub use phone::*;
pub use village::*;
