//! The tool's own queries: one `psql` runner for the whole tool. A script goes in
//! on stdin (psql variables usable as `:'name'`), rows come back as CSV and are
//! parsed into rows whose column count is checked, NULL as `None`.
//!
//! Queries go through psql rather than a Rust client so that they reach every
//! database pg_dump reaches: the same libpq, TLS settings, service files and
//! passfiles.

use super::Target;
use crate::exit::Failure;
use crate::proc::{self, Cmd};

/// One row as psql printed it; NULL is `None`.
pub type Row = Vec<Option<String>>;

impl Target {
    /// psql reading a script from stdin, data out as CSV.
    fn psql(&self, vars: &[(&str, &str)]) -> Cmd {
        // VERBOSITY=verbose: a failed query's message carries its SQLSTATE
        // (`ERROR:  42P01: ...`), which does not depend on the server's language.
        let mut cmd =
            self.tool("psql").args(["-X", "-q", "--csv", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"]);
        for (k, v) in vars {
            cmd = cmd.arg("-v").arg(format!("{k}={v}"));
        }
        cmd.arg("-d").arg(self.url.libpq.clone())
    }

    /// Runs one query (psql variables usable as `:'name'`) and returns its rows;
    /// NULL is `None`. Connection problems become a `Failure` saying what to fix.
    pub fn query(&self, sql: &str, vars: &[(&str, &str)]) -> Result<Vec<Row>, Failure> {
        let out = proc::run_with_input(&self.psql(vars), sql)?;
        if !out.status.success() {
            return Err(self.failure("psql", &out.stderr));
        }
        Ok(parse_csv(&out.stdout))
    }

    /// Like [`Target::query`], for a query whose every row has `N` columns: a row of
    /// another width is an error (a query and its reader that disagree), not a
    /// silently missing value.
    pub fn query_n<const N: usize>(
        &self,
        sql: &str,
        vars: &[(&str, &str)],
    ) -> Result<Vec<[Option<String>; N]>, Failure> {
        self.query(sql, vars)?.into_iter().map(columns::<N>).collect()
    }
}

/// A row as exactly `N` columns.
pub fn columns<const N: usize>(row: Row) -> Result<[Option<String>; N], Failure> {
    let width = row.len();
    row.try_into().map_err(|_| Failure::task(format!("psql returned a row of {width} columns where {N} were expected")))
}

/// Parses psql's CSV output: an unquoted empty field is NULL, `""` an empty string.
pub fn parse_csv(text: &str) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    let mut row: Vec<Option<String>> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                in_quotes = true;
                quoted = true;
            }
            ',' => {
                row.push(take_field(&mut field, &mut quoted));
            }
            '\n' => {
                row.push(take_field(&mut field, &mut quoted));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            '\r' => {}
            _ => field.push(c),
        }
    }
    if any {
        row.push(take_field(&mut field, &mut quoted));
        rows.push(row);
    }
    rows
}

fn take_field(field: &mut String, quoted: &mut bool) -> Option<String> {
    let f = std::mem::take(field);
    let was_quoted = std::mem::replace(quoted, false);
    if f.is_empty() && !was_quoted {
        None
    } else {
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_nulls_quotes_and_newlines() {
        let rows = parse_csv("a,,\"\"\n\"x,\"\"y\"\"\nz\",2\n");
        assert_eq!(rows[0], [Some("a".into()), None, Some(String::new())]);
        assert_eq!(rows[1], [Some("x,\"y\"\nz".into()), Some("2".into())]);
        assert_eq!(rows.len(), 2);
        assert!(parse_csv("").is_empty());
    }

    #[test]
    fn column_counts_are_checked() {
        assert_eq!(columns::<2>(vec![Some("a".into()), None]).unwrap(), [Some("a".into()), None]);
        let e = columns::<3>(vec![None]).unwrap_err();
        assert_eq!(e.message, "psql returned a row of 1 columns where 3 were expected");
    }
}
