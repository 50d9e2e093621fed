//! `POST /api/devices/{mac}/trust` and `DELETE /api/devices/{mac}/trust`:
//! trust a device (online whenever it is on the LAN, no quota) or take an
//! admin's trust back; each audited. Trust from `[network] trusted_macs`
//! stays until the file changes.

use serde_json::json;

use super::core::{audited, may_change, Admin, OpError};
use crate::accounts::Principal;
use crate::domain::{AuditAction, Mac};
use crate::gateway::GatewayError;

/// Trust a device (allowed for one never seen: set up before it arrives).
pub async fn trust(admin: &Admin, who: &Principal, mac: Mac) -> Result<(), OpError> {
    may_change(who)?;
    let was = admin.gateway.trust(mac).await?;
    audited(
        admin,
        who,
        AuditAction::DeviceTrust,
        &mac.to_string(),
        json!({ "trusted": was }),
        json!({ "trusted": true }),
    )
    .await
}

/// Take an admin's trust back: the device is captive again at once.
pub async fn untrust(admin: &Admin, who: &Principal, mac: Mac) -> Result<(), OpError> {
    may_change(who)?;
    let was = match admin.gateway.untrust(mac).await {
        Ok(was) => was,
        Err(e @ GatewayError::TrustedInConfig(_)) => {
            return Err(OpError::bad("mac", e.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    audited(
        admin,
        who,
        AuditAction::DeviceUntrust,
        &mac.to_string(),
        json!({ "trusted": was }),
        json!({ "trusted": false }),
    )
    .await
}
