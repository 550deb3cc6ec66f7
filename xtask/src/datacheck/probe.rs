//! The checks as SQL, run in one psql start: one `REPEATABLE READ READ ONLY`
//! transaction (one snapshot for all checks), `lock_timeout` short so that a check
//! never queues behind a lock (and never makes others queue behind it for long),
//! each check in a savepoint with its own `statement_timeout`, the total budget
//! worked out by the server's own clock before each check. Every query is a plain
//! `SELECT` (ACCESS SHARE locks, the weakest): nothing is written, and the
//! transaction is rolled back. `work_mem` is raised to 64 MB for this one
//! transaction, so that the duplicates check of a large table hashes in memory
//! rather than on disk.
//!
//! A check looks for the first offending row (`LIMIT 1`: a failing check stops at
//! the first it finds; a passing one reads the table, or an index, once) and only
//! then counts them, up to [`COUNT_CAP`]. It prints the offending row's primary key
//! and never another column's value (they can be personal data); a conversion that
//! fails reports its SQLSTATE only, as the server's message quotes the value.

use super::derive::{ident, literal, Check, Need};
use crate::config::DataChecks;
use crate::db::Target;
use crate::exit::Failure;

/// Offending rows are counted up to this many ("more than 1000").
pub(crate) const COUNT_CAP: u64 = 1000;

/// What a check found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Passed,
    /// `rows`: how many (capped at `COUNT_CAP + 1`), `None`: at least one.
    /// `key`: the first offending row's primary key as JSON (`{"id": 7}`), or its
    /// `ctid` when the table has no primary key.
    Failed {
        rows: Option<u64>,
        key: Option<String>,
    },
    /// Why the check could not run (timed out, over budget, lock not granted, table
    /// or column not found): never a pass.
    NotChecked(String),
}

/// One check and its outcome.
#[derive(Debug, Clone)]
pub(crate) struct Probed {
    pub check: Check,
    pub outcome: Outcome,
    pub seconds: f64,
}

impl Probed {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let (outcome, rows, key, why) = match &self.outcome {
            Outcome::Passed => ("passed", None, None, None),
            Outcome::Failed { rows, key } => ("failed", *rows, key.clone(), None),
            Outcome::NotChecked(w) => ("not-checked", None, None, Some(w.clone())),
        };
        serde_json::json!({
            "migration": self.check.place.migration,
            "line": self.check.place.line,
            "statement": self.check.place.statement,
            "table": self.check.table.to_string(),
            "column": self.check.need.column(),
            "condition": self.check.need.offence(),
            "outcome": outcome,
            "rows": rows,
            "key": key,
            "why": why,
            "seconds": self.seconds,
        })
    }
}

/// The first offending row's primary key as JSON text, for the row `x` (no other
/// column is output); its ctid when the table has no primary key.
const KEY: &str = "coalesce((SELECT jsonb_object_agg(a.attname::text, to_jsonb(x) -> a.attname::text) \
     FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
     WHERE i.indrelid = x.tableoid AND i.indisprimary), jsonb_build_object('ctid', x.ctid::text))::text";

/// The query of one check: rows `xtask-hit, i, key, count` when it fails, no row
/// when it passes; a conversion is `xtask-ok, i` when every value converts.
pub(crate) fn query(i: usize, c: &Check) -> String {
    let t = c.table.sql();
    let col = |name: &str| format!("x.{}", ident(name));
    let rows = |pred: &str| {
        format!(
            "SELECT 'xtask-hit', {i}, k.key, (SELECT count(*) FROM (SELECT 1 FROM {t} x WHERE {pred} LIMIT {cap}) c) \
             FROM (SELECT {KEY} AS key FROM {t} x WHERE {pred} LIMIT 1) k;",
            cap = COUNT_CAP + 1
        )
    };
    match &c.need {
        Need::NoRows => rows("true"),
        Need::NotNull { column } => rows(&format!("{} IS NULL", col(column))),
        Need::Satisfies { expr } => rows(&format!("({expr}) IS FALSE")),
        Need::FitsLength { column, max } => rows(&format!("char_length(rtrim({}::text, ' ')) > {max}", col(column))),
        Need::InEnum { column, values, array } => {
            let list = format!("ARRAY[{}]::text[]", values.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", "));
            if *array {
                rows(&format!(
                    "EXISTS (SELECT 1 FROM unnest({}::text[]) v WHERE v IS NOT NULL AND v <> ALL ({list}))",
                    col(column)
                ))
            } else {
                rows(&format!("{c} IS NOT NULL AND {c}::text <> ALL ({list})", c = col(column)))
            }
        }
        Need::References { columns, target, target_columns, target_empty } => {
            let set: Vec<String> = columns.iter().map(|c| format!("{} IS NOT NULL", col(c))).collect();
            let mut pred = set.join(" AND ");
            if !target_empty {
                let eq: Vec<String> =
                    columns.iter().zip(target_columns).map(|(a, b)| format!("r.{} = {}", ident(b), col(a))).collect();
                pred.push_str(&format!(
                    " AND NOT EXISTS (SELECT 1 FROM {} r WHERE {})",
                    target.sql(),
                    eq.join(" AND ")
                ));
            }
            rows(&pred)
        }
        Need::Unique { columns, nulls_distinct, partial } => {
            let mut filter: Vec<String> = Vec::new();
            if *nulls_distinct {
                filter.extend(columns.iter().map(|c| format!("{} IS NOT NULL", col(c))));
            }
            if let Some(p) = partial {
                filter.push(format!("({p})"));
            }
            let filter = if filter.is_empty() { "true".to_string() } else { filter.join(" AND ") };
            let group = columns.iter().map(|c| col(c)).collect::<Vec<_>>().join(", ");
            let named =
                columns.iter().enumerate().map(|(j, c)| format!("{} AS d{j}", col(c))).collect::<Vec<_>>().join(", ");
            let op = if *nulls_distinct { "=" } else { "IS NOT DISTINCT FROM" };
            let on = columns
                .iter()
                .enumerate()
                .map(|(j, c)| format!("{} {op} d.d{j}", col(c)))
                .collect::<Vec<_>>()
                .join(" AND ");
            format!(
                "SELECT 'xtask-hit', {i}, k.key, (SELECT count(*) FROM (SELECT 1 FROM {t} x WHERE {filter} GROUP BY {group} HAVING count(*) > 1 LIMIT {cap}) c) \
                 FROM (SELECT {KEY} AS key FROM {t} x JOIN (SELECT {named} FROM {t} x WHERE {filter} GROUP BY {group} HAVING count(*) > 1 LIMIT 1) d ON {on} WHERE {filter} LIMIT 1) k;",
                cap = COUNT_CAP + 1
            )
        }
        Need::Converts { column, to, using } => {
            let value = match using {
                Some(u) => format!("({u})"),
                None => col(column),
            };
            format!("SELECT 'xtask-ok', {i}, count(({value})::{to}) FROM {t} x;")
        }
    }
}

/// After a conversion failed: the first row whose value does not convert, found
/// by converting row by row in a PL/pgSQL loop that catches the error (allowed in a
/// read-only transaction; it writes nothing), its `ctid` kept in a transaction-local
/// setting, then that row's key. Bounded by the same statement timeout.
fn conversion_key(i: usize, c: &Check) -> Option<String> {
    let Need::Converts { column, to, using } = &c.need else {
        return None;
    };
    let t = c.table.sql();
    let value = match using {
        Some(u) => format!("({u})"),
        None => format!("x.{}", ident(column)),
    };
    let body = format!(
        "DECLARE r record; BEGIN FOR r IN SELECT x.ctid AS t FROM {t} x LOOP BEGIN \
         PERFORM ({value})::{to} FROM {t} x WHERE x.ctid = r.t; \
         EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN \
         PERFORM set_config('xtask.ctid', r.t::text, true); EXIT; END; END LOOP; END"
    );
    let mut tag = "xtask_key".to_string();
    while body.contains(&format!("${tag}$")) {
        tag.push('x');
    }
    Some(format!(
        "DO ${tag}${body}${tag}$;\n\
         SELECT 'xtask-key', {i}, {KEY} FROM {t} x WHERE x.ctid = nullif(current_setting('xtask.ctid', true), '')::tid;"
    ))
}

/// The psql script of all checks.
pub(crate) fn script(checks: &[Check], s: &DataChecks) -> String {
    let lock_ms = s.timeout_ms.min(1000);
    let mut sql = format!(
        "\\set ON_ERROR_STOP off\n\\set SHOW_CONTEXT never\n\
         BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY;\n\
         SET LOCAL lock_timeout = {lock_ms};\n\
         SET LOCAL work_mem = '64MB';\n"
    );
    for (i, c) in checks.iter().enumerate() {
        let q = query(i, c);
        let key = conversion_key(i, c)
            .map(|k| {
                format!("SAVEPOINT k;\nSET LOCAL statement_timeout = :ms;\n{k}\n\\if :ERROR\nROLLBACK TO SAVEPOINT k;\n\\endif\n")
            })
            .unwrap_or_default();
        sql.push_str(&format!(
            "SELECT ({budget} - extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint > 0 AS go, \
             greatest(1, least({per}, ({budget} - extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint)) AS ms, \
             clock_timestamp() AS t0 \\gset\n\
             \\if :go\n\
             SAVEPOINT c;\n\
             SET LOCAL statement_timeout = :ms;\n\
             {q}\n\
             \\if :ERROR\n\
             ROLLBACK TO SAVEPOINT c;\n\
             SELECT 'xtask-error', {i}, :'LAST_ERROR_SQLSTATE', :'ms', :'LAST_ERROR_MESSAGE';\n\
             {key}\
             \\else\n\
             RELEASE SAVEPOINT c;\n\
             \\endif\n\
             SELECT 'xtask-done', {i}, extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);\n\
             \\else\n\
             SELECT 'xtask-budget', {i};\n\
             \\endif\n",
            budget = s.budget_ms,
            per = s.timeout_ms,
        ));
    }
    sql.push_str("ROLLBACK;\n");
    sql
}

/// Runs the checks on `target` and reads what each found.
pub(crate) fn run(target: &Target, checks: &[Check], s: &DataChecks) -> Result<Vec<Probed>, Failure> {
    let rows = target.without_session().query(&script(checks, s), &[])?;
    let mut out: Vec<Probed> = checks
        .iter()
        .map(|c| Probed {
            check: c.clone(),
            outcome: Outcome::NotChecked("the check produced no result".into()),
            seconds: 0.0,
        })
        .collect();
    let mut converted = vec![false; checks.len()];
    for row in rows {
        let cell = |j: usize| row.get(j).cloned().flatten();
        let Some(i) = cell(1).and_then(|v| v.parse::<usize>().ok()).filter(|i| *i < out.len()) else {
            continue;
        };
        let p = &mut out[i];
        match cell(0).as_deref() {
            Some("xtask-hit") => {
                p.outcome = Outcome::Failed { rows: cell(3).and_then(|n| n.parse().ok()), key: cell(2) };
            }
            Some("xtask-ok") => converted[i] = true,
            Some("xtask-error") => p.outcome = error_outcome(cell(2).as_deref().unwrap_or(""), cell(3), cell(4)),
            Some("xtask-key") => {
                if let Outcome::Failed { key, .. } = &mut p.outcome {
                    *key = cell(2);
                }
            }
            Some("xtask-done") => {
                p.seconds = cell(2).and_then(|v| v.parse().ok()).unwrap_or(0.0);
                // No hit and no error: the check passed (a conversion must say so itself).
                if matches!(&p.outcome, Outcome::NotChecked(w) if w == "the check produced no result")
                    && (converted[i] || !matches!(p.check.need, Need::Converts { .. }))
                {
                    p.outcome = Outcome::Passed;
                }
            }
            Some("xtask-budget") => {
                p.outcome = Outcome::NotChecked(format!(
                    "the checks' total budget ({}s, [rehearsal] checks_budget) was spent before this one",
                    s.budget_ms as f64 / 1000.0
                ))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// What an error of a check means: a conversion that fails on a value (a data
/// exception, class 22, or an integrity one, 23) fails the check; anything else
/// means it could not run. The server's message is kept only where it cannot
/// quote a value.
fn error_outcome(sqlstate: &str, ms: Option<String>, message: Option<String>) -> Outcome {
    let after = ms.and_then(|m| m.parse::<f64>().ok()).map(|m| format!("{}s", m / 1000.0)).unwrap_or_default();
    match sqlstate {
        s if s.starts_with("22") || s.starts_with("23") => Outcome::Failed { rows: None, key: None },
        "57014" => Outcome::NotChecked(format!(
            "it took longer than its {after} time limit ([rehearsal] check_timeout, or what was left of checks_budget)"
        )),
        "55P03" => Outcome::NotChecked("a lock on the table was not granted at once (another session holds it)".into()),
        "40001" => Outcome::NotChecked("cancelled by the server (a conflict with recovery on a replica)".into()),
        s if s.starts_with("42") || s.starts_with("0A") => Outcome::NotChecked(format!(
            "the check could not be asked of production ({s} {})",
            message.unwrap_or_default()
        )),
        s => Outcome::NotChecked(format!("the check failed with SQLSTATE {s}")),
    }
}
