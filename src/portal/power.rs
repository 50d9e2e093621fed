//! The battery as the villager sees it (issue 25): the darurat page that
//! refuses a login and says why, and the notice on the splash, the status
//! page and the venue page (the mode, the charge, the warning before the
//! battery is empty, like the closing-time warning). The gateway decides;
//! this only words it.

use super::Portal;
use crate::lang::Language;
use crate::power::{Mode, PowerState};

/// The charge as a page shows it ("35 %"), or "?" without one.
fn charge(state: &PowerState) -> String {
    state
        .reading
        .as_ref()
        .and_then(|r| r.charge)
        .map_or_else(|| "?".to_owned(), |c| format!("{c:.0} %"))
}

/// The darurat page's title and text (a login refused while the battery
/// is nearly empty).
pub fn refused(portal: &Portal, lang: Language) -> (String, String) {
    let state = portal.gateway.power();
    (
        portal.ui.text(lang, "power_darurat_title").to_owned(),
        portal
            .ui
            .text_with(lang, "power_darurat", &[("charge", &charge(&state))]),
    )
}

/// The line for the mode and the battery outside `normal`, and the warning
/// when the battery is nearly empty; empty in `normal` without the warning
/// (and without a `[power] source`).
pub fn notice_text(portal: &Portal, lang: Language) -> Option<String> {
    let state = portal.gateway.power();
    let c = charge(&state);
    let mut parts = Vec::new();
    match state.mode {
        Mode::Normal => {}
        Mode::Hemat => parts.push(portal.ui.text_with(lang, "power_hemat", &[("charge", &c)])),
        Mode::Darurat => parts.push(portal.ui.text_with(
            lang,
            "power_darurat_online",
            &[("charge", &c)],
        )),
    }
    if state.warning {
        parts.push(
            portal
                .ui
                .text_with(lang, "power_warning", &[("charge", &c)]),
        );
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// [`notice_text`] as the splash and the status page's notice.
pub fn notice(portal: &Portal, lang: Language) -> String {
    notice_text(portal, lang).map_or_else(String::new, |t| super::ui::notice_html(&t))
}
