//! The office's own list of villages (added, retired, by whom and when):
//! names checked here, kept in the office's store behind [`VillageBook`]
//! (the wiring, `regency`, implements it on the store's typed handle: this
//! room never holds the store).

/// Longest village name, in characters.
pub const MAX_NAME: usize = 64;

/// A village as the office keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// As the officer typed it (trimmed, spaces collapsed): the `village` label.
    pub name: String,
    /// Its push account on the receiver and its policy file name: `[a-z0-9-]`.
    pub slug: String,
    pub added_at: i64,
    pub added_by: String,
    /// When and by whom it was retired (its account removed; its history kept).
    pub retired: Option<(i64, String)>,
}

/// The office's villages, stored.
pub trait VillageBook: Send + Sync {
    /// Every village, added or retired, in slug order.
    fn villages(&self) -> Result<Vec<Registered>, String>;
    /// Store a new village and its audit entry (`village.add`); flushed.
    fn add(&self, village: &Registered) -> Result<(), String>;
    /// Mark `slug` retired by `who` at `at`, audited (`village.retire`); flushed.
    fn retire(&self, slug: &str, who: &str, at: i64) -> Result<(), String>;
}

/// Why a name is refused (the key of the page's message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    /// A character other than letters, digits, spaces, `-` and `'`.
    Character(char),
    /// Nothing left for the account name (e.g. only `'` and `-`).
    NoSlug,
}

/// The name as stored (trimmed, runs of spaces made one) and its slug.
pub fn check_name(raw: &str) -> Result<(String, String), NameError> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '\''))
    {
        return Err(NameError::Character(c));
    }
    if name.chars().count() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    let slug = slug(&name);
    if slug.is_empty() {
        return Err(NameError::NoSlug);
    }
    Ok((name, slug))
}

/// `Long Kali Baru` -> `long-kali-baru`: ASCII letters and digits lowered,
/// everything else a single `-`, none at the ends; other letters (é, ß) dropped.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if (c == ' ' || c == '-') && !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_slugs() {
        assert_eq!(
            check_name("  Long  Kali Baru ").unwrap(),
            ("Long Kali Baru".to_owned(), "long-kali-baru".to_owned())
        );
        assert_eq!(
            check_name("Muara O'Kompeng - 2").unwrap().1,
            "muara-okompeng-2"
        );
        assert_eq!(check_name("Sumber<script>"), Err(NameError::Character('<')));
        assert_eq!(check_name("a/../b"), Err(NameError::Character('/')));
        assert_eq!(check_name("a\nb"), Err(NameError::Character('\n')));
        assert_eq!(check_name("   "), Err(NameError::Empty));
        assert_eq!(check_name("' -"), Err(NameError::NoSlug));
        assert_eq!(check_name(&"a".repeat(65)), Err(NameError::TooLong));
        assert!(check_name(&"a".repeat(64)).is_ok());
    }
}
