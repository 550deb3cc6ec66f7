//! Blocks: transaction control (which statements Prisma's one query runs as one
//! transaction), `DO` blocks with their exception handlers and `IF` guards, and the
//! PL/pgSQL the analyser reads inside them.

use super::parser::P;
use super::{Body, Cx, Op, Res, Stmt};
use crate::evidence::lexer;
use crate::evidence::lexer::Tok;
use crate::evidence::lexer::Token;
use crate::evidence::objects::Object;
use crate::evidence::objects::Presence;

/// Whether `src` runs as one transaction when Prisma sends it: [`units`] finds one.
#[cfg(test)]
pub(crate) fn transactional(src: &str) -> bool {
    units(src).as_deref().is_some_and(one_unit)
}

/// Whether statements of these [`units`] are all in the first (one transaction).
pub(crate) fn one_unit(units: &[usize]) -> bool {
    units.iter().all(|&n| n == 0)
}

/// The all-or-nothing units `src` runs in when sent as one query, as Prisma's schema
/// engine sends a migration: for each statement (as [`parse`] splits them), the index of
/// its unit. The server runs the statements of one query in an implicit transaction;
/// `BEGIN` turns it into an explicit one (statements before it join it) and `COMMIT`
/// (or `END`) ends it, so each `COMMIT` closes a unit and what follows the last one is
/// the last unit. Execution stops at the first error, so units commit in order: after a
/// failure, the first k units are in and the rest are not.
///
/// `None` when that does not hold or is not known: a statement that undoes part of a
/// unit (`ROLLBACK`, `SAVEPOINT`...), a `BEGIN` inside a block or never committed (what
/// happens to it depends on the client), a statement that cannot run in a transaction
/// block (`CONCURRENTLY`, `VACUUM`, `CREATE DATABASE`...: in a file of more than one
/// statement it fails and nothing runs, but such a file was not written for Prisma's
/// way of running it), or text the tokenizer cannot read.
pub(crate) fn units(src: &str) -> Option<Vec<usize>> {
    let tokens = lexer::tokenize(src);
    if tokens.iter().any(|t| matches!(t.tok, Tok::Bad(_))) {
        return None;
    }
    let statements = lexer::split_statements(&tokens);
    if statements.len() <= 1 {
        return Some(vec![0; statements.len()]);
    }
    let (mut unit, mut in_block, mut out) = (0, false, Vec::with_capacity(statements.len()));
    for s in statements {
        let first = |w: &str| s.first().is_some_and(|t| t.is_word(w));
        let undo = ["rollback", "abort", "savepoint", "release", "prepare"];
        let outside = ["vacuum", "reindex", "cluster", "checkpoint"];
        if undo.iter().chain(&outside).any(|w| first(w))
            || s.iter().any(|t| t.is_word("concurrently"))
            || ((first("create") || first("drop") || first("alter"))
                && s.get(1).is_some_and(|t| t.is_word("database") || t.is_word("tablespace") || t.is_word("system")))
        {
            return None;
        }
        out.push(unit);
        if first("begin") || first("start") {
            if in_block {
                return None;
            }
            in_block = true;
        } else if first("commit") || first("end") {
            // Outside a block, COMMIT commits the implicit transaction (with a warning).
            in_block = false;
            unit += 1;
        }
    }
    (!in_block).then_some(out)
}

impl Cx<'_> {
    /// `DO [LANGUAGE plpgsql] $$ [<<label>>] BEGIN stmt; ... [EXCEPTION WHEN c [OR c] THEN null; ...] END [label] $$`
    pub(super) fn do_block(&mut self, toks: &[Token], line: usize, text: String) -> Stmt {
        let unknown = |why: &str| Stmt { line, text: text.clone(), body: Body::Unknown(why.to_string()) };
        let mut p = P { t: toks, i: 1 };
        let mut code = None;
        while let Some(t) = p.peek() {
            match &t.tok {
                Tok::Word(w) if w.eq_ignore_ascii_case("language") => {
                    p.bump();
                    match p.name() {
                        Ok(l) if l == "plpgsql" => {}
                        _ => return unknown("a DO block in a language other than PL/pgSQL"),
                    }
                }
                Tok::Dollar { tag, .. } if code.is_none() => {
                    code = Some((t.start + tag.len() + 2, t.end - tag.len() - 2));
                    p.bump();
                }
                Tok::Str(_) => return unknown("a DO block quoted with '...' (only $$ bodies are read)"),
                _ => return unknown("not a DO block the analyser can read"),
            }
        }
        let Some((start, end)) = code else {
            return unknown("a DO block without a body");
        };
        let mut tokens = lexer::tokenize(&self.src[start..end]);
        for t in &mut tokens {
            t.start += start;
            t.end += start;
        }
        match self.plpgsql(&tokens) {
            Ok(body) => match body {
                Body::Block { statements, catches } => {
                    if let Some(bad) = statements.iter().find(|s| matches!(s.body, Body::Unknown(_))) {
                        return bad.clone();
                    }
                    Stmt { line, text, body: Body::Block { statements, catches } }
                }
                other => Stmt { line, text, body: other },
            },
            Err(why) => unknown(&why),
        }
    }

    /// `IF NOT EXISTS (SELECT ... 'name' ...) THEN CREATE/ADD name ...` (up to the
    /// semicolon): the hand-written guard of a re-runnable migration. The statement is
    /// skipped when what it creates exists, provided the condition names it; any
    /// other condition is logic the analyser does not follow.
    pub(super) fn guarded_by_if(&mut self, seg: &[Token]) -> Res<Stmt> {
        let logic = || "PL/pgSQL logic in a DO block".to_string();
        let mut p = P { t: seg, i: 0 };
        if !p.eat_seq(&["if", "not", "exists"]) {
            return Err(logic());
        }
        let condition = p.group()?;
        if !p.eat("then") || p.at_end() {
            return Err(logic());
        }
        let mut stmt = self.statement(&seg[p.i..], true);
        let Body::Changes(changes) = &mut stmt.body else {
            return match stmt.body {
                Body::Unknown(why) => Err(why),
                _ => Err(logic()),
            };
        };
        let named = |n: &str| condition.iter().any(|t| matches!(&t.tok, Tok::Str(s) if s == n));
        for c in changes.iter_mut() {
            let Op::Create { object, .. } = &c.op else {
                return Err(logic());
            };
            let name = match object {
                Object::Table { name, .. }
                | Object::Column { name, .. }
                | Object::Constraint { name, .. }
                | Object::Index { name, .. }
                | Object::Enum { name, .. }
                | Object::Sequence { name, .. }
                | Object::Trigger { name, .. }
                | Object::Schema { name }
                | Object::Extension { name } => name.clone(),
                Object::EnumValue { value, .. } => value.clone(),
                _ => return Err(logic()),
            };
            if !named(&name) {
                return Err(logic());
            }
            c.skip_if.push((object.clone(), Presence::Present));
        }
        Ok(stmt)
    }

    pub(super) fn plpgsql(&mut self, tokens: &[Token]) -> Res<Body> {
        if let Some(Token { tok: Tok::Bad(why), .. }) = tokens.iter().find(|t| matches!(t.tok, Tok::Bad(_))) {
            return Err(format!("cannot read the DO block: {why}"));
        }
        let mut p = P { t: tokens, i: 0 };
        if p.is_punct('<') {
            return Err("a labelled DO block".into());
        }
        if p.is("declare") {
            return Err("a DO block with variables".into());
        }
        p.expect("begin")?;
        let segments: Vec<&[Token]> = tokens[p.i..].split(|t| t.is_punct(';')).collect();
        let mut statements = Vec::new();
        let mut catches = Vec::new();
        let mut in_handler = false;
        let mut ended = false;
        // Inside `IF NOT EXISTS (...) THEN stmt;`, waiting for its `END IF`.
        let mut in_if = false;
        for seg in segments {
            if seg.is_empty() {
                continue;
            }
            if ended {
                return Err("text after the END of a DO block".into());
            }
            let mut s = P { t: seg, i: 0 };
            if in_if {
                if !(s.eat_seq(&["end", "if"]) && s.at_end()) {
                    return Err("PL/pgSQL logic in a DO block (an IF with more than one statement)".into());
                }
                in_if = false;
                continue;
            }
            if s.is("end") && (s.is_at(1, "if") || s.is_at(1, "loop") || s.is_at(1, "case")) {
                return Err("PL/pgSQL logic in a DO block".into());
            }
            if s.is("if") && !in_handler {
                statements.push(self.guarded_by_if(seg)?);
                in_if = true;
                continue;
            }
            if s.eat("end") {
                // An optional label may follow END.
                if s.peek().is_some() && s.name().is_err() || !s.at_end() {
                    return Err("not a DO block the analyser can read".into());
                }
                ended = true;
                continue;
            }
            if s.is("exception") || (in_handler && s.is("when")) {
                if s.eat("exception") {
                    if in_handler {
                        return Err("two EXCEPTION sections".into());
                    }
                    in_handler = true;
                }
                self.handler(&mut s, &mut catches)?;
                continue;
            }
            let stmt = self.statement(seg, true);
            if in_handler {
                if !matches!(stmt.body, Body::Ignored) {
                    return Err("an exception handler that does more than NULL or RAISE NOTICE".into());
                }
                continue;
            }
            statements.push(stmt);
        }
        if !ended {
            return Err("a DO block without END".into());
        }
        Ok(Body::Block { statements, catches })
    }

    /// One `WHEN cond [OR cond ...] THEN action` of a `DO` block's exception section:
    /// the SQLSTATEs it catches go to `catches`; its action may only do nothing
    /// (`NULL`, `RAISE NOTICE`).
    fn handler(&mut self, s: &mut P, catches: &mut Vec<String>) -> Res<()> {
        s.expect("when")?;
        loop {
            if s.eat("sqlstate") {
                catches.push(s.string()?);
            } else {
                let name = s.name()?;
                catches.push(condition_code(&name));
            }
            if !s.eat("or") {
                break;
            }
        }
        s.expect("then")?;
        if s.at_end() {
            return Ok(());
        }
        let action = self.statement(&s.t[s.i..], true);
        if !matches!(action.body, Body::Ignored) {
            return Err("an exception handler that does more than NULL or RAISE NOTICE".into());
        }
        Ok(())
    }
}

/// PL/pgSQL condition names for the errors these statements raise.
pub(super) fn condition_code(name: &str) -> String {
    match name {
        "others" => "others",
        "duplicate_object" => "42710",
        "duplicate_table" => "42P07",
        "duplicate_column" => "42701",
        "duplicate_schema" => "42P06",
        "undefined_table" => "42P01",
        "undefined_object" => "42704",
        "undefined_column" => "42703",
        "invalid_schema_name" => "3F000",
        "invalid_table_definition" => "42P16",
        "invalid_parameter_value" => "22023",
        "syntax_error_or_access_rule_violation" => "42000",
        // A condition these statements do not raise: it catches nothing we model.
        other => other,
    }
    .to_string()
}
