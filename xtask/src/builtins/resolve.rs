//! `prisma-resolve-rolled-back` and `prisma-resolve-applied`: mark a failed
//! migration with `prisma migrate resolve`, after showing what is being marked and
//! getting a yes. Without a NAME, the one failed migration of `_prisma_migrations`.

use super::{ArgKind, Builtin, BuiltinArg};
use crate::config::BuiltinKind;
use crate::context::Ctx;
use crate::db::Target;
use crate::exit::Failure;
use crate::migrations;
use crate::prisma;
use crate::recovery::{confirm, mark_migration, verify_marked, Mark};

const NAME_ARG: &[BuiltinArg] = &[BuiltinArg {
    name: "name",
    help: "The migration to mark [default: the one failed migration in _prisma_migrations]",
    kind: ArgKind::Positional { required: false },
}];

pub static ROLLED_BACK: Builtin = Builtin {
    kind: BuiltinKind::ResolveRolledBack,
    about: "Mark a failed migration as rolled back (prisma migrate resolve --rolled-back), so deploy runs it again",
    example: "cargo xtask {task} 20260221053404_add_missing_models --yes",
    args: NAME_ARG,
    run: |ctx| run(ctx, Mark::RolledBack),
    describe: |ctx| describe(ctx, Mark::RolledBack),
};

pub static APPLIED: Builtin = Builtin {
    kind: BuiltinKind::ResolveApplied,
    about: "Mark a failed migration as applied (prisma migrate resolve --applied) when its changes are in the database",
    example: "cargo xtask {task} 20260221053404_add_missing_models --yes",
    args: NAME_ARG,
    run: |ctx| run(ctx, Mark::Applied),
    describe: |ctx| describe(ctx, Mark::Applied),
};

fn describe(ctx: &Ctx, mark: Mark) -> Vec<String> {
    let name = ctx.args.get("name").unwrap_or("<the failed migration>");
    vec![
        "read _prisma_migrations (psql); ask for confirmation unless --yes".into(),
        prisma::command(ctx, &["migrate", "resolve", mark.flag(), name]).display(),
    ]
}

fn run(ctx: &mut Ctx, mark: Mark) -> Result<(), Failure> {
    let target = Target::from_env(ctx.config, ctx.ui)?;
    let Some(rows) = migrations::read_table(&target)? else {
        // Prisma itself fails here with an "Invariant violation".
        ctx.ui.event("no _prisma_migrations table: Prisma never migrated this database, so there is nothing to resolve; nothing changed");
        return Ok(());
    };
    let Some(name) = migrations::named_or_failed(&rows, ctx.args.get("name"), &ctx.task.name)? else {
        ctx.ui.event("no failed migration in _prisma_migrations: nothing to resolve, nothing changed");
        return Ok(());
    };
    let row = rows.iter().rev().find(|r| r.migration_name == name);
    let what = match row {
        Some(r) if r.is_failed() => {
            format!("migration `{name}` (started {}, failed with: {})", r.started_at, r.error().describe())
        }
        Some(r) if r.is_applied() => format!("migration `{name}` (already recorded as applied)"),
        Some(_) => format!("migration `{name}` (already marked rolled back)"),
        None => format!("migration `{name}` (not recorded in the database)"),
    };
    confirm(ctx, &format!("Mark {what} as {}?", mark.word()))?;
    mark_migration(ctx, &name, mark, "asked for on the command line", serde_json::Value::Null)?;
    verify_marked(&target, &name, mark)
}
