//! The regency policy as this village has it (`GET /api/policy`, the
//! console's regency card): the status ([`crate::admin::core::policy`]) and,
//! for each setting the policy in force names, whose value is in force now:
//! the regency's, or a local admin's change made after it.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::core::views::quota_json;
use super::core::Admin;
use crate::config;
use crate::policy::Policy;

/// One setting a policy names, with whose value is in force now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// `quota.daily_data`, `usage.free`, `schedule.open`, ...
    pub key: String,
    /// The policy's value as written.
    pub regency: String,
    /// The value in force now.
    pub now: String,
    /// True when a local admin changed it after the policy was applied.
    pub local_override: bool,
}

/// Every setting the policy in force names, regency's or overridden locally.
pub fn settings(admin: &Admin, p: &Policy) -> Vec<Setting> {
    let mut out = Vec::new();
    let quota = admin.gateway.site_quota();
    let now_json = quota_json(&quota);
    for (key, text) in &p.quota {
        let same = config::parse_quota_field(&quota, *key, text).is_ok_and(|q| q == quota);
        out.push(Setting {
            key: format!("quota.{key}"),
            regency: text.clone(),
            now: now_json[key.name()].as_str().unwrap_or_default().to_owned(),
            local_override: !same,
        });
    }
    if let Some(free) = &p.free {
        let want: BTreeSet<String> = free.iter().cloned().collect();
        let have = admin.gateway.free_categories();
        out.push(Setting {
            key: "usage.free".into(),
            regency: free.join(", "),
            now: have.iter().cloned().collect::<Vec<_>>().join(", "),
            local_override: want != have,
        });
    }
    if let Some(s) = &p.schedule {
        let have = admin.gateway.schedule();
        if let Some((open, close)) = s.hours {
            let now = have.hours.map_or_else(
                || "always open".to_owned(),
                |h| format!("{}-{}", h.open, h.close),
            );
            out.push(Setting {
                key: "schedule.open/close".into(),
                regency: format!("{open}-{close}"),
                local_override: have
                    .hours
                    .is_none_or(|h| h.open != open || h.close != close),
                now,
            });
        }
        if let Some(g) = s.garden_always_open {
            out.push(Setting {
                key: "schedule.garden_always_open".into(),
                regency: g.to_string(),
                now: have.garden_always_open.to_string(),
                local_override: g != have.garden_always_open,
            });
        }
    }
    if !p.garden.is_empty() {
        let have = admin.gateway.policy_garden();
        out.push(Setting {
            key: "walled_garden.addresses".into(),
            regency: format!("+ {}", text(&p.garden).join(", ")),
            now: text(&admin.gateway.garden_addresses()).join(", "),
            // Only a policy sets the additions, so they are the regency's
            // unless the store lost them.
            local_override: have != p.garden,
        });
    }
    out
}

/// The policy as `GET /api/policy` shows it (the API adds the walled
/// garden as [`crate::admin::garden::garden_json`] has it).
pub fn status_json(admin: &Admin) -> Value {
    let s = admin.policy.get();
    let tz = &admin.gateway.config().site.timezone;
    let time = |t: Option<i64>| t.map(|t| crate::domain::rfc3339(t, tz));
    let settings: Vec<Value> = s
        .policy
        .as_ref()
        .map(|p| settings(admin, p))
        .unwrap_or_default()
        .into_iter()
        .map(|x| json!({"key": x.key, "regency": x.regency, "now": x.now, "source": if x.local_override { "local" } else { "regency" }}))
        .collect();
    json!({
        "configured": s.configured,
        "url": admin.gateway.config().fleet_policy.as_ref().map(|f| f.url.clone()),
        "version": s.policy.as_ref().map(|p| p.version),
        "expires": s.policy.as_ref().map(|p| p.expires_text.clone()),
        "applied_at": time(s.applied_at),
        "fetched_at": time(s.fetched_at),
        "refusal": s.refusal.as_ref().map(|r| json!({"at": crate::domain::rfc3339(r.at, tz), "reason": r.reason.label(), "message": r.message})),
        "settings": settings,
    })
}

/// Blocks as text, in order.
fn text(nets: &[ipnet::IpNet]) -> Vec<String> {
    nets.iter().map(|n| n.to_string()).collect()
}
