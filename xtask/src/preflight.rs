//! The preflight: everything a run with side effects needs, checked before its first
//! task, so that a deploy never takes a long backup only to find a wrong schema path
//! or a missing Prisma CLI. Quick (file checks, `pg_dump --version`, one psql query)
//! and quiet: one line, "preflight ok", or one line per problem and exit 2
//! (configuration) or 3 (database).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{Action, BuiltinKind, Config, Prisma};
use crate::context::{RunDb, TaskArgs};
use crate::db::Target;
use crate::exit::{Exit, Failure};
use crate::packages;
use crate::proc;
use crate::ui::Ui;

/// What the planned tasks need checked.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Schema, migrations and the Prisma CLI (deploy, the resolves).
    pub prisma: bool,
    /// pg_dump, not older than the server (a backup in a run that needs the preflight).
    pub pg_dump: bool,
    /// The right to create databases, and the task that needs it.
    pub create_databases: Option<String>,
}

/// What the run needs checked, or `None` when no task of the run has side effects
/// that a check could spare. A plain `backup` alone checks its own needs before it
/// writes anything (URL, pg_dump, directory, connection), so it needs no preflight;
/// in a deploy it is the side effect the preflight protects.
pub(crate) fn needs(config: &Config, order: &[&str], target: &str, args: &TaskArgs) -> Option<Needs> {
    let mut needs = Needs::default();
    let mut any = false;
    for name in order {
        let Some(task) = config.task(name) else { continue };
        let Action::Uses(kind) = task.action else { continue };
        let own_args = (*name == target).then_some(args);
        match kind {
            BuiltinKind::PrismaDeploy | BuiltinKind::ResolveRolledBack | BuiltinKind::ResolveApplied => {
                needs.prisma = true;
                any = true;
            }
            BuiltinKind::Backup => {
                needs.pg_dump = true;
                if own_args.is_some_and(|a| a.flag("verify-restore")) {
                    needs.create_databases = Some(format!("`{name} --verify-restore` (a scratch database)"));
                    any = true;
                }
            }
            BuiltinKind::Restore => {
                let into = own_args.and_then(|a| a.get("into"));
                needs.create_databases = Some(match into {
                    Some(db) => format!("`{name} --into {db}`"),
                    None => format!("`{name}` over the live database (it drops and re-creates it)"),
                });
                any = true;
            }
            // A fleet's targets each run their own preflight in their own process.
            BuiltinKind::Status | BuiltinKind::Diagnose | BuiltinKind::FleetDeploy | BuiltinKind::FleetReport => {}
        }
    }
    any.then_some(needs)
}

/// What a successful preflight found, as one line.
pub(crate) struct Passed {
    pub line: String,
}

/// A failed preflight: one line per problem; the exit status of the first.
pub(crate) struct Problems {
    pub lines: Vec<String>,
    pub exit: Exit,
}

impl Problems {
    /// One failure for the run: the cause when there is one, else a count.
    pub(crate) fn failure(&self) -> Failure {
        match self.lines.as_slice() {
            [one] => Failure::new(self.exit, format!("preflight: {one}; nothing was run")),
            many => {
                Failure::new(self.exit, format!("preflight: {} problems (listed above); nothing was run", many.len()))
            }
        }
    }
}

/// Runs every check `needs` asks for; all of them, so that one run lists every problem.
pub(crate) fn check(db: &RunDb, ui: &Ui, needs: &Needs) -> Result<Passed, Problems> {
    let config = db.config();
    let t0 = Instant::now();
    let mut found: Vec<String> = Vec::new();
    let mut problems: Vec<Failure> = Vec::new();

    if needs.prisma {
        match files(config) {
            Ok(line) => found.push(line),
            Err(mut fs) => problems.append(&mut fs),
        }
        match prisma_cli(&config.prisma) {
            Ok(line) => found.push(line),
            Err(f) => problems.push(f),
        }
    }
    // Every run that gets here has side effects, each of which the audit log records.
    match crate::audit::check_writable(config) {
        Ok(()) => found.push(format!("audit log {}", crate::audit::path_in(config).display())),
        Err(f) => problems.push(f),
    }
    // The URL first: one that does not parse starts no child at all, not even
    // `pg_dump --version` (issue 24, item 8).
    let target = db.target();
    let pg_dump = if needs.pg_dump && target.is_ok() {
        match pg_dump_version(ui) {
            Ok(v) => v,
            Err(f) => {
                problems.push(f);
                None
            }
        }
    } else {
        None
    };
    match target.and_then(server) {
        Ok(s) => {
            found.push(format!("server {} as `{}`", s.version, s.user));
            if let Some((major, text)) = &pg_dump {
                if *major < s.major {
                    problems.push(Failure::usage(format!(
                        "pg_dump {text} is older than the server ({}), so it would refuse to dump it: install PostgreSQL {}'s client tools (Debian/Ubuntu: postgresql-client-{}) and put them first on PATH",
                        s.version, s.major, s.major
                    )));
                } else {
                    found.push(format!("pg_dump {text}"));
                }
            }
            if let Some(why) = &needs.create_databases {
                if s.can_create_databases {
                    found.push("may create databases".into());
                } else {
                    problems.push(Failure::new(
                        Exit::DatabaseUnreachable,
                        format!(
                            "the role `{}` may not create databases, which {why} needs: ask for `ALTER ROLE {} CREATEDB`, or use a role that may",
                            s.user, s.user
                        ),
                    ));
                }
            }
        }
        Err(f) => problems.push(f),
    }

    if problems.is_empty() {
        Ok(Passed { line: format!("preflight ok ({:.3}s): {}", t0.elapsed().as_secs_f64(), found.join("; ")) })
    } else {
        // Configuration first: a run needs those fixed whatever the database says.
        let exit = problems.iter().map(|f| f.exit).find(|e| *e == Exit::Usage).unwrap_or(problems[0].exit);
        Err(Problems { lines: problems.into_iter().map(|f| f.message).collect(), exit })
    }
}

/// The schema file and the migration folders, each with its migration.sql.
fn files(config: &Config) -> Result<String, Vec<Failure>> {
    let p = &config.prisma;
    let toml = config.path.display();
    let mut problems = Vec::new();
    if let Some(schema) = &p.schema {
        if !crate::config::prisma_schema::is_schema(schema) {
            problems.push(Failure::usage(format!(
                "the schema {} does not exist: fix [prisma] schema in {toml} (relative to its directory; a schema.prisma, or a folder of .prisma files)",
                schema.display()
            )));
        }
    }
    let mut count = 0;
    match &p.migrations {
        None => problems.push(Failure::usage(format!(
            "no migrations directory: set [prisma] schema (the migrations sit beside it) or [prisma] migrations in {toml}"
        ))),
        Some(dir) if !dir.is_dir() => problems.push(Failure::usage(format!(
            "the migrations directory {} does not exist: fix [prisma] migrations (or schema) in {toml}",
            dir.display()
        ))),
        Some(dir) => {
            let mut entries: Vec<PathBuf> =
                std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            entries.sort();
            for e in entries.iter().filter(|e| e.is_dir()) {
                if e.join("migration.sql").is_file() {
                    count += 1;
                } else {
                    // Prisma refuses the whole deploy over such a folder (P3015).
                    problems.push(Failure::usage(format!(
                        "{} has no migration.sql, which Prisma refuses: restore the file from version control, or remove the folder",
                        e.display()
                    )));
                }
            }
        }
    }
    if problems.is_empty() {
        let schema =
            p.schema.as_ref().map(|s| format!("schema {}", s.display())).unwrap_or("Prisma's default schema".into());
        Ok(format!("{schema}, {count} migrations"))
    } else {
        Err(problems)
    }
}

/// Package runners that start a package's binary from `node_modules/.bin`.
const RUNNERS: &[&str] = &["npx", "pnpm", "yarn", "bunx"];

/// The Prisma CLI the configured command starts, and its version, read from its
/// package.json (starting Node for `prisma --version` would cost a second).
fn prisma_cli(p: &Prisma) -> Result<String, Failure> {
    let program = &p.command[0];
    let base = Path::new(program).file_name().and_then(|b| b.to_str()).unwrap_or(program);
    let installed = if RUNNERS.contains(&base) {
        proc::require(program).map_err(Failure::usage)?;
        // The package's binary: the first argument that is not a flag or a runner verb.
        let package = p.command[1..]
            .iter()
            .map(String::as_str)
            .find(|a| !a.starts_with('-') && !matches!(*a, "exec" | "dlx" | "run"))
            .unwrap_or("prisma");
        let bin = package_bin(package);
        let Some(found) = p.cwd.ancestors().map(|d| d.join("node_modules/.bin").join(bin)).find(|b| b.exists()) else {
            return Err(Failure::usage(format!(
                "the app's Prisma CLI is not installed: no node_modules/.bin/{bin} in {} or above, and `{program}` would fetch the latest {package} instead of the app's pinned version: run `{}` in {}",
                p.cwd.display(),
                packages::install_advice(&p.cwd),
                p.cwd.display()
            )));
        };
        found
    } else if program.contains('/') {
        let path = p.cwd.join(program);
        if !path.exists() {
            return Err(Failure::usage(format!(
                "the Prisma CLI {} does not exist: fix [prisma] command, or install the app's dependencies (`{}` in {})",
                path.display(),
                packages::install_advice(&p.cwd),
                p.cwd.display()
            )));
        }
        path
    } else {
        let Some(path) = which(program) else {
            return Err(Failure::usage(proc::spawn_error(program, &std::io::ErrorKind::NotFound.into())));
        };
        path
    };
    Ok(match package_of(&installed) {
        Some((version, dir)) => format!("prisma {version} ({})", dir.display()),
        None => format!("Prisma CLI {} (version unknown: no package.json found beside it)", installed.display()),
    })
}

/// `prisma@6.19.3` runs the binary `prisma`; a scoped package's binary is its last part.
fn package_bin(package: &str) -> &str {
    let name = match package.strip_prefix('@') {
        Some(scoped) => scoped.split_once('@').map_or(scoped, |(n, _)| n),
        None => package.split_once('@').map_or(package, |(n, _)| n),
    };
    name.rsplit('/').next().unwrap_or(name)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(program)).find(|c| c.is_file()))
}

/// The version and directory of the `prisma` package a binary belongs to: the
/// binary is a link into the package (`.bin/prisma` -> `../prisma/build/index.js`).
fn package_of(bin: &Path) -> Option<(String, PathBuf)> {
    let real = std::fs::canonicalize(bin).ok()?;
    for dir in real.ancestors().skip(1).take(6) {
        let Ok(text) = std::fs::read_to_string(dir.join("package.json")) else { continue };
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        if json["name"] == "prisma" {
            return Some((json["version"].as_str()?.to_string(), dir.to_path_buf()));
        }
    }
    None
}

/// pg_dump's major version and its version text; `None` when it does not say (then
/// the backup itself reports what is wrong).
fn pg_dump_version(ui: &Ui) -> Result<Option<(u32, String)>, Failure> {
    proc::require("pg_dump").map_err(Failure::usage)?;
    // The binary the backup will start (pgbin: the real one, not Debian's Perl wrapper).
    let sh = proc::shell()?;
    let pg_dump = crate::pgbin::program(&sh, "pg_dump");
    let out = proc::run_quiet(ui, xshell::cmd!(sh, "{pg_dump} --version").into())?;
    // "pg_dump (PostgreSQL) 15.10 (Debian 15.10-1.pgdg120+1)"
    let version = out
        .success()
        .then(|| out.stdout.split_whitespace().nth(2).map(str::to_string))
        .flatten()
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
    Ok(version.and_then(|v| Some((major(&v)?, v))))
}

fn major(version: &str) -> Option<u32> {
    version.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

struct Server {
    version: String,
    major: u32,
    user: String,
    can_create_databases: bool,
}

/// One query: reachable with these credentials, the server's version, the role and
/// whether it may create databases.
fn server(target: &Target) -> Result<Server, Failure> {
    let rows = target.query_n::<4>(
        "SELECT current_setting('server_version'), current_setting('server_version_num'), current_user, \
         (SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user)",
        &[],
    )?;
    let [version, num, user, create] = rows.into_iter().next().unwrap_or_default();
    let num: u32 = num.as_deref().and_then(|n| n.parse().ok()).unwrap_or(0);
    Ok(Server {
        version: version.unwrap_or_default().split_whitespace().next().unwrap_or("").to_string(),
        major: num / 10_000,
        user: user.unwrap_or_default(),
        can_create_databases: create.as_deref() == Some("t"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_of_a_package_spec() {
        assert_eq!(package_bin("prisma"), "prisma");
        assert_eq!(package_bin("prisma@6.19.3"), "prisma");
        assert_eq!(package_bin("@scope/tool@1.0.0"), "tool");
    }

    #[test]
    fn major_versions() {
        assert_eq!(major("15.10"), Some(15));
        assert_eq!(major("16beta1"), Some(16));
        assert_eq!(major("9.6.24"), Some(9));
        assert_eq!(major("x"), None);
    }
}
