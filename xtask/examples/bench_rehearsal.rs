//! Benchmark (issues 15 and 23): what the default deploy costs against the seed's
//! own workflow, and what its rehearsal adds.
//!
//!     cargo run --release -p xtask --example bench_rehearsal [REPS] [CORPUS_APP_DIR] [COPIES]
//!
//! (scripts/bench-rehearsal.sh runs it.) Starts a throwaway cluster and measures,
//! REPS times each, interleaved (the order rotated each repetition), the dev-profile
//! `xtask deploy` (the binary `cargo xtask` builds: backup, rehearsal, data checks,
//! `prisma migrate deploy`) of one pending migration with the default rehearsal and
//! with `rehearse = "off"`, and the seed's own workflow (`pg_dump -F p -f FILE`, then
//! `npx prisma migrate deploy`), taking the rehearsal's and every step's time from
//! the run's JSON report. Two schemas: the example app (`init` applied, the runbook's migration
//! pending) and, when CORPUS_APP_DIR is given (e.g. ../shared/corpus/inbox-zero),
//! that app's history up to its last migration applied and the last one pending,
//! with the whole history also applied in COPIES-1 more schemas (default 4): a
//! database of a few hundred tables. On the example app PENDING (default 2) migrations
//! are pending. XTASK_BEFORE=BINARY adds an earlier build's default deploy to the runs. The server
//! runs with fsync on unless DURABLE=0. Needs Backend/node_modules (`npm ci`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pgcluster::{Cluster, ClusterOptions};

fn main() -> anyhow::Result<()> {
    let reps: usize = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(7);
    let corpus = std::env::args().nth(2).map(PathBuf::from);
    let copies: usize = std::env::args().nth(3).and_then(|r| r.parse().ok()).unwrap_or(4);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    anyhow::ensure!(root.join("Backend/node_modules/prisma").is_dir(), "run `npm ci` in Backend first");
    let built = Command::new("cargo").args(["build", "-q", "-p", "xtask"]).current_dir(&root).status()?;
    anyhow::ensure!(built.success(), "cargo build failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let xtask = target.join("debug/xtask");
    println!("load average {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());

    let base = std::env::temp_dir().join(format!("xtask-bench-rehearsal-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    let cluster =
        Cluster::start(&base.join("pg"), &ClusterOptions { tls: false, superuser_password: "bench-pw".into() })?;

    // The test cluster trades durability for speed (fsync, synchronous_commit and
    // full_page_writes off); a production server keeps them on, and what the deploy
    // waits for (DROP DATABASE's checkpoint, commits) depends on them. DURABLE=0 keeps
    // the test cluster's settings.
    let durable = std::env::var("DURABLE").map(|d| d != "0").unwrap_or(true);
    if durable {
        for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
            cluster.psql("postgres", &format!("ALTER SYSTEM SET {setting} = on"))?;
        }
        cluster.psql("postgres", "SELECT pg_reload_conf()")?;
    }
    // TRACE=FILE: every statement with its duration, and every checkpoint, in the
    // server's log (milliseconds, pid, database), copied to FILE at the end.
    let trace = std::env::var_os("TRACE").map(PathBuf::from);
    if trace.is_some() {
        for (setting, value) in
            [("log_min_duration_statement", "0"), ("log_checkpoints", "on"), ("log_line_prefix", "'%m [%p] %d %a: '")]
        {
            cluster.psql("postgres", &format!("ALTER SYSTEM SET {setting} = {value}"))?;
        }
        cluster.psql("postgres", "SELECT pg_reload_conf()")?;
    }
    println!(
        "server: fsync, synchronous_commit, full_page_writes {}",
        if durable { "on (as in production)" } else { "off (the test cluster's settings)" }
    );
    let example = root.join("Backend/src/prisma/db/migrations");
    let on = On { root: &root, xtask: &xtask, cluster: &cluster, base: &base };
    // ONLY=corpus: the corpus app alone (ONLY=example: the example app alone).
    let only = std::env::var("ONLY").unwrap_or_default();
    let corpus = if only == "example" { None } else { corpus };
    if only != "corpus" {
        bench(&on, "example app", &example, reps, 1)?;
    }
    if let Some(dir) = corpus {
        let dir = if dir.join("migrations").is_dir() { dir.join("migrations") } else { dir };
        let name = dir.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
        bench(&on, &name.unwrap_or_else(|| "corpus".into()), &dir, reps, copies)?;
    }
    if let Some(file) = &trace {
        std::fs::copy(cluster.log_path(), file)?;
    }
    drop(cluster);
    let _ = std::fs::remove_dir_all(&base);
    println!("load average {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    Ok(())
}

/// One run: its wall time, the rehearsal's seconds, and every step's seconds.
type Measured = (f64, f64, Vec<(String, f64)>);

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
    // Everything but the last PENDING migrations, applied by Prisma itself
    // (PENDING applies to the example app, default 2: the "two pending".)
    let pending: usize = if label == "example app" {
        std::env::var("PENDING").ok().and_then(|p| p.parse().ok()).unwrap_or(2)
    } else {
        1
    }
    .clamp(1, names.len());
    let held_names = &names[names.len() - pending..];
    let held = base.join("held");
    std::fs::create_dir_all(&held)?;
    for n in held_names {
        std::fs::rename(mig.join(n), held.join(n))?;
    }
    let ok = names.len() == pending
        || Command::new("npx")
            .args(["prisma", "migrate", "deploy", "--schema", "src/prisma/db/schema.prisma"])
            .current_dir(&app)
            .env("DATABASE_URL", url_of(&template))
            .env("PRISMA_SCHEMA_ENGINE_BINARY", "./scripts/schema-engine-shim")
            .env("CHECKPOINT_DISABLE", "1")
            .stdout(Stdio::null())
            .status()?
            .success();
    for n in held_names {
        std::fs::rename(held.join(n), mig.join(n))?;
    }
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

    let prisma_env = [
        ("PRISMA_SCHEMA_ENGINE_BINARY", "./scripts/schema-engine-shim"),
        ("CHECKPOINT_DISABLE", "1"),
        ("PRISMA_HIDE_UPDATE_MESSAGE", "1"),
    ];
    // One run on a fresh copy of the template: (total, rehearsal, per-step seconds).
    // XTASK_BEFORE: an earlier build's binary, timed as a fourth command (its default deploy).
    let before = std::env::var_os("XTASK_BEFORE").map(PathBuf::from);
    let run = |mode: &str, i: usize| -> anyhow::Result<Measured> {
        let db = format!("bench_{mode}_{i}");
        cluster.psql("postgres", &format!("CREATE DATABASE {db} TEMPLATE {template}"))?;
        // A copy just made has every file waiting for its fsync at the next checkpoint;
        // production's have long been synced. Without this, the first DROP DATABASE of
        // the timed run (the rehearsal's) would pay for syncing the benchmark's copy.
        cluster.psql("postgres", "CHECKPOINT")?;
        let _ = std::fs::remove_dir_all(app.join("backups"));
        if mode == "seed" {
            // The seed's workflow: PATH's pg_dump (the Debian wrapper, as the seed ran
            // it), then Prisma's deploy.
            std::fs::create_dir_all(app.join("backups"))?;
            let t0 = std::time::Instant::now();
            let dumped = Command::new("pg_dump")
                .args(["-F", "p", "-f", "backups/pre-migration.sql", "-d"])
                .arg(cluster.url(&db))
                .current_dir(&app)
                .env("PGPASSWORD", "bench-pw")
                .status()?;
            anyhow::ensure!(dumped.success(), "pg_dump of {label} failed");
            let deployed = Command::new("npx")
                .args(["prisma", "migrate", "deploy", "--schema", "src/prisma/db/schema.prisma"])
                .current_dir(&app)
                .env("DATABASE_URL", url_of(&db))
                .envs(prisma_env)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            anyhow::ensure!(deployed.success(), "prisma migrate deploy of {label} failed");
            let t = t0.elapsed().as_secs_f64();
            cluster.psql("postgres", &format!("DROP DATABASE {db}"))?;
            return Ok((t, 0.0, Vec::new()));
        }
        let rehearse = if mode == "off" { "rehearse = \"off\"\n" } else { "" };
        std::fs::write(
            app.join("tasks.toml"),
            format!(
                "[prisma]\nschema = \"src/prisma/db/schema.prisma\"\nenv = {{ PRISMA_SCHEMA_ENGINE_BINARY = \"./scripts/schema-engine-shim\" }}\n\
                 [backup]\ndir = \"backups\"\n[tasks.backup]\nuses = \"backup\"\n\
                 [tasks.deploy]\ndeps = [\"backup\"]\nuses = \"prisma-deploy\"\n{rehearse}"
            ),
        )?;
        let report = app.join("report.json");
        let t0 = std::time::Instant::now();
        let bin = if mode == "before" { before.as_deref().unwrap_or(xtask) } else { xtask };
        let out = Command::new(bin)
            .args(["deploy", "--report"])
            .arg(&report)
            .current_dir(&app)
            .env("DATABASE_URL", url_of(&db))
            .env("CI", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        let total = t0.elapsed().as_secs_f64();
        anyhow::ensure!(out.success(), "xtask deploy ({mode}) of {label} failed");
        // The scratch database's detached dropper may outlive the run: wait for it
        // (timed as its own figure) so that it does not slow the next run.
        let t1 = std::time::Instant::now();
        while cluster
            .psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xtask-scratch-drop'")?
            .trim()
            != "0"
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let drop_after = t1.elapsed().as_secs_f64();
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
        let rehearsal = r["rehearsal"]["seconds"].as_f64().unwrap_or(0.0);
        if mode == "default" || mode == "before" {
            anyhow::ensure!(r["rehearsal"]["outcome"] == "passed", "the rehearsal did not pass: {r}");
        }
        // Per step: each task, the backup, the rehearsal, each Prisma call.
        let mut steps: Vec<(String, f64)> = Vec::new();
        for t in r["tasks"].as_array().into_iter().flatten() {
            steps.push((format!("task {}", t["name"].as_str().unwrap_or("?")), t["seconds"].as_f64().unwrap_or(0.0)));
        }
        steps.push(("backup".into(), r["backup"]["seconds"].as_f64().unwrap_or(0.0)));
        steps.push(("rehearsal".into(), rehearsal));
        for (n, c) in r["prisma_calls"].as_array().into_iter().flatten().enumerate() {
            steps.push((
                format!("prisma {n} {}", c["command"].as_str().unwrap_or("?")),
                c["seconds"].as_f64().unwrap_or(0.0),
            ));
        }
        steps.push(("report seconds".into(), r["seconds"].as_f64().unwrap_or(0.0)));
        steps.push(("the scratch DROP after the run ended (detached)".into(), drop_after));
        cluster.psql("postgres", &format!("DROP DATABASE {db}"))?;
        Ok((total, rehearsal, steps))
    };
    let modes: &[&str] =
        if before.is_some() { &["seed", "default", "off", "before"] } else { &["seed", "default", "off"] };
    let n = modes.len();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut paired: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut before_rehearsal = Vec::new();
    let (mut rehearsal, mut steps) = (Vec::new(), std::collections::BTreeMap::<String, Vec<f64>>::new());
    run("seed", reps)?; // warm-up: node's and the page cache's first start
    for i in 0..reps {
        let mut this = vec![0.0; n];
        for k in 0..n {
            let m = (i + k) % n;
            let (t, r, s) = run(modes[m], i)?;
            this[m] = t;
            times[m].push(t);
            if modes[m] == "before" {
                before_rehearsal.push(r);
            }
            if modes[m] == "default" {
                rehearsal.push(r);
                for (name, secs) in s {
                    steps.entry(name).or_default().push(secs);
                }
            }
        }
        for m in 0..n {
            paired[m].push(this[m] / this[0]);
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    println!("{label}: {} migrations, {} tables in the database before the {pending} pending (the last: {last}), {reps} runs each, interleaved", names.len(), tables.trim());
    let s = median(&times[0]);
    for (m, what) in [
        "seed's workflow (pg_dump; prisma migrate deploy)",
        "deploy, default (rehearsal)",
        "deploy, rehearse = \"off\"",
        "before: XTASK_BEFORE's default deploy",
    ]
    .iter()
    .take(n)
    .enumerate()
    {
        let t = median(&times[m]);
        let runs: Vec<String> = times[m].iter().map(|x| format!("{x:.2}")).collect();
        println!(
            "  {what:<50} median {t:6.3} s  ratio {:.3}  paired {:.3}  [{}]",
            t / s,
            median(&paired[m]),
            runs.join(" ")
        );
    }
    let r = median(&rehearsal);
    println!(
        "  the rehearsal itself (report)                      median {r:6.3} s  ({:.1}% of the deploy without it)",
        100.0 * r / median(&times[2])
    );
    if !before_rehearsal.is_empty() {
        println!("  the rehearsal itself, before (report)              median {:6.3} s", median(&before_rehearsal));
    }
    for (name, v) in &steps {
        println!("    step {name:<44} median {:6.3} s", median(v));
    }
    Ok(())
}
