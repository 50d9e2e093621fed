//! A template's text -> nodes: literal text, placeholders, blocks and
//! partials. Only the syntax is checked here; whether a placeholder is one
//! the page provides is checked when a page is put together (it depends on
//! the page, and a partial serves several).

use std::collections::BTreeMap;

use super::{Source, TemplateError};

/// One parsed piece of a template file.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Lit(String),
    /// `{{name}}`, `{{t:key}}`, `{{lang}}`, an insert: checked per page.
    Tag(String),
    /// `{{$name}}default{{/name}}`: a block an includer may replace.
    Block {
        name: String,
        body: Vec<Node>,
    },
    /// `{{> name}}`, or `{{<name}}{{$block}}...{{/block}}{{/name}}` with blocks replaced.
    Partial {
        name: String,
        blocks: BTreeMap<String, Vec<Node>>,
    },
}

/// An open `{{<name}}` or `{{$name}}` waiting for its `{{/name}}`.
struct Open {
    name: String,
    offset: usize,
    partial: bool,
    nodes: Vec<Node>,
}

/// Parse a file (its leading `<!-- ... -->` documentation dropped).
pub(super) fn parse(src: &Source) -> Result<Vec<Node>, TemplateError> {
    let text = src.text.as_str();
    let mut rest = text.trim_start();
    if rest.starts_with("<!--") {
        if let Some(end) = rest.find("-->") {
            rest = rest[end + 3..].trim_start();
        }
    }
    let offset_of = |s: &str| s.as_ptr() as usize - text.as_ptr() as usize;
    let syntax = |offset: usize, message: String| TemplateError::Syntax {
        path: src.path.clone(),
        offset,
        message,
    };
    let mut stack: Vec<Open> = vec![Open {
        name: String::new(),
        offset: 0,
        partial: false,
        nodes: Vec::new(),
    }];
    loop {
        let Some(open) = rest.find("{{") else {
            if !rest.is_empty() {
                push(&mut stack, Node::Lit(rest.to_owned()));
            }
            break;
        };
        if open > 0 {
            push(&mut stack, Node::Lit(rest[..open].to_owned()));
        }
        let at = offset_of(rest) + open;
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| TemplateError::Unclosed {
            path: src.path.clone(),
            offset: at,
        })?;
        let tag = after[..close].trim();
        rest = &after[close + 2..];
        let sigil = tag.chars().next().unwrap_or(' ');
        let name = tag.get(1..).unwrap_or("").trim();
        if matches!(sigil, '>' | '<' | '$' | '/') && !is_name(name) {
            return Err(syntax(at, format!("{{{{{tag}}}}} needs a name")));
        }
        match sigil {
            '>' => push(
                &mut stack,
                Node::Partial {
                    name: name.to_owned(),
                    blocks: BTreeMap::new(),
                },
            ),
            '<' | '$' => stack.push(Open {
                name: name.to_owned(),
                offset: at,
                partial: sigil == '<',
                nodes: Vec::new(),
            }),
            '/' => {
                let open = stack.pop().filter(|o| !stack.is_empty() && o.name == name);
                let Some(open) = open else {
                    return Err(syntax(at, format!("{{{{/{name}}}}} closes nothing open")));
                };
                let node = if open.partial {
                    partial(open, &syntax)?
                } else {
                    Node::Block {
                        name: open.name,
                        body: open.nodes,
                    }
                };
                push(&mut stack, node);
            }
            _ => push(&mut stack, Node::Tag(tag.to_owned())),
        }
    }
    if stack.len() > 1 {
        let open = stack.pop().expect("more than one");
        return Err(syntax(
            open.offset,
            format!("{{{{{}}}}} is never closed", open.name),
        ));
    }
    Ok(stack.pop().expect("the file itself").nodes)
}

/// Inside `{{<name}}...{{/name}}` only `{{$block}}`s count; white space
/// between them is for the reader. Anything else is a mistake.
fn partial(
    open: Open,
    syntax: &dyn Fn(usize, String) -> TemplateError,
) -> Result<Node, TemplateError> {
    let mut blocks = BTreeMap::new();
    for node in open.nodes {
        match node {
            Node::Block { name, body } => {
                blocks.insert(name, body);
            }
            Node::Lit(s) if s.trim().is_empty() => {}
            _ => {
                return Err(syntax(
                    open.offset,
                    format!(
                        "inside {{{{<{0}}}}}...{{{{/{0}}}}} only {{{{$block}}}}...{{{{/block}}}} may stand",
                        open.name
                    ),
                ))
            }
        }
    }
    Ok(Node::Partial {
        name: open.name,
        blocks,
    })
}

fn push(stack: &mut [Open], node: Node) {
    stack.last_mut().expect("the file itself").nodes.push(node);
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
