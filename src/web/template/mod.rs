//! The one template engine both UIs (the portal's `portal-ui/`, the
//! console's `admin-ui/`) are made with.
//!
//! A UI is a set of files compiled into the binary, each of which a village
//! (or the regency) may replace from an override directory, file by file.
//! Everything is checked once at load, so a typo in an override stops the
//! daemon with a message naming the file instead of showing a broken page:
//! `strings.toml` carries every key in both languages (`[id]`, `[en]`) with
//! the same `{fill-ins}`, and every `{{placeholder}}` of every page is one
//! that page provides.
//!
//! Templates, parsed once into segments (rendering is one pass):
//! - `{{name}}` a caller variable, HTML-escaped; a name ending in `_html` is
//!   inserted as is (markup built and escaped by trusted code);
//! - `{{t:key}}` a string from `strings.toml` in the page language, escaped;
//! - `{{lang}}` the page language's tag; the UI's inserts (e.g. `{{css}}`,
//!   the text of a file such as `style.css`), as is;
//! - `{{> head}}` the partial `head.html` beside the including file, spliced
//!   in and checked as part of each page that uses it;
//! - `{{<head}}{{$title}}...{{/title}}{{/head}}` the same partial with some of
//!   its blocks replaced: in the partial, `{{$title}}default{{/title}}` marks
//!   a block and its default (Mustache's template inheritance). So the head
//!   every page shares is written once, and one override of `head.html`
//!   changes every page.
//!
//! A leading `<!-- ... -->` in a file is its documentation and is dropped.

mod parse;
mod resolve;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::http::escape_into;
use crate::lang::Language;
use resolve::Resolver;

/// What a UI is made of: its files and its pages.
#[derive(Debug, Clone, Copy)]
pub struct UiFiles {
    /// The UI's folder name, for the paths of built-in files in errors
    /// (`<built-in>/portal-ui/...`) and for the override directory's message.
    pub name: &'static str,
    /// Every file with its built-in text (`include_str!`), by path inside the UI.
    pub embedded: &'static [(&'static str, &'static str)],
    /// The strings file (`[id]` and `[en]` tables of key = "text").
    pub strings: &'static str,
    /// Placeholders that insert a whole file as is, trimmed: `("css", "style.css")`.
    pub inserts: &'static [(&'static str, &'static str)],
}

/// One page the UI's code renders: its template and the variables it passes.
#[derive(Debug, Clone, Copy)]
pub struct PageSpec {
    /// The template's path inside the UI, e.g. `templates/splash.html`.
    pub file: &'static str,
    /// The variables the code passes, space separated; a template (and the
    /// partials it includes) may use only these plus the built-ins.
    pub vars: &'static str,
}

/// Why a UI could not be loaded. Each names the file at fault
/// (`<built-in>/<ui>/...` for an embedded one).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The override directory given in the config is not a directory.
    #[error("{path}: {ui} override directory does not exist or is not a directory")]
    NoDir { path: PathBuf, ui: &'static str },
    /// An override file exists but cannot be read as UTF-8 text.
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A TOML file is not valid TOML of the expected shape.
    #[error("{path}: bad TOML: {message}")]
    BadToml { path: PathBuf, message: String },
    /// A string key exists in one language (or is needed by the code or a
    /// template) but is missing in this one.
    #[error("{path}: string {key:?} is missing in [{lang}]")]
    MissingString {
        path: PathBuf,
        key: String,
        lang: Language,
    },
    /// A string's `{word}` fill-ins differ between the languages.
    #[error("{path}: string {key:?} uses fill-ins {id:?} in [id] but {en:?} in [en]")]
    FillInMismatch {
        path: PathBuf,
        key: String,
        id: Vec<String>,
        en: Vec<String>,
    },
    /// A template uses a placeholder its page does not provide.
    #[error("{path}: unknown placeholder {{{{{name}}}}} (this page knows: {known})")]
    UnknownPlaceholder {
        path: PathBuf,
        name: String,
        known: String,
    },
    /// A template has `{{` without a matching `}}`.
    #[error("{path}: '{{{{' at byte {offset} is never closed with '}}}}'")]
    Unclosed { path: PathBuf, offset: usize },
    /// A block or partial tag is malformed: unclosed, closed with another
    /// name, or text that is not a `{{$block}}` inside `{{<partial}}`.
    #[error("{path}: at byte {offset}: {message}")]
    Syntax {
        path: PathBuf,
        offset: usize,
        message: String,
    },
    /// `{{> name}}` names a file the UI does not have, or partials include
    /// each other in a circle.
    #[error("{path}: partial {name:?}: {message}")]
    Partial {
        path: PathBuf,
        name: String,
        message: String,
    },
}

/// One UI file's text and the path to name in errors.
#[derive(Debug, Clone)]
pub struct Source {
    /// The override file's path, or `<built-in>/<ui>/<file>`.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

impl Source {
    /// The file as TOML of shape `T`.
    pub fn parse_toml<T: serde::de::DeserializeOwned>(&self) -> Result<T, TemplateError> {
        toml::from_str(&self.text).map_err(|e| TemplateError::BadToml {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
}

/// One piece of a parsed page.
#[derive(Debug, Clone)]
enum Seg {
    Lit(String),
    /// A caller variable, HTML-escaped.
    Var(&'static str),
    /// A caller variable whose name ends in `_html`, inserted as is.
    Raw(&'static str),
    /// `{{t:key}}`: a string in the page language, escaped.
    Text(String),
    /// One of the UI's inserted files (index into `inserts`).
    Insert(usize),
    Lang,
}

/// A loaded, checked UI: its pages parsed, its strings in both languages.
#[derive(Debug)]
pub struct Templates {
    pages: Vec<Vec<Seg>>,
    inserts: Vec<String>,
    /// Indexed by [`lang_index`].
    strings: [BTreeMap<String, String>; 2],
    sources: BTreeMap<&'static str, Source>,
    overridden: Vec<PathBuf>,
}

/// Where a language's strings are kept: `[id]` first, `[en]` second.
pub fn lang_index(lang: Language) -> usize {
    match lang {
        Language::Id => 0,
        Language::En => 1,
    }
}

/// A strings file: every key in both languages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringsFile {
    /// Bahasa Indonesia.
    pub id: BTreeMap<String, String>,
    /// English.
    pub en: BTreeMap<String, String>,
}

impl Templates {
    /// The embedded files of `ui`, each replaced by its namesake in `dir` if
    /// there is one; then strings and every page of `pages` checked and
    /// parsed. Pages are rendered by their index in `pages`.
    pub fn load(
        ui: &UiFiles,
        dir: Option<&Path>,
        pages: &[PageSpec],
    ) -> Result<Templates, TemplateError> {
        if let Some(dir) = dir.filter(|d| !d.is_dir()) {
            return Err(TemplateError::NoDir {
                path: dir.to_path_buf(),
                ui: ui.name,
            });
        }
        let mut overridden = Vec::new();
        let mut sources = BTreeMap::new();
        for &(rel, builtin) in ui.embedded {
            let source = match dir.map(|d| d.join(rel)).filter(|p| p.is_file()) {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|source| {
                        TemplateError::Unreadable {
                            path: path.clone(),
                            source,
                        }
                    })?;
                    overridden.push(path.clone());
                    Source { path, text }
                }
                None => Source {
                    path: Path::new("<built-in>").join(ui.name).join(rel),
                    text: builtin.to_owned(),
                },
            };
            sources.insert(rel, source);
        }
        let builtin_strings = ui
            .embedded
            .iter()
            .find(|(rel, _)| *rel == ui.strings)
            .map_or("", |(_, text)| *text);
        let strings = load_strings(&sources[ui.strings], builtin_strings)?;
        let parsed = sources
            .iter()
            .filter(|(rel, _)| rel.ends_with(".html"))
            .map(|(rel, src)| Ok((*rel, parse::parse(src)?)))
            .collect::<Result<BTreeMap<_, _>, TemplateError>>()?;
        let inserts = ui
            .inserts
            .iter()
            .map(|(_, file)| sources[file].text.trim().to_owned())
            .collect();
        let checker = Resolver {
            ui,
            sources: &sources,
            parsed: &parsed,
            strings: &strings[0],
        };
        let pages = pages
            .iter()
            .map(|page| checker.page(page))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Templates {
            pages,
            inserts,
            strings,
            sources,
            overridden,
        })
    }

    /// The override files actually used, for a start-up log line (an
    /// override saved under a wrong name is otherwise silently ignored).
    pub fn overridden(&self) -> &[PathBuf] {
        &self.overridden
    }

    /// One of the UI's files as loaded (its own data files: tips, CSS).
    pub fn source(&self, rel: &str) -> &Source {
        &self.sources[rel]
    }

    /// A string for a language; never panics: the key itself if missing
    /// (load() already checked both languages have every key).
    pub fn text<'a>(&'a self, lang: Language, key: &'a str) -> &'a str {
        self.strings[lang_index(lang)]
            .get(key)
            .map_or(key, String::as_str)
    }

    /// A string with its `{word}` fill-ins replaced, e.g.
    /// `text_with(lang, "quota_cut", &[("reset", "00:00")])`. Not escaped:
    /// pass the result as an ordinary (escaped) render variable.
    pub fn text_with(&self, lang: Language, key: &str, fill: &[(&str, &str)]) -> String {
        let mut out = self.text(lang, key).to_owned();
        for (name, value) in fill {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// Render page number `page` (its index in load()'s `pages`): values
    /// escaped except `_html` ones; a variable the template uses but `vars`
    /// lacks renders empty.
    pub fn render(&self, page: usize, lang: Language, vars: &[(&str, &str)]) -> String {
        let var = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map_or("", |(_, v)| *v)
        };
        let inserted: usize = self.inserts.iter().map(String::len).sum();
        let mut out = String::with_capacity(inserted + 4096);
        for seg in &self.pages[page] {
            match seg {
                Seg::Lit(s) => out.push_str(s),
                Seg::Var(name) => escape_into(&mut out, var(name)),
                Seg::Raw(name) => out.push_str(var(name)),
                Seg::Text(key) => escape_into(&mut out, self.text(lang, key)),
                Seg::Insert(i) => out.push_str(&self.inserts[*i]),
                Seg::Lang => out.push_str(lang.tag()),
            }
        }
        out
    }
}

/// Parse and check a strings file: both languages carry every key the
/// built-in file has (the code asks for those), every key the other
/// language has, and the same `{word}` fill-ins.
fn load_strings(
    src: &Source,
    builtin: &str,
) -> Result<[BTreeMap<String, String>; 2], TemplateError> {
    let parsed: StringsFile = src.parse_toml()?;
    let builtin: StringsFile =
        toml::from_str(builtin).expect("built-in strings are valid (tested)");
    let needed: BTreeSet<&String> = builtin
        .id
        .keys()
        .chain(parsed.id.keys())
        .chain(parsed.en.keys())
        .collect();
    for key in needed {
        for (lang, table) in [(Language::Id, &parsed.id), (Language::En, &parsed.en)] {
            if !table.contains_key(key) {
                return Err(TemplateError::MissingString {
                    path: src.path.clone(),
                    key: key.clone(),
                    lang,
                });
            }
        }
        let (id, en) = (fill_ins(&parsed.id[key]), fill_ins(&parsed.en[key]));
        if id != en {
            return Err(TemplateError::FillInMismatch {
                path: src.path.clone(),
                key: key.clone(),
                id,
                en,
            });
        }
    }
    Ok([parsed.id, parsed.en])
}

/// The sorted `{word}` names in a string.
pub fn fill_ins(s: &str) -> Vec<String> {
    let mut names: Vec<String> = s
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| name)
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}
