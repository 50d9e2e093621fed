//! The house's layering, kept true: every `crate::<room>` a source file names
//! (in a `use` line, a `use crate::{a, b}` group or an inline path) must go to
//! a room of a lower layer, or to one of the few same-layer rooms listed
//! below, and the edge rooms keep their extra promises (portal and admin
//! never import each other, never the kernel rooms; admin reaches the store
//! only through its typed account and audit API). The table is the one in
//! `src/lib.rs`'s `# Layout` and the README's architecture section: a new room
//! gets a row here first.
//!
//! Inside a room the same holds, file by file (a room's first path segment
//! alone cannot see a cycle between its files): no cycle among the files
//! (and sub-folders) of any folder of `src/`; in a room with a stack of its
//! own ([`INNER`]: admin's core, resources, surfaces, server) each file uses
//! only files of the levels below, and resource files never import a
//! sibling; and no file outside `src/web/` re-exports a `web` item (`pub
//! use crate::web::...`), so each room's helpers are named where they live.
//!
//! `DW_LAYERING_SRC=<dir>` checks another tree (e.g. an old commit's `src/`,
//! to see a rule fail on the code it was written against).

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
            "accounts",
        ],
    ),
    ("kernel", &["firewall", "dnsmasq", "power"]),
    ("core", &["gateway"]),
    ("edge", &["portal", "admin", "office"]),
    ("top", &["daemon", "doctor", "regency"]),
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
    // Accounts keep users, sessions and their audit entries in the store's admin trees.
    ("accounts", "store"),
    // The browsers' login flow (form token, session cookie, redirect), one for
    // both consoles, over web's cookies and forms; web itself knows no users.
    ("accounts", "web"),
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
    // Its accounts come ready-made from the wiring (`regency`): no store.
    ("office", "store"),
];

/// Rooms with a stack of their own, bottom level first: (level, its files
/// and sub-folders, whether they may import each other). A file uses only
/// files of lower levels, or of its own level when that level allows it;
/// every file of the room must have a level (a new file gets a row here).
/// The admin room follows tokio-rs/mini-redis (`Db` below `cmd/*` below
/// `server`) and innernet's server (`api/admin/*`, each using only the
/// shared session, error and db, never a sibling).
/// One level of a room's own stack: its name, its files and sub-folders,
/// whether they may import each other.
type Level = (&'static str, &'static [&'static str], bool);

const INNER: &[(&str, &[Level])] = &[(
    "admin",
    &[
        // State, principal and CSRF, error, audit, device states, policy status.
        ("core", &["core"], true),
        // One file per resource: each uses the core only, never a sibling.
        (
            "resources",
            &[
                "devices",
                "quota",
                "schedule",
                "trust",
                "usage",
                "categories",
                "garden",
                "quiz",
                "policy",
                "outages",
            ],
            false,
        ),
        // What renders or drives the resources; never each other.
        (
            "surfaces",
            &["api", "console", "metrics", "control", "policy_pull"],
            false,
        ),
        // The listener and router, and its certificate.
        ("top", &["server", "tls"], true),
    ],
)];

/// Edges between files of one folder that close a cycle and are left for
/// now, each with why: (folder, from file, to file). The test fails when
/// one is gone, so the list only shrinks.
const KNOWN_FILE_CYCLES: &[(&str, &str, &str)] = &[
    // The ruleset (render.rs) includes the categories' sets and chains, and
    // categories.rs builds its rules with render's expression helpers; the
    // helpers want a file of their own below both, a change to the ruleset
    // the holes work is making at the same time (issue 21, admin part).
    ("firewall", "categories", "render"),
];

/// Store items the admin room may not name (its own trees come through the
/// store's typed account and audit API; devices and usage through the gateway).
const ADMIN_STORE_DENIED: &[&str] = &["Store"];

fn layer_of(room: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, rooms)| rooms.contains(&room))
}

fn src_dir() -> PathBuf {
    match std::env::var_os("DW_LAYERING_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    }
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
    // src/bin/: the second program's CLI (`desawifi-regency`), like main.rs.
    rooms.remove("bin");
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

/// A folder of `src/` (a room or a room's sub-folder) and its files.
struct Folder {
    /// Its module path (`["admin"]`, `["admin", "console"]`).
    module: Vec<String>,
    /// Its files and sub-folders by name (`api`, `console`, `core`).
    units: BTreeSet<String>,
}

/// Every folder under `src/` that holds Rust files.
fn folders() -> Vec<Folder> {
    fn walk(dir: &Path, module: Vec<String>, out: &mut Vec<Folder>) {
        let mut units = BTreeSet::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut sub = module.clone();
                sub.push(name.clone());
                walk(&path, sub, out);
                units.insert(name);
            } else if path.extension().is_some_and(|e| e == "rs") && name != "mod" {
                units.insert(name);
            }
        }
        if !module.is_empty() {
            out.push(Folder { module, units });
        }
    }
    let mut out = Vec::new();
    walk(&src_dir(), Vec::new(), &mut out);
    out
}

/// The edges between the units of `folder`: (from unit, to unit) -> sites.
/// A file inside the folder belongs to the unit of its first path segment
/// below it; the folder's own front door (`mod.rs`, or `console.rs` beside
/// `console/`) is no unit and names its children freely (it declares them).
fn unit_edges(folder: &Folder) -> Edges {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    files.sort();
    let depth = folder.module.len();
    let mut edges = Edges::new();
    for file in &files {
        let module = module_path(file);
        if module.len() <= depth || module[..depth] != folder.module[..] {
            continue;
        }
        let from = module[depth].clone();
        let code = code_only(&fs::read_to_string(file).unwrap());
        let rel = file.strip_prefix(src_dir()).unwrap().display().to_string();
        for path in crate_paths(file, &code) {
            if path.len() <= depth || path[..depth] != folder.module[..] {
                continue;
            }
            let to = &path[depth];
            if *to == from || !folder.units.contains(to) {
                continue;
            }
            edges
                .entry((from.clone(), to.clone()))
                .or_default()
                .insert(format!("src/{rel}: crate::{}", path.join("::")));
        }
    }
    edges
}

/// A cycle in `graph`, if there is one, as the nodes around it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        colour: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        colour.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in graph.get(n).into_iter().flatten() {
            match colour.get(m).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
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
        colour.insert(n.to_owned(), 2);
        None
    }
    let mut colour = BTreeMap::new();
    for n in graph.keys() {
        if colour.get(n).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, graph, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_cycle_among_a_rooms_files() {
    let mut cycles = Vec::new();
    let mut known_seen = BTreeSet::new();
    for folder in folders() {
        let edges = unit_edges(&folder);
        let name = folder.module.join("::");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges.keys() {
            if KNOWN_FILE_CYCLES.contains(&(name.as_str(), from.as_str(), to.as_str())) {
                known_seen.insert((name.clone(), from.clone(), to.clone()));
                continue;
            }
            graph.entry(from.clone()).or_default().insert(to.clone());
        }
        if let Some(cycle) = find_cycle(&graph) {
            let sites: Vec<&String> = cycle
                .windows(2)
                .filter_map(|w| edges.get(&(w[0].clone(), w[1].clone())))
                .filter_map(|s| s.iter().next())
                .collect();
            cycles.push(format!("{name}: {}\n    {sites:#?}", cycle.join(" -> ")));
        }
    }
    for known in KNOWN_FILE_CYCLES {
        let (room, from, to) = (known.0.to_owned(), known.1.to_owned(), known.2.to_owned());
        if !known_seen.contains(&(room, from, to)) {
            cycles.push(format!(
                "{known:?} is gone: take it off KNOWN_FILE_CYCLES (tests/layering.rs)"
            ));
        }
    }
    assert!(
        cycles.is_empty(),
        "a cycle among a room's files (a file a level down must not name one above it):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn inside_a_stacked_room_every_use_goes_down_and_resources_never_meet() {
    let mut wrong = Vec::new();
    for (room, levels) in INNER {
        let folder = folders()
            .into_iter()
            .find(|f| f.module == [room.to_string()])
            .unwrap_or_else(|| panic!("no folder src/{room}/"));
        let level_of = |unit: &str| {
            levels
                .iter()
                .position(|(_, units, _)| units.contains(&unit))
        };
        for unit in &folder.units {
            if level_of(unit).is_none() {
                wrong.push(format!(
                    "{room}::{unit} has no level in INNER (tests/layering.rs)"
                ));
            }
        }
        for ((from, to), sites) in unit_edges(&folder) {
            let (Some(lf), Some(lt)) = (level_of(&from), level_of(&to)) else {
                continue;
            };
            let ok = lt < lf || (lt == lf && levels[lf].2);
            if !ok {
                let why = if lt > lf {
                    format!("{} uses {} above it", levels[lf].0, levels[lt].0)
                } else {
                    format!("{} never import each other", levels[lf].0)
                };
                let list: Vec<&String> = sites.iter().take(3).collect();
                wrong.push(format!(
                    "{room}::{from} -> {room}::{to}: {why}\n    {list:#?}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} uses break a room's own stack:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn no_room_re_exports_the_web_layer() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_path(file);
        if module.first().is_some_and(|m| m == "web") {
            continue;
        }
        let code = code_only(&fs::read_to_string(file).unwrap());
        let rel = file.strip_prefix(src_dir()).unwrap().display().to_string();
        let mut at = 0;
        while let Some(off) = code[at..].find("use ") {
            let start = at + off;
            at = start + 4;
            // `pub use`, `pub(crate) use`, `pub(super) use`, ...
            let before = code[..start].trim_end();
            let public = before.ends_with("pub")
                || (before.ends_with(')') && {
                    let open = before.rfind('(').unwrap_or(0);
                    before[..open].trim_end().ends_with("pub")
                });
            if !public {
                continue;
            }
            let end = code[start..].find(';').map_or(code.len(), |e| start + e);
            let stmt = &code[start + 4..end];
            for path in crate_paths(file, stmt) {
                if path.first().is_some_and(|r| r == "web") {
                    wrong.push(format!("src/{rel}: pub use crate::{}", path.join("::")));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "web items re-exported outside src/web (name them where they live, crate::web::...):\n{wrong:#?}"
    );
}

/// The gateway's binary never names the regency office: the office's code
/// stays out of it (fat LTO drops what `main.rs` and `daemon` never reach).
#[test]
fn the_gateway_binary_never_names_the_office() {
    for file in ["main.rs", "daemon.rs"] {
        let text = fs::read_to_string(src_dir().join(file)).unwrap();
        for name in [
            "regency::",
            "office::",
            "desawifi::regency",
            "desawifi::office",
        ] {
            assert!(
                !text.contains(name),
                "src/{file} names {name}: the gateway must not link the office"
            );
        }
    }
}
