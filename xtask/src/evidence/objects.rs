//! The database objects and properties a migration creates, drops or changes, as the
//! catalogs name them, and how they relate (a column belongs to its table, an enum's
//! value list to its enum) so that renames and drops carry what belongs to them.

use std::fmt;

/// A thing in the catalogs whose presence a migration decides.
///
/// Names are as PostgreSQL stores them: unquoted identifiers folded to lower case,
/// quoted ones exact, all cut to 63 bytes; `schema` is always filled in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Object {
    Schema {
        name: String,
    },
    Table {
        schema: String,
        name: String,
    },
    Column {
        schema: String,
        table: String,
        name: String,
    },
    /// "Present" means the column is `NOT NULL`.
    NotNull {
        schema: String,
        table: String,
        column: String,
    },
    /// "Present" means the column's default is this expression (in the spelling of
    /// `definition::expression`), or it has none when `value` is `None`.
    Default {
        schema: String,
        table: String,
        column: String,
        value: Option<String>,
    },
    /// "Present" means the column has this type.
    ColumnType {
        schema: String,
        table: String,
        column: String,
        ty: TypeName,
    },
    Enum {
        schema: String,
        name: String,
    },
    EnumValue {
        schema: String,
        enum_name: String,
        value: String,
    },
    /// "Present" means the enum has exactly these values, in this order.
    EnumValues {
        schema: String,
        enum_name: String,
        values: Vec<String>,
    },
    /// A type of any kind (what `DROP TYPE` and `ALTER TYPE ... RENAME TO` act on).
    Type {
        schema: String,
        name: String,
    },
    Index {
        schema: String,
        name: String,
    },
    Constraint {
        schema: String,
        table: String,
        name: String,
    },
    /// "Present" means the constraint has this definition (in the spelling of
    /// `definition::constraint`).
    ConstraintDef {
        schema: String,
        table: String,
        name: String,
        def: String,
    },
    /// "Present" means the index has this definition (see `definition::index`).
    IndexDef {
        schema: String,
        name: String,
        def: String,
    },
    Trigger {
        schema: String,
        table: String,
        name: String,
    },
    /// A row level security policy (`pg_policy`), by name on its table: its expressions
    /// are not compared.
    Policy {
        schema: String,
        table: String,
        name: String,
    },
    /// A view (`relkind` 'v'), or a materialized view ('m'), by its presence; its query
    /// is [`Object::ViewDef`].
    View {
        schema: String,
        name: String,
        materialized: bool,
    },
    /// "Present" means the view exists with this query: its `pg_get_viewdef` and the
    /// file's query come out the same in the spelling of `definition::view_query`
    /// (`def`); `names` are the names the file's query certainly references (see
    /// `definition::view_names`), which tell another query apart when the spellings
    /// differ. Found "invalid" when the two cannot be told the same or apart.
    ViewDef {
        schema: String,
        name: String,
        materialized: bool,
        def: String,
        names: Vec<String>,
    },
    /// A constraint added without a name (`ADD FOREIGN KEY (...) REFERENCES ...`,
    /// `ADD UNIQUE (...)`, `ADD CHECK (...)`), looked up by what it is: "present" means
    /// exactly one constraint of the table has this definition (in the spelling of
    /// `definition::constraint`), "absent" none; "invalid" when that cannot be told: two
    /// or more have it, or for a CHECK none does but the table has another CHECK (the
    /// server may print the same expression otherwise).
    Unnamed {
        schema: String,
        table: String,
        def: String,
        /// The constraint as the file writes it, for people.
        text: String,
    },
    /// A function (not a procedure). With `args`: the one with exactly these input
    /// argument types (`proargtypes`); without: the only function of that name (two or
    /// more make it "invalid": `DROP FUNCTION f` without arguments fails on them).
    /// With `def`: "present" means it also has this definition (its body, `prosrc`,
    /// stored verbatim, and the attributes the file states).
    Function {
        schema: String,
        name: String,
        args: Option<Vec<TypeName>>,
        def: Option<FunctionDef>,
    },
    Sequence {
        schema: String,
        name: String,
    },
    Extension {
        name: String,
    },
}

/// A column type as written in `ALTER COLUMN ... TYPE`, resolved the way the server
/// resolves it: the first of `lookup` that exists, with these modifiers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeName {
    /// Candidate `(schema, name)` pairs in lookup order (`pg_catalog` first for unqualified names).
    pub lookup: Vec<(String, String)>,
    /// Modifiers as `format_type` prints them between parentheses (`3`, `10,2`), or empty.
    pub modifiers: String,
    pub array: bool,
}

impl TypeName {
    /// The text `to_regtype` gets for each candidate: every part quoted, so that no
    /// name from the migration can be a syntax error in our query.
    pub fn regtype_texts(&self) -> Vec<String> {
        let suffix = if self.array { "[]" } else { "" };
        self.lookup.iter().map(|(s, n)| format!("{}.{}{suffix}", quote_ident(s), quote_ident(n))).collect()
    }

    fn renamed(&self, schema: &str, from: &str, to: &str) -> Option<TypeName> {
        if !self.lookup.iter().any(|(s, n)| s == schema && n == from) {
            return None;
        }
        let mut t = self.clone();
        for (s, n) in &mut t.lookup {
            if n == from && (s == schema || s == "pg_catalog") {
                *n = to.to_string();
            }
        }
        Some(t)
    }
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, n) = self.lookup.last().map(|(s, n)| (s.as_str(), n.as_str())).unwrap_or(("", ""));
        if s == "pg_catalog" {
            f.write_str(n)?;
        } else if self.lookup.len() > 1 {
            // Unqualified, as written: the server looks it up in pg_catalog, then the schema.
            let plain = n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            f.write_str(&if plain { n.to_string() } else { quote_ident(n) })?;
        } else {
            write!(f, "{}.{}", quote_ident(s), quote_ident(n))?;
        }
        if !self.modifiers.is_empty() {
            write!(f, "({})", self.modifiers)?;
        }
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// What `CREATE [OR REPLACE] FUNCTION` gives a function besides its arguments, as the
/// catalog query compares it with `pg_proc`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionDef {
    /// `prosrc`: the text between the quotes of `AS`, exactly.
    pub body: String,
    /// `LANGUAGE`, folded.
    pub language: String,
    /// The return type (not compared when `None`: `RETURNS TABLE (...)`), and whether it is `SETOF`.
    pub returns: Option<TypeName>,
    pub setof: bool,
    /// `provolatile`: `v`, `s` or `i` (VOLATILE is the default).
    pub volatility: char,
    pub security_definer: bool,
    pub strict: bool,
    /// `COST` and `ROWS` as written (plain numbers), `None` for the server's default.
    pub cost: Option<String>,
    pub rows: Option<String>,
    /// `proparallel`: `u`, `r` or `s` (UNSAFE is the default).
    pub parallel: char,
    pub leakproof: bool,
    /// For a replaced function: each argument's default in declaration order (`OUT`
    /// ones included), in the spelling of `definition::expression`, `None` for one
    /// without; the catalogs' are compared where the file gives one (one that reads
    /// otherwise cannot be told apart and is "invalid"), and one on only one side is
    /// another function. `None`: not compared (a new function).
    pub defaults: Option<Vec<Option<String>>>,
}

/// PostgreSQL's defaults for what a `CREATE FUNCTION` does not state.
impl Default for FunctionDef {
    fn default() -> FunctionDef {
        FunctionDef {
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
            defaults: None,
        }
    }
}

/// Whether an object exists (or a property holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Presence {
    Present,
    Absent,
}

/// What owns other objects: renaming or dropping it carries them along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    Relation {
        schema: String,
        name: String,
    },
    Column {
        schema: String,
        table: String,
        name: String,
    },
    Type {
        schema: String,
        name: String,
    },
    Index {
        schema: String,
        name: String,
    },
    Constraint {
        schema: String,
        table: String,
        name: String,
    },
    /// A function by name (all of its overloads), or by name and argument types.
    Function {
        schema: String,
        name: String,
        args: Option<Vec<TypeName>>,
    },
}

impl Object {
    /// The object this one is a property of (a column's table, a column property's
    /// column, an enum's value list's enum, a function's definition's function): when that does not exist, saying the
    /// property is missing too tells nothing and reads as if the object were there.
    pub fn parent(&self) -> Option<Object> {
        match self {
            Object::Column { schema, table, .. } => Some(Object::Table { schema: schema.clone(), name: table.clone() }),
            Object::NotNull { schema, table, column }
            | Object::Default { schema, table, column, .. }
            | Object::ColumnType { schema, table, column, .. } => {
                Some(Object::Column { schema: schema.clone(), table: table.clone(), name: column.clone() })
            }
            Object::EnumValue { schema, enum_name, .. } | Object::EnumValues { schema, enum_name, .. } => {
                Some(Object::Enum { schema: schema.clone(), name: enum_name.clone() })
            }
            Object::ViewDef { schema, name, materialized, .. } => {
                Some(Object::View { schema: schema.clone(), name: name.clone(), materialized: *materialized })
            }
            Object::Unnamed { schema, table, .. } => {
                Some(Object::Table { schema: schema.clone(), name: table.clone() })
            }
            Object::Function { schema, name, args: Some(args), def: Some(_) } => Some(Object::Function {
                schema: schema.clone(),
                name: name.clone(),
                args: Some(args.clone()),
                def: None,
            }),
            _ => None,
        }
    }

    /// The owner this object *is* (a table is a relation, an enum is a type).
    pub(crate) fn identity(&self) -> Option<Owner> {
        match self {
            Object::Table { schema, name } => Some(Owner::Relation { schema: schema.clone(), name: name.clone() }),
            Object::Column { schema, table, name } => {
                Some(Owner::Column { schema: schema.clone(), table: table.clone(), name: name.clone() })
            }
            Object::Enum { schema, name } | Object::Type { schema, name } => {
                Some(Owner::Type { schema: schema.clone(), name: name.clone() })
            }
            Object::Index { schema, name } => Some(Owner::Index { schema: schema.clone(), name: name.clone() }),
            Object::Constraint { schema, table, name } => {
                Some(Owner::Constraint { schema: schema.clone(), table: table.clone(), name: name.clone() })
            }
            Object::Function { schema, name, args, def: None } => {
                Some(Owner::Function { schema: schema.clone(), name: name.clone(), args: args.clone() })
            }
            _ => None,
        }
    }

    /// The schema and name of a relation (what `pg_class` holds): tables, views,
    /// indexes and sequences share one name space per schema.
    pub(crate) fn relation_name(&self) -> Option<(&str, &str)> {
        match self {
            Object::Table { schema, name }
            | Object::View { schema, name, .. }
            | Object::Index { schema, name }
            | Object::Sequence { schema, name } => Some((schema, name)),
            _ => None,
        }
    }

    /// Is this object the owner `o`, or owned by it?
    pub(crate) fn within(&self, o: &Owner) -> bool {
        use Object as O;
        match (self, o) {
            (O::Table { schema, name }, Owner::Relation { schema: s, name: n }) => schema == s && name == n,
            (
                O::Column { schema, table, .. }
                | O::NotNull { schema, table, .. }
                | O::Default { schema, table, .. }
                | O::ColumnType { schema, table, .. }
                | O::Constraint { schema, table, .. }
                | O::ConstraintDef { schema, table, .. }
                | O::Trigger { schema, table, .. }
                | O::Policy { schema, table, .. }
                | O::Unnamed { schema, table, .. },
                Owner::Relation { schema: s, name: n },
            ) => schema == s && table == n,
            (O::Index { schema, name } | O::IndexDef { schema, name, .. }, Owner::Index { schema: s, name: n }) => {
                schema == s && name == n
            }
            (
                O::Constraint { schema, table, name } | O::ConstraintDef { schema, table, name, .. },
                Owner::Constraint { schema: s, table: t, name: n },
            ) => schema == s && table == t && name == n,
            (
                O::Column { schema, table, name: column }
                | O::NotNull { schema, table, column }
                | O::Default { schema, table, column, .. }
                | O::ColumnType { schema, table, column, .. },
                Owner::Column { schema: s, table: t, name: c },
            ) => schema == s && table == t && column == c,
            (
                O::Enum { schema, name }
                | O::Type { schema, name }
                | O::EnumValue { schema, enum_name: name, .. }
                | O::EnumValues { schema, enum_name: name, .. },
                Owner::Type { schema: s, name: n },
            ) => schema == s && name == n,
            (O::ColumnType { ty, .. }, Owner::Type { schema: s, name: n }) => {
                ty.lookup.iter().any(|(ts, tn)| ts == s && tn == n)
            }
            // Dropping a function by name drops it whatever its arguments; by its
            // arguments, whatever its definition.
            (O::Function { schema, name, args, .. }, Owner::Function { schema: s, name: n, args: a }) => {
                schema == s && name == n && (a.is_none() || a == args)
            }
            _ => false,
        }
    }

    /// This object after its owner `from` was renamed to `to` (same kind of owner).
    pub(crate) fn reparent(&self, from: &Owner, to: &Owner) -> Option<Object> {
        use Object as O;
        if !self.within(from) {
            return None;
        }
        let mut o = self.clone();
        match (&mut o, to) {
            (O::Table { name, .. }, Owner::Relation { name: n, .. }) => *name = n.clone(),
            (
                O::Column { table, .. }
                | O::NotNull { table, .. }
                | O::Default { table, .. }
                | O::ColumnType { table, .. }
                | O::Constraint { table, .. }
                | O::ConstraintDef { table, .. }
                | O::Trigger { table, .. }
                | O::Policy { table, .. }
                | O::Unnamed { table, .. },
                Owner::Relation { name: n, .. },
            ) => *table = n.clone(),
            (O::Index { name, .. } | O::IndexDef { name, .. }, Owner::Index { name: n, .. })
            | (O::Constraint { name, .. } | O::ConstraintDef { name, .. }, Owner::Constraint { name: n, .. }) => {
                *name = n.clone()
            }
            (O::Column { name: c, .. }, Owner::Column { name: n, .. })
            | (
                O::NotNull { column: c, .. } | O::Default { column: c, .. } | O::ColumnType { column: c, .. },
                Owner::Column { name: n, .. },
            ) => *c = n.clone(),
            (O::ColumnType { ty, .. }, Owner::Type { name: n, .. }) => {
                let Owner::Type { schema: fs, name: fname } = from else {
                    return None;
                };
                *ty = ty.renamed(fs, fname, n)?;
            }
            (
                O::Enum { name, .. }
                | O::Type { name, .. }
                | O::EnumValue { enum_name: name, .. }
                | O::EnumValues { enum_name: name, .. },
                Owner::Type { name: n, .. },
            ) => *name = n.clone(),
            _ => return None,
        }
        Some(o)
    }

    /// `NOT NULL`, default or type of a column, or the definition of a constraint, an
    /// index or a view: found "invalid" when what it belongs to is missing (a view's
    /// query also when it cannot be compared).
    pub(crate) fn is_column_property(&self) -> bool {
        matches!(
            self,
            Object::NotNull { .. }
                | Object::Default { .. }
                | Object::ColumnType { .. }
                | Object::ConstraintDef { .. }
                | Object::IndexDef { .. }
                | Object::ViewDef { .. }
        )
    }

    /// Other objects that are present whenever this one is (an enum is a type, a
    /// function with a definition is one with its arguments).
    pub(crate) fn implied(&self) -> Vec<Object> {
        match self {
            Object::Enum { schema, name } => vec![Object::Type { schema: schema.clone(), name: name.clone() }],
            Object::Function { schema, name, args: Some(args), def } => {
                let f = |args: Option<Vec<TypeName>>| Object::Function {
                    schema: schema.clone(),
                    name: name.clone(),
                    args,
                    def: None,
                };
                let mut out = vec![f(None)];
                if def.is_some() {
                    out.push(f(Some(args.clone())));
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// Objects of which at most one can be present at a time (a column has one type,
    /// an enum one list of values): the group they share.
    pub(crate) fn exclusive_group(&self) -> Option<(Owner, &'static str)> {
        let column = |schema: &String, table: &String, column: &String| Owner::Column {
            schema: schema.clone(),
            table: table.clone(),
            name: column.clone(),
        };
        match self {
            Object::ColumnType { schema, table, column: c, .. } => Some((column(schema, table, c), "type")),
            Object::Default { schema, table, column: c, .. } => Some((column(schema, table, c), "default")),
            Object::EnumValues { schema, enum_name, .. } => {
                Some((Owner::Type { schema: schema.clone(), name: enum_name.clone() }, "values"))
            }
            Object::ViewDef { schema, name, .. } => {
                Some((Owner::Relation { schema: schema.clone(), name: name.clone() }, "query"))
            }
            Object::ConstraintDef { schema, table, name, .. } => Some((
                Owner::Constraint { schema: schema.clone(), table: table.clone(), name: name.clone() },
                "definition",
            )),
            Object::IndexDef { schema, name, .. } => {
                Some((Owner::Index { schema: schema.clone(), name: name.clone() }, "definition"))
            }
            Object::Function { schema, name, args: Some(args), def: Some(_) } => Some((
                Owner::Function { schema: schema.clone(), name: name.clone(), args: Some(args.clone()) },
                "definition",
            )),
            _ => None,
        }
    }

    /// The SQLSTATE the server raises when a statement creates this object and it exists.
    pub(crate) fn exists_error(&self) -> &'static str {
        match self {
            Object::Table { .. } | Object::Index { .. } | Object::Sequence { .. } | Object::View { .. } => "42P07",
            Object::Column { .. } => "42701",
            Object::Function { .. } => "42723",
            Object::Schema { .. } => "42P06",
            _ => "42710",
        }
    }

    /// The SQLSTATE the server raises when a statement drops or renames this object and it is missing.
    pub(crate) fn missing_error(&self) -> &'static str {
        match self {
            Object::Table { .. } | Object::Sequence { .. } | Object::View { .. } => "42P01",
            Object::Column { .. } => "42703",
            Object::Function { .. } => "42883",
            Object::Schema { .. } => "3F000",
            Object::EnumValue { .. } => "22023",
            _ => "42704",
        }
    }

    /// What it means for this object to be in `p`, for people.
    pub fn describe(&self, p: Presence) -> String {
        let yes = p == Presence::Present;
        match self {
            Object::NotNull { .. } => {
                format!("{self} {}", if yes { "is NOT NULL" } else { "allows NULL" })
            }
            Object::Default { value: Some(v), .. } => {
                format!("{self} {} the default {v}", if yes { "has" } else { "does not have" })
            }
            Object::Default { value: None, .. } => {
                format!("{self} {}", if yes { "has no default" } else { "has a default" })
            }
            Object::ConstraintDef { def, .. } | Object::IndexDef { def, .. } => {
                format!("{self} {} the definition {def}", if yes { "has" } else { "does not have" })
            }
            Object::ColumnType { ty, .. } => {
                format!("{self} {} type {ty}", if yes { "has" } else { "does not have" })
            }
            Object::Function { def: Some(d), .. } => {
                // Absent covers two states one lookup does not tell apart: no such
                // function, or one with another body; the words say both.
                let verb = if yes { "has" } else { "is missing, or does not have" };
                let defaults = d.defaults.as_ref().is_some_and(|v| v.iter().any(Option::is_some));
                format!(
                    "{self} {verb} the body {}of the file ({} characters, LANGUAGE {})",
                    if defaults { "and argument defaults " } else { "" },
                    d.body.chars().count(),
                    d.language
                )
            }
            Object::ViewDef { .. } => {
                format!("{self} {} the query of the file", if yes { "has" } else { "does not have" })
            }
            Object::EnumValues { values, .. } => {
                let list: Vec<String> = values.iter().map(|v| quote_literal(v)).collect();
                format!("{self} {} exactly the values ({})", if yes { "has" } else { "does not have" }, list.join(", "))
            }
            _ => format!("{self} {}", if yes { "exists" } else { "does not exist" }),
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = quote_ident;
        match self {
            Object::Schema { name } => write!(f, "schema {}", q(name)),
            Object::Table { schema, name } => write!(f, "table {}.{}", q(schema), q(name)),
            Object::Column { schema, table, name } => write!(f, "column {}.{}.{}", q(schema), q(table), q(name)),
            Object::NotNull { schema, table, column }
            | Object::Default { schema, table, column, .. }
            | Object::ColumnType { schema, table, column, .. } => {
                write!(f, "column {}.{}.{}", q(schema), q(table), q(column))
            }
            Object::Enum { schema, name } | Object::EnumValues { schema, enum_name: name, .. } => {
                write!(f, "enum {}.{}", q(schema), q(name))
            }
            Object::EnumValue { schema, enum_name, value } => {
                write!(f, "enum value {}.{} {}", q(schema), q(enum_name), quote_literal(value))
            }
            Object::Type { schema, name } => write!(f, "type {}.{}", q(schema), q(name)),
            Object::Index { schema, name } => write!(f, "index {}.{}", q(schema), q(name)),
            Object::Constraint { schema, table, name } | Object::ConstraintDef { schema, table, name, .. } => {
                write!(f, "constraint {} on {}.{}", q(name), q(schema), q(table))
            }
            Object::IndexDef { schema, name, .. } => write!(f, "index {}.{}", q(schema), q(name)),
            Object::Trigger { schema, table, name } => write!(f, "trigger {} on {}.{}", q(name), q(schema), q(table)),
            Object::Policy { schema, table, name } => write!(f, "policy {} on {}.{}", q(name), q(schema), q(table)),
            Object::View { schema, name, materialized } => {
                let kind = if *materialized { "materialized view" } else { "view" };
                write!(f, "{kind} {}.{}", q(schema), q(name))
            }
            Object::Function { schema, name, args: None, .. } => write!(f, "function {}.{}", q(schema), q(name)),
            Object::Function { schema, name, args: Some(args), .. } => {
                let list: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                write!(f, "function {}.{}({})", q(schema), q(name), list.join(", "))
            }
            Object::ViewDef { schema, name, materialized, .. } => {
                let kind = if *materialized { "materialized view" } else { "view" };
                write!(f, "{kind} {}.{}", q(schema), q(name))
            }
            Object::Unnamed { schema, table, text, .. } => {
                write!(f, "unnamed constraint {text} on {}.{}", q(schema), q(table))
            }
            Object::Sequence { schema, name } => write!(f, "sequence {}.{}", q(schema), q(name)),
            Object::Extension { name } => write!(f, "extension {}", q(name)),
        }
    }
}

pub(crate) use crate::db::sql::{quote_ident, quote_literal};

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: &str, c: &str) -> Object {
        Object::Column { schema: "public".into(), table: t.into(), name: c.into() }
    }

    #[test]
    fn renames_carry_owned_objects() {
        let from = Owner::Relation { schema: "public".into(), name: "a".into() };
        let to = Owner::Relation { schema: "public".into(), name: "b".into() };
        assert_eq!(col("a", "x").reparent(&from, &to), Some(col("b", "x")));
        assert_eq!(col("c", "x").reparent(&from, &to), None);
        let ty = TypeName {
            lookup: vec![("pg_catalog".into(), "Role_new".into()), ("public".into(), "Role_new".into())],
            modifiers: String::new(),
            array: false,
        };
        let ct = Object::ColumnType { schema: "public".into(), table: "u".into(), column: "r".into(), ty };
        let from = Owner::Type { schema: "public".into(), name: "Role_new".into() };
        let to = Owner::Type { schema: "public".into(), name: "Role".into() };
        let Some(Object::ColumnType { ty, .. }) = ct.reparent(&from, &to) else { panic!() };
        assert_eq!(ty.to_string(), "\"Role\"");
        assert_eq!(ty.regtype_texts(), ["\"pg_catalog\".\"Role\"", "\"public\".\"Role\""]);
    }

    #[test]
    fn descriptions() {
        assert_eq!(col("t", "x").describe(Presence::Present), "column \"public\".\"t\".\"x\" exists");
        let v = Object::EnumValues { schema: "s".into(), enum_name: "e".into(), values: vec!["a'b".into()] };
        assert_eq!(v.describe(Presence::Absent), "enum \"s\".\"e\" does not have exactly the values ('a''b')");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        let def = FunctionDef { body: "select 1".into(), language: "sql".into(), ..FunctionDef::default() };
        let f = Object::Function { schema: "public".into(), name: "f".into(), args: Some(vec![]), def: Some(def) };
        assert!(f.describe(Presence::Present).ends_with(" has the body of the file (8 characters, LANGUAGE sql)"));
        // Absent: missing, or there with another body; one lookup cannot say which.
        assert!(f.describe(Presence::Absent).contains(" is missing, or does not have the body of the file"));
    }
}
