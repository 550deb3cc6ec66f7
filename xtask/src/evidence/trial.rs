//! The trial run: evidence for a migration file that only changes data, which the
//! catalogs cannot show. The file is run on the target database inside one transaction
//! that is always rolled back, and the rows it changed are counted from
//! `pg_stat_xact_all_tables`. Zero rows means running it again changes nothing,
//! whether or not it ran before.
//!
//! Only files that are safe to try are tried ([`ineligible`]): one implicit transaction
//! under Prisma, nothing the catalogs can check, and every statement a data change
//! (`INSERT`, `UPDATE`, `DELETE`, `MERGE`, a `WITH` that changes data) or without a
//! lasting effect (`SET`, `LOCK`, `COMMENT ON`, `ANALYZE`, a temporary table of its own
//! made, filled, read and dropped: for such a file the count leaves out the catalogs,
//! which hold the temporary table's definition). A file that mentions a
//! function whose effect a rollback does not undo ([`NOT_ROLLED_BACK`]) is never tried.
//!
//! What a rollback leaves behind anyway: sequence values consumed by `nextval()` (an
//! `INSERT` into a table with a serial column) are not given back, which leaves a
//! harmless gap in the numbering; a trigger on a changed table runs too, and a trigger
//! that calls such a function is not visible here. The trial holds row locks on what
//! it changes until it ends, at most [`LOCK_TIMEOUT`] waiting for a lock and
//! [`STATEMENT_TIMEOUT`] per statement.
//!
//! **Where a trial may run.** A rolled-back transaction still costs the server what
//! it wrote: every row it changed leaves a dead row version and new index entries
//! (the bloat outlives the rollback until a VACUUM, and index bloat beyond it), all of
//! it is written to the WAL (and shipped to replicas and archives), and its row locks
//! block writers until it ends. So on production a trial runs only when every table
//! it can touch is small by the catalogs' estimate ([`estimate`]: `pg_class.reltuples`
//! of every table the file names, the tables whose foreign keys point at those (a
//! cascade), partitions and a view's base tables), at most [`Bounds::max_rows`]
//! ([`MAX_ROWS`] unless configured). A larger table leaves the file unknown with the
//! estimate ([`Outcome::Skipped`]), unless the caller asks for the trial anyway
//! (`diagnose --trial`: no size limit, [`EXPLICIT_STATEMENT_TIMEOUT`]).
//!
//! How the rollback is made sure of: the script is `BEGIN; ...; ROLLBACK` sent to one
//! psql of its own (never a shared session, which an error would end), with
//! `ON_ERROR_STOP`: an error or a timeout stops psql, which closes the connection, and
//! the server rolls back an open transaction whose connection ends; so does psql being
//! killed. Nothing commits in between: files with transaction control are not tried.
//! Behind a transaction-mode pooler the whole transaction stays on one server
//! connection, which the pooler closes when its client leaves mid-transaction.

use std::time::Duration;

use serde::Serialize;

use super::lexer::{self, Tok, Token};
use super::objects::{quote_ident, quote_literal};
use crate::db::Target;
use crate::exit::Failure;

/// How long the trial waits for a lock: it runs on a live database, and a data change
/// that queues behind a long lock would block everyone queued behind it in turn.
pub(crate) const LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one statement of the trial may run: ample for a file over tables of at
/// most [`MAX_ROWS`] rows, short enough that the check stays a check and does not hold
/// row locks on a live database for long.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The statement timeout of a trial asked for explicitly (`diagnose --trial`), which
/// may cover a large table: the user accepted its cost, but not an unbounded one.
pub(crate) const EXPLICIT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest table, by the catalogs' estimate, a trial may touch on production
/// unless it is asked for explicitly (`[database] trial_max_rows` sets another): a
/// rolled-back change of ten thousand rows writes a few megabytes of WAL and leaves as
/// many dead rows as an ordinary batch job does.
pub(crate) const MAX_ROWS: u64 = crate::config::DEFAULT_TRIAL_MAX_ROWS;

/// Functions whose effect a `ROLLBACK` does not undo, or which would lift the trial's
/// bounds: a file that mentions one (as a name or inside a string) is not tried.
/// `setval` moves a sequence for good; `dblink*` and pgsql-http's `http*` act on another server
/// (whose transaction is not ours); `pg_terminate_backend`/`pg_cancel_backend` hit other
/// sessions; `pg_reload_conf`, `pg_rotate_logfile`, `pg_switch_wal`, `pg_promote`,
/// `pg_create_restore_point` and `pg_stat_reset*` act on the server; `lo_import`,
/// `lo_export` and adminpack's `pg_file_*` touch the server's files; session advisory
/// locks outlive the transaction (behind a pooler, the server connection too);
/// `pg_logical_emit_message` can write outside the transaction; replication slots are
/// not transactional; `set_config` can lift `statement_timeout`. (`nextval` is allowed:
/// a consumed sequence value is only a gap.) Names ending in `*` are prefixes.
pub(crate) const NOT_ROLLED_BACK: &[&str] = &[
    "setval",
    "dblink*",
    "http",
    "http_get",
    "http_post",
    "http_put",
    "http_patch",
    "http_delete",
    "http_head",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_switch_wal",
    "pg_promote",
    "pg_create_restore_point",
    "pg_stat_reset*",
    "lo_import",
    "lo_export",
    "pg_file_*",
    "pg_advisory_lock*",
    "pg_try_advisory_lock*",
    "pg_logical_emit_message",
    "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot",
    "pg_drop_replication_slot",
    "pg_copy_*_replication_slot",
    "set_config",
];

/// Settings a file must not change: they would lift the trial's bounds.
const BOUNDS: &[&str] = &["statement_timeout", "lock_timeout", "transaction_timeout", "idle_*"];

/// How a trial is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
    /// The largest table (estimated rows) the trial may touch; `None`: any (asked for
    /// explicitly, or a scratch copy nobody else uses).
    pub max_rows: Option<u64>,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds { lock_timeout: LOCK_TIMEOUT, statement_timeout: STATEMENT_TIMEOUT, max_rows: Some(MAX_ROWS) }
    }
}

impl Bounds {
    /// The bounds of a trial the user asked for (`diagnose --trial`): any table size,
    /// a longer statement timeout, the same short lock timeout.
    pub fn explicit() -> Bounds {
        Bounds { statement_timeout: EXPLICIT_STATEMENT_TIMEOUT, max_rows: None, ..Bounds::default() }
    }
}

/// What the trial found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Outcome {
    /// It ran through and changed no rows.
    Unchanged,
    /// It ran through and changed this many rows (inserted, updated or deleted).
    Changes { rows: u64 },
    /// It failed (an error, a timeout): the first line of the error.
    Failed { error: String },
    /// It was not run: why (a table over the size limit, with its estimate).
    Skipped { why: String },
}

fn matches_name(name: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// Why the file of `tokens` must not be tried, or `None` when it may. `checkable`: the
/// analysis found changes the catalogs can show or `CREATE OR REPLACE` statements;
/// `transactional`: the file runs as one implicit transaction under Prisma.
pub(crate) fn ineligible(src: &str, checkable: bool, transactional: bool) -> Option<String> {
    if checkable {
        return Some("it has changes the catalogs can check".into());
    }
    if !transactional {
        return Some("it does not run as one transaction".into());
    }
    let tokens = lexer::tokenize(src);
    if let Some(Token { tok: Tok::Bad(why), .. }) = tokens.iter().find(|t| matches!(t.tok, Tok::Bad(_))) {
        return Some(format!("cannot read it: {why}"));
    }
    for (i, t) in tokens.iter().enumerate() {
        let names: Vec<String> = match &t.tok {
            Tok::Word(w) | Tok::Quoted(w) => vec![w.to_ascii_lowercase()],
            // Dynamic SQL or a function name passed as text.
            Tok::Str(s) | Tok::Dollar { body: s, .. } => {
                s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map(str::to_ascii_lowercase).collect()
            }
            // psql reads the trial's script: a backslash starts one of its commands, and
            // `:name` is one of its variables, neither of which the server (or Prisma) would see.
            Tok::Punct('\\') => return Some("a backslash outside a string (psql would read it)".into()),
            Tok::Punct(':')
                if tokens.get(i + 1).is_some_and(|n| {
                    n.start == t.end && matches!(n.tok, Tok::Word(_) | Tok::Str(_) | Tok::Quoted(_))
                }) =>
            {
                return Some("a `:name` outside a string (psql would read it as a variable)".into())
            }
            _ => continue,
        };
        if let Some(f) = names.iter().find(|n| NOT_ROLLED_BACK.iter().any(|p| matches_name(n, p))) {
            return Some(format!("it mentions {f}, whose effect a rollback does not undo"));
        }
    }
    let mut data = 0;
    // Temporary tables the file makes: it may fill them, read them and drop them (a
    // rollback removes them with the rest).
    let mut temp: Vec<String> = Vec::new();
    for s in lexer::split_statements(&tokens) {
        if let Some(name) = temp_table(s, &temp) {
            let with = s.first().is_some_and(|t| t.is_word("with"));
            if !name.is_empty() {
                temp.push(name);
            }
            // A `WITH` that fills it may change data too (below); the rest only touch it.
            if !with {
                continue;
            }
        }
        match statement_kind(s) {
            Ok(true) => data += 1,
            Ok(false) => {}
            Err(why) => return Some(why),
        }
    }
    if data == 0 {
        return Some("it has no data statements".into());
    }
    None
}

/// Whether `sql` makes a temporary table of its own (see [`temp_table`]).
fn makes_temp_tables(sql: &str) -> bool {
    let tokens = lexer::tokenize(sql);
    lexer::split_statements(&tokens).into_iter().any(|s| temp_table(s, &[]).is_some_and(|n| !n.is_empty()))
}

/// For `CREATE TEMP[ORARY] TABLE name ...`, `SELECT ... INTO TEMP [TABLE] name ...` and
/// `DROP TABLE [IF EXISTS] name` of one of `temp`: the table's name (empty for a drop).
fn temp_table(s: &[Token], temp: &[String]) -> Option<String> {
    let word = |i: usize| match s.get(i).map(|t| &t.tok) {
        Some(Tok::Word(w)) => w.to_ascii_lowercase(),
        Some(Tok::Quoted(q)) => q.clone(),
        _ => String::new(),
    };
    match word(0).as_str() {
        "create" if matches!(word(1).as_str(), "temp" | "temporary") && word(2) == "table" => {
            let at = if word(3) == "if" { 6 } else { 3 };
            let name = word(at);
            (!name.is_empty() && !s.get(at + 1).is_some_and(|t| t.is_punct('.'))).then_some(name)
        }
        "select" | "with" => super::statements::into_temp(s),
        "drop" if word(1) == "table" => {
            let at = if word(2) == "if" { 4 } else { 2 };
            let rest = &s[at.min(s.len())..];
            let only_temp = rest.len() == 1 && temp.contains(&word(at));
            only_temp.then(String::new)
        }
        _ => None,
    }
}

/// `Ok(true)` for a data statement, `Ok(false)` for one without lasting effect, `Err`
/// for anything the trial must not run.
fn statement_kind(s: &[Token]) -> Result<bool, String> {
    let word = |t: Option<&Token>| match t.map(|t| &t.tok) {
        Some(Tok::Word(w) | Tok::Quoted(w)) => w.to_ascii_lowercase(),
        _ => String::new(),
    };
    let first = word(s.first());
    match first.as_str() {
        "insert" | "update" | "delete" | "merge" => Ok(true),
        "with" if modifies_data(s) => Ok(true),
        "comment" | "analyze" | "analyse" | "lock" => Ok(false),
        "set" => {
            let mut i = 1;
            if matches!(word(s.get(i)).as_str(), "local" | "session") {
                i += 1;
            }
            let name = word(s.get(i));
            if BOUNDS.iter().any(|b| matches_name(&name, b)) {
                Err(format!("it sets {name}, which would lift the trial's bounds"))
            } else {
                Ok(false)
            }
        }
        "" => Err("a statement the trial does not know".into()),
        w => Err(format!("a {} statement, which is not a data change", w.to_uppercase())),
    }
}

/// Whether a `WITH` statement changes data: a data verb opens one of its parts (right
/// after `(`), or is the main statement after the last part (right after `)` at the
/// top level). `SELECT ... FOR UPDATE` does neither.
fn modifies_data(s: &[Token]) -> bool {
    let verbs = ["insert", "update", "delete", "merge"];
    let mut depth = 0usize;
    let mut prev: Option<&Tok> = None;
    for t in s {
        match &t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth = depth.saturating_sub(1),
            Tok::Word(w) if verbs.iter().any(|v| w.eq_ignore_ascii_case(v)) => {
                let after_open = prev == Some(&Tok::Punct('('));
                let main = depth == 0 && prev == Some(&Tok::Punct(')'));
                if after_open || main {
                    return true;
                }
            }
            _ => {}
        }
        prev = Some(&t.tok);
    }
    false
}

/// The psql script of a trial. What comes before the file is on its first line, so
/// that a line number psql puts before an error (`psql:<stdin>:N:`) is the file's.
/// `schema`: the search path Prisma sets, which it does only for a URL with `?schema=`
/// (otherwise the user's and database's own search path holds, as for Prisma).
fn script(sql: &str, schema: Option<&str>, bounds: Bounds) -> String {
    let path = schema.map(|s| format!("SET LOCAL search_path TO {}; ", quote_ident(s))).unwrap_or_default();
    // The file may end in a `--` comment without a newline, or without a semicolon.
    format!(
        "BEGIN; SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = '{}ms'; {path}{sql}\n;\n{COUNT}{};\nROLLBACK;\n",
        bounds.lock_timeout.as_millis(),
        bounds.statement_timeout.as_millis(),
        if makes_temp_tables(sql) { WITHOUT_CATALOGS } else { "" },
    )
}

/// The first column of the row that carries the count, so that rows a file's
/// `RETURNING` prints are not taken for it.
const MARK: &str = "xtask-trial-rows";

/// Rows inserted, updated or deleted in this transaction, in every table but temporary
/// ones (they end with the session anyway) and the planner statistics `ANALYZE` writes
/// (not the application's data).
const COUNT: &str = "SELECT 'xtask-trial-rows', coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) \
    FROM pg_catalog.pg_stat_xact_all_tables \
    WHERE schemaname NOT LIKE 'pg\\_temp\\_%' AND schemaname NOT LIKE 'pg\\_toast\\_temp\\_%' \
    AND NOT (schemaname = 'pg_catalog' AND relname IN ('pg_statistic', 'pg_statistic_ext_data'))";

/// What [`COUNT`] adds for a file that makes temporary tables of its own: their
/// definitions are rows in the catalogs, so the catalogs are left out of the count.
const WITHOUT_CATALOGS: &str = " AND schemaname NOT IN ('pg_catalog', 'pg_toast')";

/// Runs `sql` in a transaction that is rolled back, and counts the rows it changed.
/// Unqualified names go to `schema` when the URL names one (`?schema=`), as Prisma sets it.
pub(crate) fn run(target: &Target, sql: &str, schema: &str, bounds: Bounds) -> Outcome {
    let schema = target.url.dropped.iter().any(|p| p == "schema").then_some(schema);
    // A psql of its own: an error ends psql, and with it a shared session.
    let target = target.without_session();
    let rows = match target.query(&script(sql, schema, bounds), &[]) {
        Ok(rows) => rows,
        Err(f) => return Outcome::Failed { error: first_line(&f.message) },
    };
    let count = rows
        .iter()
        .rev()
        .find(|r| r.len() == 2 && r[0].as_deref() == Some(MARK))
        .and_then(|r| r[1].as_deref()?.parse::<u64>().ok());
    match count {
        Some(0) => Outcome::Unchanged,
        Some(rows) => Outcome::Changes { rows },
        None => Outcome::Failed { error: "the trial ran, but its row count did not come back".into() },
    }
}

/// A table a trial can touch, with the catalogs' estimate of its rows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sized {
    /// `schema.table`, quoted as needed.
    pub name: String,
    pub rows: u64,
    /// The table was never analysed: the estimate is the statistics' count of live rows.
    pub from_size: bool,
}

/// The names a file may use for a relation: every identifier, with its schema when it
/// is qualified (`""` otherwise). Over-inclusive on purpose (a column that shares a
/// table's name counts that table): a name too many only makes the size check stricter.
fn relation_names(sql: &str) -> Vec<(String, String)> {
    let tokens = lexer::tokenize(sql);
    let ident = |t: Option<&Token>| match t.map(|t| &t.tok) {
        Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
        Some(Tok::Quoted(q)) => Some(q.clone()),
        _ => None,
    };
    let mut names = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let Some(name) = ident(Some(t)) else { continue };
        let qualified = i >= 2 && tokens[i - 1].is_punct('.');
        let schema = if qualified { ident(tokens.get(i - 2)).unwrap_or_default() } else { String::new() };
        if !names.contains(&(schema.clone(), name.clone())) {
            names.push((schema, name));
        }
    }
    names
}

/// The tables a trial of `sql` can touch, largest first, with the catalogs' estimate of
/// their rows (`pg_class.reltuples`, or for a table never analysed, whose `reltuples`
/// is -1, the statistics' count of live rows; neither takes a lock, where
/// `pg_relation_size` would wait behind a lock on the table): every relation the file names (an
/// unqualified name in `schema` or the search path), and from those, recursively, the
/// tables whose foreign keys reference them (a delete or key update can cascade there),
/// partitions and inheritance children, and a view's base relations. One read-only query.
pub(crate) fn estimate(target: &Target, sql: &str, schema: &str) -> Result<Vec<Sized>, Failure> {
    let names = relation_names(sql);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<String> =
        names.iter().map(|(s, n)| format!("({}, {})", quote_literal(s), quote_literal(n))).collect();
    let query = format!(
        "WITH RECURSIVE v(s, n) AS (VALUES {values}), \
         touched(oid) AS ( \
           SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace \
           JOIN v ON c.relname = v.n AND (ns.nspname = v.s OR (v.s = '' AND (ns.nspname = {schema} \
             OR ns.nspname = ANY (pg_catalog.current_schemas(false))))) \
           WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f') \
           UNION \
           SELECT x.oid FROM touched t CROSS JOIN LATERAL ( \
             SELECT con.conrelid AS oid FROM pg_catalog.pg_constraint con \
               WHERE con.contype = 'f' AND con.confrelid = t.oid \
             UNION ALL SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = t.oid \
             UNION ALL SELECT d.refobjid FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_depend d \
               ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid \
               AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
               WHERE r.ev_class = t.oid AND d.refobjid <> t.oid) x) \
         SELECT pg_catalog.quote_ident(ns.nspname) || '.' || pg_catalog.quote_ident(c.relname), \
           CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint \
             ELSE pg_catalog.pg_stat_get_live_tuples(c.oid) END, (c.reltuples < 0)::int \
         FROM (SELECT DISTINCT oid FROM touched) t JOIN pg_catalog.pg_class c ON c.oid = t.oid \
         JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'm') ORDER BY 2 DESC, 1",
        values = values.join(", "),
        schema = quote_literal(schema),
    );
    let rows = target.query_n::<3>(&query, &[])?;
    Ok(rows
        .into_iter()
        .map(|[name, rows, from_size]| Sized {
            name: name.unwrap_or_default(),
            rows: rows.and_then(|r| r.parse().ok()).unwrap_or(u64::MAX),
            from_size: from_size.as_deref() == Some("1"),
        })
        .collect())
}

/// Why a trial within `bounds` must not run over tables of these sizes (largest first),
/// or `None` when it may.
pub(crate) fn too_large(tables: &[Sized], bounds: Bounds) -> Option<String> {
    let limit = bounds.max_rows?;
    let big: Vec<&Sized> = tables.iter().filter(|t| t.rows > limit).collect();
    let first = big.first()?;
    let how =
        if first.from_size { "by the statistics' count (it was never analysed)" } else { "by the catalogs' estimate" };
    let more = match big.len() {
        1 => String::new(),
        n => format!(" (and {} more table(s) over it)", n - 1),
    };
    Some(format!(
        "trial skipped: {} holds about {} rows {how}, over the {} rows a trial may touch on production{more} \
         (trial_max_rows); a trial there, even rolled back, writes its changes to the WAL, leaves as many dead \
         rows and holds row locks that block writers: pass --trial to diagnose to run it anyway",
        first.name,
        thousands(first.rows),
        thousands(limit)
    ))
}

/// `2000000` as `2,000,000`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The first line of psql's error, with psql's own prefixes taken off
/// (`psql failed: psql:<stdin>:3: ERROR:  57014: ...` is `line 3: ERROR: 57014: ...`).
fn first_line(message: &str) -> String {
    let line = message.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no error output");
    let line = line.strip_prefix("psql failed: ").unwrap_or(line);
    let line = match line.strip_prefix("psql:<stdin>:").and_then(|r| r.split_once(": ")) {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => format!("line {n}: {rest}"),
        _ => line.to_string(),
    };
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(sql: &str) -> Option<String> {
        ineligible(sql, false, super::super::statements::transactional(sql))
    }

    #[test]
    fn data_only_files_are_eligible() {
        assert_eq!(why("UPDATE \"t\" SET \"c\" = 'x' WHERE \"c\" IS NULL;"), None);
        assert_eq!(
            why("-- backfill\nSET client_min_messages = warning ;\nINSERT INTO t SELECT * FROM u; DELETE FROM v"),
            None
        );
        assert_eq!(why("WITH x AS (UPDATE t SET a = 1 RETURNING id) SELECT count(*) FROM x;"), None);
        assert_eq!(why("WITH x AS (SELECT id FROM u) UPDATE t SET a = 1 FROM x WHERE t.id = x.id;"), None);
        assert_eq!(why("LOCK TABLE t; ANALYZE t; COMMENT ON TABLE t IS 'x'; UPDATE t SET a = nextval('s');"), None);
        assert_eq!(why("UPDATE t SET a = 1 -- done"), None);
        // A data fix through a temporary table of its own.
        assert_eq!(
            why("WITH c AS (INSERT INTO r SELECT * FROM s RETURNING id) SELECT * INTO TEMP TABLE tmp FROM c;\n\
                 INSERT INTO a SELECT id FROM tmp; DROP TABLE tmp;"),
            None
        );
        assert_eq!(
            why("CREATE TEMPORARY TABLE IF NOT EXISTS tmp (id int); INSERT INTO tmp SELECT 1;\n\
                 UPDATE t SET a = 1 FROM tmp; DROP TABLE IF EXISTS tmp;"),
            None
        );
        assert_eq!(
            why("SELECT a[1:2] FROM t; UPDATE t SET a = '{}'"),
            Some("a SELECT statement, which is not a data change".into())
        );
    }

    #[test]
    fn other_files_are_not() {
        let not = |sql: &str, part: &str| {
            let w = why(sql).unwrap_or_else(|| panic!("eligible: {sql}"));
            assert!(w.contains(part), "{sql}: {w}");
        };
        not("SELECT setval('s', 10); UPDATE t SET a = 1;", "setval");
        not("UPDATE t SET a = 1; SELECT 1;", "SELECT");
        not("UPDATE t SET a = 1; CALL p();", "CALL");
        not("DO $$ BEGIN UPDATE t SET a = 1; END $$;", "DO");
        not("COPY t FROM '/tmp/x';", "COPY");
        not("TRUNCATE t;", "TRUNCATE");
        not("WITH x AS (SELECT id FROM t FOR UPDATE) SELECT * FROM x;", "WITH");
        // One transaction under Prisma, but its COMMIT would end the trial's own transaction.
        not("BEGIN; UPDATE t SET a = 1; COMMIT;", "BEGIN");
        not("UPDATE t SET a = 1; COMMIT;", "COMMIT");
        not("START TRANSACTION; UPDATE t SET a = 1; END;", "START");
        not("UPDATE t SET a = 1; SET statement_timeout = 0;", "statement_timeout");
        not("SET LOCAL idle_in_transaction_session_timeout = 0; UPDATE t SET a = 1;", "idle_in_transaction");
        not("UPDATE t SET a = 1; RESET ALL;", "RESET");
        not("UPDATE t SET a = dblink_exec('x', 'y');", "dblink_exec");
        not("UPDATE t SET a = f('pg_terminate_backend');", "pg_terminate_backend");
        not("UPDATE t SET a = \"SetVal\"('s', 1);", "setval");
        not("UPDATE t SET a = 1;\n\\! rm -rf /\n", "backslash");
        not("UPDATE t SET a = :foo;", "variable");
        not("UPDATE t SET a = 'unterminated", "one transaction");
        not("SET lock_timeout = '1s'; UPDATE t SET a = 1;", "lock_timeout");
        not("SET search_path TO x; COMMENT ON TABLE t IS 'y';", "no data statements");
        // Only temporary tables of its own may be made and dropped.
        not("CREATE TEMP TABLE x (a int); DROP TABLE t; UPDATE t SET a = 1;", "DROP");
        not("DROP TABLE IF EXISTS x; UPDATE t SET a = 1;", "DROP");
        not("CREATE TEMP TABLE public.x (a int); UPDATE t SET a = 1;", "CREATE");
        not("SELECT * INTO TEMP x FROM t; DROP TABLE x, t; UPDATE t SET a = 1;", "DROP");
        not("SELECT * INTO x FROM t; UPDATE t SET a = 1;", "SELECT");
        assert_eq!(ineligible("UPDATE t SET a = 1", true, true), Some("it has changes the catalogs can check".into()));
    }

    #[test]
    fn a_trial_outcome_survives_judging_again() {
        use super::super::{analyse, judge, verdict_of, Verdict};
        let sql = "UPDATE t SET c = 'x' WHERE c IS NULL;";
        let mut ev = judge(&analyse(sql), &std::collections::HashMap::new());
        assert_eq!(ev.verdict, Verdict::Unknown);
        ev.apply_trial(Outcome::Unchanged);
        assert_eq!(ev.verdict, Verdict::NotApplied);
        assert!(
            ev.details().starts_with("  decided by a trial run: a trial run of its data statements"),
            "{}",
            ev.details()
        );
        assert_eq!(verdict_of(&ev), Verdict::NotApplied);
        assert!(!ev.discount("t"));
        assert_eq!((ev.verdict, ev.trial.clone()), (Verdict::NotApplied, Some(Outcome::Unchanged)));
        let mut ev = judge(&analyse(sql), &std::collections::HashMap::new());
        ev.apply_trial(Outcome::Failed { error: "ERROR: 57014: canceling statement due to statement timeout".into() });
        assert_eq!(
            ev.summary(),
            "unknown: a trial run in a transaction that was rolled back failed: ERROR: 57014: canceling statement \
             due to statement timeout, and 1 more"
        );
        assert!(ev.details().starts_with("  trial run (in a transaction that was rolled back) failed: ERROR: 57014"));
    }

    #[test]
    fn relation_names_are_every_identifier_with_its_schema() {
        let names = relation_names("UPDATE \"Order\" o SET total = 0 FROM app.\"Item\" WHERE o.id = 1;");
        for n in [("", "update"), ("", "Order"), ("", "o"), ("", "total"), ("app", "Item"), ("o", "id")] {
            assert!(names.contains(&(n.0.to_string(), n.1.to_string())), "{n:?} in {names:?}");
        }
    }

    #[test]
    fn a_table_over_the_limit_skips_the_trial_with_its_estimate() {
        let t = |name: &str, rows: u64| Sized { name: name.into(), rows, from_size: false };
        let tables = [t("public.events", 2_000_000), t("public.big", 20_000), t("public.small", 10)];
        let why = too_large(&tables, Bounds::default()).unwrap();
        assert!(
            why.starts_with(
                "trial skipped: public.events holds about 2,000,000 rows by the catalogs' estimate, over the 10,000 \
                 rows a trial may touch on production (and 1 more table(s) over it)"
            ),
            "{why}"
        );
        assert_eq!(too_large(&tables[2..], Bounds::default()), None);
        assert_eq!(too_large(&tables, Bounds::explicit()), None);
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn psql_errors_become_one_line() {
        assert_eq!(
            first_line(
                "psql failed: psql:<stdin>:3: ERROR:  57014: canceling statement due to statement timeout\nCONTEXT: x"
            ),
            "line 3: ERROR: 57014: canceling statement due to statement timeout"
        );
        assert_eq!(first_line("could not connect"), "could not connect");
    }

    #[test]
    fn the_script_keeps_the_files_line_numbers() {
        let s = script("UPDATE t SET a = 1 -- last", Some("my \"schema\""), Bounds::default());
        assert!(s.starts_with("BEGIN; SET LOCAL lock_timeout = '1000ms'; SET LOCAL statement_timeout = '5000ms'; SET LOCAL search_path TO \"my \"\"schema\"\"\"; UPDATE t"));
        assert!(s.contains("-- last\n;\n"), "{s}");
        assert!(s.trim_end().ends_with("ROLLBACK;"));
        let s = script("UPDATE t SET a = 1;", None, Bounds::default());
        assert!(
            s.starts_with("BEGIN; SET LOCAL lock_timeout = '1000ms'; SET LOCAL statement_timeout = '5000ms'; UPDATE t")
        );
    }
}
