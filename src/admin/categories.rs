//! "Dipakai untuk apa" (what for): the village's bytes per local day and
//! usage category, as JSON, CSV and the console's picture. Site-wide by
//! construction: the gateway hands over per-category totals only, so no
//! answer here can hold a MAC or an address.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::core::{audited, may_change, Admin, OpError};
use crate::accounts::Principal;
use crate::domain::{day_string, next_day, AuditAction, DailyUsage};
use crate::gateway::Gateway;

/// One day of the report: (store day number, bytes per category in order).
pub type ReportDay = (u32, Vec<(String, DailyUsage)>);

/// Every day in `from..=to`, every category each day (zeros included),
/// in the gateway's category order with `lainnya` last.
pub fn report(gw: &Gateway, from: u32, to: u32) -> Result<Vec<ReportDay>, OpError> {
    let ids = gw.category_ids();
    let stored = gw.category_usage_between(from, to)?;
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        let have = stored.get(&day);
        let row = ids
            .iter()
            .map(|id| {
                let usage = have.and_then(|m| m.get(id)).copied().unwrap_or_default();
                (id.clone(), usage)
            })
            .collect();
        out.push((day, row));
        day = next_day(day).ok_or_else(|| OpError::Internal(format!("no day after {day}")))?;
    }
    Ok(out)
}

/// `{"days":[{"day":"2026-12-01","categories":{"video":{"download":1,"upload":2},...}}]}`
pub fn json(days: &[ReportDay]) -> Value {
    let days: Vec<Value> = days
        .iter()
        .map(|(day, cats)| {
            let mut m = Map::new();
            for (id, u) in cats {
                m.insert(
                    id.clone(),
                    json!({ "download": u.download, "upload": u.upload }),
                );
            }
            json!({ "day": day_string(*day), "categories": m })
        })
        .collect();
    json!({ "days": days })
}

/// One row per day and category, with a header (RFC 4180 line ends).
pub fn csv(days: &[ReportDay]) -> String {
    let mut out = String::from("day,category,download,upload\r\n");
    for (day, cats) in days {
        for (id, u) in cats {
            out.push_str(&format!(
                "{},{id},{},{}\r\n",
                day_string(*day),
                u.download,
                u.upload
            ));
        }
    }
    out
}

/// `{"free": ["kesehatan", ...], "categories": ["kesehatan", ..., "lainnya"]}`.
pub fn free_json(gw: &Gateway) -> Value {
    let free = gw.free_categories();
    let ids: Vec<String> = gw.category_ids();
    let free: Vec<&String> = ids.iter().filter(|id| free.contains(*id)).collect();
    json!({ "free": free, "categories": ids })
}

/// `PUT /api/usage/free` with `{"free": ["layanan_publik", ...]}`: exactly
/// these categories cost no quota from now on (admin only, audited).
pub async fn set_free(
    admin: &Admin,
    who: &Principal,
    fields: &Map<String, Value>,
) -> Result<Value, OpError> {
    may_change(who)?;
    if let Some(k) = fields.keys().find(|k| *k != "free") {
        return Err(OpError::bad(k, "unknown key (expected: free)"));
    }
    let list = fields
        .get("free")
        .and_then(Value::as_array)
        .ok_or_else(|| OpError::bad("free", "a list of category ids, e.g. [\"layanan_publik\"]"))?;
    let gw = &admin.gateway;
    let known: Vec<String> = gw
        .config()
        .usage
        .categories
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let mut ids = BTreeSet::new();
    for v in list {
        let id = v
            .as_str()
            .filter(|id| known.iter().any(|k| k == id))
            .ok_or_else(|| {
                OpError::bad(
                    "free",
                    format!("{v} is not a category (one of: {})", known.join(", ")),
                )
            })?;
        ids.insert(id.to_owned());
    }
    let (old, new) = gw.change_free_categories(ids).await?;
    audited(
        admin,
        who,
        AuditAction::UsageFree,
        "site",
        json!(old),
        json!(new),
    )
    .await?;
    Ok(free_json(gw))
}

/// Shares of `days` summed, per category, in percent (for the console).
pub fn shares(days: &[ReportDay]) -> BTreeMap<String, f64> {
    let mut sum: BTreeMap<String, u64> = BTreeMap::new();
    for (_, cats) in days {
        for (id, u) in cats {
            *sum.entry(id.clone()).or_default() += u.total();
        }
    }
    let total: u64 = sum.values().sum();
    sum.into_iter()
        .map(|(id, b)| {
            let p = if total == 0 {
                0.0
            } else {
                b as f64 * 100.0 / total as f64
            };
            (id, p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_csv_have_every_category_every_day() {
        let days = vec![(
            20261201,
            vec![
                (
                    "video".to_owned(),
                    DailyUsage {
                        download: 123,
                        upload: 45,
                        free: 0,
                    },
                ),
                ("lainnya".to_owned(), DailyUsage::default()),
            ],
        )];
        assert_eq!(
            json(&days).to_string(),
            r#"{"days":[{"categories":{"lainnya":{"download":0,"upload":0},"video":{"download":123,"upload":45}},"day":"2026-12-01"}]}"#
        );
        assert_eq!(
            csv(&days),
            "day,category,download,upload\r\n2026-12-01,video,123,45\r\n2026-12-01,lainnya,0,0\r\n"
        );
        let s = shares(&days);
        assert!((s["video"] - 100.0).abs() < 1e-9 && s["lainnya"] == 0.0);
    }
}
