//! The Prisma CLI as the built-ins call it: the configured command with
//! `--schema`, run in the configured directory with the database URL in the
//! environment (never in argv); and what its error texts mean here.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use xshell::{cmd, Shell};

use crate::context::{Ctx, PrismaCall};
use crate::db;
use crate::exit::{Exit, Failure};
use crate::proc::{self, Output};

pub(crate) use local_bin::npm_exec;

/// npm's setting that makes `npx` fail rather than download a package it does not
/// find installed (`npx --no-install`).
pub(crate) const NPX_NO_DOWNLOAD: (&str, &str) = ("npm_config_yes", "false");

/// Builds `<prisma command> <args> --schema <schema>` for a task, as configured
/// (what `--dry-run`, the advice and the log show). Prisma reads the URL itself,
/// from its config or schema (`env("X")`, or `process.env.A ?? process.env.B`,
/// whose `??` takes an empty A): each `[database] url_env` variable that is unset
/// or empty gets the URL the tool chose ([`db::url_var`]) in Prisma's environment,
/// so whichever of them Prisma's config reads first, it connects where the tool
/// does. Variables that are set are passed as they are.
pub(crate) fn command(ctx: &Ctx, args: &[&str]) -> Result<Command, Failure> {
    build(ctx, args, None)
}

/// [`command`] as it runs: with `direct`, that file instead of the runner.
fn build(ctx: &Ctx, args: &[&str], direct: Option<&Path>) -> Result<Command, Failure> {
    let sh = shell(&ctx.config.prisma, direct)?;
    if let Some((_, url)) = db::url_var(ctx.config) {
        for name in &ctx.config.database.url_env {
            if std::env::var(name).map_or(true, |v| v.trim().is_empty()) {
                sh.set_var(name, &url);
            }
        }
    }
    Ok(line(&sh, &ctx.config.prisma, args, direct))
}

/// [`command`] as `--dry-run` and the advice show it.
pub(crate) fn shown(ctx: &Ctx, args: &[&str]) -> String {
    command(ctx, args).map_or_else(|f| f.message, |c| proc::display(&c))
}

/// The project's `node_modules/.bin/prisma` when the configured command is a plain
/// `npx prisma` (or `npm exec prisma`, `pnpm exec prisma`) and `[prisma]
/// resolve_bin` is on: the file the runner would start, started without it.
pub(crate) fn direct(p: &crate::config::Prisma) -> Option<PathBuf> {
    if p.resolve_bin {
        local_bin::direct(&p.command, &p.cwd)
    } else {
        None
    }
}

/// What `--dry-run` says about the file that runs, when it is not the command's own.
pub(crate) fn runs_note(ctx: &Ctx) -> Option<String> {
    let p = &ctx.config.prisma;
    direct(p).map(|bin| {
        let runner = Path::new(&p.command[0]).file_name().map_or(p.command[0].clone(), |n| n.to_string_lossy().into());
        format!(
            "  runs {} directly: the file `{}` would start, without starting {runner} ([prisma] resolve_bin = false keeps {runner})",
            bin.display(),
            p.command.join(" "),
        )
    })
}

/// Builds `<prisma command> <args> --schema <schema>` from the `[prisma]` section.
/// Only the demo calls it outside a run's context; without the feature (a team's own
/// xtask) it would be dead code and warn on every build of theirs.
#[cfg(feature = "demo")]
pub(crate) fn cli(p: &crate::config::Prisma, args: &[&str]) -> Result<Command, Failure> {
    let direct = direct(p);
    Ok(line(&shell(p, direct.as_deref())?, p, args, direct.as_deref()))
}

fn line(sh: &Shell, p: &crate::config::Prisma, args: &[&str], direct: Option<&Path>) -> Command {
    let (program, prefix): (&OsStr, &[String]) = match direct {
        Some(bin) => (bin.as_os_str(), &[]),
        None => (OsStr::new(&p.command[0]), &p.command[1..]),
    };
    let schema: Vec<&OsStr> =
        p.schema.as_deref().map(|s| vec![OsStr::new("--schema"), s.as_os_str()]).unwrap_or_default();
    cmd!(sh, "{program} {prefix...} {args...} {schema...}").into()
}

/// The directory and environment Prisma runs in: `[prisma] cwd` and `env`; with
/// `direct`, `PATH` starts with its directory, as the runner would have set it.
fn shell(p: &crate::config::Prisma, direct: Option<&Path>) -> Result<Shell, Failure> {
    let sh = proc::shell()?;
    sh.change_dir(&p.cwd);
    for (k, v) in &p.env {
        sh.set_var(k, v);
    }
    if let Some(bin) = direct {
        sh.set_var("PATH", local_bin::path_with(bin, sh.var_os("PATH")));
    }
    // No update notices and no telemetry call: a deploy must not wait on Prisma's
    // checkpoint server (behind a firewall that call hangs until it times out).
    // A `[prisma] env` entry still wins.
    // npx (and `npm exec`, the same code in npm) never downloads a Prisma of its
    // choosing (the latest, not the app's pinned version) when the app's own is not
    // installed: it fails instead.
    if local_bin::npm_exec(&p.command) && !p.env.contains_key(NPX_NO_DOWNLOAD.0) {
        sh.set_var(NPX_NO_DOWNLOAD.0, NPX_NO_DOWNLOAD.1);
    }
    for (k, v) in [("PRISMA_HIDE_UPDATE_MESSAGE", "1"), ("CHECKPOINT_DISABLE", "1")] {
        if !p.env.contains_key(k) {
            sh.set_var(k, v);
        }
    }
    Ok(sh)
}

/// The variable that makes Prisma's schema engine skip its advisory lock (Prisma
/// 5.3.0 and later, native engine; prisma-engines#4171). Any value but "" and "0".
pub(crate) const DISABLE_ADVISORY_LOCK: &str = "PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK";

/// The first Prisma version whose engine honours [`DISABLE_ADVISORY_LOCK`].
const HONOURS_DISABLE_LOCK: (u32, u32) = (5, 3);

/// The version of the `prisma` package installed where Prisma runs, if one is.
pub(crate) fn installed_version(p: &crate::config::Prisma) -> Option<String> {
    p.cwd.ancestors().find_map(|d| {
        let text = std::fs::read_to_string(d.join("node_modules/prisma/package.json")).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["version"].as_str().map(str::to_string)
    })
}

/// Whether the installed Prisma is known to predate [`DISABLE_ADVISORY_LOCK`]
/// (then its engine always waits for Prisma's lock, which the deploy holds).
fn predates_disable_lock(p: &crate::config::Prisma) -> bool {
    let Some(v) = installed_version(p) else { return false };
    let mut parts = v.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) < HONOURS_DISABLE_LOCK
}

/// Runs Prisma, showing its output, and records the call in the run state.
pub(crate) fn run(ctx: &mut Ctx, args: &[&str]) -> Result<Output, Failure> {
    // The run holds Prisma's migrate lock itself (db/lock.rs): its own calls skip
    // it, and name themselves so that an engine which cannot skip it is recognised
    // while it waits. Set last: a `[prisma] env` entry cannot turn the lock back on.
    let direct = direct(&ctx.config.prisma);
    let mut cmd = build(ctx, args, direct.as_deref())?;
    cmd.env(DISABLE_ADVISORY_LOCK, "1").env("PGAPPNAME", crate::db::lock::prisma_app_name());
    // The log and the output name the command as configured; `program` says which
    // file ran instead of the runner.
    let shown = ctx.ui.redact(&self::shown(ctx, args));
    let program = direct.map(|b| ctx.ui.redact(&b.display().to_string()));
    crate::audit::check_lock(ctx, Some(&format!("`{shown}`")))?;
    ctx.ui.event(&format!("$ {shown}"));
    if let Some(bin) = &program {
        ctx.ui
            .event(&format!("  runs {bin} directly (the file `{}` would start)", ctx.config.prisma.command.join(" ")));
    }
    // Written before the call: should this process die during it, the log still
    // says what was running.
    let mut start = serde_json::json!({ "command": shown });
    if let Some(bin) = &program {
        start["program"] = bin.as_str().into();
    }
    crate::audit::record(ctx, "prisma-start", start)?;
    let t0 = Instant::now();
    let release_now = predates_disable_lock(&ctx.config.prisma);
    if let Some(lock) = ctx.state.lock.as_mut() {
        lock.prisma_call_starts(release_now);
    }
    let out = proc::run(ctx.ui, cmd);
    if let Some(lock) = ctx.state.lock.as_mut() {
        lock.prisma_call_ended();
    }
    // Whatever the outcome, Prisma may have written `_prisma_migrations`.
    ctx.db.ledger_changed();
    let out = out?;
    let call =
        PrismaCall { command: shown, program, exit_code: out.status.code(), seconds: t0.elapsed().as_secs_f64() };
    let logged = crate::audit::record(ctx, "prisma", serde_json::to_value(&call).unwrap_or_default());
    ctx.state.ran(format!("`{}` ({})", call.command, proc::describe_status(&out.status)));
    ctx.state.prisma_calls.push(call);
    logged?;
    // Whatever it did, it must have done it under the lock; if the lock went
    // meanwhile, nothing more runs.
    crate::audit::check_lock(ctx, None)?;
    Ok(out)
}

/// What a failed Prisma call was about, from its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// P3009: a failed migration blocks every deploy.
    FailedMigrationRecorded,
    /// P3018 (native engine) or the Wasm engine's connector error: a migration failed to apply.
    MigrationFailedToApply,
    /// P1001: can't reach the database server.
    Unreachable,
    /// P1000: authentication failed.
    Authentication,
    /// P1002: timed out (e.g. waiting for Prisma's advisory lock).
    Timeout,
    /// P1003: the database does not exist.
    NoDatabase,
    /// P1012 and friends: the schema file is invalid.
    SchemaError,
    /// P3008: already recorded as applied.
    AlreadyApplied,
    /// P3011: cannot be rolled back because it was never applied (or has no such name).
    NeverApplied,
    /// P3012: cannot be rolled back because it is not in a failed state.
    NotFailed,
    /// P3017: no such migration.
    NotFound,
    /// Prisma 7's config could not be loaded (a variable it reads is unset) or
    /// has no datasource URL.
    ConfigError,
    /// Prisma could not download its native engine (no network to its binary host).
    EngineUnavailable,
    /// npx found no local Prisma and was told not to download one.
    CliMissing,
    Other,
}

impl Problem {
    /// The exit status a failed Prisma call ends the run with: the database's (3)
    /// when Prisma could not reach or use it, else a failed task (1).
    pub(crate) fn exit(self) -> Exit {
        match self {
            Problem::Unreachable | Problem::Authentication | Problem::NoDatabase => Exit::DatabaseUnreachable,
            _ => Exit::TaskFailed,
        }
    }
}

pub(crate) fn problem(output: &str) -> Problem {
    let has = |s: &str| output.contains(s);
    // Connection problems first: they can come with any command.
    if has("P1001") || has("Can't reach database server") {
        Problem::Unreachable
    } else if has("P1000")
        || has("Authentication failed against database server")
        || has("password authentication failed")
    {
        Problem::Authentication
    } else if has("P1003")
        || (has("Database `") && has("does not exist"))
        // The native engine creates a missing database; a role without CREATEDB gets this.
        || (has("Schema engine error") && has("permission denied to create database"))
    {
        Problem::NoDatabase
    } else if has("P1002") || has("timed out") {
        Problem::Timeout
    } else if has("PrismaConfigEnvError")
        || has("Failed to load config file")
        || has("datasource.url property is required in your Prisma config")
    {
        Problem::ConfigError
    } else if has("P3009") || has("migrate found failed migrations") || has("Following migration have failed") {
        Problem::FailedMigrationRecorded
    } else if has("P3018")
        || has("A migration failed to apply")
        || has("external connector error")
        || has("Error querying the database")
    {
        Problem::MigrationFailedToApply
    } else if has("P3008") || has("is already recorded as applied") {
        Problem::AlreadyApplied
    } else if has("P3011") || has("never applied") {
        Problem::NeverApplied
    } else if has("P3012") || has("cannot be rolled back") {
        Problem::NotFailed
    } else if has("P3017") || has("could not be found") {
        Problem::NotFound
    } else if (has("request to https://") && has("failed, reason:")) || has("Could not find schema-engine binary") {
        Problem::EngineUnavailable
    } else if has("npx canceled due to missing packages") || has("could not determine executable to run") {
        Problem::CliMissing
    } else if has("P1012")
        || has("Could not load `--schema`")
        || has("Schema validation error")
        || has("Error validating")
        || has("Could not find Prisma Schema")
    {
        Problem::SchemaError
    } else {
        Problem::Other
    }
}

/// A sentence saying what a Prisma error means for the user here.
pub(crate) fn explain(problem: Problem, migration: Option<&str>) -> String {
    let m = migration.unwrap_or("the migration");
    match problem {
        Problem::FailedMigrationRecorded => {
            format!("P3009: `{m}` is recorded as failed in _prisma_migrations, so Prisma refuses to deploy until it is resolved")
        }
        Problem::MigrationFailedToApply => {
            format!("P3018: `{m}` failed to apply; its changes were rolled back by the database if it ran in one transaction")
        }
        Problem::Unreachable => "P1001: Prisma cannot reach the database server: check that it runs and that DATABASE_URL points at it".into(),
        Problem::Authentication => "P1000: the database refused the credentials in DATABASE_URL".into(),
        Problem::Timeout => "P1002: the database timed out (another migration may hold Prisma's lock); try again when it is done".into(),
        Problem::NoDatabase => "P1003: the database in DATABASE_URL does not exist (a native Prisma engine tries to create it, and says `permission denied to create database` when the role may not): check the database name".into(),
        Problem::ConfigError => "Prisma could not load its config (prisma.config.ts): a variable it reads with env() is not set in Prisma's environment, or it has no datasource url; Prisma 7 does not read .env itself, this tool passes the variables it has (including a .env next to tasks.toml)".into(),
        Problem::EngineUnavailable => "Prisma could not download its schema engine (its binary host is unreachable from here): install the engines with the project (`npm ci` where Prisma's binary host is reachable) or point PRISMA_SCHEMA_ENGINE_BINARY at one".into(),
        Problem::SchemaError => "the Prisma schema is invalid or was not found: check [prisma] schema in tasks.toml".into(),
        Problem::AlreadyApplied => format!("P3008: `{m}` is already recorded as applied: there is nothing to mark"),
        Problem::NeverApplied => format!(
            "P3011: `{m}` was never applied to this database, so there is nothing to roll back: check the name (`{}` lists them)",
            crate::invocation::cmd("status")
        ),
        Problem::NotFailed => format!("P3012: `{m}` is not in a failed state, so it cannot be marked rolled back (only a failed migration can)"),
        Problem::NotFound => format!("P3017: there is no migration `{m}` in the migrations directory: check the name"),
        Problem::CliMissing => {
            "the Prisma CLI is not installed where Prisma runs ([prisma] cwd), and npx may not download one".into()
        }
        Problem::Other => "Prisma failed; its output is above".into(),
    }
}

mod local_bin;
#[cfg(test)]
mod native_texts;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_runbook_errors() {
        assert_eq!(
            problem("Error: P3009\n\nmigrate found failed migrations in the target database"),
            Problem::FailedMigrationRecorded
        );
        assert_eq!(
            problem("Error: P3018\n\nA migration failed to apply. ... Database error code: 42710"),
            Problem::MigrationFailedToApply
        );
        assert_eq!(
            problem("Error: external connector error\nError querying the database: ERROR: type \"x\" already exists"),
            Problem::MigrationFailedToApply
        );
        assert_eq!(problem("Error: P1001: Can't reach database server at `127.0.0.1:1`"), Problem::Unreachable);
        assert_eq!(problem("Error: P3017\n\nThe migration x could not be found."), Problem::NotFound);
        assert_eq!(problem("something else"), Problem::Other);
    }
}
