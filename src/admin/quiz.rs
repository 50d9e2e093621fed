//! `GET /api/quiz?from=&to=`: the literacy quiz per site and per day, by
//! pillar (questions shown, answered, right), for the regency. Nothing in
//! it names or counts a device: the gateway keeps only these sums.

use serde_json::{json, Map, Value};

use super::core::{Admin, OpError};
use crate::domain::{day_string, next_day};
use crate::telemetry::QUIZ_PILLARS;

/// The report for the days `from..=to` (every day listed, every pillar
/// present, zeros included, so a chart needs no gaps filled).
pub fn report(admin: &Admin, from: u32, to: u32) -> Result<Value, OpError> {
    let stored = admin.gateway.quiz_days(from, to)?;
    let mut days = Vec::new();
    let mut day = from;
    loop {
        let stats = stored.iter().find(|(d, _)| *d == day).map(|(_, s)| s);
        let mut pillars = Map::new();
        let (mut shown, mut answered, mut right) = (0, 0, 0);
        for p in QUIZ_PILLARS {
            let c = stats
                .and_then(|s| s.pillars.get(p))
                .copied()
                .unwrap_or_default();
            shown += c.shown;
            answered += c.answered;
            right += c.right;
            pillars.insert(
                p.to_owned(),
                json!({ "shown": c.shown, "answered": c.answered, "right": c.right }),
            );
        }
        days.push(json!({
            "date": day_string(day),
            "shown": shown,
            "answered": answered,
            "right": right,
            "pillars": pillars,
        }));
        match next_day(day) {
            Some(next) if next <= to => day = next,
            _ => break,
        }
    }
    Ok(json!({
        "site": admin.gateway.config().site.name,
        "from": day_string(from),
        "to": day_string(to),
        "days": days,
    }))
}
