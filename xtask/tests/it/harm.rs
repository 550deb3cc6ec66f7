//! Issue 24, "First, do no harm": the safety machinery must not hurt production.
//! Item 3 (no deploy without its audit trail), item 4 (Prisma's own advisory lock
//! is the deploy lock: plain Prisma runs are kept out, a migration in progress
//! elsewhere is not read as failed) and item 7 (errors that ran everything anyway
//! or said the wrong exit status), against the real binary, PostgreSQL and Prisma.

use std::time::{Duration, Instant};

use crate::harness::Out;
use crate::prisma_app::{Options, PrismaApp};

fn assert_contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "expected `{needle}` in:\n{haystack}");
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn prisma_calls(out: &Out) -> usize {
    out.all().lines().filter(|l| l.contains("$ npx prisma ")).count()
}

/// Item 3: the audit log cannot be appended to (here its path is a directory:
/// the tests run as root, whom file modes do not stop). deploy and a plain backup
/// stop in the preflight (exit 2) before anything: no backup, no Prisma call, the
/// ledger as it was.
#[test]
fn an_unwritable_audit_log_stops_deploy_and_backup_before_anything() {
    let app = PrismaApp::new();
    app.production_state();
    let before = app.rows();
    std::fs::create_dir_all(app.backup_dir().join("xtask-audit.jsonl")).unwrap();

    let out = app.xtask().arg("deploy").run();
    out.expect_code(2);
    assert_contains(&out.stderr, "the audit log");
    assert_contains(&out.stderr, "cannot be written");
    assert_contains(&out.stderr, "nothing was run");
    assert_eq!(prisma_calls(&out), 0, "{}", out.all());
    assert!(app.backups().is_empty(), "a backup was taken: {:?}", app.backups());
    assert_eq!(app.rows(), before);

    let out = app.xtask().arg("backup").run();
    out.expect_code(2);
    assert_contains(&out.stderr, "cannot be written");
    assert!(app.backups().is_empty(), "a backup was taken: {:?}", app.backups());

    // `--dry-run` says so too, and creates nothing.
    std::fs::remove_dir(app.backup_dir().join("xtask-audit.jsonl")).unwrap();
    std::fs::remove_dir(app.backup_dir()).unwrap();
    std::fs::write(app.path().join("backups"), "a file where the backup directory should be\n").unwrap();
    let out = app.xtask().args(["deploy", "--dry-run"]).run();
    out.expect_code(2);
    assert_contains(&out.all(), "is not a directory");
    assert_eq!(app.rows(), before);
}

/// Item 3: the log becomes unwritable during the run (a step after the backup
/// turns it into a directory): the next audit line fails and the run stops there,
/// before the rehearsal's or Prisma's side effects reach production.
#[test]
fn an_audit_write_that_fails_mid_run_stops_before_the_next_side_effect() {
    let app = PrismaApp::new();
    let log = app.backup_dir().join("xtask-audit.jsonl");
    app.reconfigure(Options {
        deploy_deps: vec!["break-audit".into()],
        extra_toml: format!(
            "\n[tasks.break-audit]\ndeps = [\"backup\"]\nrun = [\"sh\", \"-c\", \"rm -f '{0}' && mkdir '{0}'\"]\n",
            log.display()
        ),
        ..Options::default()
    });
    app.production_state();
    let before = app.rows();
    let out = app.xtask().arg("deploy").run();
    out.expect_code(1);
    assert_contains(&out.stderr, "cannot write the audit log");
    assert_contains(&out.stderr, "stopped before its next step");
    assert_eq!(app.backups().len(), 1, "the backup ran before the log broke");
    assert!(!out.all().contains("$ npx prisma migrate deploy"), "{}", out.all());
    assert_eq!(app.rows(), before);
}

fn finish(child: std::process::Child) -> Out {
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A deploy whose chain starts with a task that holds the run (and so its locks)
/// until the test creates the file `go`.
fn app_with_a_paused_deploy() -> PrismaApp {
    PrismaApp::with(Options {
        deploy_deps: vec!["pause".into()],
        extra_toml:
            "\n[tasks.pause]\nrun = [\"sh\", \"-c\", \"touch paused; while [ ! -e go ]; do sleep 0.1; done\"]\n".into(),
        ..Options::default()
    })
}

/// Sessions holding Prisma's migrate lock (72707369) on the app's database.
fn prisma_lock_holders(app: &PrismaApp) -> usize {
    app.psql(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = 72707369 \
         AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .trim()
    .parse()
    .unwrap()
}

fn has_ledger(app: &PrismaApp) -> bool {
    app.psql("SELECT to_regclass('public._prisma_migrations') IS NOT NULL").trim() == "t"
}

/// Item 4: a plain `prisma migrate deploy` (the real CLI) started while a deploy of
/// the tool runs waits for Prisma's lock, which the tool holds for the whole run,
/// and fails with its P1002 instead of migrating under it. The tool's deploy then
/// applies the migrations itself (its own Prisma calls do not wait on its lock).
#[test]
fn a_plain_prisma_deploy_beside_a_tool_deploy_fails_with_p1002_and_migrates_nothing() {
    let app = app_with_a_paused_deploy();
    let tool = app.xtask().arg("deploy").spawn();
    wait_for("the tool's deploy to hold its locks", Duration::from_secs(60), || app.path().join("paused").exists());
    assert_eq!(prisma_lock_holders(&app), 1, "the tool holds Prisma's lock");

    let plain = app.prisma(&["migrate", "deploy"]);
    assert_eq!(plain.code, Some(1), "{}", plain.all());
    assert_contains(&plain.all(), "P1002");
    assert!(!has_ledger(&app), "the plain run migrated under the tool's deploy:\n{}", plain.all());

    std::fs::write(app.path().join("go"), "").unwrap();
    let out = finish(tool);
    out.expect_code(0);
    assert_contains(&out.all(), "The following migration(s) have been applied");
    assert_eq!(app.states().len(), 2, "{:?}", app.states());
    assert_eq!(prisma_lock_holders(&app), 0, "released at the end of the run");
}

/// Item 4: another session holds Prisma's lock when the tool starts (a plain Prisma
/// run in progress, a container entrypoint): the tool rehearses, backs up, resolves
/// and retries nothing; it waits within --lock-timeout (or not with --no-wait) and
/// stops with exit 5 naming the holder. `diagnose` reads the unfinished row as in
/// progress, not failed, and tries nothing on it.
#[test]
fn a_holder_of_prismas_lock_stops_the_tool_with_exit_5_naming_it() {
    let app = PrismaApp::new();
    app.production_state();
    let before = app.rows();
    let holder = app.hold("SET application_name = 'entrypoint-migrate'; SELECT pg_advisory_lock(72707369);");
    wait_for("psql to hold Prisma's lock", Duration::from_secs(10), || prisma_lock_holders(&app) == 1);

    let out = app.xtask().args(["deploy", "--lock-timeout", "2"]).run();
    out.expect_code(5);
    assert_contains(&out.all(), "waiting for Prisma's migrate lock (72707369");
    assert_contains(&out.all(), "held by entrypoint-migrate (client ");
    assert_eq!(prisma_calls(&out), 0, "{}", out.all());
    assert!(!out.all().contains("rehears"), "{}", out.all());

    let out = app.xtask().args(["deploy", "--no-wait"]).run();
    out.expect_code(5);
    assert_contains(&out.stderr, "Prisma's migrate lock (72707369: a `prisma migrate` is running on this database) is held by entrypoint-migrate");

    let out = app.xtask().args(["resolve-rolled-back", crate::prisma_app::MIGRATION, "--yes", "--no-wait"]).run();
    out.expect_code(5);
    assert_eq!(prisma_calls(&out), 0, "{}", out.all());

    let out = app.xtask().arg("diagnose").run();
    out.expect_code(5);
    assert_contains(&out.all(), "in progress, not failed");
    assert_contains(&out.all(), "held by entrypoint-migrate");
    assert!(!out.all().contains("verdict"), "{}", out.all());

    assert!(app.backups().is_empty(), "{:?}", app.backups());
    assert_eq!(app.rows(), before);
    drop(holder);
    // Once that run has ended, the same row is a failed migration again.
    let out = app.xtask().arg("diagnose").run();
    assert!(!out.all().contains("in progress"), "{}", out.all());
    assert_contains(&out.all(), "verdict");
}

/// Issue 21, item 7: the holder of the deploy lock is shown with its TCP address
/// and port (it was "local socket" for a TCP client); a role that may not see
/// another role's client address (no pg_read_all_stats) says so, never "local socket".
#[test]
fn the_lock_holder_is_shown_with_its_tcp_address_or_as_hidden() {
    let app = PrismaApp::new();
    app.deployed_state();
    let key = xtask::testing::db::lock::KEY;
    let holder = app.hold(&format!("SELECT pg_advisory_lock({key});"));
    wait_for("psql to hold the deploy lock", Duration::from_secs(10), || {
        app.psql(&format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = {}",
            key & 0xffff_ffff
        ))
        .trim()
            == "1"
    });

    let out = app.xtask().args(["deploy", "--no-wait"]).run();
    out.expect_code(5);
    let shown =
        out.stderr.split("another deploy holds the deploy lock (").nth(1).unwrap_or_else(|| panic!("{}", out.stderr));
    let client = shown.split("(client ").nth(1).and_then(|c| c.split(',').next()).unwrap_or_default();
    let (addr, port) = client.rsplit_once(':').unwrap_or_else(|| panic!("no address:port in {shown}"));
    assert_eq!(addr, "127.0.0.1", "{shown}");
    assert!(port.parse::<u16>().is_ok(), "{shown}");

    // The same run as a role of its own, which does not see the superuser's address.
    app.psql("CREATE ROLE deployer LOGIN PASSWORD 'dp-Zq7-pw'; GRANT ALL ON SCHEMA public TO deployer;");
    let url = format!("postgresql://deployer:dp-Zq7-pw@127.0.0.1:{}/{}", app.cluster.port(), app.db);
    let out = app.xtask().args(["deploy", "--no-wait"]).env("DATABASE_URL", &url).run();
    out.expect_code(5);
    assert_contains(&out.stderr, "client address hidden from role deployer, which lacks pg_read_all_stats");
    assert!(!out.stderr.contains("local socket"), "{}", out.stderr);
    drop(holder);
}

/// Item 7: `--report` into a directory that does not exist is found before anything
/// runs (exit 2): no backup, no Prisma call; it used to run the whole deploy, warn
/// and exit 0 with the report lost.
#[test]
fn a_report_into_a_missing_directory_is_a_preflight_error() {
    let app = PrismaApp::new();
    app.production_state();
    let before = app.rows();
    let out = app.xtask().args(["deploy", "--report", "no-such-dir/report.json"]).run();
    out.expect_code(2);
    assert_contains(&out.stderr, "--report no-such-dir/report.json: its directory no-such-dir does not exist");
    assert_contains(&out.stderr, "nothing was run");
    assert_eq!(prisma_calls(&out), 0, "{}", out.all());
    assert!(app.backups().is_empty(), "{:?}", app.backups());
    assert_eq!(app.rows(), before);
    // A directory where the file should be is refused the same way.
    std::fs::create_dir_all(app.path().join("reports/r.json")).unwrap();
    let out = app.xtask().args(["status", "--report", "reports/r.json"]).run();
    out.expect_code(2);
    assert_contains(&out.stderr, "it is a directory");
}

/// Item 7: the database server stops while a deploy holds its lock: the run stops
/// before its next step as unreachable (exit 3, as the README says), not as a lost
/// lock (exit 5); nothing after that step ran. A terminated lock session with the
/// server still up stays exit 5 (tests/it/faults.rs).
#[test]
fn a_database_that_stops_during_a_deploy_exits_3_not_5() {
    let mut app = app_with_a_paused_deploy();
    app.production_state();
    let before = app.rows();
    let tool = app.xtask().arg("deploy").spawn();
    wait_for("the deploy to hold its locks", Duration::from_secs(60), || app.path().join("paused").exists());
    app.cluster.stop().unwrap();
    std::fs::write(app.path().join("go"), "").unwrap();
    let out = finish(tool);
    out.expect_code(3);
    assert_contains(&out.stderr, "the database server went away during the run");
    assert_contains(&out.stderr, "stopped before task `backup`");
    assert!(!out.all().contains("the deploy lock was lost"), "{}", out.all());
    assert!(app.backups().is_empty(), "{:?}", app.backups());
    app.cluster.restart().unwrap();
    assert_eq!(app.rows(), before);
}
