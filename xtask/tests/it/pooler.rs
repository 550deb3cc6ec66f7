//! A real PgBouncer in transaction mode in front of a test cluster: with
//! `DATABASE_URL` through it and the direct URL configured, the deploy lock, the
//! backup and status connect directly (pg_stat_activity and PgBouncer's own log
//! show it); with the pooled URL alone they are refused with the fix, exit 2. The
//! evidence's trial run through it is rolled back on success and on error.
//! Through a PgBouncer the tool does not recognise as one (its own port, no
//! `pgbouncer=true`), `status` and `diagnose` leave nothing on the pooled server
//! connection: the next client's transactions are not read-only and keep the
//! server's timeouts.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pgcluster::{Cluster, ClusterOptions};

use crate::harness::{Out, Project};

/// The role PgBouncer logs in as: a server session of PgBouncer's shows this user
/// in pg_stat_activity, a direct session of the tool shows `postgres`.
pub(crate) const POOL_USER: &str = "pooler";
pub(crate) const POOL_PASSWORD: &str = "pool-pw-77";

pub(crate) struct Bouncer {
    child: Child,
    dir: PathBuf,
    pub(crate) port: u16,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Bouncer {
    /// PgBouncer (transaction pooling) for database `db` of the cluster. It refuses
    /// to run as root, so as root it runs as the `postgres` OS user (like the cluster).
    fn start(cluster: &Cluster, db: &str) -> Bouncer {
        Bouncer::start_with(cluster, db, "")
    }

    /// [`Bouncer::start`] with more lines for its `[pgbouncer]` section.
    pub(crate) fn start_with(cluster: &Cluster, db: &str, extra: &str) -> Bouncer {
        let bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].into_iter().map(PathBuf::from).find(|p| p.is_file());
        let bin = bin.expect("pgbouncer is not installed: run scripts/install-test-deps.sh (Debian package pgbouncer)");
        let dir = std::env::temp_dir().join(format!("xtask-it-pgbouncer-{}-{}", std::process::id(), cluster.port()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n{db} = host=127.0.0.1 port={} dbname={db} user={POOL_USER} password={POOL_PASSWORD}\n\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = any\npool_mode = transaction\nlogfile = {}\npidfile =\n\
                 ignore_startup_parameters = extra_float_digits,options\nlog_connections = 1\n{extra}",
                cluster.port(),
                dir.join("pgbouncer.log").display()
            ),
        )
        .unwrap();
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_root = unsafe { libc::geteuid() } == 0;
        let mut cmd = Command::new(&bin);
        if as_root {
            // PgBouncer itself as `postgres`, not under runuser: Drop's kill must reach
            // PgBouncer (runuser's child outlived a kill of runuser, one orphan a test).
            // SAFETY: a NUL-terminated name; the entry is read before any other call.
            let pw = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
            assert!(!pw.is_null(), "no `postgres` OS user to run PgBouncer as");
            // SAFETY: not null, checked above.
            let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
            cmd.uid(uid).gid(gid);
        }
        let child = cmd.arg(&ini).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let b = Bouncer { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pgbouncer did not start: {}", b.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        b
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    /// Client logins PgBouncer has seen so far.
    pub(crate) fn logins(&self) -> usize {
        self.log().lines().filter(|l| l.contains("login attempt")).count()
    }

    /// Prisma's pooled URL: through PgBouncer, `pgbouncer=true`.
    fn url(&self, cluster: &Cluster, db: &str) -> String {
        cluster.url(db).replace(&format!(":{}/", cluster.port()), &format!(":{}/", self.port)) + "?pgbouncer=true"
    }
}

fn setup() -> (Cluster, Project) {
    let project = Project::new("");
    let cluster = Cluster::start(
        &project.path().join("pg"),
        &ClusterOptions { tls: false, superuser_password: format!("pool-{}-pw", std::process::id()) },
    )
    .expect("start a cluster");
    cluster.create_database("shop").unwrap();
    cluster
        .psql(
            "shop",
            &format!(
                "CREATE ROLE {POOL_USER} LOGIN SUPERUSER PASSWORD '{POOL_PASSWORD}'; CREATE TABLE t (id int); INSERT INTO t VALUES (1)"
            ),
        )
        .unwrap();
    std::fs::create_dir_all(project.path().join("prisma/migrations/20260101000000_init")).unwrap();
    std::fs::write(
        project.path().join("prisma/migrations/20260101000000_init/migration.sql"),
        "CREATE TABLE a (id int);\n",
    )
    .unwrap();
    std::fs::write(
        project.path().join("prisma/schema.prisma"),
        "datasource db {\n  provider = \"postgresql\"\n  url = env(\"DATABASE_URL\")\n}\n",
    )
    .unwrap();
    (cluster, project)
}

/// A task that runs while the deploy lock is held: it records who holds the lock
/// (user and client port of the `xtask-deploy-lock` session) and then fails, so
/// the run stops before Prisma.
fn tasks(direct: bool, cluster: &Cluster) -> String {
    format!(
        r#"[database]
{direct}
[prisma]
schema = "prisma/schema.prisma"
# Prisma never runs here (the `probe` task fails before deploy); a command the
# preflight accepts without an app install keeps the test on the connections.
command = ["false"]

[tasks.backup]
uses = "backup"

[tasks.status]
uses = "status"

[tasks.probe]
run = ["sh", "-c", "psql -X -A -t -F ' ' -d 'postgresql://postgres@127.0.0.1:{port}/shop' -c \"SELECT usename, client_port FROM pg_stat_activity WHERE application_name LIKE 'xtask-deploy-lock%'\" > holder.txt; exit 1"]
env = {{ PGPASSWORD = "{pw}" }}

[tasks.deploy]
deps = ["backup", "probe"]
uses = "prisma-deploy"
"#,
        direct = if direct { "direct_url_env = \"DIRECT_URL\"" } else { "" },
        port = cluster.port(),
        pw = cluster.password(),
    )
}

#[track_caller]
fn assert_contains(hay: &str, needle: &str) {
    assert!(hay.contains(needle), "expected {needle:?} in:\n{hay}");
}

fn backups(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("backups"))
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("pre-migration-")).count())
        .unwrap_or(0)
}

#[test]
fn with_a_direct_url_the_lock_backup_and_status_bypass_pgbouncer() {
    let (cluster, project) = setup();
    let bouncer = Bouncer::start(&cluster, "shop");
    let pooled = bouncer.url(&cluster, "shop");
    // The pooler works, and its log shows each client login: the check below can fail.
    let before = bouncer.logins();
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-c", "SELECT current_user"])
        .arg(format!("postgresql://postgres@127.0.0.1:{}/shop", bouncer.port))
        .env("PGPASSWORD", "x")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), POOL_USER, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(bouncer.logins(), before + 1, "{}", bouncer.log());

    project.file("tasks.toml", &tasks(true, &cluster));
    let logins = bouncer.logins();
    let run = |args: &[&str]| -> Out {
        project
            .xtask()
            .env("DATABASE_URL", &pooled)
            .env("DIRECT_URL", format!("{}?schema=public", cluster.url("shop")))
            .args(args)
            .arg("--no-progress")
            .run()
    };
    let deploy = run(&["deploy"]);
    deploy.expect_code(1);
    assert_contains(&deploy.stderr, "deploy lock acquired");
    assert_contains(&deploy.stderr, "task `probe` failed");
    let holder = project.read("holder.txt");
    assert!(holder.starts_with("postgres "), "the lock session is not a direct one: {holder:?}");
    // The backup ran against the server's own port.
    assert_contains(
        &deploy.stderr,
        &format!("pg_dump --no-password -F p -d postgresql://postgres@127.0.0.1:{}/shop", cluster.port()),
    );
    assert_eq!(backups(project.path()), 1);
    let status = run(&["status"]);
    status.expect_code(6);
    assert_contains(&status.stdout, &format!("against postgres@127.0.0.1:{}/shop", cluster.port()));
    assert_eq!(bouncer.logins(), logins, "the tool went through PgBouncer:\n{}", bouncer.log());
    assert!(!deploy.all().contains(cluster.password()) && !status.all().contains(cluster.password()));
}

#[test]
fn the_pooled_url_alone_is_refused_for_the_lock_and_the_backup() {
    let (cluster, project) = setup();
    let bouncer = Bouncer::start(&cluster, "shop");
    let pooled = bouncer.url(&cluster, "shop");
    project.file("tasks.toml", &tasks(false, &cluster));
    let logins = bouncer.logins();
    for task in ["deploy", "backup", "status"] {
        let out = project.xtask().env("DATABASE_URL", &pooled).args([task, "--no-progress"]).run();
        out.expect_code(2);
        assert_contains(&out.stderr, "DATABASE_URL goes through a connection pooler (pgbouncer=true)");
        assert_contains(&out.stderr, "add `direct_url_env = \"DIRECT_URL\"` under [database] in tasks.toml");
    }
    assert_eq!(backups(project.path()), 0);
    assert!(!project.path().join("holder.txt").exists(), "a task ran after the refusal");
    assert_eq!(bouncer.logins(), logins, "{}", bouncer.log());
    // A configured but unset direct URL: the fix names it.
    project.file("tasks.toml", &tasks(true, &cluster));
    let out = project.xtask().env("DATABASE_URL", &pooled).arg("backup").run();
    out.expect_code(2);
    assert_contains(&out.stderr, "set DIRECT_URL (empty or unset now) to the database server's direct URL");
}

/// The evidence's trial run (a data-only file run in a transaction that is rolled
/// back) through PgBouncer in transaction mode: the whole transaction stays on one
/// server connection, and a failed trial leaves nothing behind on the pooled
/// connection either (the next trial through the pooler sees the data as it was).
#[test]
fn a_trial_run_through_pgbouncer_is_rolled_back() {
    use xtask::testing::evidence::{self, TrialOutcome};
    let (cluster, _project) = setup();
    let bouncer = Bouncer::start(&cluster, "shop");
    let target = xtask::testing::db::Target::from_url("DATABASE_URL", &bouncer.url(&cluster, "shop"), None).unwrap();
    let backfill = "UPDATE t SET id = 2 WHERE id = 1;";
    let ev = evidence::assess(&target, backfill, &target.url.schema).unwrap();
    assert_eq!(ev.trial, Some(TrialOutcome::Changes { rows: 1 }));
    // The first statement changes the row, the second fails: both are undone.
    let failing = "UPDATE t SET id = 3;\nUPDATE t SET id = id / (id - 3);\n";
    let ev = evidence::assess(&target, failing, &target.url.schema).unwrap();
    let Some(TrialOutcome::Failed { error }) = &ev.trial else { panic!("{:?}", ev.trial) };
    assert!(error.contains("22012"), "{error}");
    let ev = evidence::assess(&target, backfill, &target.url.schema).unwrap();
    assert_eq!(ev.trial, Some(TrialOutcome::Changes { rows: 1 }));
    assert_eq!(cluster.psql("shop", "SELECT string_agg(id::text, ',') FROM t;").unwrap().trim(), "1");
    assert!(bouncer.logins() >= 3, "{}", bouncer.log());
}

/// The session settings a client of the pooler gets on database `db`, as
/// `name=value` lines.
pub(crate) fn settings_seen_through(bouncer: &Bouncer, db: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(
            "SELECT name || '=' || setting FROM pg_settings WHERE name IN \
             ('transaction_read_only', 'default_transaction_read_only', 'statement_timeout', 'lock_timeout', \
              'search_path', 'idle_in_transaction_session_timeout') ORDER BY name",
        )
        .arg(format!("postgresql://postgres@127.0.0.1:{}/{db}", bouncer.port))
        .env("PGPASSWORD", "any")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A write of the application through the pooler on database `db`, as its next client.
pub(crate) fn app_write_through(bouncer: &Bouncer, db: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .arg(format!("postgresql://postgres@127.0.0.1:{}/{db}", bouncer.port))
        .env("PGPASSWORD", "any")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A self-hosted PgBouncer in transaction mode on a port of its own and a URL
/// without `pgbouncer=true`: the tool cannot tell it from a server, so `status`
/// and `diagnose` (catalog, key and row checks of a failed migration, and its
/// trial run) go through it. With one server connection in the pool, the
/// application's next client gets the very connection the tool used: it must find
/// the server's own settings there (not read-only, no statement or lock timeout
/// of the tool's, the default search path), and its write must succeed. A write
/// slipped into the tool's read-only queries still fails with 25006, through the
/// pooler as on a direct connection.
#[test]
fn status_and_diagnose_leave_nothing_on_an_unrecognised_pgbouncer() {
    let (cluster, project) = setup();
    let bouncer = Bouncer::start_with(&cluster, "shop", "default_pool_size = 1\nmin_pool_size = 0\n");
    let plain = cluster.url("shop").replace(&format!(":{}/", cluster.port()), &format!(":{}/", bouncer.port));
    // The server's own settings, seen through the pooler before the tool ran.
    let before = settings_seen_through(&bouncer, "shop");
    assert!(before.contains("transaction_read_only=off") && before.contains("statement_timeout=0"), "{before}");
    app_write_through(&bouncer, "shop", "INSERT INTO t VALUES (10)").unwrap();

    // Failed migrations diagnose checks in each of its ways: one that added a column
    // (in place: the catalogs), seeded a row by its key and changed rows, which the key
    // lookup and the row query check; then constant rows alone (the key lookup decides);
    // then an UPDATE alone (a trial run, rolled back).
    cluster
        .psql(
            "shop",
            "CREATE TABLE \"Plan\" (\"id\" TEXT PRIMARY KEY, \"name\" TEXT NOT NULL, \"limit\" INTEGER NOT NULL, \"seats\" INTEGER);\n\
             INSERT INTO \"Plan\" VALUES ('free', 'Free', 10), ('pro', 'Pro', 100);\n\
             CREATE TABLE \"_prisma_migrations\" (\"id\" VARCHAR(36) PRIMARY KEY NOT NULL, \"checksum\" VARCHAR(64) NOT NULL, \
             \"finished_at\" TIMESTAMPTZ, \"migration_name\" VARCHAR(255) NOT NULL, \"logs\" TEXT, \"rolled_back_at\" TIMESTAMPTZ, \
             \"started_at\" TIMESTAMPTZ NOT NULL DEFAULT now(), \"applied_steps_count\" INTEGER NOT NULL DEFAULT 0);\n\
             INSERT INTO \"_prisma_migrations\" (id, checksum, migration_name, logs, started_at) VALUES \
             ('m2', 'x', '20260102000000_plans', 'Database error code: 23505', now());",
        )
        .unwrap();
    project.file(
        "prisma/migrations/20260102000000_plans/migration.sql",
        "-- AlterTable\nALTER TABLE \"Plan\" ADD COLUMN \"seats\" INTEGER;\n\n\
         INSERT INTO \"Plan\" (\"id\", \"name\", \"limit\") VALUES ('team', 'Team', 1000);\n\n\
         UPDATE \"Plan\" SET \"limit\" = 20 WHERE \"id\" = 'free';\n",
    );
    project.file(
        "prisma/migrations/20260103000000_seed/migration.sql",
        "INSERT INTO \"Plan\" (\"id\", \"name\", \"limit\") VALUES ('team', 'Team', 1000), ('corp', 'Corp', 5000);\n",
    );
    project.file(
        "prisma/migrations/20260104000000_limits/migration.sql",
        "UPDATE \"Plan\" SET \"limit\" = \"limit\" * 2;\n",
    );
    project.file(
        "tasks.toml",
        "[prisma]\nschema = \"prisma/schema.prisma\"\ncommand = [\"false\"]\n\n\
         [tasks.status]\nuses = \"status\"\n\n[tasks.diagnose]\nuses = \"diagnose\"\n",
    );
    let logins = bouncer.logins();
    let run = |task: &str| -> Out { project.xtask().env("DATABASE_URL", &plain).args([task, "--no-progress"]).run() };
    let status = run("status");
    status.expect_code(4);
    assert_contains(&status.stdout, &format!("against postgres@127.0.0.1:{}/shop", bouncer.port));
    assert_eq!(settings_seen_through(&bouncer, "shop"), before, "after status:\n{}", status.all());
    app_write_through(&bouncer, "shop", "INSERT INTO t VALUES (11)").unwrap_or_else(|e| panic!("after status: {e}"));

    let failed = |name: &str| {
        cluster
            .psql(
                "shop",
                &format!(
                    "UPDATE _prisma_migrations SET rolled_back_at = now() WHERE rolled_back_at IS NULL;\n\
                     INSERT INTO _prisma_migrations (id, checksum, migration_name, logs) VALUES ('{name}', 'x', '{name}', 'Database error code: 23505');"
                ),
            )
            .unwrap();
    };
    for (i, (name, decided_by)) in [
        ("20260102000000_plans", "decided by key lookups: partial"),
        ("20260103000000_seed", "decided by key lookups: none of the 2 row(s)"),
        ("20260104000000_limits", "trial run (in a transaction that was rolled back): it changed"),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            failed(name);
        }
        let diagnose = run("diagnose");
        assert_contains(&diagnose.stdout, &format!("Migration {name}:"));
        assert_contains(&diagnose.stdout, decided_by);
        assert_eq!(settings_seen_through(&bouncer, "shop"), before, "after diagnose {name}:\n{}", diagnose.all());
        app_write_through(&bouncer, "shop", &format!("INSERT INTO t VALUES ({})", 20 + i))
            .unwrap_or_else(|e| panic!("after diagnose {name}: {e}"));
    }
    assert!(bouncer.logins() > logins + 4, "the tool did not go through PgBouncer:\n{}", bouncer.log());

    // The read-only queries still refuse a write (25006), through the pooler too.
    let target = xtask::testing::db::Target::from_url("DATABASE_URL", &plain, None).unwrap();
    let session = target.with_read_only_session(&[]).unwrap();
    assert_eq!(session.query("SELECT count(*) FROM t", &[]).unwrap(), vec![vec![Some("6".to_string())]]);
    let err = session.query("INSERT INTO t VALUES (13)", &[]).unwrap_err();
    assert_contains(&err.message, "25006");
    let err = target.read_only().query("SET LOCAL statement_timeout = '1s';\nDELETE FROM t", &[]).unwrap_err();
    assert_contains(&err.message, "25006");
    assert_eq!(settings_seen_through(&bouncer, "shop"), before);
    app_write_through(&bouncer, "shop", "INSERT INTO t VALUES (14)").unwrap();
    assert_eq!(
        cluster.psql("shop", "SELECT string_agg(id::text, ',' ORDER BY id) FROM t;").unwrap().trim(),
        "1,10,11,14,20,21,22"
    );
}
