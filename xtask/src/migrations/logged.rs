//! Every text Prisma is known to log for a failed migration, and its SQLSTATE: the
//! one table the tool reads a failed row's `logs` (and Prisma's output) with.
//!
//! The native schema engine logs `Database error code: 23502` and the server's
//! `ERROR: ...` line; the WebAssembly engine (driver adapters) logs the server's
//! message after `Error querying the database: ERROR:` for most errors, but maps some
//! to Prisma's own words without a code (`Null constraint failed: `, `Unique
//! constraint failed: (b)`, `Foreign key constraint failed: r_e_fkey`, `The value
//! provided for column Unavailable is too long.`); Prisma's query errors word them
//! `... on the fields`, `... on the field`. Each entry is matched as a substring
//! of a line, first match wins.

/// (text, SQLSTATE, where the text was seen).
pub(crate) const TEXTS: &[(&str, &str, &str)] = &[
    // Prisma's own words (recorded 2026-12-07: Prisma 6.19.3, Wasm engine, @prisma/adapter-pg 6.19.3, PostgreSQL 15.18).
    ("Null constraint failed", "23502", "prisma wasm"),
    ("Null constraint violation", "23502", "prisma P2011"),
    ("Unique constraint failed", "23505", "prisma wasm, P2002 `on the fields`"),
    ("Foreign key constraint failed", "23503", "prisma wasm, P2003 `on the field`"),
    ("is too long", "22001", "prisma wasm `The value provided for column X is too long.`"),
    ("too long for the column's type", "22001", "prisma P2000"),
    ("Server has closed the connection", "08006", "prisma P1017"),
    ("Can't reach database server", "08001", "prisma P1001"),
    ("Timed out fetching a new connection", "08001", "prisma P2024"),
    ("Operations timed out", "57014", "prisma P1008"),
    // The server's messages (both engines: after `ERROR:`).
    ("value too long for type", "22001", "postgres"),
    ("contains null values", "23502", "postgres: ADD COLUMN/SET NOT NULL"),
    ("violates not-null constraint", "23502", "postgres"),
    ("could not create unique index", "23505", "postgres: CREATE UNIQUE INDEX over duplicates"),
    ("violates unique constraint", "23505", "postgres"),
    ("violates foreign key constraint", "23503", "postgres"),
    ("violates check constraint", "23514", "postgres"),
    ("is violated by some row", "23514", "postgres: ADD CHECK over rows"),
    ("invalid input syntax for type", "22P02", "postgres: a cast of a bad value"),
    ("invalid input value for enum", "22P02", "postgres: a value an enum does not have"),
    ("out of range for type", "22003", "postgres"),
    ("division by zero", "22012", "postgres"),
    ("canceling statement due to statement timeout", "57014", "postgres"),
    ("canceling statement due to lock timeout", "55P03", "postgres"),
    ("could not obtain lock", "55P03", "postgres"),
    ("deadlock detected", "40P01", "postgres"),
    ("could not serialize access", "40001", "postgres"),
    ("server closed the connection", "08006", "libpq"),
    ("terminating connection", "57P01", "postgres"),
    ("syntax error", "42601", "postgres"),
    ("already exists", "42710", "postgres (42P07 for a relation)"),
    ("does not exist", "42704", "postgres"),
];

/// The SQLSTATE of a logged message, from the table.
pub(crate) fn sqlstate_of(message: &str) -> Option<&'static str> {
    let (_, code, _) = TEXTS.iter().find(|(needle, _, _)| message.contains(needle))?;
    // 42710 is for types/constraints; relations that exist are 42P07.
    if *code == "42710" && (message.starts_with("relation ") || message.starts_with("table ")) {
        return Some("42P07");
    }
    Some(code)
}

/// A line of Prisma's own words for an error (it has no `ERROR:` prefix).
pub(crate) fn is_prisma_words(line: &str) -> bool {
    TEXTS.iter().any(|(needle, _, source)| source.starts_with("prisma") && line.contains(needle))
}

/// The line that says what went wrong in logs nothing in [`TEXTS`] recognises,
/// verbatim: not Prisma's boilerplate, not the engine's span trace.
pub(crate) fn first_informative_line(logs: &str) -> Option<String> {
    logs.lines()
        .map(str::trim)
        .find(|l| {
            !l.is_empty()
                && !l.starts_with("A migration failed to apply")
                && !l.starts_with("Migration name:")
                && !l.starts_with("Database error")
                && !l.starts_with("DbError {")
                && !l.starts_with("with migration_name")
                && !l.starts_with("at ")
                && *l != "external connector error"
                && !l.split_once(':').is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::super::DbError;

    /// `_prisma_migrations.logs` as Prisma 6.19.3's Wasm engine wrote them for a
    /// failed migration (recorded 2026-12-07 with @prisma/adapter-pg 6.19.3 on
    /// PostgreSQL 15.18; the span trace shortened to its first line).
    fn wasm(line: &str) -> String {
        format!("external connector error\n{line}\n   0: sql_schema_connector::apply_migration::apply_script\n           with migration_name=\"20270101000000_x\"\n")
    }

    /// The same failure as the native engine logs it (code and server message).
    fn native(code: &str, message: &str) -> String {
        format!("A migration failed to apply. New migrations cannot be applied before the error is recovered from.\n\nMigration name: 20270101000000_x\n\nDatabase error code: {code}\n\nDatabase error:\nERROR: {message}\n\nDbError {{ severity: \"ERROR\" }}\n")
    }

    #[track_caller]
    fn maps(logs: &str, code: &str, message: &str) {
        let e = DbError::from_logs(logs);
        assert_eq!(e.code.as_deref(), Some(code), "{logs}");
        assert_eq!(e.message.as_deref(), Some(message), "{logs}");
    }

    #[test]
    fn wasm_not_null_column_on_rows() {
        maps(&wasm("Null constraint failed: "), "23502", "Null constraint failed:");
    }

    #[test]
    fn wasm_unique_index_over_duplicates() {
        maps(&wasm("Unique constraint failed: (b)"), "23505", "Unique constraint failed: (b)");
    }

    #[test]
    fn wasm_foreign_key_over_orphans() {
        maps(&wasm("Foreign key constraint failed: r_e_fkey"), "23503", "Foreign key constraint failed: r_e_fkey");
    }

    #[test]
    fn wasm_value_too_long() {
        let line = "The value provided for column Unavailable is too long.";
        maps(&wasm(line), "22001", line);
    }

    #[test]
    fn wasm_check_over_rows() {
        let line =
            "Error querying the database: ERROR: check constraint \"c\" of relation \"r\" is violated by some row";
        maps(&wasm(line), "23514", "check constraint \"c\" of relation \"r\" is violated by some row");
    }

    #[test]
    fn wasm_cast_of_a_bad_value() {
        let line = "Error querying the database: ERROR: invalid input syntax for type integer: \"x\"";
        maps(&wasm(line), "22P02", "invalid input syntax for type integer: \"x\"");
    }

    #[test]
    fn wasm_lock_and_statement_timeouts() {
        let lock = "Error querying the database: ERROR: canceling statement due to lock timeout";
        maps(&wasm(lock), "55P03", "canceling statement due to lock timeout");
        let stmt = "Error querying the database: ERROR: canceling statement due to statement timeout";
        maps(&wasm(stmt), "57014", "canceling statement due to statement timeout");
    }

    #[test]
    fn wasm_division_by_zero() {
        maps(&wasm("Error querying the database: ERROR: division by zero"), "22012", "division by zero");
    }

    #[test]
    fn prisma_query_engine_words() {
        maps(
            "Unique constraint failed on the fields: (`email`)",
            "23505",
            "Unique constraint failed on the fields: (`email`)",
        );
        maps(
            "Foreign key constraint failed on the field: `authorId`",
            "23503",
            "Foreign key constraint failed on the field: `authorId`",
        );
        maps(
            "Null constraint violation on the fields: (`role`)",
            "23502",
            "Null constraint violation on the fields: (`role`)",
        );
        let p2000 = "The provided value for the column is too long for the column's type. Column: slug";
        maps(p2000, "22001", p2000);
        assert_eq!(
            DbError::from_logs("Error: P1017: Server has closed the connection.").code.as_deref(),
            Some("08006")
        );
    }

    #[test]
    fn native_data_failures_keep_their_logged_code() {
        for (code, message) in [
            ("23502", "column \"role\" of relation \"User\" contains null values"),
            ("23505", "could not create unique index \"User_email_key\""),
            ("23503", "insert or update on table \"Post\" violates foreign key constraint \"Post_authorId_fkey\""),
            ("23514", "check constraint \"views_check\" of relation \"Post\" is violated by some row"),
            ("22P02", "invalid input value for enum \"Role_new\": \"GUEST\""),
            ("22001", "value too long for type character varying(5)"),
        ] {
            maps(&native(code, message), code, message);
            // Without the code line, the table gives the same SQLSTATE.
            maps(&format!("Database error:\nERROR: {message}\n"), code, message);
        }
    }

    #[test]
    fn unrecognised_logs_are_quoted_verbatim_never_as_nothing_logged() {
        let logs = wasm("Error in connector: something new happened");
        let e = DbError::from_logs(&logs);
        assert_eq!(e.code, None);
        assert_eq!(e.message.as_deref(), Some("Error in connector: something new happened"));
        assert_ne!(e.describe(), "no database error was logged");
        assert_eq!(DbError::from_logs("").describe(), "no database error was logged");
    }

    #[test]
    fn every_text_in_the_table_maps_to_its_sqlstate() {
        for (text, code, _) in super::TEXTS {
            let got = super::sqlstate_of(text);
            assert_eq!(got, Some(*code), "{text}");
        }
    }
}
