//! `diagnose [NAME]`: did the failed migration apply? Reads its migration.sql and
//! checks the catalogs for what it creates or changes (see `evidence`). `deploy`
//! asks the same question before any automatic resolve.

use super::{ArgKind, Builtin, BuiltinArg};
use crate::db::Target;
use crate::evidence::{self, Evidence, Verdict};
use crate::exit::Exit;
use crate::migrations::{self, Row};
use crate::runner::{Ctx, Failure};

pub static DIAGNOSE: Builtin = Builtin {
    name: "diagnose",
    about: "Check the database for the changes of a failed migration: not applied (rolled back is safe), applied, partial or unknown",
    example: "cargo xtask {task}                     # the one failed migration\n         cargo xtask {task} 20260221053404_add_missing_models",
    args: &[BuiltinArg {
        name: "name",
        help: "The migration to check [default: the one failed migration in _prisma_migrations]",
        kind: ArgKind::Positional { required: false },
    }],
    run,
    describe: |_| vec!["read _prisma_migrations and the migration's migration.sql; query the catalogs (psql)".into()],
};

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
    let dir = super::status::migrations_dir(ctx)?;
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

fn run(ctx: &mut Ctx) -> Result<(), Failure> {
    let target = Target::from_env(ctx.config, ctx.ui)?;
    let rows = migrations::read_table(&target)?.unwrap_or_default();
    let Some(name) = migrations::named_or_failed(&rows, ctx.args.get("name"), &ctx.task.name)? else {
        println!("No failed migration in _prisma_migrations: nothing to diagnose.");
        return Ok(());
    };
    let a = evidence_for(ctx, &target, &name)?;
    println!("Migration {name}:");
    if let Some(r) = rows.iter().rev().find(|r| r.migration_name == name) {
        println!("  recorded:  started {}, {}", r.started_at, if r.is_failed() { "failed" } else if r.is_applied() { "applied" } else { "rolled back" });
        if r.is_failed() {
            println!("  error:     {}", r.error().describe());
        }
    }
    if let Some(ev) = &a.evidence {
        evidence::print_details(ev);
    }
    println!("  verdict:   {}", a.summary());
    let advice = match a.verdict() {
        Some(Verdict::NotApplied) => format!("its changes are not in the database: after fixing the file, `cargo xtask resolve-rolled-back {name}` then deploy"),
        Some(Verdict::Applied) => format!("its changes are in the database: `cargo xtask resolve-applied {name}` then deploy"),
        Some(Verdict::Partial) => "partly applied: finish or undo the listed changes by hand, then resolve".to_string(),
        _ => "cannot tell from the catalogs: check by hand before resolving".to_string(),
    };
    println!("  next:      {advice}");
    match a.verdict() {
        Some(Verdict::NotApplied) | Some(Verdict::Applied) => Ok(()),
        _ => Err(Failure::new(Exit::MigrationFailed, format!("`{name}`: {}", a.summary()))),
    }
}
