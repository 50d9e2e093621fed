//! The literacy quiz on the status page: the question bank (`quiz.toml`,
//! embedded and overridable like the tips), the question bound to a device
//! for the day, the form (one radio button per option; it carries the
//! answer's number only, never the question or the right answer) and the
//! page after an answer. The gateway decides attempts and bonus.

use std::hash::{BuildHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;

use super::ui::{Pillar, Ui};
use crate::domain::{local_day, Mac, Size};
use crate::lang::Language;
use crate::web::http::escape_html;
use crate::web::template::Source;

/// One option of a question, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuizOption {
    pub id: String,
    pub en: String,
}

/// One multiple-choice question.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub pillar: Pillar,
    /// The tip (1 = the first in tips.toml) it goes with.
    pub tip: usize,
    pub id: String,
    pub en: String,
    /// The right option, 1 = the first.
    pub answer: usize,
    pub explain_id: String,
    pub explain_en: String,
    #[serde(rename = "option")]
    pub options: Vec<QuizOption>,
}

impl Question {
    /// The question in a language.
    pub fn text(&self, lang: Language) -> &str {
        pick(lang, &self.id, &self.en)
    }

    /// Why the right answer is right, in a language.
    pub fn explanation(&self, lang: Language) -> &str {
        pick(lang, &self.explain_id, &self.explain_en)
    }

    /// Option `n` (1-based) in a language.
    pub fn option(&self, n: usize, lang: Language) -> &str {
        let o = &self.options[n - 1];
        pick(lang, &o.id, &o.en)
    }
}

fn pick<'a>(lang: Language, id: &'a str, en: &'a str) -> &'a str {
    match lang {
        Language::Id => id,
        Language::En => en,
    }
}

/// The pillar as the gateway and the regency's counts name it.
pub fn pillar_key(p: Pillar) -> &'static str {
    match p {
        Pillar::Cakap => "cakap",
        Pillar::Etika => "etika",
        Pillar::Aman => "aman",
        Pillar::Budaya => "budaya",
    }
}

/// Why quiz.toml cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum QuizError {
    /// The file is not the TOML it should be.
    #[error(transparent)]
    Template(#[from] crate::web::template::TemplateError),
    /// A question is wrong; `number` counts from 1 in file order.
    #[error("{path}: question number {number}: {message}")]
    Bad {
        path: PathBuf,
        number: usize,
        message: String,
    },
    /// No questions at all.
    #[error("{path}: no questions; add at least one [[question]]")]
    Empty { path: PathBuf },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuizFile {
    #[serde(default)]
    question: Vec<Question>,
}

/// Parse and check quiz.toml. An override's `tip` numbers must name tips
/// of the tips.toml in use (`tips` of them); the built-in bank's are checked
/// against the built-in tips by a test, and stay valid beside a village's
/// own tips.toml (the number is then only a note).
pub fn load(src: &Source, tips: usize) -> Result<Vec<Question>, QuizError> {
    let builtin = src.path.starts_with("<built-in>");
    let file: QuizFile = src.parse_toml()?;
    if file.question.is_empty() {
        return Err(QuizError::Empty {
            path: src.path.clone(),
        });
    }
    for (i, q) in file.question.iter().enumerate() {
        let bad = |message: String| QuizError::Bad {
            path: src.path.clone(),
            number: i + 1,
            message,
        };
        if !(3..=4).contains(&q.options.len()) {
            return Err(bad(format!("has {} options (3 or 4)", q.options.len())));
        }
        if q.answer == 0 || q.answer > q.options.len() {
            return Err(bad(format!(
                "answer = {} is not one of its options",
                q.answer
            )));
        }
        if q.tip == 0 || (!builtin && q.tip > tips) {
            return Err(bad(format!(
                "tip = {} is not a tip in tips.toml (1..={tips})",
                q.tip
            )));
        }
        let texts = [
            ("id", &q.id),
            ("en", &q.en),
            ("explain_id", &q.explain_id),
            ("explain_en", &q.explain_en),
        ];
        for (field, text) in texts {
            if text.trim().is_empty() {
                return Err(bad(format!("{field} is empty")));
            }
        }
        if q.options
            .iter()
            .any(|o| o.id.trim().is_empty() || o.en.trim().is_empty())
        {
            return Err(bad("an option is empty in one language".into()));
        }
    }
    Ok(file.question)
}

/// The question of the day for a device: from its MAC and the local day,
/// keyed by a secret of this process, so the form needs to carry nothing
/// and a villager cannot pick another one.
pub fn question_for<'a>(ui: &'a Ui, mac: Mac, now: i64, tz: &jiff::tz::TimeZone) -> &'a Question {
    static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    let mut h = KEY.get_or_init(Default::default).build_hasher();
    mac.0.hash(&mut h);
    local_day(now, tz).hash(&mut h);
    let bank = ui.quiz();
    &bank[(h.finish() % bank.len() as u64) as usize]
}

/// The quiz card for the status page (escaped here).
pub fn card_html(ui: &Ui, q: &Question, bonus: Size, lang: Language) -> String {
    let mut out = String::from("<section class=\"card quiz\">");
    let heading = ui.text_with(lang, "quiz_heading", &[("bonus", &bonus.to_string())]);
    out.push_str(&format!(
        "<h2>{}</h2><p class=\"k\">{}</p><form method=\"post\" action=\"/quiz\">\
         <input type=\"hidden\" name=\"lang\" value=\"{}\"><fieldset><legend>{}</legend>",
        escape_html(&heading),
        escape_html(q.pillar.name(lang)),
        lang.tag(),
        escape_html(q.text(lang)),
    ));
    for n in 1..=q.options.len() {
        out.push_str(&format!(
            "<label class=\"opt\"><input type=\"radio\" name=\"answer\" value=\"{n}\" required> {}</label>",
            escape_html(q.option(n, lang))
        ));
    }
    out.push_str(&format!(
        "</fieldset><button class=\"btn\" type=\"submit\">{}</button></form></section>",
        escape_html(ui.text(lang, "quiz_submit"))
    ));
    out
}

/// The option number a posted form chose (`answer=2`), if it is one.
pub fn posted_answer(form: &[u8], options: usize) -> Option<usize> {
    let text = std::str::from_utf8(form).ok()?;
    let n: usize = text
        .split('&')
        .find_map(|kv| kv.strip_prefix("answer="))?
        .parse()
        .ok()?;
    (1..=options).contains(&n).then_some(n)
}

/// The status page's quiz card for this device, or empty when it has
/// answered today (and the question counted as shown).
pub fn status_card(
    portal: &super::Portal,
    mac: Mac,
    lang: Language,
) -> Result<String, crate::gateway::GatewayError> {
    let gw = &portal.gateway;
    if !gw.quiz_open(&mac)? {
        return Ok(String::new());
    }
    let q = question_for(&portal.ui, mac, gw.now(), &gw.config().site.timezone);
    gw.quiz_shown(mac, pillar_key(q.pillar))?;
    Ok(card_html(&portal.ui, q, gw.config().quiz.bonus, lang))
}

/// `POST /quiz`: check the posted option against the device's question of
/// the day; the page says what it earned (or the right answer and why).
/// `None` for a form without a valid option (the caller sends it back).
pub async fn answer(
    portal: &super::Portal,
    mac: Mac,
    form: &[u8],
    lang: Language,
) -> Result<Option<(hyper::StatusCode, String, String)>, crate::gateway::GatewayError> {
    let gw = &portal.gateway;
    let q = question_for(&portal.ui, mac, gw.now(), &gw.config().site.timezone);
    let Some(chosen) = posted_answer(form, q.options.len()) else {
        return Ok(None);
    };
    let ui = &portal.ui;
    let bonus = gw.config().quiz.bonus.to_string();
    let right_text = q.option(q.answer, lang);
    let outcome = gw
        .quiz_answer(mac, pillar_key(q.pillar), chosen == q.answer)
        .await?;
    use crate::gateway::QuizOutcome;
    Ok(Some(match outcome {
        QuizOutcome::Right { .. } => (
            hyper::StatusCode::OK,
            ui.text(lang, "quiz_right_title").to_owned(),
            format!(
                "{} {}",
                ui.text_with(lang, "quiz_right", &[("bonus", &bonus)]),
                q.explanation(lang)
            ),
        ),
        // Attempts left: neither the right answer nor the explanation (which
        // names it), or the next attempt would be paid for (issue 22, item 10).
        QuizOutcome::Wrong { attempts_left } if attempts_left > 0 => (
            hyper::StatusCode::OK,
            ui.text(lang, "quiz_wrong_title").to_owned(),
            ui.text_with(
                lang,
                "quiz_wrong_retry",
                &[("left", &attempts_left.to_string())],
            ),
        ),
        QuizOutcome::Wrong { .. } => (
            hyper::StatusCode::OK,
            ui.text(lang, "quiz_wrong_title").to_owned(),
            format!(
                "{} {}",
                ui.text_with(lang, "quiz_wrong", &[("answer", right_text)]),
                q.explanation(lang)
            ),
        ),
        QuizOutcome::NoAttemptsLeft => (
            hyper::StatusCode::CONFLICT,
            ui.text(lang, "quiz_done_title").to_owned(),
            ui.text(lang, "quiz_done").to_owned(),
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bank_has_sixty_questions_in_both_languages_and_every_pillar() {
        let ui = Ui::load(None).unwrap();
        let bank = ui.quiz();
        assert!(bank.len() >= 60, "{} questions", bank.len());
        for p in [Pillar::Cakap, Pillar::Etika, Pillar::Aman, Pillar::Budaya] {
            assert!(bank.iter().filter(|q| q.pillar == p).count() >= 10, "{p:?}");
        }
        for q in bank {
            assert!(q.tip <= ui.tips().len(), "tip {} of {:?}", q.tip, q.en);
            assert_eq!(ui.tips()[q.tip - 1].pillar, q.pillar, "{:?}", q.en);
            assert!(!q.id.is_empty() && !q.en.is_empty() && q.id != q.en);
            assert!(q.answer >= 1 && q.answer <= q.options.len());
        }
    }

    #[test]
    fn the_form_carries_no_answer_and_no_question() {
        let ui = Ui::load(None).unwrap();
        let q = &ui.quiz()[0];
        let html = card_html(&ui, q, Size(100 << 20), Language::Id);
        assert!(html.contains("action=\"/quiz\""));
        assert_eq!(html.matches("type=\"radio\"").count(), q.options.len());
        assert!(!html.contains("name=\"question\"") && !html.contains("name=\"right\""));
        assert_eq!(posted_answer(b"lang=id&answer=2", 3), Some(2));
        assert_eq!(posted_answer(b"answer=4", 3), None);
        assert_eq!(posted_answer(b"answer=0", 3), None);
        assert_eq!(posted_answer(b"lang=id", 3), None);
    }

    #[test]
    fn a_device_keeps_its_question_all_day() {
        let ui = Ui::load(None).unwrap();
        let tz = jiff::tz::TimeZone::get("Asia/Makassar").unwrap();
        let mac: Mac = "02:77:00:00:00:01".parse().unwrap();
        let morning = 1_764_540_000; // some local morning
        let a = question_for(&ui, mac, morning, &tz);
        let b = question_for(&ui, mac, morning + 3600, &tz);
        assert_eq!(a, b);
    }

    #[test]
    fn bad_banks_name_the_question() {
        let src = |text: &str| Source {
            path: "quiz.toml".into(),
            text: text.into(),
        };
        let q = |opts: usize, answer: usize, tip: usize| {
            let mut t = format!(
                "[[question]]\npillar = \"aman\"\ntip = {tip}\nid = \"a\"\nen = \"b\"\nanswer = {answer}\nexplain_id = \"c\"\nexplain_en = \"d\"\n"
            );
            for _ in 0..opts {
                t.push_str("[[question.option]]\nid = \"x\"\nen = \"y\"\n");
            }
            t
        };
        assert!(load(&src(&q(3, 1, 1)), 5).is_ok());
        let e = load(&src(&q(2, 1, 1)), 5).unwrap_err().to_string();
        assert_eq!(e, "quiz.toml: question number 1: has 2 options (3 or 4)");
        let e = load(&src(&q(3, 4, 1)), 5).unwrap_err().to_string();
        assert!(e.contains("answer = 4"), "{e}");
        let e = load(&src(&q(3, 1, 9)), 5).unwrap_err().to_string();
        assert!(e.contains("tip = 9"), "{e}");
        assert!(load(&src(""), 5).is_err());
    }
}
