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
