//! The devices page: one card per device (state, address, today's use,
//! quota, session end) and, for an admin, its actions (kick, block or
//! unblock, overrides), each a form with the session's CSRF token. Pure:
//! data in, HTML out.

use super::pages::{csrf_field, device_anchor, Frame};
use super::{Console, Template};
use crate::accounts::Principal;
use crate::admin::core::DeviceState;
use crate::domain;
use crate::gateway::DeviceView;
use crate::lang::Language;
use crate::web::http::escape_html;

/// A device on the devices page.
pub struct DeviceCard {
    pub view: DeviceView,
    /// Local `HH:MM` its session ends, while online.
    pub session_ends: Option<String>,
}

/// One page of the device list.
pub struct DeviceList {
    pub devices: Vec<DeviceCard>,
    /// Devices in all pages.
    pub total: usize,
    /// 0-based.
    pub page: usize,
    /// Another page follows.
    pub more: bool,
}

impl Console {
    /// The device list, one card per device; action forms only for an admin.
    pub fn devices_page(&self, frame: &Frame, list: &DeviceList) -> String {
        let lang = frame.lang;
        let admin = frame.principal.filter(|p| p.role.can_change());
        let mut cards = String::new();
        if list.devices.is_empty() {
            cards = format!(
                "<p class=\"sub\">{}</p>",
                escape_html(self.text(lang, "devices_none"))
            );
        } else {
            cards.push_str("<ul class=\"devices\">");
            for d in &list.devices {
                cards.push_str(&self.device_card(lang, d, admin));
            }
            cards.push_str("</ul>");
        }
        let mut pager = String::new();
        if list.page > 0 || list.more {
            pager.push_str("<p class=\"pager\">");
            if list.page > 0 {
                pager.push_str(&format!(
                    "<a href=\"/devices?page={}\" rel=\"prev\">{}</a>",
                    list.page - 1,
                    escape_html(self.text(lang, "prev_page"))
                ));
            }
            if list.more {
                pager.push_str(&format!(
                    "<a href=\"/devices?page={}\" rel=\"next\">{}</a>",
                    list.page + 1,
                    escape_html(self.text(lang, "next_page"))
                ));
            }
            pager.push_str("</p>");
        }
        let count = self.text_with(lang, "devices_count", &[("n", &list.total.to_string())]);
        self.page(
            frame,
            self.text(lang, "devices_title"),
            Template::Devices,
            &[
                ("count", &count),
                ("devices_html", &cards),
                ("pager_html", &pager),
            ],
        )
    }

    fn device_card(&self, lang: Language, d: &DeviceCard, admin: Option<&Principal>) -> String {
        let v = &d.view;
        let t = |k: &str| escape_html(self.text(lang, k));
        let state = DeviceState::of(v).api_word();
        let has_override = v.quota != Default::default();
        let quota = if v.exempt {
            self.text(lang, "quota_exempt").to_owned()
        } else {
            domain::Size(v.daily_data).to_string()
        };
        let quota = if has_override {
            format!("{quota} ({})", self.text(lang, "quota_override"))
        } else {
            quota
        };
        let row = |k: &str, value: &str| {
            format!(
                "<div><dt>{}</dt><dd>{}</dd></div>",
                t(k),
                escape_html(value)
            )
        };
        let mut out = format!(
            "<li id=\"{}\"><h2><span class=\"mono\">{}</span><span class=\"state {state}\">{}</span></h2><dl class=\"stats\">",
            device_anchor(&v.mac),
            v.mac,
            t(&format!("state_{state}"))
        );
        out.push_str(&row(
            "ip",
            &v.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "-".into()),
        ));
        out.push_str(&row("used_today", &domain::Size(v.used_today).to_string()));
        out.push_str(&row("quota", &quota));
        out.push_str(&row(
            "session_ends",
            d.session_ends.as_deref().unwrap_or("-"),
        ));
        out.push_str("</dl>");
        let Some(p) = admin else {
            out.push_str("</li>");
            return out;
        };
        let button = |action: &str, key: &str, danger: bool| {
            format!(
                "<form method=\"post\" action=\"/devices/{}/{action}\">{}<button type=\"submit\"{}>{}</button></form>",
                v.mac,
                csrf_field(&p.csrf),
                if danger { " class=\"danger\"" } else { "" },
                t(key)
            )
        };
        out.push_str("<div class=\"actions\">");
        if v.session.is_some() {
            out.push_str(&button("kick", "kick", false));
        }
        out.push_str(&if v.blocked {
            button("unblock", "unblock", false)
        } else {
            button("block", "block", true)
        });
        out.push_str("</div>");
        let id = device_anchor(&v.mac);
        let field = |name: &str, key: &str, value: Option<String>| {
            format!(
                "<label for=\"{id}-{name}\">{}</label><input id=\"{id}-{name}\" name=\"{name}\" value=\"{}\">",
                t(key),
                escape_html(&value.unwrap_or_default())
            )
        };
        out.push_str(&format!(
            "<details class=\"override\"><summary>{}</summary><form method=\"post\" action=\"/devices/{}/quota\" class=\"stack\">{}<small>{}</small>",
            t("override"),
            v.mac,
            csrf_field(&p.csrf),
            t("override_hint")
        ));
        out.push_str(&field(
            "daily_data",
            "daily_data",
            v.quota.daily_data.map(|b| domain::Size(b).to_string()),
        ));
        out.push_str(&field(
            "download_rate",
            "download_rate",
            v.quota.download_rate.map(|b| domain::Rate(b).to_string()),
        ));
        out.push_str(&field(
            "upload_rate",
            "upload_rate",
            v.quota.upload_rate.map(|b| domain::Rate(b).to_string()),
        ));
        out.push_str(&format!(
            "<label class=\"check\"><input type=\"checkbox\" name=\"exempt\" value=\"1\"{}> {}</label><button type=\"submit\">{}</button></form>",
            if v.quota.exempt { " checked" } else { "" },
            t("exempt"),
            t("set_override")
        ));
        if has_override {
            out.push_str(&format!(
                "<div class=\"actions\">{}</div>",
                button("quota/clear", "clear_override", false)
            ));
        }
        out.push_str("</details></li>");
        out
    }
}
