//! Connection failures in libpq's messages, turned into one-line causes with what
//! to fix and the exit status they lead to.

use super::url::DbUrl;
use crate::exit::{Exit, Failure};

/// The SQLSTATE codes in psql's verbose messages (`FATAL:  28P01: ...`): the same
/// in every server language, unlike the text after them.
pub(crate) fn sqlstates(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once(":  ")?;
            let code = rest.get(..5)?;
            let ok = code.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) && rest[5..].starts_with(':');
            ok.then_some(code)
        })
        .collect()
}

/// Recognises connection failures: by SQLSTATE where psql printed one, otherwise
/// by libpq's (English: the tools run with LC_ALL=C) and the server's messages.
pub(crate) fn classify(url: &DbUrl, env_name: &str, stderr: &str) -> Option<Failure> {
    let target = url.display_target();
    let codes = sqlstates(stderr);
    let code = |c: &str| codes.contains(&c);
    let has = |s: &str| stderr.contains(s);
    let unreachable = |msg: String| Some(Failure::new(Exit::DatabaseUnreachable, msg));
    if code("3D000") {
        return unreachable(format!(
            "database `{}` does not exist on {}: check the database name in {env_name}",
            url.database, url.hosts
        ));
    }
    if code("28P01") || has("password authentication failed") {
        return unreachable(format!(
            "password authentication failed for {target}: check the user and password in {env_name}"
        ));
    }
    if has("no password supplied") || has("fe_sendauth") {
        return unreachable(format!(
            "the server at {target} wants a password and {env_name} has none: add it to the URL"
        ));
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
    if codes.iter().any(|c| c.starts_with("08") || *c == "57P01" || *c == "57P02" || *c == "57P03") {
        return unreachable(format!(
            "the database server for {target} is unreachable (the connection failed or was ended by the server): is it running, and is {env_name} right?"
        ));
    }
    if has("Connection refused")
        || has("timeout expired")
        || has("could not connect")
        || has("No route to host")
        || has("Network is unreachable")
    {
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
        return Some(tools_too_old(&target, stderr));
    }
    tls_failure(&target, env_name, stderr)
}

/// pg_dump older than the server: which client tools to install.
fn tools_too_old(target: &str, stderr: &str) -> Failure {
    // pg_dump refuses servers newer than itself; the detail line has both versions.
    let detail = stderr.lines().find_map(|l| l.split_once("server version: ").map(|(_, v)| v.trim_end()));
    let major =
        detail.and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next()).filter(|m| !m.is_empty()).unwrap_or("N");
    let versions = detail.map(|v| format!(" (server version: {v})")).unwrap_or_default();
    Failure::task(format!(
        "the client tools are older than the server at {target}{versions}, so they refuse to dump it: install PostgreSQL {major}'s client tools (Debian/Ubuntu: postgresql-client-{major}) and put them first on PATH"
    ))
}

/// A TLS failure, said as such even when libpq's message does not say "SSL".
fn tls_failure(target: &str, env_name: &str, stderr: &str) -> Option<Failure> {
    let has = |s: &str| stderr.contains(s);
    // A missing root certificate (`sslmode=verify-full` without `sslrootcert` and no
    // ~/.postgresql/root.crt) is said without the word "SSL": it is a TLS failure
    // all the same, so the database is unreachable as configured (exit 3).
    let missing_root = has("root certificate file") || has("could not read root certificate");
    if missing_root
        || has("certificate verify failed")
        || has("server certificate for")
        || (has("SSL") && (has("certificate") || has("server does not support SSL") || has("SSL error")))
    {
        let line =
            stderr.lines().find(|l| l.contains("certificate") || l.contains("SSL")).unwrap_or("").trim().to_string();
        let hint = if missing_root {
            format!(": give the server's CA certificate in {env_name} (sslrootcert=PATH; Prisma's sslcert=PATH, relative to the schema), or use sslmode=require to encrypt without verifying the server")
        } else {
            String::new()
        };
        return Some(Failure::new(
            Exit::DatabaseUnreachable,
            format!("TLS connection to {target} failed: {line}{hint}"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::url;

    #[test]
    fn connection_failures_are_classified() {
        let url = url::parse("postgresql://app:pw@db:5432/school", None).unwrap();
        let f = classify(
            &url,
            "DATABASE_URL",
            "pg_dump: error: connection to server at \"db\" (10.0.0.1), port 5432 failed: FATAL:  password authentication failed for user \"app\"",
        )
        .unwrap();
        assert_eq!(f.exit, Exit::DatabaseUnreachable);
        assert!(f.message.starts_with("password authentication failed for app@db:5432/school"));
        let f = classify(&url, "DATABASE_URL", "connection to server at \"db\", port 5432 failed: Connection refused")
            .unwrap();
        assert!(f.message.contains("unreachable (connection refused)"));
        let f = classify(&url, "DATABASE_URL", "FATAL:  database \"school\" does not exist").unwrap();
        assert!(f.message.starts_with("database `school` does not exist"));
        assert!(classify(&url, "DATABASE_URL", "pg_dump: error: query failed").is_none());
        // A German server's message, with the code psql prints in verbose mode.
        let f = classify(&url, "DATABASE_URL", "psql:<stdin>:1: FATAL:  3D000: Datenbank »school« existiert nicht")
            .unwrap();
        assert!(f.message.starts_with("database `school` does not exist"));
        assert_eq!(sqlstates("ERROR:  42P01: relation \"x\" does not exist\nLOCATION:  parserOpenTable"), ["42P01"]);
        assert!(sqlstates("psql: error: connection to server failed: Connection refused").is_empty());
        let f = classify(
            &url,
            "DATABASE_URL",
            "pg_dump: error: aborting because of server version mismatch\npg_dump: detail: server version: 16.4; pg_dump version: 15.18\n",
        )
        .unwrap();
        assert_eq!(f.exit, Exit::TaskFailed);
        let f = classify(
            &url,
            "DATABASE_URL",
            "psql: error: connection to server at \"db\" (10.0.0.1), port 5432 failed: root certificate file \"/root/.postgresql/root.crt\" does not exist\nEither provide the file, use the system's trusted roots with sslrootcert=system, or change sslmode to disable server certificate verification.",
        )
        .unwrap();
        assert_eq!(f.exit, Exit::DatabaseUnreachable);
        assert!(f.message.starts_with("TLS connection to app@db:5432/school failed: "), "{}", f.message);
        assert!(f.message.contains("sslrootcert=PATH"), "{}", f.message);
        let f = classify(
            &url,
            "DATABASE_URL",
            "pg_dump: error: server certificate for \"localhost\" does not match host name \"db\"",
        )
        .unwrap();
        assert_eq!(f.exit, Exit::DatabaseUnreachable);
        let f = classify(
            &url,
            "DATABASE_URL",
            "pg_dump: error: aborting because of server version mismatch\npg_dump: detail: server version: 16.4; pg_dump version: 15.18\n",
        )
        .unwrap();
        assert_eq!(
            f.message,
            "the client tools are older than the server at app@db:5432/school (server version: 16.4; pg_dump version: 15.18), so they refuse to dump it: install PostgreSQL 16's client tools (Debian/Ubuntu: postgresql-client-16) and put them first on PATH"
        );
    }
}
