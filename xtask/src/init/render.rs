//! The files `init` writes, as text: the team's xtask crate (a thin binary over
//! this library), the workspace manifest, the cargo alias, and tasks.toml with
//! every detected value explained and every missing one commented out.

use super::detect::{Detection, Finding};

/// The package name of the scaffolded crate. Not `xtask`: the library it depends
/// on is called that, and `cargo run --package xtask` would be ambiguous.
pub(crate) const PACKAGE: &str = "xtask-local";

/// The alias line of `.cargo/config.toml`.
pub(crate) fn alias_line() -> String {
    format!("xtask = \"run --quiet --package {PACKAGE} --bin xtask --\"")
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

pub(crate) const WORKSPACE: &str = r#"# Written by `xtask init`: a Cargo workspace holding the xtask/ crate.
[workspace]
members = ["xtask"]
resolver = "2"
"#;

/// tasks.toml from what was detected.
pub(crate) fn tasks_toml(d: &Detection, backup_dir: &str) -> String {
    let mut t = String::from(
        "# Written by `xtask init` from what it found in this repository. Every key is\n\
         # explained in the README's \"tasks.toml reference\"; a key that is commented\n\
         # out was not found: read its note and set it.\n",
    );
    if let Some(v) = &d.prisma_version {
        t.push_str(&format!("# Prisma CLI found: {v}.\n"));
    }
    for w in &d.warnings {
        t.push_str(&format!("# WARNING: {w}\n"));
    }
    if d.prisma_major.is_some_and(|m| m >= 7) {
        t.push_str(
            "# Prisma 7 does not load .env itself: this tool loads a .env next to this file\n\
             # (the real environment wins) and passes the URL to Prisma in its environment.\n",
        );
    }
    t.push_str("\n[database]\n");
    key(&mut t, "url_env", &d.url_env, "\"DATABASE_URL\"", true);
    key(&mut t, "direct_url_env", &d.direct_url_env, "\"DIRECT_URL\"", true);

    t.push_str("\n[prisma]\n");
    match &d.command.value {
        Some(v) => {
            note(&mut t, &d.command.note);
            t.push_str(&format!("command = {v}\n"));
        }
        None => {
            note(&mut t, &d.command.note);
            t.push_str("# command = [\"npx\", \"--no-install\", \"prisma\"]\n");
        }
    }
    key(&mut t, "schema", &d.schema, "\"prisma/schema.prisma\"", true);
    key(&mut t, "migrations", &d.migrations, "\"prisma/migrations\"", true);
    if let Some(c) = &d.config_file {
        t.push_str(&format!("# Prisma runs in this directory and reads {c} itself.\n"));
    }

    t.push_str(&format!(
        r#"
[backup]
# Verified pg_dump files and the audit log; keep them outside the checkout in
# production (e.g. "/opt/<app>/shared/backups") so they outlive a CI workspace.
dir = {dir}
prefix = "pre-migration"
format = "plain"
keep = 20

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
    ));
    t
}

fn note(t: &mut String, text: &str) {
    t.push_str(&format!("# {text}\n"));
}

/// `name = value` with its note above; commented out when nothing was found.
fn key(t: &mut String, name: &str, f: &Finding, example: &str, quote: bool) {
    note(t, &f.note);
    match &f.value {
        Some(v) if quote => t.push_str(&format!("{name} = {}\n", toml_str(v))),
        Some(v) => t.push_str(&format!("{name} = {v}\n")),
        None => t.push_str(&format!("# {name} = {example}\n")),
    }
}

/// A TOML basic string.
pub(crate) fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
