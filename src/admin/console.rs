//! The web console: server-rendered pages for the regency's admins (login,
//! overview with a 7-day chart, the village quota form, devices with their
//! actions, the audit log), in Indonesian with an English switch.
//!
//! Like the portal's pages, everything under `admin-ui/` is compiled into the
//! binary and may be overridden file by file from a directory; all of it is
//! checked at load (every `{{placeholder}}` known, every string in both
//! languages with the same `{fill-ins}`), so a typo stops the daemon instead
//! of showing an admin a broken page.
//!
//! No JavaScript and nothing inline that a strict Content-Security-Policy
//! would refuse: the stylesheet is `/console.css`, the chart is inline SVG
//! coloured by classes. Every form carries a CSRF token (see [`csrf_ok`]).
//!
//! Here: the console's files and templates (the engine is
//! [`crate::web::template`]; every page's head is `templates/head.html`,
//! included by the layout) and the CSRF checks (forms and cookies come from
//! [`crate::web`]). `pages`: each page's data -> HTML (pure).
//! `routes`: the HTTP side ([`handle`]), every change through the
//! resource that owns it (`admin::quota`, `admin::devices`, ...).

mod devices;
mod pages;
mod routes;
mod what_for;

pub use what_for::CategoryInfo;
mod regency;
mod village;

pub use devices::{DeviceCard, DeviceList};
pub use pages::{check_quota_form, local_datetime, Dashboard, Frame, Nav, QuotaForm};
pub use routes::handle;

use std::path::{Path, PathBuf};

use crate::accounts::web::csrf_ok;
use crate::accounts::web::Cookies;
use crate::lang::Language;
use crate::web::template::{PageSpec, TemplateError, Templates, UiFiles};

/// Every file the console is made of, with its built-in text.
macro_rules! embed {
    ($($file:literal),*) => { &[$(($file, include_str!(concat!("../../admin-ui/", $file)))),*] };
}
const EMBEDDED: &[(&str, &str)] = embed!(
    "strings.toml",
    "console.css",
    "templates/head.html",
    "templates/layout.html",
    "templates/login.html",
    "templates/dashboard.html",
    "templates/quota.html",
    "templates/devices.html",
    "templates/audit.html",
    "templates/message.html"
);

/// The console's files (nothing is inserted inline: the CSS is `/console.css`).
const FILES: UiFiles = UiFiles {
    name: "admin-ui",
    embedded: EMBEDDED,
    strings: "strings.toml",
    inserts: &[],
};

/// The `[quota]` keys the quota form edits, in the form's order: the config
/// file's own list ([`crate::config::QuotaKey::ALL`]).
pub const QUOTA_FIELDS: [&str; crate::config::QuotaKey::ALL.len()] = {
    let mut keys = [""; crate::config::QuotaKey::ALL.len()];
    let mut i = 0;
    while i < keys.len() {
        keys[i] = crate::config::QuotaKey::ALL[i].name();
        i += 1;
    }
    keys
};

/// The console's templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// The frame around every page.
    Layout,
    Login,
    Dashboard,
    Quota,
    Devices,
    Audit,
    /// One sentence: not allowed, not found, error.
    Message,
}

impl Template {
    const ALL: [Template; 7] = [
        Template::Layout,
        Template::Login,
        Template::Dashboard,
        Template::Quota,
        Template::Devices,
        Template::Audit,
        Template::Message,
    ];

    /// The template's path inside `admin-ui/`.
    pub fn file(self) -> &'static str {
        match self {
            Template::Layout => "templates/layout.html",
            Template::Login => "templates/login.html",
            Template::Dashboard => "templates/dashboard.html",
            Template::Quota => "templates/quota.html",
            Template::Devices => "templates/devices.html",
            Template::Audit => "templates/audit.html",
            Template::Message => "templates/message.html",
        }
    }

    /// The variables the console passes, space separated; a template may use
    /// only these (plus `lang` and `t:key`), so typos are caught at load.
    pub fn vars(self) -> &'static str {
        match self {
            Template::Layout => "title site_name account_html nav_html notice_html body_html other_lang switch_href",
            Template::Login => "login_csrf username error_html",
            Template::Dashboard => {
                "online today_label today_down today_up today_devices today_sessions today_peak top_html chart_html uplink_html what_for_html village_html power_html"
            }
            Template::Quota => {
                "csrf disabled submit_html daily_data daily_data_error_html session_time session_time_error_html \
                 idle_timeout idle_timeout_error_html download_rate download_rate_error_html upload_rate \
                 upload_rate_error_html after_quota_rate after_quota_rate_error_html accounting_interval \
                 accounting_interval_error_html"
            }
            Template::Devices => "count devices_html pager_html",
            Template::Audit => "entries_html pager_html",
            Template::Message => "message",
        }
    }
}

/// Why the console could not be loaded (each names the file at fault).
pub type ConsoleError = TemplateError;

/// The loaded, checked console (the server holds it beside `Admin`).
#[derive(Debug)]
pub struct Console {
    templates: Templates,
}

impl Console {
    /// Embedded defaults; files present in `dir` override them file by file.
    pub fn load(dir: Option<&Path>) -> Result<Console, ConsoleError> {
        let pages = Template::ALL.map(|t| PageSpec {
            file: t.file(),
            vars: t.vars(),
        });
        Ok(Console {
            templates: Templates::load(&FILES, dir, &pages)?,
        })
    }

    /// The override files actually used (for a start-up log line).
    pub fn overridden(&self) -> &[PathBuf] {
        self.templates.overridden()
    }

    /// The stylesheet served at `/console.css`.
    pub fn css(&self) -> &str {
        &self.templates.source("console.css").text
    }

    /// A string in a language; the key itself if missing (load() checked both
    /// languages have every key the built-in file has).
    pub fn text<'a>(&'a self, lang: Language, key: &'a str) -> &'a str {
        self.templates.text(lang, key)
    }

    /// A string with its `{word}` fill-ins replaced; not escaped.
    pub fn text_with(&self, lang: Language, key: &str, fill: &[(&str, &str)]) -> String {
        self.templates.text_with(lang, key, fill)
    }

    /// Render one template: values escaped except `_html` ones; a variable
    /// the template uses but `vars` lacks renders empty.
    pub fn render(&self, template: Template, lang: Language, vars: &[(&str, &str)]) -> String {
        self.templates.render(template as usize, lang, vars)
    }
}

// --- forms, cookies and CSRF -------------------------------------------------

/// The console's cookies for the shared login flow ([`crate::accounts::web`]).
pub const COOKIES: Cookies = Cookies {
    session: SESSION_COOKIE,
    login: LOGIN_CSRF_COOKIE,
};

/// The login form's check (before there is a session): the `csrf` field must
/// equal the `desawifi_login_csrf` cookie (double submit), same origin.
pub fn login_csrf_ok(headers: &hyper::HeaderMap, form: &[(String, String)]) -> bool {
    crate::accounts::web::login_csrf_ok(COOKIES, headers, form)
}

/// The session cookie (set at login; see `server::principal`).
pub const SESSION_COOKIE: &str = "desawifi_admin";
/// The login form's double-submit cookie.
pub const LOGIN_CSRF_COOKIE: &str = "desawifi_login_csrf";
/// The language the admin picked (`?lang=`), remembered across pages.
pub const LANG_COOKIE: &str = "desawifi_lang";

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::accounts::{Principal, Via};
    use crate::admin::usage::DayReport;
    use crate::config;
    use crate::domain::AuditAction;
    use crate::domain::DailyUsage;
    use crate::domain::{self, Role};
    use crate::gateway::DeviceView;
    use crate::store::AuditEntry;
    use crate::web::http::random_token;
    use crate::web::template::StringsFile;

    fn console() -> Console {
        Console::load(None).expect("built-in console loads")
    }

    fn principal(role: Role) -> Principal {
        Principal {
            username: "ani".into(),
            role,
            csrf: "c".repeat(64),
            via: Via::Cookie,
        }
    }

    fn frame<'a>(p: Option<&'a Principal>, lang: Language) -> Frame<'a> {
        Frame {
            lang,
            site_name: "Kepala Telake".into(),
            principal: p,
            nav: Some(Nav::Devices),
            notice_html: String::new(),
        }
    }

    fn quota() -> config::Quota {
        config::Quota {
            daily_data: domain::Size(500 << 20),
            session_time: Duration::from_secs(4 * 3600),
            idle_timeout: Duration::from_secs(1800),
            download_rate: domain::Rate(2_000_000),
            upload_rate: domain::Rate(1_000_000),
            after_quota_rate: domain::Rate(256_000),
            accounting_interval: Duration::from_secs(5),
        }
    }

    fn device(n: u8, online: bool, blocked: bool) -> DeviceView {
        DeviceView {
            mac: format!("02:77:00:00:00:{n:02x}").parse().unwrap(),
            ip: Some(Ipv4Addr::new(10, 77, 0, 10 + n)),
            first_seen: 0,
            quota: Default::default(),
            blocked,
            session: online
                .then(|| crate::domain::Session::new(Ipv4Addr::new(10, 77, 0, 10 + n), 0, 100)),
            seconds_remaining: 90,
            used_today: 12 << 20,
            daily_data: 500 << 20,
            exempt: false,
            trust: None,
            standing: crate::domain::Standing::Normal,
            quota_resets: 0,
        }
    }

    fn devices_html(p: &Principal) -> String {
        let list = DeviceList {
            devices: vec![
                DeviceCard {
                    view: device(1, true, false),
                    session_ends: Some("23:15".into()),
                },
                DeviceCard {
                    view: device(2, false, true),
                    session_ends: None,
                },
            ],
            total: 2,
            page: 0,
            more: false,
        };
        console().devices_page(&frame(Some(p), Language::Id), &list)
    }

    fn day(d: &str, down: u64, up: u64) -> DayReport {
        DayReport {
            day: d.into(),
            bytes_down: down,
            bytes_up: up,
            ..DayReport::default()
        }
    }

    /// Every page is self-contained and CSP-clean: no script, no inline style,
    /// nothing from elsewhere, no placeholder left over.
    fn assert_clean(html: &str) {
        let lower = html.to_ascii_lowercase();
        for bad in [
            "<script",
            "style=",
            "<style",
            "javascript:",
            "http://",
            "https://",
            "{{",
        ] {
            assert!(!lower.contains(bad), "page contains {bad:?}:\n{html}");
        }
        assert!(
            !html.contains("NaN") && !html.contains("inf\""),
            "a bad number:\n{html}"
        );
        assert!(
            html.starts_with("<!doctype html>"),
            "doc comment not stripped"
        );
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let file: StringsFile = toml::from_str(EMBEDDED[0].1).unwrap();
        assert_eq!(
            file.id.keys().collect::<Vec<_>>(),
            file.en.keys().collect::<Vec<_>>()
        );
        let c = console();
        assert_eq!(c.text(Language::Id, "logout"), "Keluar");
        assert_eq!(c.text(Language::En, "logout"), "Log out");
        assert_eq!(
            c.text_with(Language::En, "login_locked", &[("minutes", "15")]),
            "Too many failed attempts. This login is locked; try again in 15 minutes."
        );
    }

    #[test]
    fn login_page_escapes_and_carries_the_login_token() {
        let c = console();
        let html = c.login_page(
            &frame(None, Language::Id),
            &"a".repeat(64),
            "<b>\"x'&",
            Some("<i>salah</i>"),
        );
        assert_clean(&html);
        assert!(html.contains("&lt;b&gt;&quot;x&#39;&amp;"), "{html}");
        assert!(html.contains("&lt;i&gt;salah&lt;/i&gt;"));
        assert!(!html.contains("<b>") && !html.contains("<i>"));
        assert!(html.contains(&format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            "a".repeat(64)
        )));
        assert!(html.contains("<form method=\"post\" action=\"/login\""));
        assert!(html.contains("<html lang=\"id\">") && html.contains("href=\"?lang=en\""));
        // No one is logged in: no menu, no log-out button.
        assert!(!html.contains("<nav") && !html.contains("/logout"));
    }

    #[test]
    fn every_admin_form_carries_the_session_token_and_viewers_get_none() {
        let admin = principal(Role::Admin);
        let html = devices_html(&admin);
        assert_clean(&html);
        let forms = html.matches("<form ").count();
        let tokens = html
            .matches(&format!("name=\"csrf\" value=\"{}\"", admin.csrf))
            .count();
        assert!(
            forms >= 4,
            "logout, kick, block, unblock, overrides: {forms}\n{html}"
        );
        assert_eq!(forms, tokens, "a form without the CSRF token:\n{html}");
        for action in [
            "/devices/02:77:00:00:00:01/kick",
            "/devices/02:77:00:00:00:01/block",
            "/devices/02:77:00:00:00:02/unblock",
            "/devices/02:77:00:00:00:01/quota",
        ] {
            assert!(
                html.contains(&format!("action=\"{action}\"")),
                "{action} missing"
            );
        }
        assert!(
            !html.contains("/devices/02:77:00:00:00:02/kick"),
            "an offline device cannot be kicked"
        );

        let viewer = principal(Role::Viewer);
        let html = devices_html(&viewer);
        assert!(
            !html.contains("action=\"/devices/"),
            "a viewer sees no action buttons:\n{html}"
        );
        assert_eq!(html.matches("<form ").count(), 1, "only the log-out form");
        assert!(
            html.contains("02:77:00:00:00:02")
                && html.contains("diblokir")
                && html.contains("pemantau")
        );
        let quota_html = console().quota_page(
            &frame(Some(&viewer), Language::En),
            &QuotaForm::from_quota(&quota()),
            false,
        );
        assert!(
            quota_html.contains("<fieldset disabled>")
                && !quota_html.contains("type=\"submit\">Save")
        );
    }

    #[test]
    fn chart_with_no_days_zero_days_and_huge_days() {
        let c = console();
        let empty = c.chart_svg(Language::Id, &[]);
        assert!(empty.starts_with("<svg") && empty.ends_with("</svg>"));
        assert!(
            !empty.contains("<rect")
                && empty.contains("<title id=\"chart-title\">Pemakaian 7 hari terakhir</title>")
        );

        let zeros: Vec<DayReport> = (21..28)
            .map(|d| day(&format!("2026-11-{d}"), 0, 0))
            .collect();
        let svg = c.chart_svg(Language::En, &zeros);
        assert_eq!(svg.matches("<rect").count(), 14);
        assert_eq!(svg.matches("<title>").count(), 7, "one <title> per day");
        assert!(svg.contains("height=\"0.0\"") && !svg.contains("NaN") && !svg.contains("inf"));
        assert!(svg.contains(">27 Nov<") && svg.contains(">0 B<"));

        let huge = vec![
            day("2026-11-26", u64::MAX, u64::MAX),
            day("2026-11-27", 1 << 30, 0),
            day("2026-08-17", 0, 0),
        ];
        let svg = c.chart_svg(Language::Id, &huge);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert!(svg.contains(">17 Agu<"), "Indonesian month names: {svg}");
        // The biggest bar fills the plot (160 units: 80 + 80); the rest scale down, never below 0.
        assert!(svg.contains("height=\"80.0\""), "{svg}");
        for h in svg
            .split("height=\"")
            .skip(2)
            .map(|s| s.split('"').next().unwrap().parse::<f64>().unwrap())
        {
            assert!((0.0..=160.0).contains(&h), "bar height {h}");
        }
        assert!(
            svg.contains("16777216 TiB") || svg.contains("32 EiB") || svg.contains("TiB"),
            "{svg}"
        );
    }

    #[test]
    fn dashboard_renders_everything_escaped() {
        let c = console();
        let p = principal(Role::Viewer);
        let week: Vec<DayReport> = (21..28)
            .map(|d| day(&format!("2026-11-{d}"), d << 20, d << 10))
            .collect();
        let data = Dashboard {
            online: 3,
            today: DayReport {
                devices: 4,
                sessions: 9,
                peak_devices: 3,
                ..week[6].clone()
            },
            top: vec![(
                "02:77:00:00:00:01".parse().unwrap(),
                DailyUsage {
                    download: 27 << 20,
                    upload: 1 << 20,
                    free: 0,
                },
            )],
            week,
            village_html: String::new(),
            power: Some(crate::power::PowerState {
                mode: crate::power::Mode::Hemat,
                warning: false,
                health: crate::power::Health::Good,
                reading: Some(crate::power::Reading {
                    charge: Some(35.0),
                    volts: Some(12.4),
                    on_battery: true,
                    ..crate::power::Reading::empty(crate::power::Source::Nut, 0)
                }),
            }),
            uplink_down_since: Some("2026-11-27 <08:00>".into()),
            categories: vec![
                CategoryInfo {
                    id: "layanan_publik".into(),
                    name: "Layanan <publik>".into(),
                    free: true,
                },
                CategoryInfo {
                    id: "lainnya".into(),
                    name: "Lainnya".into(),
                    free: false,
                },
            ],
            category_days: vec![
                ("2026-11-26".into(), vec![DailyUsage::default(); 2]),
                (
                    "2026-11-27".into(),
                    vec![
                        DailyUsage {
                            download: 3 << 20,
                            upload: 0,
                            free: 0,
                        },
                        DailyUsage {
                            download: 1 << 20,
                            upload: 0,
                            free: 0,
                        },
                    ],
                ),
            ],
        };
        let html = c.dashboard_page(
            &Frame {
                nav: Some(Nav::Dashboard),
                ..frame(Some(&p), Language::Id)
            },
            &data,
        );
        assert_clean(&html);
        for good in [
            "id=\"online-now\">3<",
            "27 MiB",
            "Terputus sejak 2026-11-27 &lt;08:00&gt;",
            "<svg class=\"chart\"",
            "href=\"/\" aria-current=\"page\"",
            "02:77:00:00:00:01",
            "Dipakai untuk apa",
            "<svg class=\"chart what-for\"",
            "Layanan &lt;publik&gt; 75 % <strong class=\"free\">gratis kuota</strong>",
            "Lainnya 25 %",
            "Baterai (listrik surya)",
            "hemat (kuota [power.saver])",
            "35 %, 12.4 V, memakai baterai",
        ] {
            assert!(html.contains(good), "dashboard lacks {good:?}:\n{html}");
        }
    }

    #[test]
    fn audit_entries_are_escaped_and_paged() {
        let c = console();
        let p = principal(Role::Admin);
        let tz = jiff::tz::TimeZone::get("Asia/Makassar").unwrap();
        let e = AuditEntry {
            at: 1_795_000_000,
            who: "<ani>".into(),
            action: AuditAction::QuotaSet,
            target: "site".into(),
            old: serde_json::json!({"daily_data": "500 MiB"}),
            new: serde_json::json!("</p><script>"),
        };
        let html = c.audit_page(
            &frame(Some(&p), Language::En),
            &[(7, e)],
            &tz,
            false,
            Some(7),
        );
        assert_clean(&html);
        assert!(
            html.contains("&lt;ani&gt;")
                && html.contains("&lt;/p&gt;&lt;script&gt;")
                && html.contains("daily_data: 500 MiB →")
        );
        assert!(html.contains("href=\"/audit?before=7\""));
        assert_eq!(local_datetime(0, &tz), "1970-01-01 08:00");
    }

    #[test]
    fn quota_form_checks_every_field_and_sends_only_changes() {
        let q = quota();
        let form = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let changed = check_quota_form(
            &q,
            &form(&[
                ("daily_data", " 1 GiB "),
                ("session_time", "4h"),
                ("csrf", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(changed),
            serde_json::json!({"daily_data": "1 GiB"})
        );
        let err = check_quota_form(
            &q,
            &form(&[
                ("daily_data", "lots"),
                ("download_rate", "<b>"),
                ("idle_timeout", "30m"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err.errors.keys().copied().collect::<Vec<_>>(),
            vec!["daily_data", "download_rate"]
        );
        assert_eq!(
            err.values["daily_data"], "lots",
            "what was typed stays in the field"
        );
        let html = console().quota_page(
            &frame(Some(&principal(Role::Admin)), Language::Id),
            &err,
            true,
        );
        assert_clean(&html);
        assert!(
            html.contains("id=\"daily_data-error\"")
                && html.contains("value=\"&lt;b&gt;\"")
                && html.contains("&quot;&lt;b&gt;&quot;")
        );
        assert!(html.contains("<fieldset >") && html.contains("type=\"submit\">Simpan"));
        let shown = QuotaForm::from_quota(&q);
        assert_eq!(shown.values["daily_data"], "500 MiB");
        assert_eq!(shown.values["session_time"], "4h");
        assert_eq!(shown.values["after_quota_rate"], "256 kbit/s");
    }

    fn headers(pairs: &[(&str, &str)]) -> hyper::HeaderMap {
        let mut h = hyper::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_post_without_the_right_token_or_from_elsewhere_is_refused() {
        let p = principal(Role::Admin);
        let good = vec![("csrf".to_owned(), p.csrf.clone())];
        let host = [("host", "192.0.2.1:8443")];
        assert!(csrf_ok(&headers(&host), &p, &good));
        assert!(csrf_ok(
            &headers(&[
                ("host", "192.0.2.1:8443"),
                ("origin", "https://192.0.2.1:8443"),
                ("sec-fetch-site", "same-origin")
            ]),
            &p,
            &good
        ));
        assert!(!csrf_ok(&headers(&host), &p, &[]), "no token");
        assert!(
            !csrf_ok(
                &headers(&host),
                &p,
                &[("csrf".into(), "c".repeat(63) + "d")]
            ),
            "wrong token"
        );
        assert!(!csrf_ok(
            &headers(&host),
            &p,
            &[("csrf".into(), String::new())]
        ));
        assert!(
            !csrf_ok(
                &headers(&[
                    ("host", "192.0.2.1:8443"),
                    ("origin", "https://evil.example")
                ]),
                &p,
                &good
            ),
            "foreign Origin"
        );
        assert!(
            !csrf_ok(
                &headers(&[("host", "192.0.2.1:8443"), ("origin", "null")]),
                &p,
                &good
            ),
            "opaque Origin"
        );
        assert!(
            !csrf_ok(
                &headers(&[("origin", "null"), ("sec-fetch-site", "cross-site")]),
                &p,
                &good
            ),
            "sandboxed frame elsewhere"
        );
        assert!(
            csrf_ok(
                &headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
                &p,
                &good
            ),
            "no-referrer policy, same origin"
        );
        assert!(
            !csrf_ok(&headers(&[("origin", "https://192.0.2.1:8443")]), &p, &good),
            "Origin without Host"
        );
        assert!(!csrf_ok(
            &headers(&[("host", "192.0.2.1:8443"), ("sec-fetch-site", "cross-site")]),
            &p,
            &good
        ));
        let tokenless = Principal {
            csrf: String::new(),
            ..p.clone()
        };
        assert!(
            !csrf_ok(
                &headers(&host),
                &tokenless,
                &[("csrf".into(), String::new())]
            ),
            "an empty token never matches"
        );

        let t = random_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, random_token());
        let field = vec![("csrf".to_owned(), t.clone())];
        let cookie = format!("a=b; {LOGIN_CSRF_COOKIE}={t}");
        assert!(login_csrf_ok(&headers(&[("cookie", &cookie)]), &field));
        assert!(
            !login_csrf_ok(&headers(&[]), &field),
            "no cookie: posted from another site"
        );
        assert!(!login_csrf_ok(
            &headers(&[("cookie", &format!("{LOGIN_CSRF_COOKIE}={}", random_token()))]),
            &field
        ));
        assert!(
            !login_csrf_ok(
                &headers(&[("cookie", &format!("{LOGIN_CSRF_COOKIE}=x"))]),
                &[("csrf".into(), "x".into())]
            ),
            "too short"
        );
        assert!(!login_csrf_ok(
            &headers(&[
                ("cookie", &cookie),
                ("host", "h"),
                ("origin", "https://evil.example")
            ]),
            &field
        ));
    }

    #[test]
    fn the_head_is_one_file_and_its_override_changes_every_page() {
        let html = console().login_page(&frame(None, Language::Id), "t", "", None);
        assert!(
            html.contains("<meta name=\"referrer\" content=\"same-origin\">\n<title>Masuk · "),
            "{html}"
        );
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/console.css\">\n</head>\n<body>"));
        let dir =
            std::env::temp_dir().join(format!("desawifi-console-head-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        let head = dir.join("templates/head.html");
        std::fs::write(&head, "<!doctype html>\n<html lang=\"{{lang}}\"><head><title>{{$title}}{{/title}}Konsol {{site_name}}</title></head>").unwrap();
        let c = Console::load(Some(&dir)).unwrap();
        let login = c.login_page(&frame(None, Language::En), "t", "", None);
        let message = c.message_page(&frame(None, Language::En), "login_title", "logout");
        for html in [login, message] {
            assert!(html.starts_with("<!doctype html>\n<html lang=\"en\"><head><title>Konsol Kepala Telake</title></head>\n<body>"), "{html}");
        }
        std::fs::write(&head, "<title>{{tilte}}</title>").unwrap();
        let err = Console::load(Some(&dir)).unwrap_err().to_string();
        assert!(
            err.contains("tilte") && err.contains(&head.display().to_string()),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn override_with_unknown_placeholder_fails_naming_it() {
        let dir = std::env::temp_dir().join(format!("desawifi-console-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        let path = dir.join("templates/quota.html");
        std::fs::write(&path, "<p>{{daily_data}} {{daliy_data}}</p>").unwrap();
        let err = Console::load(Some(&dir)).unwrap_err().to_string();
        assert!(
            err.contains("daliy_data") && err.contains(&path.display().to_string()),
            "{err}"
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::write(dir.join("console.css"), "body{color:#123456}").unwrap();
        let c = Console::load(Some(&dir)).unwrap();
        assert_eq!(c.css(), "body{color:#123456}");
        assert_eq!(c.overridden(), [dir.join("console.css")]);
        std::fs::write(
            dir.join("strings.toml"),
            EMBEDDED[0].1.replacen("logout = \"Log out\"\n", "", 1),
        )
        .unwrap();
        assert!(matches!(
            Console::load(Some(&dir)),
            Err(TemplateError::MissingString { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            Console::load(Some(Path::new("/nonexistent/admin-ui"))),
            Err(TemplateError::NoDir { .. })
        ));
    }
}
