//! The two informational portal pages, both reachable while captive:
//! `/info` (RFC 8908's venue-info page: what a villager can open by name,
//! what costs no quota, the tips) and `/privasi` (the privacy notice: what
//! the router keeps about a phone, for how long, who sees it, whom to ask).
//! Rendering only; the routes wrap the page in a response.

use std::time::Duration;

use super::ui::Page;
use super::Portal;
use crate::domain::OutageCause;
use crate::lang::Language;
use crate::uplink::UplinkState;
use crate::web::http::escape_html;

/// Example sites shown per free category: enough to recognise it, few
/// enough to keep the page short.
const EXAMPLES: usize = 4;

/// Indonesia's second-level domains (PANDI): `go.id` in a list means every
/// government site, so it reads "every site ending in .go.id", not as a site.
const ID_SECOND_LEVEL: &[&str] = &[
    "ac", "biz", "co", "desa", "go", "mil", "my", "net", "or", "ponpes", "sch", "web",
];

/// Is `domain` a bare ending (`go.id`, `sch.id`) rather than a site?
fn is_ending(domain: &str) -> bool {
    domain
        .strip_suffix(".id")
        .is_some_and(|sld| ID_SECOND_LEVEL.contains(&sld))
}

/// A list's domains as a villager reads them: up to `max` sites (a name
/// under an already shown one is skipped: `satusehat.kemkes.go.id` after
/// `kemkes.go.id`), and the bare endings apart (`.go.id`).
fn by_name(domains: &[String], max: usize) -> (Vec<&str>, Vec<String>) {
    let mut sites: Vec<&str> = Vec::new();
    let mut endings = Vec::new();
    for d in domains {
        if is_ending(d) {
            endings.push(format!(".{d}"));
        } else if sites.len() < max
            && !sites
                .iter()
                .any(|s| d.strip_suffix(s).is_some_and(|p| p.ends_with('.')))
        {
            sites.push(d);
        }
    }
    (sites, endings)
}

/// "every site ending in .go.id, .desa.id", in the page's language.
fn endings_text(portal: &Portal, lang: Language, endings: &[String]) -> String {
    portal
        .ui
        .text_with(lang, "info_suffix", &[("suffixes", &endings.join(", "))])
}

/// While the uplink is down: the notice that it is the village's internet, not
/// the phone, since when (the local time, with the date when not today) and
/// the cause where the gateway knows it (issue 24). Empty while it is up.
pub(super) fn uplink_notice(portal: &Portal, lang: Language) -> String {
    let UplinkState::Down { since } = *portal.uplink.borrow() else {
        return String::new();
    };
    let tz = &portal.gateway.config().site.timezone;
    let mut when = crate::domain::local_hhmm(since, tz);
    let now = portal.gateway.now();
    if crate::domain::local_day(since, tz) != crate::domain::local_day(now, tz) {
        let day = crate::domain::day_string(crate::domain::local_day(since, tz));
        when = format!("{day} {when}");
    }
    let cause = match portal.gateway.uplink_down_cause(since) {
        OutageCause::Power | OutageCause::Battery => "uplink_cause_power",
        _ => "uplink_cause_internet",
    };
    super::ui::notice_html(&format!(
        "{} ({}) {}",
        portal.ui.text(lang, "uplink_down"),
        portal
            .ui
            .text_with(lang, "uplink_since", &[("time", &when)]),
        portal.ui.text(lang, cause)
    ))
}

/// RFC 8908's venue-info page (`/info`): with the uplink notice while it is down.
pub(super) fn info(portal: &Portal, lang: Language) -> String {
    let config = portal.gateway.config();
    let li = |text: &str| format!("<li>{}</li>", escape_html(text));

    // The walled garden, by name: every domain the village listed.
    let (sites, endings) = by_name(&config.walled_garden.domains, usize::MAX);
    let mut services: String = sites.iter().map(|s| li(s)).collect();
    if !endings.is_empty() {
        services.push_str(&li(&endings_text(portal, lang, &endings)));
    }
    // Address blocks (the village's and the regency policy's) mean nothing to
    // a villager: one small line for the technician.
    let addresses: Vec<String> = portal
        .gateway
        .garden_addresses()
        .iter()
        .map(|a| a.to_string())
        .collect();
    let technician = if addresses.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"tech\">{} {}</p>",
            escape_html(portal.ui.text(lang, "info_technician")),
            escape_html(&addresses.join(", "))
        )
    };
    if services.is_empty() {
        services = li(portal.ui.text(lang, "info_no_services"));
    }

    // The categories free now (an admin may have changed the config's
    // choice), in the list's order: the Indonesian name and a few sites.
    let free_now = portal.gateway.free_categories();
    let mut free: String = config
        .usage
        .categories
        .iter()
        .filter(|c| free_now.contains(&c.id))
        .map(|c| {
            let (sites, endings) = by_name(&c.domains, EXAMPLES);
            let mut examples = sites.join(", ");
            if !endings.is_empty() {
                if !examples.is_empty() {
                    examples.push_str(", ");
                }
                examples.push_str(&endings_text(portal, lang, &endings));
            }
            format!(
                "<li><b>{}</b><br><span class=\"ex\">{}</span></li>",
                escape_html(&c.name),
                escape_html(&examples)
            )
        })
        .collect();
    if free.is_empty() {
        free = li(portal.ui.text(lang, "info_no_free"));
    }

    // The battery, in small text (issue 25).
    let technician = match super::power::notice_text(portal, lang) {
        Some(t) => format!("{technician}<p class=\"tech\">{}</p>", escape_html(&t)),
        None => technician,
    };
    let tips: String = portal.ui.tips().iter().map(|t| li(t.text(lang))).collect();
    portal.ui.render(
        Page::Info,
        lang,
        &[
            ("site_name", &config.site.name),
            ("regency", &config.site.regency),
            ("services_html", &services),
            ("technician_html", &technician),
            ("free_html", &free),
            // The per-device daily free allowance (`[usage] free_daily_data`,
            // being added separately) goes here: one <p> saying how much a
            // phone may use of the free categories each day. Empty until then.
            ("allowance_html", ""),
            ("tips_html", &tips),
            ("notice_html", &uplink_notice(portal, lang)),
            ("other_lang", lang.other().tag()),
        ],
    )
}

/// A span of whole days as a villager reads it: "120 hari" / "120 days"
/// (a part day counts as a day: the notice never understates).
fn days(span: Duration, lang: Language) -> String {
    let n = span.as_secs().div_ceil(86_400);
    match (lang, n) {
        (Language::Id, n) => format!("{n} hari"),
        (Language::En, 1) => "1 day".to_owned(),
        (Language::En, n) => format!("{n} days"),
    }
}

/// The privacy notice (`/privasi`): the figures are the config's and the
/// gateway's own, so the page says what this router really does.
pub(super) fn privacy(portal: &Portal, lang: Language) -> String {
    let config = portal.gateway.config();
    let usage_days = Duration::from_secs(crate::gateway::accounting::KEEP_DAYS as u64 * 86_400);
    let how_long = portal.ui.text_with(
        lang,
        "privacy_how_long",
        &[
            ("usage_days", &days(usage_days, lang)),
            ("forget_after", &days(config.store.forget_after, lang)),
        ],
    );
    let ask = portal
        .ui
        .text_with(lang, "privacy_ask", &[("village", &config.site.name)]);
    portal.ui.render(
        Page::Privacy,
        lang,
        &[
            ("site_name", &config.site.name),
            ("regency", &config.site.regency),
            ("how_long", &how_long),
            ("ask", &ask),
            ("other_lang", lang.other().tag()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(domains: &[&str]) -> Vec<String> {
        domains.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn endings_read_as_every_site_and_sub_sites_are_skipped() {
        let kesehatan = list(&[
            "bpjs-kesehatan.go.id",
            "kemkes.go.id",
            "satusehat.kemkes.go.id",
            "pedulilindungi.id",
            "halodoc.com",
            "alodokter.com",
        ]);
        let (sites, endings) = by_name(&kesehatan, 4);
        assert_eq!(
            sites,
            [
                "bpjs-kesehatan.go.id",
                "kemkes.go.id",
                "pedulilindungi.id",
                "halodoc.com"
            ]
        );
        assert!(endings.is_empty());
        let publik = list(&["go.id", "desa.id", "dana.id", "notkemkes.go.id", "x.go.id"]);
        let (sites, endings) = by_name(&publik, 2);
        assert_eq!(sites, ["dana.id", "notkemkes.go.id"]);
        assert_eq!(endings, [".go.id", ".desa.id"]);
        assert!(!is_ending("ovo.id") && is_ending("sch.id") && !is_ending("go.id.example"));
    }

    #[test]
    fn days_never_understate() {
        let day = Duration::from_secs(86_400);
        assert_eq!(days(day * 120, Language::Id), "120 hari");
        assert_eq!(days(day, Language::En), "1 day");
        assert_eq!(days(day + Duration::from_secs(1), Language::En), "2 days");
    }
}
