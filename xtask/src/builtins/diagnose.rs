//! `diagnose [NAME]`: did the failed migration apply? Reads its migration.sql and
//! checks the catalogs for what it creates or changes (see `evidence`). `deploy`
//! asks the same question before any automatic resolve.

use super::{ArgKind, Builtin, BuiltinArg};
use crate::config::BuiltinKind;
use crate::context::Ctx;
use crate::evidence::{self, Verdict};
use crate::exit::{Exit, Failure};
use crate::migrations::Row;
use crate::recovery::{evidence_for_name, known_migration, next_steps};

pub(crate) static DIAGNOSE: Builtin = Builtin {
    kind: BuiltinKind::Diagnose,
    about: "Check the database for the changes of a failed migration: not applied (rolled back is safe), applied, partial or unknown",
    example: "{xtask} {task}                     # the one failed migration\n         {xtask} {task} 20260221053404_add_missing_models",
    args: &[
        BuiltinArg {
            name: "name",
            help: "The migration to check [default: the one failed migration in _prisma_migrations]",
            kind: ArgKind::Positional { required: false },
        },
        BuiltinArg {
            name: "trial",
            help: "Try a data-only migration in a rolled-back transaction even over tables larger than \
                   trial_max_rows (it writes WAL, leaves dead rows and holds row locks while it runs)",
            kind: ArgKind::Flag,
        },
    ],
    run,
    describe: |_| Ok(vec!["read _prisma_migrations and the migration's migration.sql; query the catalogs (psql)".into()]),
};

fn run(ctx: &mut Ctx) -> Result<(), Failure> {
    // One psql session for the ledger and the catalog query: one process start and
    // one connection for the whole diagnosis, read-only (a trial run, where one may run,
    // has a psql of its own and is always rolled back).
    let (target, ledger) = ctx.db.read_only()?;
    let Some((name, row)) = ledger.named_or_failed(ctx)? else {
        outln!("No failed migration in _prisma_migrations: nothing to diagnose.");
        return Ok(());
    };
    known_migration(ctx, &name)?;
    // Started and not finished while another session holds Prisma's migrate lock:
    // a `prisma migrate` is applying it right now (a container entrypoint, a
    // laptop), so it is in progress, not failed, and nothing is tried on it.
    if row.is_some_and(Row::is_failed) {
        if let Some(holder) = crate::db::lock::prisma_lock_holder(&target)? {
            outln!("Migration {name}: in progress, not failed: Prisma's migrate lock is held by {holder}");
            return Err(Failure::new(
                Exit::LockNotAcquired,
                format!(
                    "`{name}` is being applied by another Prisma run (it holds Prisma's migrate lock: {holder}); nothing was checked or changed: run `{}` again when it has finished",
                    crate::invocation::cmd(&ctx.task.name)
                ),
            ));
        }
    }
    let a = evidence_for_name(ctx, &target, &name, row)?;
    outln!("Migration {name}:");
    if let Some(r) = &a.recorded {
        outln!("  recorded:  started {}, {}", r.started_at, r.state());
        if r.is_failed() {
            outln!("  error:     {}", r.error().describe());
        }
    }
    if let Some(ev) = &a.evidence {
        evidence::print_details(ev);
    }
    outln!("  verdict:   {}", a.summary());
    // The same steps deploy's stop gives for the same state.
    for (i, step) in next_steps(ctx, &a).iter().enumerate() {
        outln!("  {}{step}", if i == 0 { "next:      " } else { "           " });
    }
    let settled = a.recorded.as_ref().is_some_and(|r| !r.is_failed());
    match a.verdict() {
        _ if settled => Ok(()),
        Some(Verdict::NotApplied) | Some(Verdict::Applied) => Ok(()),
        _ => Err(Failure::new(Exit::MigrationFailed, format!("`{name}`: {}", a.summary()))),
    }
}
