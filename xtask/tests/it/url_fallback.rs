//! `[database] url_env` as a list of fallbacks, as an app whose Prisma config reads
//! `process.env.DIRECT_URL ?? process.env.DATABASE_URL` has it: the first variable
//! set is used, the run says which, and Prisma connects where the tool does.

use crate::prisma_app::{ledger, PrismaApp, INIT, MIGRATION};

fn assert_contains(hay: &str, needle: &str) {
    assert!(hay.contains(needle), "expected `{needle}` in:\n{hay}");
}

/// The app copy with `url_env = ["DIRECT_URL", "DATABASE_URL"]` and a schema that
/// reads DIRECT_URL: Prisma itself finds no URL unless the tool passes it on.
fn app_with_fallbacks() -> PrismaApp {
    let app = PrismaApp::new();
    let toml = app.project.read("tasks.toml");
    assert!(toml.contains("url_env = \"DATABASE_URL\""), "{toml}");
    app.project.file(
        "tasks.toml",
        &toml.replace("url_env = \"DATABASE_URL\"", "url_env = [\"DIRECT_URL\", \"DATABASE_URL\"]"),
    );
    let schema = "Backend/src/prisma/db/schema.prisma";
    let text = app.project.read(schema);
    assert!(text.contains("env(\"DATABASE_URL\")"), "{text}");
    app.project.file(schema, &text.replace("env(\"DATABASE_URL\")", "env(\"DIRECT_URL\")"));
    app
}

#[test]
fn only_the_second_variable_set_deploys_with_it_and_says_so() {
    let app = app_with_fallbacks();

    let out = app.xtask().args(["deploy", "--dry-run"]).run();
    out.expect_code(0);
    assert_contains(&out.stdout, "database URL from DATABASE_URL (DIRECT_URL not set)");

    // Only DATABASE_URL is set (PrismaApp::xtask sets it; the harness removes DIRECT_URL).
    let out = app.xtask().arg("deploy").run();
    out.expect_code(0);
    let all = out.all();
    let said: Vec<&str> = all.lines().filter(|l| l.contains("database URL from")).collect();
    assert_eq!(said.len(), 1, "one line says which variable: {all}");
    assert_contains(said[0], "database URL from DATABASE_URL (DIRECT_URL not set)");
    assert_eq!(app.states(), ledger(&[(INIT, "applied"), (MIGRATION, "applied")]));
    assert_eq!(app.backups().len(), 1);
    assert!(!all.contains(app.password()), "the password in the output: {all}");

    let out = app.xtask().arg("status").run();
    out.expect_code(0);
    assert_contains(&out.stdout, "Status: in sync");
}

#[test]
fn none_of_the_variables_set_is_one_line_naming_each_and_nothing_runs() {
    let app = app_with_fallbacks();
    let out = app.project.xtask().arg("deploy").run();
    out.expect_code(2);
    assert_contains(&out.stderr, "none of DIRECT_URL, DATABASE_URL is set");
    assert!(app.backups().is_empty(), "nothing may run: {:?}", app.backups());
    assert!(!app.psql("SELECT to_regclass('public._prisma_migrations') IS NULL").contains('f'));

    let out = app.project.xtask().arg("status").run();
    out.expect_code(2);
    let error: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error.len(), 1, "{}", out.stderr);
    assert_contains(error[0], "none of DIRECT_URL, DATABASE_URL is set");

    // A task that needs no database needs none of them.
    assert!(app.project.xtask().arg("--list").run().expect_code(0).stdout.contains("deploy"));
}
