//! Types and enums: `CREATE TYPE`, `ALTER TYPE` (enum values, renames), and reading a
//! type name as the file spells it (`varchar(30)[]`, `timestamp(3) with time zone`).

use super::parser::{split_commas, truncate, P};
use super::{create, one, Body, Change, Cx, Op, Res};
use crate::evidence::lexer::Tok;
use crate::evidence::lexer::Token;
use crate::evidence::objects::Object;
use crate::evidence::objects::Presence;
use crate::evidence::objects::TypeName;

impl Cx<'_> {
    /// `CREATE TYPE name AS ENUM ('a', ...)`
    pub(super) fn create_type(&mut self, p: &mut P) -> Res<Body> {
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
}

impl Cx<'_> {
    /// `ALTER TYPE name ADD VALUE | RENAME VALUE | RENAME TO`
    pub(super) fn alter_type(&mut self, p: &mut P) -> Res<Body> {
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
}

/// A column type: `text`, `VARCHAR(255)`, `"Role"[]`, `timestamp(3) with time zone`...
pub(super) fn type_name(p: &mut P, schema: &str) -> Res<TypeName> {
    let bad = || "a column type the analyser cannot read".to_string();
    let first = p.peek().ok_or_else(bad)?.clone();
    match &first.tok {
        Tok::Word(w) if !p.is_punct_at(1, '.') => {
            p.bump();
            let w = w.to_ascii_lowercase();
            if w == "timestamp" || w == "time" {
                return time_type(p, &w);
            }
            match builtin_type(p, &w)? {
                Some((name, default_mods)) => finish(p, catalog(name), default_mods),
                None => {
                    let n = truncate(w);
                    finish(p, vec![("pg_catalog".into(), n.clone()), (schema.into(), n)], "")
                }
            }
        }
        Tok::Word(_) | Tok::Quoted(_) => {
            let (s, n) = p.qname()?;
            let mut lookup = match s {
                Some(s) => vec![(s, n)],
                None => vec![("pg_catalog".into(), n.clone()), (schema.into(), n)],
            };
            lookup.dedup();
            finish(p, lookup, "")
        }
        _ => Err(bad()),
    }
}

/// `pg_catalog.name` as a type's one candidate.
fn catalog(name: &str) -> Vec<(String, String)> {
    vec![("pg_catalog".to_string(), name.to_string())]
}

/// The catalog name of a built-in type spelled `w` (after `w`, with what follows it:
/// `double precision`, `character varying`, `float(24)`), and its default modifiers;
/// `None` for a name that is not one of them.
fn builtin_type(p: &mut P, w: &str) -> Res<Option<(&'static str, &'static str)>> {
    let name = match w {
        "double" => {
            p.expect("precision")?;
            "float8"
        }
        "character" | "char" if p.eat("varying") => "varchar",
        "character" | "char" | "bpchar" => return Ok(Some(("bpchar", "1"))),
        "varchar" => "varchar",
        "bit" if p.eat("varying") => "varbit",
        "bit" => return Ok(Some(("bit", "1"))),
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
        "national" | "setof" => return Err("a column type the analyser cannot read".into()),
        _ => return Ok(None),
    };
    Ok(Some((name, "")))
}

/// `timestamp` / `time` (`w`) `[ (p) ] [ WITH | WITHOUT TIME ZONE ]`, after the word.
fn time_type(p: &mut P, w: &str) -> Res<TypeName> {
    let mods = if p.is_punct('(') { modifiers(p)? } else { String::new() };
    let zoned = p.eat("with");
    if zoned || p.eat("without") {
        p.expect("time")?;
        p.expect("zone")?;
    }
    let name = match (w, zoned) {
        ("timestamp", false) => "timestamp",
        ("timestamp", true) => "timestamptz",
        ("time", false) => "time",
        _ => "timetz",
    };
    let mut t = finish(p, catalog(name), "")?;
    if t.modifiers.is_empty() {
        t.modifiers = mods;
    }
    Ok(t)
}

/// Modifiers and array bounds after a type name.
pub(super) fn finish(p: &mut P, lookup: Vec<(String, String)>, default_mods: &str) -> Res<TypeName> {
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
pub(super) fn modifiers(p: &mut P) -> Res<String> {
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
