//! What an audit entry records was done: one word per kind of change, the
//! same words the audit log has always held (the store keeps them as these
//! strings, byte for byte; `store/golden.rs` pins one).

use serde::{Deserialize, Serialize};

/// Every kind of change the audit log records. Serialized (in the store and
/// the API) as its dotted name, [`AuditAction::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    /// The site's quota defaults (`PUT /api/quota`, the console's form, a policy).
    #[serde(rename = "quota.set")]
    QuotaSet,
    /// A device's quota overrides.
    #[serde(rename = "device.quota.set")]
    DeviceQuotaSet,
    /// A device's overrides removed (back to the site's defaults).
    #[serde(rename = "device.quota.clear")]
    DeviceQuotaClear,
    #[serde(rename = "device.block")]
    DeviceBlock,
    #[serde(rename = "device.unblock")]
    DeviceUnblock,
    /// A device's session ended by an admin.
    #[serde(rename = "device.kick")]
    DeviceKick,
    #[serde(rename = "device.trust")]
    DeviceTrust,
    #[serde(rename = "device.untrust")]
    DeviceUntrust,
    /// The opening hours.
    #[serde(rename = "schedule.set")]
    ScheduleSet,
    /// Which usage categories cost no quota.
    #[serde(rename = "usage.free")]
    UsageFree,
    /// The regency policy's walled-garden additions.
    #[serde(rename = "walled_garden.addresses")]
    WalledGardenAddresses,
    /// A regency policy version applied (its settings are audited apart).
    #[serde(rename = "policy.apply")]
    PolicyApply,
    #[serde(rename = "user.add")]
    UserAdd,
    /// A password changed (the entry never holds it).
    #[serde(rename = "user.passwd")]
    UserPasswd,
    #[serde(rename = "user.remove")]
    UserRemove,
    /// A village added at the regency office (its push account made).
    #[serde(rename = "village.add")]
    VillageAdd,
    /// A village retired at the regency office (its push account removed).
    #[serde(rename = "village.retire")]
    VillageRetire,
}

impl AuditAction {
    /// Every action, in the order above.
    pub const ALL: [AuditAction; 17] = [
        AuditAction::QuotaSet,
        AuditAction::DeviceQuotaSet,
        AuditAction::DeviceQuotaClear,
        AuditAction::DeviceBlock,
        AuditAction::DeviceUnblock,
        AuditAction::DeviceKick,
        AuditAction::DeviceTrust,
        AuditAction::DeviceUntrust,
        AuditAction::ScheduleSet,
        AuditAction::UsageFree,
        AuditAction::WalledGardenAddresses,
        AuditAction::PolicyApply,
        AuditAction::UserAdd,
        AuditAction::UserPasswd,
        AuditAction::UserRemove,
        AuditAction::VillageAdd,
        AuditAction::VillageRetire,
    ];

    /// The dotted name, as the log, the API and the console show it.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::QuotaSet => "quota.set",
            AuditAction::DeviceQuotaSet => "device.quota.set",
            AuditAction::DeviceQuotaClear => "device.quota.clear",
            AuditAction::DeviceBlock => "device.block",
            AuditAction::DeviceUnblock => "device.unblock",
            AuditAction::DeviceKick => "device.kick",
            AuditAction::DeviceTrust => "device.trust",
            AuditAction::DeviceUntrust => "device.untrust",
            AuditAction::ScheduleSet => "schedule.set",
            AuditAction::UsageFree => "usage.free",
            AuditAction::WalledGardenAddresses => "walled_garden.addresses",
            AuditAction::PolicyApply => "policy.apply",
            AuditAction::UserAdd => "user.add",
            AuditAction::UserPasswd => "user.passwd",
            AuditAction::UserRemove => "user.remove",
            AuditAction::VillageAdd => "village.add",
            AuditAction::VillageRetire => "village.retire",
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store holds these words: serde's and `as_str`'s must be the
    /// same, and every action's word its own.
    #[test]
    fn every_action_is_stored_as_its_dotted_name() {
        let mut seen = std::collections::BTreeSet::new();
        for a in AuditAction::ALL {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<AuditAction>(&json).unwrap(), a);
            assert!(seen.insert(a.as_str()), "{a} twice");
        }
        assert!(serde_json::from_str::<AuditAction>("\"quota.sett\"").is_err());
    }
}
