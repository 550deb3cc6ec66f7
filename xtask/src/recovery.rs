//! What `deploy`, `diagnose` and the resolve built-ins share: the evidence for one
//! migration (did it apply?), marking a migration with `prisma migrate resolve`
//! and checking the mark took, asking for a yes, and the next commands to offer.

use crate::config::{Action, BuiltinKind, IfApplied, Recover};
use crate::context::{diagnosis_lines, Ctx, Diagnosis, Resolution};
use crate::db::Target;
use crate::evidence::{self, Evidence, Trial, TrialBounds, TrialOutcome, Verdict};
use crate::exit::{Exit, Failure};
use crate::migrations::{self, Row};
use crate::prisma::{self, Problem};
use crate::suggest::did_you_mean;

/// What the database says about one migration.
pub(crate) struct Assessment {
    pub migration: String,
    pub evidence: Option<Evidence>,
    /// Why there is no evidence, or what qualifies it.
    pub note: Option<String>,
    /// The migration's latest row in `_prisma_migrations` (`None`: never recorded).
    pub recorded: Option<Row>,
    /// migration.sql is byte for byte the file of the latest failed or rolled-back
    /// attempt (same checksum): running it again meets the same error, unless the
    /// error was transient or its cause is gone.
    pub unchanged: bool,
    /// The object the failed attempt's error says "already exists", and whether it
    /// still does (`None`: the catalog check does not cover it).
    pub pre_existing: Option<(String, Option<bool>)>,
    /// Failed attempts (failed or rolled-back rows) of this same file that ended
    /// with the same error as the latest: 2 or more means the same failure again.
    pub attempts: usize,
}

impl Assessment {
    pub(crate) fn verdict(&self) -> Option<Verdict> {
        self.evidence.as_ref().map(|e| e.verdict)
    }

    /// One line for people.
    pub(crate) fn summary(&self) -> String {
        let mut s = match &self.evidence {
            None => "no evidence".to_string(),
            Some(e) => evidence::summary(e),
        };
        if let Some(n) = &self.note {
            s.push_str(&format!(" ({n})"));
        }
        s
    }

    /// The verdict's name for reports (`safe_to_rerun` among them); `None` without evidence.
    pub(crate) fn verdict_name(&self) -> Option<&'static str> {
        self.evidence.as_ref().map(|e| e.verdict_name())
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "migration": self.migration,
            "verdict": self.evidence.as_ref().map(|e| match e.verdict_name() {
                "safe_to_rerun" => "SafeToRerun".to_string(),
                _ => format!("{:?}", e.verdict),
            }),
            "summary": self.summary(),
        })
    }
}

/// Assesses a recorded migration (its latest row in `_prisma_migrations`) against
/// the database. An object the failed attempt's own error says "already exists"
/// existed before that attempt ran (that is why it failed), so its presence is not
/// counted as evidence that the migration applied, unless an earlier attempt of the
/// same migration (a rolled-back row of the same name) exists: then the object may
/// be that attempt's leftover, and it counts like any other. The earlier attempts
/// come from the run's ledger as last read (every caller has just read it).
pub(crate) fn evidence_for(ctx: &Ctx, target: &Target, row: &Row) -> Result<Assessment, Failure> {
    evidence_for_name(ctx, target, &row.migration_name, Some(row))
}

/// [`evidence_for`] a migration named on the command line, with its latest row
/// (`None`: not recorded).
pub(crate) fn evidence_for_name(
    ctx: &Ctx,
    target: &Target,
    name: &str,
    recorded: Option<&Row>,
) -> Result<Assessment, Failure> {
    let path = ctx.db.migration_sql(name)?;
    let recorded = recorded.cloned();
    let Ok(sql) = std::fs::read_to_string(&path) else {
        return Ok(Assessment {
            migration: name.to_string(),
            evidence: None,
            note: Some(format!("{} is not on disk", path.display())),
            recorded,
            unchanged: false,
            pre_existing: None,
            attempts: 0,
        });
    };
    let failed = recorded.as_ref().filter(|r| r.is_failed());
    // The error's object predates the migration only if no earlier attempt of it
    // (a rolled-back row of the same name) could have left it behind.
    let earlier_attempt = failed.is_some()
        && ctx.db.ledger()?.rows().iter().any(|r| r.migration_name == name && r.rolled_back_at.is_some());
    let pre_existing_name =
        failed.filter(|_| !earlier_attempt).and_then(|r| already_exists(r.error().message.as_deref()?));
    let mut ev = assess_once(ctx, target, name, &sql)?;
    let mut note = None;
    let mut pre_existing = None;
    if let Some(obj) = &pre_existing_name {
        // Before it is discounted: is the object still there? The catalog check covers
        // it when the migration creates it (it does: that is why it failed).
        let named = |e: &&evidence::Expectation| evidence::names_object(e, obj);
        let exists = if ev.present.iter().any(|e| named(&e)) {
            Some(true)
        } else if ev.missing.iter().any(|e| named(&e)) {
            Some(false)
        } else {
            None
        };
        pre_existing = Some((obj.clone(), exists));
        // Judged as if the migration skipped it, as it will once the file is fixed.
        if ev.discount(obj) {
            note = Some(format!("`{obj}` is not counted: the failed attempt says it already existed"));
        }
    }
    let mut unchanged = false;
    let mut attempts = 0;
    if let Some(r) = recorded.as_ref().filter(|r| !r.is_applied()) {
        let checksum = migrations::checksum(sql.as_bytes());
        unchanged = checksum == r.checksum;
        attempts = same_failures(ctx.db.ledger()?.rows(), r);
        if !unchanged && r.is_failed() {
            let n = "migration.sql has changed since the failed attempt; the check reads the current file".to_string();
            note = Some(match note {
                Some(prev) => format!("{prev}; {n}"),
                None => n,
            });
        }
    }
    Ok(Assessment {
        migration: name.to_string(),
        evidence: Some(ev),
        note,
        recorded,
        unchanged,
        pre_existing,
        attempts,
    })
}

/// How many attempts of `latest`'s migration, with the same file (checksum), ended
/// with the same error (SQLSTATE, else message) as `latest`, counting it.
pub(crate) fn same_failures(rows: &[Row], latest: &Row) -> usize {
    let key = |r: &Row| {
        let e = r.error();
        e.code.or(e.message)
    };
    let wanted = key(latest);
    rows.iter()
        .filter(|r| r.migration_name == latest.migration_name && r.checksum == latest.checksum && !r.is_applied())
        .filter(|r| key(r) == wanted)
        .count()
}

/// The evidence for `name`'s file `sql`, with at most one trial run per migration and
/// file in a run: a deploy asks for the evidence in its rehearsal's plan and again in
/// its recovery, on the same unchanged production data (the deploy in between stopped
/// on the failed row), so the second gets the first's outcome. The same holds when the
/// migration fails again after its recovery: only files Prisma runs as one transaction
/// are tried, and a failed one left the data as it was. A trial on production is
/// bounded by `trial_max_rows` unless asked for with `--trial` (see `evidence/trial.rs`).
fn assess_once(ctx: &Ctx, target: &Target, name: &str, sql: &str) -> Result<Evidence, Failure> {
    let key = format!("{name} {}", migrations::checksum(sql.as_bytes()));
    let earlier = ctx
        .state
        .trials
        .borrow()
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, o)| o.downcast_ref::<TrialOutcome>())
        .cloned();
    let explicit = ctx.args.flag("trial");
    let trial = match earlier {
        Some(outcome) => Trial::Earlier(outcome),
        None if explicit => Trial::Run(TrialBounds::explicit()),
        None if ctx.config.database.trial_runs => {
            Trial::Run(TrialBounds { max_rows: Some(ctx.config.database.trial_max_rows), ..TrialBounds::default() })
        }
        None => Trial::Off,
    };
    let fresh = matches!(trial, Trial::Run(_));
    let ev = evidence::assess_trying(target, sql, &target.url.schema, trial)?;
    if let (true, Some(outcome)) = (fresh, &ev.trial) {
        ctx.state.trials.borrow_mut().push((key, Box::new(outcome.clone())));
    }
    Ok(ev)
}

/// A migration name must be on disk or in `_prisma_migrations`: otherwise a usage
/// error (exit 2) with the closest existing name.
pub(crate) fn known_migration(ctx: &Ctx, name: &str) -> Result<(), Failure> {
    let ledger = ctx.db.ledger()?;
    if ctx.db.migration_sql(name)?.is_file() || ledger.latest(name).is_some() {
        return Ok(());
    }
    let dir = ctx.db.migrations_dir()?;
    let local = migrations::read_dir(dir).unwrap_or_default();
    let mut names: Vec<&str> = local.iter().map(|l| l.name.as_str()).collect();
    for r in ledger.rows() {
        if !names.contains(&r.migration_name.as_str()) {
            names.push(&r.migration_name);
        }
    }
    let hint = match did_you_mean(name, names.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None if names.is_empty() => "there are no migrations at all".to_string(),
        None => {
            let newest: Vec<&str> = names.iter().rev().take(5).copied().collect();
            format!("the newest are: {}", newest.join(", "))
        }
    };
    Err(Failure::usage(format!("no migration `{name}` in {} or in _prisma_migrations: {hint}", dir.display())))
}

/// The object name in `type "x" already exists` / `relation "x" already exists`.
pub(crate) fn already_exists(message: &str) -> Option<String> {
    let rest = message.strip_suffix("already exists")?.trim_end();
    let start = rest.find('"')?;
    let end = rest.rfind('"')?;
    (end > start).then(|| rest[start + 1..end].to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    RolledBack,
    Applied,
}

impl Mark {
    pub(crate) fn flag(self) -> &'static str {
        match self {
            Mark::RolledBack => "--rolled-back",
            Mark::Applied => "--applied",
        }
    }

    pub(crate) fn word(self) -> &'static str {
        match self {
            Mark::RolledBack => "rolled-back",
            Mark::Applied => "applied",
        }
    }
}

/// Prisma can report success without changing anything (e.g. `--rolled-back` on a
/// name whose failed row was already rolled back): check the table, read again, says
/// what we asked.
fn verify_marked(ctx: &Ctx, name: &str, mark: Mark) -> Result<(), Failure> {
    let ledger = ctx.db.read_ledger(ctx.db.target()?)?;
    let mine: Vec<&Row> = ledger.rows().iter().filter(|r| r.migration_name == name).collect();
    let ok = match mark {
        Mark::RolledBack => !mine.is_empty() && !mine.iter().any(|r| r.is_failed()),
        Mark::Applied => mine.iter().any(|r| r.is_applied()) && !mine.iter().any(|r| r.is_failed()),
    };
    if ok {
        Ok(())
    } else {
        Err(Failure::task(format!(
            "Prisma reported success, but _prisma_migrations does not show `{name}` as {}: check it with `{}`",
            mark.word(),
            crate::invocation::cmd("status")
        )))
    }
}

/// Gets a yes: `--yes`, or an answer on the terminal. Without either, refuses
/// rather than hang.
pub(crate) fn confirm(ctx: &Ctx, question: &str) -> Result<(), Failure> {
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

/// Runs `prisma migrate resolve`, records the resolution (with the evidence it
/// rests on and `overrode`, the verdict a `--force` went against) and checks that
/// `_prisma_migrations` shows the mark ([`verify_marked`]).
pub(crate) fn mark_migration(
    ctx: &mut Ctx,
    name: &str,
    mark: Mark,
    reason: &str,
    evidence: Option<&Assessment>,
    overrode: Option<Verdict>,
) -> Result<(), Failure> {
    // Checked before the resolve is announced: a run that lost its lock resolves nothing.
    crate::audit::check_lock(ctx, Some(&format!("resolving `{name}`")))?;
    crate::audit::record(
        ctx,
        "resolve-start",
        serde_json::json!({ "migration": name, "as": mark.word(), "reason": reason }),
    )?;
    let out = prisma::run(ctx, &["migrate", "resolve", mark.flag(), name])?;
    if !out.success() {
        let p = prisma::problem(&out.combined());
        return Err(Failure::new(p.exit(), prisma::explain(p, Some(name))));
    }
    ctx.ui.event(&format!("marked `{name}` as {}", mark.word()));
    let resolution =
        Resolution { migration: name.to_string(), as_: mark.word().to_string(), reason: reason.to_string() };
    let logged = crate::audit::record(
        ctx,
        "resolve",
        serde_json::json!({
            "migration": name,
            "as": mark.word(),
            "reason": reason,
            "evidence": evidence.map(Assessment::to_json),
            "forced": overrode.is_some(),
            "overrode_verdict": overrode,
        }),
    );
    ctx.state.resolutions.push(resolution);
    logged?;
    verify_marked(ctx, name, mark)
}
/// How a database error behaves when the same SQL runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// Lock or statement timeout, deadlock, serialization failure, lost connection,
    /// server shutting down or out of resources: the same file can succeed next time.
    Transient,
    /// An object it creates already exists: fails again while that object is there.
    AlreadyExists,
    /// The data does not fit (unique, check, not-null, foreign key, bad values).
    Data,
    /// The database rejects the SQL itself (syntax, undefined object or column...).
    Sql,
    /// Another SQLSTATE: nothing suggests that running it again changes anything.
    Other,
}

/// The class of a SQLSTATE (its first two characters, with the exceptions that matter).
pub(crate) fn error_class(sqlstate: &str) -> ErrorClass {
    match sqlstate {
        "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03" => ErrorClass::Transient,
        c if c.starts_with("08") || c.starts_with("53") => ErrorClass::Transient,
        "42710" | "42P07" | "42P06" | "42723" | "42701" | "42P04" | "42712" => ErrorClass::AlreadyExists,
        c if c.starts_with("23") || c.starts_with("22") => ErrorClass::Data,
        "42501" => ErrorClass::Other,
        c if c.starts_with("42") || c.starts_with("0A") || c.starts_with("3F") => ErrorClass::Sql,
        _ => ErrorClass::Other,
    }
}

/// Why running this migration again, unchanged, would fail the same way, as what to
/// fix; `None` when a retry can succeed: the file changed since the failed attempt,
/// the error was transient, the object that "already exists" is gone, or the logs
/// carry no error to judge by.
pub(crate) fn unchanged_blocker(a: &Assessment) -> Option<String> {
    let row = a.recorded.as_ref().filter(|r| !r.is_applied())?;
    if !a.unchanged {
        return None;
    }
    let err = row.error();
    let again = if a.attempts >= 2 { format!(" ({} times with this same file)", a.attempts) } else { String::new() };
    let Some(code) = err.code.as_deref() else {
        // Logs that hold an error the table does not know: quoted, never retried blind.
        let logged = err.message.as_deref()?;
        return Some(format!(
            "migration.sql of `{}` is unchanged since the failed attempt{again}, and Prisma logged an error the tool cannot classify: \"{logged}\": fix migration.sql (or the rows) first",
            a.migration
        ));
    };
    let detail = row
        .logs
        .as_deref()
        .and_then(|l| l.lines().find_map(|x| x.split_once("DETAIL:").map(|(_, d)| d.trim().to_string())))
        .filter(|d| !d.is_empty())
        .map(|d| format!("; {d}"))
        .unwrap_or_default();
    let what = err.describe();
    let fix = match error_class(code) {
        // A cause that can pass by itself, seen once: the same file may succeed now.
        ErrorClass::Transient if a.attempts < 2 => return None,
        ErrorClass::Transient => format!(
            "it can pass by itself ({what}), but it did not{again}: remove its cause before running it again \
             (the session holding the lock or running long, in pg_stat_activity; a quieter time; a longer lock_timeout in migration.sql), \
             or restore the backup"
        ),
        ErrorClass::AlreadyExists => match &a.pre_existing {
            Some((_, Some(false))) => return None,
            Some((obj, _)) => format!(
                "`{obj}` still exists and migration.sql creates it again ({what}): make migration.sql skip it \
                 (IF NOT EXISTS, or a DO block that catches duplicate_object), or drop `{obj}` if nothing needs it"
            ),
            None => format!("the object in the error still exists ({what}): make migration.sql skip it, or drop it"),
        },
        ErrorClass::Data => format!(
            "the data does not fit what the migration adds ({what}{detail}): fix migration.sql (or the rows) first \
             (a DEFAULT or a backfill before NOT NULL, remove the duplicates, clean the orphans or bad values)"
        ),
        ErrorClass::Sql => format!("the database rejects migration.sql itself ({what}): fix migration.sql first"),
        ErrorClass::Other => format!("{what}: fix migration.sql (or the rows) first"),
    };
    Some(format!(
        "migration.sql of `{}` is unchanged since the failed attempt{again}, so it would fail the same way: {fix}",
        a.migration
    ))
}

/// What a deploy may do about its one failed migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Resolve it with this mark, then deploy once more.
    Resolve(Mark),
    /// Stop without resolving; `show_evidence` when the lists of what is and is not
    /// in the database are what a person repairing it by hand starts from.
    Stop { why: String, show_evidence: bool },
}

/// The one recovery decision, asked by `deploy` and by its rehearsal: the policy
/// (`recover`, `allow`, `if_applied`), the evidence, and never a retry that cannot
/// succeed (an unchanged file after a deterministic error).
pub(crate) fn decide(ctx: &Ctx, a: &Assessment) -> Decision {
    let stop = |why: String| Decision::Stop { why, show_evidence: false };
    let name = &a.migration;
    if ctx.task.recover == Recover::Stop {
        return stop("the policy is recover = \"stop\": nothing was resolved automatically".into());
    }
    if ctx.task.allow.as_ref().is_some_and(|allowed| !allowed.iter().any(|n| n == name)) {
        return stop(format!("`{name}` is not in this task's allow list: nothing was resolved automatically"));
    }
    let mark = match a.verdict() {
        Some(Verdict::NotApplied) => Mark::RolledBack,
        Some(Verdict::Applied) if ctx.task.if_applied == IfApplied::MarkApplied => Mark::Applied,
        Some(Verdict::Applied) => {
            return stop(format!(
                "its changes are in the database ({}), so it must not run again; the policy is if_applied = \"stop\"",
                a.summary()
            ))
        }
        _ => {
            return Decision::Stop {
                why: format!("the database does not show that rolling back is safe: {}", a.summary()),
                show_evidence: true,
            }
        }
    };
    if mark == Mark::RolledBack && unchanged_blocker(a).is_some() {
        // Only an error that can pass by itself, seen once, earns the same file another run.
        return stop(
            "migration.sql is unchanged since the failed attempt and its error does not pass by itself (what to fix: below); nothing was resolved, nothing was retried"
                .into(),
        );
    }
    Decision::Resolve(mark)
}

/// `cargo xtask TASK ARG` (as invoked) for this config's task of a built-in kind, if it has one.
pub(crate) fn task_command(ctx: &Ctx, kind: BuiltinKind, arg: Option<&str>) -> Option<String> {
    let own = (ctx.task.action == Action::Uses(kind)).then_some(ctx.task);
    let task = own.or_else(|| ctx.config.tasks.iter().find(|t| t.action == Action::Uses(kind)))?;
    Some(match arg {
        Some(a) => crate::invocation::cmd(&format!("{} {a}", task.name)),
        None => crate::invocation::cmd(&task.name),
    })
}

fn resolve_command(ctx: &Ctx, mark: Mark, name: &str) -> String {
    let kind = match mark {
        Mark::RolledBack => BuiltinKind::ResolveRolledBack,
        Mark::Applied => BuiltinKind::ResolveApplied,
    };
    task_command(ctx, kind, Some(name))
        .unwrap_or_else(|| prisma::shown(ctx, &["migrate", "resolve", mark.flag(), name]))
}

fn deploy_command(ctx: &Ctx) -> String {
    task_command(ctx, BuiltinKind::PrismaDeploy, None).unwrap_or_else(|| prisma::shown(ctx, &["migrate", "deploy"]))
}

pub(crate) fn diagnose_command(ctx: &Ctx, name: &str) -> String {
    task_command(ctx, BuiltinKind::Diagnose, Some(name))
        .unwrap_or_else(|| "the evidence check again (a task with uses = \"diagnose\")".to_string())
}

/// The next steps, in order, for a migration in the state `a` describes: the one
/// answer that `deploy`'s stop and `diagnose` both give, with this config's task names.
pub(crate) fn next_steps(ctx: &Ctx, a: &Assessment) -> Vec<String> {
    let name = a.migration.as_str();
    let deploy = deploy_command(ctx);
    let Some(row) = &a.recorded else {
        return vec![format!(
            "nothing to resolve: `{name}` is not recorded in _prisma_migrations; {deploy} applies it"
        )];
    };
    if row.is_applied() {
        return vec![format!("nothing to resolve: `{name}` is already recorded as applied")];
    }
    let blocker = unchanged_blocker(a);
    if !row.is_failed() {
        // Marked rolled back: deploy runs it again.
        return match blocker {
            Some(b) => vec![format!("first: {b}"), format!("then: {deploy}")],
            None => vec![format!("nothing to resolve: `{name}` is marked rolled back; {deploy} runs it again")],
        };
    }
    if a.evidence.is_none() {
        let why = a.note.as_deref().unwrap_or("its migration.sql cannot be read");
        return vec![
            format!("restore its migration.sql from version control ({why})"),
            format!("then: {}", diagnose_command(ctx, name)),
        ];
    }
    match a.verdict() {
        Some(Verdict::Applied) => vec![
            format!("{}   # its changes are in the database", resolve_command(ctx, Mark::Applied, name)),
            format!("then: {deploy}"),
        ],
        Some(Verdict::NotApplied) => {
            // The comment says what the evidence showed, and nothing more.
            let seen = match &a.evidence {
                Some(e) if e.safe_to_rerun() => "safe to run again, whether or not it ran",
                _ => "none of its changes are in the database",
            };
            match blocker {
                Some(b) => vec![
                    format!("first: {b}"),
                    format!("then: {}   # {seen}", resolve_command(ctx, Mark::RolledBack, name)),
                    format!("then: {deploy}"),
                ],
                None => vec![
                    format!("{}   # {seen}", resolve_command(ctx, Mark::RolledBack, name)),
                    format!("then: {deploy}"),
                ],
            }
        }
        Some(Verdict::Partial) => vec![
            "repair by hand to all or nothing (what is and is not there is listed above): neither resolve is safe now"
                .to_string(),
            format!("then run diagnose again: {}", diagnose_command(ctx, name)),
        ],
        _ => vec![
            "check by hand whether its changes are in the database (the analyser cannot tell), then one of:"
                .to_string(),
            format!(
                "{}   # they are NOT there (fix migration.sql first)",
                resolve_command(ctx, Mark::RolledBack, name)
            ),
            format!("{}   # they ARE there", resolve_command(ctx, Mark::Applied, name)),
            format!("then: {deploy}"),
        ],
    }
}

/// The next steps after a Prisma failure that is not a failed migration: the cause's
/// own fix, then the deploy.
pub(crate) fn problem_steps(ctx: &Ctx, problem: Problem) -> Vec<String> {
    let url_env =
        crate::db::url_var(ctx.config).map_or_else(|| ctx.config.database.url_env.join(" or "), |(n, _)| n.to_string());
    let config = ctx.config.path.display();
    let fix = match problem {
        Problem::Unreachable => format!("start the database server, or fix the host and port in {url_env}"),
        Problem::Authentication => format!("fix the user and password in {url_env}"),
        Problem::NoDatabase => format!("create the database, or fix its name in {url_env}"),
        Problem::Timeout => {
            "wait until the other migration holding Prisma's lock is done (it is not a failed migration)".into()
        }
        Problem::SchemaError => match &ctx.config.prisma.schema {
            Some(s) if !crate::config::prisma_schema::is_schema(s) => format!("{} does not exist: fix [prisma] schema in {config}", s.display()),
            Some(s) => format!("fix the schema {} (Prisma's message above names the problem)", s.display()),
            None => format!("set [prisma] schema in {config} to your schema.prisma"),
        },
        Problem::CliMissing => format!(
            "install the app's Prisma CLI: run `{}` in {} (the package runner must not download another version)",
            crate::packages::install_advice(&ctx.config.prisma.cwd),
            ctx.config.prisma.cwd.display()
        ),
        _ => "Prisma's output above names the cause: fix it (the preflight, `--dry-run`, checks the schema, the migrations, the Prisma CLI and the database)".into(),
    };
    vec![format!("first: {fix}"), format!("then: {}", deploy_command(ctx))]
}

/// Stops the run with a diagnosis: completes it with this run's backup, prints it,
/// keeps it for the reports, and gives back `failure`, the run's error.
pub(crate) fn stop_diagnosed(ctx: &mut Ctx, diagnosis: Diagnosis, failure: Failure) -> Failure {
    let d = Diagnosis { backup: ctx.state.backup.as_ref().map(|b| b.path.clone()), ..diagnosis };
    for (i, line) in diagnosis_lines(&d).iter().enumerate() {
        if i == 0 {
            ctx.ui.event(&format!("diagnosis: {line}"));
        } else {
            ctx.ui.event(&format!("  {line}"));
        }
    }
    ctx.state.diagnosis = Some(d);
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_classed_by_whether_a_retry_can_succeed() {
        for c in ["55P03", "57014", "40P01", "40001", "08006", "08P01", "53100"] {
            assert_eq!(error_class(c), ErrorClass::Transient, "{c}");
        }
        for c in ["42710", "42P07", "42701"] {
            assert_eq!(error_class(c), ErrorClass::AlreadyExists, "{c}");
        }
        for c in ["23505", "23514", "23502", "23503", "22P02"] {
            assert_eq!(error_class(c), ErrorClass::Data, "{c}");
        }
        for c in ["42601", "42703", "42P01"] {
            assert_eq!(error_class(c), ErrorClass::Sql, "{c}");
        }
        assert_eq!(error_class("42501"), ErrorClass::Other);
        assert_eq!(error_class("XX000"), ErrorClass::Other);
    }

    fn assessment(logs: &str, unchanged: bool, pre_existing: Option<(String, Option<bool>)>) -> Assessment {
        Assessment {
            migration: "2_m".into(),
            evidence: None,
            note: None,
            recorded: Some(Row {
                id: "r".into(),
                checksum: "c".into(),
                migration_name: "2_m".into(),
                started_at: "2026-02-21T05:34:04.000Z".into(),
                finished_at: None,
                rolled_back_at: None,
                logs: Some(logs.into()),
                applied_steps_count: 0,
            }),
            unchanged,
            pre_existing,
            attempts: 1,
        }
    }

    #[test]
    fn only_an_unchanged_file_with_a_lasting_cause_is_blocked() {
        let exists = "Database error code: 42710\nERROR: type \"s\" already exists\n";
        let still = Some(("s".to_string(), Some(true)));
        let gone = Some(("s".to_string(), Some(false)));
        let b = unchanged_blocker(&assessment(exists, true, still.clone())).unwrap();
        assert!(b.contains("unchanged since the failed attempt") && b.contains("`s` still exists"), "{b}");
        assert!(unchanged_blocker(&assessment(exists, false, still)).is_none(), "a changed file gets its retry");
        assert!(unchanged_blocker(&assessment(exists, true, gone)).is_none(), "the cause is gone");
        let timeout = "Database error code: 55P03\nERROR: canceling statement due to lock timeout\n";
        assert!(unchanged_blocker(&assessment(timeout, true, None)).is_none(), "transient");
        let dup = "Database error code: 23505\nERROR: could not create unique index \"u\"\nDETAIL: Key (d)=(x) is duplicated.\n";
        let b = unchanged_blocker(&assessment(dup, true, None)).unwrap();
        assert!(
            b.contains("the data does not fit") && b.contains("\"u\"") && b.contains("Key (d)=(x) is duplicated"),
            "{b}"
        );
        assert!(unchanged_blocker(&assessment("", true, None)).is_none(), "no error to judge by");
    }

    /// Issue 19: Prisma's own words (Wasm engine) are an error like any other; an
    /// unknown text is quoted and stops; a transient error seen twice stops too.
    #[test]
    fn only_an_error_that_passes_by_itself_earns_an_unchanged_file_a_retry() {
        let null = "external connector error\nNull constraint failed: \n   0: sql_schema_connector::apply_migration::apply_script\n";
        let b = unchanged_blocker(&assessment(null, true, None)).unwrap();
        assert!(b.contains("fix migration.sql (or the rows) first") && b.contains("23502"), "{b}");
        let odd = "external connector error\nSomething nobody has seen before\n";
        let b = unchanged_blocker(&assessment(odd, true, None)).unwrap();
        assert!(
            b.contains("\"Something nobody has seen before\"") && b.contains("fix migration.sql (or the rows) first"),
            "{b}"
        );
        let timeout = "Database error code: 55P03\nERROR: canceling statement due to lock timeout\n";
        let mut twice = assessment(timeout, true, None);
        twice.attempts = 2;
        let b = unchanged_blocker(&twice).unwrap();
        assert!(b.contains("2 times with this same file") && b.contains("restore the backup"), "{b}");
        assert!(unchanged_blocker(&assessment(timeout, true, None)).is_none(), "seen once: retried");
    }

    #[test]
    fn same_failures_count_attempts_of_the_same_file_and_error() {
        let row = |id: &str, checksum: &str, rolled_back: bool, logs: &str| Row {
            id: id.into(),
            checksum: checksum.into(),
            migration_name: "2_m".into(),
            started_at: "2026-02-21T05:34:04.000Z".into(),
            finished_at: None,
            rolled_back_at: rolled_back.then(|| "2026-02-21T05:35:00.000Z".into()),
            logs: Some(logs.into()),
            applied_steps_count: 0,
        };
        let null = "Null constraint failed: ";
        let rows = [
            row("1", "a", true, null),
            row("2", "b", true, null),
            row("3", "a", true, "Unique constraint failed: (x)"),
            row("4", "a", false, null),
        ];
        assert_eq!(same_failures(&rows, &rows[3]), 2);
    }
}
