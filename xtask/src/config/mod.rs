//! tasks.toml: the model of the configuration, its parsing and its validation.
//!
//! Every error found here points at the file, line and column it comes from and
//! makes the program exit with status 2 (see `exit::Exit::Config`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub(crate) mod fleet;
pub(crate) mod names;
pub(crate) mod prisma_schema;

pub(crate) use names::BuiltinKind;

/// The name of the configuration file the runner looks for.
pub(crate) const FILE_NAME: &str = "tasks.toml";

/// A configuration error with its location in the file.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending source line and a caret under the column, ready to print.
    pub snippet: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)?;
        if !self.snippet.is_empty() {
            write!(f, "\n{}", self.snippet)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// How a `run` task's command is written.
#[derive(Debug, Clone, PartialEq)]
pub enum RunSpec {
    /// An argv array: run directly, never through a shell.
    Argv(Vec<String>),
    /// A plain string the user chose to write: run with `sh -c`.
    Shell(String),
}

/// What a task does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Run(RunSpec),
    Uses(BuiltinKind),
}

/// One command-line argument a `run` task accepts (built-ins declare their own).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArgSpec {
    pub name: String,
    #[serde(default)]
    pub help: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
}

/// What `deploy` does when a migration is recorded as failed.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Recover {
    /// The runbook: mark the failed migration rolled back and deploy once more.
    RolledBackThenRetry,
    /// Never resolve anything automatically; diagnose and stop.
    Stop,
}

/// How `deploy` rehearses pending migrations on a scratch copy before production.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Rehearse {
    /// A copy of the schema and `_prisma_migrations` (the default).
    Schema,
    /// The backup just taken, data included.
    Full,
    Off,
}

/// What `deploy` does when the evidence says a failed migration did apply.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum IfApplied {
    Stop,
    MarkApplied,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub name: String,
    pub description: String,
    pub deps: Vec<String>,
    /// Byte offset of each dependency's name in the file, for errors found after
    /// loading (a cycle points at the dependency that closes it).
    pub dep_offsets: Vec<usize>,
    pub action: Action,
    pub env: BTreeMap<String, String>,
    /// Absolute working directory (the tasks.toml directory when unset).
    pub cwd: PathBuf,
    pub args: Vec<ArgSpec>,
    pub recover: Recover,
    /// Migration names deploy may resolve automatically; `None` allows any.
    pub allow: Option<Vec<String>>,
    pub if_applied: IfApplied,
    /// `None` when tasks.toml does not say: a schema rehearsal that steps aside
    /// (with a note) where it cannot run, where an explicit one is an error.
    pub rehearse: Option<Rehearse>,
    /// 1-based line of the task's header, for messages.
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Database {
    /// The environment variables that may hold the connection URL, in order: the
    /// first one set and non-empty is used (as Prisma's `process.env.A ??
    /// process.env.B`). Never empty; `url_env = "X"` is a list of one.
    pub url_env: Vec<String>,
    /// The variable holding a direct (not pooled) URL, for the tool's own
    /// connections (pg_dump, the lock, status, evidence): `direct_url_env`, or
    /// what the schema's `directUrl = env("...")` names.
    pub direct_url_env: Option<String>,
    /// `trial_runs`: whether the evidence may run a data-only migration file in a
    /// transaction that is rolled back, to see whether it would change rows (on by default).
    pub trial_runs: bool,
    /// `trial_max_rows`: the largest table (by the catalogs' estimate) a trial run may
    /// touch on production without being asked for (`diagnose --trial`).
    pub trial_max_rows: u64,
}

/// `[rehearsal]`: where deploy's scratch databases go, and the data checks.
#[derive(Debug, Clone, Default)]
pub struct Rehearsal {
    /// An environment variable with the URL of a scratch server; `None`: the
    /// production server.
    pub url_env: Option<String>,
    pub data_checks: DataChecks,
}

/// What a check that could not run (timed out, over budget, could not read the
/// table) does to the deploy.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NotChecked {
    /// Report it as not checked and go on to production (the default).
    #[default]
    Continue,
    /// Stop the deploy before production (exit 4).
    Stop,
}

/// The checks of production's rows that the default rehearsal runs before
/// production (`[rehearsal]` keys `data_checks`, `replica_url_env`,
/// `check_timeout`, `checks_budget`, `not_checked`).
#[derive(Debug, Clone)]
pub struct DataChecks {
    pub enabled: bool,
    /// A read replica's URL variable: the checks read it instead of production.
    pub replica_url_env: Option<String>,
    /// Per check (statement_timeout), milliseconds.
    pub timeout_ms: u64,
    /// All checks together, milliseconds.
    pub budget_ms: u64,
    pub not_checked: NotChecked,
}

impl Default for DataChecks {
    fn default() -> DataChecks {
        DataChecks {
            enabled: true,
            replica_url_env: None,
            timeout_ms: 10_000,
            budget_ms: 60_000,
            not_checked: NotChecked::Continue,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Prisma {
    /// The Prisma CLI as argv, e.g. `["npx", "prisma"]`.
    pub command: Vec<String>,
    /// Absolute path of schema.prisma, passed as `--schema` to every call.
    pub schema: Option<PathBuf>,
    /// Absolute directory Prisma runs in.
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    /// Absolute migrations directory (default: `migrations` beside the schema).
    pub migrations: Option<PathBuf>,
    /// Whether a plain `npx prisma` (or `npm exec prisma`, `pnpm exec prisma`) starts
    /// the project's `node_modules/.bin/prisma` directly, without the runner
    /// (`resolve_bin = false` keeps the runner).
    pub resolve_bin: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BackupFormat {
    Plain,
    Custom,
    Directory,
}

/// When the backup task takes a backup.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BackupWhen {
    /// Every run (the runbook's rule).
    #[default]
    Always,
    /// Only when a migration is pending or failed (nothing to protect otherwise).
    Pending,
}

#[derive(Debug, Clone)]
pub struct Backup {
    pub dir: PathBuf,
    pub prefix: String,
    pub format: BackupFormat,
    /// gzip level 0-9 for custom/directory formats.
    pub compress: Option<u8>,
    /// Parallel jobs, directory format only.
    pub jobs: Option<u32>,
    /// Keep at most this many finished backups (of each database).
    pub keep: Option<u32>,
    pub when: BackupWhen,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// The directory of tasks.toml: relative paths are resolved against it.
    pub root: PathBuf,
    pub database: Database,
    pub prisma: Prisma,
    pub backup: Backup,
    pub rehearsal: Rehearsal,
    /// `[fleet]`: the inventory, limits and waves of a fleet deploy.
    pub(crate) fleet: Option<fleet::Fleet>,
    /// Tasks in the order they are written in the file.
    pub tasks: Vec<Task>,
    /// The file's text, so that checks run after loading can point at a line.
    text: String,
    /// Task name to its position in `tasks`: lookups stay constant-time on
    /// generated configs with thousands of tasks.
    index: std::collections::HashMap<String, usize>,
}

impl Config {
    pub fn task(&self, name: &str) -> Option<&Task> {
        self.index.get(name).map(|&i| &self.tasks[i])
    }

    /// An error at a byte offset of the file, with its line, column and caret.
    pub fn error_at(&self, offset: usize, message: String) -> ConfigError {
        Source { path: &self.path, text: &self.text }.error(offset, message)
    }
}

// ---- raw, as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    prisma: RawPrisma,
    #[serde(default)]
    backup: RawBackup,
    #[serde(default)]
    rehearsal: RawRehearsal,
    fleet: Option<Spanned<fleet::RawFleet>>,
    #[serde(default)]
    tasks: BTreeMap<Spanned<String>, Spanned<RawTask>>,
}

/// `[database] trial_max_rows` unless set: the largest table a trial run may touch on
/// production (see `evidence/trial.rs` for what a trial costs).
pub(crate) const DEFAULT_TRIAL_MAX_ROWS: u64 = 10_000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url_env: Option<Spanned<toml::Value>>,
    direct_url_env: Option<Spanned<String>>,
    trial_runs: Option<bool>,
    trial_max_rows: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRehearsal {
    url_env: Option<Spanned<String>>,
    data_checks: Option<bool>,
    replica_url_env: Option<Spanned<String>>,
    check_timeout: Option<Spanned<f64>>,
    checks_budget: Option<Spanned<f64>>,
    not_checked: Option<NotChecked>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPrisma {
    command: Option<Spanned<toml::Value>>,
    schema: Option<String>,
    cwd: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    migrations: Option<String>,
    resolve_bin: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBackup {
    dir: Option<String>,
    prefix: Option<Spanned<String>>,
    format: Option<BackupFormat>,
    compress: Option<Spanned<u8>>,
    jobs: Option<Spanned<u32>>,
    keep: Option<Spanned<u32>>,
    when: Option<BackupWhen>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    description: Option<String>,
    #[serde(default)]
    deps: Vec<Spanned<String>>,
    run: Option<Spanned<toml::Value>>,
    uses: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<String>,
    #[serde(default)]
    args: Vec<ArgSpec>,
    recover: Option<Spanned<Recover>>,
    allow: Option<Spanned<Vec<String>>>,
    if_applied: Option<Spanned<IfApplied>>,
    rehearse: Option<Spanned<Rehearse>>,
}

/// Walks up from `start` to find tasks.toml.
pub(crate) fn discover(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|dir| dir.join(FILE_NAME)).find(|candidate| candidate.is_file())
}

/// Reads and validates a tasks.toml file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("cannot read the file: {e}"),
        snippet: String::new(),
    })?;
    parse(path, &text)
}

/// Parses and validates tasks.toml text; `path` is used for messages and to resolve
/// relative paths.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let src = Source { path, text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        src.error(at, e.message().trim_end().to_string())
    })?;
    let root =
        path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p }).unwrap_or(Path::new("."));
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    build(&src, &root, raw)
}

struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    /// Byte offsets where lines start, for line numbers without rescanning the
    /// text for each task (which made a 10,000-task file quadratic to load).
    fn line_starts(&self) -> Vec<usize> {
        std::iter::once(0).chain(self.text.match_indices('\n').map(|(i, _)| i + 1)).collect()
    }

    fn error(&self, offset: usize, message: String) -> ConfigError {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = self.text[line_start..offset].chars().count() + 1;
        let line_text = self.text[line_start..].lines().next().unwrap_or("").trim_end_matches('\r');
        let gutter = line.to_string();
        let pad = " ".repeat(gutter.len());
        let snippet = format!("{pad} |\n{gutter} | {line_text}\n{pad} | {}^", " ".repeat(column - 1));
        ConfigError { file: self.path.to_path_buf(), line, column, message, snippet }
    }
}

/// `[database] url_env`: one variable name, or an array of them tried in order.
fn url_env_list(value: &toml::Value) -> Result<Vec<String>, String> {
    let names: Vec<&str> = match value {
        toml::Value::String(s) => vec![s.as_str()],
        toml::Value::Array(items) => {
            items.iter().map(|i| i.as_str().ok_or(())).collect::<Result<_, _>>().map_err(|()| {
                "database.url_env must be a variable name or an array of them, e.g. [\"DIRECT_URL\", \"DATABASE_URL\"]"
                    .to_string()
            })?
        }
        _ => return Err("database.url_env must be a variable name or an array of them, e.g. \"DATABASE_URL\"".into()),
    };
    if names.is_empty() {
        return Err("database.url_env must name at least one variable, e.g. [\"DIRECT_URL\", \"DATABASE_URL\"]".into());
    }
    if names.iter().any(|n| n.trim().is_empty()) {
        return Err("database.url_env must not be empty".into());
    }
    Ok(names.into_iter().map(String::from).collect())
}

fn build(src: &Source, root: &Path, raw: RawConfig) -> Result<Config, ConfigError> {
    let mut database = build_database(src, raw.database)?;
    let rehearsal = build_rehearsal(src, raw.rehearsal)?;
    let prisma = build_prisma(src, root, raw.prisma)?;
    // A schema that declares `directUrl = env("...")` names the direct URL itself.
    if database.direct_url_env.is_none() {
        database.direct_url_env = prisma
            .schema
            .as_deref()
            .and_then(prisma_schema::datasource_of)
            .and_then(|d| d.direct_url_env)
            .filter(|d| !database.url_env.contains(d));
    }

    let backup = build_backup(src, root, raw.backup)?;
    let fleet = raw.fleet.map(|f| fleet::build(src, root, f)).transpose()?;

    // Tasks, in file order.
    let mut raw_tasks: Vec<(Spanned<String>, Spanned<RawTask>)> = raw.tasks.into_iter().collect();
    raw_tasks.sort_by_key(|(name, _)| name.span().start);
    let names: BTreeSet<String> = raw_tasks.iter().map(|(n, _)| n.get_ref().clone()).collect();

    let line_starts = src.line_starts();
    let mut tasks = Vec::new();
    for (name, task) in raw_tasks {
        tasks.push(build_task(src, root, &names, &line_starts, name, task)?);
    }

    fleet::check_tasks(src, fleet.as_ref(), &tasks)?;

    let config = Config {
        path: src.path.to_path_buf(),
        root: root.to_path_buf(),
        database,
        prisma,
        backup,
        rehearsal,
        fleet,
        index: tasks.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect(),
        tasks,
        text: src.text.to_string(),
    };
    Ok(config)
}

/// `[database]`: the variables that hold the URL, checked.
fn build_database(src: &Source, raw: RawDatabase) -> Result<Database, ConfigError> {
    Ok(Database {
        url_env: match raw.url_env {
            Some(v) => url_env_list(v.get_ref()).map_err(|why| src.error(v.span().start, why))?,
            None => vec!["DATABASE_URL".into()],
        },
        direct_url_env: match raw.direct_url_env {
            Some(v) if v.get_ref().trim().is_empty() => {
                return Err(src.error(v.span().start, "database.direct_url_env must not be empty".into()))
            }
            Some(v) => Some(v.into_inner()),
            None => None,
        },
        trial_runs: raw.trial_runs.unwrap_or(true),
        trial_max_rows: raw.trial_max_rows.unwrap_or(DEFAULT_TRIAL_MAX_ROWS),
    })
}

/// `[rehearsal]`: where the scratch copy goes and the limits of its data checks.
fn build_rehearsal(src: &Source, raw: RawRehearsal) -> Result<Rehearsal, ConfigError> {
    Ok(Rehearsal {
        url_env: match raw.url_env {
            Some(v) if v.get_ref().trim().is_empty() => {
                return Err(src.error(v.span().start, "rehearsal.url_env must not be empty".into()))
            }
            Some(v) => Some(v.into_inner()),
            None => None,
        },
        data_checks: {
            let defaults = DataChecks::default();
            let seconds = |v: Option<Spanned<f64>>, key: &str, default: u64| match v {
                Some(v) if !(v.get_ref().is_finite() && *v.get_ref() > 0.0 && *v.get_ref() <= 86_400.0) => {
                    Err(src
                        .error(v.span().start, format!("rehearsal.{key} must be a number of seconds above 0, e.g. 10")))
                }
                Some(v) => Ok((v.into_inner() * 1000.0).round().max(1.0) as u64),
                None => Ok(default),
            };
            DataChecks {
                enabled: raw.data_checks.unwrap_or(true),
                replica_url_env: match raw.replica_url_env {
                    Some(v) if v.get_ref().trim().is_empty() => {
                        return Err(src.error(v.span().start, "rehearsal.replica_url_env must not be empty".into()))
                    }
                    Some(v) => Some(v.into_inner()),
                    None => None,
                },
                timeout_ms: seconds(raw.check_timeout, "check_timeout", defaults.timeout_ms)?,
                budget_ms: seconds(raw.checks_budget, "checks_budget", defaults.budget_ms)?,
                not_checked: raw.not_checked.unwrap_or_default(),
            }
        },
    })
}

/// `[prisma]`: the command, schema and migrations directory, resolved against the
/// config's directory.
fn build_prisma(src: &Source, root: &Path, raw: RawPrisma) -> Result<Prisma, ConfigError> {
    let prisma_cwd = resolve(root, raw.cwd.as_deref().unwrap_or("."));
    let schema = raw.schema.as_deref().map(|s| resolve(root, s));
    Ok(Prisma {
        command: match raw.command {
            None => vec!["npx".into(), "prisma".into()],
            Some(v) => match command_value(v.get_ref()) {
                Some(RunSpec::Argv(argv)) if !argv.is_empty() => argv,
                Some(RunSpec::Shell(s)) if !s.trim().is_empty() => s.split_whitespace().map(String::from).collect(),
                _ => {
                    return Err(src.error(
                        v.span().start,
                        "prisma.command must be a non-empty array of strings, e.g. [\"npx\", \"prisma\"]".into(),
                    ))
                }
            },
        },
        migrations: raw
            .migrations
            .as_deref()
            .map(|m| resolve(root, m))
            .or_else(|| schema.as_ref().and_then(|s| s.parent().map(|d| d.join("migrations")))),
        schema,
        cwd: prisma_cwd,
        env: raw.env,
        resolve_bin: raw.resolve_bin.unwrap_or(true),
    })
}

/// `[backup]`: where dumps go and in which format, with the options that format
/// allows.
fn build_backup(src: &Source, root: &Path, raw: RawBackup) -> Result<Backup, ConfigError> {
    let prefix = match raw.prefix {
        Some(p) => {
            let ok = !p.get_ref().is_empty()
                && p.get_ref().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
            if !ok {
                return Err(src
                    .error(p.span().start, "backup.prefix may only contain letters, digits, '-', '_' and '.'".into()));
            }
            p.into_inner()
        }
        None => "pre-migration".into(),
    };
    let format = raw.format.unwrap_or(BackupFormat::Plain);
    if let Some(c) = &raw.compress {
        if *c.get_ref() > 9 {
            return Err(src.error(c.span().start, "backup.compress is a gzip level from 0 to 9".into()));
        }
        if format == BackupFormat::Plain {
            return Err(src.error(
                c.span().start,
                "backup.compress needs format = \"custom\" or \"directory\" (a plain dump stays readable SQL)".into(),
            ));
        }
    }
    if let Some(j) = &raw.jobs {
        if format != BackupFormat::Directory || *j.get_ref() == 0 {
            return Err(
                src.error(j.span().start, "backup.jobs (1 or more) only works with format = \"directory\"".into())
            );
        }
    }
    if let Some(k) = &raw.keep {
        if *k.get_ref() == 0 {
            return Err(src.error(
                k.span().start,
                "backup.keep must be at least 1: the backup just written is always kept".into(),
            ));
        }
    }
    Ok(Backup {
        dir: resolve(root, raw.dir.as_deref().unwrap_or("backups")),
        prefix,
        format,
        compress: raw.compress.map(|c| c.into_inner()),
        jobs: raw.jobs.map(|j| j.into_inner()),
        keep: raw.keep.map(|k| k.into_inner()),
        when: raw.when.unwrap_or_default(),
    })
}

/// One `[tasks.NAME]` table, checked against the names of all tasks: its action,
/// dependencies, policy keys and arguments.
fn build_task(
    src: &Source,
    root: &Path,
    names: &BTreeSet<String>,
    line_starts: &[usize],
    name: Spanned<String>,
    task: Spanned<RawTask>,
) -> Result<Task, ConfigError> {
    let header = name.span().start;
    let task_span = task.span();
    let t = task.into_inner();
    let name = name.into_inner();
    if names::RESERVED.contains(&name.as_str()) {
        return Err(src.error(header, format!("task name `{name}` is reserved by the tool: choose another name")));
    }
    if !valid_task_name(&name) {
        return Err(src.error(
            header,
            format!("task name `{name}` may only contain letters, digits, '-' and '_', and must not start with '-'"),
        ));
    }
    let action = task_action(src, &name, task_span.start, t.run, t.uses)?;
    for dep in &t.deps {
        if !names.contains(dep.get_ref()) {
            return Err(
                src.error(dep.span().start, format!("task `{name}` depends on unknown task `{}`", dep.get_ref()))
            );
        }
    }
    let policy_keys = match &action {
        Action::Uses(kind) => kind.policy_keys(),
        Action::Run(_) => &[],
    };
    for (key, at) in [
        ("recover", t.recover.as_ref().map(|s| s.span().start)),
        ("allow", t.allow.as_ref().map(|s| s.span().start)),
        ("if_applied", t.if_applied.as_ref().map(|s| s.span().start)),
        ("rehearse", t.rehearse.as_ref().map(|s| s.span().start)),
    ] {
        if let (Some(at), false) = (at, policy_keys.contains(&key)) {
            let owners: Vec<&str> =
                BuiltinKind::ALL.iter().filter(|k| k.policy_keys().contains(&key)).map(|k| k.name()).collect();
            return Err(src.error(
                at,
                format!("task `{name}`: `{key}` only applies to a task with uses = \"{}\"", owners.join("\" or \"")),
            ));
        }
    }
    if !t.args.is_empty() && !matches!(action, Action::Run(_)) {
        return Err(src.error(
            task_span.start,
            format!("task `{name}`: `args` only applies to `run` tasks; built-ins declare their own arguments"),
        ));
    }
    check_task_args(src, &name, task_span.start, &t.args)?;
    Ok(Task {
        line: line_starts.partition_point(|&start| start <= header),
        description: t.description.unwrap_or_default(),
        dep_offsets: t.deps.iter().map(|d| d.span().start).collect(),
        deps: t.deps.into_iter().map(|d| d.into_inner()).collect(),
        action,
        env: t.env,
        cwd: resolve(root, t.cwd.as_deref().unwrap_or(".")),
        args: t.args,
        recover: t.recover.map(|r| r.into_inner()).unwrap_or(Recover::RolledBackThenRetry),
        allow: t.allow.map(|a| a.into_inner()),
        if_applied: t.if_applied.map(|r| r.into_inner()).unwrap_or(IfApplied::Stop),
        rehearse: t.rehearse.map(|r| r.into_inner()),
        name,
    })
}

/// What a task does: its `run` command or its `uses` built-in (exactly one).
fn task_action(
    src: &Source,
    name: &str,
    at: usize,
    run: Option<Spanned<toml::Value>>,
    uses: Option<Spanned<String>>,
) -> Result<Action, ConfigError> {
    Ok(match (run, uses) {
        (Some(_), Some(u)) => {
            return Err(src.error(u.span().start, format!("task `{name}` has both `run` and `uses`: keep one")))
        }
        (None, None) => {
            return Err(src.error(at, format!("task `{name}` needs `run` (a command) or `uses` (a built-in)")))
        }
        (Some(run), None) => match command_value(run.get_ref()) {
            Some(RunSpec::Argv(argv)) if argv.is_empty() => {
                return Err(src.error(run.span().start, format!("task `{name}`: `run` is an empty array")))
            }
            Some(spec) => Action::Run(spec),
            None => {
                return Err(src.error(
                    run.span().start,
                    format!("task `{name}`: `run` must be an array of strings (argv) or a string (run with sh -c)"),
                ))
            }
        },
        (None, Some(uses)) => {
            let Some(kind) = BuiltinKind::from_name(uses.get_ref()) else {
                let all: Vec<&str> = BuiltinKind::ALL.iter().map(|k| k.name()).collect();
                return Err(src.error(
                    uses.span().start,
                    format!(
                        "task `{name}` uses unknown built-in `{}`; the built-ins are: {}",
                        uses.get_ref(),
                        all.join(", ")
                    ),
                ));
            };
            Action::Uses(kind)
        }
    })
}

/// A `run` task's declared arguments: valid, unique names that are not global
/// flags, required ones first.
fn check_task_args(src: &Source, name: &str, at: usize, args: &[ArgSpec]) -> Result<(), ConfigError> {
    let mut seen_args = BTreeSet::new();
    let mut optional_seen = false;
    for a in args {
        let why = if !valid_task_name(&a.name) {
            Some("may only contain letters, digits, '-' and '_'")
        } else if !seen_args.insert(a.name.clone()) {
            Some("is given twice")
        } else if names::GLOBAL_FLAGS.contains(&a.name.as_str()) || a.name == "help" || a.name == "version" {
            Some("is the name of a global flag")
        } else if a.required && a.default.is_some() {
            Some("is required and has a default: keep one")
        } else if a.required && optional_seen {
            Some("is required but comes after an optional argument: put required arguments first")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(src.error(at, format!("task `{name}`: argument `{}` {why}", a.name)));
        }
        optional_seen |= !a.required;
    }
    Ok(())
}

fn valid_task_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn command_value(v: &toml::Value) -> Option<RunSpec> {
    match v {
        toml::Value::String(s) => Some(RunSpec::Shell(s.clone())),
        toml::Value::Array(items) => {
            items.iter().map(|i| i.as_str().map(String::from)).collect::<Option<Vec<_>>>().map(RunSpec::Argv)
        }
        _ => None,
    }
}

fn resolve(root: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shared with the tests of `config::fleet`.
    pub(super) fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("/repo/tasks.toml"), text)
    }

    pub(super) fn err(text: &str) -> String {
        let e = parse_str(text).unwrap_err();
        format!("{}:{}: {}", e.line, e.column, e.message)
    }

    #[test]
    fn defaults_apply() {
        let c = parse_str("[tasks.a]\nrun = [\"true\"]\n").unwrap();
        assert_eq!(c.database.url_env, ["DATABASE_URL"]);
        assert_eq!(c.prisma.command, vec!["npx", "prisma"]);
        assert!(c.prisma.resolve_bin);
        assert_eq!(c.backup.prefix, "pre-migration");
        assert_eq!(c.backup.dir, Path::new("/repo/backups"));
        assert_eq!(c.tasks[0].cwd, Path::new("/repo/."));
    }

    #[test]
    fn resolve_bin_can_be_turned_off() {
        let c = parse_str("[prisma]\nresolve_bin = false\n[tasks.a]\nrun = [\"true\"]\n").unwrap();
        assert!(!c.prisma.resolve_bin);
        assert!(err("[prisma]\nresolve_bin = \"no\"\n[tasks.a]\nrun = [\"true\"]\n").starts_with("2:15: invalid type"));
    }

    #[test]
    fn tasks_keep_file_order() {
        let c = parse_str("[tasks.zeta]\nrun=[\"true\"]\n[tasks.alpha]\nrun=[\"true\"]\n").unwrap();
        let names: Vec<_> = c.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
    }

    #[test]
    fn unknown_dependency_points_at_it() {
        assert_eq!(
            err("[tasks.a]\nrun = [\"true\"]\ndeps = [\"nope\"]\n"),
            "3:9: task `a` depends on unknown task `nope`"
        );
    }

    #[test]
    fn run_and_uses_together() {
        assert_eq!(
            err("[tasks.a]\nrun = [\"true\"]\nuses = \"backup\"\n"),
            "3:8: task `a` has both `run` and `uses`: keep one"
        );
    }

    #[test]
    fn missing_run_and_uses() {
        assert!(err("[tasks.a]\ndescription = \"x\"\n")
            .ends_with("task `a` needs `run` (a command) or `uses` (a built-in)"));
    }

    #[test]
    fn unknown_builtin() {
        assert!(err("[tasks.a]\nuses = \"bakup\"\n").starts_with("2:8: task `a` uses unknown built-in `bakup`"));
    }

    #[test]
    fn wrong_type_and_unknown_key() {
        assert!(err("[tasks.a]\nrun = [\"true\"]\ndeps = 3\n").starts_with("3:8: invalid type: integer `3`"));
        assert!(
            err("[tasks.a]\nrun = [\"true\"]\ndeps = [\"a\"]\ncolour = 1\n").starts_with("4:1: unknown field `colour`")
        );
        assert!(err("[backup]\nkeeep = 3\n").starts_with("2:1: unknown field `keeep`"));
        assert!(err("[tasks.a]\nrun = [1]\n").starts_with("2:7: task `a`: `run` must be"));
    }

    #[test]
    fn policy_keys_only_on_deploy() {
        assert!(err("[tasks.a]\nrun = [\"true\"]\nrecover = \"stop\"\n")
            .contains("only applies to a task with uses = \"prisma-deploy\""));
        let c = parse_str("[tasks.d]\nuses = \"prisma-deploy\"\nrecover = \"stop\"\nallow = [\"m1\"]\n").unwrap();
        assert_eq!(c.tasks[0].recover, Recover::Stop);
        assert_eq!(c.tasks[0].allow.as_deref(), Some(&["m1".to_string()][..]));
        assert!(err("[tasks.d]\nuses = \"prisma-deploy\"\nrecover = \"retry\"\n")
            .starts_with("3:11: unknown variant `retry`"));
    }

    #[test]
    fn url_env_is_a_name_or_a_list_of_names_in_order() {
        let c = parse_str("[database]\nurl_env = \"POSTGRES_URL\"\n").unwrap();
        assert_eq!(c.database.url_env, ["POSTGRES_URL"]);
        let c = parse_str("[database]\nurl_env = [\"DIRECT_URL\", \"DATABASE_URL\"]\n").unwrap();
        assert_eq!(c.database.url_env, ["DIRECT_URL", "DATABASE_URL"]);
        assert_eq!(
            err("[database]\nurl_env = []\n"),
            "2:11: database.url_env must name at least one variable, e.g. [\"DIRECT_URL\", \"DATABASE_URL\"]"
        );
        assert!(err("[database]\nurl_env = [\"A\", 1]\n")
            .starts_with("2:11: database.url_env must be a variable name or an array"));
        assert!(err("[database]\nurl_env = [\"A\", \" \"]\n").starts_with("2:11: database.url_env must not be empty"));
        assert!(err("[database]\nurl_env = \"\"\n").starts_with("2:11: database.url_env must not be empty"));
        let e = parse_str("\n[database]\nurl_env = []\n").unwrap_err();
        assert_eq!((e.file.as_path(), e.line), (Path::new("/repo/tasks.toml"), 3));
    }

    #[test]
    fn rehearse_and_the_rehearsal_section() {
        let c = parse_str(
            "[rehearsal]\nurl_env = \"SCRATCH_URL\"\n[tasks.d]\nuses = \"prisma-deploy\"\nrehearse = \"full\"\n",
        )
        .unwrap();
        assert_eq!(c.tasks[0].rehearse, Some(Rehearse::Full));
        assert_eq!(c.rehearsal.url_env.as_deref(), Some("SCRATCH_URL"));
        let c = parse_str("[tasks.d]\nuses = \"prisma-deploy\"\n").unwrap();
        assert_eq!((c.tasks[0].rehearse, c.rehearsal.url_env), (None, None));
        assert!(
            err("[tasks.d]\nuses = \"prisma-deploy\"\nrehearse = \"yes\"\n").starts_with("3:12: unknown variant `yes`")
        );
        assert!(err("[tasks.b]\nuses = \"backup\"\nrehearse = \"off\"\n")
            .contains("`rehearse` only applies to a task with uses = \"prisma-deploy\""));
        assert!(err("[rehearsal]\nurl_env = \" \"\n").contains("rehearsal.url_env must not be empty"));
        let e = err("[database]\ntrial_runs = \"no\"\n");
        assert!(e.contains("invalid type: string \"no\", expected a boolean"), "{e}");
        assert!(parse_str("[tasks.d]\nuses = \"prisma-deploy\"\n").unwrap().database.trial_runs);
        assert!(
            !parse_str("[database]\ntrial_runs = false\n[tasks.d]\nuses = \"prisma-deploy\"\n")
                .unwrap()
                .database
                .trial_runs
        );
        let max = |toml: &str| {
            parse_str(&format!("{toml}[tasks.d]\nuses = \"prisma-deploy\"\n")).map(|c| c.database.trial_max_rows)
        };
        assert_eq!(max("").unwrap(), 10_000);
        assert_eq!(max("[database]\ntrial_max_rows = 250000\n").unwrap(), 250_000);
        assert!(max("[database]\ntrial_max_rows = -1\n").is_err());
    }

    #[test]
    fn snippet_has_a_caret_under_the_column() {
        let e = parse_str("[tasks.a]\nrun = [\"true\"]\ndeps = [\"nope\"]\n").unwrap_err();
        assert_eq!(e.snippet, "  |\n3 | deps = [\"nope\"]\n  |         ^");
    }

    #[test]
    fn argument_specs_that_the_command_line_could_not_take_are_errors() {
        let e = err("[tasks.a]\nrun = [\"x\"]\nargs = [{ name = \"config\" }]\n");
        assert!(e.ends_with("argument `config` is the name of a global flag"), "{e}");
        let e = err("[tasks.a]\nrun = [\"x\"]\nargs = [{ name = \"a\" }, { name = \"b\", required = true }]\n");
        assert!(e.contains("comes after an optional argument"), "{e}");
        let e = err("[tasks.a]\nrun = [\"x\"]\nargs = [{ name = \"a\", required = true, default = \"1\" }]\n");
        assert!(e.contains("is required and has a default"), "{e}");
        assert!(err("[tasks.help]\nrun = [\"x\"]\n").contains("reserved"));
    }

    /// Every valid configuration gives a command line clap accepts (clap's own
    /// consistency checks panic otherwise): generated task and argument shapes.
    #[test]
    fn valid_configs_build_a_consistent_command_line() {
        let names = ["a", "b-c", "d_e", "list", "config", "yes", "x1"];
        let mut seed: u64 = 7;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for _ in 0..300 {
            let mut text = String::new();
            for t in 0..(1 + next() % 3) {
                text.push_str(&format!("[tasks.t{t}]\nrun = [\"x\"]\nargs = ["));
                for _ in 0..next() % 4 {
                    let flavour = match next() % 3 {
                        0 => ", required = true",
                        1 => ", default = \"v\"",
                        _ => "",
                    };
                    text.push_str(&format!("{{ name = \"{}\"{flavour} }}, ", names[next() % names.len()]));
                }
                text.push_str("]\n");
            }
            if let Ok(config) = parse_str(&text) {
                crate::cli::command(Some(&config)).debug_assert();
            }
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        for text in ["[", "[tasks]\na = 1", "tasks = 3", "[tasks.\"\"]\nrun=[\"x\"]", "\u{0}", "[tasks.a]\nrun = []"] {
            assert!(parse_str(text).is_err(), "{text:?} should be an error");
        }
    }
}
