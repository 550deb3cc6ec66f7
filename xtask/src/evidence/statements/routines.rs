//! Functions, views and triggers: `CREATE [OR REPLACE] FUNCTION|VIEW|TRIGGER`, their
//! argument lists and clauses, and `DROP FUNCTION`.

use super::parser::{fold, split_commas, truncate, P};
use super::types::type_name;
use super::{create, one, Body, Change, Cx, Op, Res};
use crate::evidence::definition;
use crate::evidence::lexer::Tok;
use crate::evidence::lexer::Token;
use crate::evidence::objects::FunctionDef;
use crate::evidence::objects::Object;
use crate::evidence::objects::Presence;
use crate::evidence::objects::TypeName;

impl Cx<'_> {
    /// `CREATE [OR REPLACE] [CONSTRAINT] TRIGGER name {BEFORE|AFTER|INSTEAD OF} events ON table ...`:
    /// only its presence is checked, so one created again after the file dropped it,
    /// or replaced, shows nothing about its definition.
    pub(super) fn create_trigger(&mut self, p: &mut P, replace: bool) -> Res<Body> {
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
    /// a new view by its presence; one replaced or created again under its name also by
    /// its query ([`Object::ViewDef`]), except with a column list or `CHECK OPTION`, which
    /// `pg_get_viewdef` prints elsewhere, or for a materialized view.
    pub(super) fn create_view(&mut self, p: &mut P, replace: bool, materialized: bool) -> Res<Body> {
        let guard = materialized && p.eat_seq(&["if", "not", "exists"]);
        let (schema, name) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        if !p.t[p.i..].iter().any(|t| t.is_word("as")) {
            return Err("a view without AS".into());
        }
        let object = Object::View { schema: schema.clone(), name: name.clone(), materialized };
        let again = self.dropped.contains(&object) || self.cascaded;
        if !replace && !again {
            return Ok(one(create(object, Vec::new(), guard)));
        }
        // The same name before and after: its query is compared where the server's print
        // of it can be told the same as the file's or another one (`definition::view_compare`).
        let unchecked = "its query is compared with the file's where the two can be told the same or apart";
        let set =
            |object: Object| Change::new(Op::Set { object, presence: Presence::Present, once: false }, Vec::new());
        let mut changes = vec![set(object)];
        if let Some(query) = view_query(&p.t[p.i..]).filter(|_| !materialized) {
            let (def, mut names) = (definition::view_query(query), definition::view_names(query));
            // The server prints `*` as the columns it stood for when the view was made:
            // the columns this file added to a table the `*` covers are in the query it
            // makes, and missing from one made before them.
            for (s, t) in star_tables(query, &self.schema) {
                for (_, _, column) in self.added.iter().filter(|(a, b, _)| *a == s && *b == t) {
                    if !names.contains(column) {
                        names.push(column.clone());
                    }
                }
            }
            changes.push(set(Object::ViewDef { schema, name, materialized, def, names }));
        }
        let what = if replace {
            "CREATE OR REPLACE VIEW"
        } else {
            // It was there before the drop (perhaps with another query), and a DROP ... CASCADE
            // may have removed it without the file saying so.
            "a view created again after the file dropped it or dropped with CASCADE"
        };
        Ok(Body::Replace(format!("{what}: {unchecked}"), changes))
    }

    /// `CREATE [OR REPLACE] FUNCTION name (args) RETURNS type LANGUAGE l AS 'body' ...`:
    /// the function with these argument types and this definition (see
    /// [`FunctionDef`]). A replaced function is compared on every attribute the file
    /// states and on its argument defaults; one with an attribute the analyser does not
    /// read only by its presence with these argument types (absent, the statement has
    /// not run; present, it may have been there before). A created one did not exist
    /// before with these arguments, so its body is enough.
    pub(super) fn create_function(&mut self, p: &mut P, replace: bool) -> Res<Body> {
        let (schema, name) = p.qname()?;
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        let group = p.group()?;
        let read = function_args(group, &self.schema, true);
        let fallback = |why: &str| {
            if !replace {
                return Err(format!("CREATE FUNCTION {why}: not checked"));
            }
            let Ok(args) = &read else {
                return Ok(Body::Replace(format!("CREATE OR REPLACE FUNCTION {why}: not checked"), Vec::new()));
            };
            let object =
                Object::Function { schema: schema.clone(), name: name.clone(), args: Some(args.clone()), def: None };
            let set = Op::Set { object, presence: Presence::Present, once: false };
            Ok(Body::Replace(
                format!(
                    "CREATE OR REPLACE FUNCTION {why}: only that a function of this name and argument types exists \
                     is checked"
                ),
                vec![Change::new(set, Vec::new())],
            ))
        };
        let args = match &read {
            Ok(a) => a.clone(),
            Err(why) => return fallback(why),
        };
        let mut c = Clauses { def: FunctionDef::default(), body: None, returns: false };
        while !p.at_end() {
            if let Err(why) = self.function_clause(p, &mut c, replace)? {
                return fallback(&why);
            }
        }
        let Clauses { mut def, body, returns } = c;
        let Some(body) = body else {
            return fallback("with a body in SQL-standard form");
        };
        if !returns || def.language.is_empty() {
            return fallback("without RETURNS or LANGUAGE");
        }
        def.body = body;
        // A replace keeps no default the file leaves out (the server refuses to remove
        // one) and sets those it gives, so the live function's must be the file's.
        def.defaults = replace.then(|| function_defaults(group));
        let with_defaults = def.defaults.as_ref().is_some_and(|d| d.iter().any(Option::is_some));
        let object =
            Object::Function { schema: schema.clone(), name: name.clone(), args: Some(args.clone()), def: Some(def) };
        if replace || self.cascaded {
            // After a DROP ... CASCADE, a function taking a dropped view's row type may
            // have gone with it: created again, it may have been there before, like a
            // replaced one.
            let set = Change::new(Op::Set { object, presence: Presence::Present, once: false }, Vec::new());
            if with_defaults {
                // The server prints defaults its own way: one that reads otherwise is not
                // counted (as a view's query), so the statement stays listed as not
                // checked in full.
                return Ok(Body::Replace(
                    "CREATE OR REPLACE FUNCTION with argument defaults: its body and attributes are compared, and its \
                     defaults where they can be told the same or apart"
                        .into(),
                    vec![set],
                ));
            }
            return Ok(one(set));
        }
        // It fails when a function with these arguments exists, whatever its body.
        let signature = Object::Function { schema, name, args: Some(args), def: None };
        Ok(one(create(signature, vec![(object, Presence::Present)], false)))
    }

    /// Reads one clause of `CREATE FUNCTION` into `c`: `Ok(Err(why))` when it is one
    /// the analyser cannot compare (the function is then not checked).
    fn function_clause(&self, p: &mut P, c: &mut Clauses, replace: bool) -> Res<Result<(), String>> {
        let def = &mut c.def;
        if p.eat("returns") {
            if p.eat_seq(&["null", "on", "null", "input"]) {
                def.strict = true;
                return Ok(Ok(()));
            }
            c.returns = true;
            if p.is("table") {
                if replace {
                    return Ok(Err("returning TABLE".into()));
                }
                p.bump();
                p.group()?;
                return Ok(Ok(()));
            }
            def.setof = p.eat("setof");
            match type_name(p, &self.schema) {
                Ok(t) => def.returns = Some(t),
                Err(why) => return Ok(Err(why)),
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
            c.body = match p.peek().map(|t| &t.tok) {
                Some(Tok::Str(b) | Tok::Dollar { body: b, .. }) => Some(b.clone()),
                _ => return Ok(Err("with a body the analyser cannot read".into())),
            };
            p.bump();
            if p.is_punct(',') {
                return Ok(Err("with an object file".into()));
            }
        } else {
            return function_attribute(p, def, replace);
        }
        Ok(Ok(()))
    }
}

/// What `CREATE FUNCTION`'s clauses say, as they are read.
struct Clauses {
    def: FunctionDef,
    /// The body (`AS '...'`), `None` until read.
    body: Option<String>,
    /// A `RETURNS` clause was read.
    returns: bool,
}

/// Reads one attribute of `CREATE FUNCTION` (volatility, `STRICT`, `COST`, `ROWS`,
/// `PARALLEL`, `LEAKPROOF`, `SECURITY`) into `def`; another is stepped over for a new
/// function, and not compared (`Ok(Err(why))`) for a replaced one.
fn function_attribute(p: &mut P, def: &mut FunctionDef, replace: bool) -> Res<Result<(), String>> {
    if p.eat("immutable") {
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
            _ => return Ok(Err("with COST or ROWS that is not a plain number".into())),
        };
        p.bump();
        *(if rows { &mut def.rows } else { &mut def.cost }) = Some(n);
    } else if p.eat("parallel") {
        def.parallel = match p.word().as_deref() {
            Some("unsafe") => 'u',
            Some("restricted") => 'r',
            Some("safe") => 's',
            _ => return Ok(Err("with a PARALLEL the analyser cannot read".into())),
        };
        p.bump();
    } else if p.eat("leakproof") {
        def.leakproof = true;
    } else if p.eat_seq(&["not", "leakproof"]) {
        def.leakproof = false;
    } else if p.eat_seq(&["called", "on", "null", "input"]) {
        def.strict = false;
    } else if p.eat("security") || p.eat_seq(&["external", "security"]) {
        def.security_definer = p.eat("definer");
        if !def.security_definer {
            p.expect("invoker")?;
        }
    } else if replace {
        return Ok(Err("with an attribute the analyser does not compare".into()));
    } else {
        // COST, ROWS, PARALLEL, SET...: not compared; the body is enough for a new function.
        p.bump();
        while !p.at_end() && !FUNCTION_CLAUSES.iter().any(|k| p.is(k)) {
            p.bump();
        }
    }
    Ok(Ok(()))
}

impl Cx<'_> {
    /// `DROP FUNCTION [IF EXISTS] name [(args)] [, ...] [CASCADE|RESTRICT]`: without
    /// arguments, the only function of that name.
    pub(super) fn drop_function(&mut self, p: &mut P) -> Res<Body> {
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
}

/// Words that start a clause of `CREATE FUNCTION` (to step over one not compared).
pub(super) const FUNCTION_CLAUSES: [&str; 16] = [
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
pub(super) fn function_args(group: &[Token], schema: &str, defaults: bool) -> Res<Vec<TypeName>> {
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

/// Each argument's default in a function's argument list, in declaration order (`OUT`
/// ones included, as `pg_get_function_arg_default` numbers them), in the spelling of
/// `definition::expression`; `None` for an argument without one.
fn function_defaults(group: &[Token]) -> Vec<Option<String>> {
    split_commas(group)
        .into_iter()
        .map(|arg| {
            let at = arg.iter().position(|t| t.is_word("default") || t.is_punct('='))?;
            Some(definition::expression_tokens(&arg[at + 1..]))
        })
        .collect()
}

/// The query of `CREATE VIEW name [(columns)] [WITH (options)] AS query` (`toks` from
/// after the name): `None` with a column list or `WITH ... CHECK OPTION`, which the
/// server prints in other places.
fn view_query(toks: &[Token]) -> Option<&[Token]> {
    if toks.first()?.is_punct('(') {
        return None;
    }
    let mut depth = 0i32;
    let mut at = None;
    for (i, t) in toks.iter().enumerate() {
        if t.is_punct('(') {
            depth += 1;
        } else if t.is_punct(')') {
            depth -= 1;
        } else if depth == 0 && t.is_word("as") {
            at = Some(i);
            break;
        }
    }
    let query = &toks[at? + 1..];
    let n = query.len();
    if n >= 2 && query[n - 2].is_word("check") && query[n - 1].is_word("option") {
        return None;
    }
    (!query.is_empty()).then_some(query)
}

/// Words that end a `FROM` clause at its level.
const FROM_ENDS: [&str; 9] = ["where", "group", "having", "window", "order", "limit", "offset", "fetch", "for"];

/// Words that may follow a table in a `FROM` clause without being its alias.
const NOT_ALIASES: [&str; 11] =
    ["on", "using", "natural", "join", "inner", "left", "right", "full", "cross", "tablesample", "lateral"];

/// The tables `(schema, name)` whose every column a view's query lists through `*` (a
/// `*` or `t.*` in its select list, with `t` named in its `FROM`). Only where that is
/// certain: a query of one `SELECT` (not `WITH`, whose names may stand for other things,
/// nor `UNION` and the like, nor `DISTINCT`), and tables named directly in its `FROM`
/// (not in a subquery or a parenthesised join, nor with a column alias list that
/// renames their columns). Anything else gives fewer tables, which only leaves a query
/// less sure.
pub(super) fn star_tables(query: &[Token], schema: &str) -> Vec<(String, String)> {
    if !query.first().is_some_and(|t| t.is_word("select")) || query.get(1).is_some_and(|t| t.is_word("distinct")) {
        return Vec::new();
    }
    // Whether each token is outside parentheses and brackets.
    let mut depth = 0i32;
    let top: Vec<bool> = query
        .iter()
        .map(|t| {
            if t.is_punct(')') || t.is_punct(']') {
                depth -= 1;
            }
            let at_top = depth == 0;
            if t.is_punct('(') || t.is_punct('[') {
                depth += 1;
            }
            at_top
        })
        .collect();
    let top_word = |i: usize, words: &[&str]| top[i] && words.iter().any(|w| query[i].is_word(w));
    if (0..query.len()).any(|i| top_word(i, &["union", "intersect", "except"])) {
        return Vec::new();
    }
    let Some(from) = (1..query.len()).find(|&i| top_word(i, &["from"])) else {
        return Vec::new();
    };
    let end = (from + 1..query.len())
        .find(|&i| (top[i] && query[i].is_punct(';')) || top_word(i, &FROM_ENDS))
        .unwrap_or(query.len());
    // Each table named in the FROM clause: schema, name, and the name its columns go by.
    let mut tables: Vec<(String, String, String)> = Vec::new();
    for i in from + 1..end {
        let first = i == from + 1 || (top[i - 1] && (query[i - 1].is_punct(',') || query[i - 1].is_word("join")));
        if !first {
            continue;
        }
        let mut p = P { t: &query[i..end], i: 0 };
        while p.eat("only") || p.eat("lateral") {}
        let Ok((s, t)) = p.qname() else {
            continue;
        };
        // A function call, or a name with a database part.
        if p.is_punct('(') || p.is_punct('.') {
            continue;
        }
        let aliased = p.eat("as")
            || p.peek().is_some_and(|x| matches!(x.tok, Tok::Quoted(_)))
            || p.word().is_some_and(|w| !NOT_ALIASES.contains(&w.as_str()) && !FROM_ENDS.contains(&w.as_str()));
        let alias = if aliased { p.name().ok() } else { Some(t.clone()) };
        // `t AS x (a, b)` renames the columns it lists.
        if let Some(alias) = alias.filter(|_| !p.is_punct('(')) {
            tables.push((s.unwrap_or_else(|| schema.to_string()), t, alias));
        }
    }
    let start = if query.get(1).is_some_and(|t| t.is_word("all")) { 2 } else { 1 };
    let mut out: Vec<(String, String)> = Vec::new();
    for item in split_commas(&query[start..from]) {
        let covered: Vec<&(String, String, String)> = match item {
            [t] if t.is_punct('*') => tables.iter().collect(),
            [.., q, dot, star] if dot.is_punct('.') && star.is_punct('*') => {
                let qualifier = match &q.tok {
                    Tok::Word(w) => fold(w),
                    Tok::Quoted(x) => truncate(x.clone()),
                    _ => continue,
                };
                tables.iter().filter(|(_, _, alias)| *alias == qualifier).collect()
            }
            _ => continue,
        };
        for (s, t, _) in covered {
            if !out.iter().any(|(a, b)| a == s && b == t) {
                out.push((s.clone(), t.clone()));
            }
        }
    }
    out
}
