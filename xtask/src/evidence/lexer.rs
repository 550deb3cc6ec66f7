//! A tokenizer for PostgreSQL's SQL: enough of the server's lexical rules to split a
//! migration into statements and read names out of them, and no more.
//!
//! It follows `scan.l`: whitespace and `--` / nested `/* */` comments separate tokens;
//! `'strings'` double a quote to escape it, `E'...'` strings also take backslash
//! escapes; `$tag$...$tag$` quotes anything; `"identifiers"` double a quote. Input it
//! cannot read (an unterminated string, comment or quote, a bad escape) becomes one
//! [`Tok::Bad`] token that swallows the rest of the text: whatever statement it falls
//! in is then not understood, which is the safe outcome.

/// What a token is. Words keep their spelling; quoted forms are stored unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An unquoted identifier or keyword, as written.
    Word(String),
    /// A `"quoted identifier"` (or `U&"..."` is [`Tok::Opaque`]), unescaped.
    Quoted(String),
    /// A string constant (`'...'`, `E'...'`, `N'...'`), unescaped.
    Str(String),
    /// A dollar-quoted string: its body, and the tag between the dollars.
    Dollar { tag: String, body: String },
    /// A numeric constant, as written.
    Number(String),
    /// A positional parameter such as `$1`.
    Param,
    /// A literal this tokenizer does not decode (`B'0101'`, `X'1F'`, `U&'...'`, `U&"..."`).
    Opaque,
    /// `::`
    Cast,
    /// Any other single character: `( ) , . [ ] ;` and operator characters.
    Punct(char),
    /// Text that could not be read; the tokenizer stops here.
    Bad(&'static str),
}

/// A token and where it is in the text (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The unquoted word `kw`, in any case.
    pub fn is_word(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    pub fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }
}

/// Splits `src` into tokens. Never panics; unreadable input ends in one `Bad` token.
pub fn tokenize(src: &str) -> Vec<Token> {
    let mut lx = Lexer { src, pos: 0, out: Vec::new() };
    lx.run();
    lx.out
}

/// Splits tokens into statements at top-level semicolons (those outside strings,
/// comments and dollar quotes, which are single tokens here). Empty statements are
/// dropped; the semicolons are not included.
pub fn split_statements(tokens: &[Token]) -> Vec<&[Token]> {
    tokens.split(|t| t.is_punct(';')).filter(|s| !s.is_empty()).collect()
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    out: Vec<Token>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_ident_cont(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == '$'
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn push(&mut self, tok: Tok, start: usize) {
        self.out.push(Token { tok, start, end: self.pos });
    }

    /// Records an error token covering the rest of the input and stops.
    fn bad(&mut self, why: &'static str, start: usize) {
        self.pos = self.src.len();
        self.push(Tok::Bad(why), start);
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            match c {
                c if c.is_whitespace() => {
                    self.bump();
                }
                '-' if self.peek_at(1) == Some('-') => match self.rest().find('\n') {
                    Some(i) => self.pos += i + 1,
                    None => self.pos = self.src.len(),
                },
                '/' if self.peek_at(1) == Some('*') => {
                    if !self.block_comment() {
                        return self.bad("unterminated /* comment", start);
                    }
                }
                '\'' => {
                    self.bump();
                    match self.quoted('\'', false) {
                        Some(s) => self.push(Tok::Str(s), start),
                        None => return self.bad("unterminated string", start),
                    }
                }
                '"' => {
                    self.bump();
                    match self.quoted('"', false) {
                        Some(s) if s.is_empty() => return self.bad("zero-length quoted identifier", start),
                        Some(s) => self.push(Tok::Quoted(s), start),
                        None => return self.bad("unterminated quoted identifier", start),
                    }
                }
                '$' => {
                    if !self.dollar() {
                        return self.bad("unterminated dollar-quoted string", start);
                    }
                }
                ':' if self.peek_at(1) == Some(':') => {
                    self.pos += 2;
                    self.push(Tok::Cast, start);
                }
                '0'..='9' => self.number(),
                '.' if self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) => self.number(),
                c if is_ident_start(c) => {
                    if !self.word_or_prefixed_literal() {
                        return;
                    }
                }
                '\0' => return self.bad("NUL character", start),
                _ => {
                    self.bump();
                    self.push(Tok::Punct(c), start);
                }
            }
        }
    }

    /// Skips a (nested) block comment; false when it never ends.
    fn block_comment(&mut self) -> bool {
        let bytes = self.src.as_bytes();
        let mut depth = 0usize;
        let mut i = self.pos;
        while i + 1 < bytes.len() {
            if bytes[i] == b'/' && bytes[i + 1] == b'*' {
                depth += 1;
                i += 2;
            } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    self.pos = i;
                    return true;
                }
            } else {
                i += 1;
            }
        }
        false
    }

    /// Reads up to the closing `q` (the opening one is consumed); a doubled `q` is
    /// one `q`. With `backslash`, E-string escapes apply. None when unterminated or
    /// an escape is invalid.
    fn quoted(&mut self, q: char, backslash: bool) -> Option<String> {
        let mut s = String::new();
        loop {
            let c = self.bump()?;
            if c == '\0' {
                return None;
            }
            if c == q {
                if self.peek() == Some(q) {
                    self.bump();
                    s.push(q);
                    continue;
                }
                return Some(s);
            }
            if backslash && c == '\\' {
                s.push(self.escape()?);
                continue;
            }
            s.push(c);
        }
    }

    /// One backslash escape of an E'' string (the backslash is consumed).
    fn escape(&mut self) -> Option<char> {
        let c = self.bump()?;
        let hex = |lx: &mut Lexer, max: usize, at_least: usize| -> Option<char> {
            let digits: String = lx.rest().chars().take(max).take_while(|d| d.is_ascii_hexdigit()).collect();
            if digits.len() < at_least {
                return None;
            }
            lx.pos += digits.len();
            char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
        };
        Some(match c {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'x' => return hex(self, 2, 1).filter(|c| *c != '\0'),
            'u' => return hex(self, 4, 4).filter(|c| *c != '\0'),
            'U' => return hex(self, 8, 8).filter(|c| *c != '\0'),
            '0'..='7' => {
                let mut v = c.to_digit(8)?;
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                // The server takes the low byte; anything that is not a character is refused.
                char::from_u32(v & 0xff).filter(|ch| ch.is_ascii() && *ch != '\0')?
            }
            other => other,
        })
    }

    /// `$1`, a `$tag$...$tag$` string, or a lone `$`. False when a dollar quote is unterminated.
    fn dollar(&mut self) -> bool {
        let start = self.pos;
        let after = &self.src[start + 1..];
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            self.pos += 1 + after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
            self.push(Tok::Param, start);
            return true;
        }
        // A tag is an identifier without `$`, possibly empty.
        let tag_len = if after.starts_with(|c: char| is_ident_start(c)) {
            after.find(|c: char| !(is_ident_start(c) || c.is_ascii_digit())).unwrap_or(after.len())
        } else {
            0
        };
        if !after[tag_len..].starts_with('$') {
            self.bump();
            self.push(Tok::Punct('$'), start);
            return true;
        }
        let tag = &after[..tag_len];
        let delim = format!("${tag}$");
        let body_start = start + delim.len();
        match self.src[body_start..].find(&delim) {
            Some(i) => {
                let body = self.src[body_start..body_start + i].to_string();
                self.pos = body_start + i + delim.len();
                self.push(Tok::Dollar { tag: tag.to_string(), body }, start);
                true
            }
            None => false,
        }
    }

    fn number(&mut self) {
        let start = self.pos;
        let mut seen_dot = false;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                let exp = (c == 'e' || c == 'E') && matches!(self.peek_at(1), Some('+' | '-'));
                self.bump();
                if exp {
                    self.bump();
                }
            } else if c == '.' && !seen_dot && self.peek_at(1) != Some('.') {
                seen_dot = true;
                self.bump();
            } else {
                break;
            }
        }
        let text = self.src[start..self.pos].to_string();
        self.push(Tok::Number(text), start);
    }

    /// A word, or a literal with a one-letter prefix (`E'..'`, `B'..'`, `U&'..'`).
    /// False when it hit unreadable input (the error token is already recorded).
    fn word_or_prefixed_literal(&mut self) -> bool {
        let start = self.pos;
        let c = self.peek().unwrap_or(' ');
        let next = self.peek_at(1);
        if next == Some('\'') {
            match c {
                'e' | 'E' => {
                    self.pos += 2;
                    return match self.quoted('\'', true) {
                        Some(s) => {
                            self.push(Tok::Str(s), start);
                            true
                        }
                        None => {
                            self.bad("unterminated or invalid E'' string", start);
                            false
                        }
                    };
                }
                'n' | 'N' | 'b' | 'B' | 'x' | 'X' => {
                    self.pos += 2;
                    let s = self.quoted('\'', false);
                    return match s {
                        Some(s) if matches!(c, 'n' | 'N') => {
                            self.push(Tok::Str(s), start);
                            true
                        }
                        Some(_) => {
                            self.push(Tok::Opaque, start);
                            true
                        }
                        None => {
                            self.bad("unterminated string", start);
                            false
                        }
                    };
                }
                _ => {}
            }
        }
        if matches!(c, 'u' | 'U') && next == Some('&') && matches!(self.peek_at(2), Some('\'' | '"')) {
            let q = self.peek_at(2).unwrap_or('\'');
            self.pos += 3;
            return match self.quoted(q, false) {
                Some(_) => {
                    self.push(Tok::Opaque, start);
                    true
                }
                None => {
                    self.bad("unterminated Unicode-escaped literal", start);
                    false
                }
            };
        }
        while self.peek().is_some_and(is_ident_cont) {
            self.bump();
        }
        let word = self.src[start..self.pos].to_string();
        self.push(Tok::Word(word), start);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).into_iter().map(|t| t.tok).collect()
    }

    fn w(s: &str) -> Tok {
        Tok::Word(s.into())
    }

    #[test]
    fn words_numbers_punctuation_and_casts() {
        assert_eq!(
            toks("SELECT a1$b, 12.5e-3, .5 FROM t WHERE x::int>=$1;"),
            [
                w("SELECT"),
                w("a1$b"),
                Tok::Punct(','),
                Tok::Number("12.5e-3".into()),
                Tok::Punct(','),
                Tok::Number(".5".into()),
                w("FROM"),
                w("t"),
                w("WHERE"),
                w("x"),
                Tok::Cast,
                w("int"),
                Tok::Punct('>'),
                Tok::Punct('='),
                Tok::Param,
                Tok::Punct(';'),
            ]
        );
        assert_eq!(toks("é_ü"), [w("é_ü")]);
    }

    #[test]
    fn comments_are_skipped_and_nest() {
        assert_eq!(toks("a -- b ; c\nd"), [w("a"), w("d")]);
        assert_eq!(toks("a /* x /* y; */ z; */ b"), [w("a"), w("b")]);
        assert_eq!(toks("a --"), [w("a")]);
        assert_eq!(toks("a/**/b"), [w("a"), w("b")]);
        assert_eq!(toks("a /* x /* y */ b"), [w("a"), Tok::Bad("unterminated /* comment")]);
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(toks("'it''s'"), [Tok::Str("it's".into())]);
        assert_eq!(toks("'a\\n'"), [Tok::Str("a\\n".into())]);
        assert_eq!(toks("E'a\\nb\\'c\\\\'"), [Tok::Str("a\nb'c\\".into())]);
        assert_eq!(toks("e'\\x41\\101\\u00e9'''"), [Tok::Str("AAé'".into())]);
        assert_eq!(toks("'$$ ; --'"), [Tok::Str("$$ ; --".into())]);
        assert_eq!(toks("N'x' B'01' X'1F' U&'d\\0061'"), [Tok::Str("x".into()), Tok::Opaque, Tok::Opaque, Tok::Opaque]);
        assert_eq!(toks("'abc"), [Tok::Bad("unterminated string")]);
        assert_eq!(toks("E'abc\\'"), [Tok::Bad("unterminated or invalid E'' string")]);
        assert_eq!(toks("E'\\u12'"), [Tok::Bad("unterminated or invalid E'' string")]);
        // `e` followed by a space is a word, then a plain string.
        assert_eq!(toks("e 'x'"), [w("e"), Tok::Str("x".into())]);
    }

    #[test]
    fn quoted_identifiers() {
        assert_eq!(toks(r#""Users""#), [Tok::Quoted("Users".into())]);
        assert_eq!(toks(r#""a""b;c""#), [Tok::Quoted("a\"b;c".into())]);
        assert_eq!(toks(r#""x"."y""#), [Tok::Quoted("x".into()), Tok::Punct('.'), Tok::Quoted("y".into())]);
        assert_eq!(toks(r#""abc"#), [Tok::Bad("unterminated quoted identifier")]);
        assert_eq!(toks(r#""""#), [Tok::Bad("zero-length quoted identifier")]);
    }

    #[test]
    fn dollar_quotes() {
        assert_eq!(toks("$$ a; 'b $$"), [Tok::Dollar { tag: "".into(), body: " a; 'b ".into() }]);
        assert_eq!(
            toks("$fn$ x $$ y; $fn$;"),
            [Tok::Dollar { tag: "fn".into(), body: " x $$ y; ".into() }, Tok::Punct(';')]
        );
        assert_eq!(toks("$$ never ends"), [Tok::Bad("unterminated dollar-quoted string")]);
        assert_eq!(toks("$a$ x $b$"), [Tok::Bad("unterminated dollar-quoted string")]);
        // `$` inside a word is part of the word, not a dollar quote.
        assert_eq!(toks("a$$b"), [w("a$$b")]);
        assert_eq!(toks("$ 1"), [Tok::Punct('$'), Tok::Number("1".into())]);
    }

    #[test]
    fn statements_split_only_at_top_level_semicolons() {
        let src = "CREATE TABLE a (x text DEFAULT ';'); -- ; here\n/* ; */ DO $$ BEGIN x; y; END $$;;\n SELECT 1";
        let tokens = tokenize(src);
        let parts = split_statements(&tokens);
        assert_eq!(parts.len(), 3);
        assert!(parts[0][0].is_word("create"));
        assert!(parts[1][0].is_word("do"));
        assert!(parts[2][0].is_word("select"));
        let last = parts[1].last().unwrap();
        assert_eq!(&src[last.start..last.end], "$$ BEGIN x; y; END $$");
    }

    #[test]
    fn garbage_never_panics() {
        // A small linear congruential generator over characters that matter to the lexer.
        let alphabet: Vec<char> = "$$''\"\"--/**/;:Ee\\xuU&0123.abc \n\t(),[]é€\0".chars().collect();
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..500 {
            let mut s = String::new();
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = (seed >> 33) % 40;
            for _ in 0..len {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s.push(alphabet[((seed >> 33) as usize) % alphabet.len()]);
            }
            let tokens = tokenize(&s);
            for t in &tokens {
                assert!(t.start <= t.end && t.end <= s.len(), "{s:?}: {t:?}");
                assert!(s.is_char_boundary(t.start) && s.is_char_boundary(t.end));
            }
            // Nothing follows an error token.
            if let Some(i) = tokens.iter().position(|t| matches!(t.tok, Tok::Bad(_))) {
                assert_eq!(i, tokens.len() - 1, "{s:?}");
            }
        }
    }
}
