//! A real PgBouncer in transaction mode in front of a test cluster: with
//! `DATABASE_URL` through it and the direct URL configured, the deploy lock, the
//! backup and status connect directly (pg_stat_activity and PgBouncer's own log
//! show it); with the pooled URL alone they are refused with the fix, exit 2. The
//! evidence's trial run through it is rolled back on success and on error.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pgcluster::{Cluster, ClusterOptions};

use crate::harness::{Out, Project};

/// The role PgBouncer logs in as: a server session of PgBouncer's shows this user
/// in pg_stat_activity, a direct session of the tool shows `postgres`.
const POOL_USER: &str = "pooler";
const POOL_PASSWORD: &str = "pool-pw-77";

struct Bouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
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
                 ignore_startup_parameters = extra_float_digits,options\nlog_connections = 1\n",
                cluster.port(),
                dir.join("pgbouncer.log").display()
            ),
        )
        .unwrap();
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_root = unsafe { libc::geteuid() } == 0;
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        let child = cmd.arg(&ini).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let b = Bouncer { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pgbouncer did not start: {}", b.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        b
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    /// Client logins PgBouncer has seen so far.
    fn logins(&self) -> usize {
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
