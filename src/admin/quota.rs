//! Quota (`/api/quota`, `/api/devices/{mac}/quota`): the site's defaults
//! and a device's overrides, shared by the JSON API, the console and the
//! regency policy so all enforce the same rules. Each change checks the
//! role, validates all of its input before touching anything (nothing
//! half-applied), makes the change through the gateway core (store first,
//! then firewall) and appends an audit entry (who, what, old -> new).
//!
//! Values are accepted in the config file's human form (`"1 GiB"`,
//! `"2 Mbit/s"`, `"4h"`) and validated by the same parser as the file
//! ([`config::parse_quota_field`]), or as plain numbers under `_bytes`,
//! `_bps` and `_secs` names; answers give both forms.

use serde_json::{json, Map, Value};

use super::core::views::{override_json, quota_json};
use super::core::{audited, may_change, Admin, OpError};
use crate::accounts::Principal;
use crate::config::{self, Quota, QuotaKey, QuotaKind};
use crate::domain::{AuditAction, Mac, QuotaOverride, Rate, Size};

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
        AuditAction::QuotaSet,
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
        AuditAction::DeviceQuotaSet,
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
    admin.known(mac)?;
    let old = admin
        .gateway
        .set_quota_override(mac, QuotaOverride::default())
        .await?;
    audited(
        admin,
        who,
        AuditAction::DeviceQuotaClear,
        &mac.to_string(),
        override_json(&old),
        override_json(&QuotaOverride::default()),
    )
    .await?;
    Ok(QuotaOverride::default())
}

/// A device's overrides and what applies to it with them (`GET /api/devices/{mac}/quota`).
pub fn device_quota_json(admin: &Admin, mac: Mac) -> Result<Value, OpError> {
    let view = admin.gateway.view(mac)?;
    let limits = crate::quota::Limits::new(&admin.gateway.quota(), &view.quota);
    let effective = json!({
        "daily_data": if limits.exempt { None } else { Some(Size(limits.daily_data).to_string()) },
        "daily_data_bytes": if limits.exempt { None } else { Some(limits.daily_data) },
        "download_rate": Rate(limits.download_rate).to_string(),
        "download_rate_bps": limits.download_rate,
        "upload_rate": Rate(limits.upload_rate).to_string(),
        "upload_rate_bps": limits.upload_rate,
        "exempt": limits.exempt,
    });
    Ok(
        json!({ "mac": mac.to_string(), "override": override_json(&view.quota), "effective": effective }),
    )
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
}
