//! `cargo xtask`: a task runner that turns the Prisma/PostgreSQL migration-recovery
//! runbook into one safe command. `main` here is the whole program and the one
//! place an error is printed; the binary only calls it.

// Nothing here is a library API: the only public items are `main` and the
// `testing` doorway below, so an unused item is a compile error, not dead weight.
#![deny(unreachable_pub)]

// Modules from the bottom layer up (the layering test in tests/it/layers.rs
// checks that every `crate::` import points down this list).
#[macro_use]
mod out;
mod reaper;
mod invocation;
mod suggest;
mod packages;
mod exit;
mod redact;
mod config;
mod ui;
mod plan;
mod interrupt;
mod proc;
mod pgbin;
mod db;
mod dump;
mod scratch;
mod room;
mod migrations;
mod context;
mod audit;
mod prisma;
mod evidence;
mod recovery;
mod preflight;
mod rehearsal;
mod datacheck;
mod fleet;
mod builtins;
mod runner;
mod cli;
mod report;
mod init;
#[cfg(feature = "demo")]
mod demo;

/// The one doorway for the integration tests (`tests/it`) and the examples: exactly
/// the internals they call, under the paths the crate uses. Not an API: hidden from
/// the docs, and an item lands here only when a test outside the crate needs it.
#[doc(hidden)]
pub mod testing {
    pub mod audit {
        /// backup.rs: the audit log sits beside the backups and is not one of them.
        pub use crate::audit::FILE_NAME;
    }
    pub mod config {
        /// terminal.rs: the repository's own tasks.toml loads.
        pub use crate::config::load;
    }
    pub mod db {
        /// evidence*, pooler, restore tests and bench_evidence connect to their clusters.
        pub use crate::db::Target;
        pub mod lock {
            /// deploy.rs holds the deploy lock from another session.
            pub use crate::db::lock::KEY;
        }
    }
    pub mod dump {
        pub mod naming {
            /// backup.rs reads the timestamps of the backups a run wrote, and the
            /// `<database>@<server>` label in their names.
            pub use crate::dump::naming::{database_label, BackupName};
        }
        pub mod restore {
            /// restore.rs checks a restore's verification against a damaged dump.
            pub use crate::dump::restore::verify_restore;
        }
    }
    pub mod evidence {
        /// evidence.rs and bench_evidence split migration files into statements.
        pub use crate::evidence::lexer;
        /// evidence*.rs, pooler.rs and bench_evidence judge migrations against real
        /// databases through the same calls recovery makes.
        pub use crate::evidence::{
            analyse, assess, assess_with, trial_ineligible, Evidence, Expectation, Object, Presence, TrialBounds,
            TrialOutcome, Verdict,
        };
    }
    pub mod migrations {
        /// deploy.rs and prisma_app.rs compute a checksum the way Prisma records it;
        /// rehearsal_agreement classifies the error logs it collects.
        pub use crate::migrations::{hex, DbError};
    }
    pub mod ui {
        /// restore.rs drives `verify_restore`, which reports through a `Ui`.
        pub use crate::ui::{Ui, UiOptions};
    }
}

use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};

use exit::{Exit, Failure};

/// Runs the program with the process arguments and returns its exit status.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    invocation::init(args.first().map(String::as_str));
    match real_main(&args) {
        Ok(code) => code.into(),
        Err(f) => print_error(&f).into(),
    }
}

/// Prints a failure, the one way errors reach the user, and returns its exit status.
fn print_error(f: &Failure) -> Exit {
    eprintln!("{} {}", console::style("error:").red().bold(), f.message);
    f.exit
}

fn real_main(args: &[String]) -> Result<Exit, Failure> {
    // `init` is how a repository gets its tasks.toml: it never needs one.
    if cli::prescan_subcommand(args) == Some(cli::INIT) {
        return run_init(args);
    }
    let config = load_config(args)?;

    let matches = match cli::parse(config.as_ref(), args) {
        Ok(m) => m,
        Err(e) => return clap_error(e, config.as_ref()),
    };
    let globals = cli::globals(&matches);

    if let Some(("completions", sub)) = matches.subcommand() {
        if let Some(shell) = sub.get_one::<clap_complete::Shell>("shell") {
            out!("{}", cli::completion_script(*shell, config.as_ref(), invocation::name()));
        }
        return Ok(Exit::Success);
    }
    let Some(config) = config else {
        return Err(Failure::usage("no tasks.toml found: pass --config PATH"));
    };
    // .env beside tasks.toml: the real environment wins; values are never printed.
    let dotenv = load_dotenv(&config.root);
    if let Some((cli::DEMO, _)) = matches.subcommand() {
        return run_demo(&config, &globals);
    }
    if globals.list {
        print_list(&config);
        return Ok(Exit::Success);
    }
    let Some((task_name, sub)) = matches.subcommand() else {
        print_list(&config);
        return Err(Failure::usage(format!("name a task to run, e.g. `{}`", invocation::cmd("deploy"))));
    };

    let ui = ui::Ui::new(ui::UiOptions::detect(globals.no_progress, globals.color));
    if let Some(env_file) = &dotenv {
        ui.event(&format!("loaded environment from {} (variables already set were kept)", env_file.display()));
    }
    if !globals.dry_run {
        if let Some(path) = &globals.report {
            check_report_path(path)?;
        }
    }
    let task_args = cli::task_args(sub);
    let opts = context::RunOptions {
        dry_run: globals.dry_run,
        yes: globals.yes,
        lock_timeout: globals.lock_timeout,
        no_wait: globals.no_wait,
    };
    let result = runner::run(&config, task_name, &task_args, &opts, &ui);
    if !opts.dry_run {
        write_reports(&result, &globals, &ui);
    }
    // Printed while `ui` lives: in GitHub mode the runner's command processing is
    // still stopped, so a message quoting hostile text cannot issue commands.
    Ok(result.failure.as_ref().map_or(result.exit, print_error))
}

/// The tasks.toml the run uses (`--config`, else the nearest one up from here),
/// loaded and checked; none only when the command line asks for help alone.
fn load_config(args: &[String]) -> Result<Option<config::Config>, Failure> {
    let wants_help_only =
        args.iter().skip(1).any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version" | cli::COMPLETIONS));
    let config_path = match cli::prescan_config(args) {
        Some(p) => Some(p),
        None => std::env::current_dir().ok().and_then(|d| config::discover(&d)),
    };
    match &config_path {
        Some(p) if !p.is_file() => {
            Err(Failure::usage(format!("{}: no such file: pass an existing tasks.toml to --config", p.display())))
        }
        Some(p) => {
            // Parse and validate, then the analysis pass (cycles) over the whole graph.
            let mut config = config::load(p).map_err(|e| Failure::usage(e.to_string()))?;
            // One target of a fleet: its backups and audit log apart from the others'.
            if let Some(dir) = fleet::target_backup_dir(&config) {
                config.backup.dir = dir;
            }
            plan::check(&config).map_err(|e| Failure::usage(e.to_string()))?;
            Ok(Some(config))
        }
        None if wants_help_only => Ok(None),
        None => Err(Failure::usage(
            "no tasks.toml in this directory or any parent: run from inside the repository, or pass --config PATH",
        )),
    }
}

fn run_init(args: &[String]) -> Result<Exit, Failure> {
    let matches = match cli::command(None).try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => return clap_error(e, None),
    };
    let Some((cli::INIT, sub)) = matches.subcommand() else {
        return Err(Failure::usage(format!(
            "usage: {}",
            invocation::cmd("init [--app DIR] [--source PATH] [--force] [--ci github [--runner hosted|self-hosted]]")
        )));
    };
    let root = std::env::current_dir().map_err(|e| {
        Failure::usage(format!("cannot tell the current directory ({e}): run init from the repository root"))
    })?;
    let opts = init::Options {
        source: sub.get_one::<String>("source").map(std::path::PathBuf::from),
        force: sub.get_flag("force"),
        app: sub.get_one::<String>("app").cloned(),
        ci: sub.get_one::<String>("ci").map(|_| match sub.get_one::<String>("runner").map(String::as_str) {
            Some("self-hosted") => init::Runner::SelfHosted,
            _ => init::Runner::Hosted,
        }),
    };
    init::run(&root, &opts)
}

fn load_dotenv(root: &std::path::Path) -> Option<std::path::PathBuf> {
    let path = root.join(".env");
    if !path.is_file() {
        return None;
    }
    match dotenvy::from_path(&path) {
        Ok(()) => Some(path),
        Err(e) => {
            eprintln!("warning: {} could not be read and was ignored: {e}", path.display());
            None
        }
    }
}

/// `--report FILE` must be writable where it is asked for before anything runs
/// (issue 24, item 7): a deploy that ends with "cannot write the report" has run
/// whole with its record lost. Its directory must exist (it is not created: a typo
/// would scatter reports) and be writable, and FILE must not be a directory.
fn check_report_path(path: &std::path::Path) -> Result<(), Failure> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let why = if !dir.is_dir() {
        Some(format!("its directory {} does not exist", dir.display()))
    } else if path.is_dir() {
        Some("it is a directory".to_string())
    } else {
        // Written as the report will be (a .partial beside it, then renamed), and removed.
        let probe = path.with_extension("json.partial");
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
                None
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
            Err(e) => Some(format!("{} cannot be written ({e})", dir.display())),
        }
    };
    match why {
        Some(why) => Err(Failure::usage(format!(
            "--report {}: {why}: create the directory or name a file in a writable one; nothing was run",
            path.display()
        ))),
        None => Ok(()),
    }
}

/// The JSON report (`--report`, `--json`) and the GitHub step summary.
fn write_reports(result: &context::RunResult, globals: &cli::Globals, ui: &ui::Ui) {
    let redact = |s: &str| ui.redact(s);
    if let Some(path) = &globals.report {
        let text = report::json(result, &redact) + "\n";
        let tmp = path.with_extension("json.partial");
        let written = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            ui.warn(&format!("cannot write the report {}: {e}", path.display()));
        }
    }
    if globals.json {
        outln!("{}", report::json(result, &redact));
    }
    if ui.options().github {
        if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
            use std::io::Write;
            let md = report::markdown(result, &redact);
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&summary)
                .and_then(|mut f| f.write_all(md.as_bytes()));
            if let Err(e) = appended {
                ui.warn(&format!("cannot append to GITHUB_STEP_SUMMARY: {e}"));
            }
        }
    }
}

fn print_list(config: &config::Config) {
    outln!("Tasks in {}:", config.path.display());
    let width = config.tasks.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for t in &config.tasks {
        let deps = if t.deps.is_empty() { String::new() } else { format!(" [after: {}]", t.deps.join(", ")) };
        outln!("  {:width$}  {}{deps}", t.name, t.description);
    }
}

fn clap_error(e: clap::Error, config: Option<&config::Config>) -> Result<Exit, Failure> {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            Ok(Exit::Success)
        }
        ErrorKind::InvalidSubcommand => {
            let wrong = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            let names: Vec<&str> =
                config.map(|c| c.tasks.iter().map(|t| t.name.as_str()).collect()).unwrap_or_default();
            let hint = cli::did_you_mean(&wrong, names.iter().copied())
                .map(|s| format!(" Did you mean `{s}`?"))
                .unwrap_or_default();
            Err(Failure::usage(format!("unknown task `{wrong}`.{hint}\nTasks: {}", names.join(", "))))
        }
        _ => {
            // clap's own message already says what is wrong and shows the usage.
            let _ = e.print();
            Ok(Exit::Usage)
        }
    }
}

#[cfg(feature = "demo")]
fn run_demo(config: &config::Config, globals: &cli::Globals) -> Result<Exit, Failure> {
    demo::run(config, globals)
}

/// Built without the demo (a team's own xtask): say how to get it.
#[cfg(not(feature = "demo"))]
fn run_demo(_: &config::Config, _: &cli::Globals) -> Result<Exit, Failure> {
    Err(Failure::usage(
        "this build has no demo: it runs in the xtask project's own repository (`cargo xtask demo` there)",
    ))
}
