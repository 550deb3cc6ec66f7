//! Issue 10's fault matrix, the process side: xtask killed with `kill -9` in the
//! middle of a dump and of a Prisma call (no child outlives it, the next backup
//! removes the dead run's partial, the audit log says what was running), the deploy
//! lock's session terminated mid-deploy (the run stops before resolving, exit 5),
//! waiting for the lock (one line, naming the holder), and libpq's messages
//! recognised when the user's locale is German.
//!
//! Everything is real: the server, pg_dump, psql and the Prisma CLI. Slow steps
//! are made slow with locks the real tools wait on, never with fake binaries.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Out, Project};
use crate::prisma_app::{PrismaApp, MIGRATION};

/// Every process below `root` (children, their children...), from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) {
            parent_of.insert(pid, ppid);
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| **pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// Whether `pid` runs (a zombie has ended; it only waits to be reaped).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rsplit_once(')').and_then(|(_, a)| a.split_whitespace().next()) != Some("Z")
}

fn argv(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
        .unwrap_or_default()
}

#[track_caller]
fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    t0.elapsed()
}

/// SIGKILL to xtask (no code of ours runs), then: every process that was below it
/// is gone within two seconds. Returns the processes that were there.
#[track_caller]
fn kill_9_and_expect_no_orphans(mut xtask: Child) -> Vec<(u32, String)> {
    let below: Vec<(u32, String)> = descendants(xtask.id()).into_iter().map(|p| (p, argv(p))).collect();
    assert!(!below.is_empty(), "xtask had no children to orphan");
    xtask.kill().unwrap();
    xtask.wait().unwrap();
    let t0 = Instant::now();
    while below.iter().any(|(p, _)| alive(*p)) && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<&(u32, String)> = below.iter().filter(|(p, _)| alive(*p)).collect();
    assert!(left.is_empty(), "still running 2 s after xtask was killed: {left:?} (of {below:?})");
    below
}

/// How many sessions wait on a lock (a blocked pg_dump or migration).
fn lock_waiters(app: &PrismaApp) -> usize {
    app.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").trim().parse().unwrap()
}

fn events<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == event).collect()
}

fn finish(child: Child) -> Out {
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Names in the backup directory.
fn entries(app: &PrismaApp) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(app.backup_dir())
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn partials(app: &PrismaApp) -> Vec<String> {
    entries(app).into_iter().filter(|n| n.ends_with(".partial")).collect()
}

/// `kill -9` of xtask while a user's `run` task runs (stdin not a terminal, so the
/// task has its own process group): the command and what it started in the
/// background are gone within two seconds. Such a command is started without the
/// parent-death signal (`posix_spawn`, BENCHMARKS.md "The runner's own start"):
/// the reaper, which signals the whole group, is what stops both.
#[test]
fn kill_9_mid_run_task_leaves_neither_the_command_nor_its_background_job() {
    let p = Project::new(
        r#"
[tasks.wait]
run = ["sh", "-c", "sleep 300 & exec sleep 301"]
"#,
    );
    let xtask = p.xtask().arg("wait").spawn();
    let pid = xtask.id();
    wait_for("the task's command and its background job", Duration::from_secs(10), || {
        let argvs: Vec<String> = descendants(pid).into_iter().map(argv).collect();
        argvs.iter().any(|a| a == "sleep 300") && argvs.iter().any(|a| a == "sleep 301")
    });
    let below = kill_9_and_expect_no_orphans(xtask);
    assert!(below.iter().any(|(_, a)| a == "sleep 301"), "{below:?}");
    assert!(below.iter().any(|(_, a)| a == "sleep 300"), "{below:?}");
}

/// `kill -9` of xtask while pg_dump waits for a table another session locked:
/// pg_dump goes with it (and its server session), the partial stays behind, and
/// the next backup removes it and says so in one line.
#[test]
fn kill_9_mid_dump_leaves_no_pg_dump_and_the_next_backup_removes_the_partial() {
    let app = PrismaApp::new();
    app.psql("CREATE TABLE held (id int); INSERT INTO held VALUES (1);");
    let lock = app.hold("BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE;");
    wait_for("the table lock", Duration::from_secs(10), || {
        app.psql("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'held'::regclass AND granted").trim() == "1"
    });

    let xtask = app.xtask().arg("backup").spawn();
    wait_for("pg_dump to wait for the table", Duration::from_secs(30), || {
        lock_waiters(&app) == 1 && partials(&app).len() == 1
    });
    let partial = partials(&app).remove(0);
    let below = kill_9_and_expect_no_orphans(xtask);
    assert!(below.iter().any(|(_, a)| a.contains("pg_dump")), "{below:?}");
    // pg_dump cancelled its query and closed its connection on the way out.
    wait_for("pg_dump's session to end", Duration::from_secs(2), || {
        app.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump'").trim() == "0"
    });
    drop(lock);
    // Nobody writes the partial on: it stays as the killed run left it.
    assert_eq!(partials(&app), std::slice::from_ref(&partial));
    assert!(app.backups().is_empty(), "{:?}", app.backups());

    let out = app.xtask().arg("backup").run();
    out.expect_code(0);
    let all = out.all();
    let removed: Vec<&str> = all.lines().filter(|l| l.contains("partial backup")).collect();
    assert_eq!(removed.len(), 1, "{}", out.all());
    assert!(
        removed[0].ends_with(&format!("backup: removed 1 partial backup left by a run that died: {partial}")),
        "{}",
        removed[0]
    );
    assert!(partials(&app).is_empty(), "{:?}", entries(&app));
    assert_eq!(app.backups().len(), 1);
}

/// `kill -9` of xtask while `prisma migrate deploy` waits on a table lock inside the
/// migration: the whole Prisma process tree goes with it and the migration never
/// completes; the audit log has the line written before the call. The next
/// deploy gets the lock at once.
#[test]
fn kill_9_mid_prisma_call_leaves_no_prisma_and_the_audit_log_says_what_ran() {
    let app = PrismaApp::new();
    // `init` applied, the migration pending: deploy it with the migration held back.
    let dir = app.migration_sql().parent().unwrap().to_path_buf();
    let aside = app.path().join("held-back");
    std::fs::rename(&dir, &aside).unwrap();
    app.prisma(&["migrate", "deploy"]).expect_code(0);
    std::fs::rename(&aside, &dir).unwrap();
    // PostgreSQL notices a vanished client during a statement only with this set
    // (PG 14+; off by default): the mitigation RELIABILITY.md recommends, so that
    // a statement in flight when xtask dies is cancelled, not completed.
    app.psql("ALTER DATABASE school SET client_connection_check_interval = '500ms'");
    // The migration's foreign keys need a lock on `users` that this one blocks;
    // pg_dump's ACCESS SHARE does not conflict with it, so the backup finishes.
    let lock = app.hold("BEGIN; LOCK TABLE users IN EXCLUSIVE MODE;");
    wait_for("the table lock", Duration::from_secs(10), || {
        app.psql(
            "SELECT count(*) FROM pg_locks WHERE mode = 'ExclusiveLock' AND relation = 'users'::regclass AND granted",
        )
        .trim()
            == "1"
    });

    let xtask = app.xtask().arg("deploy").spawn();
    wait_for("the migration to wait for `users`", Duration::from_secs(60), || lock_waiters(&app) == 1);
    let below = kill_9_and_expect_no_orphans(xtask);
    assert!(below.iter().any(|(_, a)| a.contains("prisma")), "{below:?}");
    // The migration's session ended with Prisma: nothing waits to go on.
    wait_for("the migration's session to end", Duration::from_secs(2), || lock_waiters(&app) == 0);
    drop(lock);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!app.has_object("library_books"), "the migration went on after xtask was killed");
    // Prisma never got to record it as finished.
    let mine: Vec<Value> = app.rows().into_iter().filter(|r| r["migration_name"] == MIGRATION).collect();
    assert!(mine.iter().all(|r| r["finished_at"].is_null()), "{mine:#?}");

    let audit = app.audit();
    let started = events(&audit, "prisma-start");
    assert_eq!(started.len(), 1, "{audit:#?}");
    assert!(started[0]["command"].as_str().unwrap().starts_with("npx prisma migrate deploy"), "{}", started[0]);
    assert!(events(&audit, "prisma").is_empty(), "the call never finished: {audit:#?}");
    assert!(!app.audit_text().contains(app.password()));

    // The lock went with the killed run: the next deploy does not wait.
    let out = app.xtask().args(["deploy", "--no-wait"]).run();
    assert!(!out.all().contains("waiting for the deploy lock"), "{}", out.all());
    assert_ne!(out.code, Some(5), "{}", out.all());
}

/// The deploy lock's session terminated while `prisma migrate deploy` runs (a slow
/// migration: the deploy holds Prisma's own lock too, so nothing else can be made to
/// hold Prisma up): the run notices after the call and stops with exit 5 before
/// anything else, saying what ran without the lock; the server is up, so it is a
/// lost lock, not an unreachable database.
#[test]
fn a_lost_lock_stops_the_deploy_before_resolving_with_exit_5() {
    let app = PrismaApp::new();
    app.deployed_state();
    let slow = app.path().join(crate::prisma_app::MIGRATIONS).join("20990101000000_slow_backfill");
    std::fs::create_dir_all(&slow).unwrap();
    std::fs::write(slow.join("migration.sql"), "SELECT pg_sleep(4);\n").unwrap();
    let xtask = app.xtask().arg("deploy").spawn();
    wait_for("Prisma to run the slow migration on production", Duration::from_secs(120), || {
        app.psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%pg_sleep(4)%' AND pid <> pg_backend_pid()",
            app.db
        ))
        .trim()
            == "1"
    });
    let terminated = app.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'xtask-deploy-lock%'",
    );
    assert_eq!(terminated.trim(), "1");

    let out = finish(xtask);
    out.expect_code(5);
    let all = out.all();
    let cause = all.lines().find(|l| l.contains("the deploy lock was lost")).unwrap_or_else(|| panic!("{all}"));
    assert!(cause.contains("ran without it") && cause.contains("npx prisma migrate deploy"), "{cause}");
    assert!(!all.contains("migrate resolve"), "resolved without the lock:\n{all}");
    let audit = app.audit();
    assert_eq!(events(&audit, "lock-lost").len(), 1, "{audit:#?}");
    assert!(events(&audit, "resolve-start").is_empty() && events(&audit, "resolve").is_empty(), "{audit:#?}");
    assert!(!all.contains(app.password()));
    // No session of the lost run is left holding anything.
    assert_eq!(
        app.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'xtask-deploy-lock%'").trim(),
        "0"
    );
}

/// A deploy waiting for the lock writes one line when it starts waiting (then at
/// most one per 30 s), naming the holder by application_name, client address and
/// how long it has held the lock.
#[test]
fn waiting_for_the_lock_is_one_line_naming_the_holder() {
    let app = PrismaApp::with(crate::prisma_app::Options {
        deploy_deps: vec!["pause".into()],
        extra_toml: "\n[tasks.pause]\ndescription = \"hold the run until ./go exists\"\nrun = [\"sh\", \"-c\", \"touch paused; while [ ! -e go ]; do sleep 0.1; done\"]\n".into(),
        ..Default::default()
    });
    app.deployed_state();
    let holder = app.xtask().arg("deploy").spawn();
    wait_for("the first deploy to hold the lock", Duration::from_secs(30), || app.path().join("paused").exists());
    std::thread::sleep(Duration::from_secs(1));

    let out = app.xtask().args(["deploy", "--lock-timeout", "4"]).run();
    out.expect_code(5);
    let all = out.all();
    let lines: Vec<&str> = all.lines().filter(|l| l.contains("deploy lock")).collect();
    assert_eq!(lines.len(), 2, "{}", out.all());
    let waiting = lines[0];
    assert!(waiting.contains("waiting for the deploy lock, held by xtask-deploy-lock (client 127.0.0.1:"), "{waiting}");
    // Held since before this run started: at least a second.
    let held = waiting.split("holding it for ").nth(1).unwrap_or_else(|| panic!("{waiting}"));
    assert!(held.starts_with("00:00:0") && !held.starts_with("00:00:00"), "{waiting}");
    assert!(
        lines[1].contains("gave up waiting for the deploy lock after 4s; it is held by xtask-deploy-lock"),
        "{}",
        lines[1]
    );

    std::fs::write(app.path().join("go"), "").unwrap();
    finish(holder).expect_code(0);
}

/// With a German locale in xtask's (and so its children's) environment, libpq's
/// messages are still recognised: the tools run with LC_ALL=C.
#[test]
fn connection_failures_are_recognised_in_a_german_locale() {
    let app = PrismaApp::new();
    let german = |url: &str| {
        app.xtask()
            .arg("backup")
            .env("DATABASE_URL", url)
            .env("LANG", "de_DE.UTF-8")
            .env("LC_ALL", "de_DE.UTF-8")
            .env("LANGUAGE", "de")
            .run()
    };
    // Proof that the locale is real: psql itself speaks German in it.
    let psql = Command::new("psql")
        .args(["-X", "-d", "postgresql://postgres@127.0.0.1:1/x"])
        .env("LC_ALL", "de_DE.UTF-8")
        .env("LANGUAGE", "de")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&psql.stderr);
    assert!(said.contains("Verbindung"), "no German from libpq (is de_DE.UTF-8 generated?): {said}");

    // A closed port: libpq's (client-side) message.
    let out = german("postgresql://postgres:pw@127.0.0.1:1/school");
    out.expect_code(3);
    assert!(out.stderr.contains("is unreachable (connection refused)"), "{}", out.stderr);
    // A host that does not resolve: libpq's message too.
    let out = german("postgresql://postgres:pw@no-such-host.invalid:5432/school");
    out.expect_code(3);
    assert!(out.stderr.contains("cannot resolve the host"), "{}", out.stderr);
    // The server's messages (its lc_messages) are classified as before.
    let wrong = app.url.replace(app.password(), "wrong-password");
    let out = german(&wrong);
    out.expect_code(3);
    assert!(out.stderr.contains("password authentication failed"), "{}", out.stderr);
    assert!(app.backups().is_empty());
}
