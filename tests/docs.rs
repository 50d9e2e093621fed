//! The manual holds together: every relative link in README.md, docs/**/*.md,
//! BENCHMARKS.md and RELIABILITY.md reaches a file that exists, and a link's
//! `#fragment` a heading of that file (GitHub's anchors: lowercase, spaces to
//! `-`, punctuation dropped, a repeated heading gets `-1`, `-2`); and every
//! citation of a heading, in the code or in the manual, names a heading that
//! exists. A citation is a page followed by a quoted heading:
//! `(docs/PAGE.md, "Heading")`, `README's "Heading"`, `BENCHMARKS.md
//! ("Heading")`; the quoted text may be the start of a longer heading, ending
//! at a word ("Release builds" cites "Release builds: size of ..."). No root,
//! no network: it reads files.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The manual: README.md, BENCHMARKS.md, RELIABILITY.md and docs/**/*.md.
fn manual() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "BENCHMARKS.md", "RELIABILITY.md"]
        .iter()
        .map(|f| root().join(f))
        .collect();
    files_under(&root().join("docs"), &mut files, &|p| {
        p.extension().is_some_and(|e| e == "md")
    });
    assert!(
        files.len() > 5,
        "docs/ holds no pages: {} files in the manual",
        files.len()
    );
    files
}

/// Every file under `dir` (recursively) that `keep` accepts, sorted.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>, keep: &dyn Fn(&Path) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files_under(&p, out, keep);
        } else if keep(&p) {
            out.push(p);
        }
    }
}

fn shown(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// The lines outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| t.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(f), Some(m)) if f == m => fence = None,
            (None, None) => out.push((i + 1, line)),
            _ => {}
        }
    }
    out
}

/// A heading's text, or None: `#` to `######`, a space, the text.
fn heading(line: &str) -> Option<&str> {
    let hashes = line.len() - line.trim_start_matches('#').len();
    if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
        return None;
    }
    Some(line[hashes..].trim().trim_end_matches('#').trim())
}

/// The text a reader sees: `[text](target)` becomes text; code and emphasis
/// markers go.
fn rendered(markdown: &str) -> String {
    let mut out = String::new();
    let mut rest = markdown;
    while let Some(i) = rest.find("](") {
        let Some(j) = rest[i..].find(')') else { break };
        out.push_str(&rest[..i]);
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out.replace(['`', '*', '['], "")
}

/// GitHub's anchor for a heading.
fn slug(heading: &str) -> String {
    rendered(heading)
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// A markdown file's headings (as rendered) and anchors.
struct Page {
    headings: Vec<String>,
    anchors: Vec<String>,
}

fn page(path: &Path) -> Page {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", shown(path)));
    let mut headings = Vec::new();
    let mut anchors: Vec<String> = Vec::new();
    for (_, line) in prose_lines(&text) {
        if let Some(h) = heading(line) {
            let base = slug(h);
            let mut anchor = base.clone();
            let mut n = 0;
            while anchors.contains(&anchor) {
                n += 1;
                anchor = format!("{base}-{n}");
            }
            anchors.push(anchor);
            headings.push(rendered(h));
        }
    }
    Page { headings, anchors }
}

/// `line` with inline code spans blanked, so a link shown as code is no link.
fn without_code(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else {
            out.push(if in_code { ' ' } else { c });
        }
    }
    out
}

/// The targets of the links on one line: `[text](target)`, `![alt](target)`
/// and reference definitions `[name]: target`.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code(line);
    let mut targets = Vec::new();
    let mut rest = line.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let end = after.find(')').unwrap_or(after.len());
        // A title after the target: `(target "title")`.
        let target = after[..end].split_whitespace().next().unwrap_or("");
        targets.push(target.trim_matches(['<', '>']).to_string());
        rest = &after[end..];
    }
    let t = line.trim_start();
    if t.starts_with('[') {
        if let Some(i) = t.find("]: ") {
            targets.push(
                t[i + 3..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    targets
}

fn is_external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:") || target.is_empty()
}

/// Every problem with the relative links of one markdown file.
fn broken_links(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap();
    let mut problems = Vec::new();
    for (n, line) in prose_lines(&text) {
        for target in link_targets(line) {
            if is_external(&target) {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (target.as_str(), None),
            };
            let dest = if path.is_empty() {
                file.to_path_buf()
            } else {
                file.parent().unwrap().join(path)
            };
            let at = format!("{}:{n}", shown(file));
            if !dest.exists() {
                problems.push(format!(
                    "{at}: link to {target:?}: {} does not exist",
                    shown(&dest)
                ));
                continue;
            }
            let Some(fragment) = fragment else { continue };
            if dest.extension().is_none_or(|e| e != "md") {
                problems.push(format!(
                    "{at}: link to {target:?}: a #fragment into a file that is not markdown"
                ));
                continue;
            }
            let anchors = page(&dest).anchors;
            if !anchors.iter().any(|a| a == fragment) {
                problems.push(format!(
                    "{at}: link to {target:?}: {} has no heading with the anchor #{fragment} (its anchors: {})",
                    shown(&dest),
                    anchors.join(", ")
                ));
            }
        }
    }
    problems
}

#[test]
fn every_relative_link_in_the_manual_resolves() {
    let mut problems = Vec::new();
    let mut links = 0;
    for file in manual() {
        let text = fs::read_to_string(&file).unwrap();
        links += prose_lines(&text)
            .iter()
            .map(|(_, l)| link_targets(l).len())
            .sum::<usize>();
        problems.extend(broken_links(&file));
    }
    assert!(
        links > 50,
        "only {links} links in the whole manual: is the README's index gone?"
    );
    assert!(
        problems.is_empty(),
        "broken links in the manual:\n{}",
        problems.join("\n")
    );
}

/// One citation: the page it names (a path from the repository root), the
/// quoted heading, and where it is.
struct Citation {
    page: String,
    heading: String,
    at: String,
}

/// Is `c` part of a path or a word (so a token next to it is no page name)?
fn path_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '/' | '_' | '-' | '.')
}

/// A line without the comment markers that continue a comment onto it.
fn continuation(line: &str) -> &str {
    let t = line.trim_start();
    for marker in ["//!", "///", "//", "#", "*", "--"] {
        if let Some(rest) = t.strip_prefix(marker) {
            return rest.trim_start();
        }
    }
    t
}

/// The page names on `line`: (byte offset just after the name, the page).
fn page_names(line: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, _) in line.char_indices() {
        let before = line[..i].chars().next_back();
        if before.is_some_and(path_char) {
            continue;
        }
        let rest = &line[i..];
        for name in ["README.md", "BENCHMARKS.md", "RELIABILITY.md"] {
            if rest.starts_with(name) {
                out.push((i + name.len(), name.to_string()));
            }
        }
        if rest.starts_with("README") && !rest.starts_with("README.md") {
            out.push((i + "README".len(), "README.md".to_string()));
        }
        if rest.starts_with("docs/") {
            let len = rest.find(|c: char| !path_char(c)).unwrap_or(rest.len());
            let path = rest[..len].trim_end_matches('.');
            if path.ends_with(".md") {
                out.push((i + path.len(), path.to_string()));
            }
        }
    }
    out
}

/// The quoted heading that follows a page name: at least one of `,`, ` `,
/// `(` or `'s` between them, then `"text"` (the text may run onto the next
/// lines of a comment). None when what follows is no citation.
fn quoted_heading(after: &str) -> Option<String> {
    let mut rest = after;
    let mut separated = false;
    loop {
        if let Some(r) = rest.strip_prefix("'s").or_else(|| rest.strip_prefix("’s")) {
            rest = r;
        } else if let Some(r) = rest.strip_prefix([',', ' ', '(', '\t']) {
            rest = r;
        } else {
            break;
        }
        separated = true;
    }
    let body = rest
        .strip_prefix('"')
        .or_else(|| rest.strip_prefix('“'))
        .filter(|_| separated)?;
    let end = body.find(['"', '”'])?;
    let text = body[..end].split_whitespace().collect::<Vec<_>>().join(" ");
    // A quoted word that is no heading: a shell variable, a path.
    text.starts_with(|c: char| c.is_alphanumeric() || c == '`')
        .then_some(text)
}

fn citations_in(file: &Path) -> Vec<Citation> {
    let Ok(text) = fs::read_to_string(file) else {
        return Vec::new(); // not text
    };
    // In markdown, a citation shown as code (`(docs/PAGE.md, "Heading")`) or in
    // a fenced block is an example, not a citation.
    let lines: Vec<String> = if file.extension().is_some_and(|e| e == "md") {
        let mut lines = vec![String::new(); text.lines().count()];
        for (n, line) in prose_lines(&text) {
            lines[n - 1] = without_code(line);
        }
        lines
    } else {
        text.lines().map(str::to_string).collect()
    };
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        for (end, page) in page_names(line) {
            let mut after = line[end..].to_string();
            for next in lines.iter().skip(i + 1).take(3) {
                after.push(' ');
                after.push_str(continuation(next));
            }
            if let Some(heading) = quoted_heading(&after) {
                out.push(Citation {
                    page,
                    heading,
                    at: format!("{}:{}", shown(file), i + 1),
                });
            }
        }
    }
    out
}

/// Does `cited` name `heading`: the same words, or its start up to a word's
/// end ("..." at the end of a citation is allowed)?
fn names(cited: &str, heading: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let cited = norm(cited.trim_end_matches(['.', '…']).trim());
    let heading = norm(heading);
    heading == cited
        || heading
            .strip_prefix(&cited)
            .is_some_and(|rest| !rest.starts_with(char::is_alphanumeric))
}

#[test]
fn every_citation_of_a_heading_resolves() {
    let mut files = manual();
    for dir in [
        "src",
        "tests",
        "scripts",
        "config",
        "packaging",
        "benches",
        "examples",
    ] {
        files_under(&root().join(dir), &mut files, &|p| {
            // This file's own examples are no citations.
            !p.ends_with("tests/docs.rs")
        });
    }
    let mut problems = Vec::new();
    let mut count = 0;
    for file in &files {
        for c in citations_in(file) {
            count += 1;
            let target = root().join(&c.page);
            if !target.exists() {
                problems.push(format!(
                    "{}: cites {} \"{}\", but {} does not exist",
                    c.at, c.page, c.heading, c.page
                ));
                continue;
            }
            let headings = page(&target).headings;
            if !headings.iter().any(|h| names(&c.heading, h)) {
                problems.push(format!(
                    "{}: cites {} \"{}\", a heading {} does not have (its headings: {})",
                    c.at,
                    c.page,
                    c.heading,
                    c.page,
                    headings.join(" | ")
                ));
            }
        }
    }
    assert!(
        count > 10,
        "found only {count} citations: is the parser still finding them?"
    );
    assert!(
        problems.is_empty(),
        "citations of headings that do not exist:\n{}",
        problems.join("\n")
    );
}

#[test]
fn anchors_follow_githubs_rules() {
    assert_eq!(
        slug("Opening hours (solar power)"),
        "opening-hours-solar-power"
    );
    assert_eq!(
        slug("Checking the box: `desawifi doctor`"),
        "checking-the-box-desawifi-doctor"
    );
    assert_eq!(
        slug("Login → online latency with 0, 1,000 and 10,000 devices online"),
        "login--online-latency-with-0-1000-and-10000-devices-online"
    );
    assert_eq!(slug("Issue 10's hot paths"), "issue-10s-hot-paths");
    assert_eq!(
        slug("HTTPS for the captive API (RFC 8908 / 8910)"),
        "https-for-the-captive-api-rfc-8908--8910"
    );
    assert!(names(
        "Release builds",
        "Release builds: size of the static musl binaries"
    ));
    assert!(!names(
        "Release build",
        "Release builds: size of the static musl binaries"
    ));
    assert!(names("Big sites", "Big sites"));
}

#[test]
fn a_citation_is_found_across_comment_lines() {
    let dir = std::env::temp_dir().join(format!("dw-docs-test-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let f = dir.join("x.rs");
    fs::write(
        &f,
        "/// kept (BENCHMARKS.md, \"Release\n/// builds\"). Not one: \"README.md\",\n# README \"$gen/x\" either\n",
    )
    .unwrap();
    let found = citations_in(&f);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        found.len(),
        1,
        "{:?}",
        found.iter().map(|c| &c.heading).collect::<Vec<_>>()
    );
    assert_eq!(found[0].page, "BENCHMARKS.md");
    assert_eq!(found[0].heading, "Release builds");
}
