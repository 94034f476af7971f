//! The collector's layering (ADR 006), checked on its sources:
//!
//! ```text
//! cli ─► server ─► http/, jobs/ ─► state ─► domain ─► store/ ─► protocol
//! ```
//!
//! - a module imports only modules of lower layers (within the domain,
//!   domain modules may import each other, without a cycle);
//! - no domain module names axum or the app state;
//! - only `store/` names a collection or reads a MongoDB error;
//! - no source file in the workspace is over 500 lines (tests aside)
//!   without a comment near its top saying why ("over 500 lines").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `collector/src` and its layer (0 = top).
const LAYERS: &[(&str, u8)] = &[
    ("cli", 0),
    ("server", 1),
    ("http", 2),
    ("jobs", 2),
    ("state", 3),
    ("apps", 4),
    ("beacon", 4),
    ("catalog", 4),
    ("clock", 4),
    ("config", 4),
    ("export", 4),
    ("health", 4),
    ("ingest", 4),
    ("lease", 4),
    ("limits", 4),
    ("query", 4),
    ("reports", 4),
    ("rollups", 4),
    ("store", 5),
];
const DOMAIN: u8 = 4;

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without `//` comments (doc links name modules too) and
/// without the unit tests at the end of the file.
fn code(text: &str) -> String {
    let body = match text.find("\n#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` refers to as `crate::<module>`, grouped
/// imports (`use crate::{a, b::c}`) included.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    refs.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                refs.insert(name);
            }
        }
    }
    refs
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `(top-level module, file, code)` of every file below `collector/src`
/// but `lib.rs` and `main.rs`.
fn modules() -> Vec<(String, PathBuf, String)> {
    let root = src();
    let mut files = Vec::new();
    rs_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(&root).unwrap();
            let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
            let module = first.trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                return None;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            Some((module, f, code(&text)))
        })
        .collect()
}

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(m, _)| *m == module)
        .unwrap_or_else(|| {
            panic!("collector/src/{module}: give it a layer in tests/layers.rs and ADR 006")
        })
        .1
}

#[test]
fn imports_only_go_down() {
    let mut bad = Vec::new();
    let mut domain_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file, code) in modules() {
        let from = layer(&module);
        for to in crate_refs(&code) {
            if to == module || to == "self" {
                continue;
            }
            let Some(&(_, layer_to)) = LAYERS.iter().find(|(m, _)| *m == to) else {
                continue; // a crate-root re-export or item, e.g. `crate::main`
            };
            if from == DOMAIN && layer_to == DOMAIN {
                domain_edges
                    .entry(module.clone())
                    .or_default()
                    .insert(to.clone());
            } else if layer_to <= from {
                bad.push(format!(
                    "{}: `{module}` (layer {from}) imports `{to}` (layer {layer_to})",
                    file.display()
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports that go up or sideways:\n{}",
        bad.join("\n")
    );

    // No cycle among the domain modules (depth-first search).
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == m) {
            panic!(
                "an import cycle among the domain modules: {} -> {m}",
                path[i..].join(" -> ")
            );
        }
        if done.contains(m) {
            return;
        }
        path.push(m.to_owned());
        for to in edges.get(m).into_iter().flatten() {
            visit(to, edges, path, done);
        }
        path.pop();
        done.insert(m.to_owned());
    }
    let mut done = BTreeSet::new();
    for m in domain_edges.keys() {
        visit(m, &domain_edges, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_domain_knows_no_http_and_only_the_store_names_collections() {
    let mut bad = Vec::new();
    for (module, file, code) in modules() {
        let layer = layer(&module);
        if layer >= DOMAIN {
            for word in ["axum", "AppState", "tower"] {
                if code.contains(word) {
                    bad.push(format!(
                        "{}: a {} module names `{word}`",
                        file.display(),
                        if layer == DOMAIN { "domain" } else { "store" }
                    ));
                }
            }
        }
        if module != "store" {
            for word in [
                ".collection(",
                ".collection::<",
                "collection_with_options",
                "ErrorKind",
                "mongodb::error",
                "mongodb::Collection",
            ] {
                if code.contains(word) {
                    bad.push(format!(
                        "{}: `{word}` outside store/ (only the store names collections and reads MongoDB errors)",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn long_files_say_why() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(workspace).unwrap() {
        let dir = krate.unwrap().path().join("src");
        if dir.is_dir() {
            rs_files(&dir, &mut files);
        }
    }
    assert!(
        files.len() > 40,
        "found the workspace's sources: {}",
        files.len()
    );
    let mut long = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines = code(&text).lines().count();
        let head: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
        if lines > 500 && !head.to_ascii_lowercase().contains("over 500 lines") {
            long.push(format!("{} ({lines} lines)", f.display()));
        }
    }
    assert!(
        long.is_empty(),
        "split these by concern, or say near the top why one file (\"over 500 lines\"):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // The parser itself: a check that reads nothing passes vacuously.
    let refs = crate_refs(
        "use crate::store::{json, Store};\nuse crate::{apps::AppId, catalog};\nlet x = crate::query::run;",
    );
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["apps", "catalog", "query", "store"]
    );
    assert_eq!(
        code("a // crate::x\n\"//\" crate::y"),
        "a \n\"//\" crate::y"
    );
    let m = modules();
    assert!(m.iter().any(|(module, _, _)| module == "http"));
    assert!(m
        .iter()
        .any(|(module, _, code)| module == "ingest" && code.contains("crate::catalog")));
}
