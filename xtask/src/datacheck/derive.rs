//! From the pending migrations' statements to what they need of the rows already in
//! production: read from the evidence's tokens (`evidence::lexer`), statement by
//! statement, in the order the deploy runs them, with what the batch itself did to
//! each table so far (created it: empty, nothing to check; changed its rows or added
//! the column: the rows the statement will meet are not production's, so not checked).
//!
//! A statement is one of: needs nothing of the rows (most DDL), needs something that
//! is checked (a [`Check`]), or has data needs that are not checked (an [`Unchecked`]
//! with the reason). Anything outside the forms below is "not checked": the
//! derivation never guesses that a statement is harmless.

use std::collections::{HashMap, HashSet};

use crate::evidence::lexer::{self, Tok, Token};

/// A table, schema-qualified, names as PostgreSQL stores them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Rel {
    pub schema: String,
    pub name: String,
}

impl Rel {
    /// The table as SQL (quoted).
    pub(crate) fn sql(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }
}

impl std::fmt::Display for Rel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

pub(crate) use crate::db::sql::{quote_ident as ident, quote_literal as literal};

/// What a statement needs of the existing rows of its table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Need {
    /// No rows at all: a column added `NOT NULL` without a default.
    NoRows,
    /// No NULL in the column: `SET NOT NULL`, a primary key's columns.
    NotNull { column: String },
    /// No two rows with the same values (NULLs apart unless `nulls_distinct` is false).
    Unique { columns: Vec<String>, nulls_distinct: bool, partial: Option<String> },
    /// Every row with all of `columns` set has a match in `target(target_columns)`;
    /// `target_empty`: the referenced table is created earlier in this deploy.
    References { columns: Vec<String>, target: Rel, target_columns: Vec<String>, target_empty: bool },
    /// No row for which the expression is false.
    Satisfies { expr: String },
    /// Every value converts to the type (the `USING` expression, if any, evaluated).
    Converts { column: String, to: String, using: Option<String> },
    /// No value longer than `max` characters (a `varchar(n)`/`char(n)` made shorter).
    FitsLength { column: String, max: u32 },
    /// Every value is one of `values` (an enum created in this deploy, Prisma's
    /// `CREATE TYPE x_new` / `ALTER COLUMN ... TYPE x_new USING` dance); `array`: an
    /// enum array column.
    InEnum { column: String, values: Vec<String>, array: bool },
}

impl Need {
    /// The column the need is about, for messages.
    pub(crate) fn column(&self) -> Option<String> {
        match self {
            Need::NotNull { column }
            | Need::Converts { column, .. }
            | Need::FitsLength { column, .. }
            | Need::InEnum { column, .. } => Some(column.clone()),
            Need::Unique { columns, .. } | Need::References { columns, .. } => Some(columns.join(", ")),
            Need::NoRows | Need::Satisfies { .. } => None,
        }
    }

    /// What the offending rows are, in words (after a count or "at least one").
    pub(crate) fn offence(&self) -> String {
        match self {
            Need::NoRows => "existing row(s), which the new NOT NULL column without a default cannot fill".into(),
            Need::NotNull { column } => format!("row(s) with {column} NULL"),
            Need::Unique { columns, .. } => format!("duplicated value(s) of ({})", columns.join(", ")),
            Need::References { columns, target, .. } => {
                format!("row(s) whose ({}) match no row of {target} (orphans)", columns.join(", "))
            }
            Need::Satisfies { expr } => format!("row(s) violating CHECK ({expr})"),
            Need::Converts { column, to, .. } => format!("row(s) whose {column} does not convert to {to}"),
            Need::FitsLength { column, max } => format!("row(s) whose {column} is longer than {max} characters"),
            Need::InEnum { column, values, .. } => {
                format!("row(s) whose {column} is not one of the new enum's values ({})", values.join(", "))
            }
        }
    }

    /// The fix to make in the migration (or the rows).
    pub(crate) fn fix(&self) -> &'static str {
        match self {
            Need::NoRows => "add a DEFAULT to the column, or add it nullable, fill it with an UPDATE, then SET NOT NULL",
            Need::NotNull { .. } => "fill the NULLs first (an UPDATE before this statement), or keep the column nullable",
            Need::Unique { .. } => "remove or merge the duplicates first (a data step before the index or constraint)",
            Need::References { .. } => {
                "delete or repair the orphaned rows first (or add the constraint NOT VALID and VALIDATE it after the clean-up)"
            }
            Need::Satisfies { .. } => "fix the rows that violate it first (or add the constraint NOT VALID)",
            Need::Converts { .. } => {
                "clean the values first, or give a guarded USING that converts every value (CASE ... END)"
            }
            Need::FitsLength { .. } => "shorten the longer values first (UPDATE ... SET col = left(col, n)), or keep the length",
            Need::InEnum { .. } => {
                "move the rows off the removed values first (UPDATE ... SET col = 'KEPT' WHERE col = 'REMOVED')"
            }
        }
    }
}

/// Where a statement is: its migration and 1-based line, and its text on one line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Place {
    pub migration: String,
    pub line: usize,
    pub statement: String,
}

/// A condition a statement needs of production's rows, to be checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    pub place: Place,
    pub table: Rel,
    pub need: Need,
}

/// A statement whose data needs are not checked, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unchecked {
    pub place: Place,
    pub why: String,
}

/// What the pending migrations need of the rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Derived {
    pub checks: Vec<Check>,
    pub unchecked: Vec<Unchecked>,
    /// Needs met by construction: a table created earlier in the same deploy is empty.
    pub empty: Vec<Check>,
}

/// What the batch has done to a table so far.
#[derive(Debug, Clone, Default)]
struct TableState {
    /// Created in this deploy (empty unless `rows_changed`).
    created: bool,
    /// Its rows change earlier in this deploy: where.
    rows_changed: Option<String>,
    /// Columns added earlier in this deploy.
    added: HashSet<String>,
}

/// Derives the checks of `migrations` (name and text, in the order they apply);
/// unqualified names belong to `schema`.
pub(crate) fn derive(migrations: &[(String, String)], schema: &str) -> Derived {
    let mut cx = Cx { schema: schema.to_string(), tables: HashMap::new(), enums: HashMap::new(), opaque: None };
    let mut out = Derived::default();
    for (name, sql) in migrations {
        let tokens = lexer::tokenize(sql);
        for toks in lexer::split_statements(&tokens) {
            let place =
                Place { migration: name.clone(), line: line_of(sql, toks[0].start), statement: shorten(sql, toks) };
            cx.statement(sql, toks, place, &mut out);
        }
    }
    out
}

fn line_of(src: &str, at: usize) -> usize {
    src[..at.min(src.len())].matches('\n').count() + 1
}

/// The statement on one line, at most 120 characters.
fn shorten(src: &str, toks: &[Token]) -> String {
    let text = &src[toks[0].start..toks[toks.len() - 1].end];
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 120 {
        format!("{}...", one.chars().take(117).collect::<String>())
    } else {
        one
    }
}

struct Cx {
    schema: String,
    tables: HashMap<Rel, TableState>,
    /// Enums created in this deploy, with their values.
    enums: HashMap<Rel, Vec<String>>,
    /// A statement whose effect on the rows is unknown (a DO block, CALL): every
    /// later check is not checked.
    opaque: Option<String>,
}

/// A name as PostgreSQL stores it: unquoted words fold to lower case.
fn name_of(t: &Token) -> Option<String> {
    match &t.tok {
        Tok::Word(w) => Some(w.to_lowercase()),
        Tok::Quoted(q) => Some(q.clone()),
        _ => None,
    }
}

/// The index of the `)` that closes the `(` at `open`.
fn close_of(toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        if t.is_punct('(') || t.is_punct('[') {
            depth += 1;
        } else if t.is_punct(')') || t.is_punct(']') {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Splits `toks` at top-level commas.
fn split_commas(toks: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, t) in toks.iter().enumerate() {
        if t.is_punct('(') || t.is_punct('[') {
            depth += 1;
        } else if t.is_punct(')') || t.is_punct(']') {
            depth -= 1;
        } else if depth == 0 && t.is_punct(',') {
            parts.push(&toks[start..i]);
            start = i + 1;
        }
    }
    parts.push(&toks[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// The source text of `toks`.
fn text(src: &str, toks: &[Token]) -> String {
    match (toks.first(), toks.last()) {
        (Some(a), Some(b)) => src[a.start..b.end].to_string(),
        _ => String::new(),
    }
}

fn has_word(toks: &[Token], kw: &str) -> bool {
    toks.iter().any(|t| t.is_word(kw))
}

fn position(toks: &[Token], kw: &str) -> Option<usize> {
    toks.iter().position(|t| t.is_word(kw))
}

/// A list of plain column names in parentheses starting at `open`: the names and
/// the index after the `)`. `None` when an element is an expression.
fn column_list(toks: &[Token], open: usize) -> Option<(Vec<String>, usize)> {
    if !toks.get(open)?.is_punct('(') {
        return None;
    }
    let close = close_of(toks, open)?;
    let mut cols = Vec::new();
    for part in split_commas(&toks[open + 1..close]) {
        let name = name_of(&part[0])?;
        // ASC/DESC/NULLS FIRST|LAST change the order, not what is equal.
        let rest_ok = part[1..].iter().all(|t| ["asc", "desc", "nulls", "first", "last"].iter().any(|k| t.is_word(k)));
        if !rest_ok {
            return None;
        }
        cols.push(name);
    }
    Some((cols, close + 1))
}

impl Cx {
    /// A possibly qualified name at `i`: the relation and the index after it.
    fn rel_at(&self, toks: &[Token], i: usize) -> Option<(Rel, usize)> {
        let first = name_of(toks.get(i)?)?;
        if toks.get(i + 1).is_some_and(|t| t.is_punct('.')) {
            let second = name_of(toks.get(i + 2)?)?;
            return Some((Rel { schema: first, name: second }, i + 3));
        }
        Some((Rel { schema: self.schema.clone(), name: first }, i + 1))
    }

    fn state(&mut self, rel: &Rel) -> &mut TableState {
        self.tables.entry(rel.clone()).or_default()
    }

    fn statement(&mut self, src: &str, toks: &[Token], place: Place, out: &mut Derived) {
        let w = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(kw));
        let unchecked =
            |out: &mut Derived, why: &str| out.unchecked.push(Unchecked { place: place.clone(), why: why.into() });
        if toks.iter().any(|t| matches!(t.tok, Tok::Bad(_))) {
            return unchecked(out, "the statement could not be read");
        }
        // Statements that need nothing of the rows and change none.
        let harmless = [
            "begin",
            "commit",
            "end",
            "start",
            "set",
            "reset",
            "comment",
            "grant",
            "revoke",
            "select",
            "savepoint",
            "release",
            "rollback",
            "analyze",
            "vacuum",
            "notify",
            "lock",
            "drop",
            "refresh",
            "reindex",
            "cluster",
            "security",
            "discard",
        ];
        if harmless.iter().any(|k| w(0, k)) {
            // Dropping a table ends what the batch knew of it (a later CREATE makes a new one).
            if w(0, "drop") && w(1, "table") {
                let mut i = 2;
                if w(i, "if") && w(i + 1, "exists") {
                    i += 2;
                }
                for part in split_commas(&toks[i..]) {
                    if let Some((rel, _)) = self.rel_at(part, 0) {
                        self.tables.remove(&rel);
                    }
                }
            }
            return;
        }
        if w(0, "create") {
            return self.create(src, toks, place, out);
        }
        if w(0, "alter") && w(1, "table") {
            return self.alter_table(src, toks, place, out);
        }
        if w(0, "alter") {
            // ALTER TYPE (ADD VALUE, RENAME), ALTER INDEX/SEQUENCE/VIEW/FUNCTION/...: no rows.
            if w(1, "type") {
                self.alter_type(toks);
            }
            return;
        }
        if ["insert", "update", "delete", "merge", "copy", "truncate"].iter().any(|k| w(0, k)) {
            // The rows change: later checks of this table would look at the wrong rows.
            let at = match toks.iter().position(|t| t.is_word("into") || t.is_word("from") || t.is_word("table")) {
                Some(i) if !w(0, "update") => i + 1,
                _ => 1 + usize::from(w(1, "only")),
            };
            let what = format!("{} at {}:{}", toks[0].tok_word().to_uppercase(), place.migration, place.line);
            if let Some((rel, _)) = self.rel_at(toks, at) {
                self.state(&rel).rows_changed = Some(what);
            } else {
                self.opaque = Some(what);
            }
            return unchecked(out, "a data change: what it needs of the rows is not checked");
        }
        if w(0, "do") || w(0, "call") || w(0, "execute") {
            self.opaque = Some(format!("{} at {}:{}", toks[0].tok_word().to_uppercase(), place.migration, place.line));
            return unchecked(out, "its effect on the rows cannot be read from the text");
        }
        unchecked(out, "this statement form is not analysed for data needs")
    }

    fn create(&mut self, src: &str, toks: &[Token], place: Place, out: &mut Derived) {
        let w = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(kw));
        let mut i = 1;
        if w(i, "or") && w(i + 1, "replace") {
            i += 2;
        }
        while ["global", "local", "temp", "temporary", "unlogged"].iter().any(|k| w(i, k)) {
            i += 1;
        }
        if w(i, "table") {
            i += 1;
            if w(i, "if") && w(i + 1, "not") && w(i + 2, "exists") {
                // Present already or not: the batch cannot tell; nothing is learnt.
                return;
            }
            if let Some((rel, after)) = self.rel_at(toks, i) {
                let filled = has_word(&toks[after..], "as") && !toks.get(after).is_some_and(|t| t.is_punct('('));
                let st = TableState {
                    created: true,
                    rows_changed: filled.then(|| format!("CREATE TABLE AS at {}:{}", place.migration, place.line)),
                    added: HashSet::new(),
                };
                self.tables.insert(rel, st);
            }
            return;
        }
        if w(i, "type") {
            // An enum created in this deploy: its values, for a later column TYPE change.
            if let Some((rel, after)) = self.rel_at(toks, i + 1) {
                if w(after, "as") && w(after + 1, "enum") && toks.get(after + 2).is_some_and(|t| t.is_punct('(')) {
                    let close = close_of(toks, after + 2).unwrap_or(toks.len());
                    let values = toks[after + 3..close]
                        .iter()
                        .filter_map(|t| match &t.tok {
                            Tok::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect();
                    self.enums.insert(rel, values);
                }
            }
            return;
        }
        if w(i, "unique") && w(i + 1, "index") {
            self.unique_index(src, toks, i + 2, place, out);
        }
        // Other CREATEs (index, sequence, view, function, trigger, extension, schema,
        // policy, domain...) need nothing of a table's rows.
    }

    /// `CREATE UNIQUE INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON [ONLY] t [USING m] (cols) [NULLS [NOT] DISTINCT] [WHERE ...]`.
    fn unique_index(&mut self, src: &str, toks: &[Token], start: usize, place: Place, out: &mut Derived) {
        let Some(on) = toks[start..].iter().position(|t| t.is_word("on")).map(|p| p + start) else {
            return out.unchecked.push(Unchecked { place, why: "the index's table could not be read".into() });
        };
        let mut i = on + 1;
        if toks.get(i).is_some_and(|t| t.is_word("only")) {
            i += 1;
        }
        let Some((rel, mut after)) = self.rel_at(toks, i) else {
            return out.unchecked.push(Unchecked { place, why: "the index's table could not be read".into() });
        };
        if toks.get(after).is_some_and(|t| t.is_word("using")) {
            after += 2;
        }
        let Some((columns, after)) = column_list(toks, after) else {
            return out.unchecked.push(Unchecked {
                place,
                why: "a unique index over expressions or operator classes: duplicates are not checked".into(),
            });
        };
        let rest = &toks[after..];
        let nulls_distinct =
            !(rest.windows(3).any(|w| w[0].is_word("nulls") && w[1].is_word("not") && w[2].is_word("distinct")));
        let partial = position(rest, "where").map(|p| text(src, &rest[p + 1..]));
        self.need(rel, Need::Unique { columns, nulls_distinct, partial }, place, out);
    }

    fn alter_type(&mut self, toks: &[Token]) {
        // `ALTER TYPE a RENAME TO b`: an enum created in this deploy keeps its values.
        if let Some((rel, after)) = self.rel_at(toks, 2) {
            if toks.get(after).is_some_and(|t| t.is_word("rename"))
                && toks.get(after + 1).is_some_and(|t| t.is_word("to"))
            {
                if let (Some(values), Some(new)) = (self.enums.remove(&rel), toks.get(after + 2).and_then(name_of)) {
                    self.enums.insert(Rel { schema: rel.schema, name: new }, values);
                }
            }
        }
    }

    fn alter_table(&mut self, src: &str, toks: &[Token], place: Place, out: &mut Derived) {
        let mut i = 2;
        if toks.get(i).is_some_and(|t| t.is_word("if")) && toks.get(i + 1).is_some_and(|t| t.is_word("exists")) {
            i += 2;
        }
        if toks.get(i).is_some_and(|t| t.is_word("only")) {
            i += 1;
        }
        let Some((rel, after)) = self.rel_at(toks, i) else {
            return out.unchecked.push(Unchecked { place, why: "the table could not be read".into() });
        };
        if toks.get(after).is_some_and(|t| t.tok == Tok::Punct('*')) {
            return out.unchecked.push(Unchecked { place, why: "ALTER TABLE ... * is not analysed".into() });
        }
        let actions = &toks[after..];
        if actions.first().is_some_and(|t| t.is_word("rename")) {
            if actions.get(1).is_some_and(|t| t.is_word("to")) {
                // The table has another name from here on: what the batch knew moves with it.
                if let Some(new) = actions.get(2).and_then(name_of) {
                    let st = self.tables.remove(&rel).unwrap_or_default();
                    let moved = Rel { schema: rel.schema.clone(), name: new };
                    if st.created {
                        self.tables.insert(moved, st);
                    } else {
                        // Production knows it by its old name: later checks are not run.
                        let why = format!("RENAME at {}:{}", place.migration, place.line);
                        self.tables.insert(moved, TableState { rows_changed: Some(why), ..st });
                    }
                }
            } else {
                // A renamed column: later checks of it would ask production for the new name.
                let why = format!("RENAME at {}:{}", place.migration, place.line);
                self.state(&rel).rows_changed.get_or_insert(why);
            }
            return;
        }
        if actions
            .first()
            .is_some_and(|t| t.is_word("set") || t.is_word("owner") || t.is_word("attach") || t.is_word("detach"))
        {
            // SET SCHEMA / TABLESPACE / LOGGED..., OWNER TO, partitions: not analysed for rows
            // except ATTACH PARTITION, which checks the partition's rows against its bound.
            if actions.first().is_some_and(|t| t.is_word("attach")) {
                out.unchecked.push(Unchecked { place, why: "ATTACH PARTITION's bound is not checked".into() });
            }
            return;
        }
        for action in split_commas(actions) {
            self.action(src, &rel, action, &place, out);
        }
    }

    fn action(&mut self, src: &str, rel: &Rel, a: &[Token], place: &Place, out: &mut Derived) {
        let w = |i: usize, kw: &str| a.get(i).is_some_and(|t| t.is_word(kw));
        let unchecked = |out: &mut Derived, why: String| out.unchecked.push(Unchecked { place: place.clone(), why });
        if w(0, "add") {
            let mut i = 1;
            if w(i, "constraint") {
                i += 2;
            }
            if w(i, "column")
                || !(w(i, "unique") || w(i, "primary") || w(i, "foreign") || w(i, "check") || w(i, "exclude"))
            {
                if w(i, "column") {
                    i += 1;
                }
                if w(i, "if") && w(i + 1, "not") && w(i + 2, "exists") {
                    i += 3;
                }
                return self.add_column(rel, &a[i..], place, out);
            }
            return self.add_constraint(src, rel, &a[i..], place, out);
        }
        if w(0, "alter") {
            let i = if w(1, "column") { 2 } else { 1 };
            let Some(column) = a.get(i).and_then(name_of) else {
                return unchecked(out, "the column could not be read".into());
            };
            let r = &a[i + 1..];
            let rw = |j: usize, kw: &str| r.get(j).is_some_and(|t| t.is_word(kw));
            if rw(0, "set") && rw(1, "not") && rw(2, "null") {
                return self.need(rel.clone(), Need::NotNull { column }, place.clone(), out);
            }
            if rw(0, "type") || (rw(0, "set") && rw(1, "data") && rw(2, "type")) {
                let start = if rw(0, "type") { 1 } else { 3 };
                return self.type_change(src, rel, column, &r[start..], place, out);
            }
            // SET/DROP DEFAULT, DROP NOT NULL, SET STATISTICS/STORAGE/COMPRESSION, identity: no rows.
            return;
        }
        if w(0, "drop")
            || w(0, "enable")
            || w(0, "disable")
            || w(0, "force")
            || w(0, "no")
            || w(0, "replica")
            || w(0, "cluster")
            || w(0, "reset")
            || w(0, "inherit")
            || w(0, "of")
            || w(0, "not")
            || w(0, "owner")
            || w(0, "set")
        {
            // DROP COLUMN/CONSTRAINT, triggers, row security, storage: nothing of the rows.
            // (SET ACCESS METHOD/TABLESPACE rewrite the table but cannot fail on a value.)
            return;
        }
        if w(0, "validate") {
            return unchecked(out, "VALIDATE CONSTRAINT: the constraint's condition is not read here".into());
        }
        unchecked(
            out,
            format!("ALTER TABLE action `{}` is not analysed", a.first().map(|t| t.tok_word()).unwrap_or_default()),
        )
    }

    /// `ADD [COLUMN] name type [constraints]`.
    fn add_column(&mut self, rel: &Rel, a: &[Token], place: &Place, out: &mut Derived) {
        let Some(column) = a.first().and_then(name_of) else {
            return out.unchecked.push(Unchecked { place: place.clone(), why: "the column could not be read".into() });
        };
        let rest = &a[1..];
        let not_null =
            rest.windows(2).any(|p| p[0].is_word("not") && p[1].is_word("null")) || has_word(rest, "primary");
        let filled = has_word(rest, "default")
            || has_word(rest, "generated")
            || rest.first().is_some_and(|t| {
                ["serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"].iter().any(|k| t.is_word(k))
            });
        self.state(rel).added.insert(column.clone());
        if not_null && !filled {
            return self.need(rel.clone(), Need::NoRows, place.clone(), out);
        }
        if filled
            && (has_word(rest, "unique")
                || has_word(rest, "references")
                || has_word(rest, "check")
                || has_word(rest, "primary"))
        {
            out.unchecked.push(Unchecked {
                place: place.clone(),
                why: "a column added with a default and a constraint: the default against the rows is not checked"
                    .into(),
            });
        }
    }

    /// `[CONSTRAINT name] UNIQUE|PRIMARY KEY|FOREIGN KEY|CHECK|EXCLUDE ...`.
    fn add_constraint(&mut self, src: &str, rel: &Rel, c: &[Token], place: &Place, out: &mut Derived) {
        let w = |i: usize, kw: &str| c.get(i).is_some_and(|t| t.is_word(kw));
        let unchecked =
            |out: &mut Derived, why: &str| out.unchecked.push(Unchecked { place: place.clone(), why: why.into() });
        let not_valid = c.windows(2).any(|p| p[0].is_word("not") && p[1].is_word("valid"));
        if w(0, "unique") || (w(0, "primary") && w(1, "key")) {
            let primary = w(0, "primary");
            let mut i = if primary { 2 } else { 1 };
            let mut nulls_distinct = true;
            if w(i, "nulls") {
                nulls_distinct = !w(i + 1, "not");
                i += if nulls_distinct { 2 } else { 3 };
            }
            if w(i, "using") && w(i + 1, "index") {
                // The index exists already: the constraint adopts it.
                return;
            }
            let Some((columns, _)) = column_list(c, i) else {
                return unchecked(out, "the constraint's columns could not be read");
            };
            if primary {
                for column in &columns {
                    self.need(rel.clone(), Need::NotNull { column: column.clone() }, place.clone(), out);
                }
            }
            return self.need(rel.clone(), Need::Unique { columns, nulls_distinct, partial: None }, place.clone(), out);
        }
        if w(0, "foreign") && w(1, "key") {
            if not_valid {
                return;
            }
            let Some((columns, after)) = column_list(c, 2) else {
                return unchecked(out, "the foreign key's columns could not be read");
            };
            if !w(after, "references") {
                return unchecked(out, "the foreign key's target could not be read");
            }
            let Some((target, after)) = self.rel_at(c, after + 1) else {
                return unchecked(out, "the foreign key's target could not be read");
            };
            let Some((target_columns, _)) = column_list(c, after) else {
                return unchecked(out, "a foreign key without the referenced columns (the primary key) is not checked");
            };
            if c.iter().any(|t| t.is_word("match")) && c.iter().any(|t| t.is_word("full")) {
                return unchecked(out, "MATCH FULL foreign keys are not checked");
            }
            let st = self.tables.get(&target);
            let target_empty = st.is_some_and(|s| s.created && s.rows_changed.is_none());
            if st.is_some_and(|s| s.rows_changed.is_some() || s.created && !target_empty) {
                return unchecked(out, "the referenced table's rows change earlier in this deploy");
            }
            let need = Need::References { columns, target, target_columns, target_empty };
            return self.need(rel.clone(), need, place.clone(), out);
        }
        if w(0, "check") {
            if not_valid {
                return;
            }
            if !c.get(1).is_some_and(|t| t.is_punct('(')) {
                return unchecked(out, "the CHECK's expression could not be read");
            }
            let Some(close) = close_of(c, 1) else {
                return unchecked(out, "the CHECK's expression could not be read");
            };
            let expr = text(src, &c[2..close]);
            return self.need(rel.clone(), Need::Satisfies { expr }, place.clone(), out);
        }
        unchecked(out, "this constraint (EXCLUDE) is not checked against the rows")
    }

    /// `ALTER COLUMN c [SET DATA] TYPE t [COLLATE x] [USING expr]`.
    fn type_change(&mut self, src: &str, rel: &Rel, column: String, r: &[Token], place: &Place, out: &mut Derived) {
        let using_at = position(r, "using");
        let type_toks = &r[..position(r, "collate").or(using_at).unwrap_or(r.len())];
        let using = using_at.map(|u| text(src, &r[u + 1..]));
        let ty = text(src, type_toks);
        let lower = ty.to_lowercase();
        let array = type_toks.last().is_some_and(|t| t.is_punct(']'));
        // An enum created in this deploy (Prisma's value-removal dance): the values it keeps.
        if let Some((enum_rel, _)) = self.rel_at(type_toks, 0) {
            if let Some(values) = self.enums.get(&enum_rel).cloned() {
                let plain_using = using.as_deref().is_none_or(|u| {
                    let u: String = u
                        .chars()
                        .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
                        .collect::<String>()
                        .to_lowercase();
                    u.starts_with(&format!("\"{}\"::text", column.to_lowercase()))
                        || u.starts_with(&format!("{}::text", column.to_lowercase()))
                });
                if !plain_using {
                    return out.unchecked.push(Unchecked {
                        place: place.clone(),
                        why: "a USING expression other than `col::text::type` into a new enum is not checked".into(),
                    });
                }
                return self.need(rel.clone(), Need::InEnum { column, values, array }, place.clone(), out);
            }
        }
        // Conversions that cannot fail on a value.
        let words: Vec<&str> =
            lower.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').filter(|s| !s.is_empty()).collect();
        let unbounded_text = matches!(words.as_slice(), ["text"] | ["varchar"] | ["character", "varying"] | ["citext"]);
        if using.is_none() && unbounded_text && !array {
            return;
        }
        if using.is_none() && !array {
            if let [kind @ ("varchar" | "char" | "character" | "bpchar"), rest @ ..] = words.as_slice() {
                let n = rest.iter().rev().find_map(|w| w.parse::<u32>().ok());
                let kind_ok = *kind != "character" || rest.first() == Some(&"varying") || rest.len() == 1;
                if let (Some(max), true) = (n, kind_ok) {
                    return self.need(rel.clone(), Need::FitsLength { column, max }, place.clone(), out);
                }
            }
        }
        if self.enums.keys().any(|e| lower.contains(&e.name.to_lowercase())) {
            return out.unchecked.push(Unchecked {
                place: place.clone(),
                why: "a conversion into a type created in this deploy is not checked".into(),
            });
        }
        self.need(rel.clone(), Need::Converts { column, to: ty, using }, place.clone(), out);
    }

    /// Records a need of `rel`'s rows: checked, met (an empty table made in this
    /// deploy), or not checked (the rows or the column change earlier in this deploy).
    fn need(&mut self, rel: Rel, need: Need, place: Place, out: &mut Derived) {
        let st = self.tables.get(&rel).cloned().unwrap_or_default();
        if let Some(what) = self.opaque.clone() {
            return out.unchecked.push(Unchecked {
                place,
                why: format!("{what} may change the rows first, so production's rows are not the ones it meets"),
            });
        }
        if let Some(what) = &st.rows_changed {
            return out.unchecked.push(Unchecked {
                place,
                why: format!("the rows of {rel} change earlier in this deploy ({what}), so production's rows are not the ones it meets"),
            });
        }
        if st.created {
            return out.empty.push(Check { place, table: rel, need });
        }
        if let Some(col) = need_columns(&need).into_iter().find(|c| st.added.contains(c)) {
            // The column is new: NULL in every existing row (a default would fill it).
            let need = match need {
                Need::NotNull { .. } => Need::NoRows,
                Need::Unique { nulls_distinct: true, .. } | Need::References { .. } => return,
                _ => {
                    return out.unchecked.push(Unchecked {
                        place,
                        why: format!("{col} is added earlier in this deploy: its values there are not read"),
                    })
                }
            };
            return out.checks.push(Check { place, table: rel, need });
        }
        if let Need::Satisfies { expr } = &need {
            // A CHECK that reads a column added earlier in this deploy: its values are not production's.
            let tokens = lexer::tokenize(expr);
            if let Some(col) = tokens.iter().filter_map(name_of).find(|n| st.added.contains(n)) {
                return out.unchecked.push(Unchecked {
                    place,
                    why: format!("the CHECK reads {col}, added earlier in this deploy: its values there are not read"),
                });
            }
        }
        out.checks.push(Check { place, table: rel, need })
    }
}

fn need_columns(n: &Need) -> Vec<String> {
    match n {
        Need::NotNull { column }
        | Need::Converts { column, .. }
        | Need::FitsLength { column, .. }
        | Need::InEnum { column, .. } => vec![column.clone()],
        Need::Unique { columns, .. } | Need::References { columns, .. } => columns.clone(),
        Need::NoRows | Need::Satisfies { .. } => Vec::new(),
    }
}

trait TokWord {
    fn tok_word(&self) -> String;
}

impl TokWord for Token {
    fn tok_word(&self) -> String {
        match &self.tok {
            Tok::Word(w) => w.clone(),
            Tok::Quoted(q) => q.clone(),
            other => format!("{other:?}"),
        }
    }
}
