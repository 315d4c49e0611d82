//! The layers hold (docs/ARCHITECTURE.md): `api` never reaches the store, no two
//! top-level modules import each other, and the engine's groups depend on each other one
//! way only. Read from the source, so a change that breaks a rule fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// The code of a file without its comments and its `#[cfg(test)]` module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names following `prefix` in `code` (`crate::engine::` -> `engine`, ...).
fn referenced(code: &str, prefix: &str) -> BTreeSet<String> {
    code.match_indices(prefix)
        .map(|(at, _)| {
            code[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Module -> the modules it refers to, for the modules that are files or folders of `dir`
/// and the references written `prefix<name>`.
fn dependencies(dir: &Path, prefix: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        if name == "main" || name == "lib" {
            continue;
        }
        let files = if path.is_dir() {
            rust_files(&path)
        } else {
            vec![path.clone()]
        };
        let entry = graph.entry(name.clone()).or_default();
        for file in files {
            entry.extend(
                referenced(&code(&file), prefix)
                    .into_iter()
                    .filter(|other| *other != name),
            );
        }
    }
    graph
}

fn mutual(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (a, targets) in graph {
        for b in targets {
            if a < b && graph.get(b).is_some_and(|back| back.contains(a)) {
                pairs.push((a.clone(), b.clone()));
            }
        }
    }
    pairs
}

#[test]
fn the_api_and_the_console_call_commands_and_never_the_store() {
    for file in rust_files(&src().join("api"))
        .into_iter()
        .chain(rust_files(&src().join("console")))
        .chain([src().join("api.rs"), src().join("console.rs")])
    {
        let code = code(&file);
        assert!(
            !code.contains("crate::store") && !code.contains("::store::"),
            "{} reaches the store; a command below the API and the console should do that work",
            file.display()
        );
    }
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    let graph = dependencies(&src(), "crate::");
    assert!(graph.contains_key("engine") && graph.contains_key("store"));
    assert_eq!(mutual(&graph), Vec::<(String, String)>::new(), "{graph:#?}");
}

#[test]
fn the_engine_groups_depend_on_each_other_one_way() {
    let graph = dependencies(&src().join("engine"), "crate::engine::");
    for group in [
        "background",
        "commands",
        "definitions",
        "execution",
        "handlers",
    ] {
        assert!(graph.contains_key(group), "no group `{group}`: {graph:#?}");
    }
    assert_eq!(mutual(&graph), Vec::<(String, String)>::new(), "{graph:#?}");
}
