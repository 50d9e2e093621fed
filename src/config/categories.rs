//! `[usage]`: the usage categories (what the village's internet is used for).
//!
//! The list ships in the binary (`config/categories.toml`); `categories_file`
//! replaces it, `[usage.local]` adds local domains to a category and `free`
//! chooses which categories cost no quota.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::check::Text;
use super::error::{invalid, ConfigError};
use super::values::domain;

/// The shipped list, curated for Indonesia.
pub const SHIPPED: &str = include_str!("../../config/categories.toml");

/// Traffic to an address in no category.
pub const OTHER: &str = "lainnya";

/// At most this many categories: each is a set and two counted rules.
pub const MAX_CATEGORIES: usize = 32;

/// One usage category: its domains' addresses are counted together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// `[a-z0-9_]`, e.g. `layanan_publik`; names its nft set and counters.
    pub id: String,
    /// Shown in the console (Indonesian).
    pub name: String,
    /// Costs no quota and stays at full speed after the quota.
    pub free: bool,
    /// Lower-case DNS names; each covers every name under it.
    pub domains: Vec<String>,
}

/// The categories in the order the firewall tries them (first match counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub categories: Vec<Category>,
    // --- issue 22, item 11 (holesapp): when category totals are published ---
    /// `[usage] publish_every`: category bytes reach the store, the API, the
    /// console and `/metrics` at most this often (default "1h").
    pub publish_every: std::time::Duration,
    /// `[usage] publish_min_devices`: ... and only once this many devices
    /// moved traffic in the window (default 3; 1..=1000).
    pub publish_min_devices: u32,
    // --- end of issue 22, item 11 ---
    // --- issue 22, item 2 (allowance): free categories' own daily allowance ---
    /// `[usage] free_daily_data`: free-category bytes (both ways) a device
    /// moves per local day before they count against its daily quota like any
    /// other (default "1 GiB"; "0" makes free categories cost quota from the
    /// first byte; "unlimited" is `u64::MAX`, the free tunnel of before).
    pub free_daily_data: u64,
    // --- end of issue 22, item 2 ---
}

impl Usage {
    /// Every id reported, `lainnya` last.
    pub fn ids(&self) -> Vec<String> {
        self.categories
            .iter()
            .map(|c| c.id.clone())
            .chain([OTHER.to_owned()])
            .collect()
    }
}

impl Default for Usage {
    fn default() -> Usage {
        parse_list(SHIPPED, Path::new("(built-in categories.toml)"))
            .expect("the shipped categories.toml is valid")
    }
}

/// `[usage]` as written.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "a [usage] table")]
pub(super) struct RawUsage {
    categories_file: Option<Text>,
    free: Option<Vec<Text>>,
    local: BTreeMap<String, Vec<Text>>,
    // issue 22, item 11 (holesapp)
    publish_every: Option<Text>,
    publish_min_devices: Option<i64>,
    // issue 22, item 2 (allowance)
    free_daily_data: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    #[serde(default)]
    category: Vec<RawCategory>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    id: String,
    name: String,
    #[serde(default)]
    free: bool,
    domains: Vec<String>,
}

/// A categories file: `[[category]]` tables.
pub fn parse_list(text: &str, path: &Path) -> Result<Usage, ConfigError> {
    let raw: RawList = toml::from_str(text).map_err(|e| {
        invalid(
            path,
            "category",
            format!("{} (expected [[category]] tables)", e.message().trim()),
        )
    })?;
    if raw.category.len() > MAX_CATEGORIES {
        return Err(invalid(
            path,
            "category",
            format!(
                "{} categories; at most {MAX_CATEGORIES}",
                raw.category.len()
            ),
        ));
    }
    let mut categories: Vec<Category> = Vec::new();
    for (i, c) in raw.category.into_iter().enumerate() {
        let key = format!("category[{i}]");
        let ok = !c.id.is_empty()
            && c.id.len() <= 24
            && c.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok || c.id == OTHER {
            return Err(invalid(
                path,
                &format!("{key}.id"),
                format!(
                    "{:?} is not a category id (a-z, 0-9, _, at most 24, not {OTHER:?})",
                    c.id
                ),
            ));
        }
        if categories.iter().any(|o| o.id == c.id) {
            return Err(invalid(
                path,
                &format!("{key}.id"),
                format!("{:?} is listed twice", c.id),
            ));
        }
        let mut domains = Vec::new();
        for (j, d) in c.domains.iter().enumerate() {
            let d = domain(d).map_err(|m| invalid(path, &format!("{key}.domains[{j}]"), m))?;
            if let Some(other) = categories.iter().find(|o| o.domains.contains(&d)) {
                return Err(invalid(
                    path,
                    &format!("{key}.domains[{j}]"),
                    format!("{d:?} is already in {:?}", other.id),
                ));
            }
            domains.push(d);
        }
        categories.push(Category {
            id: c.id,
            name: c.name,
            free: c.free,
            domains,
        });
    }
    Ok(Usage {
        categories,
        publish_every: std::time::Duration::from_secs(3600),
        publish_min_devices: 3,
        free_daily_data: DEFAULT_FREE_DAILY_DATA,
    })
}

/// `[usage]` -> the categories: the list (shipped or `categories_file`,
/// relative to the config file), local domains added, `free` applied.
pub(super) fn usage(raw: RawUsage, config_path: &Path) -> Result<Usage, ConfigError> {
    let mut usage = match &raw.categories_file {
        None => Usage::default(),
        Some(file) => {
            let file = config_path
                .parent()
                .unwrap_or(Path::new("."))
                .join(PathBuf::from(&file.0));
            let text = std::fs::read_to_string(&file).map_err(|e| {
                invalid(
                    config_path,
                    "usage.categories_file",
                    format!("cannot read {}: {e}", file.display()),
                )
            })?;
            parse_list(&text, &file)?
        }
    };
    for (id, domains) in &raw.local {
        let Some(at) = usage.categories.iter().position(|c| &c.id == id) else {
            return Err(invalid(
                config_path,
                &format!("usage.local.{id}"),
                format!("no category {id:?} (one of: {})", ids(&usage)),
            ));
        };
        for (j, d) in domains.iter().enumerate() {
            let d = domain(&d.0)
                .map_err(|m| invalid(config_path, &format!("usage.local.{id}[{j}]"), m))?;
            // A local entry wins over the list: it moves the domain.
            for c in usage.categories.iter_mut() {
                c.domains.retain(|x| *x != d);
            }
            usage.categories[at].domains.push(d);
        }
    }
    if let Some(free) = &raw.free {
        for (j, id) in free.iter().enumerate() {
            if !usage.categories.iter().any(|c| c.id == id.0) {
                return Err(invalid(
                    config_path,
                    &format!("usage.free[{j}]"),
                    format!("no category {:?} (one of: {})", id.0, ids(&usage)),
                ));
            }
        }
        for c in usage.categories.iter_mut() {
            c.free = free.iter().any(|f| f.0 == c.id);
        }
    }
    // issue 22, item 11 (holesapp): the category publication window.
    if let Some(every) = &raw.publish_every {
        usage.publish_every = super::parse_duration(&every.0)
            .ok()
            .filter(|d| *d <= std::time::Duration::from_secs(86_400))
            .ok_or_else(|| {
                invalid(
                    config_path,
                    "usage.publish_every",
                    format!(
                        "{:?} is not a duration of at most a day (try \"1h\")",
                        every.0
                    ),
                )
            })?;
    }
    if let Some(n) = raw.publish_min_devices {
        usage.publish_min_devices = u32::try_from(n)
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                invalid(
                    config_path,
                    "usage.publish_min_devices",
                    format!("{n} is not between 1 and 1000 (try 3)"),
                )
            })?;
    }
    // issue 22, item 2 (allowance): free categories' daily allowance per device.
    if let Some(text) = &raw.free_daily_data {
        usage.free_daily_data = parse_free_daily_data(&text.0)
            .map_err(|m| invalid(config_path, "usage.free_daily_data", m))?;
    }
    Ok(usage)
}

/// `[usage] free_daily_data` when not set: 1 GiB per device per day.
pub const DEFAULT_FREE_DAILY_DATA: u64 = 1 << 30;

/// A size ("1 GiB", "0") or "unlimited" (`u64::MAX`).
pub fn parse_free_daily_data(text: &str) -> Result<u64, String> {
    if text.trim().eq_ignore_ascii_case("unlimited") {
        return Ok(u64::MAX);
    }
    super::values::parse_size(text)
        .map(|s| s.0)
        .map_err(|_| format!("{text:?} is not a size or \"unlimited\" (try \"1 GiB\")"))
}

fn ids(usage: &Usage) -> String {
    usage
        .categories
        .iter()
        .map(|c| c.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_has_the_issues_members() {
        let u = Usage::default();
        let of = |d: &str| {
            u.categories
                .iter()
                .find(|c| c.domains.iter().any(|x| x == d))
                .map(|c| c.id.as_str())
        };
        for (id, members) in [
            (
                "layanan_publik",
                &["go.id", "desa.id", "kemendagri.go.id"][..],
            ),
            (
                "pendidikan",
                &[
                    "sch.id",
                    "ac.id",
                    "belajar.id",
                    "ruangguru.com",
                    "wikipedia.org",
                ],
            ),
            (
                "kesehatan",
                &[
                    "bpjs-kesehatan.go.id",
                    "kemkes.go.id",
                    "satusehat.kemkes.go.id",
                ],
            ),
            (
                "keuangan",
                &[
                    "bri.co.id",
                    "bankmandiri.co.id",
                    "bca.co.id",
                    "bni.co.id",
                    "dana.id",
                    "ovo.id",
                ],
            ),
            ("pesan", &["whatsapp.net", "whatsapp.com", "telegram.org"]),
            (
                "media_sosial",
                &[
                    "facebook.com",
                    "fbcdn.net",
                    "instagram.com",
                    "tiktok.com",
                    "x.com",
                ],
            ),
            (
                "video",
                &[
                    "youtube.com",
                    "googlevideo.com",
                    "ytimg.com",
                    "vidio.com",
                    "netflix.com",
                ],
            ),
            (
                "game",
                &["mobilelegends.com", "garena.com", "pubgmobile.com"],
            ),
        ] {
            for m in members {
                assert_eq!(of(m), Some(id), "{m}");
            }
        }
        let free: Vec<&str> = u
            .categories
            .iter()
            .filter(|c| c.free)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(free, ["kesehatan", "pendidikan", "layanan_publik"]);
        assert!(u.categories.iter().map(|c| c.domains.len()).sum::<usize>() > 150);
        assert_eq!(u.ids().last().map(String::as_str), Some(OTHER));
    }

    #[test]
    fn local_domains_and_free_choices_apply() {
        let raw: RawUsage = toml::from_str(
            "free = [\"layanan_publik\"]\n[local]\npendidikan = [\"sdn1-sukamaju.sch.id\"]\nvideo = [\"wikipedia.org\"]\n",
        )
        .unwrap();
        let u = usage(raw, Path::new("/etc/x.toml")).unwrap();
        let cat = |id: &str| u.categories.iter().find(|c| c.id == id).unwrap();
        assert!(cat("pendidikan")
            .domains
            .contains(&"sdn1-sukamaju.sch.id".into()));
        assert!(cat("video").domains.contains(&"wikipedia.org".into()));
        assert!(!cat("pendidikan").domains.contains(&"wikipedia.org".into()));
        assert!(cat("layanan_publik").free && !cat("pendidikan").free);

        let raw: RawUsage = toml::from_str("free = [\"nope\"]\n").unwrap();
        let e = usage(raw, Path::new("x.toml")).unwrap_err().to_string();
        assert!(
            e.starts_with("x.toml: usage.free[0]: no category \"nope\""),
            "{e}"
        );
        let e = parse_list(
            "[[category]]\nid = \"lainnya\"\nname = \"x\"\ndomains = []\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("c.toml: category[0].id:"), "{e}");
    }

    #[test]
    fn the_publication_window_has_defaults_and_bounds() {
        let u = usage(RawUsage::default(), Path::new("x.toml")).unwrap();
        assert_eq!(u.publish_every, std::time::Duration::from_secs(3600));
        assert_eq!(u.publish_min_devices, 3);
        let raw: RawUsage =
            toml::from_str("publish_every = \"10m\"\npublish_min_devices = 5\n").unwrap();
        let u = usage(raw, Path::new("x.toml")).unwrap();
        assert_eq!(u.publish_every, std::time::Duration::from_secs(600));
        assert_eq!(u.publish_min_devices, 5);
        for (text, key) in [
            ("publish_every = \"2d\"\n", "usage.publish_every"),
            ("publish_every = \"soon\"\n", "usage.publish_every"),
            ("publish_min_devices = 0\n", "usage.publish_min_devices"),
        ] {
            let raw: RawUsage = toml::from_str(text).unwrap();
            let e = usage(raw, Path::new("x.toml")).unwrap_err().to_string();
            assert!(e.starts_with(&format!("x.toml: {key}: ")), "{e}");
        }
    }

    #[test]
    fn the_free_allowance_has_a_default_zero_unlimited_and_errors_naming_the_key() {
        let u = usage(RawUsage::default(), Path::new("x.toml")).unwrap();
        assert_eq!(u.free_daily_data, 1 << 30);
        for (text, want) in [
            ("free_daily_data = \"2 MiB\"\n", 2 << 20),
            ("free_daily_data = \"0\"\n", 0),
            ("free_daily_data = \"unlimited\"\n", u64::MAX),
        ] {
            let raw: RawUsage = toml::from_str(text).unwrap();
            assert_eq!(
                usage(raw, Path::new("x.toml")).unwrap().free_daily_data,
                want
            );
        }
        let raw: RawUsage = toml::from_str("free_daily_data = \"lots\"\n").unwrap();
        let e = usage(raw, Path::new("x.toml")).unwrap_err().to_string();
        assert!(e.starts_with("x.toml: usage.free_daily_data: "), "{e}");
        assert!(e.contains("unlimited"), "{e}");
    }
}
