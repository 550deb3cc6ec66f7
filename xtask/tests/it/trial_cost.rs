//! What the evidence's trial run costs production (issue 24 item 2): `diagnose` runs
//! no trial over a table larger than `trial_max_rows` (no WAL, no dead rows, the
//! verdict says it was skipped and why), runs it when asked with `--trial`, and
//! `deploy` tries a file at most once per run (its rehearsal's plan and its recovery
//! ask the same question). `status` and `diagnose` work on a database whose
//! transactions are read-only. Real PostgreSQL, real Prisma, the real binary.

use crate::harness::Out;
use crate::prisma_app::{PrismaApp, MIGRATIONS};

/// A data-only migration recorded as failed: its directory on disk and a failed row
/// with its checksum (as a deploy killed mid-file leaves it).
fn failed_data_migration(app: &PrismaApp, name: &str, sql: &str) {
    app.project.file(&format!("{MIGRATIONS}/{name}/migration.sql"), sql);
    let checksum = xtask::testing::migrations::hex(&crate::prisma_app::sha2_digest(sql.as_bytes()));
    app.psql(&format!(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, logs, applied_steps_count) \
         VALUES ('{name}-row', '{checksum}', '{name}', now(), 'Error: P1017: Server has closed the connection.', 0)"
    ));
}

/// One number from a query.
fn number(app: &PrismaApp, sql: &str) -> i64 {
    let text = app.psql(sql);
    text.trim().parse().unwrap_or_else(|_| panic!("{sql}: {text}"))
}

/// The server's WAL position in bytes.
fn wal(app: &PrismaApp) -> i64 {
    number(app, "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
}

/// Rows updated in `table` (rolled-back updates count too) and its dead rows, once
/// every other session on the database has ended and flushed its statistics.
fn writes(app: &PrismaApp, table: &str) -> (i64, i64) {
    for _ in 0..100 {
        let others = number(
            app,
            &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()", app.db),
        );
        if others == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let row =
        app.psql(&format!("SELECT n_tup_upd || ' ' || n_dead_tup FROM pg_stat_user_tables WHERE relname = '{table}'"));
    let (upd, dead) = row.trim().split_once(' ').unwrap_or_else(|| panic!("{row}"));
    (upd.parse().unwrap(), dead.parse().unwrap())
}

fn diagnose(app: &PrismaApp, args: &[&str]) -> Out {
    app.xtask().arg("diagnose").args(args).run()
}

#[test]
fn diagnose_skips_the_trial_over_a_large_table_and_runs_it_when_asked() {
    let app = PrismaApp::new();
    app.deployed_state();
    // 20,000 rows, over the default limit of 10,000; analysed and vacuumed, so that the
    // catalogs know its size and autovacuum has nothing to do while the test measures.
    app.psql(
        "CREATE TABLE \"events\" (\"id\" SERIAL PRIMARY KEY, \"kind\" TEXT); \
         INSERT INTO \"events\" (\"kind\") SELECT NULL FROM generate_series(1, 20000);",
    );
    app.psql("VACUUM ANALYZE \"events\"");
    failed_data_migration(
        &app,
        "20990101000000_backfill_events",
        "-- Backfill\nUPDATE \"events\" SET \"kind\" = 'other' WHERE \"kind\" IS NULL;\n",
    );
    let (upd0, dead0) = writes(&app, "events");
    let wal0 = wal(&app);
    let out = diagnose(&app, &[]);
    out.expect_code(4);
    let wal1 = wal(&app);
    let all = out.all();
    assert!(
        all.contains("trial skipped: \"public\".\"events\"") || all.contains("trial skipped: public.events"),
        "{all}"
    );
    assert!(all.contains("holds about 20,000 rows by the catalogs' estimate, over the 10,000 rows"), "{all}");
    assert!(all.contains("pass --trial to diagnose"), "{all}");
    assert!(all.contains("verdict:   unknown: trial skipped"), "{all}");
    assert_eq!(writes(&app, "events"), (upd0, dead0), "diagnose updated rows: {all}");
    // A trial of this file writes megabytes of WAL (see below); the reads write next to nothing.
    assert!(wal1 - wal0 < 256 * 1024, "diagnose wrote {} bytes of WAL", wal1 - wal0);

    // Asked for explicitly, the trial runs (and costs what the measurement above would see).
    let out = diagnose(&app, &["--trial"]);
    out.expect_code(4);
    let all = out.all();
    assert!(all.contains("it changed 20000 row(s)"), "{all}");
    let (upd, dead) = writes(&app, "events");
    assert_eq!(upd - upd0, 20_000, "{all}");
    assert!(dead - dead0 >= 20_000, "{dead} dead rows");
    assert!(wal(&app) - wal1 > 1024 * 1024, "the explicit trial's WAL");
    assert_eq!(number(&app, "SELECT count(*) FROM \"events\" WHERE \"kind\" IS NULL"), 20_000, "rolled back");
}

#[test]
fn deploy_tries_a_data_migration_once_per_run() {
    let app = PrismaApp::new();
    app.deployed_state();
    // A small table with a serial key: each trial of an INSERT into it consumes one
    // sequence value (a rollback does not give it back), which counts the trials.
    app.psql(
        "CREATE TABLE \"greetings\" (\"id\" SERIAL PRIMARY KEY, \"body\" TEXT); \
         INSERT INTO \"greetings\" (\"body\") VALUES ('a'), ('b'), ('c'); ANALYZE \"greetings\";",
    );
    failed_data_migration(
        &app,
        "20990101000000_welcome_note",
        "INSERT INTO \"greetings\" (\"body\") VALUES ('welcome');\n",
    );
    let seq = || number(&app, "SELECT last_value FROM \"greetings_id_seq\"");
    assert_eq!(seq(), 3);
    // The rehearsal's plan asks for the evidence, and so does the recovery: one trial.
    let out = app.xtask().arg("deploy").run();
    out.expect_code(4);
    let all = out.all();
    assert!(all.contains("changed 1 row(s)"), "{all}");
    assert_eq!(seq(), 4, "the trial ran {} times: {all}", seq() - 3);
    assert_eq!(number(&app, "SELECT count(*) FROM \"greetings\""), 3);
    // Each run tries it again (once): the data may have changed between runs.
    diagnose(&app, &[]).expect_code(4);
    assert_eq!(seq(), 5);
}

#[test]
fn status_and_diagnose_need_no_write() {
    let app = PrismaApp::new();
    app.production_state();
    // Every transaction on the database read-only, as on a hot standby: a write fails.
    app.psql(&format!("ALTER DATABASE \"{}\" SET default_transaction_read_only = on", app.db));
    let out = app.xtask().arg("status").run();
    out.expect_code(4);
    assert!(out.all().contains("Status: failed"), "{}", out.all());
    let out = diagnose(&app, &[]);
    out.expect_code(0);
    assert!(out.all().contains("verdict:"), "{}", out.all());
}
