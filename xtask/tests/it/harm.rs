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
