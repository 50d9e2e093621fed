//! The HTTP layer both edges share (the villagers' portal and the regency's
//! admin console): one listener with every connection limit, the small
//! request/response helpers, forms and cookies, and one template engine.
//! It knows no route and no page of either: those stay in `portal` and
//! `admin`, which are thin users of what is here. A base room: it imports
//! only the ground rooms (`lang`, `mac`, `clock`).
//!
//! - [`listener`]: the accept loop (back-off, caps in all and per client
//!   address, TLS handshake deadline, header-read time, connection life, drain).
//! - [`http`]: `Req`/`Resp`, [`http::respond`] (and its JSON and download
//!   forms), body limits, escaping, tokens.
//! - [`form`]: `application/x-www-form-urlencoded` and the same-origin check.
//! - [`cookie`]: reading a cookie, building `Set-Cookie` values.
//! - [`tls`]: a PEM pair -> the rustls acceptor either listener takes.
//! - [`cert`]: a self-signed pair made once and kept, and its SHA-256 fingerprint.
//! - [`client`]: one HTTPS GET (no redirects, deadlines, a body cap) for the
//!   documents the gateway fetches itself (the regency's policy).
//! - [`template`]: embedded UI files overridable from a directory, strings in
//!   both languages, `{{placeholders}}` checked at load, shared page heads.

pub mod cert;
pub mod client;
pub mod cookie;
pub mod form;
pub mod http;
pub mod listener;
pub mod template;
pub mod tls;

pub use listener::{serve, ClientKey, ClientSlots, Limits, Site, Watch};
