//! The literacy quiz on the status page: the question bound to a device
//! for the day, the form (one radio button per option; it carries the
//! answer's number only, never the question or the right answer) and the
//! page after an answer. The gateway decides attempts and bonus; the bank
//! is [`super::quiz`].

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use super::quiz::{pillar_key, Question};
use super::ui::Ui;
use crate::domain::{local_day, Mac, Size};
use crate::lang::Language;
use crate::web::http::escape_html;

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
    use crate::portal::quiz::Pillar;

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
}
