//! Test fixture: the example Prisma app (`Backend/`) copied into a throwaway
//! project with a tasks.toml like the root one, its own PostgreSQL cluster and
//! database, and helpers to put production into the runbook's states with the real
//! Prisma CLI, read `_prisma_migrations`, and run the real binary against it.
//!
//! Every test gets its own copy, cluster and backup directory, so tests run in
//! parallel. The offline Prisma setup (Wasm engine, shims) stays here and in
//! `Backend/`; the tool under test only sees `npx prisma` and `DATABASE_URL`.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use pgcluster::{Cluster, ClusterOptions};
use serde_json::Value;

use crate::harness::{Out, Project, Xtask};

/// The migration the runbook is about, and the one before it.
pub const INIT: &str = "20260101000000_init";
pub const MIGRATION: &str = "20260221053404_add_missing_models";

/// Where the app lives inside the project copy, as the root tasks.toml has it.
const SCHEMA: &str = "Backend/src/prisma/db/schema.prisma";
pub const MIGRATIONS: &str = "Backend/src/prisma/db/migrations";

/// Extra keys for `[tasks.deploy]` (the policy), in TOML.
#[derive(Default, Clone)]
pub struct Options {
    pub deploy_policy: String,
    /// Extra entries for `[prisma] env`, e.g. `DATABASE_URL = "..."`.
    pub prisma_env: String,
    /// Extra text appended to tasks.toml (more tasks).
    pub extra_toml: String,
    /// Extra `deps` of the deploy task (before `backup`).
    pub deploy_deps: Vec<String>,
}

pub struct PrismaApp {
    // Dropped first: the server stops before its directory goes away.
    pub cluster: Cluster,
    pub project: Project,
    pub db: String,
    /// Prisma's URL: `postgresql://postgres:PW@127.0.0.1:PORT/school?schema=public&connection_limit=5`.
    pub url: String,
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ has a parent").to_path_buf()
}

impl PrismaApp {
    pub fn new() -> PrismaApp {
        PrismaApp::with(Options::default())
    }

    pub fn with(opts: Options) -> PrismaApp {
        let root = repo_root();
        let node_modules = root.join("Backend").join("node_modules");
        assert!(
            node_modules.join("prisma").is_dir(),
            "{} has no Prisma CLI: run `npm ci --no-audit --no-fund` in Backend/ (scripts/install-test-deps.sh does) before the tests",
            node_modules.display()
        );
        let project = Project::new("");
        project.file("tasks.toml", &tasks_toml(&opts));
        let app = project.path().join("Backend");
        pgcluster::copy_dir(&root.join("Backend"), &app).expect("copy Backend/ into the test project");
        std::os::unix::fs::symlink(&node_modules, app.join("node_modules")).expect("link node_modules");

        static N: AtomicUsize = AtomicUsize::new(0);
        // Unique per test, so a leak would be easy to find in any output or file.
        let password = format!("pw-{}-{}-Zq7", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let cluster =
            Cluster::start(&project.path().join("pg"), &ClusterOptions { tls: false, superuser_password: password })
                .expect("start a PostgreSQL cluster for the test");
        let db = "school".to_string();
        cluster.create_database(&db).expect("create the test database");
        let url = format!("{}?schema=public&connection_limit=5", cluster.url(&db));
        PrismaApp { cluster, project, db, url }
    }

    pub fn path(&self) -> &Path {
        self.project.path()
    }

    /// Rewrites tasks.toml with other options (same app, cluster and database).
    pub fn reconfigure(&self, opts: Options) {
        self.project.file("tasks.toml", &tasks_toml(&opts));
    }

    pub fn password(&self) -> &str {
        self.cluster.password()
    }

    pub fn backup_dir(&self) -> PathBuf {
        self.path().join("backups")
    }

    pub fn migration_sql(&self) -> PathBuf {
        self.path().join(MIGRATIONS).join(MIGRATION).join("migration.sql")
    }

    /// The first, broken version of the migration (re-creates `attendance_status`, 42710).
    pub fn put_broken(&self) {
        let v1 = repo_root().join("Backend/fixtures").join(format!("{MIGRATION}.v1.sql"));
        std::fs::copy(v1, self.migration_sql()).expect("put the v1 migration in place");
    }

    /// The committed, production-safe version.
    pub fn put_fixed(&self) {
        let fixed = repo_root().join(MIGRATIONS).join(MIGRATION).join("migration.sql");
        std::fs::copy(fixed, self.migration_sql()).expect("restore the fixed migration");
    }

    /// The real Prisma CLI, run directly (not through xtask) in the app copy, as the
    /// team ran it in production.
    pub fn prisma(&self, args: &[&str]) -> Out {
        let out = Command::new("npx")
            .arg("prisma")
            .args(args)
            .args(["--schema", "src/prisma/db/schema.prisma"])
            .current_dir(self.path().join("Backend"))
            .env("DATABASE_URL", &self.url)
            .env("PRISMA_SCHEMA_ENGINE_BINARY", "./scripts/schema-engine-shim")
            .env("PRISMA_HIDE_UPDATE_MESSAGE", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("CI")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run npx prisma");
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Production after the runbook's first deploy: `init` applied, the v1 migration
    /// recorded as failed (42710), and the team's fixed file back on disk.
    pub fn production_state(&self) {
        self.put_broken();
        let out = self.prisma(&["migrate", "deploy"]);
        out.expect_code(1);
        assert!(out.all().contains("type \"attendance_status\" already exists"), "{}", out.all());
        self.put_fixed();
        assert_eq!(self.states(), ledger(&[(INIT, "applied"), (MIGRATION, "failed")]));
    }

    /// Every migration applied with Prisma directly.
    pub fn deployed_state(&self) {
        self.prisma(&["migrate", "deploy"]).expect_code(0);
        assert_eq!(self.states(), ledger(&[(INIT, "applied"), (MIGRATION, "applied")]));
    }

    /// The runbook's timeout case: the fixed migration's changes are all in the
    /// database (applied by hand with psql, outside Prisma), but its row says failed.
    pub fn timeout_state(&self) {
        std::fs::rename(self.path().join(MIGRATIONS).join(MIGRATION), self.path().join("held-back-migration")).unwrap();
        self.prisma(&["migrate", "deploy"]).expect_code(0);
        std::fs::rename(self.path().join("held-back-migration"), self.path().join(MIGRATIONS).join(MIGRATION)).unwrap();
        let sql = std::fs::read_to_string(self.migration_sql()).unwrap();
        self.psql(&sql);
        let checksum = xtask::testing::migrations::hex(&sha2_digest(sql.as_bytes()));
        self.psql(&format!(
            "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, logs, applied_steps_count) \
             VALUES ('timeout-row', '{checksum}', '{MIGRATION}', now(), \
             'Error: P1017: Server has closed the connection.', 0)"
        ));
        assert_eq!(self.states(), ledger(&[(INIT, "applied"), (MIGRATION, "failed")]));
    }

    /// Runs SQL on the test database as the superuser; returns psql's unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        self.cluster.psql(&self.db, sql).unwrap_or_else(|e| panic!("psql failed: {e:#}\n{sql}"))
    }

    /// `_prisma_migrations`, in Prisma's order, as JSON objects (every column).
    pub fn rows(&self) -> Vec<Value> {
        let text = self.psql(
            "SELECT coalesce(json_agg(t ORDER BY t.started_at, t.migration_name), '[]') FROM \
             (SELECT id, checksum, migration_name, started_at, finished_at, rolled_back_at, logs, applied_steps_count \
              FROM _prisma_migrations) t",
        );
        match serde_json::from_str(text.trim()) {
            Ok(Value::Array(rows)) => rows,
            other => panic!("unexpected _prisma_migrations JSON: {other:?} from {text}"),
        }
    }

    /// `"<migration> applied|failed|rolled back"` per row, in order.
    pub fn states(&self) -> Vec<String> {
        self.rows()
            .iter()
            .map(|r| {
                let state = if !r["rolled_back_at"].is_null() {
                    "rolled back"
                } else if !r["finished_at"].is_null() {
                    "applied"
                } else {
                    "failed"
                };
                format!("{} {state}", r["migration_name"].as_str().unwrap_or_default())
            })
            .collect()
    }

    /// Whether a relation or type of this name exists in `public`.
    pub fn has_object(&self, name: &str) -> bool {
        self.psql(&format!(
            "SELECT (to_regclass('public.\"{name}\"') IS NOT NULL OR to_regtype('public.\"{name}\"') IS NOT NULL)"
        ))
        .trim()
            == "t"
    }

    /// The real binary in the project directory, with DATABASE_URL set.
    pub fn xtask(&self) -> Xtask {
        self.project.xtask().env("DATABASE_URL", &self.url)
    }

    /// Finished backup files (not the audit log, not partial files).
    pub fn backups(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(self.backup_dir()).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        files.retain(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("pre-migration-") && !name.ends_with(".partial")
        });
        files.sort();
        files
    }

    /// The audit log's lines, each parsed (panics on a line that is not JSON).
    pub fn audit(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.backup_dir().join("xtask-audit.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}")))
            .collect()
    }

    pub fn audit_text(&self) -> String {
        std::fs::read_to_string(self.backup_dir().join("xtask-audit.jsonl")).unwrap_or_default()
    }

    /// Reads a JSON report written with `--report`.
    pub fn report(&self, rel: &str) -> Value {
        let text = self.project.read(rel);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("report {rel} is not JSON ({e}): {text}"))
    }
}

/// What [`PrismaApp::states`] returns for these rows.
pub fn ledger(rows: &[(&str, &str)]) -> Vec<String> {
    rows.iter().map(|(name, state)| format!("{name} {state}")).collect()
}

pub(crate) fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// A tasks.toml like the root one, for the app copy in the project directory.
pub fn tasks_toml(opts: &Options) -> String {
    let mut deps: Vec<String> = opts.deploy_deps.iter().map(|d| format!("{d:?}")).collect();
    deps.push("\"backup\"".into());
    format!(
        r#"# Written by xtask/tests/it/prisma_app.rs: the root tasks.toml, for a test copy of Backend/.
[database]
url_env = "DATABASE_URL"

[prisma]
command = ["npx", "prisma"]
schema = "{SCHEMA}"
cwd = "Backend"
migrations = "{MIGRATIONS}"
env = {{ PRISMA_SCHEMA_ENGINE_BINARY = "./scripts/schema-engine-shim"{prisma_env} }}

[backup]
dir = "backups"
prefix = "pre-migration"
format = "plain"
keep = 20

[tasks.backup]
description = "pg_dump the database"
uses = "backup"

[tasks.deploy]
description = "Backup, then prisma migrate deploy with one automatic, evidence-checked recovery"
deps = [{deps}]
uses = "prisma-deploy"
{policy}

[tasks.resolve-rolled-back]
description = "Mark a failed migration rolled back"
uses = "prisma-resolve-rolled-back"

[tasks.resolve-applied]
description = "Mark a failed migration applied"
uses = "prisma-resolve-applied"

[tasks.status]
description = "Migrations on disk against _prisma_migrations"
uses = "status"

[tasks.diagnose]
description = "Did the failed migration apply?"
uses = "diagnose"
{extra}
"#,
        prisma_env = if opts.prisma_env.is_empty() { String::new() } else { format!(", {}", opts.prisma_env) },
        deps = deps.join(", "),
        policy = opts.deploy_policy,
        extra = opts.extra_toml,
    )
}

/// A psql session that runs `sql` (e.g. takes a lock) and keeps it until dropped.
pub struct Holder(Child);

impl Holder {
    pub fn start(app: &PrismaApp, sql: &str) -> Holder {
        let mut child = Command::new("psql")
            .args(["-X", "-q", "-d"])
            .arg(app.cluster.url(&app.db))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "{sql}").unwrap();
        stdin.flush().unwrap();
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // End of input: psql quits, its transaction ends and its locks go.
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

impl PrismaApp {
    /// A session of another client that ran `sql` and holds its locks until dropped.
    pub fn hold(&self, sql: &str) -> Holder {
        Holder::start(self, sql)
    }
}
