//! The executor: runs the planned tasks in order, reports each start and end, and
//! stops at the first failure with the task's name and status.

use std::time::Instant;

use crate::builtins;
use crate::config::{Action, Config, RunSpec, Task};
use crate::context::{diagnosis_lines, Ctx, RunOptions, RunResult, RunState, TaskArgs, TaskRecord};
use crate::db::lock;
use crate::exit::{Exit, Failure};
use crate::proc::{self, Cmd};
use crate::ui::Ui;

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
        return RunResult { exit: Exit::Success, failure: None, state, target: target.into(), started, seconds: 0.0 };
    }

    ui.plan_started(order.len());
    let needs_lock = order
        .iter()
        .any(|n| matches!(config.task(n).map(|t| &t.action), Some(Action::Uses(kind)) if kind.needs_deploy_lock()));
    if needs_lock {
        match lock::acquire(config, ui, opts) {
            Ok(lock) => state.lock = Some(Box::new(lock)),
            Err(f) => {
                ui.finish();
                let message = ui.redact(&f.message);
                ui.annotate_error("deploy lock", &message);
                for name in &order {
                    state.tasks.push(TaskRecord {
                        name: name.to_string(),
                        outcome: "skipped",
                        seconds: 0.0,
                        error: None,
                    });
                }
                return RunResult {
                    exit: f.exit,
                    failure: Some(Failure::new(f.exit, message)),
                    state,
                    target: target.into(),
                    started,
                    seconds: clock.elapsed().as_secs_f64(),
                };
            }
        }
    }
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
            .and_then(|()| run_task(config, task, task_args, opts, ui, &mut state));
        state.ran(format!("task `{name}`"));
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
                // In GitHub Actions the annotation carries the whole diagnosis.
                let annotation = match &state.diagnosis {
                    Some(d) => diagnosis_lines(d).join("\n"),
                    None => message.clone(),
                };
                ui.annotate_error(&format!("task {name} failed"), &annotation);
                failure = Some(Failure::new(f.exit, format!("task `{name}` failed: {message}")));
                break;
            }
        }
    }
    ui.finish();
    // Resources such as the deploy lock are released here, at the end of the run.
    state.held.clear();
    state.lock = None;
    let exit = failure.as_ref().map_or(Exit::Success, |f| f.exit);
    RunResult { exit, failure, state, target: target.into(), started, seconds: clock.elapsed().as_secs_f64() }
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
            let out = proc::run(ui, &cmd)?;
            if out.success() {
                Ok(())
            } else {
                Err(Failure::task(format!("`{}` ended with {}", cmd.display(), proc::describe_status(&out.status))))
            }
        }
        Action::Uses(kind) => {
            let builtin = builtins::find(*kind);
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
                .map(|a| values.iter().fold(a.clone(), |acc, (k, v)| acc.replace(&format!("{{{k}}}"), v)))
                .collect();
            Cmd::new(argv[0].clone()).args(argv[1..].iter().cloned())
        }
        RunSpec::Shell(script) => {
            Cmd::new("sh").arg("-c").arg(script.clone()).arg(task.name.clone()).args(values.into_iter().map(|(_, v)| v))
        }
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
    outln!("plan for `{target}` ({} task{}), nothing will run:", order.len(), if order.len() == 1 { "" } else { "s" });
    for (i, name) in order.iter().enumerate() {
        let Some(task) = config.task(name) else {
            continue;
        };
        let task_args = if *name == target { args } else { &no_args };
        let (kind, lines) = match &task.action {
            Action::Run(spec) => {
                let cmd = run_command(task, spec, task_args);
                ("run".to_string(), vec![cmd.display()])
            }
            Action::Uses(kind) => {
                let ctx = Ctx { config, task, args: task_args, ui, opts, state };
                (format!("built-in {kind}"), (builtins::find(*kind).describe)(&ctx))
            }
        };
        outln!("{:>3}. {name} ({kind})", i + 1);
        for l in lines {
            outln!("       {}", ui.redact(&l));
        }
    }
}
