//! What an admin can change, shared by the JSON API and the console so both
//! enforce the same rules. Each operation checks the role, validates all of
//! its input before touching anything (nothing half-applied), makes the
//! change through the gateway core (store first, then firewall) and appends
//! an audit entry (who, what, old -> new).
//!
//! Values are accepted in the config file's human form (`"1 GiB"`,
//! `"2 Mbit/s"`, `"4h"`) and validated by the same parser as the file
//! ([`config::parse_quota_field`]), or as plain numbers under `_bytes`,
//! `_bps` and `_secs` names; answers give both forms.

use serde_json::{json, Map, Value};

use super::server::Admin;
use super::Principal;
use crate::config::{self, format_duration, Quota, QuotaKey, QuotaKind};
use crate::domain::{Mac, QuotaOverride, Rate, Size, Standing};
use crate::gateway::{DeviceView, GatewayError};
use crate::store::{AuditEntry, StoreError};

/// Why an operation did not happen (the API maps each to one status).
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The input is wrong; `field` names the key (400).
    #[error("{field}: {message}")]
    BadInput { field: String, message: String },
    /// The account may not do this (a viewer changing something; 403).
    #[error("this account may only read")]
    Forbidden,
    /// Nothing to act on (404), e.g. a device never seen.
    #[error("{0}")]
    NotFound(String),
    /// The gateway (its store or the firewall) failed (500; the cause chain is logged, see [`OpError::chain`]).
    #[error("the gateway failed")]
    Gateway(#[source] GatewayError),
    /// The admin's own trees of the store (audit log) failed (500).
    #[error("the admin store failed")]
    Store(#[source] StoreError),
    /// Something else that is not the client's fault (500), with what it was.
    #[error("{0}")]
    Internal(String),
}

impl OpError {
    /// A 400 naming the field the client sent.
    pub fn bad(field: &str, message: impl Into<String>) -> OpError {
        OpError::BadInput {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The error and its causes, `outer: inner: ...`, for the log.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cause = e.source();
        }
        out
    }
}

impl From<GatewayError> for OpError {
    fn from(e: GatewayError) -> OpError {
        OpError::Gateway(e)
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        OpError::Store(e)
    }
}

/// The number form's suffix of a key of this kind (`daily_data_bytes`).
fn suffix(kind: QuotaKind) -> &'static str {
    match kind {
        QuotaKind::Size => "_bytes",
        QuotaKind::Rate => "_bps",
        QuotaKind::Duration => "_secs",
    }
}

/// The text the config file would hold for a number form.
fn number_text(kind: QuotaKind, n: u64) -> String {
    match kind {
        QuotaKind::Size => format!("{n} B"),
        QuotaKind::Rate => format!("{n} bit/s"),
        QuotaKind::Duration => format!("{n}s"),
    }
}

/// The number form's name of a key (`daily_data_bytes`).
fn number_name(key: QuotaKey) -> String {
    format!("{key}{}", suffix(key.kind()))
}

/// One given quota key: (the `[quota]` key, its text for the config parser
/// or `None` for JSON `null`, the field name the client used).
type QuotaText<'a> = (QuotaKey, Option<String>, &'a str);

/// `fields` as (quota key, text to parse, the field name the client used),
/// one per key; unknown keys, wrong JSON types and a key given twice (human
/// and number form) are errors naming the field.
fn quota_texts<'a>(
    fields: &'a Map<String, Value>,
    allowed: &[QuotaKey],
    also: &[&str],
) -> Result<Vec<QuotaText<'a>>, OpError> {
    let mut out: Vec<QuotaText<'a>> = Vec::new();
    for (field, value) in fields {
        let found = allowed.iter().find_map(|&k| {
            if field == k.name() {
                Some((k, false))
            } else if *field == number_name(k) {
                Some((k, true))
            } else {
                None
            }
        });
        let Some((key, numeric)) = found else {
            let mut names: Vec<String> = Vec::new();
            for k in allowed {
                names.push(k.name().to_owned());
                names.push(number_name(*k));
            }
            names.extend(also.iter().map(|s| s.to_string()));
            return Err(OpError::bad(
                field,
                format!("unknown key (expected one of: {})", names.join(", ")),
            ));
        };
        if let Some((_, _, other)) = out.iter().find(|(k, _, _)| *k == key) {
            return Err(OpError::bad(
                field,
                format!("{other} and {field} are the same setting; give one"),
            ));
        }
        let kind = key.kind();
        let text = match (value, numeric) {
            (Value::Null, _) => None,
            (Value::String(s), false) => Some(s.clone()),
            // Like the config file, where `after_quota_rate = 0` is the text "0".
            (Value::Number(n), false) if n.as_u64().is_some() => Some(n.to_string()),
            (Value::Number(n), true) => match n.as_u64() {
                Some(n) => Some(number_text(kind, n)),
                None => {
                    return Err(OpError::bad(
                        field,
                        format!("{n} is not a whole number of {}", &suffix(kind)[1..]),
                    ))
                }
            },
            (_, false) => {
                return Err(OpError::bad(
                    field,
                    format!("expected a string like {:?}", key.default_text()),
                ))
            }
            (_, true) => {
                return Err(OpError::bad(
                    field,
                    format!("expected a whole number of {}", &suffix(kind)[1..]),
                ))
            }
        };
        out.push((key, text, field));
    }
    Ok(out)
}

fn audit(
    admin: &Admin,
    who: &Principal,
    action: &str,
    target: &str,
    old: Value,
    new: Value,
) -> Result<(), OpError> {
    let entry = AuditEntry {
        at: admin.gateway.now(),
        who: who.username.clone(),
        action: action.into(),
        target: target.into(),
        old,
        new,
    };
    admin.accounts.admin_store().append_audit(&entry)?;
    Ok(())
}

/// Append an audit entry and make it durable (the change it records already is).
pub(super) async fn audited(
    admin: &Admin,
    who: &Principal,
    action: &str,
    target: &str,
    old: Value,
    new: Value,
) -> Result<(), OpError> {
    audit(admin, who, action, target, old, new)?;
    admin.accounts.admin_store().flush().await?;
    tracing::info!(who = %who.username, action, target, "admin change");
    Ok(())
}

/// Refuse a viewer (and the metrics token) before any change.
pub(super) fn may_change(who: &Principal) -> Result<(), OpError> {
    if who.role.can_change() && who.via != super::Via::MetricsToken {
        Ok(())
    } else {
        Err(OpError::Forbidden)
    }
}

/// Change some of the site's quota defaults (`PUT /api/quota`): every given
/// key is validated first; then all are saved at once (kept in the store,
/// winning over the config file from now on) and in force for connected
/// devices from the next accounting pass.
pub async fn set_site_quota(
    admin: &Admin,
    who: &Principal,
    fields: &Map<String, Value>,
) -> Result<Quota, OpError> {
    may_change(who)?;
    if fields.is_empty() {
        return Err(OpError::bad(
            "",
            "no quota keys given (e.g. {\"daily_data\": \"1 GiB\"})",
        ));
    }
    let texts = quota_texts(fields, &QuotaKey::ALL, &[])?;
    let (old, new) = admin
        .gateway
        .change_quota(|old| {
            let mut new = old.clone();
            for (key, text, field) in &texts {
                let text = text.as_deref().ok_or_else(|| {
                    OpError::bad(field, "must not be null (every site default has a value)")
                })?;
                new = config::parse_quota_field(&new, *key, text)
                    .map_err(|m| OpError::bad(field, m))?;
            }
            Ok::<_, OpError>(new)
        })
        .await?;
    let keys: Vec<QuotaKey> = texts.iter().map(|(k, _, _)| *k).collect();
    audited(
        admin,
        who,
        "quota.set",
        "site",
        pick(&quota_json(&old), &keys),
        pick(&quota_json(&new), &keys),
    )
    .await?;
    Ok(new)
}

/// The human and number forms of `keys` from a quota JSON object.
fn pick(all: &Value, keys: &[QuotaKey]) -> Value {
    let mut out = Map::new();
    for k in keys {
        for name in [k.name().to_owned(), number_name(*k)] {
            if let Some(v) = all.get(&name) {
                out.insert(name, v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The keys a device override may set, besides `exempt`.
const OVERRIDE_KEYS: [QuotaKey; 3] = [
    QuotaKey::DailyData,
    QuotaKey::DownloadRate,
    QuotaKey::UploadRate,
];

/// Change some of a device's overrides (`PUT /api/devices/{mac}/quota`):
/// `daily_data`, `download_rate`, `upload_rate` (same rules as the site's
/// keys; `null` goes back to the site default) and `exempt` (bool). Keys not
/// given stay. Allowed for a device never seen (set up before it arrives).
pub async fn set_device_quota(
    admin: &Admin,
    who: &Principal,
    mac: Mac,
    fields: &Map<String, Value>,
) -> Result<QuotaOverride, OpError> {
    may_change(who)?;
    if fields.is_empty() {
        return Err(OpError::bad(
            "",
            "no keys given (daily_data, download_rate, upload_rate, exempt)",
        ));
    }
    let mut exempt = None;
    let mut rest = fields.clone();
    if let Some(v) = rest.remove("exempt") {
        exempt = Some(
            v.as_bool()
                .ok_or_else(|| OpError::bad("exempt", "expected true or false"))?,
        );
    }
    let texts = quota_texts(&rest, &OVERRIDE_KEYS, &["exempt"])?;
    let site = admin.gateway.quota();
    let (old, new) = admin
        .gateway
        .change_quota_override(mac, |old| {
            let mut new = old.clone();
            for (key, text, field) in &texts {
                let parsed = match text {
                    None => None,
                    Some(text) => Some(
                        config::parse_quota_field(&site, *key, text)
                            .map_err(|m| OpError::bad(field, m))?,
                    ),
                };
                let (slot, value) = match key {
                    QuotaKey::DailyData => (&mut new.daily_data, parsed.map(|q| q.daily_data.0)),
                    QuotaKey::DownloadRate => {
                        (&mut new.download_rate, parsed.map(|q| q.download_rate.0))
                    }
                    QuotaKey::UploadRate => (&mut new.upload_rate, parsed.map(|q| q.upload_rate.0)),
                    QuotaKey::SessionTime
                    | QuotaKey::IdleTimeout
                    | QuotaKey::AfterQuotaRate
                    | QuotaKey::AccountingInterval => {
                        return Err(OpError::bad(
                            field,
                            "is a site default, not a per-device one",
                        ))
                    }
                };
                *slot = value;
            }
            if let Some(e) = exempt {
                new.exempt = e;
            }
            Ok::<_, OpError>(new)
        })
        .await?;
    audited(
        admin,
        who,
        "device.quota.set",
        &mac.to_string(),
        override_json(&old),
        override_json(&new),
    )
    .await?;
    Ok(new)
}

/// Remove a device's overrides (`DELETE /api/devices/{mac}/quota`): back to the site defaults.
pub async fn clear_device_quota(
    admin: &Admin,
    who: &Principal,
    mac: Mac,
) -> Result<QuotaOverride, OpError> {
    may_change(who)?;
    known(admin, mac)?;
    let old = admin
        .gateway
        .set_quota_override(mac, QuotaOverride::default())
        .await?;
    audited(
        admin,
        who,
        "device.quota.clear",
        &mac.to_string(),
        override_json(&old),
        override_json(&QuotaOverride::default()),
    )
    .await?;
    Ok(QuotaOverride::default())
}

/// The stored device, or 404 for a MAC never seen nor set up by an admin.
pub fn known(admin: &Admin, mac: Mac) -> Result<crate::domain::Device, OpError> {
    admin
        .gateway
        .device(&mac)?
        .ok_or_else(|| OpError::NotFound(format!("device {mac} has never been seen")))
}

/// Block a device: it cannot log in, and if online it is captive at once.
/// Allowed for a MAC never seen (an admin may block it before it arrives).
pub async fn block(admin: &Admin, who: &Principal, mac: Mac) -> Result<(), OpError> {
    may_change(who)?;
    let was = admin.gateway.set_blocked(mac, true).await?;
    audited(
        admin,
        who,
        "device.block",
        &mac.to_string(),
        json!({ "blocked": was }),
        json!({ "blocked": true }),
    )
    .await
}

/// Let a blocked device log in again (it stays captive until it does).
pub async fn unblock(admin: &Admin, who: &Principal, mac: Mac) -> Result<(), OpError> {
    may_change(who)?;
    known(admin, mac)?;
    let was = admin.gateway.set_blocked(mac, false).await?;
    audited(
        admin,
        who,
        "device.unblock",
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
    let device = known(admin, mac)?;
    let was_online = device.is_online(admin.gateway.now());
    admin.gateway.revoke(mac, "kicked by an admin").await?;
    audited(
        admin,
        who,
        "device.kick",
        &mac.to_string(),
        json!({ "online": was_online }),
        json!({ "online": false }),
    )
    .await?;
    Ok(was_online)
}

/// The site's quota defaults, every key in both forms:
/// `"daily_data": "500 MiB", "daily_data_bytes": 524288000`, ...
pub fn quota_json(q: &Quota) -> Value {
    json!({
        "daily_data": q.daily_data.to_string(),
        "daily_data_bytes": q.daily_data.0,
        "session_time": format_duration(q.session_time),
        "session_time_secs": q.session_time.as_secs(),
        "idle_timeout": format_duration(q.idle_timeout),
        "idle_timeout_secs": q.idle_timeout.as_secs(),
        "download_rate": q.download_rate.to_string(),
        "download_rate_bps": q.download_rate.0,
        "upload_rate": q.upload_rate.to_string(),
        "upload_rate_bps": q.upload_rate.0,
        "after_quota_rate": q.after_quota_rate.to_string(),
        "after_quota_rate_bps": q.after_quota_rate.0,
        "accounting_interval": format_duration(q.accounting_interval),
        "accounting_interval_secs": q.accounting_interval.as_secs(),
    })
}

/// A device's overrides in both forms; `null` = the site default applies.
pub fn override_json(o: &QuotaOverride) -> Value {
    json!({
        "daily_data": o.daily_data.map(|b| Size(b).to_string()),
        "daily_data_bytes": o.daily_data,
        "download_rate": o.download_rate.map(|r| Rate(r).to_string()),
        "download_rate_bps": o.download_rate,
        "upload_rate": o.upload_rate.map(|r| Rate(r).to_string()),
        "upload_rate_bps": o.upload_rate,
        "exempt": o.exempt,
    })
}

/// A device's state in one word: blocked, captive, online or throttled
/// (a session past its quota at the fair-use speed; one cut off to the
/// walled garden is captive).
pub fn device_state(v: &DeviceView) -> &'static str {
    match &v.session {
        _ if v.blocked => "blocked",
        None => "captive",
        Some(s) => match s.standing {
            Standing::Normal => "online",
            Standing::Throttled => "throttled",
            Standing::Cut => "captive",
        },
    }
}

/// A device as the admin's list shows it. Times are RFC 3339 in the site's
/// time zone `tz`, with `_unix` seconds beside them.
pub fn device_json(v: &DeviceView, now: i64, tz: &jiff::tz::TimeZone) -> Value {
    let time = |t: i64| rfc3339(t, tz);
    json!({
        "mac": v.mac.to_string(),
        "ip": v.ip.map(|ip| ip.to_string()),
        "state": device_state(v),
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

/// `2026-11-27T21:05:00+08:00`: unix seconds in the zone `tz`.
pub fn rfc3339(unix: i64, tz: &jiff::tz::TimeZone) -> String {
    let ts = jiff::Timestamp::from_second(unix).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const ALL: [QuotaKey; 7] = QuotaKey::ALL;

    #[test]
    fn human_and_number_forms_become_config_text() {
        let f = fields(
            json!({"daily_data": "1 GiB", "download_rate_bps": 3000000, "session_time_secs": 7200, "after_quota_rate": 0}),
        );
        let mut t: Vec<(&str, Option<String>, &str)> = quota_texts(&f, &ALL, &[])
            .unwrap()
            .into_iter()
            .map(|(k, text, field)| (k.name(), text, field))
            .collect();
        t.sort();
        assert_eq!(
            t,
            vec![
                ("after_quota_rate", Some("0".into()), "after_quota_rate"),
                ("daily_data", Some("1 GiB".into()), "daily_data"),
                (
                    "download_rate",
                    Some("3000000 bit/s".into()),
                    "download_rate_bps"
                ),
                ("session_time", Some("7200s".into()), "session_time_secs"),
            ]
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let err = |v: Value| match quota_texts(&fields(v), &ALL, &[]) {
            Err(OpError::BadInput { field, message }) => (field, message),
            other => panic!("{other:?}"),
        };
        let (field, message) = err(json!({"daly_data": "1 GiB"}));
        assert_eq!(field, "daly_data");
        assert!(
            message.starts_with(
                "unknown key (expected one of: daily_data, daily_data_bytes, session_time"
            ),
            "{message}"
        );
        assert_eq!(
            err(json!({"daily_data": "1 GiB", "daily_data_bytes": 5})).0,
            "daily_data_bytes"
        );
        assert_eq!(err(json!({"daily_data": true})).0, "daily_data");
        assert_eq!(err(json!({"daily_data_bytes": -1})).0, "daily_data_bytes");
        assert_eq!(err(json!({"daily_data_bytes": "5"})).0, "daily_data_bytes");
        assert_eq!(err(json!({"upload_rate": 1.5})).0, "upload_rate");
    }

    #[test]
    fn quota_json_round_trips_through_the_config_parser() {
        let q = Quota {
            daily_data: Size(1536 << 20),
            session_time: std::time::Duration::from_secs(5400),
            idle_timeout: std::time::Duration::from_secs(1800),
            download_rate: Rate(2_500_000),
            upload_rate: Rate(1_000_000),
            after_quota_rate: Rate(0),
            accounting_interval: std::time::Duration::from_secs(5),
        };
        let j = quota_json(&q);
        assert_eq!(j["daily_data"], "1.5 GiB");
        assert_eq!(j["daily_data_bytes"], 1536u64 << 20);
        assert_eq!(j["session_time"], "1h30m");
        let mut back = q.clone();
        for key in QuotaKey::ALL {
            back = config::parse_quota_field(&back, key, j[key.name()].as_str().unwrap()).unwrap();
        }
        assert_eq!(back, q);
    }

    #[test]
    fn times_are_local_rfc3339() {
        let tz = jiff::tz::TimeZone::get("Asia/Makassar").unwrap();
        let noon_utc = jiff::civil::date(2026, 11, 27)
            .at(12, 0, 0, 0)
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_second();
        assert_eq!(rfc3339(noon_utc, &tz), "2026-11-27T20:00:00+08:00");
        let jayapura = jiff::tz::TimeZone::get("Asia/Jayapura").unwrap();
        assert_eq!(rfc3339(noon_utc, &jayapura), "2026-11-27T21:00:00+09:00");
    }
}
