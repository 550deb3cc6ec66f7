//! The command line: global flags, one subcommand per task of tasks.toml (with the
//! arguments that task accepts), and `completions`. Built at run time because the
//! tasks come from the configuration.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::builtins::{self, ArgKind};
use crate::config::{Action, Config};
use crate::context::TaskArgs;
use crate::ui::ColorChoice;

pub(crate) use crate::config::names::{COMPLETIONS, DEMO, GLOBAL_FLAGS, INIT};
pub(crate) use crate::suggest::did_you_mean;

/// Global flags, usable before or after the task name.
#[derive(Debug, Clone)]
pub(crate) struct Globals {
    pub dry_run: bool,
    pub list: bool,
    pub yes: bool,
    pub no_progress: bool,
    pub color: ColorChoice,
    pub report: Option<PathBuf>,
    pub json: bool,
    pub lock_timeout: Option<Duration>,
    pub no_wait: bool,
}

/// Finds `--config PATH` (or `--config=PATH`) before full parsing: the tasks it
/// names decide which subcommands exist.
pub(crate) fn prescan_config(args: &[String]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("XTASK_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Boolean flags that also read an environment variable accept what people write
/// there (`1/0`, `true/false`, `yes/no`, `on/off`), not only clap's default `true/false`.
/// The subcommand named on the command line, found before full parsing (global
/// flags and their values skipped): `init` must run without a tasks.toml.
pub(crate) fn prescan_subcommand(args: &[String]) -> Option<&str> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            return None;
        }
        if matches!(a.as_str(), "--config" | "--color" | "--report" | "--lock-timeout") {
            it.next();
            continue;
        }
        if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

fn global_args() -> Vec<Arg> {
    vec![
        Arg::new("config")
            .long("config")
            .value_name("PATH")
            .env("XTASK_CONFIG")
            .global(true)
            .help("tasks.toml to use [default: the nearest tasks.toml walking up from here]"),
        Arg::new("dry-run")
            .long("dry-run")
            .action(ArgAction::SetTrue)
            .global(true)
            .help("Print the ordered plan and the exact commands (secrets masked); run nothing"),
        Arg::new("list")
            .long("list")
            .short('l')
            .action(ArgAction::SetTrue)
            .global(true)
            .help("List the tasks with their descriptions"),
        Arg::new("yes")
            .long("yes")
            .short('y')
            .env("XTASK_YES")
            .action(ArgAction::SetTrue)
            .value_parser(BoolishValueParser::new())
            .global(true)
            .help("Answer yes to confirmation prompts (needed without a terminal)"),
        Arg::new("no-progress")
            .long("no-progress")
            .env("XTASK_NO_PROGRESS")
            .action(ArgAction::SetTrue)
            .value_parser(BoolishValueParser::new())
            .global(true)
            .help("Plain timestamped lines instead of progress bars"),
        Arg::new("color")
            .long("color")
            .value_name("WHEN")
            .value_parser(clap::value_parser!(ColorChoice))
            .default_value("auto")
            .global(true)
            .help("Colour output (NO_COLOR is respected with auto)"),
        Arg::new("report")
            .long("report")
            .value_name("FILE")
            .env("XTASK_REPORT")
            .global(true)
            .help("Write a JSON report of the run to FILE"),
        Arg::new("json")
            .long("json")
            .action(ArgAction::SetTrue)
            .global(true)
            .help("Print the JSON report of the run on stdout"),
        Arg::new("lock-timeout")
            .long("lock-timeout")
            .value_name("SECONDS")
            .value_parser(clap::value_parser!(u64))
            .env("XTASK_LOCK_TIMEOUT")
            .global(true)
            .help("How long deploy waits for another deploy's lock [default: 600]"),
        Arg::new("no-wait")
            .long("no-wait")
            .action(ArgAction::SetTrue)
            .global(true)
            .help("Fail at once if another deploy holds the lock"),
    ]
}

/// Builds the full command line for this configuration.
pub(crate) fn command(config: Option<&Config>) -> Command {
    let mut cmd = Command::new("xtask")
        .bin_name(crate::invocation::name())
        .about("Runs the tasks of tasks.toml: backups, Prisma migrate deploy with a bounded recovery")
        // One line per code; the bracket is what a fleet engine (a CI matrix job, a
        // Kubernetes Job index) does with it. The README's table and the example
        // podFailurePolicy (examples/fleet/) say the same: tests/it/engines.rs.
        .after_help(
            "Exit status [what a fleet engine does: done, retry, fail the index, fail the job]:
  0 success [done]
  1 a task failed [fail the index]
  2 usage or config error: nothing ran [fail the index]
  3 database unreachable [retry]
  4 migration failed and not recovered (status: failed or drift); deploy-fleet: some targets failed, the budget held [fail the index]
  5 deploy lock not acquired [retry]
  6 status: migrations pending [fail the index]
  7 deploy-fleet: a wave's failure budget was spent, the fleet stopped [fail the job]",
        )
        .args(global_args())
        .subcommand(
            Command::new(COMPLETIONS)
                .about("Print shell completions (bash, zsh or fish)")
                .arg(
                    Arg::new("shell")
                        .required(true)
                        .value_parser(clap::value_parser!(clap_complete::Shell)),
                )
                .after_help(crate::invocation::fill("Example: {xtask} completions bash > ~/.local/share/bash-completion/completions/xtask")),
        );
    cmd = cmd.subcommand(
        Command::new(DEMO)
            .about("Run the whole runbook story on a throwaway PostgreSQL cluster under target/demo (the repository's example app)")
            .after_help(crate::invocation::fill("Example: {xtask} demo")),
    );
    cmd = cmd.subcommand(
        Command::new(INIT)
            .about("Add the tool to this repository: an xtask/ crate, the cargo alias, a tasks.toml from what it finds, .gitignore lines")
            .arg(
                Arg::new("source")
                    .long("source")
                    .value_name("PATH")
                    .help("Depend on the xtask checkout at PATH (a path dependency: offline, vendored, monorepos) instead of its git repository"),
            )
            .arg(
                Arg::new("force")
                    .long("force")
                    .action(ArgAction::SetTrue)
                    .help("Replace files init writes that already exist (never your Cargo.toml or .cargo/config.toml)"),
            )
            .after_help(crate::invocation::fill("Run it from the root of the repository.\n\nExample: {xtask} init --source ../xtask")),
    );
    if let Some(config) = config {
        for task in &config.tasks {
            cmd = cmd.subcommand(task_command(config, task));
        }
    }
    cmd
}

fn task_command(_config: &Config, task: &crate::config::Task) -> Command {
    let about = task.description.clone();
    let mut sub = Command::new(task.name.clone()).about(about);
    match &task.action {
        Action::Run(_) => {
            for a in &task.args {
                let mut arg = Arg::new(a.name.clone()).value_name(a.name.to_uppercase()).required(a.required);
                if let Some(h) = &a.help {
                    arg = arg.help(h.clone());
                }
                if let Some(d) = &a.default {
                    arg = arg.default_value(d.clone());
                }
                sub = sub.arg(arg);
            }
            sub = sub.after_help(format!("Example: {}", crate::invocation::cmd(&task.name)));
        }
        Action::Uses(kind) => {
            let builtin = builtins::find(*kind);
            for a in builtin.args {
                let arg = Arg::new(a.name).help(a.help);
                let arg = match a.kind {
                    ArgKind::Positional { required } => arg.value_name(a.name.to_uppercase()).required(required),
                    ArgKind::Flag => arg.long(a.name).action(ArgAction::SetTrue),
                    ArgKind::Option => arg.long(a.name).value_name(a.name.to_uppercase()),
                };
                sub = sub.arg(arg);
            }
            sub = sub.after_help(format!(
                "Built-in `{}`: {}\n\nExample: {}",
                builtin.kind,
                builtin.about,
                crate::invocation::fill(builtin.example).replace("{task}", &task.name)
            ));
        }
    }
    sub
}

pub(crate) fn globals(m: &ArgMatches) -> Globals {
    Globals {
        dry_run: m.get_flag("dry-run"),
        list: m.get_flag("list"),
        yes: m.get_flag("yes"),
        no_progress: m.get_flag("no-progress"),
        color: m.get_one::<ColorChoice>("color").copied().unwrap_or(ColorChoice::Auto),
        report: m.get_one::<String>("report").map(PathBuf::from),
        json: m.get_flag("json"),
        lock_timeout: m.get_one::<u64>("lock-timeout").map(|s| Duration::from_secs(*s)),
        no_wait: m.get_flag("no-wait"),
    }
}

/// The target task's arguments, by name.
pub(crate) fn task_args(m: &ArgMatches) -> TaskArgs {
    let mut out = TaskArgs::default();
    for id in m.ids() {
        let name = id.as_str();
        if GLOBAL_FLAGS.contains(&name) {
            continue;
        }
        if let Ok(Some(flag)) = m.try_get_one::<bool>(name) {
            if *flag {
                out.0.insert(name.to_string(), "true".into());
            }
        } else if let Ok(Some(v)) = m.try_get_one::<String>(name) {
            out.0.insert(name.to_string(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prescan_finds_config_anywhere_before_double_dash() {
        let args: Vec<String> = ["x", "deploy", "--config", "a.toml"].iter().map(|s| s.to_string()).collect();
        assert_eq!(prescan_config(&args), Some(PathBuf::from("a.toml")));
        let args: Vec<String> = ["x", "--config=b.toml"].iter().map(|s| s.to_string()).collect();
        assert_eq!(prescan_config(&args), Some(PathBuf::from("b.toml")));
    }

    #[test]
    fn prescan_finds_the_subcommand_after_global_flags() {
        let args: Vec<String> =
            ["x", "--color", "never", "--config", "t.toml", "init", "--force"].iter().map(|s| s.to_string()).collect();
        assert_eq!(prescan_subcommand(&args), Some("init"));
        let args: Vec<String> = ["x", "--list"].iter().map(|s| s.to_string()).collect();
        assert_eq!(prescan_subcommand(&args), None);
    }

    #[test]
    fn command_is_well_formed() {
        command(None).debug_assert();
    }

    #[test]
    fn global_flag_list_matches_the_flags() {
        let ids: Vec<String> = global_args().iter().map(|a| a.get_id().to_string()).collect();
        assert_eq!(ids, GLOBAL_FLAGS);
    }
}
