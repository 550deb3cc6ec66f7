//! What each statement of a migration does to the catalogs: the statements Prisma
//! generates and the usual hand-written, re-runnable forms of them, read from tokens.
//!
//! Every statement becomes one of: ignored (no lasting effect on the schema, such as
//! `BEGIN`, `SET lock_timeout`, `COMMENT ON`), a list of [`Change`]s, a `DO` block of
//! such statements with its exception handler, a statement that is safe to run again
//! but checked only in part (a replaced view's presence, not its query), or unknown
//! with the reason. Anything
//! outside the forms below is unknown: the analyser never guesses.

use std::collections::{HashMap, HashSet};

use super::definition;
use super::lexer::{self, Tok, Token};
use super::objects::{FunctionDef, Object, Presence, TypeName};

/// PostgreSQL cuts identifiers to 63 bytes (NAMEDATALEN - 1).
const MAX_IDENT: usize = 63;

/// One statement of the migration.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    /// 1-based line of its first token in the file.
    pub line: usize,
    /// The statement on one line, shortened.
    pub text: String,
    pub body: Body,
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Ignored,
    Unknown(String),
    /// A statement whose effect is checked only in part, or not at all, but which
    /// does the same again when run again, whatever was there: `CREATE OR REPLACE` of
    /// a view or trigger (only its presence is checked: the changes), a view or trigger
    /// created again after the file dropped it, or what the analyser cannot read of a
    /// `CREATE OR REPLACE FUNCTION`, a procedure or rule, `DROP PROCEDURE IF EXISTS`
    /// (no changes). The text says what is not checked.
    Replace(String, Vec<Change>),
    Changes(Vec<Change>),
    /// A `DO` block: its statements, and the SQLSTATEs its handler swallows
    /// (`"others"`, a code, or a class such as `"42000"`); empty without a handler.
    Block {
        statements: Vec<Stmt>,
        catches: Vec<String>,
    },
}

/// One effect of a statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    pub op: Op,
    /// The statement skips this change when any of these holds
    /// (`IF NOT EXISTS`: the object is present; `IF EXISTS`: it is absent).
    pub skip_if: Vec<(Object, Presence)>,
    /// Objects that must exist for the change to run (the table an `ALTER TABLE`
    /// changes, the enum an `ADD VALUE` extends).
    pub needs: Vec<Object>,
}

impl Change {
    fn new(op: Op, skip_if: Vec<(Object, Presence)>) -> Change {
        Change { op, skip_if, needs: Vec::new() }
    }

    fn needing(mut self, o: Object) -> Change {
        self.needs.push(o);
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// Fails with `error` when `object` exists; otherwise it is present and each of
    /// `children` (what it owns: columns, their type, nullability and default,
    /// constraints and their definitions) is in the state given.
    Create { object: Object, children: Vec<(Object, Presence)>, error: &'static str },
    /// Fails when `object` is missing; otherwise it and what it owns are gone.
    Drop { object: Object },
    /// Fails when `from` is missing or `to` exists; what `from` owns moves to `to`.
    Rename { from: Object, to: Object },
    /// A property that can be set again without error. `once`: setting it again is
    /// not harmless (`ALTER COLUMN ... TYPE ... USING` converts the data again), so a
    /// re-run that finds it set would do damage.
    Set { object: Object, presence: Presence, once: bool },
    /// An enum's exact value list changes from one list to another.
    Rekey { from: Object, to: Object },
}

/// Reads the statements of `src`; unqualified names belong to `default_schema`
/// until a `SET search_path` says otherwise.
pub(crate) fn parse(src: &str, default_schema: &str) -> Vec<Stmt> {
    let mut cx = Cx {
        src,
        schema: default_schema.to_string(),
        enums: HashMap::new(),
        temp: Vec::new(),
        dropped: HashSet::new(),
        cascaded: false,
    };
    let tokens = lexer::tokenize(src);
    lexer::split_statements(&tokens).into_iter().map(|toks| cx.statement(toks, false)).collect()
}

/// The words naming an `ALTER TABLE` action that sets again what it set when it runs
/// again and that no verdict needs to see: `ENABLE|DISABLE|FORCE|NO FORCE ROW LEVEL
/// SECURITY`, `REPLICA IDENTITY`, `SET (...)`/`RESET (...)` of storage parameters,
/// `OWNER TO`, `VALIDATE CONSTRAINT`, `ENABLE|DISABLE [ALWAYS|REPLICA] TRIGGER`,
/// `CLUSTER ON`, `SET WITHOUT CLUSTER`, `SET LOGGED|UNLOGGED`, and `ALTER COLUMN ... SET
/// STATISTICS|STORAGE|COMPRESSION`. (Not `SET SCHEMA` or `RENAME`, which fail when run
/// again, nor `ALTER SEQUENCE ... RESTART`, which would restart the numbering again.)
fn same_again(a: &P) -> Option<String> {
    let words: Vec<String> = a.t[a.i..]
        .iter()
        .take(5)
        .map(|t| match &t.tok {
            Tok::Word(w) => w.to_ascii_lowercase(),
            Tok::Punct(c) => c.to_string(),
            _ => String::new(),
        })
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let what = match (w(0), w(1), w(2)) {
        ("enable" | "disable" | "force", "row", "level") | ("no", "force", "row") => "ROW LEVEL SECURITY",
        ("replica", "identity", _) => "REPLICA IDENTITY",
        ("set" | "reset", "(", _) => "storage parameters",
        ("owner", "to", _) => "OWNER TO",
        ("validate", "constraint", _) => "VALIDATE CONSTRAINT",
        ("enable" | "disable", "trigger" | "always" | "replica", _) => "ENABLE/DISABLE TRIGGER",
        ("cluster", "on", _) | ("set", "without", "cluster") => "CLUSTER ON",
        ("set", "logged" | "unlogged", _) => "SET LOGGED/UNLOGGED",
        ("alter", ..) => {
            // ALTER [COLUMN] name SET ...
            let set = if w(1) == "column" { 3 } else { 2 };
            if w(set) != "set" || !matches!(w(set + 1), "statistics" | "storage" | "compression") {
                return None;
            }
            "ALTER COLUMN SET STATISTICS/STORAGE"
        }
        _ => return None,
    };
    Some(what.to_string())
}

/// The temporary table a `SELECT ... INTO TEMP [TABLE] name` (at the top level of the
/// statement) makes, folded as the server folds it.
pub(crate) fn into_temp(toks: &[Token]) -> Option<String> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate() {
        if t.is_punct('(') {
            depth += 1;
        } else if t.is_punct(')') {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && t.is_word("into") {
            let mut j = i + 1;
            if !toks.get(j).is_some_and(|t| t.is_word("temp") || t.is_word("temporary")) {
                return None;
            }
            j += 1;
            if toks.get(j).is_some_and(|t| t.is_word("table")) {
                j += 1;
            }
            return match toks.get(j).map(|t| &t.tok) {
                Some(Tok::Word(w)) => Some(truncate(fold(w))),
                Some(Tok::Quoted(q)) => Some(truncate(q.clone())),
                _ => None,
            };
        }
    }
    None
}

/// Why a statement that only changes rows is not understood (`INSERT`, `UPDATE`,
/// `DELETE`, `MERGE`, `COPY`, `TRUNCATE`, or a `WITH` whose statement is one of them).
pub(crate) const DATA_CHANGES: &str = "data changes cannot be checked in the catalogs";

/// Whether a `WITH` statement's own statement (after its common table expressions) is
/// `INSERT`, `UPDATE`, `DELETE` or `MERGE`. (Its expressions may call functions, as an
/// `UPDATE`'s may; a `WITH ... SELECT` may be `SELECT ... INTO` and make a table.)
fn modifies_rows(toks: &[Token]) -> bool {
    let mut depth = 0usize;
    for t in toks.iter().skip(1) {
        if t.is_punct('(') {
            depth += 1;
        } else if t.is_punct(')') {
            depth = depth.saturating_sub(1);
        } else if depth == 0 {
            if ["insert", "update", "delete", "merge"].iter().any(|w| t.is_word(w)) {
                return true;
            }
            if t.is_word("select") || t.is_word("values") || t.is_word("table") {
                return false;
            }
        }
    }
    false
}

/// Whether `src` runs as one transaction when Prisma sends it: [`units`] finds one.
#[cfg(test)]
pub(crate) fn transactional(src: &str) -> bool {
    units(src).as_deref().is_some_and(one_unit)
}

/// Whether statements of these [`units`] are all in the first (one transaction).
pub(crate) fn one_unit(units: &[usize]) -> bool {
    units.iter().all(|&n| n == 0)
}

/// The all-or-nothing units `src` runs in when sent as one query, as Prisma's schema
/// engine sends a migration: for each statement (as [`parse`] splits them), the index of
/// its unit. The server runs the statements of one query in an implicit transaction;
/// `BEGIN` turns it into an explicit one (statements before it join it) and `COMMIT`
/// (or `END`) ends it, so each `COMMIT` closes a unit and what follows the last one is
/// the last unit. Execution stops at the first error, so units commit in order: after a
/// failure, the first k units are in and the rest are not.
///
/// `None` when that does not hold or is not known: a statement that undoes part of a
/// unit (`ROLLBACK`, `SAVEPOINT`...), a `BEGIN` inside a block or never committed (what
/// happens to it depends on the client), a statement that cannot run in a transaction
/// block (`CONCURRENTLY`, `VACUUM`, `CREATE DATABASE`...: in a file of more than one
/// statement it fails and nothing runs, but such a file was not written for Prisma's
/// way of running it), or text the tokenizer cannot read.
pub(crate) fn units(src: &str) -> Option<Vec<usize>> {
    let tokens = lexer::tokenize(src);
    if tokens.iter().any(|t| matches!(t.tok, Tok::Bad(_))) {
        return None;
    }
    let statements = lexer::split_statements(&tokens);
    if statements.len() <= 1 {
        return Some(vec![0; statements.len()]);
    }
    let (mut unit, mut in_block, mut out) = (0, false, Vec::with_capacity(statements.len()));
    for s in statements {
        let first = |w: &str| s.first().is_some_and(|t| t.is_word(w));
        let undo = ["rollback", "abort", "savepoint", "release", "prepare"];
        let outside = ["vacuum", "reindex", "cluster", "checkpoint"];
        if undo.iter().chain(&outside).any(|w| first(w))
            || s.iter().any(|t| t.is_word("concurrently"))
            || ((first("create") || first("drop") || first("alter"))
                && s.get(1).is_some_and(|t| t.is_word("database") || t.is_word("tablespace") || t.is_word("system")))
        {
            return None;
        }
        out.push(unit);
        if first("begin") || first("start") {
            if in_block {
                return None;
            }
            in_block = true;
        } else if first("commit") || first("end") {
            // Outside a block, COMMIT commits the implicit transaction (with a warning).
            in_block = false;
            unit += 1;
        }
    }
    (!in_block).then_some(out)
}

/// What the analysis knows while reading the file from top to bottom.
struct Cx<'s> {
    src: &'s str,
    /// Where unqualified names go.
    schema: String,
    /// The value lists of enums this file created, to follow `ADD VALUE` and `RENAME VALUE`.
    enums: HashMap<(String, String), Vec<String>>,
    /// Temporary tables this file created: an unqualified `DROP TABLE` of one drops it,
    /// not a table of the schema (and a temporary table ends with the session anyway).
    temp: Vec<String>,
    /// Views and triggers this file dropped: created again, they have the same name and
    /// perhaps another definition, which the catalogs are not compared on.
    dropped: HashSet<Object>,
    /// The file dropped something with CASCADE, which may have taken views along that
    /// the analyser does not know of.
    cascaded: bool,
}

type Res<T> = Result<T, String>;

impl<'s> Cx<'s> {
    fn line_of(&self, offset: usize) -> usize {
        self.src[..offset.min(self.src.len())].matches('\n').count() + 1
    }

    fn short_text(&self, toks: &[Token]) -> String {
        let (Some(first), Some(last)) = (toks.first(), toks.last()) else {
            return String::new();
        };
        shorten(&self.src[first.start..last.end])
    }

    fn statement(&mut self, toks: &[Token], in_block: bool) -> Stmt {
        let line = toks.first().map(|t| self.line_of(t.start)).unwrap_or(1);
        let text = self.short_text(toks);
        if let Some(Token { tok: Tok::Bad(why), .. }) = toks.iter().find(|t| matches!(t.tok, Tok::Bad(_))) {
            return Stmt { line, text, body: Body::Unknown(format!("cannot read it: {why}")) };
        }
        let mut p = P { t: toks, i: 0 };
        if p.is("do") {
            if in_block {
                return Stmt { line, text, body: Body::Unknown("a DO block inside a DO block".into()) };
            }
            return self.do_block(toks, line, text);
        }
        let body = match self.body(&mut p, in_block) {
            Ok(b) => b,
            Err(why) => Body::Unknown(why),
        };
        Stmt { line, text, body }
    }

    fn body(&mut self, p: &mut P, in_block: bool) -> Res<Body> {
        let Some(first) = p.word() else {
            return Err("not a statement the analyser knows".into());
        };
        match first.as_str() {
            "begin" | "start" | "commit" | "end" if !in_block => Ok(Body::Ignored),
            "rollback" | "abort" | "savepoint" | "release" | "prepare" => {
                Err("transaction control that can undo earlier statements".into())
            }
            "set" => self.set(p),
            "reset" => {
                p.bump();
                if p.is("search_path") || p.is("all") {
                    Err("RESET search_path: the schema of later names is not known".into())
                } else {
                    Ok(Body::Ignored)
                }
            }
            "comment" | "analyze" | "analyse" | "vacuum" | "lock" => Ok(Body::Ignored),
            "null" if in_block => Ok(Body::Ignored),
            "raise" if in_block => {
                p.bump();
                if ["notice", "info", "log", "debug", "warning"].iter().any(|l| p.is(l)) {
                    Ok(Body::Ignored)
                } else {
                    Err("RAISE that stops the block".into())
                }
            }
            "create" if p.is_at(1, "or") && p.is_at(2, "replace") => {
                if in_block {
                    return Err("CREATE OR REPLACE that the analyser does not check".into());
                }
                p.i += 3;
                if p.eat("view") || p.eat_seq(&["recursive", "view"]) {
                    return self.create_view(p, true, false);
                }
                if p.eat("function") {
                    return self.create_function(p, true);
                }
                if p.eat("trigger") {
                    return self.create_trigger(p, true);
                }
                match p.word().as_deref() {
                    Some(kind @ ("procedure" | "constraint" | "rule")) => {
                        Ok(Body::Replace(format!("CREATE OR REPLACE {}: not checked", kind.to_uppercase()), Vec::new()))
                    }
                    _ => Err("CREATE OR REPLACE that the analyser does not check".into()),
                }
            }
            "create" => {
                p.bump();
                self.create(p)
            }
            "alter" => {
                p.bump();
                self.alter(p)
            }
            "drop" if !in_block && p.is_at(1, "procedure") && p.is_at(2, "if") && p.is_at(3, "exists") => {
                Ok(Body::Replace("DROP PROCEDURE IF EXISTS: not checked".into(), Vec::new()))
            }
            "drop" => {
                p.bump();
                self.drop(p)
            }
            "insert" | "update" | "delete" | "merge" | "copy" | "truncate" => Err(DATA_CHANGES.into()),
            "with" if modifies_rows(p.t) => Err(DATA_CHANGES.into()),
            // Granting or revoking again changes nothing more.
            "grant" | "revoke" if !in_block => {
                Ok(Body::Replace(format!("{}: privileges are not checked", first.to_uppercase()), Vec::new()))
            }
            "grant" | "revoke" => Err("privileges are not checked".into()),
            "select" | "with" | "values" | "call" | "perform" | "execute" => {
                // `SELECT ... INTO TEMP TABLE t`: a later `DROP TABLE t` drops that one.
                if let Some(name) = into_temp(p.t) {
                    self.temp.push(name);
                }
                Err("a query or call whose effects cannot be checked".into())
            }
            "if" | "loop" | "for" | "foreach" | "while" | "case" | "return" | "declare" | "begin" | "exit"
            | "continue" | "get" | "assert" | "open" | "fetch" | "close" | "move"
                if in_block =>
            {
                Err("PL/pgSQL logic in a DO block".into())
            }
            _ => Err("not a statement the analyser knows".into()),
        }
    }

    /// `SET [SESSION|LOCAL] name {TO|=} value`: only `search_path` matters.
    fn set(&mut self, p: &mut P) -> Res<Body> {
        p.bump();
        if !p.eat("session") {
            p.eat("local");
        }
        let is_path = p.is("search_path");
        if !is_path && !p.is("schema") {
            // lock_timeout, statement_timeout, client_min_messages, CONSTRAINTS, ROLE, TIME ZONE...
            return Ok(Body::Ignored);
        }
        let schema_form = !is_path;
        p.bump();
        if is_path && !(p.eat("to") || p.eat_punct('=')) {
            return Err("SET search_path without TO".into());
        }
        let value = match p.peek().map(|t| &t.tok) {
            Some(Tok::Str(s)) if schema_form => s.clone(),
            Some(Tok::Str(s) | Tok::Quoted(s)) if !s.contains(',') => s.clone(),
            Some(Tok::Word(w)) if !w.eq_ignore_ascii_case("default") => fold(w),
            _ => return Err("SET search_path to something other than one schema".into()),
        };
        p.bump();
        if !p.at_end() || value.starts_with('$') {
            return Err("SET search_path to something other than one schema".into());
        }
        self.schema = truncate(value);
        Ok(Body::Ignored)
    }

    fn create(&mut self, p: &mut P) -> Res<Body> {
        if p.eat_seq(&["or", "replace"]) {
            if p.is("trigger") || p.is("constraint") {
                return Err("CREATE OR REPLACE TRIGGER is not checked".into());
            }
            return Err("CREATE OR REPLACE of a function, view or rule: its definition is not checked".into());
        }
        if p.eat("trigger") || p.eat_seq(&["constraint", "trigger"]) {
            return self.create_trigger(p, false);
        }
        if p.eat("policy") {
            // CREATE POLICY name ON table [AS ...] [FOR ...] [TO ...] [USING (...)] [WITH CHECK (...)]:
            // fails when a policy of that name is on the table; its expressions are not compared.
            let name = p.name()?;
            p.expect("on")?;
            let (schema, table) = p.qname()?;
            let schema = schema.unwrap_or_else(|| self.schema.clone());
            let table_obj = Object::Table { schema: schema.clone(), name: table.clone() };
            return Ok(one(create(Object::Policy { schema, table, name }, Vec::new(), false).needing(table_obj)));
        }
        if p.eat("view") || p.eat_seq(&["recursive", "view"]) {
            return self.create_view(p, false, false);
        }
        if p.eat_seq(&["materialized", "view"]) {
            return self.create_view(p, false, true);
        }
        if p.eat("function") {
            return self.create_function(p, false);
        }
        let unique = p.eat("unique");
        if p.eat("index") {
            return self.create_index(p);
        }
        if unique {
            return Err("not a statement the analyser knows".into());
        }
        p.eat("unlogged");
        if p.eat("table") {
            return self.create_table(p);
        }
        if p.eat("type") {
            return self.create_type(p);
        }
        if p.eat("sequence") {
            let (guard, (schema, name)) = self.if_not_exists_qname(p)?;
            let object = Object::Sequence { schema, name };
            // Options (START, INCREMENT, OWNED BY...) do not change what exists.
            return Ok(one(create(object, Vec::new(), guard)));
        }
        if p.eat("extension") {
            let guard = p.eat_seq(&["if", "not", "exists"]);
            let name = p.name()?;
            return Ok(one(create(Object::Extension { name }, Vec::new(), guard)));
        }
        if p.eat("schema") {
            let guard = p.eat_seq(&["if", "not", "exists"]);
            if p.is("authorization") {
                return Err("CREATE SCHEMA without a name".into());
            }
            let name = p.name()?;
            if p.eat("authorization") {
                p.name()?;
            }
            p.expect_end()?;
            return Ok(one(create(Object::Schema { name }, Vec::new(), guard)));
        }
        if p.is("temp") || p.is("temporary") || p.is("local") || p.is("global") {
            while p.eat("local") || p.eat("global") || p.eat("temp") || p.eat("temporary") {}
            if p.eat("table") {
                p.eat_seq(&["if", "not", "exists"]);
                if let Ok((None, name)) = p.qname() {
                    self.temp.push(name);
                }
            }
            return Err("temporary objects do not outlive the migration".into());
        }
        Err("not a CREATE the analyser knows".into())
    }

    /// `CREATE [OR REPLACE] [CONSTRAINT] TRIGGER name {BEFORE|AFTER|INSTEAD OF} events ON table ...`:
    /// only its presence is checked, so one created again after the file dropped it,
    /// or replaced, shows nothing about its definition.
    fn create_trigger(&mut self, p: &mut P, replace: bool) -> Res<Body> {
        let name = p.name()?;
        while !p.at_end() && !p.is("on") {
            p.bump();
        }
        p.expect("on")?;
        let (schema, table) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        let table_obj = Object::Table { schema: schema.clone(), name: table.clone() };
        let object = Object::Trigger { schema, table, name };
        if replace {
            let set = Op::Set { object, presence: Presence::Present, once: false };
            return Ok(Body::Replace(
                "CREATE OR REPLACE TRIGGER: only that the trigger exists is checked, not its definition".into(),
                vec![Change::new(set, Vec::new()).needing(table_obj)],
            ));
        }
        if self.dropped.contains(&object) {
            return Ok(Body::Replace(
                "a trigger created again after the file dropped it: only that it exists is checked, not its definition"
                    .into(),
                vec![create(object, Vec::new(), false).needing(table_obj)],
            ));
        }
        Ok(one(create(object, Vec::new(), false).needing(table_obj)))
    }

    /// `CREATE [OR REPLACE] [MATERIALIZED] VIEW [IF NOT EXISTS] name [(columns)] [WITH (...)] AS query`:
    /// only its presence is checked (`pg_get_viewdef` prints the query normalised).
    fn create_view(&mut self, p: &mut P, replace: bool, materialized: bool) -> Res<Body> {
        let guard = materialized && p.eat_seq(&["if", "not", "exists"]);
        let (schema, name) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        if !p.t[p.i..].iter().any(|t| t.is_word("as")) {
            return Err("a view without AS".into());
        }
        let object = Object::View { schema, name, materialized };
        let unchecked = "only that the view exists is checked, not its query";
        if replace {
            let set = Op::Set { object, presence: Presence::Present, once: false };
            return Ok(Body::Replace(
                format!("CREATE OR REPLACE VIEW: {unchecked}"),
                vec![Change::new(set, Vec::new())],
            ));
        }
        if self.dropped.contains(&object) || self.cascaded {
            // It was there before the drop (perhaps with another query): finding it shows
            // nothing, and a DROP ... CASCADE may have removed it without the file saying so.
            let set = Op::Set { object, presence: Presence::Present, once: false };
            return Ok(Body::Replace(
                format!("a view created again after the file dropped it or dropped with CASCADE: {unchecked}"),
                vec![Change::new(set, Vec::new())],
            ));
        }
        Ok(one(create(object, Vec::new(), guard)))
    }

    /// `CREATE [OR REPLACE] FUNCTION name (args) RETURNS type LANGUAGE l AS 'body' ...`:
    /// the function with these argument types and this definition (see
    /// [`FunctionDef`]). A replaced function is compared on every attribute the file
    /// states, so one with an attribute the analyser does not read is left unchecked;
    /// a created one did not exist before with these arguments, so its body is enough.
    fn create_function(&mut self, p: &mut P, replace: bool) -> Res<Body> {
        let fallback = |why: &str| {
            if replace {
                Ok(Body::Replace(format!("CREATE OR REPLACE FUNCTION {why}: not checked"), Vec::new()))
            } else {
                Err(format!("CREATE FUNCTION {why}: not checked"))
            }
        };
        let (schema, name) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        let group = p.group()?;
        let args = match function_args(group, &self.schema, true) {
            Ok(a) => a,
            Err(why) => return fallback(&why),
        };
        if replace && group.iter().any(|t| t.is_word("default") || t.is_punct('=')) {
            return fallback("with argument defaults");
        }
        let mut def = FunctionDef {
            body: String::new(),
            language: String::new(),
            returns: None,
            setof: false,
            volatility: 'v',
            security_definer: false,
            strict: false,
            cost: None,
            rows: None,
            parallel: 'u',
            leakproof: false,
        };
        let (mut body, mut returns) = (None, false);
        while !p.at_end() {
            if p.eat("returns") {
                if p.eat_seq(&["null", "on", "null", "input"]) {
                    def.strict = true;
                    continue;
                }
                returns = true;
                if p.is("table") {
                    if replace {
                        return fallback("returning TABLE");
                    }
                    p.bump();
                    p.group()?;
                    continue;
                }
                def.setof = p.eat("setof");
                match type_name(p, &self.schema) {
                    Ok(t) => def.returns = Some(t),
                    Err(why) => return fallback(&why),
                }
            } else if p.eat("language") {
                def.language = match p.peek().map(|t| &t.tok) {
                    Some(Tok::Str(l)) => {
                        let l = l.to_ascii_lowercase();
                        p.bump();
                        l
                    }
                    _ => p.name()?,
                };
            } else if p.eat("as") {
                body = match p.peek().map(|t| &t.tok) {
                    Some(Tok::Str(b) | Tok::Dollar { body: b, .. }) => Some(b.clone()),
                    _ => return fallback("with a body the analyser cannot read"),
                };
                p.bump();
                if p.is_punct(',') {
                    return fallback("with an object file");
                }
            } else if p.eat("immutable") {
                def.volatility = 'i';
            } else if p.eat("stable") {
                def.volatility = 's';
            } else if p.eat("volatile") {
                def.volatility = 'v';
            } else if p.eat("strict") {
                def.strict = true;
            } else if p.is("cost") || p.is("rows") {
                let rows = p.eat("rows");
                p.eat("cost");
                let n = match p.peek().map(|t| &t.tok) {
                    Some(Tok::Number(n)) if n.bytes().all(|b| b.is_ascii_digit() || b == b'.') => n.clone(),
                    _ => return fallback("with COST or ROWS that is not a plain number"),
                };
                p.bump();
                *(if rows { &mut def.rows } else { &mut def.cost }) = Some(n);
            } else if p.eat("parallel") {
                def.parallel = match p.word().as_deref() {
                    Some("unsafe") => 'u',
                    Some("restricted") => 'r',
                    Some("safe") => 's',
                    _ => return fallback("with a PARALLEL the analyser cannot read"),
                };
                p.bump();
            } else if p.eat("leakproof") {
                def.leakproof = true;
            } else if p.eat_seq(&["not", "leakproof"]) {
                def.leakproof = false;
            } else if p.eat_seq(&["called", "on", "null", "input"]) {
                def.strict = false;
            } else if p.eat("security") || p.eat_seq(&["external", "security"]) {
                if p.eat("definer") {
                    def.security_definer = true;
                } else {
                    p.expect("invoker")?;
                    def.security_definer = false;
                }
            } else if replace {
                return fallback("with an attribute the analyser does not compare");
            } else {
                // COST, ROWS, PARALLEL, SET...: not compared; the body is enough for a new function.
                p.bump();
                while !p.at_end() && !FUNCTION_CLAUSES.iter().any(|k| p.is(k)) {
                    p.bump();
                }
            }
        }
        let Some(body) = body else {
            return fallback("with a body in SQL-standard form");
        };
        if !returns || def.language.is_empty() {
            return fallback("without RETURNS or LANGUAGE");
        }
        def.body = body;
        let object =
            Object::Function { schema: schema.clone(), name: name.clone(), args: Some(args.clone()), def: Some(def) };
        if replace || self.cascaded {
            // After a DROP ... CASCADE, a function taking a dropped view's row type may
            // have gone with it: created again, it may have been there before, like a
            // replaced one.
            let set = Op::Set { object, presence: Presence::Present, once: false };
            return Ok(one(Change::new(set, Vec::new())));
        }
        // It fails when a function with these arguments exists, whatever its body.
        let signature = Object::Function { schema, name, args: Some(args), def: None };
        Ok(one(create(signature, vec![(object, Presence::Present)], false)))
    }

    fn if_not_exists_qname(&self, p: &mut P) -> Res<(bool, (String, String))> {
        let guard = p.eat_seq(&["if", "not", "exists"]);
        let (schema, name) = p.qname()?;
        Ok((guard, (schema.unwrap_or_else(|| self.schema.clone()), name)))
    }

    /// `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON [ONLY] table ...`
    fn create_index(&mut self, p: &mut P) -> Res<Body> {
        p.eat("concurrently");
        let guard = p.eat_seq(&["if", "not", "exists"]);
        if p.is("on") {
            return Err("an index without a name cannot be looked up".into());
        }
        let name = p.name()?;
        if p.is_punct('.') {
            return Err("CREATE INDEX with a qualified name".into());
        }
        p.expect("on")?;
        p.eat("only");
        let (schema, table) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        let table = Object::Table { schema: schema.clone(), name: table };
        let mut children = Vec::new();
        if let Some(def) = definition::index_tokens(p.t) {
            children.push((Object::IndexDef { schema: schema.clone(), name: name.clone(), def }, Presence::Present));
        }
        Ok(one(create(Object::Index { schema, name }, children, guard).needing(table)))
    }

    /// `CREATE TABLE [IF NOT EXISTS] name ( columns and constraints ) ...`
    fn create_table(&mut self, p: &mut P) -> Res<Body> {
        let (guard, (schema, table)) = self.if_not_exists_qname(p)?;
        let object = Object::Table { schema: schema.clone(), name: table.clone() };
        if p.eat("partition") {
            p.expect("of")?;
            return Ok(one(create(object, Vec::new(), guard)));
        }
        if p.is("as") {
            return Ok(one(create(object, Vec::new(), guard)));
        }
        if p.is("of") {
            return Err("CREATE TABLE OF a type is not checked".into());
        }
        let elements = p.group()?;
        if p.is("as") {
            // CREATE TABLE t (a, b) AS SELECT ...: the list only names columns.
            return Ok(one(create(object, Vec::new(), guard)));
        }
        let mut children = Vec::new();
        // Primary key columns are NOT NULL whether or not the file says so.
        let mut key_columns = Vec::new();
        for el in split_commas(elements) {
            let mut e = P { t: el, i: 0 };
            if e.eat("constraint") {
                let name = e.name()?;
                if e.is("primary") {
                    key_columns.extend(key_list(&e));
                }
                children.extend(self.constraint(&schema, &table, name, &e)?);
            } else if e.is("primary") {
                key_columns.extend(key_list(&e));
                children.extend(self.constraint(&schema, &table, pkey_name(&table), &e)?);
            } else if ["unique", "check", "foreign", "like"].iter().any(|k| e.is(k))
                || (e.is("exclude") && (e.is_punct_at(1, '(') || e.is_at(1, "using")))
            {
                // Unnamed constraints get generated names; they exist exactly when the table does.
            } else {
                let (column, constraints) = self.column_def(&schema, &table, el)?;
                children.push((column, Presence::Present));
                children.extend(constraints);
            }
        }
        for (o, p) in &mut children {
            if let Object::NotNull { column, .. } = o {
                if key_columns.contains(column) {
                    *p = Presence::Present;
                }
            }
        }
        // Trailing clauses (INHERITS, PARTITION BY, WITH, TABLESPACE...) create nothing we track.
        Ok(one(create(object, children, guard)))
    }

    /// A table constraint from its name on (`e` at `PRIMARY KEY`, `UNIQUE`, `FOREIGN
    /// KEY`, `CHECK`...): the constraint and, unless it is built from an existing
    /// index, its definition.
    fn constraint(&self, schema: &str, table: &str, name: String, e: &P) -> Res<Vec<(Object, Presence)>> {
        let rest = &e.t[e.i..];
        let mut out = vec![(
            Object::Constraint { schema: schema.into(), table: table.into(), name: name.clone() },
            Presence::Present,
        )];
        if !rest.windows(2).any(|w| w[0].is_word("using") && w[1].is_word("index")) {
            let def = definition::constraint_tokens(rest);
            out.push((
                Object::ConstraintDef { schema: schema.into(), table: table.into(), name, def },
                Presence::Present,
            ));
        }
        Ok(out)
    }

    /// A column definition: the column, and what it owns as the definition leaves it:
    /// its type, whether it is NOT NULL, its default, the constraints it names (or
    /// the primary key).
    fn column_def(&self, schema: &str, table: &str, el: &[Token]) -> Res<(Object, Vec<(Object, Presence)>)> {
        let mut e = P { t: el, i: 0 };
        let name = e.name()?;
        let column = Object::Column { schema: schema.into(), table: table.into(), name: name.clone() };
        let (schema_s, table_s) = (schema.to_string(), table.to_string());
        let serial = match e.word().as_deref() {
            Some("serial" | "serial4") => Some("int4"),
            Some("bigserial" | "serial8") => Some("int8"),
            Some("smallserial" | "serial2") => Some("int2"),
            _ => None,
        };
        let ty = match serial {
            Some(t) => {
                e.bump();
                TypeName { lookup: vec![("pg_catalog".into(), t.into())], modifiers: String::new(), array: false }
            }
            None => type_name(&mut e, &self.schema)?,
        };
        let mut children = vec![(
            Object::ColumnType { schema: schema_s.clone(), table: table_s.clone(), column: name.clone(), ty },
            Presence::Present,
        )];
        let mut not_null = serial.is_some();
        // A serial's default names its sequence; a generated column's expression is not a default.
        let mut default: Option<Option<String>> = if serial.is_some() { None } else { Some(None) };
        let mut named = false;
        let stops = ["constraint", "not", "null", "primary", "unique", "check", "references", "generated", "collate"];
        while let Some(t) = e.peek() {
            if t.is_punct('(') || t.is_punct('[') {
                e.group()?;
                continue;
            }
            if t.is_word("constraint") {
                e.bump();
                let name = e.name()?;
                children
                    .push((Object::Constraint { schema: schema.into(), table: table.into(), name }, Presence::Present));
                named = true;
                continue;
            }
            if t.is_word("primary") && !named {
                children.push((
                    Object::Constraint { schema: schema.into(), table: table.into(), name: pkey_name(table) },
                    Presence::Present,
                ));
            }
            if t.is_word("primary") || (t.is_word("not") && e.is_at(1, "null")) {
                not_null = true;
            }
            if t.is_word("generated") {
                default = None;
                not_null |= e.t[e.i..].iter().any(|t| t.is_word("identity"));
            }
            if t.is_word("default") {
                e.bump();
                let from = e.i;
                let mut depth = 0;
                while let Some(t) = e.peek() {
                    match &t.tok {
                        Tok::Punct('(' | '[') => depth += 1,
                        Tok::Punct(')' | ']') => depth -= 1,
                        _ if depth == 0 && stops.iter().any(|k| t.is_word(k)) => break,
                        _ => {}
                    }
                    e.bump();
                }
                if e.i == from {
                    return Err("DEFAULT without a value".into());
                }
                if default.is_some() {
                    default = Some(Some(definition::expression_tokens(&e.t[from..e.i])));
                }
                named = false;
                continue;
            }
            if ["primary", "unique", "check", "references", "not", "null", "generated"].iter().any(|k| t.is_word(k)) {
                named = false;
            }
            e.bump();
        }
        let nn = Object::NotNull { schema: schema_s.clone(), table: table_s.clone(), column: name.clone() };
        children.push((nn, if not_null { Presence::Present } else { Presence::Absent }));
        if let Some(value) = default {
            children
                .push((Object::Default { schema: schema_s, table: table_s, column: name, value }, Presence::Present));
        }
        Ok((column, children))
    }

    /// `CREATE TYPE name AS ENUM ('a', ...)`
    fn create_type(&mut self, p: &mut P) -> Res<Body> {
        let (schema, name) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        if !(p.eat("as") && p.eat("enum")) {
            return Err("CREATE TYPE other than AS ENUM is not checked".into());
        }
        let list = p.group()?;
        let mut values = Vec::new();
        for item in split_commas(list) {
            match item {
                [Token { tok: Tok::Str(s), .. }] => values.push(s.clone()),
                _ => return Err("an enum value that is not a plain string".into()),
            }
        }
        p.expect_end()?;
        self.enums.insert((schema.clone(), name.clone()), values.clone());
        let list = Object::EnumValues { schema: schema.clone(), enum_name: name.clone(), values };
        Ok(one(create(Object::Enum { schema, name }, vec![(list, Presence::Present)], false)))
    }

    fn alter(&mut self, p: &mut P) -> Res<Body> {
        if p.eat("table") {
            return self.alter_table(p);
        }
        if p.eat("type") {
            return self.alter_type(p);
        }
        if p.eat("sequence") {
            // Settings set again on a re-run: Prisma's `OWNED BY` after a new autoincrement,
            // INCREMENT, MINVALUE, CACHE... Not RESTART (it would restart the numbering
            // again), nor a rename or SET SCHEMA (they fail when run again).
            p.eat_seq(&["if", "exists"]);
            p.qname()?;
            let rest = &p.t[p.i..];
            if rest.is_empty() || rest.iter().any(|t| ["restart", "rename", "schema"].iter().any(|w| t.is_word(w))) {
                return Err("an ALTER SEQUENCE change the analyser does not check".into());
            }
            return Ok(Body::Replace("ALTER SEQUENCE: its settings are not checked".into(), Vec::new()));
        }
        let materialized = p.eat("materialized");
        if p.eat("view") {
            return self.alter_rename(p, "VIEW", |schema, name| Object::View { schema, name, materialized });
        }
        if materialized {
            return Err("not an ALTER the analyser knows".into());
        }
        if p.eat("index") {
            return self.alter_rename(p, "INDEX", |schema, name| Object::Index { schema, name });
        }
        Err("not an ALTER the analyser knows".into())
    }

    /// `ALTER <kind> [IF EXISTS] name RENAME TO new` of a view or an index (`object`
    /// makes one from a schema and a name); any other ALTER of them is not checked.
    fn alter_rename(&mut self, p: &mut P, kind: &str, object: impl Fn(String, String) -> Object) -> Res<Body> {
        let exists_guard = p.eat_seq(&["if", "exists"]);
        let (schema, name) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        if !(p.eat("rename") && p.eat("to")) {
            return Err(format!("ALTER {kind} other than RENAME TO is not checked"));
        }
        let to = p.name()?;
        p.expect_end()?;
        let from = object(schema.clone(), name);
        let skip = if exists_guard { vec![(from.clone(), Presence::Absent)] } else { Vec::new() };
        Ok(Body::Changes(vec![Change::new(Op::Rename { from, to: object(schema, to) }, skip)]))
    }

    /// `ALTER TABLE [IF EXISTS] [ONLY] name action [, ...]` and its RENAME forms.
    fn alter_table(&mut self, p: &mut P) -> Res<Body> {
        let if_exists = p.eat_seq(&["if", "exists"]);
        p.eat("only");
        let (schema, table) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        p.eat_punct('*');
        let table_obj = Object::Table { schema: schema.clone(), name: table.clone() };
        let table_guard: Vec<(Object, Presence)> =
            if if_exists { vec![(table_obj.clone(), Presence::Absent)] } else { Vec::new() };
        let with_guard = |op: Op, mut extra: Vec<(Object, Presence)>| {
            extra.extend(table_guard.iter().cloned());
            Change::new(op, extra).needing(table_obj.clone())
        };
        let col = |name: String| Object::Column { schema: schema.clone(), table: table.clone(), name };
        let con = |name: String| Object::Constraint { schema: schema.clone(), table: table.clone(), name };

        if p.eat("rename") {
            let op = if p.eat("constraint") {
                let from = p.name()?;
                p.expect("to")?;
                Op::Rename { from: con(from), to: con(p.name()?) }
            } else if p.eat("to") {
                Op::Rename { from: table_obj.clone(), to: Object::Table { schema: schema.clone(), name: p.name()? } }
            } else {
                p.eat("column");
                let from = p.name()?;
                p.expect("to")?;
                Op::Rename { from: col(from), to: col(p.name()?) }
            };
            p.expect_end()?;
            return Ok(Body::Changes(vec![with_guard(op, Vec::new())]));
        }

        let mut changes = Vec::new();
        let mut unchecked = Vec::new();
        for action in split_commas(&p.t[p.i..]) {
            let mut a = P { t: action, i: 0 };
            if a.eat("add") {
                if a.eat("constraint") {
                    let name = a.name()?;
                    let error = constraint_exists_error(&a)?;
                    let mut children = self.constraint(&schema, &table, name.clone(), &a)?;
                    children.remove(0);
                    changes.push(with_guard(Op::Create { object: con(name), children, error }, Vec::new()));
                } else if a.is("primary") {
                    let object = con(pkey_name(&table));
                    let mut children = self.constraint(&schema, &table, pkey_name(&table), &a)?;
                    children.remove(0);
                    changes.push(with_guard(Op::Create { object, children, error: "42P16" }, Vec::new()));
                } else if ["unique", "check", "foreign"].iter().any(|k| a.is(k))
                    || (a.is("exclude") && (a.is_punct_at(1, '(') || a.is_at(1, "using")))
                {
                    return Err("a constraint without a name cannot be looked up".into());
                } else {
                    a.eat("column");
                    let guard = a.eat_seq(&["if", "not", "exists"]);
                    let (column, constraints) = self.column_def(&schema, &table, &a.t[a.i..])?;
                    let skip = if guard { vec![(column.clone(), Presence::Present)] } else { Vec::new() };
                    let error = column.exists_error();
                    changes.push(with_guard(Op::Create { object: column, children: constraints, error }, skip));
                }
            } else if a.eat("drop") {
                let object = if a.eat("constraint") {
                    let guard = a.eat_seq(&["if", "exists"]);
                    (con(a.name()?), guard)
                } else {
                    a.eat("column");
                    let guard = a.eat_seq(&["if", "exists"]);
                    (col(a.name()?), guard)
                };
                if !a.eat("cascade") {
                    a.eat("restrict");
                }
                a.expect_end()?;
                let (object, guard) = object;
                let skip = if guard { vec![(object.clone(), Presence::Absent)] } else { Vec::new() };
                changes.push(with_guard(Op::Drop { object }, skip));
            } else if let Some(what) = same_again(&a) {
                unchecked.push(what);
            } else if a.eat("alter") {
                a.eat("column");
                let column = a.name()?;
                let (object, presence, once) = self.alter_column(&mut a, &schema, &table, &column)?;
                changes.push(with_guard(Op::Set { object, presence, once }, Vec::new()).needing(col(column)));
            } else {
                return Err("an ALTER TABLE action the analyser does not check".into());
            }
        }
        // Actions that only set what they set again on a re-run (row level security, storage
        // parameters, the owner...) and that the verdict does not need: beside other actions
        // they are passed over, like `COMMENT ON`; alone they make the statement one that
        // does the same again.
        if changes.is_empty() && !unchecked.is_empty() {
            return Ok(Body::Replace(format!("ALTER TABLE ... {}: not checked", unchecked.join(", ")), Vec::new()));
        }
        if changes.is_empty() {
            return Err("ALTER TABLE without an action".into());
        }
        Ok(Body::Changes(changes))
    }

    /// The part of `ALTER [COLUMN] c ...` after the column name: the property, the
    /// state it is set to, and whether setting it twice does harm.
    fn alter_column(&self, a: &mut P, schema: &str, table: &str, column: &str) -> Res<(Object, Presence, bool)> {
        let (schema, table, column) = (schema.to_string(), table.to_string(), column.to_string());
        if a.eat_seq(&["set", "not", "null"]) {
            a.expect_end()?;
            return Ok((Object::NotNull { schema, table, column }, Presence::Present, false));
        }
        if a.eat_seq(&["drop", "not", "null"]) {
            a.expect_end()?;
            return Ok((Object::NotNull { schema, table, column }, Presence::Absent, false));
        }
        if a.eat_seq(&["set", "default"]) {
            if a.at_end() {
                return Err("SET DEFAULT without a value".into());
            }
            let value = Some(definition::expression_tokens(&a.t[a.i..]));
            return Ok((Object::Default { schema, table, column, value }, Presence::Present, false));
        }
        if a.eat_seq(&["drop", "default"]) {
            a.expect_end()?;
            return Ok((Object::Default { schema, table, column, value: None }, Presence::Present, false));
        }
        if a.eat_seq(&["set", "data", "type"]) || a.eat("type") {
            let ty = type_name(a, &self.schema)?;
            if a.eat("collate") {
                a.qname()?;
            }
            if !a.at_end() && !a.is("using") {
                return Err("a column type the analyser cannot read".into());
            }
            // USING converts the stored values: a second run converts them again.
            let once = a.is("using");
            return Ok((Object::ColumnType { schema, table, column, ty }, Presence::Present, once));
        }
        Err("an ALTER COLUMN change the analyser does not check".into())
    }

    /// `ALTER TYPE name ADD VALUE | RENAME VALUE | RENAME TO`
    fn alter_type(&mut self, p: &mut P) -> Res<Body> {
        let (schema, name) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        let key = (schema.clone(), name.clone());
        let the_type = Object::Type { schema: schema.clone(), name: name.clone() };
        let value = |v: String| Object::EnumValue { schema: schema.clone(), enum_name: name.clone(), value: v };
        let list = |values: Vec<String>| Object::EnumValues { schema: schema.clone(), enum_name: name.clone(), values };
        if p.eat_seq(&["add", "value"]) {
            let guard = p.eat_seq(&["if", "not", "exists"]);
            let v = p.string()?;
            let mut position = None;
            if p.eat("before") {
                position = Some((true, p.string()?));
            } else if p.eat("after") {
                position = Some((false, p.string()?));
            }
            p.expect_end()?;
            let object = value(v.clone());
            let skip = if guard { vec![(object.clone(), Presence::Present)] } else { Vec::new() };
            let mut changes =
                vec![Change::new(Op::Create { object, children: Vec::new(), error: "42710" }, skip.clone())
                    .needing(the_type.clone())];
            if let Some(old) = self.enums.get(&key).cloned() {
                if !old.contains(&v) {
                    let mut new = old.clone();
                    let at = match &position {
                        Some((before, x)) => match new.iter().position(|l| l == x) {
                            Some(i) => i + usize::from(!before),
                            None => return Err("ADD VALUE next to a value the enum does not have".into()),
                        },
                        None => new.len(),
                    };
                    new.insert(at, v);
                    self.enums.insert(key, new.clone());
                    changes.push(Change::new(Op::Rekey { from: list(old), to: list(new) }, skip));
                }
            }
            return Ok(Body::Changes(changes));
        }
        if p.eat_seq(&["rename", "value"]) {
            let from = p.string()?;
            p.expect("to")?;
            let to = p.string()?;
            p.expect_end()?;
            let mut changes =
                vec![Change::new(Op::Rename { from: value(from.clone()), to: value(to.clone()) }, Vec::new())
                    .needing(the_type.clone())];
            if let Some(old) = self.enums.get(&key).cloned() {
                let new: Vec<String> = old.iter().map(|l| if *l == from { to.clone() } else { l.clone() }).collect();
                self.enums.insert(key, new.clone());
                changes.push(Change::new(Op::Rekey { from: list(old), to: list(new) }, Vec::new()));
            }
            return Ok(Body::Changes(changes));
        }
        if p.eat_seq(&["rename", "to"]) {
            let to = p.name()?;
            p.expect_end()?;
            if let Some(values) = self.enums.remove(&key) {
                self.enums.insert((schema.clone(), to.clone()), values);
            }
            let from = Object::Type { schema: schema.clone(), name: name.clone() };
            return Ok(Body::Changes(vec![Change::new(
                Op::Rename { from, to: Object::Type { schema, name: to } },
                Vec::new(),
            )]));
        }
        Err("an ALTER TYPE change the analyser does not check".into())
    }

    /// `DROP {TABLE|INDEX|TYPE|SEQUENCE|EXTENSION|SCHEMA} [IF EXISTS] name [, ...] [CASCADE|RESTRICT]`
    fn drop(&mut self, p: &mut P) -> Res<Body> {
        let kind = p.word().unwrap_or_default();
        if kind == "trigger" {
            // DROP TRIGGER [IF EXISTS] name ON table [CASCADE | RESTRICT]
            let (guard, schema, table, name) = self.drop_on_table(p)?;
            let object = Object::Trigger { schema, table, name };
            let skip = if guard { vec![(object.clone(), Presence::Absent)] } else { Vec::new() };
            self.dropped.insert(object.clone());
            return Ok(one(Change::new(Op::Drop { object }, skip)));
        }
        if kind == "policy" {
            // DROP POLICY [IF EXISTS] name ON table [CASCADE | RESTRICT]
            let (guard, schema, table, name) = self.drop_on_table(p)?;
            let object = Object::Policy { schema, table, name };
            let skip = if guard { vec![(object.clone(), Presence::Absent)] } else { Vec::new() };
            return Ok(one(Change::new(Op::Drop { object }, skip)));
        }
        if kind == "function" {
            return self.drop_function(p);
        }
        let materialized = kind == "materialized" && p.is_at(1, "view");
        if materialized {
            p.bump();
        }
        let kind = if materialized { "view".to_string() } else { kind };
        if !["table", "index", "type", "sequence", "extension", "schema", "view"].contains(&kind.as_str()) {
            return Err("not a DROP the analyser knows".into());
        }
        p.bump();
        if kind == "index" {
            p.eat("concurrently");
        }
        let guard = p.eat_seq(&["if", "exists"]);
        if kind == "table" {
            // DROP TABLE of temporary tables this file made: nothing that outlives it.
            let mut q = P { t: p.t, i: p.i };
            let mut all_temp = true;
            loop {
                match q.qname() {
                    Ok((None, name)) if self.temp.contains(&name) => {}
                    _ => all_temp = false,
                }
                if !q.eat_punct(',') {
                    break;
                }
            }
            if all_temp {
                return Ok(Body::Ignored);
            }
        }
        let mut changes = Vec::new();
        loop {
            let (schema, name) = p.qname()?;
            let schema = schema.unwrap_or_else(|| self.schema.clone());
            let object = match kind.as_str() {
                "table" => Object::Table { schema, name },
                "index" => Object::Index { schema, name },
                "type" => {
                    self.enums.remove(&(schema.clone(), name.clone()));
                    Object::Type { schema, name }
                }
                "sequence" => Object::Sequence { schema, name },
                "view" => {
                    let v = Object::View { schema, name, materialized };
                    self.dropped.insert(v.clone());
                    v
                }
                "extension" | "schema" if p_had_qualifier(&p.t[..p.i]) => {
                    return Err("a qualified extension or schema name".into())
                }
                "extension" => Object::Extension { name },
                _ => Object::Schema { name },
            };
            let skip = if guard { vec![(object.clone(), Presence::Absent)] } else { Vec::new() };
            changes.push(Change::new(Op::Drop { object }, skip));
            if !p.eat_punct(',') {
                break;
            }
        }
        self.drop_end(p, changes)
    }

    /// The end of a `DROP` of a list: `CASCADE` (noted: it may take other objects along)
    /// or `RESTRICT`, then nothing.
    fn drop_end(&mut self, p: &mut P, changes: Vec<Change>) -> Res<Body> {
        if p.eat("cascade") {
            self.cascaded = true;
        } else {
            p.eat("restrict");
        }
        p.expect_end()?;
        Ok(Body::Changes(changes))
    }

    /// The rest of `DROP {TRIGGER|POLICY} [IF EXISTS] name ON table [CASCADE|RESTRICT]`
    /// after its kind: (guarded, schema, table, name).
    fn drop_on_table(&mut self, p: &mut P) -> Res<(bool, String, String, String)> {
        p.bump();
        let guard = p.eat_seq(&["if", "exists"]);
        let name = p.name()?;
        p.expect("on")?;
        let (schema, table) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        if !p.eat("cascade") {
            p.eat("restrict");
        }
        p.expect_end()?;
        Ok((guard, schema, table, name))
    }

    /// `DROP FUNCTION [IF EXISTS] name [(args)] [, ...] [CASCADE|RESTRICT]`: without
    /// arguments, the only function of that name.
    fn drop_function(&mut self, p: &mut P) -> Res<Body> {
        p.bump();
        let guard = p.eat_seq(&["if", "exists"]);
        let mut changes = Vec::new();
        loop {
            let (schema, name) = p.qname()?;
            let schema = schema.unwrap_or_else(|| self.schema.clone());
            let args = if p.is_punct('(') { Some(function_args(p.group()?, &self.schema, false)?) } else { None };
            let object = Object::Function { schema, name, args, def: None };
            let skip = if guard { vec![(object.clone(), Presence::Absent)] } else { Vec::new() };
            changes.push(Change::new(Op::Drop { object }, skip));
            if !p.eat_punct(',') {
                break;
            }
        }
        self.drop_end(p, changes)
    }

    /// `DO [LANGUAGE plpgsql] $$ [<<label>>] BEGIN stmt; ... [EXCEPTION WHEN c [OR c] THEN null; ...] END [label] $$`
    fn do_block(&mut self, toks: &[Token], line: usize, text: String) -> Stmt {
        let unknown = |why: &str| Stmt { line, text: text.clone(), body: Body::Unknown(why.to_string()) };
        let mut p = P { t: toks, i: 1 };
        let mut code = None;
        while let Some(t) = p.peek() {
            match &t.tok {
                Tok::Word(w) if w.eq_ignore_ascii_case("language") => {
                    p.bump();
                    match p.name() {
                        Ok(l) if l == "plpgsql" => {}
                        _ => return unknown("a DO block in a language other than PL/pgSQL"),
                    }
                }
                Tok::Dollar { tag, .. } if code.is_none() => {
                    code = Some((t.start + tag.len() + 2, t.end - tag.len() - 2));
                    p.bump();
                }
                Tok::Str(_) => return unknown("a DO block quoted with '...' (only $$ bodies are read)"),
                _ => return unknown("not a DO block the analyser can read"),
            }
        }
        let Some((start, end)) = code else {
            return unknown("a DO block without a body");
        };
        let mut tokens = lexer::tokenize(&self.src[start..end]);
        for t in &mut tokens {
            t.start += start;
            t.end += start;
        }
        match self.plpgsql(&tokens) {
            Ok(body) => match body {
                Body::Block { statements, catches } => {
                    if let Some(bad) = statements.iter().find(|s| matches!(s.body, Body::Unknown(_))) {
                        return bad.clone();
                    }
                    Stmt { line, text, body: Body::Block { statements, catches } }
                }
                other => Stmt { line, text, body: other },
            },
            Err(why) => unknown(&why),
        }
    }

    /// `IF NOT EXISTS (SELECT ... 'name' ...) THEN CREATE/ADD name ...` (up to the
    /// semicolon): the hand-written guard of a re-runnable migration. The statement is
    /// skipped when what it creates exists, provided the condition names it; any
    /// other condition is logic the analyser does not follow.
    fn guarded_by_if(&mut self, seg: &[Token]) -> Res<Stmt> {
        let logic = || "PL/pgSQL logic in a DO block".to_string();
        let mut p = P { t: seg, i: 0 };
        if !p.eat_seq(&["if", "not", "exists"]) {
            return Err(logic());
        }
        let condition = p.group()?;
        if !p.eat("then") || p.at_end() {
            return Err(logic());
        }
        let mut stmt = self.statement(&seg[p.i..], true);
        let Body::Changes(changes) = &mut stmt.body else {
            return match stmt.body {
                Body::Unknown(why) => Err(why),
                _ => Err(logic()),
            };
        };
        let named = |n: &str| condition.iter().any(|t| matches!(&t.tok, Tok::Str(s) if s == n));
        for c in changes.iter_mut() {
            let Op::Create { object, .. } = &c.op else {
                return Err(logic());
            };
            let name = match object {
                Object::Table { name, .. }
                | Object::Column { name, .. }
                | Object::Constraint { name, .. }
                | Object::Index { name, .. }
                | Object::Enum { name, .. }
                | Object::Sequence { name, .. }
                | Object::Trigger { name, .. }
                | Object::Schema { name }
                | Object::Extension { name } => name.clone(),
                Object::EnumValue { value, .. } => value.clone(),
                _ => return Err(logic()),
            };
            if !named(&name) {
                return Err(logic());
            }
            c.skip_if.push((object.clone(), Presence::Present));
        }
        Ok(stmt)
    }

    fn plpgsql(&mut self, tokens: &[Token]) -> Res<Body> {
        if let Some(Token { tok: Tok::Bad(why), .. }) = tokens.iter().find(|t| matches!(t.tok, Tok::Bad(_))) {
            return Err(format!("cannot read the DO block: {why}"));
        }
        let mut p = P { t: tokens, i: 0 };
        if p.is_punct('<') {
            return Err("a labelled DO block".into());
        }
        if p.is("declare") {
            return Err("a DO block with variables".into());
        }
        p.expect("begin")?;
        let segments: Vec<&[Token]> = tokens[p.i..].split(|t| t.is_punct(';')).collect();
        let mut statements = Vec::new();
        let mut catches = Vec::new();
        let mut in_handler = false;
        let mut ended = false;
        // Inside `IF NOT EXISTS (...) THEN stmt;`, waiting for its `END IF`.
        let mut in_if = false;
        for seg in segments {
            if seg.is_empty() {
                continue;
            }
            if ended {
                return Err("text after the END of a DO block".into());
            }
            let mut s = P { t: seg, i: 0 };
            if in_if {
                if !(s.eat_seq(&["end", "if"]) && s.at_end()) {
                    return Err("PL/pgSQL logic in a DO block (an IF with more than one statement)".into());
                }
                in_if = false;
                continue;
            }
            if s.is("end") && (s.is_at(1, "if") || s.is_at(1, "loop") || s.is_at(1, "case")) {
                return Err("PL/pgSQL logic in a DO block".into());
            }
            if s.is("if") && !in_handler {
                statements.push(self.guarded_by_if(seg)?);
                in_if = true;
                continue;
            }
            if s.eat("end") {
                // An optional label may follow END.
                if s.peek().is_some() && s.name().is_err() || !s.at_end() {
                    return Err("not a DO block the analyser can read".into());
                }
                ended = true;
                continue;
            }
            if s.is("exception") || (in_handler && s.is("when")) {
                if s.eat("exception") {
                    if in_handler {
                        return Err("two EXCEPTION sections".into());
                    }
                    in_handler = true;
                }
                s.expect("when")?;
                loop {
                    if s.eat("sqlstate") {
                        catches.push(s.string()?);
                    } else {
                        let name = s.name()?;
                        catches.push(condition_code(&name));
                    }
                    if !s.eat("or") {
                        break;
                    }
                }
                s.expect("then")?;
                if s.at_end() {
                    continue;
                }
                let action = self.statement(&seg[s.i..], true);
                if !matches!(action.body, Body::Ignored) {
                    return Err("an exception handler that does more than NULL or RAISE NOTICE".into());
                }
                continue;
            }
            let stmt = self.statement(seg, true);
            if in_handler {
                if !matches!(stmt.body, Body::Ignored) {
                    return Err("an exception handler that does more than NULL or RAISE NOTICE".into());
                }
                continue;
            }
            statements.push(stmt);
        }
        if !ended {
            return Err("a DO block without END".into());
        }
        Ok(Body::Block { statements, catches })
    }
}

/// Words that start a clause of `CREATE FUNCTION` (to step over one not compared).
const FUNCTION_CLAUSES: [&str; 16] = [
    "returns",
    "language",
    "as",
    "immutable",
    "stable",
    "volatile",
    "strict",
    "called",
    "security",
    "external",
    "leakproof",
    "not",
    "parallel",
    "cost",
    "rows",
    "set",
];

/// The input argument types of a function's argument list (`(a text, OUT b int,
/// VARIADIC c int[])`), as `proargtypes` holds them: `OUT` arguments left out, names
/// and defaults dropped. `defaults`: whether `DEFAULT`/`=` may follow (not in `DROP`).
fn function_args(group: &[Token], schema: &str, defaults: bool) -> Res<Vec<TypeName>> {
    let mut out = Vec::new();
    for arg in split_commas(group) {
        let mut a = P { t: arg, i: 0 };
        let output = a.eat("out");
        if !output && !a.eat("inout") && !a.eat("in") {
            a.eat("variadic");
        }
        let end = if defaults {
            arg.iter().position(|t| t.is_word("default") || t.is_punct('=')).unwrap_or(arg.len())
        } else {
            arg.len()
        };
        let toks = &arg[a.i..end];
        // `type` alone, or `name type`: the first reading that takes every token.
        let whole = |from: usize| {
            let mut q = P { t: toks, i: from };
            type_name(&mut q, schema).ok().filter(|_| q.at_end())
        };
        let ty = match whole(0) {
            Some(t) => t,
            None if toks.len() > 1 && matches!(toks[0].tok, Tok::Word(_) | Tok::Quoted(_)) => {
                whole(1).ok_or("with an argument type the analyser cannot read")?
            }
            None => return Err("with an argument type the analyser cannot read".into()),
        };
        if !output {
            out.push(ty);
        }
    }
    Ok(out)
}

/// The column names of a `PRIMARY KEY (a, b)` clause (`e` at `PRIMARY`).
fn key_list(e: &P) -> Vec<String> {
    let mut p = P { t: e.t, i: e.i };
    if !(p.eat("primary") && p.eat("key")) {
        return Vec::new();
    }
    let Ok(group) = p.group() else {
        return Vec::new();
    };
    split_commas(group)
        .into_iter()
        .filter_map(|c| match c.first().map(|t| &t.tok) {
            Some(Tok::Word(w)) => Some(fold(w)),
            Some(Tok::Quoted(q)) => Some(truncate(q.clone())),
            _ => None,
        })
        .collect()
}

fn p_had_qualifier(consumed: &[Token]) -> bool {
    consumed.len() >= 2 && consumed[consumed.len() - 2].is_punct('.')
}

fn one(c: Change) -> Body {
    Body::Changes(vec![c])
}

fn create(object: Object, children: Vec<(Object, Presence)>, if_not_exists: bool) -> Change {
    let skip_if = if if_not_exists { vec![(object.clone(), Presence::Present)] } else { Vec::new() };
    let error = object.exists_error();
    Change::new(Op::Create { object, children, error }, skip_if)
}

/// The error the server raises when an `ADD CONSTRAINT` names one that exists: a
/// primary key or unique constraint collides on its index (42P16, 42P07), others on
/// the constraint name (42710, `duplicate_object`).
fn constraint_exists_error(a: &P) -> Res<&'static str> {
    if a.is("primary") {
        Ok("42P16")
    } else if a.is("unique") || a.is("exclude") {
        Ok("42P07")
    } else if a.is("foreign") || a.is("check") {
        Ok("42710")
    } else {
        Err("a constraint the analyser does not know".into())
    }
}

/// PL/pgSQL condition names for the errors these statements raise.
fn condition_code(name: &str) -> String {
    match name {
        "others" => "others",
        "duplicate_object" => "42710",
        "duplicate_table" => "42P07",
        "duplicate_column" => "42701",
        "duplicate_schema" => "42P06",
        "undefined_table" => "42P01",
        "undefined_object" => "42704",
        "undefined_column" => "42703",
        "invalid_schema_name" => "3F000",
        "invalid_table_definition" => "42P16",
        "invalid_parameter_value" => "22023",
        "syntax_error_or_access_rule_violation" => "42000",
        // A condition these statements do not raise: it catches nothing we model.
        other => other,
    }
    .to_string()
}

/// The name PostgreSQL gives an unnamed primary key: `<table>_pkey`, the table
/// name cut so that the whole fits in 63 bytes.
pub(crate) fn pkey_name(table: &str) -> String {
    let avail = MAX_IDENT - "_pkey".len();
    format!("{}_pkey", cut(table, avail))
}

/// A column type: `text`, `VARCHAR(255)`, `"Role"[]`, `timestamp(3) with time zone`...
fn type_name(p: &mut P, schema: &str) -> Res<TypeName> {
    let bad = || "a column type the analyser cannot read".to_string();
    let catalog = |n: &str| vec![("pg_catalog".to_string(), n.to_string())];
    let first = p.peek().ok_or_else(bad)?.clone();
    let mut default_mods = "";
    let mut lookup = match &first.tok {
        Tok::Word(w) if !p.is_punct_at(1, '.') => {
            p.bump();
            let w = w.to_ascii_lowercase();
            let builtin = match w.as_str() {
                "double" => {
                    p.expect("precision")?;
                    "float8"
                }
                "character" | "char" if p.eat("varying") => "varchar",
                "character" | "char" | "bpchar" => {
                    default_mods = "1";
                    "bpchar"
                }
                "varchar" => "varchar",
                "bit" if p.eat("varying") => "varbit",
                "bit" => {
                    default_mods = "1";
                    "bit"
                }
                "int" | "integer" | "int4" => "int4",
                "smallint" | "int2" => "int2",
                "bigint" | "int8" => "int8",
                "real" | "float4" => "float4",
                "float8" => "float8",
                "float" => {
                    let mut name = "float8";
                    if p.is_punct('(') {
                        let mods = modifiers(p)?;
                        if mods.parse::<u32>().is_ok_and(|n| n <= 24) {
                            name = "float4";
                        }
                    }
                    name
                }
                "decimal" | "dec" | "numeric" => "numeric",
                "boolean" | "bool" => "bool",
                "timestamp" | "time" => "",
                "interval" => {
                    if matches!(p.peek().map(|t| &t.tok), Some(Tok::Word(_)))
                        && !p.is("array")
                        && !p.is("collate")
                        && !p.is("using")
                    {
                        return Err("an interval with fields".into());
                    }
                    "interval"
                }
                "national" | "setof" => return Err(bad()),
                _ => {
                    let n = truncate(w.clone());
                    return finish(p, vec![("pg_catalog".into(), n.clone()), (schema.into(), n)], "");
                }
            };
            if builtin.is_empty() {
                // timestamp / time [ (p) ] [ WITH | WITHOUT TIME ZONE ]
                let mods = if p.is_punct('(') { modifiers(p)? } else { String::new() };
                let zoned = p.eat("with");
                if zoned || p.eat("without") {
                    p.expect("time")?;
                    p.expect("zone")?;
                }
                let name = match (w.as_str(), zoned) {
                    ("timestamp", false) => "timestamp",
                    ("timestamp", true) => "timestamptz",
                    ("time", false) => "time",
                    _ => "timetz",
                };
                let mut t = finish(p, catalog(name), "")?;
                if t.modifiers.is_empty() {
                    t.modifiers = mods;
                }
                return Ok(t);
            }
            catalog(builtin)
        }
        Tok::Word(_) | Tok::Quoted(_) => {
            let (s, n) = p.qname()?;
            match s {
                Some(s) => vec![(s, n)],
                None => vec![("pg_catalog".into(), n.clone()), (schema.into(), n)],
            }
        }
        _ => return Err(bad()),
    };
    lookup.dedup();
    finish(p, lookup, default_mods)
}

/// Modifiers and array bounds after a type name.
fn finish(p: &mut P, lookup: Vec<(String, String)>, default_mods: &str) -> Res<TypeName> {
    let mut mods = if p.is_punct('(') { modifiers(p)? } else { String::new() };
    if mods.is_empty() {
        mods = default_mods.to_string();
    }
    let mut array = false;
    loop {
        if p.eat_punct('[') {
            if matches!(p.peek().map(|t| &t.tok), Some(Tok::Number(_))) {
                p.bump();
            }
            if !p.eat_punct(']') {
                return Err("a column type the analyser cannot read".into());
            }
            array = true;
        } else if p.eat("array") {
            array = true;
        } else {
            break;
        }
    }
    Ok(TypeName { lookup, modifiers: mods, array })
}

/// `(n [, m])` → `"n,m"`
fn modifiers(p: &mut P) -> Res<String> {
    let group = p.group()?;
    let mut parts = Vec::new();
    for item in split_commas(group) {
        match item {
            [Token { tok: Tok::Number(n), .. }] if n.chars().all(|c| c.is_ascii_digit()) => {
                parts.push(n.trim_start_matches('0').to_string())
            }
            _ => return Err("type modifiers that are not plain numbers".into()),
        }
    }
    Ok(parts.iter().map(|n| if n.is_empty() { "0" } else { n }).collect::<Vec<_>>().join(","))
}

/// Splits a token list at commas outside parentheses and brackets.
fn split_commas(toks: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match &t.tok {
            Tok::Punct('(' | '[') => depth += 1,
            Tok::Punct(')' | ']') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                out.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < toks.len() {
        out.push(&toks[start..]);
    }
    out
}

/// A statement's text on one line: runs of whitespace become one space, cut at 100 characters.
pub(crate) fn shorten(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    const MAX: usize = 100;
    if one_line.chars().count() <= MAX {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

/// Unquoted identifiers fold to lower case (ASCII only, as the server does for UTF-8).
fn fold(w: &str) -> String {
    truncate(w.to_ascii_lowercase())
}

fn truncate(s: String) -> String {
    if s.len() <= MAX_IDENT {
        s
    } else {
        cut(&s, MAX_IDENT).to_string()
    }
}

/// At most `max` bytes of `s`, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A cursor over one statement's tokens.
struct P<'t> {
    t: &'t [Token],
    i: usize,
}

impl<'t> P<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.t.get(self.i)
    }

    fn bump(&mut self) {
        self.i += 1;
    }

    fn at_end(&self) -> bool {
        self.i >= self.t.len()
    }

    /// The next token as a lower-case unquoted word.
    fn word(&self) -> Option<String> {
        match &self.peek()?.tok {
            Tok::Word(w) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn is(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is_word(kw))
    }

    fn is_at(&self, n: usize, kw: &str) -> bool {
        self.t.get(self.i + n).is_some_and(|t| t.is_word(kw))
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek().is_some_and(|t| t.is_punct(c))
    }

    fn is_punct_at(&self, n: usize, c: char) -> bool {
        self.t.get(self.i + n).is_some_and(|t| t.is_punct(c))
    }

    fn eat(&mut self, kw: &str) -> bool {
        let yes = self.is(kw);
        if yes {
            self.bump();
        }
        yes
    }

    /// Eats all of `kws` in order, or nothing.
    fn eat_seq(&mut self, kws: &[&str]) -> bool {
        let yes = kws.iter().enumerate().all(|(n, k)| self.is_at(n, k));
        if yes {
            self.i += kws.len();
        }
        yes
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let yes = self.is_punct(c);
        if yes {
            self.bump();
        }
        yes
    }

    fn expect(&mut self, kw: &str) -> Res<()> {
        if self.eat(kw) {
            Ok(())
        } else {
            Err(format!("expected {} here", kw.to_uppercase()))
        }
    }

    fn expect_end(&self) -> Res<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err("more than the analyser can read in this statement".into())
        }
    }

    /// An identifier: an unquoted word (folded) or a quoted name (exact).
    fn name(&mut self) -> Res<String> {
        let t = self.peek().ok_or("a name is missing")?;
        let n = match &t.tok {
            Tok::Word(w) => fold(w),
            Tok::Quoted(q) => truncate(q.clone()),
            _ => return Err("expected a name here".into()),
        };
        self.bump();
        Ok(n)
    }

    /// `name` or `schema.name`.
    fn qname(&mut self) -> Res<(Option<String>, String)> {
        let first = self.name()?;
        if self.eat_punct('.') {
            let second = self.name()?;
            if self.is_punct('.') {
                return Err("a name with a database part".into());
            }
            Ok((Some(first), second))
        } else {
            Ok((None, first))
        }
    }

    fn string(&mut self) -> Res<String> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err("expected a string here".into()),
        }
    }

    /// A parenthesised group: returns the tokens inside it.
    fn group(&mut self) -> Res<&'t [Token]> {
        let open = self.peek().map(|t| t.tok.clone());
        let close = match open {
            Some(Tok::Punct('(')) => ')',
            Some(Tok::Punct('[')) => ']',
            _ => return Err("expected ( here".into()),
        };
        let start = self.i + 1;
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match &t.tok {
                Tok::Punct('(' | '[') => depth += 1,
                Tok::Punct(')' | ']') => {
                    depth -= 1;
                    if depth == 0 {
                        if !t.is_punct(close) {
                            return Err("unbalanced brackets".into());
                        }
                        let inner = &self.t[start..self.i];
                        self.bump();
                        return Ok(inner);
                    }
                }
                _ => {}
            }
            self.bump();
        }
        Err("unbalanced brackets".into())
    }
}
