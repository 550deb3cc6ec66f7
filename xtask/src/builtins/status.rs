//! `status`: the migration directories against `_prisma_migrations`, read directly
//! (no Node): applied, pending, failed, rolled back, missing on disk, drift.

use super::{Builtin, BuiltinArg};
use crate::config::BuiltinKind;
use crate::context::Ctx;
use crate::db::Target;
use crate::exit::{Exit, Failure};
use crate::migrations::{self, Status};

pub(crate) static STATUS: Builtin = Builtin {
    kind: BuiltinKind::Status,
    about: "Compare the migration directories with _prisma_migrations (exit 0 in sync, 6 pending, 4 failed or drift)",
    example: "{xtask} {task}",
    args: &[BuiltinArg {
        name: "all",
        help: "List every migration (longer lists are summarised past a screenful)",
        kind: super::ArgKind::Flag,
    }],
    run,
    describe: |ctx| Ok(describe(ctx)),
};

fn describe(ctx: &Ctx) -> Vec<String> {
    let dir = ctx.config.prisma.migrations.as_ref().map(|d| d.display().to_string()).unwrap_or_default();
    vec![format!("read {dir} and _prisma_migrations (psql)")]
}

fn run(ctx: &mut Ctx) -> Result<(), Failure> {
    let dir = ctx.db.migrations_dir()?;
    let local = migrations::read_dir(dir)?;
    // Read-only, and made so: its one query runs in a session whose transactions are read-only.
    let (target, ledger) = ctx.db.read_only()?;
    let status = migrations::compare(&local, ledger.rows());
    print(&status, dir, &target, ctx.args.flag("all"));
    verdict(&status)
}

/// A list longer than this is summarised (a fresh database of an app with 121
/// migrations has 121 pending): its first and last few, and how many between.
const SCREENFUL: usize = 20;
const SHOWN: usize = 5;

fn print(s: &Status, dir: &std::path::Path, target: &Target, all: bool) {
    outln!("Migrations in {} against {} (schema {}):", dir.display(), target.url.display_target(), target.url.schema);
    let group = |label: &str, names: &[&String]| {
        let each = |names: &[&String]| names.iter().for_each(|name| outln!("  {label:<12} {name}"));
        if all || names.len() <= SCREENFUL {
            return each(names);
        }
        each(&names[..SHOWN]);
        outln!(
            "  ...          {} more {label} (`{}` lists them all)",
            names.len() - 2 * SHOWN,
            crate::invocation::cmd("status --all")
        );
        each(&names[names.len() - SHOWN..]);
    };
    group("applied", &s.applied.iter().collect::<Vec<_>>());
    for row in &s.failed {
        outln!("  failed       {} (started {}): {}", row.migration_name, row.started_at, row.error().describe());
    }
    for name in &s.rolled_back {
        outln!("  rolled back  {name} (will be applied again by deploy)");
    }
    group("pending", &s.pending.iter().filter(|n| !s.rolled_back.contains(n)).collect::<Vec<_>>());
    for name in &s.missing_on_disk {
        outln!("  missing      {name} (recorded as applied, no directory on disk)");
    }
    for name in &s.drift {
        outln!("  drift        {name} (migration.sql changed after it was applied)");
    }
}

fn verdict(s: &Status) -> Result<(), Failure> {
    if !s.failed.is_empty() {
        let names: Vec<&str> = s.failed.iter().map(|r| r.migration_name.as_str()).collect();
        outln!("Status: failed");
        return Err(Failure::new(
            Exit::MigrationFailed,
            format!(
                "failed migration {}: run `{}` to see whether it applied",
                names.join(", "),
                crate::invocation::cmd("diagnose")
            ),
        ));
    }
    if !s.drift.is_empty() || !s.missing_on_disk.is_empty() {
        outln!("Status: drift");
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
        outln!("Status: pending");
        return Err(Failure::new(
            Exit::Pending,
            format!("{} migration(s) pending: run `{}`", s.pending.len(), crate::invocation::cmd("deploy")),
        ));
    }
    outln!("Status: in sync");
    Ok(())
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
