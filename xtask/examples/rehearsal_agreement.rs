//! Check (issue 15): the rehearsal applies migration files the way Prisma does.
//! For each real history in a corpus directory, file by file, the rehearsal's
//! verdict (applied or failed, with the database error) must be Prisma's.
//!
//!     cargo run --release -p xtask --example rehearsal_agreement [CORPUS_DIR]
//!
//! (scripts/rehearsal-agreement.sh runs it on ../shared/corpus.) Per app: a fresh
//! database, then repeatedly the real `xtask deploy` (`rehearse = "schema"`,
//! `recover = "stop"`, no backup). When the rehearsal passes, Prisma deploys the
//! same files for real: each must apply. When the rehearsal stops at a file, the
//! real Prisma CLI is run on production: it must apply every file before it and
//! fail on that one; then `prisma migrate resolve --applied` steps past it (in
//! both, since the rehearsal copies production's ledger) and the loop goes on.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pgcluster::{Cluster, ClusterOptions};
use serde_json::Value;

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let corpus = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| root.join("../shared/corpus"));
    anyhow::ensure!(root.join("Backend/node_modules/prisma").is_dir(), "run `npm ci` in Backend first");
    let built = Command::new("cargo").args(["build", "--release", "-q", "-p", "xtask"]).current_dir(&root).status()?;
    anyhow::ensure!(built.success(), "cargo build --release failed");
    let xtask = root.join("target/release/xtask");
    let base = std::env::temp_dir().join(format!("xtask-rehearsal-agreement-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    let cluster =
        Cluster::start(&base.join("pg"), &ClusterOptions { tls: false, superuser_password: "agree-pw".into() })?;

    let mut apps: Vec<PathBuf> =
        std::fs::read_dir(&corpus)?.flatten().map(|e| e.path()).filter(|p| p.join("migrations").is_dir()).collect();
    apps.sort();
    let (mut total, mut agree, mut failures_agreed) = (0, 0, 0);
    let mut disagreements = Vec::new();
    for dir in apps {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let r = check_app(&root, &xtask, &cluster, &base, &name, &dir.join("migrations"))?;
        println!(
            "{name}: {} files, {} agree ({} applied by both, {} failed in both){}",
            r.files,
            r.applied + r.failed.len(),
            r.applied,
            r.failed.len(),
            if r.disagree.is_empty() { String::new() } else { format!(", {} DISAGREE", r.disagree.len()) }
        );
        for (m, ours, prisma) in &r.failed {
            println!("  failed in both: {m}\n    rehearsal: {ours}\n    prisma:    {prisma}");
        }
        for d in &r.disagree {
            println!("  DISAGREE: {d}");
        }
        total += r.files;
        agree += r.applied + r.failed.len();
        failures_agreed += r.failed.len();
        disagreements.extend(r.disagree);
    }
    println!("all: {total} files, {agree} agree ({failures_agreed} failures), {} disagree", disagreements.len());
    drop(cluster);
    let _ = std::fs::remove_dir_all(&base);
    anyhow::ensure!(disagreements.is_empty(), "the rehearsal and Prisma disagree");
    Ok(())
}

struct AppResult {
    files: usize,
    applied: usize,
    /// (migration, the rehearsal's error, Prisma's logged error)
    failed: Vec<(String, String, String)>,
    disagree: Vec<String>,
}

fn check_app(
    root: &Path,
    xtask: &Path,
    cluster: &Cluster,
    base: &Path,
    name: &str,
    migrations: &Path,
) -> anyhow::Result<AppResult> {
    let app = base.join(format!("app-{name}"));
    pgcluster::copy_dir(&root.join("Backend"), &app)?;
    let _ = std::fs::remove_file(app.join("node_modules"));
    std::os::unix::fs::symlink(root.join("Backend/node_modules"), app.join("node_modules"))?;
    let mig = app.join("src/prisma/db/migrations");
    std::fs::remove_dir_all(&mig)?;
    pgcluster::copy_dir(migrations, &mig)?;
    let files = std::fs::read_dir(&mig)?.flatten().filter(|e| e.path().join("migration.sql").is_file()).count();
    std::fs::write(
        app.join("tasks.toml"),
        "[prisma]\nschema = \"src/prisma/db/schema.prisma\"\nenv = { PRISMA_SCHEMA_ENGINE_BINARY = \"./scripts/schema-engine-shim\" }\n\
         [backup]\ndir = \"backups\"\n[tasks.deploy]\nuses = \"prisma-deploy\"\nrehearse = \"schema\"\nrecover = \"stop\"\n",
    )?;
    let db = format!("agree_{}", name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    cluster.create_database(&db)?;
    let url = format!("{}?schema=public", cluster.url(&db));
    let prisma = |args: &[&str]| -> anyhow::Result<bool> {
        Ok(Command::new("npx")
            .arg("prisma")
            .args(args)
            .args(["--schema", "src/prisma/db/schema.prisma"])
            .current_dir(&app)
            .env("DATABASE_URL", &url)
            .env("PRISMA_SCHEMA_ENGINE_BINARY", "./scripts/schema-engine-shim")
            .env("CHECKPOINT_DISABLE", "1")
            .env("PRISMA_HIDE_UPDATE_MESSAGE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?
            .success())
    };
    let ledger = || -> anyhow::Result<Vec<(String, String, String)>> {
        let text = cluster.psql(
            &db,
            "SELECT coalesce(json_agg(json_build_array(migration_name, CASE WHEN rolled_back_at IS NOT NULL THEN 'rolled back' \
             WHEN finished_at IS NOT NULL THEN 'applied' ELSE 'failed' END, coalesce(logs, '')) ORDER BY started_at), '[]') \
             FROM _prisma_migrations",
        )?;
        let v: Vec<(String, String, String)> = serde_json::from_str(text.trim())?;
        Ok(v)
    };
    let state_of = |rows: &[(String, String, String)], m: &str| {
        rows.iter().rev().find(|r| r.0 == m).map(|r| (r.1.clone(), r.2.clone()))
    };
    let mut result = AppResult { files, applied: 0, failed: Vec::new(), disagree: Vec::new() };
    for _ in 0..files + 1 {
        let report = app.join("report.json");
        let status = Command::new(xtask)
            .args(["deploy", "--report"])
            .arg(&report)
            .current_dir(&app)
            .env("DATABASE_URL", &url)
            .env("CI", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
        let rehearsal = &r["rehearsal"];
        let applied: Vec<String> = rehearsal["applied"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default();
        match rehearsal["outcome"].as_str() {
            Some("skipped") if status.success() => break,
            Some("passed") => {
                // Prisma deployed the same files for real in the same run.
                let rows = ledger()?;
                for m in &applied {
                    match state_of(&rows, m) {
                        Some((s, _)) if s == "applied" => result.applied += 1,
                        other => {
                            result.disagree.push(format!("{m}: applied in the rehearsal, Prisma: {other:?}"));
                        }
                    }
                }
                if status.success() {
                    break;
                }
                // Prisma failed where the rehearsal did not: step past it.
                let failed = rows.iter().find(|r| r.1 == "failed").map(|r| r.0.clone());
                let Some(m) = failed else { anyhow::bail!("{name}: deploy failed without a failed migration: {r}") };
                prisma(&["migrate", "resolve", "--applied", &m])?;
            }
            Some("failed") => {
                let m = rehearsal["failed"].as_str().unwrap_or_default().to_string();
                let ours = format!(
                    "{} {}",
                    r["diagnosis"]["error_code"].as_str().unwrap_or(""),
                    r["diagnosis"]["error_message"].as_str().unwrap_or("")
                );
                let ok = prisma(&["migrate", "deploy"])?;
                let rows = ledger()?;
                for a in &applied {
                    match state_of(&rows, a) {
                        Some((s, _)) if s == "applied" => result.applied += 1,
                        other => result.disagree.push(format!("{a}: applied in the rehearsal, Prisma: {other:?}")),
                    }
                }
                match state_of(&rows, &m) {
                    Some((s, logs)) if s == "failed" && !ok => {
                        let e = xtask::testing::migrations::DbError::from_logs(&logs);
                        let theirs = format!("{} {}", e.code.unwrap_or_default(), e.message.unwrap_or_default());
                        result.failed.push((m.clone(), ours, theirs));
                        prisma(&["migrate", "resolve", "--applied", &m])?;
                    }
                    other => {
                        result.disagree.push(format!("{m}: failed in the rehearsal ({ours}), Prisma: {other:?}"));
                        if !ok {
                            anyhow::bail!("{name}: Prisma failed elsewhere; stopping this app");
                        }
                    }
                }
            }
            other => anyhow::bail!("{name}: unexpected rehearsal {other:?} (exit {status}): {r}"),
        }
    }
    Ok(result)
}
