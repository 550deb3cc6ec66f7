//! Data checks before production (issue 19): each statement form whose success
//! depends on the rows, on a table with offending rows, stops the default deploy
//! before production with the row count and the first key; with the rows fixed the
//! same deploy goes through; on an empty table and on a table created earlier in
//! the same deploy there is no false alarm; a check over its time limit is "not
//! checked". One cluster and two Prisma starts for the whole sequence.

use serde_json::Value;

use crate::prisma_app::{Options, PrismaApp, MIGRATIONS};

#[track_caller]
fn assert_contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "expected to find {needle:?} in:\n{haystack}");
}

fn prisma_calls(all: &str) -> usize {
    all.lines().filter(|l| l.contains("$ npx prisma ")).count()
}

fn add_migration(app: &PrismaApp, name: &str, sql: &str) {
    app.project.file(&format!("{MIGRATIONS}/{name}/migration.sql"), sql);
}

/// Tables of an app that has been running for a while: `{t}` with the columns the
/// forms change, `{t}_legacy` for the new NOT NULL column, the enum `{t}_kind`.
fn app_tables(t: &str) -> String {
    format!(
        "CREATE TYPE \"{t}_kind\" AS ENUM ('A', 'B', 'C');\n\
         CREATE TABLE \"{t}_team\" (\"id\" INTEGER PRIMARY KEY);\n\
         CREATE TABLE \"{t}\" (\"id\" INTEGER PRIMARY KEY, \"email\" TEXT, \"nick\" TEXT, \"code\" TEXT, \"views\" INTEGER, \
          \"slug\" VARCHAR(100), \"kind\" \"{t}_kind\", \"team_id\" INTEGER);\n\
         CREATE TABLE \"{t}_legacy\" (\"id\" INTEGER PRIMARY KEY, \"note\" TEXT);\n"
    )
}

/// The migration under test, as Prisma generates these forms (the enum value
/// removal is Prisma's own `_new` type dance).
fn forms(t: &str) -> String {
    format!(
        "-- CreateEnum\nCREATE TYPE \"{t}_plan\" AS ENUM ('FREE', 'PRO');\n\n\
         -- AlterTable\nALTER TABLE \"{t}_legacy\" ADD COLUMN     \"plan\" \"{t}_plan\" NOT NULL;\n\n\
         -- AlterTable\nALTER TABLE \"{t}\" ALTER COLUMN \"nick\" SET NOT NULL;\n\n\
         -- CreateIndex\nCREATE UNIQUE INDEX \"{t}_email_key\" ON \"{t}\"(\"email\");\n\n\
         -- AddForeignKey\nALTER TABLE \"{t}\" ADD CONSTRAINT \"{t}_team_id_fkey\" FOREIGN KEY (\"team_id\") REFERENCES \"{t}_team\"(\"id\") ON DELETE SET NULL ON UPDATE CASCADE;\n\n\
         ALTER TABLE \"{t}\" ADD CONSTRAINT \"{t}_views_check\" CHECK (views >= 0);\n\n\
         -- AlterTable\nALTER TABLE \"{t}\" ALTER COLUMN \"code\" SET DATA TYPE INTEGER USING \"code\"::integer;\n\n\
         -- AlterTable\nALTER TABLE \"{t}\" ALTER COLUMN \"slug\" SET DATA TYPE VARCHAR(5);\n\n\
         -- AlterEnum\nBEGIN;\nCREATE TYPE \"{t}_kind_new\" AS ENUM ('A', 'B');\n\
         ALTER TABLE \"{t}\" ALTER COLUMN \"kind\" TYPE \"{t}_kind_new\" USING (\"kind\"::text::\"{t}_kind_new\");\n\
         ALTER TYPE \"{t}_kind\" RENAME TO \"{t}_kind_old\";\nALTER TYPE \"{t}_kind_new\" RENAME TO \"{t}_kind\";\n\
         DROP TYPE \"{t}_kind_old\";\nCOMMIT;\n"
    )
}

/// The line of `needle` in `forms(t)`.
fn line_of(t: &str, needle: &str) -> usize {
    forms(t).lines().position(|l| l.contains(needle)).expect(needle) + 1
}

#[test]
fn data_failures_stop_the_deploy_before_production_with_count_and_key() {
    let app = PrismaApp::with(Options { deploy_policy: "recover = \"stop\"".into(), ..Options::default() });
    app.deployed_state();
    let before = app.states();
    // Production's tables: `acct` with offending rows, `empty` with none.
    app.psql(&format!("{}{}", app_tables("acct"), app_tables("empty")));
    app.psql(
        "INSERT INTO acct_team VALUES (1);\n\
         INSERT INTO acct VALUES (1, 'a@example.org', NULL, 'abc', -1, 'a-much-too-long-slug', 'C', 99), \
                                (2, 'a@example.org', 'sam', '2', 1, 'ok', 'A', 1), \
                                (3, 'c@example.org', 'kim', '3', 2, 'ok2', 'B', NULL);\n\
         INSERT INTO acct_legacy VALUES (10, 'x'), (11, 'y');",
    );
    let failing = "20270101000000_acct_forms";
    add_migration(&app, failing, &forms("acct"));

    let out = app.xtask().args(["deploy", "--report", "report.json"]).run();
    out.expect_code(4);
    let all = out.all();
    assert_eq!(prisma_calls(&all), 0, "Prisma ran against production:\n{all}");
    assert_contains(&all, "rehearsal: passed");
    // Every form is reported with its count and the first offending row's key.
    for (needle, table, what) in [
        ("ADD COLUMN", "public.acct_legacy", "2 existing row(s), which the new NOT NULL column without a default cannot fill; first offending row: {\"id\": 10}"),
        ("SET NOT NULL", "public.acct", "1 row(s) with nick NULL; first offending row: {\"id\": 1}"),
        ("CREATE UNIQUE INDEX", "public.acct", "1 duplicated value(s) of (email); first offending row: {\"id\": "),
        ("FOREIGN KEY", "public.acct", "1 row(s) whose (team_id) match no row of public.acct_team (orphans); first offending row: {\"id\": 1}"),
        ("CHECK", "public.acct", "1 row(s) violating CHECK (views >= 0); first offending row: {\"id\": 1}"),
        ("SET DATA TYPE INTEGER", "public.acct", "at least one row(s) whose code does not convert to INTEGER; first offending row: {\"id\": 1}"),
        ("VARCHAR(5)", "public.acct", "1 row(s) whose slug is longer than 5 characters; first offending row: {\"id\": 1}"),
        ("ALTER COLUMN \"kind\" TYPE", "public.acct", "1 row(s) whose kind is not one of the new enum's values (A, B); first offending row: {\"id\": 1}"),
    ] {
        let at = format!("data check FAILED: {failing}:{} {table}", line_of("acct", needle));
        let found = all.lines().find(|l| l.contains(&at)).unwrap_or_else(|| panic!("no {at:?} in:\n{all}"));
        assert_contains(found, what);
    }
    // No column value is printed (personal data), only keys.
    for value in ["a@example.org", "a-much-too-long-slug", "abc"] {
        assert!(!all.contains(value), "{value} printed:\n{all}");
    }
    // The stop names the migration, file:line, table and column, and the fix.
    assert_contains(&all, &format!("migration.sql:{}", line_of("acct", "ADD COLUMN")));
    assert_contains(&all, "table public.acct_legacy");
    assert_contains(&all, "add a DEFAULT to the column");
    assert_contains(&all, "production was not changed");
    assert_eq!(app.states(), before, "production's ledger changed");
    assert!(!app.has_object("acct_plan"));
    let report = app.report("report.json");
    let checks = &report["rehearsal"]["data_checks"]["checks"];
    assert_eq!(checks.as_array().map(Vec::len), Some(8), "{report:#}");
    assert!(checks.as_array().unwrap().iter().all(|c| c["outcome"] == "failed"), "{checks:#}");
    assert_eq!(report["exit_code"], 4);
    crate::report::validate(&schema_json(), &report, "report").unwrap();

    // A check over its time limit on a large table: "not checked", which stops the
    // deploy only when configured so.
    app.psql(
        "CREATE TABLE big (id INTEGER PRIMARY KEY, body TEXT);\n\
         INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 100000) g;",
    );
    let slow = "20270101000001_big_check";
    add_migration(
        &app,
        slow,
        "ALTER TABLE \"big\" ADD CONSTRAINT \"big_body_check\" CHECK (length(md5(repeat(body, 100))) = 32);\n",
    );
    let tight = "[rehearsal]\ncheck_timeout = 0.05\nnot_checked = \"stop\"\n";
    std::fs::remove_dir_all(app.path().join(MIGRATIONS).join(failing)).unwrap();
    app.reconfigure(Options {
        deploy_policy: "recover = \"stop\"".into(),
        extra_toml: tight.into(),
        ..Options::default()
    });
    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(4);
    let all = out.all();
    assert_contains(&all, &format!("data check not checked: {slow}:1 public.big"));
    assert_contains(&all, "longer than its 0.05s time limit");
    assert_contains(&all, "not_checked = \"stop\"");
    assert_eq!(prisma_calls(&all), 0, "{all}");
    assert_eq!(app.states(), before);

    // The rows fixed, the same migration on the empty tables and on tables created
    // earlier in the same deploy: no false alarm, the deploy goes through (the
    // slow check not checked, and the deploy goes on).
    add_migration(&app, failing, &forms("acct"));
    app.psql(
        "UPDATE acct SET nick = 'ana', email = 'b@example.org', code = '1', views = 0, slug = 'ok1', kind = 'A', team_id = 1 WHERE id = 1;\n\
         DELETE FROM acct_legacy;",
    );
    add_migration(&app, "20270101000002_empty_forms", &forms("empty"));
    add_migration(&app, "20270101000003_new_tables", &app_tables("fresh"));
    add_migration(&app, "20270101000004_fresh_forms", &forms("fresh"));
    let go_on = "[rehearsal]\ncheck_timeout = 0.05\n";
    app.reconfigure(Options {
        deploy_policy: "recover = \"stop\"".into(),
        extra_toml: go_on.into(),
        ..Options::default()
    });
    let out = app.xtask().args(["deploy", "--report", "report.json"]).run();
    let all = out.all();
    out.expect_code(0);
    assert!(!all.contains("data check FAILED"), "{all}");
    assert_contains(&all, &format!("data check not checked: {slow}:1 public.big"));
    assert_contains(&all, "data check not needed: 20270101000004_fresh_forms:");
    assert_contains(&all, "the table is created earlier in this deploy (empty)");
    assert_eq!(prisma_calls(&all), 1, "{all}");
    let report = app.report("report.json");
    let checks = report["rehearsal"]["data_checks"]["checks"].as_array().unwrap().clone();
    let outcome = |c: &Value| c["outcome"].as_str().unwrap_or_default().to_string();
    assert!(checks.iter().all(|c| outcome(c) != "failed"), "{checks:#?}");
    assert!(app.states().iter().any(|s| s == &format!("{failing} applied")), "{:?}", app.states());
    assert!(app.states().iter().any(|s| s == "20270101000004_fresh_forms applied"), "{:?}", app.states());

    // Issue 21: a type an earlier pending migration of the same deploy creates is
    // not blamed on production.
    add_migration(&app, "20270102000000_tier_a", "CREATE TYPE \"tier\" AS ENUM ('A', 'B');\n");
    add_migration(&app, "20270102000001_tier_b", "CREATE TYPE \"tier\" AS ENUM ('A', 'B');\n");
    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(4);
    let all = out.all();
    assert_contains(&all, "production does not have it: the earlier pending migration `20270102000000_tier_a` of this same deploy creates it");
    assert!(!all.contains("production already has"), "{all}");
    for m in ["20270102000000_tier_a", "20270102000001_tier_b"] {
        std::fs::remove_dir_all(app.path().join(MIGRATIONS).join(m)).unwrap();
    }

    new_user_scenario(&app);
}

/// Issue 19's new user: a Prisma-generated enum column NOT NULL without a default
/// on a table with rows. The default deploy stops before production; a deploy
/// without the data checks reaches production, where it fails (23502, logged by
/// Prisma's Wasm engine as `Null constraint failed`): no automatic retry, one piece
/// of advice, and it says to fix the file; the next deploy does not loop either.
fn new_user_scenario(app: &PrismaApp) {
    let name = "20270103000000_add_tier";
    add_migration(
        app,
        name,
        "-- CreateEnum\nCREATE TYPE \"acct_tier\" AS ENUM ('BASIC', 'PLUS');\n\n-- AlterTable\nALTER TABLE \"acct\" ADD COLUMN     \"tier\" \"acct_tier\" NOT NULL;\n",
    );
    app.reconfigure(Options::default());
    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(4);
    let all = out.all();
    assert_contains(&all, &format!("data check FAILED: {name}:5 public.acct"));
    assert_contains(&all, "3 existing row(s)");
    assert_eq!(prisma_calls(&all), 0, "{all}");

    // Without the checks, production fails; the unchanged file is not retried.
    let off = "[rehearsal]\ndata_checks = false\n";
    app.reconfigure(Options { extra_toml: off.into(), ..Options::default() });
    for attempt in 1..=2 {
        let out = app.xtask().args(["deploy", "--report", "report.json"]).run();
        out.expect_code(4);
        let all = out.all();
        assert!(!all.contains("migrate resolve"), "attempt {attempt} resolved by itself:\n{all}");
        assert_eq!(prisma_calls(&all), 1, "attempt {attempt}: {all}");
        assert!(!all.contains("no database error was logged"), "{all}");
        assert_contains(&all, "23502");
        assert_contains(&all, "fix migration.sql (or the rows) first");
        assert_eq!(all.matches("first: ").count(), 1, "one piece of advice:\n{all}");
        let report = app.report("report.json");
        assert_eq!(report["diagnosis"]["verdict"], "not_applied", "{report:#}");
        crate::report::validate(&schema_json(), &report, "report").unwrap();
    }
    assert!(app.states().iter().any(|s| s == &format!("{name} failed")), "{:?}", app.states());
    assert_eq!(app.states().iter().filter(|s| s.starts_with(name)).count(), 1, "{:?}", app.states());
    let out = app.xtask().args(["diagnose"]).run();
    let all = out.all();
    assert_contains(&all, "Null constraint failed");
    assert_contains(&all, "fix migration.sql (or the rows) first");
    assert!(!all.contains("no database error was logged"), "{all}");
}

fn schema_json() -> Value {
    let path = crate::prisma_app::repo_root().join("docs/report-v1.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
