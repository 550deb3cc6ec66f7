//! `prisma-deploy`: `prisma migrate deploy` with a bounded recovery of a failed
//! migration, the runbook's way: mark it rolled back and deploy once more.
//!
//! The recovery happens at most once per run, only when `_prisma_migrations`
//! records exactly one failed migration and Prisma's output says a migration failed
//! (P3009/P3018), only for migrations the policy allows, and only when the database
//! shows that the migration's changes are not there. Anything else stops the run
//! with a diagnosis and the next commands to choose from.

use super::{Builtin, BuiltinArg};
use crate::config::{BuiltinKind, Recover};
use crate::context::{Ctx, Diagnosis};
use crate::db::Target;
use crate::exit::{Exit, Failure};
use crate::migrations::{several_failed, Row};
use crate::prisma::{self, Problem};
use crate::recovery::{
    decide, diagnose_command, evidence_for, mark_migration, next_steps, problem_steps, stop_diagnosed, Assessment,
    Decision,
};

pub(crate) static DEPLOY: Builtin = Builtin {
    kind: BuiltinKind::PrismaDeploy,
    about: "prisma migrate deploy, with one automatic recovery of a failed migration when the policy and the database allow it",
    example: "{xtask} {task}            # backup first (deps), then deploy\n         {xtask} {task} --dry-run  # show the plan",
    args: &[] as &[BuiltinArg],
    run,
    describe: |ctx| Ok(describe(ctx)),
};

fn describe(ctx: &Ctx) -> Vec<String> {
    let task = ctx.task;
    let policy = match task.recover {
        Recover::Stop => "recover = stop: never resolve automatically".to_string(),
        Recover::RolledBackThenRetry => format!(
            "on a failed migration ({}): check the database for its changes, then {} and deploy once more",
            match &task.allow {
                Some(names) => format!("only {}", names.join(", ")),
                None => "any migration".into(),
            },
            prisma::shown(ctx, &["migrate", "resolve", "--rolled-back", "<NAME>"])
        ),
    };
    let mut lines = vec!["take the deploy lock (PostgreSQL advisory lock)".into()];
    lines.extend(crate::rehearsal::describe(ctx));
    lines.extend(crate::datacheck::describe(ctx));
    lines.push(prisma::shown(ctx, &["migrate", "deploy"]));
    lines.extend(prisma::runs_note(ctx));
    lines.push(policy);
    lines
}

fn run(ctx: &mut Ctx) -> Result<(), Failure> {
    let db = ctx.db;
    let target = db.target()?;
    // The pending migrations run on a scratch copy first; a failure there stops here.
    let scratch = crate::rehearsal::rehearse(ctx, target)?;
    // The passed rehearsal's copy is handed to a dropper of its own, which takes the
    // run's scratch lock over and may outlive the run (PostgreSQL 15's DROP DATABASE
    // waits for a checkpoint, then removes every file of the copy: seconds on a durable
    // server with a large schema, which nothing here needs). The hand-off runs on a
    // thread beside the data checks and Prisma; the scope waits for it (a few
    // milliseconds, or the DROP itself when the hand-off fails). Meanwhile a Ctrl-C or
    // SIGTERM stops the running step and the run exits 130 or 143 once that is done,
    // as during the rehearsal, instead of ending the process mid-hand-off.
    let _interrupts = scratch.is_some().then(crate::interrupt::Interrupts::catch);
    std::thread::scope(|s| {
        if let Some(scratch) = scratch {
            s.spawn(move || scratch.drop_detached());
        }
        deploy_checked(ctx, target)
    })
}

/// The deploy after the rehearsal: the data checks, Prisma, and one recovery.
fn deploy_checked(ctx: &mut Ctx, target: &Target) -> Result<(), Failure> {
    let db = ctx.db;
    // What the pending statements need of production's rows, checked read-only.
    crate::datacheck::gate(ctx, target)?;

    let out = prisma::run(ctx, &["migrate", "deploy"])?;
    if out.success() {
        return Ok(());
    }
    let problem = prisma::problem(&out.combined());
    let row = failed_row(ctx, problem)?;

    // From here on the failure is a failed migration: decide whether to recover.
    // The evidence comes first, so that every stop advises by what the database shows.
    let name = row.migration_name.clone();
    let evidence = evidence_for(ctx, target, &row)?;
    let mark = match decide(ctx, &evidence) {
        Decision::Resolve(mark) => mark,
        Decision::Stop { why, show_evidence } => {
            if show_evidence {
                // Partial or unknown: say what is and is not there, so whoever repairs
                // the database by hand starts from the list (as `diagnose` prints it).
                if let Some(ev) = &evidence.evidence {
                    ctx.ui.event(&format!("evidence: what the database shows of `{name}`:"));
                    for line in ev.details().lines() {
                        ctx.ui.event(line);
                    }
                }
            }
            return Err(stop(ctx, &row, Some(&evidence), &why));
        }
    };
    ctx.ui.event(&format!(
        "recovering: `{name}` failed ({}); {}; marking it {} and deploying once more",
        row.error().describe(),
        evidence.summary(),
        mark.word()
    ));
    let reason = format!("deploy failed with {} and the evidence says: {}", problem_code(problem), evidence.summary());
    mark_migration(ctx, &name, mark, &reason, Some(&evidence), None)?;

    let retry = prisma::run(ctx, &["migrate", "deploy"])?;
    if retry.success() {
        ctx.ui.event(&format!("recovered: `{name}` is deployed"));
        return Ok(());
    }
    let problem = prisma::problem(&retry.combined());
    let ledger = db.ledger().unwrap_or_default();
    match ledger.rows().iter().rev().find(|r| r.is_failed()) {
        Some(again) => {
            let evidence = evidence_for(ctx, target, again)?;
            Err(stop(
                ctx,
                again,
                Some(&evidence),
                "it failed again after one recovery; no further attempt is made in this run",
            ))
        }
        None => Err(stop_without_migration(ctx, problem, None)),
    }
}

/// The one migration recorded as failed that Prisma's `problem` is about; any other
/// failure stops the deploy here.
fn failed_row(ctx: &mut Ctx, problem: Problem) -> Result<Row, Failure> {
    let ledger = match ctx.db.ledger() {
        Ok(ledger) => ledger,
        Err(f) => return Err(stop_without_migration(ctx, problem, Some(f))),
    };
    let failed: Vec<&Row> = ledger.rows().iter().filter(|r| r.is_failed()).collect();
    let migration_problem = matches!(problem, Problem::FailedMigrationRecorded | Problem::MigrationFailedToApply);
    match (migration_problem, failed.as_slice()) {
        (true, [one]) => Ok((*one).clone()),
        (true, many) if many.len() > 1 => {
            Err(stop(ctx, failed[0], None, &format!("{}: resolve them one by one", several_failed(many))))
        }
        _ => Err(stop_without_migration(ctx, problem, None)),
    }
}

fn problem_code(p: Problem) -> &'static str {
    match p {
        Problem::FailedMigrationRecorded => "P3009",
        Problem::MigrationFailedToApply => "P3018",
        _ => "an error",
    }
}

/// Stops on a failed migration: prints the diagnosis, returns the failure. The next
/// steps follow the evidence (`None`: several migrations failed, one must be chosen).
fn stop(ctx: &mut Ctx, row: &Row, evidence: Option<&Assessment>, why: &str) -> Failure {
    let err = row.error();
    let name = &row.migration_name;
    let next = match evidence {
        Some(a) => next_steps(ctx, a),
        None => vec![format!(
            "check each failed migration, then resolve it as the check says: {}",
            diagnose_command(ctx, name)
        )],
    };
    let diagnosis = Diagnosis {
        summary: format!("migration `{name}` failed and was not recovered: {why}"),
        migration: Some(name.clone()),
        started_at: Some(row.started_at.clone()),
        error_code: err.code.clone(),
        error_message: err.message.clone(),
        next_commands: next,
        verdict: evidence.and_then(|a| a.verdict_name()).map(String::from),
        ..Diagnosis::default()
    };
    let message = format!("migration `{name}` failed ({}) and was not recovered: {why}", err.describe());
    stop_diagnosed(ctx, diagnosis, Failure::new(Exit::MigrationFailed, message))
}

/// Stops on a failure that is not a failed migration (unreachable, auth, schema...).
fn stop_without_migration(ctx: &mut Ctx, problem: Problem, db_failure: Option<Failure>) -> Failure {
    let failure = db_failure.unwrap_or_else(|| {
        let why = prisma::explain(problem, None);
        Failure::new(problem.exit(), format!("prisma migrate deploy failed: {why}; nothing was resolved"))
    });
    let diagnosis = Diagnosis {
        summary: failure.message.clone(),
        next_commands: problem_steps(ctx, problem),
        ..Diagnosis::default()
    };
    stop_diagnosed(ctx, diagnosis, failure)
}
