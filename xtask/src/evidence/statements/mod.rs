//! What each statement of a migration does to the catalogs: the statements Prisma
//! generates and the usual hand-written, re-runnable forms of them, read from tokens.
//!
//! Every statement becomes one of: ignored (no lasting effect on the schema, such as
//! `BEGIN`, `SET lock_timeout`, `COMMENT ON`), a list of [`Change`]s, a `DO` block of
//! such statements with its exception handler, a statement that is safe to run again
//! but checked only in part (a replaced view's presence, not its query), or unknown
//! with the reason. Anything
//! outside the forms below is unknown: the analyser never guesses.
//!
//! One file per family of statements: `tables` (tables and columns), `constraints`
//! (constraints and indexes), `types` (types and enums), `routines` (functions, views,
//! triggers), `drops`, `data` (what changes rows), `blocks` (transactions and `DO`
//! blocks); this file reads a statement and hands it to its family, and `parser` is
//! the token cursor they share.

mod blocks;
mod constraints;
mod data;
mod drops;
mod parser;
mod routines;
mod tables;
mod types;

use std::collections::{HashMap, HashSet};

use super::lexer::{self, Tok, Token};
use super::objects::{Object, Presence};

#[cfg(test)]
pub(crate) use blocks::transactional;
pub(crate) use blocks::{one_unit, units};
#[cfg(test)]
pub(crate) use constraints::pkey_name;
pub(crate) use data::{into_temp, modifies_rows, DATA_CHANGES};
pub(crate) use parser::shorten;
use parser::{fold, truncate, P};

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
        added: Vec::new(),
    };
    let tokens = lexer::tokenize(src);
    lexer::split_statements(&tokens).into_iter().map(|toks| cx.statement(toks, false)).collect()
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
    /// Columns `(schema, table, column)` the file added so far (outside `DO` blocks) and
    /// has not renamed or dropped since: a view created later with `*` over their table
    /// lists them (see `routines::star_tables`).
    added: Vec<(String, String, String)>,
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
            let block = self.do_block(toks, line, text);
            self.track_columns(&block.body);
            return block;
        }
        let body = match self.body(&mut p, in_block) {
            Ok(b) => b,
            Err(why) => Body::Unknown(why),
        };
        if !in_block {
            self.track_columns(&body);
        }
        Stmt { line, text, body }
    }

    /// Follows the columns the file adds ([`Cx::added`]): an `ADD COLUMN` adds one; a
    /// drop or rename of it or of its table takes it off. A statement the analyser
    /// cannot read that may change the schema (not a data change) may have done either,
    /// so it forgets them all: a column left off only makes a view's query less sure.
    fn track_columns(&mut self, body: &Body) {
        let changes = match body {
            Body::Changes(c) | Body::Replace(_, c) => c,
            Body::Unknown(why) if why == DATA_CHANGES => return,
            Body::Ignored => return,
            Body::Unknown(_) | Body::Block { .. } => {
                self.added.clear();
                return;
            }
        };
        for c in changes {
            match &c.op {
                Op::Create { object: Object::Column { schema, table, name }, .. } => {
                    self.added.push((schema.clone(), table.clone(), name.clone()))
                }
                Op::Drop { object } | Op::Rename { from: object, .. } => {
                    if let Some(id) = object.identity() {
                        self.added.retain(|(schema, table, name)| {
                            let column =
                                Object::Column { schema: schema.clone(), table: table.clone(), name: name.clone() };
                            !column.within(&id)
                        });
                    }
                }
                _ => {}
            }
        }
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
            "create" if p.is_at(1, "or") && p.is_at(2, "replace") && !in_block => {
                p.i += 3;
                self.create_or_replace(p)
            }
            "create" if p.is_at(1, "or") && p.is_at(2, "replace") => {
                Err("CREATE OR REPLACE that the analyser does not check".into())
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

    /// `CREATE OR REPLACE ...` after those words: a view, function or trigger is read
    /// by its family; a procedure, constraint trigger or rule is not checked.
    fn create_or_replace(&mut self, p: &mut P) -> Res<Body> {
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

    fn if_not_exists_qname(&self, p: &mut P) -> Res<(bool, (String, String))> {
        let guard = p.eat_seq(&["if", "not", "exists"]);
        let (schema, name) = p.qname()?;
        Ok((guard, (schema.unwrap_or_else(|| self.schema.clone()), name)))
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
}

fn one(c: Change) -> Body {
    Body::Changes(vec![c])
}

fn create(object: Object, children: Vec<(Object, Presence)>, if_not_exists: bool) -> Change {
    let skip_if = if if_not_exists { vec![(object.clone(), Presence::Present)] } else { Vec::new() };
    let error = object.exists_error();
    Change::new(Op::Create { object, children, error }, skip_if)
}
