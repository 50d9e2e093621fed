//! The file's values as written ([`Text`]) and [`Check`], which parses one key at a
//! time with a value parser and names the file and key in every error.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::error::{invalid, ConfigError};

/// A scalar kept as written: a string, or an integer turned into its decimal text (so
/// `daily_data = 0` works and `daily_data = 500` gets the "needs a unit" message).
#[derive(Debug, Default)]
pub(crate) struct Text(pub(crate) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Parses the file's values one key at a time; every error names the file and key.
pub(crate) struct Check<'a> {
    /// The file, for messages.
    pub(crate) path: &'a Path,
}

/// A section or value checked, or the error naming its key.
pub(crate) type Parsed<T> = Result<T, ConfigError>;

impl Check<'_> {
    pub(crate) fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        invalid(self.path, key, message)
    }

    pub(crate) fn required<T>(
        &self,
        key: &str,
        raw: Option<Text>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Parsed<T> {
        let raw = raw.ok_or_else(|| self.invalid(key, "missing key"))?;
        parse(&raw.0).map_err(|m| self.invalid(key, m))
    }

    /// `default` is written like a value in the file and goes through the same parser.
    pub(crate) fn or<T>(
        &self,
        key: &str,
        raw: Option<Text>,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Parsed<T> {
        let raw = raw.map_or_else(|| default.to_owned(), |t| t.0);
        parse(&raw).map_err(|m| self.invalid(key, m))
    }

    pub(crate) fn optional<T>(
        &self,
        key: &str,
        raw: Option<Text>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Parsed<Option<T>> {
        raw.map(|t| parse(&t.0).map_err(|m| self.invalid(key, m)))
            .transpose()
    }
}
