//! Benchmark (issue 15): what a schema rehearsal adds to a deploy.
//!
//!     cargo run --release -p xtask --example bench_rehearsal [REPS] [CORPUS_APP_DIR] [COPIES]
//!
//! (scripts/bench-rehearsal.sh runs it.) Starts a throwaway cluster and measures,
//! REPS times each, alternating, the real `xtask deploy` (backup, rehearsal,
//! `prisma migrate deploy`) of one pending migration with `rehearse = "schema"`
//! and with `rehearse = "off"`, taking the rehearsal's own time from the run's JSON
//! report. Two schemas: the example app (`init` applied, the runbook's migration
//! pending) and, when CORPUS_APP_DIR is given (e.g. ../shared/corpus/inbox-zero),
//! that app's history up to its last migration applied and the last one pending,
//! with the whole history also applied in COPIES-1 more schemas (default 4): a
//! database of a few hundred tables. Needs Backend/node_modules (`npm ci`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pgcluster::{Cluster, ClusterOptions};

fn main() -> anyhow::Result<()> {
    let reps: usize = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(7);
    let corpus = std::env::args().nth(2).map(PathBuf::from);
    let copies: usize = std::env::args().nth(3).and_then(|r| r.parse().ok()).unwrap_or(4);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    anyhow::ensure!(root.join("Backend/node_modules/prisma").is_dir(), "run `npm ci` in Backend first");
    let built = Command::new("cargo").args(["build", "--release", "-q", "-p", "xtask"]).current_dir(&root).status()?;
    anyhow::ensure!(built.success(), "cargo build --release failed");
    let xtask = root.join("target/release/xtask");

    let base = std::env::temp_dir().join(format!("xtask-bench-rehearsal-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    let cluster =
        Cluster::start(&base.join("pg"), &ClusterOptions { tls: false, superuser_password: "bench-pw".into() })?;

    let example = root.join("Backend/src/prisma/db/migrations");
    let on = On { root: &root, xtask: &xtask, cluster: &cluster, base: &base };
    bench(&on, "example app", &example, reps, 1)?;
    if let Some(dir) = corpus {
        let dir = if dir.join("migrations").is_dir() { dir.join("migrations") } else { dir };
        let name = dir.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
        bench(&on, &name.unwrap_or_else(|| "corpus".into()), &dir, reps, copies)?;
    }
    drop(cluster);
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}

/// Copies the Backend app with `migrations` as its history, applies all but the
/// last with Prisma, then times deploys of the last one (dropping its row and
/// objects between runs by restoring a template database).
/// What every benchmarked history runs on: the repository, the xtask binary, the
/// cluster and the scratch directory.
struct On<'a> {
    root: &'a Path,
    xtask: &'a Path,
    cluster: &'a Cluster,
    base: &'a Path,
}

fn bench(on: &On, label: &str, migrations: &Path, reps: usize, copies: usize) -> anyhow::Result<()> {
    let On { root, xtask, cluster, base } = *on;
    let app = base.join(format!("app-{}", label.replace(' ', "-")));
    let _ = std::fs::remove_dir_all(&app);
    pgcluster::copy_dir(&root.join("Backend"), &app)?;
    let _ = std::fs::remove_file(app.join("node_modules"));
    std::os::unix::fs::symlink(root.join("Backend/node_modules"), app.join("node_modules"))?;
    let mig = app.join("src/prisma/db/migrations");
    std::fs::remove_dir_all(&mig)?;
    pgcluster::copy_dir(migrations, &mig)?;
    let mut names: Vec<String> = std::fs::read_dir(&mig)?
        .flatten()
        .filter(|e| e.path().join("migration.sql").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let last = names.last().cloned().ok_or_else(|| anyhow::anyhow!("no migrations in {}", migrations.display()))?;

    let template = format!("tpl_{}", label.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    cluster.create_database(&template)?;
    let url_of = |db: &str| format!("{}?schema=public&connection_limit=5", cluster.url(db));
    // Everything but the last migration, applied by Prisma itself.
    let held = base.join("held");
    std::fs::rename(mig.join(&last), &held)?;
    let ok = Command::new("npx")
        .args(["prisma", "migrate", "deploy", "--schema", "src/prisma/db/schema.prisma"])
        .current_dir(&app)
        .env("DATABASE_URL", url_of(&template))
        .env("PRISMA_SCHEMA_ENGINE_BINARY", "./scripts/schema-engine-shim")
        .env("CHECKPOINT_DISABLE", "1")
        .stdout(Stdio::null())
        .status()?
        .success();
    std::fs::rename(&held, mig.join(&last))?;
    anyhow::ensure!(ok, "prisma migrate deploy of {label}'s history failed");
    // More of the same schema beside it (the whole history in schemas copy2..),
    // for a database of a few hundred tables that the rehearsal copies whole.
    for n in 2..=copies {
        let ok = Command::new("npx")
            .args(["prisma", "migrate", "deploy", "--schema", "src/prisma/db/schema.prisma"])
            .current_dir(&app)
            .env("DATABASE_URL", format!("{}?schema=copy{n}", cluster.url(&template)))
            .env("PRISMA_SCHEMA_ENGINE_BINARY", "./scripts/schema-engine-shim")
            .env("CHECKPOINT_DISABLE", "1")
            .stdout(Stdio::null())
            .status()?
            .success();
        anyhow::ensure!(ok, "prisma migrate deploy of {label}'s history into schema copy{n} failed");
    }
    let tables = cluster.psql(
        &template,
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )?;

    let run = |mode: &str, i: usize| -> anyhow::Result<(f64, f64)> {
        let db = format!("bench_{mode}_{i}");
        cluster.psql("postgres", &format!("CREATE DATABASE {db} TEMPLATE {template}"))?;
        std::fs::write(
            app.join("tasks.toml"),
            format!(
                "[prisma]\nschema = \"src/prisma/db/schema.prisma\"\nenv = {{ PRISMA_SCHEMA_ENGINE_BINARY = \"./scripts/schema-engine-shim\" }}\n\
                 [backup]\ndir = \"backups\"\n[tasks.backup]\nuses = \"backup\"\n\
                 [tasks.deploy]\ndeps = [\"backup\"]\nuses = \"prisma-deploy\"\nrehearse = \"{mode}\"\n"
            ),
        )?;
        let report = app.join("report.json");
        let out = Command::new(xtask)
            .args(["deploy", "--report"])
            .arg(&report)
            .current_dir(&app)
            .env("DATABASE_URL", url_of(&db))
            .env("CI", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        anyhow::ensure!(out.success(), "xtask deploy ({mode}) of {label} failed");
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
        let total = r["seconds"].as_f64().unwrap_or(0.0);
        let rehearsal = r["rehearsal"]["seconds"].as_f64().unwrap_or(0.0);
        if mode == "schema" {
            anyhow::ensure!(r["rehearsal"]["outcome"] == "passed", "the rehearsal did not pass: {r}");
        }
        cluster.psql("postgres", &format!("DROP DATABASE {db}"))?;
        Ok((total, rehearsal))
    };
    let (mut with, mut without, mut rehearsal) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..reps {
        let (t, r) = run("schema", i)?;
        with.push(t);
        rehearsal.push(r);
        without.push(run("off", i)?.0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    let (w, o, r) = (median(&mut with), median(&mut without), median(&mut rehearsal));
    println!("{label}: {} migrations, {} tables in the database before the pending one ({last}), {reps} runs each, alternating", names.len(), tables.trim());
    println!("  deploy, rehearse = \"off\"     median {o:7.3} s");
    println!("  deploy, rehearse = \"schema\"  median {w:7.3} s");
    println!("  the rehearsal itself        median {r:7.3} s  ({:.1}% of the deploy without it)", 100.0 * r / o);
    println!("  deploy with / without        {:.3}  (+{:.1}%)", w / o, 100.0 * (w - o) / o);
    Ok(())
}
