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
    let run = Run {
        target,
        order: crate::plan::order(config, target),
        ui,
        started: chrono::Utc::now(),
        clock: Instant::now(),
    };
    let mut state = RunState::default();
    // The database is worked out when a step first needs it, then shared.
    let db = RunDb::new(config, ui);

    let needs = preflight::needs(config, &run.order, target, args);
    if opts.dry_run {
        let unplannable = print_plan(&db, target, &run.order, args, opts, ui, &mut state);
        let checked = needs.as_ref().map_or(Exit::Success, |needs| dry_preflight(&db, ui, needs));
        let exit = unplannable.as_ref().map_or(checked, |f| f.exit);
        return RunResult {
            exit,
            failure: unplannable,
            state,
            target: target.into(),
            started: run.started,
            seconds: 0.0,
        };
    }

    ui.plan_started(run.order.len());
    if let Err(stop) = run.before_tasks(&db, needs.as_ref(), opts, &mut state) {
        return run.nothing_ran(stop, state);
    }
    let (exit, failure) = run.tasks(&db, args, opts, &mut state);
    ui.finish();
    // Resources such as the deploy lock are released here, at the end of the run.
    state.held.clear();
    state.lock = None;
    run.result(exit, failure, state)
}

/// The checks a dry run reports as a real run would make them first: what would
/// fail, and its exit status.
fn dry_preflight(db: &RunDb, ui: &Ui, needs: &preflight::Needs) -> Exit {
    match preflight::check(db, ui, needs) {
        Ok(passed) => {
            outln!("{}", ui.redact(&passed.line));
            Exit::Success
        }
        Err(problems) => {
            outln!("preflight would fail:");
            for line in &problems.lines {
                outln!("  {}", ui.redact(line));
            }
            problems.exit
        }
    }
}

/// What every stage of one run shares: the plan, where output goes, and when it
/// started.
struct Run<'a> {
    target: &'a str,
    order: Vec<&'a str>,
    ui: &'a Ui,
    started: chrono::DateTime<chrono::Utc>,
    clock: Instant,
}

/// Why a run stopped before its first task: the failure, the GitHub annotation when
/// it is not the message itself, and the stage that failed.
struct Stop {
    failure: Failure,
    annotation: Option<String>,
    what: &'static str,
}

impl Stop {
    fn at(what: &'static str) -> impl FnOnce(Failure) -> Stop {
        move |failure| Stop { failure, annotation: None, what }
    }
}

impl Run<'_> {
    fn result(&self, exit: Exit, failure: Option<Failure>, state: RunState) -> RunResult {
        RunResult {
            exit,
            failure,
            state,
            target: self.target.into(),
            started: self.started,
            seconds: self.clock.elapsed().as_secs_f64(),
        }
    }

    /// The gates before the first task: preflight, then (for a plan that deploys)
    /// the deploy lock and the rehearsal's own preflight.
    fn before_tasks(
        &self,
        db: &RunDb,
        needs: Option<&preflight::Needs>,
        opts: &RunOptions,
        state: &mut RunState,
    ) -> Result<(), Stop> {
        let ui = self.ui;
        if let Some(needs) = needs {
            match preflight::check(db, ui, needs) {
                Ok(passed) => ui.event(&passed.line),
                Err(problems) => {
                    if problems.lines.len() > 1 {
                        for line in &problems.lines {
                            ui.event(&format!("preflight: {line}"));
                        }
                    }
                    // The annotation lists every problem: in GitHub it stands alone.
                    let listed = problems.lines.join("\n");
                    return Err(Stop { failure: problems.failure(), annotation: Some(listed), what: "preflight" });
                }
            }
        }
        let config = db.config();
        let needs_lock = self
            .order
            .iter()
            .any(|n| matches!(config.task(n).map(|t| &t.action), Some(Action::Uses(kind)) if kind.needs_deploy_lock()));
        if needs_lock {
            let lock = db
                .target()
                .and_then(|t| lock::acquire(t, ui, opts.lock_timeout, opts.no_wait))
                .map_err(Stop::at("deploy lock"))?;
            state.lock = Some(Box::new(lock));
            // A rehearsal that was asked for and cannot run stops the run before the backup.
            crate::rehearsal::preflight(db, &self.order, ui).map_err(Stop::at("rehearsal"))?;
        }
        Ok(())
    }

    /// Runs the planned tasks in order until one fails or ends the run: the run's
    /// exit status and, for a failure, why.
    fn tasks(&self, db: &RunDb, args: &TaskArgs, opts: &RunOptions, state: &mut RunState) -> (Exit, Option<Failure>) {
        let (ui, order) = (self.ui, &self.order);
        let no_args = TaskArgs::default();
        for (i, name) in order.iter().enumerate() {
            let Some(task) = db.config().task(name) else {
                continue;
            };
            let task_args = if *name == self.target { args } else { &no_args };
            ui.task_started(i + 1, order.len(), name);
            let t0 = Instant::now();
            // A lock lost since the last step stops the run before this one.
            let result = state
                .check_lock(Some(&format!("task `{name}`")))
                .and_then(|()| run_task(db, task, task_args, opts, ui, state));
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
                    return (f.exit, None);
                }
                Err(f) => return (f.exit, Some(self.task_failed(i, took, f, state))),
            }
        }
        (Exit::Success, None)
    }

    /// Records and reports the failure of task `i` of the plan; the rest are skipped.
    fn task_failed(&self, i: usize, took: std::time::Duration, f: Failure, state: &mut RunState) -> Failure {
        let (ui, name) = (self.ui, self.order[i]);
        let message = ui.redact(&f.message);
        ui.task_failed(name, took, &message);
        state.tasks.push(TaskRecord {
            name: name.to_string(),
            outcome: "failed",
            seconds: took.as_secs_f64(),
            error: Some(message.clone()),
        });
        state.tasks.extend(self.order[i + 1..].iter().map(|n| TaskRecord::skipped(n)));
        ui.finish();
        // In GitHub Actions the annotation carries the whole diagnosis.
        let annotation = match &state.diagnosis {
            Some(d) => diagnosis_lines(d).join("\n"),
            None => message.clone(),
        };
        ui.annotate_error(&format!("task {name} failed"), &annotation);
        Failure::new(f.exit, format!("task `{name}` failed: {message}"))
    }

    /// Ends a run that failed before its first task (preflight, deploy lock): the
    /// error once, every task skipped.
    fn nothing_ran(&self, stop: Stop, mut state: RunState) -> RunResult {
        let ui = self.ui;
        ui.finish();
        let message = ui.redact(&stop.failure.message);
        ui.annotate_error(stop.what, &ui.redact(stop.annotation.as_deref().unwrap_or(&message)));
        state.tasks.extend(self.order.iter().map(|n| TaskRecord::skipped(n)));
        // A lock taken before the check that failed is released now, not when the result goes.
        state.held.clear();
        state.lock = None;
        let exit = stop.failure.exit;
        self.result(exit, Some(Failure::new(exit, message)), state)
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
) -> Option<Failure> {
    let config = db.config();
    let no_args = TaskArgs::default();
    let mut unplannable = None;
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
                let lines = (builtins::find(*kind).describe)(&ctx).unwrap_or_else(|f| {
                    let line = format!("would fail: {}", f.message);
                    unplannable.get_or_insert(Failure::new(f.exit, ui.redact(&f.message)));
                    vec![line]
                });
                (format!("built-in {kind}"), lines)
            }
        };
        outln!("{:>3}. {name} ({kind})", i + 1);
        for l in lines {
            outln!("       {}", ui.redact(&l));
        }
    }
    unplannable
}
