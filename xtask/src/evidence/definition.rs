//! Definitions in one comparable spelling, so that what a migration writes
//! (`DEFAULT 'EVERYONE'`, `FOREIGN KEY ("a") REFERENCES "T"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
//! `CREATE UNIQUE INDEX "i" ON "T"("a")`) and what the server prints back
//! (`pg_get_expr`: `'EVERYONE'::"Visibility"`; `pg_get_constraintdef`:
//! `FOREIGN KEY (a) REFERENCES "T"(id) ON UPDATE CASCADE ON DELETE CASCADE`;
//! `pg_get_indexdef`: `CREATE UNIQUE INDEX i ON public."T" USING btree (a)`) compare equal.
//!
//! The rules drop what the server adds or reorders and nothing that changes meaning
//! in the forms migrations use: identifier quotes (a quoted name keeps its case, an
//! unquoted one folds), schema qualifiers, `::type` casts, parentheses, `ASC`, the
//! default index method, `NO ACTION` and `MATCH SIMPLE`, the order of `ON UPDATE` and
//! `ON DELETE`; a string that holds a number is that number (`'-1'::integer` is `-1`).
//! Two definitions that differ only in those come out the same; a difference that
//! survives makes a definition count as "another one", which can only make a verdict
//! less sure of itself (see the module docs of `evidence`).

use super::lexer::{self, Tok, Token};

/// A default or other expression.
pub(crate) fn expression(sql: &str) -> String {
    canonical(&lexer::tokenize(sql)).join(" ")
}

/// Tokens of an expression from a migration (already tokenized).
pub(crate) fn expression_tokens(toks: &[Token]) -> String {
    canonical(toks).join(" ")
}

/// A table constraint as `pg_get_constraintdef` prints it (from `PRIMARY KEY`, `UNIQUE`,
/// `FOREIGN KEY`, `CHECK`, `EXCLUDE` on).
pub(crate) fn constraint(sql: &str) -> String {
    constraint_tokens(&lexer::tokenize(sql))
}

pub(crate) fn constraint_tokens(toks: &[Token]) -> String {
    let words = canonical(toks);
    // Referential actions in a fixed order, the defaults left out.
    let mut out = Vec::new();
    let mut actions = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let next = words.get(i + 1).map(String::as_str);
        if w == "on" && matches!(next, Some("delete" | "update")) {
            let mut action = vec![words[i + 1].clone()];
            let mut j = i + 2;
            match words.get(j).map(String::as_str) {
                Some("no" | "set") => {
                    action.extend(words.get(j..j + 2).unwrap_or(&[]).iter().cloned());
                    j += 2;
                }
                Some(_) => {
                    action.push(words[j].clone());
                    j += 1;
                }
                None => {}
            }
            if action.get(1).map(String::as_str) != Some("no") {
                actions.push(action.join(" "));
            }
            i = j;
            continue;
        }
        if w == "match" && next == Some("simple") {
            i += 2;
            continue;
        }
        // The defaults the server does not print.
        if (w == "not" && next == Some("deferrable")) || (w == "initially" && next == Some("immediate")) {
            i += 2;
            continue;
        }
        out.push(words[i].clone());
        i += 1;
    }
    actions.sort();
    out.extend(actions);
    out.join(" ")
}

/// An index from its `CREATE INDEX` statement: unique or not, the method, and what
/// follows the table name (columns, `INCLUDE`, `WHERE`...). Its own name, its table
/// and `CONCURRENTLY` / `IF NOT EXISTS` do not count. `None` when the text is not a
/// `CREATE INDEX` this can read.
pub(crate) fn index(sql: &str) -> Option<String> {
    index_tokens(&lexer::tokenize(sql))
}

pub(crate) fn index_tokens(toks: &[Token]) -> Option<String> {
    let on = toks.iter().position(|t| t.is_word("on"))?;
    let unique = toks[..on].iter().any(|t| t.is_word("unique"));
    let mut i = on + 1;
    if toks.get(i).is_some_and(|t| t.is_word("only")) {
        i += 1;
    }
    // The table name, qualified or not.
    i += 1;
    while toks.get(i).is_some_and(|t| t.is_punct('.')) {
        i += 2;
    }
    let mut method = "btree".to_string();
    if toks.get(i).is_some_and(|t| t.is_word("using")) {
        method = match &toks.get(i + 1)?.tok {
            Tok::Word(w) => w.to_ascii_lowercase(),
            Tok::Quoted(q) => q.clone(),
            _ => return None,
        };
        i += 2;
    }
    let rest: Vec<String> = canonical(toks.get(i..)?).into_iter().filter(|w| w != "asc").collect();
    Some(format!("{}using {method} {}", if unique { "unique " } else { "" }, rest.join(" ")))
}

/// How a view's query as the server prints it compares with the file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ViewMatch {
    /// The same query, in the spelling of [`view_query`].
    Same,
    /// Certainly another query: one of them references a name the other does not.
    Other,
    /// The spellings differ, but not in a way that shows another query.
    Unsure,
}

/// A view's query (what follows `AS` in `CREATE VIEW`, or `pg_get_viewdef`) in one
/// comparable spelling: the words of [`canonical`] without what the server adds or
/// drops in printing a view: table qualifiers of columns, the alias it gives an
/// output column after its own name (`count(*) AS count`, `lower(x) AS lower`,
/// `AS "?column?"`), `AS` before a table alias, `INNER` and `OUTER` in joins, `ASC`,
/// and the closing semicolon.
pub(crate) fn view_query(toks: &[Token]) -> String {
    let kept = without_implied_aliases(&without_cast_calls(toks));
    let words = canonical(&kept);
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).map(String::as_str);
        let skip = match w.as_str() {
            "inner" => next == Some("join"),
            "outer" => matches!(out.last().map(String::as_str), Some("left" | "right" | "full")),
            "asc" | "as" => true,
            ";" => next.is_none(),
            _ => false,
        };
        if !skip {
            out.push(w.clone());
        }
    }
    out.join(" ")
}

/// `toks` with `CAST(x AS type)` as `(x)`: the server prints it `(x)::type`, and casts
/// do not count (see [`canonical`]).
fn without_cast_calls(toks: &[Token]) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(toks.len());
    // The depth of each CAST( still open, and of the one whose `AS type` is being skipped.
    let mut open: Vec<i32> = Vec::new();
    let mut skip_at: Option<i32> = None;
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        let after_cast = i > 0 && toks[i - 1].is_word("cast");
        if t.is_word("cast") && toks.get(i + 1).is_some_and(|n| n.is_punct('(')) && skip_at.is_none() {
            continue;
        }
        if t.is_punct('(') {
            depth += 1;
            if after_cast && skip_at.is_none() {
                open.push(depth);
            }
        } else if t.is_punct(')') {
            if open.last() == Some(&depth) {
                open.pop();
                if skip_at == Some(depth) {
                    skip_at = None;
                }
                depth -= 1;
                out.push(t.clone());
                continue;
            }
            depth -= 1;
        } else if skip_at.is_none() && t.is_word("as") && open.last() == Some(&depth) {
            skip_at = Some(depth);
            continue;
        }
        if skip_at.is_none() {
            out.push(t.clone());
        }
    }
    out
}

/// `toks` without each `AS name` whose name is the one the server would give the
/// output column anyway: the column's or the function's own name (the first word of
/// the item, qualifiers aside), or `"?column?"`.
fn without_implied_aliases(toks: &[Token]) -> Vec<Token> {
    let ident = |t: &Token| match &t.tok {
        Tok::Word(w) => Some(w.to_ascii_lowercase()),
        Tok::Quoted(q) => Some(q.clone()),
        _ => None,
    };
    let mut out: Vec<Token> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        if toks[i].is_word("as") {
            if let Some(alias) = toks.get(i + 1).and_then(ident) {
                // The start of this item: after the last `,`, `SELECT` or `DISTINCT` at this depth.
                let mut depth = 0i32;
                let mut start = None;
                for (k, t) in out.iter().enumerate().rev() {
                    if t.is_punct(')') {
                        depth += 1;
                    } else if t.is_punct('(') {
                        if depth == 0 {
                            start = Some(k + 1);
                            break;
                        }
                        depth -= 1;
                    } else if depth == 0 && (t.is_punct(',') || t.is_word("select") || t.is_word("distinct")) {
                        start = Some(k + 1);
                        break;
                    }
                }
                // Its first name, parentheses and qualifiers aside (`(u.id)::text` is `id`).
                let mut k = start.unwrap_or(0);
                while out.get(k).is_some_and(|t| t.is_punct('(')) {
                    k += 1;
                }
                while out.get(k + 1).is_some_and(|t| t.is_punct('.')) && out.get(k + 2).and_then(ident).is_some() {
                    k += 2;
                }
                let own = out.get(k).and_then(ident);
                if alias == "?column?" || own.as_deref() == Some(alias.as_str()) {
                    i += 2;
                    continue;
                }
            }
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

/// The names a view's query certainly references: its quoted identifiers and the
/// names after a qualifier (`u.score` is `score`), apart from type names in casts.
pub(crate) fn view_names(toks: &[Token]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let name = match &t.tok {
            // The name the server gives an output column without one.
            Tok::Quoted(q) if q == "?column?" => continue,
            Tok::Quoted(q) => q.clone(),
            Tok::Word(w) if i > 0 && toks[i - 1].is_punct('.') => w.to_ascii_lowercase(),
            _ => continue,
        };
        // `::"Role"`, `::public."Role"`: a type the server may add or drop.
        let cast = (i > 0 && matches!(toks[i - 1].tok, Tok::Cast))
            || (i > 2 && toks[i - 1].is_punct('.') && matches!(toks[i - 3].tok, Tok::Cast));
        if !cast && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Compares the view query the server printed (`pg_get_viewdef`) with the file's,
/// given as [`view_query`] (`def`) and [`view_names`] (`names`) of it. Another query
/// only when one side references a name the other does not: a name of the file's
/// query missing from the printed one, or a column the printed query names after a
/// qualifier that the file's query never mentions (not checked when the file's query
/// has `*`, which the server prints as the list of columns).
pub(crate) fn view_compare(def: &str, names: &[String], printed: &str) -> ViewMatch {
    let toks = lexer::tokenize(printed);
    if toks.iter().any(|t| matches!(t.tok, Tok::Bad(_) | Tok::Opaque)) {
        return ViewMatch::Unsure;
    }
    if view_query(&toks) == def {
        return ViewMatch::Same;
    }
    let printed_words: Vec<String> = toks
        .iter()
        .filter_map(|t| match &t.tok {
            Tok::Word(w) => Some(w.to_ascii_lowercase()),
            Tok::Quoted(q) => Some(q.clone()),
            _ => None,
        })
        .collect();
    if names.iter().any(|n| !printed_words.contains(n)) {
        return ViewMatch::Other;
    }
    let file_words: Vec<&str> = def.split(' ').collect();
    let star = file_words.contains(&"*");
    let mentioned = |n: &String| file_words.contains(&n.as_str()) || (n.contains(' ') && def.contains(n.as_str()));
    if !star && view_names(&toks).iter().any(|n| !mentioned(n)) {
        return ViewMatch::Other;
    }
    ViewMatch::Unsure
}

/// Words that continue a type name after a cast (`::timestamp without time zone`).
const TYPE_WORDS: &[&str] = &["with", "without", "time", "zone", "varying", "precision"];

/// The comparable words of `toks`; see the module docs.
fn canonical(toks: &[Token]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    let ident = |t: &Token| match &t.tok {
        Tok::Word(w) => Some(w.to_ascii_lowercase()),
        Tok::Quoted(q) => Some(q.clone()),
        _ => None,
    };
    while i < toks.len() {
        let t = &toks[i];
        match &t.tok {
            Tok::Cast => {
                // Skip the type: a (qualified) name, more type words, modifiers, array brackets.
                i += 1;
                if toks.get(i).and_then(ident).is_some() {
                    i += 1;
                }
                loop {
                    match toks.get(i) {
                        Some(x) if x.is_punct('.') && toks.get(i + 1).and_then(ident).is_some() => i += 2,
                        Some(x) if TYPE_WORDS.iter().any(|w| x.is_word(w)) => i += 1,
                        Some(x) if x.is_punct('(') => {
                            // Modifiers: skip to the matching parenthesis.
                            let mut depth = 0;
                            while let Some(y) = toks.get(i) {
                                if y.is_punct('(') {
                                    depth += 1;
                                } else if y.is_punct(')') {
                                    depth -= 1;
                                }
                                i += 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                        }
                        Some(x) if x.is_punct('[') && toks.get(i + 1).is_some_and(|y| y.is_punct(']')) => i += 2,
                        _ => break,
                    }
                }
                continue;
            }
            Tok::Punct('(' | ')') => {}
            Tok::Word(_) | Tok::Quoted(_)
                if toks.get(i + 1).is_some_and(|x| x.is_punct('.')) && toks.get(i + 2).and_then(ident).is_some() =>
            {
                // A schema (or table) qualifier: the last part names the thing.
                i += 2;
                continue;
            }
            Tok::Word(_) | Tok::Quoted(_) => out.push(ident(t).unwrap_or_default()),
            // A relation named in a string (`nextval('"T_id_seq"')`, `'x'::regclass`): the
            // server prints it with a schema when the schema is not on its search path.
            Tok::Str(s) if names_relation(toks, i) => out.push(format!("'{}'", relation_name(s).replace('\'', "''"))),
            Tok::Str(s) => out.push(match number(s) {
                Some(n) => n,
                None => format!("'{}'", s.replace('\'', "''")),
            }),
            Tok::Number(n) => {
                let n = number(n).unwrap_or_else(|| n.clone());
                // A unary minus belongs to the number.
                if out.last().is_some_and(|l| l == "-")
                    && (out.len() == 1 || matches!(out[out.len() - 2].as_str(), "," | "default" | "="))
                {
                    out.pop();
                    out.push(format!("-{n}"));
                } else {
                    out.push(n);
                }
            }
            Tok::Dollar { body, .. } => out.push(format!("'{}'", body.replace('\'', "''"))),
            Tok::Punct(c) => out.push(c.to_string()),
            Tok::Param => out.push("$".into()),
            Tok::Opaque | Tok::Bad(_) => out.push(format!("\u{0}{}", t.start)),
        }
        i += 1;
    }
    operators(in_lists(out))
}

/// The server's spelling of operators people write otherwise: `!=` is `<>`, `LIKE` is
/// `~~` (`ILIKE` `~~*`, with `NOT` `!~~`), and `x BETWEEN a AND b` is `x >= a AND x <= b`
/// (`NOT BETWEEN`: `x < a OR x > b`) where `x`, `a` and `b` are single words.
fn operators(words: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    let w = |k: usize| words.get(k).map(String::as_str).unwrap_or("");
    let single = |x: &str| !x.is_empty() && !matches!(x, "(" | ")" | "," | "and" | "or" | "not");
    while i < words.len() {
        let not = w(i) == "not" && matches!(w(i + 1), "like" | "ilike" | "between");
        let at = if not { i + 1 } else { i };
        match w(at) {
            "!=" => out.extend(["<", ">"].map(String::from)),
            "!" if w(i + 1) == "=" => {
                out.extend(["<", ">"].map(String::from));
                i += 1;
            }
            "like" | "ilike" => {
                if not {
                    out.push("!".into());
                }
                out.extend(["~", "~"].map(String::from));
                if w(at) == "ilike" {
                    out.push("*".into());
                }
                i = at;
            }
            "between"
                if out.last().is_some_and(|x| single(x))
                    && single(w(at + 1))
                    && w(at + 2) == "and"
                    && single(w(at + 3)) =>
            {
                let x = out.last().cloned().unwrap_or_default();
                let (lo, hi) = (w(at + 1).to_string(), w(at + 3).to_string());
                let (join, a, b) = if not { ("or", ["<"], [">"]) } else { ("and", [">"], ["<"]) };
                let mut words_to = Vec::new();
                words_to.extend(a.map(String::from));
                if !not {
                    words_to.push("=".into());
                }
                words_to.push(lo);
                words_to.push(join.into());
                words_to.push(x);
                words_to.extend(b.map(String::from));
                if !not {
                    words_to.push("=".into());
                }
                words_to.push(hi);
                out.extend(words_to);
                i = at + 3;
            }
            _ => out.push(w(i).to_string()),
        }
        i += 1;
    }
    out
}

/// Whether the string at `i` names a relation: the first argument of `nextval`,
/// `currval` or `setval`, or cast to `regclass`.
fn names_relation(toks: &[Token], i: usize) -> bool {
    let call =
        i >= 2 && toks[i - 1].is_punct('(') && ["nextval", "currval", "setval"].iter().any(|f| toks[i - 2].is_word(f));
    let cast = toks.get(i + 1).is_some_and(|t| matches!(t.tok, Tok::Cast))
        && toks.get(i + 2).is_some_and(|t| t.is_word("regclass"));
    call || cast
}

/// A relation name written in a string, as the server resolves it: the part after a
/// schema qualifier, unquoted (`public."T_seq"` is `T_seq`) or folded (`T_SEQ` is `t_seq`).
fn relation_name(s: &str) -> String {
    let toks = lexer::tokenize(s);
    match toks.last().map(|t| &t.tok) {
        Some(Tok::Quoted(q)) => q.clone(),
        Some(Tok::Word(w)) => w.to_ascii_lowercase(),
        _ => s.to_string(),
    }
}

/// `x = ANY (ARRAY['a', 'b'])`, as the server prints `x IN ('a', 'b')`, back to `x in 'a' , 'b'`
/// (parentheses are gone by now).
fn in_lists(words: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut open = 0usize;
    let mut depth = 0usize;
    let mut i = 0;
    while i < words.len() {
        let at = |k: usize, w: &str| words.get(i + k).is_some_and(|x| x == w);
        if at(0, "=") && at(1, "any") && at(2, "array") && at(3, "[") {
            out.push("in".to_string());
            depth += 1;
            open = depth;
            i += 4;
            continue;
        }
        // `x <> ALL (ARRAY['a', 'b'])`, as the server prints `x NOT IN ('a', 'b')`.
        if at(0, "<") && at(1, ">") && at(2, "all") && at(3, "array") && at(4, "[") {
            out.extend(["not".to_string(), "in".to_string()]);
            depth += 1;
            open = depth;
            i += 5;
            continue;
        }
        match words[i].as_str() {
            "[" => depth += 1,
            "]" => {
                let closes = open == depth && open > 0;
                depth = depth.saturating_sub(1);
                if closes {
                    open = 0;
                    i += 1;
                    continue;
                }
            }
            _ => {}
        }
        out.push(words[i].clone());
        i += 1;
    }
    out
}

/// A decimal number in one spelling (`+1` and `1`, `-0.50` stays `-0.50`), or `None`.
fn number(s: &str) -> Option<String> {
    let s = s.trim();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", s.strip_prefix('+').unwrap_or(s)),
    };
    let ok = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit());
    ok.then(|| format!("{sign}{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_compare_as_the_server_prints_them() {
        assert_eq!(expression("'EVERYONE'"), expression("'EVERYONE'::\"DocumentVisibility\""));
        assert_eq!(expression("'EVERYONE'"), expression("'EVERYONE'::public.\"DocumentVisibility\""));
        assert_eq!(expression("-1"), expression("'-1'::integer"));
        assert_eq!(expression("CURRENT_TIMESTAMP"), expression("CURRENT_TIMESTAMP"));
        assert_eq!(expression("now()"), expression("NOW()"));
        assert_eq!(expression("ARRAY[]::TEXT[]"), expression("ARRAY[]::text[]"));
        assert_eq!(expression("'{}'"), expression("'{}'::jsonb"));
        assert_eq!(expression("'x'"), expression("'x'::character varying"));
        assert_eq!(expression("'2020-01-01'::timestamp(3) without time zone"), expression("'2020-01-01'"));
        assert_ne!(expression("true"), expression("false"));
        assert_ne!(expression("'a'"), expression("'b'::text"));
        assert_eq!(expression("n BETWEEN 1 AND 5"), expression("((n >= 1) AND (n <= 5))"));
        assert_eq!(expression("n NOT BETWEEN 1 AND 5"), expression("((n < 1) OR (n > 5))"));
        assert_ne!(expression("n BETWEEN 1 AND 5"), expression("((n >= 1) AND (n <= 6))"));
        assert_eq!(expression("s NOT IN ('a', 'b')"), expression("(s <> ALL (ARRAY['a'::text, 'b'::text]))"));
        assert_eq!(expression("s LIKE 'x%'"), expression("(s ~~ 'x%'::text)"));
        assert_eq!(expression("s NOT ILIKE 'x%'"), expression("(s !~~* 'x%'::text)"));
        assert_eq!(expression("s != ''"), expression("(s <> ''::text)"));
        assert_ne!(expression("s LIKE 'x%'"), expression("(s ~~* 'x%'::text)"));
        assert_eq!(expression(r#"nextval('"T_n_seq"')"#), expression(r#"nextval('"T_n_seq"'::regclass)"#));
        assert_eq!(expression(r#"nextval('"T_n_seq"')"#), expression(r#"nextval('public."T_n_seq"'::regclass)"#));
        assert_eq!(expression("nextval('t_n_seq')"), expression("nextval('T_N_SEQ'::regclass)"));
        assert_ne!(expression(r#"nextval('"T_n_seq"')"#), expression("nextval('t_n_seq'::regclass)"));
        assert_ne!(expression("1"), expression("10"));
    }

    #[test]
    fn constraints_compare_as_the_server_prints_them() {
        assert_eq!(
            constraint(r#"FOREIGN KEY ("a") REFERENCES "T"("id") ON DELETE CASCADE ON UPDATE CASCADE"#),
            constraint(r#"FOREIGN KEY (a) REFERENCES public."T"(id) ON UPDATE CASCADE ON DELETE CASCADE"#)
        );
        assert_eq!(
            constraint(r#"FOREIGN KEY ("a") REFERENCES "T"("id") ON DELETE NO ACTION ON UPDATE CASCADE"#),
            constraint(r#"FOREIGN KEY (a) REFERENCES "T"(id) ON UPDATE CASCADE"#)
        );
        assert_ne!(
            constraint(r#"FOREIGN KEY ("a") REFERENCES "T"("id") ON DELETE CASCADE ON UPDATE CASCADE"#),
            constraint(r#"FOREIGN KEY (a) REFERENCES "T"(id) ON UPDATE CASCADE ON DELETE SET NULL"#)
        );
        assert_eq!(constraint(r#"PRIMARY KEY ("id")"#), constraint("PRIMARY KEY (id)"));
        assert_ne!(constraint(r#"PRIMARY KEY ("a", "b")"#), constraint("PRIMARY KEY (a)"));
        assert_ne!(constraint(r#"PRIMARY KEY ("Id")"#), constraint("PRIMARY KEY (id)"));
        assert_eq!(
            constraint(r#"FOREIGN KEY ("a") REFERENCES "T"("id") NOT DEFERRABLE INITIALLY IMMEDIATE"#),
            constraint(r#"FOREIGN KEY (a) REFERENCES "T"(id)"#)
        );
        assert_ne!(
            constraint(r#"FOREIGN KEY ("a") REFERENCES "T"("id") DEFERRABLE INITIALLY DEFERRED"#),
            constraint(r#"FOREIGN KEY (a) REFERENCES "T"(id)"#)
        );
    }

    fn view(sql: &str) -> (String, Vec<String>) {
        let toks = lexer::tokenize(sql);
        (view_query(&toks), view_names(&toks))
    }

    fn cmp(file: &str, printed: &str) -> ViewMatch {
        let (def, names) = view(file);
        view_compare(&def, &names, printed)
    }

    #[test]
    fn view_queries_compare_as_the_server_prints_them() {
        // What PostgreSQL 15 prints (search_path = pg_catalog) for the file's query.
        let same = [
            (
                r#"SELECT "id", "email" FROM "User" WHERE "active""#,
                "SELECT \"User\".id,\n    \"User\".email\n   FROM public.\"User\"\n  WHERE \"User\".active;",
            ),
            (
                r#"SELECT u."id", count(p."id") AS "posts", 'x' AS tag, u.score + 1 FROM "User" u LEFT OUTER JOIN "Post" p ON p."authorId" = u."id" WHERE u."role" IN ('A','B') AND p.title LIKE 'a%' GROUP BY u."id" ORDER BY u."id" ASC"#,
                "SELECT u.id,\n    count(p.id) AS posts,\n    'x'::text AS tag,\n    (u.score + 1) AS \"?column?\"\n   FROM (public.\"User\" u\n     LEFT JOIN public.\"Post\" p ON ((p.\"authorId\" = u.id)))\n  WHERE ((u.role = ANY (ARRAY['A'::text, 'B'::text])) AND ((p.title)::text ~~ 'a%'::text))\n  GROUP BY u.id\n  ORDER BY u.id;",
            ),
            ("select count(*) from users", " SELECT count(*) AS count\n   FROM public.users;"),
            (
                r#"SELECT w."userId", 'own' AS "relation" FROM "W" w UNION ALL SELECT wm."userId", wm.relation::text AS "relation" FROM "M" wm WHERE wm."removedAt" IS NULL"#,
                " SELECT w.\"userId\",\n    'own'::text AS relation\n   FROM public.\"W\" w\nUNION ALL\n SELECT wm.\"userId\",\n    (wm.relation)::text AS relation\n   FROM public.\"M\" wm\n  WHERE (wm.\"removedAt\" IS NULL);",
            ),
            (
                r#"SELECT "a".x FROM "A" AS "a" INNER JOIN "B" ON "B".id = "a".x"#,
                " SELECT a.x\n   FROM (public.\"A\" a\n     JOIN public.\"B\" ON ((\"B\".id = a.x)));",
            ),
        ];
        // CAST(x AS type), printed as (x)::type.
        assert_eq!(
            view(r#"SELECT "id" FROM "P" WHERE "s" = CAST('A'::text AS "S") AND CAST("n" AS varchar(10)) <> ''"#).0,
            view(" SELECT \"P\".id\n   FROM public.\"P\"\n  WHERE ((\"P\".s = ('A'::text)::public.\"S\") AND ((\"P\".n)::character varying(10) <> ''));").0
        );
        for (file, printed) in same {
            assert_eq!(
                cmp(file, printed),
                ViewMatch::Same,
                "{file}\n{:?}\n{:?}",
                view(file).0,
                view_query(&lexer::tokenize(printed))
            );
        }
        // The old query: a column only the new one has, or one only the old one has.
        let old = " SELECT \"User\".id,\n    \"User\".email\n   FROM public.\"User\";";
        assert_eq!(cmp(r#"SELECT "id", "email", "slug" FROM "User""#, old), ViewMatch::Other);
        assert_eq!(cmp(r#"SELECT "id" FROM "User""#, old), ViewMatch::Other);
        assert_eq!(
            cmp(
                r#"SELECT id FROM "User" WHERE "role" = 'A'::"Role""#,
                " SELECT \"User\".id\n   FROM public.\"User\"\n  WHERE (\"User\".role = 'B'::public.\"Role\");"
            ),
            ViewMatch::Unsure
        );
        // Another constant only: neither the same nor certainly another query.
        let printed = " SELECT \"User\".id\n   FROM public.\"User\"\n  WHERE (\"User\".score > 1);";
        assert_eq!(cmp(r#"SELECT "id" FROM "User" WHERE "score" > 2"#, printed), ViewMatch::Unsure);
        assert_eq!(cmp(r#"SELECT "id" FROM "User" WHERE "score" > 1"#, printed), ViewMatch::Same);
        // `*` is printed as the list of columns: never "another query" for that.
        assert_eq!(cmp(r#"SELECT * FROM "User""#, old), ViewMatch::Unsure);
        // A cast the server adds to an enum type names no column.
        assert_eq!(
            cmp(
                r#"SELECT "id" FROM "User" WHERE "role" = 'A'"#,
                " SELECT \"User\".id\n   FROM public.\"User\"\n  WHERE (\"User\".role = 'A'::public.\"Role\");"
            ),
            ViewMatch::Same
        );
    }

    #[test]
    fn indexes_compare_as_the_server_prints_them() {
        assert_eq!(
            index(r#"CREATE UNIQUE INDEX "User_email_key" ON "User"("email")"#),
            index(r#"CREATE UNIQUE INDEX "User_email_key" ON public."User" USING btree (email)"#)
        );
        assert_eq!(
            index(r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "i" ON "T" USING GIN ("tags")"#),
            index(r#"CREATE INDEX i ON public."T" USING gin (tags)"#)
        );
        assert_ne!(
            index(r#"CREATE INDEX "i" ON "T"("a")"#),
            index(r#"CREATE UNIQUE INDEX i ON public."T" USING btree (a)"#)
        );
        assert_ne!(
            index(r#"CREATE INDEX "i" ON "T"("a", "b")"#),
            index(r#"CREATE INDEX i ON public."T" USING btree (a)"#)
        );
        assert_eq!(
            index(r#"CREATE INDEX "i" ON "T"("a" ASC)"#),
            index(r#"CREATE INDEX i ON public."T" USING btree (a)"#)
        );
        assert_eq!(
            index(r#"CREATE UNIQUE INDEX "i" ON "T"("a") WHERE "s" IN ('P', 'E')"#),
            index(r#"CREATE UNIQUE INDEX i ON public."T" USING btree (a) WHERE (s = ANY (ARRAY['P'::"S", 'E'::"S"]))"#)
        );
        assert_ne!(
            index(r#"CREATE UNIQUE INDEX "i" ON "T"("a") WHERE "s" IN ('P', 'E')"#),
            index(r#"CREATE UNIQUE INDEX i ON public."T" USING btree (a) WHERE (s = ANY (ARRAY['P'::"S"]))"#)
        );
    }
}
