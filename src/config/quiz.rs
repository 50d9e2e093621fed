//! `[quiz]`: the literacy quiz on the status page.

use serde::Deserialize;

use super::check::{Check, Parsed, Text};
use super::values::parse_size;
use crate::domain::Size;

/// `[quiz]`: the literacy quiz on the status page.
#[derive(Debug, Clone)]
pub struct Quiz {
    /// Answers a device may give per local day.
    pub attempts_per_day: u32,
    /// Data a right answer adds to the device's quota for the rest of the day.
    pub bonus: Size,
}

/// `[quiz]` as written: values kept as text for the check below.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [quiz] table")]
pub(crate) struct RawQuiz {
    attempts_per_day: Option<i64>,
    bonus: Option<Text>,
}

impl Check<'_> {
    pub(super) fn quiz_section(&self, raw: RawQuiz) -> Parsed<Quiz> {
        let attempts_per_day = match raw.attempts_per_day {
            None => 1,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|&n| (1..=10).contains(&n))
                .ok_or_else(|| {
                    self.invalid(
                        "quiz.attempts_per_day",
                        format!("{n} is not between 1 and 10 (try 1)"),
                    )
                })?,
        };
        let bonus = self.or("quiz.bonus", raw.bonus, "100 MiB", |s| {
            let size = parse_size(s)?;
            if size.0 > 10 << 30 {
                return Err(format!("{s:?} is more than 10 GiB (try \"100 MiB\")"));
            }
            Ok(size)
        })?;
        Ok(Quiz {
            attempts_per_day,
            bonus,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;

    #[test]
    fn quiz_keys_are_bounded() {
        let q = parse(MINIMAL).unwrap().quiz;
        assert_eq!((q.attempts_per_day, q.bonus.0), (1, 100 << 20));
        assert_error(
            "quiz",
            "attempts_per_day",
            "0",
            "0 is not between 1 and 10 (try 1)",
        );
        assert_error(
            "quiz",
            "attempts_per_day",
            "11",
            "11 is not between 1 and 10 (try 1)",
        );
        assert_error(
            "quiz",
            "bonus",
            "\"20 GiB\"",
            "\"20 GiB\" is more than 10 GiB (try \"100 MiB\")",
        );
        assert!(error_with("quiz", "bonus", "\"lots\"").starts_with("x.toml: quiz.bonus: "));
    }
}
