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
    command_with(config, cfg!(feature = "demo"))
}

/// Parses the command line. A run of one task (`xtask second --flag`) is first
/// parsed against a command line holding that task alone: building and checking
/// every task's subcommand, `init`, `completions` and `demo` cost a tenth of the
/// instructions of `--dry-run` on a two-task chain in the dev binary (BENCHMARKS.md,
/// "The runner's own start"). Whatever that smaller command line does not accept (help, version, a
/// wrong flag, a prescan that guessed the wrong word) is parsed again against the
/// whole one, so help, errors and suggestions are the same as before; what it
/// accepts, the whole one parses the same way (same global flags, same
/// subcommand, and no other subcommand can match the word the task matched).
pub(crate) fn parse(config: Option<&Config>, args: &[String]) -> Result<ArgMatches, clap::Error> {
    let task = config.and_then(|c| {
        let name = prescan_subcommand(args)?;
        Some((c, c.tasks.iter().find(|t| t.name == name)?))
    });
    if let Some((config, task)) = task {
        let one = root_command().subcommand(task_command(config, task));
        if let Ok(m) = one.try_get_matches_from(args) {
            return Ok(m);
        }
    }
    command(config).try_get_matches_from(args)
}

/// The command line without subcommands: name, version, help texts, global flags.
fn root_command() -> Command {
    Command::new("xtask")
        .bin_name(crate::invocation::name())
        .version(env!("CARGO_PKG_VERSION"))
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
  7 deploy-fleet: a wave's failure budget was spent, the fleet stopped; fleet-report --budget: spent over all shards [fail the job]",
        )
        .args(global_args())
}

/// The command line; `demo` is listed only in a build that has it (this project's
/// own repository): a team's xtask is built without it.
fn command_with(config: Option<&Config>, demo: bool) -> Command {
    let mut cmd = root_command().subcommand(
        Command::new(COMPLETIONS)
            .about("Print shell completions (bash, zsh or fish)")
            .arg(Arg::new("shell").required(true).value_parser(clap::value_parser!(clap_complete::Shell)))
            .after_help(crate::invocation::fill(
                "Example: {xtask} completions bash > ~/.local/share/bash-completion/completions/xtask",
            )),
    );
    cmd = cmd.subcommand(
        Command::new(DEMO)
            .hide(!demo)
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
                Arg::new("app")
                    .long("app")
                    .value_name("DIR")
                    .help("The folder of the Prisma app, relative to the root (a monorepo's apps/api); by default the root's own app, else the one found below it"),
            )
            .arg(
                Arg::new("force")
                    .long("force")
                    .action(ArgAction::SetTrue)
                    .help("Replace files init writes that already exist (never your Cargo.toml or .cargo/config.toml)"),
            )
            .arg(
                Arg::new("ci")
                    .long("ci")
                    .value_name("SERVICE")
                    .value_parser(["github"])
                    .help("Also write a CI workflow that deploys the migrations (.github/workflows/deploy-migrations.yml); alone in an adopted repository, only that"),
            )
            .arg(
                Arg::new("runner")
                    .long("runner")
                    .value_name("RUNNER")
                    .value_parser(["hosted", "self-hosted"])
                    .requires("ci")
                    .help("hosted: a GitHub-hosted runner, the backups uploaded as an artifact [default]; self-hosted: a runner on the production host, backups kept there"),
            )
            .after_help(crate::invocation::fill("Run it from the root of the repository.\n\nExample: {xtask} init --source ../xtask\n         {xtask} init --app apps/api\n         {xtask} init --ci github --runner self-hosted")),
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
                    ArgKind::Many => arg.value_name(a.name.to_uppercase()).num_args(1..).required(true),
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

/// The completion script for `shell`. Run as `cargo xtask`, it completes `cargo
/// xtask ...` (not a `cargo-xtask` command nobody types): bash through a `cargo`
/// completion that hands `cargo xtask` lines to this script and every other line
/// to cargo's own completion; zsh through the `_cargo-xtask` function cargo's zsh
/// completion calls for `cargo xtask`; fish with every completion under `cargo`,
/// conditioned on the `xtask` subcommand.
pub(crate) fn completion_script(shell: clap_complete::Shell, config: Option<&Config>, name: &str) -> String {
    use clap_complete::Shell;
    let mut cmd = command(config);
    let mut script = Vec::new();
    // For bash, clap's script under `cargo-xtask` names its subcommand states two
    // ways and completes no task's flags: it is generated as `xtask`, unregistered.
    let bin = match (name, shell) {
        ("cargo xtask", Shell::Bash) => "xtask".to_string(),
        _ => name.replace(' ', "-"),
    };
    clap_complete::generate(shell, &mut cmd, bin, &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    if name != "cargo xtask" {
        return script;
    }
    match shell {
        Shell::Bash => {
            let registration = script.find("\nif [[ \"${BASH_VERSINFO[0]}\" -eq 4").unwrap_or(script.len());
            format!(
                r#"{}
# `cargo xtask <TAB>`: lines starting `cargo xtask` go to the function above, with
# the words shifted as if `xtask` were typed; every other `cargo` line goes
# to cargo's own completion (load that one first: this registration wraps it).
_cargo_with_xtask() {{
    if [[ ${{COMP_WORDS[1]}} == xtask && ${{COMP_CWORD}} -ge 2 ]]; then
        local -a COMP_WORDS=("xtask" "${{COMP_WORDS[@]:2}}")
        local COMP_CWORD=$((COMP_CWORD - 1))
        _xtask xtask "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
    elif declare -F _cargo >/dev/null; then
        _cargo "$@"
    fi
}}
if ! declare -F _cargo >/dev/null && declare -F _completion_loader >/dev/null; then
    _completion_loader cargo >/dev/null 2>&1
fi
complete -F _cargo_with_xtask -o bashdefault -o default cargo
"#,
                &script[..registration]
            )
        }
        Shell::Zsh => {
            // cargo's zsh completion calls `_cargo-xtask` for `cargo xtask`: define it, register nothing.
            let body = script.replace("#compdef cargo-xtask\n", "");
            let cut = body.find("\nif [ \"$funcstack[1]\" = \"_cargo-xtask\" ]").unwrap_or(body.len());
            format!(
                "# `cargo xtask` completion for zsh: cargo's own zsh completion calls _cargo-xtask for\n# `cargo xtask ...` (source this file after compinit).\n{}\n",
                &body[..cut]
            )
        }
        Shell::Fish => script
            .replace("set -e cmd[1]\n", "set -e cmd[1..2]\n")
            .replace("complete -c cargo-xtask -n \"", "complete -c cargo -n \"__fish_seen_subcommand_from xtask; and ")
            .replace("complete -c cargo-xtask ", "complete -c cargo -n \"__fish_seen_subcommand_from xtask\" "),
        _ => script,
    }
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
        } else if let Ok(Some(vs)) = m.try_get_many::<String>(name) {
            // Several values (`FILE...`) travel joined with NUL, which no path holds.
            out.0.insert(name.to_string(), vs.cloned().collect::<Vec<_>>().join("\0"));
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

    /// The one-task command line of `parse` gives what the whole one gives: the
    /// same task, global flags and task arguments where it accepts the line, and
    /// (through the whole one) the same help, version and errors elsewhere.
    #[test]
    fn parsing_against_the_one_task_gives_what_the_whole_command_line_gives() {
        let config = crate::config::parse(
            std::path::Path::new("/repo/tasks.toml"),
            r#"
[tasks.first]
run = ["true"]
[tasks.second]
description = "after first"
deps = ["first"]
run = ["echo", "{who}", "{n}"]
args = [{ name = "who", required = true, help = "whom" }, { name = "n", default = "1" }]
[tasks.back]
uses = "backup"
[tasks.restore-it]
uses = "restore"
[tasks.merge]
uses = "fleet-report"
"#,
        )
        .unwrap();
        let lines: &[&[&str]] = &[
            &["first"],
            &["--dry-run", "first"],
            &["first", "--dry-run", "--color", "never", "--lock-timeout", "5"],
            &["--report", "first", "first"],
            &["--report=r.json", "second", "me", "2", "--json"],
            &["second", "me"],
            &["second"],
            &["second", "me", "2", "3"],
            &["second", "--nope", "me"],
            &["second", "--help"],
            &["--help", "second"],
            &["second", "-h"],
            &["-V", "first"],
            &["back", "--verify-only"],
            &["back", "--no-progress", "-y"],
            &["restore-it", "dump.sql", "--into", "copy"],
            &["restore-it", "--into"],
            &["restore-it"],
            &["merge", "a.json", "b.json", "--report", "fleet.json"],
            &["merge"],
            &["help", "second"],
            &["completions", "bash"],
            &["init", "--force"],
            &["secnod"],
            &["--config", "second", "first"],
            &["--color", "sometimes", "first"],
            &["--lock-timeout", "soon", "first"],
            &["first", "--", "second"],
            &["-l"],
            &[],
        ];
        for line in lines {
            let args: Vec<String> = std::iter::once("xtask").chain(line.iter().copied()).map(String::from).collect();
            let whole = command(Some(&config)).try_get_matches_from(&args);
            let got = parse(Some(&config), &args);
            match (whole, got) {
                (Ok(w), Ok(g)) => {
                    assert_eq!(format!("{:?}", globals(&w)), format!("{:?}", globals(&g)), "{line:?}");
                    let (wn, ws) = w.subcommand().map(|(n, s)| (n, task_args(s))).unzip();
                    let (gn, gs) = g.subcommand().map(|(n, s)| (n, task_args(s))).unzip();
                    assert_eq!((wn, format!("{ws:?}")), (gn, format!("{gs:?}")), "{line:?}");
                }
                (Err(w), Err(g)) => {
                    assert_eq!(w.kind(), g.kind(), "{line:?}");
                    assert_eq!(w.render().to_string(), g.render().to_string(), "{line:?}");
                }
                (w, g) => panic!("{line:?}: the whole command line gave {w:?}, parse gave {g:?}"),
            }
        }
    }

    #[test]
    fn command_is_well_formed() {
        command(None).debug_assert();
    }

    #[test]
    fn demo_is_listed_only_where_it_is_built_and_version_is_known() {
        let help = |demo: bool| command_with(None, demo).render_help().to_string();
        assert!(help(true).contains("demo"));
        assert!(!help(false).contains("demo"), "{}", help(false));
        let v = command(None).render_version();
        assert_eq!(v.trim(), format!("xtask {}", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn cargo_completions_complete_cargo_xtask_and_register_no_cargo_xtask_command() {
        use clap_complete::Shell;
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = completion_script(shell, None, "cargo xtask");
            assert!(!s.contains("compdef _cargo-xtask cargo-xtask"), "{s}");
            assert!(!s.contains("complete -c cargo-xtask") && !s.contains(" cargo-xtask\n"), "{shell}: {s}");
        }
        assert!(completion_script(Shell::Bash, None, "cargo xtask").contains("complete -F _cargo_with_xtask"));
        assert!(completion_script(Shell::Zsh, None, "cargo xtask").contains("_cargo-xtask() {"));
        assert!(completion_script(Shell::Fish, None, "cargo xtask")
            .contains("complete -c cargo -n \"__fish_seen_subcommand_from xtask; and "));
        // An installed binary keeps its own name.
        assert!(completion_script(Shell::Bash, None, "xtask").contains("complete -F _xtask"));
    }

    #[test]
    fn global_flag_list_matches_the_flags() {
        let ids: Vec<String> = global_args().iter().map(|a| a.get_id().to_string()).collect();
        assert_eq!(ids, GLOBAL_FLAGS);
    }
}
