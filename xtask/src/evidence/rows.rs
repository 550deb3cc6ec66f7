//! Row checks: the data statements of a file the transactional rule calls applied,
//! checked against the rows, read-only. Prisma runs such a file as one transaction, so
//! its data statements ran with its schema changes; a person pasting part of the file
//! into psql can leave the schema changes in place and the data statements not run,
//! which the catalogs cannot show. Where the rows can show it cheaply:
//!
//! - `UPDATE t SET c = v, ... [FROM ...] WHERE cond`: a row that still matches `cond`
//!   and whose `c` is distinct from `v` is one the update would change now
//!   (`EXISTS (SELECT 1 FROM t WHERE cond AND (c, ...) IS DISTINCT FROM (v, ...))`).
//!   Right after the update ran there is no such row, as long as `v` does not read the
//!   columns it sets (`c = c / 60000` changes the rows again every time) and calls no
//!   volatile function; so such a row means the update did not run, **or** the row was
//!   written after it (an application inserting rows since). No such row means running
//!   it now would change nothing: its effect holds for every row there now.
//! - `DELETE FROM t WHERE cond`: a row that matches `cond` is one it would delete now.
//! - `INSERT INTO t (cols) SELECT ...` where a unique key of `t` is among `cols`: a row
//!   the `SELECT` produces now whose key is not in `t` is one it would insert now (it
//!   did not run, or the tables it reads got rows since).
//!
//! Each check is one `EXISTS` query in a `READ ONLY` transaction of a psql of its own,
//! with a statement timeout ([`STATEMENT_TIMEOUT`]) and a lock timeout: a check that
//! errors or times out is "not checked", never "done". Not checked either: a statement
//! that reads the columns it sets, calls a volatile function (by the server's
//! `provolatile`, or one that reads the clock), or any of the functions the trial run
//! never calls (`trial::NOT_ROLLED_BACK`: `dblink` acts on another server); one whose
//! tables a later statement of the file changes again; any data statement before a
//! statement that may change any rows (a `DO` block, a function call). What is not
//! checked relies on the transactional rule, and the evidence says so.

use std::time::Duration;

use serde::Serialize;

use super::keyed::{group, ident, items, unique_keys};
use super::lexer::{self, Tok, Token};
use super::objects::{quote_ident, quote_literal};
use crate::db::Target;

/// How long one check may run: an `EXISTS` stops at its first row, but a check that
/// finds none reads every row its condition selects.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a check waits for a lock (a read waits only behind an exclusive lock, such
/// as a migration stuck holding one).
pub(crate) const LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// At most this many checks per file; the rest are not checked.
const MAX_CHECKS: usize = 20;

/// Functions whose value depends on when or how often they are called, though the
/// server marks some of them stable (`now()` is the transaction's start).
const CLOCK: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "transaction_timestamp",
    "statement_timestamp",
    "clock_timestamp",
    "timeofday",
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "nextval",
    "currval",
    "lastval",
];

/// What the row checks found, each entry `line N: STATEMENT (what)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rows {
    /// Data statements that would change no row now: their effect holds for every row.
    pub done: Vec<String>,
    /// Data statements that would still change rows: they did not run, or those rows
    /// were written after they did.
    pub not_done: Vec<String>,
    /// Data statements no check covers, and why: they rely on the transactional rule.
    pub not_checked: Vec<String>,
}

/// A data statement of the file and how to check it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub line: usize,
    /// The statement on one line, shortened.
    pub text: String,
    pub check: Result<Check, String>,
}

/// A check that runs against the rows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Check {
    /// A query whose rows are the ones the statement would change now.
    Query { query: String, functions: Vec<String>, what: &'static str },
    /// `INSERT INTO schema.table (columns) <query>`: needs the table's unique keys.
    InsertSelect { schema: String, table: String, columns: Vec<String>, query: String, functions: Vec<String> },
    /// An `INSERT ... VALUES` the key lookups (`keyed.rs`) check.
    Keyed,
}

/// The data statements of `sql` (`INSERT`, `UPDATE`, `DELETE`, `MERGE`, `TRUNCATE`,
/// `COPY`, a `WITH` that changes data), each with its check or why it has none.
pub(crate) fn statements(sql: &str, default_schema: &str) -> Vec<Statement> {
    let tokens = lexer::tokenize(sql);
    let all = lexer::split_statements(&tokens);
    let sets_path =
        all.iter().any(|s| s.first().is_some_and(|t| t.is_word("set")) && s.iter().any(|t| t.is_word("search_path")));
    let mut out = Vec::new();
    for (i, s) in all.iter().enumerate() {
        let first = word(s.first());
        let data = matches!(first.as_str(), "insert" | "update" | "delete" | "merge" | "truncate" | "copy")
            || (first == "with" && super::statements::modifies_rows(s));
        if !data {
            continue;
        }
        let line = sql[..s[0].start].matches('\n').count() + 1;
        let text = super::statements::shorten(&sql[s[0].start..s[s.len() - 1].end]);
        let check = if sets_path {
            Err("the file sets search_path".to_string())
        } else {
            check(sql, s, default_schema).and_then(|c| {
                unsafe_for_psql(s)?;
                if let Some(f) = mentions(s, &|n| {
                    super::trial::NOT_ROLLED_BACK.iter().any(|p| match p.strip_suffix('*') {
                        Some(prefix) => n.starts_with(prefix),
                        None => n == *p,
                    })
                }) {
                    return Err(format!("it calls {f}, which a check never runs"));
                }
                if let Some(f) = mentions(s, &|n| CLOCK.contains(&n)) {
                    return Err(format!("it calls {f}, whose value changes from run to run"));
                }
                later(&all[i + 1..], s, sql)?;
                Ok(c)
            })
        };
        out.push(Statement { line, text, check });
    }
    out
}

fn word(t: Option<&Token>) -> String {
    match t.map(|t| &t.tok) {
        Some(Tok::Word(w)) => w.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// The first word or quoted name of `s` that `bad` matches (lower case).
fn mentions(s: &[Token], bad: &dyn Fn(&str) -> bool) -> Option<String> {
    s.iter().find_map(|t| match &t.tok {
        Tok::Word(w) | Tok::Quoted(w) => Some(w.to_ascii_lowercase()).filter(|n| bad(n)),
        _ => None,
    })
}

/// psql reads the check's script: a backslash outside a string starts one of its
/// commands, and `:name` is one of its variables.
fn unsafe_for_psql(s: &[Token]) -> Result<(), String> {
    for (i, t) in s.iter().enumerate() {
        let colon_var = t.is_punct(':')
            && s.get(i + 1)
                .is_some_and(|n| n.start == t.end && matches!(n.tok, Tok::Word(_) | Tok::Str(_) | Tok::Quoted(_)));
        if t.is_punct('\\') || colon_var || matches!(t.tok, Tok::Bad(_)) {
            return Err("it has text psql would read as its own".into());
        }
    }
    Ok(())
}

/// The names of functions `s` calls (a name followed by `(`), lower case.
fn functions(s: &[Token]) -> Vec<String> {
    let mut out: Vec<String> = s
        .windows(2)
        .filter(|w| w[1].is_punct('('))
        .filter_map(|w| match &w[0].tok {
            Tok::Word(n) => Some(n.to_ascii_lowercase()),
            Tok::Quoted(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The tables `s` names: the one after its verb and those after `FROM`, `JOIN`,
/// `USING` and `INTO` (the last part of a qualified name), as the server folds them.
fn tables(s: &[Token]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, t) in s.iter().enumerate() {
        let opens = ["update", "from", "join", "using", "into", "only"].iter().any(|w| t.is_word(w));
        if !opens {
            continue;
        }
        let mut j = i + 1;
        if s.get(j).is_some_and(|t| t.is_word("only")) {
            j += 1;
        }
        let Some(mut name) = ident(s.get(j)) else { continue };
        if s.get(j + 1).is_some_and(|t| t.is_punct('.')) {
            if let Some(n) = ident(s.get(j + 2)) {
                name = n;
            }
        }
        out.push(name);
    }
    out
}

/// Whether a statement after this one may change the rows it reads or writes, which
/// would make a check after the whole file find rows the statement left alone: one
/// that names one of its tables and is not a `CREATE`, `COMMENT`, `GRANT`, ... , or one
/// that may change any rows (`DO`, `SELECT f()`, `CALL`).
fn later(after: &[&[Token]], s: &[Token], src: &str) -> Result<(), String> {
    let mine = tables(s);
    for l in after {
        let first = word(l.first());
        let line = src[..l[0].start].matches('\n').count() + 1;
        match first.as_str() {
            "create" | "comment" | "grant" | "revoke" | "set" | "reset" | "lock" | "analyze" | "analyse" | "begin"
            | "start" | "commit" | "end" => {}
            "insert" | "update" | "delete" | "merge" | "truncate" | "copy" | "alter" | "drop" | "with" => {
                // What it writes: the table after its verb, or (for the rest) any name it has.
                let names: Vec<String> = match first.as_str() {
                    "insert" | "update" | "delete" | "merge" => tables(l).into_iter().take(1).collect(),
                    _ => l.iter().filter_map(|t| ident(Some(t))).collect(),
                };
                if let Some(t) = mine.iter().find(|t| names.contains(t)) {
                    return Err(format!("line {line} changes {} again", quote_ident(t)));
                }
            }
            _ => return Err(format!("line {line} may change any rows")),
        }
    }
    Ok(())
}

/// The index of the first top-level word of `s[from..]` among `words`, or `s.len()`.
fn top_level(s: &[Token], from: usize, words: &[&str]) -> usize {
    let mut depth = 0usize;
    for (i, t) in s.iter().enumerate().skip(from) {
        match &t.tok {
            Tok::Punct('(' | '[') => depth += 1,
            Tok::Punct(')' | ']') => depth = depth.saturating_sub(1),
            _ if depth == 0 && words.iter().any(|w| t.is_word(w)) => return i,
            _ => {}
        }
    }
    s.len()
}

fn text(src: &str, toks: &[Token]) -> String {
    match (toks.first(), toks.last()) {
        (Some(a), Some(b)) => src[a.start..b.end].to_string(),
        _ => String::new(),
    }
}

/// `[ONLY] name [[AS] alias]` from `s[at]`: the relation's text, the name its columns
/// are qualified with, and the index after it.
fn relation(src: &str, s: &[Token], at: usize, stop: &[&str]) -> Result<(String, String, usize), String> {
    let mut i = at;
    if s.get(i).is_some_and(|t| t.is_word("only")) {
        i += 1;
    }
    let mut name = ident(s.get(i)).ok_or("a table name the check does not read")?;
    let mut last = i;
    if s.get(i + 1).is_some_and(|t| t.is_punct('.')) {
        name = ident(s.get(i + 2)).ok_or("a table name the check does not read")?;
        last = i + 2;
    }
    i = last + 1;
    let mut end = last;
    if s.get(i).is_some_and(|t| t.is_word("as")) {
        i += 1;
    }
    let mut qualifier = quote_ident(&name);
    if let Some(t) = s.get(i).filter(|t| matches!(t.tok, Tok::Word(_) | Tok::Quoted(_))) {
        if !stop.iter().any(|w| t.is_word(w)) {
            qualifier = quote_ident(&ident(Some(t)).unwrap_or_default());
            end = i;
            i += 1;
        }
    }
    Ok((text(src, &s[at..=end]), qualifier, i))
}

fn check(src: &str, s: &[Token], schema: &str) -> Result<Check, String> {
    match word(s.first()).as_str() {
        "update" => update(src, s),
        "delete" => delete(src, s),
        "insert" => insert(src, s, schema),
        "with" => Err("a WITH that changes data is not checked against the rows".into()),
        other => Err(format!("{} is not checked against the rows", other.to_uppercase())),
    }
}

/// `UPDATE [ONLY] t [[AS] a] SET c = v, ... [FROM ...] [WHERE cond] [RETURNING ...]`.
fn update(src: &str, s: &[Token]) -> Result<Check, String> {
    let (rel, q, mut i) = relation(src, s, 1, &["set"])?;
    if !s.get(i).is_some_and(|t| t.is_word("set")) {
        return Err("an UPDATE the check does not read".into());
    }
    i += 1;
    let set_end = top_level(s, i, &["from", "where", "returning"]);
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for item in items(&s[i..set_end]) {
        let (Some(c), Some(eq)) = (ident(item.first()), item.get(1)) else {
            return Err("a SET the check does not read (SET (a, b) = ...)".into());
        };
        if !eq.is_punct('=') || item.len() < 3 || item.first().is_some_and(|t| t.is_punct('(')) {
            return Err("a SET the check does not read (SET (a, b) = ...)".into());
        }
        let value = &item[2..];
        if value.len() == 1 && value[0].is_word("default") {
            return Err("it sets a column to its default, which may differ from run to run".into());
        }
        columns.push(c);
        values.push(text(src, value));
    }
    let set_toks = &s[i..set_end];
    // A value read from the columns it sets changes the rows again every time.
    for (item, c) in items(set_toks).iter().zip(&columns) {
        let reads = item[2..].iter().filter_map(|t| ident(Some(t))).any(|n| columns.contains(&n));
        if reads {
            return Err(format!(
                "it sets {} from the columns it sets, so running it again changes the rows again",
                quote_ident(c)
            ));
        }
    }
    let (from, cond, _) = joined_and_where(src, s, set_end, "from")?;
    let lhs: Vec<String> = columns.iter().map(|c| format!("{q}.{}", quote_ident(c))).collect();
    let rhs: Vec<String> = values.iter().map(|v| format!("({v})")).collect();
    let distinct = if columns.len() == 1 {
        format!("{} IS DISTINCT FROM {}", lhs[0], rhs[0])
    } else {
        format!("ROW({}) IS DISTINCT FROM ROW({})", lhs.join(", "), rhs.join(", "))
    };
    Ok(Check::Query {
        query: format!("SELECT 1 FROM {rel}{from} WHERE ({cond}) AND {distinct}"),
        functions: functions(s),
        what: "rows it would change",
    })
}

/// From `j`: the list of other tables an UPDATE's `FROM` or a DELETE's `USING` (the
/// word `joined`) adds, as `, list` for the check's own `FROM`; the `WHERE`
/// condition (`true` without one); and where they end.
fn joined_and_where(src: &str, s: &[Token], mut j: usize, joined: &str) -> Result<(String, String, usize), String> {
    let mut others = String::new();
    if s.get(j).is_some_and(|t| t.is_word(joined)) {
        let end = top_level(s, j + 1, &["where", "returning"]);
        others = format!(", {}", text(src, &s[j + 1..end]));
        j = end;
    }
    let mut cond = "true".to_string();
    if s.get(j).is_some_and(|t| t.is_word("where")) {
        if s.get(j + 1).is_some_and(|t| t.is_word("current")) {
            return Err("WHERE CURRENT OF is not checked".into());
        }
        let end = top_level(s, j + 1, &["returning"]);
        cond = text(src, &s[j + 1..end]);
        j = end;
    }
    Ok((others, cond, j))
}

/// `DELETE FROM [ONLY] t [[AS] a] [USING ...] [WHERE cond] [RETURNING ...]`.
fn delete(src: &str, s: &[Token]) -> Result<Check, String> {
    if !s.get(1).is_some_and(|t| t.is_word("from")) {
        return Err("a DELETE the check does not read".into());
    }
    let (rel, _, j) = relation(src, s, 2, &["using", "where", "returning"])?;
    let (using, cond, end) = joined_and_where(src, s, j, "using")?;
    if end < s.len() && !s[end].is_word("returning") {
        return Err("a DELETE the check does not read".into());
    }
    Ok(Check::Query {
        query: format!("SELECT 1 FROM {rel}{using} WHERE ({cond})"),
        functions: functions(s),
        what: "rows it would delete",
    })
}

/// `INSERT INTO [schema.]t [AS a] (cols) SELECT ... [ON CONFLICT ...] [RETURNING ...]`;
/// an `INSERT ... VALUES` is the key lookups' (`keyed.rs`).
fn insert(src: &str, s: &[Token], default_schema: &str) -> Result<Check, String> {
    if !s.get(1).is_some_and(|t| t.is_word("into")) {
        return Err("an INSERT the check does not read".into());
    }
    let mut i = 2;
    let mut table = ident(s.get(i)).ok_or("an INSERT the check does not read")?;
    let mut schema = default_schema.to_string();
    if s.get(i + 1).is_some_and(|t| t.is_punct('.')) {
        schema = table;
        table = ident(s.get(i + 2)).ok_or("an INSERT the check does not read")?;
        i += 2;
    }
    i += 1;
    if s.get(i).is_some_and(|t| t.is_word("as")) {
        i += 2;
    }
    let Some((cols, next)) = group(s, i) else {
        return Err("an INSERT without a column list is not checked against the rows".into());
    };
    if s.get(next).is_some_and(|t| t.is_word("values")) {
        return Ok(Check::Keyed);
    }
    if !s.get(next).is_some_and(|t| t.is_word("select")) {
        return Err("an INSERT of something other than a SELECT is not checked against the rows".into());
    }
    let columns: Vec<String> = items(cols)
        .into_iter()
        .map(|c| if c.len() == 1 { ident(c.first()) } else { None })
        .collect::<Option<_>>()
        .ok_or("a column list the check does not read")?;
    // The query ends at a top-level `ON CONFLICT` (an `ON` of a join is followed by
    // a condition) or `RETURNING`.
    let mut end = next;
    while end < s.len() {
        end = top_level(s, end, &["on", "returning"]);
        if end >= s.len() || s[end].is_word("returning") || s.get(end + 1).is_some_and(|t| t.is_word("conflict")) {
            break;
        }
        end += 1;
    }
    Ok(Check::InsertSelect {
        schema,
        table,
        columns,
        query: text(src, &s[next..end]),
        functions: functions(&s[next..end]),
    })
}

/// Runs the checks of `statements` on `target`, read-only; `keyed`: the lines of the
/// `INSERT ... VALUES` whose rows the key lookups looked up. `schema`: the search path
/// Prisma sets (a URL with `?schema=`), or none.
pub(crate) fn run(target: &Target, statements: &[Statement], keyed: &[usize], schema: Option<&str>) -> Rows {
    let mut rows = Rows::default();
    let target = target.without_session();
    let mut ran = 0;
    for st in statements {
        let entry = |what: &str| format!("line {}: {} ({what})", st.line, st.text);
        let check = match &st.check {
            Err(why) => {
                rows.not_checked.push(entry(why));
                continue;
            }
            Ok(Check::Keyed) if keyed.contains(&st.line) => continue,
            Ok(Check::Keyed) => {
                rows.not_checked.push(entry("no unique key covers the rows it inserts"));
                continue;
            }
            Ok(c) => c,
        };
        if ran == MAX_CHECKS {
            rows.not_checked.push(entry("too many data statements to check"));
            continue;
        }
        ran += 1;
        let (query, functions, what) = match check {
            Check::Query { query, functions, what } => (query.clone(), functions.clone(), *what),
            Check::InsertSelect { schema, table, columns, query, functions } => {
                match insert_query(&target, schema, table, columns, query) {
                    Ok(q) => {
                        (q, functions.clone(), "rows its SELECT produces now that are not there (by a unique key)")
                    }
                    Err(why) => {
                        rows.not_checked.push(entry(&why));
                        continue;
                    }
                }
            }
            Check::Keyed => continue,
        };
        match exists(&target, &query, &functions, schema) {
            Ok(Found::None) => rows.done.push(entry(&format!("no {what}: its effect holds for every row there now"))),
            Ok(Found::Some) => rows
                .not_done
                .push(entry(&format!("there are {what}: it did not run, or those rows were written after it ran"))),
            Ok(Found::Volatile) => rows.not_checked.push(entry("it calls a volatile function")),
            Err(why) => rows.not_checked.push(entry(&format!("the check could not run: {why}"))),
        }
    }
    rows
}

/// The query of rows an `INSERT ... SELECT` would add now: those whose key (a unique
/// key of the table among its columns) is not in the table.
fn insert_query(target: &Target, schema: &str, table: &str, columns: &[String], query: &str) -> Result<String, String> {
    let keys = unique_keys(target, schema, table).map_err(|e| format!("its table's keys could not be read: {e}"))?;
    let Some(key) = keys.iter().find(|k| k.iter().all(|c| columns.contains(c))) else {
        return Err("no unique key of its table is among the columns it inserts".into());
    };
    let s_cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let not_null: Vec<String> = key.iter().map(|c| format!("s.{} IS NOT NULL", quote_ident(c))).collect();
    let equal: Vec<String> = key.iter().map(|c| format!("x.{0} = s.{0}", quote_ident(c))).collect();
    Ok(format!(
        "SELECT 1 FROM ({query}) AS s({}) WHERE {} AND NOT EXISTS (SELECT 1 FROM {}.{} AS x WHERE {})",
        s_cols.join(", "),
        not_null.join(" AND "),
        quote_ident(schema),
        quote_ident(table),
        equal.join(" AND ")
    ))
}

enum Found {
    None,
    Some,
    Volatile,
}

/// Whether `query` returns a row, in a read-only transaction of a psql of its own with
/// a statement and a lock timeout; first whether any of `functions` is volatile.
fn exists(target: &Target, query: &str, functions: &[String], schema: Option<&str>) -> Result<Found, String> {
    let names: Vec<String> = functions.iter().map(|f| quote_literal(f)).collect();
    let volatile = if names.is_empty() {
        "false".to_string()
    } else {
        format!(
            "EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE proname = ANY (ARRAY[{}]::text[]) AND provolatile = 'v')",
            names.join(", ")
        )
    };
    let path = schema.map(|s| format!("SET LOCAL search_path TO {};\n", quote_ident(s))).unwrap_or_default();
    // The query is the file's own text, which may end in a `--` comment: new lines around it.
    let script = format!(
        "SET LOCAL statement_timeout = '{}ms';\nSET LOCAL lock_timeout = '{}ms';\n\
         {path}SELECT CASE WHEN {volatile} THEN 'volatile' WHEN EXISTS (\n{query}\n) THEN 'some' ELSE 'none' END;\n",
        STATEMENT_TIMEOUT.as_millis(),
        LOCK_TIMEOUT.as_millis()
    );
    // In a read-only transaction (Target::read_only): the timeouts and the path end with it.
    let rows = target.read_only().query_n::<1>(&script, &[]).map_err(|f| {
        let m = f.message.lines().find(|l| l.contains("ERROR")).unwrap_or(f.message.lines().next().unwrap_or(""));
        m.trim().to_string()
    })?;
    match rows.last().and_then(|[r]| r.as_deref()) {
        Some("none") => Ok(Found::None),
        Some("some") => Ok(Found::Some),
        Some("volatile") => Ok(Found::Volatile),
        _ => Err("its answer did not come back".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Result<Check, String> {
        let mut s = statements(sql, "public");
        assert_eq!(s.len(), 1, "{sql}");
        s.remove(0).check
    }

    fn query(sql: &str) -> String {
        match one(sql) {
            Ok(Check::Query { query, .. }) => query,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn updates_become_queries_of_the_rows_they_would_change() {
        assert_eq!(
            query("UPDATE \"User\" SET \"b\" = CASE WHEN \"a\" THEN \"createdAt\" ELSE NULL END"),
            "SELECT 1 FROM \"User\" WHERE (true) AND \"User\".\"b\" IS DISTINCT FROM (CASE WHEN \"a\" THEN \"createdAt\" ELSE NULL END)"
        );
        assert_eq!(
            query("UPDATE ONLY app.t AS x SET a = 1, b = 'y' FROM u WHERE u.id = x.uid RETURNING x.id"),
            "SELECT 1 FROM ONLY app.t AS x, u WHERE (u.id = x.uid) AND ROW(\"x\".\"a\", \"x\".\"b\") IS DISTINCT FROM ROW((1), ('y'))"
        );
        assert_eq!(
            query("UPDATE \"users\" u\nSET c = 2 WHERE d > 0"),
            "SELECT 1 FROM \"users\" u WHERE (d > 0) AND \"u\".\"c\" IS DISTINCT FROM (2)"
        );
        assert_eq!(
            query("DELETE FROM \"Group\" WHERE \"id\" NOT IN (SELECT \"groupId\" FROM \"Rule\")"),
            "SELECT 1 FROM \"Group\" WHERE (\"id\" NOT IN (SELECT \"groupId\" FROM \"Rule\"))"
        );
    }

    #[test]
    fn what_the_rows_cannot_show_is_not_checked() {
        for (sql, why) in [
            ("UPDATE t SET c = c / 60000", "from the columns it sets"),
            ("UPDATE t SET a = b, b = a", "from the columns it sets"),
            ("UPDATE t SET c = now()", "now"),
            ("UPDATE t SET c = CURRENT_TIMESTAMP WHERE c IS NULL", "current_timestamp"),
            ("UPDATE t SET c = DEFAULT", "default"),
            ("UPDATE t SET (a, b) = (1, 2)", "SET (a, b)"),
            ("UPDATE t SET c = (SELECT x FROM dblink('db', 'q') AS r(x int))", "dblink"),
            ("UPDATE t SET c = 1; UPDATE t SET c = 2 WHERE d", "line 1 changes \"t\" again"),
            ("UPDATE t SET c = 1; SELECT f()", "line 1 may change any rows"),
            ("UPDATE t SET c = (SELECT max(x) FROM u); DELETE FROM u", "line 1 changes \"u\" again"),
            ("UPDATE t SET c = 1; ALTER TABLE t DROP COLUMN c", "line 1 changes \"t\" again"),
            ("INSERT INTO t SELECT * FROM u", "without a column list"),
            ("WITH x AS (DELETE FROM t RETURNING *) INSERT INTO u (a) SELECT a FROM x", "WITH"),
            ("SET search_path TO app; UPDATE t SET c = 1", "search_path"),
            ("TRUNCATE t", "TRUNCATE"),
        ] {
            let st = statements(sql, "public");
            let why_not = st[0].check.clone().unwrap_err();
            assert!(why_not.contains(why), "{sql}: {why_not}");
        }
        // Statements after it that leave its rows alone.
        assert!(one("UPDATE t SET c = 1").is_ok());
        let st = statements(
            "UPDATE t SET c = 1; CREATE INDEX i ON t (c); ALTER TABLE u ADD x int; INSERT INTO u (a) SELECT c FROM t",
            "public",
        );
        assert!(st[0].check.is_ok(), "{:?}", st[0].check);
    }

    #[test]
    fn insert_select_keeps_its_query() {
        let sql = "INSERT INTO \"Member\" (\"id\", \"spaceId\") SELECT u.id, s.id FROM \"User\" u JOIN \"Space\" s ON s.owner = u.id ON CONFLICT (\"id\") DO NOTHING";
        match one(sql) {
            Ok(Check::InsertSelect { schema, table, columns, query, functions }) => {
                assert_eq!((schema.as_str(), table.as_str()), ("public", "Member"));
                assert_eq!(columns, ["id", "spaceId"]);
                assert_eq!(query, "SELECT u.id, s.id FROM \"User\" u JOIN \"Space\" s ON s.owner = u.id");
                assert!(functions.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(one("INSERT INTO t (id) VALUES (1)"), Ok(Check::Keyed));
    }
}
