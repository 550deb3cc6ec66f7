//! What `deploy`, `diagnose` and the resolve built-ins share: the evidence for one
//! migration (did it apply?), marking a migration with `prisma migrate resolve`
//! and checking the mark took, asking for a yes, and the next commands to offer.

use crate::config::{Action, BuiltinKind};
use crate::context::{diagnosis_lines, Ctx, Diagnosis, Resolution};
use crate::db::Target;
use crate::evidence::{self, Evidence, Verdict};
use crate::exit::{Exit, Failure};
use crate::migrations::{self, Row};
use crate::prisma::{self, Problem};

/// The migrations directory from the config, or a message saying how to set it.
pub fn migrations_dir(ctx: &Ctx) -> Result<std::path::PathBuf, Failure> {
    ctx.config.prisma.migrations.clone().ok_or_else(|| {
        Failure::new(Exit::Usage, "no migrations directory: set [prisma] schema (the migrations sit beside it) or [prisma] migrations in tasks.toml")
    })
}

/// What the database says about one migration.
pub struct Assessment {
    pub migration: String,
    pub evidence: Option<Evidence>,
    /// Why there is no evidence, or what qualifies it.
    pub note: Option<String>,
}

impl Assessment {
    pub fn verdict(&self) -> Option<Verdict> {
        self.evidence.as_ref().map(|e| e.verdict)
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let mut s = match &self.evidence {
            None => "no evidence".to_string(),
            Some(e) => evidence::summary(e),
        };
        if let Some(n) = &self.note {
            s.push_str(&format!(" ({n})"));
        }
        s
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "migration": self.migration,
            "verdict": self.verdict().map(|v| format!("{v:?}")),
            "summary": self.summary(),
        })
    }
}

/// Assesses `name` against the database. An object the failed attempt's own error
/// says "already exists" existed before that attempt ran (that is why it failed), so
/// its presence is not counted as evidence that the migration applied, unless an
/// earlier attempt of the same migration (a rolled-back row of the same name) exists:
/// then the object may be that attempt's leftover, and it counts like any other.
pub fn evidence_for(ctx: &Ctx, target: &Target, name: &str) -> Result<Assessment, Failure> {
    let dir = migrations_dir(ctx)?;
    let path = dir.join(name).join("migration.sql");
    let Ok(sql) = std::fs::read_to_string(&path) else {
        return Ok(Assessment {
            migration: name.to_string(),
            evidence: None,
            note: Some(format!("{} is not on disk", path.display())),
        });
    };
    let rows = migrations::read_table(target)?.unwrap_or_default();
    let failed: Option<&Row> = rows.iter().rev().find(|r| r.migration_name == name && r.is_failed());
    let earlier_attempt = rows.iter().any(|r| r.migration_name == name && r.rolled_back_at.is_some());
    let pre_existing = failed.filter(|_| !earlier_attempt).and_then(|r| already_exists(r.error().message.as_deref()?));
    let mut ev = evidence::assess(target, &sql, &target.url.schema)?;
    let mut note = None;
    if let Some(obj) = &pre_existing {
        let before = ev.present.len();
        ev.present.retain(|e| !evidence::names_object(e, obj));
        if ev.present.len() != before {
            ev.verdict = evidence::verdict_of(&ev);
            note = Some(format!("`{obj}` is not counted: the failed attempt says it already existed"));
        }
    }
    if let Some(r) = failed {
        let local = migrations::read_dir(&dir)?;
        if local.iter().any(|l| l.name == name && l.checksum != r.checksum) {
            let n = "migration.sql has changed since the failed attempt; the check reads the current file".to_string();
            note = Some(match note {
                Some(prev) => format!("{prev}; {n}"),
                None => n,
            });
        }
    }
    Ok(Assessment { migration: name.to_string(), evidence: Some(ev), note })
}

/// The object name in `type "x" already exists` / `relation "x" already exists`.
fn already_exists(message: &str) -> Option<String> {
    let rest = message.strip_suffix("already exists")?.trim_end();
    let start = rest.find('"')?;
    let end = rest.rfind('"')?;
    (end > start).then(|| rest[start + 1..end].to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    RolledBack,
    Applied,
}

impl Mark {
    pub fn flag(self) -> &'static str {
        match self {
            Mark::RolledBack => "--rolled-back",
            Mark::Applied => "--applied",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Mark::RolledBack => "rolled-back",
            Mark::Applied => "applied",
        }
    }
}

/// Prisma can report success without changing anything (e.g. `--rolled-back` on a
/// name whose failed row was already rolled back): check the table says what we asked.
pub fn verify_marked(target: &Target, name: &str, mark: Mark) -> Result<(), Failure> {
    let rows = migrations::read_table(target)?.unwrap_or_default();
    let mine: Vec<&Row> = rows.iter().filter(|r| r.migration_name == name).collect();
    let ok = match mark {
        Mark::RolledBack => !mine.is_empty() && !mine.iter().any(|r| r.is_failed()),
        Mark::Applied => mine.iter().any(|r| r.is_applied()) && !mine.iter().any(|r| r.is_failed()),
    };
    if ok {
        Ok(())
    } else {
        Err(Failure::task(format!(
            "Prisma reported success, but _prisma_migrations does not show `{name}` as {}: check it with `cargo xtask status`",
            mark.word()
        )))
    }
}

/// Gets a yes: `--yes`, or an answer on the terminal. Without either, refuses
/// rather than hang.
pub fn confirm(ctx: &Ctx, question: &str) -> Result<(), Failure> {
    if ctx.opts.yes {
        return Ok(());
    }
    match ctx.ui.confirm(question) {
        Some(true) => Ok(()),
        Some(false) => Err(Failure::task("not confirmed: nothing was changed")),
        None => Err(Failure::new(
            Exit::Usage,
            format!("{question} This needs a confirmation and there is no terminal to ask on: pass --yes to confirm (nothing was changed)"),
        )),
    }
}

/// Runs `prisma migrate resolve` and records the resolution.
pub fn mark_migration(
    ctx: &mut Ctx,
    name: &str,
    mark: Mark,
    reason: &str,
    evidence: serde_json::Value,
) -> Result<(), Failure> {
    // Checked before the resolve is announced: a run that lost its lock resolves nothing.
    crate::audit::check_lock(ctx, Some(&format!("resolving `{name}`")))?;
    crate::audit::record(
        ctx,
        "resolve-start",
        serde_json::json!({ "migration": name, "as": mark.word(), "reason": reason }),
    );
    let out = prisma::run(ctx, &["migrate", "resolve", mark.flag(), name])?;
    if !out.success() {
        let p = prisma::problem(&out.combined());
        let exit = match p {
            Problem::Unreachable | Problem::Authentication | Problem::NoDatabase => Exit::DatabaseUnreachable,
            _ => Exit::TaskFailed,
        };
        return Err(Failure::new(exit, prisma::explain(p, Some(name))));
    }
    ctx.ui.event(&format!("marked `{name}` as {}", mark.word()));
    let resolution =
        Resolution { migration: name.to_string(), as_: mark.word().to_string(), reason: reason.to_string() };
    crate::audit::record(
        ctx,
        "resolve",
        serde_json::json!({ "migration": name, "as": mark.word(), "reason": reason, "evidence": evidence }),
    );
    ctx.state.resolutions.push(resolution);
    Ok(())
}
/// The commands to choose from after a failed migration, using this config's task
/// names when it has resolve tasks.
pub fn next_commands(ctx: &Ctx, name: &str) -> Vec<String> {
    let task_for = |builtin: BuiltinKind| {
        ctx.config
            .tasks
            .iter()
            .find(|t| t.action == Action::Uses(builtin))
            .map(|t| format!("cargo xtask {} {name}", t.name))
    };
    let rolled_back = task_for(BuiltinKind::ResolveRolledBack)
        .unwrap_or_else(|| prisma::command(ctx, &["migrate", "resolve", "--rolled-back", name]).display());
    let applied = task_for(BuiltinKind::ResolveApplied)
        .unwrap_or_else(|| prisma::command(ctx, &["migrate", "resolve", "--applied", name]).display());
    vec![
        format!(
            "{rolled_back}   # after fixing migration.sql, if its changes are NOT in the database; then deploy again"
        ),
        format!("{applied}   # if its changes ARE in the database; then deploy again"),
    ]
}

pub fn print_diagnosis(ctx: &Ctx, d: &Diagnosis) {
    for (i, line) in diagnosis_lines(d).iter().enumerate() {
        if i == 0 {
            ctx.ui.event(&format!("diagnosis: {line}"));
        } else {
            ctx.ui.event(&format!("  {line}"));
        }
    }
}
