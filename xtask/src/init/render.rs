//! The files `init` writes, as text: the team's xtask crate (a thin binary over
//! this library), the workspace manifest, the cargo alias, and tasks.toml with
//! every detected value explained and every missing one commented out. Detected
//! values come from files of the repository, which may be hostile: values are
//! written by the TOML serialiser, comments through `comment` (no line break gets
//! through), and the result is parsed back before anything is written.

use super::detect::{Detection, Finding};
use crate::exit::Failure;

/// The package name of the scaffolded crate. Not `xtask`: the library it depends
/// on is called that, and `cargo run --package xtask` would be ambiguous.
pub(crate) const PACKAGE: &str = "xtask-local";

/// The alias line of `.cargo/config.toml`. Not `--quiet`: the first `cargo xtask`
/// compiles the crate, and a minute of silence reads as a hang.
pub(crate) fn alias_line() -> String {
    format!("xtask = \"run --package {PACKAGE} --bin xtask --\"")
}

pub(crate) fn cargo_config() -> String {
    format!(
        "# Written by `xtask init`.\n[alias]\n# `cargo xtask <task>` from any directory of the repository.\n{}\n",
        alias_line()
    )
}

/// The dependency line: a path (`--source`) or this project's git repository.
pub(crate) fn dependency(path: Option<&str>, git: &str) -> String {
    match path {
        Some(p) => format!("xtask = {{ path = {}, default-features = false }}", toml_str(p)),
        None => format!("xtask = {{ git = {}, default-features = false }}", toml_str(git)),
    }
}

pub(crate) fn crate_manifest(dependency: &str) -> String {
    format!(
        r#"# Written by `xtask init`: this repository's task runner, `cargo xtask <task>`,
# a thin binary over the xtask library (tasks come from ../tasks.toml). Without
# default features the library carries no demo and no test-cluster code.
[package]
name = "{PACKAGE}"
version = "0.1.0"
edition = "2021"
publish = false

[[bin]]
name = "xtask"
path = "src/main.rs"

[dependencies]
# Pin a release with `rev = "..."` or `tag = "..."` on a git dependency.
{dependency}
"#
    )
}

pub(crate) const MAIN_RS: &str = r#"//! `cargo xtask`: runs the tasks of ../tasks.toml with the xtask library.

fn main() -> std::process::ExitCode {
    xtask::main()
}
"#;

/// The workspace manifest for a repository that has none: the xtask/ crate, and
/// this project's dev profile for it (cargo reads profiles from the workspace root
/// only, so without these lines the team's `cargo xtask` hashes backups with
/// unoptimised sha2 and starts slower; BENCHMARKS.md, issues 14 and 23).
pub(crate) fn workspace() -> String {
    format!(
        "# Written by `xtask init`: a Cargo workspace holding the xtask/ crate.\n\
         [workspace]\nmembers = [\"xtask\"]\nresolver = \"2\"\n\n\
         # `cargo xtask` builds the dev profile: optimise what its runs spend time in.\n\
         {DEV_PACKAGES}\n\
         # Dependencies' debug info as line tables only: a smaller binary that starts faster.\n\
         [profile.dev.package.\"*\"]\ndebug = \"line-tables-only\"\n"
    )
}

/// The per-crate dev-profile settings of this project's own root Cargo.toml (a test
/// keeps the two the same): sha2 hashes every backup; the others run at each start.
/// Also what init suggests for a team's existing workspace, where they touch nothing
/// but these crates' code generation.
pub(crate) const DEV_PACKAGES: &str = r#"[profile.dev.package.sha2]
opt-level = 3
[profile.dev.package.clap_builder]
debug-assertions = false
opt-level = 1
[profile.dev.package.clap_lex]
opt-level = 1
[profile.dev.package.toml]
opt-level = 1
[profile.dev.package.toml_parser]
opt-level = 1
[profile.dev.package.toml_datetime]
opt-level = 1
[profile.dev.package.winnow]
opt-level = 1
[profile.dev.package.serde_core]
opt-level = 1
[profile.dev.package.serde_spanned]
opt-level = 1
[profile.dev.package.chrono]
opt-level = 1
"#;

/// The tasks tasks_toml writes: what the parse-back check expects, no more.
const TASKS: [&str; 7] =
    ["backup", "deploy", "status", "diagnose", "resolve-rolled-back", "resolve-applied", "restore"];

/// tasks.toml from what was detected, checked by parsing it back: exactly the
/// tables and tasks written here, whatever the detected values said.
pub(crate) fn tasks_toml(d: &Detection, backup_dir: &str) -> Result<String, Failure> {
    let text = tasks_toml_text(d, backup_dir);
    let parsed: toml::Table = text.parse().map_err(|e| {
        Failure::task(format!(
            "init made a tasks.toml that does not parse ({e}): nothing was written; please report it"
        ))
    })?;
    let tables: Vec<&str> = parsed.keys().map(String::as_str).collect();
    let tasks: Vec<&str> = parsed
        .get("tasks")
        .and_then(|t| t.as_table())
        .map(|t| t.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut want = TASKS.to_vec();
    want.sort_unstable();
    if tables != ["backup", "database", "prisma", "tasks"] || tasks != want {
        return Err(Failure::task(
            "a value found in this repository changed the structure of the tasks.toml init writes: nothing was written; check package.json and the Prisma config for unusual values",
        ));
    }
    Ok(text)
}

fn tasks_toml_text(d: &Detection, backup_dir: &str) -> String {
    let mut t = String::from(
        "# Written by `xtask init` from what it found in this repository. Every key is\n\
         # explained in the README's \"tasks.toml reference\"; a key that is commented\n\
         # out was not found: read its note and set it.\n",
    );
    if let Some(v) = &d.prisma_version {
        t.push_str(&format!("# Prisma CLI found: {v}.\n"));
    }
    for w in &d.warnings {
        note(&mut t, &format!("WARNING: {w}"));
    }
    if d.prisma_major.is_some_and(|m| m >= 7) {
        t.push_str(
            "# Prisma 7 does not load .env itself: this tool loads a .env next to this file\n\
             # (the real environment wins) and passes the URL to Prisma in its environment.\n",
        );
    }
    t.push_str("\n[database]\n");
    key(&mut t, "url_env", &d.url_env, "\"DATABASE_URL\"");
    key(&mut t, "direct_url_env", &d.direct_url_env, "\"DIRECT_URL\"");

    t.push_str("\n[prisma]\n");
    if !d.app.is_empty() {
        note(
            &mut t,
            "The Prisma app's folder: Prisma runs there (npx finds its node_modules); paths here are from this file's folder.",
        );
        t.push_str(&format!("cwd = {}\n", toml_str(&d.app)));
    }
    key(&mut t, "command", &d.command, "[\"npx\", \"--no-install\", \"prisma\"]");
    key(&mut t, "schema", &d.schema, "\"prisma/schema.prisma\"");
    key(&mut t, "migrations", &d.migrations, "\"prisma/migrations\"");
    if let Some(c) = &d.config_file {
        let place = if d.app.is_empty() { "this directory".to_string() } else { d.app.clone() };
        note(&mut t, &format!("Prisma runs in {place} and reads {c} itself."));
    }

    t.push_str(&fixed_tables(backup_dir));
    t
}

/// The tables that do not depend on what was detected: the backup settings and
/// the tasks (with the optional ones commented out).
fn fixed_tables(backup_dir: &str) -> String {
    format!(
        r#"
[backup]
# Verified pg_dump files and the audit log; keep them outside the checkout in
# production (e.g. "/opt/<app>/shared/backups") so they outlive a CI workspace.
dir = {dir}
prefix = "pre-migration"
format = "plain"
keep = 20
# "always" (the runbook's rule: a verified backup before every deploy), or
# "pending": skip the backup when no migration is pending.
when = "always"

[tasks.backup]
description = "pg_dump the database (verified before it gets its name)"
uses = "backup"

# Ship this run's backup off the machine before the migration runs (hosted CI
# runners lose their disk): {{backup.path}} is replaced by the backup's path as
# one argument, never through a shell. Then use deps = ["backup", "ship-backup"].
# [tasks.ship-backup]
# description = "Copy the backup to object storage"
# deps = ["backup"]
# run = ["aws", "s3", "cp", "{{backup.path}}", "s3://YOUR-BUCKET/db-backups/"]

[tasks.deploy]
description = "Backup, then prisma migrate deploy with at most one evidence-checked recovery"
deps = ["backup"]
uses = "prisma-deploy"
# Before production, the pending migrations run on a scratch copy of production's
# schema (about a second; needs CREATEDB, skipped with a note without it), then the
# data checks read production's rows (read-only) for what the statements need of
# them: no NULLs under SET NOT NULL, no duplicates under a unique index, no orphans
# under a foreign key, values that convert... A failure stops the deploy (exit 4).
# "full" restores this run's backup into the copy instead: it catches every
# data-dependent failure, at the cost of a restore of the whole database per deploy.
# rehearse = "schema"   # "schema" (the default), "full" or "off"

# The data checks: on by default; per check and total time limits, in seconds (a
# check over its limit is reported "not checked", never passed); a read replica to
# read instead of production; "stop" to stop the deploy on a check that could not run.
# [rehearsal]
# data_checks = true
# check_timeout = 10
# checks_budget = 60
# replica_url_env = "READ_REPLICA_URL"
# not_checked = "continue"

[tasks.status]
description = "Migrations on disk against _prisma_migrations"
uses = "status"

[tasks.diagnose]
description = "Did the failed migration apply? (reads the catalogs)"
uses = "diagnose"

[tasks.resolve-rolled-back]
description = "Mark the failed migration rolled back (after a confirmation)"
uses = "prisma-resolve-rolled-back"

[tasks.resolve-applied]
description = "Mark a failed migration applied (after a confirmation)"
uses = "prisma-resolve-applied"

[tasks.restore]
description = "Restore a backup (into a new database with --into)"
uses = "restore"
"#,
        dir = toml_str(backup_dir)
    )
}

/// A comment line: `text` with every control character (a line break above all)
/// written as an escape, so no detected value ends the comment.
fn note(t: &mut String, text: &str) {
    t.push_str(&format!("# {}\n", comment(text)));
}

/// `text` safe inside a one-line comment (and a line of output): control
/// characters as `\uXXXX` escapes, as in a TOML string.
pub(crate) fn comment(text: &str) -> String {
    escape(text, false)
}

/// The one escaping function for detected text: control characters (a line break
/// above all) become `\uXXXX`; inside a string also `"` and `\\` are escaped.
fn escape(text: &str, in_string: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\\' if in_string => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `name = value` with its note above; commented out with `example` when nothing was found.
fn key(t: &mut String, name: &str, f: &Finding, example: &str) {
    note(t, &f.note);
    match &f.value {
        Some(v) => t.push_str(&format!("{name} = {}\n", value(v))),
        None => t.push_str(&format!("# {name} = {example}\n")),
    }
}

/// A value in TOML syntax on one line: strings (and arrays of them) as basic
/// strings, whatever they hold; other values by the TOML serialiser.
fn value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => toml_str(s),
        toml::Value::Array(a) => format!("[{}]", a.iter().map(value).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// A TOML basic string.
pub(crate) fn toml_str(s: &str) -> String {
    format!("\"{}\"", escape(s, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_comments_cannot_break_out() {
        assert_eq!(toml_str("prisma/schema.prisma"), "\"prisma/schema.prisma\"");
        let evil = "x\"\n[tasks.pwn]\nrun = \"touch /tmp/pwned\"";
        let line = format!("k = {}\n", toml_str(evil));
        let parsed: toml::Table = line.parse().unwrap();
        assert_eq!(parsed["k"].as_str(), Some(evil));
        assert!(!comment(evil).contains('\n') && !line.trim_end().contains('\n'));
        let arr = toml::Value::Array(vec!["npx".into(), "prisma".into()]);
        assert_eq!(value(&arr), "[\"npx\", \"prisma\"]");
    }
}
