//! The office's pages: data in, HTML out, with the one template engine
//! ([`crate::web::template`]) and the files of `regency-ui/` (embedded, like
//! `portal-ui/` and `admin-ui/`). Pure: no I/O, no request. Every value from
//! the store (village names, versions, categories) is escaped here or by the
//! template; only markup built here goes into `_html` slots.

use std::path::Path;

use jiff::tz::TimeZone;

use super::charts::{bytes_id, count_id, decimal_id};
use super::prom::encode;
use super::village::VillageDays;
use super::villages::VillageRow;
use crate::accounts::Principal;
use crate::lang::Language;
use crate::web::http::escape_html;
use crate::web::template::{PageSpec, TemplateError, Templates, UiFiles};

macro_rules! embed {
    ($($file:literal),*) => { &[$(($file, include_str!(concat!("../../regency-ui/", $file)))),*] };
}
const EMBEDDED: &[(&str, &str)] = embed!(
    "strings.toml",
    "style.css",
    "templates/head.html",
    "templates/layout.html",
    "templates/login.html",
    "templates/villages.html",
    "templates/village.html",
    "templates/message.html"
);

const FILES: UiFiles = UiFiles {
    name: "regency-ui",
    embedded: EMBEDDED,
    strings: "strings.toml",
    inserts: &[],
};

/// The pages, in the order of [`PAGES`].
#[derive(Debug, Clone, Copy)]
enum Page {
    Layout = 0,
    Login,
    Villages,
    Village,
    Message,
}

const PAGES: [PageSpec; 5] = [
    PageSpec {
        file: "templates/layout.html",
        vars: "title regency account_html notice_html body_html other_lang switch_href",
    },
    PageSpec {
        file: "templates/login.html",
        vars: "login_csrf username error_html",
    },
    PageSpec {
        file: "templates/villages.html",
        vars: "rows_html",
    },
    PageSpec {
        file: "templates/village.html",
        vars: "charts_html",
    },
    PageSpec {
        file: "templates/message.html",
        vars: "message",
    },
];

/// What every page shows around its body.
pub struct Frame<'a> {
    pub lang: Language,
    pub regency: &'a str,
    /// Who is logged in (their log-out form carries the session's CSRF token).
    pub principal: Option<&'a Principal>,
    /// This page's path, for the language switch.
    pub path: &'a str,
}

/// The office's loaded, checked UI.
#[derive(Debug)]
pub struct Console {
    pub(super) templates: Templates,
}

impl Console {
    /// The built-in `regency-ui/`, each file replaced by its namesake in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Console, TemplateError> {
        Ok(Console {
            templates: Templates::load(&FILES, dir, &PAGES)?,
        })
    }

    /// `/style.css`.
    pub fn css(&self) -> &str {
        &self.templates.source("style.css").text
    }

    pub fn text<'a>(&'a self, lang: Language, key: &'a str) -> &'a str {
        self.templates.text(lang, key)
    }

    /// The string `key` with its `{name}`s filled in.
    pub fn text_with(&self, lang: Language, key: &str, fill: &[(&str, &str)]) -> String {
        self.templates.text_with(lang, key, fill)
    }

    pub(super) fn page(
        &self,
        frame: &Frame,
        title: &str,
        notice_html: &str,
        body_html: &str,
    ) -> String {
        let lang = frame.lang;
        let account = frame.principal.map_or_else(String::new, |p| {
            let who = self.templates.text_with(lang, "logged_in_as", &[("user", &p.username)]);
            format!(
                r#"<div class="account"><span>{}</span><form method="post" action="/logout"><input type="hidden" name="csrf" value="{}"><button type="submit">{}</button></form></div>"#,
                escape_html(&who),
                escape_html(&p.csrf),
                escape_html(self.text(lang, "logout"))
            )
        });
        let switch = format!("{}?lang={}", frame.path, lang.other());
        self.templates.render(
            Page::Layout as usize,
            lang,
            &[
                ("title", title),
                ("regency", frame.regency),
                ("account_html", &account),
                ("notice_html", notice_html),
                ("body_html", body_html),
                ("other_lang", lang.other().tag()),
                ("switch_href", &switch),
            ],
        )
    }

    /// The log-in form with its pre-session token; `error` says why the last try failed.
    pub fn login_page(
        &self,
        frame: &Frame,
        token: &str,
        username: &str,
        error: Option<&str>,
    ) -> String {
        let error_html = error.map_or_else(String::new, notice);
        let body = self.templates.render(
            Page::Login as usize,
            frame.lang,
            &[
                ("login_csrf", token),
                ("username", username),
                ("error_html", &error_html),
            ],
        );
        self.page(frame, self.text(frame.lang, "login_title"), "", &body)
    }

    /// A short message page (refused, not found).
    pub fn message_page(&self, frame: &Frame, title: &str, message: &str) -> String {
        let body = self.templates.render(
            Page::Message as usize,
            frame.lang,
            &[("message", self.text(frame.lang, message))],
        );
        self.page(frame, self.text(frame.lang, title), "", &body)
    }

    /// The villages, trouble first, or why the store could not be read.
    pub fn villages_page(
        &self,
        frame: &Frame,
        rows: Result<&[VillageRow], &str>,
        tz: &TimeZone,
    ) -> String {
        let lang = frame.lang;
        let (notice_html, rows_html) = match rows {
            Err(e) => (
                notice(&self.templates.text_with(lang, "prom_down", &[("error", e)])),
                String::new(),
            ),
            Ok([]) => (
                String::new(),
                format!(
                    "<li class=\"card\">{}</li>",
                    escape_html(self.text(lang, "no_villages"))
                ),
            ),
            Ok(rows) => (
                String::new(),
                rows.iter().map(|r| self.row_html(lang, r, tz)).collect(),
            ),
        };
        let body =
            self.templates
                .render(Page::Villages as usize, lang, &[("rows_html", &rows_html)]);
        self.page(
            frame,
            self.text(lang, "villages_title"),
            &notice_html,
            &body,
        )
    }

    fn row_html(&self, lang: Language, r: &VillageRow, tz: &TimeZone) -> String {
        let t = |k| self.text(lang, k);
        let unknown = t("unknown");
        let (class, state) = match (r.reporting, r.internet) {
            (false, _) => (
                "silent",
                match r.last_seen {
                    Some(at) => {
                        self.templates
                            .text_with(lang, "silent", &[("when", &local_time(at, tz))])
                    }
                    None => t("silent_never").to_owned(),
                },
            ),
            (true, Some(false)) => (
                "down",
                format!("{} · {}", t("reporting"), t("internet_down")),
            ),
            (true, Some(true)) => ("ok", format!("{} · {}", t("reporting"), t("internet_up"))),
            (true, None) => (
                "ok",
                format!("{} · {}", t("reporting"), t("internet_unknown")),
            ),
        };
        let opt = |v: Option<String>| v.unwrap_or_else(|| unknown.to_owned());
        let cats = r
            .categories_today
            .iter()
            .take(3)
            .map(|(c, b)| format!("{c} {}", bytes_id(*b)))
            .collect::<Vec<_>>()
            .join(", ");
        let facts = [
            ("phones", opt(r.phones_online.map(count_id))),
            ("today", opt(r.bytes_today.map(bytes_id))),
            ("yesterday", opt(r.bytes_yesterday.map(bytes_id))),
            (
                "top_categories",
                if cats.is_empty() {
                    unknown.to_owned()
                } else {
                    cats
                },
            ),
            (
                "free_share",
                opt(r
                    .free_share
                    .map(|s| format!("{} %", decimal_id(s * 100.0, 0)))),
            ),
            ("policy", opt(r.policy_version.map(|v| v.to_string()))),
            ("software", opt(r.software.clone())),
            ("started", opt(r.started.map(|s| local_time(s, tz)))),
        ];
        let mut dl = String::new();
        for (key, value) in facts {
            dl.push_str(&format!(
                "<dt>{}</dt><dd>{}</dd>",
                escape_html(t(key)),
                escape_html(&value)
            ));
        }
        format!(
            r#"<li class="card village {class}"><h2><a href="/desa/{}">{}</a></h2><p class="state">{}</p><dl>{dl}</dl></li>"#,
            encode(&r.village),
            escape_html(&r.village),
            escape_html(&state)
        )
    }

    /// A village's 30 days as charts, or why the store could not be read.
    pub fn village_page(
        &self,
        frame: &Frame,
        name: &str,
        days: Result<&VillageDays, &str>,
    ) -> String {
        let lang = frame.lang;
        let title = self
            .templates
            .text_with(lang, "village_title", &[("name", name)]);
        let (notice_html, charts_html) = match days {
            Err(e) => (
                notice(&self.templates.text_with(lang, "prom_down", &[("error", e)])),
                String::new(),
            ),
            Ok(days) => {
                let c = days.charts();
                let charts = [
                    ("chart_bytes", c.bytes),
                    ("chart_phones", c.phones),
                    ("chart_offline", c.offline),
                    ("chart_categories", c.categories),
                    ("chart_quiz", c.quiz),
                ];
                let html = charts
                    .iter()
                    .map(|(k, svg)| {
                        format!(
                            "<section class=\"card chart\"><h2>{}</h2>{svg}</section>",
                            escape_html(self.text(lang, k))
                        )
                    })
                    .collect();
                (String::new(), html)
            }
        };
        let body = self.templates.render(
            Page::Village as usize,
            lang,
            &[("charts_html", &charts_html)],
        );
        self.page(frame, &title, &notice_html, &body)
    }
}

/// A bad-news notice, escaped.
pub(super) fn notice(text: &str) -> String {
    format!(
        "<p class=\"notice bad\" role=\"alert\">{}</p>",
        escape_html(text)
    )
}

/// `2026-12-06 10:00` in the office's zone.
pub(super) fn local_time(unix: i64, tz: &TimeZone) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Via;
    use crate::domain::Role;

    #[test]
    fn names_are_escaped_in_text_and_links_and_errors_say_so() {
        let console = Console::load(None).unwrap();
        let tz = TimeZone::get("Asia/Makassar").unwrap();
        let p = Principal {
            username: "ani".into(),
            role: Role::Admin,
            csrf: "c0ffee".into(),
            via: Via::Cookie,
        };
        let frame = Frame {
            lang: Language::Id,
            regency: "Paser <b>",
            principal: Some(&p),
            path: "/",
        };
        let rows = [VillageRow {
            village: "<script>\"x/../y".into(),
            last_seen: Some(1_700_000_000),
            ..VillageRow::default()
        }];
        let html = console.villages_page(&frame, Ok(&rows), &tz);
        assert!(
            !html.contains("<script>") && !html.contains("Paser <b>"),
            "{html}"
        );
        assert!(
            html.contains("href=\"/desa/%3Cscript%3E%22x%2F..%2Fy\""),
            "{html}"
        );
        assert!(html.contains("Diam sejak 2023-11-15"), "{html}");
        assert!(html.contains("name=\"csrf\" value=\"c0ffee\""));
        let html = console.villages_page(
            &Frame {
                lang: Language::En,
                ..frame
            },
            Err("Prometheus unreachable: <x>"),
            &tz,
        );
        assert!(
            html.contains("The data cannot be read: Prometheus unreachable: &lt;x&gt;"),
            "{html}"
        );
    }
}
