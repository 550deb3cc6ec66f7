//! Data checks before production: what the pending migrations need of the rows
//! already there (a NOT NULL column added without a default needs an empty table, a
//! unique index needs no duplicates...), derived from their statements
//! ([`derive`]) and checked against production's rows read-only ([`probe`]), so
//! that a migration that would fail on the data stops the deploy before production
//! is touched. A schema-only rehearsal cannot see these failures, and a full copy of
//! production is too expensive to make on every deploy.
//!
//! The checks read production (or a read replica) in one `READ ONLY` transaction
//! with a short `lock_timeout`, a `statement_timeout` per check and a total budget:
//! they take no lock stronger than a plain `SELECT`. A check that could not run is
//! "not checked", never passed.

pub(crate) mod derive;
pub(crate) mod probe;

use std::time::Instant;

use crate::config::{NotChecked, Rehearse};
use crate::context::{Ctx, Diagnosis};
use crate::db::Target;
use crate::exit::{Exit, Failure};
use crate::migrations::{self, Row};

pub(crate) use derive::{derive, Unchecked};
pub(crate) use probe::{Outcome, Probed};

/// Runs the data checks of the pending migrations, after the rehearsal and before
/// production: `Err` (exit 4) when a check finds offending rows, or when a check
/// could not run and `[rehearsal] not_checked = "stop"`.
pub(crate) fn gate(ctx: &mut Ctx, production: &Target) -> Result<(), Failure> {
    let settings = &ctx.config.rehearsal.data_checks;
    // "full" runs every statement on a copy of the rows already; "off" asked for nothing.
    if !settings.enabled || matches!(ctx.task.rehearse, Some(Rehearse::Off | Rehearse::Full)) {
        return Ok(());
    }
    let t0 = Instant::now();
    let ledger = ctx.db.ledger()?;
    let Some(rows) = &ledger.table else {
        // A database Prisma never migrated: every table is created by the batch.
        return Ok(());
    };
    let dir = ctx.db.migrations_dir()?.to_path_buf();
    let (batch, skipped) = pending(&dir, rows)?;
    if batch.is_empty() {
        return Ok(());
    }
    let derived = derive(&batch, &production.url.schema);
    let mut unchecked = derived.unchecked.clone();
    unchecked.extend(skipped);
    let (target, where_) = match replica(ctx)? {
        Some(r) => {
            let name = r.env_name.clone();
            (r, format!("the read replica in ${name}"))
        }
        None => (production.clone(), "production".to_string()),
    };
    let probed = if derived.checks.is_empty() {
        Vec::new()
    } else {
        ctx.ui.event(&format!(
            "data checks: {} condition{} the pending migrations need of the existing rows, on {where_} (read-only)",
            derived.checks.len(),
            if derived.checks.len() == 1 { "" } else { "s" }
        ));
        probe::run(&target, &derived.checks, settings)?
    };
    let seconds = t0.elapsed().as_secs_f64();
    for p in &probed {
        let c = &p.check;
        let line = format!("{}:{} {} ({:.2}s)", c.place.migration, c.place.line, c.table, p.seconds);
        match &p.outcome {
            Outcome::Passed => ctx.ui.event(&format!("data check passed: {line}: no {}", c.need.offence())),
            Outcome::Failed { .. } => ctx.ui.event(&format!("data check FAILED: {line}: {}", findings(p))),
            Outcome::NotChecked(why) => ctx.ui.event(&format!("data check not checked: {line}: {why}")),
        }
    }
    for e in &derived.empty {
        ctx.ui.event(&format!(
            "data check not needed: {}:{} {}: the table is created earlier in this deploy (empty)",
            e.place.migration, e.place.line, e.table
        ));
    }
    for u in &unchecked {
        ctx.ui.event(&format!(
            "data needs not checked: {}:{} `{}`: {}",
            u.place.migration, u.place.line, u.place.statement, u.why
        ));
    }
    let failed: Vec<&Probed> = probed.iter().filter(|p| matches!(p.outcome, Outcome::Failed { .. })).collect();
    let not_checked = probed.iter().filter(|p| matches!(p.outcome, Outcome::NotChecked(_))).count();
    let record = serde_json::json!({
        "on": where_,
        "seconds": seconds,
        "checks": probed.iter().map(Probed::to_json).collect::<Vec<_>>(),
        "not_needed": derived.empty.iter().map(|e| serde_json::json!({
            "migration": e.place.migration, "line": e.place.line, "table": e.table.to_string(),
        })).collect::<Vec<_>>(),
        "not_checked": unchecked.iter().map(|u| serde_json::json!({
            "migration": u.place.migration, "line": u.place.line, "statement": u.place.statement, "why": u.why,
        })).collect::<Vec<_>>(),
    });
    if let Some(rec) = ctx.state.rehearsal.as_mut() {
        rec.data_checks = Some(record.clone());
    }
    crate::audit::record(ctx, "data-checks", record)?;
    ctx.ui.event(&format!(
        "data checks: {} passed, {} failed, {} not checked (timed out, over budget or unreadable), {} statement{} with data needs not checked, in {seconds:.2}s",
        probed.len() - failed.len() - not_checked,
        failed.len(),
        not_checked,
        unchecked.len(),
        if unchecked.len() == 1 { "" } else { "s" }
    ));
    if let Some(first) = failed.first() {
        return Err(stop(ctx, &dir, first, failed.len()));
    }
    if not_checked > 0 && settings.not_checked == NotChecked::Stop {
        return Err(Failure::new(
            Exit::MigrationFailed,
            format!(
                "{not_checked} data check{} could not run and [rehearsal] not_checked = \"stop\": production was not changed; raise check_timeout / checks_budget, run the checks on a read replica (replica_url_env), or rehearse = \"full\"",
                if not_checked == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(())
}

/// The data checks' step for `--dry-run`.
pub(crate) fn describe(ctx: &Ctx) -> Vec<String> {
    let s = &ctx.config.rehearsal.data_checks;
    if !s.enabled || matches!(ctx.task.rehearse, Some(Rehearse::Off | Rehearse::Full)) {
        return Vec::new();
    }
    let on = match &s.replica_url_env {
        Some(env) => format!("the read replica in ${env}"),
        None => "production".into(),
    };
    vec![format!(
        "data checks: what the pending statements need of the existing rows, read on {on} in one READ ONLY transaction ({}s per check, {}s in all; a check that cannot run is not checked{}); a failing check stops the deploy here (exit 4)",
        s.timeout_ms as f64 / 1000.0,
        s.budget_ms as f64 / 1000.0,
        if s.not_checked == NotChecked::Stop { " and stops the deploy" } else { "" }
    )]
}

/// Migrations as (name, text), in the order they apply.
type Batch = Vec<(String, String)>;

/// The migrations the deploy will run, in order (name, text), and those left out:
/// a migration recorded as failed with the same file runs only if the recovery
/// decides so, on evidence of its own.
fn pending(dir: &std::path::Path, rows: &[Row]) -> Result<(Batch, Vec<Unchecked>), Failure> {
    let mut batch = Vec::new();
    let mut skipped = Vec::new();
    for local in migrations::read_dir(dir)? {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.migration_name == local.name).collect();
        if mine.iter().any(|r| r.is_applied()) {
            continue;
        }
        if mine.iter().any(|r| r.is_failed() && r.checksum == local.checksum) {
            skipped.push(Unchecked {
                place: derive::Place { migration: local.name.clone(), line: 1, statement: "migration.sql".into() },
                why: "recorded as failed with this same file: the recovery's evidence decides what runs".into(),
            });
            continue;
        }
        let sql = std::fs::read_to_string(&local.sql_path)
            .map_err(|e| Failure::task(format!("cannot read {}: {e}", local.sql_path.display())))?;
        batch.push((local.name, sql));
    }
    Ok((batch, skipped))
}

/// The read replica, when `[rehearsal] replica_url_env` names a variable that is set.
fn replica(ctx: &Ctx) -> Result<Option<Target>, Failure> {
    let Some(env) = &ctx.config.rehearsal.data_checks.replica_url_env else {
        return Ok(None);
    };
    let raw = std::env::var(env).unwrap_or_default();
    if raw.trim().is_empty() {
        return Err(Failure::usage(format!(
            "[rehearsal] replica_url_env names {env}, which is not set: export it (the read replica's URL) or remove the key to check on production; nothing ran on production"
        )));
    }
    crate::db::mask_secrets(ctx.ui, &raw);
    let schema_dir = ctx.config.prisma.schema.as_deref().and_then(|s| s.parent());
    Target::from_url(env, &raw, schema_dir).map(Some).map_err(|f| Failure::usage(f.message))
}

/// "3 rows with email NULL; first: {"id": 7}".
fn findings(p: &Probed) -> String {
    let Outcome::Failed { rows, key } = &p.outcome else {
        return String::new();
    };
    let count = match rows {
        Some(n) if *n > probe::COUNT_CAP => format!("more than {}", probe::COUNT_CAP),
        Some(n) => n.to_string(),
        None => "at least one".into(),
    };
    let key = match key {
        Some(k) => format!("; first offending row: {k}"),
        None => "; the first offending row's key could not be read".into(),
    };
    format!("{count} {}{key}", p.check.need.offence())
}

/// Stops the deploy on a failed check: the diagnosis (migration, file:line, table
/// and column, rows, key, fix), before production.
fn stop(ctx: &mut Ctx, dir: &std::path::Path, p: &Probed, failed: usize) -> Failure {
    let c = &p.check;
    let file = dir.join(&c.place.migration).join("migration.sql");
    let column = c.need.column().map(|col| format!(", column {col}")).unwrap_or_default();
    let what = findings(p);
    let diagnosis = Diagnosis {
        summary: format!(
            "data check: `{}` would fail on production's rows at {}:{} (`{}`): table {}{column}: {what}; production was not changed and has no row for it",
            c.place.migration,
            file.display(),
            c.place.line,
            c.place.statement,
            c.table
        ),
        migration: Some(c.place.migration.clone()),
        started_at: None,
        error_code: None,
        error_message: None,
        next_commands: vec![
            format!("edit {}   # line {}: {}", file.display(), c.place.line, c.need.fix()),
            format!("{}   # checks the rows again, then deploys", crate::invocation::cmd(&ctx.task.name)),
        ],
        ..Diagnosis::default()
    };
    let more = if failed > 1 { format!(" ({} checks failed; the first is shown)", failed) } else { String::new() };
    let failure = Failure::new(
        Exit::MigrationFailed,
        format!(
            "the data checks stopped the deploy: `{}` line {} would fail on production's rows ({what}){more}; production was not changed",
            c.place.migration, c.place.line
        ),
    );
    crate::recovery::stop_diagnosed(ctx, diagnosis, failure)
}

#[cfg(test)]
mod tests;
