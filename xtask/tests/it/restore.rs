//! `restore` and the scratch round trip behind `backup --verify-restore`, against
//! a real PostgreSQL cluster: backups made by the real binary, restored by it.

use pgcluster::{Cluster, ClusterOptions};

use crate::harness::Project;

const PASSWORD: &str = "restore-pw-9";
const TASKS: &str =
    "[tasks.backup]\nuses = \"backup\"\n\n[tasks.restore]\nuses = \"restore\"\n\n[backup]\ndir = \"backups\"\n";

fn cluster(label: &str) -> Cluster {
    let base = std::env::temp_dir().join(format!("xtask-it-restore-{label}-{}", std::process::id()));
    Cluster::start(&base, &ClusterOptions { tls: false, superuser_password: PASSWORD.into() })
        .expect("start PostgreSQL")
}

fn seeded(c: &Cluster) -> String {
    c.create_database("school").unwrap();
    c.psql(
        "school",
        "CREATE TYPE st AS ENUM ('a','b'); CREATE TABLE pupils (id int PRIMARY KEY, name text, s st);\
         INSERT INTO pupils SELECT g, 'pupil ' || g, 'a' FROM generate_series(1, 250) g;\
         CREATE TABLE notes (id int, body text); INSERT INTO notes VALUES (1, E'x\\ny'), (2, NULL);",
    )
    .unwrap();
    format!("{}?schema=public&connection_limit=5", c.url("school"))
}

fn digest(c: &Cluster, db: &str) -> String {
    c.psql(db, "SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM pupils p; SELECT md5(string_agg(n::text, ',' ORDER BY id)) FROM notes n;")
        .unwrap()
}

fn only_backup(p: &Project) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(p.path().join("backups"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|f| f.extension().is_some_and(|e| e == "sql" || e == "dump"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn backup_restores_into_a_new_database_and_over_the_live_one() {
    let c = cluster("roundtrip");
    let url = seeded(&c);
    let p = Project::new(TASKS);
    p.xtask().arg("backup").env("DATABASE_URL", &url).run().expect_code(0);
    let file = only_backup(&p);
    let before = digest(&c, "school");

    // Into a new database: same contents.
    let out =
        p.xtask().args(["restore", file.to_str().unwrap(), "--into", "school_copy"]).env("DATABASE_URL", &url).run();
    out.expect_code(0);
    assert_eq!(digest(&c, "school_copy"), before);
    assert!(!out.all().contains(PASSWORD));

    // An existing database is never restored over by --into.
    let again =
        p.xtask().args(["restore", file.to_str().unwrap(), "--into", "school_copy"]).env("DATABASE_URL", &url).run();
    again.expect_code(1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    // Over the live database: refused without --yes, nothing changed.
    c.psql("school", "DELETE FROM pupils WHERE id > 10; UPDATE notes SET body = 'changed';").unwrap();
    let changed = digest(&c, "school");
    let refused = p.xtask().args(["restore", file.to_str().unwrap()]).env("DATABASE_URL", &url).run();
    refused.expect_code(2);
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);
    assert_eq!(digest(&c, "school"), changed);
    // With --yes (no terminal to type the name on): back to the backup's contents.
    p.xtask().args(["restore", file.to_str().unwrap(), "--yes"]).env("DATABASE_URL", &url).run().expect_code(0);
    assert_eq!(digest(&c, "school"), before);
}

#[test]
fn a_broken_backup_leaves_no_half_restored_database() {
    let c = cluster("broken");
    let url = seeded(&c);
    let p = Project::new(TASKS);
    let bad = p.file("bad.sql", "CREATE TABLE t1 (id int);\nINSERT INTO t1 VALUES (1);\nTHIS IS NOT SQL;\n");
    let out = p.xtask().args(["restore", bad.to_str().unwrap(), "--into", "half"]).env("DATABASE_URL", &url).run();
    out.expect_code(1);
    assert!(out.stderr.contains("syntax error"), "{}", out.stderr);
    let exists = c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'half'").unwrap();
    assert_eq!(exists.trim(), "0", "the new database is removed when its restore fails");
    let missing = p.xtask().args(["restore", "nope.sql", "--into", "x"]).env("DATABASE_URL", &url).run();
    missing.expect_code(1);
    assert!(missing.stderr.contains("no backup at"), "{}", missing.stderr);
}

#[test]
fn verify_restore_round_trips_through_a_scratch_database() {
    let c = cluster("verify");
    let url = seeded(&c);
    let p = Project::new(TASKS);
    p.xtask().arg("backup").env("DATABASE_URL", &url).run().expect_code(0);
    let file = only_backup(&p);
    let target = xtask::testing::db::Target::from_url("DATABASE_URL", &url, None).unwrap();
    let ui = xtask::testing::ui::Ui::new(xtask::testing::ui::UiOptions {
        progress: false,
        color: false,
        github: false,
        interactive: false,
    });
    let tables = xtask::testing::dump::restore::verify_restore(&ui, &target, &file).unwrap();
    assert_eq!(tables, 2);
    let left = c.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'xtask_verify_%'").unwrap();
    assert_eq!(left.trim(), "0", "scratch database dropped");
    // The same round trip from the command line.
    let out = p.xtask().args(["backup", "--verify-restore"]).env("DATABASE_URL", &url).run();
    out.expect_code(0);
    assert!(out.stderr.contains("verify-restore: 2 tables restored with the same row counts"), "{}", out.stderr);
    // A database that changed since the dump no longer matches its backup.
    c.psql("school", "INSERT INTO pupils VALUES (9999, 'late', 'b');").unwrap();
    let err = xtask::testing::dump::restore::verify_restore(&ui, &target, &file).unwrap_err();
    assert!(err.message.contains("public.pupils: 251 rows in the database, 250 restored"), "{}", err.message);
}

/// On a terminal, restoring over the live database also needs its name typed:
/// a wrong name changes nothing, the right one restores.
#[test]
fn live_restore_on_a_terminal_needs_the_database_name_typed() {
    use std::process::Command;
    use std::time::{Duration, Instant};
    let c = cluster("typed");
    let url = seeded(&c);
    let p = Project::new(TASKS);
    p.xtask().arg("backup").env("DATABASE_URL", &url).run().expect_code(0);
    let file = only_backup(&p);
    let before = digest(&c, "school");
    c.psql("school", "DELETE FROM pupils WHERE id > 5;").unwrap();
    let changed = digest(&c, "school");

    let socket = format!("xtask-it-restore-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").arg("-L").arg(&socket).args(args).output().unwrap();
    let run = |typed: &str| -> String {
        let done = p.path().join("done");
        let _ = std::fs::remove_file(&done);
        let script = format!(
            "env -u CI DATABASE_URL='{url}' {} restore {} --yes --no-progress; echo EXIT=$? > {}; sleep 30",
            env!("CARGO_BIN_EXE_xtask"),
            file.display(),
            done.display()
        );
        tmux(&["new-session", "-d", "-x", "200", "-y", "30", "-s", "r", "-c", &p.path().to_string_lossy(), &script]);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut screen = String::new();
        while Instant::now() < deadline && !screen.contains("Type its name to go on") {
            std::thread::sleep(Duration::from_millis(100));
            screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "r"]).stdout).into_owned();
        }
        assert!(screen.contains("This drops database `school`"), "{screen}");
        tmux(&["send-keys", "-t", "r", typed, "Enter"]);
        while Instant::now() < deadline && !done.exists() {
            std::thread::sleep(Duration::from_millis(100));
        }
        let screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "r"]).stdout).into_owned();
        tmux(&["kill-server"]);
        assert!(!screen.contains(PASSWORD), "{screen}");
        std::fs::read_to_string(&done).unwrap_or_default() + &screen
    };
    let wrong = run("schol");
    assert!(wrong.starts_with("EXIT=1"), "{wrong}");
    assert!(wrong.contains("does not match: nothing was changed"), "{wrong}");
    assert_eq!(digest(&c, "school"), changed);
    let right = run("school");
    assert!(right.starts_with("EXIT=0"), "{right}");
    assert_eq!(digest(&c, "school"), before);
}
