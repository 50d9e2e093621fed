//! The villages overview as data: one row per village known to the store,
//! trouble first. One query per measure for all villages at once (grouped
//! `by (village)`), run together, never one per village: the page costs
//! about its slowest query (docs/office.md, "The villages page's queries").

use std::collections::BTreeMap;

use jiff::tz::TimeZone;

use super::prom::{Prom, PromError, Series};
use crate::domain;

/// Every village ever heard from: the label values of `village` on this
/// selector (vmagent writes an `up` sample per scrape, whatever the answer).
pub const VILLAGE_SERIES: &str = r#"up{job=~"desawifi.*"}"#;

/// When each village was last heard from: the newest sample time of `up`.
/// A village heard within the lookback (5m) gets its last push's own time
/// from the instant `timestamp()`; only the others fall back to the 5m
/// subquery over `LAST_SEEN_DAYS`, whose steps never exceed the lookback (no
/// sample is stepped over) but stop at the last 5-minute mark: alone it
/// heard a push made since then only at the next mark, up to 6 minutes late
/// with one-minute pushes, and a reporting village showed as silent.
/// ({days} = LAST_SEEN_DAYS.)
pub const Q_LAST_SEEN: &str = r#"max by (village) (timestamp(up{job=~"desawifi.*"})) or max by (village) (max_over_time(timestamp(up{job=~"desawifi.*"})[{days}d:5m]))"#;

/// Internet now: the gateway's own uplink checks (1 up, 0 down); absent for a silent village.
pub const Q_INTERNET: &str = r#"min by (village) (desawifi_uplink_up{job=~"desawifi.*"})"#;

/// Phones online now, throttled ones included (the recording rule's definition).
pub const Q_PHONES: &str =
    r#"sum by (village) (desawifi_devices{job=~"desawifi.*", state=~"online|throttled"})"#;

/// Data today: the gateway's own day total, its last value since local
/// midnight ({since} = seconds since midnight), both directions.
pub const Q_TODAY: &str =
    r#"sum by (village) (last_over_time(desawifi_usage_today_bytes{job=~"desawifi.*"}[{since}s]))"#;

/// Data yesterday: the gateway's exact total of its previous local day, as
/// pushed since midnight (the same gauge the recording rules read).
pub const Q_YESTERDAY: &str = r#"sum by (village) (last_over_time(desawifi_usage_yesterday_bytes{job=~"desawifi.*"}[{since}s]))"#;

/// Bytes per category since local midnight (a counter since the daemon
/// started: increase() bridges restarts).
pub const Q_CATEGORIES: &str = r#"sum by (village, category) (increase(desawifi_category_bytes_total{job=~"desawifi.*"}[{since}s]))"#;

/// The policy version the gateway applied, last known within a week.
pub const Q_POLICY: &str =
    r#"max by (village) (last_over_time(desawifi_policy_version{job=~"desawifi.*"}[7d]))"#;

/// The software version(s) seen within a week (after an upgrade two; the highest wins).
pub const Q_VERSION: &str =
    r#"max by (village, version) (last_over_time(desawifi_info{job=~"desawifi.*"}[7d]))"#;

/// The daemon's last start, last known within a week.
pub const Q_STARTED: &str =
    r#"max by (village) (last_over_time(process_start_time_seconds{job=~"desawifi.*"}[7d]))"#;

/// How far back `Q_LAST_SEEN` looks (older silences show as "more than").
pub const LAST_SEEN_DAYS: i64 = 7;

/// How far back the village list looks (the store's retention at most).
pub const KNOWN_DAYS: i64 = 400;

/// A village heard from within this is reporting (vmagent pushes every
/// minute; five missed pushes make it silent).
pub const REPORTING_WITHIN: i64 = 5 * 60;

/// The categories free by the stock categories.toml (the gateway does not
/// export which are free: docs/office.md, "Missing gateway metrics").
pub const FREE_CATEGORIES: &[&str] = &["kesehatan", "pendidikan", "layanan_publik"];

/// One village now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VillageRow {
    pub village: String,
    /// The newest sample's time; `None`: nothing within `LAST_SEEN_DAYS`.
    pub last_seen: Option<i64>,
    /// Heard from within `REPORTING_WITHIN` of now.
    pub reporting: bool,
    /// `Some(true)` up, `Some(false)` down, `None` unknown (silent).
    pub internet: Option<bool>,
    pub phones_online: Option<u64>,
    pub bytes_today: Option<u64>,
    pub bytes_yesterday: Option<u64>,
    /// Today's bytes per category, largest first.
    pub categories_today: Vec<(String, u64)>,
    /// The free categories' share of today's categorised bytes, 0..=1.
    pub free_share: Option<f64>,
    pub policy_version: Option<u64>,
    pub software: Option<String>,
    pub started: Option<i64>,
}

impl VillageRow {
    /// 0 silent, 1 internet down, 2 the rest: the page's order.
    pub fn trouble_rank(&self) -> u8 {
        if !self.reporting {
            0
        } else if self.internet == Some(false) {
            1
        } else {
            2
        }
    }
}

/// The overview's measures for `now`, every village, trouble first.
pub async fn overview(
    prom: &Prom,
    now: i64,
    tz: &TimeZone,
    free: &[&str],
) -> Result<Vec<VillageRow>, PromError> {
    let q = queries(now, tz);
    let (known, seen, internet, phones, today, yesterday, cats, policy, version, started) = tokio::try_join!(
        prom.label_values("village", VILLAGE_SERIES, now - KNOWN_DAYS * 86_400, now),
        prom.query(&q[0], now),
        prom.query(&q[1], now),
        prom.query(&q[2], now),
        prom.query(&q[3], now),
        prom.query(&q[4], now),
        prom.query(&q[5], now),
        prom.query(&q[6], now),
        prom.query(&q[7], now),
        prom.query(&q[8], now),
    )?;
    let mut rows: BTreeMap<String, VillageRow> = known
        .into_iter()
        .filter(|v| !v.is_empty())
        .map(|v| {
            let row = VillageRow {
                village: v.clone(),
                ..VillageRow::default()
            };
            (v, row)
        })
        .collect();
    let mut each = |list: Vec<Series>, put: &mut dyn FnMut(&mut VillageRow, &Series, f64)| {
        for s in list {
            let (Some(v), name) = (s.value(), s.label("village").to_owned()) else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            let row = rows.entry(name.clone()).or_insert_with(|| VillageRow {
                village: name,
                ..VillageRow::default()
            });
            put(row, &s, v);
        }
    };
    each(seen, &mut |r, _, v| r.last_seen = Some(v.round() as i64));
    each(internet, &mut |r, _, v| r.internet = Some(v >= 1.0));
    each(phones, &mut |r, _, v| r.phones_online = Some(count(v)));
    each(today, &mut |r, _, v| r.bytes_today = Some(count(v)));
    each(yesterday, &mut |r, _, v| r.bytes_yesterday = Some(count(v)));
    each(cats, &mut |r, s, v| {
        r.categories_today
            .push((s.label("category").to_owned(), count(v)))
    });
    each(policy, &mut |r, _, v| r.policy_version = Some(count(v)));
    each(version, &mut |r, s, _| {
        let v = s.label("version").to_owned();
        if r.software.as_deref().is_none_or(|old| newer(&v, old)) {
            r.software = Some(v);
        }
    });
    each(started, &mut |r, _, v| r.started = Some(v.round() as i64));
    let mut out: Vec<VillageRow> = rows.into_values().collect();
    for r in &mut out {
        r.reporting = r.last_seen.is_some_and(|t| now - t <= REPORTING_WITHIN);
        if !r.reporting {
            // A silent village's "now" is not known: what it last said is stale.
            r.internet = None;
            r.phones_online = None;
        }
        r.categories_today.retain(|(_, n)| *n > 0);
        r.categories_today
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let total: u64 = r.categories_today.iter().map(|c| c.1).sum();
        let free_bytes: u64 = r
            .categories_today
            .iter()
            .filter(|c| free.contains(&c.0.as_str()))
            .map(|c| c.1)
            .sum();
        r.free_share = (total > 0).then(|| free_bytes as f64 / total as f64);
    }
    out.sort_by(|a, b| {
        a.trouble_rank()
            .cmp(&b.trouble_rank())
            .then_with(|| a.village.cmp(&b.village))
    });
    Ok(out)
}

/// The overview's instant queries at `now`, as sent (after the village
/// list's label-values request), in the order `overview` reads them: for the
/// benchmark that compares the page with the sum of its raw queries.
pub fn queries(now: i64, tz: &TimeZone) -> [String; 9] {
    let since = (now - (domain::next_midnight(now, tz) - 86_400)).max(1);
    [
        Q_LAST_SEEN,
        Q_INTERNET,
        Q_PHONES,
        Q_TODAY,
        Q_YESTERDAY,
        Q_CATEGORIES,
        Q_POLICY,
        Q_VERSION,
        Q_STARTED,
    ]
    .map(|q| {
        q.replace("{since}", &since.to_string())
            .replace("{days}", &LAST_SEEN_DAYS.to_string())
    })
}

/// A gauge or an increase as a whole count (increase() may be fractional).
pub fn count(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v.round() as u64
    } else {
        0
    }
}

/// `a` is a higher version than `b` ("0.10.0" > "0.9.1"), by numeric parts.
fn newer(a: &str, b: &str) -> bool {
    let parts = |s: &str| -> Vec<u64> {
        s.split(['.', '-', '+'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(a) > parts(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trouble_sorts_first_and_versions_compare_by_number() {
        let row = |name: &str, reporting, internet| VillageRow {
            village: name.into(),
            reporting,
            internet,
            ..VillageRow::default()
        };
        let mut rows = [
            row("A", true, Some(true)),
            row("B", true, Some(false)),
            row("C", false, None),
        ];
        rows.sort_by_key(|r| r.trouble_rank());
        let names: Vec<_> = rows.iter().map(|r| r.village.as_str()).collect();
        assert_eq!(names, ["C", "B", "A"]);
        assert!(newer("0.10.0", "0.9.1") && !newer("0.9.1", "0.10.0"));
        assert_eq!(count(f64::NAN), 0);
        assert_eq!(count(2.6), 3);
    }

    #[test]
    fn every_query_groups_by_village_and_counts_from_local_midnight() {
        let tz = TimeZone::get("Asia/Makassar").unwrap();
        // 2026-11-27 10:00 in Makassar (UTC+8) is 02:00 UTC.
        let now = 1_795_744_800;
        assert_eq!(domain::local_hhmm(now, &tz), "10:00");
        for q in queries(now, &tz) {
            assert!(q.contains("by (village"), "{q}");
            assert!(!q.contains("{since}") && !q.contains("{days}"), "{q}");
        }
        assert!(queries(now, &tz)[3].contains("[36000s]"));
        assert!(queries(now, &tz)[0].contains("[7d:5m]"));
    }
}
