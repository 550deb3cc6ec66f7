//! Conventions of the source tree, checked by parsing it so they stay true: the
//! modules form layers and every reference from product code to a module of the
//! crate (`use`, a path in code or in a macro's tokens, through `crate::`,
//! `super::` or `self::`) points down the layer table, and every source file opens
//! with a `//!` line saying what it is for. Every psql command line is built by
//! the one builder in `db/psql.rs` (`Target::psql`): a psql started anywhere else
//! is an error too.
//!
//! The files are parsed with `syn` (a text scan had blind spots: it stopped at a
//! file's first `#[cfg(test)]`, read a `use crate::{a::{b}, c}` group only to its
//! first `}` and never resolved `super::super::...`). Product code is what the
//! crate compiles outside tests: the module tree is followed from `lib.rs` through
//! its `mod` declarations, and items under `#[cfg(test)]` are left out wherever
//! they stand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};

/// The top-level modules of `xtask/src`, bottom layer first. A module may refer to
/// modules of lower layers only (its own children are part of it). README's
/// Layout table shows the same order.
const LAYERS: &[&[&str]] = &[
    &["out", "exit", "redact", "reaper", "invocation", "suggest", "packages"],
    &["config"],
    &["ui", "plan", "interrupt"],
    &["proc"],
    &["pgbin"],
    &["db"],
    &["dump", "migrations", "scratch", "room"],
    &["context"],
    &["audit"],
    &["prisma"],
    &["evidence"],
    &["recovery", "preflight"],
    &["rehearsal", "datacheck"],
    &["fleet"],
    &["builtins"],
    &["runner"],
    &["cli", "report", "init"],
    &["demo"],
    &["lib", "main"],
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Whether an item's attributes put it under `#[cfg(test)]` (also inside
/// `all(...)`/`any(...)`, but not `not(test)`).
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        if !a.path().is_ident("cfg") {
            return false;
        }
        let syn::Meta::List(list) = &a.meta else { return false };
        let words: Vec<String> = idents(list.tokens.clone());
        words.iter().any(|w| w == "test") && !words.iter().any(|w| w == "not")
    })
}

/// Every identifier in a token stream, groups included.
fn idents(tokens: TokenStream) -> Vec<String> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            TokenTree::Ident(i) => out.push(i.to_string()),
            TokenTree::Group(g) => out.extend(idents(g.stream())),
            _ => {}
        }
    }
    out
}

/// Where `crate::`, `self::` and `super::` paths written inside module `module`
/// lead: the absolute module path (its first segment is the top-level module).
/// `None` for paths that do not start at the crate (extern crates, locals), and
/// for a `super` that climbs above the crate root.
fn resolve(module: &[String], segments: &[String]) -> Option<Vec<String>> {
    let first = segments.first()?;
    match first.as_str() {
        "crate" => Some(segments[1..].to_vec()),
        "self" => Some(module.iter().chain(&segments[1..]).cloned().collect()),
        "super" => {
            let ups = segments.iter().take_while(|s| *s == "super").count();
            let base = module.len().checked_sub(ups)?;
            Some(module[..base].iter().chain(&segments[ups..]).cloned().collect())
        }
        _ => None,
    }
}

/// A reference from product code to a top-level module of the crate.
struct Reference {
    file: PathBuf,
    line: usize,
    /// The top-level module the reference is written in.
    from: String,
    /// The top-level module it leads to.
    to: String,
    written: String,
}

/// Walks one file's product code and collects its references to the crate.
struct Refs<'a> {
    file: &'a Path,
    /// The module the visitor is in (`["db", "lock"]` in `db/lock.rs`).
    module: Vec<String>,
    /// Modules declared in this file as `mod name;` (not under `#[cfg(test)]`),
    /// with the module path they get.
    declared: Vec<Vec<String>>,
    found: Vec<Reference>,
    /// Paths that climb above the crate root (always an error).
    broken: Vec<String>,
    /// Every product function with a body: `file:line name` and its length in lines.
    functions: Vec<(String, usize)>,
    /// Places that build a psql command line (an error outside `db/psql.rs`).
    psql: Vec<String>,
}

/// The module whose `Target::psql` builds every psql command line.
const PSQL_BUILDER: &[&str] = &["db", "psql"];

/// Functions and methods whose string argument is a program to start (or its
/// name for pgbin): `Command::new`, `Shell::cmd`, `pgbin::program`, a `tool`.
const STARTERS: &[&str] = &["new", "cmd", "program", "tool"];

/// Whether a command template (`cmd!`'s string) starts psql.
fn starts_psql(template: &str) -> bool {
    template.split_whitespace().next().is_some_and(|p| p == "psql" || p.ends_with("/psql"))
}

impl Refs<'_> {
    /// Records a function's length, from its `fn` keyword to its closing brace.
    fn function(&mut self, name: &syn::Ident, fn_token: &syn::token::Fn, block: &syn::Block) {
        let start = fn_token.span.start().line;
        let lines = block.brace_token.span.close().end().line + 1 - start;
        self.functions.push((format!("{}:{start} {name}", self.file.display()), lines));
    }

    fn psql_here(&mut self, what: &str, line: usize) {
        self.psql
            .push(format!("{}:{line}: {what} outside db/psql.rs (build it with Target::psql)", self.file.display()));
    }

    /// A string argument "psql" to a function that starts a program.
    fn psql_argument<'e>(&mut self, name: &str, args: impl IntoIterator<Item = &'e syn::Expr>) {
        if !STARTERS.contains(&name) {
            return;
        }
        for a in args {
            if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = a {
                if s.value() == "psql" || s.value().ends_with("/psql") {
                    self.psql_here(&format!("`{name}(\"psql\")` starts psql"), s.span().start().line);
                }
            }
        }
    }

    fn note(&mut self, segments: Vec<String>, line: usize) {
        let written = segments.join("::");
        match resolve(&self.module, &segments) {
            Some(path) => {
                let Some(to) = path.first().cloned() else { return };
                let from = self.module.first().cloned().unwrap_or_else(|| "lib".into());
                self.found.push(Reference { file: self.file.to_path_buf(), line, from, to, written });
            }
            None if segments.first().is_some_and(|s| s == "super") => {
                self.broken.push(format!("{}:{line}: `{written}` climbs above the crate root", self.file.display()))
            }
            None => {}
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, line: usize) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, line);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.note(prefix.iter().cloned().chain([n.ident.to_string()]).collect(), line),
            syn::UseTree::Rename(r) => self.note(prefix.iter().cloned().chain([r.ident.to_string()]).collect(), line),
            syn::UseTree::Glob(_) => self.note(prefix.clone(), line),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t, line);
                }
            }
        }
    }

    /// `crate :: a :: b` (and `super`/`self`) sequences in a macro's tokens, which
    /// syn does not parse as paths.
    fn macro_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => self.macro_tokens(g.stream()),
                TokenTree::Ident(id) if ["crate", "super", "self"].contains(&id.to_string().as_str()) => {
                    let line = id.span().start().line;
                    let mut segments = vec![id.to_string()];
                    let mut j = i + 1;
                    while let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(next))) =
                        (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        segments.push(next.to_string());
                        j += 3;
                    }
                    if segments.len() > 1 {
                        self.note(segments, line);
                    }
                    i = j - 1;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Refs<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            syn::Item::ExternCrate(i) => &i.attrs,
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::ForeignMod(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Macro(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Trait(i) => &i.attrs,
            syn::Item::TraitAlias(i) => &i.attrs,
            syn::Item::Type(i) => &i.attrs,
            syn::Item::Union(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            _ => &[],
        };
        if !is_test_only(attrs) {
            visit::visit_item(self, item);
        }
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs: &[syn::Attribute] = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        if !is_test_only(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.function(&f.sig.ident, &f.sig.fn_token, &f.block);
        visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.function(&f.sig.ident, &f.sig.fn_token, &f.block);
        visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let (false, Some(block)) = (is_test_only(&f.attrs), &f.default) {
            self.function(&f.sig.ident, &f.sig.fn_token, block);
            visit::visit_trait_item_fn(self, f);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let mut path = self.module.clone();
        path.push(m.ident.to_string());
        if m.content.is_none() {
            self.declared.push(path);
            return;
        }
        let outer = std::mem::replace(&mut self.module, path);
        visit::visit_item_mod(self, m);
        self.module = outer;
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let line = u.use_token.span.start().line;
        self.use_tree(&mut Vec::new(), &u.tree, line);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        let line = p.segments.first().map_or(0, |s| s.ident.span().start().line);
        self.note(segments, line);
        visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.macro_tokens(m.tokens.clone());
        if m.path.segments.last().is_some_and(|s| s.ident == "cmd") {
            for t in m.tokens.clone() {
                if let TokenTree::Literal(l) = t {
                    if let Ok(syn::Lit::Str(s)) = syn::parse_str::<syn::Lit>(&l.to_string()) {
                        if starts_psql(&s.value()) {
                            self.psql_here("`cmd!` starts psql", l.span().start().line);
                        }
                    }
                }
            }
        }
        visit::visit_macro(self, m);
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*c.func {
            if let Some(last) = p.path.segments.last() {
                self.psql_argument(&last.ident.to_string(), &c.args);
            }
        }
        visit::visit_expr_call(self, c);
    }

    fn visit_expr_method_call(&mut self, c: &'ast syn::ExprMethodCall) {
        self.psql_argument(&c.method.to_string(), &c.args);
        visit::visit_expr_method_call(self, c);
    }

    /// psql's own variable, as an argument of a command line being built.
    fn visit_lit_str(&mut self, s: &'ast syn::LitStr) {
        if s.value().starts_with("ON_ERROR_STOP") {
            self.psql_here("a psql argument (ON_ERROR_STOP)", s.span().start().line);
        }
    }

    /// Doc comments are prose (they may name psql's options).
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}
}

/// The file a `mod` declaration in `declaring` loads: `dir/name.rs` or
/// `dir/name/mod.rs`, where `dir` is the declaring file's own directory for
/// `lib.rs`/`main.rs`/`mod.rs` and its stem's directory otherwise.
fn module_file(declaring: &Path, name: &str) -> Option<PathBuf> {
    let parent = declaring.parent()?;
    let stem = declaring.file_stem()?.to_string_lossy().into_owned();
    let dir = if ["lib", "main", "mod"].contains(&stem.as_str()) { parent.to_path_buf() } else { parent.join(stem) };
    [dir.join(format!("{name}.rs")), dir.join(name).join("mod.rs")].into_iter().find(|p| p.is_file())
}

/// What the check found in a source tree: references that break the layering,
/// and everything else that is wrong (unparsable files, missing module files,
/// modules the table does not list).
fn check_tree(src: &Path, layers: &[&[&str]]) -> Vec<String> {
    walk(src, layers).0
}

/// Walks the product code from `lib.rs`: what [`check_tree`] reports, and every
/// function with a body (`file:line name`, length in lines).
fn walk(src: &Path, layers: &[&[&str]]) -> (Vec<String>, Vec<(String, usize)>) {
    let rank: BTreeMap<&str, usize> =
        layers.iter().enumerate().flat_map(|(i, layer)| layer.iter().map(move |m| (*m, i))).collect();
    let mut wrong = Vec::new();
    let mut functions = Vec::new();
    let mut queue = vec![(src.join("lib.rs"), Vec::<String>::new())];
    while let Some((file, module)) = queue.pop() {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                wrong.push(format!("{}: cannot read: {e}", file.display()));
                continue;
            }
        };
        let parsed = match syn::parse_file(&text) {
            Ok(p) => p,
            Err(e) => {
                wrong.push(format!("{}: does not parse: {e}", file.display()));
                continue;
            }
        };
        let mut refs = Refs {
            file: &file,
            module: module.clone(),
            declared: Vec::new(),
            found: Vec::new(),
            broken: Vec::new(),
            functions: Vec::new(),
            psql: Vec::new(),
        };
        refs.visit_file(&parsed);
        functions.append(&mut refs.functions);
        wrong.append(&mut refs.broken);
        if module != PSQL_BUILDER {
            wrong.append(&mut refs.psql);
        }
        for child in refs.declared {
            let name = child.last().expect("a declared module has a name");
            // Inline modules' own `mod x;` declarations are not used in this crate.
            match module_file(&file, name) {
                Some(f) => queue.push((f, child)),
                None => wrong.push(format!("{}: no file for `mod {name};`", file.display())),
            }
        }
        let from = module.first().map(String::as_str).unwrap_or("lib");
        let Some(&mine) = rank.get(from) else {
            wrong.push(format!("{}: module `{from}` is not in the layer table", file.display()));
            continue;
        };
        for r in refs.found {
            if r.to == r.from {
                continue;
            }
            match rank.get(r.to.as_str()) {
                Some(&theirs) if theirs < mine => {}
                Some(_) => wrong.push(format!(
                    "{}:{}: `{}` refers to `{}` (module `{}`), which is not in a lower layer",
                    r.file.display(),
                    r.line,
                    r.from,
                    r.written,
                    r.to
                )),
                None => wrong.push(format!(
                    "{}:{}: `{}` leads to `{}`, which is not a module of the layer table",
                    r.file.display(),
                    r.line,
                    r.written,
                    r.to
                )),
            }
        }
    }
    (wrong, functions)
}

#[test]
fn references_to_the_crate_point_down_the_layer_table() {
    let wrong = check_tree(&src_dir(), LAYERS);
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

/// A throwaway source tree of two layers (`low` under `high`) plus `lib`, with
/// `files` written into it.
fn planted(files: &[(&str, &str)]) -> Vec<String> {
    planted_in(files, &[&["low"], &["high"], &["lib"]])
}

fn planted_in(files: &[(&str, &str)], layers: &[&[&str]]) -> Vec<String> {
    let dir = pgcluster::TempDir::new("layers");
    let all = [("lib.rs", "//! root\nmod low;\nmod high;\n"), ("high.rs", "//! high\npub fn f() {}\n")];
    for (rel, text) in all.iter().chain(files) {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    check_tree(dir.path(), layers)
}

/// Issue 23 item 5: one psql command line. Each way of building a psql elsewhere
/// than in `db/psql.rs` is caught; the same code in `db/psql.rs`, test code, and
/// messages that name psql pass.
#[test]
fn a_psql_built_outside_the_builder_is_caught() {
    let forms = [
        ("Command::new", "fn f() { std::process::Command::new(\"psql\"); }"),
        ("xshell's Shell::cmd", "fn f(sh: &xshell::Shell) { let _ = sh.cmd(\"psql\"); }"),
        ("pgbin's program", "fn f(sh: &S) { let p = pgbin::program(sh, \"psql\"); }"),
        ("a target's tool", "fn f(t: &T) { t.tool(\"psql\"); }"),
        ("a cmd! template", "fn f(sh: &S) { let _ = xshell::cmd!(sh, \"psql -X -d {url}\"); }"),
        ("a path to psql in cmd!", "fn f(sh: &S) { let _ = cmd!(sh, \"/usr/bin/psql -X\"); }"),
        (
            "psql's ON_ERROR_STOP",
            "fn f(sh: &S, p: &P) { let _ = cmd!(sh, \"{p} -v {v}\"); let v = \"ON_ERROR_STOP=1\"; }",
        ),
    ];
    let layers: &[&[&str]] = &[&["low"], &["db"], &["high"], &["lib"]];
    let lib = ("lib.rs", "mod low;\nmod db;\nmod high;\n");
    for (what, code) in forms {
        let wrong = planted_in(&[lib, ("db/mod.rs", "mod psql;\n"), ("db/psql.rs", ""), ("low.rs", code)], layers);
        assert!(
            wrong.len() == 1 && wrong[0].contains("outside db/psql.rs"),
            "{what}: expected one finding, got {wrong:#?}"
        );
        // In the builder's own module it is what the builder does.
        let wrong = planted_in(&[lib, ("db/mod.rs", "mod psql;\n"), ("db/psql.rs", code), ("low.rs", "")], layers);
        assert!(wrong.is_empty(), "{what} in db/psql.rs: {wrong:#?}");
    }
    let allowed = "/// psql -v ON_ERROR_STOP=1 in a doc comment\n\
        fn f(t: &T) { t.failure(\"psql\", \"x\"); let _ = format!(\"plain dumps with psql -X -v ON_ERROR_STOP=1\"); }\n\
        #[cfg(test)]\nmod tests { fn g() { std::process::Command::new(\"psql\"); } }\n";
    let wrong = planted_in(&[lib, ("db/mod.rs", "mod psql;\n"), ("db/psql.rs", ""), ("low.rs", allowed)], layers);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_check_catches_every_form_of_an_upward_reference() {
    let forms: &[(&str, &[(&str, &str)])] = &[
        ("a plain upward import", &[("low.rs", "use crate::high::f;\n")]),
        (
            "an import after a test-only helper",
            &[("low.rs", "#[cfg(test)]\nfn helper() {}\n\npub fn g() { crate::high::f() }\n")],
        ),
        (
            "the second member of a nested group",
            &[("low.rs", "mod inner { pub fn h() {} }\nuse crate::{low::{inner::h}, high::f};\n")],
        ),
        (
            "super::super:: from a child module",
            &[("low/mod.rs", "mod inner;\n"), ("low/inner.rs", "use super::super::high::f;\n")],
        ),
        ("a path inside a macro", &[("low.rs", "pub fn g() { println!(\"{:?}\", crate::high::f()) }\n")]),
    ];
    for (what, files) in forms {
        let wrong = planted(files);
        assert!(
            wrong.len() == 1 && wrong[0].contains("`high`"),
            "{what}: expected one upward reference to `high`, got {wrong:#?}"
        );
    }
}

#[test]
fn test_code_and_downward_references_pass() {
    let wrong = planted(&[
        ("low.rs", "pub fn g() {}\n#[cfg(test)]\nmod tests { use crate::high::f; }\n#[cfg(test)]\nmod more;\n"),
        ("high.rs", "//! high\nuse crate::low::g;\npub fn f() { super::low::g() }\n"),
    ]);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn a_module_missing_from_the_table_is_named() {
    let wrong = planted(&[("lib.rs", "mod low;\nmod high;\nmod stray;\n"), ("low.rs", ""), ("stray.rs", "")]);
    assert!(wrong.iter().any(|w| w.contains("`stray` is not in the layer table")), "{wrong:#?}");
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

/// Longest a product function should be, in lines from `fn` to its closing brace.
const LONG: usize = 80;
/// How many product functions may still be longer than [`LONG`] (31 before issue
/// 23's item 4; 9 after it and the statement analyser's split). A ratchet, not a
/// per-function ceiling: the long ones left (evidence's judge, the lock, the data
/// checks, the rehearsal, pg_dump's runner) are other branches' ground, and a
/// ceiling would block their merges or be set above them. Lower it when one is
/// shortened, never raise it.
const MAX_LONG: usize = 9;

#[test]
fn few_product_functions_are_long() {
    let (_, mut functions) = walk(&src_dir(), LAYERS);
    functions.retain(|(_, lines)| *lines > LONG);
    functions.sort_by_key(|f| std::cmp::Reverse(f.1));
    let list: Vec<String> = functions.iter().map(|(at, lines)| format!("{at}: {lines} lines")).collect();
    eprintln!("{} product functions over {LONG} lines:\n{}", list.len(), list.join("\n"));
    assert!(
        functions.len() <= MAX_LONG,
        "{} product functions are over {LONG} lines (at most {MAX_LONG}); shorten one:\n{}",
        functions.len(),
        list.join("\n")
    );
}
