//! The dashboard's regency card (issue 14): the signed policy in force (its
//! version, when it was applied and last fetched, until when it is valid),
//! the last refusal and its reason, and for each setting the policy names
//! whether the regency's value is in force or a local admin's override.
//! Nothing when `[fleet] policy_url` is not set and no policy was ever applied.

use super::{local_datetime, Console};
use crate::admin::core::Admin;
use crate::admin::policy;
use crate::lang::Language;
use crate::web::http::escape_html;

/// The card's HTML (empty when this village has no regency policy).
pub fn regency_html(admin: &Admin, console: &Console, lang: Language) -> String {
    let s = admin.policy.get();
    if !s.configured && s.policy.is_none() {
        return String::new();
    }
    let t = |k: &'static str| escape_html(console.text(lang, k));
    let tz = &admin.gateway.config().site.timezone;
    let when = |at: Option<i64>| {
        at.map_or_else(
            || t("policy_never"),
            |at| escape_html(&local_datetime(at, tz)),
        )
    };
    let mut out = format!(
        "<section class=\"card wide\" id=\"regency\"><h2>{}</h2><dl class=\"stats\">",
        t("policy_title")
    );
    let version = s
        .policy
        .as_ref()
        .map_or_else(|| t("policy_none"), |p| format!("v{}", p.version));
    let expires = s
        .policy
        .as_ref()
        .map_or_else(String::new, |p| escape_html(&p.expires_text));
    for (label, value, id) in [
        ("policy_version", version, "policy-version"),
        ("policy_applied", when(s.applied_at), "policy-applied"),
        ("policy_fetched", when(s.fetched_at), "policy-fetched"),
        ("policy_expires", expires, "policy-expires"),
    ] {
        out.push_str(&format!(
            "<div><dt>{}</dt><dd id=\"{id}\">{value}</dd></div>",
            t(label)
        ));
    }
    out.push_str("</dl>");
    if let Some(r) = &s.refusal {
        out.push_str(&format!(
            "<p class=\"uplink down\" role=\"alert\" id=\"policy-refusal\">{}: <code>{}</code> {} ({})</p>",
            t("policy_refused"),
            escape_html(r.reason.label()),
            escape_html(&r.message),
            escape_html(&local_datetime(r.at, tz)),
        ));
    }
    if let Some(p) = &s.policy {
        let settings = policy::settings(admin, p);
        if !settings.is_empty() {
            out.push_str(&format!(
                "<table id=\"policy-settings\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
                t("policy_key"),
                t("policy_regency_value"),
                t("policy_now"),
                t("policy_source"),
            ));
            for x in settings {
                let source = if x.local_override {
                    t("policy_local")
                } else {
                    t("policy_from_regency")
                };
                out.push_str(&format!(
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"{}\">{source}</td></tr>",
                    escape_html(&x.key),
                    escape_html(&x.regency),
                    escape_html(&x.now),
                    if x.local_override { "local" } else { "regency" },
                ));
            }
            out.push_str("</tbody></table>");
        }
    }
    out.push_str(&format!(
        "<p class=\"sub\">{}</p></section>",
        t("policy_rule")
    ));
    out
}
