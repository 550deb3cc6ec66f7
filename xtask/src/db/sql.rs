//! Names and strings quoted into SQL text, for the tool's own queries (every one
//! runs with `standard_conforming_strings` on, so a quote is escaped by doubling it).

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled (for `standard_conforming_strings = on`).
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
