//! The regency's policy, pulled (issue 14): every `[fleet] poll_interval`
//! the gateway fetches `policy_url` and `policy_url.sig` over HTTPS
//! ([`crate::web::client`]), checks them ([`crate::policy::accept`]:
//! signature under the configured key, the document with the config's
//! parsers, a version above the one in force, not expired), applies the
//! settings through the same operations an admin's change goes through
//! ([`quota::set_site_quota`], [`categories::set_free`],
//! [`schedule::set_schedule`], [`garden::set_policy_garden`]: validated, in
//! force at once, audited, with
//! `policy vN` as who), then keeps the document in the store
//! ([`crate::store::PolicyRecord`]) as the one in force.
//!
//! A refusal (fetch, TLS, signature, unknown key, replay, expiry, a value
//! the village's validator rejects) is logged, counted
//! (`desawifi_policy_errors_total{reason}`) and shown on the console; the
//! policy in force stays. The same document served again is no event.
//!
//! Local and regency: the newest change wins. A new policy version sets
//! every key it names (over a local admin's value); a local admin's change
//! after it stands until the regency publishes a higher version. The
//! walled-garden additions are the regency's alone (no local admin sets
//! them): each version's list replaces the last one's, and they only add
//! to the village's own `walled_garden.addresses`. A restart
//! never re-applies the stored policy, so a local change survives it.
//! Nothing about any device goes out: the request is a plain GET.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use super::core::{audited, Admin, OpError};
use super::{categories, garden, quota, schedule};
use crate::accounts::{Principal, Via};
use crate::config::{self, FleetPolicy};
use crate::domain::{AuditAction, Role};
use crate::policy::{self, Policy, PublicKey};
use crate::store::PolicyRecord;
use crate::telemetry::{PolicyRefusal, REGISTRY};
use crate::web::client::{self, FetchError, Limits};

/// A policy is a few hundred bytes; anything near this is not one.
pub const MAX_POLICY: usize = 64 * 1024;

/// Deadlines for one fetch (the uplink is a satellite: be patient, not forever).
pub const LIMITS: Limits = Limits {
    connect: Duration::from_secs(10),
    handshake: Duration::from_secs(10),
    response: Duration::from_secs(20),
    max_body: MAX_POLICY,
};

/// Pull until `cancel`: at once, then every `poll_interval`. `[fleet]` is
/// read afresh after each reload: changed settings start a pull at once with
/// them (and without `policy_url` the pulls stop); a reload that leaves
/// `[fleet]` as it was changes nothing here.
pub async fn run(admin: Arc<Admin>, cancel: CancellationToken) {
    let mut changes = admin.gateway.config_changes();
    let mut pulling: Option<FleetPolicy> = None;
    let mut due = tokio::time::Instant::now();
    let mut first = true;
    loop {
        let cfg = changes.borrow_and_update().fleet_policy.clone();
        if first || cfg != pulling {
            admin.policy.update(|s| s.configured = cfg.is_some());
            if let Some(c) = &cfg {
                tracing::info!(url = %c.url, every = %config::format_duration(c.poll_interval), "pulling the regency's policy");
            } else if !first {
                tracing::info!("[fleet] policy_url removed: no more pulls");
            }
            pulling = cfg;
            due = tokio::time::Instant::now();
            first = false;
        }
        if let Some(cfg) = &pulling {
            if tokio::time::Instant::now() >= due {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = round(&admin, cfg) => {}
                }
                due = tokio::time::Instant::now() + cfg.poll_interval;
            }
        }
        // Without a policy to pull, only a reload can give one.
        let wake = if pulling.is_some() {
            due
        } else {
            tokio::time::Instant::now() + Duration::from_secs(365 * 86_400)
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(wake) => {}
            changed = changes.changed() => if changed.is_err() { return },
        }
    }
}

/// One poll. The CA file is read each time (a few KiB once a poll), so a
/// technician who puts it in place or the regency who rotates its CA needs
/// no restart; until it reads, each poll is refused as `tls`, shown and
/// counted, and the village stays up: a gateway must not go offline over
/// its regency's CA file.
async fn round(admin: &Admin, cfg: &FleetPolicy) {
    match client::roots(cfg.ca_file.as_deref()) {
        Ok(roots) => pull(admin, cfg, client::client_config(roots)).await,
        Err(e) => refuse(admin, PolicyRefusal::Tls, e.to_string()),
    }
}

/// One round: fetch, check, apply, keep.
async fn pull(admin: &Admin, cfg: &FleetPolicy, tls: Arc<rustls::ClientConfig>) {
    let fetched = async {
        let doc = client::get(tls.clone(), &cfg.host, cfg.port, &cfg.path, LIMITS).await?;
        let sig_path = format!("{}.sig", cfg.path);
        let sig = client::get(tls, &cfg.host, cfg.port, &sig_path, LIMITS).await?;
        Ok::<_, FetchError>((doc, sig))
    };
    let (doc, sig) = match fetched.await {
        Ok(d) => d,
        Err(e) => {
            let reason = if matches!(e, FetchError::Tls { .. }) {
                PolicyRefusal::Tls
            } else {
                PolicyRefusal::Fetch
            };
            refuse(admin, reason, format!("{}: {e}", cfg.url));
            return;
        }
    };
    let now = admin.gateway.now();
    admin.policy.update(|s| s.fetched_at = Some(now));
    let store = admin.store();
    let current = match store.policy() {
        Ok(c) => c,
        Err(e) => {
            refuse(
                admin,
                PolicyRefusal::Store,
                format!("cannot read the policy in force: {e}"),
            );
            return;
        }
    };
    // The document in force served again: nothing to apply, nothing to
    // refuse (whatever form its signature file has).
    if current
        .as_ref()
        .is_some_and(|c| c.document.as_bytes() == doc.as_ref())
    {
        return;
    }
    let version = current.as_ref().map_or(0, |c| c.version);
    let policy = match policy::accept(&doc, &sig, &PublicKey(cfg.public_key), version, now) {
        Ok(p) => p,
        Err(e) => {
            refuse(admin, e.reason(), e.to_string());
            return;
        }
    };
    if let Err(e) = apply(admin, &policy, version).await {
        let reason = if matches!(e, OpError::BadInput { .. }) {
            PolicyRefusal::Invalid
        } else {
            PolicyRefusal::Apply
        };
        refuse(
            admin,
            reason,
            format!("policy v{}: {}", policy.version, e.chain()),
        );
        return;
    }
    let record = PolicyRecord {
        version: policy.version,
        document: String::from_utf8_lossy(&doc).into_owned(),
        // Verified above, so it parses; kept in its text form (an openssl
        // signature is 64 raw bytes).
        signature: policy::Signature::parse(&sig)
            .map(|s| s.to_text())
            .unwrap_or_default(),
        applied_at: now,
    };
    if let Err(e) = store.put_policy(&record) {
        refuse(
            admin,
            PolicyRefusal::Store,
            format!("cannot keep policy v{}: {e}", policy.version),
        );
        return;
    }
    if let Err(e) = store.flush().await {
        tracing::warn!(error = %e, "flushing the policy in force");
    }
    REGISTRY.policy_version.set(policy.version);
    tracing::info!(version = policy.version, expires = %policy.expires_text, "regency policy applied");
    admin.policy.update(|s| {
        s.policy = Some(policy);
        s.applied_at = Some(now);
    });
}

/// Log, count and show a refusal; the policy in force stays.
fn refuse(admin: &Admin, reason: PolicyRefusal, message: String) {
    admin.policy.refused(admin.gateway.now(), reason, message);
}

/// Apply every setting of `p` as an admin named `policy vN` would, each
/// validated and audited; what the village cannot take is refused before
/// anything changes.
async fn apply(admin: &Admin, p: &Policy, old_version: u64) -> Result<(), OpError> {
    let who = Principal {
        username: format!("policy v{}", p.version),
        role: Role::Admin,
        csrf: String::new(),
        via: Via::Bearer,
    };
    // The one check the document alone could not make: this village's categories.
    if let Some(free) = &p.free {
        let known = admin.gateway.category_ids();
        if let Some(id) = free
            .iter()
            .find(|id| !known.contains(id) || *id == config::categories::OTHER)
        {
            return Err(OpError::bad(
                "usage.free",
                format!("{id:?} is not a category of this village"),
            ));
        }
    }
    if !p.quota.is_empty() {
        let fields: Map<String, Value> = p
            .quota
            .iter()
            .map(|(k, text)| (k.name().to_owned(), Value::String(text.clone())))
            .collect();
        quota::set_site_quota(admin, &who, &fields).await?;
    }
    if let Some(free) = &p.free {
        let mut fields = Map::new();
        fields.insert("free".into(), json!(free));
        categories::set_free(admin, &who, &fields).await?;
    }
    if let Some(s) = &p.schedule {
        let mut fields = Map::new();
        if let Some((open, close)) = s.hours {
            fields.insert("open".into(), open.to_string().into());
            fields.insert("close".into(), close.to_string().into());
        }
        if let Some(g) = s.garden_always_open {
            fields.insert("garden_always_open".into(), g.into());
        }
        if !fields.is_empty() {
            schedule::set_schedule(admin, &who, &fields).await?;
        }
    }
    // Every version sets the additions (none when it has no
    // [walled_garden]): they belong to the regency alone, and the village's
    // own blocks in its file stay whatever the list says.
    garden::set_policy_garden(admin, &who, &p.garden).await?;
    audited(
        admin,
        &who,
        AuditAction::PolicyApply,
        &format!("policy v{}", p.version),
        json!({ "version": old_version }),
        json!({ "version": p.version, "expires": p.expires_text }),
    )
    .await
}
