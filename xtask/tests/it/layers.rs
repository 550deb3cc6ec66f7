//! Conventions of the source tree, checked so they stay true: the modules form
//! layers and every `crate::` import points down the layer table (no import
//! cycles beyond a module and its own children), and every source file opens with
//! a `//!` line saying what it is for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The top-level modules of `xtask/src`, bottom layer first. A module may import
/// modules of lower layers only (its own children are part of it). README's
/// Layout table shows the same order.
const LAYERS: &[&[&str]] = &[
    &["out", "exit", "redact", "reaper", "invocation", "suggest"],
    &["config"],
    &["ui", "plan", "interrupt"],
    &["proc"],
    &["context", "pgbin"],
    &["db", "audit"],
    &["dump", "migrations", "prisma", "scratch", "room"],
    &["evidence"],
    &["recovery", "preflight"],
    &["rehearsal"],
    &["builtins"],
    &["runner"],
    &["cli", "report", "init"],
    &["demo"],
    &["lib", "main"],
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to: `db/lock.rs` and `db/mod.rs` are `db`.
fn top_module(file: &Path) -> String {
    let rel = file.strip_prefix(src_dir()).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The file's text without its test code: a `#[cfg(test)]` item and everything
/// after it (test modules sit at the end of a file), and files of tests.
fn product_code(file: &Path) -> String {
    if file.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(file).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Every `crate::NAME` in the code, also inside `use crate::{a, b}` groups.
fn crate_imports(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
        rest = after;
    }
    found
}

#[test]
fn crate_imports_point_down_the_layer_table() {
    let rank: BTreeMap<&str, usize> =
        LAYERS.iter().enumerate().flat_map(|(i, layer)| layer.iter().map(move |m| (*m, i))).collect();
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let module = top_module(file);
        let Some(&mine) = rank.get(module.as_str()) else {
            wrong.push(format!("{}: module `{module}` is not in the layer table", file.display()));
            continue;
        };
        for import in crate_imports(&product_code(file)) {
            if import == module {
                continue;
            }
            match rank.get(import.as_str()) {
                Some(&theirs) if theirs < mine => {}
                Some(_) => wrong.push(format!(
                    "{}: `{module}` imports `crate::{import}`, which is not in a lower layer",
                    file.display()
                )),
                // Items re-exported at the crate root (none today) would land here.
                None => wrong.push(format!("{}: `crate::{import}` is not a module of the layer table", file.display())),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn every_module_of_lib_is_in_the_layer_table() {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let listed: Vec<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    for line in lib.lines() {
        let line = line.trim();
        let decl = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod "));
        if let Some(name) = decl.and_then(|d| d.strip_suffix(';')) {
            assert!(listed.contains(&name), "lib.rs declares `{name}`, which the layer table does not list");
        }
    }
}

#[test]
fn the_layering_check_catches_an_upward_import() {
    // The checker itself: an import of a higher layer is found.
    assert_eq!(crate_imports("use crate::runner::run;\nuse crate::{db, exit::Failure};"), ["runner", "db", "exit"]);
    assert!(crate_imports("// crate::runner in a comment\n").is_empty());
}

#[test]
fn every_source_file_opens_with_a_doc_line() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"), &mut files);
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../pgcluster/src"), &mut files);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a leading `//!` line:\n{}", missing.join("\n"));
}
