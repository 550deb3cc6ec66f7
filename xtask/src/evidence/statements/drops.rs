//! `DROP` of every kind of object the analyser follows, and what `CASCADE` implies.

use super::parser::P;
use super::{one, Body, Change, Cx, Op, Res};
use crate::evidence::lexer::Token;
use crate::evidence::objects::Object;
use crate::evidence::objects::Presence;

impl Cx<'_> {
    /// `DROP {TABLE|INDEX|TYPE|SEQUENCE|EXTENSION|SCHEMA} [IF EXISTS] name [, ...] [CASCADE|RESTRICT]`
    pub(super) fn drop(&mut self, p: &mut P) -> Res<Body> {
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
        if kind == "table" && self.only_temp_tables(p) {
            // DROP TABLE of temporary tables this file made: nothing that outlives it.
            return Ok(Body::Ignored);
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

    /// Whether the list of names at `p` (not consumed) are all temporary tables this
    /// file made.
    fn only_temp_tables(&self, p: &P) -> bool {
        let mut q = P { t: p.t, i: p.i };
        let mut all_temp = true;
        loop {
            match q.qname() {
                Ok((None, name)) if self.temp.contains(&name) => {}
                _ => all_temp = false,
            }
            if !q.eat_punct(',') {
                return all_temp;
            }
        }
    }

    /// The end of a `DROP` of a list: `CASCADE` (noted: it may take other objects along)
    /// or `RESTRICT`, then nothing.
    pub(super) fn drop_end(&mut self, p: &mut P, changes: Vec<Change>) -> Res<Body> {
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
    pub(super) fn drop_on_table(&mut self, p: &mut P) -> Res<(bool, String, String, String)> {
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
}

pub(super) fn p_had_qualifier(consumed: &[Token]) -> bool {
    consumed.len() >= 2 && consumed[consumed.len() - 2].is_punct('.')
}
