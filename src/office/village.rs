//! One village's last 30 complete local days as data: range queries with a
//! one-day step whose evaluation times are local midnights (the ends of the
//! days), one query per measure (docs/office.md, "A village's 30 days").
//!
//! A one-day step is aligned to midnight only in a zone without daylight
//! saving time, which all of Indonesia's are.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;

use super::charts::{self, Unit};
use super::prom::{quote, Prom, PromError, Series};
use super::villages::count;
use crate::domain;

/// A day's data total: the gateway's exact `usage_yesterday` gauge as
/// pushed during the FOLLOWING day (evaluated one day after the day ends;
/// `offset 1s` keeps the next midnight's sample, already a day further, out).
pub const Q_DAY_BYTES: &str = r#"sum(last_over_time(desawifi_usage_yesterday_bytes{job=~"desawifi.*", village={v}}[1d] offset 1s))"#;

/// Yesterday's total, pushed since today's midnight ({since} seconds ago):
/// the last day, whose next day is not over.
pub const Q_YESTERDAY_BYTES: &str = r#"sum(last_over_time(desawifi_usage_yesterday_bytes{job=~"desawifi.*", village={v}}[{since}s]))"#;

/// The day's peak of phones online (throttled included), sampled every
/// 5 minutes (distinct phones per day are not exported: docs/office.md).
pub const Q_DAY_PHONES: &str = r#"max_over_time(sum(desawifi_devices{job=~"desawifi.*", village={v}, state=~"online|throttled"})[1d:5m] offset 1s)"#;

/// Hours the gateway found its internet down during the day, as the share
/// of its uplink samples that were 0 (hours it sent nothing count in none).
pub const Q_DAY_OFFLINE: &str = r#"24 * (1 - avg(avg_over_time(desawifi_uplink_up{job=~"desawifi.*", village={v}}[1d] offset 1s)))"#;

/// Bytes per category during the day (a counter since the daemon started).
pub const Q_DAY_CATEGORIES: &str = r#"sum by (category) (increase(desawifi_category_bytes_total{job=~"desawifi.*", village={v}}[1d]))"#;

/// Quiz answers during the day, by pillar and result (right, wrong).
pub const Q_DAY_QUIZ: &str = r#"sum by (pillar, result) (increase(desawifi_quiz_answers_total{job=~"desawifi.*", village={v}}[1d]))"#;

/// How many days a village's page shows.
pub const DAYS: usize = 30;

/// One local day of a village.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Day {
    /// The local day, 20261127.
    pub day: u32,
    pub bytes: Option<u64>,
    pub phones_peak: Option<u64>,
    pub hours_offline: Option<f64>,
    /// Bytes per category, largest first (zeros left out).
    pub categories: Vec<(String, u64)>,
    /// (pillar, right, wrong).
    pub quiz: Vec<(String, u64, u64)>,
}

/// A village's last `DAYS` complete local days, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VillageDays {
    pub village: String,
    pub days: Vec<Day>,
}

impl VillageDays {
    /// Quiz answers over the days by pillar: (pillar, right, wrong).
    pub fn quiz_totals(&self) -> Vec<(String, u64, u64)> {
        let mut sum: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for d in &self.days {
            for (p, r, w) in &d.quiz {
                let e = sum.entry(p).or_default();
                e.0 += r;
                e.1 += w;
            }
        }
        sum.into_iter()
            .map(|(p, (r, w))| (p.to_owned(), r, w))
            .collect()
    }
}

/// A village page's charts, SVG strings ready to embed.
#[derive(Debug, Clone, PartialEq)]
pub struct Charts {
    pub bytes: String,
    pub phones: String,
    pub offline: String,
    pub categories: String,
    pub quiz: String,
}

impl VillageDays {
    /// The days as charts (Indonesian titles; the page gives the English ones later).
    pub fn charts(&self) -> Charts {
        let v = &self.village;
        let bars = |f: &dyn Fn(&Day) -> Option<f64>| -> Vec<(String, Option<f64>)> {
            self.days.iter().map(|d| (day_label(d.day), f(d))).collect()
        };
        let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
        for d in &self.days {
            for (c, n) in &d.categories {
                *totals.entry(c).or_default() += n;
            }
        }
        let mut order: Vec<(&str, u64)> = totals.into_iter().collect();
        order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let order: Vec<String> = order.into_iter().map(|c| c.0.to_owned()).collect();
        let stacked: Vec<(String, Vec<(String, u64)>)> = self
            .days
            .iter()
            .map(|d| (day_label(d.day), d.categories.clone()))
            .collect();
        let quiz: Vec<(String, Option<f64>)> = self
            .quiz_totals()
            .into_iter()
            .map(|(p, right, _)| (p, Some(right as f64)))
            .collect();
        Charts {
            bytes: charts::bar_chart(
                "data",
                &format!("{v}: data per hari"),
                Unit::Bytes,
                &bars(&|d| d.bytes.map(|b| b as f64)),
            ),
            phones: charts::bar_chart(
                "ponsel",
                &format!("{v}: ponsel online terbanyak per hari"),
                Unit::Count,
                &bars(&|d| d.phones_peak.map(|n| n as f64)),
            ),
            offline: charts::bar_chart(
                "luring",
                &format!("{v}: jam tanpa internet per hari"),
                Unit::Hours,
                &bars(&|d| d.hours_offline),
            ),
            categories: charts::stacked_bars(
                "kategori",
                &format!("{v}: data per kategori per hari"),
                &order,
                &stacked,
            ),
            quiz: charts::bar_chart(
                "kuis",
                &format!("{v}: jawaban kuis benar per pilar, {DAYS} hari"),
                Unit::Count,
                &quiz,
            ),
        }
    }
}

/// A local day (20261127) as a chart's label: "27 Nov" (Indonesian months).
pub fn day_label(day: u32) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des",
    ];
    let month = (day / 100 % 100) as usize;
    match MONTHS.get(month.wrapping_sub(1)) {
        Some(m) => format!("{} {m}", day % 100),
        None => day.to_string(),
    }
}

/// The page's queries for `village` at `now`, as sent, in the order
/// `last_days` reads them (for the benchmark that compares the page with
/// the sum of its raw queries): the first and the last three are range
/// queries with a one-day step, the second an instant query at `now`.
pub fn queries(village: &str, now: i64, tz: &TimeZone) -> [String; 6] {
    let since = (now - (domain::next_midnight(now, tz) - 86_400)).max(1);
    [
        Q_DAY_BYTES,
        Q_YESTERDAY_BYTES,
        Q_DAY_PHONES,
        Q_DAY_OFFLINE,
        Q_DAY_CATEGORIES,
        Q_DAY_QUIZ,
    ]
    .map(|q| {
        q.replace("{v}", &quote(village))
            .replace("{since}", &since.to_string())
    })
}

/// `village`'s last `DAYS` complete local days before `now`'s.
pub async fn last_days(
    prom: &Prom,
    village: &str,
    now: i64,
    tz: &TimeZone,
) -> Result<VillageDays, PromError> {
    const DAY: i64 = 86_400;
    let today = domain::next_midnight(now, tz) - DAY;
    // Evaluation times: the ends of the days, oldest first.
    let (first_end, last_end) = (today - (DAYS as i64 - 1) * DAY, today);
    let q = queries(village, now, tz);
    let (bytes, yesterday, phones, offline, cats, quiz) = tokio::try_join!(
        prom.query_range(&q[0], first_end + DAY, last_end, DAY),
        prom.query(&q[1], now),
        prom.query_range(&q[2], first_end, last_end, DAY),
        prom.query_range(&q[3], first_end, last_end, DAY),
        prom.query_range(&q[4], first_end, last_end, DAY),
        prom.query_range(&q[5], first_end, last_end, DAY),
    )?;
    let mut days: Vec<Day> = (0..DAYS as i64)
        .map(|i| Day {
            day: domain::local_day(first_end + i * DAY - 1, tz),
            ..Day::default()
        })
        .collect();
    // The day that ENDS at `t` (bytes: the day ending a day before `t`).
    let index = |t: i64| -> Option<usize> {
        let i = (t - first_end).div_euclid(DAY);
        ((t - first_end).rem_euclid(DAY) == 0 && (0..DAYS as i64).contains(&i))
            .then_some(i as usize)
    };
    let mut each = |list: &[Series], shift: i64, put: &mut dyn FnMut(&mut Day, &Series, f64)| {
        for s in list {
            for &(t, v) in &s.samples {
                if let (Some(i), true) = (index(t - shift), v.is_finite()) {
                    put(&mut days[i], s, v);
                }
            }
        }
    };
    each(&bytes, DAY, &mut |d, _, v| d.bytes = Some(count(v)));
    each(&phones, 0, &mut |d, _, v| d.phones_peak = Some(count(v)));
    each(&offline, 0, &mut |d, _, v| {
        d.hours_offline = Some((v * 100.0).round() / 100.0)
    });
    each(&cats, 0, &mut |d, s, v| {
        if count(v) > 0 {
            d.categories
                .push((s.label("category").to_owned(), count(v)))
        }
    });
    each(&quiz, 0, &mut |d, s, v| {
        let pillar = s.label("pillar").to_owned();
        let at = match d.quiz.iter().position(|q| q.0 == pillar) {
            Some(at) => at,
            None => {
                d.quiz.push((pillar, 0, 0));
                d.quiz.len() - 1
            }
        };
        match s.label("result") {
            "right" => d.quiz[at].1 += count(v),
            "wrong" => d.quiz[at].2 += count(v),
            _ => {}
        }
    });
    if let (Some(last), Some(v)) = (days.last_mut(), yesterday.first().and_then(Series::value)) {
        last.bytes = Some(count(v));
    }
    for d in &mut days {
        d.categories
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        d.quiz.sort();
    }
    Ok(VillageDays {
        village: village.to_owned(),
        days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_odd_village_name_stays_inside_its_matcher() {
        let tz = TimeZone::get("Asia/Makassar").unwrap();
        let evil = r#"Desa "X"\"} or up{a=""#;
        for q in queries(evil, 1_795_744_800, &tz) {
            assert!(q.contains(r#"village="Desa \"X\"\\\"} or up{a=\"""#), "{q}");
            assert!(!q.contains("{v}") && !q.contains("{since}"), "{q}");
        }
    }

    #[test]
    fn the_days_make_escaped_charts_with_indonesian_days() {
        assert_eq!(day_label(20261127), "27 Nov");
        assert_eq!(day_label(20260805), "5 Agu");
        assert_eq!(day_label(20261327), "20261327");
        let days = (1..=DAYS as u32)
            .map(|i| Day {
                day: 20261100 + i,
                bytes: (i != 3).then_some(u64::from(i) * 100_000_000),
                phones_peak: Some(u64::from(i)),
                hours_offline: Some(if i == 5 { 2.5 } else { 0.0 }),
                categories: vec![("pendidikan".into(), 10), ("<lain>".into(), 5)],
                quiz: vec![("aman".into(), 2, 1), ("cakap".into(), 1, 0)],
            })
            .collect();
        let v = VillageDays {
            village: "Desa <A&B>".into(),
            days,
        };
        let c = v.charts();
        for svg in [&c.bytes, &c.phones, &c.offline, &c.categories, &c.quiz] {
            assert!(
                svg.contains("Desa &lt;A&amp;B&gt;") && !svg.contains("<A&"),
                "{svg}"
            );
        }
        assert_eq!(c.bytes.matches("<rect").count(), DAYS);
        assert!(c.bytes.contains("3 Nov: tidak ada data"));
        assert!(c.bytes.contains("30 Nov: 3 GB"), "{}", c.bytes);
        assert!(c.offline.contains("5 Nov: 2,5 jam"));
        assert!(c.categories.contains("&lt;lain&gt;") && !c.categories.contains("<lain>"));
        assert!(
            c.quiz.contains("aman: 60") && c.quiz.contains("cakap: 30"),
            "{}",
            c.quiz
        );
    }
}
