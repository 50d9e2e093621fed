//! Opening hours as the villager sees them: the closed page ("Wifi desa buka
//! pukul 06.00 WITA") and the warning on the status page in the last
//! minutes before the close. The gateway decides; this only words it.

use super::Portal;
use crate::domain::{local_hhmm, zone_abbreviation, Opening};
use crate::lang::Language;

/// The status page warns this long before closing time.
pub const WARN_BEFORE_CLOSE: i64 = 15 * 60;

/// A local time as the page's language writes it, with the zone:
/// "06.00 WITA" in Indonesian, "06:00 WITA" in English.
pub fn local_time(portal: &Portal, unix: i64, lang: Language) -> String {
    let tz = &portal.gateway.config().site.timezone;
    let hhmm = local_hhmm(unix, tz);
    let hhmm = match lang {
        Language::Id => hhmm.replace(':', "."),
        Language::En => hhmm,
    };
    match zone_abbreviation(unix, tz) {
        zone if zone.is_empty() => hhmm,
        zone => format!("{hhmm} {zone}"),
    }
}

/// While closed: the page's title and text (when it opens; whether the
/// public services still answer). `None` while open.
pub fn closed(portal: &Portal, lang: Language) -> Option<(String, String)> {
    let Some(Opening::Closed { opens }) = portal.gateway.opening() else {
        return None;
    };
    let key = if portal.gateway.schedule().garden_always_open {
        "closed_garden"
    } else {
        "closed"
    };
    let opens = local_time(portal, opens, lang);
    Some((
        portal.ui.text(lang, "closed_title").to_owned(),
        portal.ui.text_with(lang, key, &[("opens", &opens)]),
    ))
}

/// In the last [`WARN_BEFORE_CLOSE`] seconds before closing time: the
/// warning notice for the status page; else empty.
pub fn closing_notice(portal: &Portal, lang: Language) -> String {
    let Some(Opening::Open { closes }) = portal.gateway.opening() else {
        return String::new();
    };
    if closes - portal.gateway.now() > WARN_BEFORE_CLOSE {
        return String::new();
    }
    let closes = local_time(portal, closes, lang);
    super::ui::notice_html(
        &portal
            .ui
            .text_with(lang, "closing_soon", &[("closes", &closes)]),
    )
}
