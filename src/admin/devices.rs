//! Devices (`/api/devices...`): the list and one device as the admin
//! sees them, and the actions on one: block, unblock, kick. Each checks the
//! role, acts through the gateway core and is audited.

use serde_json::{json, Value};

use super::core::views::override_json;
use super::core::{audited, may_change, Admin, DeviceState, OpError};
use crate::accounts::Principal;
use crate::domain::{AuditAction, Mac, Size};
use crate::gateway::DeviceView;

/// Every device the gateway knows, by MAC, as the API lists them.
pub fn list_json(admin: &Admin) -> Result<Value, OpError> {
    let now = admin.gateway.now();
    let mut list = admin.gateway.devices()?;
    list.sort_by_key(|v| v.mac);
    let tz = &admin.gateway.config().site.timezone;
    let devices: Vec<Value> = list.iter().map(|v| device_json(v, now, tz)).collect();
    Ok(json!({ "devices": devices }))
}

/// One device as the API shows it (any MAC: one never seen is a blank record).
pub fn one_json(admin: &Admin, mac: Mac) -> Result<Value, OpError> {
    Ok(device_json(
        &admin.gateway.view(mac)?,
        admin.gateway.now(),
        &admin.gateway.config().site.timezone,
    ))
}

/// Block a device: it cannot log in, and if online it is captive at once.
/// Allowed for a MAC never seen (an admin may block it before it arrives).
pub async fn block(admin: &Admin, who: &Principal, mac: Mac) -> Result<(), OpError> {
    may_change(who)?;
    let was = admin.gateway.set_blocked(mac, true).await?;
    audited(
        admin,
        who,
        AuditAction::DeviceBlock,
        &mac.to_string(),
        json!({ "blocked": was }),
        json!({ "blocked": true }),
    )
    .await
}

/// Let a blocked device log in again (it stays captive until it does).
pub async fn unblock(admin: &Admin, who: &Principal, mac: Mac) -> Result<(), OpError> {
    may_change(who)?;
    admin.known(mac)?;
    let was = admin.gateway.set_blocked(mac, false).await?;
    audited(
        admin,
        who,
        AuditAction::DeviceUnblock,
        &mac.to_string(),
        json!({ "blocked": was }),
        json!({ "blocked": false }),
    )
    .await
}

/// End a device's session now (captive again; it may log in again).
/// Returns whether it was online.
pub async fn kick(admin: &Admin, who: &Principal, mac: Mac) -> Result<bool, OpError> {
    may_change(who)?;
    let device = admin.known(mac)?;
    let was_online = device.is_online(admin.gateway.now());
    admin.gateway.revoke(mac, "kicked by an admin").await?;
    audited(
        admin,
        who,
        AuditAction::DeviceKick,
        &mac.to_string(),
        json!({ "online": was_online }),
        json!({ "online": false }),
    )
    .await?;
    Ok(was_online)
}

/// A device as the admin's list shows it. Times are RFC 3339 in the site's
/// time zone `tz`, with `_unix` seconds beside them.
pub fn device_json(v: &DeviceView, now: i64, tz: &jiff::tz::TimeZone) -> Value {
    let time = |t: i64| crate::domain::rfc3339(t, tz);
    json!({
        "mac": v.mac.to_string(),
        "ip": v.ip.map(|ip| ip.to_string()),
        "state": DeviceState::of(v).api_word(),
        "online_since": v.session.as_ref().map(|s| time(s.started)),
        "online_since_unix": v.session.as_ref().map(|s| s.started),
        "session_ends_at": v.session.as_ref().map(|s| time(s.ends)),
        "session_ends_at_unix": v.session.as_ref().map(|s| s.ends),
        "seconds_remaining": v.session.as_ref().map(|s| (s.ends - now).max(0)),
        "used_today": Size(v.used_today).to_string(),
        "used_today_bytes": v.used_today,
        "daily_data": if v.exempt { None } else { Some(Size(v.daily_data).to_string()) },
        "daily_data_bytes": if v.exempt { None } else { Some(v.daily_data) },
        "exempt": v.exempt,
        "trusted": v.trust.map(|t| t.as_str()),
        "blocked": v.blocked,
        "first_seen": time(v.first_seen),
        "first_seen_unix": v.first_seen,
        "quota": override_json(&v.quota),
    })
}
