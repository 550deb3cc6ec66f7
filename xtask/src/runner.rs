//! The executor: runs the planned tasks in order, reports each start and end, and
//! stops at the first failure with the task's name and status.

use std::process::Command;
use std::time::Instant;

use xshell::cmd;

use crate::builtins;
use crate::config::{Action, Config, RunSpec, Task};
use crate::context::{diagnosis_lines, Ctx, RunDb, RunOptions, RunResult, RunState, TaskArgs, TaskRecord};
use crate::db::lock;
use crate::exit::{Exit, Failure};
use crate::preflight;
use crate::proc;
use crate::ui::Ui;

/// Runs `target` and its dependencies. `args` are the target's own arguments;
/// dependencies run with their defaults.
pub(crate) fn run(config: &Config, target: &str, args: &TaskArgs, opts: &RunOptions, ui: &Ui) -> RunResult {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let order = crate::plan::order(config, target);
    let mut state = RunState::default();
    let no_args = TaskArgs::default();
    // The database is worked out when a step first needs it, then shared.
    let db = RunDb::new(config, ui);

    let needs = preflight::needs(config, &order, target, args);
    if opts.dry_run {
        print_plan(&db, target, &order, args, opts, ui, &mut state);
        // The checks a real run would make first: what would fail, and its exit status.
        let mut exit = Exit::Success;
        if let Some(needs) = &needs {
            match preflight::check(&db, ui, needs) {
                Ok(passed) => outln!("{}", ui.redact(&passed.line)),
                Err(problems) => {
                    outln!("preflight would fail:");
                    for line in &problems.lines {
                        outln!("  {}", ui.redact(line));
                    }
                    exit = problems.exit;
                }
            }
        }
        return RunResult { exit, failure: None, state, target: target.into(), started, seconds: 0.0 };
    }

    ui.plan_started(order.len());
    if let Some(needs) = &needs {
        match preflight::check(&db, ui, needs) {
            Ok(passed) => ui.event(&passed.line),
            Err(problems) => {
                if problems.lines.len() > 1 {
                    for line in &problems.lines {
                        ui.event(&format!("preflight: {line}"));
                    }
                }
                // The annotation lists every problem: in GitHub it stands alone.
                let listed = problems.lines.join("\n");
                return nothing_ran(
                    problems.failure(),
                    Some(&listed),
                    "preflight",
                    &order,
                    ui,
                    state,
                    target,
                    started,
                    clock,
                );
            }
        }
    }
    let needs_lock = order
        .iter()
        .any(|n| matches!(config.task(n).map(|t| &t.action), Some(Action::Uses(kind)) if kind.needs_deploy_lock()));
    if needs_lock {
        match db.target().and_then(|t| lock::acquire(t, ui, opts.lock_timeout, opts.no_wait)) {
            Ok(lock) => state.lock = Some(Box::new(lock)),
            Err(f) => return nothing_ran(f, None, "deploy lock", &order, ui, state, target, started, clock),
        }
        // A rehearsal that was asked for and cannot run stops the run before the backup.
        if let Err(f) = crate::rehearsal::preflight(&db, &order, ui) {
            return nothing_ran(f, None, "rehearsal", &order, ui, state, target, started, clock);
        }
    }
    let mut exit = Exit::Success;
    let mut failure = None;
    for (i, name) in order.iter().enumerate() {
        let Some(task) = config.task(name) else {
            continue;
        };
        let task_args = if *name == target { args } else { &no_args };
        ui.task_started(i + 1, order.len(), name);
        let t0 = Instant::now();
        // A lock lost since the last step stops the run before this one.
        let result = state
            .check_lock(Some(&format!("task `{name}`")))
            .and_then(|()| run_task(&db, task, task_args, opts, ui, &mut state));
        state.ran(format!("task `{name}`"));
        let took = t0.elapsed();
        match result {
            Ok(()) => {
                ui.task_finished(name, took);
                state.tasks.push(TaskRecord::success(name, took));
            }
            Err(f) if f.exit == Exit::Pending => {
                // A state, not an error (`status` with migrations to deploy): the task
                // did its job; the run ends here with exit 6 and no error line.
                ui.task_finished(name, took);
                state.tasks.push(TaskRecord::success(name, took));
                state.tasks.extend(order[i + 1..].iter().map(|n| TaskRecord::skipped(n)));
                ui.finish();
                eprintln!("{name}: {}", ui.redact(&f.message));
                exit = f.exit;
                break;
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
                state.tasks.extend(order[i + 1..].iter().map(|n| TaskRecord::skipped(n)));
                ui.finish();
                // In GitHub Actions the annotation carries the whole diagnosis.
                let annotation = match &state.diagnosis {
                    Some(d) => diagnosis_lines(d).join("\n"),
                    None => message.clone(),
                };
                ui.annotate_error(&format!("task {name} failed"), &annotation);
                exit = f.exit;
                failure = Some(Failure::new(f.exit, format!("task `{name}` failed: {message}")));
                break;
            }
        }
    }
    ui.finish();
    // Resources such as the deploy lock are released here, at the end of the run.
    state.held.clear();
    state.lock = None;
    RunResult { exit, failure, state, target: target.into(), started, seconds: clock.elapsed().as_secs_f64() }
}

/// Ends a run that failed before its first task (preflight, deploy lock): the error
/// once, every task skipped.
#[allow(clippy::too_many_arguments)]
fn nothing_ran(
    f: Failure,
    annotation: Option<&str>,
    what: &str,
    order: &[&str],
    ui: &Ui,
    mut state: RunState,
    target: &str,
    started: chrono::DateTime<chrono::Utc>,
    clock: Instant,
) -> RunResult {
    ui.finish();
    let message = ui.redact(&f.message);
    ui.annotate_error(what, &ui.redact(annotation.unwrap_or(&message)));
    state.tasks.extend(order.iter().map(|n| TaskRecord::skipped(n)));
    // A lock taken before the check that failed is released now, not when the result goes.
    state.held.clear();
    state.lock = None;
    RunResult {
        exit: f.exit,
        failure: Some(Failure::new(f.exit, message)),
        state,
        target: target.into(),
        started,
        seconds: clock.elapsed().as_secs_f64(),
    }
}

fn run_task(
    db: &RunDb,
    task: &Task,
    args: &TaskArgs,
    opts: &RunOptions,
    ui: &Ui,
    state: &mut RunState,
) -> Result<(), Failure> {
    match &task.action {
        Action::Run(spec) => {
            let backup = state.backup.as_ref().map(|b| b.path.as_str());
            if backup.is_none() && uses_backup_path(spec) {
                return Err(Failure::usage(format!(
                    "task `{}` uses {BACKUP_PATH}, but no backup was taken earlier in this run: add the backup task to its `deps`",
                    task.name
                )));
            }
            let cmd = run_command(task, spec, args, backup)?;
            let shown = proc::display(&cmd);
            // A command of the user's may change `_prisma_migrations` (a script
            // that calls Prisma): the next built-in reads it again.
            db.ledger_changed();
            let out = proc::run_interactive(ui, cmd)?;
            if out.success() {
                Ok(())
            } else {
                Err(Failure::task(format!("`{shown}` ended with {}", proc::describe_status(&out.status))))
            }
        }
        Action::Uses(kind) => {
            let builtin = builtins::find(*kind);
            let mut ctx = Ctx { config: db.config(), db, task, args, ui, opts, state };
            (builtin.run)(&mut ctx)
        }
    }
}

/// Stands for the path of this run's backup in a `run` task's argv.
pub(crate) const BACKUP_PATH: &str = "{backup.path}";

/// The environment variable with the same path, for shell strings and scripts.
pub(crate) const BACKUP_PATH_ENV: &str = "XTASK_BACKUP_PATH";

fn uses_backup_path(spec: &RunSpec) -> bool {
    match spec {
        RunSpec::Argv(argv) => argv.iter().any(|a| a.contains(BACKUP_PATH)),
        RunSpec::Shell(script) => script.contains(BACKUP_PATH_ENV),
    }
}

/// Builds the command of a `run` task. Argument values replace `{name}` inside
/// argv elements (no shell involved); a shell string gets them as "$1", "$2"...
/// `{backup.path}` is replaced the same way by the path of the backup taken
/// earlier in this run (one argv element whatever it contains; a shell string
/// reads it from `$XTASK_BACKUP_PATH` instead, never pasted into the script).
pub(crate) fn run_command(
    task: &Task,
    spec: &RunSpec,
    args: &TaskArgs,
    backup: Option<&str>,
) -> Result<Command, Failure> {
    let values: Vec<(String, String)> = task
        .args
        .iter()
        .map(|a| {
            let v = args.get(&a.name).map(String::from).or_else(|| a.default.clone()).unwrap_or_default();
            (a.name.clone(), v)
        })
        .collect();
    let backup_shown = backup.unwrap_or("<backup of this run>");
    let sh = proc::shell()?;
    sh.change_dir(&task.cwd);
    if let Some(path) = backup {
        sh.set_var(BACKUP_PATH_ENV, path);
    }
    for (k, v) in &task.env {
        sh.set_var(k, v);
    }
    let cmd = match spec {
        RunSpec::Argv(argv) => {
            let argv: Vec<String> = argv
                .iter()
                .map(|a| {
                    // The backup path first: an argument value containing the
                    // placeholder text is not expanded a second time.
                    let a = a.replace(BACKUP_PATH, &backup_shown.replace('{', "\u{0}"));
                    values.iter().fold(a, |acc, (k, v)| acc.replace(&format!("{{{k}}}"), v)).replace('\u{0}', "{")
                })
                .collect();
            let (program, rest) = (&argv[0], &argv[1..]);
            cmd!(sh, "{program} {rest...}")
        }
        RunSpec::Shell(script) => {
            let (name, values) = (&task.name, values.iter().map(|(_, v)| v));
            cmd!(sh, "sh -c {script} {name} {values...}")
        }
    };
    Ok(cmd.into())
}

fn print_plan(
    db: &RunDb,
    target: &str,
    order: &[&str],
    args: &TaskArgs,
    opts: &RunOptions,
    ui: &Ui,
    state: &mut RunState,
) {
    let config = db.config();
    let no_args = TaskArgs::default();
    outln!("plan for `{target}` ({} task{}), nothing will run:", order.len(), if order.len() == 1 { "" } else { "s" });
    if let Some(line) = db.url_choice() {
        outln!("  {line}");
    }
    for (i, name) in order.iter().enumerate() {
        let Some(task) = config.task(name) else {
            continue;
        };
        let task_args = if *name == target { args } else { &no_args };
        let (kind, lines) = match &task.action {
            Action::Run(spec) => {
                let shown = run_command(task, spec, task_args, None).map_or_else(|f| f.message, |c| proc::display(&c));
                ("run".to_string(), vec![shown])
            }
            Action::Uses(kind) => {
                let ctx = Ctx { config, db, task, args: task_args, ui, opts, state };
                (format!("built-in {kind}"), (builtins::find(*kind).describe)(&ctx))
            }
        };
        outln!("{:>3}. {name} ({kind})", i + 1);
        for l in lines {
            outln!("       {}", ui.redact(&l));
        }
    }
}
