//! `prisma-resolve-rolled-back` and `prisma-resolve-applied`: mark a failed
//! migration with `prisma migrate resolve`, after showing what is being marked and
//! getting a yes. Without a NAME, the one failed migration of `_prisma_migrations`.

use super::{ArgKind, Builtin, BuiltinArg};
use crate::config::BuiltinKind;
use crate::context::Ctx;
use crate::evidence::Verdict;
use crate::exit::Failure;
use crate::prisma;
use crate::recovery::{confirm, evidence_for, mark_migration, next_steps, unchanged_blocker, Mark};

const NAME_ARG: &[BuiltinArg] = &[
    BuiltinArg {
        name: "name",
        help: "The migration to mark [default: the one failed migration in _prisma_migrations]",
        kind: ArgKind::Positional { required: false },
    },
    BuiltinArg {
        name: "force",
        help: "Mark it even when the database check contradicts the mark (recorded in the audit log with the verdict it overrode)",
        kind: ArgKind::Flag,
    },
];

pub(crate) static ROLLED_BACK: Builtin = Builtin {
    kind: BuiltinKind::ResolveRolledBack,
    about: "Mark a failed migration as rolled back (prisma migrate resolve --rolled-back), so deploy runs it again",
    example: "{xtask} {task} 20260221053404_add_missing_models --yes",
    args: NAME_ARG,
    run: |ctx| run(ctx, Mark::RolledBack),
    describe: |ctx| Ok(describe(ctx, Mark::RolledBack)),
};

pub(crate) static APPLIED: Builtin = Builtin {
    kind: BuiltinKind::ResolveApplied,
    about: "Mark a failed migration as applied (prisma migrate resolve --applied) when its changes are in the database",
    example: "{xtask} {task} 20260221053404_add_missing_models --yes",
    args: NAME_ARG,
    run: |ctx| run(ctx, Mark::Applied),
    describe: |ctx| Ok(describe(ctx, Mark::Applied)),
};

fn describe(ctx: &Ctx, mark: Mark) -> Vec<String> {
    let name = ctx.args.get("name").unwrap_or("<the failed migration>");
    let mut lines = vec![
        "read _prisma_migrations and check the database for the migration's changes (psql)".into(),
        format!(
            "refuse if the check contradicts marking it {} (unless --force); ask for confirmation unless --yes",
            mark.word()
        ),
        prisma::shown(ctx, &["migrate", "resolve", mark.flag(), name]),
    ];
    lines.extend(prisma::runs_note(ctx));
    lines
}

fn run(ctx: &mut Ctx, mark: Mark) -> Result<(), Failure> {
    let target = ctx.db.target()?;
    let ledger = ctx.db.ledger()?;
    if ledger.table.is_none() {
        // Prisma itself fails here with an "Invariant violation".
        ctx.ui.event("no _prisma_migrations table: Prisma never migrated this database, so there is nothing to resolve; nothing changed");
        return Ok(());
    }
    let Some((name, row)) = ledger.named_or_failed(ctx)? else {
        ctx.ui.event("no failed migration in _prisma_migrations: nothing to resolve, nothing changed");
        return Ok(());
    };
    // A failed migration is checked first: the mark must not contradict the database.
    // (Other states are Prisma's to refuse, with its own error.)
    let assessment = row.filter(|r| r.is_failed()).map(|r| evidence_for(ctx, target, r)).transpose()?;
    let verdict = assessment.as_ref().and_then(|a| a.verdict());
    let what = match row {
        Some(r) if r.is_failed() => format!(
            "migration `{name}` (started {}, failed with: {}; the database check says: {})",
            r.started_at,
            r.error().describe(),
            verdict.map(|v| v.to_string()).unwrap_or_else(|| "no evidence".into())
        ),
        Some(r) if r.is_applied() => format!("migration `{name}` (already recorded as applied)"),
        Some(_) => format!("migration `{name}` (already marked rolled back)"),
        None => format!("migration `{name}` (not recorded in the database)"),
    };
    let mut overrode = None;
    if let Some(a) = &assessment {
        ctx.ui.event(&format!("evidence: `{name}`: {}", a.summary()));
        if let Some(v) = verdict.filter(|v| contradicts(mark, *v)) {
            if !ctx.args.flag("force") {
                return Err(Failure::task(format!(
                    "refused to mark `{name}` {}: the database check says {}; next: {}. \
                     Pass --force to mark it anyway (recorded in the audit log); nothing was changed",
                    mark.word(),
                    a.summary(),
                    next_steps(ctx, a).join("; "),
                )));
            }
            ctx.ui.warn(&format!("--force: marking `{name}` {} against the verdict \"{v}\"", mark.word()));
            overrode = Some(v);
        } else if mark == Mark::RolledBack {
            if let Some(b) = unchanged_blocker(a) {
                ctx.ui.warn(&format!("{b}; deploy will fail again until it is fixed"));
            }
        }
    }
    confirm(ctx, &format!("Mark {what} as {}?", mark.word()))?;
    let reason = match overrode {
        Some(v) => format!("asked for on the command line with --force, overriding the verdict: {v}"),
        None => "asked for on the command line".to_string(),
    };
    mark_migration(ctx, &name, mark, &reason, assessment.as_ref(), overrode)
}

/// Whether the verdict says the mark is wrong: rolled back while changes are in the
/// database, applied while some or all are missing.
fn contradicts(mark: Mark, verdict: Verdict) -> bool {
    match mark {
        Mark::RolledBack => matches!(verdict, Verdict::Applied | Verdict::Partial),
        Mark::Applied => matches!(verdict, Verdict::NotApplied | Verdict::Partial),
    }
}
