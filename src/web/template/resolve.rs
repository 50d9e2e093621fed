//! A page put together: its nodes and its partials' spliced into one list
//! of segments, each placeholder checked against what the page provides
//! and named, if wrong, in the file that wrote it.

use std::collections::BTreeMap;
use std::path::Path;

use super::parse::Node;
use super::{PageSpec, Seg, Source, TemplateError, UiFiles};
use crate::lang::Language;

/// How deep partials may include partials (a cycle stops here).
const MAX_DEPTH: usize = 8;

/// The blocks a `{{<partial}}` replaces, each with the file it was written in.
type Blocks<'a> = BTreeMap<&'a str, (&'a [Node], &'a Path)>;

/// Turns a page's parsed nodes (and its partials') into segments, checking
/// every placeholder against what the page provides.
pub(super) struct Resolver<'a> {
    pub(super) ui: &'a UiFiles,
    pub(super) sources: &'a BTreeMap<&'static str, Source>,
    pub(super) parsed: &'a BTreeMap<&'static str, Vec<Node>>,
    pub(super) strings: &'a BTreeMap<String, String>,
}

impl<'a> Resolver<'a> {
    /// The segments of `page`, or the first error in it or its partials.
    pub(super) fn page(&self, page: &PageSpec) -> Result<Vec<Seg>, TemplateError> {
        let mut segs = Vec::new();
        let path = &self.sources[page.file].path;
        self.nodes(
            &self.parsed[page.file],
            page.file,
            path,
            page,
            &Blocks::new(),
            0,
            &mut segs,
        )?;
        Ok(segs)
    }

    #[allow(clippy::too_many_arguments)]
    fn nodes(
        &self,
        nodes: &'a [Node],
        file: &'a str,
        path: &'a Path,
        page: &PageSpec,
        blocks: &Blocks<'a>,
        depth: usize,
        out: &mut Vec<Seg>,
    ) -> Result<(), TemplateError> {
        for node in nodes {
            match node {
                Node::Lit(s) => match out.last_mut() {
                    Some(Seg::Lit(last)) => last.push_str(s),
                    _ => out.push(Seg::Lit(s.clone())),
                },
                Node::Tag(name) => out.push(self.placeholder(path, page, name)?),
                Node::Block { name, body } => match blocks.get(name.as_str()) {
                    // Replaced by the includer: its own blocks do not reach further down.
                    Some((body, path)) => {
                        self.nodes(body, file, path, page, &Blocks::new(), depth, out)?
                    }
                    None => self.nodes(body, file, path, page, blocks, depth, out)?,
                },
                Node::Partial { name, blocks: own } => {
                    let partial = sibling(file, name);
                    let Some((rel, parsed)) = self.parsed.get_key_value(partial.as_str()) else {
                        return Err(TemplateError::Partial {
                            path: path.to_path_buf(),
                            name: name.clone(),
                            message: format!("{} has no file {partial}", self.ui.name),
                        });
                    };
                    if depth >= MAX_DEPTH {
                        return Err(TemplateError::Partial {
                            path: path.to_path_buf(),
                            name: name.clone(),
                            message: format!(
                                "partials nested more than {MAX_DEPTH} deep (do they include each other?)"
                            ),
                        });
                    }
                    let replaced: Blocks = own
                        .iter()
                        .map(|(k, body)| (k.as_str(), (body.as_slice(), path)))
                        .collect();
                    let partial_path = &self.sources[rel].path;
                    self.nodes(parsed, rel, partial_path, page, &replaced, depth + 1, out)?;
                    // The file's last line break is the includer's to place.
                    if matches!(parsed.last(), Some(Node::Lit(s)) if s.ends_with('\n')) {
                        if let Some(Seg::Lit(last)) = out.last_mut() {
                            last.pop();
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn placeholder(&self, path: &Path, page: &PageSpec, name: &str) -> Result<Seg, TemplateError> {
        if let Some(key) = name.strip_prefix("t:") {
            let key = key.trim();
            // Both languages have the same keys (checked before templates).
            return if self.strings.contains_key(key) {
                Ok(Seg::Text(key.to_owned()))
            } else {
                Err(TemplateError::MissingString {
                    path: path.to_path_buf(),
                    key: key.to_owned(),
                    lang: Language::Id,
                })
            };
        }
        if name == "lang" {
            return Ok(Seg::Lang);
        }
        if let Some(i) = self.ui.inserts.iter().position(|(n, _)| *n == name) {
            return Ok(Seg::Insert(i));
        }
        match page.vars.split_whitespace().find(|v| *v == name) {
            Some(v) if v.ends_with("_html") => Ok(Seg::Raw(v)),
            Some(v) => Ok(Seg::Var(v)),
            None => {
                let inserts: String = self
                    .ui
                    .inserts
                    .iter()
                    .map(|(n, _)| format!(" {n}"))
                    .collect();
                Err(TemplateError::UnknownPlaceholder {
                    path: path.to_path_buf(),
                    name: name.to_owned(),
                    known: format!("{} lang{inserts} t:<key>", page.vars),
                })
            }
        }
    }
}

/// `{{> name}}` in `templates/page.html` is `templates/name.html`.
fn sibling(file: &str, name: &str) -> String {
    match file.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}.html"),
        None => format!("{name}.html"),
    }
}
