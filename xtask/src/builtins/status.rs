//! `status`: the migration directories against `_prisma_migrations`, read directly
//! (no Node): applied, pending, failed, rolled back, missing on disk, drift.

use super::{Builtin, BuiltinArg};
use crate::db::Target;
use crate::exit::Exit;
use crate::migrations::{self, Status};
use crate::runner::{Ctx, Failure};

pub static STATUS: Builtin = Builtin {
    name: "status",
    about: "Compare the migration directories with _prisma_migrations (exit 0 in sync, 6 pending, 4 failed or drift)",
    example: "cargo xtask {task}",
    args: &[] as &[BuiltinArg],
    run,
    describe,
};

fn describe(ctx: &Ctx) -> Vec<String> {
    let dir = ctx.config.prisma.migrations.as_ref().map(|d| d.display().to_string()).unwrap_or_default();
    vec![format!("read {dir} and _prisma_migrations (psql)")]
}

/// The migrations directory from the config, or a message saying how to set it.
pub fn migrations_dir(ctx: &Ctx) -> Result<std::path::PathBuf, Failure> {
    ctx.config.prisma.migrations.clone().ok_or_else(|| {
        Failure::new(
            Exit::Usage,
            "no migrations directory: set [prisma] schema (the migrations sit beside it) or [prisma] migrations in tasks.toml",
        )
    })
}

fn run(ctx: &mut Ctx) -> Result<(), Failure> {
    let dir = migrations_dir(ctx)?;
    let target = Target::from_env(ctx.config, ctx.ui)?;
    let local = migrations::read_dir(&dir)?;
    let rows = migrations::read_table(&target)?.unwrap_or_default();
    let status = migrations::compare(&local, &rows);
    print(&status, &dir, &target);
    verdict(&status)
}

fn print(s: &Status, dir: &std::path::Path, target: &Target) {
    println!(
        "Migrations in {} against {} (schema {}):",
        dir.display(),
        target.url.display_target(),
        target.url.schema
    );
    for name in &s.applied {
        println!("  applied      {name}");
    }
    for row in &s.failed {
        println!(
            "  failed       {} (started {}): {}",
            row.migration_name,
            row.started_at,
            row.error().describe()
        );
    }
    for name in &s.rolled_back {
        println!("  rolled back  {name} (will be applied again by deploy)");
    }
    for name in s.pending.iter().filter(|n| !s.rolled_back.contains(n)) {
        println!("  pending      {name}");
    }
    for name in &s.missing_on_disk {
        println!("  missing      {name} (recorded as applied, no directory on disk)");
    }
    for name in &s.drift {
        println!("  drift        {name} (migration.sql changed after it was applied)");
    }
}

fn verdict(s: &Status) -> Result<(), Failure> {
    if !s.failed.is_empty() {
        let names: Vec<&str> = s.failed.iter().map(|r| r.migration_name.as_str()).collect();
        println!("Status: failed");
        return Err(Failure::new(
            Exit::MigrationFailed,
            format!(
                "failed migration {}: run `cargo xtask diagnose` to see whether it applied",
                names.join(", ")
            ),
        ));
    }
    if !s.drift.is_empty() || !s.missing_on_disk.is_empty() {
        println!("Status: drift");
        return Err(Failure::new(
            Exit::MigrationFailed,
            format!(
                "the database and the migrations directory disagree (drift: {}; missing on disk: {}): restore the files from version control",
                list(&s.drift),
                list(&s.missing_on_disk)
            ),
        ));
    }
    if !s.pending.is_empty() {
        println!("Status: pending");
        return Err(Failure::new(
            Exit::Pending,
            format!("{} migration(s) pending: run `cargo xtask deploy`", s.pending.len()),
        ));
    }
    println!("Status: in sync");
    Ok(())
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
