//! Rehearsing a deploy before production: the pending migrations (and the
//! recovery of a failed one, when the policy would do it) run first on a scratch
//! copy of production's schema (or of the backup just taken), so a migration that
//! would fail in production fails on the copy instead and production is never
//! touched. The copy is dropped in every case.
//!
//! The copy is migrated without starting Prisma (about a second of Node per call,
//! the bulk of a deploy): each pending `migration.sql` is sent whole as one simple
//! query, which PostgreSQL runs as one implicit transaction, the way Prisma's
//! schema engine sends it, and `_prisma_migrations` gets the rows Prisma writes
//! (started, then finished or failed with the error in `logs`).

use std::path::Path;
use std::time::Instant;

use xshell::cmd;

use crate::config::{BuiltinKind, Config, Rehearse, Task};
use crate::context::{Ctx, Diagnosis, RehearsalRecord, RunDb};
use crate::db::psql::{self, Psql, Rows};
use crate::db::{admin, Target};
use crate::dump::parallel::{self, Archive};
use crate::dump::restore;
use crate::exit::{Exit, Failure};
use crate::interrupt::{self, Interrupts};
use crate::migrations::{self, DbError, Local, Row};
use crate::proc;
use crate::recovery::{decide, evidence_for, stop_diagnosed, Decision, Mark};
use crate::room::Room;
use crate::scratch::{self, Found, Scratch};
use crate::ui::Ui;

const INFIX: &str = "_rehearsal_";

fn mode_word(m: Rehearse) -> &'static str {
    match m {
        Rehearse::Schema => "schema",
        Rehearse::Full => "full",
        Rehearse::Off => "off",
    }
}

/// The scratch database's name, `<database>_rehearsal_<run id>`, and the prefix
/// that recognises a leftover (the database name is shortened to fit 63 bytes).
pub(crate) fn scratch_names(database: &str, run_id: &str) -> (String, String) {
    let run: String =
        run_id.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let budget = 63usize.saturating_sub(INFIX.len() + run.len());
    let mut base = String::new();
    for c in database.chars() {
        if base.len() + c.len_utf8() > budget {
            break;
        }
        base.push(c);
    }
    let prefix = format!("{base}{INFIX}");
    (format!("{prefix}{run}"), prefix)
}

fn where_words(config: &Config) -> String {
    match &config.rehearsal.url_env {
        Some(env) => format!("on the scratch server in ${env}"),
        None => "on production's server".into(),
    }
}

/// Checked before the first task: an explicit `rehearse = "schema"|"full"`, or a
/// configured `[rehearsal] url_env`, that cannot run is a configuration error
/// (exit 2), so nothing (not even the backup) runs.
pub(crate) fn preflight(db: &RunDb, order: &[&str], ui: &Ui) -> Result<(), Failure> {
    let config = db.config();
    let deploys: Vec<&Task> = order
        .iter()
        .filter_map(|n| config.task(n))
        .filter(|t| t.action == crate::config::Action::Uses(BuiltinKind::PrismaDeploy))
        .collect();
    for task in deploys {
        let explicit = matches!(task.rehearse, Some(Rehearse::Schema | Rehearse::Full));
        let configured_server = task.rehearse.is_none() && config.rehearsal.url_env.is_some();
        if !(explicit || configured_server) {
            continue;
        }
        let (role, may) = admin::may_create_databases(db.scratch_server()?)?;
        if !may {
            let how = match &config.rehearsal.url_env {
                Some(env) => format!("grant it CREATEDB on the server in ${env} (ALTER ROLE \"{role}\" CREATEDB) or point {env} at a server where it may"),
                None => format!("grant it CREATEDB (ALTER ROLE \"{role}\" CREATEDB), or set [rehearsal] url_env to a scratch server where it may, or set rehearse = \"off\""),
            };
            return Err(Failure::usage(format!(
                "task `{}` rehearses its migrations ({}) {}, but role `{role}` may not create databases there: {how}; nothing ran",
                task.name,
                mode_word(task.rehearse.unwrap_or(Rehearse::Schema)),
                where_words(config),
            )));
        }
        if task.rehearse == Some(Rehearse::Full) {
            let room = crate::room::check(db.target()?, db.scratch_server()?, config.rehearsal.url_env.is_none())?;
            if let Room::Short { .. } = room {
                return Err(Failure::task(format!(
                    "{}: a full copy of production would leave that disk nearly full (a full disk stops the server); free space there, point [rehearsal] url_env at a server with room, or set rehearse = \"schema\" on task `{}`; nothing ran",
                    room.line().trim_start_matches("rehearsal: "),
                    task.name
                )));
            }
            ui.event(&room.line());
        }
    }
    Ok(())
}

/// The rehearsal's steps for `--dry-run`.
pub(crate) fn describe(ctx: &Ctx) -> Vec<String> {
    let mode = ctx.task.rehearse.unwrap_or(Rehearse::Schema);
    if mode == Rehearse::Off {
        return vec!["no rehearsal (rehearse = \"off\"): production is migrated directly".into()];
    }
    let database = crate::db::url_var(ctx.config)
        .and_then(|(_, raw)| crate::db::url::parse(&raw, None).ok())
        .map(|u| u.database)
        .unwrap_or_else(|| "<database>".into());
    let (_, prefix) = scratch_names(&database, "");
    let name = format!("{prefix}<run id>");
    let copy = match mode {
        Rehearse::Full => "copy production: restore this run's backup (pg_dump --no-owner --no-privileges without one)",
        _ => "copy production's schema: pg_dump --schema-only --no-owner --no-privileges --format=custom (in memory), restored by pg_restore --jobs=N (N: a quarter of the server's free connections, at most 4), then the rows of _prisma_migrations; with N = 1 or fewer than 100 index and foreign-key builds, a plain dump restored with psql --single-transaction",
    };
    vec![
        format!(
            "rehearse first (rehearse = \"{}\"), {}{}:",
            mode_word(mode),
            where_words(ctx.config),
            if ctx.task.rehearse.is_none() { "; skipped with a note if the role may not create databases" } else { "" }
        ),
        format!("  take this run's advisory lock; drop scratch databases of runs that died ({prefix}* marked by this tool, their run's lock free; others are named and left alone)"),
        format!("  CREATE DATABASE \"{name}\", marked as this run's (COMMENT ON DATABASE)"),
        format!("  {copy}"),
        "  a failed migration the policy would recover: the same evidence check and mark, on the copy".into(),
        "  each pending migration.sql sent whole as one query (one implicit transaction, as Prisma's engine does), recorded in the copy's _prisma_migrations".into(),
        "  a failure on the copy stops the deploy here (exit 4): production is not touched".into(),
        format!("  DROP DATABASE \"{name}\" WITH (FORCE), in every case; after a pass, by a psql of its own that takes this run's lock over and may outlive the run (the deploy does not wait for the DROP)"),
    ]
}

/// What the production ledger says the deploy will do.
enum Plan {
    /// The deploy will not change production (or cannot be rehearsed): why.
    Skip(String),
    /// Recover this failed row first, with the mark the deploy's decision chose (and
    /// the evidence's summary), then apply these.
    Run { recover: Option<Box<(Row, Mark, String)>>, pending: Vec<Local> },
}

fn plan(ctx: &Ctx, production: &Target, survey: &Survey) -> Result<Plan, Failure> {
    let local = migrations::read_dir(ctx.db.migrations_dir()?)?;
    // Production's ledger, as the survey read it: the evidence checks earlier
    // attempts in it without reading it again.
    let ledger = ctx.db.remember_ledger(survey.ledger.clone());
    let Some(rows) = &ledger.table else {
        // Prisma refuses a non-empty schema without a ledger (P3005): nothing to rehearse.
        if survey.objects > 0 {
            return Ok(Plan::Skip(
                "production has no _prisma_migrations but its schema is not empty: Prisma refuses that (P3005) without changing it".into(),
            ));
        }
        return Ok(Plan::Run { recover: None, pending: local });
    };
    let failed: Vec<&Row> = rows.iter().filter(|r| r.is_failed()).collect();
    let recover = match failed.as_slice() {
        [] => None,
        [one] => {
            // The deploy's own decision, on production's evidence (read-only): a
            // failed migration the deploy will not resolve is not rehearsed.
            let name = &one.migration_name;
            let evidence = evidence_for(ctx, production, one)?;
            match decide(ctx, &evidence) {
                Decision::Resolve(mark) => Some(Box::new(((*one).clone(), mark, evidence.summary()))),
                Decision::Stop { why, .. } => {
                    return Ok(Plan::Skip(format!(
                        "`{name}` is recorded as failed and the deploy will not recover it ({why}): it stops on it without changing production"
                    )))
                }
            }
        }
        many => {
            return Ok(Plan::Skip(format!(
                "{} migrations are recorded as failed: the deploy stops on them without changing production",
                many.len()
            )))
        }
    };
    let pending: Vec<Local> =
        local.into_iter().filter(|l| !rows.iter().any(|r| r.migration_name == l.name && r.is_applied())).collect();
    if recover.is_none() && pending.is_empty() {
        return Ok(Plan::Skip("no pending migrations".into()));
    }
    Ok(Plan::Run { recover, pending })
}

/// What the rehearsal needs to know before it copies anything.
struct Survey {
    /// The role on the scratch server, and whether it may create databases there.
    role: String,
    may_create: bool,
    /// Databases named like scratch databases (the prefix): dead leftovers of
    /// this tool's killed runs, live ones of other runs, and others' databases.
    leftovers: Vec<Found>,
    /// Production's `_prisma_migrations`; `None` when it has none.
    ledger: Option<Vec<Row>>,
    /// The same rows as `VALUES` tuples with their exact values, for the copy.
    ledger_values: Vec<String>,
    /// Objects in production's schema (what matters without a ledger).
    objects: i64,
    /// Connections the role may still open on the scratch server (the server's and
    /// the role's limits, less the sessions there now): the restore takes a share.
    free_connections: i64,
    /// What a restore can run side by side, in the whole database (pg_dump copies
    /// every schema): its indexes (primary keys and unique constraints included)
    /// and foreign keys.
    builds: i64,
}

/// The scratch server's side of the survey: role, CREATEDB, databases named
/// like scratch databases (with their marks and their runs' locks), and the
/// connections left for this role: `max_connections` less the slots reserved
/// for superusers (and, from PostgreSQL 16, `reserved_connections`) and the
/// client sessions open now; or, lower, the role's `CONNECTION LIMIT` less its
/// own sessions. (Every role sees every session's row in pg_stat_activity.)
fn server_sql() -> String {
    format!(
        "SELECT current_user, (SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user)::text, {}, {};\n",
        scratch::SWEEP_SQL,
        FREE_CONNECTIONS_SQL
    )
}

const FREE_CONNECTIONS_SQL: &str = "(SELECT least( \
       current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int \
         - coalesce(current_setting('reserved_connections', true)::int, 0) \
         - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), \
       CASE WHEN r.rolconnlimit < 0 THEN 2147483647 \
            ELSE r.rolconnlimit - (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user AND backend_type = 'client backend') END) \
     FROM pg_roles r WHERE r.rolname = current_user)::text";

/// Reads everything the rehearsal decides on in one psql start (two when the
/// scratch server is not production's): the role's right to create databases
/// and the leftovers on the scratch server, production's ledger (also as exact
/// values for the copy, DateStyle ISO so that any server reads them back) and,
/// for a database without a ledger, how many objects its schema has.
fn survey(production: &Target, server: &Target, same_server: bool, prefix: &str) -> Result<Survey, Failure> {
    // One read-only transaction: DateStyle is set for it alone (`SET LOCAL`), so that
    // nothing outlives it on a pooled server connection.
    let ledger_sql = format!(
        r#"
BEGIN READ ONLY;
SELECT to_regclass(format('%I._prisma_migrations', :'schema')) IS NOT NULL AS present \gset
SELECT :'present', (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :'schema')::text,
       ((SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('i', 'I') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema')
        + (SELECT count(*) FROM pg_constraint WHERE contype = 'f'))::text;
\if :present
SET LOCAL datestyle TO ISO;
SELECT {}, format('(%L, %L, %L, %L, %L, %L, %L, %s)', id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
  FROM :"schema"._prisma_migrations
 ORDER BY started_at, migration_name;
\endif
COMMIT;
"#,
        migrations::LEDGER_COLUMNS
    );
    let schema = production.url.schema.as_str();
    let vars = [("schema", schema), ("p", prefix)];
    let (server_row, ledger_rows) = if same_server {
        let mut rows = production.query(&format!("{}{ledger_sql}", server_sql()), &vars)?;
        let rest = rows.split_off(1.min(rows.len()));
        (rows.pop().unwrap_or_default(), rest)
    } else {
        let mut rows = server.query(&server_sql(), &vars)?;
        (rows.pop().unwrap_or_default(), production.query(&ledger_sql, &vars)?)
    };
    let [role, may, leftovers, free] = psql::columns::<4>(server_row)?;
    let leftovers = scratch::parse_found(leftovers.as_deref())?;
    let mut rows = ledger_rows.into_iter();
    let [present, objects, builds] = psql::columns::<3>(rows.next().unwrap_or_default())?;
    let (mut ledger, mut ledger_values) = (None, Vec::new());
    if present.as_deref() == Some("t") {
        let mut read = Vec::with_capacity(rows.len());
        for r in rows {
            let [id, checksum, name, started, finished, rolled_back, logs, steps, values] = psql::columns::<9>(r)?;
            read.extend(migrations::row_from([id, checksum, name, started, finished, rolled_back, logs, steps]));
            ledger_values.extend(values);
        }
        ledger = Some(read);
    }
    Ok(Survey {
        role: role.unwrap_or_default(),
        may_create: may.as_deref() == Some("true"),
        leftovers,
        ledger,
        ledger_values,
        objects: objects.and_then(|c| c.parse().ok()).unwrap_or(0),
        free_connections: free.and_then(|c| c.parse().ok()).unwrap_or(0),
        builds: builds.and_then(|c| c.parse().ok()).unwrap_or(0),
    })
}

/// Rehearses the deploy on a scratch copy. `Ok` lets the deploy go on to production
/// (passed, or skipped with a note); a failure on the copy stops it with exit 4
/// and a diagnosis, before production is touched.
/// Returns the scratch database of a passed rehearsal, still alive: the caller hands
/// its DROP to a session of its own ([`Scratch::drop_detached`]: PostgreSQL 15's DROP
/// DATABASE waits for a checkpoint and removes every file of the copy, seconds on a
/// durable server, which nothing after it needs to wait for). Dropping the value
/// drops the database here, before its run's lock is freed.
pub(crate) fn rehearse<'a>(ctx: &mut Ctx<'a>, production: &Target) -> Result<Option<Scratch<'a>>, Failure> {
    let mode = match ctx.task.rehearse {
        Some(Rehearse::Off) => return Ok(None),
        Some(m) => m,
        None => Rehearse::Schema,
    };
    let t0 = Instant::now();
    let mut rec = RehearsalRecord {
        mode: mode_word(mode).into(),
        server_env: ctx.config.rehearsal.url_env.clone(),
        ..RehearsalRecord::default()
    };
    // From here to the end a Ctrl-C or SIGTERM stops the running step at once,
    // the scratch database is dropped, and the run exits 130 or 143.
    let interrupts = Interrupts::catch();
    let result = rehearse_into(ctx, production, mode, &mut rec);
    let (result, scratch) = match result {
        Ok(scratch) => (Ok(()), scratch),
        Err(f) => (Err(f), None),
    };
    let result = match (result, interrupts.received()) {
        (Err(_), Some(sig)) | (Ok(()), Some(sig)) => {
            rec.outcome = "interrupted".into();
            Err(interrupted(sig))
        }
        (result, None) => result,
    };
    rec.seconds = t0.elapsed().as_secs_f64();
    if let Err(f) = &result {
        if rec.outcome.is_empty() {
            rec.outcome = "failed".into();
            rec.note.get_or_insert_with(|| ctx.ui.redact(&f.message));
        }
    }
    let line = match rec.outcome.as_str() {
        "passed" => format!(
            "rehearsal: passed in {:.2}s: {} pending migration{} applied on a copy of production{}; the scratch database is dropped by a session of its own, which may outlive this run",
            rec.seconds,
            rec.applied.len(),
            if rec.applied.len() == 1 { "" } else { "s" },
            rec.recovered.as_ref().map(|r| format!(" after recovering {r}")).unwrap_or_default()
        ),
        "skipped" => format!("rehearsal: skipped: {}", rec.note.as_deref().unwrap_or("")),
        other => format!("rehearsal: {other} after {:.2}s; production was not changed", rec.seconds),
    };
    ctx.ui.event(&line);
    let logged = crate::audit::record(ctx, "rehearsal", serde_json::to_value(&rec).unwrap_or_default());
    ctx.state.rehearsal = Some(rec);
    // The rehearsal's own failure first; a passed one without its line stops here
    // (returning drops the scratch database at once, as on every failure).
    result.and(logged).map(|()| scratch)
}

fn rehearse_into<'a>(
    ctx: &mut Ctx<'a>,
    production: &Target,
    mode: Rehearse,
    rec: &mut RehearsalRecord,
) -> Result<Option<Scratch<'a>>, Failure> {
    let explicit = ctx.task.rehearse.is_some();
    let server = ctx.db.scratch_server()?.clone();
    let (name, prefix) = scratch_names(&production.url.database, crate::audit::run_id());
    let survey = survey(production, &server, ctx.config.rehearsal.url_env.is_none(), &prefix)?;
    if !explicit && ctx.config.rehearsal.url_env.is_none() && !survey.may_create {
        let role = &survey.role;
        rec.outcome = "skipped".into();
        rec.note = Some(format!(
            "role `{role}` may not create databases, so there is no scratch copy to rehearse on; to rehearse, grant it CREATEDB (ALTER ROLE \"{role}\" CREATEDB) or set [rehearsal] url_env to a scratch server; rehearse = \"off\" silences this"
        ));
        return Ok(None);
    }
    let (recover, pending) = match plan(ctx, production, &survey)? {
        Plan::Skip(why) => {
            scratch::sweep(&server, ctx.ui, &survey.leftovers);
            rec.outcome = "skipped".into();
            rec.note = Some(why);
            return Ok(None);
        }
        Plan::Run { recover, pending } => (recover, pending),
    };

    let stop_if_interrupted = |rec: &mut RehearsalRecord| match interrupt::received() {
        Some(sig) => {
            rec.outcome = "interrupted".into();
            Err(interrupted(sig))
        }
        None => Ok(()),
    };
    let jobs = if mode == Rehearse::Schema { parallel::jobs_for(survey.free_connections, survey.builds) } else { 1 };
    ctx.ui.event(&format!(
        "rehearsal: copying production ({}) into scratch database `{name}` {}{}",
        if mode == Rehearse::Full { "schema and data" } else { "schema and _prisma_migrations" },
        where_words(ctx.config),
        if jobs > 1 { format!(", restored over {jobs} connections") } else { String::new() }
    ));
    // pg_dump reads production while the scratch database is made (different
    // servers' work, or the same server's different databases): neither waits.
    let (dumped, created) = std::thread::scope(|s| {
        let (ui, has_backup) = (ctx.ui, ctx.state.backup.is_some());
        let dumping = s.spawn(move || source(ui, production, mode, has_backup, jobs));
        // The run's lock first: from the moment the database exists, another
        // run's sweep sees its mark and this run's lock, and leaves it alone.
        let created = scratch::hold(&server, crate::audit::run_id()).and_then(|alive| {
            scratch::sweep(&server, ui, &survey.leftovers);
            scratch::create(&server, &name, alive, ui)
        });
        (dumping.join().unwrap_or_else(|_| Err(Failure::task("the rehearsal's pg_dump thread panicked"))), created)
    });
    let scratch = created;
    stop_if_interrupted(rec)?;
    let scratch = scratch?;
    rec.database = Some(scratch.name().to_string());
    let copy = server.with_database(&name);
    stop_if_interrupted(rec)?;
    let copied = dumped.and_then(|source| copy_production(ctx, &copy, source, &survey));
    stop_if_interrupted(rec)?;
    // The ledger's rows, when the restore could not carry them: written first
    // thing in the copy's next session (the recovery's mark, or the migrations').
    let mut ledger = copied?;

    let mut pending = pending;
    if let Some((row, mark, summary)) = recover.map(|r| *r) {
        let failed = row.migration_name.clone();
        ctx.ui.event(&format!("rehearsal: marking `{failed}` {} on the copy ({summary})", mark.word()));
        let checksum = pending.iter().find(|l| l.name == failed).map(|l| l.checksum.as_str());
        mark_on_copy(&copy, &std::mem::take(&mut ledger), &failed, mark, checksum)?;
        if mark == Mark::Applied {
            pending.retain(|l| l.name != failed);
        }
        rec.recovered = Some(format!("`{failed}` as {}", mark.word()));
    }

    let applied = apply_pending(ctx.ui, &copy, &ledger, &pending);
    stop_if_interrupted(rec)?;
    let outcome = applied?;
    rec.applied = outcome.applied;
    if let Some((migration, error)) = outcome.failed {
        rec.outcome = "failed".into();
        rec.failed = Some(migration.clone());
        let earlier = created_earlier(production, &error, &rec.applied, &pending);
        let failure = stop(ctx, &migration, &error, &name, earlier);
        drop(scratch);
        return Err(failure);
    }
    rec.outcome = "passed".into();
    Ok(Some(scratch))
}

/// The rehearsal's failure after a signal (exit 128 + the signal).
fn interrupted(sig: i32) -> Failure {
    interrupt::failure(
        sig,
        "the rehearsal was stopped, its scratch database dropped and production not changed; run the deploy again",
    )
}

/// What restores production into the copy.
enum Source {
    /// This run's backup ("full").
    Backup,
    /// A plain dump in memory (the schema only, or everything with "full" and no
    /// backup), restored by psql in one transaction.
    Plain(String),
    /// The schema as a custom-format archive in memory, restored by pg_restore
    /// over this many connections.
    Archive(Archive, usize),
}

/// Dumps what the copy is made from: nothing with "full" and a backup; the schema
/// as an archive for a parallel restore when `jobs` > 1 (and the kernel can hold
/// it in memory); else a plain pg_dump to memory.
fn source(ui: &Ui, production: &Target, mode: Rehearse, has_backup: bool, jobs: usize) -> Result<Source, Failure> {
    if mode == Rehearse::Full && has_backup {
        return Ok(Source::Backup);
    }
    if mode == Rehearse::Schema && jobs > 1 {
        if let Some(archive) = Archive::new() {
            parallel::dump_schema(ui, production, &archive)?;
            return Ok(Source::Archive(archive, jobs));
        }
    }
    dump(ui, production, mode == Rehearse::Schema).map(Source::Plain)
}

/// The ledger's rows (as surveyed) for the copy's `_prisma_migrations`, with
/// "schema" (with "full" the data carries them); empty when there are none.
fn ledger_insert(ctx: &Ctx, copy: &Target, survey: &Survey) -> String {
    let schema_only = ctx.task.rehearse.unwrap_or(Rehearse::Schema) == Rehearse::Schema;
    if !schema_only || survey.ledger_values.is_empty() {
        return String::new();
    }
    let table = format!("{}.\"_prisma_migrations\"", crate::db::sql::quote_ident(&copy.url.schema));
    format!(
        "INSERT INTO {table} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES\n{};\n",
        survey.ledger_values.join(",\n")
    )
}

/// Copies production into the scratch database: the schema dump and the ledger's
/// rows (as surveyed) or, with "full", this run's backup (or a full dump without one).
/// Returns the ledger's rows still to write (after a parallel restore, which
/// cannot take them: the copy's next session writes them).
fn copy_production(ctx: &Ctx, copy: &Target, source: Source, survey: &Survey) -> Result<String, Failure> {
    let mut script = match source {
        Source::Backup => {
            let backup = ctx.state.backup.as_ref().map(|b| Path::new(&b.path)).unwrap_or(Path::new(""));
            return restore::restore_into(ctx.ui, copy, backup, restore::format_of(backup)?)
                .map(|()| String::new())
                .map_err(|f| {
                    Failure::new(
                        f.exit,
                        format!("the rehearsal could not restore the backup into its scratch database: {}", f.message),
                    )
                });
        }
        Source::Archive(archive, jobs) => {
            return parallel::restore(ctx.ui, copy, &archive, jobs).map(|()| ledger_insert(ctx, copy, survey)).map_err(
                |f| {
                    Failure::new(
                        f.exit,
                        format!(
                            "the rehearsal could not copy production's schema into its scratch database: {}",
                            f.message
                        ),
                    )
                },
            );
        }
        Source::Plain(script) => script,
    };
    script.push('\n');
    script.push_str(&ledger_insert(ctx, copy, survey));
    // The copy is thrown away: its commit need not wait for the WAL to reach the disk.
    script.insert_str(0, "SET synchronous_commit TO off;\n");
    let cmd = copy.psql(&Psql { stop_on_error: true, single_transaction: true, ..Psql::default() })?;
    let out = proc::run_with_input(cmd, &script)?;
    if !out.success() {
        let f = copy.failure("psql", &out.stderr);
        return Err(Failure::new(
            f.exit,
            format!("the rehearsal could not copy production's schema into its scratch database: {}", f.message),
        ));
    }
    Ok(String::new())
}

/// `pg_dump` to memory: the schema only, or everything.
fn dump(ui: &Ui, production: &Target, schema_only: bool) -> Result<String, Failure> {
    let sh = production.shell()?;
    let pg_dump = crate::pgbin::program(&sh, "pg_dump");
    let schema = schema_only.then_some("--schema-only");
    let url = &production.url.libpq;
    let cmd = cmd!(sh, "{pg_dump} --no-password --no-owner --no-privileges {schema...} -d {url}");
    let out = proc::run_quiet(ui, cmd.into())?;
    if !out.success() {
        return Err(production.failure("pg_dump", &out.stderr));
    }
    Ok(out.stdout)
}

/// What `prisma migrate resolve` writes, on the copy: `--rolled-back` sets
/// `rolled_back_at` on the failed row; `--applied` also records a finished row.
/// `ledger`: the ledger's rows still to write, first.
fn mark_on_copy(copy: &Target, ledger: &str, name: &str, mark: Mark, checksum: Option<&str>) -> Result<(), Failure> {
    let mut sql = String::from(ledger);
    sql.push_str(
        "UPDATE :\"s\"._prisma_migrations SET rolled_back_at = now() \
         WHERE migration_name = :'n' AND finished_at IS NULL AND rolled_back_at IS NULL;\n",
    );
    if mark == Mark::Applied {
        sql.push_str(
            "INSERT INTO :\"s\"._prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count) \
             VALUES (:'id', :'c', :'n', now(), now(), 0);\n",
        );
    }
    let id = row_id(name, 0);
    copy.query(
        &sql,
        &[("s", copy.url.schema.as_str()), ("n", name), ("c", checksum.unwrap_or("")), ("id", id.as_str())],
    )
    .map(|_| ())
}

/// An id shaped like the UUIDs Prisma writes, unique per run and migration.
fn row_id(name: &str, index: usize) -> String {
    use sha2::Digest;
    let seed =
        format!("{}/{name}/{index}/{}", crate::audit::run_id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0));
    let h = migrations::hex(&sha2::Sha256::digest(seed.as_bytes()));
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

struct Applied {
    applied: Vec<String>,
    /// The migration that failed and its database error.
    failed: Option<(String, DbError)>,
}

/// Applies the pending migrations to the copy in one psql session, stopping at
/// the first failure. Each file is sent whole as one simple query (`\gexec` of a
/// dollar-quoted literal), so PostgreSQL runs it as one implicit transaction unless
/// the file itself says BEGIN/COMMIT: what Prisma's engine does with it. Around it,
/// the ledger rows Prisma writes: started, then finished or failed with the error.
/// `ledger`: the ledger's rows still to write, first.
fn apply_pending(ui: &Ui, copy: &Target, ledger: &str, pending: &[Local]) -> Result<Applied, Failure> {
    if pending.is_empty() {
        return Ok(Applied { applied: Vec::new(), failed: None });
    }
    // `synchronous_commit` off: the copy is thrown away, so its commits (three per
    // migration) need not wait for the WAL to reach the disk; what a migration does
    // and how it fails are the same.
    let mut script = String::from(
        "\\set SHOW_CONTEXT never\nSET search_path TO :\"s\";\nSET synchronous_commit TO off;\n\
         CREATE TABLE IF NOT EXISTS :\"s\"._prisma_migrations (id VARCHAR(36) PRIMARY KEY NOT NULL, checksum VARCHAR(64) NOT NULL, \
         finished_at TIMESTAMPTZ, migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ, \
         started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0);\n\
         \\if :ERROR\nSELECT 'xtask-ledger', :'LAST_ERROR_MESSAGE';\n\\q\n\\endif\n",
    );
    if !ledger.is_empty() {
        script.push_str(ledger);
        script.push_str("\\if :ERROR\nSELECT 'xtask-ledger', :'LAST_ERROR_MESSAGE';\n\\q\n\\endif\n");
    }
    let mut vars: Vec<(String, String)> = Vec::new();
    for (i, m) in pending.iter().enumerate() {
        let sql = std::fs::read_to_string(&m.sql_path)
            .map_err(|e| Failure::task(format!("cannot read {}: {e}", m.sql_path.display())))?;
        let mut tag = format!("xtask_{i}");
        while sql.contains(&format!("${tag}$")) {
            tag.push('x');
        }
        vars.push((format!("n{i}"), m.name.clone()));
        vars.push((format!("c{i}"), m.checksum.clone()));
        vars.push((format!("i{i}"), row_id(&m.name, i + 1)));
        script.push_str(&format!(
            "INSERT INTO :\"s\"._prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) \
             VALUES (:'i{i}', :'c{i}', :'n{i}', now(), 0);\n\
             \\if :ERROR\nSELECT 'xtask-ledger', :'LAST_ERROR_MESSAGE';\n\\q\n\\endif\n\
             \\o /dev/null\nSELECT ${tag}${sql}${tag}$ \\gexec\n\\o\n\
             \\if :ERROR\n\
             UPDATE :\"s\"._prisma_migrations SET logs = 'Database error code: ' || :'LAST_ERROR_SQLSTATE' || E'\\n\\nDatabase error:\\nERROR: ' || :'LAST_ERROR_MESSAGE' WHERE id = :'i{i}';\n\
             SELECT 'xtask-failed', :'n{i}', :'LAST_ERROR_SQLSTATE', :'LAST_ERROR_MESSAGE';\n\\q\n\\endif\n\
             UPDATE :\"s\"._prisma_migrations SET finished_at = now(), applied_steps_count = 1 WHERE id = :'i{i}';\n\
             SELECT 'xtask-applied', :'n{i}';\n"
        ));
    }
    // No ON_ERROR_STOP: the script handles its errors itself (`\if :ERROR`).
    let vars: Vec<(&str, &str)> = std::iter::once(("s", copy.url.schema.as_str()))
        .chain(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    let cmd = copy.psql(&Psql { rows: Rows::Csv, vars: &vars, ..Psql::default() })?;
    let out = proc::run_with_input(cmd, &script)?;
    let mut result = Applied { applied: Vec::new(), failed: None };
    for row in psql::parse_csv(&out.stdout) {
        let cell = |i: usize| row.get(i).cloned().flatten();
        match cell(0).as_deref() {
            Some("xtask-applied") => {
                let m = cell(1).unwrap_or_default();
                ui.event(&format!("rehearsal: `{m}` applied on the copy"));
                result.applied.push(m);
            }
            Some("xtask-failed") => {
                let error = DbError { code: cell(2), message: cell(3) };
                result.failed = Some((cell(1).unwrap_or_default(), error));
            }
            Some("xtask-ledger") => {
                return Err(Failure::task(format!(
                    "the rehearsal could not write _prisma_migrations on its copy: {}",
                    cell(1).unwrap_or_default()
                )))
            }
            _ => {}
        }
    }
    if result.failed.is_none() && result.applied.len() != pending.len() {
        let f = copy.failure("psql", &out.stderr);
        return Err(Failure::new(
            f.exit,
            format!("the rehearsal stopped before its migrations were applied: {}", f.message),
        ));
    }
    Ok(result)
}

/// Stops the deploy on a migration that failed on the copy: the diagnosis (it
/// happened in the rehearsal; the migration, the database error, what to fix).
fn stop(ctx: &mut Ctx, migration: &str, error: &DbError, scratch: &str, earlier: Option<String>) -> Failure {
    let file = ctx.db.migration_sql(migration).ok();
    let file = file.map(|f| f.display().to_string()).unwrap_or_else(|| format!("{migration}/migration.sql"));
    let fix = match earlier {
        Some(m) => format!(
            "production does not have it: the earlier pending migration `{m}` of this same deploy creates it ({}); create it in one of the two files only (or guard it: IF NOT EXISTS, or a DO block catching duplicate_object)",
            error.message.as_deref().unwrap_or("")
        ),
        None => what_to_fix(error),
    };
    let diagnosis = Diagnosis {
        summary: format!(
            "rehearsal: migration `{migration}` failed on a copy of production (scratch database `{scratch}`, now dropped); production was not changed and has no row for it"
        ),
        migration: Some(migration.to_string()),
        started_at: None,
        error_code: error.code.clone(),
        error_message: error.message.clone(),
        next_commands: vec![
            format!("edit {file}   # {fix}"),
            format!("{}   # rehearses the fixed file, then deploys", crate::invocation::cmd(&ctx.task.name)),
        ],
        ..Diagnosis::default()
    };
    let message = format!(
        "the rehearsal stopped the deploy: `{migration}` fails on a copy of production ({}); production was not changed",
        error.describe()
    );
    stop_diagnosed(ctx, diagnosis, Failure::new(Exit::MigrationFailed, message))
}

/// For an "already exists" failure on the copy: the earlier pending migration of
/// this deploy that creates the object, when production itself does not have it (a
/// read-only catalog query): then production is not to blame.
fn created_earlier(production: &Target, error: &DbError, applied: &[String], pending: &[Local]) -> Option<String> {
    let object = crate::recovery::already_exists(error.message.as_deref()?)?;
    let in_production = production
        .query(
            "SELECT EXISTS (SELECT 1 FROM pg_type WHERE typname = :'o') OR EXISTS (SELECT 1 FROM pg_class WHERE relname = :'o') \
             OR EXISTS (SELECT 1 FROM pg_constraint WHERE conname = :'o') OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = :'o') \
             OR EXISTS (SELECT 1 FROM pg_proc WHERE proname = :'o');\n",
            &[("o", object.as_str())],
        )
        .ok()?;
    if in_production.first().and_then(|r| r.first().cloned().flatten()).as_deref() != Some("f") {
        return None;
    }
    pending.iter().filter(|l| applied.contains(&l.name)).rev().find_map(|l| {
        let sql = std::fs::read_to_string(&l.sql_path).ok()?;
        let tokens = crate::evidence::lexer::tokenize(&sql);
        let names = |t: &crate::evidence::lexer::Token| match &t.tok {
            crate::evidence::lexer::Tok::Quoted(q) => *q == object,
            crate::evidence::lexer::Tok::Word(w) => w.eq_ignore_ascii_case(&object),
            _ => false,
        };
        let creates = crate::evidence::lexer::split_statements(&tokens)
            .iter()
            .any(|st| st.first().is_some_and(|t| t.is_word("create")) && st.iter().any(names));
        creates.then(|| l.name.clone())
    })
}

/// What to change in the migration, by SQLSTATE.
fn what_to_fix(error: &DbError) -> String {
    let msg = error.message.as_deref().unwrap_or("");
    match error.code.as_deref().unwrap_or("") {
        "42710" | "42P07" | "42701" | "42P06" | "42723" => format!(
            "production already has what the migration creates ({msg}): drop that statement or make it tolerate the object (IF NOT EXISTS, or a DO block catching duplicate_object)"
        ),
        "42704" | "42P01" | "42703" | "3F000" => {
            format!("production lacks what the migration expects ({msg}): its schema has drifted from the migration history")
        }
        "23505" => format!("production's rows break a unique constraint ({msg}): remove the duplicates first (a data step before the index)"),
        "23502" => format!("production has rows the NOT NULL change rejects ({msg}): add a DEFAULT or fill the column first"),
        "23503" => format!("production's rows break a foreign key ({msg}): fix the orphaned rows first"),
        "42601" => format!("the SQL does not parse ({msg})"),
        _ => "make the migration succeed against production's schema as the error says".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_fit_postgres_identifiers_and_share_a_prefix() {
        let (name, prefix) = scratch_names("school", "20260221T053404.123Z-4242");
        assert_eq!(name, "school_rehearsal_20260221t053404_123z_4242");
        assert_eq!(prefix, "school_rehearsal_");
        let long = "d".repeat(80);
        let (name, prefix) = scratch_names(&long, "20260221T053404.123Z-4242");
        assert!(name.len() <= 63 && name.starts_with(&prefix), "{name}");
        let (name, _) = scratch_names("écoleécoleécoleécoleécoleécoleécole", "20260221T053404.123Z-4242");
        assert!(name.len() <= 63, "{name}");
    }

    #[test]
    fn ids_look_like_prisma_uuids() {
        let id = row_id("m", 1);
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, row_id("m", 2));
    }

    #[test]
    fn advice_follows_the_sqlstate() {
        let e = DbError { code: Some("42710".into()), message: Some("type \"x\" already exists".into()) };
        assert!(what_to_fix(&e).contains("IF NOT EXISTS"));
        let e = DbError { code: Some("23505".into()), message: None };
        assert!(what_to_fix(&e).contains("duplicates"));
    }
}
