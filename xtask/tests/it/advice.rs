//! Issue 11 against the real Prisma CLI and a real PostgreSQL cluster: the preflight
//! fails before any side effect, an unchanged file is not retried after a
//! deterministic error, the next steps follow the verdict (the same from `deploy`
//! and `diagnose`), the resolves consult the evidence, and `status` reports pending
//! migrations as a state.

use serde_json::Value;

use crate::harness::Out;
use crate::prisma_app::{ledger, repo_root, tasks_toml, Options, PrismaApp, INIT, MIGRATION};

const MIGRATIONS: &str = "Backend/src/prisma/db/migrations";

#[track_caller]
fn assert_contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "expected to find {needle:?} in:\n{haystack}");
}

fn resolves(out: &Out) -> usize {
    out.all().lines().filter(|l| l.contains("$ npx prisma migrate resolve")).count()
}

fn prisma_calls(out: &Out) -> usize {
    out.all().lines().filter(|l| l.contains("$ npx prisma ")).count()
}

/// Everything in the backup directory but the audit log (finished or partial dumps).
fn dumps(app: &PrismaApp) -> Vec<String> {
    std::fs::read_dir(app.backup_dir())
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n != "xtask-audit.jsonl")
        .collect()
}

/// The next steps of deploy's diagnosis (the indented lines after `next:`), without
/// the timestamps of plain output.
fn deploy_steps(out: &Out) -> Vec<String> {
    let lines: Vec<&str> = out.stderr.lines().collect();
    let Some(i) = lines.iter().position(|l| l.trim_end().ends_with("  next:")) else {
        panic!("no next steps in:\n{}", out.all());
    };
    lines[i + 1..]
        .iter()
        .map(|l| l.split_once("    ").map(|(_, s)| s.trim()).unwrap_or(""))
        .take_while(|s| !s.is_empty() && !s.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

/// The next steps `diagnose` prints (`next:` and the lines aligned under it).
fn diagnose_steps(out: &Out) -> Vec<String> {
    let lines: Vec<&str> = out.stdout.lines().collect();
    let Some(i) = lines.iter().position(|l| l.starts_with("  next:")) else {
        panic!("no next steps in:\n{}", out.all());
    };
    let mut steps = vec![lines[i]["  next:".len()..].trim().to_string()];
    steps.extend(lines[i + 1..].iter().take_while(|l| l.starts_with("           ")).map(|l| l.trim().to_string()));
    steps
}

/// A new migration on disk after `init` and the runbook's migration.
fn add_migration(app: &PrismaApp, name: &str, sql: &str) {
    app.project.file(&format!("{MIGRATIONS}/{name}/migration.sql"), sql);
}

// ---------------------------------------------------------------------------
// The preflight

/// A wrong schema path and a migration folder without migration.sql: the deploy
/// fails in the preflight (exit 2), one line each, before any backup or Prisma
/// call; `--dry-run` reports the same problems with the same exit status.
#[test]
fn wrong_schema_path_fails_in_the_preflight_before_any_backup() {
    let app = PrismaApp::new();
    app.project.file("tasks.toml", &tasks_toml(&Options::default()).replace("db/schema.prisma", "db/schema.prsima"));
    std::fs::create_dir_all(app.path().join(MIGRATIONS).join("20260301000000_empty")).unwrap();

    let out = app.xtask().arg("deploy").run();
    out.expect_code(2);
    let all = out.all();
    assert_contains(&all, "schema.prsima does not exist: fix [prisma] schema in");
    assert_contains(&all, "20260301000000_empty has no migration.sql");
    assert_contains(&all, "preflight: 2 problems");
    assert_eq!(prisma_calls(&out), 0, "{all}");
    assert!(dumps(&app).is_empty(), "{:?}", dumps(&app));

    let dry = app.xtask().args(["deploy", "--dry-run"]).run();
    dry.expect_code(2);
    assert_contains(&dry.stdout, "preflight would fail:");
    assert_contains(&dry.stdout, "schema.prsima does not exist");
    assert_contains(&dry.stdout, "20260301000000_empty has no migration.sql");
    assert!(dumps(&app).is_empty());
}

/// The app's Prisma CLI is not installed (no node_modules): the preflight says so
/// and how to install it, before any backup; `npx` is never asked to download.
/// Installed, the preflight names its version, read from its package.json.
#[test]
fn missing_prisma_cli_fails_in_the_preflight_before_any_backup() {
    let app = PrismaApp::new();
    let linked = app.path().join("Backend/node_modules");
    std::fs::remove_file(&linked).unwrap();

    let out = app.xtask().arg("deploy").run();
    out.expect_code(2);
    let all = out.all();
    assert_contains(&all, "the app's Prisma CLI is not installed: no node_modules/.bin/prisma in");
    assert_contains(&all, "run `npm ci` in");
    assert_eq!(prisma_calls(&out), 0, "{all}");
    assert!(dumps(&app).is_empty(), "{:?}", dumps(&app));

    // A pnpm app (its lock file at the workspace root, above the app) is told pnpm's command.
    let _ = std::fs::remove_file(app.path().join("Backend/package-lock.json"));
    std::fs::write(app.path().join("pnpm-lock.yaml"), "lockfileVersion: '9.0'\n").unwrap();
    let out = app.xtask().arg("deploy").run();
    out.expect_code(2);
    assert_contains(&out.all(), "run `pnpm install --frozen-lockfile` in");
    assert!(!out.all().contains("npm ci"), "{}", out.all());
    assert!(dumps(&app).is_empty(), "{:?}", dumps(&app));

    std::os::unix::fs::symlink(repo_root().join("Backend/node_modules"), &linked).unwrap();
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("Backend/node_modules/prisma/package.json")).unwrap(),
    )
    .unwrap();
    let version = package["version"].as_str().unwrap();
    let out = app.xtask().args(["deploy", "--dry-run"]).run();
    out.expect_code(0);
    let ok = out.stdout.lines().find(|l| l.starts_with("preflight ok")).unwrap_or_else(|| panic!("{}", out.all()));
    assert_contains(ok, &format!("prisma {version} ("));
    assert_contains(ok, "2 migrations");
    assert_contains(ok, "server 15.");
    assert_contains(ok, "pg_dump 15.");
    let out = app.xtask().arg("deploy").run();
    out.expect_code(0);
    assert_eq!(out.all().lines().filter(|l| l.contains("preflight ok")).count(), 1, "{}", out.all());
}

/// A role that may not create databases: `backup --verify-restore` fails in the
/// preflight (exit 3) before it dumps anything.
#[test]
fn verify_restore_without_the_right_to_create_databases_fails_first() {
    let app = PrismaApp::new();
    app.psql("CREATE ROLE app LOGIN PASSWORD 'app-pw' NOCREATEDB; GRANT ALL ON SCHEMA public TO app;");
    let url = format!("postgresql://app:app-pw@127.0.0.1:{}/{}?schema=public", app.cluster.port(), app.db);
    let out = app.xtask().args(["backup", "--verify-restore"]).env("DATABASE_URL", &url).run();
    out.expect_code(3);
    assert_contains(&out.all(), "the role `app` may not create databases, which `backup --verify-restore`");
    assert!(dumps(&app).is_empty(), "{:?}", dumps(&app));
}

// ---------------------------------------------------------------------------
// Never retry what cannot succeed

/// The runbook's first version, left unchanged after it failed with 42710: deploy
/// does not resolve it (it would fail the same way), says the file is unchanged and
/// what to fix, and `diagnose` gives the same next steps.
#[test]
fn unchanged_file_after_already_exists_is_not_resolved() {
    let app = PrismaApp::new();
    app.production_state();
    app.put_broken();
    let before = app.rows();

    let out = app.xtask().arg("deploy").run();
    out.expect_code(4);
    assert_eq!(resolves(&out), 0, "{}", out.all());
    assert_eq!(prisma_calls(&out), 1, "{}", out.all());
    assert_contains(&out.all(), "is unchanged since the failed attempt");
    let steps = deploy_steps(&out);
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(steps[0].starts_with("first: migration.sql of `"), "{steps:?}");
    assert_contains(&steps[0], "`attendance_status` still exists and migration.sql creates it again");
    // The comment says what the evidence showed (issue 19), and nothing more.
    assert_eq!(
        steps[1],
        format!("then: cargo xtask resolve-rolled-back {MIGRATION}   # none of its changes are in the database")
    );
    assert_eq!(steps[2], "then: cargo xtask deploy");
    assert_eq!(app.rows(), before);

    let diag = app.xtask().arg("diagnose").run();
    diag.expect_code(0);
    assert_eq!(diagnose_steps(&diag), steps);
}

/// A migration whose table someone created by hand fails with "relation already
/// exists"; unchanged, it is not resolved while the table is there, and is once the
/// table is dropped (the evidence shows the cause is gone).
#[test]
fn unchanged_file_is_retried_once_the_existing_object_is_dropped() {
    let app = PrismaApp::new();
    app.deployed_state();
    let name = "20260301000000_audit_notes";
    add_migration(
        &app,
        name,
        "CREATE TABLE \"audit_notes\" (\"id\" TEXT NOT NULL, \"note\" TEXT NOT NULL, CONSTRAINT \"audit_notes_pkey\" PRIMARY KEY (\"id\"));\n\
         CREATE TABLE \"audit_tags\" (\"id\" TEXT NOT NULL, CONSTRAINT \"audit_tags_pkey\" PRIMARY KEY (\"id\"));\n",
    );
    app.psql("CREATE TABLE audit_notes (id int)");
    let failed = app.prisma(&["migrate", "deploy"]);
    failed.expect_code(1);
    assert_contains(&failed.all(), "\"audit_notes\" already exists");
    let before = app.rows();

    let out = app.xtask().arg("deploy").run();
    out.expect_code(4);
    assert_eq!(resolves(&out), 0, "{}", out.all());
    assert_contains(&out.all(), &format!("migration.sql of `{name}` is unchanged since the failed attempt"));
    assert_contains(&out.all(), "`audit_notes` still exists");
    assert_eq!(app.rows(), before);

    app.psql("DROP TABLE audit_notes");
    let out = app.xtask().arg("deploy").run();
    out.expect_code(0);
    assert_eq!(resolves(&out), 1, "{}", out.all());
    assert!(app.has_object("audit_notes") && app.has_object("audit_tags"));
    assert_eq!(
        app.states(),
        ledger(&[(INIT, "applied"), (MIGRATION, "applied"), (name, "rolled back"), (name, "applied")])
    );
}

/// A unique index over duplicate data: the unchanged file is not resolved (the data
/// must be fixed first, named from the error); after fixing the data, the manual
/// resolve and deploy finish the job.
#[test]
fn unchanged_file_after_a_unique_violation_is_not_resolved() {
    let app = PrismaApp::new();
    app.deployed_state();
    let name = "20260301000000_users_name_unique";
    add_migration(&app, name, "CREATE UNIQUE INDEX \"users_name_key\" ON \"users\"(\"name\");\n");
    app.psql(
        "INSERT INTO users (id, email, name, updated_at) VALUES ('1', 'a@x', 'Ann', now()), ('2', 'b@x', 'Ann', now())",
    );
    app.prisma(&["migrate", "deploy"]).expect_code(1);
    let before = app.rows();

    let out = app.xtask().arg("deploy").run();
    out.expect_code(4);
    assert_eq!(resolves(&out), 0, "{}", out.all());
    let steps = deploy_steps(&out);
    assert_contains(&steps[0], "is unchanged since the failed attempt");
    assert_contains(&steps[0], "the data does not fit what the migration adds (23505");
    // Named from the error: the index (native engine) or the column (Wasm engine).
    assert!(steps[0].contains("users_name_key") || steps[0].contains("(name)"), "{steps:?}");
    assert!(steps[1].starts_with(&format!("then: cargo xtask resolve-rolled-back {name}   # ")), "{steps:?}");
    assert_eq!(app.rows(), before);

    // The team fixes the data, then follows the steps.
    app.psql("DELETE FROM users WHERE id = '2'");
    app.xtask().args(["resolve-rolled-back", name, "--yes"]).run().expect_code(0);
    app.xtask().arg("deploy").run().expect_code(0);
    assert!(app.psql("SELECT to_regclass('users_name_key') IS NOT NULL").trim() == "t");
}

// ---------------------------------------------------------------------------
// Next steps that match the verdict

/// Applied (the timeout case): resolve-applied, then deploy; no rolled-back
/// command. The same steps from deploy's stop and from diagnose, with this config's
/// task names.
#[test]
fn applied_verdict_advises_resolve_applied_with_the_configs_task_names() {
    let app = PrismaApp::new();
    app.project.file(
        "tasks.toml",
        &tasks_toml(&Options::default())
            .replace("[tasks.deploy]", "[tasks.ship]")
            .replace("[tasks.resolve-applied]", "[tasks.mark-applied]"),
    );
    app.timeout_state();

    let out = app.xtask().arg("ship").run();
    out.expect_code(4);
    let steps = deploy_steps(&out);
    assert_eq!(
        steps,
        [
            format!("cargo xtask mark-applied {MIGRATION}   # its changes are in the database"),
            "then: cargo xtask ship".into()
        ]
    );
    let diag = app.xtask().arg("diagnose").run();
    diag.expect_code(0);
    assert_eq!(diagnose_steps(&diag), steps);
}

/// Not applied, file changed since the failed attempt (policy stop): resolve
/// rolled back, then deploy; never resolve-applied.
#[test]
fn not_applied_verdict_with_a_changed_file_advises_resolve_rolled_back() {
    let app = PrismaApp::with(Options { deploy_policy: "recover = \"stop\"".into(), ..Options::default() });
    app.production_state();
    let out = app.xtask().arg("deploy").run();
    out.expect_code(4);
    let steps = deploy_steps(&out);
    assert_eq!(
        steps,
        [
            format!("cargo xtask resolve-rolled-back {MIGRATION}   # none of its changes are in the database"),
            "then: cargo xtask deploy".into()
        ]
    );
    let diag = app.xtask().arg("diagnose").run();
    diag.expect_code(0);
    assert_eq!(diagnose_steps(&diag), steps);
}

/// Partial: no resolve command, the repair by hand and diagnose again; the lists
/// of what is and is not there.
#[test]
fn partial_verdict_advises_repair_by_hand_and_no_resolve() {
    let app = PrismaApp::new();
    app.production_state();
    app.put_broken();
    app.psql(r#"CREATE TYPE "library_issue_status" AS ENUM ('ISSUED', 'RETURNED', 'OVERDUE', 'LOST');"#);

    let out = app.xtask().arg("deploy").run();
    out.expect_code(4);
    let steps = deploy_steps(&out);
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(steps[0].starts_with("repair by hand to all or nothing"), "{steps:?}");
    assert_eq!(steps[1], format!("then run diagnose again: cargo xtask diagnose {MIGRATION}"));
    assert!(steps.iter().all(|s| !s.contains("resolve-")), "{steps:?}");

    let diag = app.xtask().arg("diagnose").run();
    diag.expect_code(4);
    assert_eq!(diagnose_steps(&diag), steps);
    assert_contains(&diag.stdout, "done (as the migration leaves it):");
    assert_contains(&diag.stdout, "not done (as the database has it now):");
    // A column of a table that does not exist is not listed with a type it "lacks".
    assert!(!diag.stdout.contains("\"public\".\"library_books\".\"id\" allows NULL"), "{}", diag.stdout);
}

/// A migration already recorded as applied: nothing to resolve (not a resolve-applied
/// that Prisma then refuses with P3008). A name neither on disk nor recorded: exit 2
/// with "did you mean".
#[test]
fn applied_migrations_and_unknown_names_get_no_resolve_advice() {
    let app = PrismaApp::new();
    app.deployed_state();
    let diag = app.xtask().args(["diagnose", INIT]).run();
    diag.expect_code(0);
    assert_eq!(diagnose_steps(&diag), [format!("nothing to resolve: `{INIT}` is already recorded as applied")]);

    let typo = "20260221053404_add_missing_modles";
    let out = app.xtask().args(["diagnose", typo]).run();
    out.expect_code(2);
    assert_contains(&out.stderr, &format!("no migration `{typo}` in "));
    assert_contains(&out.stderr, &format!("did you mean `{MIGRATION}`?"));
    let out = app.xtask().args(["diagnose", "99_nope"]).run();
    out.expect_code(2);
    assert_contains(&out.stderr, &format!("the newest are: {MIGRATION}, {INIT}"));
}

/// A Prisma failure that is not a failed migration: its cause's fix first, not
/// just "deploy again".
#[test]
fn a_generic_prisma_failure_advises_its_own_fix() {
    let app = PrismaApp::new();
    app.production_state();
    app.reconfigure(Options {
        prisma_env: "DATABASE_URL = \"postgresql://postgres:nope@127.0.0.1:1/school?schema=public\"".into(),
        ..Options::default()
    });
    let out = app.xtask().arg("deploy").run();
    out.expect_code(3);
    assert_eq!(
        deploy_steps(&out),
        ["first: start the database server, or fix the host and port in DATABASE_URL", "then: cargo xtask deploy"]
    );
}

// ---------------------------------------------------------------------------
// Manual resolves consult the evidence

/// Resolves that contradict the verdict are refused (nothing changes); `--force`
/// marks anyway and the audit log records the verdict it overrode.
#[test]
fn resolves_that_contradict_the_evidence_are_refused_unless_forced() {
    let app = PrismaApp::new();
    app.timeout_state();
    let before = app.rows();
    let out = app.xtask().args(["resolve-rolled-back", "--yes"]).run();
    out.expect_code(1);
    assert_contains(
        &out.stderr,
        &format!("refused to mark `{MIGRATION}` rolled-back: the database check says applied"),
    );
    assert_contains(&out.stderr, "Pass --force");
    assert_eq!(resolves(&out), 0, "{}", out.all());
    assert_eq!(app.rows(), before);

    let out = app.xtask().args(["resolve-rolled-back", "--yes", "--force"]).run();
    out.expect_code(0);
    assert_eq!(app.states(), ledger(&[(INIT, "applied"), (MIGRATION, "rolled back")]));
    let audit: Vec<Value> = app.audit().into_iter().filter(|l| l["event"] == "resolve").collect();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["forced"], true);
    assert_eq!(audit[0]["overrode_verdict"], "applied");
    assert_contains(audit[0]["reason"].as_str().unwrap(), "--force");
}

/// Not applied: resolve-applied is refused; partial: both are refused.
#[test]
fn resolve_applied_on_not_applied_and_both_on_partial_are_refused() {
    let app = PrismaApp::new();
    app.production_state();
    let before = app.rows();
    let out = app.xtask().args(["resolve-applied", "--yes"]).run();
    out.expect_code(1);
    assert_contains(&out.stderr, "refused to mark");
    assert_contains(&out.stderr, "the database check says not applied");
    assert_eq!(app.rows(), before);

    app.put_broken();
    app.psql(r#"CREATE TYPE "library_issue_status" AS ENUM ('ISSUED', 'RETURNED', 'OVERDUE', 'LOST');"#);
    for task in ["resolve-applied", "resolve-rolled-back"] {
        let out = app.xtask().args([task, "--yes"]).run();
        out.expect_code(1);
        assert_contains(&out.stderr, "the database check says partial (run by hand?)");
        assert_eq!(resolves(&out), 0);
    }
    assert_eq!(app.rows(), before);
    // A resolve that agrees with the verdict goes through, showing it.
    app.psql(r#"DROP TYPE "library_issue_status""#);
    app.put_fixed();
    let out = app.xtask().args(["resolve-rolled-back", "--yes"]).run();
    out.expect_code(0);
    assert_contains(&out.all(), "evidence: `");
    assert_contains(&out.all(), "not applied");
}

// ---------------------------------------------------------------------------
// Smaller things

/// Pending migrations are a state (exit 6), not an error line; `--help` lists
/// exit statuses 0 to 6.
#[test]
fn status_prints_pending_as_a_state_and_help_lists_exit_6() {
    let app = PrismaApp::new();
    let out = app.xtask().arg("status").run();
    out.expect_code(6);
    assert!(out.stdout.ends_with("Status: pending\n"), "{}", out.stdout);
    assert!(!out.stderr.contains("error"), "{}", out.stderr);
    assert_contains(&out.stderr, "status: 2 migration(s) pending: run `cargo xtask deploy`");

    let help = app.xtask().arg("--help").run();
    help.expect_code(0);
    assert_contains(&help.stdout, "6 status: migrations pending");
}
