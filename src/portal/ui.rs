//! The villager-facing pages: templates, stylesheet, words and literacy tips.
//!
//! Everything under `portal-ui/` is compiled into the binary, so a fresh router
//! serves good pages with no files on disk. A village (or the regency) may
//! put its own copy of any of those files in an override directory; each file
//! found there replaces the built-in one, file by file. All of it is checked
//! once at start-up, so a typo in an override stops the daemon with a message
//! naming the file, instead of showing villagers a broken page.
//!
//! The template engine is [`crate::web::template`]; here are the portal's own
//! pages, its tips and their checks. Every page shares `templates/head.html`
//! (doctype, meta tags, inline CSS, the logo header) and `templates/foot.html`
//! (language switch), so one override of either changes every page.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::quiz::Pillar;
use crate::lang::Language;
use crate::web::http::escape_html;
use crate::web::template::{PageSpec, Source, TemplateError, Templates, UiFiles};

/// Every file the UI is made of, with its built-in text.
macro_rules! embed {
    ($($file:literal),*) => { &[$(($file, include_str!(concat!("../../portal-ui/", $file)))),*] };
}
const EMBEDDED: &[(&str, &str)] = embed!(
    "strings.toml",
    "tips.toml",
    "quiz.toml",
    "style.css",
    "logo.svg",
    "templates/head.html",
    "templates/foot.html",
    "templates/splash.html",
    "templates/status.html",
    "templates/message.html",
    "templates/info.html",
    "templates/privacy.html"
);

/// The portal UI's files; `{{css}}` and `{{logo}}` insert two of them.
const FILES: UiFiles = UiFiles {
    name: "portal-ui",
    embedded: EMBEDDED,
    strings: "strings.toml",
    inserts: &[("css", "style.css"), ("logo", "logo.svg")],
};

/// The page shapes the portal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Before login: tip, fair-use terms, the connect button.
    Splash,
    /// After login: time and data left, the log-out button.
    Status,
    /// One plain message: blocked, over quota, error, ...
    Message,
    /// RFC 8908's venue-info page: the public services always reachable and
    /// the free categories, by name; the tips.
    Info,
    /// The privacy notice: what the router keeps about a phone and for how long.
    Privacy,
}

impl Page {
    const ALL: [Page; 5] = [
        Page::Splash,
        Page::Status,
        Page::Message,
        Page::Info,
        Page::Privacy,
    ];

    /// The template's path inside `portal-ui/`.
    pub fn file(self) -> &'static str {
        match self {
            Page::Splash => "templates/splash.html",
            Page::Status => "templates/status.html",
            Page::Message => "templates/message.html",
            Page::Info => "templates/info.html",
            Page::Privacy => "templates/privacy.html",
        }
    }

    /// The variables the portal passes for this page, space separated; a
    /// template may use only these (plus the built-ins), so typos are caught
    /// at load.
    pub fn vars(self) -> &'static str {
        match self {
            Page::Splash => "site_name regency tip pillar other_lang notice_html",
            Page::Status => {
                "site_name regency headline state time_left data_used data_left notice_html quiz_html \
                 other_lang"
            }
            Page::Message => "title body quiz_html other_lang",
            Page::Info => {
                "site_name regency services_html technician_html free_html allowance_html tips_html \
                 notice_html other_lang"
            }
            Page::Privacy => "site_name regency how_long ask other_lang",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One digital-literacy tip, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tip {
    pub pillar: Pillar,
    pub id: String,
    pub en: String,
}

impl Tip {
    /// The tip's text in a language.
    pub fn text(&self, lang: Language) -> &str {
        match lang {
            Language::Id => &self.id,
            Language::En => &self.en,
        }
    }
}

/// Why the portal UI could not be loaded. Each names the file at fault
/// (`<built-in>/...` for an embedded one).
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// A file, string or template is wrong (see [`TemplateError`]).
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// tips.toml has no `[[tip]]` at all.
    #[error("{path}: no tips; add at least one [[tip]] with pillar, id and en")]
    NoTips { path: PathBuf },
    /// A tip's text is empty in one language.
    #[error("{path}: tip number {number} has an empty {field:?} text")]
    EmptyTip {
        path: PathBuf,
        number: usize,
        field: &'static str,
    },
    /// quiz.toml is wrong (see [`super::quiz::QuizError`]).
    #[error(transparent)]
    Quiz(#[from] super::quiz::QuizError),
}

/// The loaded, checked portal UI. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Ui {
    templates: Templates,
    tips: Vec<Tip>,
    quiz: Vec<super::quiz::Question>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TipsFile {
    #[serde(default)]
    tip: Vec<Tip>,
}

impl Ui {
    /// Embedded defaults (include_str! of the portal-ui files); files present
    /// in `dir` override the embedded ones file by file.
    pub fn load(dir: Option<&Path>) -> Result<Ui, UiError> {
        let pages = Page::ALL.map(|page| PageSpec {
            file: page.file(),
            vars: page.vars(),
        });
        let templates = Templates::load(&FILES, dir, &pages)?;
        let tips = load_tips(templates.source("tips.toml"))?;
        let quiz = super::quiz::load(templates.source("quiz.toml"), tips.len())?;
        Ok(Ui {
            templates,
            tips,
            quiz,
        })
    }

    /// The override files actually used, for a start-up log line (an override
    /// saved under a wrong name is otherwise silently ignored).
    pub fn overridden(&self) -> &[PathBuf] {
        self.templates.overridden()
    }

    /// The quiz bank, in file order (never empty).
    pub fn quiz(&self) -> &[super::quiz::Question] {
        &self.quiz
    }

    /// All tips, in file order.
    pub fn tips(&self) -> &[Tip] {
        &self.tips
    }

    /// Tip number `n` modulo the count (the caller rotates n, e.g. per
    /// request/minute).
    pub fn tip(&self, n: u64) -> &Tip {
        // load() guarantees at least one tip.
        &self.tips[(n % self.tips.len() as u64) as usize]
    }

    /// A UI string for a language; never panics: returns the key itself if
    /// missing (load() already checked both languages have every key).
    pub fn text<'a>(&'a self, lang: Language, key: &'a str) -> &'a str {
        self.templates.text(lang, key)
    }

    /// A UI string with its `{word}` fill-ins replaced, e.g.
    /// `text_with(lang, "over_quota", &[("reset", "00:00")])`. Not escaped:
    /// pass the result as an ordinary (escaped) render variable.
    pub fn text_with(&self, lang: Language, key: &str, fill: &[(&str, &str)]) -> String {
        self.templates.text_with(lang, key, fill)
    }

    /// Render a page. `vars` are placeholder values; every value is
    /// HTML-escaped except placeholders whose name ends in `_html` (raw,
    /// produced by trusted code). Template placeholders: `{{name}}`;
    /// `{{t:key}}` inserts text(lang, key) escaped; `{{css}}` inserts the
    /// stylesheet; `{{logo}}` the SVG logo; `{{lang}}` the language tag;
    /// `{{> head}}` and `{{<head}}...{{/head}}` the shared partials (see
    /// [`crate::web::template`]). A variable the template uses but `vars`
    /// lacks renders empty.
    pub fn render(&self, page: Page, lang: Language, vars: &[(&str, &str)]) -> String {
        self.templates.render(page.index(), lang, vars)
    }
}

/// A ready-made notice for the `notice_html` slot (uplink down, blocked, ...):
/// `text` is escaped here.
pub fn notice_html(text: &str) -> String {
    format!(
        "<p class=\"notice\" role=\"alert\">{}</p>",
        escape_html(text)
    )
}

/// Parse and check tips.toml: at least one tip, none empty in either language.
fn load_tips(src: &Source) -> Result<Vec<Tip>, UiError> {
    let parsed: TipsFile = src.parse_toml()?;
    if parsed.tip.is_empty() {
        return Err(UiError::NoTips {
            path: src.path.clone(),
        });
    }
    for (i, tip) in parsed.tip.iter().enumerate() {
        for (field, text) in [("id", &tip.id), ("en", &tip.en)] {
            if text.trim().is_empty() {
                return Err(UiError::EmptyTip {
                    path: src.path.clone(),
                    number: i + 1,
                    field,
                });
            }
        }
    }
    Ok(parsed.tip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::template::StringsFile;

    fn ui() -> Ui {
        Ui::load(None).expect("built-in UI loads")
    }

    /// A fresh, empty directory under the system temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("desawifi-ui-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        dir
    }

    fn splash(ui: &Ui, lang: Language, site: &str) -> String {
        let tip = ui.tip(7);
        ui.render(
            Page::Splash,
            lang,
            &[
                ("site_name", site),
                ("regency", "Kabupaten Paser"),
                ("tip", tip.text(lang)),
                ("pillar", tip.pillar.name(lang)),
                ("other_lang", lang.other().tag()),
                ("notice_html", ""),
            ],
        )
    }

    fn status(ui: &Ui, lang: Language) -> String {
        let notice = notice_html(ui.text(lang, "uplink_down"));
        ui.render(
            Page::Status,
            lang,
            &[
                ("site_name", "Kepala Telake"),
                ("regency", "Kabupaten Paser"),
                (
                    "state",
                    &ui.text_with(lang, "state_throttled", &[("reset", "00:00")]),
                ),
                ("time_left", "2 jam 15 menit"),
                ("data_used", "312 MB"),
                ("data_left", "188 MB"),
                ("notice_html", &notice),
                ("other_lang", lang.other().tag()),
            ],
        )
    }

    #[test]
    fn enough_tips_in_every_pillar() {
        let ui = ui();
        assert!(ui.tips().len() >= 40, "only {} tips", ui.tips().len());
        for pillar in [Pillar::Cakap, Pillar::Etika, Pillar::Aman, Pillar::Budaya] {
            let n = ui.tips().iter().filter(|t| t.pillar == pillar).count();
            assert!(n >= 10, "{pillar:?} has only {n} tips");
        }
        for (i, tip) in ui.tips().iter().enumerate() {
            assert!(
                !tip.id.trim().is_empty() && !tip.en.trim().is_empty(),
                "tip {i} is empty"
            );
            assert!(
                tip.id.chars().count() <= 220,
                "tip {i} is too long: {}",
                tip.id
            );
            assert_ne!(tip.id, tip.en, "tip {i} is not translated");
        }
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let file: StringsFile = toml::from_str(EMBEDDED[0].1).unwrap();
        let id: Vec<_> = file.id.keys().collect();
        let en: Vec<_> = file.en.keys().collect();
        assert_eq!(id, en);
        let ui = ui();
        assert_eq!(ui.text(Language::Id, "connect"), "Sambungkan");
        assert_eq!(ui.text(Language::En, "connect"), "Connect");
        assert_eq!(ui.text(Language::Id, "logout"), "Keluar");
        assert_eq!(ui.text(Language::En, "logout"), "Log out");
        assert_eq!(ui.text(Language::Id, "tip_heading"), "Tip literasi digital");
        for key in [
            "blocked",
            "over_quota",
            "quota_cut",
            "session_ended",
            "error",
            "no_device",
            "uplink_down",
        ] {
            assert!(file.id.contains_key(key), "{key} missing");
        }
        assert!(ui
            .text(Language::Id, "uplink_down")
            .contains("bukan masalah di ponsel Anda"));
        assert_eq!(ui.text(Language::En, "no_such_key"), "no_such_key");
    }

    #[test]
    fn splash_is_small_self_contained_and_posts_a_form() {
        let ui = ui();
        for (lang, button) in [(Language::Id, "Sambungkan"), (Language::En, "Connect")] {
            let html = splash(&ui, lang, "Kepala Telake");
            assert!(
                html.len() < 30 * 1024,
                "{lang} splash is {} bytes",
                html.len()
            );
            assert!(
                html.starts_with("<!doctype html>"),
                "doc comment not stripped"
            );
            let lower = html.to_ascii_lowercase();
            for bad in [
                "http://", "https://", "src=", "<script", "<link", "url(", "@import", "{{",
            ] {
                assert!(!lower.contains(bad), "{lang} splash contains {bad:?}");
            }
            for good in [
                "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
                "<form method=\"post\" action=\"/login\">",
                &format!("<input type=\"hidden\" name=\"lang\" value=\"{lang}\">"),
                &format!("href=\"?lang={}\"", lang.other()),
                &format!("<html lang=\"{lang}\">"),
                button,
                "Kepala Telake",
                "Kabupaten Paser",
                ui.tip(7).text(lang),
                "<svg",
            ] {
                assert!(html.contains(good), "{lang} splash lacks {good:?}");
            }
        }
    }

    #[test]
    fn status_and_message_pages_render() {
        let ui = ui();
        let html = status(&ui, Language::Id);
        for good in [
            "action=\"/logout\"",
            "Keluar",
            "Waktu tersisa",
            "312 MB",
            "pukul 00:00",
            "class=\"notice\"",
        ] {
            assert!(html.contains(good), "status lacks {good:?}");
        }
        let html = ui.render(
            Page::Message,
            Language::En,
            &[
                ("title", ui.text(Language::En, "blocked_title")),
                ("body", ui.text(Language::En, "blocked")),
            ],
        );
        assert!(html.contains("<h1>Device blocked</h1>") && html.contains("href=\"/\""));
        // other_lang was not passed: it renders empty rather than failing.
        assert!(html.contains("href=\"?lang=\""));
    }

    #[test]
    fn values_are_escaped_except_html_slots() {
        let ui = ui();
        let html = splash(&ui, Language::Id, "<b>&\"'");
        assert!(html.contains("&lt;b&gt;&amp;&quot;&#39;"));
        assert!(!html.contains("<b>"));
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let notice = notice_html("<i>down</i>");
        let html = ui.render(Page::Splash, Language::Id, &[("notice_html", &notice)]);
        assert!(html.contains("<p class=\"notice\" role=\"alert\">&lt;i&gt;down&lt;/i&gt;</p>"));
    }

    #[test]
    fn override_replaces_one_file_and_keeps_the_rest() {
        let dir = temp_dir("css");
        std::fs::write(dir.join("style.css"), "body{color:#123456}").unwrap();
        let ui = Ui::load(Some(&dir)).unwrap();
        assert_eq!(ui.overridden(), [dir.join("style.css")]);
        let html = splash(&ui, Language::Id, "Desa");
        assert!(html.contains("<style>body{color:#123456}</style>"));
        assert!(html.contains("Sambungkan"));
        assert_eq!(ui.tips(), self::ui().tips());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn override_with_unknown_placeholder_fails_naming_it() {
        let dir = temp_dir("typo");
        let path = dir.join("templates/status.html");
        std::fs::write(&path, "<!doctype html><p>{{time_left}} {{tiem_left}}</p>").unwrap();
        let err = Ui::load(Some(&dir)).unwrap_err().to_string();
        assert!(
            err.contains("tiem_left") && err.contains(&path.display().to_string()),
            "{err}"
        );
        // A placeholder of another page is unknown here too.
        std::fs::write(&path, "{{tip}}").unwrap();
        assert!(Ui::load(Some(&dir))
            .unwrap_err()
            .to_string()
            .contains("{{tip}}"));
        std::fs::write(&path, "<p>{{state</p>").unwrap();
        assert!(matches!(
            Ui::load(Some(&dir)),
            Err(UiError::Template(TemplateError::Unclosed { offset: 3, .. }))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn override_strings_and_tips_are_checked() {
        let dir = temp_dir("strings");
        let path = dir.join("strings.toml");
        let builtin = EMBEDDED[0].1;
        std::fs::write(&path, builtin.replacen("logout = \"Log out\"\n", "", 1)).unwrap();
        let err = Ui::load(Some(&dir)).unwrap_err().to_string();
        assert!(err.contains("\"logout\"") && err.contains("[en]"), "{err}");
        std::fs::write(
            &path,
            builtin.replacen("sampai pukul {reset}", "sampai besok", 1),
        )
        .unwrap();
        assert!(matches!(
            Ui::load(Some(&dir)),
            Err(UiError::Template(TemplateError::FillInMismatch { .. }))
        ));
        std::fs::write(&path, "[id\n").unwrap();
        assert!(matches!(
            Ui::load(Some(&dir)),
            Err(UiError::Template(TemplateError::BadToml { .. }))
        ));
        std::fs::remove_file(&path).unwrap();

        let path = dir.join("tips.toml");
        std::fs::write(&path, "# none yet\n").unwrap();
        assert!(matches!(Ui::load(Some(&dir)), Err(UiError::NoTips { .. })));
        std::fs::write(
            &path,
            "[[tip]]\npillar = \"lucu\"\nid = \"x\"\nen = \"y\"\n",
        )
        .unwrap();
        let err = Ui::load(Some(&dir)).unwrap_err().to_string();
        assert!(err.contains("lucu") && err.contains("tips.toml"), "{err}");
        std::fs::write(
            &path,
            "[[tip]]\npillar = \"aman\"\nid = \"Jaga OTP\"\nen = \"\"\n",
        )
        .unwrap();
        assert!(matches!(
            Ui::load(Some(&dir)),
            Err(UiError::EmptyTip {
                number: 1,
                field: "en",
                ..
            })
        ));
        std::fs::write(
            &path,
            "[[tip]]\npillar = \"aman\"\nid = \"Jaga OTP\"\nen = \"Guard your OTP\"\n",
        )
        .unwrap();
        assert_eq!(Ui::load(Some(&dir)).unwrap().tip(5).en, "Guard your OTP");
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(matches!(
            Ui::load(Some(Path::new("/nonexistent/portal-ui"))),
            Err(UiError::Template(TemplateError::NoDir { .. }))
        ));
    }

    #[test]
    fn every_page_shares_the_head_and_one_override_changes_them_all() {
        let pages = |ui: &Ui| {
            Page::ALL.map(|page| {
                ui.render(
                    page,
                    Language::Id,
                    &[
                        ("site_name", "Desa"),
                        ("regency", "Paser"),
                        ("title", "Judul"),
                    ],
                )
            })
        };
        for html in pages(&ui()) {
            assert!(
                html.starts_with("<!doctype html>\n<html lang=\"id\">"),
                "{html}"
            );
            assert!(html.contains(
                "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            ));
            assert!(html.contains("<style>") && html.contains("<svg"));
            assert!(html.trim_end().ends_with("</html>") && !html.contains("{{"));
        }
        let message = ui().render(Page::Message, Language::En, &[("title", "Blocked")]);
        assert!(message.contains("<title>Blocked</title>") && message.contains("<h1>Blocked</h1>"));

        let dir = temp_dir("head");
        let head = dir.join("templates/head.html");
        let builtin = EMBEDDED
            .iter()
            .find(|(f, _)| *f == "templates/head.html")
            .unwrap()
            .1;
        std::fs::write(
            &head,
            builtin.replace(
                "<head>\n",
                "<head>\n<meta name=\"theme-color\" content=\"#2e7d32\">\n",
            ),
        )
        .unwrap();
        let ui = Ui::load(Some(&dir)).unwrap();
        assert_eq!(ui.overridden(), std::slice::from_ref(&head));
        for html in pages(&ui) {
            assert!(
                html.contains("<meta name=\"theme-color\" content=\"#2e7d32\">"),
                "{html}"
            );
        }
        std::fs::write(&head, builtin.replace("{{regency}}", "{{regncy}}")).unwrap();
        let err = Ui::load(Some(&dir)).unwrap_err().to_string();
        assert!(
            err.contains("regncy") && err.contains(&head.display().to_string()),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tip_rotation_wraps() {
        let ui = ui();
        let n = ui.tips().len() as u64;
        assert_eq!(ui.tip(0), ui.tip(n));
        assert_eq!(ui.tip(3), ui.tip(3 + 5 * n));
        let _ = ui.tip(u64::MAX);
    }
}
