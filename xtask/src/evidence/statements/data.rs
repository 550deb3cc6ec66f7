//! Data statements: which statements change rows (`INSERT`, `UPDATE`, ..., a `WITH`
//! that changes data) and `SELECT ... INTO TEMP`, which makes a temporary table.

use super::parser::{fold, truncate};
use crate::evidence::lexer::Tok;
use crate::evidence::lexer::Token;

/// The temporary table a `SELECT ... INTO TEMP [TABLE] name` (at the top level of the
/// statement) makes, folded as the server folds it.
pub(crate) fn into_temp(toks: &[Token]) -> Option<String> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate() {
        if t.is_punct('(') {
            depth += 1;
        } else if t.is_punct(')') {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && t.is_word("into") {
            let mut j = i + 1;
            if !toks.get(j).is_some_and(|t| t.is_word("temp") || t.is_word("temporary")) {
                return None;
            }
            j += 1;
            if toks.get(j).is_some_and(|t| t.is_word("table")) {
                j += 1;
            }
            return match toks.get(j).map(|t| &t.tok) {
                Some(Tok::Word(w)) => Some(truncate(fold(w))),
                Some(Tok::Quoted(q)) => Some(truncate(q.clone())),
                _ => None,
            };
        }
    }
    None
}

/// Why a statement that only changes rows is not understood (`INSERT`, `UPDATE`,
/// `DELETE`, `MERGE`, `COPY`, `TRUNCATE`, or a `WITH` whose statement is one of them).
pub(crate) const DATA_CHANGES: &str = "data changes cannot be checked in the catalogs";

/// Whether a `WITH` statement's own statement (after its common table expressions) is
/// `INSERT`, `UPDATE`, `DELETE` or `MERGE`. (Its expressions may call functions, as an
/// `UPDATE`'s may; a `WITH ... SELECT` may be `SELECT ... INTO` and make a table.)
pub(crate) fn modifies_rows(toks: &[Token]) -> bool {
    let mut depth = 0usize;
    for t in toks.iter().skip(1) {
        if t.is_punct('(') {
            depth += 1;
        } else if t.is_punct(')') {
            depth = depth.saturating_sub(1);
        } else if depth == 0 {
            if ["insert", "update", "delete", "merge"].iter().any(|w| t.is_word(w)) {
                return true;
            }
            if t.is_word("select") || t.is_word("values") || t.is_word("table") {
                return false;
            }
        }
    }
    false
}
