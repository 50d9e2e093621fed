//! Every change an admin (or a regency policy) makes passes here twice:
//! [`may_change`] before it (the role), [`audited`] after it (who, what,
//! old -> new, made durable). The action is typed
//! ([`crate::domain::AuditAction`]); the store keeps its dotted name.

use serde_json::Value;

use super::{Admin, OpError};
use crate::accounts::Principal;
use crate::domain::AuditAction;
use crate::store::AuditEntry;

/// Refuse a viewer (and the metrics token) before any change.
pub fn may_change(who: &Principal) -> Result<(), OpError> {
    if who.may_change() {
        Ok(())
    } else {
        Err(OpError::Forbidden)
    }
}

/// Append an audit entry and make it durable (the change it records already is).
pub async fn audited(
    admin: &Admin,
    who: &Principal,
    action: AuditAction,
    target: &str,
    old: Value,
    new: Value,
) -> Result<(), OpError> {
    let entry = AuditEntry {
        at: admin.gateway.now(),
        who: who.username.clone(),
        action,
        target: target.into(),
        old,
        new,
    };
    admin.store().append_audit(&entry)?;
    admin.store().flush().await?;
    tracing::info!(who = %who.username, action = action.as_str(), target, "admin change");
    Ok(())
}
