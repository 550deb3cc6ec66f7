//! `xtask init`: adds the tool to the repository in the current directory (the
//! cargo-xtask convention): an `xtask/` crate whose `main` calls this library, a
//! workspace manifest when there is none, the `cargo xtask` alias, a tasks.toml
//! filled in from what `detect` finds, and `.gitignore` lines. It refuses to
//! replace a file that exists (`--force` does), checks everything before writing
//! anything, and never edits the team's own Cargo.toml or cargo config: it says
//! what to add instead.

mod detect;
mod render;

use std::path::{Path, PathBuf};

use crate::exit::{Exit, Failure};
use crate::invocation;

pub(crate) use detect::detect;

/// This project's published repository, when its Cargo.toml names one
/// (`[workspace.package] repository`, the one place for it); empty otherwise.
pub(crate) const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// The git URL of the default dependency: where this build's checkout came from
/// (its `origin` remote, when the checkout is still there: the usual way in is
/// `cargo run --manifest-path <checkout>/xtask/Cargo.toml -- init`), else the
/// published repository. With neither, a usage error that asks for `--source`:
/// never a dependency on a URL nobody checked.
fn git_source() -> Result<String, Failure> {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
    let origin = if checkout.is_dir() {
        crate::proc::shell()
            .and_then(|sh| {
                crate::proc::run_with_input(xshell::cmd!(sh, "git -C {checkout} remote get-url origin").into(), "")
            })
            .ok()
            .filter(|out| out.success())
            .map(|out| out.stdout.trim().to_string())
    } else {
        None
    };
    choose_git_source(origin, REPOSITORY, checkout)
}

fn choose_git_source(origin: Option<String>, published: &str, checkout: &Path) -> Result<String, Failure> {
    match origin.filter(|o| !o.is_empty()) {
        Some(url) => Ok(url),
        None if !published.trim().is_empty() => Ok(published.trim().to_string()),
        None => Err(Failure::usage(format!(
            "no git URL is known for the xtask library (the checkout {} has no `origin` remote and its Cargo.toml names no repository): pass --source PATH (a checkout of it) for a path dependency; nothing was written",
            checkout.display()
        ))),
    }
}

/// Where backups go unless the team changes it (also ignored by git).
const BACKUP_DIR: &str = "backups";

pub(crate) struct Options {
    /// The xtask checkout to depend on by path.
    pub source: Option<PathBuf>,
    pub force: bool,
}

/// One file init writes.
struct Planned {
    rel: &'static str,
    text: String,
}

pub(crate) fn run(root: &Path, opts: &Options) -> Result<Exit, Failure> {
    let source = opts.source.as_deref().map(|s| source_crate(root, s)).transpose()?;
    let git = match &source {
        Some(_) => String::new(),
        None => git_source()?,
    };
    let dependency = render::dependency(source.as_ref().map(|s| s.dependency_path.as_str()), &git);
    let found = detect(root);

    let mut planned = vec![
        Planned { rel: "xtask/Cargo.toml", text: render::crate_manifest(&dependency) },
        Planned { rel: "xtask/src/main.rs", text: render::MAIN_RS.to_string() },
        Planned { rel: "tasks.toml", text: render::tasks_toml(&found, BACKUP_DIR) },
    ];
    let mut advice = Vec::new();

    // The workspace: written when there is none, otherwise explained.
    let manifest = root.join("Cargo.toml");
    match std::fs::read_to_string(&manifest) {
        Err(_) if !manifest.exists() => planned.push(Planned { rel: "Cargo.toml", text: render::WORKSPACE.into() }),
        Err(e) => return Err(Failure::usage(format!("cannot read {} ({e})", manifest.display()))),
        Ok(text) => {
            if let Some(a) = workspace_advice(&text) {
                advice.push(a);
            }
        }
    }
    // The alias: written when there is no cargo config, otherwise explained.
    let cargo_config = root.join(".cargo/config.toml");
    match std::fs::read_to_string(&cargo_config) {
        Err(_) if !cargo_config.exists() && !root.join(".cargo/config").exists() => {
            planned.push(Planned { rel: ".cargo/config.toml", text: render::cargo_config() })
        }
        Err(_) => advice.push(format!(
            "add the alias to your cargo config (.cargo/config):\n      [alias]\n      {}",
            render::alias_line()
        )),
        Ok(text) if has_alias(&text) => advice.push(
            ".cargo/config.toml already defines an `xtask` alias: check that it runs the xtask-local package".into(),
        ),
        Ok(_) => advice.push(format!(
            "add the alias to .cargo/config.toml (kept as it is):\n      [alias]\n      {}",
            render::alias_line()
        )),
    }
    // The versions the source checkout was tested with, for a repository without a lock file.
    if let Some(lock) = source.as_ref().and_then(|s| s.lock_file.clone()) {
        if !root.join("Cargo.lock").exists() {
            match std::fs::read_to_string(&lock) {
                Ok(text) => planned.push(Planned { rel: "Cargo.lock", text }),
                Err(e) => {
                    advice.push(format!("could not copy {} ({e}): cargo will resolve versions itself", lock.display()))
                }
            }
        }
    }

    // Refuse before writing anything.
    let existing: Vec<&str> = planned.iter().filter(|p| root.join(p.rel).exists()).map(|p| p.rel).collect();
    if !existing.is_empty() && !opts.force {
        return Err(Failure::usage(format!(
            "{} already exist{}: nothing was written; move {} away, or run `{}` to replace {}",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" },
            if existing.len() == 1 { "it" } else { "them" },
            invocation::cmd("init --force"),
            if existing.len() == 1 { "it" } else { "them" },
        )));
    }
    if root.join("xtask").exists() && !root.join("xtask").is_dir() {
        return Err(Failure::usage("xtask exists and is not a directory: move it away (nothing was written)"));
    }

    let mut written = Vec::new();
    for p in &planned {
        let replaced = root.join(p.rel).exists();
        write_file(&root.join(p.rel), &p.text)?;
        written.push(format!("{}{}", p.rel, if replaced { " (replaced)" } else { "" }));
    }
    if let Some(line) = gitignore(root)? {
        written.push(line);
    }

    outln!("init: wrote, in {}:", root.display());
    for w in &written {
        outln!("  {w}");
    }
    outln!("  dependency: {dependency}");
    for (label, f) in [
        ("schema", &found.schema),
        ("migrations", &found.migrations),
        ("database URL variable", &found.url_env),
        ("direct URL variable", &found.direct_url_env),
        ("Prisma CLI", &found.command),
    ] {
        match &f.value {
            Some(v) => outln!("  tasks.toml {label}: {v} ({})", f.note),
            None => outln!("  tasks.toml {label}: NOT FOUND, commented out: {}", f.note),
        }
    }
    for w in &found.warnings {
        outln!("warning: {w}");
    }
    for a in &advice {
        outln!("to do: {a}");
    }
    let url = found.url_env.value.as_deref().unwrap_or("DATABASE_URL");
    outln!("next (with {url} set, or in a .env file next to tasks.toml):");
    // The scaffolded crate runs through cargo's alias, whatever ran init.
    for c in ["--list", "status", "deploy --dry-run"] {
        outln!("  cargo xtask {c}");
    }
    Ok(Exit::Success)
}

struct Source {
    /// What the dependency line says: relative to xtask/ when the checkout is
    /// inside the repository (vendored, monorepo), absolute otherwise.
    dependency_path: String,
    /// The checkout's Cargo.lock, if it has one.
    lock_file: Option<PathBuf>,
}

/// The xtask library crate at `given`: the checkout's root or its `xtask/` folder.
fn source_crate(root: &Path, given: &Path) -> Result<Source, Failure> {
    let abs = std::path::absolute(given).unwrap_or_else(|_| given.to_path_buf());
    let candidates = [abs.join("xtask"), abs.clone()];
    let Some(dir) = candidates.iter().find(|d| is_xtask_crate(d)) else {
        return Err(Failure::usage(format!(
            "--source {}: no xtask library crate there (looked for Cargo.toml with name = \"xtask\" in it and in its xtask/ folder): pass the path of an xtask checkout",
            given.display()
        )));
    };
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
    let root_abs = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let dependency_path = match dir.strip_prefix(&root_abs) {
        Ok(rel) => format!("../{}", rel.display()),
        Err(_) => dir.display().to_string(),
    };
    let lock_file = dir.ancestors().map(|a| a.join("Cargo.lock")).find(|l| l.is_file());
    Ok(Source { dependency_path, lock_file })
}

fn is_xtask_crate(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else { return false };
    let Ok(value) = text.parse::<toml::Table>() else { return false };
    value.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()) == Some("xtask")
        && dir.join("src/lib.rs").is_file()
}

/// What to tell the team whose root Cargo.toml exists, if anything.
fn workspace_advice(text: &str) -> Option<String> {
    let parsed = text.parse::<toml::Table>().ok();
    let workspace = parsed.as_ref().and_then(|t| t.get("workspace"));
    match workspace {
        Some(ws) => {
            let members: Vec<&str> = ws
                .get("members")
                .and_then(|m| m.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            if members.iter().any(|m| *m == "xtask" || *m == "*") {
                None
            } else {
                Some("Cargo.toml is already a workspace (kept as it is): add \"xtask\" to its members:\n      [workspace]\n      members = [..., \"xtask\"]".into())
            }
        }
        None => Some("Cargo.toml is a package, not a workspace (kept as it is): make it one that includes the xtask crate:\n      [workspace]\n      members = [\".\", \"xtask\"]".into()),
    }
}

fn has_alias(text: &str) -> bool {
    text.parse::<toml::Table>().ok().and_then(|t| t.get("alias").and_then(|a| a.get("xtask")).map(|_| ())).is_some()
}

/// Writes through a temporary file and a rename: a file is whole or absent.
fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::task(format!("cannot write {} ({e})", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("init-partial");
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// Appends the lines git should ignore (the backups hold production data), if missing.
fn gitignore(root: &Path) -> Result<Option<String>, Failure> {
    let path = root.join(".gitignore");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let present = |names: &[&str]| text.lines().map(str::trim).any(|l| names.contains(&l));
    let mut add = Vec::new();
    if !present(&["target", "target/", "/target", "/target/"]) {
        add.push("/target/".to_string());
    }
    let b = BACKUP_DIR;
    if !present(&[b, &format!("{b}/"), &format!("/{b}"), &format!("/{b}/")]) {
        add.push(format!("/{b}/"));
    }
    if add.is_empty() {
        return Ok(None);
    }
    let mut out = text.clone();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("# xtask (written by `xtask init`): build output and database backups\n");
    for l in &add {
        out.push_str(l);
        out.push('\n');
    }
    write_file(&path, &out)?;
    Ok(Some(format!(".gitignore (added {})", add.join(", "))))
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_git_source_is_the_origin_else_the_published_repository_else_an_error() {
        let here = std::path::Path::new("/src/xtask-checkout");
        let origin = Some("https://git.example/team/xtask.git".to_string());
        assert_eq!(
            super::choose_git_source(origin, "https://pub.example/x", here).unwrap(),
            "https://git.example/team/xtask.git"
        );
        assert_eq!(super::choose_git_source(None, " https://pub.example/x ", here).unwrap(), "https://pub.example/x");
        let e = super::choose_git_source(Some(String::new()), "", here).unwrap_err();
        assert_eq!(e.exit, crate::exit::Exit::Usage);
        assert!(e.message.contains("pass --source PATH") && e.message.contains("/src/xtask-checkout"), "{}", e.message);
    }

    use super::*;

    #[test]
    fn workspace_advice_only_when_the_member_is_missing() {
        assert!(workspace_advice("[workspace]\nmembers = [\"api\", \"xtask\"]\n").is_none());
        assert!(workspace_advice("[workspace]\nmembers = [\"api\"]\n").unwrap().contains("add \"xtask\""));
        assert!(workspace_advice("[package]\nname = \"app\"\n").unwrap().contains("not a workspace"));
    }

    #[test]
    fn alias_is_recognised() {
        assert!(has_alias("[alias]\nxtask = \"run -p x --\"\n"));
        assert!(!has_alias("[build]\njobs = 2\n"));
    }
}
