//! `prisma-resolve-rolled-back` and `prisma-resolve-applied`: mark a failed
//! migration with `prisma migrate resolve`, after showing what is being marked and
//! getting a yes. Without a NAME, the one failed migration of `_prisma_migrations`.

use super::{ArgKind, Builtin, BuiltinArg};
use crate::db::Target;
use crate::exit::Exit;
use crate::migrations::{self, Row};
use crate::prisma::{self, Problem};
use crate::runner::{Ctx, Failure, Resolution};

const NAME_ARG: &[BuiltinArg] = &[BuiltinArg {
    name: "name",
    help: "The migration to mark [default: the one failed migration in _prisma_migrations]",
    kind: ArgKind::Positional { required: false },
}];

pub static ROLLED_BACK: Builtin = Builtin {
    name: "prisma-resolve-rolled-back",
    about: "Mark a failed migration as rolled back (prisma migrate resolve --rolled-back), so deploy runs it again",
    example: "cargo xtask {task} 20260221053404_add_missing_models --yes",
    args: NAME_ARG,
    run: |ctx| run(ctx, Mark::RolledBack),
    describe: |ctx| describe(ctx, Mark::RolledBack),
};

pub static APPLIED: Builtin = Builtin {
    name: "prisma-resolve-applied",
    about: "Mark a failed migration as applied (prisma migrate resolve --applied) when its changes are in the database",
    example: "cargo xtask {task} 20260221053404_add_missing_models --yes",
    args: NAME_ARG,
    run: |ctx| run(ctx, Mark::Applied),
    describe: |ctx| describe(ctx, Mark::Applied),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    RolledBack,
    Applied,
}

impl Mark {
    pub fn flag(self) -> &'static str {
        match self {
            Mark::RolledBack => "--rolled-back",
            Mark::Applied => "--applied",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Mark::RolledBack => "rolled-back",
            Mark::Applied => "applied",
        }
    }
}

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
        Some(r) if r.is_failed() => format!(
            "migration `{name}` (started {}, failed with: {})",
            r.started_at,
            r.error().describe()
        ),
        Some(r) if r.is_applied() => format!("migration `{name}` (already recorded as applied)"),
        Some(_) => format!("migration `{name}` (already marked rolled back)"),
        None => format!("migration `{name}` (not recorded in the database)"),
    };
    confirm(ctx, &format!("Mark {what} as {}?", mark.word()))?;
    mark_migration(ctx, &name, mark, "asked for on the command line", serde_json::Value::Null)?;
    verify_marked(&target, &name, mark)
}

/// Prisma can report success without changing anything (e.g. `--rolled-back` on a
/// name whose failed row was already rolled back): check the table says what we asked.
pub fn verify_marked(target: &Target, name: &str, mark: Mark) -> Result<(), Failure> {
    let rows = migrations::read_table(target)?.unwrap_or_default();
    let mine: Vec<&Row> = rows.iter().filter(|r| r.migration_name == name).collect();
    let ok = match mark {
        Mark::RolledBack => !mine.is_empty() && !mine.iter().any(|r| r.is_failed()),
        Mark::Applied => mine.iter().any(|r| r.is_applied()) && !mine.iter().any(|r| r.is_failed()),
    };
    if ok {
        Ok(())
    } else {
        Err(Failure::task(format!(
            "Prisma reported success, but _prisma_migrations does not show `{name}` as {}: check it with `cargo xtask status`",
            mark.word()
        )))
    }
}

/// Gets a yes: `--yes`, or an answer on the terminal. Without either, refuses
/// rather than hang.
pub fn confirm(ctx: &Ctx, question: &str) -> Result<(), Failure> {
    if ctx.opts.yes {
        return Ok(());
    }
    match ctx.ui.confirm(question) {
        Some(true) => Ok(()),
        Some(false) => Err(Failure::task("not confirmed: nothing was changed")),
        None => Err(Failure::new(
            Exit::Usage,
            format!("{question} This needs a confirmation and there is no terminal to ask on: pass --yes to confirm (nothing was changed)"),
        )),
    }
}

/// Runs `prisma migrate resolve` and records the resolution.
pub fn mark_migration(
    ctx: &mut Ctx,
    name: &str,
    mark: Mark,
    reason: &str,
    evidence: serde_json::Value,
) -> Result<(), Failure> {
    let out = prisma::run(ctx, &["migrate", "resolve", mark.flag(), name])?;
    if !out.success() {
        let p = prisma::problem(&out.combined());
        let exit = match p {
            Problem::Unreachable | Problem::Authentication | Problem::NoDatabase => Exit::DatabaseUnreachable,
            _ => Exit::TaskFailed,
        };
        return Err(Failure::new(exit, prisma::explain(p, Some(name))));
    }
    ctx.ui.event(&format!("marked `{name}` as {}", mark.word()));
    let resolution = Resolution { migration: name.to_string(), as_: mark.word().to_string(), reason: reason.to_string() };
    crate::audit::record(
        ctx,
        "resolve",
        serde_json::json!({ "migration": name, "as": mark.word(), "reason": reason, "evidence": evidence }),
    );
    ctx.state.resolutions.push(resolution);
    Ok(())
}
