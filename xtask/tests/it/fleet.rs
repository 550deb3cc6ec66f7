//! Fleet deploys (issue 20) against real PostgreSQL clusters and the real Prisma
//! CLI: tenant databases and schema-per-tenant targets of one server, waves with
//! failure budgets, `kill -9` then `--resume`, shards started together and merged,
//! and hostile inventories.
//!
//! The tenants' history is two migrations of a tenant app (a users table, then a
//! unique index on its email), not the example app's: a unique index over a
//! tenant's duplicate rows is how a migration fails for one tenant of many. The
//! first migration is put in place by hand (its SQL and its `_prisma_migrations`
//! row, as Prisma writes them) so a test starts fleets without a Prisma call per
//! tenant; every deploy under test is the real Prisma CLI.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pgcluster::{Cluster, ClusterOptions};
use serde_json::Value;

use crate::harness::Out;
use crate::prisma_app::{repo_root, Options, PrismaApp, MIGRATIONS};

const M1: &str = "20260301000000_tenant_users";
const M1_SQL: &str = "CREATE TABLE \"tenant_user\" (\n    \"id\" SERIAL NOT NULL,\n    \"email\" TEXT NOT NULL,\n    CONSTRAINT \"tenant_user_pkey\" PRIMARY KEY (\"id\")\n);\n";
const M2: &str = "20260302000000_unique_email";
const M2_SQL: &str = "CREATE UNIQUE INDEX \"tenant_user_email_key\" ON \"tenant_user\"(\"email\");\n";

/// A fleet of tenants on the app's cluster: `databases` tenant databases, and
/// `schemas` tenants as schemas of one database `shared`.
struct Fleet {
    app: PrismaApp,
    policy: String,
    /// (id, database, schema)
    tenants: Vec<(String, String, String)>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    xtask::testing::migrations::hex(&sha2::Sha256::digest(bytes))
}

impl Fleet {
    fn options(fleet_toml: &str, policy: &str) -> Options {
        Options {
            deploy_policy: policy.into(),
            extra_toml: format!(
                "\n[tasks.deploy-fleet]\nuses = \"fleet-deploy\"\n[tasks.fleet-report]\nuses = \"fleet-report\"\n\n{fleet_toml}\n"
            ),
            ..Options::default()
        }
    }

    /// Rewrites tasks.toml with another `[fleet]` section.
    fn set_fleet(&self, fleet_toml: &str) {
        self.app.reconfigure(Fleet::options(fleet_toml, &self.policy));
    }

    fn new(databases: usize, schemas: usize, fleet_toml: &str, policy: &str) -> Fleet {
        let app = PrismaApp::with(Fleet::options(fleet_toml, policy));
        let dir = app.path().join(MIGRATIONS);
        std::fs::remove_dir_all(&dir).unwrap();
        for (name, sql) in [(M1, M1_SQL), (M2, M2_SQL)] {
            app.project.file(&format!("{MIGRATIONS}/{name}/migration.sql"), sql);
        }
        app.project.file(&format!("{MIGRATIONS}/migration_lock.toml"), "provider = \"postgresql\"\n");
        let mut f = Fleet { app, tenants: Vec::new(), policy: policy.into() };
        // The tenant databases are copies of one seeded template (one CREATE
        // DATABASE each, not a seed script each: 50 tenants stay cheap).
        if databases > 0 {
            f.app.cluster.create_database("tenant_template").unwrap();
            f.seed(&f.app.cluster, "tenant_template", "public");
        }
        let mut create = String::new();
        for i in 0..databases {
            let db = format!("tenant_{i:02}");
            create.push_str(&format!("CREATE DATABASE {db} TEMPLATE tenant_template;\n"));
            f.tenants.push((format!("db-{i:02}"), db, "public".to_string()));
        }
        if !create.is_empty() {
            f.psql("postgres", &create);
        }
        if schemas > 0 {
            f.app.cluster.create_database("shared").unwrap();
        }
        for i in 0..schemas {
            let schema = format!("t{i:02}");
            f.seed(&f.app.cluster, "shared", &schema);
            f.tenants.push((format!("schema-{i:02}"), "shared".into(), schema));
        }
        f.write_targets(&f.app.cluster, &BTreeMap::new());
        f
    }

    /// The first migration applied by hand, as Prisma records it.
    fn seed(&self, cluster: &Cluster, db: &str, schema: &str) {
        let sql = format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; SET search_path TO \"{schema}\";\n\
             CREATE TABLE \"_prisma_migrations\" (\"id\" VARCHAR(36) PRIMARY KEY NOT NULL, \"checksum\" VARCHAR(64) NOT NULL, \
             \"finished_at\" TIMESTAMPTZ, \"migration_name\" VARCHAR(255) NOT NULL, \"logs\" TEXT, \"rolled_back_at\" TIMESTAMPTZ, \
             \"started_at\" TIMESTAMPTZ NOT NULL DEFAULT now(), \"applied_steps_count\" INTEGER NOT NULL DEFAULT 0);\n\
             {M1_SQL}\
             INSERT INTO \"_prisma_migrations\" VALUES ('seed-{schema}', '{}', now(), '{M1}', NULL, NULL, now(), 1);\n\
             INSERT INTO \"tenant_user\" (email) VALUES ('a@x'), ('b@x');",
            sha256_hex(M1_SQL.as_bytes())
        );
        cluster.psql(db, &sql).unwrap();
    }

    /// The second migration applied by hand too: the tenant is at the head.
    fn seed_head(&self, cluster: &Cluster, db: &str, schema: &str) {
        let sql = format!(
            "SET search_path TO \"{schema}\";\n{M2_SQL}\
             INSERT INTO \"_prisma_migrations\" VALUES ('head-{schema}', '{}', now(), '{M2}', NULL, NULL, now(), 1);",
            sha256_hex(M2_SQL.as_bytes())
        );
        cluster.psql(db, &sql).unwrap();
    }

    /// targets.jsonl: every tenant through a URL template whose password comes
    /// from the environment (PW); `labels` per id.
    fn write_targets(&self, cluster: &Cluster, labels: &BTreeMap<&str, &str>) {
        let mut text = String::from("# tenants of the fleet test\n");
        for (id, db, schema) in &self.tenants {
            let mut line = serde_json::json!({
                "id": id,
                "url": format!("postgresql://postgres:${{PW}}@127.0.0.1:{}/{db}", cluster.port()),
            });
            if schema != "public" {
                line["schema"] = schema.clone().into();
            }
            if let Some(ring) = labels.get(id.as_str()) {
                line["labels"] = serde_json::json!({ "ring": ring });
            }
            text.push_str(&format!("{line}\n"));
        }
        self.app.project.file("fleet/targets.jsonl", &text);
    }

    fn xtask(&self) -> crate::harness::Xtask {
        self.app.project.xtask().env("PW", self.app.password())
    }

    /// A second server with two tenants of its own (`eu-00`, `eu-01`: databases
    /// `tenant_eu0`, `tenant_eu1`, at the head when `at_head`), added to
    /// targets.jsonl with `extra` (more JSON keys, from `, `) on each line.
    fn second_server(&self, at_head: bool, extra: &str) -> Cluster {
        let second = Cluster::start(
            &self.app.path().join("pg2"),
            &ClusterOptions { tls: false, superuser_password: self.app.password().to_string() },
        )
        .unwrap();
        let mut text = self.app.project.read("fleet/targets.jsonl");
        for (id, db) in [("eu-00", "tenant_eu0"), ("eu-01", "tenant_eu1")] {
            second.create_database(db).unwrap();
            self.seed(&second, db, "public");
            if at_head {
                self.seed_head(&second, db, "public");
            }
            text.push_str(&format!(
                "{{\"id\": \"{id}\", \"url\": \"postgresql://postgres:${{PW}}@127.0.0.1:{}/{db}\"{extra}}}\n",
                second.port()
            ));
        }
        self.app.project.file("fleet/targets.jsonl", &text);
        second
    }

    fn psql(&self, db: &str, sql: &str) -> String {
        self.app.cluster.psql(db, sql).unwrap()
    }

    /// `name state` rows of one tenant's `_prisma_migrations`.
    fn states(&self, db: &str, schema: &str) -> Vec<String> {
        let out = self.psql(
            db,
            &format!(
                "SELECT migration_name || ' ' || CASE WHEN rolled_back_at IS NOT NULL THEN 'rolled back' \
                 WHEN finished_at IS NOT NULL THEN 'applied' ELSE 'failed' END \
                 FROM \"{schema}\"._prisma_migrations ORDER BY started_at, migration_name"
            ),
        );
        out.lines().map(String::from).collect()
    }

    fn at_head(&self, db: &str, schema: &str) -> bool {
        let s = self.states(db, schema);
        s.iter().filter(|l| *l == &format!("{M2} applied")).count() == 1
            && s.iter().filter(|l| *l == &format!("{M1} applied")).count() == 1
    }

    fn state_dir(&self) -> PathBuf {
        self.app.path().join("backups/fleet")
    }

    fn ledger(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state_dir().join("ledger.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("ledger line is not JSON ({e}): {l}")))
            .collect()
    }

    fn report(&self, rel: &str) -> Value {
        self.app.report(rel)
    }

    #[track_caller]
    fn assert_no_secret(&self, what: &str, text: &str) {
        assert!(!text.contains(self.app.password()), "the database password appears in {what}:\n{text}");
    }

    /// Every file the fleet wrote (plan, ledger, logs, reports), checked for the password.
    fn assert_no_secret_in_files(&self) {
        let mut stack = vec![self.state_dir()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(text) = std::fs::read_to_string(&p) {
                    self.assert_no_secret(&p.display().to_string(), &text);
                }
            }
        }
    }
}

fn outcomes(report: &Value) -> BTreeMap<String, String> {
    report["targets"]
        .as_array()
        .unwrap_or_else(|| panic!("no targets in {report:#}"))
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t["outcome"].as_str().unwrap().to_string()))
        .collect()
}

fn validate(report: &Value) {
    let schema = |file: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(repo_root().join(file)).unwrap()).unwrap()
    };
    crate::report::validate(&schema("docs/report-v1.schema.json"), report, "report")
        .unwrap_or_else(|e| panic!("{e}\n{report:#}"));
    let fleet = serde_json::json!({ "fleet": report["fleet"], "targets": report["targets"] });
    crate::report::validate(&schema("docs/fleet-report-v1.schema.json"), &fleet, "report")
        .unwrap_or_else(|e| panic!("{e}\n{report:#}"));
}

/// The largest number of ledger attempts that overlapped in time, by a key of the id.
fn max_overlap(ledger: &[Value], key: &dyn Fn(&str) -> String) -> BTreeMap<String, usize> {
    let mut spans: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for l in ledger {
        let end =
            chrono::DateTime::parse_from_rfc3339(l["ts"].as_str().unwrap()).unwrap().timestamp_millis() as f64 / 1000.0;
        let start = end - l["seconds"].as_f64().unwrap();
        spans.entry(key(l["id"].as_str().unwrap())).or_default().push((start, end));
    }
    spans
        .into_iter()
        .map(|(k, v)| {
            let most =
                v.iter().map(|&(s, _)| v.iter().filter(|&&(s2, e2)| s2 <= s && s < e2).count()).max().unwrap_or(0);
            (k, most)
        })
        .collect()
}

const WAVES_ALL: &str = "[fleet]\ntargets = \"fleet/targets.jsonl\"\nworkers = 4\nper_server = 2\n";

/// The size: 50 tenant databases and 20 schema-per-tenant targets in one
/// database, on one server, one pending migration each. What it costs (run alone,
/// 2026-12-07, 2 CPUs shared at load 10-12): 362 s wall and 141 s of CPU in the
/// test's processes (about 2 s a target, mostly Prisma's Node start), against
/// 48 s wall for the 4 + 3 targets it had before at the same load. On an idle
/// 2-CPU machine the 63 more targets are about 130 s more CPU, a minute or two of
/// wall time, within the allowance for the fleet tests.
const DATABASES: usize = 50;
const SCHEMAS: usize = 20;

/// Tenant databases and schema-per-tenant targets of one server all reach the
/// head; at most `per_server` run at once on the server and one at a time in
/// the shared database (so no P1002); a second run starts nothing.
///
/// The per-target policy is light (no rehearsal): what this test proves is the
/// scheduling over many targets (the per-server limit, the shared database taken
/// in turn, every target at the head, the at-head check of all of them); the
/// default pipeline with its rehearsal is proved per target by the smaller tests
/// below.
#[test]
fn databases_and_schemas_of_one_server_reach_the_head_within_the_limits() {
    let toml = "[fleet]\ntargets = \"fleet/targets.jsonl\"\nworkers = 6\nper_server = 3\n";
    let f = Fleet::new(DATABASES, SCHEMAS, toml, "rehearse = \"off\"");
    let all = DATABASES + SCHEMAS;

    let plan = f.xtask().args(["deploy-fleet", "--dry-run"]).run();
    plan.expect_code(0);
    for (id, _, _) in &f.tenants {
        assert!(plan.stdout.contains(&format!("  {id} [")), "{id} missing from the plan:\n{}", plan.stdout);
    }
    assert!(plan.stdout.contains(&format!("{all} target(s) would get the deploy pipeline")), "{}", plan.stdout);
    f.assert_no_secret("the plan", &plan.all());
    assert!(!f.state_dir().join("ledger.jsonl").exists(), "--dry-run wrote a ledger");

    let out = f.xtask().args(["deploy-fleet", "--report", "fleet.json"]).run();
    out.expect_code(0);
    for (id, db, schema) in &f.tenants {
        assert!(f.at_head(db, schema), "{id} is not at the head: {:?}\n{}", f.states(db, schema), out.all());
    }
    let report = f.report("fleet.json");
    validate(&report);
    assert!(outcomes(&report).values().all(|o| o == "applied"), "{report:#}");
    assert_eq!(report["fleet"]["counts"]["applied"], all);

    // The tool's own counters: the ledger's attempts, by server and by database.
    let ledger = f.ledger();
    assert_eq!(ledger.len(), all, "{ledger:#?}");
    let per_server = max_overlap(&ledger, &|_| "server".into());
    assert!(per_server["server"] <= 3, "more than per_server = 3 at once: {per_server:?}");
    let per_db = max_overlap(&ledger, &|id| if id.starts_with("schema-") { "shared".into() } else { id.into() });
    assert_eq!(per_db["shared"], 1, "schemas of one database ran at once: {ledger:#?}");
    let logs: String = std::fs::read_dir(f.state_dir().join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(!logs.contains("P1002"), "a target timed out on Prisma's advisory lock:\n{logs}");
    // Each target's backup went to its own directory.
    for (id, _, _) in &f.tenants {
        let own: Vec<_> = std::fs::read_dir(f.state_dir().join(id)).unwrap().flatten().collect();
        assert!(own.iter().any(|e| e.file_name().to_string_lossy().starts_with("pre-migration-")), "{id}: {own:?}");
    }
    f.assert_no_secret("the output", &out.all());
    f.assert_no_secret_in_files();

    // Again: every target is checked natively and none is started.
    let again = f.xtask().args(["deploy-fleet", "--report", "again.json"]).run();
    again.expect_code(0);
    assert!(again.stderr.contains(&format!("{all} at the head, 0 to deploy")), "{}", again.stderr);
    assert!(outcomes(&f.report("again.json")).values().all(|o| o == "up-to-date"));
    assert_eq!(f.ledger().len(), all, "a target at the head was started again");
}

/// A tenant whose rows break the unique index: with a canary wave of budget 0 it
/// stops the fleet before the next wave (exit 7, nothing else touched); with a
/// budget of 1 the rest completes (exit 4) and the report names the tenant, its
/// error, verdict and backup.
#[test]
fn a_failing_tenant_spends_the_canary_budget_or_stays_within_the_last() {
    let canary = format!(
        "{WAVES_ALL}\n[[fleet.waves]]\nname = \"canary\"\nlabels = {{ ring = \"canary\" }}\nmax_failures = 0\n\
         [[fleet.waves]]\nname = \"rest\"\nmax_failures = 1\n"
    );
    let f = Fleet::new(4, 0, &canary, "");
    f.psql("tenant_01", "INSERT INTO tenant_user (email) VALUES ('a@x')");
    f.write_targets(&f.app.cluster, &BTreeMap::from([("db-01", "canary")]));

    let out = f.xtask().args(["deploy-fleet", "--report", "stopped.json"]).run();
    out.expect_code(7);
    assert!(out.stderr.contains("wave `canary` spent its failure budget"), "{}", out.stderr);
    assert!(out.stderr.contains("failed: db-01: see each target's log and the report, fix, then `"), "{}", out.stderr);
    assert!(out.stderr.contains("deploy-fleet --resume`"), "{}", out.stderr);
    let report = f.report("stopped.json");
    validate(&report);
    let o = outcomes(&report);
    assert_eq!(o["db-01"], "failed");
    for id in ["db-00", "db-02", "db-03"] {
        assert_eq!(o[id], "not-tried", "{report:#}");
    }
    for db in ["tenant_00", "tenant_02", "tenant_03"] {
        assert_eq!(f.states(db, "public"), [format!("{M1} applied")], "a tenant after the canary was touched");
    }
    assert_eq!(report["fleet"]["stopped_in_wave"], "canary");

    // One wave with a budget of one: the others complete.
    f.set_fleet(&format!("{WAVES_ALL}\n[[fleet.waves]]\nname = \"all\"\nmax_failures = 1\n"));
    let out = f.xtask().args(["deploy-fleet", "--report", "within.json"]).run();
    out.expect_code(4);
    let report = f.report("within.json");
    validate(&report);
    let o = outcomes(&report);
    assert_eq!(o["db-01"], "failed", "{report:#}");
    for (id, db, _) in f.tenants.iter().filter(|t| t.0 != "db-01") {
        assert_eq!(o[id], "applied", "{report:#}");
        assert!(f.at_head(db, "public"));
    }
    let bad = report["targets"].as_array().unwrap().iter().find(|t| t["id"] == "db-01").unwrap();
    let error = bad["error"].as_str().unwrap_or("");
    // The default deploy's data checks find the duplicates before production
    // (issue 19); without them Prisma fails with 23505 on the index.
    assert!(error.contains("unique_email") && (error.contains("duplicated") || error.contains("23505")), "{bad:#}");
    assert!(bad["verdict"].as_str().is_some_and(|v| !v.is_empty()), "{bad:#}");
    let backup = bad["backup"].as_str().expect("the failed tenant's backup");
    assert!(std::path::Path::new(backup).is_file() && backup.contains("/fleet/db-01/"), "{backup}");
    assert!(bad["next"].as_array().is_some_and(|n| !n.is_empty()), "{bad:#}");
    let summary = f.xtask().args(["fleet-report", "within.json"]).run();
    summary.expect_code(4);
    assert!(summary.stdout.contains("**db-01**") && summary.stdout.contains("backup:"), "{}", summary.stdout);
    f.assert_no_secret("the output", &out.all());
    f.assert_no_secret_in_files();
}

/// `kill -9` of the fleet while a target runs, then `--resume`: every target
/// reaches the head, no migration is applied twice, the ledger reads; a second
/// `--resume` does nothing and says so.
#[test]
fn kill_9_mid_wave_then_resume_converges() {
    let toml = "[fleet]\ntargets = \"fleet/targets.jsonl\"\nworkers = 1\nper_server = 1\n";
    let f = Fleet::new(4, 0, toml, "rehearse = \"off\"");
    let mut child = f.xtask().args(["deploy-fleet"]).spawn();
    let t0 = Instant::now();
    // Mid-wave: one target done, the next one started.
    loop {
        let started = std::fs::read_dir(f.state_dir().join("logs")).map(|d| d.count()).unwrap_or(0);
        if !f.ledger().is_empty() && started >= 2 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "the fleet never got going");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the fleet ended before it could be killed: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let refused = f.xtask().args(["deploy-fleet"]).run();
    refused.expect_code(2);
    assert!(refused.stderr.contains("--resume"), "{}", refused.stderr);

    let resumed = f.xtask().args(["deploy-fleet", "--resume", "--report", "resumed.json"]).run();
    resumed.expect_code(0);
    for (id, db, _) in &f.tenants {
        assert!(f.at_head(db, "public"), "{id}: {:?}\n{}", f.states(db, "public"), resumed.all());
        let applied = f.psql(db, &format!("SELECT count(*) FROM _prisma_migrations WHERE migration_name = '{M2}' AND finished_at IS NOT NULL AND rolled_back_at IS NULL"));
        assert_eq!(applied.trim(), "1", "{id}: {M2} applied more than once");
    }
    let ledger = f.ledger();
    for id in f.tenants.iter().map(|t| &t.0) {
        let last = ledger.iter().rev().find(|l| &l["id"] == id);
        let ok = match last {
            Some(l) => ["applied", "recovered"].contains(&l["outcome"].as_str().unwrap()),
            // Killed before its ledger line, finished by its own pipeline: the resume found it at the head.
            None => outcomes(&f.report("resumed.json"))[id] == "up-to-date",
        };
        assert!(ok, "{id}: {last:?}");
    }

    let second = f.xtask().args(["deploy-fleet", "--resume"]).run();
    second.expect_code(0);
    assert!(second.stderr.contains("nothing to resume"), "{}", second.stderr);
    assert_eq!(f.ledger().len(), ledger.len(), "the second resume started a target");
}

/// The program's file replaced mid-fleet (a `cargo build` in another terminal,
/// a package upgrade): the targets after it still start, on the version the fleet
/// started with. Before, each later target failed with "`.../xtask (deleted)` was
/// not found on PATH".
#[test]
fn targets_still_start_after_the_programs_file_is_replaced_mid_fleet() {
    let toml = "[fleet]\ntargets = \"fleet/targets.jsonl\"\nworkers = 1\nper_server = 1\n";
    let f = Fleet::new(2, 0, toml, "rehearse = \"off\"");
    let copy = f.app.path().join("bin/xtask");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_xtask"), &copy).unwrap();
    let child = crate::harness::Xtask::of(&copy, f.app.path())
        .env("PW", f.app.password())
        .args(["deploy-fleet", "--report", "fleet.json"])
        .spawn();
    let t0 = Instant::now();
    // A target's own output in its log (its preflight line): its program has started.
    // The fleet writes to the log before it starts the child, which could then still
    // run the new file.
    let started = || {
        std::fs::read_dir(f.state_dir().join("logs"))
            .map(|d| d.flatten().any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("preflight ok"))))
            .unwrap_or(false)
    };
    while !started() {
        assert!(t0.elapsed() < Duration::from_secs(120), "the fleet never started a target");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Replaced as cargo does: a new file renamed over the old one.
    let fresh = f.app.path().join("bin/xtask.new");
    std::fs::write(&fresh, "#!/bin/sh\nexit 99\n").unwrap();
    std::fs::rename(&fresh, &copy).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for (id, db, _) in &f.tenants {
        assert!(f.at_head(db, "public"), "{id}: {:?}\n{stderr}", f.states(db, "public"));
    }
    assert_eq!(outcomes(&f.report("fleet.json")).values().filter(|o| *o == "applied").count(), 2);
}

/// Two servers, three shards started together as matrix legs would be: each
/// target is in exactly one shard's report, a server's targets in one shard,
/// and the merged report equals a single-process run over the same tenants.
#[test]
fn shards_started_together_cover_every_target_once_and_merge() {
    let toml = "[fleet]\ntargets = \"fleet/targets.jsonl\"\nworkers = 2\nper_server = 1\n\n[[fleet.waves]]\nname = \"all\"\nmax_failures = 1\n";
    let f = Fleet::new(2, 0, toml, "rehearse = \"off\"");
    // Two more tenants on a second server; one of them with duplicates.
    let second = f.second_server(false, ", \"labels\": {\"region\": \"eu\"}");
    second.psql("tenant_eu1", "INSERT INTO tenant_user (email) VALUES ('a@x')").unwrap();

    let legs: Vec<_> = (0..3)
        .map(|i| {
            f.xtask()
                .args(["deploy-fleet", "--shard", &format!("{i}/3"), "--report", &format!("shard-{i}.json")])
                .spawn()
        })
        .collect();
    let mut shard_of: BTreeMap<String, usize> = BTreeMap::new();
    for (i, leg) in legs.into_iter().enumerate() {
        let out = leg.wait_with_output().unwrap();
        let code = out.status.code();
        assert!(matches!(code, Some(0) | Some(4)), "shard {i}: {code:?}\n{}", String::from_utf8_lossy(&out.stderr));
        for id in outcomes(&f.report(&format!("shard-{i}.json"))).keys() {
            assert!(shard_of.insert(id.clone(), i).is_none(), "{id} is in two shards");
        }
    }
    assert_eq!(shard_of.len(), 4, "{shard_of:?}");
    assert_eq!(shard_of["db-00"], shard_of["db-01"], "one server split over shards");
    assert_eq!(shard_of["eu-00"], shard_of["eu-01"], "one server split over shards");

    let merged = f
        .xtask()
        .args(["fleet-report", "shard-0.json", "shard-1.json", "shard-2.json", "--report", "merged.json"])
        .run();
    merged.expect_code(4);
    let merged_report = f.report("merged.json");
    validate(&merged_report);
    let merged_outcomes = outcomes(&merged_report);
    assert_eq!(merged_outcomes["eu-01"], "failed");
    let twice = f.xtask().args(["fleet-report", "shard-0.json", "shard-0.json"]).run();
    twice.expect_code(2);
    // The gate between waves: the wave's budget over all shards' reports. One
    // failure is within max_failures = 1 (exit 4, as without --budget), and spends
    // a budget of 0 (exit 7), whichever shard it was in.
    let shards = ["shard-0.json", "shard-1.json", "shard-2.json"];
    let gate = f.xtask().args(["fleet-report", "--budget"]).args(shards).run();
    gate.expect_code(4);
    f.set_fleet(&toml.replace("max_failures = 1", "max_failures = 0"));
    let spent = f.xtask().args(["fleet-report", "--budget"]).args(shards).args(["--report", "gate.json"]).run();
    spent.expect_code(7);
    assert!(
        spent.stderr.contains("wave `all` spent its failure budget over all shards (1 failed of 4, max_failures = 0)"),
        "{}",
        spent.stderr
    );
    assert_eq!(f.report("gate.json")["fleet"]["stopped_in_wave"], "all");
    f.set_fleet(toml);

    // The same tenants from scratch, in one process: the same outcome per target.
    for (_, db, _) in &f.tenants {
        f.psql(db, "DROP TABLE tenant_user, _prisma_migrations");
        f.seed(&f.app.cluster, db, "public");
    }
    for db in ["tenant_eu0", "tenant_eu1"] {
        second.psql(db, "DROP TABLE tenant_user, _prisma_migrations").unwrap();
        f.seed(&second, db, "public");
    }
    second.psql("tenant_eu1", "INSERT INTO tenant_user (email) VALUES ('a@x')").unwrap();
    let single = f.xtask().args(["deploy-fleet", "--report", "single.json"]).run();
    single.expect_code(4);
    assert_eq!(outcomes(&f.report("single.json")), merged_outcomes);
    drop(second);
}

/// The plan's read-only check: with the native client (a connection per database,
/// several at once) and with psql alone (`XTASK_FLEET_CHECK=psql`: one session per
/// server, `\connect`ing from database to database), the same verdict for every
/// target. Targets at the head on two servers are "at head", a tenant with a failed
/// row is pending with it, one a migration behind is pending, a database without
/// `_prisma_migrations` has everything pending, and an unreachable server, a wrong
/// password and a missing database are each "not checked" with their own cause,
/// without making their neighbours unchecked or taking their status. No password
/// in the output.
#[test]
fn the_plan_checks_many_targets_per_session_and_names_each_failure() {
    let f = Fleet::new(6, 3, WAVES_ALL, "rehearse = \"off\"");
    let second = f.second_server(true, "");
    let mut text = f.app.project.read("fleet/targets.jsonl");
    for (_, db, schema) in &f.tenants {
        // db-05 stays a migration behind.
        if db != "tenant_05" {
            f.seed_head(&f.app.cluster, db, schema);
        }
    }
    // A failed row for db-02: Prisma's record of a migration that stopped half-way.
    f.psql("tenant_02", &format!("UPDATE _prisma_migrations SET finished_at = NULL WHERE migration_name = '{M2}'"));
    // A database Prisma never migrated: no ledger at all.
    f.app.cluster.create_database("no_ledger").unwrap();
    let port = f.app.cluster.port();
    // Ids sorted among the others, so each failure sits between targets that work.
    let refused = free_port();
    for line in [
        format!("{{\"id\": \"db-01x\", \"url\": \"postgresql://postgres:${{PW_WRONG}}@127.0.0.1:{port}/tenant_01\"}}"),
        format!("{{\"id\": \"db-03x\", \"url\": \"postgresql://postgres:${{PW}}@127.0.0.1:{port}/no_such_db\"}}"),
        format!("{{\"id\": \"db-04x\", \"url\": \"postgresql://postgres:${{PW}}@127.0.0.1:{refused}/tenant_04\"}}"),
        format!("{{\"id\": \"db-06x\", \"url\": \"postgresql://postgres:${{PW}}@127.0.0.1:{port}/no_ledger\"}}"),
    ] {
        text.push_str(&line);
        text.push('\n');
    }
    f.app.project.file("fleet/targets.jsonl", &text);
    let wrong = "wrong-Pa55word-for-the-check";

    let mut verdicts = Vec::new();
    for check in ["native", "psql"] {
        let plan =
            f.xtask().env("PW_WRONG", wrong).env("XTASK_FLEET_CHECK", check).args(["deploy-fleet", "--dry-run"]).run();
        plan.expect_code(0);
        let status = |id: &str| -> String {
            let prefix = format!("{id} [");
            let line = plan.stdout.lines().find(|l| l.trim_start().starts_with(&prefix));
            let line = line.unwrap_or_else(|| panic!("{id} missing from the plan:\n{}", plan.stdout));
            line.split_once("] ").unwrap().1.to_string()
        };
        for id in ["db-00", "db-01", "db-03", "db-04", "schema-00", "schema-01", "schema-02", "eu-00", "eu-01"] {
            assert_eq!(status(id), "at head", "{check}: {}", plan.stdout);
        }
        assert_eq!(status("db-02"), format!("1 pending, failed: {M2}"), "{check}: {}", plan.stdout);
        assert_eq!(status("db-05"), "1 pending", "{check}: {}", plan.stdout);
        assert_eq!(status("db-06x"), "2 pending", "{check}: {}", plan.stdout);
        let wrong_password = status("db-01x");
        assert!(wrong_password.starts_with("not checked: ") && wrong_password.contains("password"), "{wrong_password}");
        let missing = status("db-03x");
        assert!(missing.starts_with("not checked: ") && missing.contains("no_such_db"), "{missing}");
        let unreachable = status("db-04x");
        assert!(
            unreachable.starts_with("not checked: ") && unreachable.contains(&refused.to_string()),
            "{unreachable}"
        );
        assert!(plan.stdout.contains("6 target(s) would get the deploy pipeline"), "{}", plan.stdout);
        let how = if check == "native" {
            // A connection per database that works (8 on the first server, the
            // shared database's three schemas on one, 2 on the second), one SCRAM
            // key per server and password; each failure checked alone by psql.
            "by 3 psql process(es) and 10 native connection(s), 3 SCRAM key(s) derived"
        } else {
            // Fewer psql processes than targets: on the first server one session up
            // to each failure (3), and the two failures checked alone; one session
            // and one check alone for the refused server; one session for the second.
            "by 8 psql process(es) and 0 native connection(s) (psql because XTASK_FLEET_CHECK=psql)"
        };
        assert!(plan.stdout.contains(how), "{check}: {}", plan.stdout);
        f.assert_no_secret("the plan", &plan.all());
        assert!(!plan.all().contains(wrong), "the wrong password appears in the plan:\n{}", plan.all());
        let ids: Vec<&str> = f.tenants.iter().map(|(id, _, _)| id.as_str()).collect();
        let all = [&ids[..], &["eu-00", "eu-01", "db-01x", "db-03x", "db-04x", "db-06x"]].concat();
        verdicts.push(all.iter().map(|id| (id.to_string(), status(id))).collect::<Vec<_>>());
    }
    assert_eq!(verdicts[0], verdicts[1], "the native check and psql disagree");
    drop(second);
}

/// The native check speaks the password methods PostgreSQL offers over TCP:
/// scram-sha-256 (one key derived for a role's two databases), md5 and password
/// (cleartext), as the server's log shows; a server with `ssl=on` (a self-signed
/// certificate) is left to psql, which connects with TLS. Every target is at the
/// head either way, and no child's argv (the psql that checks the TLS server,
/// held by a lock while its argv is read) has a password.
#[test]
fn the_native_check_speaks_scram_md5_and_password_and_leaves_tls_to_psql() {
    let f = Fleet::new(2, 0, WAVES_ALL, "rehearse = \"off\"");
    for (_, db, schema) in &f.tenants {
        f.seed_head(&f.app.cluster, db, schema);
    }
    let roles = [
        ("scram", "fleet_scram", "Scram-pw-1"),
        ("md5", "fleet_md5", "Md5-pw-2"),
        ("pw", "fleet_cleartext", "Clear-pw-3"),
    ];
    f.psql(
        "postgres",
        &format!(
            "CREATE ROLE fleet_scram LOGIN PASSWORD '{}';\n\
             SET password_encryption = 'md5'; CREATE ROLE fleet_md5 LOGIN PASSWORD '{}';\n\
             RESET password_encryption; CREATE ROLE fleet_cleartext LOGIN PASSWORD '{}';\n\
             GRANT pg_read_all_data TO fleet_scram, fleet_md5, fleet_cleartext;\n\
             ALTER SYSTEM SET log_connections = on;",
            roles[0].2, roles[1].2, roles[2].2
        ),
    );
    // pg_hba.conf lines of our own before the cluster's (first match wins).
    let hba = f.app.cluster.data_dir().join("pg_hba.conf");
    let old = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("host all fleet_md5 127.0.0.1/32 md5\nhost all fleet_cleartext 127.0.0.1/32 password\n{old}"),
    )
    .unwrap();
    f.psql("postgres", "SELECT pg_reload_conf()");

    let tls = Cluster::start(
        &f.app.path().join("pg-tls"),
        &ClusterOptions { tls: true, superuser_password: f.app.password().to_string() },
    )
    .unwrap();
    tls.psql("postgres", "ALTER SYSTEM SET log_connections = on; SELECT pg_reload_conf();").unwrap();
    let mut text = String::new();
    for (i, (_, db, _)) in f.tenants.iter().enumerate() {
        for (kind, role, _) in roles {
            let var = format!("PW_{}", kind.to_uppercase());
            let port = f.app.cluster.port();
            text.push_str(&format!(
                "{{\"id\": \"{kind}-{i}\", \"url\": \"postgresql://{role}:${{{var}}}@127.0.0.1:{port}/{db}\"}}\n"
            ));
        }
        let tls_db = format!("tenant_tls{i}");
        tls.create_database(&tls_db).unwrap();
        f.seed(&tls, &tls_db, "public");
        f.seed_head(&tls, &tls_db, "public");
        // No sslmode: libpq's default (prefer) takes TLS when the server offers it.
        text.push_str(&format!(
            "{{\"id\": \"tls-{i}\", \"url\": \"postgresql://postgres:${{PW}}@127.0.0.1:{}/{tls_db}\"}}\n",
            tls.port()
        ));
    }
    f.app.project.file("fleet/targets.jsonl", &text);

    // The first TLS tenant's ledger locked: psql waits on it, long enough to read its argv.
    let mut lock = std::process::Command::new("psql")
        .env("PGPASSWORD", f.app.password())
        .env_remove("PGPASSFILE")
        .args(["-X", "-q", "--no-password", "-d"])
        .arg(format!("postgresql://postgres@127.0.0.1:{}/tenant_tls0?sslmode=require", tls.port()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = lock.stdin.as_mut().unwrap();
        writeln!(stdin, "BEGIN; LOCK TABLE _prisma_migrations IN ACCESS EXCLUSIVE MODE;").unwrap();
        stdin.flush().unwrap();
    }
    let granted = "SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation \
                   WHERE r.relname = '_prisma_migrations' AND l.mode = 'AccessExclusiveLock' AND l.granted";
    let deadline = Instant::now() + Duration::from_secs(30);
    while tls.psql("tenant_tls0", granted).unwrap().trim() != "1" {
        assert!(Instant::now() < deadline, "the lock was never granted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut xtask = f.xtask();
    for (kind, _, password) in roles {
        xtask = xtask.env(format!("PW_{}", kind.to_uppercase()).as_str(), password);
    }
    let child = xtask.args(["deploy-fleet", "--dry-run"]).spawn();
    let mut argvs: Vec<Vec<String>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !argvs.iter().any(|a| a[0].ends_with("psql")) {
        for kid in crate::backup::children(child.id()) {
            if let Some(argv) = crate::backup::cmdline(kid).filter(|a| !a.is_empty()) {
                argvs.push(argv);
            }
        }
        assert!(Instant::now() < deadline, "no psql started for the TLS server; seen: {argvs:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(lock.stdin.take());
    lock.wait().unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");

    for (kind, _, _) in roles {
        for i in 0..2 {
            let line = stdout.lines().find(|l| l.trim_start().starts_with(&format!("{kind}-{i} [")));
            assert!(line.is_some_and(|l| l.ends_with("] at head")), "{kind}-{i}: {stdout}");
        }
    }
    for i in 0..2 {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(&format!("tls-{i} [")));
        assert!(line.is_some_and(|l| l.ends_with("] at head")), "tls-{i}: {stdout}");
    }
    // Six native connections, one SCRAM key for fleet_scram's two databases; one
    // psql session for the TLS server's two.
    assert!(
        stdout.contains(
            "by 1 psql process(es) and 6 native connection(s), 1 SCRAM key(s) derived (psql because the server offers TLS)"
        ),
        "{stdout}"
    );
    let log = std::fs::read_to_string(f.app.cluster.log_path()).unwrap();
    for (method, role) in [("scram-sha-256", "fleet_scram"), ("md5", "fleet_md5"), ("password", "fleet_cleartext")] {
        let authenticated = format!("identity=\"{role}\" method={method} ");
        assert_eq!(log.matches(&authenticated).count(), 2, "{role} by {method}:\n{log}");
    }
    let tls_log = std::fs::read_to_string(tls.log_path()).unwrap();
    assert!(
        tls_log.lines().any(|l| l.contains("application_name=xtask fleet check SSL enabled")),
        "psql did not use TLS:\n{tls_log}"
    );
    for argv in &argvs {
        for (_, _, password) in roles {
            assert!(!argv.iter().any(|a| a.contains(password)), "a password in a child's argv: {argv:?}");
        }
        assert!(!argv.iter().any(|a| a.contains(f.app.password())), "the password in a child's argv: {argv:?}");
    }
    for (_, _, password) in roles {
        assert!(!all.contains(password), "a password in the output:\n{all}");
    }
    f.assert_no_secret("the plan", &all);
    drop(tls);
}

/// The native check over a Unix socket, the two ways a URL names one (`?host=DIR`
/// and a percent-encoded directory as the host): both databases at the head, read
/// natively, no psql started.
#[test]
fn the_native_check_reaches_databases_over_a_unix_socket() {
    let f = Fleet::new(2, 0, WAVES_ALL, "rehearse = \"off\"");
    for (_, db, schema) in &f.tenants {
        f.seed_head(&f.app.cluster, db, schema);
    }
    // The test cluster's socket is in its data directory, `local ... trust`.
    let dir = f.app.cluster.data_dir().to_str().unwrap().to_string();
    let port = f.app.cluster.port();
    let encoded: String =
        dir.bytes().map(|b| if b == b'/' { "%2F".to_string() } else { (b as char).to_string() }).collect();
    let (db0, db1) = (&f.tenants[0].1, &f.tenants[1].1);
    f.app.project.file(
        "fleet/targets.jsonl",
        &format!(
            "{{\"id\": \"by-param\", \"url\": \"postgresql://postgres@/{db0}?host={dir}&port={port}\"}}\n\
             {{\"id\": \"by-host\", \"url\": \"postgresql://postgres@{encoded}:{port}/{db1}\"}}\n"
        ),
    );
    let out = f.xtask().args(["deploy-fleet", "--dry-run"]).run();
    out.expect_code(0);
    for id in ["by-param", "by-host"] {
        let line = out.stdout.lines().find(|l| l.trim_start().starts_with(&format!("{id} [")));
        assert!(line.is_some_and(|l| l.ends_with("] at head")), "{id}: {}", out.stdout);
    }
    assert!(out.stdout.contains("by 0 psql process(es) and 2 native connection(s)"), "{}", out.stdout);
}

/// A TCP port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Inventories that must not run: clear errors with their line, exit 2, no plan,
/// no ledger, no child started.
#[test]
fn hostile_inventories_are_refused_before_anything_runs() {
    let f = Fleet::new(1, 0, WAVES_ALL, "");
    let port = f.app.cluster.port();
    let ok = format!("{{\"id\": \"a\", \"url\": \"postgresql://postgres:${{PW}}@127.0.0.1:{port}/tenant_00\"}}");
    let cases: Vec<(String, &str, &str)> = vec![
        (format!("{ok}\n{ok}\n"), "targets.jsonl:2: duplicate id `a` (first on line 1)", "duplicate"),
        (
            format!("{{\"id\": \"b\", \"url\": \"postgresql://postgres:${{PW}}@127.0.0.1:{port}/x\", \"labels\": {{\"db\": \"postgresql://postgres:{}@h/x\"}}}}\n", f.app.password()),
            "holds a URL",
            "url in a label",
        ),
        (format!("{{\"id\": \"c\", \"url\": \"postgresql://postgres:{}@127.0.0.1:{port}/x\"}}\n", f.app.password()), "password written into it", "literal password"),
        ("{\"id\": \"d\", \"url_env\": \"NOT_SET_ANYWHERE\"}\n".into(), "NOT_SET_ANYWHERE is not set", "missing variable"),
    ];
    for (text, want, what) in &cases {
        f.app.project.file("fleet/targets.jsonl", text);
        let out = f.xtask().args(["deploy-fleet"]).run();
        out.expect_code(2);
        assert!(out.stderr.contains(want), "{what}: {}", out.stderr);
        f.assert_no_secret(what, &out.all());
        // The dry run fails the same way (it printed the cause and exited 0 before).
        let dry = f.xtask().args(["deploy-fleet", "--dry-run"]).run();
        dry.expect_code(2);
        assert!(dry.all().contains(want) && dry.stderr.contains("the plan cannot be made"), "{what}: {}", dry.all());
        f.assert_no_secret(what, &dry.all());
    }
    // A command that prints garbage.
    let toml = f.app.project.read("tasks.toml");
    let garbage = toml.replace(
        "targets = \"fleet/targets.jsonl\"",
        "command = [\"sh\", \"-c\", \"echo '{\\\"id\\\": \\\"x\\\"'; echo hello\"]",
    );
    f.app.project.file("tasks.toml", &garbage);
    let out = f.xtask().args(["deploy-fleet"]).run();
    out.expect_code(2);
    assert!(out.stderr.contains("line 1 of the output of") && out.stderr.contains("not a target"), "{}", out.stderr);
    // A catalog query returning NULLs.
    f.psql(
        "postgres",
        "CREATE TABLE tenants (slug text, dsn_var text); INSERT INTO tenants VALUES ('ok', 'T_URL'), (NULL, 'T_URL');",
    );
    let query = toml.replace(
        "targets = \"fleet/targets.jsonl\"",
        "query = \"SELECT slug AS id, dsn_var AS url_env FROM tenants ORDER BY slug NULLS LAST\"\ncatalog_url_env = \"CATALOG_URL\"",
    );
    f.app.project.file("tasks.toml", &query);
    let out: Out = f
        .xtask()
        .env("CATALOG_URL", f.app.cluster.url("postgres"))
        .env("T_URL", f.app.cluster.url("tenant_00"))
        .args(["deploy-fleet"])
        .run();
    out.expect_code(2);
    assert!(out.stderr.contains("row 2 of fleet.query") && out.stderr.contains("no id"), "{}", out.stderr);
    f.assert_no_secret("the catalog error", &out.all());
    // An unknown key in [fleet] is a config error with its line.
    f.app.project.file("tasks.toml", &toml.replace("per_server = 2", "per_server = 2\nper_host = 1"));
    let out = f.xtask().args(["deploy-fleet"]).run();
    out.expect_code(2);
    assert!(out.stderr.contains("unknown field `per_host`"), "{}", out.stderr);
    assert!(!f.state_dir().exists(), "a refused inventory left fleet state behind");
    assert_eq!(f.states("tenant_00", "public"), [format!("{M1} applied")]);
}

/// The plan's read-only check through a self-hosted PgBouncer in transaction mode
/// that the inventory cannot tell from a server (its own port, no
/// `pgbouncer=true`), with one server connection in its pool: after the check, by
/// the native client and by psql, the application's next client gets that server
/// connection as the server set it up (not read-only, no timeout of the tool's),
/// and its write succeeds.
#[test]
fn the_check_leaves_nothing_on_an_unrecognised_pgbouncer() {
    use crate::pooler::{app_write_through, settings_seen_through, Bouncer, POOL_PASSWORD, POOL_USER};
    let f = Fleet::new(1, 0, WAVES_ALL, "rehearse = \"off\"");
    f.seed_head(&f.app.cluster, "tenant_00", "public");
    f.psql("postgres", &format!("CREATE ROLE {POOL_USER} LOGIN SUPERUSER PASSWORD '{POOL_PASSWORD}'"));
    let bouncer = Bouncer::start_with(&f.app.cluster, "tenant_00", "default_pool_size = 1\nmin_pool_size = 0\n");
    let mut text = f.app.project.read("fleet/targets.jsonl");
    text.push_str(&format!(
        "{{\"id\": \"db-00p\", \"url\": \"postgresql://postgres:${{PW}}@127.0.0.1:{}/tenant_00\"}}\n",
        bouncer.port
    ));
    f.app.project.file("fleet/targets.jsonl", &text);
    let before = settings_seen_through(&bouncer, "tenant_00");
    assert!(before.contains("transaction_read_only=off"), "{before}");
    for (i, check) in ["native", "psql"].into_iter().enumerate() {
        let logins = bouncer.logins();
        let plan = f.xtask().env("XTASK_FLEET_CHECK", check).args(["deploy-fleet", "--dry-run"]).run();
        plan.expect_code(0);
        // Each way of checking went through the pooler: the native client's
        // connections, or psql's script.
        let how = if check == "native" {
            "by 0 psql process(es) and 2 native connection(s)"
        } else {
            "by 2 psql process(es)"
        };
        assert!(plan.stdout.contains(how), "{check}: {}", plan.stdout);
        assert!(
            plan.stdout.lines().any(|l| l.trim_start().starts_with("db-00p [") && l.ends_with("] at head")),
            "{check}: {}",
            plan.stdout
        );
        assert!(bouncer.logins() > logins, "{check}: the check did not go through PgBouncer:\n{}", bouncer.log());
        assert_eq!(settings_seen_through(&bouncer, "tenant_00"), before, "after the {check} check:\n{}", plan.all());
        app_write_through(&bouncer, "tenant_00", &format!("INSERT INTO tenant_user (email) VALUES ('app-{i}@x')"))
            .unwrap_or_else(|e| panic!("after the {check} check: {e}"));
    }
}
