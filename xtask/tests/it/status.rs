//! `status` in each state (in sync, pending, failed, rolled back, missing on disk,
//! drift) against a real PostgreSQL, with `_prisma_migrations` as Prisma creates it.

use pgcluster::{Cluster, ClusterOptions};
use sha2::{Digest, Sha256};

use crate::harness::Project;

const LEDGER: &str = r#"CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
);"#;

fn sha(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

struct Setup {
    cluster: Cluster,
    project: Project,
    url: String,
}

fn setup(label: &str, schema: &str) -> Setup {
    let base = std::env::temp_dir().join(format!("xtask-it-status-{label}-{}", std::process::id()));
    let cluster = Cluster::start(&base, &ClusterOptions { tls: false, superuser_password: "st-pw".into() }).unwrap();
    cluster.create_database("app").unwrap();
    cluster
        .psql("app", &format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"; SET search_path = \"{schema}\"; {LEDGER}"))
        .unwrap();
    let project = Project::new("[prisma]\nmigrations = \"migrations\"\n\n[tasks.status]\nuses = \"status\"\n");
    project.file("migrations/1_init/migration.sql", "CREATE TABLE a (id int);\n");
    project.file("migrations/2_more/migration.sql", "CREATE TABLE b (id int);\n");
    let url = format!("{}?schema={schema}", cluster.url("app"));
    Setup { cluster, project, url }
}

impl Setup {
    fn record(&self, schema: &str, name: &str, checksum: &str, finished: bool, rolled_back: bool, logs: &str) {
        self.cluster
            .psql(
                "app",
                &format!(
                    "INSERT INTO \"{schema}\"._prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at) \
                     VALUES (gen_random_uuid()::text, '{checksum}', {}, '{name}', {}, {}, now() - interval '1 minute' * (SELECT count(*) FROM \"{schema}\"._prisma_migrations) * -1)",
                    if finished { "now()" } else { "NULL" },
                    if logs.is_empty() { "NULL".to_string() } else { format!("'{}'", logs.replace('\'', "''")) },
                    if rolled_back { "now()" } else { "NULL" },
                ),
            )
            .unwrap();
    }

    fn status(&self) -> crate::harness::Out {
        self.project.xtask().arg("status").env("DATABASE_URL", &self.url).run()
    }
}

#[test]
fn status_tells_each_state_apart_with_its_exit_code() {
    let s = setup("states", "public");
    let init = sha("CREATE TABLE a (id int);\n");
    let more = sha("CREATE TABLE b (id int);\n");

    // Nothing recorded: both pending (exit 6).
    let out = s.status();
    out.expect_code(6);
    assert!(
        out.stdout.contains("  pending      1_init\n") && out.stdout.contains("  pending      2_more\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with("Status: pending\n"), "{}", out.stdout);

    // Init applied, more failed (exit 4) with its SQLSTATE and message from the logs.
    s.record("public", "1_init", &init, true, false, "");
    s.record(
        "public",
        "2_more",
        &more,
        false,
        false,
        "Database error code: 42710\n\nDatabase error:\nERROR: type \"x\" already exists\n",
    );
    let out = s.status();
    out.expect_code(4);
    assert!(out.stdout.contains("  applied      1_init\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains("  failed       2_more (started ")
            && out.stdout.contains("): 42710 type \"x\" already exists"),
        "{}",
        out.stdout
    );

    // Rolled back: pending again (deploy re-runs it).
    s.cluster
        .psql("app", "UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '2_more'")
        .unwrap();
    let out = s.status();
    out.expect_code(6);
    assert!(out.stdout.contains("  rolled back  2_more"), "{}", out.stdout);

    // Applied as a new row: in sync (exit 0).
    s.record("public", "2_more", &more, true, false, "");
    let out = s.status();
    out.expect_code(0);
    assert!(out.stdout.ends_with("Status: in sync\n"), "{}", out.stdout);

    // An applied file edited afterwards is drift (exit 4).
    s.project.file("migrations/1_init/migration.sql", "CREATE TABLE a (id bigint);\n");
    let out = s.status();
    out.expect_code(4);
    assert!(out.stdout.contains("  drift        1_init"), "{}", out.stdout);

    // Recorded but missing on disk is drift too.
    s.project.file("migrations/1_init/migration.sql", "CREATE TABLE a (id int);\n");
    s.record("public", "0_gone", "ffff", true, false, "");
    let out = s.status();
    out.expect_code(4);
    assert!(out.stdout.contains("  missing      0_gone"), "{}", out.stdout);
}

#[test]
fn status_reads_the_ledger_in_prismas_schema_and_handles_a_fresh_database() {
    let s = setup("schema", "tenant_a");
    s.record("tenant_a", "1_init", &sha("CREATE TABLE a (id int);\n"), true, false, "");
    let out = s.status();
    out.expect_code(6);
    assert!(out.stdout.contains("(schema tenant_a)") && out.stdout.contains("  applied      1_init"), "{}", out.stdout);

    // A database Prisma never touched: everything pending, no error.
    s.cluster.create_database("fresh").unwrap();
    let out = s.project.xtask().arg("status").env("DATABASE_URL", s.cluster.url("fresh")).run();
    out.expect_code(6);
    assert!(out.stdout.contains("  pending      1_init\n  pending      2_more\nStatus: pending"), "{}", out.stdout);
    // 121 pending (an outside app's history on a fresh database): summarised, not
    // one line each; `--all` lists them.
    for i in 3..=121 {
        s.project.file(&format!("migrations/9{i:03}_m/migration.sql"), "SELECT 1;\n");
    }
    let out = s.project.xtask().arg("status").env("DATABASE_URL", s.cluster.url("fresh")).run();
    out.expect_code(6);
    assert!(out.stdout.lines().count() < 20, "{}", out.stdout);
    assert!(
        out.stdout.contains("  ...          111 more pending (`cargo xtask status --all` lists them all)\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("  pending      9121_m\nStatus: pending"), "{}", out.stdout);
    assert!(out.stderr.contains("121 migration(s) pending"), "{}", out.stderr);
    let all = s.project.xtask().args(["status", "--all"]).env("DATABASE_URL", s.cluster.url("fresh")).run();
    all.expect_code(6);
    assert_eq!(all.stdout.lines().filter(|l| l.starts_with("  pending ")).count(), 121);
    // And an unreachable one: exit 3 with the cause.
    let mut dead = s;
    dead.cluster.stop().unwrap();
    let out = dead.status();
    out.expect_code(3);
    assert!(out.stderr.contains("unreachable"), "{}", out.stderr);
}
