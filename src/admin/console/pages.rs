//! The console's pages: each page's data in, its HTML out. Pure (no I/O),
//! so rendering is unit-tested without a server (see the tests in
//! `console.rs`). Values are escaped here or by the template; only trusted
//! markup built here goes into `_html` slots.

use std::collections::BTreeMap;

use super::{Console, Template, QUOTA_FIELDS};
use crate::accounts::Principal;
use crate::admin::core::views::quota_json;
use crate::admin::usage::DayReport;
use crate::config;
use crate::domain::{self, DailyUsage, Mac, Role};
use crate::lang::Language;
use crate::power::{Health, Mode, PowerState};
use crate::store::AuditEntry;
use crate::web::form::form_value;
use crate::web::http::escape_html;

impl Console {
    /// A whole page: `template` rendered with `vars`, inside the layout.
    pub fn page(
        &self,
        frame: &Frame,
        title: &str,
        template: Template,
        vars: &[(&str, &str)],
    ) -> String {
        let lang = frame.lang;
        let body = self.render(template, lang, vars);
        let (account, nav) = match frame.principal {
            Some(p) => (self.account_html(lang, p), self.nav_html(lang, frame.nav)),
            None => (String::new(), String::new()),
        };
        let switch = format!("?lang={}", lang.other());
        self.render(
            Template::Layout,
            lang,
            &[
                ("title", title),
                ("site_name", &frame.site_name),
                ("account_html", &account),
                ("nav_html", &nav),
                ("notice_html", &frame.notice_html),
                ("body_html", &body),
                ("other_lang", lang.other().tag()),
                ("switch_href", &switch),
            ],
        )
    }

    fn account_html(&self, lang: Language, p: &Principal) -> String {
        let role = match p.role {
            Role::Admin => "role_admin",
            Role::Viewer => "role_viewer",
        };
        format!(
            "<div class=\"account\"><span>{} ({})</span><form method=\"post\" action=\"/logout\">{}<button type=\"submit\">{}</button></form></div>",
            escape_html(&p.username),
            escape_html(self.text(lang, role)),
            csrf_field(&p.csrf),
            escape_html(self.text(lang, "logout"))
        )
    }

    fn nav_html(&self, lang: Language, current: Option<Nav>) -> String {
        let mut out = format!(
            "<nav aria-label=\"{}\"><ul>",
            escape_html(self.text(lang, "console_name"))
        );
        for nav in [Nav::Dashboard, Nav::Quota, Nav::Devices, Nav::Audit] {
            let current = if Some(nav) == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            out.push_str(&format!(
                "<li><a href=\"{}\"{current}>{}</a></li>",
                nav.path(),
                escape_html(self.text(lang, nav.key()))
            ));
        }
        out.push_str("</ul></nav>");
        out
    }

    /// A notice for the `notice_html` slot; `bad` ones are red and read out at once.
    pub fn notice(&self, text: &str, bad: bool) -> String {
        let (class, role) = if bad {
            ("notice bad", "alert")
        } else {
            ("notice", "status")
        };
        format!(
            "<p class=\"{class}\" role=\"{role}\">{}</p>",
            escape_html(text)
        )
    }

    /// The login page. `error` is the reason the last try failed.
    pub fn login_page(
        &self,
        frame: &Frame,
        login_csrf: &str,
        username: &str,
        error: Option<&str>,
    ) -> String {
        let error = error.map(|e| self.notice(e, true)).unwrap_or_default();
        let title = self.text(frame.lang, "login_title");
        self.page(
            frame,
            title,
            Template::Login,
            &[
                ("login_csrf", login_csrf),
                ("username", username),
                ("error_html", &error),
            ],
        )
    }

    /// One sentence on a page of its own (not allowed, not found, error).
    pub fn message_page(&self, frame: &Frame, title_key: &str, message_key: &str) -> String {
        let lang = frame.lang;
        self.page(
            frame,
            self.text(lang, title_key),
            Template::Message,
            &[("message", self.text(lang, message_key))],
        )
    }

    /// The overview.
    pub fn dashboard_page(&self, frame: &Frame, d: &Dashboard) -> String {
        let lang = frame.lang;
        let t = &d.today;
        let size = |b: u64| domain::Size(b).to_string();
        let uplink = match &d.uplink_down_since {
            None => format!(
                "<p class=\"uplink up\">{}: {}</p>",
                escape_html(self.text(lang, "uplink")),
                escape_html(self.text(lang, "uplink_up"))
            ),
            Some(since) => format!(
                "<p class=\"uplink down\" role=\"alert\">{}: {}</p>",
                escape_html(self.text(lang, "uplink")),
                escape_html(&self.text_with(lang, "uplink_down", &[("since", since)]))
            ),
        };
        self.page(
            frame,
            self.text(lang, "dashboard_title"),
            Template::Dashboard,
            &[
                ("online", &d.online.to_string()),
                ("today_label", &t.day),
                ("today_down", &size(t.bytes_down)),
                ("today_up", &size(t.bytes_up)),
                ("today_devices", &t.devices.to_string()),
                ("today_sessions", &t.sessions.to_string()),
                ("today_peak", &t.peak_devices.to_string()),
                ("top_html", &self.top_html(lang, &d.top)),
                ("chart_html", &self.chart_svg(lang, &d.week)),
                ("uplink_html", &uplink),
                (
                    "what_for_html",
                    &self.what_for_html(lang, &d.categories, &d.category_days),
                ),
                ("village_html", &d.village_html),
                ("power_html", &self.power_html(lang, d.power.as_ref())),
            ],
        )
    }

    /// The battery's card (issue 25): the mode, the charge and volts, the
    /// reading's health and the warning; empty without a `[power] source`.
    fn power_html(&self, lang: Language, p: Option<&PowerState>) -> String {
        let Some(p) = p else {
            return String::new();
        };
        let mode_key = match p.mode {
            Mode::Normal => "power_mode_normal",
            Mode::Hemat => "power_mode_hemat",
            Mode::Darurat => "power_mode_darurat",
        };
        let row = |dt: &str, dd: &str| {
            format!(
                "<div><dt>{}</dt><dd>{}</dd></div>",
                escape_html(dt),
                escape_html(dd)
            )
        };
        let mut rows = row(self.text(lang, "power_mode"), self.text(lang, mode_key));
        if let Some(r) = &p.reading {
            let mut charge = r
                .charge
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.0} %"));
            if let Some(v) = r.volts {
                charge.push_str(&format!(", {v:.1} V"));
            }
            if r.on_battery {
                charge.push_str(&format!(", {}", self.text(lang, "power_on_battery")));
            }
            rows.push_str(&row(self.text(lang, "power_charge"), &charge));
        }
        let health = match &p.health {
            Health::Good | Health::Off => format!(
                "<p class=\"uplink up\">{}</p>",
                escape_html(self.text(lang, "power_reading_good"))
            ),
            Health::Unknown { .. } => format!(
                "<p class=\"uplink down\" role=\"alert\">{}</p>",
                escape_html(&self.text_with(
                    lang,
                    "power_reading_unknown",
                    &[("why", &p.health.to_string())]
                ))
            ),
        };
        let warning = if p.warning {
            format!(
                "<p class=\"uplink down\" role=\"alert\">{}</p>",
                escape_html(self.text(lang, "power_warning"))
            )
        } else {
            String::new()
        };
        format!(
            "<section class=\"card\" id=\"power\">\n<h2>{}</h2>\n<dl class=\"stats\">{rows}</dl>\n{health}{warning}</section>\n",
            escape_html(self.text(lang, "power_title"))
        )
    }

    fn top_html(&self, lang: Language, top: &[(Mac, DailyUsage)]) -> String {
        if top.is_empty() {
            return format!(
                "<p class=\"sub\">{}</p>",
                escape_html(self.text(lang, "top_none"))
            );
        }
        let mut out = format!(
            "<table id=\"top-devices\"><thead><tr><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr></thead><tbody>",
            escape_html(self.text(lang, "mac")),
            escape_html(self.text(lang, "bytes_down")),
            escape_html(self.text(lang, "bytes_up"))
        );
        for (mac, usage) in top {
            out.push_str(&format!(
                "<tr><td class=\"mono\"><a href=\"/devices#{}\">{mac}</a></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                device_anchor(mac),
                domain::Size(usage.download),
                domain::Size(usage.upload)
            ));
        }
        out.push_str("</tbody></table>");
        out
    }

    /// The usage chart: one stacked bar per day (download below, upload
    /// above), the day under it and the total above it, each bar with a
    /// `<title>` a screen reader (or a long press) reads. Plain SVG: no
    /// script, no style attributes (colours come from classes in console.css,
    /// with `fill` attributes as a fallback).
    pub fn chart_svg(&self, lang: Language, days: &[DayReport]) -> String {
        const W: f64 = 420.0;
        const TOP: f64 = 22.0;
        const PLOT: f64 = 160.0;
        const H: f64 = TOP + PLOT + 36.0;
        const SIDE: f64 = 8.0;
        let base = TOP + PLOT;
        let total = |d: &DayReport| u128::from(d.bytes_down) + u128::from(d.bytes_up);
        let max = days.iter().map(total).max().unwrap_or(0);
        let scale = |bytes: u128| {
            if max == 0 {
                0.0
            } else {
                bytes as f64 / max as f64 * PLOT
            }
        };
        let mut out = format!(
            "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-labelledby=\"chart-title chart-desc\">\
             <title id=\"chart-title\">{}</title><desc id=\"chart-desc\">{}</desc>",
            escape_html(self.text(lang, "chart_title")),
            escape_html(self.text(lang, "chart_desc"))
        );
        out.push_str(&format!("<line class=\"axis\" x1=\"{SIDE}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#dde5df\"/>", W - SIDE));
        let slot = (W - 2.0 * SIDE) / days.len().max(1) as f64;
        for (i, d) in days.iter().enumerate() {
            let x = SIDE + slot * i as f64;
            let (bar_x, bar_w) = (x + slot * 0.18, slot * 0.64);
            let down_h = scale(u128::from(d.bytes_down));
            let up_h = scale(total(d)) - down_h;
            let label = day_label(&d.day, lang);
            let sum = size_u128(total(d));
            out.push_str(&format!(
                "<g><title>{}: {} {}, {} {} ({})</title>",
                escape_html(&d.day),
                escape_html(self.text(lang, "download")),
                domain::Size(d.bytes_down),
                escape_html(self.text(lang, "upload")),
                domain::Size(d.bytes_up),
                escape_html(&sum)
            ));
            out.push_str(&format!(
                "<rect class=\"down\" fill=\"#0b6b3a\" x=\"{bar_x:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{down_h:.1}\"/>",
                base - down_h
            ));
            out.push_str(&format!(
                "<rect class=\"up\" fill=\"#c98a00\" x=\"{bar_x:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{up_h:.1}\"/>",
                base - down_h - up_h
            ));
            let mid = x + slot / 2.0;
            out.push_str(&format!(
                "<text x=\"{mid:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
                base - down_h - up_h - 6.0,
                escape_html(&sum)
            ));
            out.push_str(&format!(
                "<text x=\"{mid:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\">{}</text></g>",
                base + 18.0,
                escape_html(&label)
            ));
        }
        out.push_str("</svg>");
        out
    }

    /// The quota form: `form` holds each field's shown value and error.
    pub fn quota_page(&self, frame: &Frame, form: &QuotaForm, can_change: bool) -> String {
        let lang = frame.lang;
        let csrf = frame.principal.map_or("", |p| p.csrf.as_str());
        let submit = if can_change {
            format!(
                "<button class=\"btn\" type=\"submit\">{}</button>",
                escape_html(self.text(lang, "save"))
            )
        } else {
            format!(
                "<p class=\"sub\">{}</p>",
                escape_html(self.text(lang, "viewer_readonly"))
            )
        };
        let errors: Vec<(String, String)> = QUOTA_FIELDS
            .iter()
            .map(|f| {
                let html = form
                    .errors
                    .get(*f)
                    .map(|e| {
                        format!(
                            "<p class=\"error\" id=\"{f}-error\" role=\"alert\">{}</p>",
                            escape_html(e)
                        )
                    })
                    .unwrap_or_default();
                (format!("{f}_error_html"), html)
            })
            .collect();
        let mut vars: Vec<(&str, &str)> = vec![
            ("csrf", csrf),
            ("disabled", if can_change { "" } else { "disabled" }),
            ("submit_html", &submit),
        ];
        for f in QUOTA_FIELDS {
            vars.push((f, form.values.get(f).map_or("", String::as_str)));
        }
        for (k, v) in &errors {
            vars.push((k, v));
        }
        self.page(
            frame,
            self.text(lang, "quota_title"),
            Template::Quota,
            &vars,
        )
    }

    /// The audit log, newest first; `older` is the id to page back from.
    pub fn audit_page(
        &self,
        frame: &Frame,
        entries: &[(u64, AuditEntry)],
        tz: &jiff::tz::TimeZone,
        paged: bool,
        older: Option<u64>,
    ) -> String {
        let lang = frame.lang;
        let t = |k: &str| escape_html(self.text(lang, k));
        let mut list = String::new();
        if entries.is_empty() {
            list = format!("<p class=\"sub\">{}</p>", t("audit_none"));
        } else {
            list.push_str("<ol class=\"audit\">");
            for (id, e) in entries {
                list.push_str(&format!(
                    "<li id=\"a{id}\"><p class=\"head\"><time>{}</time><span>{}</span><span class=\"what\">{}</span><span class=\"mono\">{}</span></p><p class=\"change mono\">{} → {}</p></li>",
                    escape_html(&local_datetime(e.at, tz)),
                    escape_html(&e.who),
                    escape_html(e.action.as_str()),
                    escape_html(&e.target),
                    escape_html(&json_brief(&e.old)),
                    escape_html(&json_brief(&e.new))
                ));
            }
            list.push_str("</ol>");
        }
        let mut pager = String::new();
        if paged || older.is_some() {
            pager.push_str("<p class=\"pager\">");
            if paged {
                pager.push_str(&format!("<a href=\"/audit\">{}</a>", t("newer")));
            }
            if let Some(id) = older {
                pager.push_str(&format!(
                    "<a href=\"/audit?before={id}\" rel=\"next\">{}</a>",
                    t("older")
                ));
            }
            pager.push_str("</p>");
        }
        self.page(
            frame,
            self.text(lang, "audit_title"),
            Template::Audit,
            &[("entries_html", &list), ("pager_html", &pager)],
        )
    }
}

/// What every page's frame needs.
pub struct Frame<'a> {
    pub lang: Language,
    pub site_name: String,
    /// Who is logged in; `None` on the login page (no menu, no log-out button).
    pub principal: Option<&'a Principal>,
    /// The menu entry to mark as current (the menu shows whenever someone is logged in).
    pub nav: Option<Nav>,
    pub notice_html: String,
}

/// The console's menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Quota,
    Devices,
    Audit,
}

impl Nav {
    fn path(self) -> &'static str {
        match self {
            Nav::Dashboard => "/",
            Nav::Quota => "/quota",
            Nav::Devices => "/devices",
            Nav::Audit => "/audit",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Nav::Dashboard => "nav_dashboard",
            Nav::Quota => "nav_quota",
            Nav::Devices => "nav_devices",
            Nav::Audit => "nav_audit",
        }
    }
}

/// What the overview shows.
pub struct Dashboard {
    pub online: usize,
    pub today: DayReport,
    pub top: Vec<(Mac, DailyUsage)>,
    /// The last 7 days, oldest first, today last.
    pub week: Vec<DayReport>,
    /// Local `YYYY-MM-DD HH:MM` the uplink went down, `None` while it is up.
    pub uplink_down_since: Option<String>,
    /// The usage categories, in order, `lainnya` last.
    pub categories: Vec<super::CategoryInfo>,
    /// The last 7 days' bytes per category (`YYYY-MM-DD`, one per category in order).
    pub category_days: Vec<(String, Vec<DailyUsage>)>,
    /// The village card (opening hours, trusted devices, today's quiz), ready-made.
    pub village_html: String,
    /// The battery, `None` without a `[power] source`.
    pub power: Option<PowerState>,
}

/// The quota form's shown values and per-field errors.
#[derive(Debug, Clone, Default)]
pub struct QuotaForm {
    pub values: BTreeMap<&'static str, String>,
    pub errors: BTreeMap<&'static str, String>,
}

impl QuotaForm {
    /// The values in force, in human units.
    pub fn from_quota(q: &config::Quota) -> QuotaForm {
        // The human forms the API answers with.
        let human = quota_json(q);
        let values = QUOTA_FIELDS
            .iter()
            .map(|f| (*f, human[*f].as_str().unwrap_or_default().to_owned()))
            .collect();
        QuotaForm {
            values,
            errors: BTreeMap::new(),
        }
    }
}

/// One `[quota]` value as the form shows it ("500 MiB", "4h", "2 Mbit/s").
/// Check a posted quota form field by field, each against the values in
/// force with the config file's own rules (so every error shows at once, next
/// to its field). Ok: the fields that differ from `current`, for
/// `admin::quota::set_site_quota` (which checks again and audits only those).
pub fn check_quota_form(
    current: &config::Quota,
    form: &[(String, String)],
) -> Result<serde_json::Map<String, serde_json::Value>, QuotaForm> {
    let mut checked = QuotaForm::from_quota(current);
    let mut changed = serde_json::Map::new();
    for key in config::QuotaKey::ALL {
        let f = key.name();
        let Some(value) = form_value(form, f).map(str::trim) else {
            continue;
        };
        checked.values.insert(f, value.to_owned());
        match config::parse_quota_field(current, key, value) {
            Ok(q) if q == *current => {}
            Ok(_) => {
                changed.insert(f.to_owned(), value.into());
            }
            Err(e) => {
                checked.errors.insert(f, e);
            }
        }
    }
    if checked.errors.is_empty() {
        Ok(changed)
    } else {
        Err(checked)
    }
}

/// The id of a device's card: `d-` and the MAC's hex digits.
pub(super) fn device_anchor(mac: &Mac) -> String {
    format!("d-{}", mac.to_string().replace(':', ""))
}

/// The hidden form field every console form carries.
pub(super) fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape_html(token)
    )
}

/// "2026-11-27" -> "27 Nov" (Indonesian month names in Indonesian).
fn day_label(day: &str, lang: Language) -> String {
    const ID: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des",
    ];
    const EN: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = day
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| (1..=12).contains(m));
    let dd = day.get(8..10).map(|d| d.trim_start_matches('0'));
    match (month, dd) {
        (Some(m), Some(d)) => format!(
            "{d} {}",
            if lang == Language::Id {
                ID[m - 1]
            } else {
                EN[m - 1]
            }
        ),
        _ => day.to_owned(),
    }
}

/// A byte count that may exceed u64 (a sum) in human units.
fn size_u128(bytes: u128) -> String {
    match u64::try_from(bytes) {
        Ok(b) => domain::Size(b).to_string(),
        Err(_) => format!("{} TiB", bytes >> 40),
    }
}

/// Local `YYYY-MM-DD HH:MM` of a unix time in the site's zone.
pub fn local_datetime(unix: i64, tz: &jiff::tz::TimeZone) -> String {
    let z = jiff::Timestamp::from_second(unix)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone());
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        z.year(),
        z.month(),
        z.day(),
        z.hour(),
        z.minute()
    )
}

/// An audit value, short and readable: `-` for nothing, strings bare, an
/// object as `key: value, ...`, the rest as compact JSON.
fn json_brief(v: &serde_json::Value) -> String {
    use serde_json::Value;
    let bare = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let s = match v {
        Value::Object(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", bare(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => bare(other),
    };
    if s.chars().count() > 400 {
        format!("{}…", s.chars().take(400).collect::<String>())
    } else {
        s
    }
}
