//! Constraints and indexes: `CREATE INDEX`, table constraints, their key lists, the
//! error a duplicate raises, and the name PostgreSQL gives an unnamed primary key.

use super::parser::{cut, fold, split_commas, truncate, MAX_IDENT, P};
use super::{create, one, Body, Cx, Res};
use crate::evidence::definition;
use crate::evidence::lexer::Tok;
use crate::evidence::objects::Object;
use crate::evidence::objects::Presence;

impl Cx<'_> {
    /// `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON [ONLY] table ...`
    pub(super) fn create_index(&mut self, p: &mut P) -> Res<Body> {
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
}

impl Cx<'_> {
    /// A table constraint from its name on (`e` at `PRIMARY KEY`, `UNIQUE`, `FOREIGN
    /// KEY`, `CHECK`...): the constraint and, unless it is built from an existing
    /// index, its definition.
    pub(super) fn constraint(&self, schema: &str, table: &str, name: String, e: &P) -> Res<Vec<(Object, Presence)>> {
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
}

/// The column names of a `PRIMARY KEY (a, b)` clause (`e` at `PRIMARY`).
pub(super) fn key_list(e: &P) -> Vec<String> {
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

/// The error the server raises when an `ADD CONSTRAINT` names one that exists: a
/// primary key or unique constraint collides on its index (42P16, 42P07), others on
/// the constraint name (42710, `duplicate_object`).
pub(super) fn constraint_exists_error(a: &P) -> Res<&'static str> {
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

/// The name PostgreSQL gives an unnamed primary key: `<table>_pkey`, the table
/// name cut so that the whole fits in 63 bytes.
pub(crate) fn pkey_name(table: &str) -> String {
    let avail = MAX_IDENT - "_pkey".len();
    format!("{}_pkey", cut(table, avail))
}
