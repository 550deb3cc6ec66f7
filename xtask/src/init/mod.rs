//! `xtask init`: adds the tool to the repository in the current directory (the
//! cargo-xtask convention): an `xtask/` crate whose `main` calls this library, a
//! workspace manifest when there is none, the `cargo xtask` alias, a tasks.toml
//! filled in from what `detect` finds, and `.gitignore` lines. It refuses to
//! replace a file that exists (`--force` does), checks everything before writing
//! anything, and never edits the team's own Cargo.toml or cargo config: it says
//! what to add instead.

mod apps;
mod detect;
mod render;
mod workflow;

use std::path::{Path, PathBuf};

use crate::exit::{Exit, Failure};
use crate::invocation;

pub(crate) use workflow::Runner;

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
    /// `--ci github`: also write a GitHub Actions workflow for this runner.
    pub ci: Option<Runner>,
    /// `--app DIR`: the folder of the Prisma app, relative to the root.
    pub app: Option<String>,
}

impl Options {
    /// The options besides `--app`, as the user would type them again (quoted),
    /// for the command that chooses among several apps.
    fn rerun(&self) -> String {
        let mut out = String::new();
        if let Some(s) = &self.source {
            out.push_str(&format!(" --source {}", crate::proc::shell_quote(&s.to_string_lossy())));
        }
        if self.force {
            out.push_str(" --force");
        }
        match self.ci {
            Some(Runner::SelfHosted) => out.push_str(" --ci github --runner self-hosted"),
            Some(_) => out.push_str(" --ci github"),
            None => {}
        }
        out
    }
}

/// One file init writes.
struct Planned {
    rel: &'static str,
    text: String,
    /// The file exists and gets lines added (.gitignore): not a replacement.
    appends: bool,
    /// What the output says after the file name, e.g. "(added /backups/)".
    label: String,
}

impl Planned {
    fn new(rel: &'static str, text: String) -> Planned {
        Planned { rel, text, appends: false, label: String::new() }
    }
}

pub(crate) fn run(root: &Path, opts: &Options) -> Result<Exit, Failure> {
    // Adopted already: `--ci github` alone adds the workflow for the tasks.toml there.
    if let (Some(runner), false) = (opts.ci, opts.force) {
        if std::fs::symlink_metadata(root.join("tasks.toml")).is_ok_and(|m| m.is_file())
            && root.join("xtask/Cargo.toml").is_file()
        {
            // The workflow follows tasks.toml's `[prisma] cwd`; an `--app` here would
            // be silently ignored, so it is refused before anything is written.
            if let Some(app) = &opts.app {
                return Err(Failure::usage(format!(
                    "--app {} chooses the app when init writes tasks.toml, and this repository has one already (its [prisma] cwd decides the workflow's folder): drop --app to write the workflow for that app, or add --force to write tasks.toml again for this one; nothing was written",
                    // A folder's name is untrusted, as in apps::given_app's messages.
                    render::comment(app)
                )));
            }
            return workflow_only(root, runner);
        }
    }
    // Which app: checked first, as it may need the user's choice.
    let app = apps::choose(root, opts.app.as_deref(), &opts.rerun())?;
    let source = opts.source.as_deref().map(|s| source_crate(root, s)).transpose()?;
    let git = match &source {
        Some(_) => String::new(),
        None => git_source()?,
    };
    let dependency = render::dependency(source.as_ref().map(|s| s.dependency_path.as_str()), &git);
    let found = detect::detect(root, &app.dir);

    let mut planned = vec![
        Planned::new("xtask/Cargo.toml", render::crate_manifest(&dependency)),
        Planned::new("xtask/src/main.rs", render::MAIN_RS.to_string()),
        Planned::new("tasks.toml", render::tasks_toml(&found, BACKUP_DIR)?),
    ];
    let mut advice = Vec::new();
    // An app's own .env is Prisma's (it loads it from where it runs); the tool reads
    // the environment and a .env beside tasks.toml only.
    let app_env = format!("{}/.env", app.dir);
    if !app.dir.is_empty() && root.join(&app_env).is_file() && !root.join(".env").exists() {
        advice.push(format!(
            "{} is not read by the tool (only a .env beside tasks.toml is): set {} in the environment, or in a .env at the root",
            render::comment(&app_env),
            url_vars(&found).join(" or ")
        ));
    }

    cargo_files(root, source.as_ref(), &mut planned, &mut advice)?;

    if let Some(runner) = opts.ci {
        planned.push(Planned::new(
            workflow::PATH,
            workflow::render(&workflow_inputs(root, &found, url_vars(&found)), runner)?,
        ));
    }
    if let Some(g) = gitignore(root) {
        planned.push(g);
    }

    // Refuse before writing anything: links, non-directories on the way, leftovers
    // of an interrupted run, and files that exist (without --force).
    check_targets(root, &planned)?;
    let existing: Vec<&str> =
        planned.iter().filter(|p| !p.appends && root.join(p.rel).exists()).map(|p| p.rel).collect();
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

    let written = write_all(root, &planned)?;

    print_summary(root, &written, &dependency, &found, &app, &advice);
    Ok(Exit::Success)
}

/// The Cargo side of the scaffold: the workspace manifest and the `xtask` alias
/// (written when there are none, otherwise explained in `advice`), and the lock
/// file the source checkout was tested with.
fn cargo_files(
    root: &Path,
    source: Option<&Source>,
    planned: &mut Vec<Planned>,
    advice: &mut Vec<String>,
) -> Result<(), Failure> {
    // The workspace: written when there is none, otherwise explained.
    let manifest = root.join("Cargo.toml");
    match detect::read_text(&manifest) {
        Err(_) if !manifest.exists() => planned.push(Planned::new("Cargo.toml", render::workspace())),
        Err(e) => return Err(Failure::usage(format!("cannot read {} ({e})", manifest.display()))),
        Ok(text) => {
            if let Some(a) = workspace_advice(&text) {
                advice.push(a);
            }
            if let Some(a) = profile_advice(&text) {
                advice.push(a);
            }
        }
    }
    // The alias: written when there is no cargo config, otherwise explained.
    let cargo_config = root.join(".cargo/config.toml");
    match detect::read_text(&cargo_config) {
        Err(_) if !cargo_config.exists() && !root.join(".cargo/config").exists() => {
            planned.push(Planned::new(".cargo/config.toml", render::cargo_config()))
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
    if let Some(lock) = source.and_then(|s| s.lock_file.clone()) {
        if !root.join("Cargo.lock").exists() {
            match std::fs::read_to_string(&lock) {
                Ok(text) => planned.push(Planned::new("Cargo.lock", text)),
                Err(e) => {
                    advice.push(format!("could not copy {} ({e}): cargo will resolve versions itself", lock.display()))
                }
            }
        }
    }
    Ok(())
}

/// What init wrote and found, what is left to do, and the commands to run next.
fn print_summary(
    root: &Path,
    written: &[String],
    dependency: &str,
    found: &detect::Detection,
    app: &apps::Choice,
    advice: &[String],
) {
    outln!("init: wrote, in {}:", root.display());
    for w in written {
        outln!("  {w}");
    }
    outln!("  dependency: {dependency}");
    // Folder names are untrusted text too.
    match (&app.how, app.dir.is_empty()) {
        (Some(how), false) => outln!(
            "  Prisma app: {} ({}); tasks.toml [prisma] cwd = {:?}",
            render::comment(&app.dir),
            render::comment(how),
            render::comment(&app.dir)
        ),
        (Some(how), true) => outln!("  Prisma app: the root ({})", render::comment(how)),
        (None, _) => {}
    }
    for (label, f) in [
        ("schema", &found.schema),
        ("migrations", &found.migrations),
        ("database URL variable", &found.url_env),
        ("direct URL variable", &found.direct_url_env),
        ("Prisma CLI", &found.command),
    ] {
        // Detected text is untrusted: no control character reaches the terminal.
        match f.display() {
            Some(v) => outln!("  tasks.toml {label}: {} ({})", render::comment(&v), render::comment(&f.note)),
            None => outln!("  tasks.toml {label}: NOT FOUND, commented out: {}", render::comment(&f.note)),
        }
    }
    for w in &found.warnings {
        outln!("warning: {}", render::comment(w));
    }
    for a in advice {
        outln!("to do: {a}");
    }
    let url = url_vars(found).join(" or ");
    outln!("next (with {} set, or in a .env file next to tasks.toml):", render::comment(&url));
    // The scaffolded crate runs through cargo's alias, whatever ran init.
    for c in ["--list", "status", "deploy --dry-run"] {
        outln!("  cargo xtask {c}");
    }
}

/// What the workflow needs, from the repository.
fn workflow_inputs<'a>(root: &Path, found: &'a detect::Detection, url_vars: Vec<String>) -> workflow::Inputs<'a> {
    // The branch checked out now (usually the default one): `ref: refs/heads/<name>`.
    let branch = detect::read_text(&root.join(".git/HEAD"))
        .ok()
        .and_then(|h| h.trim().strip_prefix("ref: refs/heads/").map(String::from))
        .unwrap_or_else(|| "main".into());
    let app = root
        .canonicalize()
        .ok()
        .and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    let lock_dir = found.lock_dir.clone().unwrap_or_default();
    let lock_file = found.package_manager.and_then(|pm| pm.lock_file(&root.join(&lock_dir)));
    workflow::Inputs { detection: found, url_vars, branch, app, lock_file, lock_dir }
}

/// `init --ci github` in a repository that has its tasks.toml: the workflow only,
/// with the URL variables that tasks.toml names.
fn workflow_only(root: &Path, runner: Runner) -> Result<Exit, Failure> {
    let text = detect::read_text(&root.join("tasks.toml"))
        .map_err(|e| Failure::usage(format!("cannot read tasks.toml ({e}): nothing was written")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| Failure::usage(format!("tasks.toml does not parse ({e}): fix it first; nothing was written")))?;
    let db = table.get("database");
    // The app Prisma runs in (`[prisma] cwd`, a folder inside the repository), else the root.
    let app = table
        .get("prisma")
        .and_then(|p| p.get("cwd"))
        .and_then(|c| c.as_str())
        .and_then(detect::inside)
        .filter(|d| root.join(d).is_dir())
        .unwrap_or_default();
    let mut found = detect::detect(root, &app);
    let mut vars: Vec<String> = match db.and_then(|d| d.get("url_env")) {
        Some(toml::Value::String(s)) => vec![s.clone()],
        Some(toml::Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => vec!["DATABASE_URL".into()],
    };
    vars.dedup();
    found.direct_url_env.value = db.and_then(|d| d.get("direct_url_env")).cloned();
    let planned = [Planned::new(workflow::PATH, workflow::render(&workflow_inputs(root, &found, vars), runner)?)];
    check_targets(root, &planned)?;
    if root.join(workflow::PATH).exists() {
        return Err(Failure::usage(format!(
            "{} already exists: nothing was written; move it away and run init --ci github again",
            workflow::PATH
        )));
    }
    for w in write_all(root, &planned)? {
        outln!("init: wrote {w} (for the tasks.toml here)");
    }
    Ok(Exit::Success)
}

/// The URL variables tasks.toml names, in order (DATABASE_URL when none).
fn url_vars(found: &detect::Detection) -> Vec<String> {
    match &found.url_env.value {
        Some(toml::Value::String(s)) => vec![s.clone()],
        Some(toml::Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => vec!["DATABASE_URL".into()],
    }
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

/// The dev-profile lines to suggest for an existing root Cargo.toml that does not
/// optimise sha2 yet (it hashes every backup); `None` when it does or cannot be read.
fn profile_advice(text: &str) -> Option<String> {
    let parsed = text.parse::<toml::Table>().ok()?;
    let sha2 =
        parsed.get("profile").and_then(|p| p.get("dev")).and_then(|d| d.get("package")).and_then(|p| p.get("sha2"));
    if sha2.is_some() {
        return None;
    }
    let lines: Vec<String> = render::DEV_PACKAGES.lines().map(|l| format!("      {l}")).collect();
    Some(format!(
        "for speed, add to Cargo.toml (`cargo xtask` builds the dev profile; these touch only these crates: sha2 hashes every backup, the others run at each start):\n{}",
        lines.join("\n")
    ))
}

fn has_alias(text: &str) -> bool {
    text.parse::<toml::Table>().ok().and_then(|t| t.get("alias").and_then(|a| a.get("xtask")).map(|_| ())).is_some()
}

/// The lines git should ignore (the backups hold production data), appended to
/// .gitignore; `None` when they are there. A .gitignore that is not a regular file
/// is planned anyway, for `check_targets` to refuse (it is never read through a link).
fn gitignore(root: &Path) -> Option<Planned> {
    let path = root.join(".gitignore");
    let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
    // A .gitignore init cannot read (not UTF-8, huge) is left as it is: rewriting it
    // from nothing would lose the team's lines.
    let text = if regular { detect::read_text(&path).ok()? } else { String::new() };
    let present = |names: &[&str]| text.lines().map(str::trim).any(|l| names.contains(&l));
    let mut add = Vec::new();
    if !present(&["target", "target/", "/target", "/target/"]) {
        add.push("/target/".to_string());
    }
    let b = BACKUP_DIR;
    if !present(&[b, &format!("{b}/"), &format!("/{b}"), &format!("/{b}/")]) {
        add.push(format!("/{b}/"));
    }
    if add.is_empty() && (regular || std::fs::symlink_metadata(&path).is_err()) {
        return None;
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
    Some(Planned { rel: ".gitignore", text: out, appends: true, label: format!("(added {})", add.join(", ")) })
}

/// The temporary name a file is written under before its rename into place.
fn temp_name(rel: &str) -> String {
    format!("{rel}.init-partial")
}

/// Every file init writes stays inside `root`: no component on the way (below the
/// root) may be a symbolic link or anything but a directory, the file itself is
/// absent or a regular file, and no temporary name is taken. One line per cause,
/// before anything is written.
fn check_targets(root: &Path, planned: &[Planned]) -> Result<(), Failure> {
    let refuse = |what: String| Err(Failure::usage(format!("{what}: nothing was written")));
    for p in planned {
        let parts: Vec<&str> = p.rel.split('/').collect();
        for i in 1..=parts.len() {
            let rel = parts[..i].join("/");
            let last = i == parts.len();
            match std::fs::symlink_metadata(root.join(&rel)) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return refuse(format!("cannot write {} ({rel}: {e})", p.rel)),
                Ok(m) if m.file_type().is_symlink() => {
                    return refuse(format!(
                        "{rel} is a symbolic link: init writes only inside this repository and follows no links; replace it with a {} (or remove it) and run init again",
                        if last { "file" } else { "directory" }
                    ))
                }
                Ok(m) if !last && !m.is_dir() => {
                    return refuse(format!("cannot write {}: {rel} exists and is not a directory; move it away", p.rel))
                }
                Ok(m) if last && !m.is_file() => {
                    return refuse(format!("cannot write {}: it exists and is not a regular file; move it away", p.rel))
                }
                Ok(_) => {}
            }
        }
        let tmp = temp_name(p.rel);
        if std::fs::symlink_metadata(root.join(&tmp)).is_ok() {
            return refuse(format!(
                "{tmp} exists (left by an interrupted init, or put there): init never writes through it; remove it and run init again"
            ));
        }
    }
    Ok(())
}

/// Writes every planned file, or none: first each one to a new temporary file beside
/// its place (`create_new`, no link followed), creating the missing directories; any
/// failure removes what this run made. Then the renames into place. Returns the
/// lines for the output.
fn write_all(root: &Path, planned: &[Planned]) -> Result<Vec<String>, Failure> {
    let mut made_dirs: Vec<std::path::PathBuf> = Vec::new();
    let mut temps: Vec<std::path::PathBuf> = Vec::new();
    let undo = |temps: &[std::path::PathBuf], dirs: &[std::path::PathBuf]| {
        for t in temps {
            let _ = std::fs::remove_file(t);
        }
        for d in dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    };
    for p in planned {
        let staged = stage(root, p, &mut made_dirs, &mut temps);
        if let Err(e) = staged {
            undo(&temps, &made_dirs);
            return Err(Failure::task(format!("cannot write {} ({e}): nothing was written", p.rel)));
        }
    }
    let mut written = Vec::new();
    let mut placed: Vec<std::path::PathBuf> = Vec::new();
    for (p, tmp) in planned.iter().zip(&temps) {
        let path = root.join(p.rel);
        let replaced = path.exists();
        if let Err(e) = std::fs::rename(tmp, &path) {
            // Only a new file can be taken back; say which were replaced.
            for f in &placed {
                let _ = std::fs::remove_file(f);
            }
            undo(&temps, &made_dirs);
            return Err(Failure::task(format!(
                "cannot put {} in place ({e}): the files this run added were removed{}",
                p.rel,
                if written.iter().any(|w: &String| w.contains("(replaced)")) {
                    " (files it replaced stay replaced)"
                } else {
                    ""
                }
            )));
        }
        if !replaced {
            placed.push(path);
        }
        let label = if !p.label.is_empty() {
            format!(" {}", p.label)
        } else if replaced {
            " (replaced)".into()
        } else {
            String::new()
        };
        written.push(format!("{}{label}", p.rel));
    }
    Ok(written)
}

/// Creates `p`'s missing directories (recording them) and its temporary file.
fn stage(
    root: &Path,
    p: &Planned,
    made_dirs: &mut Vec<std::path::PathBuf>,
    temps: &mut Vec<std::path::PathBuf>,
) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let parts: Vec<&str> = p.rel.split('/').collect();
    let mut dir = root.to_path_buf();
    for part in &parts[..parts.len() - 1] {
        dir.push(part);
        match std::fs::create_dir(&dir) {
            Ok(()) => made_dirs.push(dir.clone()),
            // Checked before: an existing component is a real directory.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !dir.is_symlink() && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    let tmp = root.join(temp_name(p.rel));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(&tmp)?;
    temps.push(tmp);
    f.write_all(p.text.as_bytes())?;
    f.sync_all()
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
    fn the_written_workspace_carries_this_projects_dev_profile() {
        // The team's workspace gets the per-crate settings of this project's own root
        // manifest, whatever is added there later: the two are compared table by table.
        let ours: toml::Table = include_str!("../../../Cargo.toml").parse().unwrap();
        let written: toml::Table = render::workspace().parse().unwrap();
        let dev = |t: &toml::Table| t["profile"]["dev"]["package"].clone();
        assert_eq!(dev(&written), dev(&ours));
        assert_eq!(written["workspace"]["members"].as_array().unwrap().len(), 1);
        let advice = profile_advice("[workspace]\nmembers = [\"api\", \"xtask\"]\n").unwrap();
        assert!(advice.contains("[profile.dev.package.sha2]") && advice.contains("opt-level = 3"), "{advice}");
        assert!(!advice.contains("\"*\""), "a team's own crates' debug info is theirs to choose: {advice}");
        assert!(profile_advice("[profile.dev.package.sha2]\nopt-level = 2\n").is_none());
    }

    /// A failure half-way (here a name the file system refuses, after a file and a
    /// directory were staged) removes everything this run made.
    #[test]
    fn write_all_writes_nothing_when_one_file_fails() {
        let root = std::env::temp_dir().join(format!("xtask-init-unit-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let planned = [
            Planned::new("newdir/one.txt", "one".into()),
            Planned::new("two.txt", "two".into()),
            Planned::new("bad\0name", "x".into()),
        ];
        let e = write_all(&root, &planned).unwrap_err();
        assert!(e.message.contains("nothing was written"), "{}", e.message);
        assert_eq!(
            std::fs::read_dir(&root).unwrap().count(),
            0,
            "left behind: {:?}",
            std::fs::read_dir(&root).unwrap().collect::<Vec<_>>()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn alias_is_recognised() {
        assert!(has_alias("[alias]\nxtask = \"run -p x --\"\n"));
        assert!(!has_alias("[build]\njobs = 2\n"));
    }
}
