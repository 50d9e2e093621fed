//! The two languages desawifi speaks: Indonesian first, English second.

use std::fmt;
use std::str::FromStr;

/// A page language. Indonesian is the default everywhere a villager looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// Bahasa Indonesia.
    #[default]
    Id,
    /// English.
    En,
}

impl Language {
    /// The BCP 47 tag used in `lang=` attributes and `?lang=` switches.
    pub fn tag(self) -> &'static str {
        match self {
            Language::Id => "id",
            Language::En => "en",
        }
    }

    /// The other language, for the switch link on every page.
    pub fn other(self) -> Language {
        match self {
            Language::Id => Language::En,
            Language::En => Language::Id,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for Language {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "id" => Ok(Language::Id),
            "en" => Ok(Language::En),
            other => Err(format!(
                "{other:?} is not a language (expected \"id\" or \"en\")"
            )),
        }
    }
}
