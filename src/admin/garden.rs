//! The regency policy's walled-garden additions (issue 14), applied as an
//! admin operation: validated by the policy room's parser (the config
//! file's own), in force at once (@garden4/@garden6 reconciled), kept in the
//! store and audited as `walled_garden.addresses` with the old and new list.
//! There is no HTTP route for it: a village's own garden is its config file,
//! and only a policy adds to it (the principal is `policy vN`).

use serde_json::{json, Value};

use super::core::{audited, may_change, Admin, OpError};
use crate::accounts::Principal;
use crate::domain::AuditAction;

/// Make `nets` the policy's garden additions, replacing the previous
/// policy's list (an address the new version drops leaves the garden,
/// unless the village's own file lists it). Nothing happens, and nothing is
/// audited, when the list is the one in force.
pub async fn set_policy_garden(
    admin: &Admin,
    who: &Principal,
    nets: &[ipnet::IpNet],
) -> Result<Value, OpError> {
    may_change(who)?;
    let gw = &admin.gateway;
    if gw.policy_garden() == nets {
        return Ok(garden_json(admin));
    }
    let (old, new) = gw.change_policy_garden(nets.to_vec()).await?;
    audited(
        admin,
        who,
        AuditAction::WalledGardenAddresses,
        "site",
        json!(text(&old)),
        json!(text(&new)),
    )
    .await?;
    Ok(garden_json(admin))
}

/// `{"config": [...], "policy": [...], "in_force": [...]}`: the village's own
/// blocks, the policy's additions and the garden as the firewall has it
/// (before the opening hours, which may shut it).
pub fn garden_json(admin: &Admin) -> Value {
    let gw = &admin.gateway;
    json!({
        "config": text(&gw.config().walled_garden.addresses),
        "policy": text(&gw.policy_garden()),
        "in_force": text(&gw.garden_addresses()),
    })
}

/// Blocks as text, in order.
pub fn text(nets: &[ipnet::IpNet]) -> Vec<String> {
    nets.iter().map(|n| n.to_string()).collect()
}
