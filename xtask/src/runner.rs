//! The executor: runs the planned tasks in order, reports each start and end, and
//! stops at the first failure with the task's name and status.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::builtins;
use crate::config::{Action, Config, RunSpec, Task};
use crate::exit::Exit;
use crate::proc::{self, Cmd};
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

/// Why a task failed: a one-line cause with the next step, and the exit status.
#[derive(Debug, Clone)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure { exit, message: message.into() }
    }

    pub fn task(message: impl Into<String>) -> Failure {
        Failure::new(Exit::TaskFailed, message)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::task(format!("{e:#}"))
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

/// State shared by the tasks of one invocation (the deploy reads what the backup wrote).
#[derive(Default)]
pub struct RunState {
    pub tasks: Vec<TaskRecord>,
    pub backup: Option<BackupRecord>,
    pub prisma_calls: Vec<PrismaCall>,
    pub resolutions: Vec<Resolution>,
    pub diagnosis: Option<Diagnosis>,
    /// Resources held until the end of the run (e.g. the deploy lock's connection).
    pub held: Vec<Box<dyn std::any::Any>>,
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
    pub state: RunState,
    pub target: String,
    pub started: chrono::DateTime<chrono::Utc>,
    pub seconds: f64,
}

/// Runs `target` and its dependencies. `args` are the target's own arguments;
/// dependencies run with their defaults.
pub fn run(config: &Config, target: &str, args: &TaskArgs, opts: &RunOptions, ui: &Ui) -> RunResult {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let order = crate::plan::order(config, target);
    let mut state = RunState::default();
    let no_args = TaskArgs::default();

    if opts.dry_run {
        print_plan(config, target, &order, args, opts, ui, &mut state);
        return RunResult { exit: Exit::Success, state, target: target.into(), started, seconds: 0.0 };
    }

    ui.plan_started(order.len());
    let needs_lock = order.iter().any(|n| {
        matches!(config.task(n).map(|t| &t.action), Some(Action::Uses(b)) if builtins::needs_deploy_lock(b))
    });
    if needs_lock {
        match crate::lock::acquire(config, ui, opts) {
            Ok(lock) => state.held.push(Box::new(lock)),
            Err(f) => {
                ui.finish();
                let message = ui.redact(&f.message);
                eprintln!("{} {message}", console::style("error:").red().bold());
                ui.annotate_error("deploy lock", &message);
                for name in &order {
                    state.tasks.push(TaskRecord { name: name.to_string(), outcome: "skipped", seconds: 0.0, error: None });
                }
                return RunResult { exit: f.exit, state, target: target.into(), started, seconds: clock.elapsed().as_secs_f64() };
            }
        }
    }
    let mut exit = Exit::Success;
    for (i, name) in order.iter().enumerate() {
        let Some(task) = config.task(name) else { continue };
        let task_args = if *name == target { args } else { &no_args };
        ui.task_started(i + 1, order.len(), name);
        let t0 = Instant::now();
        let result = run_task(config, task, task_args, opts, ui, &mut state);
        let took = t0.elapsed();
        match result {
            Ok(()) => {
                ui.task_finished(name, took);
                state.tasks.push(TaskRecord {
                    name: name.to_string(),
                    outcome: "success",
                    seconds: took.as_secs_f64(),
                    error: None,
                });
            }
            Err(f) => {
                let message = ui.redact(&f.message);
                ui.task_failed(name, took, &message);
                state.tasks.push(TaskRecord {
                    name: name.to_string(),
                    outcome: "failed",
                    seconds: took.as_secs_f64(),
                    error: Some(message.clone()),
                });
                for skipped in &order[i + 1..] {
                    state.tasks.push(TaskRecord {
                        name: skipped.to_string(),
                        outcome: "skipped",
                        seconds: 0.0,
                        error: None,
                    });
                }
                ui.finish();
                eprintln!("{} task `{name}` failed: {message}", console::style("error:").red().bold());
                // In GitHub Actions the annotation carries the whole diagnosis.
                let annotation = match &state.diagnosis {
                    Some(d) => diagnosis_lines(d).join("\n"),
                    None => message.clone(),
                };
                ui.annotate_error(&format!("task {name} failed"), &annotation);
                exit = f.exit;
                break;
            }
        }
    }
    ui.finish();
    // Resources such as the deploy lock are released here, at the end of the run.
    state.held.clear();
    RunResult { exit, state, target: target.into(), started, seconds: clock.elapsed().as_secs_f64() }
}

/// The diagnosis as lines: the summary, then labelled details, then the commands
/// to choose from (indented). The printout and the GitHub annotation both use it.
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
        lines.push("next, choose one:".into());
        lines.extend(d.next_commands.iter().map(|c| format!("  {c}")));
    }
    lines
}

fn run_task(
    config: &Config,
    task: &Task,
    args: &TaskArgs,
    opts: &RunOptions,
    ui: &Ui,
    state: &mut RunState,
) -> Result<(), Failure> {
    match &task.action {
        Action::Run(spec) => {
            let cmd = run_command(task, spec, args);
            let out = proc::run(ui, &cmd).map_err(Failure::task)?;
            if out.success() {
                Ok(())
            } else {
                Err(Failure::task(format!("`{}` ended with {}", cmd.display(), proc::describe_status(&out.status))))
            }
        }
        Action::Uses(name) => {
            let Some(builtin) = builtins::find(name) else {
                return Err(Failure::new(Exit::Usage, format!("unknown built-in `{name}`")));
            };
            let mut ctx = Ctx { config, task, args, ui, opts, state };
            (builtin.run)(&mut ctx)
        }
    }
}

/// Builds the command of a `run` task. Argument values replace `{name}` inside
/// argv elements (no shell involved); a shell string gets them as "$1", "$2"...
pub fn run_command(task: &Task, spec: &RunSpec, args: &TaskArgs) -> Cmd {
    let values: Vec<(String, String)> = task
        .args
        .iter()
        .map(|a| {
            let v = args.get(&a.name).map(String::from).or_else(|| a.default.clone()).unwrap_or_default();
            (a.name.clone(), v)
        })
        .collect();
    let mut cmd = match spec {
        RunSpec::Argv(argv) => {
            let argv: Vec<String> = argv
                .iter()
                .map(|a| {
                    values.iter().fold(a.clone(), |acc, (k, v)| acc.replace(&format!("{{{k}}}"), v))
                })
                .collect();
            Cmd::new(argv[0].clone()).args(argv[1..].iter().cloned())
        }
        RunSpec::Shell(script) => Cmd::new("sh")
            .arg("-c")
            .arg(script.clone())
            .arg(task.name.clone())
            .args(values.into_iter().map(|(_, v)| v)),
    };
    for (k, v) in &task.env {
        cmd = cmd.env(k.clone(), v.clone());
    }
    cmd.cwd = Some(task.cwd.clone());
    cmd.inherit_stdin = true;
    cmd
}

fn print_plan(
    config: &Config,
    target: &str,
    order: &[&str],
    args: &TaskArgs,
    opts: &RunOptions,
    ui: &Ui,
    state: &mut RunState,
) {
    let no_args = TaskArgs::default();
    println!("plan for `{target}` ({} task{}), nothing will run:", order.len(), if order.len() == 1 { "" } else { "s" });
    for (i, name) in order.iter().enumerate() {
        let Some(task) = config.task(name) else { continue };
        let task_args = if *name == target { args } else { &no_args };
        let (kind, lines) = match &task.action {
            Action::Run(spec) => {
                let cmd = run_command(task, spec, task_args);
                ("run".to_string(), vec![cmd.display()])
            }
            Action::Uses(b) => {
                let lines = match builtins::find(b) {
                    Some(builtin) => {
                        let ctx = Ctx { config, task, args: task_args, ui, opts, state };
                        (builtin.describe)(&ctx)
                    }
                    None => vec![],
                };
                (format!("built-in {b}"), lines)
            }
        };
        println!("{:>3}. {name} ({kind})", i + 1);
        for l in lines {
            println!("       {}", ui.redact(&l));
        }
    }
}
