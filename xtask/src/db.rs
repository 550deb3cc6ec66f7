//! The database this run works on: its URL from the environment, libpq's tools
//! started with the password in their environment (never in argv), the tool's own
//! queries through `psql`, and connection failures turned into one-line causes.
//!
//! Queries go through psql rather than a Rust client so that they reach every
//! database pg_dump reaches: the same libpq, TLS settings, service files and
//! passfiles.

use crate::config::Config;
use crate::dburl::{self, DbUrl};
use crate::exit::Exit;
use crate::proc::{self, Cmd};
use crate::runner::Failure;
use crate::ui::Ui;

/// The database named by the configured environment variable.
#[derive(Debug, Clone)]
pub struct Target {
    /// The environment variable it came from, for messages.
    pub env_name: String,
    /// The URL as the user wrote it (Prisma gets this one, through the environment).
    pub raw_url: String,
    pub url: DbUrl,
}

impl Target {
    /// Reads and parses the URL; registers its password as a secret with the UI.
    pub fn from_env(config: &Config, ui: &Ui) -> Result<Target, Failure> {
        let name = &config.database.url_env;
        let raw = std::env::var(name).unwrap_or_default();
        if raw.trim().is_empty() {
            return Err(Failure::task(format!(
                "{name} is not set: export it (postgresql://user:password@host:5432/database) or put it in .env next to tasks.toml"
            )));
        }
        // Mask the password before anything could print the URL.
        mask_secrets(ui, &raw);
        let schema_dir = config.prisma.schema.as_deref().and_then(|s| s.parent());
        Target::from_url(name, &raw, schema_dir)
    }

    /// A target from a URL given directly (`env_name` is only used in messages).
    pub fn from_url(env_name: &str, raw: &str, schema_dir: Option<&std::path::Path>) -> Result<Target, Failure> {
        let url = dburl::parse(raw, schema_dir)
            .map_err(|why| Failure::task(format!("{env_name} is not a valid PostgreSQL URL: {why}")))?;
        Ok(Target { env_name: env_name.to_string(), raw_url: raw.to_string(), url })
    }

    /// The same server, another database.
    pub fn with_database(&self, name: &str) -> Target {
        Target { url: self.url.with_database(name), ..self.clone() }
    }

    /// A libpq tool (pg_dump, psql, pg_restore) with the password in its environment.
    pub fn tool(&self, program: &str) -> Cmd {
        let mut cmd = crate::pgbin::cmd(program);
        if let Some(p) = &self.url.password {
            cmd = cmd.env("PGPASSWORD", p.clone());
        }
        // Fail fast on an unreachable host unless the URL sets its own timeout.
        if !self.url.libpq.contains("connect_timeout=") && std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
            cmd = cmd.env("PGCONNECT_TIMEOUT", "10");
        }
        cmd
    }

    /// psql reading a script from stdin, data out as CSV.
    fn psql(&self, vars: &[(&str, &str)]) -> Cmd {
        let mut cmd = self
            .tool("psql")
            .args(["-X", "-q", "--csv", "-t", "-v", "ON_ERROR_STOP=1"]);
        for (k, v) in vars {
            cmd = cmd.arg("-v").arg(format!("{k}={v}"));
        }
        cmd.arg("-d").arg(self.url.libpq.clone())
    }

    /// Runs one query (psql variables usable as `:'name'`) and returns its rows;
    /// NULL is `None`. Connection problems become a `Failure` saying what to fix.
    pub fn query(&self, sql: &str, vars: &[(&str, &str)]) -> Result<Vec<Vec<Option<String>>>, Failure> {
        let out = run_with_stdin(&self.psql(vars), sql)?;
        if !out.status.success() {
            return Err(self.failure("psql", &out.stderr));
        }
        Ok(parse_csv(&out.stdout))
    }

    /// The one-line cause of a libpq tool's failure, with what to do.
    pub fn failure(&self, tool: &str, stderr: &str) -> Failure {
        classify(&self.url, &self.env_name, stderr).unwrap_or_else(|| {
            let first = stderr
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("no error output");
            Failure::task(format!("{tool} failed: {first}"))
        })
    }
}

/// Registers a database URL and its password (as written and percent-encoded) as
/// secrets with the UI, so no output shows them. A URL that does not parse is
/// still masked whole.
pub fn mask_secrets(ui: &Ui, raw: &str) {
    ui.add_secret(raw);
    if let Some(p) = dburl::parse(raw, None).ok().and_then(|u| u.password) {
        ui.add_secret(&p);
        ui.add_secret(&dburl::encode(&p));
    }
}

/// Recognises connection failures in libpq's messages.
pub fn classify(url: &DbUrl, env_name: &str, stderr: &str) -> Option<Failure> {
    let target = url.display_target();
    let has = |s: &str| stderr.contains(s);
    let unreachable = |msg: String| Some(Failure::new(Exit::DatabaseUnreachable, msg));
    if has("password authentication failed") {
        return unreachable(format!(
            "password authentication failed for {target}: check the user and password in {env_name}"
        ));
    }
    if has("no password supplied") || has("fe_sendauth") {
        return unreachable(format!("the server at {target} wants a password and {env_name} has none: add it to the URL"));
    }
    if let Some(i) = stderr.find("database \"") {
        if stderr[i..].contains("\" does not exist") {
            return unreachable(format!(
                "database `{}` does not exist on {}: check the database name in {env_name}",
                url.database, url.hosts
            ));
        }
    }
    if has("could not translate host name") {
        return unreachable(format!("cannot resolve the host of {target}: check the host in {env_name}"));
    }
    if has("Connection refused") || has("timeout expired") || has("could not connect") || has("No route to host") || has("Network is unreachable") {
        let why = if has("Connection refused") {
            "connection refused"
        } else if has("timeout expired") {
            "connection timed out"
        } else {
            "cannot connect"
        };
        return unreachable(format!(
            "the database server for {target} is unreachable ({why}): is it running, and is {env_name} right?"
        ));
    }
    if has("no pg_hba.conf entry") {
        return unreachable(format!(
            "the server refused {target} (no pg_hba.conf entry for this host/user/TLS setting): ask its administrator, or try sslmode=require"
        ));
    }
    if has("server version mismatch") {
        // pg_dump refuses servers newer than itself; the detail line has both versions.
        let detail = stderr.lines().find_map(|l| l.split_once("server version: ").map(|(_, v)| v.trim_end()));
        let major = detail
            .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
            .filter(|m| !m.is_empty())
            .unwrap_or("N");
        let versions = detail.map(|v| format!(" (server version: {v})")).unwrap_or_default();
        return Some(Failure::task(format!(
            "the client tools are older than the server at {target}{versions}, so they refuse to dump it: install PostgreSQL {major}'s client tools (Debian/Ubuntu: postgresql-client-{major}) and put them first on PATH"
        )));
    }
    if has("SSL") && (has("certificate") || has("server does not support SSL")) {
        let line = stderr.lines().find(|l| l.contains("SSL")).unwrap_or("").trim().to_string();
        return unreachable(format!("TLS connection to {target} failed: {line}"));
    }
    None
}

/// Runs `cmd` with `input` on stdin and captures its output (nothing shown).
pub fn run_with_stdin(cmd: &Cmd, input: &str) -> Result<proc::Output, Failure> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .to_command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::task(proc::spawn_error(&cmd.program, &e)))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A closed pipe means psql exited early; its stderr says why.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Failure::task(format!("waiting for {} failed: {e}", cmd.program)))?;
    Ok(proc::Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
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
    fn connection_failures_are_classified() {
        let url = dburl::parse("postgresql://app:pw@db:5432/school", None).unwrap();
        let f = classify(&url, "DATABASE_URL", "pg_dump: error: connection to server at \"db\" (10.0.0.1), port 5432 failed: FATAL:  password authentication failed for user \"app\"").unwrap();
        assert_eq!(f.exit, Exit::DatabaseUnreachable);
        assert!(f.message.starts_with("password authentication failed for app@db:5432/school"));
        let f = classify(&url, "DATABASE_URL", "connection to server at \"db\", port 5432 failed: Connection refused").unwrap();
        assert!(f.message.contains("unreachable (connection refused)"));
        let f = classify(&url, "DATABASE_URL", "FATAL:  database \"school\" does not exist").unwrap();
        assert!(f.message.starts_with("database `school` does not exist"));
        assert!(classify(&url, "DATABASE_URL", "pg_dump: error: query failed").is_none());
        let f = classify(
            &url,
            "DATABASE_URL",
            "pg_dump: error: aborting because of server version mismatch\npg_dump: detail: server version: 16.4; pg_dump version: 15.18\n",
        )
        .unwrap();
        assert_eq!(f.exit, Exit::TaskFailed);
        assert_eq!(
            f.message,
            "the client tools are older than the server at app@db:5432/school (server version: 16.4; pg_dump version: 15.18), so they refuse to dump it: install PostgreSQL 16's client tools (Debian/Ubuntu: postgresql-client-16) and put them first on PATH"
        );
    }
}
