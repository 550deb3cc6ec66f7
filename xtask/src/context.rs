//! What the tasks of one run share: the options of the run, the target task's
//! arguments, the run's database (worked out once, on first need), the records of
//! what happened (backup, Prisma calls, resolutions, diagnosis) and the context a
//! task runs in. Every layer above the database uses these types; the executor
//! (`runner`) only fills them.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{BackupFormat, Config, Task};
use crate::db::lock::RunLock;
use crate::db::{self, Target};
use crate::exit::{Exit, Failure};
use crate::migrations::{self, Row};
use crate::ui::Ui;

/// Flags that change how a run behaves (not how it looks).
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOptions {
    pub dry_run: bool,
    /// Answer confirmation prompts with yes.
    pub yes: bool,
    /// How long to wait for the deploy lock; `None` waits without limit.
    pub lock_timeout: Option<Duration>,
    /// Fail at once when the deploy lock is taken.
    pub no_wait: bool,
}

/// Values of the command-line arguments given to the target task. Flags are
/// present with the value "true".
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskArgs(pub BTreeMap<String, String>);

impl TaskArgs {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub(crate) fn flag(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| v == "true")
    }
}

/// The backup written during this run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BackupRecord {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub format: BackupFormat,
    pub seconds: f64,
}

/// One call of the Prisma CLI.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PrismaCall {
    /// The command, secrets masked, as configured.
    pub command: String,
    /// The file that ran instead of the configured runner (`npx prisma` started
    /// the project's `node_modules/.bin/prisma` directly); absent when the command
    /// ran as configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    pub exit_code: Option<i32>,
    pub seconds: f64,
}

/// A migration this run marked with `prisma migrate resolve`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Resolution {
    pub migration: String,
    /// "rolled-back" or "applied".
    #[serde(rename = "as")]
    pub as_: String,
    pub reason: String,
}

/// The rehearsal of a deploy on a scratch copy of production.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct RehearsalRecord {
    /// "schema" or "full".
    pub mode: String,
    /// The scratch database (`None` when none was made).
    pub database: Option<String>,
    /// The environment variable naming the scratch server; `None`: production's server.
    pub server_env: Option<String>,
    /// "passed", "failed", "skipped" (could not or need not run) or "interrupted".
    pub outcome: String,
    pub seconds: f64,
    /// The pending migrations that applied on the copy, in order.
    pub applied: Vec<String>,
    /// The migration that failed on the copy.
    pub failed: Option<String>,
    /// The failed migration recovered on the copy first, and how ("rolled-back", "applied").
    pub recovered: Option<String>,
    /// Why it was skipped, or what else to know.
    pub note: Option<String>,
    /// The data checks of production's rows run after it (see `datacheck`):
    /// `{on, seconds, checks: [...], not_needed: [...], not_checked: [...]}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_checks: Option<serde_json::Value>,
}

/// What is known about a failure that stopped the run, for people and reports.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Diagnosis {
    pub summary: String,
    pub migration: Option<String>,
    pub started_at: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub backup: Option<String>,
    pub next_commands: Vec<String>,
    /// What the evidence said of the failed migration (`not_applied`,
    /// `safe_to_rerun`, `applied`, `partial`, `unknown`); absent without evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

/// How one task of the run ended.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TaskRecord {
    pub name: String,
    pub outcome: &'static str,
    pub seconds: f64,
    pub error: Option<String>,
}

impl TaskRecord {
    /// A task that did its job.
    pub(crate) fn success(name: &str, took: std::time::Duration) -> TaskRecord {
        TaskRecord { name: name.to_string(), outcome: "success", seconds: took.as_secs_f64(), error: None }
    }

    /// A task the run never started, because an earlier step stopped it.
    pub(crate) fn skipped(name: &str) -> TaskRecord {
        TaskRecord { name: name.to_string(), outcome: "skipped", seconds: 0.0, error: None }
    }
}

/// What a fleet run adds to the report: its `fleet` summary, its `targets` array
/// (docs/fleet-report-v1.schema.json) and their Markdown summary.
#[derive(Debug, Clone, Default)]
pub(crate) struct FleetRecord {
    pub fleet: serde_json::Value,
    pub targets: serde_json::Value,
    pub markdown: String,
}

/// State shared by the tasks of one invocation (the deploy reads what the backup wrote).
#[derive(Default)]
pub(crate) struct RunState {
    pub tasks: Vec<TaskRecord>,
    pub backup: Option<BackupRecord>,
    pub prisma_calls: Vec<PrismaCall>,
    pub resolutions: Vec<Resolution>,
    pub diagnosis: Option<Diagnosis>,
    pub rehearsal: Option<RehearsalRecord>,
    /// A fleet run's or merge's own report parts.
    pub fleet: Option<FleetRecord>,
    /// Resources held until the end of the run (e.g. the deploy lock's connection).
    pub held: Vec<Box<dyn std::any::Any>>,
    /// The deploy lock, when the run holds one: checked between steps.
    pub lock: Option<Box<dyn RunLock>>,
    /// What ran since the lock was last confirmed held (for the message if it was lost).
    pub since_check: Vec<String>,
    /// The evidence's trial runs of this run, by migration name and checksum of its
    /// file, so that none runs twice (`recovery::evidence_for`). Each value is an
    /// `evidence::TrialOutcome`, boxed because this module sits above the evidence in
    /// the layer order.
    /// A `RefCell`: the evidence is asked for through a shared `&Ctx`.
    pub trials: std::cell::RefCell<Vec<(String, Box<dyn std::any::Any>)>>,
}

impl RunState {
    /// Notes a step that ran, for the message should the lock turn out lost.
    pub(crate) fn ran(&mut self, step: String) {
        if self.lock.is_some() {
            self.since_check.push(step);
        }
    }

    /// Confirms the run still holds its lock before `next` runs (or after the last
    /// step when `next` is `None`). A lost lock stops the run (exit 5) with what
    /// ran without it; the lock is then dropped so nothing checks it again.
    pub(crate) fn check_lock(&mut self, next: Option<&str>) -> Result<(), Failure> {
        let Some(lock) = self.lock.as_mut() else {
            return Ok(());
        };
        match lock.still_held() {
            Ok(()) => {
                self.since_check.clear();
                Ok(())
            }
            Err(why) => {
                let unreachable = lock.unreachable();
                self.lock = None;
                let ran = std::mem::take(&mut self.since_check);
                let unprotected = if ran.is_empty() {
                    "nothing ran since it was last confirmed".to_string()
                } else {
                    format!("these ran without it, while another deploy could have run too: {}", ran.join("; "))
                };
                let stopped = match next {
                    Some(n) => format!("stopped before {n}"),
                    None => "stopped".to_string(),
                };
                if let Some(cause) = unreachable {
                    // The server went away (stopped, crashed, cut off): the lock went
                    // with it, but the cause to act on is the database (exit 3).
                    let unprotected =
                        unprotected.replace("while another deploy could have run too", "as the server went away");
                    return Err(Failure::new(
                        Exit::DatabaseUnreachable,
                        format!(
                            "the database server went away during the run ({cause}); {unprotected}; {stopped}: when it is back, check `{}`, then run the deploy again",
                            crate::invocation::cmd("status")
                        ),
                    ));
                }
                Err(Failure::new(
                    Exit::LockNotAcquired,
                    format!(
                        "the deploy lock was lost ({why}); {unprotected}; {stopped}: check `{}`, then run the deploy again",
                        crate::invocation::cmd("status")
                    ),
                ))
            }
        }
    }
}

/// The run's database, worked out once, when something first needs it (a run of
/// `run = [...]` tasks, or `--list`, never does, so they need no URL): the
/// production target, the rehearsal's scratch server, the migrations directory,
/// and `_prisma_migrations` as last read. Everything that changes the ledger
/// (a Prisma call) says so with [`RunDb::ledger_changed`]; the next read asks
/// the database again.
pub(crate) struct RunDb<'a> {
    config: &'a Config,
    ui: &'a Ui,
    target: OnceCell<Target>,
    scratch: OnceCell<Target>,
    ledger: RefCell<Option<Rc<Ledger>>>,
}

/// `_prisma_migrations` as read once.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// `None`: the database has no `_prisma_migrations` (Prisma never migrated it).
    pub table: Option<Vec<Row>>,
}

impl Ledger {
    /// The rows, oldest first (none without a table).
    pub(crate) fn rows(&self) -> &[Row] {
        self.table.as_deref().unwrap_or_default()
    }

    /// The migration's latest row (`None`: never recorded).
    pub(crate) fn latest(&self, name: &str) -> Option<&Row> {
        self.rows().iter().rev().find(|r| r.migration_name == name)
    }

    /// The migration a command acts on, with its latest row: the task's `name`
    /// argument, or else the one recorded as failed ([`migrations::named_or_failed`]).
    pub(crate) fn named_or_failed(&self, ctx: &Ctx) -> Result<Option<(String, Option<&Row>)>, Failure> {
        let name = migrations::named_or_failed(self.rows(), ctx.args.get("name"), &ctx.task.name)?;
        Ok(name.map(|n| {
            let row = self.latest(&n);
            (n, row)
        }))
    }
}

impl<'a> RunDb<'a> {
    /// Registers every configured database URL that is set as a secret with the UI
    /// (also for the output of `run` tasks); connects to nothing, requires nothing.
    pub(crate) fn new(config: &'a Config, ui: &'a Ui) -> RunDb<'a> {
        for var in config.database.url_env.iter().chain(&config.database.direct_url_env) {
            if let Ok(raw) = std::env::var(var) {
                db::mask_secrets(ui, &raw);
            }
        }
        RunDb { config, ui, target: OnceCell::new(), scratch: OnceCell::new(), ledger: RefCell::new(None) }
    }

    pub(crate) fn config(&self) -> &'a Config {
        self.config
    }

    /// The production database ([`Target::from_env`]), resolved on the first call.
    /// With fallbacks in `[database] url_env`, says once which variable it used.
    pub(crate) fn target(&self) -> Result<&Target, Failure> {
        if let Some(t) = self.target.get() {
            return Ok(t);
        }
        let target = Target::from_env(self.config)?;
        if let Some(line) = self.url_choice() {
            // A set direct_url_env serves the tool's own connections (Prisma keeps the list's).
            let direct = db::url_var(self.config).is_some_and(|(used, _)| used != target.env_name);
            let tool =
                if direct { format!("; the tool's own connections use {}", target.env_name) } else { String::new() };
            self.ui.event(&format!("{line}{tool}"));
        }
        Ok(self.target.get_or_init(|| target))
    }

    /// Which variable of a `[database] url_env` list the URL comes from, as one
    /// line; `None` for a single variable (nothing to choose).
    pub(crate) fn url_choice(&self) -> Option<String> {
        let names = &self.config.database.url_env;
        if names.len() < 2 {
            return None;
        }
        Some(match db::url_var(self.config) {
            Some((used, _)) => {
                let skipped: Vec<&str> = names.iter().map(String::as_str).take_while(|n| *n != used).collect();
                match skipped.as_slice() {
                    [] => format!("database URL from {used} (the first of {})", names.join(", ")),
                    s => format!("database URL from {used} ({} not set)", s.join(", ")),
                }
            }
            None => format!("database URL: none of {} is set", names.join(", ")),
        })
    }

    /// The server scratch databases go to: `[rehearsal] url_env`'s, or production's.
    pub(crate) fn scratch_server(&self) -> Result<&Target, Failure> {
        if let Some(t) = self.scratch.get() {
            return Ok(t);
        }
        let production = self.target()?;
        let Some(env) = &self.config.rehearsal.url_env else {
            return Ok(self.scratch.get_or_init(|| production.clone()));
        };
        let raw = std::env::var(env).unwrap_or_default();
        if raw.trim().is_empty() {
            return Err(Failure::usage(format!(
                "[rehearsal] url_env names {env}, which is not set: export it (postgresql://user:password@host:5432/postgres, a server where that role may create databases) or remove [rehearsal] from tasks.toml; nothing ran"
            )));
        }
        db::mask_secrets(self.ui, &raw);
        let schema_dir = self.config.prisma.schema.as_deref().and_then(|s| s.parent());
        let mut server = Target::from_url(env, &raw, schema_dir).map_err(|f| Failure::usage(f.message))?;
        // The copy keeps production's ledger schema, whatever the scratch URL says.
        server.url.schema = production.url.schema.clone();
        Ok(self.scratch.get_or_init(|| server))
    }

    /// The migrations directory from the config, or a message saying how to set it.
    pub(crate) fn migrations_dir(&self) -> Result<&'a Path, Failure> {
        self.config.prisma.migrations.as_deref().ok_or_else(|| {
            Failure::new(Exit::Usage, "no migrations directory: set [prisma] schema (the migrations sit beside it) or [prisma] migrations in tasks.toml")
        })
    }

    /// The `migration.sql` of a migration (whether or not it exists).
    pub(crate) fn migration_sql(&self, name: &str) -> Result<PathBuf, Failure> {
        Ok(self.migrations_dir()?.join(name).join("migration.sql"))
    }

    /// `_prisma_migrations`, read from production on the first call and after a change.
    pub(crate) fn ledger(&self) -> Result<Rc<Ledger>, Failure> {
        if let Some(l) = self.ledger.borrow().as_ref() {
            return Ok(Rc::clone(l));
        }
        self.read_ledger(self.target()?)
    }

    /// Reads `_prisma_migrations` now, through `via` (production, or a session of it).
    pub(crate) fn read_ledger(&self, via: &Target) -> Result<Rc<Ledger>, Failure> {
        let table = migrations::read_table(via)?;
        Ok(self.remember_ledger(table))
    }

    /// What a read-only built-in (`status`, `diagnose`) works through: one psql
    /// session of production whose transactions are read-only, and
    /// `_prisma_migrations` read on it (one process start, one connection).
    pub(crate) fn read_only(&self) -> Result<(Target, Rc<Ledger>), Failure> {
        let target = self.target()?;
        let session = target.with_read_only_session(&migrations::ledger_vars(target))?;
        let ledger = self.read_ledger(&session)?;
        Ok((session, ledger))
    }

    /// Keeps rows of production's `_prisma_migrations` read by another query.
    pub(crate) fn remember_ledger(&self, table: Option<Vec<Row>>) -> Rc<Ledger> {
        let ledger = Rc::new(Ledger { table });
        *self.ledger.borrow_mut() = Some(Rc::clone(&ledger));
        ledger
    }

    /// Something may have changed `_prisma_migrations`: the next read asks the database.
    pub(crate) fn ledger_changed(&self) {
        *self.ledger.borrow_mut() = None;
    }
}

/// Everything a task needs while it runs.
pub(crate) struct Ctx<'a> {
    pub config: &'a Config,
    /// The run's database (shared by every task of the run).
    pub db: &'a RunDb<'a>,
    pub task: &'a Task,
    pub args: &'a TaskArgs,
    pub ui: &'a Ui,
    pub opts: &'a RunOptions,
    pub state: &'a mut RunState,
}

/// The result of a whole run.
pub(crate) struct RunResult {
    pub exit: Exit,
    /// Why the run stopped (already masked); `lib` prints it, after the reports.
    pub failure: Option<Failure>,
    pub state: RunState,
    pub target: String,
    pub started: chrono::DateTime<chrono::Utc>,
    pub seconds: f64,
}

/// The diagnosis as lines: the summary, then labelled details, then the next steps
/// in order (indented). The printout and the GitHub annotation both use it.
pub(crate) fn diagnosis_lines(d: &Diagnosis) -> Vec<String> {
    let mut lines = vec![d.summary.clone()];
    if let Some(m) = &d.migration {
        lines.push(format!("migration: {m}"));
    }
    if let Some(s) = &d.started_at {
        lines.push(format!("started:   {s}"));
    }
    if d.error_code.is_some() || d.error_message.is_some() {
        lines.push(format!(
            "error:     {} {}",
            d.error_code.as_deref().unwrap_or("(no code)"),
            d.error_message.as_deref().unwrap_or("")
        ));
    }
    lines.push(format!("backup:    {}", d.backup.as_deref().unwrap_or("none taken in this run")));
    if !d.next_commands.is_empty() {
        lines.push("next:".into());
        lines.extend(d.next_commands.iter().map(|c| format!("  {c}")));
    }
    lines
}
