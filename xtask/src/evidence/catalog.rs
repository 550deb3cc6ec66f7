//! One query that looks every object up in the system catalogs at once: a `VALUES`
//! list of the objects (names as SQL string literals, quotes doubled, under
//! `standard_conforming_strings = on`) joined against `pg_class`, `pg_attribute`,
//! `pg_type`, `pg_enum`, `pg_constraint`, `pg_trigger`, `pg_proc`, `pg_extension` and `pg_namespace`.
//! A function is matched on its name, input argument types (`proargtypes`), body
//! (`prosrc`, which the server stores verbatim), language, return type and attributes;
//! a view on its presence and kind, and where the migration re-creates it, on its query
//! (`pg_get_viewdef`); a constraint without a name among its table's constraints by
//! definition (`pg_get_constraintdef` of each, as a JSON array).
//! Definitions (a column's default, a constraint's or an index's definition) come back
//! as the server prints them (`pg_get_expr`, `pg_get_constraintdef`, `pg_get_indexdef`)
//! and are compared here, in the spelling of [`super::definition`].

use std::collections::HashMap;

use super::definition;
use super::objects::{quote_literal, Object};
use super::replay::Found;
use crate::db::Target;
use crate::exit::Failure;

/// Looks up `objects` in one psql round trip.
pub(crate) fn look_up(target: &Target, objects: &[Object]) -> Result<HashMap<Object, Found>, Failure> {
    if objects.is_empty() {
        return Ok(HashMap::new());
    }
    // In a read-only transaction (Target::read_only): its `SET LOCAL`s end with it and
    // never reach the next transaction of a pooled server connection.
    let rows = target.read_only().query(&query(objects), &[])?;
    parse(objects, &rows)
        .map_err(|why| Failure::task(format!("reading the catalogs for the migration's objects: {why}")))
}

/// `(kind, schema, a, b, modifiers, list)` for one object.
fn row(o: &Object) -> (&'static str, &str, &str, &str, String, Vec<String>) {
    match o {
        Object::Schema { name } => ("schema", "", name, "", String::new(), Vec::new()),
        Object::Table { schema, name } => ("table", schema, name, "", String::new(), Vec::new()),
        Object::Column { schema, table, name } => ("column", schema, table, name, String::new(), Vec::new()),
        Object::NotNull { schema, table, column } => ("not_null", schema, table, column, String::new(), Vec::new()),
        Object::Default { schema, table, column, .. } => ("default", schema, table, column, String::new(), Vec::new()),
        Object::ConstraintDef { schema, table, name, .. } => {
            ("constraint_def", schema, table, name, String::new(), Vec::new())
        }
        Object::IndexDef { schema, name, .. } => ("index_def", schema, name, "", String::new(), Vec::new()),
        Object::Trigger { schema, table, name } => ("trigger", schema, table, name, String::new(), Vec::new()),
        Object::Policy { schema, table, name } => ("policy", schema, table, name, String::new(), Vec::new()),
        Object::ColumnType { schema, table, column, ty } => {
            ("column_type", schema, table, column, ty.modifiers.clone(), ty.regtype_texts())
        }
        Object::Enum { schema, name } => ("enum", schema, name, "", String::new(), Vec::new()),
        Object::EnumValue { schema, enum_name, value } => {
            ("enum_value", schema, enum_name, value, String::new(), Vec::new())
        }
        Object::EnumValues { schema, enum_name, values } => {
            ("enum_values", schema, enum_name, "", String::new(), values.clone())
        }
        Object::Type { schema, name } => ("type", schema, name, "", String::new(), Vec::new()),
        Object::Index { schema, name } => ("index", schema, name, "", String::new(), Vec::new()),
        Object::Constraint { schema, table, name } => ("constraint", schema, table, name, String::new(), Vec::new()),
        Object::Sequence { schema, name } => ("sequence", schema, name, "", String::new(), Vec::new()),
        Object::Extension { name } => ("extension", "", name, "", String::new(), Vec::new()),
        Object::View { schema, name, materialized } => {
            ("view", schema, name, "", if *materialized { "m" } else { "v" }.to_string(), Vec::new())
        }
        Object::ViewDef { schema, name, materialized, .. } => {
            ("view_def", schema, name, "", if *materialized { "m" } else { "v" }.to_string(), Vec::new())
        }
        Object::Unnamed { schema, table, .. } => ("unnamed", schema, table, "", String::new(), Vec::new()),
        Object::Function { schema, name, args, def } => {
            // `l`: each argument's candidate types as `aNNNN:type` (the first that exists
            // counts, as in `column_type`), the return type's as `r:type`; `m`: which parts
            // are compared and the attributes, `|`-separated (see the query).
            let mut list = Vec::new();
            for (k, a) in args.iter().flatten().enumerate() {
                list.extend(a.regtype_texts().into_iter().map(|t| format!("a{:04}:{t}", k + 1)));
            }
            let mut m = format!("{}|{}", u8::from(args.is_some()), u8::from(def.is_some()));
            let mut body = "";
            if let Some(d) = def {
                body = &d.body;
                if let Some(r) = &d.returns {
                    list.extend(r.regtype_texts().into_iter().map(|t| format!("r:{t}")));
                }
                let flag = |b: bool| u8::from(b);
                m = format!(
                    "{m}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                    d.language,
                    flag(d.returns.is_some()),
                    flag(d.setof),
                    d.volatility,
                    flag(d.security_definer),
                    flag(d.strict),
                    d.cost.as_deref().unwrap_or(""),
                    d.rows.as_deref().unwrap_or(""),
                    d.parallel,
                    flag(d.leakproof),
                    flag(d.defaults.is_some())
                );
            }
            ("function", schema, name, body, m, list)
        }
    }
}

/// The query: one row `(position, present|absent|invalid)` per object.
pub(crate) fn query(objects: &[Object]) -> String {
    let values: Vec<String> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (kind, s, a, b, m, l) = row(o);
            let list: Vec<String> = l.iter().map(|v| quote_literal(v)).collect();
            format!(
                "({}, '{kind}', {}::text, {}::text, {}::text, {}::text, ARRAY[{}]::text[])",
                i + 1,
                quote_literal(s),
                quote_literal(a),
                quote_literal(b),
                quote_literal(&m),
                list.join(", ")
            )
        })
        .collect();
    format!(
        r#"SET LOCAL standard_conforming_strings = on;
SET LOCAL client_encoding = 'UTF8';
SET LOCAL search_path = pg_catalog;
WITH o(i, kind, s, a, b, m, l) AS (VALUES
{values}
),
rels AS (
  SELECT o.i, c.oid, c.relkind, x.indisvalid, x.indisready
  FROM o JOIN pg_namespace n ON n.nspname = o.s
  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = o.a
  LEFT JOIN pg_index x ON x.indexrelid = c.oid
  WHERE o.kind IN ('table', 'index', 'sequence', 'index_def', 'view', 'view_def', 'unnamed')
),
cols AS (
  SELECT o.i, a.attnotnull, a.atthasdef, a.atttypid, a.atttypmod, pg_get_expr(d.adbin, d.adrelid) AS def
  FROM o JOIN pg_namespace n ON n.nspname = o.s
  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = o.a AND c.relkind IN ('r', 'p')
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = o.b AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE o.kind IN ('column', 'not_null', 'default', 'column_type')
),
funcs AS (
  SELECT o.i, p.oid, coalesce(array_length(p.proallargtypes, 1), p.pronargs) AS nargs
  FROM o JOIN pg_namespace n ON n.nspname = o.s
  JOIN pg_proc p ON p.pronamespace = n.oid AND p.proname = o.a AND p.prokind IN ('f', 'w')
  WHERE o.kind = 'function'
    -- oidvector is 0-based; its text form gives a 1-based array, comparable with ours.
    AND (split_part(o.m, '|', 1) <> '1' OR string_to_array(p.proargtypes::text, ' ')::oid[] = coalesce((
      SELECT array_agg(z.t ORDER BY z.k) FROM (
        SELECT DISTINCT ON (left(u.v, 5)) left(u.v, 5) AS k, to_regtype(substr(u.v, 7))::oid AS t
        FROM unnest(o.l) WITH ORDINALITY u(v, pos)
        WHERE u.v LIKE 'a%' AND to_regtype(substr(u.v, 7)) IS NOT NULL
        ORDER BY left(u.v, 5), u.pos) z), '{{}}'::oid[]))
    AND (split_part(o.m, '|', 2) <> '1' OR (
      p.prosrc = o.b
      AND (SELECT g.lanname::text FROM pg_language g WHERE g.oid = p.prolang) = split_part(o.m, '|', 3)
      AND (split_part(o.m, '|', 4) <> '1' OR (p.proretset = (split_part(o.m, '|', 5) = '1')
        AND p.prorettype = (SELECT to_regtype(substr(u.v, 3))::oid FROM unnest(o.l) WITH ORDINALITY u(v, pos)
                            WHERE u.v LIKE 'r:%' AND to_regtype(substr(u.v, 3)) IS NOT NULL ORDER BY u.pos LIMIT 1)))
      AND p.provolatile::text = split_part(o.m, '|', 6)
      AND p.prosecdef = (split_part(o.m, '|', 7) = '1')
      AND p.proisstrict = (split_part(o.m, '|', 8) = '1')
      -- COST and ROWS left out get the server's defaults again on a replace.
      AND p.procost = CASE WHEN split_part(o.m, '|', 9) <> '' THEN split_part(o.m, '|', 9)::real
        WHEN split_part(o.m, '|', 3) IN ('c', 'internal') THEN 1 ELSE 100 END
      AND p.prorows = CASE WHEN split_part(o.m, '|', 10) <> '' THEN split_part(o.m, '|', 10)::real
        WHEN p.proretset THEN 1000 ELSE 0 END
      AND p.proparallel::text = split_part(o.m, '|', 11)
      AND p.proleakproof = (split_part(o.m, '|', 12) = '1')))
),
types AS (
  SELECT o.i, t.oid, t.typtype, t.typrelid, c.relkind
  FROM o JOIN pg_namespace n ON n.nspname = o.s
  JOIN pg_type t ON t.typnamespace = n.oid AND t.typname = o.a
  LEFT JOIN pg_class c ON c.oid = t.typrelid
  WHERE o.kind IN ('enum', 'enum_value', 'enum_values', 'type')
)
SELECT o.i, CASE o.kind
  WHEN 'schema' THEN CASE WHEN EXISTS (SELECT FROM pg_namespace WHERE nspname = o.a) THEN 'present' ELSE 'absent' END
  WHEN 'extension' THEN CASE WHEN EXISTS (SELECT FROM pg_extension WHERE extname = o.a) THEN 'present' ELSE 'absent' END
  WHEN 'table' THEN CASE WHEN r.oid IS NULL THEN 'absent' WHEN r.relkind IN ('r', 'p') THEN 'present' ELSE 'invalid' END
  WHEN 'view' THEN CASE WHEN r.oid IS NULL THEN 'absent' WHEN r.relkind::text = o.m THEN 'present' ELSE 'invalid' END
  WHEN 'view_def' THEN CASE WHEN r.oid IS NULL OR r.relkind::text <> o.m THEN 'absent' ELSE 'compare' END
  WHEN 'unnamed' THEN CASE WHEN r.oid IS NULL OR r.relkind NOT IN ('r', 'p') THEN 'absent' ELSE 'compare' END
  -- One function with the definition, and its argument defaults to compare where the file has them.
  WHEN 'function' THEN (
    SELECT CASE WHEN count(*) = 0 THEN 'absent' WHEN count(*) > 1 THEN 'invalid'
      WHEN split_part(o.m, '|', 13) = '1' THEN 'compare' ELSE 'present' END
    FROM funcs f WHERE f.i = o.i)
  WHEN 'sequence' THEN CASE WHEN r.oid IS NULL THEN 'absent' WHEN r.relkind = 'S' THEN 'present' ELSE 'invalid' END
  WHEN 'index' THEN CASE WHEN r.oid IS NULL THEN 'absent'
    WHEN r.relkind IN ('i', 'I') AND r.indisvalid AND r.indisready THEN 'present' ELSE 'invalid' END
  WHEN 'column' THEN CASE WHEN k.i IS NULL THEN 'absent' ELSE 'present' END
  WHEN 'not_null' THEN CASE WHEN k.i IS NULL THEN 'invalid' WHEN k.attnotnull THEN 'present' ELSE 'absent' END
  WHEN 'default' THEN CASE WHEN k.i IS NULL THEN 'invalid' ELSE 'compare' END
  WHEN 'column_type' THEN CASE WHEN k.i IS NULL THEN 'invalid'
    WHEN k.atttypid = (SELECT r.t::oid FROM unnest(o.l) WITH ORDINALITY u(txt, pos)
                       CROSS JOIN LATERAL (SELECT to_regtype(u.txt) AS t) r
                       WHERE r.t IS NOT NULL ORDER BY u.pos LIMIT 1)
     AND coalesce(substring(format_type(k.atttypid, k.atttypmod) FROM '\(([0-9,]+)\)'), '') = o.m
    THEN 'present' ELSE 'absent' END
  WHEN 'enum' THEN CASE WHEN t.oid IS NULL THEN 'absent' WHEN t.typtype = 'e' THEN 'present' ELSE 'invalid' END
  WHEN 'type' THEN CASE WHEN t.oid IS NULL THEN 'absent' WHEN t.typrelid = 0 OR t.relkind = 'c' THEN 'present' ELSE 'invalid' END
  WHEN 'enum_value' THEN CASE WHEN t.typtype = 'e'
    AND EXISTS (SELECT FROM pg_enum e WHERE e.enumtypid = t.oid AND e.enumlabel = o.b) THEN 'present' ELSE 'absent' END
  WHEN 'enum_values' THEN CASE WHEN t.typtype = 'e'
    AND coalesce((SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '{{}}') = o.l
    THEN 'present' ELSE 'absent' END
  WHEN 'constraint' THEN CASE WHEN EXISTS (
    SELECT FROM pg_constraint x JOIN pg_class c ON c.oid = x.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = o.s AND c.relname = o.a AND x.conname = o.b) THEN 'present' ELSE 'absent' END
  WHEN 'constraint_def' THEN CASE WHEN EXISTS (
    SELECT FROM pg_constraint x JOIN pg_class c ON c.oid = x.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = o.s AND c.relname = o.a AND x.conname = o.b) THEN 'compare' ELSE 'invalid' END
  WHEN 'index_def' THEN CASE WHEN r.oid IS NULL OR r.relkind NOT IN ('i', 'I') THEN 'invalid' ELSE 'compare' END
  WHEN 'trigger' THEN CASE WHEN EXISTS (
    SELECT FROM pg_trigger x JOIN pg_class c ON c.oid = x.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = o.s AND c.relname = o.a AND x.tgname = o.b AND NOT x.tgisinternal) THEN 'present' ELSE 'absent' END
  WHEN 'policy' THEN CASE WHEN EXISTS (
    SELECT FROM pg_policy x JOIN pg_class c ON c.oid = x.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = o.s AND c.relname = o.a AND x.polname = o.b) THEN 'present' ELSE 'absent' END
END,
CASE o.kind
  WHEN 'default' THEN k.def
  WHEN 'index_def' THEN pg_get_indexdef(r.oid)
  WHEN 'view_def' THEN pg_get_viewdef(r.oid)
  -- Each argument's default (null for one without), as a JSON array.
  WHEN 'function' THEN (SELECT coalesce(json_agg(pg_get_function_arg_default(f.oid, k) ORDER BY k), '[]')::text
    FROM funcs f CROSS JOIN generate_series(1, f.nargs) k WHERE f.i = o.i)
  -- Every constraint of the table, as a JSON array of definitions.
  WHEN 'unnamed' THEN (SELECT coalesce(json_agg(pg_get_constraintdef(x.oid) ORDER BY x.oid), '[]')::text
    FROM pg_constraint x WHERE x.conrelid = r.oid)
  WHEN 'constraint_def' THEN (
    SELECT pg_get_constraintdef(x.oid) FROM pg_constraint x JOIN pg_class c ON c.oid = x.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = o.s AND c.relname = o.a AND x.conname = o.b LIMIT 1)
END
FROM o
LEFT JOIN rels r ON r.i = o.i
LEFT JOIN cols k ON k.i = o.i
LEFT JOIN types t ON t.i = o.i
ORDER BY o.i;
"#,
        values = values.join(",\n")
    )
}

fn parse(objects: &[Object], rows: &[Vec<Option<String>>]) -> Result<HashMap<Object, Found>, String> {
    let mut out = HashMap::new();
    for r in rows {
        let (Some(Some(i)), Some(Some(state))) = (r.first(), r.get(1)) else {
            return Err(format!("unexpected row {r:?}"));
        };
        let i: usize = i.parse().map_err(|_| format!("unexpected row {r:?}"))?;
        let o = objects.get(i.wrapping_sub(1)).ok_or_else(|| format!("unexpected row {r:?}"))?;
        let def = r.get(2).cloned().flatten();
        let found = match state.as_str() {
            "compare" => compare(o, def.as_deref()),
            "present" => Found::Present,
            "absent" => Found::Absent,
            "invalid" => Found::Invalid,
            other => return Err(format!("unexpected state {other:?}")),
        };
        out.insert(o.clone(), found);
    }
    if out.len() != objects.len() {
        return Err(format!("{} of {} objects came back", out.len(), objects.len()));
    }
    Ok(out)
}

/// Whether the definition the server printed is the one `o` expects.
fn compare(o: &Object, printed: Option<&str>) -> Found {
    let same = match o {
        Object::ViewDef { def, names, .. } => {
            return match printed.map(|p| definition::view_compare(def, names, p)) {
                Some(definition::ViewMatch::Same) => Found::Present,
                Some(definition::ViewMatch::Other) => Found::Absent,
                // Neither the same nor certainly another query: "invalid" (see `Object::ViewDef`).
                _ => Found::Invalid,
            };
        }
        Object::Unnamed { def, .. } => {
            let Some(defs) = printed.and_then(|p| serde_json::from_str::<Vec<String>>(p).ok()) else {
                return Found::Invalid;
            };
            let printed: Vec<String> = defs.iter().map(|d| definition::constraint(d)).collect();
            // The server prints a check's expression its own way: another CHECK on the
            // table may be this one spelled otherwise.
            let check_unsure = def.starts_with("check ") && printed.iter().any(|d| d.starts_with("check "));
            return match printed.iter().filter(|d| *d == def).count() {
                0 if check_unsure => Found::Invalid,
                0 => Found::Absent,
                1 => Found::Present,
                _ => Found::Invalid,
            };
        }
        Object::Function { def: Some(d), .. } => return compare_defaults(d.defaults.as_deref(), printed),
        Object::Default { value, .. } => value.as_deref() == printed.map(definition::expression).as_deref(),
        Object::ConstraintDef { def, .. } => printed.map(definition::constraint).as_deref() == Some(def.as_str()),
        Object::IndexDef { def, .. } => printed.and_then(definition::index).as_deref() == Some(def.as_str()),
        _ => false,
    };
    if same {
        Found::Present
    } else {
        Found::Absent
    }
}

/// A replaced function's argument defaults (`file`, see `FunctionDef::defaults`) against
/// the server's (`printed`: a JSON array, null for an argument without one). One on one
/// side only, or another number of arguments, is another function ("absent": the
/// statement has not run); two that read otherwise may be one printed its own way
/// ("invalid": not counted, as a view's query).
fn compare_defaults(file: Option<&[Option<String>]>, printed: Option<&str>) -> Found {
    let Some(file) = file else {
        return Found::Present;
    };
    let Some(live) = printed.and_then(|p| serde_json::from_str::<Vec<Option<String>>>(p).ok()) else {
        return Found::Invalid;
    };
    if live.len() != file.len() {
        return Found::Absent;
    }
    let mut unsure = false;
    for (f, l) in file.iter().zip(&live) {
        match (f, l) {
            (None, None) => {}
            (Some(f), Some(l)) => unsure |= *f != definition::expression(l),
            _ => return Found::Absent,
        }
    }
    if unsure {
        Found::Invalid
    } else {
        Found::Present
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_defaults_compare_as_the_server_prints_them() {
        let file = |v: &[Option<&str>]| v.iter().map(|x| x.map(definition::expression)).collect::<Vec<_>>();
        let f = file(&[Some("'2020-01-01 00:00:00'"), None, Some("-1")]);
        let printed = r#"["'2020-01-01 00:00:00'::timestamp without time zone", null, "'-1'::integer"]"#;
        assert_eq!(compare_defaults(Some(&f), Some(printed)), Found::Present);
        // A default on one side only, or another argument count: another function.
        assert_eq!(compare_defaults(Some(&f), Some(r#"["'2020-01-01'", null, null]"#)), Found::Absent);
        assert_eq!(compare_defaults(Some(&file(&[None])), Some(r#"["1"]"#)), Found::Absent);
        assert_eq!(compare_defaults(Some(&f), Some("[null, null]")), Found::Absent);
        // Read otherwise (another constant, or a spelling the rules do not follow): not told.
        assert_eq!(
            compare_defaults(Some(&file(&[Some("interval '1 day'")])), Some(r#"["'1 day'::interval"]"#)),
            Found::Invalid
        );
        assert_eq!(compare_defaults(Some(&file(&[None])), Some("[null]")), Found::Present);
        assert_eq!(compare_defaults(Some(&[]), Some("[]")), Found::Present);
        assert_eq!(compare_defaults(None, None), Found::Present);
    }
}
