//! The literacy quiz's question bank (`quiz.toml`, embedded and
//! overridable like the tips) and the four pillars its questions and the
//! tips belong to. The card on the status page is [`super::quiz_card`].

use std::path::PathBuf;

use serde::Deserialize;

use crate::lang::Language;
use crate::web::template::Source;

/// The four pillars of Indonesia's national digital literacy programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pillar {
    /// Cakap digital: digital skills.
    Cakap,
    /// Etika digital: digital ethics.
    Etika,
    /// Aman digital: digital safety.
    Aman,
    /// Budaya digital: digital culture.
    Budaya,
}

impl Pillar {
    /// The pillar's name as shown above a tip. The programme's Indonesian names
    /// are known to villagers, so English pages show a gloss first.
    pub fn name(self, lang: Language) -> &'static str {
        match (lang, self) {
            (Language::Id, Pillar::Cakap) => "Cakap Digital",
            (Language::Id, Pillar::Etika) => "Etika Digital",
            (Language::Id, Pillar::Aman) => "Aman Digital",
            (Language::Id, Pillar::Budaya) => "Budaya Digital",
            (Language::En, Pillar::Cakap) => "Digital skills (Cakap Digital)",
            (Language::En, Pillar::Etika) => "Digital ethics (Etika Digital)",
            (Language::En, Pillar::Aman) => "Digital safety (Aman Digital)",
            (Language::En, Pillar::Budaya) => "Digital culture (Budaya Digital)",
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
