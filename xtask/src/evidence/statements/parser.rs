//! The token cursor the statement readers share ([`P`]), and the helpers for names
//! (folding, PostgreSQL's 63-byte cut) and for a statement's text on one line.

use super::Res;
use crate::evidence::lexer::Tok;
use crate::evidence::lexer::Token;

/// PostgreSQL cuts identifiers to 63 bytes (NAMEDATALEN - 1).
pub(super) const MAX_IDENT: usize = 63;

/// Splits a token list at commas outside parentheses and brackets.
pub(super) fn split_commas(toks: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match &t.tok {
            Tok::Punct('(' | '[') => depth += 1,
            Tok::Punct(')' | ']') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                out.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < toks.len() {
        out.push(&toks[start..]);
    }
    out
}

/// A statement's text on one line: runs of whitespace become one space, cut at 100 characters.
pub(crate) fn shorten(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    const MAX: usize = 100;
    if one_line.chars().count() <= MAX {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

/// Unquoted identifiers fold to lower case (ASCII only, as the server does for UTF-8).
pub(super) fn fold(w: &str) -> String {
    truncate(w.to_ascii_lowercase())
}

pub(super) fn truncate(s: String) -> String {
    if s.len() <= MAX_IDENT {
        s
    } else {
        cut(&s, MAX_IDENT).to_string()
    }
}

/// At most `max` bytes of `s`, on a character boundary.
pub(super) fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A cursor over one statement's tokens.
pub(super) struct P<'t> {
    pub(super) t: &'t [Token],
    pub(super) i: usize,
}

impl<'t> P<'t> {
    pub(super) fn peek(&self) -> Option<&'t Token> {
        self.t.get(self.i)
    }

    pub(super) fn bump(&mut self) {
        self.i += 1;
    }

    pub(super) fn at_end(&self) -> bool {
        self.i >= self.t.len()
    }

    /// The next token as a lower-case unquoted word.
    pub(super) fn word(&self) -> Option<String> {
        match &self.peek()?.tok {
            Tok::Word(w) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    pub(super) fn is(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is_word(kw))
    }

    pub(super) fn is_at(&self, n: usize, kw: &str) -> bool {
        self.t.get(self.i + n).is_some_and(|t| t.is_word(kw))
    }

    pub(super) fn is_punct(&self, c: char) -> bool {
        self.peek().is_some_and(|t| t.is_punct(c))
    }

    pub(super) fn is_punct_at(&self, n: usize, c: char) -> bool {
        self.t.get(self.i + n).is_some_and(|t| t.is_punct(c))
    }

    pub(super) fn eat(&mut self, kw: &str) -> bool {
        let yes = self.is(kw);
        if yes {
            self.bump();
        }
        yes
    }

    /// Eats all of `kws` in order, or nothing.
    pub(super) fn eat_seq(&mut self, kws: &[&str]) -> bool {
        let yes = kws.iter().enumerate().all(|(n, k)| self.is_at(n, k));
        if yes {
            self.i += kws.len();
        }
        yes
    }

    pub(super) fn eat_punct(&mut self, c: char) -> bool {
        let yes = self.is_punct(c);
        if yes {
            self.bump();
        }
        yes
    }

    pub(super) fn expect(&mut self, kw: &str) -> Res<()> {
        if self.eat(kw) {
            Ok(())
        } else {
            Err(format!("expected {} here", kw.to_uppercase()))
        }
    }

    pub(super) fn expect_end(&self) -> Res<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err("more than the analyser can read in this statement".into())
        }
    }

    /// An identifier: an unquoted word (folded) or a quoted name (exact).
    pub(super) fn name(&mut self) -> Res<String> {
        let t = self.peek().ok_or("a name is missing")?;
        let n = match &t.tok {
            Tok::Word(w) => fold(w),
            Tok::Quoted(q) => truncate(q.clone()),
            _ => return Err("expected a name here".into()),
        };
        self.bump();
        Ok(n)
    }

    /// `name` or `schema.name`.
    pub(super) fn qname(&mut self) -> Res<(Option<String>, String)> {
        let first = self.name()?;
        if self.eat_punct('.') {
            let second = self.name()?;
            if self.is_punct('.') {
                return Err("a name with a database part".into());
            }
            Ok((Some(first), second))
        } else {
            Ok((None, first))
        }
    }

    pub(super) fn string(&mut self) -> Res<String> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err("expected a string here".into()),
        }
    }

    /// A parenthesised group: returns the tokens inside it.
    pub(super) fn group(&mut self) -> Res<&'t [Token]> {
        let open = self.peek().map(|t| t.tok.clone());
        let close = match open {
            Some(Tok::Punct('(')) => ')',
            Some(Tok::Punct('[')) => ']',
            _ => return Err("expected ( here".into()),
        };
        let start = self.i + 1;
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match &t.tok {
                Tok::Punct('(' | '[') => depth += 1,
                Tok::Punct(')' | ']') => {
                    depth -= 1;
                    if depth == 0 {
                        if !t.is_punct(close) {
                            return Err("unbalanced brackets".into());
                        }
                        let inner = &self.t[start..self.i];
                        self.bump();
                        return Ok(inner);
                    }
                }
                _ => {}
            }
            self.bump();
        }
        Err("unbalanced brackets".into())
    }
}
