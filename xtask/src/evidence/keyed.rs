//! Keyed inserts: a data-only file whose data statements all insert constant rows
//! (`INSERT INTO t (cols) VALUES (...), ...`, seed data, a service account, tier
//! limits) into tables where a unique key (a primary key or a unique index without a
//! predicate or expressions) covers each row is decided by looking the keys up: one
//! read-only query, an index lookup per row, however big the table. No trial runs.
//!
//! - no row of it there: **not applied** (running it again inserts them all);
//! - every row there: **applied** (or someone else made them: the evidence names them);
//! - some there: **partial** (a re-run fails on the first row that is there; a file
//!   Prisma ran as one transaction cannot be left so: it was run by hand, in part).
//!
//! Rows inserted `ON CONFLICT DO NOTHING` never stop a re-run: they count toward
//! *applied* but cannot show it alone; a file of only such rows is *not applied*
//! (running it again adds what is missing and skips the rest). A row whose key is not
//! covered (no unique key among its constant, non-NULL columns), a table or column
//! that is not there, a literal the server does not take, or a lookup that times out
//! (`statement_timeout` 5 s, `lock_timeout` 1 s) leaves the file to the trial run, as
//! before.

use serde::Serialize;

use super::lexer::{self, Tok, Token};
use super::objects::{quote_ident, quote_literal};
use crate::db::Target;

/// One `INSERT ... VALUES` of constant rows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Insert {
    pub line: usize,
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    /// Each row's values as SQL text, `None` where a value is not a constant.
    pub rows: Vec<Vec<Option<String>>>,
    /// `ON CONFLICT DO NOTHING`: a row already there is skipped, not an error.
    pub guarded: bool,
}

/// What the key lookups found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Keys {
    /// Rows of unguarded inserts that are there, as `"t" (id)=(1) (line N)`.
    pub present: Vec<String>,
    /// Rows of unguarded inserts that are not.
    pub missing: Vec<String>,
    /// Rows inserted `ON CONFLICT DO NOTHING`: how many are there, of how many.
    pub guarded_present: usize,
    pub guarded_total: usize,
    /// The lines of the inserts whose rows were looked up.
    #[serde(skip)]
    pub(crate) lines: Vec<usize>,
}

/// The inserts of `sql` when every statement of it is a constant-row insert or has
/// no lasting effect (`SET` other than `search_path`, `LOCK`, `COMMENT ON`, `ANALYZE`);
/// `None` otherwise.
pub(crate) fn inserts(sql: &str, default_schema: &str) -> Option<Vec<Insert>> {
    let tokens = lexer::tokenize(sql);
    let mut out = Vec::new();
    for s in lexer::split_statements(&tokens) {
        let first = match s.first().map(|t| &t.tok) {
            Some(Tok::Word(w)) => w.to_ascii_lowercase(),
            _ => return None,
        };
        match first.as_str() {
            "insert" => out.push(insert(sql, s, default_schema)?),
            "set" if !s.iter().any(|t| t.is_word("search_path")) => {}
            "lock" | "comment" | "analyze" | "analyse" => {}
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The constant-row inserts among the statements of `sql`, whatever else it has (for a
/// file the transactional rule says is applied: are the rows it inserts there?). Empty
/// when the file sets `search_path` (its names' schema is then not known here).
pub(crate) fn inserts_among(sql: &str, default_schema: &str) -> Vec<Insert> {
    let tokens = lexer::tokenize(sql);
    let statements = lexer::split_statements(&tokens);
    if statements
        .iter()
        .any(|s| s.first().is_some_and(|t| t.is_word("set")) && s.iter().any(|t| t.is_word("search_path")))
    {
        return Vec::new();
    }
    statements
        .into_iter()
        .filter(|s| s.first().is_some_and(|t| t.is_word("insert")))
        .filter_map(|s| insert(sql, s, default_schema))
        .collect()
}

/// An identifier's name: an unquoted word folded to lower case, a quoted one exact.
pub(super) fn ident(t: Option<&Token>) -> Option<String> {
    match &t?.tok {
        Tok::Word(w) => Some(w.to_ascii_lowercase()),
        Tok::Quoted(q) => Some(q.clone()),
        _ => None,
    }
}

/// The tokens of a parenthesised group starting at `s[at]` (`(`), and the index after it.
pub(super) fn group(s: &[Token], at: usize) -> Option<(&[Token], usize)> {
    if !s.get(at)?.is_punct('(') {
        return None;
    }
    let mut depth = 0usize;
    for (i, t) in s.iter().enumerate().skip(at) {
        if t.is_punct('(') {
            depth += 1;
        } else if t.is_punct(')') {
            depth -= 1;
            if depth == 0 {
                return Some((&s[at + 1..i], i + 1));
            }
        }
    }
    None
}

/// Splits a group's tokens at its top-level commas.
pub(super) fn items(g: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let (mut depth, mut from) = (0usize, 0);
    for (i, t) in g.iter().enumerate() {
        match &t.tok {
            Tok::Punct('(' | '[') => depth += 1,
            Tok::Punct(')' | ']') => depth = depth.saturating_sub(1),
            Tok::Punct(',') if depth == 0 => {
                out.push(&g[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(&g[from..]);
    out
}

/// A constant's SQL text: a string, a number (signed), `TRUE`/`FALSE`, each perhaps
/// with a cast to a named type (`'ADMIN'::"Role"`); `None` for anything else (NULL,
/// DEFAULT, a function call, an expression).
fn constant(src: &str, v: &[Token]) -> Option<String> {
    let (first, last) = (v.first()?, v.last()?);
    let mut i = usize::from(first.is_punct('-'));
    match &v.get(i)?.tok {
        Tok::Str(_) => {}
        Tok::Number(_) => {}
        Tok::Word(w) if i == 0 && (w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false")) => {}
        _ => return None,
    }
    if first.is_punct('-') && !matches!(v[1].tok, Tok::Number(_)) {
        return None;
    }
    i += 1;
    if i < v.len() {
        // `::type`, `::schema.type`, `::varchar(10)`
        if v[i].tok != Tok::Cast {
            return None;
        }
        let rest = &v[i + 1..];
        let plain = rest.iter().all(|t| {
            matches!(t.tok, Tok::Word(_) | Tok::Quoted(_) | Tok::Number(_))
                || t.is_punct('.')
                || t.is_punct('(')
                || t.is_punct(')')
                || t.is_punct(',')
        });
        if rest.is_empty() || !plain {
            return None;
        }
    }
    Some(src[first.start..last.end].to_string())
}

/// `INSERT INTO name [AS alias] (cols) VALUES (...), ... [ON CONFLICT [...] DO NOTHING]`.
fn insert(src: &str, s: &[Token], default_schema: &str) -> Option<Insert> {
    if !s.get(1)?.is_word("into") {
        return None;
    }
    let mut i = 2;
    let mut name = ident(s.get(i))?;
    let mut schema = default_schema.to_string();
    if s.get(i + 1).is_some_and(|t| t.is_punct('.')) {
        schema = name;
        name = ident(s.get(i + 2))?;
        i += 2;
    }
    i += 1;
    if s.get(i).is_some_and(|t| t.is_word("as")) {
        i += 2;
    }
    let (cols, next) = group(s, i)?;
    let columns: Vec<String> =
        items(cols).into_iter().map(|c| if c.len() == 1 { ident(c.first()) } else { None }).collect::<Option<_>>()?;
    i = next;
    if !s.get(i)?.is_word("values") {
        return None;
    }
    i += 1;
    let mut rows = Vec::new();
    loop {
        let (values, next) = group(s, i)?;
        let row: Vec<Option<String>> = items(values).into_iter().map(|v| constant(src, v)).collect();
        if row.len() != columns.len() {
            return None;
        }
        rows.push(row);
        i = next;
        if !s.get(i).is_some_and(|t| t.is_punct(',')) {
            break;
        }
        i += 1;
    }
    let rest = &s[i..];
    let n = rest.len();
    let do_nothing = n >= 4
        && rest[0].is_word("on")
        && rest[1].is_word("conflict")
        && rest[n - 2].is_word("do")
        && rest[n - 1].is_word("nothing");
    if n > 0 && !do_nothing {
        return None;
    }
    let guarded = do_nothing;
    let line = src[..s[0].start].matches('\n').count() + 1;
    Some(Insert { line, schema, table: name, columns, rows, guarded })
}

/// The unique keys of the inserts' tables, each as its columns.
fn table_keys(target: &Target, inserts: &[Insert]) -> Result<Vec<(String, String, Vec<String>)>, String> {
    let mut tables: Vec<String> =
        inserts.iter().map(|x| format!("({}, {})", quote_literal(&x.schema), quote_literal(&x.table))).collect();
    tables.dedup();
    let query = format!(
        "SELECT ns.nspname, c.relname, pg_catalog.json_agg(a.attname ORDER BY k.n)::text \
         FROM (VALUES {}) AS v(s, t) \
         JOIN pg_catalog.pg_namespace ns ON ns.nspname = v.s \
         JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid AND c.relname = v.t \
         JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisunique AND i.indisvalid \
           AND i.indpred IS NULL AND i.indexprs IS NULL \
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
         WHERE k.n <= i.indnkeyatts \
         GROUP BY ns.nspname, c.relname, i.indexrelid ORDER BY i.indexrelid",
        tables.join(", ")
    );
    let rows = target.query_n::<3>(&query, &[]).map_err(|f| f.message)?;
    rows.into_iter()
        .map(|[s, t, cols]| {
            let cols: Vec<String> = serde_json::from_str(cols.as_deref().unwrap_or("[]")).map_err(|e| e.to_string())?;
            Ok((s.unwrap_or_default(), t.unwrap_or_default(), cols))
        })
        .collect()
}

/// The unique keys of `schema.table`, each as its columns.
pub(super) fn unique_keys(target: &Target, schema: &str, table: &str) -> Result<Vec<Vec<String>>, String> {
    let one = Insert {
        line: 0,
        schema: schema.to_string(),
        table: table.to_string(),
        columns: Vec::new(),
        rows: Vec::new(),
        guarded: false,
    };
    Ok(table_keys(target, &[one])?.into_iter().map(|(_, _, cols)| cols).collect())
}

/// Looks each inserted row's key up. `None` when the lookup cannot run, or when a
/// row's key is not covered and `every` row must be (the file is then left to the trial
/// run); otherwise rows not covered are passed over.
pub(crate) fn look_up(target: &Target, inserts: &[Insert], every: bool) -> Option<Keys> {
    let keys = table_keys(target, inserts).ok()?;
    // Each row: (guarded, description, the EXISTS condition).
    let mut probes: Vec<(bool, String, String)> = Vec::new();
    let mut lines = Vec::new();
    for x in inserts {
        let table_keys: Vec<&Vec<String>> =
            keys.iter().filter(|(s, t, _)| *s == x.schema && *t == x.table).map(|(_, _, c)| c).collect();
        for row in &x.rows {
            let value = |c: &String| x.columns.iter().position(|x| x == c).and_then(|i| row[i].clone());
            let Some(key) = table_keys.iter().find(|k| k.iter().all(|c| value(c).is_some())) else {
                if every {
                    return None;
                }
                continue;
            };
            let values: Vec<String> = key.iter().filter_map(value).collect();
            let condition: Vec<String> =
                key.iter().zip(&values).map(|(c, v)| format!("{} = ({v})", quote_ident(c))).collect();
            let table = format!("{}.{}", quote_ident(&x.schema), quote_ident(&x.table));
            lines.push(x.line);
            probes.push((
                x.guarded,
                format!("{table} ({})=({}) (line {})", key.join(", "), values.join(", "), x.line),
                format!("EXISTS (SELECT 1 FROM {table} WHERE {})", condition.join(" AND ")),
            ));
        }
    }
    if probes.is_empty() {
        return None;
    }
    let selects: Vec<String> =
        probes.iter().enumerate().map(|(i, (_, _, cond))| format!("SELECT {i}, ({cond})::int")).collect();
    // A psql of its own (a literal the server rejects must not end a shared session), in a
    // read-only transaction (Target::read_only) whose timeouts end with it. Bounded: a
    // lookup that times out or waits for a lock leaves the file undecided.
    let script = format!(
        "SET LOCAL statement_timeout = '{}ms';\nSET LOCAL lock_timeout = '{}ms';\n{};\n",
        super::rows::STATEMENT_TIMEOUT.as_millis(),
        super::rows::LOCK_TIMEOUT.as_millis(),
        selects.join("\nUNION ALL ")
    );
    let rows = target.without_session().read_only().query_n::<2>(&script, &[]).ok()?;
    let mut found = vec![false; probes.len()];
    for [i, there] in rows {
        let i: usize = i?.parse().ok()?;
        *found.get_mut(i)? = there.as_deref() == Some("1");
    }
    lines.dedup();
    let mut k = Keys { present: Vec::new(), missing: Vec::new(), guarded_present: 0, guarded_total: 0, lines };
    for ((guarded, what, _), there) in probes.into_iter().zip(found) {
        match (guarded, there) {
            (true, t) => {
                k.guarded_total += 1;
                k.guarded_present += usize::from(t);
            }
            (false, true) => k.present.push(what),
            (false, false) => k.missing.push(what),
        }
    }
    Some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_row_inserts_are_read() {
        let sql = "SET lock_timeout = '1s';\nINSERT INTO \"Plan\" (\"id\", \"name\", \"limit\") VALUES ('free', 'Free', 10), \
                   ('pro', 'Pro', -1);\nINSERT INTO app.tier AS t (id, role) VALUES (1, 'ADMIN'::\"Role\") \
                   ON CONFLICT (id) DO NOTHING;";
        let x = inserts(sql, "public").unwrap();
        assert_eq!(x.len(), 2);
        assert_eq!((x[0].line, x[0].schema.as_str(), x[0].table.as_str()), (2, "public", "Plan"));
        assert_eq!(x[0].columns, ["id", "name", "limit"]);
        assert_eq!(x[0].rows[1], [Some("'pro'".into()), Some("'Pro'".into()), Some("-1".into())]);
        assert!(!x[0].guarded);
        assert_eq!((x[1].schema.as_str(), x[1].table.as_str(), x[1].guarded), ("app", "tier", true));
        assert_eq!(x[1].rows[0][1].as_deref(), Some("'ADMIN'::\"Role\""));
        // Not constants: the row is kept, the value is not.
        let x = inserts("INSERT INTO t (id, at) VALUES (1, now()), (NULL, DEFAULT)", "public").unwrap();
        assert_eq!(x[0].rows, [vec![Some("1".into()), None], vec![None, None]]);
    }

    #[test]
    fn other_files_are_not_keyed_inserts() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "INSERT INTO t (id) SELECT 1",
            "INSERT INTO t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET id = 2",
            "INSERT INTO t (id) VALUES (1) RETURNING id",
            "INSERT INTO t (id) VALUES (1); UPDATE t SET id = 2",
            "SET search_path TO x; INSERT INTO t (id) VALUES (1)",
            "INSERT INTO t (id, b) VALUES (1)",
            "COMMENT ON TABLE t IS 'x'",
        ] {
            assert_eq!(inserts(sql, "public"), None, "{sql}");
        }
    }
}
