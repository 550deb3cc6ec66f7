//! `diagnose [NAME]`: did the failed migration apply? Reads its migration.sql and
//! checks the catalogs for what it creates or changes (see `evidence`). `deploy`
//! asks the same question before any automatic resolve.

use super::{ArgKind, Builtin, BuiltinArg};
use crate::config::BuiltinKind;
use crate::context::Ctx;
use crate::db::Target;
use crate::evidence::{self, Verdict};
use crate::exit::{Exit, Failure};
use crate::migrations;
use crate::recovery::evidence_for;

pub static DIAGNOSE: Builtin = Builtin {
    kind: BuiltinKind::Diagnose,
    about: "Check the database for the changes of a failed migration: not applied (rolled back is safe), applied, partial or unknown",
    example: "cargo xtask {task}                     # the one failed migration\n         cargo xtask {task} 20260221053404_add_missing_models",
    args: &[BuiltinArg {
        name: "name",
        help: "The migration to check [default: the one failed migration in _prisma_migrations]",
        kind: ArgKind::Positional { required: false },
    }],
    run,
    describe: |_| vec!["read _prisma_migrations and the migration's migration.sql; query the catalogs (psql)".into()],
};

fn run(ctx: &mut Ctx) -> Result<(), Failure> {
    let target = Target::from_env(ctx.config, ctx.ui)?;
    let rows = migrations::read_table(&target)?.unwrap_or_default();
    let Some(name) = migrations::named_or_failed(&rows, ctx.args.get("name"), &ctx.task.name)? else {
        outln!("No failed migration in _prisma_migrations: nothing to diagnose.");
        return Ok(());
    };
    let a = evidence_for(ctx, &target, &name)?;
    outln!("Migration {name}:");
    if let Some(r) = rows.iter().rev().find(|r| r.migration_name == name) {
        outln!(
            "  recorded:  started {}, {}",
            r.started_at,
            if r.is_failed() {
                "failed"
            } else if r.is_applied() {
                "applied"
            } else {
                "rolled back"
            }
        );
        if r.is_failed() {
            outln!("  error:     {}", r.error().describe());
        }
    }
    if let Some(ev) = &a.evidence {
        evidence::print_details(ev);
    }
    outln!("  verdict:   {}", a.summary());
    let advice = match a.verdict() {
        Some(Verdict::NotApplied) => {
            format!("its changes are not in the database: after fixing the file, `cargo xtask resolve-rolled-back {name}` then deploy")
        }
        Some(Verdict::Applied) => {
            format!("its changes are in the database: `cargo xtask resolve-applied {name}` then deploy")
        }
        Some(Verdict::Partial) => "partly applied: finish or undo the listed changes by hand, then resolve".to_string(),
        _ => "cannot tell from the catalogs: check by hand before resolving".to_string(),
    };
    outln!("  next:      {advice}");
    match a.verdict() {
        Some(Verdict::NotApplied) | Some(Verdict::Applied) => Ok(()),
        _ => Err(Failure::new(Exit::MigrationFailed, format!("`{name}`: {}", a.summary()))),
    }
}
