//! The dashboard's village card: the opening hours (with the form that
//! changes them, through the same `admin::schedule` operation as the API),
//! the trusted devices listed apart, and today's literacy quiz by pillar.

use serde_json::{Map, Value};

use super::Console;
use crate::accounts::Principal;
use crate::admin::core::{Admin, OpError};
use crate::admin::schedule;
use crate::domain::Opening;
use crate::lang::Language;
use crate::telemetry::QUIZ_PILLARS;
use crate::web::form::form_value;
use crate::web::http::escape_html;

/// The card's HTML; `csrf` is the session's token when the account may
/// change things (viewers get no form).
pub fn village_html(
    admin: &Admin,
    console: &Console,
    lang: Language,
    csrf: Option<&str>,
) -> String {
    let t = |k: &'static str| escape_html(console.text(lang, k));
    let gw = &admin.gateway;
    let s = gw.schedule();
    let state = match gw.opening() {
        None => t("schedule_always"),
        Some(Opening::Open { .. }) => t("schedule_open_now"),
        Some(Opening::Closed { .. }) => t("schedule_closed_now"),
    };
    let open = s.hours.map(|h| h.open.to_string()).unwrap_or_default();
    let close = s.hours.map(|h| h.close.to_string()).unwrap_or_default();
    let mut out = format!(
        "<section class=\"card wide\" id=\"village\"><h2>{}</h2><p id=\"schedule-state\">{state}{}</p>",
        t("schedule_title"),
        if s.hours.is_some() {
            format!(" ({} – {})", escape_html(&open), escape_html(&close))
        } else {
            String::new()
        }
    );
    if let Some(csrf) = csrf {
        out.push_str(&format!(
            "<form method=\"post\" action=\"/schedule\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <label>{} <input name=\"open\" value=\"{}\" placeholder=\"06:00\" size=\"5\"></label> \
             <label>{} <input name=\"close\" value=\"{}\" placeholder=\"22:00\" size=\"5\"></label> \
             <label><input type=\"checkbox\" name=\"garden_always_open\" value=\"1\"{}> {}</label> \
             <button class=\"btn\" type=\"submit\">{}</button></form>",
            escape_html(csrf),
            t("schedule_open"),
            escape_html(&open),
            t("schedule_close"),
            escape_html(&close),
            if s.garden_always_open { " checked" } else { "" },
            t("schedule_garden"),
            t("schedule_save"),
        ));
    }
    out.push_str(&format!("<h2>{}</h2>", t("trusted_title")));
    let trusted = gw.trusted_devices();
    if trusted.is_empty() {
        out.push_str(&format!("<p class=\"sub\">{}</p>", t("trusted_none")));
    } else {
        out.push_str("<ul id=\"trusted\">");
        for (mac, why) in trusted {
            out.push_str(&format!(
                "<li><code>{}</code> ({})</li>",
                escape_html(&mac.to_string()),
                why.as_str()
            ));
        }
        out.push_str("</ul>");
    }
    let today = admin.today();
    let stats = gw.quiz_days(today, today).unwrap_or_default();
    out.push_str(&format!(
        "<h2>{}</h2><table id=\"quiz\"><thead><tr><th></th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr></thead><tbody>",
        t("quiz_title"),
        t("quiz_shown"),
        t("quiz_answered"),
        t("quiz_right"),
    ));
    for p in QUIZ_PILLARS {
        let c = stats
            .first()
            .and_then(|(_, s)| s.pillars.get(p))
            .copied()
            .unwrap_or_default();
        out.push_str(&format!(
            "<tr><td>{p}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            c.shown, c.answered, c.right
        ));
    }
    out.push_str("</tbody></table></section>");
    out
}

/// The schedule form, as the API's fields: empty open and close mean
/// always open; the checkbox is `garden_always_open`.
pub async fn save_schedule(
    admin: &Admin,
    who: &Principal,
    form: &[(String, String)],
) -> Result<(), OpError> {
    let value = |k: &str| form_value(form, k).map(str::trim).unwrap_or("");
    let time = |k: &str| match value(k) {
        "" => Value::Null,
        v => Value::String(v.to_owned()),
    };
    let mut fields = Map::new();
    fields.insert("open".into(), time("open"));
    fields.insert("close".into(), time("close"));
    fields.insert(
        "garden_always_open".into(),
        Value::Bool(!value("garden_always_open").is_empty()),
    );
    schedule::set_schedule(admin, who, &fields)
        .await
        .map(|_| ())
}
