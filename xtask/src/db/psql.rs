//! The tool's own queries: one `psql` runner for the whole tool. A script goes in
//! on stdin (psql variables usable as `:'name'`), rows come back as CSV and are
//! parsed into rows whose column count is checked, NULL as `None`.
//!
//! Queries go through psql rather than a Rust client so that they reach every
//! database pg_dump reaches: the same libpq, TLS settings, service files and
//! passfiles. A command that runs several queries can keep one psql session open
//! for them ([`Target::with_session`]): one process start and one connection.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command};
use std::sync::{Arc, Mutex};

use xshell::cmd;

use super::Target;
use crate::exit::Failure;
use crate::proc::{self, Pipes};

/// One row as psql printed it; NULL is `None`.
pub(crate) type Row = Vec<Option<String>>;

/// How psql prints what a script selects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Rows {
    /// As psql does by default (the output is not read).
    #[default]
    Text,
    /// Values only, unaligned, one row a line (`-A -t`).
    Values,
    /// Rows as CSV, without the header (`--csv -t`): see [`parse_csv`].
    Csv,
}

/// A psql command line, described; [`Target::psql`] builds it. Every psql of the
/// tool is built there, from this (the layering test in tests/it/layers.rs fails
/// on a psql built anywhere else), so what all of them need is set once: no
/// psqlrc, quiet, the URL without its password, the password in the environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Psql<'a> {
    pub rows: Rows,
    /// Stop at the first failed statement with a non-zero exit (`ON_ERROR_STOP`).
    /// Off only for a script that handles its own errors (`\if :ERROR`).
    pub stop_on_error: bool,
    /// A failed query's message carries its SQLSTATE (`ERROR:  42P01: ...`),
    /// which does not depend on the server's language (`VERBOSITY=verbose`).
    pub verbose_errors: bool,
    /// The whole script in one transaction (`--single-transaction`).
    pub single_transaction: bool,
    /// psql variables, usable in the script as `:'name'` and `:"name"`.
    pub vars: &'a [(&'a str, &'a str)],
    /// The script to run (`-f`); without it, psql reads stdin.
    pub file: Option<&'a Path>,
    /// The session's `application_name` (`PGAPPNAME`), for whoever looks at pg_stat_activity.
    pub app_name: Option<&'a str>,
}

impl Target {
    /// The one psql command line of the tool, for this target's database.
    pub fn psql(&self, p: &Psql) -> Result<Command, Failure> {
        let sh = self.shell()?;
        if let Some(name) = p.app_name {
            sh.set_var("PGAPPNAME", name);
        }
        let psql = crate::pgbin::program(&sh, "psql");
        let rows: &[&str] = match p.rows {
            Rows::Text => &[],
            Rows::Values => &["-A", "-t"],
            Rows::Csv => &["--csv", "-t"],
        };
        let stop: &[&str] = if p.stop_on_error { &["-v", "ON_ERROR_STOP=1"] } else { &[] };
        let verbose: &[&str] = if p.verbose_errors { &["-v", "VERBOSITY=verbose"] } else { &[] };
        let single: &[&str] = if p.single_transaction { &["--single-transaction"] } else { &[] };
        // `-v name=value` is psql's syntax for one variable: one argv element each.
        let vars: Vec<String> = p.vars.iter().flat_map(|(k, v)| ["-v".to_string(), format!("{k}={v}")]).collect();
        let file: Vec<&OsStr> = p.file.map(|f| vec![OsStr::new("-f"), f.as_os_str()]).unwrap_or_default();
        let url = &self.url.libpq;
        Ok(cmd!(sh, "{psql} -X -q {rows...} {stop...} {verbose...} {single...} {vars...} {file...} -d {url}").into())
    }

    /// psql reading a script from stdin, data out as CSV.
    fn query_psql(&self, vars: &[(&str, &str)]) -> Result<Command, Failure> {
        self.psql(&Psql { rows: Rows::Csv, stop_on_error: true, verbose_errors: true, vars, ..Psql::default() })
    }

    /// Runs one query (psql variables usable as `:'name'`) and returns its rows;
    /// NULL is `None`. Connection problems become a `Failure` saying what to fix.
    pub fn query(&self, sql: &str, vars: &[(&str, &str)]) -> Result<Vec<Row>, Failure> {
        // New lines around the query: it may end in a `--` comment, or without `;`.
        let wrapped;
        let sql = if self.read_only {
            wrapped = format!("BEGIN READ ONLY;\n{sql}\n;\nCOMMIT;");
            wrapped.as_str()
        } else {
            sql
        };
        // A poisoned lock (a panic elsewhere) falls back to a psql of its own.
        if let Some(mut session) = self.session.as_ref().and_then(|s| s.lock().ok()).filter(|s| s.has_vars(vars)) {
            return match session.run(sql) {
                Ok(text) => Ok(parse_csv(&text)),
                Err(stderr) => Err(self.failure("psql", &stderr)),
            };
        }
        let out = proc::run_with_input(self.query_psql(vars)?, sql)?;
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

impl Target {
    /// This target with one psql session for all its queries whose variables are
    /// among `vars` (others still start their own psql): `diagnose` reads the ledger
    /// and the catalogs over one connection. The session ends when the last clone
    /// of the returned target is dropped; a failed query ends it too (psql stops
    /// on the first error, as the one-shot queries do).
    pub fn with_session(&self, vars: &[(&str, &str)]) -> Result<Target, Failure> {
        let mut child = proc::spawn(self.query_psql(vars)?, Pipes { stdin: true, stdout: true })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Failure::task("cannot talk to psql: its pipes did not open"));
        };
        let session = Session {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            marker: format!(
                "xtask-end-{}-{}",
                std::process::id(),
                chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
            ),
        };
        Ok(Target { session: Some(Arc::new(Mutex::new(session))), ..self.clone() })
    }

    /// [`Target::with_session`] whose queries are all read-only ([`Target::read_only`]):
    /// a read-only command (`status`, `diagnose`'s catalog checks) cannot write
    /// through it, and a write slipped in by mistake fails (25006) instead of
    /// changing production.
    pub fn with_read_only_session(&self, vars: &[(&str, &str)]) -> Result<Target, Failure> {
        Ok(self.with_session(vars)?.read_only())
    }

    /// This target whose every query ([`Target::query`]) runs in a read-only
    /// transaction of its own: `BEGIN READ ONLY`, the query, `COMMIT`. A write in
    /// it fails (25006), and its `SET LOCAL`s (a statement timeout, a search
    /// path) end with it. Nothing is set for the session: behind a
    /// transaction-mode pooler the tool does not recognise (self-hosted
    /// PgBouncer on its usual port), a session-level `SET` stays on the pooled
    /// server connection after the tool's transaction, and the application's
    /// next transactions there would be read-only or get the tool's timeouts.
    /// Nor is `default_transaction_read_only` a startup option (`PGOPTIONS`):
    /// PgBouncer (1.18) refuses the `options` startup parameter, or drops it
    /// unread when `ignore_startup_parameters` lists it, which would lose the
    /// guard without a word. A query may not end the transaction itself (`COMMIT`,
    /// `BEGIN`): what follows would run outside it.
    pub fn read_only(&self) -> Target {
        Target { read_only: true, ..self.clone() }
    }
}

/// A psql session shared by the clones of one [`Target`].
pub(super) type Shared = Arc<Mutex<Session>>;

/// psql reading queries from a pipe, one after another, on one connection.
#[derive(Debug)]
pub(crate) struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The psql variables it was started with.
    vars: Vec<(String, String)>,
    /// The line that ends each query's output (`\echo`); no CSV row can be it.
    marker: String,
}

impl Session {
    fn has_vars(&self, vars: &[(&str, &str)]) -> bool {
        vars.iter().all(|(k, v)| self.vars.iter().any(|(sk, sv)| sk == k && sv == v))
    }

    /// Sends `sql` and reads its output up to the marker; `Err` carries psql's
    /// stderr when it stopped (an error, a lost connection).
    fn run(&mut self, sql: &str) -> Result<String, String> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err("the psql session has already ended".into());
        };
        // A trailing `;` ends a last statement written without one (an empty
        // statement is nothing to psql); then the marker.
        let sent = writeln!(stdin, "{sql}\n;\n\\echo {}", self.marker).and_then(|()| stdin.flush());
        let mut out = String::new();
        if sent.is_ok() {
            let mut line = String::new();
            loop {
                line.clear();
                match self.stdout.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.trim_end_matches(['\n', '\r']) == self.marker => return Ok(out),
                    Ok(_) => out.push_str(&line),
                }
            }
        }
        // psql stopped: what it said is on stderr.
        drop(self.stdin.take());
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = self.child.wait();
        Err(err)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // End of input ends psql, which closes the connection.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// A row as exactly `N` columns.
pub(crate) fn columns<const N: usize>(row: Row) -> Result<[Option<String>; N], Failure> {
    let width = row.len();
    row.try_into().map_err(|_| Failure::task(format!("psql returned a row of {width} columns where {N} were expected")))
}

/// Parses psql's CSV output: an unquoted empty field is NULL, `""` an empty string.
pub(crate) fn parse_csv(text: &str) -> Vec<Vec<Option<String>>> {
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
