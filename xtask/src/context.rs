//! What the tasks of one run share: the options of the run, the target task's
//! arguments, the records of what happened (backup, Prisma calls, resolutions,
//! diagnosis) and the context a task runs in. Every layer above the leaves uses
//! these types; the executor (`runner`) only fills them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, Task};
use crate::exit::{Exit, Failure};
use crate::ui::Ui;

/// Flags that change how a run behaves (not how it looks).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
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
pub struct TaskArgs(pub BTreeMap<String, String>);

impl TaskArgs {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| v == "true")
    }
}

/// The backup written during this run.
#[derive(Debug, Clone, Serialize)]
pub struct BackupRecord {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub format: String,
    pub seconds: f64,
}

/// One call of the Prisma CLI.
#[derive(Debug, Clone, Serialize)]
pub struct PrismaCall {
    /// The command, secrets masked.
    pub command: String,
    pub exit_code: Option<i32>,
    pub seconds: f64,
}

/// A migration this run marked with `prisma migrate resolve`.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    pub migration: String,
    /// "rolled-back" or "applied".
    #[serde(rename = "as")]
    pub as_: String,
    pub reason: String,
}

/// The rehearsal of a deploy on a scratch copy of production.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RehearsalRecord {
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
}

/// What is known about a failure that stopped the run, for people and reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnosis {
    pub summary: String,
    pub migration: Option<String>,
    pub started_at: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub backup: Option<String>,
    pub next_commands: Vec<String>,
}

/// How one task of the run ended.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRecord {
    pub name: String,
    pub outcome: &'static str,
    pub seconds: f64,
    pub error: Option<String>,
}

impl TaskRecord {
    /// A task that did its job.
    pub fn success(name: &str, took: std::time::Duration) -> TaskRecord {
        TaskRecord { name: name.to_string(), outcome: "success", seconds: took.as_secs_f64(), error: None }
    }

    /// A task the run never started, because an earlier step stopped it.
    pub fn skipped(name: &str) -> TaskRecord {
        TaskRecord { name: name.to_string(), outcome: "skipped", seconds: 0.0, error: None }
    }
}

/// State shared by the tasks of one invocation (the deploy reads what the backup wrote).
#[derive(Default)]
pub struct RunState {
    pub tasks: Vec<TaskRecord>,
    pub backup: Option<BackupRecord>,
    pub prisma_calls: Vec<PrismaCall>,
    pub resolutions: Vec<Resolution>,
    pub diagnosis: Option<Diagnosis>,
    pub rehearsal: Option<RehearsalRecord>,
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
    pub trials: Vec<(String, Box<dyn std::any::Any>)>,
}

/// A lock held for the whole run that can be lost without this process noticing:
/// its session terminated (`pg_terminate_backend`, `idle_session_timeout`), or
/// the server failed over.
pub trait RunLock {
    /// `Ok` while it is still held; otherwise why it is not.
    fn still_held(&mut self) -> Result<(), String>;
}

impl RunState {
    /// Notes a step that ran, for the message should the lock turn out lost.
    pub fn ran(&mut self, step: String) {
        if self.lock.is_some() {
            self.since_check.push(step);
        }
    }

    /// Confirms the run still holds its lock before `next` runs (or after the last
    /// step when `next` is `None`). A lost lock stops the run (exit 5) with what
    /// ran without it; the lock is then dropped so nothing checks it again.
    pub fn check_lock(&mut self, next: Option<&str>) -> Result<(), Failure> {
        let Some(lock) = self.lock.as_mut() else {
            return Ok(());
        };
        match lock.still_held() {
            Ok(()) => {
                self.since_check.clear();
                Ok(())
            }
            Err(why) => {
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

/// Everything a task needs while it runs.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub task: &'a Task,
    pub args: &'a TaskArgs,
    pub ui: &'a Ui,
    pub opts: &'a RunOptions,
    pub state: &'a mut RunState,
}

/// The result of a whole run.
pub struct RunResult {
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
pub fn diagnosis_lines(d: &Diagnosis) -> Vec<String> {
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
