//! Prisma's migration ledger: the `_prisma_migrations` table read directly (one
//! psql round-trip, no Node), the migration directories on disk, and how the two
//! compare (applied, pending, failed, rolled back, missing on disk, drift).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::db::{psql, Target};
use crate::exit::Failure;

/// One row of `_prisma_migrations`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Row {
    pub id: String,
    pub checksum: String,
    pub migration_name: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub rolled_back_at: Option<String>,
    pub logs: Option<String>,
    pub applied_steps_count: i64,
}

impl Row {
    /// Recorded as failed: started, neither finished nor rolled back. Prisma's P3009.
    pub(crate) fn is_failed(&self) -> bool {
        self.finished_at.is_none() && self.rolled_back_at.is_none()
    }

    pub(crate) fn is_applied(&self) -> bool {
        self.finished_at.is_some() && self.rolled_back_at.is_none()
    }

    /// Its state for people: "failed", "applied" or "rolled back".
    pub(crate) fn state(&self) -> &'static str {
        if self.is_failed() {
            "failed"
        } else if self.is_applied() {
            "applied"
        } else {
            "rolled back"
        }
    }

    /// The database error of a failed migration, from its logs.
    pub(crate) fn error(&self) -> DbError {
        DbError::from_logs(self.logs.as_deref().unwrap_or(""))
    }
}

pub(crate) mod logged;

/// A database error as Prisma logged it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DbError {
    /// SQLSTATE, e.g. `42710`.
    pub code: Option<String>,
    /// The server's message, e.g. `type "attendance_status" already exists`.
    pub message: Option<String>,
}

impl DbError {
    /// Reads Prisma's logs (native engine: `Database error code: 42710` and
    /// `Database error: ERROR: ...`; Wasm engine: `ERROR: ...` lines or Prisma's own
    /// words, see [`logged`]). Logs nothing recognises are quoted verbatim (their
    /// first informative line), never read as "nothing logged".
    pub fn from_logs(logs: &str) -> DbError {
        let code = logs.lines().find_map(|l| {
            let i = l.find("Database error code:")?;
            let c = l[i + "Database error code:".len()..].trim();
            Some(c.chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>())
        });
        let message = logs
            .lines()
            .find_map(|l| {
                let i = l.find("ERROR:")?;
                let m = l[i + "ERROR:".len()..].trim();
                (!m.is_empty()).then(|| m.to_string())
            })
            .or_else(|| logs.lines().map(str::trim).find(|l| logged::is_prisma_words(l)).map(String::from))
            .or_else(|| logged::first_informative_line(logs));
        // Without a logged SQLSTATE, the table gives the message's.
        let code =
            code.filter(|c| !c.is_empty()).or_else(|| logged::sqlstate_of(message.as_deref()?).map(String::from));
        DbError { code, message }
    }

    pub fn describe(&self) -> String {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => format!("{c} {m}"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => "no database error was logged".into(),
        }
    }
}

/// The migration a command acts on: the one `named`, or else the one recorded as
/// failed. `Ok(None)` when none is named and none failed; an error naming them all
/// when several failed (the user must choose).
pub(crate) fn named_or_failed(rows: &[Row], named: Option<&str>, task: &str) -> Result<Option<String>, Failure> {
    if let Some(n) = named {
        return Ok(Some(n.to_string()));
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| r.is_failed()).collect();
    match failed.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.migration_name.clone())),
        many => Err(Failure::task(format!(
            "{}: name one, e.g. `{} {task} {}`",
            several_failed(many),
            crate::invocation::name(),
            many[0].migration_name
        ))),
    }
}

/// "2 migrations are recorded as failed (a, b)": how a message that needs one
/// failed migration starts when there are several.
pub(crate) fn several_failed(failed: &[&Row]) -> String {
    let names: Vec<&str> = failed.iter().map(|r| r.migration_name.as_str()).collect();
    format!("{} migrations are recorded as failed ({})", failed.len(), names.join(", "))
}

/// The psql variables [`read_table`] uses (the schema of `_prisma_migrations`).
pub(crate) fn ledger_vars(target: &Target) -> [(&str, &str); 1] {
    [("schema", target.url.schema.as_str())]
}

/// Reads `_prisma_migrations` in Prisma's schema; `None` when the table does not
/// exist yet (a database Prisma never migrated).
pub(crate) fn read_table(target: &Target) -> Result<Option<Vec<Row>>, Failure> {
    // One psql process: a first row says whether the table exists, then its rows.
    let sql = format!(
        r#"
SELECT to_regclass(format('%I._prisma_migrations', :'schema')) IS NOT NULL AS present \gset
SELECT :'present';
\if :present
SELECT {LEDGER_COLUMNS}
  FROM :"schema"._prisma_migrations
 ORDER BY started_at, migration_name;
\endif
"#
    );
    let mut rows = target.query(&sql, &ledger_vars(target))?.into_iter();
    let [present] = psql::columns::<1>(rows.next().unwrap_or_default())?;
    if present.as_deref() != Some("t") {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.extend(row_from(psql::columns::<8>(r)?));
    }
    Ok(Some(out))
}

/// The columns `read_table` selects, in the order [`row_from`] takes them (for
/// other scripts that read the ledger as part of a larger query).
pub(crate) const LEDGER_COLUMNS: &str = r#"id, checksum, migration_name,
       to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       to_char(rolled_back_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       logs, applied_steps_count"#;

/// One ledger row from the cells of [`LEDGER_COLUMNS`]; `None` without a name.
pub(crate) fn row_from(cells: [Option<String>; 8]) -> Option<Row> {
    let [id, checksum, name, started_at, finished_at, rolled_back_at, logs, steps] = cells;
    Some(Row {
        id: id.unwrap_or_default(),
        checksum: checksum.unwrap_or_default(),
        migration_name: name?,
        started_at: started_at.unwrap_or_default(),
        finished_at,
        rolled_back_at,
        logs,
        applied_steps_count: steps.and_then(|c| c.parse().ok()).unwrap_or(0),
    })
}

/// A migration directory on disk.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Local {
    pub name: String,
    pub sql_path: PathBuf,
    /// SHA-256 hex of migration.sql, as Prisma records it.
    pub checksum: String,
}

/// Lists the migration directories (those with a migration.sql), sorted by name
/// as Prisma applies them.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<Local>, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Failure::task(format!(
            "cannot read the migrations directory {}: {e}; set [prisma] schema (or migrations) in tasks.toml",
            dir.display()
        ))
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let sql_path = entry.path().join("migration.sql");
        if !sql_path.is_file() {
            continue;
        }
        let bytes =
            std::fs::read(&sql_path).map_err(|e| Failure::task(format!("cannot read {}: {e}", sql_path.display())))?;
        out.push(Local {
            name: entry.file_name().to_string_lossy().into_owned(),
            checksum: hex(&Sha256::digest(&bytes)),
            sql_path,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// SHA-256 hex of a migration file, as Prisma records it in `checksum`.
pub(crate) fn checksum(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the directories and the table compare.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct Status {
    pub applied: Vec<String>,
    pub pending: Vec<String>,
    pub failed: Vec<Row>,
    /// Marked rolled back and not applied since (deploy will run them again).
    pub rolled_back: Vec<String>,
    /// Recorded as applied in the database, but no directory on disk.
    pub missing_on_disk: Vec<String>,
    /// Applied, but migration.sql changed since (checksum differs).
    pub drift: Vec<String>,
}

pub(crate) fn compare(local: &[Local], rows: &[Row]) -> Status {
    let mut s = Status::default();
    for m in local {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.migration_name == m.name).collect();
        if let Some(applied) = mine.iter().rev().find(|r| r.is_applied()) {
            s.applied.push(m.name.clone());
            if !applied.checksum.is_empty() && applied.checksum != m.checksum {
                s.drift.push(m.name.clone());
            }
        } else if let Some(failed) = mine.iter().find(|r| r.is_failed()) {
            s.failed.push((*failed).clone());
        } else if !mine.is_empty() {
            s.rolled_back.push(m.name.clone());
            s.pending.push(m.name.clone());
        } else {
            s.pending.push(m.name.clone());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in rows {
        if !local.iter().any(|m| m.name == r.migration_name) && seen.insert(r.migration_name.clone()) {
            if r.is_failed() {
                s.failed.push(r.clone());
            } else if r.is_applied() {
                s.missing_on_disk.push(r.migration_name.clone());
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, finished: bool, rolled_back: bool, checksum: &str) -> Row {
        Row {
            id: name.into(),
            checksum: checksum.into(),
            migration_name: name.into(),
            started_at: "2026-02-21T05:34:04.000Z".into(),
            finished_at: finished.then(|| "2026-02-21T05:34:05.000Z".into()),
            rolled_back_at: rolled_back.then(|| "2026-02-21T06:00:00.000Z".into()),
            logs: None,
            applied_steps_count: 0,
        }
    }

    fn local(name: &str, checksum: &str) -> Local {
        Local { name: name.into(), sql_path: PathBuf::from("x"), checksum: checksum.into() }
    }

    #[test]
    fn every_state_is_told_apart() {
        let local = [
            local("1_init", "aa"),
            local("2_edited", "new"),
            local("3_failed", "cc"),
            local("4_retry", "dd"),
            local("5_new", "ee"),
        ];
        let rows = [
            row("1_init", true, false, "aa"),
            row("2_edited", true, false, "old"),
            row("3_failed", false, false, "cc"),
            row("4_retry", false, true, "dd"),
            row("0_gone", true, false, "zz"),
        ];
        let s = compare(&local, &rows);
        assert_eq!(s.applied, ["1_init", "2_edited"]);
        assert_eq!(s.drift, ["2_edited"]);
        assert_eq!(s.failed.iter().map(|r| r.migration_name.as_str()).collect::<Vec<_>>(), ["3_failed"]);
        assert_eq!(s.rolled_back, ["4_retry"]);
        assert_eq!(s.pending, ["4_retry", "5_new"]);
        assert_eq!(s.missing_on_disk, ["0_gone"]);
    }

    #[test]
    fn rolled_back_then_applied_counts_as_applied() {
        let rows = [row("1", false, true, "a"), row("1", true, false, "a")];
        let s = compare(&[local("1", "a")], &rows);
        assert_eq!(s.applied, ["1"]);
        assert!(s.pending.is_empty() && s.failed.is_empty() && s.missing_on_disk.is_empty() && s.drift.is_empty());
    }

    /// `_prisma_migrations.logs` of the failed row, native engine (Prisma 6.19.3 and
    /// 7.10.1 byte-identical, recorded in /work/shared/notes/prisma-native-outputs.md).
    const NATIVE_LOGS: &str = r#"A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve

Migration name: 20260221053404_add_missing_models

Database error code: 42710

Database error:
ERROR: type "attendance_status" already exists

DbError { severity: "ERROR", parsed_severity: Some(Error), code: SqlState(E42710), message: "type \"attendance_status\" already exists", detail: None, hint: None, position: None, where_: None, schema: None, table: None, column: None, datatype: None, constraint: None, file: Some("typecmds.c"), line: Some(1167), routine: Some("DefineEnum") }

   0: sql_schema_connector::apply_migration::apply_script
           with migration_name="20260221053404_add_missing_models"
             at schema-engine/connectors/sql-schema-connector/src/apply_migration.rs:113
   1: schema_commands::commands::apply_migrations::Applying migration
           with migration_name="20260221053404_add_missing_models"
             at schema-engine/commands/src/commands/apply_migrations.rs:95
   2: schema_core::state::ApplyMigrations
             at schema-engine/core/src/state.rs:260
"#;

    #[test]
    fn native_logs_give_the_code_and_message() {
        let e = DbError::from_logs(NATIVE_LOGS);
        assert_eq!(e.code.as_deref(), Some("42710"));
        assert_eq!(e.message.as_deref(), Some("type \"attendance_status\" already exists"));
        assert_eq!(e.describe(), "42710 type \"attendance_status\" already exists");
        // The timeout case of the runbook: a lost connection (Prisma's P1017), which can pass by itself.
        assert_eq!(
            DbError::from_logs("Error: P1017: Server has closed the connection.").code.as_deref(),
            Some("08006")
        );
    }

    #[test]
    fn errors_are_read_from_both_engines_logs() {
        let native = "Migration name: 20260221053404_add_missing_models\n\nDatabase error code: 42710\n\nDatabase error:\nERROR: type \"attendance_status\" already exists\n";
        let e = DbError::from_logs(native);
        assert_eq!(e.code.as_deref(), Some("42710"));
        assert_eq!(e.message.as_deref(), Some("type \"attendance_status\" already exists"));
        let wasm = "Error querying the database: ERROR: type \"attendance_status\" already exists";
        let e = DbError::from_logs(wasm);
        assert_eq!(e.describe(), "42710 type \"attendance_status\" already exists");
        assert_eq!(DbError::from_logs("ERROR: relation \"users\" already exists").code.as_deref(), Some("42P07"));
        assert_eq!(DbError::from_logs("").describe(), "no database error was logged");
        let mapped = "external connector error\nUnique constraint failed: (name)\n   0: sql_schema_connector::apply_migration::apply_script";
        assert_eq!(DbError::from_logs(mapped).describe(), "23505 Unique constraint failed: (name)");
        let deadlock = "Database error code: 40P01\n\nDatabase error:\nERROR: deadlock detected\n";
        assert_eq!(DbError::from_logs(deadlock).code.as_deref(), Some("40P01"));
    }
}
