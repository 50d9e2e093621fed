//! The house's layering, kept true: every `crate::<room>` a source file names
//! (in a `use` line, a `use crate::{a, b}` group or an inline path) must go to
//! a room of a lower layer, or to one of the few same-layer rooms listed
//! below, and the edge rooms keep their extra promises (portal and admin
//! never import each other, never the kernel rooms; admin reaches the store
//! only through its typed account and audit API). The table is the one in
//! `src/lib.rs`'s `# Layout` and the README's architecture section: a new room
//! gets a row here first.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Layers, bottom first: a room may use any room of a lower layer.
const LAYERS: &[(&str, &[&str])] = &[
    ("ground", &["domain", "clock", "lang", "telemetry"]),
    (
        "base",
        &[
            "config", "store", "shaping", "quota", "neighbor", "uplink", "web", "policy",
        ],
    ),
    ("kernel", &["firewall", "dnsmasq"]),
    ("core", &["gateway"]),
    ("edge", &["portal", "admin", "office"]),
    ("top", &["daemon", "doctor"]),
];

/// The only edges between rooms of the same layer (the graph of them stays
/// acyclic, which the test also checks).
const SAME_LAYER: &[(&str, &str)] = &[
    // The slot count's bounds are the shaping plan's.
    ("config", "shaping"),
    // Quota arithmetic works on the config's [quota] values.
    ("quota", "config"),
    // The uplink watcher takes its [uplink] settings.
    ("uplink", "config"),
    // The snippet names the firewall's sets that dnsmasq fills.
    ("dnsmasq", "firewall"),
    // A policy's values go through the config file's own parsers.
    ("policy", "config"),
];

/// Lower rooms an edge room must not use although their layer is lower: the
/// portal and admin rooms never talk to nft or tc, and never hold the store.
const EDGE_DENIED: &[(&str, &str)] = &[
    ("portal", "firewall"),
    ("portal", "dnsmasq"),
    ("portal", "shaping"),
    ("portal", "store"),
    ("admin", "firewall"),
    ("admin", "dnsmasq"),
    ("admin", "shaping"),
    // The office runs at the regency, beside Prometheus: no gateway, no kernel.
    ("office", "gateway"),
    ("office", "firewall"),
    ("office", "dnsmasq"),
    ("office", "shaping"),
];

/// Store items the admin room may not name (its own trees come through the
/// store's typed account and audit API; devices and usage through the gateway).
const ADMIN_STORE_DENIED: &[&str] = &["Store"];

fn layer_of(room: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, rooms)| rooms.contains(&room))
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's module path below the crate root: `src/admin/ops.rs` is
/// `["admin", "ops"]`, `src/admin/mod.rs` and `src/admin.rs` are `["admin"]`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src_dir()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

/// The source without comments and string literals, so a path in a doc
/// comment or a message is not taken for an import.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i..].starts_with(b"r#\"") {
            let end = src[i + 3..].find("\"#").map_or(b.len(), |e| i + 3 + e + 2);
            i = end;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('"', '\n', '\''); lifetimes ('a) pass through.
            let close = src[i + 2..].find('\'').map_or(b.len(), |e| i + 2 + e + 1);
            i = close;
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The matching `}` of the `{` at `open`.
fn group_end(s: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in s[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// The items of a `{a, b::c, d::{e, f}}` group at its top level, each as
/// its full text (`a`, `b::c`, `d::{e, f}`).
fn group_items(inner: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        items.push(cur.trim().to_string());
    }
    items
}

/// Every path this file names from the crate root, as the segments after
/// `crate::` (`crate::store::{Store, Device}` gives `store::Store` and
/// `store::Device`). `super::` is resolved against the file's module path.
fn crate_paths(file: &Path, code: &str) -> Vec<Vec<String>> {
    let module = module_path(file);
    let mut found = Vec::new();
    let starts: Vec<(usize, Vec<String>)> = {
        let mut v = Vec::new();
        for (i, _) in code.match_indices("crate::") {
            let before = code[..i].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            v.push((i + "crate::".len(), Vec::new()));
        }
        // super:: chains: `super::super::x` from src/a/b.rs is crate::x.
        let mut i = 0;
        while let Some(off) = code[i..].find("super::") {
            let at = i + off;
            let before = code[..at].chars().last();
            i = at + 1;
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut rest = at;
            let mut ups = 0;
            while code[rest..].starts_with("super::") {
                ups += 1;
                rest += "super::".len();
            }
            // A file's own module is `module`; `mod tests` inside it adds a level.
            let inside_tests = code[..at].contains("mod tests");
            let base_len = module.len() + usize::from(inside_tests);
            if ups <= base_len {
                let prefix: Vec<String> = module.iter().take(base_len - ups).cloned().collect();
                v.push((rest, prefix));
            }
            i = rest;
        }
        v
    };
    for (at, prefix) in starts {
        let rest = &code[at..];
        if rest.starts_with('{') {
            let end = group_end(code, at);
            for item in group_items(&code[at + 1..end]) {
                let mut p = prefix.clone();
                p.extend(item.split("::").map(|s| ident_at(s.trim()).to_string()));
                found.push(p);
            }
        } else {
            let mut p = prefix.clone();
            let mut s = rest;
            loop {
                let id = ident_at(s);
                if id.is_empty() {
                    // `crate::store::{A, B}`
                    if s.starts_with('{') {
                        let open = code.len() - s.len();
                        let end = group_end(code, open);
                        for item in group_items(&code[open + 1..end]) {
                            let mut q = p.clone();
                            q.extend(item.split("::").map(|x| ident_at(x.trim()).to_string()));
                            found.push(q);
                        }
                        p.clear();
                    }
                    break;
                }
                p.push(id.to_string());
                s = &s[id.len()..];
                if let Some(next) = s.strip_prefix("::") {
                    s = next;
                } else {
                    break;
                }
            }
            if !p.is_empty() {
                found.push(p);
            }
        }
    }
    found
}

/// (from room, to room) -> the files and paths that make the edge.
type Edges = BTreeMap<(String, String), BTreeSet<String>>;

fn room_edges() -> (Edges, Vec<String>) {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    files.sort();
    let mut edges = Edges::new();
    let mut admin_store = Vec::new();
    for file in &files {
        let module = module_path(file);
        let Some(from) = module.first().cloned() else {
            continue; // lib.rs and main.rs
        };
        if from == "main" || from == "bin" {
            continue;
        }
        let code = code_only(&fs::read_to_string(file).unwrap());
        let rel = file.strip_prefix(src_dir()).unwrap().display().to_string();
        for path in crate_paths(file, &code) {
            let Some(to) = path.first().cloned() else {
                continue;
            };
            if to.is_empty() || to == "self" || to == from {
                continue;
            }
            if from == "admin" && to == "store" {
                if let Some(item) = path.get(1) {
                    if ADMIN_STORE_DENIED.contains(&item.as_str()) {
                        admin_store.push(format!("src/{rel}: crate::{}", path.join("::")));
                    }
                }
            }
            edges
                .entry((from.clone(), to))
                .or_default()
                .insert(format!("src/{rel}: crate::{}", path.join("::")));
        }
    }
    (edges, admin_store)
}

#[test]
fn every_room_has_a_layer() {
    let mut rooms = BTreeSet::new();
    for entry in fs::read_dir(src_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            rooms.insert(name);
        }
    }
    rooms.remove("lib");
    rooms.remove("main");
    let missing: Vec<_> = rooms.iter().filter(|r| layer_of(r).is_none()).collect();
    assert!(
        missing.is_empty(),
        "rooms without a layer in tests/layering.rs (and src/lib.rs's # Layout): {missing:?}"
    );
}

#[test]
fn every_use_goes_down_the_layers() {
    let (edges, _) = room_edges();
    let mut wrong = Vec::new();
    for ((from, to), sites) in &edges {
        let (Some(lf), Some(lt)) = (layer_of(from), layer_of(to)) else {
            wrong.push(format!(
                "{from} -> {to}: a room without a layer\n    {sites:?}"
            ));
            continue;
        };
        let ok = if lt < lf {
            !EDGE_DENIED.contains(&(from.as_str(), to.as_str()))
        } else if lt == lf {
            SAME_LAYER.contains(&(from.as_str(), to.as_str()))
        } else {
            false
        };
        if !ok {
            let why = if lt > lf {
                format!("{} uses {} above it", LAYERS[lf].0, LAYERS[lt].0)
            } else if lt == lf {
                format!("same layer ({}), not in SAME_LAYER", LAYERS[lf].0)
            } else {
                "an edge room reaching past the gateway".to_string()
            };
            let list: Vec<&String> = sites.iter().take(5).collect();
            wrong.push(format!("{from} -> {to}: {why}\n    {list:#?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} room edges break the layering:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn no_cycle_between_rooms() {
    let (edges, _) = room_edges();
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().insert(to);
    }
    // Depth-first search with colours: grey on the stack, black done.
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        colour: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        colour.insert(n, 1);
        stack.push(n);
        for &m in graph.get(n).into_iter().flatten() {
            match colour.get(m).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|&s| s == m).unwrap();
                    let mut cycle: Vec<String> =
                        stack[at..].iter().map(|s| s.to_string()).collect();
                    cycle.push(m.to_string());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, graph, colour, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(n, 2);
        None
    }
    let mut colour = BTreeMap::new();
    for &n in graph.keys() {
        if colour.get(n).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(n, &graph, &mut colour, &mut stack) {
                panic!("a cycle between rooms: {}", cycle.join(" -> "));
            }
        }
    }
}

#[test]
fn portal_and_admin_never_import_each_other() {
    let (edges, _) = room_edges();
    for pair in [("portal", "admin"), ("admin", "portal")] {
        let key = (pair.0.to_string(), pair.1.to_string());
        assert!(
            !edges.contains_key(&key),
            "{} imports {}: {:?}",
            pair.0,
            pair.1,
            edges[&key]
        );
    }
}

#[test]
fn admin_reaches_the_store_only_through_its_typed_trees() {
    let (_, admin_store) = room_edges();
    assert!(
        admin_store.is_empty(),
        "the admin room names the store itself (devices and usage come through the gateway): {admin_store:#?}"
    );
}

/// The parser itself: groups, nesting, super, comments and strings.
#[test]
fn the_path_reader_reads_what_rust_means() {
    let file = src_dir().join("admin").join("ops.rs");
    let code = code_only(
        "use crate::{config::{self, Quota}, gateway::Gateway};\n\
         // crate::firewall in a comment\n\
         let s = \"crate::store in a string\";\n\
         use super::server::Admin;\n\
         use super::super::uplink::UplinkState;\n\
         let x = crate::quota::Limits::new();\n\
         use crate::store::{Store, Device};\n",
    );
    let paths: BTreeSet<String> = crate_paths(&file, &code)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    let want: BTreeSet<String> = [
        "config::",
        "gateway::Gateway",
        "admin::server::Admin",
        "uplink::UplinkState",
        "quota::Limits::new",
        "store::Store",
        "store::Device",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A nested group keeps its first segment, which is all the rooms need.
    let rooms: BTreeSet<String> = paths
        .iter()
        .map(|p| p.split("::").next().unwrap().to_string())
        .collect();
    let want_rooms: BTreeSet<String> = want
        .iter()
        .map(|p| p.split("::").next().unwrap().to_string())
        .collect();
    assert_eq!(rooms, want_rooms, "{paths:?}");
    assert!(
        paths.contains("store::Store") && paths.contains("uplink::UplinkState"),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.starts_with("firewall")),
        "{paths:?}"
    );
}
