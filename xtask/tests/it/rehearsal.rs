//! `deploy` rehearses its pending migrations on a scratch copy of production
//! before production (issue 15), against real PostgreSQL clusters and the real
//! Prisma CLI: the runbook's drift caught on the copy, a passing rehearsal, a
//! rehearsed recovery, a data-dependent failure only a full copy shows, a role
//! without CREATEDB, a separate scratch server, and a run killed mid-rehearsal.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Out;
use crate::prisma_app::{repo_root, Options, PrismaApp, INIT, MIGRATION};

const MIGRATIONS: &str = "Backend/src/prisma/db/migrations";

#[track_caller]
fn assert_contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "expected to find {needle:?} in:\n{haystack}");
}

fn prisma_calls(out: &Out) -> Vec<String> {
    out.all().lines().filter_map(|l| l.split_once("$ npx prisma ").map(|(_, c)| c.to_string())).collect()
}

/// Scratch databases of rehearsals on this cluster (any left behind is a bug),
/// once the detached droppers of passed rehearsals (`xtask-scratch-drop` in
/// pg_stat_activity, which may outlive their run) have finished.
fn scratch_databases(app: &PrismaApp) -> Vec<String> {
    wait_for_droppers(app);
    app.psql("SELECT datname FROM pg_database WHERE datname LIKE '%\\_rehearsal\\_%' ORDER BY 1")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// Waits until no detached dropper of a scratch database is connected (bounded:
/// a dropper that never ends fails the test that looks for its database).
fn wait_for_droppers(app: &PrismaApp) {
    let t0 = Instant::now();
    while app.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xtask-scratch-drop'").trim() != "0"
        && t0.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Production with `init` applied and the runbook's migration pending (its file
/// as it is on disk now).
fn init_only(app: &PrismaApp) {
    let dir = app.path().join(MIGRATIONS).join(MIGRATION);
    let held = app.path().join("held-back-migration");
    std::fs::rename(&dir, &held).unwrap();
    app.prisma(&["migrate", "deploy"]).expect_code(0);
    std::fs::rename(&held, &dir).unwrap();
    assert_eq!(app.states(), crate::prisma_app::ledger(&[(INIT, "applied")]));
}

/// Adds a migration directory to the app copy.
fn add_migration(app: &PrismaApp, name: &str, sql: &str) {
    app.project.file(&format!("{MIGRATIONS}/{name}/migration.sql"), sql);
}

fn policy(p: &str) -> Options {
    Options { deploy_policy: p.to_string(), ..Options::default() }
}

fn schema_json() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo_root().join("docs/report-v1.schema.json")).unwrap()).unwrap()
}

/// The runbook's drift: production already has the enum the pending migration
/// creates unguarded. The rehearsal fails on the copy; production is not touched.
#[test]
fn the_runbooks_drift_is_caught_in_the_rehearsal_before_production() {
    let app = PrismaApp::new();
    init_only(&app);
    app.put_broken();
    let before = app.psql("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace");

    let out = app.xtask().args(["deploy", "--report", "report.json"]).run();
    out.expect_code(4);
    let all = out.all();
    assert!(prisma_calls(&out).is_empty(), "Prisma ran against production:\n{all}");
    assert_contains(&all, "rehearsal");
    assert_contains(&all, "42710");
    assert_contains(&all, "type \"attendance_status\" already exists");
    assert_contains(&all, &format!("migration: {MIGRATION}"));
    assert_contains(&all, "production was not changed");
    assert_contains(&all, "IF NOT EXISTS");

    // Production: no row for the migration, no new objects.
    assert_eq!(app.states(), crate::prisma_app::ledger(&[(INIT, "applied")]));
    assert!(!app.has_object("library_books") && !app.has_object("library_issue_status"));
    assert_eq!(app.psql("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"), before);
    assert_eq!(scratch_databases(&app), Vec::<String>::new());

    let report = app.report("report.json");
    crate::report::validate(&schema_json(), &report, "report").unwrap();
    let r = &report["rehearsal"];
    assert_eq!(r["outcome"], "failed", "{report:#}");
    assert_eq!(r["failed"], MIGRATION);
    assert!(r["database"].as_str().unwrap().starts_with("school_rehearsal_"), "{r}");
    assert_eq!(report["diagnosis"]["error_code"], "42710");
    assert!(report["diagnosis"]["summary"].as_str().unwrap().starts_with("rehearsal:"), "{report:#}");
    let audit: Vec<Value> = app.audit().into_iter().filter(|l| l["event"] == "rehearsal").collect();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["outcome"], "failed");
    assert!(!app.audit_text().contains(app.password()));
}

/// After a passed rehearsal the deploy does not wait for the copy's DROP (a
/// checkpoint and every file of the copy removed: seconds on a durable server): a
/// psql of its own queues for the run's scratch lock, takes it over when the run's
/// lock session ends (no moment where another run's sweep would see the copy
/// unlocked), drops the copy and may outlive the run.
#[test]
fn a_passed_rehearsals_copy_is_dropped_by_a_session_that_takes_the_runs_lock_over() {
    let app = PrismaApp::new();
    // Every statement in the server's log, with its session's application_name.
    for setting in ["log_statement = 'all'", "log_line_prefix = '%a [%p]: '"] {
        app.cluster.psql("postgres", &format!("ALTER SYSTEM SET {setting}")).unwrap();
    }
    app.cluster.psql("postgres", "SELECT pg_reload_conf()").unwrap();
    init_only(&app);

    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, "the scratch database is dropped by a session of its own, which may outlive this run");
    assert!(!all.contains("in this run ("), "the hand-off fell back to a DROP in the run:\n{all}");
    assert_eq!(scratch_databases(&app), Vec::<String>::new());

    let log = std::fs::read_to_string(app.cluster.log_path()).unwrap();
    // The keys the run's sessions took (the deploy lock's, the scratch lock's).
    let taken: Vec<&str> =
        log.split("pg_try_advisory_lock(").skip(1).filter_map(|rest| rest.split(')').next()).collect();
    let dropper: Vec<&str> = log.lines().filter(|l| l.starts_with("xtask-scratch-drop [")).collect();
    let locked = dropper.iter().position(|l| {
        l.split("statement: SELECT pg_advisory_lock(")
            .nth(1)
            .is_some_and(|rest| rest.strip_suffix(");").is_some_and(|key| taken.contains(&key)))
    });
    let dropped = dropper.iter().position(|l| l.contains("statement: DROP DATABASE IF EXISTS \"school_rehearsal_"));
    assert!(matches!((locked, dropped), (Some(l), Some(d)) if l < d), "the dropper's statements: {dropper:#?}");
}

/// A pending migration that succeeds: rehearsed, then deployed; the run's
/// report, audit log and GitHub step summary record the rehearsal.
#[test]
fn a_pending_migration_passes_the_rehearsal_then_deploys() {
    let app = PrismaApp::new();
    init_only(&app);
    let summary = app.path().join("summary.md");

    let out = app
        .xtask()
        .args(["deploy", "--report", "report.json"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, &format!("rehearsal: `{MIGRATION}` applied on the copy"));
    assert_contains(&all, "rehearsal: passed");
    assert_eq!(prisma_calls(&out).len(), 1, "{all}");
    assert_eq!(app.states(), crate::prisma_app::ledger(&[(INIT, "applied"), (MIGRATION, "applied")]));
    assert!(app.has_object("library_books"));
    assert_eq!(scratch_databases(&app), Vec::<String>::new());
    // The rehearsal came before the production deploy.
    let rehearsed = all.find("rehearsal: passed").unwrap();
    let deployed = all.find("$ npx prisma migrate deploy").unwrap();
    assert!(rehearsed < deployed, "{all}");

    let report = app.report("report.json");
    crate::report::validate(&schema_json(), &report, "report").unwrap();
    let r = &report["rehearsal"];
    assert_eq!(r["outcome"], "passed");
    assert_eq!(r["mode"], "schema");
    assert_eq!(r["applied"], serde_json::json!([MIGRATION]));
    assert!(r["seconds"].as_f64().unwrap() > 0.0);
    let md = std::fs::read_to_string(&summary).unwrap();
    assert_contains(&md, "**Rehearsal** (schema): passed on `school_rehearsal_");
    assert!(app.audit().iter().any(|l| l["event"] == "rehearsal" && l["outcome"] == "passed"));

    // Nothing pending: no scratch database is made.
    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(0);
    assert_contains(&out.all(), "rehearsal: skipped: no pending migrations");
}

/// Production has the runbook's failed row and the fixed file is on disk: the
/// rehearsal recovers it on the copy first, then production does the same.
#[test]
fn a_recorded_failure_whose_file_was_fixed_is_recovered_on_the_copy_then_in_production() {
    let app = PrismaApp::new();
    app.production_state();

    let out = app.xtask().args(["deploy", "--report", "report.json"]).run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, &format!("rehearsal: marking `{MIGRATION}` rolled-back on the copy"));
    assert_contains(&all, &format!("rehearsal: `{MIGRATION}` applied on the copy"));
    let rehearsed = all.find("rehearsal: passed").expect("a passed rehearsal");
    let resolved = all.find("$ npx prisma migrate resolve --rolled-back").expect("a resolve in production");
    assert!(rehearsed < resolved, "{all}");
    assert_eq!(
        app.states(),
        crate::prisma_app::ledger(&[(INIT, "applied"), (MIGRATION, "rolled back"), (MIGRATION, "applied")])
    );
    let report = app.report("report.json");
    assert_eq!(report["rehearsal"]["recovered"], format!("`{MIGRATION}` as rolled-back"));
    assert_eq!(report["resolutions"].as_array().unwrap().len(), 1);
    assert_eq!(scratch_databases(&app), Vec::<String>::new());
}

/// A unique index over duplicate rows fails only with data: a schema rehearsal
/// passes it (the data checks then catch it), `rehearse = "full"` catches it.
#[test]
fn a_full_rehearsal_catches_a_unique_index_over_duplicates() {
    let app = PrismaApp::with(policy("rehearse = \"full\"\nrecover = \"stop\""));
    app.deployed_state();
    app.psql(
        "INSERT INTO users (id, email, name, updated_at) VALUES ('u1', 'a@example.org', 'Sam', now()), \
         ('u2', 'b@example.org', 'Sam', now())",
    );
    let unique = "20260301000000_unique_user_name";
    add_migration(&app, unique, "CREATE UNIQUE INDEX \"users_name_key\" ON \"users\"(\"name\");\n");

    // Started as an installed binary (no CARGO from cargo's alias), the advice names
    // the command the user typed, not `cargo xtask`.
    let out = app.xtask().env("CARGO", "").args(["deploy"]).run();
    out.expect_code(4);
    let all = out.all();
    assert_contains(&all, "23505");
    assert_contains(&all, "rehearsal: migration `20260301000000_unique_user_name` failed on a copy");
    assert_contains(&all, "xtask deploy   # rehearses the fixed file, then deploys");
    assert!(!all.contains("cargo xtask deploy   #"), "{all}");
    assert!(prisma_calls(&out).is_empty(), "{all}");
    assert!(!app.states().iter().any(|s| s.starts_with(unique)), "{:?}", app.states());
    assert_eq!(scratch_databases(&app), Vec::<String>::new());

    // The schema copy has no rows: its rehearsal passes, and the data checks that
    // follow it stop the deploy before production (issue 19).
    app.reconfigure(policy("rehearse = \"schema\"\nrecover = \"stop\""));
    let out = app.xtask().env("CARGO", "").args(["deploy"]).run();
    out.expect_code(4);
    assert_contains(&out.all(), "rehearsal: passed");
    assert_contains(&out.all(), "1 duplicated value(s) of (name)");
    assert_contains(&out.all(), "xtask deploy   # checks the rows again, then deploys");
    assert!(!out.all().contains("cargo xtask deploy   #"), "{}", out.all());
    assert!(prisma_calls(&out).is_empty(), "{}", out.all());
    assert!(!app.states().iter().any(|s| s.starts_with(unique)), "{:?}", app.states());
    assert_eq!(scratch_databases(&app), Vec::<String>::new());
}

/// Issue 24 item 7: a full rehearsal checks, before anything runs, that the
/// server has room for the copy where that can be read (the server on this
/// machine, its data directory visible to the role), and says "not checked"
/// where it cannot (an ordinary role: PostgreSQL shows free space to no role).
#[test]
fn a_full_rehearsal_checks_disk_space_where_it_can_and_says_where_it_cannot() {
    let app = PrismaApp::with(policy("rehearse = \"full\""));
    app.deployed_state();
    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, "rehearsal: disk space checked: the copy needs about");
    assert_contains(&all, "free");
    let checked = all.find("disk space checked").unwrap();
    let backup = all.find("backup: ").unwrap();
    assert!(checked < backup, "{all}");

    app.psql("CREATE ROLE app LOGIN PASSWORD 'app-pw-Zq7' CREATEDB; GRANT pg_read_all_data TO app;");
    let url = format!("postgresql://app:app-pw-Zq7@127.0.0.1:{}/school?schema=public", app.cluster.port());
    let out = app.xtask().env("DATABASE_URL", &url).args(["deploy"]).run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, "rehearsal: disk space not checked (PostgreSQL shows free disk space to no role, and this role may not see the server's data directory");
    assert_contains(&all, "the copy needs about");
    assert!(!all.contains("disk space checked"), "{all}");
}

/// A login role that owns the app's database but may not create databases.
fn app_role_url(app: &PrismaApp) -> String {
    app.psql(
        "CREATE ROLE app LOGIN PASSWORD 'app-pw-Zq7' NOCREATEDB; ALTER DATABASE school OWNER TO app; \
         ALTER SCHEMA public OWNER TO app;",
    );
    format!("postgresql://app:app-pw-Zq7@127.0.0.1:{}/school?schema=public", app.cluster.port())
}

/// Without CREATEDB: the default rehearsal steps aside with a note; an explicit
/// one is a preflight error; a scratch server in `[rehearsal] url_env` rehearses there.
#[test]
fn a_role_without_createdb_skips_by_default_fails_when_explicit_and_uses_a_scratch_server() {
    let app = PrismaApp::new();
    let url = app_role_url(&app);

    // Explicit: exit 2 before anything ran (no backup).
    app.reconfigure(policy("rehearse = \"schema\""));
    let out = app.xtask().env("DATABASE_URL", &url).args(["deploy"]).run();
    out.expect_code(2);
    assert_contains(&out.all(), "role `app` may not create databases");
    assert_contains(&out.all(), "CREATEDB");
    assert!(app.backups().is_empty(), "{:?}", app.backups());
    assert!(prisma_calls(&out).is_empty());

    // A second server as the scratch server.
    let scratch = pgcluster::Cluster::start(
        &app.path().join("pg-scratch"),
        &pgcluster::ClusterOptions { tls: false, superuser_password: "scratch-pw-Zq7".into() },
    )
    .unwrap();
    app.reconfigure(Options {
        deploy_policy: "rehearse = \"schema\"".into(),
        extra_toml: "\n[rehearsal]\nurl_env = \"SCRATCH_URL\"\n".into(),
        ..Options::default()
    });
    // url_env set but the variable missing: a preflight error.
    let out = app.xtask().env("DATABASE_URL", &url).args(["deploy"]).run();
    out.expect_code(2);
    assert_contains(&out.all(), "SCRATCH_URL, which is not set");

    let out = app
        .xtask()
        .env("DATABASE_URL", &url)
        .env("SCRATCH_URL", scratch.url("postgres"))
        .args(["deploy", "--report", "report.json"])
        .run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, "on the scratch server in $SCRATCH_URL");
    assert_contains(&all, "rehearsal: passed");
    assert!(!all.contains("scratch-pw-Zq7") && !all.contains("app-pw-Zq7"), "{all}");
    let report = app.report("report.json");
    assert_eq!(report["rehearsal"]["server_env"], "SCRATCH_URL");
    assert_eq!(report["rehearsal"]["applied"].as_array().unwrap().len(), 2, "{report:#}");
    assert_eq!(app.states(), crate::prisma_app::ledger(&[(INIT, "applied"), (MIGRATION, "applied")]));
    let left = scratch.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%rehearsal%'").unwrap();
    assert_eq!(left.trim(), "0");
    assert_eq!(scratch_databases(&app), Vec::<String>::new());

    // The default with no scratch server: skipped, with why and how.
    app.reconfigure(Options::default());
    add_migration(&app, "20260301000000_add_note", "ALTER TABLE \"users\" ADD COLUMN \"note\" TEXT;\n");
    let out = app.xtask().env("DATABASE_URL", &url).args(["deploy"]).run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, "rehearsal: skipped: role `app` may not create databases");
    assert_contains(&all, "ALTER ROLE \"app\" CREATEDB");
    assert_contains(&all, "[rehearsal] url_env");
    assert_eq!(all.matches("rehearsal: skipped").count(), 1, "{all}");
}

/// A role `app` (CREATEDB, owner of `school`) whose database also holds a schema of
/// 60 tables, each with a primary key and an index: 120 builds, enough for the
/// copy's restore to run over several connections. Returns its URL.
fn app_role_with_a_wide_schema(app: &PrismaApp, limit: i32) -> String {
    app.psql(&format!(
        "CREATE ROLE app LOGIN PASSWORD 'app-pw-Zq7' CREATEDB CONNECTION LIMIT {limit}; \
         ALTER DATABASE school OWNER TO app; ALTER SCHEMA public OWNER TO app; SET ROLE app; \
         CREATE SCHEMA reporting; \
         DO $$ BEGIN FOR i IN 1..60 LOOP \
           EXECUTE format('CREATE TABLE reporting.t%s (id int PRIMARY KEY, v text)', i); \
           EXECUTE format('CREATE INDEX t%s_v_idx ON reporting.t%s (v)', i, i); \
         END LOOP; END $$;"
    ));
    format!("postgresql://app:app-pw-Zq7@127.0.0.1:{}/school?schema=public", app.cluster.port())
}

/// The schema's restore into the copy takes a share of the connections left on the
/// server for the deploy's role (a quarter, at most 4): under `CONNECTION LIMIT 5`,
/// two of them the run's own sessions, it restores over one (psql, one transaction)
/// where four would have been refused ("too many connections for role"); without
/// the limit, over four, and the copy has what production has: a migration that
/// creates an index production already has fails on it, one that needs a restored
/// primary key passes. The password stays out of the output.
#[test]
fn the_copys_restore_takes_a_share_of_the_connections_left_for_the_role() {
    let app = PrismaApp::new();
    let url = app_role_with_a_wide_schema(&app, 5);
    // `init` first, then the runbook's migration on a copy of `init`'s tables.
    let dir = app.path().join(MIGRATIONS).join(MIGRATION);
    let held = app.path().join("held-back-migration");
    std::fs::rename(&dir, &held).unwrap();
    let out = app.xtask().env("DATABASE_URL", &url).args(["deploy"]).run();
    out.expect_code(0);
    assert_contains(&out.all(), "rehearsal: passed");
    std::fs::rename(&held, &dir).unwrap();
    let out = app.xtask().env("DATABASE_URL", &url).args(["deploy"]).run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, &format!("rehearsal: `{MIGRATION}` applied on the copy"));
    assert!(!all.contains("restored over"), "{all}");
    assert_eq!(app.states(), crate::prisma_app::ledger(&[(INIT, "applied"), (MIGRATION, "applied")]));

    app.psql("ALTER ROLE app CONNECTION LIMIT -1");
    let drift = "20260301000000_index_again";
    add_migration(&app, drift, "CREATE INDEX \"t60_v_idx\" ON \"reporting\".\"t60\" (\"v\");\n");
    let out = app.xtask().env("DATABASE_URL", &url).args(["deploy"]).run();
    out.expect_code(4);
    let all = out.all();
    assert_contains(&all, "restored over 4 connections");
    assert_contains(&all, &format!("rehearsal: migration `{drift}` failed on a copy of production"));
    assert_contains(&all, "\"t60_v_idx\" already exists");
    assert!(!app.states().iter().any(|s| s.starts_with(drift)), "{:?}", app.states());

    add_migration(
        &app,
        drift,
        "ALTER TABLE \"reporting\".\"t60\" ADD CONSTRAINT \"t60_t1\" FOREIGN KEY (\"id\") REFERENCES \"reporting\".\"t1\"(\"id\");\n",
    );
    let out = app.xtask().env("DATABASE_URL", &url).args(["deploy"]).run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, "restored over 4 connections");
    assert_contains(&all, &format!("rehearsal: `{drift}` applied on the copy"));
    assert!(!all.contains("app-pw-Zq7"), "{all}");
    assert_eq!(scratch_databases(&app), Vec::<String>::new());
}

/// A Ctrl-C while pg_restore's workers build the copy's keys and indexes (slowed by
/// an event trigger in `template1`, which the copy is made from): pg_restore and its workers stop,
/// the copy is dropped, the run exits 130 and production is not changed.
#[test]
fn ctrl_c_mid_parallel_restore_stops_its_workers_and_drops_the_copy() {
    let app = PrismaApp::new();
    let url = app_role_with_a_wide_schema(&app, -1);
    app.cluster
        .psql(
            "template1",
            "CREATE FUNCTION slow_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.5); END $$; \
             CREATE EVENT TRIGGER slow_ddl ON ddl_command_end WHEN TAG IN ('CREATE INDEX', 'ALTER TABLE') \
             EXECUTE FUNCTION slow_ddl();",
        )
        .unwrap();
    let child = app.xtask().env("DATABASE_URL", &url).args(["deploy"]).spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    let workers = "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '%\\_rehearsal\\_%' AND application_name = 'pg_restore'";
    while app.psql(workers).trim().parse::<i32>().unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "the restore never ran over several connections");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = ctrl_c_escalating(child);
    out.expect_code(130);
    assert_contains(&out.all(), "restored over 4 connections");
    assert_contains(&out.all(), "interrupted by SIGINT: the rehearsal was stopped, its scratch database dropped");
    assert_eq!(scratch_databases(&app), Vec::<String>::new());
    assert_eq!(app.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_restore'").trim(), "0");
    // Prisma never ran: production has no ledger yet.
    assert!(!app.has_object("_prisma_migrations"));
}

/// A run killed in the middle of its rehearsal leaves its scratch database; the
/// next run drops it.
#[test]
fn a_run_killed_mid_rehearsal_leaves_a_scratch_database_the_next_run_removes() {
    let app = PrismaApp::new();
    app.deployed_state();
    let slow = "20260301000000_slow";
    add_migration(&app, slow, "SELECT pg_sleep(60);\n");

    let mut child = app.xtask().args(["deploy"]).spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sleeping = app.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '%\\_rehearsal\\_%' AND query LIKE '%pg_sleep%'",
        );
        if sleeping.trim() == "1" {
            break;
        }
        assert!(Instant::now() < deadline, "the rehearsal never reached the slow migration");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = scratch_databases(&app);
    assert_eq!(left.len(), 1, "{left:?}");

    add_migration(&app, slow, "SELECT 1;\n");
    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(0);
    assert_contains(&out.all(), &format!("rehearsal: dropping `{}`, left behind by an interrupted run", left[0]));
    assert!(!out.all().contains("leaving `"), "{}", out.all());
    assert_eq!(scratch_databases(&app), Vec::<String>::new());
    assert!(app.states().contains(&format!("{slow} applied")), "{:?}", app.states());
}

/// The mark a run of the tool puts on its scratch database (a protocol between
/// runs, so written out here): alive while advisory lock `key` on database
/// `school` is held.
fn mark_of_a_run(app: &PrismaApp, run: &str, key: u32) -> String {
    let oid = app.psql("SELECT oid FROM pg_database WHERE datname = 'school'");
    format!("xtask rehearsal scratch database: run {run}, alive while advisory lock {}/0/{key} is held", oid.trim())
}

/// Issue 24 item 1: the sweep drops only what the tool made and whose run is
/// gone. A database named like a scratch database holding data of its own, and
/// the live scratch database of another run (its lock held), both survive a
/// deploy; the other run's database is dropped once that run is gone.
#[test]
fn the_sweep_drops_only_marked_scratch_databases_of_dead_runs() {
    let app = PrismaApp::new();
    init_only(&app);
    app.psql("CREATE DATABASE school_rehearsal_keep");
    app.cluster
        .psql(
            "school_rehearsal_keep",
            "CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 1000) g",
        )
        .unwrap();
    // Another run in progress (another service's deploy on the same server):
    // its scratch database carries its mark and its session holds its lock.
    app.psql("CREATE DATABASE school_rehearsal_20260301t000000_000z_77");
    let mark = mark_of_a_run(&app, "20260301T000000.000Z-77", 4242);
    app.psql(&format!("COMMENT ON DATABASE school_rehearsal_20260301t000000_000z_77 IS '{mark}'"));
    let other_run = app.hold("SELECT pg_advisory_lock(4242);");
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242").trim() != "1" {
        assert!(Instant::now() < deadline, "the other run's lock was never taken");
        std::thread::sleep(Duration::from_millis(20));
    }

    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, "rehearsal: passed");
    assert_contains(&all, "leaving `school_rehearsal_keep` alone: its name looks like a scratch database's but it has no mark of this tool");
    assert_contains(
        &all,
        "leaving `school_rehearsal_20260301t000000_000z_77` alone: run 20260301T000000.000Z-77 is still using it",
    );
    assert!(!all.contains("dropping `"), "{all}");
    assert_eq!(
        scratch_databases(&app),
        ["school_rehearsal_20260301t000000_000z_77", "school_rehearsal_keep"].map(String::from)
    );
    assert_eq!(app.cluster.psql("school_rehearsal_keep", "SELECT count(*) FROM kept").unwrap().trim(), "1000");

    // The other run is gone (its session ended, its lock free): its database is
    // now a leftover, dropped by the next run; the unmarked one still stays.
    drop(other_run);
    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, "rehearsal: dropping `school_rehearsal_20260301t000000_000z_77`, left behind by an interrupted run (20260301T000000.000Z-77)");
    assert_eq!(scratch_databases(&app), ["school_rehearsal_keep"].map(String::from));
    assert_eq!(app.cluster.psql("school_rehearsal_keep", "SELECT count(*) FROM kept").unwrap().trim(), "1000");
}

/// Waits (generously) until a migration of the rehearsal runs `pg_sleep` on the copy.
fn wait_for_the_slow_migration(app: &PrismaApp) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sleeping = app.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '%\\_rehearsal\\_%' AND query LIKE '%pg_sleep%'",
        );
        if sleeping.trim() == "1" {
            return;
        }
        assert!(Instant::now() < deadline, "the rehearsal never reached the slow migration");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the process to end, sending it `then` (signal, after waiting) in
/// turn while it has not: a GitHub Actions cancel is SIGINT, SIGTERM 7.5 s later
/// and SIGKILL 2.5 s after that. Returns the exit code and the output, and prints
/// the time from the first signal to the exit (a figure for BENCHMARKS.md, not
/// an assertion).
/// Ctrl-C at once, then SIGTERM 7.5 s later and SIGKILL 2.5 s after that: what a
/// user (or CI) does to a run that does not stop.
fn ctrl_c_escalating(child: std::process::Child) -> crate::harness::Out {
    wait_escalating(
        child,
        &[
            (libc::SIGINT, Duration::ZERO),
            (libc::SIGTERM, Duration::from_millis(7500)),
            (libc::SIGKILL, Duration::from_millis(2500)),
        ],
    )
}

fn wait_escalating(mut child: std::process::Child, then: &[(i32, Duration)]) -> crate::harness::Out {
    let t0 = Instant::now();
    for (sig, after) in then {
        let deadline = Instant::now() + *after;
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_none() {
            unsafe { libc::kill(child.id() as libc::pid_t, *sig) };
        }
    }
    let out = child.wait_with_output().unwrap();
    eprintln!("from the first signal to the exit: {} ms", t0.elapsed().as_millis());
    crate::harness::Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Issue 24 item 6: a Ctrl-C while a migration runs on the copy (a GitHub
/// Actions cancel: SIGINT, then SIGTERM and SIGKILL only if it is still running)
/// stops the migration, drops the scratch database and exits 130; production
/// is not changed and the next deploy runs normally.
#[test]
fn ctrl_c_mid_rehearsal_stops_the_migration_and_drops_the_scratch_database() {
    let app = PrismaApp::new();
    app.deployed_state();
    let slow = "20260301000000_slow";
    add_migration(&app, slow, "SELECT pg_sleep(30);\n");

    let child = app.xtask().args(["deploy", "--report", "report.json"]).spawn();
    wait_for_the_slow_migration(&app);
    let out = ctrl_c_escalating(child);
    out.expect_code(130);
    let all = out.all();
    assert_contains(
        &all,
        "interrupted by SIGINT: the rehearsal was stopped, its scratch database dropped and production not changed",
    );
    assert_contains(&all, "rehearsal: interrupted after");
    assert_eq!(scratch_databases(&app), Vec::<String>::new());
    assert_eq!(
        app.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()")
            .trim(),
        "0"
    );
    assert!(!app.states().iter().any(|s| s.starts_with(slow)), "{:?}", app.states());
    let report = app.report("report.json");
    assert_eq!(report["exit"], "interrupted");
    assert_eq!(report["exit_code"], 130);
    assert_eq!(report["rehearsal"]["outcome"], "interrupted");
    crate::report::validate(&schema_json(), &report, "report").unwrap();

    add_migration(&app, slow, "SELECT 1;\n");
    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(0);
    assert!(app.states().contains(&format!("{slow} applied")), "{:?}", app.states());
}

/// A second signal does not wait for the clean-up: SIGINT then SIGTERM exits at
/// once, 128 + whichever signal the process handled second (the two arrive
/// together and may be handled by two threads in either order), before the
/// clean-up could say anything. What it left (the scratch database with its
/// mark, its run gone) the next deploy drops.
#[test]
fn a_second_signal_exits_at_once_and_the_next_run_drops_what_is_left() {
    let app = PrismaApp::new();
    app.deployed_state();
    let slow = "20260301000000_slow";
    add_migration(&app, slow, "SELECT pg_sleep(30);\n");

    let child = app.xtask().args(["deploy"]).spawn();
    wait_for_the_slow_migration(&app);
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = wait_escalating(child, &[(libc::SIGKILL, Duration::from_secs(60))]);
    assert!(matches!(out.code, Some(130 | 143)), "{:?}\n{}", out.code, out.all());
    assert!(!out.all().contains("interrupted by"), "{}", out.all());
    let left = scratch_databases(&app);
    assert_eq!(left.len(), 1, "{left:?}");

    // The dead run's sessions end when their psql processes do.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").trim() != "0" {
        assert!(Instant::now() < deadline, "the dead run's locks were never released");
        std::thread::sleep(Duration::from_millis(50));
    }
    add_migration(&app, slow, "SELECT 1;\n");
    let out = app.xtask().args(["deploy"]).run();
    out.expect_code(0);
    assert_contains(&out.all(), &format!("rehearsal: dropping `{}`, left behind by an interrupted run", left[0]));
    assert_eq!(scratch_databases(&app), Vec::<String>::new());
    assert!(app.states().contains(&format!("{slow} applied")), "{:?}", app.states());
}

/// `--dry-run` shows the rehearsal's steps and runs nothing.
#[test]
fn dry_run_shows_the_rehearsal() {
    let app = PrismaApp::new();
    let out = app.xtask().args(["deploy", "--dry-run"]).run();
    out.expect_code(0);
    let all = out.all();
    assert_contains(&all, "rehearse first (rehearse = \"schema\"), on production's server");
    assert_contains(&all, "CREATE DATABASE \"school_rehearsal_<run id>\"");
    assert_contains(&all, "pg_dump --schema-only --no-owner --no-privileges");
    assert_contains(&all, "DROP DATABASE \"school_rehearsal_<run id>\" WITH (FORCE)");
    let rehearse = all.find("rehearse first").unwrap();
    let deploy = all.find("npx prisma migrate deploy").unwrap();
    assert!(rehearse < deploy, "{all}");
    assert!(!all.contains(app.password()));
    assert!(app.backups().is_empty());

    app.reconfigure(policy("rehearse = \"off\""));
    let out = app.xtask().args(["deploy", "--dry-run"]).run();
    assert_contains(&out.all(), "no rehearsal (rehearse = \"off\")");
}
