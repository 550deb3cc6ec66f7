//! Tables and columns: `CREATE TABLE`, its column definitions, `ALTER TABLE` and its
//! column actions, and the `ALTER TABLE` actions that set again what they set.

use super::constraints::{constraint_exists_error, key_list, pkey_name};
use super::parser::{shorten, split_commas, P};
use super::types::type_name;
use super::{create, one, Body, Change, Cx, Op, Res};
use crate::evidence::definition;
use crate::evidence::lexer::Tok;
use crate::evidence::lexer::Token;
use crate::evidence::objects::Object;
use crate::evidence::objects::Presence;
use crate::evidence::objects::TypeName;

/// The words naming an `ALTER TABLE` action that sets again what it set when it runs
/// again and that no verdict needs to see: `ENABLE|DISABLE|FORCE|NO FORCE ROW LEVEL
/// SECURITY`, `REPLICA IDENTITY`, `SET (...)`/`RESET (...)` of storage parameters,
/// `OWNER TO`, `VALIDATE CONSTRAINT`, `ENABLE|DISABLE [ALWAYS|REPLICA] TRIGGER`,
/// `CLUSTER ON`, `SET WITHOUT CLUSTER`, `SET LOGGED|UNLOGGED`, and `ALTER COLUMN ... SET
/// STATISTICS|STORAGE|COMPRESSION`. (Not `SET SCHEMA` or `RENAME`, which fail when run
/// again, nor `ALTER SEQUENCE ... RESTART`, which would restart the numbering again.)
pub(super) fn same_again(a: &P) -> Option<String> {
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

impl Cx<'_> {
    /// `CREATE TABLE [IF NOT EXISTS] name ( columns and constraints ) ...`
    pub(super) fn create_table(&mut self, p: &mut P) -> Res<Body> {
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
}

impl Cx<'_> {
    /// A column definition: the column, and what it owns as the definition leaves it:
    /// its type, whether it is NOT NULL, its default, the constraints it names (or
    /// the primary key).
    pub(super) fn column_def(&self, schema: &str, table: &str, el: &[Token]) -> Res<(Object, Vec<(Object, Presence)>)> {
        let mut e = P { t: el, i: 0 };
        let name = e.name()?;
        let column = Object::Column { schema: schema.into(), table: table.into(), name: name.clone() };
        let (schema_s, table_s) = (schema.to_string(), table.to_string());
        let (ty, serial) = column_type(&mut e, &self.schema)?;
        let mut children = vec![(
            Object::ColumnType { schema: schema_s.clone(), table: table_s.clone(), column: name.clone(), ty },
            Presence::Present,
        )];
        let mut not_null = serial;
        // A serial's default names its sequence; a generated column's expression is not a default.
        let mut default: Option<Option<String>> = if serial { None } else { Some(None) };
        let mut named = false;
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
                let value = default_value(&mut e)?;
                if default.is_some() {
                    default = Some(Some(value));
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
}

impl Cx<'_> {
    /// `ALTER TABLE [IF EXISTS] [ONLY] name action [, ...]` and its RENAME forms.
    pub(super) fn alter_table(&mut self, p: &mut P) -> Res<Body> {
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

        if p.eat("rename") {
            let op = alter_table_rename(p, &schema, &table)?;
            return Ok(Body::Changes(vec![with_guard(op, Vec::new())]));
        }

        let mut changes = Vec::new();
        let mut unchecked = Vec::new();
        for action in split_commas(&p.t[p.i..]) {
            let mut a = P { t: action, i: 0 };
            if a.eat("add") {
                let (op, skip) = self.alter_table_add(&mut a, &schema, &table)?;
                changes.push(with_guard(op, skip));
            } else if a.eat("drop") {
                let (op, skip) = alter_table_drop(&mut a, &schema, &table)?;
                changes.push(with_guard(op, skip));
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

    /// One `ADD ...` action of `ALTER TABLE schema.table` (after `ADD`): the change,
    /// and what makes the statement skip it.
    fn alter_table_add(&self, a: &mut P, schema: &str, table: &str) -> Res<(Op, Vec<(Object, Presence)>)> {
        let con = |name: String| Object::Constraint { schema: schema.into(), table: table.into(), name };
        if a.eat("constraint") {
            let name = a.name()?;
            let error = constraint_exists_error(a)?;
            let mut children = self.constraint(schema, table, name.clone(), a)?;
            children.remove(0);
            Ok((Op::Create { object: con(name), children, error }, Vec::new()))
        } else if a.is("primary") {
            let object = con(pkey_name(table));
            let mut children = self.constraint(schema, table, pkey_name(table), a)?;
            children.remove(0);
            Ok((Op::Create { object, children, error: "42P16" }, Vec::new()))
        } else if ["unique", "check", "foreign"].iter().any(|k| a.is(k))
            && !a.t[a.i..].windows(2).any(|w| w[0].is_word("using") && w[1].is_word("index"))
        {
            // Old Prisma's `ADD FOREIGN KEY (...) REFERENCES ...`: the server names it, so it
            // is looked up by its definition among the table's constraints. Another one of
            // the same definition does not stop it: the statement adds a second one.
            let rest = &a.t[a.i..];
            // `REFERENCES t` without columns means its primary key, which the server
            // prints by name: not compared.
            if let Some(r) = rest.iter().position(|t| t.is_word("references")) {
                let mut k = r + 2;
                while rest.get(k).is_some_and(|t| t.is_punct('.')) {
                    k += 2;
                }
                if !rest.get(k).is_some_and(|t| t.is_punct('(')) {
                    return Err("a foreign key without a name or referenced columns cannot be looked up".into());
                }
            }
            let text = match (rest.first(), rest.last()) {
                (Some(f), Some(l)) => shorten(&self.src[f.start..l.end]),
                _ => String::new(),
            };
            let object = Object::Unnamed {
                schema: schema.into(),
                table: table.into(),
                def: definition::constraint_tokens(rest),
                text,
            };
            Ok((Op::Create { object, children: Vec::new(), error: "duplicate" }, Vec::new()))
        } else if ["unique", "check", "foreign"].iter().any(|k| a.is(k))
            || (a.is("exclude") && (a.is_punct_at(1, '(') || a.is_at(1, "using")))
        {
            Err("a constraint without a name cannot be looked up".into())
        } else {
            a.eat("column");
            let guard = a.eat_seq(&["if", "not", "exists"]);
            let (column, constraints) = self.column_def(schema, table, &a.t[a.i..])?;
            let skip = if guard { vec![(column.clone(), Presence::Present)] } else { Vec::new() };
            let error = column.exists_error();
            Ok((Op::Create { object: column, children: constraints, error }, skip))
        }
    }

    /// The part of `ALTER [COLUMN] c ...` after the column name: the property, the
    /// state it is set to, and whether setting it twice does harm.
    pub(super) fn alter_column(
        &self,
        a: &mut P,
        schema: &str,
        table: &str,
        column: &str,
    ) -> Res<(Object, Presence, bool)> {
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
}

/// `ALTER TABLE schema.table RENAME ...` after `RENAME`: a constraint, the table or a column.
fn alter_table_rename(p: &mut P, schema: &str, table: &str) -> Res<Op> {
    let col = |name: String| Object::Column { schema: schema.into(), table: table.into(), name };
    let con = |name: String| Object::Constraint { schema: schema.into(), table: table.into(), name };
    let op = if p.eat("constraint") {
        let from = p.name()?;
        p.expect("to")?;
        Op::Rename { from: con(from), to: con(p.name()?) }
    } else if p.eat("to") {
        let from = Object::Table { schema: schema.into(), name: table.into() };
        Op::Rename { from, to: Object::Table { schema: schema.into(), name: p.name()? } }
    } else {
        p.eat("column");
        let from = p.name()?;
        p.expect("to")?;
        Op::Rename { from: col(from), to: col(p.name()?) }
    };
    p.expect_end()?;
    Ok(op)
}

/// One `DROP ...` action of `ALTER TABLE schema.table` (after `DROP`): a constraint or
/// a column, and what makes the statement skip it (`IF EXISTS`).
fn alter_table_drop(a: &mut P, schema: &str, table: &str) -> Res<(Op, Vec<(Object, Presence)>)> {
    let constraint = a.eat("constraint");
    if !constraint {
        a.eat("column");
    }
    let guard = a.eat_seq(&["if", "exists"]);
    let name = a.name()?;
    let object = if constraint {
        Object::Constraint { schema: schema.into(), table: table.into(), name }
    } else {
        Object::Column { schema: schema.into(), table: table.into(), name }
    };
    if !a.eat("cascade") {
        a.eat("restrict");
    }
    a.expect_end()?;
    let skip = if guard { vec![(object.clone(), Presence::Absent)] } else { Vec::new() };
    Ok((Op::Drop { object }, skip))
}

/// A column definition's type, and whether it is a serial (`serial`, `bigserial`, ...:
/// an integer type with a sequence behind its default).
fn column_type(e: &mut P, schema: &str) -> Res<(TypeName, bool)> {
    let serial = match e.word().as_deref() {
        Some("serial" | "serial4") => "int4",
        Some("bigserial" | "serial8") => "int8",
        Some("smallserial" | "serial2") => "int2",
        _ => return Ok((type_name(e, schema)?, false)),
    };
    e.bump();
    let ty = TypeName { lookup: vec![("pg_catalog".into(), serial.into())], modifiers: String::new(), array: false };
    Ok((ty, true))
}

/// The expression after a column's `DEFAULT`, in the spelling of `definition.rs`: up to
/// the next column constraint at the top level.
fn default_value(e: &mut P) -> Res<String> {
    let stops = ["constraint", "not", "null", "primary", "unique", "check", "references", "generated", "collate"];
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
    Ok(definition::expression_tokens(&e.t[from..e.i]))
}
