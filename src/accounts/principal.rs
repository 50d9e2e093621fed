//! Who is asking, once a request has proved it: the account, its role, its
//! login session's CSRF token and how it authenticated. The gateway's admin
//! room and the regency office both hand these to their handlers.

use crate::domain::Role;

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The session cookie (browser): changes need the CSRF token too.
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

impl Principal {
    /// May this principal change anything? Admins may; viewers and the
    /// metrics token only read.
    pub fn may_change(&self) -> bool {
        self.role.can_change() && self.via != Via::MetricsToken
    }
}
